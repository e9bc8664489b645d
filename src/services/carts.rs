//! Carts: lines, buyer email, promo code; every change repriced by the pricing engine
//! and signalled to the cart's subscribers.
//!
//! A cart is read in one joined query (cart, shop, code, lines, ticket types), so an
//! `applyPromo` costs two statements: load (with the typed code), update; and a third
//! that counts the buyer's uses when the code has a per-customer cap and the email is
//! known.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult,
    Iterable, PaginatorTrait, QueryFilter, Set, Statement,
};

use crate::domain::email::Email;
use crate::domain::pricing::{self, LineInput, PricedCart, VatMode};
use crate::domain::promo::{
    self, ApplyRefusal, Buyer, BuyerRules, Discount, PercentOff, PromoCodeString, PromoDiscount, PromoLifecycle,
};
use crate::domain::{Currency, VatRate};
use crate::entities::enums::{CartStatus, OrderStatus};
use crate::entities::{account, cart, cart_line, event, order, promo_code, ticket_type};
use crate::events::CartEvents;
use crate::rate_limit::Probe;

use super::capture::{Capture, clean};
use super::{ServiceError, ServiceResult, UserError, UserErrorCode, accounts, capacity, now};

/// Most tickets of one type in one cart.
pub const MAX_QUANTITY: i32 = 50;

/// Characters of a typed code echoed back in a refusal: a code is at most 32, so
/// anything longer is not a code, and the message stays short whatever was typed.
const SHOWN_CODE_CHARS: usize = 40;

/// Random bytes of a cart token: 192 bits, so a cart id cannot be guessed.
const TOKEN_BYTES: usize = 24;

/// A cart with everything needed to price and show it.
#[derive(Debug, Clone)]
pub struct CartSnapshot {
    /// The cart row.
    pub cart: cart::Model,
    /// Its shop.
    pub account: account::Model,
    /// The attached code, if any (possibly no longer valid).
    pub promo: Option<promo_code::Model>,
    /// Lines with their ticket types, in the order they were added.
    pub lines: Vec<(cart_line::Model, ticket_type::Model)>,
}

/// Where the attached code stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoState {
    /// No code attached.
    None,
    /// Attached and discounting.
    Applied,
    /// Attached, valid, but no line is in its event: zero discount until one is added.
    NotApplicable,
    /// Attached, valid, but the eligible subtotal is below the code's minimum: zero
    /// discount until the cart holds `missing` (minor units) more.
    BelowMinimum {
        /// What the eligible subtotal lacks.
        missing: i64,
        /// The code's minimum.
        minimum: i64,
    },
    /// Attached but no longer valid (deactivated, expired, exhausted, deleted): no discount.
    Invalid(ApplyRefusal),
}

/// A cart priced right now.
#[derive(Debug, Clone)]
pub struct PricedCartView {
    /// What was read.
    pub snapshot: CartSnapshot,
    /// The shop currency.
    pub currency: Currency,
    /// The engine's result.
    pub priced: PricedCart,
    /// The code's standing.
    pub promo_state: PromoState,
    /// When the attached code's standing changes by itself: its start while it is
    /// scheduled, else its expiry while it is valid. The subscription sets a timer for it.
    pub promo_changes_at: Option<DateTime<Utc>>,
}

fn cart_not_found() -> ServiceError {
    UserError::new("cartId", UserErrorCode::CartNotFound, "This cart does not exist (anymore). Please start a new one.")
        .into()
}

