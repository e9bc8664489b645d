//! REST mirror of the back office: events, ticket types, shop settings and the audit
//! log under `/admin`, JSON in snake_case, the same services and rules as GraphQL
//! (and the same status codes and error envelope as `/admin/promo_codes`).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AppState;
use super::rest::{DecimalInput, RestError, WriteParams, double_option, principal, writer, zone_of};
use crate::domain::calendar::ShopZone;
use crate::domain::{Money, VatRate};
use crate::entities::enums::{AuditTarget, AuditVia, EventStatus};
use crate::entities::{account, event, ticket_type};
use crate::services::audit::{self, Actor};
use crate::services::events::{self as event_service, Deletion, EventPatch, NewEvent};
use crate::services::ticket_types::{self, NewTicketType, TicketTypePatch};
use crate::services::{UserError, UserErrorCode, accounts, capacity};

/// Items per page when `limit` is not given.
const DEFAULT_PAGE: u64 = 50;

fn status_json(status: EventStatus) -> String {
    status.to_string()
}

fn parse_status(s: &str) -> Result<EventStatus, RestError> {
    match s.to_ascii_uppercase().as_str() {
        "DRAFT" => Ok(EventStatus::Draft),
        "ON_SALE" => Ok(EventStatus::OnSale),
        "SALES_ENDED" => Ok(EventStatus::SalesEnded),
        "CANCELLED" => Ok(EventStatus::Cancelled),
        _ => Err(RestError::Invalid(vec![UserError::new(
            "status",
            UserErrorCode::Invalid,
            format!("status `{s}` is not one of DRAFT, ON_SALE, SALES_ENDED, CANCELLED"),
        )])),
    }
}

fn deletion_json(d: Deletion) -> &'static str {
    match d {
        Deletion::Hard => "hard",
        Deletion::Soft => "soft",
    }
}

/// The `{id}` of a path; anything but a number is simply not found.
pub(super) fn path_id(id: &str, what: &str) -> Result<i64, RestError> {
    id.parse::<i64>().map_err(|_| RestError::NotFound(format!("no {what} with id {id} in this account")))
}

async fn shop_of(state: &AppState, account_id: i64) -> Result<account::Model, RestError> {
    accounts::find(&state.db, account_id).await?.ok_or(RestError::Unauthenticated("the key's account no longer exists"))
}

fn ticket_json(t: &ticket_type::Model, shop: &account::Model) -> Value {
    let zone = ShopZone::parse(&shop.time_zone).unwrap_or_default();
    let bp = t.vat_rate_bp.unwrap_or(shop.vat_rate_bp);
    json!({
        "id": t.id,
        "event_id": t.event_id,
        "name": t.name,
        "price": Money::from_minor(t.price, *shop.currency).to_string(),
        "currency": shop.currency.code(),
        "vat_rate": VatRate::from_basis_points(bp.into()).map(|r| r.to_string()).ok(),
        "capacity": t.capacity,
        "sold": t.sold_count,
        "held": t.held_count,
        "available": capacity::available(t),
        "sales_from": t.sales_from.map(|at| zone.local(at)),
        "sales_until": t.sales_until.map(|at| zone.local(at)),
        "hidden": t.hidden,
        "deleted_at": t.deleted_at,
    })
}

/// Events as the REST API shows them, with their ticket types and sales: two queries
/// for the lot, however many.
async fn events_json(
    state: &AppState,
    events: &[event::Model],
    shop: &account::Model,
) -> Result<Vec<Value>, RestError> {
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    let mut tickets = crate::services::batch::ticket_types_by_event(&state.db, &ids).await?;
    let mut sales = event_service::sales(&state.db, &ids).await?;
    Ok(events
        .iter()
        .map(|e| {
            let tickets = tickets.remove(&e.id).unwrap_or_default();
            event_json(e, &tickets, sales.remove(&e.id).unwrap_or_default(), shop)
        })
        .collect())
}

async fn one_event_json(state: &AppState, e: &event::Model, shop: &account::Model) -> Result<Value, RestError> {
    Ok(events_json(state, std::slice::from_ref(e), shop).await?.remove(0))
}

