//! Stripe through async-stripe: Checkout Sessions (create, expire), Refunds, and
//! webhook signatures and events.
//!
//! The client is async-stripe's, built with a configurable base URL (tests point it at
//! a fake on loopback), a timeout, one attempt per call and an idempotency key per
//! request. The Stripe API version is the one the crate's types are generated for
//! ([`API_VERSION`]), sent with every request. Verified webhook events are turned into
//! provider-neutral [`PaymentEvent`]s here, so nothing past this module reads Stripe's
//! shapes.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    CreateCheckoutSessionPaymentIntentData, ExpireCheckoutSession, ProductData,
};
use stripe_checkout::{CheckoutSession, CheckoutSessionMode, CheckoutSessionPaymentStatus};
use stripe_core::refund::CreateRefund;
use stripe_webhook::{EventObject, Webhook, WebhookError};

use super::{
    CheckoutRedirect, CheckoutRequest, PaymentEvent, PaymentProvider, ProviderError, ReceivedEvent, ReportedRefund,
};

const NAME: &str = "Stripe";

/// The Stripe API version tixshop speaks: the one async-stripe's types are generated
/// for (it sends it as `Stripe-Version`). Webhook endpoints should be created at it.
pub const API_VERSION: &str = "2026-09-30.endive";

/// Largest age of a signed webhook, per Stripe's recommendation (async-stripe's check).
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// Stripe's minimum charge per currency, minor units (from Stripe's currency docs);
/// 50 minor units (0.50) elsewhere.
pub fn minimum_charge(currency: &str) -> i64 {
    match currency.to_ascii_uppercase().as_str() {
        "GBP" => 30,
        "JPY" => 50,
        "DKK" => 250,
        "NOK" | "SEK" => 300,
        "PLN" | "AED" | "RON" => 200,
        "BGN" => 100,
        "CZK" => 1500,
        "HUF" => 17500,
        "MXN" | "THB" => 1000,
        "HKD" => 400,
        "BHD" | "KWD" | "OMR" | "JOD" => 500,
        _ => 50,
    }
}

/// The Stripe API client.
#[derive(Clone)]
pub struct StripeClient {
    client: Client,
}

impl std::fmt::Debug for StripeClient {
    // The client holds the secret key: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient").finish_non_exhaustive()
    }
}

fn failed(error: StripeError) -> ProviderError {
    match error {
        StripeError::Stripe(details, status) => ProviderError::Status {
            provider: NAME,
            status,
            body: details.message.clone().unwrap_or_else(|| "no message".to_owned()),
        },
        StripeError::JSONDeserialize(message) => ProviderError::Unexpected { provider: NAME, message },
        other => ProviderError::Transport { provider: NAME, message: other.to_string() },
    }
}

fn idempotent(key: String) -> Result<RequestStrategy, ProviderError> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| ProviderError::Unexpected { provider: NAME, message: e.to_string() })
}

impl StripeClient {
    /// A client for `base` (e.g. `https://api.stripe.com`) with a secret key, giving up
    /// on a call after `timeout`.
    pub fn new(base: &url::Url, secret_key: &str, timeout: Duration) -> Result<Self, ProviderError> {
        let client = ClientBuilder::new(secret_key)
            .url(base.as_str())
            .timeout(timeout)
            // One attempt: a retry is the caller's decision, under the same key.
            .request_strategy(RequestStrategy::Once)
            .app_info("tixshop", Some(env!("CARGO_PKG_VERSION").to_owned()), None)
            .build()
            .map_err(failed)?;
        Ok(StripeClient { client })
    }
}

