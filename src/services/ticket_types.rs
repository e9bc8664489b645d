//! Ticket types of an event: create, change, delete; and whether one sells right now.
//!
//! A price or VAT change never touches orders (they keep their snapshot) and reprices
//! every open cart holding the type, which is signalled to its subscribers. Capacity
//! never goes below what is sold and held: the change is one conditional `UPDATE`, so
//! a checkout holding seats at the same moment cannot slip under it.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, Set, TryIntoModel,
};

use crate::domain::calendar::ShopZone;
use crate::domain::{Currency, Money, VatRate};
use crate::entities::enums::{AuditTarget, EventStatus};
use crate::entities::{event, order_item, ticket_type};
use crate::events::CartEvents;

use super::audit::{self, Actor};
use super::events::{self as event_service, Deletion, MAX_NAME_CHARS, required_text};
use super::{ServiceError, ServiceResult, UserError, UserErrorCode, now};

/// Largest capacity of one ticket type.
const MAX_CAPACITY: i64 = 10_000_000;

/// Highest unit price in minor units (100 million EUR, 10 billion JPY): far above any
/// ticket, and far enough below `i64::MAX` that no cart total, VAT sum or revenue over a
/// million orders can overflow.
pub const MAX_PRICE_MINOR: i64 = 10_000_000_000;

/// A new ticket type as a caller submits it.
#[derive(Debug, Clone, Default)]
pub struct NewTicketType {
    /// The event it admits to.
    pub event_id: i64,
    /// Its name, e.g. "Standing".
    pub name: String,
    /// Unit price, a decimal string in the shop currency; gross or net per the shop.
    pub price: String,
    /// VAT rate in percent; the shop's default when omitted.
    pub vat_rate: Option<String>,
    /// Tickets available in total; unlimited when omitted.
    pub capacity: Option<i64>,
    /// Sales open at this instant; with the event when omitted.
    pub sales_from: Option<DateTime<Utc>>,
    /// Sales close after this instant; with the event when omitted.
    pub sales_until: Option<DateTime<Utc>>,
    /// Not listed publicly (still sold by id).
    pub hidden: bool,
}

/// Changes to a ticket type: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct TicketTypePatch {
    /// New name.
    pub name: Option<String>,
    /// New price (decimal string).
    pub price: Option<String>,
    /// New VAT rate; `Some(None)` = the shop's default.
    pub vat_rate: Option<Option<String>>,
    /// New capacity; `Some(None)` = unlimited. Never below sold + held.
    pub capacity: Option<Option<i64>>,
    /// New sales start.
    pub sales_from: Option<Option<DateTime<Utc>>>,
    /// New sales end.
    pub sales_until: Option<Option<DateTime<Utc>>>,
    /// Hide or list.
    pub hidden: Option<bool>,
}

fn not_found(id: i64) -> ServiceError {
    UserError::new("id", UserErrorCode::TicketTypeNotFound, format!("no ticket type with id {id} in this account"))
        .into()
}

/// One of the account's ticket types by id (deleted ones too).
pub async fn find(db: &impl ConnectionTrait, account_id: i64, id: i64) -> ServiceResult<Option<ticket_type::Model>> {
    Ok(ticket_type::Entity::find_by_id(id).filter(ticket_type::Column::AccountId.eq(account_id)).one(db).await?)
}

/// Why a ticket type does not sell at `at`, as a buyer-facing error on `field` (times
/// on the shop's clock, `zone`); `Ok` when it does.
pub fn sellable(
    event: &event::Model,
    ticket: &ticket_type::Model,
    at: DateTime<Utc>,
    zone: ShopZone,
    field: &str,
) -> Result<(), UserError> {
    if ticket.deleted_at.is_some() || event.deleted_at.is_some() {
        return Err(UserError::new(field, UserErrorCode::TicketTypeNotFound, "This ticket is not sold here."));
    }
    if event.status != EventStatus::OnSale {
        let why = match event.status {
            EventStatus::Cancelled => "was cancelled",
            EventStatus::SalesEnded => "is no longer on sale",
            _ => "is not on sale yet",
        };
        return Err(UserError::new(field, UserErrorCode::NotOnSale, format!("{} {why}.", event.name)));
    }
    if let Some(from) = ticket.sales_from.filter(|from| *from > at) {
        return Err(UserError::new(
            field,
            UserErrorCode::SalesNotStarted,
            format!("Sales of {} start on {}.", ticket.name, zone.local(from).format("%Y-%m-%d at %H:%M (UTC%:z)")),
        ));
    }
    if ticket.sales_until.is_some_and(|until| until < at) {
        return Err(UserError::new(field, UserErrorCode::SalesEnded, format!("Sales of {} have ended.", ticket.name)));
    }
    Ok(())
}