fn columns<E: EntityTrait>(alias: &str) -> String {
    E::Column::iter()
        .map(|c| {
            let name = sea_orm::IdenStatic::as_str(&c);
            format!("{alias}.{name} AS {alias}_{name}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Loads a cart by its public token in one query.
pub async fn load(db: &impl ConnectionTrait, token: &str) -> ServiceResult<Option<CartSnapshot>> {
    Ok(load_joined(db, token, None, None).await?.map(|(snapshot, _, _)| snapshot))
}

/// What a checkout reads with its cart, in the same statement.
#[derive(Debug, Clone, Default)]
pub struct CheckoutRead {
    /// The lines' events, by id (an event that is gone is missing).
    pub events: HashMap<i64, event::Model>,
    /// The cart's pending order, if it has one (the lowest id, were there several).
    pub pending_order_id: Option<i64>,
    /// The cart's session opened a `?promo=` link of the cart's code.
    pub via_link: bool,
    /// The shop has an active webhook endpoint (its subscribers are read only then).
    pub has_webhook_endpoints: bool,
}

/// Loads a cart for checkout in one statement: the cart as [`load`] reads it, with what
/// the checkout checks before its write transaction ([`CheckoutRead`]).
pub async fn load_for_checkout(
    db: &impl ConnectionTrait,
    token: &str,
) -> ServiceResult<Option<(CartSnapshot, CheckoutRead)>> {
    let backend = db.get_database_backend();
    let pending = sea_orm::ActiveEnum::to_value(&OrderStatus::Pending);
    let more = format!(
        ", {}, \
         (SELECT MIN(o.id) FROM orders o WHERE o.cart_id = c.id AND o.status = {}) AS x_pending_order, \
         EXISTS (SELECT 1 FROM promo_link_visits v WHERE v.promo_code_id = c.promo_code_id \
                 AND v.session_id = c.session_id) AS x_via_link, \
         EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.account_id = c.account_id AND w.active) AS x_endpoints",
        columns::<event::Entity>("e"),
        placeholder(backend, 1),
    );
    let sql = format!(
        "{} WHERE c.token = {}",
        select_carts("carts", &more, " LEFT JOIN events e ON e.id = t.event_id"),
        placeholder(backend, 2)
    );
    let values: Vec<sea_orm::Value> = vec![pending.into(), token.into()];
    let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let mut read = CheckoutRead {
        events: HashMap::new(),
        pending_order_id: first.try_get("", "x_pending_order")?,
        via_link: first.try_get("", "x_via_link")?,
        has_webhook_endpoints: first.try_get("", "x_endpoints")?,
    };
    for row in &rows {
        if row.try_get::<Option<i64>>("", "e_id")?.is_some() {
            let event = event::Model::from_query_result(row, "e_")?;
            read.events.insert(event.id, event);
        }
    }
    Ok(Some((snapshot_of(&rows)?, read)))
}

/// What `applyPromo` reads in one statement: the cart (`None`: there is none), the
/// shop's code spelled as typed, and the failed-attempt counts of the attempt's keys.
pub struct ApplyRead {
    loaded: Option<(CartSnapshot, Option<promo_code::Model>)>,
    code: String,
}

/// Reads for `applyPromo` in one statement (see [`ApplyRead`]), with the failures of
/// `probe`'s keys; those are `None` when there is no such cart (no row to read them from).
pub async fn read_for_apply(
    db: &impl ConnectionTrait,
    token: &str,
    code: &str,
    probe: &Probe,
) -> ServiceResult<(Option<HashMap<String, u32>>, ApplyRead)> {
    let typed = PromoCodeString::parse(code).ok();
    let found = load_joined(db, token, typed.as_ref().map(PromoCodeString::as_str), Some(probe)).await?;
    let (loaded, failures) = match found {
        Some((snapshot, row, failures)) => (Some((snapshot, row)), failures),
        None => (None, None),
    };
    Ok((failures, ApplyRead { loaded, code: code.to_owned() }))
}

/// The `n`th bind placeholder (from 1) in `backend`'s spelling.
fn placeholder(backend: DbBackend, n: usize) -> String {
    if backend == DbBackend::Postgres { format!("${n}") } else { "?".to_owned() }
}

/// `SELECT` of carts from `source` (aliased `c`) with their shop, attached code and lines
/// with their ticket types, one row per line, columns prefixed by table (`c_id`, `l_id`,
/// …) as [`snapshot_of`] reads them; `more_columns` and `joins` add to it.
fn select_carts(source: &str, more_columns: &str, joins: &str) -> String {
    // The tables' columns, spelled once: ~80 `alias.name AS alias_name` pieces that every
    // cart read would otherwise format again.
    static COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        [
            columns::<cart::Entity>("c"),
            columns::<account::Entity>("a"),
            columns::<promo_code::Entity>("p"),
            columns::<cart_line::Entity>("l"),
            columns::<ticket_type::Entity>("t"),
        ]
        .join(", ")
    });
    format!(
        "SELECT {}{more_columns} FROM {source} c \
         JOIN accounts a ON a.id = c.account_id \
         LEFT JOIN promo_codes p ON p.id = c.promo_code_id \
         LEFT JOIN cart_lines l ON l.cart_id = c.id \
         LEFT JOIN ticket_types t ON t.id = l.ticket_type_id{joins}",
        *COLUMNS,
    )
}

/// The typed code's columns in [`load_joined`], spelled once.
static TYPED_COLUMNS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!(", {}", columns::<promo_code::Entity>("q")));

/// Loads a cart and, when `code` is given, in the same query the shop's live (not
/// deleted) code spelled so: `applyPromo` reads all it checks in one statement.
async fn load_joined(
    db: &impl ConnectionTrait,
    token: &str,
    code: Option<&str>,
    probe: Option<&Probe>,
) -> ServiceResult<Option<(CartSnapshot, Option<promo_code::Model>, Option<HashMap<String, u32>>)>> {
    let backend = db.get_database_backend();
    let placeholder = |n: usize| placeholder(backend, n);
    // Placeholders in order of appearance: the failure counts (in the select list), the
    // typed code (in the join), then the token.
    let (probe_columns, mut values) = match probe {
        Some(probe) => probe.columns(1, placeholder),
        None => (String::new(), vec![]),
    };
    let (typed_columns, typed_join) = match code {
        Some(code) => {
            values.push(code.into());
            (
                TYPED_COLUMNS.as_str(),
                format!(
                    " LEFT JOIN promo_codes q ON q.account_id = c.account_id AND q.code = {} AND q.deleted_at IS NULL",
                    placeholder(values.len())
                ),
            )
        }
        None => ("", String::new()),
    };
    values.push(token.into());
    let sql = format!(
        "{} WHERE c.token = {}",
        select_carts("carts", &format!("{typed_columns}{probe_columns}"), &typed_join),
        placeholder(values.len())
    );
    let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let typed = match code {
        Some(_) if first.try_get::<Option<i64>>("", "q_id")?.is_some() => {
            Some(promo_code::Model::from_query_result(first, "q_")?)
        }
        _ => None,
    };
    let failures = probe.map(|p| p.read(first)).transpose()?;
    Ok(Some((snapshot_of(&rows)?, typed, failures)))
}

/// The cart of rows selected by [`select_carts`]: one per line (one with
/// no line for an empty cart), all of one cart.
fn snapshot_of(rows: &[sea_orm::QueryResult]) -> Result<CartSnapshot, sea_orm::DbErr> {
    let first = rows.first().ok_or_else(|| sea_orm::DbErr::RecordNotFound("cart".into()))?;
    let cart = cart::Model::from_query_result(first, "c_")?;
    let account = account::Model::from_query_result(first, "a_")?;
    let promo = match first.try_get::<Option<i64>>("", "p_id")? {
        Some(_) => Some(promo_code::Model::from_query_result(first, "p_")?),
        None => None,
    };
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        if row.try_get::<Option<i64>>("", "l_id")?.is_some() {
            lines.push((
                cart_line::Model::from_query_result(row, "l_")?,
                ticket_type::Model::from_query_result(row, "t_")?,
            ));
        }
    }
    // In the order they were added. Sorted here, not by the statement: a sort in the
    // database carries every selected column of every row (4 KB wide on PostgreSQL) and
    // was 8 % of PostgreSQL's time under the load benchmark.
    lines.sort_unstable_by_key(|(line, _)| line.id);
    Ok(CartSnapshot { cart, account, promo, lines })
}