fn event_json(
    e: &event::Model,
    tickets: &[ticket_type::Model],
    sales: event_service::Sales,
    shop: &account::Model,
) -> Value {
    let zone = ShopZone::parse(&shop.time_zone).unwrap_or_default();
    json!({
        "id": e.id,
        "name": e.name,
        "venue": e.venue,
        "starts_at": zone.local(e.starts_at),
        "ends_at": e.ends_at.map(|at| zone.local(at)),
        "status": status_json(e.status),
        "description": e.description,
        "deleted_at": e.deleted_at,
        "ticket_types": tickets.iter().filter(|t| e.deleted_at.is_some() || t.deleted_at.is_none()).map(|t| ticket_json(t, shop)).collect::<Vec<_>>(),
        "sales": {
            "tickets_sold": sales.sold,
            "tickets_held": sales.held,
            "capacity": sales.capacity,
            "orders": sales.orders,
            "revenue": Money::from_minor(sales.revenue, *shop.currency).to_string(),
        },
    })
}

/// `GET /admin/events` parameters.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventListParams {
    status: Option<String>,
    search: Option<String>,
    #[serde(default)]
    deleted: bool,
    limit: Option<u64>,
    cursor: Option<String>,
}

fn cursor_of(e: &event::Model) -> String {
    format!("{}_{}", e.starts_at.timestamp_micros(), e.id)
}

fn parse_cursor(c: &str) -> Option<(DateTime<Utc>, i64)> {
    let (micros, id) = c.split_once('_')?;
    Some((DateTime::from_timestamp_micros(micros.parse().ok()?)?, id.parse().ok()?))
}

/// `GET /admin/events`: `{"data": [...], "next_cursor": "…" | null}`, soonest first.
pub async fn list_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<EventListParams>, QueryRejection>,
) -> Result<Json<Value>, RestError> {
    let p = principal(&state, &headers).await?;
    let Query(params) = params?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=event_service::MAX_PAGE).contains(&limit) {
        return Err(RestError::Malformed(format!("limit must be between 1 and {}", event_service::MAX_PAGE)));
    }
    let cursor = match params.cursor.as_deref() {
        None => None,
        Some(c) => {
            Some(parse_cursor(c).ok_or_else(|| RestError::Malformed("cursor is not a cursor of this list".into()))?)
        }
    };
    let filter = event_service::Filter {
        status: params.status.as_deref().map(parse_status).transpose()?,
        search: params.search,
        deleted: params.deleted,
    };
    let shop = shop_of(&state, p.account_id).await?;
    let (rows, more) = event_service::list(&state.db, p.account_id, &filter, limit, cursor).await?;
    let data = events_json(&state, &rows, &shop).await?;
    let next_cursor = more.then(|| rows.last().map(cursor_of)).flatten();
    Ok(Json(json!({ "data": data, "next_cursor": next_cursor })))
}

/// `POST /admin/events` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEventBody {
    #[serde(default)]
    name: String,
    venue: Option<String>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    status: Option<String>,
    description: Option<String>,
}

/// `POST /admin/events`: 201 with the event (200 on `?dry_run=true`).
pub async fn create_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<WriteParams>, QueryRejection>,
    body: Result<Json<CreateEventBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), RestError> {
    let p = writer(&state, &headers).await?;
    let Query(params) = params?;
    let Json(body) = body?;
    let new = NewEvent {
        name: body.name,
        venue: body.venue,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        status: body.status.as_deref().map(parse_status).transpose()?,
        description: body.description,
    };
    let actor = Actor::key(&p, AuditVia::Rest);
    let row = event_service::create(&state.db, &actor, p.account_id, new, params.dry_run).await?;
    let shop = shop_of(&state, p.account_id).await?;
    let status = if params.dry_run { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(one_event_json(&state, &row, &shop).await?)))
}

/// `GET /admin/events/{id}` (deleted ones too).
pub async fn show_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, RestError> {
    let Path(id) = id?;
    let p = principal(&state, &headers).await?;
    let numeric = path_id(&id, "event")?;
    let row = event_service::find(&state.db, p.account_id, numeric)
        .await?
        .ok_or_else(|| RestError::NotFound(format!("no event with id {id} in this account")))?;
    let shop = shop_of(&state, p.account_id).await?;
    Ok(Json(one_event_json(&state, &row, &shop).await?))
}

