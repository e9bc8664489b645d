//! Checkout, the paid transition, expiry and refunds: where money moves.
//!
//! Counting rules: `redemptions_count` grows by one in SQL, in the
//! same transaction as the guarded status change (`… WHERE status IN ('PENDING',
//! 'EXPIRED')`) and the insert of a redemption row whose order id is unique, so a
//! duplicate, concurrent, reordered or late confirmation never counts twice. The free
//! path increments conditionally (`… AND redemptions_count < usage_limit`), so it never
//! overshoots; paid paths honour every completed payment, flagging `over_cap`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend,
    EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QueryTrait, Set, TryInsertResult,
};
use tracing::Instrument;

use crate::domain::email::Email;
use crate::domain::pricing::{VatMode, allocate_proportionally};
use crate::domain::promo::{self, ApplyRefusal};
use crate::entities::enums::{CartStatus, OrderStatus};
use crate::entities::{cart, order, order_item, promo_code, redemption, refund, ticket_type};
use crate::events::CartEvents;
use crate::payments::{CaptureStatus, CheckoutRedirect, CheckoutRequest, Provider, ProviderLine, Providers};

use super::carts::{self, CheckoutRead, PricedCartView, PromoState};
use super::{ServiceError, ServiceResult, UserError, UserErrorCode, begin_write, capacity, now};
use crate::db::batch::{Batch, Part, Rows};

/// What the buyer submits at checkout.
#[derive(Debug, Clone)]
pub struct CheckoutInput {
    /// Buyer email.
    pub email: String,
    /// STRIPE or PAYPAL (ignored when the total is 0).
    pub provider: Provider,
    /// Where the provider returns the buyer after paying.
    pub success_url: String,
    /// Where it returns them when they cancel.
    pub cancel_url: String,
}

/// How a checkout ended.
#[derive(Debug, Clone)]
pub enum CheckoutOutcome {
    /// Total 0: paid at once through the free path.
    Paid(order::Model),
    /// A pending order; send the buyer to `redirect_url`.
    Redirect {
        /// The pending order.
        order: order::Model,
        /// The provider's payment page.
        redirect_url: String,
    },
}

/// What a payment confirmation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaidTransition {
    /// PENDING/EXPIRED → PAID now (counted).
    Paid,
    /// Already paid (or later): nothing changed.
    AlreadyDone,
    /// The payment came after the tickets were gone: the order is CANCELLED and its
    /// refund owed; call [`settle_refund_due`] after commit.
    RefundDue,
}

/// Settings of the checkout.
#[derive(Debug, Clone)]
pub struct CheckoutSettings {
    /// How long a pending order (and its provider session) stays payable.
    pub pending_ttl: Duration,
}

fn user(field: &str, code: UserErrorCode, message: impl Into<String>) -> ServiceError {
    UserError::new(field, code, message).into()
}

fn check_url(field: &str, value: &str) -> ServiceResult<String> {
    match url::Url::parse(value.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u.to_string()),
        _ => Err(user(field, UserErrorCode::InvalidUrl, format!("{field} must be an absolute http(s) URL"))),
    }
}

/// Characters of an order number: no 0/O or 1/I, so it can be read out on the phone.
const ORDER_NUMBER_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// 8 characters of 32 = 40 bits: clashes are rare enough that a few redraws settle them.
const ORDER_NUMBER_LENGTH: usize = 8;
/// Redraws of an order number that clashed with another before giving up.
const ORDER_NUMBER_RETRIES: u32 = 3;
/// Stripe wants a session's `expires_at` at least 30 minutes after it receives the
/// request: this margin keeps the default (30) valid whatever the clock and the network add.
const PROVIDER_EXPIRY_MARGIN: Duration = Duration::minutes(2);

fn order_number() -> String {
    let mut rng = rand::rng();
    let code: String = (0..ORDER_NUMBER_LENGTH)
        .map(|_| ORDER_NUMBER_ALPHABET[rng.random_range(0..ORDER_NUMBER_ALPHABET.len())] as char)
        .collect();
    format!("TX-{code}")
}

