//! REST mirror of promo code administration: `/admin/promo_codes`, JSON in snake_case,
//! the same service and rules as GraphQL underneath.
//!
//! Status codes: 200, 201 (created), 204 (hard delete), 400 (malformed JSON or query),
//! 401 (no or bad key), 403 (read key on a write), 404, 409 (duplicate code),
//! 422 (validation, with a list of field errors), 500 (logged, never detailed).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use super::AppState;
use super::auth::{self, Credential};
use crate::domain::Currency;
use crate::domain::calendar::ShopZone;
use crate::domain::promo::DiscountType;
use crate::entities::enums::AuditVia;
use crate::services::api_keys::Principal;
use crate::services::audit::Actor;
use crate::services::promo_codes::{
    self as service, Deletion, ListFilter, NewPromoCode, PromoCodePatch, PromoCodeView, StatusFilter,
};
use crate::services::{ServiceError, UserError, UserErrorCode, accounts, now};

/// Codes per page when `limit` is not given (as GraphQL's `first`).
const DEFAULT_PAGE: u64 = 50;

/// An error answered with a status and the JSON envelope
/// `{"error": {"code", "message", "errors": [{"field", "code", "message"}]}}`.
#[derive(Debug)]
pub enum RestError {
    /// 400.
    Malformed(String),
    /// 401.
    Unauthenticated(&'static str),
    /// 403.
    Forbidden,
    /// 404.
    NotFound(String),
    /// 409.
    Conflict(Vec<UserError>),
    /// 422.
    Invalid(Vec<UserError>),
    /// 500; the cause is logged where it happened.
    Internal,
}

/// `percentOff` → `percent_off`: REST speaks snake_case.
fn rest_field(path: &[String]) -> String {
    snake_case(path.last().map(String::as_str).unwrap_or_default())
}

/// `sellerVatId` → `seller_vat_id`.
pub(super) fn snake_case(last: &str) -> String {
    let mut out = String::with_capacity(last.len() + 4);
    for c in last.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let envelope = |status: StatusCode, code: &str, message: String, errors: Vec<UserError>| {
            let errors: Vec<_> = errors
                .iter()
                .map(|e| json!({ "field": rest_field(&e.field), "code": e.code.as_str(), "message": e.message }))
                .collect();
            (status, Json(json!({ "error": { "code": code, "message": message, "errors": errors } }))).into_response()
        };
        match self {
            RestError::Malformed(m) => envelope(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST", m, vec![]),
            RestError::Unauthenticated(m) => envelope(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", m.into(), vec![]),
            RestError::Forbidden => envelope(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "this API key has the read scope; this operation needs an admin key".into(),
                vec![],
            ),
            RestError::NotFound(m) => envelope(StatusCode::NOT_FOUND, "NOT_FOUND", m, vec![]),
            RestError::Conflict(e) => {
                envelope(StatusCode::CONFLICT, "DUPLICATE_CODE", "a live code with this string exists".into(), e)
            }
            RestError::Invalid(e) => {
                envelope(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED", "the input was refused".into(), e)
            }
            RestError::Internal => {
                envelope(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error".into(), vec![])
            }
        }
    }
}

impl From<ServiceError> for RestError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::User(errors) => {
                // The object a path names (`{id}`) not being the caller's is a 404.
                let path_object = |e: &&UserError| {
                    e.code == UserErrorCode::NotFound
                        || (matches!(e.code, UserErrorCode::EventNotFound | UserErrorCode::TicketTypeNotFound)
                            && e.field == ["id"])
                };
                if let Some(nf) = errors.iter().find(path_object) {
                    RestError::NotFound(nf.message.clone())
                } else if errors.iter().any(|e| e.code == UserErrorCode::DuplicateCode) {
                    RestError::Conflict(errors)
                } else {
                    RestError::Invalid(errors)
                }
            }
            other => {
                tracing::error!(error = ?other, "internal error in the REST API");
                RestError::Internal
            }
        }
    }
}

impl From<JsonRejection> for RestError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            // Well-formed JSON of the wrong shape (types, unknown fields) is a validation error.
            JsonRejection::JsonDataError(e) => RestError::Invalid(vec![UserError::new(
                "",
                UserErrorCode::Invalid,
                e.body_text()
                    .trim_start_matches("Failed to deserialize the JSON body into the target type: ")
                    .to_owned(),
            )]),
            other => RestError::Malformed(other.body_text()),
        }
    }
}

