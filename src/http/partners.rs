//! The partner share page (`/partners/{token}`, public, read-only) and the CSV of a
//! batch's codes (`/admin/promo_batches/{id}/codes.csv`, API key).

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::auth::{self, Credential};
use super::rest::RestError;
use crate::domain::Money;
use crate::services::partners::{self, Figures};
use crate::services::promo_batches;

/// One bar of the chart.
struct Day {
    date: String,
    short: String,
    label: bool,
    x: i64,
    y: i64,
    height: i64,
    orders: i64,
    revenue: String,
}

/// One row of the by-source table.
struct Source {
    source: String,
    link_visits: i64,
    orders: i64,
    tickets: i64,
    revenue: String,
}

/// The totals tiles.
struct Totals {
    link_visits: i64,
    orders: i64,
    tickets: i64,
    revenue: String,
}

/// The page.
#[derive(askama::Template)]
#[template(path = "partner_share.html")]
struct SharePage {
    title: String,
    shop_name: String,
    currency: String,
    codes: Vec<String>,
    totals: Totals,
    days: Vec<Day>,
    chart_width: i64,
    sources: Vec<Source>,
}

/// Height of the tallest bar.
const BAR_SPACE: i64 = 110;

fn page(view: partners::ShareView) -> SharePage {
    let currency = view.currency;
    let money = |minor: i64| Money::from_minor(minor, currency).to_string();
    let totals = |f: &Figures| Totals {
        link_visits: f.link_visits,
        orders: f.orders,
        tickets: f.tickets,
        revenue: money(f.revenue),
    };
    let tallest = view.by_day.iter().map(|(_, f)| f.orders).max().unwrap_or(0).max(1);
    let days = view
        .by_day
        .iter()
        .enumerate()
        .map(|(i, (date, f))| {
            let height = f.orders * BAR_SPACE / tallest;
            Day {
                date: date.to_string(),
                short: date.format("%d.%m").to_string(),
                label: i % 7 == 0,
                x: i as i64 * 20 + 2,
                y: 120 - height,
                height,
                orders: f.orders,
                revenue: money(f.revenue),
            }
        })
        .collect::<Vec<_>>();
    SharePage {
        title: view.title,
        shop_name: view.shop_name,
        currency: currency.code().to_owned(),
        codes: view.codes,
        totals: totals(&view.totals),
        chart_width: days.len() as i64 * 20 + 4,
        days,
        sources: view
            .by_source
            .iter()
            .map(|(source, f)| Source {
                source: source.clone().unwrap_or_else(|| "(none)".to_owned()),
                link_visits: f.link_visits,
                orders: f.orders,
                tickets: f.tickets,
                revenue: money(f.revenue),
            })
            .collect(),
    }
}

/// `GET /partners/{token}`: one partner's figures, no key needed; 404 for an unknown or
/// revoked token. Not cached, not indexed, and the token is not sent on as a referrer.
pub async fn share_page(State(state): State<AppState>, token: Result<Path<String>, PathRejection>) -> Response {
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            Html("<!doctype html><title>Not found</title><p>This link does not exist or was revoked."),
        )
            .into_response()
    };
    let Ok(Path(token)) = token else { return not_found() };
    let view = match partners::share_view(&state.db, &token).await {
        Ok(Some(view)) => view,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "cannot read a share page");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    match askama::Template::render(&page(view)) {
        Ok(html) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::REFERRER_POLICY, "no-referrer"),
                (header::HeaderName::from_static("x-robots-tag"), "noindex"),
            ],
            Html(html),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the share page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /admin/promo_batches/{id}/codes.csv` (read or admin key): every code of the batch
/// with its recipient and state, for the mailing tool.
pub async fn batch_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, RestError> {
    let account_id = match auth::credential(&state, &headers).await? {
        Credential::Valid(principal) => principal.account_id,
        Credential::Absent => return Err(RestError::Unauthenticated("send `Authorization: Bearer <key>`")),
        Credential::Malformed | Credential::Unknown => {
            return Err(RestError::Unauthenticated("the API key is unknown or revoked"));
        }
    };
    let Path(id) = id?;
    let not_found = || RestError::NotFound(format!("no batch with id {id} in this account"));
    let numeric = id.parse::<i64>().map_err(|_| not_found())?;
    let batch = promo_batches::find(&state.db, account_id, numeric).await?.ok_or_else(not_found)?;
    let chunks = promo_batches::csv_chunks(&state.db, &batch).await?;
    let filename = format!("attachment; filename=\"batch-{}-codes.csv\"", batch.id);
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, filename)],
        Body::from_stream(futures_util::stream::iter(chunks)),
    )
        .into_response())
}
