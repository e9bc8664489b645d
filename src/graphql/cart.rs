//! The buyer's side: carts, promo codes typed or captured from links, and the live
//! `cartUpdated` subscription.

use std::net::IpAddr;
use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use sea_orm::DatabaseConnection;
use tower_sessions::Session;

use super::errors::{self, ErrorCode, client_error};
use super::types::user_error::user_errors;
use super::types::{Money, UserError, parse_id};
use crate::domain::promo::{DiscountType, PercentOff};
use crate::domain::{Currency, Money as DomainMoney};
use crate::events::CartEvents;
use crate::rate_limit::{Permit, RateLimiter};
use crate::services::capacity;
use crate::services::carts::{self, Capture, PricedCartView, PromoState};
use crate::services::{self, UserErrorCode};

/// Session key of the values captured from a `?promo=` link.
pub const CAPTURE_KEY: &str = "capture";

/// Who sent a request, for rate limits and session capture.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    /// The client's address.
    pub client_ip: Option<IpAddr>,
    /// The storefront cookie session, when the route has one.
    pub session: Option<Session>,
}

impl RequestContext {
    fn of<'a>(ctx: &Context<'a>) -> Option<&'a RequestContext> {
        ctx.data_opt::<RequestContext>()
    }

    async fn capture(&self) -> Option<Capture> {
        let session = self.session.as_ref()?;
        match session.get::<Capture>(CAPTURE_KEY).await {
            Ok(capture) => capture,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the session");
                None
            }
        }
    }

    /// Forgets the captured code once a cart got it (the UTM values stay).
    async fn consume_promo(&self, capture: Capture) {
        let (Some(session), Some(_)) = (self.session.as_ref(), capture.promo.as_ref()) else { return };
        let rest = Capture { promo: None, ..capture };
        if let Err(e) = session.insert(CAPTURE_KEY, rest).await {
            tracing::warn!(error = %e, "cannot update the session");
        }
    }

    fn limiter_keys(&self) -> Vec<String> {
        limiter_keys(self.client_ip, self.session.as_ref())
    }
}

/// The keys a code attempt is limited under: the client's address and its session.
pub fn limiter_keys(client_ip: Option<IpAddr>, session: Option<&Session>) -> Vec<String> {
    let mut keys = vec![];
    if let Some(ip) = client_ip {
        keys.push(format!("ip:{ip}"));
    }
    if let Some(id) = session.and_then(|s| s.id()) {
        keys.push(format!("session:{id}"));
    }
    keys
}

fn money(minor: i64, currency: Currency) -> Money {
    DomainMoney::from_minor(minor, currency).into()
}

/// A unit price and how many tickets of a line are sold at it.
#[derive(SimpleObject)]
pub struct PricePoint {
    /// Discounted price of one ticket.
    pub unit_price: Money,
    /// Tickets at this price.
    pub quantity: u32,
}

/// VAT of all lines with one rate.
#[derive(SimpleObject)]
pub struct VatLine {
    /// Rate in percent, decimal string ("19.00").
    pub rate: String,
    /// Net amount of these lines.
    pub net: Money,
    /// VAT on them.
    pub vat: Money,
    /// Net + VAT.
    pub gross: Money,
}

/// Tickets of one type in a cart, priced.
#[derive(SimpleObject)]
pub struct CartLine {
    /// The ticket type (what `addToCart` and `updateCartLine` take).
    pub ticket_type_id: ID,
    /// Its event.
    pub event_id: ID,
    /// Ticket type name.
    pub name: String,
    /// Number of tickets.
    pub quantity: i32,
    /// Price of one ticket before any discount.
    pub original_unit_price: Money,
    /// Original unit price × quantity.
    pub original_total: Money,
    /// This line's share of the promo discount.
    pub discount: Money,
    /// What the line costs after the discount.
    pub total: Money,
    /// The discounted unit prices: one, or two one minor unit apart when the discount
    /// does not divide evenly (e.g. 2 × 9.17 and 1 × 9.16). They sum to `total`.
    pub price_points: Vec<PricePoint>,
    /// VAT rate in percent, decimal string.
    pub vat_rate: String,
    /// Whether the applied code's scope covers this line.
    pub promo_eligible: bool,
    /// Tickets of this type that can still be bought (a cart holds none; checkout
    /// does); null when unlimited.
    pub available: Option<i64>,
}

