//! Stripe: Checkout Sessions and Refunds over its form-encoded REST API, and webhook
//! signature verification.
//!
//! Spoken to directly with reqwest rather than through async-stripe: two endpoints and
//! one signature scheme, written out here, keep one HTTP client, full control of
//! idempotency keys and a base URL the tests can point at a fake.

use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{CheckoutRedirect, CheckoutRequest, PaymentProvider, Provider, ProviderError};

const NAME: &str = "Stripe";

/// The Stripe API version tixshop is written against.
pub const API_VERSION: &str = "2024-06-20";

/// Largest age of a signed webhook, per Stripe's recommendation.
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
#[derive(Debug, Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    base: url::Url,
    secret_key: String,
}

impl StripeClient {
    /// A client for `base` (e.g. `https://api.stripe.com`) with a secret key, giving up
    /// after `timeout`.
    pub fn new(base: url::Url, secret_key: String, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("a TLS client builds");
        StripeClient { http, base, secret_key }
    }

    async fn post(&self, path: &str, form: String, idempotency_key: &str) -> Result<serde_json::Value, ProviderError> {
        let url =
            self.base.join(path).map_err(|e| ProviderError::Unexpected { provider: NAME, message: e.to_string() })?;
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.secret_key)
            .header("Idempotency-Key", idempotency_key)
            // Pinned, so event and object shapes do not change under us.
            .header("Stripe-Version", API_VERSION)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| ProviderError::Transport { provider: NAME, message: e.to_string() })?;
        let status = response.status();
        let body =
            response.text().await.map_err(|e| ProviderError::Transport { provider: NAME, message: e.to_string() })?;
        if !status.is_success() {
            return Err(ProviderError::Status { provider: NAME, status: status.as_u16(), body });
        }
        serde_json::from_str(&body).map_err(|e| ProviderError::Unexpected { provider: NAME, message: e.to_string() })
    }
}

/// The form of a Checkout Session for an order: one line item per price point, names
/// saying which code applied, the order id in metadata, `expires_at` aligned with the
/// order's.
pub fn checkout_session_form(request: &CheckoutRequest) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("mode", "payment");
    form.append_pair("success_url", &request.success_url);
    form.append_pair("cancel_url", &request.cancel_url);
    form.append_pair("customer_email", &request.email);
    form.append_pair("client_reference_id", &request.order_number);
    form.append_pair("metadata[order_id]", &request.order_id.to_string());
    form.append_pair("metadata[order_number]", &request.order_number);
    form.append_pair("payment_intent_data[metadata][order_id]", &request.order_id.to_string());
    form.append_pair("expires_at", &request.expires_at.timestamp().to_string());
    let currency = request.currency.to_ascii_lowercase();
    for (i, line) in request.lines.iter().enumerate() {
        form.append_pair(&format!("line_items[{i}][price_data][currency]"), &currency);
        form.append_pair(&format!("line_items[{i}][price_data][unit_amount]"), &line.unit_amount.to_string());
        form.append_pair(&format!("line_items[{i}][price_data][product_data][name]"), &line.name);
        form.append_pair(&format!("line_items[{i}][quantity]"), &line.quantity.to_string());
    }
    form.finish()
}

#[async_trait::async_trait]
impl PaymentProvider for StripeClient {
    fn kind(&self) -> Provider {
        Provider::Stripe
    }

    fn minimum_charge(&self, currency: &str) -> i64 {
        minimum_charge(currency)
    }

    async fn start(&self, request: &CheckoutRequest) -> Result<CheckoutRedirect, ProviderError> {
        let key = format!("tixshop-checkout-order-{}", request.order_id);
        let session = self.post("/v1/checkout/sessions", checkout_session_form(request), &key).await?;
        let missing =
            |what: &str| ProviderError::Unexpected { provider: NAME, message: format!("no {what} in the session") };
        Ok(CheckoutRedirect {
            provider_ref: session["id"].as_str().ok_or_else(|| missing("id"))?.to_owned(),
            redirect_url: session["url"].as_str().ok_or_else(|| missing("url"))?.to_owned(),
        })
    }

    async fn expire(&self, provider_ref: &str) -> Result<(), ProviderError> {
        // Only an open session can be expired: Stripe refuses a complete one, which is
        // exactly the case where the caller must not start another payment.
        let path = format!("/v1/checkout/sessions/{provider_ref}/expire");
        self.post(&path, String::new(), &format!("tixshop-expire-{provider_ref}")).await.map(|_| ())
    }

    async fn refund(
        &self,
        payment_ref: &str,
        amount: i64,
        _currency: &str,
        key: &str,
    ) -> Result<String, ProviderError> {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payment_intent", payment_ref)
            .append_pair("amount", &amount.to_string())
            .finish();
        let refund = self.post("/v1/refunds", form, key).await?;
        refund["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ProviderError::Unexpected { provider: NAME, message: "no id in the refund".into() })
    }
}

/// Why a webhook signature was refused.
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
}

/// Verifies `Stripe-Signature: t=…,v1=…[,v1=…]` over the raw body: HMAC-SHA256 of
/// `"{t}.{body}"` with the endpoint secret, compared in constant time, within
/// [`SIGNATURE_TOLERANCE_SECS`] of now.
pub fn verify_signature(header: Option<&str>, body: &[u8], secret: &str, now: i64) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Malformed)?;
    let mut timestamp = None;
    let mut signatures = vec![];
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.checked_sub(timestamp).is_none_or(|age| age.abs() > SIGNATURE_TOLERANCE_SECS) {
        return Err(SignatureError::Stale);
    }
    for signature in signatures {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        if mac.verify_slice(&signature).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// Signs a payload the way Stripe does (for tests and local tooling).
pub fn sign(body: &[u8], secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Now, as Stripe timestamps count.
pub fn unix_now() -> i64 {
    Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_refuse() {
        let body = br#"{"id":"evt_1"}"#;
        let now = 1_800_000_000;
        let header = sign(body, "whsec_test", now);
        assert_eq!(verify_signature(Some(&header), body, "whsec_test", now), Ok(()));
        assert_eq!(verify_signature(Some(&header), body, "whsec_test", now + 299), Ok(()));
        assert_eq!(verify_signature(Some(&header), body, "whsec_test", now + 301), Err(SignatureError::Stale));
        assert_eq!(verify_signature(Some(&header), body, "whsec_other", now), Err(SignatureError::Mismatch));
        assert_eq!(
            verify_signature(Some(&header), br#"{"id":"evt_2"}"#, "whsec_test", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify_signature(None, body, "whsec_test", now), Err(SignatureError::Malformed));
        assert_eq!(verify_signature(Some("t=1"), body, "whsec_test", now), Err(SignatureError::Malformed));
        // Several v1 entries (secret rotation): any match will do.
        let rotated = format!("{header},v1={}", "00".repeat(32));
        assert_eq!(verify_signature(Some(&rotated), body, "whsec_test", now), Ok(()));
    }
}
