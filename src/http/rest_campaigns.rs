//! REST mirror of the campaign tools: partners, share links and generated batches under
//! `/admin`, JSON in snake_case, the same services, status codes and error envelope as
//! `/admin/promo_codes`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::rest::{
    DecimalInput, PromoCodeJson, RestError, WriteParams, double_option, instant, principal, writer, zone_of,
};
use super::rest_catalog::path_id;
use crate::domain::Money;
use crate::domain::promo::DiscountType;
use crate::entities::enums::AuditVia;
use crate::entities::{partner, partner_share_link};
use crate::services::audit::Actor;
use crate::services::partners::{self, PartnerInput, ShareScope};
use crate::services::promo_batches::{self, BatchView, GenerateInput, Recipients};
use crate::services::promo_codes::{NewPromoCode, PromoCodeView};
use crate::services::{UserError, UserErrorCode, accounts, now};

fn partner_json(p: &partner::Model) -> Value {
    json!({ "id": p.id, "name": p.name, "contact": p.contact, "created_at": p.created_at, "updated_at": p.updated_at })
}

fn link_json(l: &partner_share_link::Model) -> Value {
    json!({
        "id": l.id,
        "partner_id": l.partner_id,
        "promo_code_id": l.promo_code_id,
        "active": l.revoked_at.is_none(),
        "created_at": l.created_at,
        "revoked_at": l.revoked_at,
    })
}

fn batch_json(v: &BatchView, currency: crate::domain::Currency) -> Value {
    let b = &v.batch;
    json!({
        "id": b.id,
        "name": b.name,
        "prefix": b.prefix,
        "recipients": b.recipients,
        "code_count": b.code_count,
        "codes_redeemed": v.codes_redeemed,
        "redemptions": v.redemptions,
        "codes_active": v.codes_active,
        "revenue": Money::from_minor(v.revenue, currency).to_string(),
        "discount_given": Money::from_minor(v.discount, currency).to_string(),
        "currency": currency.code(),
        "csv_path": format!("/admin/promo_batches/{}/codes.csv", b.id),
        "created_at": b.created_at,
    })
}

/// `POST`/`PATCH /admin/partners` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerBody {
    name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    contact: Option<Option<String>>,
}