/// The Checkout Session of an order: one line item per price point, names saying which
/// code applied, the order id in metadata, `expires_at` aligned with the order's.
pub fn checkout_session(request: &CheckoutRequest) -> Result<CreateCheckoutSession, ProviderError> {
    let currency = stripe_types::Currency::from_str(&request.currency.to_ascii_lowercase())
        .map_err(|_| ProviderError::Unexpected { provider: NAME, message: format!("currency {}", request.currency) })?;
    let line_items: Vec<CreateCheckoutSessionLineItems> = request
        .lines
        .iter()
        .map(|line| {
            let mut price = CreateCheckoutSessionLineItemsPriceData::new(currency.clone());
            price.unit_amount = Some(line.unit_amount);
            price.product_data = Some(ProductData::new(line.name.clone()));
            CreateCheckoutSessionLineItems {
                price_data: Some(price),
                quantity: Some(u64::from(line.quantity)),
                ..Default::default()
            }
        })
        .collect();
    let metadata = HashMap::from([
        ("order_id".to_owned(), request.order_id.to_string()),
        ("order_number".to_owned(), request.order_number.clone()),
    ]);
    let mut payment_intent = CreateCheckoutSessionPaymentIntentData::new();
    payment_intent.metadata = Some(HashMap::from([("order_id".to_owned(), request.order_id.to_string())]));
    Ok(CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Payment)
        .success_url(request.success_url.clone())
        .cancel_url(request.cancel_url.clone())
        .customer_email(request.email.clone())
        .client_reference_id(request.order_number.clone())
        .metadata(metadata)
        .payment_intent_data(payment_intent)
        .expires_at(request.expires_at.timestamp())
        .line_items(line_items))
}

#[async_trait::async_trait]
impl PaymentProvider for StripeClient {
    fn minimum_charge(&self, currency: &str) -> i64 {
        minimum_charge(currency)
    }

    async fn start(&self, request: &CheckoutRequest) -> Result<CheckoutRedirect, ProviderError> {
        let session: CheckoutSession = checkout_session(request)?
            .customize()
            .request_strategy(idempotent(format!("tixshop-checkout-order-{}", request.order_id))?)
            .send(&self.client)
            .await
            .map_err(failed)?;
        let url = session
            .url
            .ok_or_else(|| ProviderError::Unexpected { provider: NAME, message: "no url in the session".into() })?;
        Ok(CheckoutRedirect { provider_ref: session.id.as_str().to_owned(), redirect_url: url })
    }

    async fn expire(&self, provider_ref: &str) -> Result<(), ProviderError> {
        // Only an open session can be expired: Stripe refuses a complete one, which is
        // exactly the case where the caller must not start another payment.
        ExpireCheckoutSession::new(provider_ref)
            .customize()
            .request_strategy(idempotent(format!("tixshop-expire-{provider_ref}"))?)
            .send(&self.client)
            .await
            .map(|_| ())
            .map_err(failed)
    }

    async fn refund(
        &self,
        payment_ref: &str,
        amount: i64,
        _currency: &str,
        key: &str,
    ) -> Result<String, ProviderError> {
        let refund = CreateRefund::new()
            .payment_intent(payment_ref)
            .amount(amount)
            .customize()
            .request_strategy(idempotent(key.to_owned())?)
            .send(&self.client)
            .await
            .map_err(failed)?;
        Ok(refund.id.as_str().to_owned())
    }
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header, or no `t=` / `v1=` in it.
    #[error("missing or malformed Stripe-Signature header")]
    Malformed,
    /// Older (or newer) than the tolerance.
    #[error("signature timestamp outside the tolerance")]
    Stale,
    /// No `v1` matches.
    #[error("signature does not match")]
    Mismatch,
    /// Signed, but not an event of the shape the API version promises.
    #[error("not a Stripe event: {0}")]
    NotAnEvent(String),
}

/// Verifies `Stripe-Signature` over the raw body at `now` (unix seconds) and parses the
/// event; the event types tixshop acts on become [`PaymentEvent`]s, the others
/// [`PaymentEvent::Other`].
pub fn verify_event(header: Option<&str>, body: &str, secret: &str, now: i64) -> Result<ReceivedEvent, SignatureError> {
    let header = header.ok_or(SignatureError::Malformed)?;
    let event = Webhook::construct_event_with_timestamp(body, header, secret, now).map_err(|e| match e {
        WebhookError::BadHeader(_) => SignatureError::Malformed,
        WebhookError::BadTimestamp(_) => SignatureError::Stale,
        WebhookError::BadSignature | WebhookError::BadKey => {
            // async-stripe reports a header without `t=`/`v1=` as a bad signature too.
            if header.split(',').any(|p| p.trim().starts_with("v1=")) && header.contains("t=") {
                SignatureError::Mismatch
            } else {
                SignatureError::Malformed
            }
        }
        WebhookError::BadParse(message) => SignatureError::NotAnEvent(message),
    })?;
    Ok(ReceivedEvent {
        id: event.id.as_str().to_owned(),
        kind: event.type_.to_string(),
        event: translate(&event.type_.to_string(), event.data.object),
    })
}

