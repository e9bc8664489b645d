//! Outbound webhooks: endpoints, deliveries and their attempts.

use async_graphql::{ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use super::{UserError, to_id};
use crate::entities::{webhook_attempt, webhook_delivery, webhook_endpoint};
use crate::graphql::errors::InputFields;

/// An outbound webhook receiver.
#[derive(SimpleObject)]
pub struct WebhookEndpoint {
    /// Its id.
    pub id: ID,
    /// Where events are POSTed.
    pub url: String,
    /// Subscribed events: "order.paid", "order.refunded", "promo_code.exhausted",
    /// "promo_code.over_cap".
    pub events: Vec<String>,
    /// False while paused.
    pub active: bool,
    /// Free text.
    pub description: Option<String>,
    /// When it was registered (UTC, RFC 3339).
    pub created_at: DateTime<Utc>,
}

impl From<webhook_endpoint::Model> for WebhookEndpoint {
    fn from(e: webhook_endpoint::Model) -> Self {
        WebhookEndpoint {
            id: to_id(e.id),
            url: e.url,
            events: e.events.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            active: e.active,
            description: e.description,
            created_at: e.created_at,
        }
    }
}

/// One HTTP attempt of a delivery.
#[derive(SimpleObject)]
pub struct WebhookAttempt {
    /// When.
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i32>,
    /// How long it took, milliseconds.
    pub latency_ms: i64,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// One event to one endpoint, with its attempts.
#[derive(SimpleObject)]
pub struct WebhookDelivery {
    /// Its id (what `redeliverWebhook` takes).
    pub id: ID,
    /// The endpoint.
    pub endpoint_id: ID,
    /// The `webhook-id` header: the same on every attempt.
    pub message_id: String,
    /// "order.paid", "order.refunded", "promo_code.exhausted" (a code's last use was
    /// redeemed) or "promo_code.over_cap" (a late payment went past its limit).
    pub event_type: String,
    /// PENDING (queued or retrying), DELIVERED or FAILED (given up).
    pub status: String,
    /// Attempts so far.
    pub attempt_count: i32,
    /// When the next attempt is due (PENDING only).
    pub next_attempt_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The JSON body sent.
    pub payload: String,
    /// Every attempt, oldest first.
    pub attempts: Vec<WebhookAttempt>,
}

impl WebhookDelivery {
    /// A delivery row with its attempts, oldest first.
    pub fn new(d: webhook_delivery::Model, attempts: Vec<webhook_attempt::Model>) -> Self {
        WebhookDelivery {
            id: to_id(d.id),
            endpoint_id: to_id(d.endpoint_id),
            message_id: d.message_id,
            event_type: d.event_type,
            status: d.status.to_string(),
            attempt_count: d.attempts,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            payload: d.payload,
            attempts: attempts
                .into_iter()
                .map(|a| WebhookAttempt {
                    attempted_at: a.attempted_at,
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    error: a.error,
                })
                .collect(),
        }
    }
}

/// A new webhook endpoint.
#[derive(Debug, InputObject)]
pub struct CreateWebhookEndpointInput {
    /// Where to POST events: http(s), a public address (private, loopback and cloud
    /// metadata addresses are refused).
    pub url: String,
    /// Events to receive: "order.paid", "order.refunded", "promo_code.exhausted" (a code's
    /// last use was redeemed), "promo_code.over_cap" (a late payment went past its limit).
    pub events: Vec<String>,
    /// Free text, e.g. "CRM".
    pub description: Option<String>,
}

/// Changes to an endpoint; omitted fields stay.
#[derive(Debug, InputObject)]
pub struct UpdateWebhookEndpointInput {
    /// New URL.
    pub url: Option<String>,
    /// New event list.
    pub events: Option<Vec<String>>,
    /// Pause (false) or resume (true).
    pub active: Option<bool>,
    /// New description.
    pub description: Option<String>,
}

/// Result of creating or changing an endpoint.
#[derive(SimpleObject)]
pub struct WebhookEndpointPayload {
    /// The endpoint; null when refused.
    pub endpoint: Option<WebhookEndpoint>,
    /// On creation only: the signing secret (`whsec_…`), shown this once. Verify
    /// `webhook-signature: v1,<base64 HMAC-SHA256(key, id.timestamp.body)>` with it.
    pub secret: Option<String>,
    /// Why the input was refused.
    pub user_errors: Vec<UserError>,
}

impl WebhookEndpointPayload {
    /// Refused: nothing was written.
    pub fn refused(user_errors: Vec<UserError>) -> Self {
        WebhookEndpointPayload { endpoint: None, secret: None, user_errors }
    }
}

/// Result of `deleteWebhookEndpoint` / `redeliverWebhook`.
#[derive(SimpleObject)]
pub struct WebhookActionPayload {
    /// True when done.
    pub ok: bool,
    /// The delivery, for `redeliverWebhook`.
    pub delivery: Option<WebhookDelivery>,
    /// Why it was refused.
    pub user_errors: Vec<UserError>,
}

impl InputFields for CreateWebhookEndpointInput {
    const FIELDS: &'static [&'static str] = &["url", "events", "description"];
}

impl InputFields for UpdateWebhookEndpointInput {
    const FIELDS: &'static [&'static str] = &["url", "events", "active", "description"];
}
