//! Incoming payment webhooks, verified on the raw body before anything is parsed.
//!
//! Each event is processed once: its id goes into `payment_events` in the same
//! transaction as the state change it causes, so a retry, a duplicate or a concurrent
//! delivery finds it and changes nothing. Any order of arrival ends in the right state:
//! every transition is guarded by the order's current status.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set, SqlErr};
use serde_json::{Value, json};

use super::AppState;
use crate::entities::{order, payment_event};
use crate::payments::stripe::{self, verify_signature};
use crate::services::checkout::{self, PaidTransition};
use crate::services::{ServiceError, begin_write, now};

fn answer(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// Records a provider event id in the caller's transaction; `false` when it was seen
/// before (the event is then acknowledged and ignored).
async fn first_delivery(
    txn: &sea_orm::DatabaseTransaction,
    provider: &str,
    id: &str,
    kind: &str,
) -> Result<bool, ServiceError> {
    let seen = payment_event::Entity::insert(payment_event::ActiveModel {
        id: Set(format!("{}:{id}", provider.to_lowercase())),
        provider: Set(provider.to_owned()),
        event_type: Set(kind.to_owned()),
        received_at: Set(now()),
    })
    .exec_without_returning(txn)
    .await;
    match seen {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(false),
        Err(e) => Err(e.into()),
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
    let (Some(id), Some(kind)) = (event["id"].as_str(), event["type"].as_str()) else {
        return answer(StatusCode::BAD_REQUEST, "not a Stripe event");
    };
    match process(&state, id, kind, &event["data"]["object"]).await {
        Ok(message) => answer(StatusCode::OK, message),
        Err(e) => {
            tracing::error!(error = ?e, event = id, "processing a Stripe webhook failed");
            // Stripe retries on 5xx; nothing was committed.
            answer(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

async fn process(state: &AppState, id: &str, kind: &str, object: &Value) -> Result<&'static str, ServiceError> {
    let txn = begin_write(&state.db).await?;
    if !first_delivery(&txn, "STRIPE", id, kind).await? {
        return Ok("duplicate");
    }
    let mut carts = vec![];
    let outcome = match kind {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            match session_order(&txn, object).await? {
                None => "unknown order",
                Some(order_id) => {
                    let payment_ref = object["payment_intent"].as_str();
                    let paid = object["payment_status"].as_str() == Some("paid")
                        || kind == "checkout.session.async_payment_succeeded";
                    if paid {
                        let (transition, cart) = checkout::mark_paid_in(&txn, order_id, payment_ref).await?;
                        carts.extend(cart);
                        if transition == PaidTransition::Paid { "paid" } else { "already paid" }
                    } else {
                        checkout::await_async_payment_in(&txn, order_id, payment_ref).await?;
                        "awaiting asynchronous payment"
                    }
                }
            }
        }
        "checkout.session.async_payment_failed" => match session_order(&txn, object).await? {
            Some(order_id) => {
                checkout::mark_unpaid_in(&txn, order_id, "CANCELLED", Some("asynchronous payment failed")).await?;
                "payment failed"
            }
            None => "unknown order",
        },
        "checkout.session.expired" => match session_order(&txn, object).await? {
            Some(order_id) => {
                checkout::mark_unpaid_in(&txn, order_id, "EXPIRED", None).await?;
                "expired"
            }
            None => "unknown order",
        },
        // Since API version 2022-11-15 a charge no longer lists its refunds: refunds made
        // in the dashboard arrive as refund events whose object is the refund.
        "refund.created" | "refund.updated" => {
            let status = object["status"].as_str().unwrap_or("");
            let found = match object["payment_intent"].as_str() {
                Some(pi) => order::Entity::find().filter(order::Column::PaymentRef.eq(pi)).one(&txn).await?,
                None => None,
            };
            match (found, object["id"].as_str(), object["amount"].as_i64()) {
                (Some(order), Some(refund_id), Some(amount)) if matches!(status, "succeeded" | "pending") => {
                    match checkout::record_refund_in(&txn, &order, amount, Some(refund_id), Some("stripe dashboard"))
                        .await
                    {
                        Ok(true) => "refund recorded",
                        Ok(false) => "refund already recorded",
                        Err(ServiceError::User(_)) => "refund exceeds what is left; skipped",
                        Err(e) => return Err(e),
                    }
                }
                (None, _, _) => "unknown order",
                _ => "ignored",
            }
        }
        "charge.refunded" => {
            let found = match object["payment_intent"].as_str() {
                Some(pi) => order::Entity::find().filter(order::Column::PaymentRef.eq(pi)).one(&txn).await?,
                None => None,
            };
            match found {
                None => "unknown order",
                Some(order) => {
                    for refund in object["refunds"]["data"].as_array().into_iter().flatten() {
                        let (Some(refund_id), Some(amount)) = (refund["id"].as_str(), refund["amount"].as_i64()) else {
                            continue;
                        };
                        let current = order::Entity::find_by_id(order.id).one(&txn).await?.unwrap_or(order.clone());
                        match checkout::record_refund_in(
                            &txn,
                            &current,
                            amount,
                            Some(refund_id),
                            Some("stripe dashboard"),
                        )
                        .await
                        {
                            Ok(_) => {}
                            // More than is left: recorded by us already under another id, or bogus; skip.
                            Err(ServiceError::User(_)) => {
                                tracing::warn!(refund_id, "refund exceeds what is left; skipped")
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    "refunds recorded"
                }
            }
        }
        _ => "ignored",
    };
    txn.commit().await?;
    state.events.publish_all(carts);
    Ok(outcome)
}

/// The order a Checkout Session event is about: `metadata.order_id`, checked against
/// the session id we stored.
async fn session_order(txn: &sea_orm::DatabaseTransaction, session: &Value) -> Result<Option<i64>, ServiceError> {
    let Some(order_id) = session["metadata"]["order_id"].as_str().and_then(|v| v.parse::<i64>().ok()) else {
        return Ok(None);
    };
    let found = order::Entity::find_by_id(order_id).one(txn).await?;
    Ok(found.filter(|o| o.provider_ref.as_deref() == session["id"].as_str()).map(|o| o.id))
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
    let (Some(id), Some(kind)) = (event["id"].as_str(), event["event_type"].as_str()) else {
        return answer(StatusCode::BAD_REQUEST, "not a PayPal event");
    };
    match process_paypal(&state, id, kind, &event["resource"]).await {
        Ok(message) => answer(StatusCode::OK, message),
        Err(e) => {
            tracing::error!(error = ?e, event = id, "processing a PayPal webhook failed");
            answer(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

async fn process_paypal(
    state: &AppState,
    id: &str,
    kind: &str,
    resource: &Value,
) -> Result<&'static str, ServiceError> {
    let txn = begin_write(&state.db).await?;
    if !first_delivery(&txn, "PAYPAL", id, kind).await? {
        return Ok("duplicate");
    }
    let mut carts = vec![];
    let outcome = if kind == "PAYMENT.CAPTURE.COMPLETED" {
        let paypal_order = resource["supplementary_data"]["related_ids"]["order_id"].as_str();
        let found = match paypal_order {
            Some(reference) => {
                order::Entity::find()
                    .filter(order::Column::Provider.eq("PAYPAL"))
                    .filter(order::Column::ProviderRef.eq(reference))
                    .one(&txn)
                    .await?
            }
            None => None,
        };
        match (found, crate::payments::paypal::parse_capture(resource)) {
            (Some(order), Ok(capture)) => match checkout::settle_paypal_capture_in(&txn, &order, &capture).await? {
                Ok((transition, cart)) => {
                    carts.extend(cart);
                    if transition == PaidTransition::Paid { "paid" } else { "already paid" }
                }
                Err(_) => "amount mismatch recorded",
            },
            _ => "unknown order",
        }
    } else {
        "ignored"
    };
    txn.commit().await?;
    state.events.publish_all(carts);
    Ok(outcome)
}
