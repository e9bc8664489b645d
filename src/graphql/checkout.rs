//! Checkout, orders and refunds over GraphQL.

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::loaders::{AccountById, OrderItemsByOrder, PromoCodeById, RefundsByOrder};

use super::auth::Caller;
use super::errors::{self, internal};
use super::types::user_error::user_errors;
use super::types::{Money, UserError, parse_id};
use crate::domain::{Currency, Money as DomainMoney, VatRate};
use crate::entities::order;
use crate::events::CartEvents;
use crate::payments::{Provider, Providers};
use crate::services::checkout::{self, CheckoutInput as ServiceInput, CheckoutOutcome, CheckoutSettings};
use crate::services::{self, UserErrorCode};

/// How the buyer pays a total above 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum PaymentProviderKind {
    /// Stripe Checkout (cards, wallets, …).
    Stripe,
    /// PayPal.
    Paypal,
    /// A zero total: no provider involved (only ever on orders, not as input).
    Free,
}

/// What `checkout` takes.
#[derive(Debug, InputObject)]
pub struct CheckoutInput {
    /// The buyer's email address (receipts; per-customer caps count by it).
    pub email: String,
    /// STRIPE or PAYPAL; ignored when the total is 0 (the free path).
    pub provider: PaymentProviderKind,
    /// Absolute URL the provider returns the buyer to after paying.
    pub success_url: String,
    /// Absolute URL the provider returns the buyer to when they cancel.
    pub cancel_url: String,
}

/// Result of `checkout`.
#[derive(SimpleObject)]
pub struct CheckoutPayload {
    /// The order: PAID at once for a zero total, else PENDING until the provider confirms.
    pub order: Option<Order>,
    /// Where to send the buyer to pay; null for a zero total.
    pub redirect_url: Option<String>,
    /// The buyer's private token for this order: `capturePaypalOrder` needs it, and it
    /// opens the invoice at `/orders/{id}/invoice.html?token=…`. Keep it with the buyer.
    pub access_token: Option<String>,
    /// Why checkout was refused; nothing was charged. A code that stopped being valid
    /// is taken off the cart (which is pushed repriced) and reported here.
    pub user_errors: Vec<UserError>,
}

/// Result of `refundOrder`.
#[derive(SimpleObject)]
pub struct RefundOrderPayload {
    /// The order after the refund.
    pub order: Option<Order>,
    /// Why the refund was refused; nothing was refunded.
    pub user_errors: Vec<UserError>,
}

/// An order line at one price point (a cart line whose discount does not divide evenly
/// becomes two items one minor unit apart).
#[derive(SimpleObject)]
pub struct OrderItem {
    /// The ticket type (null if it was deleted since).
    pub ticket_type_id: Option<ID>,
    /// Name at the time of the order.
    pub name: String,
    /// Tickets at this price.
    pub quantity: i32,
    /// Unit price before the discount.
    pub original_price: Money,
    /// Discount on these tickets in total.
    pub discount_amount: Money,
    /// Discounted unit price.
    pub unit_price: Money,
    /// unitPrice × quantity.
    pub line_total: Money,
    /// VAT rate in percent, decimal string.
    pub vat_rate: String,
    /// VAT contained in (or added to) this item.
    pub vat_amount: Money,
}

/// A refund of (part of) an order.
#[derive(SimpleObject)]
pub struct Refund {
    /// Amount refunded.
    pub amount: Money,
    /// The provider's refund id (Stripe `re_…`); null for free orders.
    pub provider_ref: Option<String>,
    /// When it was recorded (UTC, RFC 3339).
    pub created_at: DateTime<Utc>,
}

/// An order: what was bought, at which discounted prices, with which code (a snapshot
/// that stays truthful when the code changes or is deleted).
pub struct Order(pub order::Model, pub Option<Arc<Related>>);

