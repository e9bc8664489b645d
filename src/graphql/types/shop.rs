//! The shop, its events and their ticket types: what a storefront shows (public) and
//! what an organizer manages (with an API key: drafts, hidden types, sales figures).

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, FixedOffset, Utc};

use crate::domain::calendar::ShopZone;
use crate::domain::{Currency, VatRate};
use crate::entities::{account, event, ticket_type};
use crate::graphql::context::ContextExt;
use crate::graphql::errors::{self, internal};
use crate::graphql::loaders::TicketTypesByEvent;
use crate::services::events as event_service;
use crate::services::{now, ticket_types};

use super::{Money, to_id};

/// Where an event's sales stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::entities::enums::EventStatus")]
pub enum EventStatus {
    /// Being prepared: not in the public shop, sells nothing.
    Draft,
    /// In the public shop; its ticket types sell (within their sales windows).
    OnSale,
    /// Sells nothing more; not in the public shop.
    SalesEnded,
    /// Called off: not in the public shop, sells nothing.
    Cancelled,
}

/// What every event and ticket type of a shop needs from it: currency, default VAT
/// rate and time zone.
#[derive(Debug, Clone, Copy)]
pub struct ShopInfo {
    /// The shop's currency.
    pub currency: Currency,
    /// Its default VAT rate, basis points.
    pub default_vat: i32,
    /// Its time zone.
    pub zone: ShopZone,
}

impl ShopInfo {
    /// The settings of `account`. A stored zone that no longer parses reads as UTC.
    pub fn of(account: &account::Model) -> Self {
        ShopInfo {
            currency: *account.currency,
            default_vat: account.vat_rate_bp,
            zone: ShopZone::parse(&account.time_zone).unwrap_or_default(),
        }
    }
}

/// A shop: one organizer's account, with one currency, one VAT setting and one time zone.
pub struct Shop(pub account::Model);

/// Who sells, as printed on invoices.
#[derive(SimpleObject)]
pub struct Seller {
    /// Legal name (the shop's name when none is set).
    pub legal_name: String,
    /// Postal address, lines separated by newlines; null when not set.
    pub address: Option<String>,
    /// VAT identification number; null when not set.
    pub vat_id: Option<String>,
}

/// A shop: one organizer's account, with one currency, one VAT setting and one time zone.
#[Object]
impl Shop {
    /// The shop's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// URL identifier, e.g. "demo"; what `shop(slug:)` takes.
    async fn slug(&self) -> &str {
        &self.0.slug
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// ISO 4217 code of every price in this shop.
    async fn currency(&self) -> &str {
        self.0.currency.code()
    }

    /// True when prices include VAT (gross), false when VAT is added on top (net).
    async fn prices_include_vat(&self) -> bool {
        self.0.prices_include_vat
    }

    /// Default VAT rate in percent as a decimal string, e.g. "19.00".
    async fn vat_rate(&self) -> async_graphql::Result<String> {
        VatRate::from_basis_points(self.0.vat_rate_bp.into()).map(|r| r.to_string()).map_err(|e| internal(&e))
    }

    /// The shop's IANA time zone, e.g. "Europe/Berlin". Dates the organizer sets
    /// (`expiresAt`, event and sales dates) are shown with this zone's offset, and a
    /// date such as `expiresOn: "2027-10-31"` ends at 23:59:59.999 on its clock.
    async fn time_zone(&self) -> &'static str {
        ShopInfo::of(&self.0).zone.name()
    }

    /// Where the shop's storefront lives; null when not set.
    async fn storefront_url(&self) -> Option<&str> {
        self.0.storefront_url.as_deref()
    }

    /// Who sells, as printed on invoices.
    async fn seller(&self) -> Seller {
        Seller {
            legal_name: self.0.seller_legal_name.clone().unwrap_or_else(|| self.0.name.clone()),
            address: self.0.seller_address.clone(),
            vat_id: self.0.seller_vat_id.clone(),
        }
    }

    /// The payment methods checkout offers now (a zero total needs none: the free path).
    async fn payment_methods(&self, ctx: &Context<'_>) -> Vec<super::order::PaymentProviderKind> {
        let providers = ctx.providers();
        let mut methods = vec![];
        if providers.stripe.is_some() {
            methods.push(super::order::PaymentProviderKind::Stripe);
        }
        if providers.paypal.is_some() {
            methods.push(super::order::PaymentProviderKind::Paypal);
        }
        methods
    }

