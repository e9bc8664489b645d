//! Organizer downloads: the promo code report as CSV, and invoices as HTML.

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::AppState;
use super::auth::{self, Credential};
use super::rest::RestError;
use crate::services::invoices::{self, Access};
use crate::services::reports::{self, GroupBy};

/// The account of the request's API key; `None` without a key.
async fn key_account(state: &AppState, headers: &HeaderMap) -> Result<Option<i64>, RestError> {
    match auth::credential(state, headers).await? {
        Credential::Absent => Ok(None),
        Credential::Valid(principal) => Ok(Some(principal.account_id)),
        Credential::Malformed | Credential::Unknown => {
            Err(RestError::Unauthenticated("the API key is unknown or revoked"))
        }
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
        "partner" => GroupBy::Partner,
        "partner_and_utm_source" => GroupBy::PartnerAndUtmSource,
        other => {
            return Err(RestError::Malformed(format!(
                "group_by `{other}` is not code, code_and_utm_source, partner or partner_and_utm_source"
            )));
        }
    };
    let report = reports::for_account(&state.db, account_id, params.from, params.to, group_by)
        .await?
        .ok_or(RestError::Unauthenticated("no such account"))?;
    // Sent in chunks as they are written; a failure mid-way ends the body early.
    let chunks = futures_util::stream::iter(reports::csv_chunks(report, group_by));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"promo_codes.csv\""),
        ],
        Body::from_stream(chunks),
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
    let access = match (key_account(&state, &headers).await?, params.token) {
        (Some(account_id), _) => Access::Account(account_id),
        (None, Some(token)) if !token.is_empty() => Access::Token(token),
        _ => return Err(RestError::Unauthenticated("send an API key, or the order's token as ?token=")),
    };
    let invoice = invoices::find_for(&state.db, id, &access).await?.ok_or_else(not_found)?;
    Ok(Html(invoices::to_html(&invoice)?).into_response())
}