/// What a list of orders loaded for all its rows at once (one DataLoader batch each).
#[derive(Default)]
pub struct Related {
    /// Items by order id.
    pub items: std::collections::HashMap<i64, Vec<crate::entities::order_item::Model>>,
    /// Refunds by order id.
    pub refunds: std::collections::HashMap<i64, Vec<crate::entities::refund::Model>>,
    /// Live codes by id.
    pub codes: std::collections::HashMap<i64, crate::entities::promo_code::Model>,
    /// The account.
    pub account: Option<Arc<crate::entities::account::Model>>,
}

impl Related {
    /// Loads everything the rows need, one batch per kind, through the DataLoaders.
    pub async fn load(ctx: &Context<'_>, rows: &[order::Model]) -> async_graphql::Result<Related> {
        let ids: Vec<i64> = rows.iter().map(|o| o.id).collect();
        let codes: Vec<i64> = rows.iter().filter_map(|o| o.promo_code_id).collect();
        let items = ctx.data_unchecked::<DataLoader<OrderItemsByOrder>>().load_many(ids.iter().copied());
        let refunds = ctx.data_unchecked::<DataLoader<RefundsByOrder>>().load_many(ids.iter().copied());
        let promo = ctx.data_unchecked::<DataLoader<PromoCodeById>>().load_many(codes);
        let account = async {
            match rows.first() {
                Some(o) => ctx.data_unchecked::<DataLoader<AccountById>>().load_one(o.account_id).await,
                None => Ok(None),
            }
        };
        let (items, refunds, codes, account) =
            futures_util::try_join!(items, refunds, promo, account).map_err(|e| internal(&*e))?;
        Ok(Related { items, refunds, codes, account })
    }
}

impl Order {
    /// An order on its own (its relations load on demand).
    pub fn new(row: order::Model) -> Self {
        Order(row, None)
    }
}

impl Order {
    async fn item_rows(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<crate::entities::order_item::Model>> {
        Ok(match &self.1 {
            Some(related) => related.items.get(&self.0.id).cloned(),
            None => ctx
                .data_unchecked::<DataLoader<OrderItemsByOrder>>()
                .load_one(self.0.id)
                .await
                .map_err(|e| internal(&*e))?,
        }
        .unwrap_or_default())
    }

    fn money(&self, minor: i64) -> async_graphql::Result<Money> {
        let currency = Currency::parse(&self.0.currency).map_err(|e| internal(&e))?;
        Ok(DomainMoney::from_minor(minor, currency).into())
    }
}

/// An order: what was bought, at which discounted prices, with which code (a snapshot
/// that stays truthful when the code changes or is deleted).
#[Object]
impl Order {
    /// The order's id.
    async fn id(&self) -> ID {
        ID::from(self.0.id.to_string())
    }

    /// The order number shown to buyers, e.g. "TX-7F3K9Q2A".
    async fn number(&self) -> &str {
        &self.0.number
    }

    /// PENDING, PAID, PARTIALLY_REFUNDED, REFUNDED, CANCELLED or EXPIRED.
    async fn status(&self) -> &str {
        &self.0.status
    }

    /// How it was paid.
    async fn provider(&self) -> PaymentProviderKind {
        match Provider::parse(&self.0.provider) {
            Some(Provider::Stripe) => PaymentProviderKind::Stripe,
            Some(Provider::Paypal) => PaymentProviderKind::Paypal,
            _ => PaymentProviderKind::Free,
        }
    }

    /// The buyer's email as typed.
    async fn email(&self) -> &str {
        &self.0.email
    }

    /// ISO 4217 currency.
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    /// Σ original prices, before the discount.
    async fn subtotal(&self) -> async_graphql::Result<Money> {
        self.money(self.0.subtotal)
    }

    /// The promo discount.
    async fn discount_amount(&self) -> async_graphql::Result<Money> {
        self.money(self.0.discount_amount)
    }

    /// Net amount.
    async fn net(&self) -> async_graphql::Result<Money> {
        self.money(self.0.net_amount)
    }

    /// VAT.
    async fn vat(&self) -> async_graphql::Result<Money> {
        self.money(self.0.vat_amount)
    }