/// `PATCH /admin/events/{id}` body: absent fields stay, `null` clears.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchEventBody {
    name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    venue: Option<Option<String>>,
    starts_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "double_option")]
    ends_at: Option<Option<DateTime<Utc>>>,
    status: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    description: Option<Option<String>>,
}

/// `PATCH /admin/events/{id}`.
pub async fn update_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<WriteParams>, QueryRejection>,
    body: Result<Json<PatchEventBody>, JsonRejection>,
) -> Result<Json<Value>, RestError> {
    let Path(id) = id?;
    let p = writer(&state, &headers).await?;
    let Query(params) = params?;
    let numeric = path_id(&id, "event")?;
    let Json(body) = body?;
    let patch = EventPatch {
        name: body.name,
        venue: body.venue,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        status: body.status.as_deref().map(parse_status).transpose()?,
        description: body.description,
    };
    let actor = Actor::key(&p, AuditVia::Rest);
    let row =
        event_service::update(&state.db, &state.events, &actor, p.account_id, numeric, patch, params.dry_run).await?;
    let shop = shop_of(&state, p.account_id).await?;
    Ok(Json(one_event_json(&state, &row, &shop).await?))
}

/// `DELETE /admin/events/{id}`: 204 when removed; 200 with `{"deletion": "soft", …}` when kept.
pub async fn delete_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<WriteParams>, QueryRejection>,
) -> Result<Response, RestError> {
    let Path(id) = id?;
    let p = writer(&state, &headers).await?;
    let Query(params) = params?;
    let numeric = path_id(&id, "event")?;
    let actor = Actor::key(&p, AuditVia::Rest);
    let (row, deletion) =
        event_service::delete(&state.db, &state.events, &actor, p.account_id, numeric, params.dry_run).await?;
    if deletion == Deletion::Hard && !params.dry_run {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let shop = shop_of(&state, p.account_id).await?;
    let event = one_event_json(&state, &row, &shop).await?;
    Ok(Json(json!({ "deletion": deletion_json(deletion), "dry_run": params.dry_run, "event": event })).into_response())
}

/// `POST /admin/events/{id}/ticket_types` body. Dates as `*_on` ("2027-03-31") are
/// days in the shop's time zone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTicketBody {
    #[serde(default)]
    name: String,
    price: Option<DecimalInput>,
    vat_rate: Option<DecimalInput>,
    capacity: Option<i64>,
    sales_from: Option<DateTime<Utc>>,
    sales_from_on: Option<NaiveDate>,
    sales_until: Option<DateTime<Utc>>,
    sales_until_on: Option<NaiveDate>,
    #[serde(default)]
    hidden: bool,
}

fn one_of(
    at: Option<Option<DateTime<Utc>>>,
    on: Option<NaiveDate>,
    field: &str,
    day: impl Fn(NaiveDate) -> DateTime<Utc>,
) -> Result<Option<Option<DateTime<Utc>>>, RestError> {
    match (at, on) {
        (Some(_), Some(_)) => Err(RestError::Invalid(vec![UserError::new(
            field,
            UserErrorCode::Invalid,
            format!("give {field} or its date form, not both"),
        )])),
        (None, Some(d)) => Ok(Some(Some(day(d)))),
        (at, None) => Ok(at),
    }
}