impl From<QueryRejection> for RestError {
    fn from(rejection: QueryRejection) -> Self {
        RestError::Malformed(rejection.body_text())
    }
}

impl From<PathRejection> for RestError {
    fn from(rejection: PathRejection) -> Self {
        RestError::Malformed(rejection.body_text())
    }
}

/// Middleware of the REST routes: a NUL character in the URL or a JSON body is refused
/// (400) before any handler reads it (see [`super::input`]).
pub async fn refuse_nul(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let nul_in_url = request.uri().to_string().to_ascii_lowercase().contains("%00");
    if nul_in_url {
        return RestError::Malformed(super::input::Refusal::Nul.to_string()).into_response();
    }
    let (parts, body) = request.into_parts();
    // The body limit layer outside this one has already bounded the size.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => return RestError::Malformed(format!("the body could not be read: {e}")).into_response(),
    };
    if super::input::check_text(&String::from_utf8_lossy(&bytes)).is_err() {
        return RestError::Malformed(super::input::Refusal::Nul.to_string()).into_response();
    }
    next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

pub(super) async fn principal(state: &AppState, headers: &HeaderMap) -> Result<Principal, RestError> {
    match auth::credential(state, headers).await? {
        Credential::Valid(principal) => Ok(principal),
        Credential::Absent => Err(RestError::Unauthenticated("send `Authorization: Bearer <key>`")),
        Credential::Malformed => Err(RestError::Unauthenticated("the Authorization header must be `Bearer <key>`")),
        Credential::Unknown => Err(RestError::Unauthenticated("the API key is unknown or revoked")),
    }
}

pub(super) async fn writer(state: &AppState, headers: &HeaderMap) -> Result<Principal, RestError> {
    let p = principal(state, headers).await?;
    if p.scope.can_write() { Ok(p) } else { Err(RestError::Forbidden) }
}

async fn currency_of(state: &AppState, p: &Principal) -> Result<Currency, RestError> {
    accounts::currency(&state.db, p.account_id)
        .await?
        .ok_or(RestError::Unauthenticated("the key's account no longer exists"))
}

/// The time zone of the key's shop.
pub(super) async fn zone_of(state: &AppState, p: &Principal) -> Result<ShopZone, RestError> {
    let account = accounts::find(&state.db, p.account_id)
        .await?
        .ok_or(RestError::Unauthenticated("the key's account no longer exists"))?;
    Ok(ShopZone::parse(&account.time_zone).unwrap_or_default())
}

/// `expires_at` (kept when absent, cleared by `null`) or `expires_on` (the end of
/// that day in the shop's zone), not both.
fn expiry(
    at: Option<Option<DateTime<Utc>>>,
    on: Option<chrono::NaiveDate>,
    zone: ShopZone,
) -> Result<Option<Option<DateTime<Utc>>>, RestError> {
    instant(at, on, zone, "expiresOn", true)
}

/// `starts_at` or `starts_on` (00:00 of that day on the shop's clock), not both.
fn start(
    at: Option<Option<DateTime<Utc>>>,
    on: Option<chrono::NaiveDate>,
    zone: ShopZone,
) -> Result<Option<Option<DateTime<Utc>>>, RestError> {
    instant(at, on, zone, "startsOn", false)
}

/// An instant given as itself or as a day on the shop's clock (its end, or its start),
/// not both; `on_field` names the day's field in the refusal.
pub(super) fn instant(
    at: Option<Option<DateTime<Utc>>>,
    on: Option<chrono::NaiveDate>,
    zone: ShopZone,
    on_field: &str,
    end_of_day: bool,
) -> Result<Option<Option<DateTime<Utc>>>, RestError> {
    match (at, on) {
        (Some(_), Some(_)) => Err(RestError::Invalid(vec![UserError::new(
            on_field,
            UserErrorCode::Invalid,
            format!("give {} or {}, not both", snake_case(on_field).replace("_on", "_at"), snake_case(on_field)),
        )])),
        (None, Some(day)) => Ok(Some(Some(if end_of_day { zone.end_of_day(day) } else { zone.start_of_day(day) }))),
        (at, None) => Ok(at),
    }
}