    /// What the buyer pays: net + VAT.
    async fn total(&self) -> async_graphql::Result<Money> {
        self.money(self.0.total)
    }

    /// Refunded so far.
    async fn refunded_amount(&self) -> async_graphql::Result<Money> {
        self.money(self.0.refunded_amount)
    }

    /// The code redeemed, as it was at checkout; null without a code.
    async fn promo_code(&self) -> Option<&str> {
        self.0.promo_code.as_deref()
    }

    /// True when this order's payment pushed its code past `usageLimit` (the soft cap).
    async fn over_cap(&self) -> bool {
        self.0.over_cap
    }

    /// `utm_source` of the link the buyer came through.
    async fn utm_source(&self) -> Option<&str> {
        self.0.utm_source.as_deref()
    }

    /// Why the order failed, when it did.
    async fn failure_reason(&self) -> Option<&str> {
        self.0.failure_reason.as_deref()
    }

    /// When it was created (UTC, RFC 3339).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it was paid (UTC, RFC 3339).
    async fn paid_at(&self) -> Option<DateTime<Utc>> {
        self.0.paid_at
    }

    /// Until when a PENDING order can be paid (UTC, RFC 3339).
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }

    /// `utm_medium` of the link the buyer came through.
    async fn utm_medium(&self) -> Option<&str> {
        self.0.utm_medium.as_deref()
    }

    /// `utm_campaign` of the link the buyer came through.
    async fn utm_campaign(&self) -> Option<&str> {
        self.0.utm_campaign.as_deref()
    }

    /// Tickets in the order.
    async fn ticket_count(&self) -> i32 {
        self.0.ticket_count
    }

