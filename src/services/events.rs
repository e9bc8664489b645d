//! Events of a shop: create, change, delete, list with sales figures. Each write is
//! one transaction with its audit entry.
//!
//! Only ON_SALE events are public and sell tickets. Deleting an event that any order
//! or promo code refers to keeps the row (soft: hidden, sells nothing) so history
//! stays truthful; otherwise it and its ticket types are removed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement, TryIntoModel,
};

use crate::entities::enums::{AuditTarget, CartStatus, EventStatus, OrderStatus};
use crate::entities::{cart, cart_line, event, order_item, promo_code, ticket_type};
use crate::events::CartEvents;

use super::audit::{self, Actor};
use super::{ServiceError, ServiceResult, UserError, UserErrorCode, now};

/// Longest event or ticket type name.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest venue.
const MAX_VENUE_CHARS: usize = 200;
/// Longest description.
const MAX_DESCRIPTION_CHARS: usize = 5000;
/// Largest page of the list.
pub const MAX_PAGE: u64 = 200;

/// A new event as a caller submits it.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    /// Its name.
    pub name: String,
    /// Where it takes place.
    pub venue: Option<String>,
    /// When it starts; must lie in the future.
    pub starts_at: Option<DateTime<Utc>>,
    /// When it ends; after `starts_at`.
    pub ends_at: Option<DateTime<Utc>>,
    /// DRAFT when omitted.
    pub status: Option<EventStatus>,
    /// Free text for buyers.
    pub description: Option<String>,
}

/// Changes to an event: `None` leaves a field alone, `Some(None)` clears a clearable one.
#[derive(Debug, Clone, Default)]
pub struct EventPatch {
    /// New name.
    pub name: Option<String>,
    /// New venue.
    pub venue: Option<Option<String>>,
    /// New start.
    pub starts_at: Option<DateTime<Utc>>,
    /// New end.
    pub ends_at: Option<Option<DateTime<Utc>>>,
    /// New status.
    pub status: Option<EventStatus>,
    /// New description.
    pub description: Option<Option<String>>,
}

/// How a row was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The row is gone: nothing referred to it.
    Hard,
    /// Orders (or codes) refer to it: kept, hidden, selling nothing.
    Soft,
}

/// Which events a list shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only events in this status.
    pub status: Option<EventStatus>,
    /// Substring of the name or venue, case-insensitive.
    pub search: Option<String>,
    /// Soft-deleted events instead of live ones.
    pub deleted: bool,
}

/// Sales of one event, over its live ticket types and paid orders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sales {
    /// Tickets sold (paid orders).
    pub sold: i64,
    /// Tickets held by checkouts awaiting payment.
    pub held: i64,
    /// Total capacity; `None` when any ticket type is unlimited.
    pub capacity: Option<i64>,
    /// Paid orders with tickets for it (refunded ones included).
    pub orders: i64,
    /// Σ line totals of those orders' items for it, in minor units, as charged (gross
    /// or net per the shop's VAT mode), before refunds.
    pub revenue: i64,
}

/// A trimmed, non-empty text of at most `max` characters.
pub(crate) fn required_text(field: &str, value: &str, max: usize) -> Result<String, UserError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max {
        return Err(UserError::new(field, UserErrorCode::Invalid, format!("{field} is 1–{max} characters")));
    }
    Ok(trimmed.to_owned())
}

/// A trimmed text of at most `max` characters; blank becomes `None`.
pub(crate) fn optional_text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, UserError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() > max => {
            Err(UserError::new(field, UserErrorCode::Invalid, format!("{field} is at most {max} characters")))
        }
        Some(text) => Ok(Some(text.to_owned())),
    }
}

fn not_found(id: i64) -> ServiceError {
    UserError::new("id", UserErrorCode::EventNotFound, format!("no event with id {id} in this account")).into()
}

/// One of the account's events by id (deleted ones too).
pub async fn find(db: &impl ConnectionTrait, account_id: i64, id: i64) -> ServiceResult<Option<event::Model>> {
    Ok(event::Entity::find_by_id(id).filter(event::Column::AccountId.eq(account_id)).one(db).await?)
}

/// One of the account's live (not deleted) events, or EVENT_NOT_FOUND on `field`.
pub async fn live(db: &impl ConnectionTrait, account_id: i64, id: i64, field: &str) -> ServiceResult<event::Model> {
    find(db, account_id, id).await?.filter(|e| e.deleted_at.is_none()).ok_or_else(|| {
        UserError::new(field, UserErrorCode::EventNotFound, format!("no event with id {id} in this account")).into()
    })
}