fn access_token() -> String {
    use base64::Engine;
    let mut bytes = [0_u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The orders of the code, other carts', still holding a use: a `SELECT` of a column
/// `pending`, to send in a batch.
fn pending_with_code_query(promo_code_id: i64, except_cart: i64) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::QuerySelect;
    order::Entity::find()
        .filter(order::Column::PromoCodeId.eq(promo_code_id))
        .filter(order::Column::Status.eq(OrderStatus::Pending))
        .filter(Condition::any().add(order::Column::ExpiresAt.is_null()).add(order::Column::ExpiresAt.gt(now())))
        .filter(Condition::any().add(order::Column::CartId.is_null()).add(order::Column::CartId.ne(except_cart)))
        .select_only()
        .column_as(Expr::col(order::Column::Id).count(), "pending")
        .into_query()
}

/// A checkout's batch failed and its transaction was rolled back. When the cause is a
/// ticket type or code deleted since the cart was read (what the batch wrote refers to
/// it), the buyer gets the refusal the checks would have given; otherwise the error.
async fn explain_failed_batch(
    db: &DatabaseConnection,
    events: &CartEvents,
    view: &PricedCartView,
    error: sea_orm::DbErr,
) -> ServiceResult<ServiceError> {
    let ids: Vec<i64> = view.snapshot.lines.iter().map(|(_, t)| t.id).collect();
    if let Err(refusal) = super::ticket_types::check_sellable_ids(db, &ids, "cartId").await {
        return Ok(refusal);
    }
    if let Some(code) = view.snapshot.promo.as_ref()
        && promo_code::Entity::find_by_id(code.id).one(db).await?.is_none()
    {
        return drop_code(db, events, view, ApplyRefusal::Unknown).await;
    }
    Ok(ServiceError::Db(error))
}

/// The check, in a paid checkout's write transaction, that the cart's applied code can
/// still be used: the code read again with its row locked on PostgreSQL (`FOR UPDATE`;
/// SQLite's write transaction already excludes every other writer), so simultaneous
/// checkouts see each other's pending orders and neither the usage limit nor the
/// per-customer cap can be passed by pressing Pay at once.
enum CodeCheck {
    /// No code applies.
    Nothing,
    /// Refused by the cart's own revalidation (no read needed; reported after the check
    /// for a concurrent checkout, as before).
    Refused(ApplyRefusal),
    /// The code, the buyer's uses and the code's pending orders, read in the batch.
    Read { code: Part, uses: Part, pending: Part },
}

impl CodeCheck {
    /// Adds the reads to `batch` (none when no code applies or it is refused already).
    fn push(batch: &mut Batch, backend: DbBackend, view: &PricedCartView, email: &Email) -> Self {
        use sea_orm::sea_query::LockType;
        let Some(attached) = view.snapshot.promo.as_ref() else { return CodeCheck::Nothing };
        match &view.promo_state {
            PromoState::Invalid(refusal) => return CodeCheck::Refused(*refusal),
            PromoState::Applied => {}
            PromoState::None | PromoState::NotApplicable | PromoState::BelowMinimum { .. } => {
                return CodeCheck::Nothing;
            }
        }
        let cart_id = view.snapshot.cart.id;
        let mut read = promo_code::Entity::find_by_id(attached.id).into_query();
        if backend == DbBackend::Postgres {
            read.lock(LockType::Update);
        }
        CodeCheck::Read {
            code: batch.select(read),
            uses: batch.select(carts::customer_uses_query(attached.id, &email.customer_key(), Some(cart_id))),
            pending: batch.select(pending_with_code_query(attached.id, cart_id)),
        }
    }

    /// Why the code can no longer be used, from the batch's `rows`.
    fn refusal(&self, rows: &Rows, email: &Email) -> ServiceResult<Option<ApplyRefusal>> {
        let &CodeCheck::Read { code, uses, pending } = self else {
            return Ok(match self {
                CodeCheck::Refused(refusal) => Some(*refusal),
                _ => None,
            });
        };
        let Some(code) = rows.first::<promo_code::Model>(code)? else { return Ok(Some(ApplyRefusal::Unknown)) };
        let key = email.customer_key();
        let uses = match code.max_per_customer {
            Some(_) => Some(rows.count(uses, "uses")?),
            None => None,
        };
        let buyer = promo::Buyer { customer_key: Some(&key), uses };
        if let Err(refusal) = promo::check_apply(&carts::lifecycle(&code), &carts::buyer_rules(&code), &buyer, now()) {
            return Ok(Some(refusal));
        }
        // The soft cap: paid redemptions plus checkouts still in flight.
        if let Some(limit) = code.usage_limit
            && code.redemptions_count + rows.count(pending, "pending")? >= limit
        {
            return Ok(Some(ApplyRefusal::UsageLimitReached));
        }
        Ok(None)
    }
}

/// Takes a refused code off the cart (the buyer sees the new total pushed) and says why.
async fn drop_code(
    db: &DatabaseConnection,
    events: &CartEvents,
    view: &PricedCartView,
    refusal: ApplyRefusal,
) -> ServiceResult<ServiceError> {
    let code = view.snapshot.promo.as_ref().map_or("", |c| c.code.as_str());
    cart::Entity::update_many()
        .col_expr(cart::Column::PromoCodeId, Expr::value(Option::<i64>::None))
        .filter(cart::Column::Id.eq(view.snapshot.cart.id))
        .exec(db)
        .await?;
    events.publish(view.snapshot.cart.id);
    Ok(user(
        "code",
        carts::refusal_code(refusal),
        format!("{} It was removed from your cart; please review the new total.", refusal.message(code)),
    ))
}

/// The cart's tickets per ticket type, in ticket type order.
fn quantities(view: &PricedCartView) -> capacity::Quantities {
    let mut quantities: capacity::Quantities =
        view.snapshot.lines.iter().map(|(line, ticket)| (ticket.id, i64::from(line.quantity))).collect();
    quantities.sort_unstable();
    quantities
}

fn in_progress() -> ServiceError {
    user(
        "cartId",
        UserErrorCode::PaymentInProgress,
        "A payment for this cart is being started or completed right now; please try again in a moment.",
    )
}

/// The cart's live pending order (`pending_order_id`, read with the cart), if any. One
/// whose time is up is expired on the way (its provider session ended with it), so it
/// no longer counts.
async fn live_pending(db: &DatabaseConnection, pending_order_id: Option<i64>) -> ServiceResult<Option<order::Model>> {
    let Some(id) = pending_order_id else { return Ok(None) };
    let Some(found) =
        order::Entity::find_by_id(id).filter(order::Column::Status.eq(OrderStatus::Pending)).one(db).await?
    else {
        return Ok(None);
    };
    if found.expires_at.is_some_and(|at| at <= now()) {
        let txn = begin_write(db).await?;
        mark_unpaid_in(&txn, found.id, OrderStatus::Expired, None).await?;
        txn.commit().await?;
        return Ok(None);
    }
    Ok(Some(found))
}

/// Whether a pending order is the payment this checkout would start anyway.
async fn same_payment(
    db: &DatabaseConnection,
    earlier: &order::Model,
    view: &PricedCartView,
    email: &Email,
    provider: Provider,
) -> ServiceResult<bool> {
    let applied = view.snapshot.promo.as_ref().filter(|_| view.promo_state == PromoState::Applied).map(|p| p.id);
    let fresh_enough = earlier.expires_at.is_some_and(|at| at > now() + REUSE_MARGIN);
    if earlier.provider != provider
        || earlier.redirect_url.is_none()
        || !fresh_enough
        || earlier.total != view.priced.total
        || earlier.email != email.as_str()
        || earlier.promo_code_id != applied
    {
        return Ok(false);
    }
    Ok(capacity::of_order(db, earlier.id).await? == quantities(view))
}

/// A pending order is handed out again only while it has this long left to be paid.
const REUSE_MARGIN: Duration = Duration::minutes(5);

/// A pending order still without a provider session after this long was abandoned
/// mid-call (the process stopped): its session never reached the buyer.
const ABANDONED_START: Duration = Duration::minutes(2);

/// One live payment per cart. An earlier pending order of this cart is returned again
/// when it is the same payment; otherwise it is ended at its provider first (so it can
/// no longer be paid) and cancelled, releasing its tickets.
async fn settle_earlier_pending(
    db: &DatabaseConnection,
    providers: &Providers,
    view: &PricedCartView,
    read: &CheckoutRead,
    email: &Email,
    provider: Option<Provider>,
) -> ServiceResult<Option<CheckoutOutcome>> {
    let Some(earlier) = live_pending(db, read.pending_order_id).await? else { return Ok(None) };
    if let Some(provider) = provider
        && same_payment(db, &earlier, view, email, provider).await?
    {
        let redirect_url = earlier.redirect_url.clone().unwrap_or_default();
        return Ok(Some(CheckoutOutcome::Redirect { order: earlier, redirect_url }));
    }
    // Settling (no expiry): the buyer has paid and the money is on its way.
    if earlier.expires_at.is_none() {
        return Err(in_progress());
    }
    match earlier.provider_ref.as_deref() {
        None if earlier.created_at > now() - ABANDONED_START => return Err(in_progress()),
        None => {}
        Some(reference) => {
            let kind = earlier.provider;
            let client = providers.get(kind).ok_or_else(|| {
                user("cartId", UserErrorCode::PaymentUnavailable, "The earlier payment's provider is not configured.")
            })?;
            if let Err(e) = client.expire(reference).await {
                // Not ended: it may be being paid right now.
                tracing::warn!(error = %e, order_id = earlier.id, "could not end an earlier checkout session");
                return Err(in_progress());
            }
        }
    }
    let txn = begin_write(db).await?;
    mark_unpaid_in(&txn, earlier.id, OrderStatus::Cancelled, Some("replaced by a new checkout of its cart")).await?;
    txn.commit().await?;
    Ok(None)
}

/// One order item per price point, with its share of the group's VAT.
fn items(view: &PricedCartView) -> Vec<order_item::ActiveModel> {
    struct Draft {
        line_no: i32,
        ticket_type_id: i64,
        event_id: i64,
        name: String,
        quantity: u32,
        original: i64,
        unit: i64,
        rate: crate::domain::VatRate,
    }
    let mut drafts = vec![];
    for (i, (line, (_, ticket))) in view.priced.lines.iter().zip(&view.snapshot.lines).enumerate() {
        for point in &line.price_points {
            drafts.push(Draft {
                line_no: i as i32,
                ticket_type_id: ticket.id,
                event_id: ticket.event_id,
                name: ticket.name.clone(),
                quantity: point.quantity,
                original: line.original_unit_price,
                unit: point.unit_price,
                rate: line.vat_rate,
            });
        }
    }
    let mut vat = vec![0_i64; drafts.len()];
    for group in &view.priced.vat_groups {
        let members: Vec<usize> = (0..drafts.len()).filter(|&i| drafts[i].rate == group.rate).collect();
        let amounts: Vec<i64> = members.iter().map(|&i| drafts[i].unit * i64::from(drafts[i].quantity)).collect();
        for (share, &i) in allocate_proportionally(group.vat, &amounts).into_iter().zip(&members) {
            vat[i] = share;
        }
    }
    drafts
        .into_iter()
        .zip(vat)
        .map(|(d, vat_amount)| {
            let q = i64::from(d.quantity);
            order_item::ActiveModel {
                line_no: Set(d.line_no),
                ticket_type_id: Set(Some(d.ticket_type_id)),
                event_id: Set(Some(d.event_id)),
                name: Set(d.name),
                quantity: Set(d.quantity as i32),
                original_price: Set(d.original),
                discount_amount: Set((d.original - d.unit) * q),
                unit_price: Set(d.unit),
                line_total: Set(d.unit * q),
                vat_rate_bp: Set(d.rate.basis_points() as i32),
                vat_amount: Set(vat_amount),
                ..Default::default()
            }
        })
        .collect()
}

/// The code the order will record: the cart's, when it applies.
fn applied_code(view: &PricedCartView) -> Option<&promo_code::Model> {
    view.snapshot.promo.as_ref().filter(|_| view.promo_state == PromoState::Applied)
}

/// What a checkout reads ahead of its write transaction (which, on SQLite, holds the
/// one writer lock every other checkout waits for).
struct ReadAhead {
    /// A link order: the cart's session opened a `?promo=` link of the code (the
    /// report's conversion counts these, not codes typed in).
    via_link: bool,
    /// The endpoints that subscribe to `order.paid` (the free path's order is paid at once).
    paid_targets: Vec<crate::entities::webhook_endpoint::Model>,
}

/// The [`ReadAhead`] of a checkout, from what was read with its cart: the webhook
/// endpoints are read only when the shop has some.
async fn read_ahead(
    db: &DatabaseConnection,
    view: &PricedCartView,
    read: &CheckoutRead,
    paid_now: bool,
) -> ServiceResult<ReadAhead> {
    let via_link = applied_code(view).is_some() && read.via_link;
    let paid_targets = if paid_now && read.has_webhook_endpoints {
        super::webhooks::subscribers(db, view.snapshot.account.id, "order.paid").await?
    } else {
        vec![]
    };
    Ok(ReadAhead { via_link, paid_targets })
}

/// How an order starts: its provider, status and, while pending, its expiry.
#[derive(Debug, Clone, Copy)]
struct Start {
    provider: Provider,
    status: OrderStatus,
    expires_at: Option<DateTime<Utc>>,
}

/// A new order's row for the cart, with a fresh random number and access token, and the
/// key that finds it by them.
fn order_row(view: &PricedCartView, ahead: &ReadAhead, email: &Email, start: Start) -> (order::ActiveModel, OrderKey) {
    let Start { provider, status, expires_at } = start;
    let at = now();
    let promo = applied_code(view);
    let cart = &view.snapshot.cart;
    let seller = super::invoices::Seller::of(&view.snapshot.account);
    let key = OrderKey { account_id: view.snapshot.account.id, number: order_number(), access_token: access_token() };
    let row = order::ActiveModel {
        account_id: Set(key.account_id),
        number: Set(key.number.clone()),
        access_token: Set(key.access_token.clone()),
        cart_id: Set(Some(cart.id)),
        email: Set(email.as_str().to_owned()),
        customer_key: Set(email.customer_key()),
        status: Set(status.to_owned()),
        provider: Set(provider),
        currency: Set(view.currency.into()),
        prices_include_vat: Set(view.snapshot.account.prices_include_vat),
        subtotal: Set(view.priced.subtotal),
        discount_amount: Set(view.priced.discount),
        net_amount: Set(view.priced.net),
        vat_amount: Set(view.priced.vat),
        total: Set(view.priced.total),
        ticket_count: Set(view.snapshot.lines.iter().map(|(l, _)| l.quantity).sum()),
        refunded_amount: Set(0),
        promo_code_id: Set(promo.map(|p| p.id)),
        promo_code: Set(promo.map(|p| p.code.clone())),
        promo_discount_type: Set(promo.map(|p| p.discount_type)),
        promo_percent_off_bp: Set(promo.and_then(|p| p.percent_off_bp)),
        promo_amount_off: Set(promo.and_then(|p| p.amount_off)),
        over_cap: Set(false),
        via_link: Set(ahead.via_link),
        utm_source: Set(cart.utm_source.clone()),
        utm_medium: Set(cart.utm_medium.clone()),
        utm_campaign: Set(cart.utm_campaign.clone()),
        // The invoice's seller, as the shop's settings say now.
        seller_name: Set(Some(seller.name.clone())),
        seller_address: Set((!seller.address.is_empty()).then(|| seller.address.join("\n"))),
        seller_vat_id: Set(seller.vat_id.clone()),
        expires_at: Set(expires_at),
        paid_at: Set((status == OrderStatus::Paid).then_some(at)),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    };
    (row, key)
}

/// The order's `INSERT`: a clash of random order numbers writes nothing (and, unlike an
/// error, leaves a PostgreSQL transaction usable).
fn insert_order_query(row: order::ActiveModel) -> sea_orm::TryInsert<order::ActiveModel> {
    order::Entity::insert(row).on_conflict_do_nothing_on([order::Column::AccountId, order::Column::Number])
}

/// Writes the order and its items in `txn`: two statements, each returning its rows.
async fn insert_order(
    txn: &DatabaseTransaction,
    view: &PricedCartView,
    ahead: &ReadAhead,
    email: &Email,
    start: Start,
) -> ServiceResult<(order::Model, Vec<order_item::Model>)> {
    let mut attempt = 0;
    let saved = loop {
        // On a clash of order numbers, draw again.
        let inserted = insert_order_query(order_row(view, ahead, email, start).0).exec_with_returning(txn).await?;
        match inserted {
            TryInsertResult::Inserted(saved) => break saved,
            TryInsertResult::Conflicted | TryInsertResult::Empty if attempt < ORDER_NUMBER_RETRIES => attempt += 1,
            TryInsertResult::Conflicted | TryInsertResult::Empty => {
                return Err(ServiceError::Db(sea_orm::DbErr::RecordNotInserted));
            }
        }
    };
    let rows: Vec<order_item::ActiveModel> = items(view)
        .into_iter()
        .map(|mut item| {
            item.order_id = Set(saved.id);
            item
        })
        .collect();
    let mut items = order_item::Entity::insert_many(rows).exec_with_returning(txn).await?;
    items.sort_unstable_by_key(|item| item.id);
    Ok((saved, items))
}

/// A free order's redemption of its code (never over the cap: the free path's increment
/// is conditional), its order id left to the caller.
fn free_redemption_row(account_id: i64, code_id: i64, customer_key: String) -> redemption::ActiveModel {
    redemption::ActiveModel {
        account_id: Set(account_id),
        promo_code_id: Set(code_id),
        customer_key: Set(customer_key),
        over_cap: Set(false),
        created_at: Set(now()),
        ..Default::default()
    }
}

/// Starts a checkout of the cart: revalidates and reprices, then either pays a zero
/// total through the free path or writes a PENDING order holding its tickets and
/// starts the provider's payment. A provider failure leaves the cart as it was and no
/// payable order. A cart has at most one payable order: a repeated checkout returns
/// the same session when nothing changed, and ends the earlier one first otherwise.
#[tracing::instrument(name = "checkout", level = "debug", skip_all, fields(provider = ?input.provider))]
pub async fn start(
    db: &DatabaseConnection,
    events: &CartEvents,
    providers: &Providers,
    settings: &CheckoutSettings,
    token: &str,
    input: CheckoutInput,
) -> ServiceResult<CheckoutOutcome> {
    let email = Email::parse(&input.email).map_err(|e| user("email", UserErrorCode::InvalidEmail, e.to_string()))?;
    let (snapshot, read) = carts::load_for_checkout(db, token).await?.ok_or_else(|| {
        user("cartId", UserErrorCode::CartNotFound, "This cart does not exist (anymore). Please start a new one.")
    })?;
    if snapshot.cart.status != CartStatus::Open {
        return Err(user("cartId", UserErrorCode::CartClosed, "This cart has already been checked out."));
    }
    if snapshot.lines.is_empty() {
        return Err(user("cartId", UserErrorCode::EmptyCart, "Your cart is empty."));
    }
    let tickets: Vec<&ticket_type::Model> = snapshot.lines.iter().map(|(_, t)| t).collect();
    super::ticket_types::check_sellable_with(db, &tickets, &read.events, "cartId").await?;
    let view = carts::price(snapshot, now())?;
    let free = view.priced.total == 0;
    let reusable = (!free).then_some(input.provider);
    if let Some(outcome) = settle_earlier_pending(db, providers, &view, &read, &email, reusable).await? {
        return Ok(outcome);
    }
    if free {
        let ahead = read_ahead(db, &view, &read, true).await?;
        return free_path(db, events, &view, &ahead, &email).await.map(CheckoutOutcome::Paid);
    }

    let success_url = check_url("successUrl", &input.success_url)?;
    let cancel_url = check_url("cancelUrl", &input.cancel_url)?;
    let Some(provider) = providers.get(input.provider) else {
        return Err(user("provider", UserErrorCode::PaymentUnavailable, "This payment method is not available."));
    };
    let minimum = provider.minimum_charge(view.currency.code());
    if view.priced.total < minimum {
        let shown = crate::domain::Money::from_minor(minimum, view.currency);
        return Err(user(
            "provider",
            UserErrorCode::AmountBelowMinimum,
            format!("Card payments start at {shown} {}; this total is below that.", view.currency),
        ));
    }
    let expires_at = now() + settings.pending_ttl + PROVIDER_EXPIRY_MARGIN;
    let ahead = read_ahead(db, &view, &read, false).await?;
    let start = Start { provider: input.provider, status: OrderStatus::Pending, expires_at: Some(expires_at) };
    let (pending, items) = pending_order(db, events, &view, &ahead, &email, start).await??;

    let request = CheckoutRequest {
        order_id: pending.id,
        order_number: pending.number.clone(),
        currency: pending.currency.code().to_owned(),
        email: pending.email.clone(),
        lines: provider_lines(&pending, &items),
        total: pending.total,
        success_url,
        cancel_url,
        expires_at,
    };
    let started =
        provider.start(&request).instrument(tracing::debug_span!("payment_provider", order_id = pending.id)).await;
    match started {
        Ok(redirect) => {
            let order = attach_payment(db, events, providers, pending.id, &redirect).await?;
            Ok(CheckoutOutcome::Redirect { order, redirect_url: redirect.redirect_url })
        }
        Err(e) => {
            tracing::error!(error = %e, order_id = pending.id, "payment provider refused to start a payment");
            let txn = begin_write(db).await?;
            mark_unpaid_in(&txn, pending.id, OrderStatus::Cancelled, Some(&format!("provider error: {e}"))).await?;
            txn.commit().await?;
            Err(user(
                "provider",
                UserErrorCode::PaymentUnavailable,
                "The payment service is not reachable right now. Nothing was charged; please try again.",
            ))
        }
    }
}

/// The `UPDATE` that records the provider's payment page on the order `order_id`.
fn attach_query(order_id: i64, redirect: &CheckoutRedirect) -> sea_orm::UpdateMany<order::Entity> {
    order::Entity::update_many()
        .col_expr(order::Column::ProviderRef, Expr::value(redirect.provider_ref.as_str()))
        .col_expr(order::Column::RedirectUrl, Expr::value(redirect.redirect_url.as_str()))
        .col_expr(order::Column::UpdatedAt, Expr::value(now()))
        .filter(order::Column::Id.eq(order_id))
}

/// Records the provider's payment page on the pending order `order_id` and returns the
/// order as updated. Usually one statement and no transaction around it (on SQLite in
/// the writer's turn): the update, written only when no event about the session arrived
/// before the order knew it. When one did (kept waiting for it), or the update wrote
/// nothing, one transaction writes it and applies those events, so an order never has
/// its session without them. On SQLite, whose writers take turns, an event committed
/// before the statement is seen by it and a later one finds the order by its session;
/// on PostgreSQL an event committed in the moment of the statement can be missed by
/// both, as it could before (the buyer gets the page only after it, so no payment can
/// have been made on it).
async fn attach_payment(
    db: &DatabaseConnection,
    events: &CartEvents,
    providers: &Providers,
    order_id: i64,
    redirect: &CheckoutRedirect,
) -> ServiceResult<order::Model> {
    use sea_orm::sea_query::Query;
    let waiting = Expr::exists(super::payment_events::waiting_query(&redirect.provider_ref));
    let mut update = attach_query(order_id, redirect).into_query();
    update.and_where(waiting.not()).returning(Query::returning().expr(Expr::cust("*")));
    let statement = db.get_database_backend().build(&update);
    let turn = super::writer_turn(db).await?;
    // All rows, not one: on SQLite the statement's autocommit ends when it is stepped to
    // its end, and only then is a failure to commit reported.
    let rows = db.query_all_raw(statement).await?;
    drop(turn);
    if let Some(row) = rows.first() {
        return Ok(order::Model::from_query_result(row, "")?);
    }
    let txn = begin_write(db).await?;
    let written = attach_query(order_id, redirect).exec(&txn).await?;
    if written.rows_affected == 0 {
        return Err(ServiceError::Db(sea_orm::DbErr::RecordNotFound("order".into())));
    }
    // Events about the session that arrived before we knew it are applied now.
    let applied = super::payment_events::apply_waiting(&txn, &redirect.provider_ref).await?;
    txn.commit().await?;
    applied.after_commit(db, events, providers).await;
    // The order as written and as the events left it.
    order::Entity::find_by_id(order_id)
        .one(db)
        .await?
        .ok_or_else(|| ServiceError::Db(sea_orm::DbErr::RecordNotFound("order".into())))
}

/// The provider's line items for an order: one per price point, named with the code
/// applied; for net prices, one VAT line per rate. Σ unit × quantity = total. `items`
/// are the order's, in the order they were written.
pub fn provider_lines(order: &order::Model, items: &[order_item::Model]) -> Vec<ProviderLine> {
    let mut lines: Vec<ProviderLine> = items
        .iter()
        .map(|item| ProviderLine {
            name: match (&order.promo_code, item.discount_amount > 0) {
                (Some(code), true) => format!("{} ({code} applied)", item.name),
                _ => item.name.clone(),
            },
            unit_amount: item.unit_price,
            quantity: item.quantity as u32,
        })
        .collect();
    let mode = if order.prices_include_vat { VatMode::Inclusive } else { VatMode::Exclusive };
    if mode == VatMode::Exclusive {
        let mut by_rate: std::collections::BTreeMap<i32, i64> = std::collections::BTreeMap::new();
        for item in items {
            *by_rate.entry(item.vat_rate_bp).or_default() += item.vat_amount;
        }
        for (bp, vat) in by_rate.into_iter().filter(|(_, v)| *v > 0) {
            let rate = crate::domain::VatRate::from_basis_points(bp.into()).map(|r| r.to_string()).unwrap_or_default();
            lines.push(ProviderLine { name: format!("VAT {rate}%"), unit_amount: vat, quantity: 1 });
        }
    }
    lines
}

/// The paid path's write transaction: the pending order, its items and its tickets
/// held, sent as one [`Batch`] (see [`free_path`]) and kept only when none of its checks
/// refused. Returns the order and its items as written, or the refusal to answer with.
async fn pending_order(
    db: &DatabaseConnection,
    events: &CartEvents,
    view: &PricedCartView,
    ahead: &ReadAhead,
    email: &Email,
    start: Start,
) -> ServiceResult<Result<(order::Model, Vec<order_item::Model>), ServiceError>> {
    let txn = begin_write(db).await?;
    let backend = txn.get_database_backend();
    let cart_id = view.snapshot.cart.id;
    let quantities = quantities(view);
    let ticket_ids: Vec<i64> = view.snapshot.lines.iter().map(|(_, t)| t.id).collect();
    let (row, key) = order_row(view, ahead, email, start);
    let mut batch = Batch::new(backend);
    // Cart, then code, then ticket types: every transaction locks in this order. Writing
    // the buyer's email locks the cart's row.
    batch.update(
        cart::Entity::update_many()
            .col_expr(cart::Column::Email, Expr::value(email.as_str()))
            .filter(cart::Column::Id.eq(cart_id))
            .into_query(),
    );
    let concurrent = batch.select(
        order::Entity::find()
            .filter(order::Column::CartId.eq(cart_id))
            .filter(order::Column::Status.eq(OrderStatus::Pending))
            .into_query(),
    );
    let code = CodeCheck::push(&mut batch, backend, view, email);
    // Again under the lock: the organizer may have taken the event off sale meanwhile.
    let sellable = batch.select(super::ticket_types::sellable_query(&ticket_ids));
    let written = batch.insert(insert_order_query(row).into_query());
    let written_items = batch.insert(insert_for_order(items(view), order_item::Column::OrderId, &key)?);
    let held: Vec<(i64, Part)> =
        capacity::hold_queries(&quantities).into_iter().map(|(id, update)| (id, batch.update(update))).collect();
    let rows = match batch.run(&txn).await {
        Ok(rows) => rows,
        Err(error) => {
            txn.rollback().await?;
            return Ok(Err(explain_failed_batch(db, events, view, error).await?));
        }
    };

    if rows.any(concurrent) {
        txn.rollback().await?;
        return Ok(Err(in_progress()));
    }
    if let Some(refusal) = code.refusal(&rows, email)? {
        txn.rollback().await?;
        return Ok(Err(drop_code(db, events, view, refusal).await?));
    }
    let sellable = super::ticket_types::check_sellable_rows(&txn, rows.of(sellable), ticket_ids.len(), "cartId");
    if let Err(refusal) = sellable.await {
        txn.rollback().await?;
        return Ok(Err(refusal));
    }
    let written = match written_order(&rows, written, written_items)? {
        Some(written) => written,
        // A clash of order numbers: the batch wrote no order and no items.
        None => insert_order(&txn, view, ahead, email, start).await?,
    };
    if let Err(shortfall) = capacity::first_shortfall(held.iter().map(|&(id, part)| (id, rows.any(part)))) {
        txn.rollback().await?;
        return Ok(Err(capacity::shortfall_refusal(db, "cartId", shortfall, &quantities).await?));
    }
    txn.commit().await?;
    Ok(Ok(written))
}

/// How statements of a batch find the order an earlier statement of the same batch
/// wrote: by its number and its random access token, so after a clash of numbers (the
/// order's `INSERT` wrote nothing) they find no order and write nothing either.
struct OrderKey {
    account_id: i64,
    number: String,
    access_token: String,
}

/// An `INSERT` of `rows` (their set columns, `order_id` left out) for the order `key`
/// finds: `INSERT … SELECT o.id, … FROM orders o WHERE …`, one `UNION ALL` branch per row.
fn insert_for_order<A>(
    rows: Vec<A>,
    order_id: <A::Entity as EntityTrait>::Column,
    key: &OrderKey,
) -> ServiceResult<sea_orm::sea_query::InsertStatement>
where
    A: ActiveModelTrait,
{
    use sea_orm::sea_query::{Alias, Query, SelectStatement, UnionType};
    use sea_orm::{IdenStatic, Iterable};
    let skip = order_id.as_str();
    let columns: Vec<_> = <A::Entity as EntityTrait>::Column::iter()
        .filter(|c| c.as_str() != skip && rows.first().is_some_and(|row| row.get(*c).is_set()))
        .collect();
    let o = Alias::new("o");
    let mut select: Option<SelectStatement> = None;
    for row in rows {
        let mut branch = Query::select();
        branch
            .expr(Expr::col((o.clone(), order::Column::Id)))
            .from_as(order::Entity, o.clone())
            .and_where(Expr::col((o.clone(), order::Column::AccountId)).eq(key.account_id))
            .and_where(Expr::col((o.clone(), order::Column::Number)).eq(key.number.as_str()))
            .and_where(Expr::col((o.clone(), order::Column::AccessToken)).eq(key.access_token.as_str()));
        for column in &columns {
            let value = row.get(*column).into_value().ok_or_else(|| {
                ServiceError::Db(sea_orm::DbErr::Custom(format!("{} unset in one row of a batch", column.as_str())))
            })?;
            branch.expr(Expr::val(value));
        }
        match &mut select {
            None => select = Some(branch),
            Some(first) => {
                first.union(UnionType::All, branch);
            }
        }
    }
    let select = select.ok_or_else(|| ServiceError::Db(sea_orm::DbErr::Custom("an insert of no rows".into())))?;
    let mut insert = Query::insert();
    insert
        .into_table(<A::Entity as Default>::default())
        .columns(std::iter::once(order_id).chain(columns))
        .select_from(select)
        .map_err(|e| ServiceError::Db(sea_orm::DbErr::Custom(e.to_string())))?;
    Ok(insert)
}

/// The order and its items (in the order written) as a batch's `order` and `items`
/// parts returned them; `None` after a clash of order numbers, when it wrote neither.
fn written_order(
    rows: &Rows,
    order: Part,
    items: Part,
) -> ServiceResult<Option<(order::Model, Vec<order_item::Model>)>> {
    let Some(order) = rows.first::<order::Model>(order)? else { return Ok(None) };
    let mut items: Vec<order_item::Model> = rows.models(items)?;
    items.sort_unstable_by_key(|item| item.id);
    Ok(Some((order, items)))
}

/// The parts of a free checkout's batch that write the order.
struct FreeWrites {
    claim: Part,
    sellable: Part,
    order: Part,
    items: Part,
}

/// The parts of a free checkout's batch that count: the code's uses, the buyer's uses,
/// the tickets sold per ticket type.
struct FreeCounts {
    code: Option<Part>,
    uses: Option<Part>,
    sold: Vec<(i64, Part)>,
}

/// Total 0: the order is paid at once, no provider called. The code's cap is exact:
/// the increment is conditional, so the 101st use of a 100-use code finds no row to
/// update and nothing is written.
///
/// The write transaction sends its statements as one [`Batch`] (one hop into SQLite's
/// connection thread instead of one per statement, while the file's writer lock is
/// held), then decides: a refusal found by any of them rolls all of them back. On
/// PostgreSQL, and for a shop with `order.paid` endpoints (its delivery is queued between
/// the order and the shared counters), the batch goes in two: the order's statements,
/// checked, then the counters, so their rows stay locked for as short as before.
#[tracing::instrument(name = "free_checkout", level = "debug", skip_all, fields(cart_id = view.snapshot.cart.id))]
async fn free_path(
    db: &DatabaseConnection,
    events: &CartEvents,
    view: &PricedCartView,
    ahead: &ReadAhead,
    email: &Email,
) -> ServiceResult<order::Model> {
    let txn = begin_write(db).await?;
    let backend = txn.get_database_backend();
    let cart_id = view.snapshot.cart.id;
    let code = applied_code(view);
    let quantities = quantities(view);
    let (row, key) =
        order_row(view, ahead, email, Start { provider: Provider::Free, status: OrderStatus::Paid, expires_at: None });

    let mut batch = Batch::new(backend);
    let writes = FreeWrites {
        // Claim the cart first: a double click cannot make two free orders of one cart.
        claim: batch.update(
            cart::Entity::update_many()
                .col_expr(cart::Column::Status, Expr::value(CartStatus::CheckedOut))
                .col_expr(cart::Column::Email, Expr::value(email.as_str()))
                .filter(cart::Column::Id.eq(cart_id))
                .filter(cart::Column::Status.eq(CartStatus::Open))
                .into_query(),
        ),
        // Under the write lock: the organizer may have taken the event off sale meanwhile.
        sellable: batch.select(super::ticket_types::sellable_query(
            &view.snapshot.lines.iter().map(|(_, t)| t.id).collect::<Vec<_>>(),
        )),
        order: batch.insert(insert_order_query(row).into_query()),
        items: batch.insert(insert_for_order(items(view), order_item::Column::OrderId, &key)?),
    };
    if let Some(code) = code {
        let redemption = free_redemption_row(key.account_id, code.id, email.customer_key());
        batch.insert(insert_for_order(vec![redemption], redemption::Column::OrderId, &key)?);
    }
    // In two on PostgreSQL (one statement per query anyway: the counters' rows are then
    // locked only after the order's checks) and for a shop with endpoints to tell.
    let early = if ahead.paid_targets.is_empty() && backend == DbBackend::Sqlite {
        None
    } else {
        let rows = match batch.run_now(&txn).await {
            Ok(rows) => rows,
            Err(error) => {
                txn.rollback().await?;
                return Err(explain_failed_batch(db, events, view, error).await?);
            }
        };
        match free_written(&txn, view, ahead, email, &rows, &writes).await? {
            Ok(written) => {
                let paid = "order.paid";
                super::webhooks::enqueue_order_event_with(
                    &txn,
                    &written.order,
                    &written.items,
                    &ahead.paid_targets,
                    paid,
                )
                .await?;
                Some(written)
            }
            Err(refusal) => {
                txn.rollback().await?;
                return Err(refusal);
            }
        }
    };
    // The shared counters last, code then ticket types (the lock order): on PostgreSQL
    // their rows stay locked until commit, and every checkout of the code needs them.
    let counts = FreeCounts {
        // The increment is conditional and returns the row as counted (for the alerts).
        code: code.map(|code| {
            batch.update(
                promo_code::Entity::update_many()
                    .col_expr(
                        promo_code::Column::RedemptionsCount,
                        Expr::col(promo_code::Column::RedemptionsCount).add(1),
                    )
                    .filter(promo_code::Column::Id.eq(code.id))
                    .filter(promo_code::Column::Active.eq(true))
                    .filter(promo_code::Column::DeletedAt.is_null())
                    .filter(Condition::any().add(promo_code::Column::UsageLimit.is_null()).add(
                        Expr::col(promo_code::Column::RedemptionsCount).lt(Expr::col(promo_code::Column::UsageLimit)),
                    ))
                    .into_query(),
            )
        }),
        // After the increment, which waits for every other checkout of the code on
        // PostgreSQL. This order is written already and counts itself.
        uses: code
            .filter(|code| code.max_per_customer.is_some())
            .map(|code| batch.select(carts::customer_uses_query(code.id, &email.customer_key(), None))),
        // Sold at once, never past capacity however many check out together.
        sold: capacity::sell_queries(&quantities).into_iter().map(|(id, update)| (id, batch.update(update))).collect(),
    };
    let rows = match batch.run(&txn).await {
        Ok(rows) => rows,
        Err(error) => {
            txn.rollback().await?;
            return Err(explain_failed_batch(db, events, view, error).await?);
        }
    };
    let FreeWritten { order, fell_back, .. } = match early {
        Some(written) => written,
        None => match free_written(&txn, view, ahead, email, &rows, &writes).await? {
            Ok(written) => written,
            Err(refusal) => {
                txn.rollback().await?;
                return Err(refusal);
            }
        },
    };
    if let Some(code) = code {
        let counted: Option<promo_code::Model> = match counts.code {
            Some(part) => rows.first(part)?,
            None => None,
        };
        let uses = match counts.uses {
            // Written after the batch (a clash of order numbers), the order was not
            // counted in it: count again.
            Some(_) if fell_back => Some(carts::customer_uses(&txn, code.id, &email.customer_key()).await?),
            Some(part) => Some(rows.count(part, "uses")?),
            None => None,
        };
        let refusal = if code.recipient_key.as_deref().is_some_and(|recipient| recipient != email.customer_key()) {
            // Checked again here: the checkout's email may differ from the cart's.
            Some((UserErrorCode::CustomerMismatch, ApplyRefusal::CustomerMismatch))
        } else if counted.is_none() {
            Some((UserErrorCode::UsageLimitReached, ApplyRefusal::UsageLimitReached))
        } else if let (Some(max), Some(uses)) = (code.max_per_customer, uses)
            // This order counts itself: more than `max` is one too many.
            && uses > max
        {
            Some((UserErrorCode::CustomerLimitReached, ApplyRefusal::CustomerLimitReached))
        } else {
            None
        };
        if let Some((kind, refusal)) = refusal {
            txn.rollback().await?;
            // As at revalidation: the code comes off and the buyer sees the new total.
            cart::Entity::update_many()
                .col_expr(cart::Column::PromoCodeId, Expr::value(Option::<i64>::None))
                .filter(cart::Column::Id.eq(cart_id))
                .exec(db)
                .await?;
            events.publish(cart_id);
            return Err(user(
                "code",
                kind,
                format!("{} It was removed from your cart; please review the new total.", refusal.message(&code.code)),
            ));
        }
        if let Some(counted) = &counted {
            super::webhooks::enqueue_code_alerts(&txn, counted, &order).await?;
        }
    }
    if let Err(shortfall) = capacity::first_shortfall(counts.sold.iter().map(|&(id, part)| (id, rows.any(part)))) {
        txn.rollback().await?;
        return Err(capacity::shortfall_refusal(db, "cartId", shortfall, &quantities).await?);
    }
    txn.commit().await?;
    events.publish(cart_id);
    events.publish_shop(order.account_id);
    Ok(order)
}

/// A free checkout's order as written.
struct FreeWritten {
    order: order::Model,
    /// In id order.
    items: Vec<order_item::Model>,
    /// Written after the batch (a clash of order numbers), not by it.
    fell_back: bool,
}

/// What the writes of a free checkout's batch found: the order as written, or the
/// refusal to answer with (the caller rolls back). After a clash of order numbers the
/// batch wrote no order; it is written again here, drawing a new number.
async fn free_written(
    txn: &DatabaseTransaction,
    view: &PricedCartView,
    ahead: &ReadAhead,
    email: &Email,
    rows: &Rows,
    writes: &FreeWrites,
) -> ServiceResult<Result<FreeWritten, ServiceError>> {
    if !rows.any(writes.claim) {
        return Ok(Err(user("cartId", UserErrorCode::CartClosed, "This cart has already been checked out.")));
    }
    let wanted = view.snapshot.lines.len();
    if let Err(e) = super::ticket_types::check_sellable_rows(txn, rows.of(writes.sellable), wanted, "cartId").await {
        return Ok(Err(e));
    }
    if let Some((order, items)) = written_order(rows, writes.order, writes.items)? {
        return Ok(Ok(FreeWritten { order, items, fell_back: false }));
    }
    let start = Start { provider: Provider::Free, status: OrderStatus::Paid, expires_at: None };
    let (order, items) = insert_order(txn, view, ahead, email, start).await?;
    // The batch's redemption found no order either: written with the order's own code.
    if let Some(code_id) = order.promo_code_id {
        let mut redemption = free_redemption_row(order.account_id, code_id, order.customer_key.clone());
        redemption.order_id = Set(order.id);
        redemption::Entity::insert(redemption).exec_without_returning(txn).await?;
    }
    Ok(Ok(FreeWritten { order, items, fell_back: true }))
}

/// Marks an order paid inside `txn`: the guarded transition, then the cart, the
/// redemption and the tickets. Returns the cart to signal after commit.
///
/// A payment is honoured whenever it arrives: a pending order's held tickets become
/// sold; an order whose hold had ended (expired, or cancelled and then paid after all)
/// gets its tickets only if they are still there. When they are gone, the order is
/// CANCELLED with the reason and its refund is owed ([`PaidTransition::RefundDue`]);
/// [`settle_refund_due`] sends it to the provider after commit.
#[tracing::instrument(name = "mark_paid", level = "debug", skip(txn, payment_ref))]
pub async fn mark_paid_in(
    txn: &DatabaseTransaction,
    order_id: i64,
    payment_ref: Option<&str>,
) -> ServiceResult<(PaidTransition, Option<i64>)> {
    match order::Entity::find_by_id(order_id).one(txn).await? {
        Some(order) => mark_read_paid_in(txn, order, payment_ref).await,
        None => Ok((PaidTransition::AlreadyDone, None)),
    }
}

/// [`mark_paid_in`] for an order read in `txn` already. Its statements go as batches
/// ([`Batch`]): the guarded transition with the order's items and its `order.paid`
/// endpoints, then the cart, the redemption and the tickets.
pub async fn mark_read_paid_in(
    txn: &DatabaseTransaction,
    order: order::Model,
    payment_ref: Option<&str>,
) -> ServiceResult<(PaidTransition, Option<i64>)> {
    let order_id = order.id;
    let held = match order.status {
        OrderStatus::Pending => true,
        OrderStatus::Expired | OrderStatus::Cancelled if !order.refund_due && order.refunded_amount == 0 => false,
        _ => return Ok((PaidTransition::AlreadyDone, None)),
    };
    let backend = txn.get_database_backend();
    let at = now();
    let mut update = order::Entity::update_many()
        .col_expr(order::Column::Status, Expr::value(OrderStatus::Paid))
        .col_expr(order::Column::PaidAt, Expr::value(at))
        .col_expr(order::Column::FailureReason, Expr::value(Option::<String>::None))
        .col_expr(order::Column::UpdatedAt, Expr::value(at))
        .filter(order::Column::Id.eq(order_id))
        // Guarded on what was read: of two concurrent confirmations one changes nothing.
        .filter(order::Column::Status.eq(order.status))
        .filter(order::Column::RefundDue.eq(false));
    if let Some(reference) = payment_ref {
        update = update.col_expr(order::Column::PaymentRef, Expr::value(reference));
    }
    // Reads beside the guarded update: when it changes nothing, nothing was written.
    let mut batch = Batch::new(backend);
    let transition = batch.update(update.into_query());
    let items = batch.select(
        order_item::Entity::find()
            .filter(order_item::Column::OrderId.eq(order_id))
            .order_by_asc(order_item::Column::Id)
            .into_query(),
    );
    let endpoints = batch.select(super::webhooks::endpoints_query(order.account_id));
    let rows = batch.run(txn).await?;
    // The order as paid, for the webhook's payload.
    let Some(mut paid) = rows.first::<order::Model>(transition)? else {
        return Ok((PaidTransition::AlreadyDone, None));
    };
    let items: Vec<order_item::Model> = rows.models(items)?;
    let targets = super::webhooks::subscribed(rows.models(endpoints)?, "order.paid");
    let quantities = capacity::of_items(&items);
    if held {
        // Its own held tickets become sold, which cannot fail: no savepoint. The shared
        // counters last, code then ticket types: on PostgreSQL their rows stay locked
        // until commit, and every payment for the same tickets needs them.
        let mut batch = Batch::new(backend);
        let cart = push_close_cart(&mut batch, &paid);
        let counted = push_redeem(&mut batch, &paid)?;
        // With endpoints to tell, the outbox row goes before the ticket counters (it
        // commits with the payment, or not at all); on PostgreSQL always in two (one
        // statement per query anyway), so the counters' rows are locked last.
        let early =
            if targets.is_empty() && backend == DbBackend::Sqlite { None } else { Some(batch.run_now(txn).await?) };
        if let Some(rows) = &early {
            paid.over_cap = redeemed(txn, &paid, rows, counted).await?;
            super::webhooks::enqueue_order_event_with(txn, &paid, &items, &targets, "order.paid").await?;
        }
        for update in capacity::sell_held_queries(&quantities) {
            batch.update(update);
        }
        let rows = batch.run(txn).await?;
        if early.is_none() {
            paid.over_cap = redeemed(txn, &paid, &rows, counted).await?;
        }
        return Ok((PaidTransition::Paid, cart));
    }
    // A savepoint: when the tickets are gone, none of this happened.
    let savepoint = sea_orm::TransactionTrait::begin(txn).await?;
    let mut batch = Batch::new(backend);
    let cart = push_close_cart(&mut batch, &paid);
    let counted = push_redeem(&mut batch, &paid)?;
    let sold: Vec<(i64, Part)> =
        capacity::sell_queries(&quantities).into_iter().map(|(id, update)| (id, batch.update(update))).collect();
    let rows = batch.run(&savepoint).await?;
    if capacity::first_shortfall(sold.iter().map(|&(id, part)| (id, rows.any(part)))).is_err() {
        savepoint.rollback().await?;
        tracing::warn!(order_id, "a late payment found its tickets sold out: refunding it");
        order::Entity::update_many()
            .col_expr(order::Column::Status, Expr::value(OrderStatus::Cancelled))
            .col_expr(order::Column::PaidAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(order::Column::RefundDue, Expr::value(true))
            .col_expr(
                order::Column::FailureReason,
                Expr::value("the payment arrived after the tickets' hold ended and they were sold out: refunded"),
            )
            .filter(order::Column::Id.eq(order_id))
            .exec(txn)
            .await?;
        return Ok((PaidTransition::RefundDue, None));
    }
    paid.over_cap = redeemed(&savepoint, &paid, &rows, counted).await?;
    savepoint.commit().await?;
    // The outbox row commits with the payment, or not at all.
    super::webhooks::enqueue_order_event_with(txn, &paid, &items, &targets, "order.paid").await?;
    Ok((PaidTransition::Paid, cart))
}

/// Adds the closing of the cart `order` was made from (part of every paid transition).
fn push_close_cart(batch: &mut Batch, order: &order::Model) -> Option<i64> {
    let cart_id = order.cart_id?;
    batch.update(
        cart::Entity::update_many()
            .col_expr(cart::Column::Status, Expr::value(CartStatus::CheckedOut))
            .col_expr(cart::Column::UpdatedAt, Expr::value(now()))
            .filter(cart::Column::Id.eq(cart_id))
            .into_query(),
    );
    Some(cart_id)
}

/// Whether a code's row as counted is past its usage limit, in SQL (`p` is the row).
fn past_limit(p: &sea_orm::sea_query::Alias) -> Expr {
    Expr::col((p.clone(), promo_code::Column::UsageLimit)).is_not_null().and(
        Expr::col((p.clone(), promo_code::Column::RedemptionsCount))
            .gt(Expr::col((p.clone(), promo_code::Column::UsageLimit))),
    )
}

/// Adds the counting of a paid order's code: the atomic increment (returning the code as
/// counted) and the unique redemption row, its over-cap flag from the row as counted.
/// Returns the increment's part (none without a code); [`redeemed`] finishes it.
fn push_redeem(batch: &mut Batch, order: &order::Model) -> ServiceResult<Option<Part>> {
    use sea_orm::sea_query::{Alias, Query};
    let Some(code_id) = order.promo_code_id else { return Ok(None) };
    let counted = batch.update(
        promo_code::Entity::update_many()
            .col_expr(promo_code::Column::RedemptionsCount, Expr::col(promo_code::Column::RedemptionsCount).add(1))
            .filter(promo_code::Column::Id.eq(code_id))
            .into_query(),
    );
    let p = Alias::new("p");
    let mut counted_row = Query::select();
    counted_row
        .exprs([
            Expr::val(order.account_id),
            Expr::col((p.clone(), promo_code::Column::Id)),
            Expr::val(order.id),
            Expr::val(order.customer_key.as_str()),
            past_limit(&p),
            Expr::val(now()),
        ])
        .from_as(promo_code::Entity, p.clone())
        .and_where(Expr::col((p.clone(), promo_code::Column::Id)).eq(code_id));
    let mut redemption = Query::insert();
    redemption
        .into_table(redemption::Entity)
        .columns([
            redemption::Column::AccountId,
            redemption::Column::PromoCodeId,
            redemption::Column::OrderId,
            redemption::Column::CustomerKey,
            redemption::Column::OverCap,
            redemption::Column::CreatedAt,
        ])
        .select_from(counted_row)
        .map_err(|e| ServiceError::Db(sea_orm::DbErr::Custom(e.to_string())))?;
    batch.insert(redemption);
    Ok(Some(counted))
}

/// After [`push_redeem`]'s statements ran (`counted` is its part of `rows`), with the
/// code as counted: the code's alerts queued (see
/// [`super::webhooks::enqueue_code_alerts`]) and, past the limit (a late payment), the
/// order flagged. Returns the flag.
async fn redeemed(
    db: &impl ConnectionTrait,
    order: &order::Model,
    rows: &Rows,
    counted: Option<Part>,
) -> ServiceResult<bool> {
    let Some(part) = counted else { return Ok(false) };
    let Some(code) = rows.first::<promo_code::Model>(part)? else { return Ok(false) };
    super::webhooks::enqueue_code_alerts(db, &code, order).await?;
    let over_cap = code.usage_limit.is_some_and(|limit| code.redemptions_count > limit);
    if over_cap {
        order::Entity::update_many()
            .col_expr(order::Column::OverCap, Expr::value(true))
            .filter(order::Column::Id.eq(order.id))
            .exec(db)
            .await?;
    }
    Ok(over_cap)
}

/// Marks a pending order expired or failed and releases its tickets (guarded: a paid
/// order stays paid).
pub async fn mark_unpaid_in(
    txn: &DatabaseTransaction,
    order_id: i64,
    status: OrderStatus,
    reason: Option<&str>,
) -> ServiceResult<bool> {
    let mut update = order::Entity::update_many()
        .col_expr(order::Column::Status, Expr::value(status))
        .col_expr(order::Column::UpdatedAt, Expr::value(now()))
        .filter(order::Column::Id.eq(order_id))
        .filter(order::Column::Status.eq(OrderStatus::Pending));
    if let Some(reason) = reason {
        update = update.col_expr(order::Column::FailureReason, Expr::value(reason));
    }
    if update.exec(txn).await?.rows_affected == 0 {
        return Ok(false);
    }
    capacity::release(txn, &capacity::of_order(txn, order_id).await?).await?;
    Ok(true)
}

/// Keeps a pending order payable while an asynchronous payment (e.g. SEPA debit)
/// settles. An order that had expired is pending again if its tickets can be held
/// again; otherwise it stays expired and the payment, when it succeeds, gets its
/// tickets only if they are still there.
pub async fn await_async_payment_in(
    txn: &DatabaseTransaction,
    order_id: i64,
    payment_ref: Option<&str>,
) -> ServiceResult<()> {
    let mut update = order::Entity::update_many()
        .col_expr(order::Column::ExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(order::Column::UpdatedAt, Expr::value(now()))
        .filter(order::Column::Id.eq(order_id))
        .filter(order::Column::Status.is_in([OrderStatus::Pending, OrderStatus::Expired]));
    if let Some(reference) = payment_ref {
        update = update.col_expr(order::Column::PaymentRef, Expr::value(reference));
    }
    update.exec(txn).await?;
    let Some(order) = order::Entity::find_by_id(order_id).one(txn).await? else { return Ok(()) };
    if order.status != OrderStatus::Expired {
        return Ok(());
    }
    let quantities = capacity::of_order(txn, order_id).await?;
    let savepoint = sea_orm::TransactionTrait::begin(txn).await?;
    if capacity::hold(&savepoint, &quantities).await?.is_err() {
        savepoint.rollback().await?;
        return Ok(());
    }
    order::Entity::update_many()
        .col_expr(order::Column::Status, Expr::value(OrderStatus::Pending))
        .filter(order::Column::Id.eq(order_id))
        .filter(order::Column::Status.eq(OrderStatus::Expired))
        .exec(&savepoint)
        .await?;
    savepoint.commit().await?;
    Ok(())
}

/// Most stale orders one sweep expires (the next sweep takes the rest).
const EXPIRE_BATCH: u64 = 500;

/// Expires pending orders past their time, releasing their tickets; returns how many.
pub async fn expire_stale(db: &DatabaseConnection) -> ServiceResult<u64> {
    use sea_orm::QuerySelect;
    let stale: Vec<i64> = order::Entity::find()
        .select_only()
        .column(order::Column::Id)
        .filter(order::Column::Status.eq(OrderStatus::Pending))
        .filter(order::Column::ExpiresAt.lte(now()))
        .limit(EXPIRE_BATCH)
        .into_tuple()
        .all(db)
        .await?;
    let mut expired = 0;
    for id in stale {
        let txn = begin_write(db).await?;
        if mark_unpaid_in(&txn, id, OrderStatus::Expired, None).await? {
            expired += 1;
        }
        txn.commit().await?;
    }
    Ok(expired)
}

/// Refunds an order whose refund is owed (its payment came for tickets that were gone)
/// through its provider, in full, then records it and sends `order.refunded`. A
/// provider failure leaves it owed; the sweep tries again.
pub async fn settle_refund_due(db: &DatabaseConnection, providers: &Providers, order_id: i64) -> ServiceResult<bool> {
    let Some(order) = order::Entity::find_by_id(order_id).filter(order::Column::RefundDue.eq(true)).one(db).await?
    else {
        return Ok(false);
    };
    let amount = order.total - order.refunded_amount;
    let kind = order.provider;
    let refund_id = match (providers.get(kind), order.payment_ref.as_deref()) {
        (Some(client), Some(payment_ref)) if amount > 0 => {
            let key = format!("tixshop-auto-refund-{}", order.id);
            match client.refund(payment_ref, amount, order.currency.code(), &key).await {
                Ok(id) => Some(id),
                Err(e) => {
                    tracing::error!(error = %e, order_id, "an owed refund was refused by the provider; will retry");
                    return Ok(false);
                }
            }
        }
        _ if amount <= 0 => None,
        _ => {
            tracing::error!(order_id, "an owed refund has no provider or payment reference to go through");
            return Ok(false);
        }
    };
    let txn = begin_write(db).await?;
    let settled = order::Entity::update_many()
        .col_expr(order::Column::RefundDue, Expr::value(false))
        .col_expr(order::Column::RefundedAmount, Expr::col(order::Column::Total))
        .col_expr(order::Column::UpdatedAt, Expr::value(now()))
        .filter(order::Column::Id.eq(order.id))
        .filter(order::Column::RefundDue.eq(true))
        .exec(&txn)
        .await?;
    if settled.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(false);
    }
    if amount > 0 {
        refund::Entity::insert(refund::ActiveModel {
            account_id: Set(order.account_id),
            order_id: Set(order.id),
            amount: Set(amount),
            provider_ref: Set(refund_id),
            reason: Set(Some("sold out before the payment arrived".into())),
            created_at: Set(now()),
            ..Default::default()
        })
        .on_conflict(sea_orm::sea_query::OnConflict::column(refund::Column::ProviderRef).do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await?;
    }
    super::webhooks::enqueue_order_event(&txn, order.id, "order.refunded").await?;
    txn.commit().await?;
    Ok(true)
}

/// Every order whose refund is still owed, settled once more.
pub async fn settle_refunds_due(db: &DatabaseConnection, providers: &Providers) -> ServiceResult<u64> {
    use sea_orm::QuerySelect;
    let due: Vec<i64> = order::Entity::find()
        .select_only()
        .column(order::Column::Id)
        .filter(order::Column::RefundDue.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    let mut settled = 0;
    for id in due {
        settled += u64::from(settle_refund_due(db, providers, id).await?);
    }
    Ok(settled)
}

/// Records a provider refund in `txn` once (unique provider reference) and updates the
/// order's refunded amount and status. Returns whether it was new.
pub async fn record_refund_in(
    txn: &DatabaseTransaction,
    order: &order::Model,
    amount: i64,
    provider_ref: Option<&str>,
    reason: Option<&str>,
) -> ServiceResult<bool> {
    // The refund row first: a provider reference already recorded (by the API call or
    // an earlier event) inserts nothing, atomically, even when both arrive at once.
    let inserted = refund::Entity::insert(refund::ActiveModel {
        account_id: Set(order.account_id),
        order_id: Set(order.id),
        amount: Set(amount),
        provider_ref: Set(provider_ref.map(str::to_owned)),
        reason: Set(reason.map(str::to_owned)),
        created_at: Set(now()),
        ..Default::default()
    })
    .on_conflict(sea_orm::sea_query::OnConflict::column(refund::Column::ProviderRef).do_nothing().to_owned())
    .exec_without_returning(txn)
    .await?;
    if inserted == 0 {
        return Ok(false);
    }
    let applied = order::Entity::update_many()
        .col_expr(order::Column::RefundedAmount, Expr::col(order::Column::RefundedAmount).add(amount))
        .col_expr(order::Column::UpdatedAt, Expr::value(now()))
        .filter(order::Column::Id.eq(order.id))
        .filter(order::Column::Status.is_in([OrderStatus::Paid, OrderStatus::PartiallyRefunded]))
        .filter(Expr::col(order::Column::RefundedAmount).add(amount).lte(Expr::col(order::Column::Total)))
        .exec(txn)
        .await?;
    if applied.rows_affected == 0 {
        return Err(user("amount", UserErrorCode::InvalidRefundAmount, "The refund exceeds what is left to refund."));
    }
    // REFUNDED once nothing is left (a free order's single refund frees it entirely).
    order::Entity::update_many()
        .col_expr(
            order::Column::Status,
            Expr::case(
                Expr::col(order::Column::RefundedAmount).gte(Expr::col(order::Column::Total)),
                OrderStatus::Refunded,
            )
            .finally(OrderStatus::PartiallyRefunded)
            .into(),
        )
        .filter(order::Column::Id.eq(order.id))
        .exec(txn)
        .await?;
    super::webhooks::enqueue_order_event(txn, order.id, "order.refunded").await?;
    Ok(true)
}

/// Refunds `amount` (default: all that is left) of one of the account's paid orders
/// through its provider. A full refund frees the buyer's per-customer slot;
/// `redemptions_count` never goes down.
pub async fn refund_order(
    db: &DatabaseConnection,
    events: &CartEvents,
    providers: &Providers,
    actor: &super::audit::Actor,
    account_id: i64,
    order_id: i64,
    amount: Option<i64>,
) -> ServiceResult<order::Model> {
    let order =
        order::Entity::find_by_id(order_id).filter(order::Column::AccountId.eq(account_id)).one(db).await?.ok_or_else(
            || user("orderId", UserErrorCode::OrderNotFound, format!("no order with id {order_id} in this account")),
        )?;
    if !matches!(order.status, OrderStatus::Paid | OrderStatus::PartiallyRefunded) {
        return Err(user(
            "orderId",
            UserErrorCode::InvalidOrderState,
            format!("an order {} cannot be refunded", order.status),
        ));
    }
    let left = order.total - order.refunded_amount;
    let amount = amount.unwrap_or(left);
    let free_order = order.total == 0;
    if (!free_order && amount <= 0) || amount > left || (free_order && amount != 0) {
        return Err(user(
            "amount",
            UserErrorCode::InvalidRefundAmount,
            format!(
                "refund between 0 and {} ({} left)",
                crate::domain::Money::from_minor(left, currency(&order)?),
                order.currency
            ),
        ));
    }
    let provider_ref = match order.provider {
        Provider::Free => None,
        kind => {
            let client = providers.get(kind).ok_or_else(|| {
                user("orderId", UserErrorCode::PaymentUnavailable, "the order's payment provider is not configured")
            })?;
            let payment_ref = order.payment_ref.clone().ok_or_else(|| {
                user("orderId", UserErrorCode::InvalidOrderState, "the order has no payment reference to refund")
            })?;
            let key = format!("tixshop-refund-{}-{}-{}", order.id, order.refunded_amount, amount);
            match client.refund(&payment_ref, amount, order.currency.code(), &key).await {
                Ok(id) => Some(id),
                Err(e) => {
                    tracing::error!(error = %e, order_id, "refund refused by the provider");
                    return Err(user(
                        "orderId",
                        UserErrorCode::PaymentUnavailable,
                        "The payment provider refused the refund; nothing was refunded.",
                    ));
                }
            }
        }
    };
    let txn = begin_write(db).await?;
    // Before → after as the transaction sees them, not as read before the provider call.
    let current = order::Entity::find_by_id(order_id).one(&txn).await?.unwrap_or_else(|| order.clone());
    let recorded = record_refund_in(&txn, &current, amount, provider_ref.as_deref(), Some("refundOrder")).await?;
    let refunded = order::Entity::find_by_id(order_id).one(&txn).await?.unwrap_or_else(|| current.clone());
    // A repeated request the provider answered with the same refund recorded nothing new.
    if recorded {
        let (before, after) = (super::audit::order_fields(&current), super::audit::order_fields(&refunded));
        let target = (crate::entities::enums::AuditTarget::Order, order_id);
        super::audit::record(&txn, account_id, actor, "refundOrder", target, Some(&before), Some(&after)).await?;
    }
    txn.commit().await?;
    events.publish_shop(account_id);
    Ok(refunded)
}

fn currency(order: &order::Model) -> ServiceResult<crate::domain::Currency> {
    Ok(*order.currency)
}

/// Runs the expiry sweep every `every` until the process ends: stale pending orders
/// expire (their tickets come free), and owed refunds are tried again.
pub fn spawn_expiry(
    db: DatabaseConnection,
    providers: Arc<Providers>,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match expire_stale(&db).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "expired pending orders"),
                Err(e) => tracing::warn!(error = ?e, "expiring pending orders failed"),
            }
            match settle_refunds_due(&db, &providers).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(refunded = n, "settled owed refunds"),
                Err(e) => tracing::warn!(error = ?e, "settling owed refunds failed"),
            }
        }
    })
}

