//! PayPal Orders v2 over reqwest: OAuth2 client credentials, create order, capture,
//! refund, and webhook verification through PayPal's verify-webhook-signature call.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{
    Capture, CaptureStatus, CheckoutRedirect, CheckoutRequest, PaymentEvent, PaymentProvider, ProviderError,
    ReceivedEvent,
};
use crate::domain::{Currency, Money};

const NAME: &str = "PayPal";

/// The PayPal REST client.
#[derive(Debug)]
pub struct PaypalClient {
    http: reqwest::Client,
    base: url::Url,
    client_id: String,
    client_secret: String,
    /// The webhook's id at PayPal: verification asks about deliveries to it.
    webhook_id: Option<String>,
    /// Cached access token and when it stops being valid.
    token: Mutex<Option<(String, Instant)>>,
}

fn unexpected(message: impl Into<String>) -> ProviderError {
    ProviderError::Unexpected { provider: NAME, message: message.into() }
}

/// Minor units as PayPal's decimal string in `currency` (JPY "500", EUR "12.50").
pub fn value(minor: i64, currency: &str) -> Result<String, ProviderError> {
    let currency = Currency::parse(currency).map_err(|e| unexpected(e.to_string()))?;
    Ok(Money::from_minor(minor, currency).to_string())
}

fn to_minor(value: &str, currency: &str) -> Option<i64> {
    let currency = Currency::parse(currency).ok()?;
    Money::parse(value, currency).ok().map(|m| m.minor())
}

impl PaypalClient {
    /// A client for `base` (e.g. `https://api-m.paypal.com`); `webhook_id` is needed to
    /// verify webhooks.
    pub fn new(
        base: url::Url,
        client_id: String,
        client_secret: String,
        webhook_id: Option<String>,
        timeout: Duration,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("a TLS client builds");
        PaypalClient { http, base, client_id, client_secret, webhook_id, token: Mutex::new(None) }
    }

    async fn access_token(&self) -> Result<String, ProviderError> {
        if let Some((token, until)) = self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
            && Instant::now() < until
        {
            return Ok(token);
        }
        let url = self.base.join("/v1/oauth2/token").map_err(|e| unexpected(e.to_string()))?;
        let response = self
            .http
            .post(url)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .map_err(|e| ProviderError::Transport { provider: NAME, message: e.to_string() })?;
        let body: TokenResponse = Self::read(response).await?;
        let token = body.access_token;
        // Renew a minute early.
        let lifetime = body.expires_in.unwrap_or(DEFAULT_TOKEN_SECS).saturating_sub(TOKEN_RENEWAL_MARGIN_SECS);
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((token.clone(), Instant::now() + Duration::from_secs(lifetime)));
        Ok(token)
    }

    async fn read<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T, ProviderError> {
        let status = response.status();
        let text =
            response.text().await.map_err(|e| ProviderError::Transport { provider: NAME, message: e.to_string() })?;
        if !status.is_success() {
            return Err(ProviderError::Status { provider: NAME, status: status.as_u16(), body: text });
        }
        serde_json::from_str(&text).map_err(|e| unexpected(e.to_string()))
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
        request_id: Option<&str>,
    ) -> Result<T, ProviderError> {
        let token = self.access_token().await?;
        let url = self.base.join(path).map_err(|e| unexpected(e.to_string()))?;
        let mut request = self.http.post(url).bearer_auth(token).json(body);
        if let Some(id) = request_id {
            request = request.header("PayPal-Request-Id", id);
        }
        let response =
            request.send().await.map_err(|e| ProviderError::Transport { provider: NAME, message: e.to_string() })?;
        Self::read(response).await
    }

    async fn capture_order(&self, paypal_order_id: &str, request_id: &str) -> Result<Capture, ProviderError> {
        let body: CapturedOrder =
            self.post(&format!("/v2/checkout/orders/{paypal_order_id}/capture"), &json!({}), Some(request_id)).await?;
        body.purchase_units
            .into_iter()
            .flat_map(|unit| unit.payments.captures)
            .next()
            .map(Capture::from)
            .ok_or_else(|| unexpected("no capture in the answer"))
    }