/// Most carts [`get_many`] reads in one statement.
pub const GET_MANY_MAX: usize = 500;

/// Carts by their tokens, priced now, in one statement per [`GET_MANY_MAX`] tokens: the
/// carts of many subscriptions signalled at once (an organizer's edit of a code on
/// thousands of open carts) are read together, not one statement each. Unknown tokens
/// are left out.
pub async fn get_many(db: &impl ConnectionTrait, tokens: &[String]) -> ServiceResult<HashMap<String, PricedCartView>> {
    let backend = db.get_database_backend();
    let at = now();
    let mut views = HashMap::with_capacity(tokens.len());
    for chunk in tokens.chunks(GET_MANY_MAX) {
        let placeholders = (1..=chunk.len()).map(|n| placeholder(backend, n)).collect::<Vec<_>>().join(", ");
        let sql = format!("{} WHERE c.token IN ({placeholders}) ORDER BY c.id", select_carts("carts", "", ""));
        let values = chunk.iter().map(|t| sea_orm::Value::from(t.as_str())).collect::<Vec<_>>();
        let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
        // Ordered by cart: each run of one cart id is one cart (its lines sorted by
        // `snapshot_of`).
        let mut start = 0;
        while start < rows.len() {
            let id = rows[start].try_get::<i64>("", "c_id")?;
            let mut end = start + 1;
            while end < rows.len() && rows[end].try_get::<i64>("", "c_id")? == id {
                end += 1;
            }
            let snapshot = snapshot_of(&rows[start..end])?;
            views.insert(snapshot.cart.token.clone(), price(snapshot, at)?);
            start = end;
        }
    }
    Ok(views)
}

/// The code's lifecycle as the domain rules read it.
pub fn lifecycle(code: &promo_code::Model) -> PromoLifecycle {
    PromoLifecycle {
        active: code.active,
        deleted: code.deleted_at.is_some(),
        starts_at: code.starts_at,
        expires_at: code.expires_at,
        usage_limit: code.usage_limit,
        redemptions_count: code.redemptions_count,
    }
}

fn discount_of(code: &promo_code::Model) -> Option<PromoDiscount> {
    let discount = match (code.percent_off_bp, code.amount_off) {
        (Some(h), _) => Discount::Percentage(PercentOff::from_hundredths(h as u32).ok()?),
        (None, Some(a)) => Discount::FixedAmount(a),
        (None, None) => return None,
    };
    Some(PromoDiscount { discount, event_id: code.event_id, minimum_subtotal: code.minimum_subtotal })
}

/// Who a code is for, as the domain rules read it.
pub fn buyer_rules(code: &promo_code::Model) -> BuyerRules<'_> {
    BuyerRules { max_per_customer: code.max_per_customer, recipient_key: code.recipient_key.as_deref() }
}