/// `GET /admin/partners`: `{"data": [...]}`, by name.
pub async fn list_partners(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, RestError> {
    let p = principal(&state, &headers).await?;
    let rows = partners::list(&state.db, p.account_id).await?;
    Ok(Json(json!({ "data": rows.iter().map(partner_json).collect::<Vec<_>>() })))
}

/// `POST /admin/partners`: 201 with the partner.
pub async fn create_partner(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<PartnerBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), RestError> {
    let p = writer(&state, &headers).await?;
    let Json(body) = body?;
    let actor = Actor::key(&p, AuditVia::Rest);
    let input = PartnerInput { name: body.name, contact: body.contact };
    let row = partners::create(&state.db, &actor, p.account_id, input).await?;
    Ok((StatusCode::CREATED, Json(partner_json(&row))))
}

/// `PATCH /admin/partners/{id}`: absent fields stay, `null` clears the contact.
pub async fn update_partner(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<PartnerBody>, JsonRejection>,
) -> Result<Json<Value>, RestError> {
    let Path(id) = id?;
    let p = writer(&state, &headers).await?;
    let numeric = path_id(&id, "partner")?;
    let Json(body) = body?;
    let actor = Actor::key(&p, AuditVia::Rest);
    let input = PartnerInput { name: body.name, contact: body.contact };
    Ok(Json(partner_json(&partners::update(&state.db, &actor, p.account_id, numeric, input).await?)))
}

/// `POST /admin/partners/{id}/share_links`: 201 with the link, its token (shown once)
/// and the page's path.
pub async fn create_partner_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<(StatusCode, Json<Value>), RestError> {
    let Path(id) = id?;
    let p = writer(&state, &headers).await?;
    let numeric = path_id(&id, "partner")?;
    share(&state, &p, ShareScope::Partner(numeric)).await
}

/// `POST /admin/promo_codes/{id}/share_links`: a link to one code's figures.
pub async fn create_code_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<(StatusCode, Json<Value>), RestError> {
    let Path(id) = id?;
    let p = writer(&state, &headers).await?;
    let numeric = path_id(&id, "promo code")?;
    share(&state, &p, ShareScope::PromoCode(numeric)).await
}

async fn share(
    state: &AppState,
    p: &crate::services::api_keys::Principal,
    scope: ShareScope,
) -> Result<(StatusCode, Json<Value>), RestError> {
    let actor = Actor::key(p, AuditVia::Rest);
    let (row, token) = partners::create_share_link(&state.db, &actor, p.account_id, scope).await?;
    let path = format!("/partners/{token}");
    Ok((StatusCode::CREATED, Json(json!({ "share_link": link_json(&row), "token": token, "path": path }))))
}

/// `GET /admin/share_links`: newest first, revoked ones included.
pub async fn list_links(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, RestError> {
    let p = principal(&state, &headers).await?;
    let rows = partners::share_links(&state.db, p.account_id).await?;
    Ok(Json(json!({ "data": rows.iter().map(link_json).collect::<Vec<_>>() })))
}

/// `DELETE /admin/share_links/{id}`: revokes it (200 with the link); its page answers 404.
pub async fn revoke_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, RestError> {
    let Path(id) = id?;
    let p = writer(&state, &headers).await?;
    let numeric = path_id(&id, "share link")?;
    let actor = Actor::key(&p, AuditVia::Rest);
    Ok(Json(link_json(&partners::revoke_share_link(&state.db, &actor, p.account_id, numeric).await?)))
}

/// `POST /admin/promo_batches` body: give exactly one of `count`, `recipients`,
/// `recipients_csv`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    #[serde(default)]
    batch_name: String,
    #[serde(default)]
    prefix: String,
    count: Option<i64>,
    recipients: Option<Vec<String>>,
    recipients_csv: Option<String>,
    usage_per_code: Option<i64>,
    discount_type: Option<String>,
    percent_off: Option<DecimalInput>,
    amount_off: Option<DecimalInput>,
    event_id: Option<i64>,
    expires_at: Option<DateTime<Utc>>,
    expires_on: Option<NaiveDate>,
    starts_at: Option<DateTime<Utc>>,
    starts_on: Option<NaiveDate>,
    minimum_subtotal: Option<DecimalInput>,
    max_per_customer: Option<i64>,
    partner_id: Option<i64>,
    description: Option<String>,
}

fn invalid(field: &str, code: UserErrorCode, message: &str) -> RestError {
    RestError::Invalid(vec![UserError::new(field, code, message)])
}

/// `POST /admin/promo_batches`: 201 with the batch and its first 20 codes (200 on
/// `?dry_run=true`, with 5 samples).
pub async fn create_batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<WriteParams>, QueryRejection>,
    body: Result<Json<BatchBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), RestError> {
    let p = writer(&state, &headers).await?;
    let Query(params) = params?;
    let Json(body) = body?;
    let zone = zone_of(&state, &p).await?;
    let discount_type = match body.discount_type.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("PERCENTAGE") => DiscountType::Percentage,
        Some("FIXED_AMOUNT") => DiscountType::FixedAmount,
        _ => {
            return Err(invalid(
                "discountType",
                UserErrorCode::DiscountTypeMismatch,
                "discount_type is PERCENTAGE or FIXED_AMOUNT",
            ));
        }
    };
    let expires_at = instant(body.expires_at.map(Some), body.expires_on, zone, "expiresOn", true)?.flatten();
    let starts_at = instant(body.starts_at.map(Some), body.starts_on, zone, "startsOn", false)?.flatten();
    let recipients = match (body.count, body.recipients, body.recipients_csv) {
        (Some(count), None, None) => Recipients::Anyone(count),
        (None, Some(emails), None) => Recipients::Emails(emails),
        (None, None, Some(csv)) => Recipients::Emails(promo_batches::emails_from_csv(&csv)?),
        _ => {
            return Err(invalid(
                "count",
                UserErrorCode::InvalidCount,
                "give exactly one of count, recipients or recipients_csv",
            ));
        }
    };
    let input = GenerateInput {
        batch_name: body.batch_name,
        prefix: body.prefix,
        recipients,
        usage_per_code: body.usage_per_code,
        settings: NewPromoCode {
            discount_type: Some(discount_type),
            percent_off: body.percent_off.map(Into::into),
            amount_off: body.amount_off.map(Into::into),
            event_id: body.event_id,
            expires_at,
            starts_at,
            minimum_subtotal: body.minimum_subtotal.map(Into::into),
            max_per_customer: body.max_per_customer,
            partner_id: body.partner_id,
            description: body.description,
            ..Default::default()
        },
    };
    let actor = Actor::key(&p, AuditVia::Rest);
    let (batch, codes) =
        promo_batches::generate(&state.db, &state.events, &actor, p.account_id, input, params.dry_run).await?;
    let currency = accounts::currency_of(&state.db, p.account_id).await?;
    let view = if params.dry_run {
        BatchView { batch, codes_redeemed: 0, redemptions: 0, revenue: 0, discount: 0, codes_active: 0 }
    } else {
        promo_batches::view(&state.db, batch).await?
    };
    let at = now();
    let codes: Vec<PromoCodeJson> =
        codes.into_iter().take(20).map(|c| PromoCodeView::new(c, currency, at).into()).collect();
    let status = if params.dry_run { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(json!({ "batch": batch_json(&view, currency), "codes": codes, "dry_run": params.dry_run }))))
}