    /// Asks PayPal whether a webhook delivery is genuine. The event goes to PayPal exactly
    /// as it arrived (`raw_event`), not re-serialized, since the signature covers those bytes.
    async fn verify_delivery(&self, headers: &[(&str, &str)], raw_event: &str) -> Result<bool, ProviderError> {
        let Some(webhook_id) = self.webhook_id.as_deref() else {
            return Err(unexpected("no webhook id configured"));
        };
        let header =
            |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v).unwrap_or("");
        let text = |v: &str| serde_json::to_string(v).expect("strings serialize");
        let body = format!(
            r#"{{"auth_algo":{},"cert_url":{},"transmission_id":{},"transmission_sig":{},"transmission_time":{},"webhook_id":{},"webhook_event":{}}}"#,
            text(header("paypal-auth-algo")),
            text(header("paypal-cert-url")),
            text(header("paypal-transmission-id")),
            text(header("paypal-transmission-sig")),
            text(header("paypal-transmission-time")),
            text(webhook_id),
            raw_event,
        );
        let token = self.access_token().await?;
        let url =
            self.base.join("/v1/notifications/verify-webhook-signature").map_err(|e| unexpected(e.to_string()))?;
        let response = self
            .http
            .post(url)
            .bearer_auth(token)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| ProviderError::Transport { provider: NAME, message: e.to_string() })?;
        let answer: Verification = Self::read(response).await?;
        Ok(answer.verification_status == "SUCCESS")
    }
}

/// An amount as PayPal writes it: a currency and a decimal string.
#[derive(Debug, Clone, serde::Deserialize)]
struct Amount {
    currency_code: String,
    value: String,
}

/// The ids a capture refers to.
#[derive(Debug, Clone, Default, serde::Deserialize)]
struct RelatedIds {
    /// The PayPal order the capture belongs to.
    order_id: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
struct SupplementaryData {
    #[serde(default)]
    related_ids: RelatedIds,
}

/// A capture object (a capture response's or a `PAYMENT.CAPTURE.*` webhook resource).
#[derive(Debug, Clone, serde::Deserialize)]
struct CaptureObject {
    id: String,
    #[serde(default = "not_captured")]
    status: CaptureStatus,
    amount: Option<Amount>,
    #[serde(default)]
    supplementary_data: SupplementaryData,
}

fn not_captured() -> CaptureStatus {
    CaptureStatus::NotCaptured
}

impl From<CaptureObject> for Capture {
    fn from(capture: CaptureObject) -> Self {
        let (currency, value) = capture.amount.map(|a| (a.currency_code, a.value)).unwrap_or_default();
        Capture { capture_id: capture.id, status: capture.status, amount: to_minor(&value, &currency), currency }
    }
}

/// How long an access token lives when PayPal does not say.
const DEFAULT_TOKEN_SECS: u64 = 300;
/// Tokens are renewed this long before they expire, so none runs out mid-request.
const TOKEN_RENEWAL_MARGIN_SECS: u64 = 60;

/// `POST /v1/oauth2/token`'s answer.
#[derive(Debug, serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

/// A link of a created order (`rel` says what it is for).
#[derive(Debug, serde::Deserialize)]
struct Link {
    href: String,
    rel: String,
}

/// `POST /v2/checkout/orders`'s answer.
#[derive(Debug, serde::Deserialize)]
struct CreatedOrder {
    id: String,
    #[serde(default)]
    links: Vec<Link>,
}

/// The payments of one purchase unit of a captured order.
#[derive(Debug, Default, serde::Deserialize)]
struct Payments {
    #[serde(default)]
    captures: Vec<CaptureObject>,
}

#[derive(Debug, serde::Deserialize)]
struct PurchaseUnit {
    #[serde(default)]
    payments: Payments,
}

/// `POST /v2/checkout/orders/{id}/capture`'s answer.
#[derive(Debug, serde::Deserialize)]
struct CapturedOrder {
    #[serde(default)]
    purchase_units: Vec<PurchaseUnit>,
}

/// An answer that only names what it created (a refund).
#[derive(Debug, serde::Deserialize)]
struct Created {
    id: String,
}

/// `POST /v1/notifications/verify-webhook-signature`'s answer.
#[derive(Debug, serde::Deserialize)]
struct Verification {
    verification_status: String,
}

/// A webhook event as PayPal posts it.
#[derive(Debug, Clone, serde::Deserialize)]
struct WebhookEvent {
    id: String,
    event_type: String,
    #[serde(default)]
    resource: Value,
}

/// Parses a (verified) webhook body: `PAYMENT.CAPTURE.COMPLETED` becomes
/// [`PaymentEvent::CaptureCompleted`], other types [`PaymentEvent::Other`].
pub fn parse_event(raw: &str) -> Result<ReceivedEvent, ProviderError> {
    let event: WebhookEvent = serde_json::from_str(raw).map_err(|e| unexpected(format!("not a PayPal event: {e}")))?;
    let payment_event = if event.event_type == "PAYMENT.CAPTURE.COMPLETED" {
        match serde_json::from_value::<CaptureObject>(event.resource) {
            Ok(capture) => match capture.supplementary_data.related_ids.order_id.clone() {
                Some(provider_order) => PaymentEvent::CaptureCompleted { provider_order, capture: capture.into() },
                None => PaymentEvent::Other,
            },
            Err(e) => return Err(unexpected(format!("an unreadable capture: {e}"))),
        }
    } else {
        PaymentEvent::Other
    };
    Ok(ReceivedEvent { id: event.id, kind: event.event_type, event: payment_event })
}

/// The Orders v2 body for an order: the amount is the discounted total, with an item
/// breakdown that sums to it.
pub fn order_body(request: &CheckoutRequest) -> Result<Value, ProviderError> {
    let currency = request.currency.as_str();
    let items = request
        .lines
        .iter()
        .map(|line| {
            Ok(json!({
                "name": line.name.chars().take(127).collect::<String>(),
                "quantity": line.quantity.to_string(),
                "unit_amount": { "currency_code": currency, "value": value(line.unit_amount, currency)? },
            }))
        })
        .collect::<Result<Vec<Value>, ProviderError>>()?;
    let item_total: i64 = request.lines.iter().map(|l| l.unit_amount * i64::from(l.quantity)).sum();
    Ok(json!({
        "intent": "CAPTURE",
        "purchase_units": [{
            "reference_id": request.order_number,
            "custom_id": request.order_id.to_string(),
            "invoice_id": request.order_number,
            "amount": {
                "currency_code": currency,
                "value": value(request.total, currency)?,
                "breakdown": { "item_total": { "currency_code": currency, "value": value(item_total, currency)? } },
            },
            "items": items,
        }],
        "payment_source": { "paypal": { "experience_context": {
            "return_url": request.success_url,
            "cancel_url": request.cancel_url,
            "user_action": "PAY_NOW",
        } } },
    }))
}

#[async_trait::async_trait]
impl PaymentProvider for PaypalClient {
    fn minimum_charge(&self, _currency: &str) -> i64 {
        1
    }