/// Prices a snapshot at `at`. An attached code that is no longer valid gives nothing.
pub fn price(snapshot: CartSnapshot, at: DateTime<Utc>) -> ServiceResult<PricedCartView> {
    let internal = super::internal;
    let currency = *snapshot.account.currency;
    let mode = if snapshot.account.prices_include_vat { VatMode::Inclusive } else { VatMode::Exclusive };
    let lines: Vec<LineInput> = snapshot
        .lines
        .iter()
        .map(|(line, ticket)| {
            let bp = ticket.vat_rate_bp.unwrap_or(snapshot.account.vat_rate_bp);
            Ok(LineInput {
                ticket_type_id: ticket.id,
                event_id: ticket.event_id,
                unit_price: ticket.price,
                quantity: u32::try_from(line.quantity).map_err(|e| internal(e.to_string()))?,
                vat_rate: VatRate::from_basis_points(bp.into()).map_err(|e| internal(e.to_string()))?,
            })
        })
        .collect::<ServiceResult<_>>()?;
    // The cart's email is enough to tell a code bound to another buyer; uses are counted
    // where they matter (applying, setting the email, checkout).
    let key = snapshot.cart.email.as_deref().and_then(|e| Email::parse(e).ok()).map(|e| e.customer_key());
    let buyer = Buyer { customer_key: key.as_deref(), uses: None };
    let (discount, state, changes) = match &snapshot.promo {
        None => (None, PromoState::None, None),
        Some(code) => match promo::check_apply(&lifecycle(code), &buyer_rules(code), &buyer, at) {
            Ok(()) => (discount_of(code), PromoState::Applied, code.expires_at),
            Err(ApplyRefusal::NotStarted) => (None, PromoState::Invalid(ApplyRefusal::NotStarted), code.starts_at),
            Err(refusal) => (None, PromoState::Invalid(refusal), None),
        },
    };
    let priced = pricing::price(&lines, discount.as_ref(), mode).map_err(|e| internal(e.to_string()))?;
    let promo_state = match (state, priced.promo_shortfall, discount) {
        (PromoState::Applied, _, _) if priced.promo_not_applicable => PromoState::NotApplicable,
        (PromoState::Applied, Some(missing), Some(d)) => {
            PromoState::BelowMinimum { missing, minimum: d.minimum_subtotal.unwrap_or_default() }
        }
        (state, _, _) => state,
    };
    Ok(PricedCartView { snapshot, currency, priced, promo_state, promo_changes_at: changes })
}

async fn load_open(db: &impl ConnectionTrait, token: &str) -> ServiceResult<CartSnapshot> {
    open(load(db, token).await?.ok_or_else(cart_not_found)?)
}

/// The snapshot, if its cart is still open.
fn open(snapshot: CartSnapshot) -> ServiceResult<CartSnapshot> {
    if snapshot.cart.status != CartStatus::Open {
        return Err(UserError::new(
            "cartId",
            UserErrorCode::CartClosed,
            "This cart has already been checked out. Please start a new one.",
        )
        .into());
    }
    Ok(snapshot)
}

async fn reload(db: &impl ConnectionTrait, token: &str) -> ServiceResult<PricedCartView> {
    price(load(db, token).await?.ok_or_else(cart_not_found)?, now())
}

/// The buyer's paid (not fully refunded) and still payable pending orders with the code
/// (an order awaiting an asynchronous payment has no expiry and counts too).
pub async fn customer_uses(db: &impl ConnectionTrait, promo_code_id: i64, customer_key: &str) -> ServiceResult<i64> {
    customer_uses_except(db, promo_code_id, customer_key, None).await
}

/// [`customer_uses`], leaving out the pending orders of one cart (its own earlier,
/// abandoned checkout must not block the buyer's retry).
pub async fn customer_uses_except(
    db: &impl ConnectionTrait,
    promo_code_id: i64,
    customer_key: &str,
    except_cart: Option<i64>,
) -> ServiceResult<i64> {
    let count = customer_orders(promo_code_id, customer_key, except_cart).count(db).await?;
    Ok(count as i64)
}

/// The orders that count as `customer_key`'s uses of a code (see [`customer_uses_except`]).
fn customer_orders(promo_code_id: i64, customer_key: &str, except_cart: Option<i64>) -> sea_orm::Select<order::Entity> {
    use sea_orm::Condition;
    let at = now();
    let mut pending = Condition::all()
        .add(order::Column::Status.eq(OrderStatus::Pending))
        .add(Condition::any().add(order::Column::ExpiresAt.is_null()).add(order::Column::ExpiresAt.gt(at)));
    if let Some(cart_id) = except_cart {
        pending =
            pending.add(Condition::any().add(order::Column::CartId.is_null()).add(order::Column::CartId.ne(cart_id)));
    }
    order::Entity::find()
        .filter(order::Column::PromoCodeId.eq(promo_code_id))
        .filter(order::Column::CustomerKey.eq(customer_key))
        .filter(
            Condition::any()
                .add(order::Column::Status.is_in([OrderStatus::Paid, OrderStatus::PartiallyRefunded]))
                .add(pending),
        )
}

