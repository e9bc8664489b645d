//! The organizer's catalog over GraphQL: events, ticket types and shop settings. Thin
//! resolvers over `services::{events, ticket_types, accounts}`; dates given as `…On`
//! are turned into instants here, in the shop's time zone.

use std::sync::Arc;

use async_graphql::{Context, ID, MaybeUndefined, Object};
use chrono::{DateTime, Utc};

use super::context::ContextExt;
use super::errors::{self, ErrorCode, client_error, input_errors, user_errors};
use super::promo::account_of;
use super::types::catalog::{
    CreateEventInput, CreateTicketTypeInput, DeleteEventPayload, DeleteTicketTypePayload, EventConnection, EventEdge,
    EventFilter, EventPayload, ShopSettingsPayload, TicketTypePayload, UpdateEventInput, UpdateShopSettingsInput,
    UpdateTicketTypeInput,
};
use super::types::promo_code::patch;
use super::types::shop::ShopInfo;
use super::types::{Date, Event, PageInfo, Shop, TicketType, parse_id};
use crate::domain::calendar::ShopZone;
use crate::entities::enums::AuditVia;
use crate::services::audit::Actor;
use crate::services::events::{self as event_service, EventPatch, NewEvent};
use crate::services::ticket_types::{self, NewTicketType, TicketTypePatch};
use crate::services::{self, UserErrorCode, accounts};

/// The instant of an argument given either as `at` (an instant) or as `on` (a day in
/// the shop's zone: its start, or with `end_of_day` its last millisecond).
pub(super) fn instant(
    at: Option<DateTime<Utc>>,
    on: Option<Date>,
    on_field: &str,
    at_field: &str,
    zone: ShopZone,
    end_of_day: bool,
) -> Result<Option<DateTime<Utc>>, services::UserError> {
    match (at, on) {
        (Some(_), Some(_)) => Err(services::UserError::new(
            on_field,
            UserErrorCode::Invalid,
            format!("give `{at_field}` or `{on_field}`, not both"),
        )),
        (Some(at), None) => Ok(Some(at)),
        (None, Some(Date(day))) => Ok(Some(if end_of_day { zone.end_of_day(day) } else { zone.start_of_day(day) })),
        (None, None) => Ok(None),
    }
}

/// [`instant`] for a change: keep, clear (`at: null`) or set.
pub(super) fn instant_patch(
    at: MaybeUndefined<DateTime<Utc>>,
    on: Option<Date>,
    on_field: &str,
    at_field: &str,
    zone: ShopZone,
    end_of_day: bool,
) -> Result<Option<Option<DateTime<Utc>>>, services::UserError> {
    match (at, on) {
        (MaybeUndefined::Undefined, None) => Ok(None),
        (MaybeUndefined::Null, None) => Ok(Some(None)),
        (MaybeUndefined::Value(at), on) => instant(Some(at), on, on_field, at_field, zone, end_of_day).map(Some),
        (MaybeUndefined::Undefined, on) => instant(None, on, on_field, at_field, zone, end_of_day).map(Some),
        (MaybeUndefined::Null, Some(_)) => Err(services::UserError::new(
            on_field,
            UserErrorCode::Invalid,
            format!("give `{at_field}: null` or `{on_field}`, not both"),
        )),
    }
}

fn not_found(field: &str, code: UserErrorCode, what: &str) -> Vec<services::UserError> {
    vec![services::UserError::new(field, code, format!("no {what} with this id"))]
}

/// Events as the organizer sees them (read or admin key).
#[derive(Default)]
pub struct CatalogQuery;

