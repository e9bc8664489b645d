//! Incoming payment webhooks: verified on the raw body before anything is parsed, then
//! handed to [`payment_events`], which applies each event once in any order of arrival.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use crate::payments::stripe::{self, verify_signature};
use crate::services::payment_events::{self, Source};

fn answer(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

async fn process(state: &AppState, source: Source, event: &Value) -> Response {
    match payment_events::receive(&state.db, &state.events, &state.providers, source, event).await {
        Ok(message) => answer(StatusCode::OK, message),
        Err(e) => {
            tracing::error!(error = ?e, event = %event["id"], "processing a payment webhook failed");
            // Providers retry on 5xx; nothing was committed.
            answer(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// `POST /webhooks/stripe`.
pub async fn stripe(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = state.config.stripe_webhook_secret.as_deref() else {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "Stripe webhooks are not configured");
    };
    let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    if let Err(e) = verify_signature(header, &body, secret, stripe::unix_now()) {
        tracing::warn!(error = %e, "refused a Stripe webhook");
        return answer(StatusCode::BAD_REQUEST, "invalid signature");
    }
    let event: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return answer(StatusCode::BAD_REQUEST, "the body is not JSON"),
    };
    if !event["id"].is_string() || !event["type"].is_string() {
        return answer(StatusCode::BAD_REQUEST, "not a Stripe event");
    }
    process(&state, Source::Stripe, &event).await
}

/// `POST /webhooks/paypal`: verified by PayPal's verify-webhook-signature call, then
/// processed once per event id. `PAYMENT.CAPTURE.COMPLETED` pays the order when the
/// captured amount and currency equal its total.
pub async fn paypal(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (Some(client), Some(webhook_id)) = (state.providers.paypal.clone(), state.config.paypal_webhook_id.as_deref())
    else {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "PayPal webhooks are not configured");
    };
    let Ok(raw) = std::str::from_utf8(&body) else { return answer(StatusCode::BAD_REQUEST, "the body is not UTF-8") };
    let event: Value = match serde_json::from_str(raw) {
        Ok(v) => v,
        Err(_) => return answer(StatusCode::BAD_REQUEST, "the body is not JSON"),
    };
    // Without PayPal's transmission headers there is nothing to verify: refuse before
    // making anyone call PayPal on our behalf.
    if !headers.contains_key("paypal-transmission-sig") || !headers.contains_key("paypal-transmission-id") {
        return answer(StatusCode::BAD_REQUEST, "missing PayPal signature headers");
    }
    let pairs: Vec<(&str, &str)> = headers.iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))).collect();
    match client.verify_webhook(&pairs, webhook_id, raw).await {
        Ok(true) => {}
        Ok(false) => return answer(StatusCode::BAD_REQUEST, "invalid signature"),
        Err(e) => {
            tracing::error!(error = %e, "PayPal webhook verification failed");
            return answer(StatusCode::SERVICE_UNAVAILABLE, "cannot verify right now");
        }
    }
    if !event["id"].is_string() || !event["event_type"].is_string() {
        return answer(StatusCode::BAD_REQUEST, "not a PayPal event");
    }
    process(&state, Source::Paypal, &event).await
}