/// [`customer_uses_except`] as one `SELECT` of a column `uses`, to send in a batch.
pub fn customer_uses_query(
    promo_code_id: i64,
    customer_key: &str,
    except_cart: Option<i64>,
) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::{QuerySelect, QueryTrait};
    customer_orders(promo_code_id, customer_key, except_cart)
        .select_only()
        .column_as(Expr::col(order::Column::Id).count(), "uses")
        .into_query()
}

/// The API code of a refusal.
pub fn refusal_code(refusal: ApplyRefusal) -> UserErrorCode {
    match refusal {
        ApplyRefusal::Unknown => UserErrorCode::Unknown,
        ApplyRefusal::Inactive => UserErrorCode::Inactive,
        ApplyRefusal::Expired => UserErrorCode::Expired,
        ApplyRefusal::NotStarted => UserErrorCode::NotStarted,
        ApplyRefusal::UsageLimitReached => UserErrorCode::UsageLimitReached,
        ApplyRefusal::CustomerMismatch => UserErrorCode::CustomerMismatch,
        ApplyRefusal::CustomerLimitReached => UserErrorCode::CustomerLimitReached,
    }
}

/// Why `apply` refused, as a user error on `code`.
fn refusal(refusal: ApplyRefusal, code: &str) -> ServiceError {
    UserError::new("code", refusal_code(refusal), refusal.message(code)).into()
}

/// A buyer's sentence for a code that is not valid yet: when it starts, on the shop's
/// clock, and that it stays in the cart until then.
pub fn not_started_message(code: &promo_code::Model, account: &account::Model) -> String {
    let zone = crate::domain::calendar::ShopZone::parse(&account.time_zone).unwrap_or_default();
    match code.starts_at {
        Some(at) => format!(
            "The code {} starts on {}; it stays in your cart and applies from then.",
            code.code,
            zone.local(at).format("%-d %B %Y at %H:%M")
        ),
        None => ApplyRefusal::NotStarted.message(&code.code),
    }
}

/// Checks `code` for the cart and returns the code row on success.
async fn validate_code(
    db: &impl ConnectionTrait,
    snapshot: &CartSnapshot,
    code: &str,
) -> ServiceResult<promo_code::Model> {
    let parsed = parse_typed(code)?;
    let row = promo_code::Entity::find()
        .filter(promo_code::Column::AccountId.eq(snapshot.account.id))
        .filter(promo_code::Column::Code.eq(parsed.as_str()))
        .filter(promo_code::Column::DeletedAt.is_null())
        .one(db)
        .await?;
    // A link's code that has not started yet waits in the cart like a typed one.
    match check_code(db, snapshot, &parsed, row).await {
        Ok(row) => Ok(row),
        Err(CodeCheck::NotStarted(row)) => Ok(*row),
        Err(CodeCheck::Refused(e)) => Err(e),
    }
}

/// A typed code, or UNKNOWN when it cannot be one.
fn parse_typed(code: &str) -> ServiceResult<PromoCodeString> {
    PromoCodeString::parse(code).map_err(|_| {
        let shown: String = code.trim().to_uppercase().chars().take(SHOWN_CODE_CHARS).collect();
        refusal(ApplyRefusal::Unknown, &shown)
    })
}

/// Checks the code row found for `parsed` (none: UNKNOWN) against the cart.
async fn check_code(
    db: &impl ConnectionTrait,
    snapshot: &CartSnapshot,
    parsed: &PromoCodeString,
    row: Option<promo_code::Model>,
) -> Result<promo_code::Model, CodeCheck> {
    let row = row.ok_or_else(|| refusal(ApplyRefusal::Unknown, parsed.as_str()))?;
    let key = snapshot.cart.email.as_deref().and_then(|e| Email::parse(e).ok()).map(|e| e.customer_key());
    let uses = match (row.max_per_customer, &key) {
        (Some(_), Some(key)) => Some(customer_uses(db, row.id, key).await?),
        _ => None,
    };
    let buyer = Buyer { customer_key: key.as_deref(), uses };
    match promo::check_apply(&lifecycle(&row), &buyer_rules(&row), &buyer, now()) {
        Ok(()) => Ok(row),
        Err(ApplyRefusal::NotStarted) => Err(CodeCheck::NotStarted(Box::new(row))),
        Err(r) => Err(CodeCheck::Refused(refusal(r, parsed.as_str()))),
    }
}

/// Why [`check_code`] did not pass a code.
enum CodeCheck {
    /// A scheduled code: it may be attached, to apply when it starts.
    NotStarted(Box<promo_code::Model>),
    /// Refused.
    Refused(ServiceError),
}

impl From<ServiceError> for CodeCheck {
    fn from(e: ServiceError) -> Self {
        CodeCheck::Refused(e)
    }
}