/// Settles a PayPal capture in `txn`: the order is paid only when PayPal captured exactly
/// its total in its currency; otherwise it stays unpaid and the reason is recorded
/// (returned as `Err`).
pub async fn settle_paypal_capture_in(
    txn: &DatabaseTransaction,
    order: &order::Model,
    capture: &crate::payments::Capture,
) -> ServiceResult<Result<(PaidTransition, Option<i64>), String>> {
    if capture.status == CaptureStatus::Pending {
        // PayPal holds the payment for review: it stays payable and completes later.
        await_async_payment_in(txn, order.id, Some(&capture.capture_id)).await?;
        return Ok(Ok((PaidTransition::AlreadyDone, None)));
    }
    let mismatch = if capture.status != CaptureStatus::Completed {
        Some(format!("PayPal capture {} is {:?}", capture.capture_id, capture.status))
    } else if capture.amount != Some(order.total) || !capture.currency.eq_ignore_ascii_case(order.currency.code()) {
        let shown = capture.amount.map_or_else(|| "an unreadable amount".to_owned(), |a| format!("{a} minor units"));
        Some(format!(
            "PayPal captured {shown} {} but the order is {} minor units {}",
            capture.currency, order.total, order.currency
        ))
    } else {
        None
    };
    if let Some(reason) = mismatch {
        tracing::warn!(order_id = order.id, %reason, "PayPal capture does not match the order");
        order::Entity::update_many()
            .col_expr(order::Column::FailureReason, Expr::value(reason.clone()))
            .col_expr(order::Column::UpdatedAt, Expr::value(now()))
            .filter(order::Column::Id.eq(order.id))
            .filter(order::Column::Status.is_in([OrderStatus::Pending, OrderStatus::Expired]))
            .exec(txn)
            .await?;
        return Ok(Err(reason));
    }
    Ok(Ok(mark_paid_in(txn, order.id, Some(&capture.capture_id)).await?))
}