fn parse_price(price: &str, currency: Currency) -> Result<i64, UserError> {
    match Money::parse(price, currency) {
        Ok(m) if (0..=MAX_PRICE_MINOR).contains(&m.minor()) => Ok(m.minor()),
        Ok(_) => Err(UserError::new(
            "price",
            UserErrorCode::Invalid,
            format!("price is between 0 and {}", Money::from_minor(MAX_PRICE_MINOR, currency)),
        )),
        Err(e) => Err(UserError::new("price", UserErrorCode::Invalid, e.to_string())),
    }
}

fn parse_vat(vat: Option<&str>) -> Result<Option<i32>, UserError> {
    match vat.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => VatRate::parse_percent(v)
            .map(|r| Some(r.basis_points() as i32))
            .map_err(|e| UserError::new("vatRate", UserErrorCode::Invalid, e.to_string())),
    }
}

fn check_capacity(capacity: Option<i64>) -> Result<(), UserError> {
    match capacity {
        Some(c) if !(0..=MAX_CAPACITY).contains(&c) => Err(UserError::new(
            "capacity",
            UserErrorCode::Invalid,
            format!("capacity is between 0 and {MAX_CAPACITY}, or null for unlimited"),
        )),
        _ => Ok(()),
    }
}

fn check_window(from: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> Result<(), UserError> {
    match (from, until) {
        (Some(from), Some(until)) if until <= from => {
            Err(UserError::new("salesUntil", UserErrorCode::Invalid, "salesUntil must be after salesFrom"))
        }
        _ => Ok(()),
    }
}

fn collect(errors: Vec<UserError>) -> ServiceResult<()> {
    if errors.is_empty() { Ok(()) } else { Err(ServiceError::User(errors)) }
}

/// Creates a ticket type under one of the account's live events. With `dry_run`,
/// validates and returns the row that would be stored (id 0).
pub async fn create(
    db: &(impl ConnectionTrait + super::Writable),
    actor: &Actor,
    account_id: i64,
    new: NewTicketType,
    dry_run: bool,
) -> ServiceResult<ticket_type::Model> {
    // The currency is read in the transaction: it decides what "19.99" means.
    let txn = super::begin_write(db).await?;
    let currency = super::accounts::currency_of(&txn, account_id).await?;
    let mut errors = vec![];
    let name = required_text("name", &new.name, MAX_NAME_CHARS).map_err(|e| errors.push(e)).ok();
    let price = parse_price(&new.price, currency).map_err(|e| errors.push(e)).ok();
    let vat = parse_vat(new.vat_rate.as_deref()).map_err(|e| errors.push(e)).ok().flatten();
    let _ = check_capacity(new.capacity).map_err(|e| errors.push(e));
    let _ = check_window(new.sales_from, new.sales_until).map_err(|e| errors.push(e));
    match event_service::live(&txn, account_id, new.event_id, "eventId").await {
        Ok(_) => {}
        Err(ServiceError::User(e)) => errors.extend(e),
        Err(e) => return Err(e),
    }
    collect(errors)?;
    let at = now();
    let mut row = ticket_type::ActiveModel {
        account_id: Set(account_id),
        event_id: Set(new.event_id),
        name: Set(name.unwrap_or_default()),
        price: Set(price.unwrap_or_default()),
        vat_rate_bp: Set(vat),
        capacity: Set(new.capacity),
        sold_count: Set(0),
        held_count: Set(0),
        sales_from: Set(new.sales_from),
        sales_until: Set(new.sales_until),
        hidden: Set(new.hidden),
        deleted_at: Set(None),
        created_at: Set(at),
        updated_at: Set(Some(at)),
        ..Default::default()
    };
    if dry_run {
        row.id = Set(0);
        return row.try_into_model().map_err(ServiceError::Db);
    }
    let saved = row.insert(&txn).await?;
    let after = audit::ticket_type_fields(&saved, currency);
    audit::record(&txn, account_id, actor, "createTicketType", (AuditTarget::TicketType, saved.id), None, Some(&after))
        .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Applies `patch` to one of the account's live ticket types.
pub async fn update(
    db: &DatabaseConnection,
    events: &CartEvents,
    actor: &Actor,
    account_id: i64,
    id: i64,
    patch: TicketTypePatch,
    dry_run: bool,
) -> ServiceResult<ticket_type::Model> {
    let txn = super::begin_write(db).await?;
    let currency = super::accounts::currency_of(&txn, account_id).await?;
    let current = find(&txn, account_id, id).await?.filter(|t| t.deleted_at.is_none()).ok_or_else(|| not_found(id))?;
    let mut row: ticket_type::ActiveModel = current.clone().into();
    let mut errors = vec![];
    if let Some(name) = &patch.name {
        match required_text("name", name, MAX_NAME_CHARS) {
            Ok(name) => row.name = Set(name),
            Err(e) => errors.push(e),
        }
    }
    if let Some(price) = &patch.price {
        match parse_price(price, currency) {
            Ok(price) => row.price = Set(price),
            Err(e) => errors.push(e),
        }
    }
    if let Some(vat) = &patch.vat_rate {
        match parse_vat(vat.as_deref()) {
            Ok(vat) => row.vat_rate_bp = Set(vat),
            Err(e) => errors.push(e),
        }
    }
    if let Some(capacity) = patch.capacity {
        match check_capacity(capacity) {
            Ok(()) => row.capacity = Set(capacity),
            Err(e) => errors.push(e),
        }
    }
    if let Some(from) = patch.sales_from {
        row.sales_from = Set(from);
    }
    if let Some(until) = patch.sales_until {
        row.sales_until = Set(until);
    }
    if let Some(hidden) = patch.hidden {
        row.hidden = Set(hidden);
    }
    if let Err(e) = check_window(row.sales_from.clone().unwrap(), row.sales_until.clone().unwrap()) {
        errors.push(e);
    }
    if let Some(Some(capacity)) = patch.capacity
        && capacity < current.sold_count + current.held_count
    {
        errors.push(below_sold(&current, capacity));
    }
    collect(errors)?;
    row.updated_at = Set(Some(now()));
    if dry_run {
        return row.try_into_model().map_err(ServiceError::Db);
    }
    // Sold and held may have grown since the read: the capacity is set only if it
    // still covers them, in the same statement.
    if let Some(capacity) = patch.capacity {
        let mut update = ticket_type::Entity::update_many()
            .col_expr(ticket_type::Column::Capacity, Expr::value(capacity))
            .filter(ticket_type::Column::Id.eq(id));
        if let Some(capacity) = capacity {
            update = update.filter(Condition::all().add(
                Expr::col(ticket_type::Column::SoldCount).add(Expr::col(ticket_type::Column::HeldCount)).lte(capacity),
            ));
        }
        if update.exec(&txn).await?.rows_affected == 0 {
            txn.rollback().await?;
            let fresh = find(db, account_id, id).await?.ok_or_else(|| not_found(id))?;
            return Err(below_sold(&fresh, capacity.unwrap_or_default()).into());
        }
        row.capacity = sea_orm::ActiveValue::Unchanged(capacity);
    }
    let saved = row.update(&txn).await?;
    let (before, after) = (audit::ticket_type_fields(&current, currency), audit::ticket_type_fields(&saved, currency));
    audit::record(
        &txn,
        account_id,
        actor,
        "updateTicketType",
        (AuditTarget::TicketType, id),
        Some(&before),
        Some(&after),
    )
    .await?;
    let carts = event_service::open_carts_with_tickets(&txn, &[id]).await?;
    txn.commit().await?;
    events.publish_all(carts);
    Ok(saved)
}

fn below_sold(ticket: &ticket_type::Model, capacity: i64) -> UserError {
    UserError::new(
        "capacity",
        UserErrorCode::CapacityBelowSold,
        format!(
            "{} has {} sold and {} held by checkouts in progress: capacity cannot go below {} (asked for {capacity})",
            ticket.name,
            ticket.sold_count,
            ticket.held_count,
            ticket.sold_count + ticket.held_count
        ),
    )
}

/// Deletes one of the account's ticket types: soft when any order has it, for real
/// otherwise. It leaves every open cart.
pub async fn delete(
    db: &DatabaseConnection,
    events: &CartEvents,
    actor: &Actor,
    account_id: i64,
    id: i64,
    dry_run: bool,
) -> ServiceResult<(ticket_type::Model, Deletion)> {
    let txn = super::begin_write(db).await?;
    let currency = super::accounts::currency_of(&txn, account_id).await?;
    let current = find(&txn, account_id, id).await?.ok_or_else(|| not_found(id))?;
    if current.deleted_at.is_some() {
        return Ok((current, Deletion::Soft));
    }
    let sold =
        order_item::Entity::find().filter(order_item::Column::TicketTypeId.eq(id)).limit(1).count(&txn).await? > 0;
    let deletion = if sold || current.held_count > 0 { Deletion::Soft } else { Deletion::Hard };
    if dry_run {
        return Ok((current, deletion));
    }
    let carts = event_service::open_carts_with_tickets(&txn, &[id]).await?;
    event_service::remove_from_open_carts(&txn, &[id]).await?;
    let before = audit::ticket_type_fields(&current, currency);
    let result = match deletion {
        Deletion::Soft => {
            let at = now();
            let mut row: ticket_type::ActiveModel = current.into();
            row.deleted_at = Set(Some(at));
            row.updated_at = Set(Some(at));
            let saved = row.update(&txn).await?;
            let after = audit::ticket_type_fields(&saved, currency);
            let target = (AuditTarget::TicketType, id);
            audit::record(&txn, account_id, actor, "deleteTicketType", target, Some(&before), Some(&after)).await?;
            saved
        }
        Deletion::Hard => {
            crate::entities::cart_line::Entity::delete_many()
                .filter(crate::entities::cart_line::Column::TicketTypeId.eq(id))
                .exec(&txn)
                .await?;
            ticket_type::Entity::delete_by_id(id).exec(&txn).await?;
            audit::record(
                &txn,
                account_id,
                actor,
                "deleteTicketType",
                (AuditTarget::TicketType, id),
                Some(&before),
                None,
            )
            .await?;
            current
        }
    };
    txn.commit().await?;
    events.publish_all(carts);
    Ok((result, deletion))
}

/// Whether every ticket type of a cart still sells now: one query for their events (and
/// one for the shop's time zone, only to word a sales start). The first that does not is
/// the error, on `field`.
pub async fn check_sellable(
    db: &impl ConnectionTrait,
    tickets: &[&ticket_type::Model],
    field: &str,
) -> ServiceResult<()> {
    let ids: Vec<i64> = tickets.iter().map(|t| t.event_id).collect();
    let events = super::batch::events(db, &ids).await?;
    check_sellable_with(db, tickets, &events, field).await
}

/// [`check_sellable`] with the events already read (by id; a missing one is gone).
pub async fn check_sellable_with(
    db: &impl ConnectionTrait,
    tickets: &[&ticket_type::Model],
    events: &std::collections::HashMap<i64, event::Model>,
    field: &str,
) -> ServiceResult<()> {
    let pairs: Vec<_> = tickets.iter().map(|t| (*t, events.get(&t.event_id))).collect();
    check_pairs(db, &pairs, field).await
}

/// The checks of [`check_sellable`] on ticket types with their events (`None`: gone).
/// The shop's time zone is read only for the message of a sale that has not started.
async fn check_pairs(
    db: &impl ConnectionTrait,
    pairs: &[(&ticket_type::Model, Option<&event::Model>)],
    field: &str,
) -> ServiceResult<()> {
    let at = now();
    for &(ticket, event) in pairs {
        let Some(event) = event else { return Err(not_found(ticket.id)) };
        if let Err(e) = sellable(event, ticket, at, ShopZone::UTC, field) {
            if e.code != UserErrorCode::SalesNotStarted {
                return Err(e.into());
            }
            let zone = super::accounts::find(db, ticket.account_id)
                .await?
                .and_then(|a| ShopZone::parse(&a.time_zone).ok())
                .unwrap_or_default();
            return Err(sellable(event, ticket, at, zone, field).err().unwrap_or(e).into());
        }
    }
    Ok(())
}

/// [`check_sellable`] for ticket types read afresh by id, inside the caller's write
/// transaction, each with its event in the same statement: the `SELECT` to send in its
/// batch ([`check_sellable_rows`] checks what it returned).
pub fn sellable_query(ids: &[i64]) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::{JoinType, QueryTrait, RelationDef};
    let with_event: RelationDef =
        ticket_type::Entity::belongs_to(event::Entity).from(ticket_type::Column::EventId).to(event::Column::Id).into();
    ticket_type::Entity::find()
        .select_also(event::Entity)
        .join(JoinType::LeftJoin, with_event)
        .filter(ticket_type::Column::Id.is_in(ids.iter().copied()))
        .into_query()
}

/// [`check_sellable`] for ticket types read afresh by id, with their events, in one
/// statement ([`sellable_query`]).
pub async fn check_sellable_ids(db: &impl ConnectionTrait, ids: &[i64], field: &str) -> ServiceResult<()> {
    let rows = db.query_all(&sellable_query(ids)).await?;
    check_sellable_rows(db, &rows, ids.len(), field).await
}

/// [`check_sellable`] on the rows a [`sellable_query`] of `wanted` ids returned.
pub async fn check_sellable_rows(
    db: &impl ConnectionTrait,
    rows: &[sea_orm::QueryResult],
    wanted: usize,
    field: &str,
) -> ServiceResult<()> {
    use sea_orm::{FromQueryResult, IdenStatic, SelectA, SelectB};
    if rows.len() < wanted {
        let message = "A ticket in your cart is not sold any more.";
        return Err(UserError::new(field, UserErrorCode::TicketTypeNotFound, message).into());
    }
    let read = rows
        .iter()
        .map(|row| {
            Ok((
                ticket_type::Model::from_query_result(row, SelectA.as_str())?,
                event::Model::from_query_result_optional(row, SelectB.as_str())?,
            ))
        })
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()?;
    let pairs: Vec<_> = read.iter().map(|(t, e)| (t, e.as_ref())).collect();
    check_pairs(db, &pairs, field).await
}
