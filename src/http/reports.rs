//! Organizer downloads: the promo code report as CSV, and invoices as HTML.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Deserialize;

use super::AppState;
use super::rest::RestError;
use crate::domain::Currency;
use crate::entities::order;
use crate::services::api_keys;
use crate::services::reports::{self, GroupBy};
use crate::services::{accounts, invoices};

async fn key_account(state: &AppState, headers: &HeaderMap) -> Result<Option<i64>, RestError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).unwrap_or_default();
    match api_keys::authenticate(&state.db, token).await? {
        Some(principal) => Ok(Some(principal.account_id)),
        None => Err(RestError::Unauthenticated("the API key is unknown or revoked")),
    }
}

/// Query of the CSV export.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    #[serde(default)]
    group_by: Option<String>,
}

/// `GET /admin/reports/promo_codes.csv?from=…&to=…[&group_by=code_and_utm_source]`
/// (read or admin key): the rows of `promoCodeReport`.
pub async fn promo_codes_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<ReportParams>, QueryRejection>,
) -> Result<Response, RestError> {
    let account_id =
        key_account(&state, &headers).await?.ok_or(RestError::Unauthenticated("send `Authorization: Bearer <key>`"))?;
    let Query(params) = params?;
    let group_by = match params.group_by.as_deref().unwrap_or("code") {
        "code" => GroupBy::Code,
        "code_and_utm_source" => GroupBy::CodeAndUtmSource,
        other => return Err(RestError::Malformed(format!("group_by `{other}` is not code or code_and_utm_source"))),
    };
    let account = accounts::find(&state.db, account_id).await?.ok_or(RestError::Unauthenticated("no such account"))?;
    let currency = Currency::parse(&account.currency).map_err(|_| RestError::Internal)?;
    let rows = reports::promo_report(&state.db, account_id, params.from, params.to, group_by).await?;
    let csv = reports::to_csv(&rows, currency, group_by);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"promo_codes.csv\"".to_owned()),
        ],
        csv,
    )
        .into_response())
}

/// Query of the invoice page.
#[derive(Debug, Deserialize, Default)]
pub struct InvoiceParams {
    #[serde(default)]
    token: Option<String>,
}

/// `GET /orders/{id}/invoice.html`: with an API key of the order's account, or the
/// order's own access token (`?token=…`, handed to the buyer at checkout).
pub async fn invoice_html(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<InvoiceParams>, QueryRejection>,
) -> Result<Response, RestError> {
    let (Path(id), Query(params)) = (id?, params?);
    let not_found = || RestError::NotFound("no such invoice".into());
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    let mut query = order::Entity::find_by_id(id);
    match (key_account(&state, &headers).await?, params.token) {
        (Some(account_id), _) => query = query.filter(order::Column::AccountId.eq(account_id)),
        (None, Some(token)) if !token.is_empty() => query = query.filter(order::Column::AccessToken.eq(token)),
        _ => return Err(RestError::Unauthenticated("send an API key, or the order's token as ?token=")),
    }
    let order = query.one(&state.db).await.map_err(crate::services::ServiceError::from)?.ok_or_else(not_found)?;
    let invoice = invoices::build(&state.db, &order).await?;
    Ok(Html(invoices::to_html(&invoice)).into_response())
}