/// `POST /admin/events/{id}/ticket_types`: 201 with the ticket type.
pub async fn create_ticket_type(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<WriteParams>, QueryRejection>,
    body: Result<Json<CreateTicketBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), RestError> {
    let Path(id) = id?;
    let p = writer(&state, &headers).await?;
    let Query(params) = params?;
    let event_id = path_id(&id, "event")?;
    let Json(body) = body?;
    let zone = zone_of(&state, &p).await?;
    let from = one_of(body.sales_from.map(Some), body.sales_from_on, "sales_from", |d| zone.start_of_day(d))?;
    let until = one_of(body.sales_until.map(Some), body.sales_until_on, "sales_until", |d| zone.end_of_day(d))?;
    let new = NewTicketType {
        event_id,
        name: body.name,
        price: body.price.map(String::from).unwrap_or_default(),
        vat_rate: body.vat_rate.map(String::from),
        capacity: body.capacity,
        sales_from: from.flatten(),
        sales_until: until.flatten(),
        hidden: body.hidden,
    };
    let actor = Actor::key(&p, AuditVia::Rest);
    let row = match ticket_types::create(&state.db, &actor, p.account_id, new, params.dry_run).await {
        // The event is the path's: not the caller's is a 404.
        Err(crate::services::ServiceError::User(errors))
            if errors.iter().any(|e| e.code == UserErrorCode::EventNotFound) =>
        {
            return Err(RestError::NotFound(format!("no event with id {id} in this account")));
        }
        other => other?,
    };
    let shop = shop_of(&state, p.account_id).await?;
    let status = if params.dry_run { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(ticket_json(&row, &shop))))
}

/// `PATCH /admin/ticket_types/{id}` body: absent fields stay, `null` clears.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchTicketBody {
    name: Option<String>,
    price: Option<DecimalInput>,
    #[serde(default, deserialize_with = "double_option")]
    vat_rate: Option<Option<DecimalInput>>,
    #[serde(default, deserialize_with = "double_option")]
    capacity: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    sales_from: Option<Option<DateTime<Utc>>>,
    sales_from_on: Option<NaiveDate>,
    #[serde(default, deserialize_with = "double_option")]
    sales_until: Option<Option<DateTime<Utc>>>,
    sales_until_on: Option<NaiveDate>,
    hidden: Option<bool>,
}

/// `PATCH /admin/ticket_types/{id}`.
pub async fn update_ticket_type(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<WriteParams>, QueryRejection>,
    body: Result<Json<PatchTicketBody>, JsonRejection>,
) -> Result<Json<Value>, RestError> {
    let Path(id) = id?;
    let p = writer(&state, &headers).await?;
    let Query(params) = params?;
    let numeric = path_id(&id, "ticket type")?;
    let Json(body) = body?;
    let zone = zone_of(&state, &p).await?;
    let patch = TicketTypePatch {
        name: body.name,
        price: body.price.map(String::from),
        vat_rate: body.vat_rate.map(|v| v.map(String::from)),
        capacity: body.capacity,
        sales_from: one_of(body.sales_from, body.sales_from_on, "sales_from", |d| zone.start_of_day(d))?,
        sales_until: one_of(body.sales_until, body.sales_until_on, "sales_until", |d| zone.end_of_day(d))?,
        hidden: body.hidden,
    };
    let actor = Actor::key(&p, AuditVia::Rest);
    let row =
        ticket_types::update(&state.db, &state.events, &actor, p.account_id, numeric, patch, params.dry_run).await?;
    let shop = shop_of(&state, p.account_id).await?;
    Ok(Json(ticket_json(&row, &shop)))
}