/// The code discounting the cart.
#[derive(SimpleObject)]
pub struct AppliedPromo {
    /// The code, upper-case.
    pub code: String,
    /// Percentage or fixed amount.
    pub discount_type: super::types::promo_code::DiscountType,
    /// For PERCENTAGE: e.g. "10".
    pub percent_off: Option<String>,
    /// For FIXED_AMOUNT: the amount off.
    pub amount_off: Option<Money>,
    /// The organizer's description, e.g. "Newsletter subscribers: 10% off".
    pub description: Option<String>,
}

/// Why an attached code currently gives no discount.
#[derive(SimpleObject)]
pub struct PromoNotice {
    /// The attached code.
    pub code: String,
    /// NOT_APPLICABLE (no tickets of its event yet), or INACTIVE, EXPIRED,
    /// USAGE_LIMIT_REACHED, UNKNOWN when it stopped being valid while in the cart.
    pub reason: super::types::UserErrorCode,
    /// A sentence for the buyer.
    pub message: String,
}

/// What state a cart is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum CartStatus {
    /// Being filled.
    Open,
    /// An order was made from it.
    CheckedOut,
}

/// A buyer's cart, priced. Totals are exact: Σ line totals = `total` (prices with VAT)
/// and `net` + `vat` = `total`.
pub struct Cart(PricedCartView);

/// A buyer's cart, priced. Totals are exact: Σ line totals = `total` (prices with VAT)
/// and `net` + `vat` = `total`.
#[Object]
impl Cart {
    /// The cart's id: an unguessable capability, keep it private to the buyer.
    async fn id(&self) -> ID {
        ID::from(self.0.snapshot.cart.token.clone())
    }

    /// OPEN while it can be changed.
    async fn status(&self) -> CartStatus {
        if self.0.snapshot.cart.status == "OPEN" { CartStatus::Open } else { CartStatus::CheckedOut }
    }

    /// The shop's slug.
    async fn shop_slug(&self) -> &str {
        &self.0.snapshot.account.slug
    }

    /// ISO 4217 currency of every amount.
    async fn currency(&self) -> &str {
        self.0.currency.code()
    }

    /// True when prices include VAT (then `total` = Σ line totals).
    async fn prices_include_vat(&self) -> bool {
        self.0.snapshot.account.prices_include_vat
    }

    /// The buyer's email, trimmed and lower-cased, once given.
    async fn email(&self) -> Option<&str> {
        self.0.snapshot.cart.email.as_deref()
    }

    /// Lines in the order they were added.
    async fn lines(&self) -> Vec<CartLine> {
        let c = self.0.currency;
        self.0
            .priced
            .lines
            .iter()
            .zip(&self.0.snapshot.lines)
            .map(|(p, (line, ticket))| CartLine {
                ticket_type_id: ID::from(ticket.id.to_string()),
                event_id: ID::from(ticket.event_id.to_string()),
                name: ticket.name.clone(),
                quantity: line.quantity,
                original_unit_price: money(p.original_unit_price, c),
                original_total: money(p.original_amount, c),
                discount: money(p.discount, c),
                total: money(p.amount, c),
                price_points: p
                    .price_points
                    .iter()
                    .map(|pp| PricePoint { unit_price: money(pp.unit_price, c), quantity: pp.quantity })
                    .collect(),
                vat_rate: p.vat_rate.to_string(),
                promo_eligible: p.eligible && self.0.promo_state == PromoState::Applied,
                available: capacity::available(ticket),
            })
            .collect()
    }

    /// Σ original line totals, before the discount.
    async fn subtotal(&self) -> Money {
        money(self.0.priced.subtotal, self.0.currency)
    }

    /// The promo discount.
    async fn discount(&self) -> Money {
        money(self.0.priced.discount, self.0.currency)
    }

    /// Net amount (without VAT).
    async fn net(&self) -> Money {
        money(self.0.priced.net, self.0.currency)
    }

    /// VAT in total.
    async fn vat(&self) -> Money {
        money(self.0.priced.vat, self.0.currency)
    }

    /// VAT per rate.
    async fn vat_breakdown(&self) -> Vec<VatLine> {
        let c = self.0.currency;
        self.0
            .priced
            .vat_groups
            .iter()
            .map(|g| VatLine {
                rate: g.rate.to_string(),
                net: money(g.net, c),
                vat: money(g.vat, c),
                gross: money(g.gross, c),
            })
            .collect()
    }

