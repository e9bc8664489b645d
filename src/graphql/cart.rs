//! The buyer's side: carts, promo codes typed or captured from links, and the live
//! `cartUpdated` subscription.

use std::time::Duration;

use async_graphql::{Context, ID, Object, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::context::ContextExt;
use super::errors::{self, ErrorCode, client_error, user_errors};
use super::types::cart::{Cart, CartPayload};
use super::types::parse_id;
use crate::rate_limit::{self, Permit};
use crate::services::carts::{self, PricedCartView};
use crate::services::{self, UserErrorCode, capture};

/// How long after a code's expiry the subscription re-reads the cart: the expiry must
/// have passed by the time it prices it.
const EXPIRY_GRACE: Duration = Duration::from_millis(5);

/// How long a subscription waits before reading a cart again after the database failed.
const RELOAD_RETRY: Duration = Duration::from_millis(200);

fn payload(view: PricedCartView) -> CartPayload {
    CartPayload { cart: Some(Cart(view)), user_errors: vec![] }
}

/// Refused: the cart as it is (when it exists) and the errors.
async fn refused(
    db: &impl ConnectionTrait,
    token: &str,
    errors: Vec<services::UserError>,
) -> async_graphql::Result<CartPayload> {
    let cart = errors::query(carts::get(db, token).await)?.map(Cart);
    Ok(CartPayload { cart, user_errors: user_errors(errors) })
}

async fn respond(
    db: &impl ConnectionTrait,
    token: &str,
    result: services::ServiceResult<PricedCartView>,
) -> async_graphql::Result<CartPayload> {
    match errors::split(result)? {
        Ok(view) => Ok(payload(view)),
        Err(e) => refused(db, token, e).await,
    }
}

/// A ticket type argument; an unparseable one becomes 0, which no ticket type has.
fn ticket_type(id: &ID) -> i64 {
    parse_id(id).unwrap_or(0)
}

/// A place for one code attempt of this request's session and address; `None` when
/// one of them is limited.
async fn acquire(ctx: &Context<'_>) -> async_graphql::Result<Option<Permit>> {
    errors::query(ctx.limiter().acquire(&attempt_keys(ctx)).await.map_err(services::ServiceError::from))
}

/// The keys this request's code attempts are limited under.
fn attempt_keys(ctx: &Context<'_>) -> Vec<String> {
    ctx.request().map(|r| rate_limit::attempt_keys(r.client_ip, r.session_id().as_deref())).unwrap_or_default()
}

/// Counts a failed code attempt.
async fn failed(permit: Permit) -> async_graphql::Result<()> {
    errors::query(permit.failed().await.map_err(services::ServiceError::from))
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
        Ok(errors::query(carts::get(ctx.kept(), &id).await)?.map(Cart))
    }
}