/// `DELETE /admin/ticket_types/{id}`: 204 when removed; 200 with `{"deletion": "soft", …}` when kept.
pub async fn delete_ticket_type(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<WriteParams>, QueryRejection>,
) -> Result<Response, RestError> {
    let Path(id) = id?;
    let p = writer(&state, &headers).await?;
    let Query(params) = params?;
    let numeric = path_id(&id, "ticket type")?;
    let actor = Actor::key(&p, AuditVia::Rest);
    let (row, deletion) =
        ticket_types::delete(&state.db, &state.events, &actor, p.account_id, numeric, params.dry_run).await?;
    if deletion == Deletion::Hard && !params.dry_run {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let shop = shop_of(&state, p.account_id).await?;
    let body = json!({ "deletion": deletion_json(deletion), "dry_run": params.dry_run, "ticket_type": ticket_json(&row, &shop) });
    Ok(Json(body).into_response())
}

fn shop_json(shop: &account::Model) -> Value {
    let mut fields = Value::Object(audit::shop_fields(shop));
    let mut out = json!({ "id": shop.id, "slug": shop.slug });
    for (k, v) in fields.as_object_mut().into_iter().flatten() {
        out[super::rest::snake_case(k)] = v.take();
    }
    out
}

/// `GET /admin/shop`: the key's shop settings.
pub async fn show_shop(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, RestError> {
    let p = principal(&state, &headers).await?;
    Ok(Json(shop_json(&shop_of(&state, p.account_id).await?)))
}

/// `PATCH /admin/shop` body: absent fields stay, `null` clears.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchShopBody {
    name: Option<String>,
    currency: Option<String>,
    prices_include_vat: Option<bool>,
    vat_rate: Option<DecimalInput>,
    time_zone: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    seller_legal_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    seller_address: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    seller_vat_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    storefront_url: Option<Option<String>>,
}

/// `PATCH /admin/shop`.
pub async fn update_shop(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<WriteParams>, QueryRejection>,
    body: Result<Json<PatchShopBody>, JsonRejection>,
) -> Result<Json<Value>, RestError> {
    let p = writer(&state, &headers).await?;
    let Query(params) = params?;
    let Json(body) = body?;
    let patch = accounts::SettingsPatch {
        name: body.name,
        currency: body.currency,
        prices_include_vat: body.prices_include_vat,
        vat_rate: body.vat_rate.map(String::from),
        time_zone: body.time_zone,
        seller_legal_name: body.seller_legal_name,
        seller_address: body.seller_address,
        seller_vat_id: body.seller_vat_id,
        storefront_url: body.storefront_url,
    };
    let actor = Actor::key(&p, AuditVia::Rest);
    let row = accounts::update_settings(&state.db, &state.events, &actor, p.account_id, patch, params.dry_run).await?;
    Ok(Json(shop_json(&row)))
}

/// `GET /admin/audit_log` parameters.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    target_type: Option<String>,
    target_id: Option<i64>,
    key_id: Option<i64>,
    operation: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<u64>,
    cursor: Option<i64>,
}

/// An audit entry as the REST API shows it.
#[derive(Debug, Serialize)]
struct AuditJson {
    id: i64,
    at: DateTime<Utc>,
    key_id: Option<i64>,
    key_name: String,
    via: String,
    operation: String,
    target_type: String,
    target_id: i64,
    changes: Vec<Value>,
}

fn parse_target(s: &str) -> Result<AuditTarget, RestError> {
    use sea_orm::Iterable;
    AuditTarget::iter().find(|t| t.to_string().eq_ignore_ascii_case(s)).ok_or_else(|| {
        let names: Vec<String> = AuditTarget::iter().map(|t| t.to_string()).collect();
        RestError::Malformed(format!("target_type `{s}` is not one of {}", names.join(", ")))
    })
}

/// `GET /admin/audit_log`: `{"data": [...], "next_cursor": …}`, newest first. Any key.
pub async fn audit_log(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<Value>, RestError> {
    let p = principal(&state, &headers).await?;
    let Query(params) = params?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=audit::MAX_PAGE).contains(&limit) {
        return Err(RestError::Malformed(format!("limit must be between 1 and {}", audit::MAX_PAGE)));
    }
    let filter = audit::Filter {
        target_type: params.target_type.as_deref().map(parse_target).transpose()?,
        target_id: params.target_id,
        key_id: params.key_id,
        operation: params.operation,
        from: params.from,
        to: params.to,
    };
    let (rows, more) = audit::list(&state.db, p.account_id, &filter, limit, params.cursor).await?;
    let next_cursor = more.then(|| rows.last().map(|r| r.id.to_string())).flatten();
    let mut data = Vec::with_capacity(rows.len());
    for row in rows {
        let changes = audit::changes(&row)?
            .into_iter()
            .map(|c| json!({ "field": super::rest::snake_case(&c.field), "before": c.before, "after": c.after }))
            .collect();
        data.push(AuditJson {
            id: row.id,
            at: row.at,
            key_id: row.key_id,
            key_name: row.key_name,
            via: row.via.to_string(),
            operation: row.operation,
            target_type: row.target_type.to_string(),
            target_id: row.target_id,
            changes,
        });
    }
    Ok(Json(json!({ "data": data, "next_cursor": next_cursor })))
}