fn session_event(session: &CheckoutSession) -> (String, Option<i64>, Option<String>) {
    let order_id = session.metadata.as_ref().and_then(|m| m.get("order_id")).and_then(|v| v.parse::<i64>().ok());
    let payment = session.payment_intent.as_ref().map(|p| p.id().as_str().to_owned());
    (session.id.as_str().to_owned(), order_id, payment)
}

fn translate(kind: &str, object: EventObject) -> PaymentEvent {
    match object {
        EventObject::CheckoutSessionCompleted(session) => {
            let (session_id, order_id, payment) = session_event(&session);
            let paid = session.payment_status == CheckoutSessionPaymentStatus::Paid;
            PaymentEvent::SessionCompleted { session: session_id, order_id, paid, payment }
        }
        EventObject::CheckoutSessionAsyncPaymentSucceeded(session) => {
            let (session_id, order_id, payment) = session_event(&session);
            PaymentEvent::SessionCompleted { session: session_id, order_id, paid: true, payment }
        }
        EventObject::CheckoutSessionAsyncPaymentFailed(session) => {
            let (session_id, order_id, _) = session_event(&session);
            PaymentEvent::PaymentFailed { session: session_id, order_id }
        }
        EventObject::CheckoutSessionExpired(session) => {
            let (session_id, order_id, _) = session_event(&session);
            PaymentEvent::SessionExpired { session: session_id, order_id }
        }
        // Since API version 2022-11-15 a charge rarely lists its refunds; refunds made in
        // the dashboard arrive as refund events whose object is the refund.
        EventObject::ChargeRefunded(charge) => match charge.payment_intent.as_ref() {
            Some(payment) => PaymentEvent::Refunded {
                payment: payment.id().as_str().to_owned(),
                refunds: charge
                    .refunds
                    .iter()
                    .flat_map(|list| list.data.iter())
                    .map(|r| ReportedRefund { id: r.id.as_str().to_owned(), amount: r.amount })
                    .collect(),
            },
            None => PaymentEvent::Other,
        },
        EventObject::RefundCreated(refund) | EventObject::RefundUpdated(refund) => {
            let settled = matches!(refund.status.as_deref(), Some("succeeded" | "pending"));
            match refund.payment_intent.as_ref() {
                Some(payment) if settled => PaymentEvent::Refunded {
                    payment: payment.id().as_str().to_owned(),
                    refunds: vec![ReportedRefund { id: refund.id.as_str().to_owned(), amount: refund.amount }],
                },
                _ => PaymentEvent::Other,
            }
        }
        _ => {
            tracing::debug!(kind, "a Stripe event tixshop does not act on; acknowledged");
            PaymentEvent::Other
        }
    }
}

/// Now, as Stripe timestamps count.
pub fn unix_now() -> i64 {
    Utc::now().timestamp()
}