/// Events as the organizer sees them (read or admin key).
#[Object]
impl CatalogQuery {
    /// Your shop's events, drafts and ended ones included, soonest first, with their
    /// sales figures: a Relay connection.
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Status, search and deleted filters; every live event when omitted.")] filter: Option<
            EventFilter,
        >,
        #[graphql(desc = "Page size, 1–200.", default = 50)] first: i32,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<EventConnection> {
        let principal = ctx.caller().reader()?;
        let Some(first) = u64::try_from(first).ok().filter(|n| (1..=event_service::MAX_PAGE).contains(n)) else {
            let message = format!("`first` must be between 1 and {}", event_service::MAX_PAGE);
            return Err(client_error(ErrorCode::BadUserInput, message));
        };
        let cursor = match &after {
            None => None,
            Some(c) => Some(
                Event::parse_cursor(c)
                    .ok_or_else(|| client_error(ErrorCode::BadUserInput, "`after` is not a cursor of this list"))?,
            ),
        };
        let filter = filter.unwrap_or_default();
        let filter = event_service::Filter {
            status: filter.status.map(Into::into),
            search: filter.search,
            deleted: filter.deleted,
        };
        let db = ctx.db();
        let account = account_of(ctx, principal.account_id).await?;
        let (rows, more) = errors::query(event_service::list(db, principal.account_id, &filter, first, cursor).await)?;
        // Sales figures, when selected, come through the DataLoader: one batch per page.
        let shop = Arc::new(ShopInfo::of(&account));
        let edges: Vec<EventEdge> = rows
            .into_iter()
            .map(|row| {
                let node = Event::admin(row, shop.clone());
                EventEdge { cursor: node.cursor(), node }
            })
            .collect();
        let page_info = PageInfo::new(
            after.is_some(),
            more,
            edges.first().map(|e| e.cursor.as_str()),
            edges.last().map(|e| e.cursor.as_str()),
        );
        Ok(EventConnection { edges, page_info })
    }

    /// One of your shop's events (drafts and deleted ones too); null when there is none.
    async fn event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event's id.")] id: ID,
    ) -> async_graphql::Result<Option<Event>> {
        let principal = ctx.caller().reader()?;
        let Some(id) = parse_id(&id) else { return Ok(None) };
        let Some(row) = errors::query(event_service::find(ctx.db(), principal.account_id, id).await)? else {
            return Ok(None);
        };
        let account = account_of(ctx, principal.account_id).await?;
        Ok(Some(Event::admin(row, Arc::new(ShopInfo::of(&account)))))
    }
}

/// Events, ticket types and shop settings (admin key). Every write leaves one entry
/// in the audit log; a dry run writes none.
#[derive(Default)]
pub struct CatalogMutation;