    /// True in demo mode's test mode: card payments go to this server's own test page
    /// and no real money moves. Storefronts should say so.
    async fn test_payments(&self, ctx: &Context<'_>) -> bool {
        ctx.providers().test_mode
    }

    /// The events on sale, soonest first (drafts, cancelled and ended ones are not
    /// shown here; the admin `events` query lists them).
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Event>> {
        let rows = errors::query(event_service::on_sale(ctx.db(), self.0.id).await)?;
        let shop = Arc::new(ShopInfo::of(&self.0));
        Ok(rows.into_iter().map(|e| Event::public(e, shop.clone())).collect())
    }
}

/// An event tickets are sold for.
pub struct Event {
    row: event::Model,
    shop: Arc<ShopInfo>,
    /// Seen by the organizer: hidden ticket types shown.
    admin: bool,
}

impl Event {
    /// An event as the public storefront sees it.
    pub fn public(row: event::Model, shop: Arc<ShopInfo>) -> Self {
        Event { row, shop, admin: false }
    }

    /// An event as the organizer sees it.
    pub fn admin(row: event::Model, shop: Arc<ShopInfo>) -> Self {
        Event { row, shop, admin: true }
    }

    /// The list cursor of this event: `starts_at` and id.
    pub fn cursor(&self) -> String {
        format!("{}_{}", self.row.starts_at.timestamp_micros(), self.row.id)
    }

    /// Parses a cursor of [`Event::cursor`].
    pub fn parse_cursor(cursor: &str) -> Option<(DateTime<Utc>, i64)> {
        let (micros, id) = cursor.split_once('_')?;
        Some((DateTime::from_timestamp_micros(micros.parse().ok()?)?, id.parse().ok()?))
    }
}

/// Sales figures of an event: over its ticket types and paid orders.
#[derive(SimpleObject)]
pub struct EventSales {
    /// Tickets sold (paid orders).
    pub tickets_sold: i64,
    /// Tickets held by checkouts awaiting payment.
    pub tickets_held: i64,
    /// Total capacity of its ticket types; null when any is unlimited.
    pub capacity: Option<i64>,
    /// Paid orders with tickets for it (refunded ones included).
    pub orders: i64,
    /// What those orders charged for its tickets, before refunds; gross or net as the
    /// shop's `pricesIncludeVat` says.
    pub revenue: Money,
}

/// An event tickets are sold for.
#[Object]
impl Event {
    /// The event's id.
    async fn id(&self) -> ID {
        to_id(self.row.id)
    }

    /// Its name.
    async fn name(&self) -> &str {
        &self.row.name
    }

    /// Where it takes place.
    async fn venue(&self) -> Option<&str> {
        self.row.venue.as_deref()
    }

    /// When it starts (RFC 3339, in the shop's time zone).
    async fn starts_at(&self) -> DateTime<FixedOffset> {
        self.shop.zone.local(self.row.starts_at)
    }

    /// When it ends (RFC 3339, in the shop's time zone); null when not set.
    async fn ends_at(&self) -> Option<DateTime<FixedOffset>> {
        self.row.ends_at.map(|at| self.shop.zone.local(at))
    }

    /// Where its sales stand; only ON_SALE events are in the public shop.
    async fn status(&self) -> EventStatus {
        self.row.status.into()
    }

    /// Free text for buyers.
    async fn description(&self) -> Option<&str> {
        self.row.description.as_deref()
    }