    /// What the buyer pays.
    async fn total(&self) -> Money {
        money(self.0.priced.total, self.0.currency)
    }

    /// The code discounting this cart; null when none is attached or it gives nothing.
    async fn applied_promo(&self) -> Option<AppliedPromo> {
        let code = self.0.snapshot.promo.as_ref()?;
        if !matches!(self.0.promo_state, PromoState::Applied) {
            return None;
        }
        Some(AppliedPromo {
            code: code.code.clone(),
            discount_type: DiscountType::parse(&code.discount_type).unwrap_or(DiscountType::Percentage).into(),
            percent_off: code
                .percent_off_bp
                .and_then(|h| PercentOff::from_hundredths(h as u32).ok())
                .map(|p| p.to_decimal().to_string()),
            amount_off: code.amount_off.map(|a| money(a, self.0.currency)),
            description: code.description.clone(),
        })
    }

    /// Why an attached code gives no discount right now; null otherwise.
    async fn promo_notice(&self) -> Option<PromoNotice> {
        let code = self.0.snapshot.promo.as_ref()?;
        let (reason, message) = match &self.0.promo_state {
            PromoState::NotApplicable => (
                UserErrorCode::NotApplicable,
                format!("{} applies to tickets of another event; add some to get the discount.", code.code),
            ),
            PromoState::Invalid(refusal) => {
                let kind = carts::refusal_code(*refusal);
                (kind, refusal.message(&code.code))
            }
            _ => return None,
        };
        Some(PromoNotice { code: code.code.clone(), reason: reason.into(), message })
    }

    /// `utm_source` captured from the link the buyer came through.
    async fn utm_source(&self) -> Option<&str> {
        self.0.snapshot.cart.utm_source.as_deref()
    }

    /// `utm_medium` captured from the link.
    async fn utm_medium(&self) -> Option<&str> {
        self.0.snapshot.cart.utm_medium.as_deref()
    }

    /// `utm_campaign` captured from the link.
    async fn utm_campaign(&self) -> Option<&str> {
        self.0.snapshot.cart.utm_campaign.as_deref()
    }

    /// When the cart last changed (UTC, RFC 3339).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.snapshot.cart.updated_at
    }
}

/// Result of a cart mutation.
#[derive(SimpleObject)]
pub struct CartPayload {
    /// The cart after the mutation, repriced (also when refused, if the cart exists).
    pub cart: Option<Cart>,
    /// Why the input was refused (or, for `setCartEmail`, why the code came off);
    /// empty on success. Messages are written for buyers.
    pub user_errors: Vec<UserError>,
}

fn payload(view: PricedCartView) -> CartPayload {
    CartPayload { cart: Some(Cart(view)), user_errors: vec![] }
}

/// Refused: the cart as it is (when it exists) and the errors.
async fn refused(
    db: &DatabaseConnection,
    token: &str,
    errors: Vec<services::UserError>,
) -> async_graphql::Result<CartPayload> {
    let cart = errors::query(carts::get(db, token).await)?.map(Cart);
    Ok(CartPayload { cart, user_errors: user_errors(errors) })
}

async fn respond(
    db: &DatabaseConnection,
    token: &str,
    result: services::ServiceResult<PricedCartView>,
) -> async_graphql::Result<CartPayload> {
    match errors::split(result)? {
        Ok(view) => Ok(payload(view)),
        Err(e) => refused(db, token, e).await,
    }
}

fn ticket_type(id: &ID) -> i64 {
    parse_id(id).unwrap_or(0)
}

/// A place for one code attempt of this request's session and address; `None` when
/// one of them is limited.
async fn acquire(ctx: &Context<'_>) -> async_graphql::Result<Option<Permit>> {
    let limiter = ctx.data_unchecked::<Arc<RateLimiter>>();
    let keys = RequestContext::of(ctx).map(RequestContext::limiter_keys).unwrap_or_default();
    errors::query(limiter.acquire(&keys).await.map_err(services::ServiceError::from))
}

fn rate_limited() -> services::UserError {
    services::UserError::new(
        "code",
        UserErrorCode::RateLimited,
        "Too many attempts. Please wait a minute before trying again.",
    )
}

/// Cart queries (public).
#[derive(Default)]
pub struct CartQuery;