fn new_token() -> String {
    let mut bytes = [0_u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("cart_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Opens a cart in `shop_slug`. Captured link values are recorded, and a captured code
/// is applied when it is valid (silently ignored otherwise).
pub async fn create(
    db: &DatabaseConnection,
    shop_slug: &str,
    session_id: Option<String>,
    capture: Option<Capture>,
) -> ServiceResult<PricedCartView> {
    let shop = accounts::find_by_slug(db, shop_slug.trim()).await?.ok_or_else(|| {
        ServiceError::from(UserError::new("shopSlug", UserErrorCode::ShopNotFound, "There is no shop at this address."))
    })?;
    // A link of another shop says nothing about this one.
    let capture = capture.filter(|c| c.account_id == Some(shop.id)).unwrap_or_default();
    let at = now();
    let token = new_token();
    let txn = super::begin_write(db).await?;
    let row = cart::ActiveModel {
        token: Set(token.clone()),
        account_id: Set(shop.id),
        session_id: Set(session_id),
        status: Set(CartStatus::Open),
        utm_source: Set(clean(capture.utm_source)),
        utm_medium: Set(clean(capture.utm_medium)),
        utm_campaign: Set(clean(capture.utm_campaign)),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    if let Some(code) = capture.promo {
        let snapshot = CartSnapshot { cart: row.clone(), account: shop.clone(), promo: None, lines: vec![] };
        if let Ok(promo) = validate_code(&txn, &snapshot, &code).await {
            set_promo(&txn, row.id, Some(promo.id)).await?;
        }
    }
    txn.commit().await?;
    reload(db, &token).await
}

async fn set_promo(db: &impl ConnectionTrait, cart_id: i64, promo_code_id: Option<i64>) -> ServiceResult<()> {
    cart::Entity::update_many()
        .col_expr(cart::Column::PromoCodeId, Expr::value(promo_code_id))
        .col_expr(cart::Column::UpdatedAt, Expr::value(now()))
        .filter(cart::Column::Id.eq(cart_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The cart, priced now.
pub async fn get(db: &impl ConnectionTrait, token: &str) -> ServiceResult<Option<PricedCartView>> {
    match load(db, token).await? {
        Some(snapshot) => Ok(Some(price(snapshot, now())?)),
        None => Ok(None),
    }
}

/// Applies what a `?promo=` link captured in the buyer's session to a cart of that shop
/// made before the link was opened: the code if the cart has none and it is valid
/// (silently otherwise), the UTM values if the cart has none.
pub async fn adopt_capture(
    db: &DatabaseConnection,
    events: &CartEvents,
    token: &str,
    capture: &Capture,
) -> ServiceResult<()> {
    let Some(snapshot) = load(db, token).await? else { return Ok(()) };
    if Some(snapshot.cart.account_id) != capture.account_id || snapshot.cart.status != CartStatus::Open {
        return Ok(());
    }
    let mut changed = false;
    if snapshot.cart.utm_source.is_none() && snapshot.cart.utm_medium.is_none() && snapshot.cart.utm_campaign.is_none()
    {
        let (source, medium, campaign) =
            (clean(capture.utm_source.clone()), clean(capture.utm_medium.clone()), clean(capture.utm_campaign.clone()));
        if source.is_some() || medium.is_some() || campaign.is_some() {
            cart::Entity::update_many()
                .col_expr(cart::Column::UtmSource, Expr::value(source))
                .col_expr(cart::Column::UtmMedium, Expr::value(medium))
                .col_expr(cart::Column::UtmCampaign, Expr::value(campaign))
                .filter(cart::Column::Id.eq(snapshot.cart.id))
                .exec(db)
                .await?;
            changed = true;
        }
    }
    if let Some(code) = capture.promo.as_deref()
        && snapshot.cart.promo_code_id.is_none()
        && let Ok(promo) = validate_code(db, &snapshot, code).await
    {
        set_promo(db, snapshot.cart.id, Some(promo.id)).await?;
        changed = true;
    }
    if changed {
        events.publish(snapshot.cart.id);
    }
    Ok(())
}

fn quantity_error() -> ServiceError {
    UserError::new(
        "quantity",
        UserErrorCode::InvalidQuantity,
        format!("Please choose between 1 and {MAX_QUANTITY} tickets."),
    )
    .into()
}

fn check_quantity(quantity: i32, allow_zero: bool) -> ServiceResult<()> {
    let min = if allow_zero { 0 } else { 1 };
    if (min..=MAX_QUANTITY).contains(&quantity) { Ok(()) } else { Err(quantity_error()) }
}

/// Adds `quantity` tickets of a type to the cart (on top of any already there).
pub async fn add_line(
    db: &impl ConnectionTrait,
    events: &CartEvents,
    token: &str,
    ticket_type_id: i64,
    quantity: i32,
) -> ServiceResult<PricedCartView> {
    check_quantity(quantity, false)?;
    let snapshot = load_open(db, token).await?;
    let already = snapshot.lines.iter().find(|(_, t)| t.id == ticket_type_id).map_or(0, |(l, _)| l.quantity);
    check_quantity(already + quantity, false)?;
    let Some(ticket) = ticket_type::Entity::find_by_id(ticket_type_id)
        .filter(ticket_type::Column::AccountId.eq(snapshot.account.id))
        .one(db)
        .await?
    else {
        return Err(
            UserError::new("ticketTypeId", UserErrorCode::TicketTypeNotFound, "This ticket is not sold here.").into()
        );
    };
    super::ticket_types::check_sellable(db, &[&ticket], "ticketTypeId").await?;
    // A cart holds nothing (checkout does), but it never asks for more than is left.
    let wanted = i64::from(already + quantity);
    if capacity::available(&ticket).is_some_and(|left| wanted > left) {
        return Err(capacity::refusal("quantity", &ticket, wanted));
    }
    let written = cart_line::Entity::insert(cart_line::ActiveModel {
        cart_id: Set(snapshot.cart.id),
        ticket_type_id: Set(ticket_type_id),
        quantity: Set(quantity),
        created_at: Set(now()),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([cart_line::Column::CartId, cart_line::Column::TicketTypeId])
            .value(
                cart_line::Column::Quantity,
                Expr::col((cart_line::Entity, cart_line::Column::Quantity)).add(quantity),
            )
            // Checked again in SQL: concurrent adds cannot pass the limit together.
            .action_and_where(
                Expr::col((cart_line::Entity, cart_line::Column::Quantity)).add(quantity).lte(MAX_QUANTITY),
            )
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    // The SQL guard refused the update: a concurrent add got there first.
    if written == 0 {
        return Err(quantity_error());
    }
    events.publish(snapshot.cart.id);
    reload(db, token).await
}

/// Sets the quantity of a ticket type in the cart; 0 removes the line.
pub async fn set_line(
    db: &impl ConnectionTrait,
    events: &CartEvents,
    token: &str,
    ticket_type_id: i64,
    quantity: i32,
) -> ServiceResult<PricedCartView> {
    check_quantity(quantity, true)?;
    let snapshot = load_open(db, token).await?;
    let Some((line, ticket)) = snapshot.lines.iter().find(|(_, t)| t.id == ticket_type_id) else {
        return Err(UserError::new(
            "ticketTypeId",
            UserErrorCode::TicketTypeNotFound,
            "This ticket is not in your cart.",
        )
        .into());
    };
    // Fewer is always fine; more only while it sells.
    if quantity > line.quantity {
        super::ticket_types::check_sellable(db, &[ticket], "ticketTypeId").await?;
    }
    if capacity::available(ticket).is_some_and(|left| i64::from(quantity) > left) {
        return Err(capacity::refusal("quantity", ticket, quantity.into()));
    }
    if quantity == 0 {
        cart_line::Entity::delete_by_id(line.id).exec(db).await?;
    } else {
        cart_line::Entity::update_many()
            .col_expr(cart_line::Column::Quantity, Expr::value(quantity))
            .filter(cart_line::Column::Id.eq(line.id))
            .exec(db)
            .await?;
    }
    events.publish(snapshot.cart.id);
    reload(db, token).await
}

/// Sets the buyer's email. When the attached code is bound to another buyer, or its
/// per-customer cap is already reached for this one, the code comes off and the caller
/// is told why.
pub async fn set_email(
    db: &DatabaseConnection,
    events: &CartEvents,
    token: &str,
    email: &str,
) -> ServiceResult<(PricedCartView, Option<UserError>)> {
    let email = Email::parse(email)
        .map_err(|e| ServiceError::from(UserError::new("email", UserErrorCode::InvalidEmail, e.to_string())))?;
    let txn = super::begin_write(db).await?;
    let snapshot = load_open(&txn, token).await?;
    cart::Entity::update_many()
        .col_expr(cart::Column::Email, Expr::value(email.normalized()))
        .col_expr(cart::Column::UpdatedAt, Expr::value(now()))
        .filter(cart::Column::Id.eq(snapshot.cart.id))
        .exec(&txn)
        .await?;
    let mut notice = None;
    if let Some(code) = snapshot.promo.as_ref() {
        let key = email.customer_key();
        let refused = if code.recipient_key.as_deref().is_some_and(|recipient| recipient != key) {
            Some(ApplyRefusal::CustomerMismatch)
        } else if let Some(max) = code.max_per_customer
            && customer_uses(&txn, code.id, &key).await? >= max
        {
            Some(ApplyRefusal::CustomerLimitReached)
        } else {
            None
        };
        if let Some(refused) = refused {
            set_promo(&txn, snapshot.cart.id, None).await?;
            notice = Some(UserError::new("code", refusal_code(refused), refused.message(&code.code)));
        }
    }
    txn.commit().await?;
    events.publish(snapshot.cart.id);
    Ok((reload(db, token).await?, notice))
}

/// Applies a code typed by the buyer. Checks, first failure wins: UNKNOWN, INACTIVE,
/// EXPIRED, NOT_STARTED, USAGE_LIMIT_REACHED, then CUSTOMER_MISMATCH and
/// CUSTOMER_LIMIT_REACHED when the email is known. A code that has not started is
/// attached anyway (and NOT_STARTED returned): it applies, pushed, when it starts.
/// A code scoped to an event the cart has no tickets for is attached anyway; the view
/// says NOT_APPLICABLE until such tickets are added.
///
/// It takes what [`read_for_apply`] read and costs one more statement, the update (and
/// one that counts the buyer's uses, only for a code with a per-customer cap once the
/// email is known).
#[tracing::instrument(name = "apply_promo", level = "debug", skip_all)]
pub async fn apply_read(
    db: &impl ConnectionTrait,
    events: &CartEvents,
    read: ApplyRead,
) -> ServiceResult<PricedCartView> {
    let (snapshot, row) = read.loaded.ok_or_else(cart_not_found)?;
    let mut snapshot = open(snapshot)?;
    let (row, started) = match check_code(db, &snapshot, &parse_typed(&read.code)?, row).await {
        Ok(row) => (row, true),
        // Attached all the same: the cart gets the discount, pushed, when it starts.
        Err(CodeCheck::NotStarted(row)) => (*row, false),
        Err(CodeCheck::Refused(e)) => return Err(e),
    };
    set_promo(db, snapshot.cart.id, Some(row.id)).await?;
    events.publish(snapshot.cart.id);
    if !started {
        let message = not_started_message(&row, &snapshot.account);
        return Err(UserError::new("code", UserErrorCode::NotStarted, message).into());
    }
    snapshot.cart.promo_code_id = Some(row.id);
    snapshot.promo = Some(row);
    price(snapshot, now())
}

/// On PostgreSQL, takes the code off the cart if it is open and reads the cart as that
/// left it, in one statement (a data-modifying `WITH`); `None`: no open cart.
async fn detach_returning(db: &impl ConnectionTrait, token: &str) -> ServiceResult<Option<CartSnapshot>> {
    let sql = format!(
        "WITH c AS (UPDATE carts SET promo_code_id = NULL, updated_at = $1 WHERE token = $2 AND status = $3 \
         RETURNING *) {}",
        select_carts("c", "", "")
    );
    let values: Vec<sea_orm::Value> =
        vec![now().into(), token.into(), sea_orm::ActiveEnum::to_value(&CartStatus::Open).into()];
    let rows = db.query_all_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(snapshot_of(&rows)?))
}

/// Takes the code off the cart.
#[tracing::instrument(name = "remove_promo", level = "debug", skip_all)]
pub async fn remove_promo(
    db: &impl ConnectionTrait,
    events: &CartEvents,
    token: &str,
) -> ServiceResult<PricedCartView> {
    if db.get_database_backend() == DbBackend::Postgres {
        let snapshot = match detach_returning(db, token).await? {
            Some(snapshot) => snapshot,
            // No open cart: none at all, or a closed one (which error tells).
            None => {
                return Err(load_open(db, token)
                    .await
                    .err()
                    .unwrap_or_else(|| super::internal("an open cart was not updated")));
            }
        };
        events.publish(snapshot.cart.id);
        return price(snapshot, now());
    }
    let mut snapshot = load_open(db, token).await?;
    set_promo(db, snapshot.cart.id, None).await?;
    events.publish(snapshot.cart.id);
    snapshot.cart.promo_code_id = None;
    snapshot.promo = None;
    price(snapshot, now())
}

/// Open carts carrying a code (to signal them when the organizer changes it).
pub async fn open_carts_with_code(db: &impl ConnectionTrait, promo_code_id: i64) -> ServiceResult<Vec<i64>> {
    use sea_orm::QuerySelect;
    Ok(cart::Entity::find()
        .select_only()
        .column(cart::Column::Id)
        .filter(cart::Column::PromoCodeId.eq(promo_code_id))
        .filter(cart::Column::Status.eq(CartStatus::Open))
        .into_tuple::<i64>()
        .all(db)
        .await?)
}

/// Open carts carrying any code of a batch.
pub async fn open_carts_with_batch(db: &impl ConnectionTrait, batch_id: i64) -> ServiceResult<Vec<i64>> {
    use sea_orm::QuerySelect;
    use sea_orm::sea_query::Query;
    Ok(cart::Entity::find()
        .select_only()
        .column(cart::Column::Id)
        .filter(
            cart::Column::PromoCodeId.in_subquery(
                Query::select()
                    .column(promo_code::Column::Id)
                    .from(promo_code::Entity)
                    .and_where(promo_code::Column::BatchId.eq(batch_id))
                    .to_owned(),
            ),
        )
        .filter(cart::Column::Status.eq(CartStatus::Open))
        .into_tuple::<i64>()
        .all(db)
        .await?)
}
