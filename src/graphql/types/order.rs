//! Orders as the organizer sees them: what was bought at which prices with which code,
//! refunds, and the filtered, sorted list.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::invoice::Invoice;
use super::{Money, PageInfo, PromoCode, to_id};
use crate::domain::VatRate;
use crate::entities::{account, order, order_item, promo_code, refund};
use crate::graphql::context::ContextExt;
use crate::graphql::errors::internal;
use crate::graphql::loaders::{AccountById, OrderItemsByOrder, PromoCodeById, RefundsByOrder};
use crate::payments::Provider;
use crate::services::orders::OrderFilter as ServiceFilter;

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
    pub items: HashMap<i64, Vec<order_item::Model>>,
    /// Refunds by order id.
    pub refunds: HashMap<i64, Vec<refund::Model>>,
    /// Live codes by id.
    pub codes: HashMap<i64, promo_code::Model>,
    /// The account.
    pub account: Option<Arc<account::Model>>,
}

impl Related {
    /// Loads everything the rows need, one batch per kind, through the DataLoaders.
    pub async fn load(ctx: &Context<'_>, rows: &[order::Model]) -> async_graphql::Result<Related> {
        let ids: Vec<i64> = rows.iter().map(|o| o.id).collect();
        let codes: Vec<i64> = rows.iter().filter_map(|o| o.promo_code_id).collect();
        let items = ctx.loader::<OrderItemsByOrder>().load_many(ids.iter().copied());
        let refunds = ctx.loader::<RefundsByOrder>().load_many(ids.iter().copied());
        let promo = ctx.loader::<PromoCodeById>().load_many(codes);
        let account = async {
            match rows.first() {
                Some(o) => ctx.loader::<AccountById>().load_one(o.account_id).await,
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

    async fn item_rows(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<order_item::Model>> {
        Ok(match &self.1 {
            Some(related) => related.items.get(&self.0.id).cloned(),
            None => ctx.loader::<OrderItemsByOrder>().load_one(self.0.id).await.map_err(|e| internal(&*e))?,
        }
        .unwrap_or_default())
    }

    fn money(&self, minor: i64) -> async_graphql::Result<Money> {
        let currency = *self.0.currency;
        Ok(Money::of(minor, currency))
    }
}

/// An order: what was bought, at which discounted prices, with which code (a snapshot
/// that stays truthful when the code changes or is deleted).
#[Object]
impl Order {
    /// The order's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The order number shown to buyers, e.g. "TX-7F3K9Q2A".
    async fn number(&self) -> &str {
        &self.0.number
    }

    /// Where the order stands.
    async fn status(&self) -> OrderStatus {
        self.0.status.into()
    }

    /// How it was paid.
    async fn provider(&self) -> PaymentProviderKind {
        match self.0.provider {
            Provider::Stripe => PaymentProviderKind::Stripe,
            Provider::Paypal => PaymentProviderKind::Paypal,
            Provider::Free => PaymentProviderKind::Free,
        }
    }

    /// The buyer's email as typed.
    async fn email(&self) -> &str {
        &self.0.email
    }

    /// ISO 4217 currency.
    async fn currency(&self) -> &str {
        self.0.currency.code()
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
    async fn promo(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<PromoCode>> {
        let Some(id) = self.0.promo_code_id else { return Ok(None) };
        let (code, account) = match &self.1 {
            Some(related) => (related.codes.get(&id).cloned(), related.account.clone()),
            None => (
                ctx.loader::<PromoCodeById>().load_one(id).await.map_err(|e| internal(&*e))?,
                ctx.loader::<AccountById>().load_one(self.0.account_id).await.map_err(|e| internal(&*e))?,
            ),
        };
        let Some(code) = code else { return Ok(None) };
        Ok(account.map(|a| PromoCode::new(code, a)))
    }

    /// The items, at their discounted prices.
    async fn items(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<OrderItem>> {
        self.item_rows(ctx)
            .await?
            .into_iter()
            .map(|i| {
                Ok(OrderItem {
                    ticket_type_id: i.ticket_type_id.map(to_id),
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
            None => ctx.loader::<RefundsByOrder>().load_one(self.0.id).await.map_err(|e| internal(&*e))?,
        };
        rows.unwrap_or_default()
            .into_iter()
            .map(|r| {
                Ok(Refund { amount: self.money(r.amount)?, provider_ref: r.provider_ref, created_at: r.created_at })
            })
            .collect()
    }

    /// The invoice, from the order's snapshot (the code or prices changing later changes
    /// nothing on it) and the shop's seller details; null until the order is paid. Also
    /// as HTML at `/orders/{id}/invoice.html`.
    async fn invoice(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Invoice>> {
        if !self.0.status.is_paid() {
            return Ok(None);
        }
        let items = self.item_rows(ctx).await?;
        let account = match &self.1 {
            Some(related) => related.account.clone(),
            None => ctx.loader::<AccountById>().load_one(self.0.account_id).await.map_err(|e| internal(&*e))?,
        };
        let seller = crate::services::invoices::Seller::of_order(&self.0, account.as_deref());
        let invoice = crate::services::invoices::from_snapshot(&self.0, &items, &seller).map_err(|e| internal(&e))?;
        Ok(invoice.map(Into::into))
    }
}

/// Order states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::entities::enums::OrderStatus")]
pub enum OrderStatus {
    /// Waiting for the payment provider.
    Pending,
    /// Paid.
    Paid,
    /// Paid, part of it refunded.
    PartiallyRefunded,
    /// Paid, all of it refunded.
    Refunded,
    /// Payment failed or could not start.
    Cancelled,
    /// Not paid in time.
    Expired,
}

/// Filters of `orders`; all optional, combined.
#[derive(Debug, Default, InputObject)]
pub struct OrderFilter {
    /// Orders that redeemed this code (any case), e.g. "MARIA15".
    pub promo_code: Option<String>,
    /// Orders whose buyer came through a link with this `utm_source`, e.g. "instagram".
    pub utm_source: Option<String>,
    /// Orders in this state.
    pub status: Option<OrderStatus>,
    /// Orders of this buyer (aliases of one mailbox match too).
    pub email: Option<String>,
    /// Created at or after this instant (RFC 3339).
    pub created_after: Option<DateTime<Utc>>,
    /// Created before this instant (RFC 3339).
    pub created_before: Option<DateTime<Utc>>,
}

/// What to sort orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[graphql(remote = "crate::services::orders::SortField")]
pub enum OrderSortField {
    /// Creation time.
    #[default]
    CreatedAt,
    /// Redeemed code (orders without one sort first ascending).
    PromoCode,
    /// Order total.
    Total,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
pub enum SortDirection {
    /// Smallest first.
    Asc,
    /// Largest (newest) first.
    #[default]
    Desc,
}

/// How to sort `orders`.
#[derive(Debug, Default, InputObject)]
pub struct OrderOrder {
    /// The key; CREATED_AT when omitted.
    #[graphql(default)]
    pub field: OrderSortField,
    /// The direction; DESC when omitted.
    #[graphql(default)]
    pub direction: SortDirection,
}

/// A page of orders (a Relay connection).
#[derive(SimpleObject)]
pub struct OrderConnection {
    /// The orders with their cursors.
    pub edges: Vec<OrderEdge>,
    /// Where this page sits.
    pub page_info: PageInfo,
}

/// An order and its cursor.
#[derive(SimpleObject)]
pub struct OrderEdge {
    /// Pass as `after` for the orders following this one (same `orderBy`).
    pub cursor: String,
    /// The order.
    pub node: Order,
}

impl From<OrderFilter> for ServiceFilter {
    fn from(f: OrderFilter) -> Self {
        ServiceFilter {
            promo_code: f.promo_code,
            utm_source: f.utm_source,
            status: f.status.map(Into::into),
            email: f.email,
            created_after: f.created_after,
            created_before: f.created_before,
        }
    }
}