/// Cart queries (public).
#[Object]
impl CartQuery {
    /// A cart by its id, priced now; null when there is none.
    async fn cart(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart's id from `createCart`.")] id: ID,
    ) -> async_graphql::Result<Option<Cart>> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        Ok(errors::query(carts::get(db, &id).await)?.map(Cart))
    }
}

/// Applies what the session captured from a `?promo=` link to the cart (silently), then
/// marks the code as used up in the session, so a buyer who removes it keeps it removed.
async fn adopt(ctx: &Context<'_>, token: &str) -> async_graphql::Result<()> {
    let Some(request) = RequestContext::of(ctx) else { return Ok(()) };
    let Some(capture) = request.capture().await else { return Ok(()) };
    let db = ctx.data_unchecked::<DatabaseConnection>();
    let events = ctx.data_unchecked::<Arc<CartEvents>>();
    errors::query(carts::adopt_capture(db, events, token, &capture).await)?;
    request.consume_promo(capture).await;
    Ok(())
}

/// Cart mutations (public; the cart id is the capability).
#[derive(Default)]
pub struct CartMutation;

/// Cart mutations (public; the cart id is the capability).
#[Object]
impl CartMutation {
    /// Opens a cart in a shop. Values captured from a `?promo=CODE&utm_source=…` link in
    /// this session are recorded, and the code applied when valid (silently otherwise).
    async fn create_cart(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The shop's slug, e.g. \"demo\".")] shop_slug: String,
    ) -> async_graphql::Result<CartPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let request = RequestContext::of(ctx);
        let capture = match request {
            Some(r) => r.capture().await,
            None => None,
        };
        let session_id = request.and_then(|r| r.session.as_ref()).and_then(|s| s.id()).map(|id| id.to_string());
        match errors::split(carts::create(db, &shop_slug, session_id, capture.clone()).await)? {
            Ok(view) => {
                if let (Some(request), Some(capture)) = (request, capture)
                    && capture.account_id == Some(view.snapshot.account.id)
                {
                    request.consume_promo(capture).await;
                }
                Ok(payload(view))
            }
            Err(e) => Ok(CartPayload { cart: None, user_errors: user_errors(e) }),
        }
    }

    /// Adds tickets (on top of those already in the cart; at most 50 of a type). A code and
    /// UTM values captured from a `?promo=` link in this session since the cart was made
    /// are applied to it first.
    async fn add_to_cart(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart's id.")] cart_id: ID,
        #[graphql(desc = "The ticket type's id (from `shop { events { ticketTypes { id } } }`).")] ticket_type_id: ID,
        #[graphql(desc = "How many to add, 1–50.", default = 1)] quantity: i32,
    ) -> async_graphql::Result<CartPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let events = ctx.data_unchecked::<Arc<CartEvents>>();
        adopt(ctx, &cart_id).await?;
        respond(db, &cart_id, carts::add_line(db, events, &cart_id, ticket_type(&ticket_type_id), quantity).await).await
    }

    /// Sets how many tickets of a type the cart holds; 0 removes them.
    async fn update_cart_line(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart's id.")] cart_id: ID,
        #[graphql(desc = "The ticket type of the line.")] ticket_type_id: ID,
        #[graphql(desc = "The new quantity, 0–50.")] quantity: i32,
    ) -> async_graphql::Result<CartPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let events = ctx.data_unchecked::<Arc<CartEvents>>();
        respond(db, &cart_id, carts::set_line(db, events, &cart_id, ticket_type(&ticket_type_id), quantity).await).await
    }

    /// Removes a ticket type from the cart.
    async fn remove_cart_line(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart's id.")] cart_id: ID,
        #[graphql(desc = "The ticket type of the line.")] ticket_type_id: ID,
    ) -> async_graphql::Result<CartPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let events = ctx.data_unchecked::<Arc<CartEvents>>();
        respond(db, &cart_id, carts::set_line(db, events, &cart_id, ticket_type(&ticket_type_id), 0).await).await
    }

    /// Sets the buyer's email (stored trimmed and lower-cased). If the attached code allows only
    /// so many uses per buyer and this buyer has had them, the code comes off and
    /// `userErrors` says CUSTOMER_LIMIT_REACHED; the email is saved either way.
    async fn set_cart_email(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart's id.")] cart_id: ID,
        #[graphql(desc = "The buyer's email address.")] email: String,
    ) -> async_graphql::Result<CartPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let events = ctx.data_unchecked::<Arc<CartEvents>>();
        // It tells whether an address used a code: as guarded as guessing codes.
        let Some(permit) = acquire(ctx).await? else {
            return refused(db, &cart_id, vec![rate_limited()]).await;
        };
        match errors::split(carts::set_email(db, events, &cart_id, &email).await)? {
            Ok((view, notice)) => {
                if notice.is_some() {
                    errors::query(permit.failed().await.map_err(services::ServiceError::from))?;
                }
                Ok(CartPayload { cart: Some(Cart(view)), user_errors: user_errors(notice.into_iter().collect()) })
            }
            Err(e) => refused(db, &cart_id, e).await,
        }
    }

    /// Applies a promo code typed by the buyer (any case). Refusals, first failing check
    /// wins: UNKNOWN, INACTIVE, EXPIRED, USAGE_LIMIT_REACHED, CUSTOMER_LIMIT_REACHED (once
    /// the email is known). A code for another event is attached with a NOT_APPLICABLE
    /// `promoNotice`. Failed attempts are limited per session and address (RATE_LIMITED).
    async fn apply_promo(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart's id.")] cart_id: ID,
        #[graphql(desc = "The code as typed, e.g. \"news10\".")] code: String,
    ) -> async_graphql::Result<CartPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let events = ctx.data_unchecked::<Arc<CartEvents>>();
        // The attempt holds a place while it runs: concurrent or batched guesses cannot
        // all slip past one check, and only a failure uses the place up.
        let Some(permit) = acquire(ctx).await? else {
            return refused(db, &cart_id, vec![rate_limited()]).await;
        };
        let result = carts::apply_promo(db, events, &cart_id, &code).await;
        let failed =
            matches!(&result, Err(services::ServiceError::User(errors)) if errors.iter().any(|e| e.field == ["code"]));
        if failed {
            errors::query(permit.failed().await.map_err(services::ServiceError::from))?;
        }
        respond(db, &cart_id, result).await
    }

    /// Takes the promo code off the cart.
    async fn remove_promo(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart's id.")] cart_id: ID,
    ) -> async_graphql::Result<CartPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let events = ctx.data_unchecked::<Arc<CartEvents>>();
        respond(db, &cart_id, carts::remove_promo(db, events, &cart_id).await).await
    }
}