/// `GET /admin/promo_batches`: newest first, with their counters.
pub async fn list_batches(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, RestError> {
    let p = principal(&state, &headers).await?;
    let currency = accounts::currency_of(&state.db, p.account_id).await?;
    let mut data = vec![];
    for batch in promo_batches::list(&state.db, p.account_id).await? {
        data.push(batch_json(&promo_batches::view(&state.db, batch).await?, currency));
    }
    Ok(Json(json!({ "data": data })))
}

async fn batch_of(
    state: &AppState,
    account_id: i64,
    id: &str,
) -> Result<crate::entities::promo_batch::Model, RestError> {
    let numeric = path_id(id, "batch")?;
    promo_batches::find(&state.db, account_id, numeric)
        .await?
        .ok_or_else(|| RestError::NotFound(format!("no batch with id {id} in this account")))
}

/// `GET /admin/promo_batches/{id}`: one batch with its counters.
pub async fn show_batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, RestError> {
    let Path(id) = id?;
    let p = principal(&state, &headers).await?;
    let batch = batch_of(&state, p.account_id, &id).await?;
    let currency = accounts::currency_of(&state.db, p.account_id).await?;
    Ok(Json(batch_json(&promo_batches::view(&state.db, batch).await?, currency)))
}

/// `POST /admin/promo_batches/{id}/deactivate`: every code of the batch off at once.
pub async fn deactivate_batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, RestError> {
    let Path(id) = id?;
    let p = writer(&state, &headers).await?;
    let numeric = path_id(&id, "batch")?;
    let actor = Actor::key(&p, AuditVia::Rest);
    let (batch, switched) = promo_batches::deactivate(&state.db, &state.events, &actor, p.account_id, numeric).await?;
    let currency = accounts::currency_of(&state.db, p.account_id).await?;
    let view = promo_batches::view(&state.db, batch).await?;
    Ok(Json(json!({ "batch": batch_json(&view, currency), "deactivated": switched })))
}