/// Events, ticket types and shop settings (admin key).
#[Object]
impl CatalogMutation {
    /// Creates an event, DRAFT unless `status` says otherwise. Add ticket types, then
    /// set it ON_SALE to open the shop.
    async fn create_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event's settings.")] input: CreateEventInput,
        #[graphql(
            desc = "When true, only validate and return what would be stored; nothing is written.",
            default = false
        )]
        dry_run: bool,
    ) -> async_graphql::Result<EventPayload> {
        let principal = ctx.caller().admin()?;
        let actor = Actor::key(principal, AuditVia::Graphql);
        let new = NewEvent {
            name: input.name,
            venue: input.venue,
            starts_at: Some(input.starts_at),
            ends_at: input.ends_at,
            status: input.status.map(Into::into),
            description: input.description,
        };
        let refused = |e| EventPayload { event: None, dry_run, user_errors: input_errors::<CreateEventInput>(e) };
        match errors::split(event_service::create(ctx.db(), &actor, principal.account_id, new, dry_run).await)? {
            Ok(row) => {
                let shop = Arc::new(ShopInfo::of(&*account_of(ctx, principal.account_id).await?));
                Ok(EventPayload { event: Some(Event::admin(row, shop)), dry_run, user_errors: vec![] })
            }
            Err(e) => Ok(refused(e)),
        }
    }

    /// Changes an event; omitted fields stay as they are. Taking it off sale stops its
    /// tickets from being added or checked out.
    async fn update_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateEventInput,
        #[graphql(
            desc = "When true, only validate and return the event as it would be; nothing is written.",
            default = false
        )]
        dry_run: bool,
    ) -> async_graphql::Result<EventPayload> {
        let principal = ctx.caller().admin()?;
        let actor = Actor::key(principal, AuditVia::Graphql);
        let refused = |e| EventPayload { event: None, dry_run, user_errors: input_errors::<UpdateEventInput>(e) };
        let Some(id) = parse_id(&id) else {
            return Ok(refused(not_found("id", UserErrorCode::EventNotFound, "event")));
        };
        let changes = EventPatch {
            name: input.name,
            venue: patch(input.venue, |v| v),
            starts_at: input.starts_at,
            ends_at: patch(input.ends_at, |v| v),
            status: input.status.map(Into::into),
            description: patch(input.description, |v| v),
        };
        let result = event_service::update(ctx.db(), ctx.events(), &actor, principal.account_id, id, changes, dry_run);
        match errors::split(result.await)? {
            Ok(row) => {
                let shop = Arc::new(ShopInfo::of(&*account_of(ctx, principal.account_id).await?));
                Ok(EventPayload { event: Some(Event::admin(row, shop)), dry_run, user_errors: vec![] })
            }
            Err(e) => Ok(refused(e)),
        }
    }

    /// Deletes an event. One that orders or promo codes refer to is kept (SOFT:
    /// `deletedAt` set, not listed or sold, history intact); otherwise it is removed
    /// with its ticket types (HARD). Its tickets leave every open cart.
    async fn delete_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event's id.")] id: ID,
        #[graphql(desc = "When true, report what would happen; nothing is written.", default = false)] dry_run: bool,
    ) -> async_graphql::Result<DeleteEventPayload> {
        let principal = ctx.caller().admin()?;
        let actor = Actor::key(principal, AuditVia::Graphql);
        let refused = |e| DeleteEventPayload { deletion: None, event: None, dry_run, user_errors: user_errors(e) };
        let Some(id) = parse_id(&id) else {
            return Ok(refused(not_found("id", UserErrorCode::EventNotFound, "event")));
        };
        let result = event_service::delete(ctx.db(), ctx.events(), &actor, principal.account_id, id, dry_run);
        match errors::split(result.await)? {
            Ok((row, deletion)) => {
                let shop = Arc::new(ShopInfo::of(&*account_of(ctx, principal.account_id).await?));
                Ok(DeleteEventPayload {
                    deletion: Some(deletion.into()),
                    event: Some(Event::admin(row, shop)),
                    dry_run,
                    user_errors: vec![],
                })
            }
            Err(e) => Ok(refused(e)),
        }
    }

    /// Creates a ticket type under one of your events. Example: `{eventId: "1", name:
    /// "Early bird", price: "15.00", capacity: 100, salesUntilOn: "2027-03-31"}`.
    async fn create_ticket_type(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket type's settings.")] input: CreateTicketTypeInput,
        #[graphql(
            desc = "When true, only validate and return what would be stored; nothing is written.",
            default = false
        )]
        dry_run: bool,
    ) -> async_graphql::Result<TicketTypePayload> {
        let principal = ctx.caller().admin()?;
        let actor = Actor::key(principal, AuditVia::Graphql);
        let account = account_of(ctx, principal.account_id).await?;
        let shop = ShopInfo::of(&account);
        let refused =
            |e| TicketTypePayload { ticket_type: None, dry_run, user_errors: input_errors::<CreateTicketTypeInput>(e) };
        let window = instant(input.sales_from, input.sales_from_on, "salesFromOn", "salesFrom", shop.zone, false)
            .and_then(|from| {
                instant(input.sales_until, input.sales_until_on, "salesUntilOn", "salesUntil", shop.zone, true)
                    .map(|until| (from, until))
            });
        let (sales_from, sales_until) = match window {
            Ok(w) => w,
            Err(e) => return Ok(refused(vec![e])),
        };
        let new = NewTicketType {
            event_id: parse_id(&input.event_id).unwrap_or(0),
            name: input.name,
            price: input.price,
            vat_rate: input.vat_rate,
            capacity: input.capacity,
            sales_from,
            sales_until,
            hidden: input.hidden,
        };
        match errors::split(ticket_types::create(ctx.db(), &actor, principal.account_id, new, dry_run).await)? {
            Ok(row) => Ok(TicketTypePayload {
                ticket_type: Some(with_event(ctx, principal.account_id, row, shop).await?),
                dry_run,
                user_errors: vec![],
            }),
            Err(e) => Ok(refused(e)),
        }
    }

    /// Changes a ticket type; omitted fields stay as they are. A new price reprices
    /// open carts at once (their `cartUpdated` subscribers are told); orders keep theirs.
    async fn update_ticket_type(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket type's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateTicketTypeInput,
        #[graphql(
            desc = "When true, only validate and return it as it would be; nothing is written.",
            default = false
        )]
        dry_run: bool,
    ) -> async_graphql::Result<TicketTypePayload> {
        let principal = ctx.caller().admin()?;
        let actor = Actor::key(principal, AuditVia::Graphql);
        let account = account_of(ctx, principal.account_id).await?;
        let shop = ShopInfo::of(&account);
        let refused =
            |e| TicketTypePayload { ticket_type: None, dry_run, user_errors: input_errors::<UpdateTicketTypeInput>(e) };
        let Some(id) = parse_id(&id) else {
            return Ok(refused(not_found("id", UserErrorCode::TicketTypeNotFound, "ticket type")));
        };
        let window = instant_patch(input.sales_from, input.sales_from_on, "salesFromOn", "salesFrom", shop.zone, false)
            .and_then(|from| {
                instant_patch(input.sales_until, input.sales_until_on, "salesUntilOn", "salesUntil", shop.zone, true)
                    .map(|until| (from, until))
            });
        let (sales_from, sales_until) = match window {
            Ok(w) => w,
            Err(e) => return Ok(refused(vec![e])),
        };
        let changes = TicketTypePatch {
            name: input.name,
            price: input.price,
            vat_rate: patch(input.vat_rate, |v| v),
            capacity: patch(input.capacity, |v| v),
            sales_from,
            sales_until,
            hidden: input.hidden,
        };
        let result = ticket_types::update(ctx.db(), ctx.events(), &actor, principal.account_id, id, changes, dry_run);
        match errors::split(result.await)? {
            Ok(row) => Ok(TicketTypePayload {
                ticket_type: Some(with_event(ctx, principal.account_id, row, shop).await?),
                dry_run,
                user_errors: vec![],
            }),
            Err(e) => Ok(refused(e)),
        }
    }

    /// Deletes a ticket type: kept (SOFT) when orders have it or checkouts hold it,
    /// removed (HARD) otherwise. It leaves every open cart.
    async fn delete_ticket_type(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ticket type's id.")] id: ID,
        #[graphql(desc = "When true, report what would happen; nothing is written.", default = false)] dry_run: bool,
    ) -> async_graphql::Result<DeleteTicketTypePayload> {
        let principal = ctx.caller().admin()?;
        let actor = Actor::key(principal, AuditVia::Graphql);
        let refused =
            |e| DeleteTicketTypePayload { deletion: None, ticket_type: None, dry_run, user_errors: user_errors(e) };
        let Some(id) = parse_id(&id) else {
            return Ok(refused(not_found("id", UserErrorCode::TicketTypeNotFound, "ticket type")));
        };
        let result = ticket_types::delete(ctx.db(), ctx.events(), &actor, principal.account_id, id, dry_run);
        match errors::split(result.await)? {
            Ok((row, deletion)) => {
                let shop = ShopInfo::of(&*account_of(ctx, principal.account_id).await?);
                Ok(DeleteTicketTypePayload {
                    deletion: Some(deletion.into()),
                    ticket_type: Some(with_event(ctx, principal.account_id, row, shop).await?),
                    dry_run,
                    user_errors: vec![],
                })
            }
            Err(e) => Ok(refused(e)),
        }
    }

    /// Changes your shop's settings; omitted fields stay as they are. A change of
    /// currency, VAT mode or default rate reprices open carts (orders keep their
    /// snapshot); the currency is fixed once the shop has an order.
    async fn update_shop_settings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The changes.")] input: UpdateShopSettingsInput,
        #[graphql(
            desc = "When true, only validate and return the shop as it would be; nothing is written.",
            default = false
        )]
        dry_run: bool,
    ) -> async_graphql::Result<ShopSettingsPayload> {
        let principal = ctx.caller().admin()?;
        let actor = Actor::key(principal, AuditVia::Graphql);
        let changes = accounts::SettingsPatch {
            name: input.name,
            currency: input.currency,
            prices_include_vat: input.prices_include_vat,
            vat_rate: input.vat_rate,
            time_zone: input.time_zone,
            seller_legal_name: patch(input.seller_legal_name, |v| v),
            seller_address: patch(input.seller_address, |v| v),
            seller_vat_id: patch(input.seller_vat_id, |v| v),
            storefront_url: patch(input.storefront_url, |v| v),
        };
        let result = accounts::update_settings(ctx.db(), ctx.events(), &actor, principal.account_id, changes, dry_run);
        match errors::split(result.await)? {
            Ok(row) => Ok(ShopSettingsPayload { shop: Some(Shop(row)), dry_run, user_errors: vec![] }),
            Err(e) => {
                Ok(ShopSettingsPayload { shop: None, dry_run, user_errors: input_errors::<UpdateShopSettingsInput>(e) })
            }
        }
    }
}

/// A ticket type with its event (to tell whether it sells now).
async fn with_event(
    ctx: &Context<'_>,
    account_id: i64,
    row: crate::entities::ticket_type::Model,
    shop: ShopInfo,
) -> async_graphql::Result<TicketType> {
    let event = errors::query(event_service::find(ctx.db(), account_id, row.event_id).await)?;
    Ok(TicketType::new(row, event, shop))
}
