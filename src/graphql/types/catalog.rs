//! Inputs and payloads of the organizer's events, ticket types and shop settings.

use async_graphql::{Enum, ID, InputObject, MaybeUndefined, SimpleObject};
use chrono::{DateTime, Utc};

use crate::graphql::errors::InputFields;

use super::shop::EventStatus;
use super::{Date, Event, PageInfo, Shop, TicketType, UserError};

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "crate::services::events::Deletion")]
pub enum DeletionKind {
    /// Gone for good: nothing referred to it.
    Hard,
    /// Orders (or promo codes) refer to it: kept for their history, with `deletedAt`
    /// set; it is no longer listed or sold.
    Soft,
}

/// A new event.
#[derive(Debug, InputObject)]
pub struct CreateEventInput {
    /// Its name, 1–200 characters.
    pub name: String,
    /// Where it takes place, at most 200 characters.
    pub venue: Option<String>,
    /// When it starts: RFC 3339 with offset, in the future.
    pub starts_at: DateTime<Utc>,
    /// When it ends: RFC 3339 with offset, after `startsAt`.
    pub ends_at: Option<DateTime<Utc>>,
    /// DRAFT when omitted: not public until set ON_SALE.
    pub status: Option<EventStatus>,
    /// Free text for buyers, at most 5000 characters.
    pub description: Option<String>,
}

impl InputFields for CreateEventInput {
    const FIELDS: &'static [&'static str] = &["name", "venue", "startsAt", "endsAt", "status", "description"];
}

/// Changes to an event: omitted fields stay as they are; `null` clears a field.
#[derive(Debug, InputObject)]
pub struct UpdateEventInput {
    /// New name.
    pub name: Option<String>,
    /// New venue; null clears it.
    pub venue: MaybeUndefined<String>,
    /// New start (in the future).
    pub starts_at: Option<DateTime<Utc>>,
    /// New end; null clears it.
    pub ends_at: MaybeUndefined<DateTime<Utc>>,
    /// New status: ON_SALE puts it in the public shop; any other takes it off sale
    /// (open carts holding its tickets can no longer check out).
    pub status: Option<EventStatus>,
    /// New description; null clears it.
    pub description: MaybeUndefined<String>,
}

impl InputFields for UpdateEventInput {
    const FIELDS: &'static [&'static str] = &["name", "venue", "startsAt", "endsAt", "status", "description"];
}

/// Filters of `events`.
#[derive(Debug, InputObject, Default)]
pub struct EventFilter {
    /// Only events in this status.
    pub status: Option<EventStatus>,
    /// Case-insensitive substring of the name or venue.
    pub search: Option<String>,
    /// True: the soft-deleted events instead of the live ones.
    #[graphql(default)]
    pub deleted: bool,
}

/// Result of an event mutation.
#[derive(SimpleObject)]
pub struct EventPayload {
    /// The event after the change (on a dry run: as it would be); null when refused.
    pub event: Option<Event>,
    /// True when this was a dry run: nothing was written.
    pub dry_run: bool,
    /// Why the input was refused; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Result of `deleteEvent`.
#[derive(SimpleObject)]
pub struct DeleteEventPayload {
    /// HARD or SOFT; null when refused.
    pub deletion: Option<DeletionKind>,
    /// The event as it was deleted (SOFT: as kept); null when refused.
    pub event: Option<Event>,
    /// True when this was a dry run: nothing was written.
    pub dry_run: bool,
    /// Why the input was refused; empty on success.
    pub user_errors: Vec<UserError>,
}

/// A page of events (a Relay connection), soonest first.
#[derive(SimpleObject)]
pub struct EventConnection {
    /// The events of this page with their cursors.
    pub edges: Vec<EventEdge>,
    /// Where this page sits in the whole list.
    pub page_info: PageInfo,
}

/// An event and its cursor.
#[derive(SimpleObject)]
pub struct EventEdge {
    /// Pass as `after` to get the events following this one.
    pub cursor: String,
    /// The event.
    pub node: Event,
}

/// A new ticket type.
#[derive(Debug, InputObject)]
pub struct CreateTicketTypeInput {
    /// The event it admits to (one of your shop's live events).
    pub event_id: ID,
    /// Its name, 1–200 characters, e.g. "Standing".
    pub name: String,
    /// Unit price, a decimal string in the shop currency ("19.99"; JPY "2000"), gross
    /// or net as the shop's `pricesIncludeVat` says; "0" for free tickets.
    pub price: String,
    /// VAT rate in percent, e.g. "7"; the shop's default rate when omitted.
    pub vat_rate: Option<String>,
    /// Tickets available in total; unlimited when omitted.
    pub capacity: Option<i64>,
    /// Sales open at this instant (RFC 3339 with offset).
    pub sales_from: Option<DateTime<Utc>>,
    /// Sales open at the start of this day in the shop's time zone (instead of `salesFrom`).
    pub sales_from_on: Option<Date>,
    /// Sales close after this instant (RFC 3339 with offset).
    pub sales_until: Option<DateTime<Utc>>,
    /// Sales close at the end of this day in the shop's time zone (instead of `salesUntil`).
    pub sales_until_on: Option<Date>,
    /// True: not listed in the public shop, still sold by id (a private link).
    #[graphql(default)]
    pub hidden: bool,
}

impl InputFields for CreateTicketTypeInput {
    const FIELDS: &'static [&'static str] = &[
        "eventId",
        "name",
        "price",
        "vatRate",
        "capacity",
        "salesFrom",
        "salesFromOn",
        "salesUntil",
        "salesUntilOn",
        "hidden",
    ];
}