/// A promo code as the REST API shows it.
#[derive(Debug, Serialize)]
pub struct PromoCodeJson {
    id: i64,
    code: String,
    discount_type: DiscountTypeJson,
    percent_off: Option<String>,
    amount_off: Option<String>,
    currency: String,
    event_id: Option<i64>,
    expires_at: Option<DateTime<Utc>>,
    starts_at: Option<DateTime<Utc>>,
    minimum_subtotal: Option<String>,
    usage_limit: Option<i64>,
    max_per_customer: Option<i64>,
    partner_id: Option<i64>,
    recipient_email: Option<String>,
    batch_id: Option<i64>,
    redemptions_count: i64,
    remaining: Option<i64>,
    status: &'static str,
    active: bool,
    description: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

impl From<PromoCodeView> for PromoCodeJson {
    fn from(view: PromoCodeView) -> Self {
        let row = view.row;
        PromoCodeJson {
            id: row.id,
            code: row.code,
            discount_type: view.discount_type.into(),
            percent_off: view.percent_off.map(|p| p.to_decimal().to_string()),
            amount_off: view.amount_off.map(|a| a.to_string()),
            currency: view.currency.code().to_owned(),
            event_id: row.event_id,
            expires_at: row.expires_at,
            starts_at: row.starts_at,
            minimum_subtotal: view.minimum_subtotal.map(|a| a.to_string()),
            usage_limit: row.usage_limit,
            max_per_customer: row.max_per_customer,
            partner_id: row.partner_id,
            recipient_email: row.recipient_email,
            batch_id: row.batch_id,
            redemptions_count: row.redemptions_count,
            remaining: view.remaining,
            status: view.status.as_str(),
            active: row.active,
            description: row.description,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        }
    }
}

/// A decimal given as a JSON string (`"12.5"`) or integer (`15`); floats are refused
/// because they cannot carry exact money.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a decimal string such as \"12.50\" or an integer")]
pub(super) enum DecimalInput {
    Text(String),
    Integer(i64),
}

impl From<DecimalInput> for String {
    fn from(d: DecimalInput) -> Self {
        match d {
            DecimalInput::Text(s) => s,
            DecimalInput::Integer(i) => i.to_string(),
        }
    }
}

/// The discount type on the wire: upper-case, lower-case accepted on input.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum DiscountTypeJson {
    #[serde(alias = "percentage")]
    Percentage,
    #[serde(alias = "fixed_amount")]
    FixedAmount,
}

impl From<DiscountType> for DiscountTypeJson {
    fn from(d: DiscountType) -> Self {
        match d {
            DiscountType::Percentage => DiscountTypeJson::Percentage,
            DiscountType::FixedAmount => DiscountTypeJson::FixedAmount,
        }
    }
}

impl From<DiscountTypeJson> for DiscountType {
    fn from(d: DiscountTypeJson) -> Self {
        match d {
            DiscountTypeJson::Percentage => DiscountType::Percentage,
            DiscountTypeJson::FixedAmount => DiscountType::FixedAmount,
        }
    }
}

/// `POST` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default)]
    code: String,
    discount_type: Option<DiscountTypeJson>,
    percent_off: Option<DecimalInput>,
    amount_off: Option<DecimalInput>,
    event_id: Option<i64>,
    expires_at: Option<DateTime<Utc>>,
    expires_on: Option<chrono::NaiveDate>,
    starts_at: Option<DateTime<Utc>>,
    starts_on: Option<chrono::NaiveDate>,
    minimum_subtotal: Option<DecimalInput>,
    usage_limit: Option<i64>,
    max_per_customer: Option<i64>,
    description: Option<String>,
    partner_id: Option<i64>,
    recipient_email: Option<String>,
}