/// Live updates.
pub struct SubscriptionRoot;

/// Live updates.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The cart now, then the whole repriced cart after every change: its lines, email
    /// or code, the organizer editing, deactivating or deleting its code, and the code
    /// expiring while the cart is open.
    async fn cart_updated(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart's id.")] cart_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = Cart> + use<>> {
        let db = ctx.data_unchecked::<DatabaseConnection>().clone();
        let events = ctx.data_unchecked::<Arc<CartEvents>>().clone();
        let token = cart_id.to_string();
        let found = errors::query(carts::get(&db, &token).await)?
            .ok_or_else(|| client_error(ErrorCode::BadUserInput, "no cart with this id"))?;
        // Listen first, then read: a change committed in between is in the first push.
        let subscription = events.subscribe(found.snapshot.cart.id);
        let first = errors::query(carts::get(&db, &token).await)?.unwrap_or(found);
        let state = (Some(first), None::<DateTime<Utc>>, subscription, db, token);
        Ok(futures_util::stream::unfold(state, |(pending, mut expiry, mut subscription, db, token)| async move {
            if let Some(view) = pending {
                expiry = view.promo_expires_at;
                return Some((Cart(view), (None, expiry, subscription, db, token)));
            }
            loop {
                // A timer for the code's expiry (not polling): wake when it passes.
                let timer = async {
                    match expiry {
                        Some(at) => {
                            let wait =
                                (at - Utc::now()).to_std().unwrap_or_default() + std::time::Duration::from_millis(5);
                            tokio::time::sleep(wait).await
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = subscription.changed() => {},
                    () = timer => {},
                }
                match carts::get(&db, &token).await {
                    Ok(Some(view)) => {
                        let expiry = view.promo_expires_at;
                        return Some((Cart(view), (None, expiry, subscription, db, token)));
                    }
                    Ok(None) => return None,
                    Err(e) => {
                        tracing::error!(error = ?e, "cannot reload a subscribed cart");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                }
            }
        }))
    }
}