/// Changes to a ticket type: omitted fields stay as they are; `null` clears a field.
#[derive(Debug, InputObject)]
pub struct UpdateTicketTypeInput {
    /// New name.
    pub name: Option<String>,
    /// New unit price (decimal string). Orders keep the price they were paid at; open
    /// carts are repriced at once (and their subscribers told).
    pub price: Option<String>,
    /// New VAT rate in percent; null = the shop's default.
    pub vat_rate: MaybeUndefined<String>,
    /// New capacity; null = unlimited. Never below `sold` + `held`.
    pub capacity: MaybeUndefined<i64>,
    /// New sales start; null = with the event.
    pub sales_from: MaybeUndefined<DateTime<Utc>>,
    /// New sales start: the start of this day in the shop's time zone.
    pub sales_from_on: Option<Date>,
    /// New sales end; null = with the event.
    pub sales_until: MaybeUndefined<DateTime<Utc>>,
    /// New sales end: the end of this day in the shop's time zone.
    pub sales_until_on: Option<Date>,
    /// Hide (true) or list (false).
    pub hidden: Option<bool>,
}

impl InputFields for UpdateTicketTypeInput {
    const FIELDS: &'static [&'static str] =
        &["name", "price", "vatRate", "capacity", "salesFrom", "salesFromOn", "salesUntil", "salesUntilOn", "hidden"];
}

/// Result of a ticket type mutation.
#[derive(SimpleObject)]
pub struct TicketTypePayload {
    /// The ticket type after the change (on a dry run: as it would be); null when refused.
    pub ticket_type: Option<TicketType>,
    /// True when this was a dry run: nothing was written.
    pub dry_run: bool,
    /// Why the input was refused; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Result of `deleteTicketType`.
#[derive(SimpleObject)]
pub struct DeleteTicketTypePayload {
    /// HARD or SOFT; null when refused.
    pub deletion: Option<DeletionKind>,
    /// The ticket type as it was deleted (SOFT: as kept); null when refused.
    pub ticket_type: Option<TicketType>,
    /// True when this was a dry run: nothing was written.
    pub dry_run: bool,
    /// Why the input was refused; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Changes to the shop's settings: omitted fields stay as they are; `null` clears a field.
#[derive(Debug, InputObject)]
pub struct UpdateShopSettingsInput {
    /// Display name, 1–200 characters.
    pub name: Option<String>,
    /// ISO 4217 code, e.g. "EUR". Fixed once the shop has an order (CURRENCY_LOCKED).
    pub currency: Option<String>,
    /// True: prices include VAT (gross); false: VAT is added on top (net). Open carts
    /// are repriced.
    pub prices_include_vat: Option<bool>,
    /// Default VAT rate in percent, e.g. "19" or "7.7", for ticket types without their own.
    pub vat_rate: Option<String>,
    /// IANA time zone name, e.g. "Europe/Berlin" or "UTC".
    pub time_zone: Option<String>,
    /// The seller's legal name on invoices; null = the display name.
    pub seller_legal_name: MaybeUndefined<String>,
    /// The seller's postal address on invoices (lines separated by newlines).
    pub seller_address: MaybeUndefined<String>,
    /// The seller's VAT identification number on invoices, e.g. "DE123456789".
    pub seller_vat_id: MaybeUndefined<String>,
    /// The storefront's absolute http(s) URL.
    pub storefront_url: MaybeUndefined<String>,
}

impl InputFields for UpdateShopSettingsInput {
    const FIELDS: &'static [&'static str] = &[
        "name",
        "currency",
        "pricesIncludeVat",
        "vatRate",
        "timeZone",
        "sellerLegalName",
        "sellerAddress",
        "sellerVatId",
        "storefrontUrl",
    ];
}

/// Result of `updateShopSettings`.
#[derive(SimpleObject)]
pub struct ShopSettingsPayload {
    /// The shop after the change (on a dry run: as it would be); null when refused.
    pub shop: Option<Shop>,
    /// True when this was a dry run: nothing was written.
    pub dry_run: bool,
    /// Why the input was refused; empty on success.
    pub user_errors: Vec<UserError>,
}