/// Checks the fields of an event as they would be stored.
fn check(row: &event::ActiveModel, start_changed: bool) -> ServiceResult<()> {
    let mut errors = vec![];
    let starts_at = row.starts_at.clone().unwrap();
    if start_changed && starts_at <= now() {
        errors.push(UserError::new("startsAt", UserErrorCode::Invalid, "startsAt must lie in the future"));
    }
    if let Some(ends_at) = row.ends_at.clone().unwrap()
        && ends_at <= starts_at
    {
        errors.push(UserError::new("endsAt", UserErrorCode::Invalid, "endsAt must be after startsAt"));
    }
    if errors.is_empty() { Ok(()) } else { Err(ServiceError::User(errors)) }
}

/// Creates an event (DRAFT unless a status is given). With `dry_run`, validates and
/// returns the row that would be stored (id 0), writing nothing.
pub async fn create(
    db: &(impl ConnectionTrait + super::Writable),
    actor: &Actor,
    account_id: i64,
    new: NewEvent,
    dry_run: bool,
) -> ServiceResult<event::Model> {
    let mut errors = vec![];
    let name = required_text("name", &new.name, MAX_NAME_CHARS).map_err(|e| errors.push(e)).ok();
    let venue = optional_text("venue", new.venue, MAX_VENUE_CHARS).map_err(|e| errors.push(e)).ok().flatten();
    let description =
        optional_text("description", new.description, MAX_DESCRIPTION_CHARS).map_err(|e| errors.push(e)).ok().flatten();
    if new.starts_at.is_none() {
        errors.push(UserError::new("startsAt", UserErrorCode::Invalid, "startsAt is required"));
    }
    if !errors.is_empty() {
        return Err(ServiceError::User(errors));
    }
    let at = now();
    let mut row = event::ActiveModel {
        account_id: Set(account_id),
        name: Set(name.unwrap_or_default()),
        venue: Set(venue),
        starts_at: Set(new.starts_at.unwrap_or(at)),
        ends_at: Set(new.ends_at),
        status: Set(new.status.unwrap_or(EventStatus::Draft)),
        description: Set(description),
        deleted_at: Set(None),
        created_at: Set(at),
        updated_at: Set(Some(at)),
        ..Default::default()
    };
    check(&row, true)?;
    if dry_run {
        row.id = Set(0);
        return row.try_into_model().map_err(ServiceError::Db);
    }
    let txn = super::begin_write(db).await?;
    let saved = row.insert(&txn).await?;
    let after = audit::event_fields(&saved);
    audit::record(&txn, account_id, actor, "createEvent", (AuditTarget::Event, saved.id), None, Some(&after)).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Applies `patch` to one of the account's live events. Taking an event off sale
/// (any status but ON_SALE) signals the open carts holding its tickets: checkout will
/// refuse them.
pub async fn update(
    db: &DatabaseConnection,
    events: &CartEvents,
    actor: &Actor,
    account_id: i64,
    id: i64,
    patch: EventPatch,
    dry_run: bool,
) -> ServiceResult<event::Model> {
    let txn = super::begin_write(db).await?;
    let current = find(&txn, account_id, id).await?.filter(|e| e.deleted_at.is_none()).ok_or_else(|| not_found(id))?;
    let mut errors = vec![];
    let mut row: event::ActiveModel = current.clone().into();
    if let Some(name) = &patch.name {
        match required_text("name", name, MAX_NAME_CHARS) {
            Ok(name) => row.name = Set(name),
            Err(e) => errors.push(e),
        }
    }
    if let Some(venue) = patch.venue {
        match optional_text("venue", venue, MAX_VENUE_CHARS) {
            Ok(venue) => row.venue = Set(venue),
            Err(e) => errors.push(e),
        }
    }
    if let Some(description) = patch.description {
        match optional_text("description", description, MAX_DESCRIPTION_CHARS) {
            Ok(description) => row.description = Set(description),
            Err(e) => errors.push(e),
        }
    }
    if let Some(starts_at) = patch.starts_at {
        row.starts_at = Set(starts_at);
    }
    if let Some(ends_at) = patch.ends_at {
        row.ends_at = Set(ends_at);
    }
    if let Some(status) = patch.status {
        row.status = Set(status);
    }
    if !errors.is_empty() {
        return Err(ServiceError::User(errors));
    }
    check(&row, patch.starts_at.is_some_and(|s| s != current.starts_at))?;
    row.updated_at = Set(Some(now()));
    if dry_run {
        return row.try_into_model().map_err(ServiceError::Db);
    }
    let saved = row.update(&txn).await?;
    let (before, after) = (audit::event_fields(&current), audit::event_fields(&saved));
    audit::record(&txn, account_id, actor, "updateEvent", (AuditTarget::Event, id), Some(&before), Some(&after))
        .await?;
    let carts = if saved.status != current.status { open_carts_of_event(&txn, id).await? } else { vec![] };
    txn.commit().await?;
    events.publish_all(carts);
    Ok(saved)
}

/// Deletes one of the account's events: soft when any order or promo code refers to
/// it, for real (with its ticket types) otherwise. Its tickets leave every open cart.
pub async fn delete(
    db: &DatabaseConnection,
    events: &CartEvents,
    actor: &Actor,
    account_id: i64,
    id: i64,
    dry_run: bool,
) -> ServiceResult<(event::Model, Deletion)> {
    let txn = super::begin_write(db).await?;
    let current = find(&txn, account_id, id).await?.ok_or_else(|| not_found(id))?;
    if current.deleted_at.is_some() {
        return Ok((current, Deletion::Soft));
    }
    let sold = order_item::Entity::find().filter(order_item::Column::EventId.eq(id)).limit(1).count(&txn).await? > 0;
    let scoped = promo_code::Entity::find().filter(promo_code::Column::EventId.eq(id)).limit(1).count(&txn).await? > 0;
    let deletion = if sold || scoped { Deletion::Soft } else { Deletion::Hard };
    if dry_run {
        return Ok((current, deletion));
    }
    let carts = open_carts_of_event(&txn, id).await?;
    let ticket_ids: Vec<i64> = ticket_type::Entity::find()
        .select_only()
        .column(ticket_type::Column::Id)
        .filter(ticket_type::Column::EventId.eq(id))
        .into_tuple()
        .all(&txn)
        .await?;
    remove_from_open_carts(&txn, &ticket_ids).await?;
    let before = audit::event_fields(&current);
    let result = match deletion {
        Deletion::Soft => {
            let at = now();
            let mut row: event::ActiveModel = current.into();
            row.deleted_at = Set(Some(at));
            row.updated_at = Set(Some(at));
            let saved = row.update(&txn).await?;
            ticket_type::Entity::update_many()
                .col_expr(ticket_type::Column::DeletedAt, Expr::value(at))
                .filter(ticket_type::Column::EventId.eq(id))
                .filter(ticket_type::Column::DeletedAt.is_null())
                .exec(&txn)
                .await?;
            let after = audit::event_fields(&saved);
            audit::record(
                &txn,
                account_id,
                actor,
                "deleteEvent",
                (AuditTarget::Event, id),
                Some(&before),
                Some(&after),
            )
            .await?;
            saved
        }
        Deletion::Hard => {
            // Closed carts may still name its ticket types; their lines go with them.
            cart_line::Entity::delete_many()
                .filter(cart_line::Column::TicketTypeId.is_in(ticket_ids))
                .exec(&txn)
                .await?;
            ticket_type::Entity::delete_many().filter(ticket_type::Column::EventId.eq(id)).exec(&txn).await?;
            event::Entity::delete_by_id(id).exec(&txn).await?;
            audit::record(&txn, account_id, actor, "deleteEvent", (AuditTarget::Event, id), Some(&before), None)
                .await?;
            current
        }
    };
    txn.commit().await?;
    events.publish_all(carts);
    Ok((result, deletion))
}

/// Open carts with tickets of the event.
pub async fn open_carts_of_event(db: &impl ConnectionTrait, event_id: i64) -> ServiceResult<Vec<i64>> {
    let ticket_ids = ticket_type::Entity::find()
        .select_only()
        .column(ticket_type::Column::Id)
        .filter(ticket_type::Column::EventId.eq(event_id))
        .into_tuple::<i64>()
        .all(db)
        .await?;
    open_carts_with_tickets(db, &ticket_ids).await
}

/// Cart lines of carts still open.
fn in_open_cart() -> sea_orm::sea_query::SimpleExpr {
    cart_line::Column::CartId.in_subquery(
        sea_orm::sea_query::Query::select()
            .column(cart::Column::Id)
            .from(cart::Entity)
            .and_where(Expr::col(cart::Column::Status).eq(CartStatus::Open))
            .to_owned(),
    )
}

/// Open carts with any of these ticket types.
pub async fn open_carts_with_tickets(db: &impl ConnectionTrait, ticket_type_ids: &[i64]) -> ServiceResult<Vec<i64>> {
    if ticket_type_ids.is_empty() {
        return Ok(vec![]);
    }
    let mut carts: Vec<i64> = cart_line::Entity::find()
        .select_only()
        .column(cart_line::Column::CartId)
        .filter(cart_line::Column::TicketTypeId.is_in(ticket_type_ids.iter().copied()))
        .filter(in_open_cart())
        .into_tuple()
        .all(db)
        .await?;
    carts.sort_unstable();
    carts.dedup();
    Ok(carts)
}

/// Takes these ticket types out of every open cart.
pub async fn remove_from_open_carts(db: &impl ConnectionTrait, ticket_type_ids: &[i64]) -> ServiceResult<()> {
    if ticket_type_ids.is_empty() {
        return Ok(());
    }
    cart_line::Entity::delete_many()
        .filter(cart_line::Column::TicketTypeId.is_in(ticket_type_ids.iter().copied()))
        .filter(in_open_cart())
        .exec(db)
        .await?;
    Ok(())
}

/// One page of the account's events, soonest first (then by id); `after` is the last
/// id of the previous page's cursor `(starts_at, id)`.
pub async fn list(
    db: &impl ConnectionTrait,
    account_id: i64,
    filter: &Filter,
    first: u64,
    after: Option<(DateTime<Utc>, i64)>,
) -> ServiceResult<(Vec<event::Model>, bool)> {
    use event::Column as C;
    let mut query = event::Entity::find().filter(C::AccountId.eq(account_id));
    query =
        if filter.deleted { query.filter(C::DeletedAt.is_not_null()) } else { query.filter(C::DeletedAt.is_null()) };
    if let Some(status) = filter.status {
        query = query.filter(C::Status.eq(status));
    }
    if let Some(search) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        use super::promo_codes::MAX_SEARCH_CHARS;
        if search.chars().count() > MAX_SEARCH_CHARS {
            let message = format!("search for at most {MAX_SEARCH_CHARS} characters");
            return Err(UserError::new("search", UserErrorCode::Invalid, message).into());
        }
        let pattern = format!("%{}%", super::escape_like(&search.to_lowercase()));
        let like = |c: C| {
            Expr::expr(sea_orm::sea_query::Func::lower(Expr::col(c)))
                .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
        };
        query = query.filter(Condition::any().add(like(C::Name)).add(like(C::Venue)));
    }
    if let Some((starts_at, id)) = after {
        query = query.filter(
            Condition::any()
                .add(C::StartsAt.gt(starts_at))
                .add(Condition::all().add(C::StartsAt.eq(starts_at)).add(C::Id.gt(id))),
        );
    }
    let first = first.clamp(1, MAX_PAGE);
    let mut rows = query.order_by_asc(C::StartsAt).order_by_asc(C::Id).limit(first + 1).all(db).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}