    /// When it was deleted (kept because orders or codes refer to it); null while live.
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.row.deleted_at
    }

    /// Its ticket types in the order they were created. The public shop shows the
    /// listed ones; an organizer's query shows hidden ones too.
    async fn ticket_types(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TicketType>> {
        let loader = ctx.loader::<TicketTypesByEvent>();
        let rows = loader.load_one(self.row.id).await.map_err(|e| internal(&*e))?.unwrap_or_default();
        let deleted_event = self.row.deleted_at.is_some();
        Ok(rows
            .into_iter()
            .filter(|t| deleted_event || t.deleted_at.is_none())
            .filter(|t| self.admin || !t.hidden)
            .map(|t| TicketType { row: t, event: Some(self.row.clone()), shop: *self.shop })
            .collect())
    }

    /// Sales figures. Needs an API key of the event's own shop (null, with a FORBIDDEN
    /// error, for any other key).
    async fn sales(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<EventSales>> {
        let principal = ctx.caller().reader()?;
        if principal.account_id != self.row.account_id {
            return Err(crate::graphql::errors::client_error(
                crate::graphql::errors::ErrorCode::Forbidden,
                "sales figures are for the event's own shop",
            ));
        }
        let loader = ctx.loader::<crate::graphql::loaders::EventSalesById>();
        let sales = loader.load_one(self.row.id).await.map_err(|e| internal(&*e))?.unwrap_or_default();
        Ok(Some(EventSales {
            tickets_sold: sales.sold,
            tickets_held: sales.held,
            capacity: sales.capacity,
            orders: sales.orders,
            revenue: Money::of(sales.revenue, self.shop.currency),
        }))
    }
}

/// A kind of ticket with its price.
pub struct TicketType {
    row: ticket_type::Model,
    /// Its event, when at hand (to say whether it sells now).
    event: Option<event::Model>,
    shop: ShopInfo,
}

impl TicketType {
    /// Wraps a ticket type of a shop.
    pub fn new(row: ticket_type::Model, event: Option<event::Model>, shop: ShopInfo) -> Self {
        TicketType { row, event, shop }
    }
}

/// A kind of ticket with its price.
#[Object]
impl TicketType {
    /// The ticket type's id; what cart mutations take.
    async fn id(&self) -> ID {
        to_id(self.row.id)
    }

    /// The event it admits to.
    async fn event_id(&self) -> ID {
        to_id(self.row.event_id)
    }

    /// Its name, e.g. "Standing".
    async fn name(&self) -> &str {
        &self.row.name
    }

    /// Unit price before any discount; gross or net as the shop's `pricesIncludeVat` says.
    async fn price(&self) -> Money {
        Money::of(self.row.price, self.shop.currency)
    }

    /// VAT rate in percent as a decimal string, e.g. "19.00".
    async fn vat_rate(&self) -> async_graphql::Result<String> {
        let bp = self.row.vat_rate_bp.unwrap_or(self.shop.default_vat);
        VatRate::from_basis_points(bp.into()).map(|r| r.to_string()).map_err(|e| internal(&e))
    }

    /// True when it has a VAT rate of its own; false when it follows the shop's default.
    async fn own_vat_rate(&self) -> bool {
        self.row.vat_rate_bp.is_some()
    }

    /// Tickets available in total; null when unlimited.
    async fn capacity(&self) -> Option<i64> {
        self.row.capacity
    }

    /// Tickets sold (paid orders).
    async fn sold(&self) -> i64 {
        self.row.sold_count
    }

    /// Tickets held by checkouts awaiting payment; released when they expire or fail.
    async fn held(&self) -> i64 {
        self.row.held_count
    }

    /// Tickets that can still be bought: capacity − sold − held; null when unlimited.
    async fn available(&self) -> Option<i64> {
        crate::services::capacity::available(&self.row)
    }

    /// Sales open at this instant (RFC 3339, in the shop's time zone); null = as soon
    /// as the event is on sale.
    async fn sales_from(&self) -> Option<DateTime<FixedOffset>> {
        self.row.sales_from.map(|at| self.shop.zone.local(at))
    }

    /// Sales close after this instant (RFC 3339, in the shop's time zone); null = while
    /// the event is on sale.
    async fn sales_until(&self) -> Option<DateTime<FixedOffset>> {
        self.row.sales_until.map(|at| self.shop.zone.local(at))
    }

    /// Not listed in the public shop (still sold by id, e.g. through a private link).
    async fn hidden(&self) -> bool {
        self.row.hidden
    }

    /// Whether it can be added to a cart right now: its event is ON_SALE and now is
    /// within its sales window. Capacity aside: see `available`.
    async fn on_sale(&self) -> bool {
        self.event.as_ref().is_some_and(|e| ticket_types::sellable(e, &self.row, now(), self.shop.zone, "").is_ok())
    }

    /// When it was deleted (kept because orders have it); null while live.
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.row.deleted_at
    }
}