/// Captures the approved PayPal payment of an order (after the buyer returns from
/// PayPal). Repeating it for a paid order changes nothing.
pub async fn capture_paypal(
    db: &DatabaseConnection,
    events: &CartEvents,
    providers: &Providers,
    order_id: i64,
    access_token: &str,
) -> ServiceResult<order::Model> {
    let order = order::Entity::find_by_id(order_id)
        .filter(order::Column::Provider.eq(Provider::Paypal))
        // The buyer's capability from `checkout`: order ids alone are guessable.
        .filter(order::Column::AccessToken.eq(access_token))
        .one(db)
        .await?
        .ok_or_else(|| user("orderId", UserErrorCode::OrderNotFound, "no PayPal order with this id"))?;
    if order.status.is_paid() {
        return Ok(order);
    }
    if !matches!(order.status, OrderStatus::Pending | OrderStatus::Expired) {
        return Err(user(
            "orderId",
            UserErrorCode::InvalidOrderState,
            format!("an order {} cannot be captured", order.status),
        ));
    }
    let client = providers
        .paypal
        .clone()
        .ok_or_else(|| user("orderId", UserErrorCode::PaymentUnavailable, "PayPal is not configured"))?;
    let paypal_order = order
        .provider_ref
        .clone()
        .ok_or_else(|| user("orderId", UserErrorCode::InvalidOrderState, "the order was never sent to PayPal"))?;
    let capture = match client.capture(&paypal_order, &format!("tixshop-capture-{}", order.id)).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, order_id, "PayPal capture failed");
            return Err(user(
                "orderId",
                UserErrorCode::PaymentUnavailable,
                "PayPal did not confirm the payment; please try again.",
            ));
        }
    };
    let txn = begin_write(db).await?;
    let settled = settle_paypal_capture_in(&txn, &order, &capture).await?;
    txn.commit().await?;
    match settled {
        Ok((PaidTransition::RefundDue, _)) => {
            settle_refund_due(db, providers, order_id).await?;
            Err(user(
                "orderId",
                UserErrorCode::SoldOut,
                "The tickets sold out before the payment arrived; it is being refunded in full.",
            ))
        }
        Ok((_, cart)) => {
            events.publish_all(cart);
            events.publish_shop(order.account_id);
            Ok(order::Entity::find_by_id(order_id).one(db).await?.unwrap_or(order))
        }
        Err(reason) => {
            Err(user("orderId", UserErrorCode::AmountMismatch, format!("The payment was not accepted: {reason}.")))
        }
    }
}
