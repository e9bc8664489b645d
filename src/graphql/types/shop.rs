//! The public storefront: a shop, its events and their ticket types.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use crate::domain::{Currency, VatRate};
use crate::entities::{account, event, ticket_type};
use crate::graphql::context::ContextExt;
use crate::graphql::errors::{self, internal};
use crate::graphql::loaders::TicketTypesByEvent;
use crate::services::accounts;

use super::{Money, to_id};

/// A shop: one organizer's account, with one currency and one VAT setting.
pub struct Shop(pub account::Model);

impl Shop {
    fn parsed_currency(&self) -> async_graphql::Result<Currency> {
        Ok(*self.0.currency)
    }
}

/// A shop: one organizer's account, with one currency and one VAT setting.
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

    /// The shop's events, soonest first.
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Event>> {
        let db = ctx.db();
        let currency = self.parsed_currency()?;
        let default_vat = self.0.vat_rate_bp;
        let rows = errors::query(accounts::events(db, self.0.id).await)?;
        Ok(rows.into_iter().map(|e| Event { row: e, currency, default_vat }).collect())
    }
}

/// An event tickets are sold for.
pub struct Event {
    row: event::Model,
    currency: Currency,
    default_vat: i32,
}

impl Event {
    /// Wraps an event row of a shop with this currency and default VAT rate.
    pub fn new(row: event::Model, currency: Currency, default_vat: i32) -> Self {
        Event { row, currency, default_vat }
    }
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

    /// When it starts (UTC, RFC 3339).
    async fn starts_at(&self) -> DateTime<Utc> {
        self.row.starts_at
    }

    /// The ticket types on sale for it.
    async fn ticket_types(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TicketType>> {
        let loader = ctx.loader::<TicketTypesByEvent>();
        let rows = loader.load_one(self.row.id).await.map_err(|e| internal(&*e))?.unwrap_or_default();
        Ok(rows
            .into_iter()
            .map(|t| TicketType { row: t, currency: self.currency, default_vat: self.default_vat })
            .collect())
    }
}

/// A kind of ticket with its price.
pub struct TicketType {
    row: ticket_type::Model,
    currency: Currency,
    default_vat: i32,
}

/// A kind of ticket with its price.
#[Object]
impl TicketType {
    /// The ticket type's id; what cart mutations take.
    async fn id(&self) -> ID {
        to_id(self.row.id)
    }

    /// Its name, e.g. "Standing".
    async fn name(&self) -> &str {
        &self.row.name
    }

    /// Unit price before any discount; gross or net as the shop's `pricesIncludeVat` says.
    async fn price(&self) -> Money {
        Money::of(self.row.price, self.currency)
    }

    /// VAT rate in percent as a decimal string, e.g. "19.00".
    async fn vat_rate(&self) -> async_graphql::Result<String> {
        let bp = self.row.vat_rate_bp.unwrap_or(self.default_vat);
        VatRate::from_basis_points(bp.into()).map(|r| r.to_string()).map_err(|e| internal(&e))
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
}