    async fn start(&self, request: &CheckoutRequest) -> Result<CheckoutRedirect, ProviderError> {
        let body = order_body(request)?;
        let created: CreatedOrder =
            self.post("/v2/checkout/orders", &body, Some(&format!("tixshop-order-{}", request.order_id))).await?;
        let link = created
            .links
            .into_iter()
            .find(|l| matches!(l.rel.as_str(), "payer-action" | "approve"))
            .ok_or_else(|| unexpected("no approval link"))?;
        Ok(CheckoutRedirect { provider_ref: created.id, redirect_url: link.href })
    }

    async fn capture(&self, provider_ref: &str, idempotency_key: &str) -> Result<Capture, ProviderError> {
        self.capture_order(provider_ref, idempotency_key).await
    }

    async fn verify_webhook(&self, headers: &[(&str, &str)], raw: &str) -> Result<bool, ProviderError> {
        self.verify_delivery(headers, raw).await
    }

    async fn expire(&self, _provider_ref: &str) -> Result<(), ProviderError> {
        // PayPal has no call to void an order the buyer has not approved, and none is
        // needed: money moves only when tixshop captures it, and `capture_paypal`
        // refuses an order that is no longer pending.
        Ok(())
    }

    async fn refund(&self, payment_ref: &str, amount: i64, currency: &str, key: &str) -> Result<String, ProviderError> {
        let body = json!({ "amount": { "currency_code": currency, "value": value(amount, currency)? } });
        let refund: Created =
            self.post(&format!("/v2/payments/captures/{payment_ref}/refund"), &body, Some(key)).await?;
        Ok(refund.id)
    }
}
