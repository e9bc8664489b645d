//! Incoming payment webhooks: verified on the raw body before anything is parsed, then
//! handed to [`payment_events`], which applies each event once in any order of arrival.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::payments::stripe::{self, SignatureError};
use crate::payments::{ReceivedEvent, paypal};
use crate::services::payment_events::{self, Source};

fn answer(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

async fn process(state: &AppState, source: Source, received: &ReceivedEvent) -> Response {
    match payment_events::receive(&state.db, &state.events, &state.providers, source, received).await {
        Ok(message) => answer(StatusCode::OK, message),
        Err(e) => {
            tracing::error!(error = ?e, event = received.id, "processing a payment webhook failed");
            // Providers retry on 5xx; nothing was committed.
            answer(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// `POST /webhooks/stripe`: the signature is verified on the raw body, and the event
/// parsed, by async-stripe.
pub async fn stripe(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = state.config.stripe_webhook_secret.as_deref() else {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "Stripe webhooks are not configured");
    };
    let Ok(raw) = std::str::from_utf8(&body) else { return answer(StatusCode::BAD_REQUEST, "the body is not UTF-8") };
    let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    match stripe::verify_event(header, raw, secret, stripe::unix_now()) {
        Ok(received) => process(&state, Source::Stripe, &received).await,
        Err(SignatureError::NotAnEvent(reason)) => {
            tracing::warn!(%reason, "a signed Stripe webhook is not an event of our API version");
            answer(StatusCode::BAD_REQUEST, "not a Stripe event")
        }
        Err(e) => {
            tracing::warn!(error = %e, "refused a Stripe webhook");
            answer(StatusCode::BAD_REQUEST, "invalid signature")
        }
    }
}

/// `POST /webhooks/paypal`: verified by PayPal's verify-webhook-signature call, then
/// processed once per event id. `PAYMENT.CAPTURE.COMPLETED` pays the order when the
/// captured amount and currency equal its total.
pub async fn paypal(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (Some(client), Some(_)) = (state.providers.paypal.clone(), state.config.paypal_webhook_id.as_deref()) else {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "PayPal webhooks are not configured");
    };
    let Ok(raw) = std::str::from_utf8(&body) else { return answer(StatusCode::BAD_REQUEST, "the body is not UTF-8") };
    let received = match paypal::parse_event(raw) {
        Ok(received) => received,
        Err(_) => return answer(StatusCode::BAD_REQUEST, "not a PayPal event"),
    };
    // Without PayPal's transmission headers there is nothing to verify: refuse before
    // making anyone call PayPal on our behalf.
    if !headers.contains_key("paypal-transmission-sig") || !headers.contains_key("paypal-transmission-id") {
        return answer(StatusCode::BAD_REQUEST, "missing PayPal signature headers");
    }
    let pairs: Vec<(&str, &str)> = headers.iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))).collect();
    match client.verify_webhook(&pairs, raw).await {
        Ok(true) => {}
        Ok(false) => return answer(StatusCode::BAD_REQUEST, "invalid signature"),
        Err(e) => {
            tracing::error!(error = %e, "PayPal webhook verification failed");
            return answer(StatusCode::SERVICE_UNAVAILABLE, "cannot verify right now");
        }
    }
    process(&state, Source::Paypal, &received).await
}
