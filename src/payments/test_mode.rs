//! Test mode: in demo mode without Stripe keys, tixshop plays Stripe itself, so a
//! newcomer can click through a paid purchase without any account anywhere.
//!
//! It is not a shortcut around the payment path. The real Stripe client (async-stripe)
//! creates, expires and refunds Checkout Sessions against the small part of Stripe's API
//! served here under `/test-mode/stripe/v1/…`; the hosted page `/test-mode/pay/{id}` lists
//! the session's line items exactly as they were sent; paying there signs a
//! `checkout.session.completed` event with the webhook secret and POSTs it to this
//! server's own `/webhooks/stripe`, which verifies and applies it like any Stripe event.
//! Never mounted in production mode; every page says "test mode".

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use crate::domain::{Currency, Money};

/// The secret key the Stripe client uses in test mode (Stripe's own test-key shape).
pub const SECRET_KEY: &str = "sk_test_tixshop_test_mode";

/// Where the emulated API lives, below the server's own address.
pub const API_PATH: &str = "/test-mode/stripe/";

/// One line item of a session, as the client sent it.
#[derive(Debug, Clone)]
struct Line {
    name: String,
    unit_amount: i64,
    quantity: i64,
}

/// A Checkout Session the client created.
#[derive(Debug, Clone)]
struct Session {
    id: String,
    status: &'static str,
    currency: String,
    lines: Vec<Line>,
    success_url: String,
    cancel_url: String,
    metadata: HashMap<String, String>,
    email: Option<String>,
    expires_at: i64,
    created: i64,
    payment_intent: String,
}

impl Session {
    fn amount_total(&self) -> i64 {
        self.lines.iter().map(|l| l.unit_amount * l.quantity).sum()
    }

    /// The session as Stripe's API shows it (the fields async-stripe requires).
    fn to_json(&self, base: &str) -> Value {
        json!({
            "id": self.id, "object": "checkout.session", "status": self.status,
            "payment_status": if self.status == "complete" { "paid" } else { "unpaid" },
            "url": format!("{base}test-mode/pay/{}", self.id),
            "amount_total": self.amount_total(), "currency": self.currency,
            "created": self.created, "expires_at": self.expires_at, "livemode": false, "mode": "payment",
            "automatic_tax": { "enabled": false }, "custom_fields": [], "custom_text": {},
            "payment_method_types": ["card"], "shipping_options": [],
            "customer_email": self.email, "metadata": self.metadata,
            "payment_intent": (self.status == "complete").then(|| self.payment_intent.clone()),
        })
    }
}

/// The emulated Stripe of one server.
pub struct TestMode {
    /// This server's own base URL, e.g. `http://127.0.0.1:8000/`.
    base: String,
    /// The webhook signing secret shared with the webhook handler.
    webhook_secret: String,
    sessions: Mutex<HashMap<String, Session>>,
    counter: AtomicU64,
    http: reqwest::Client,
}

impl TestMode {
    /// Test mode for a server reachable at `base` whose webhook handler checks `webhook_secret`.
    pub fn new(base: String, webhook_secret: String) -> Self {
        TestMode {
            base,
            webhook_secret,
            sessions: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(0),
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default(),
        }
    }

    /// The API base the Stripe client is pointed at.
    pub fn api_base(&self) -> String {
        format!("{}{}", self.base, API_PATH.trim_start_matches('/'))
    }

    fn next_id(&self, prefix: &str) -> String {
        format!("{prefix}_test_{}", self.counter.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Axum state for the routes: the test mode, when it is on.
pub type Shared = std::sync::Arc<TestMode>;

fn stripe_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": { "type": "invalid_request_error", "message": message } }))).into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {SECRET_KEY}"))
}

/// `POST …/v1/checkout/sessions`.
pub async fn create_session(State(mode): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided");
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut lines = vec![];
    let mut currency = None;
    for i in 0.. {
        let Some(quantity) = field(&format!("line_items[{i}][quantity]")) else { break };
        let unit = field(&format!("line_items[{i}][price_data][unit_amount]"));
        let name = field(&format!("line_items[{i}][price_data][product_data][name]"));
        let (Ok(quantity), Some(Ok(unit_amount)), Some(name)) = (quantity.parse(), unit.map(|u| u.parse()), name)
        else {
            return stripe_error(StatusCode::BAD_REQUEST, "each line item needs a quantity, unit_amount and name");
        };
        currency = field(&format!("line_items[{i}][price_data][currency]"));
        lines.push(Line { name, unit_amount, quantity });
    }
    let (Some(success_url), Some(cancel_url), Some(currency)) = (field("success_url"), field("cancel_url"), currency)
    else {
        return stripe_error(StatusCode::BAD_REQUEST, "success_url, cancel_url and line_items are required");
    };
    let metadata = form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("metadata[")?.strip_suffix(']')?.to_owned(), v.clone())))
        .collect();
    let now = chrono::Utc::now().timestamp();
    let session = Session {
        id: mode.next_id("cs"),
        status: "open",
        currency,
        lines,
        success_url,
        cancel_url,
        metadata,
        email: field("customer_email"),
        expires_at: field("expires_at").and_then(|e| e.parse().ok()).unwrap_or(now + 1800),
        created: now,
        payment_intent: mode.next_id("pi"),
    };
    let shown = session.to_json(&mode.base);
    mode.sessions().insert(session.id.clone(), session);
    Json(shown).into_response()
}