    /// The code as it is now (null without a code, or once the code was deleted for
    /// good); `promoCode` is what was redeemed.
    async fn promo(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<super::types::PromoCode>> {
        let Some(id) = self.0.promo_code_id else { return Ok(None) };
        let (code, account) = match &self.1 {
            Some(related) => (related.codes.get(&id).cloned(), related.account.clone()),
            None => (
                ctx.data_unchecked::<DataLoader<PromoCodeById>>().load_one(id).await.map_err(|e| internal(&*e))?,
                ctx.data_unchecked::<DataLoader<AccountById>>()
                    .load_one(self.0.account_id)
                    .await
                    .map_err(|e| internal(&*e))?,
            ),
        };
        let Some(code) = code else { return Ok(None) };
        Ok(account.map(|a| super::types::PromoCode::new(code, a)))
    }

    /// The items, at their discounted prices.
    async fn items(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<OrderItem>> {
        self.item_rows(ctx)
            .await?
            .into_iter()
            .map(|i| {
                Ok(OrderItem {
                    ticket_type_id: i.ticket_type_id.map(|id| ID::from(id.to_string())),
                    name: i.name,
                    quantity: i.quantity,
                    original_price: self.money(i.original_price)?,
                    discount_amount: self.money(i.discount_amount)?,
                    unit_price: self.money(i.unit_price)?,
                    line_total: self.money(i.line_total)?,
                    vat_rate: VatRate::from_basis_points(i.vat_rate_bp.into())
                        .map(|r| r.to_string())
                        .unwrap_or_default(),
                    vat_amount: self.money(i.vat_amount)?,
                })
            })
            .collect()
    }

    /// Refunds, oldest first.
    async fn refunds(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Refund>> {
        let rows = match &self.1 {
            Some(related) => related.refunds.get(&self.0.id).cloned(),
            None => ctx
                .data_unchecked::<DataLoader<RefundsByOrder>>()
                .load_one(self.0.id)
                .await
                .map_err(|e| internal(&*e))?,
        };
        rows.unwrap_or_default()
            .into_iter()
            .map(|r| {
                Ok(Refund { amount: self.money(r.amount)?, provider_ref: r.provider_ref, created_at: r.created_at })
            })
            .collect()
    }

    /// The invoice, from the order's snapshot only (the code changing or disappearing later
    /// changes nothing on it). Also as HTML at `/orders/{id}/invoice.html`.
    async fn invoice(&self, ctx: &Context<'_>) -> async_graphql::Result<super::orders::Invoice> {
        let items = self.item_rows(ctx).await?;
        let account = match &self.1 {
            Some(related) => related.account.clone(),
            None => ctx
                .data_unchecked::<DataLoader<AccountById>>()
                .load_one(self.0.account_id)
                .await
                .map_err(|e| internal(&*e))?,
        };
        let seller = account.map(|a| a.name.clone()).unwrap_or_default();
        let invoice = crate::services::invoices::from_snapshot(&self.0, &items, &seller).map_err(|e| internal(&e))?;
        Ok(invoice.into())
    }
}

/// Order queries (read or admin key).
#[derive(Default)]
pub struct OrderQuery;

/// Order queries (read or admin key).
#[Object]
impl OrderQuery {
    /// One of your shop's orders; null when there is none.
    async fn order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order's id.")] id: ID,
    ) -> async_graphql::Result<Option<Order>> {
        let principal = Caller::of(ctx).reader()?;
        let Some(id) = parse_id(&id) else { return Ok(None) };
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let row = order::Entity::find_by_id(id)
            .filter(order::Column::AccountId.eq(principal.account_id))
            .one(db)
            .await
            .map_err(|e| internal(&e))?;
        Ok(row.map(Order::new))
    }
}

/// Checkout (public, by cart id) and refunds (admin key).
#[derive(Default)]
pub struct CheckoutMutation;

/// Checkout (public, by cart id) and refunds (admin key).
#[Object]
impl CheckoutMutation {
    /// Turns the cart into an order. Revalidates and reprices first. A zero total is paid
    /// at once (no provider); otherwise the order is PENDING and `redirectUrl` is the
    /// provider's payment page. If the provider fails, nothing is charged and the cart
    /// stays as it is.
    async fn checkout(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cart's id.")] cart_id: ID,
        #[graphql(desc = "Email, provider and return URLs.")] input: CheckoutInput,
    ) -> async_graphql::Result<CheckoutPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let events = ctx.data_unchecked::<Arc<CartEvents>>();
        let providers = ctx.data_unchecked::<Arc<Providers>>();
        let settings = ctx.data_unchecked::<CheckoutSettings>();
        let provider = match input.provider {
            PaymentProviderKind::Stripe => Provider::Stripe,
            PaymentProviderKind::Paypal => Provider::Paypal,
            PaymentProviderKind::Free => Provider::Free,
        };
        let service_input =
            ServiceInput { email: input.email, provider, success_url: input.success_url, cancel_url: input.cancel_url };
        // Run to completion even if the client goes away: a provider call must not be
        // cut between "asked the provider" and "recorded what it said".
        let (db2, events2, providers2, settings2, token) =
            (db.clone(), events.clone(), providers.clone(), settings.clone(), cart_id.to_string());
        let outcome = tokio::spawn(async move {
            checkout::start(&db2, &events2, &providers2, &settings2, &token, service_input).await
        })
        .await
        .map_err(|e| internal(&e))?;
        match errors::split(outcome)? {
            Ok(CheckoutOutcome::Paid(order)) => Ok(CheckoutPayload {
                access_token: Some(order.access_token.clone()),
                order: Some(Order::new(order)),
                redirect_url: None,
                user_errors: vec![],
            }),
            Ok(CheckoutOutcome::Redirect { order, redirect_url }) => Ok(CheckoutPayload {
                access_token: Some(order.access_token.clone()),
                order: Some(Order::new(order)),
                redirect_url: Some(redirect_url),
                user_errors: vec![],
            }),
            Err(e) => {
                Ok(CheckoutPayload { order: None, redirect_url: None, access_token: None, user_errors: user_errors(e) })
            }
        }
    }

    /// Captures the PayPal payment of an order once the buyer approved it at PayPal (call
    /// it when PayPal returns the buyer to `successUrl`). The order is paid only when
    /// PayPal captured exactly its total; otherwise AMOUNT_MISMATCH and it stays unpaid.
    async fn capture_paypal_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Our order id (from `checkout`).")] order_id: ID,
        #[graphql(desc = "The order's `accessToken` from `checkout`.")] access_token: String,
    ) -> async_graphql::Result<CheckoutPayload> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let events = ctx.data_unchecked::<Arc<CartEvents>>();
        let providers = ctx.data_unchecked::<Arc<Providers>>();
        let Some(id) = parse_id(&order_id) else {
            let error = services::UserError::new("orderId", UserErrorCode::OrderNotFound, "no order with this id");
            return Ok(CheckoutPayload {
                order: None,
                redirect_url: None,
                access_token: None,
                user_errors: user_errors(vec![error]),
            });
        };
        let (db2, events2, providers2) = (db.clone(), events.clone(), providers.clone());
        let outcome =
            tokio::spawn(async move { checkout::capture_paypal(&db2, &events2, &providers2, id, &access_token).await })
                .await
                .map_err(|e| internal(&e))?;
        match errors::split(outcome)? {
            Ok(order) => Ok(CheckoutPayload {
                order: Some(Order::new(order)),
                redirect_url: None,
                access_token: None,
                user_errors: vec![],
            }),
            Err(e) => {
                Ok(CheckoutPayload { order: None, redirect_url: None, access_token: None, user_errors: user_errors(e) })
            }
        }
    }

    /// Refunds a paid order, fully (amount omitted) or partly, through its provider
    /// (nothing to call for free orders). A full refund frees the buyer's per-customer
    /// slot; the code's `redemptionsCount` never goes down. Needs an admin key.
    async fn refund_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order's id.")] order_id: ID,
        #[graphql(
            desc = "Decimal string in the order currency, e.g. \"10.00\"; omitted = everything not yet refunded."
        )]
        amount: Option<String>,
    ) -> async_graphql::Result<RefundOrderPayload> {
        let principal = Caller::of(ctx).admin()?;
        let db = ctx.data_unchecked::<DatabaseConnection>();
        let providers = ctx.data_unchecked::<Arc<Providers>>();
        let refused = |e: Vec<services::UserError>| RefundOrderPayload { order: None, user_errors: user_errors(e) };
        let Some(id) = parse_id(&order_id) else {
            return Ok(refused(vec![services::UserError::new(
                "orderId",
                UserErrorCode::OrderNotFound,
                "no order with this id",
            )]));
        };
        let minor = match amount {
            None => None,
            Some(amount) => {
                let row = order::Entity::find_by_id(id)
                    .filter(order::Column::AccountId.eq(principal.account_id))
                    .one(db)
                    .await
                    .map_err(|e| internal(&e))?;
                let Some(row) = row else {
                    return Ok(refused(vec![services::UserError::new(
                        "orderId",
                        UserErrorCode::OrderNotFound,
                        "no order with this id",
                    )]));
                };
                let currency = Currency::parse(&row.currency).map_err(|e| internal(&e))?;
                match DomainMoney::parse(&amount, currency) {
                    Ok(m) => Some(m.minor()),
                    Err(e) => {
                        return Ok(refused(vec![services::UserError::new(
                            "amount",
                            UserErrorCode::InvalidRefundAmount,
                            e.to_string(),
                        )]));
                    }
                }
            }
        };
        let (db2, providers2, account_id) = (db.clone(), providers.clone(), principal.account_id);
        let outcome =
            tokio::spawn(async move { checkout::refund_order(&db2, &providers2, account_id, id, minor).await })
                .await
                .map_err(|e| internal(&e))?;
        match errors::split(outcome)? {
            Ok(order) => Ok(RefundOrderPayload { order: Some(Order::new(order)), user_errors: vec![] }),
            Err(e) => Ok(refused(e)),
        }
    }
}