/// Absent → `None` (keep); `null` → `Some(None)` (clear); a value → `Some(Some(v))`.
pub(super) fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH` body: absent fields stay, `null` clears.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    code: Option<String>,
    discount_type: Option<DiscountTypeJson>,
    #[serde(default, deserialize_with = "double_option")]
    percent_off: Option<Option<DecimalInput>>,
    #[serde(default, deserialize_with = "double_option")]
    amount_off: Option<Option<DecimalInput>>,
    #[serde(default, deserialize_with = "double_option")]
    event_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    expires_at: Option<Option<DateTime<Utc>>>,
    expires_on: Option<chrono::NaiveDate>,
    #[serde(default, deserialize_with = "double_option")]
    starts_at: Option<Option<DateTime<Utc>>>,
    starts_on: Option<chrono::NaiveDate>,
    #[serde(default, deserialize_with = "double_option")]
    minimum_subtotal: Option<Option<DecimalInput>>,
    #[serde(default, deserialize_with = "double_option")]
    partner_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    recipient_email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    usage_limit: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    max_per_customer: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    description: Option<Option<String>>,
    active: Option<bool>,
}

/// `?dry_run=true` on writes.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WriteParams {
    #[serde(default)]
    pub(super) dry_run: bool,
}

/// List query parameters.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    status: Option<String>,
    search: Option<String>,
    event_id: Option<i64>,
    partner_id: Option<i64>,
    batch_id: Option<i64>,
    limit: Option<u64>,
    cursor: Option<i64>,
}

fn parse_status(s: &str) -> Result<StatusFilter, RestError> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "all" => StatusFilter::All,
        "active" => StatusFilter::Active,
        "scheduled" => StatusFilter::Scheduled,
        "expired" => StatusFilter::Expired,
        "exhausted" => StatusFilter::Exhausted,
        "inactive" => StatusFilter::Inactive,
        "deleted" => StatusFilter::Deleted,
        _ => {
            return Err(RestError::Malformed(format!(
                "status `{s}` is not one of all, active, scheduled, expired, exhausted, inactive, deleted"
            )));
        }
    })
}

fn not_found(id: &str) -> RestError {
    RestError::NotFound(format!("no promo code with id {id} in this account"))
}

/// The `{id}` of a path; anything but a number is simply not found.
fn path_id(id: &str) -> Result<i64, RestError> {
    id.parse::<i64>().map_err(|_| not_found(id))
}

/// `GET /admin/promo_codes`: `{"data": [...], "next_cursor": "…" | null}`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, RestError> {
    let p = principal(&state, &headers).await?;
    let Query(params) = params?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=service::MAX_PAGE).contains(&limit) {
        return Err(RestError::Malformed(format!("limit must be between 1 and {}", service::MAX_PAGE)));
    }
    let filter = ListFilter {
        status: params.status.as_deref().map(parse_status).transpose()?.unwrap_or_default(),
        search: params.search,
        event_id: params.event_id,
        partner_id: params.partner_id,
        batch_id: params.batch_id,
    };
    let currency = currency_of(&state, &p).await?;
    let page = service::list(&state.db, p.account_id, &filter, limit, params.cursor).await?;
    let next_cursor = page.has_next.then(|| page.items.last().map(|r| r.id.to_string())).flatten();
    let at = now();
    let data: Vec<PromoCodeJson> = page.items.into_iter().map(|r| PromoCodeView::new(r, currency, at).into()).collect();
    Ok(Json(json!({ "data": data, "next_cursor": next_cursor })))
}

/// `POST /admin/promo_codes`: 201 with the code (200 on `?dry_run=true`).
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<WriteParams>, QueryRejection>,
    body: Result<Json<CreateBody>, JsonRejection>,
) -> Result<(StatusCode, Json<PromoCodeJson>), RestError> {
    let p = writer(&state, &headers).await?;
    let Query(params) = params?;
    let Json(body) = body?;
    let zone = zone_of(&state, &p).await?;
    let expires_at = expiry(body.expires_at.map(Some), body.expires_on, zone)?.flatten();
    let starts_at = start(body.starts_at.map(Some), body.starts_on, zone)?.flatten();
    let new = NewPromoCode {
        starts_at,
        minimum_subtotal: body.minimum_subtotal.map(Into::into),
        partner_id: body.partner_id,
        recipient_email: body.recipient_email,
        code: body.code,
        discount_type: body.discount_type.map(Into::into),
        percent_off: body.percent_off.map(Into::into),
        amount_off: body.amount_off.map(Into::into),
        event_id: body.event_id,
        expires_at,
        usage_limit: body.usage_limit,
        max_per_customer: body.max_per_customer,
        description: body.description,
    };
    let actor = Actor::key(&p, AuditVia::Rest);
    let row = service::create(&state.db, &state.events, &actor, p.account_id, new, params.dry_run).await?;
    let currency = currency_of(&state, &p).await?;
    let status = if params.dry_run { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(PromoCodeJson::from(PromoCodeView::new(row, currency, now())))))
}

/// `GET /admin/promo_codes/{id}` (deleted codes too).
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<PromoCodeJson>, RestError> {
    let Path(id) = id?;
    let p = principal(&state, &headers).await?;
    let numeric = path_id(&id)?;
    let row = service::find(&state.db, p.account_id, numeric).await?.ok_or_else(|| not_found(&id))?;
    let currency = currency_of(&state, &p).await?;
    Ok(Json(PromoCodeJson::from(PromoCodeView::new(row, currency, now()))))
}

/// `PATCH /admin/promo_codes/{id}`: absent fields stay, `null` clears.
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<WriteParams>, QueryRejection>,
    body: Result<Json<PatchBody>, JsonRejection>,
) -> Result<Json<PromoCodeJson>, RestError> {
    let Path(id) = id?;
    let p = writer(&state, &headers).await?;
    let Query(params) = params?;
    let numeric = path_id(&id)?;
    let Json(body) = body?;
    let zone = zone_of(&state, &p).await?;
    let expires_at = expiry(body.expires_at, body.expires_on, zone)?;
    let starts_at = start(body.starts_at, body.starts_on, zone)?;
    let patch = PromoCodePatch {
        starts_at,
        minimum_subtotal: body.minimum_subtotal.map(|v| v.map(Into::into)),
        partner_id: body.partner_id,
        recipient_email: body.recipient_email,
        code: body.code,
        discount_type: body.discount_type.map(Into::into),
        percent_off: body.percent_off.map(|v| v.map(Into::into)),
        amount_off: body.amount_off.map(|v| v.map(Into::into)),
        event_id: body.event_id,
        expires_at,
        usage_limit: body.usage_limit,
        max_per_customer: body.max_per_customer,
        description: body.description,
        active: body.active,
    };
    let actor = Actor::key(&p, AuditVia::Rest);
    let row = service::update(&state.db, &state.events, &actor, p.account_id, numeric, patch, params.dry_run).await?;
    let currency = currency_of(&state, &p).await?;
    Ok(Json(PromoCodeJson::from(PromoCodeView::new(row, currency, now()))))
}

/// `DELETE /admin/promo_codes/{id}`: 204 when removed; 200 with
/// `{"deletion": "soft", "promo_code": …}` when kept because orders used it.
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<WriteParams>, QueryRejection>,
) -> Result<Response, RestError> {
    let Path(id) = id?;
    let p = writer(&state, &headers).await?;
    let Query(params) = params?;
    let numeric = path_id(&id)?;
    let actor = Actor::key(&p, AuditVia::Rest);
    let (row, deletion) =
        service::delete(&state.db, &state.events, &actor, p.account_id, numeric, params.dry_run).await?;
    let kind = match deletion {
        Deletion::Hard => "hard",
        Deletion::Soft => "soft",
    };
    if deletion == Deletion::Hard && !params.dry_run {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let currency = currency_of(&state, &p).await?;
    Ok(Json(json!({ "deletion": kind, "dry_run": params.dry_run, "promo_code": PromoCodeJson::from(PromoCodeView::new(row, currency, now())) }))
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_become_snake_case() {
        assert_eq!(rest_field(&["percentOff".into()]), "percent_off");
        assert_eq!(rest_field(&[]), "");
        assert_eq!(rest_field(&["id".into()]), "id");
    }
}