/// `POST …/v1/checkout/sessions/{id}/expire`: only an open session can be expired.
pub async fn expire_session(State(mode): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided");
    }
    let mut sessions = mode.sessions();
    match sessions.get_mut(&id) {
        None => stripe_error(StatusCode::NOT_FOUND, "No such checkout.session"),
        Some(s) if s.status == "open" => {
            s.status = "expired";
            Json(s.to_json(&mode.base)).into_response()
        }
        Some(_) => {
            stripe_error(StatusCode::BAD_REQUEST, "Only Checkout Sessions with a status of open can be expired.")
        }
    }
}

/// `POST …/v1/refunds`: a refund of a test payment always succeeds.
pub async fn refund(State(mode): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided");
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let (Some(pi), Some(Ok(amount))) = (form.get("payment_intent"), form.get("amount").map(|a| a.parse::<i64>()))
    else {
        return stripe_error(StatusCode::BAD_REQUEST, "payment_intent and an integer amount are required");
    };
    Json(json!({ "id": mode.next_id("re"), "object": "refund", "payment_intent": pi, "amount": amount,
                 "status": "succeeded", "created": chrono::Utc::now().timestamp(), "currency": "eur" }))
    .into_response()
}

/// One line of the hosted page.
struct PageLine {
    name: String,
    quantity: i64,
    unit: String,
    total: String,
}

/// The hosted payment page.
#[derive(askama::Template)]
#[template(path = "test_pay.html")]
struct PayPage {
    id: String,
    email: String,
    lines: Vec<PageLine>,
    total: String,
    currency: String,
    status: &'static str,
}

fn money(minor: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Ok(c) => Money::from_minor(minor, c).to_string(),
        Err(_) => minor.to_string(),
    }
}

fn page_html(session: &Session) -> Response {
    let currency = session.currency.to_uppercase();
    let page = PayPage {
        id: session.id.clone(),
        email: session.email.clone().unwrap_or_default(),
        lines: session
            .lines
            .iter()
            .map(|l| PageLine {
                name: l.name.clone(),
                quantity: l.quantity,
                unit: money(l.unit_amount, &currency),
                total: money(l.unit_amount * l.quantity, &currency),
            })
            .collect(),
        total: money(session.amount_total(), &currency),
        currency,
        status: session.status,
    };
    match askama::Template::render(&page) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "test-mode page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /test-mode/pay/{id}`: the hosted page.
pub async fn pay_page(State(mode): State<Shared>, Path(id): Path<String>) -> Response {
    let session = mode.sessions().get(&id).cloned();
    match session {
        Some(s) => page_html(&s),
        None => (StatusCode::NOT_FOUND, Html("<h1>Test mode</h1><p>No such payment.</p>")).into_response(),
    }
}

/// `POST /test-mode/pay/{id}` with `action=pay` or `action=cancel`.
pub async fn pay(State(mode): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let Some(session) = mode.sessions().get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, Html("<h1>Test mode</h1><p>No such payment.</p>")).into_response();
    };
    if form.get("action").map(String::as_str) == Some("cancel") {
        return Redirect::to(&session.cancel_url).into_response();
    }
    if session.status != "open" {
        return page_html(&session);
    }
    let mut paid = session.clone();
    paid.status = "complete";
    let event = json!({
        "id": mode.next_id("evt"), "object": "event", "api_version": super::stripe::API_VERSION,
        "created": chrono::Utc::now().timestamp(), "livemode": false, "pending_webhooks": 1,
        "type": "checkout.session.completed", "data": { "object": paid.to_json(&mode.base) },
    });
    let body = event.to_string();
    let signature = super::stripe::sign(body.as_bytes(), &mode.webhook_secret, super::stripe::unix_now());
    // Through the front door: the same verification and paid transition as Stripe's events.
    let delivered = mode
        .http
        .post(format!("{}webhooks/stripe", mode.base))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    match delivered {
        Ok(r) if r.status().is_success() => {
            if let Some(s) = mode.sessions().get_mut(&id) {
                s.status = "complete";
            }
            let target = session.success_url.replace("{CHECKOUT_SESSION_ID}", &id);
            Redirect::to(&target).into_response()
        }
        Ok(r) => {
            tracing::warn!(status = %r.status(), "test-mode webhook refused");
            (StatusCode::BAD_GATEWAY, Html("<h1>Test mode</h1><p>The shop refused the payment event.</p>"))
                .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "test-mode webhook failed");
            (StatusCode::BAD_GATEWAY, Html("<h1>Test mode</h1><p>The shop could not be reached.</p>")).into_response()
        }
    }
}