/// The account's public events: ON_SALE and not deleted, soonest first.
pub async fn on_sale(db: &impl ConnectionTrait, account_id: i64) -> ServiceResult<Vec<event::Model>> {
    Ok(event::Entity::find()
        .filter(event::Column::AccountId.eq(account_id))
        .filter(event::Column::Status.eq(EventStatus::OnSale))
        .filter(event::Column::DeletedAt.is_null())
        .order_by_asc(event::Column::StartsAt)
        .order_by_asc(event::Column::Id)
        .all(db)
        .await?)
}

#[derive(Debug, FromQueryResult)]
struct RevenueRow {
    event_id: i64,
    orders: i64,
    revenue: i64,
}

/// Sales of these events: counters from their live ticket types, orders and revenue
/// from paid orders. Two queries, however many events.
pub async fn sales(db: &impl ConnectionTrait, event_ids: &[i64]) -> ServiceResult<HashMap<i64, Sales>> {
    let mut out: HashMap<i64, Sales> =
        event_ids.iter().map(|id| (*id, Sales { capacity: Some(0), ..Sales::default() })).collect();
    if event_ids.is_empty() {
        return Ok(out);
    }
    let tickets = ticket_type::Entity::find()
        .filter(ticket_type::Column::EventId.is_in(event_ids.iter().copied()))
        .filter(ticket_type::Column::DeletedAt.is_null())
        .all(db)
        .await?;
    for t in tickets {
        let s = out.entry(t.event_id).or_default();
        s.sold += t.sold_count;
        s.held += t.held_count;
        s.capacity = match (s.capacity, t.capacity) {
            (Some(total), Some(c)) => Some(total + c),
            _ => None,
        };
    }
    let backend = db.get_database_backend();
    let ids = event_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    let paid = [OrderStatus::Paid, OrderStatus::PartiallyRefunded, OrderStatus::Refunded]
        .map(|s| format!("'{}'", sea_orm::ActiveEnum::to_value(&s)))
        .join(", ");
    let cast = if backend == DbBackend::Postgres { "::BIGINT" } else { "" };
    let sql = format!(
        "SELECT i.event_id AS event_id, COUNT(DISTINCT i.order_id){cast} AS orders, \
         COALESCE(SUM(i.line_total), 0){cast} AS revenue FROM order_items i JOIN orders o ON o.id = i.order_id \
         WHERE i.event_id IN ({ids}) AND o.status IN ({paid}) GROUP BY i.event_id"
    );
    let rows = RevenueRow::find_by_statement(Statement::from_string(backend, sql)).all(db).await?;
    for row in rows {
        let s = out.entry(row.event_id).or_default();
        s.orders = row.orders;
        s.revenue = row.revenue;
    }
    Ok(out)
}