/// Signs a payload the way Stripe does (for tests and local tooling).
pub fn sign(body: &[u8], secret: &str, timestamp: i64) -> String {
    Webhook::generate_test_header(&String::from_utf8_lossy(body), secret, Some(timestamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, object: &str) -> String {
        format!(
            r#"{{"id":"evt_1","object":"event","api_version":"{API_VERSION}","created":1800000000,"livemode":false,"pending_webhooks":1,"type":"{kind}","data":{{"object":{object}}}}}"#
        )
    }

    const SESSION: &str = r#"{"id":"cs_test_1","object":"checkout.session","created":1,"expires_at":2,"livemode":false,"mode":"payment","payment_status":"paid","status":"complete","automatic_tax":{"enabled":false},"custom_fields":[],"custom_text":{},"payment_method_types":["card"],"shipping_options":[],"metadata":{"order_id":"42"},"payment_intent":"pi_1"}"#;

    #[test]
    fn signatures_verify_and_refuse() {
        let body = event("checkout.session.completed", SESSION);
        let now = 1_800_000_000;
        let header = sign(body.as_bytes(), "whsec_test", now);
        assert!(verify_event(Some(&header), &body, "whsec_test", now).is_ok());
        assert!(verify_event(Some(&header), &body, "whsec_test", now + 299).is_ok());
        assert_eq!(verify_event(Some(&header), &body, "whsec_test", now + 301).unwrap_err(), SignatureError::Stale);
        assert_eq!(verify_event(Some(&header), &body, "whsec_other", now).unwrap_err(), SignatureError::Mismatch);
        let tampered = body.replace("42", "43");
        assert_eq!(verify_event(Some(&header), &tampered, "whsec_test", now).unwrap_err(), SignatureError::Mismatch);
        assert_eq!(verify_event(None, &body, "whsec_test", now).unwrap_err(), SignatureError::Malformed);
        assert_eq!(verify_event(Some("t=1"), &body, "whsec_test", now).unwrap_err(), SignatureError::Malformed);
        // Several v1 entries (secret rotation): any match will do.
        let rotated = format!("{header},v1={}", "00".repeat(32));
        assert!(verify_event(Some(&rotated), &body, "whsec_test", now).is_ok());
    }

    /// A signature computed outside this code base, by Stripe's documented scheme
    /// (HMAC-SHA256 of `"{t}.{body}"` with the endpoint secret, hex), for a fixed secret,
    /// timestamp and body: signer and verifier cannot share a bug.
    #[test]
    fn a_signature_made_by_stripes_documented_scheme_verifies() {
        let body = r#"{"id":"evt_fixed","object":"event","api_version":"2026-09-30.endive","created":1614265330,"livemode":false,"pending_webhooks":1,"type":"checkout.session.expired","data":{"object":{"id":"cs_fixed","object":"checkout.session","created":1,"expires_at":2,"livemode":false,"mode":"payment","payment_status":"unpaid","status":"expired","automatic_tax":{"enabled":false},"custom_fields":[],"custom_text":{},"payment_method_types":["card"],"shipping_options":[],"metadata":{"order_id":"7"}}}}"#;
        // Computed with Python's hmac module, not with this crate:
        // hmac.new(SECRET, b"1614265330." + BODY, hashlib.sha256).hexdigest()
        let header = "t=1614265330,v1=bcfc07aee3f367fb5b7e55827ab7f860a9564f077207c0e2325fe0bb20e6580a";
        let received = verify_event(Some(header), body, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1_614_265_330)
            .expect("the published scheme verifies");
        assert_eq!(received.id, "evt_fixed");
        assert_eq!(received.event, PaymentEvent::SessionExpired { session: "cs_fixed".into(), order_id: Some(7) });
        // One byte changed: refused.
        let changed = body.replace("\"7\"", "\"8\"");
        assert!(verify_event(Some(header), &changed, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1_614_265_330).is_err());
    }

    #[test]
    fn events_become_provider_neutral() {
        let body = event("checkout.session.completed", SESSION);
        let header = sign(body.as_bytes(), "whsec_test", 1_800_000_000);
        let received = verify_event(Some(&header), &body, "whsec_test", 1_800_000_000).unwrap();
        assert_eq!(received.kind, "checkout.session.completed");
        assert_eq!(
            received.event,
            PaymentEvent::SessionCompleted {
                session: "cs_test_1".into(),
                order_id: Some(42),
                paid: true,
                payment: Some("pi_1".into())
            }
        );
        let refund = r#"{"id":"re_1","object":"refund","amount":500,"created":1,"currency":"eur","status":"succeeded","payment_intent":"pi_1"}"#;
        let body = event("refund.created", refund);
        let header = sign(body.as_bytes(), "whsec_test", 1_800_000_000);
        let received = verify_event(Some(&header), &body, "whsec_test", 1_800_000_000).unwrap();
        assert_eq!(
            received.event,
            PaymentEvent::Refunded {
                payment: "pi_1".into(),
                refunds: vec![ReportedRefund { id: "re_1".into(), amount: 500 }]
            }
        );
    }
}