/// Applies what the session captured from a `?promo=` link to the cart (silently).
async fn adopt(ctx: &Context<'_>, token: &str) -> async_graphql::Result<()> {
    let Some(session) = ctx.request().and_then(|r| r.session.as_ref()) else { return Ok(()) };
    errors::query(capture::adopt(ctx.db(), ctx.events(), session, token).await)
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
        let session = ctx.request().and_then(|r| r.session.as_ref());
        let captured = match session {
            Some(session) => capture::current(session).await,
            None => None,
        };
        let session_id = ctx.request().and_then(|r| r.session_id());
        match errors::split(carts::create(ctx.db(), &shop_slug, session_id, captured.clone()).await)? {
            Ok(view) => {
                if let (Some(session), Some(captured)) = (session, captured)
                    && captured.account_id == Some(view.snapshot.account.id)
                {
                    capture::consume_promo(session, captured).await;
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
        let db = ctx.kept();
        adopt(ctx, &cart_id).await?;
        let result = carts::add_line(db, ctx.events(), &cart_id, ticket_type(&ticket_type_id), quantity).await;
        respond(db, &cart_id, result).await
    }

    /// Sets how many tickets of a type the cart holds; 0 removes them.
    async fn update_cart_line(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart's id.")] cart_id: ID,
        #[graphql(desc = "The ticket type of the line.")] ticket_type_id: ID,
        #[graphql(desc = "The new quantity, 0–50.")] quantity: i32,
    ) -> async_graphql::Result<CartPayload> {
        let db = ctx.kept();
        let result = carts::set_line(db, ctx.events(), &cart_id, ticket_type(&ticket_type_id), quantity).await;
        respond(db, &cart_id, result).await
    }

    /// Removes a ticket type from the cart.
    async fn remove_cart_line(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart's id.")] cart_id: ID,
        #[graphql(desc = "The ticket type of the line.")] ticket_type_id: ID,
    ) -> async_graphql::Result<CartPayload> {
        let db = ctx.kept();
        let result = carts::set_line(db, ctx.events(), &cart_id, ticket_type(&ticket_type_id), 0).await;
        respond(db, &cart_id, result).await
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
        let db = ctx.db();
        // It tells whether an address used a code: as guarded as guessing codes.
        let Some(permit) = acquire(ctx).await? else {
            return refused(db, &cart_id, vec![rate_limited()]).await;
        };
        match errors::split(carts::set_email(db, ctx.events(), &cart_id, &email).await)? {
            Ok((view, notice)) => {
                if notice.is_some() {
                    failed(permit).await?;
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
        let db = ctx.kept();
        // The attempt holds a place while it runs: concurrent or batched guesses cannot
        // all slip past one check, and only a failure uses the place up. The statement
        // that reads the cart and the code reads the attempt's failure counts too.
        let keys = attempt_keys(ctx);
        let limiter = ctx.limiter();
        let probe = limiter.probe(&keys);
        let read = || async {
            let (failures, read) = carts::read_for_apply(db, &cart_id, &code, &probe).await?;
            let failures = match failures {
                Some(failures) => failures,
                // No cart: the counts alone.
                None => limiter.failures(&keys).await?,
            };
            Ok::<_, services::ServiceError>((failures, read))
        };
        let Some((permit, read)) = errors::query(limiter.acquire_with(&keys, read).await)? else {
            crate::observe::apply_promo("RATE_LIMITED");
            return refused(db, &cart_id, vec![rate_limited()]).await;
        };
        let result = carts::apply_read(db, ctx.events(), read).await;
        crate::observe::apply_promo(match &result {
            Ok(_) => "applied",
            Err(services::ServiceError::User(errors)) => errors.first().map_or("INVALID", |e| e.code.as_str()),
            Err(_) => "INTERNAL",
        });
        // A code that exists but has not started is no guess: it does not count.
        let failed_attempt = matches!(&result, Err(services::ServiceError::User(errors))
            if errors.iter().any(|e| e.field == ["code"] && e.code != services::UserErrorCode::NotStarted));
        if failed_attempt {
            failed(permit).await?;
        }
        respond(db, &cart_id, result).await
    }

    /// Takes the promo code off the cart.
    async fn remove_promo(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart's id.")] cart_id: ID,
    ) -> async_graphql::Result<CartPayload> {
        let db = ctx.kept();
        respond(db, &cart_id, carts::remove_promo(db, ctx.events(), &cart_id).await).await
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
        // async-graphql keeps this resolver's future inside the subscription's stream for
        // as long as it is open, so it only waits on a boxed one: its own space stays a
        // pointer, not the reads' state (a few KiB for each of 10,000 open carts).
        Box::pin(cart_updates(
            ctx.kept().clone(),
            ctx.cart_reloads().clone(),
            ctx.events().clone(),
            cart_id.to_string(),
        ))
        .await
    }

    /// The organizer's dashboard, live: the shop's promo codes with their usage
    /// counters now, then again whenever an order of the shop is paid, refunded, expires
    /// or fails, or a code is created, changed or deleted. Needs an API key (send it in
    /// `connection_init`); it sees its own shop only.
    async fn shop_activity(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = ShopActivity> + use<>> {
        let principal = ctx.caller().reader()?.clone();
        let db = ctx.db().clone();
        let events = ctx.events().clone();
        // Listen first, then read: a change committed in between is in the first push.
        let subscription = events.subscribe_shop(principal.account_id);
        let first = errors::query(ShopActivity::read(&db, principal.account_id).await)?;
        let state = (Some(first), subscription, db, principal.account_id);
        Ok(futures_util::stream::unfold(state, |(pending, mut subscription, db, account_id)| async move {
            if let Some(activity) = pending {
                return Some((activity, (None, subscription, db, account_id)));
            }
            loop {
                subscription.changed().await;
                match ShopActivity::read(&db, account_id).await {
                    Ok(activity) => return Some((activity, (None, subscription, db, account_id))),
                    Err(e) => {
                        tracing::error!(error = ?e, "cannot reload a shop's activity");
                        tokio::time::sleep(RELOAD_RETRY).await;
                    }
                }
            }
        }))
    }
}

/// The reads of subscribed carts after a signal, batched across subscriptions.
pub(crate) type CartReloads = std::sync::Arc<async_graphql::dataloader::DataLoader<super::loaders::CartsByToken>>;

/// The stream behind `cartUpdated`: the cart now, then after every change signalled for
/// it or when its code expires.
async fn cart_updates(
    db: crate::db::Kept,
    reloads: CartReloads,
    events: std::sync::Arc<crate::events::CartEvents>,
    token: String,
) -> async_graphql::Result<impl Stream<Item = Cart> + use<>> {
    let found = errors::query(carts::get(&db, &token).await)?
        .ok_or_else(|| client_error(ErrorCode::BadUserInput, "no cart with this id"))?;
    // Listen first, then read: a change committed in between is in the first push.
    let subscription = events.subscribe(found.snapshot.cart.id);
    let first = errors::query(carts::get(&db, &token).await)?.unwrap_or(found);
    // The first view waits boxed too: its space would otherwise stay in the state.
    let state = (Some(Box::new(first)), None::<DateTime<Utc>>, subscription, reloads, token);
    Ok(futures_util::stream::unfold(state, |(pending, mut expiry, mut subscription, reloads, token)| async move {
        if let Some(view) = pending {
            expiry = view.promo_changes_at;
            crate::observe::push_sent();
            return Some((Cart(*view), (None, expiry, subscription, reloads, token)));
        }
        loop {
            // A timer for the code's start or expiry (not polling): wake when it passes.
            let timer = async {
                match expiry {
                    Some(at) => {
                        let wait = (at - Utc::now()).to_std().unwrap_or_default() + EXPIRY_GRACE;
                        tokio::time::sleep(wait).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = subscription.changed() => {},
                () = timer => {},
            }
            // With the other carts signalled at the same moment: one statement for many.
            match Box::pin(reloads.load_one(token.clone())).await {
                Ok(Some(view)) => {
                    let expiry = view.promo_changes_at;
                    crate::observe::push_sent();
                    return Some((Cart(view), (None, expiry, subscription, reloads, token)));
                }
                Ok(None) => return None,
                Err(e) => {
                    tracing::error!(error = ?e, "cannot reload a subscribed cart");
                    tokio::time::sleep(RELOAD_RETRY).await;
                }
            }
        }
    }))
}

/// What the dashboard shows live: the codes with their counters, read at one instant.
pub struct ShopActivity {
    at: DateTime<Utc>,
    account: std::sync::Arc<crate::entities::account::Model>,
    codes: Vec<crate::entities::promo_code::Model>,
}

impl ShopActivity {
    async fn read(db: &DatabaseConnection, account_id: i64) -> crate::services::ServiceResult<ShopActivity> {
        use crate::services::promo_codes;
        let account = crate::services::accounts::find(db, account_id).await?.ok_or_else(|| {
            crate::services::ServiceError::Db(sea_orm::DbErr::RecordNotFound(format!("account {account_id}")))
        })?;
        let page =
            promo_codes::list(db, account_id, &promo_codes::ListFilter::default(), promo_codes::MAX_PAGE, None).await?;
        Ok(ShopActivity { at: crate::services::now(), account: std::sync::Arc::new(account), codes: page.items })
    }
}

/// What the dashboard shows live: the codes with their counters, read at one instant.
#[Object]
impl ShopActivity {
    /// When this was read (UTC, RFC 3339).
    async fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// The shop's codes that are not deleted, newest first (up to 200), with
    /// `redemptionsCount`, `remaining` and `status` as of `at`.
    async fn promo_codes(&self) -> Vec<super::types::PromoCode> {
        self.codes.iter().cloned().map(|row| super::types::PromoCode::new(row, self.account.clone())).collect()
    }
}
