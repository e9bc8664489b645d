//! Fake payment providers on loopback: they parse requests as the real APIs do, check
//! what the real APIs would refuse, record everything, and can be told to fail.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// As the real API would.
    Normal,
    /// 500 to everything.
    Fail,
    /// Never answers (until the client gives up).
    Hang,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The path, e.g. `/v1/checkout/sessions`.
    pub path: String,
    /// Headers, lower-case names.
    pub headers: HashMap<String, String>,
    /// The form fields in order.
    pub form: Vec<(String, String)>,
}

impl Recorded {
    /// The first value of a form field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
struct Shared {
    requests: Arc<Mutex<Vec<Recorded>>>,
    behaviour: Arc<Mutex<Option<Behaviour>>>,
    counter: Arc<Mutex<u64>>,
    /// Checkout Sessions by id: "open", "complete" or "expired".
    sessions: Arc<Mutex<HashMap<String, &'static str>>>,
}

/// A fake Stripe API.
pub struct FakeStripe {
    /// Its base URL.
    pub url: String,
    shared: Shared,
}

impl FakeStripe {
    /// Starts it on a free loopback port.
    pub async fn start() -> FakeStripe {
        let shared = Shared::default();
        let app = Router::new()
            .route("/v1/checkout/sessions", post(stripe_session))
            .route("/v1/refunds", post(stripe_refund))
            .route(
                "/v1/checkout/sessions/{id}/expire",
                post(
                    |State(s): State<Shared>,
                     headers: HeaderMap,
                     axum::extract::Path(id): axum::extract::Path<String>,
                     body: Bytes| async move { stripe_expire(s, headers, id, body).await },
                ),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeStripe { url: format!("http://{address}"), shared }
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The state of a session: "open", "complete" or "expired".
    pub fn session_status(&self, id: &str) -> Option<&'static str> {
        self.shared.sessions.lock().unwrap().get(id).copied()
    }

    /// Marks a session paid, as when the buyer completes it on Stripe's page.
    pub fn complete(&self, id: &str) {
        self.shared.sessions.lock().unwrap().insert(id.to_owned(), "complete");
    }

    /// Changes how it answers.
    pub fn behave(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().unwrap() = Some(behaviour);
    }
}

fn stripe_error(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": { "type": "invalid_request_error", "message": message } })))
        .into_response()
}

/// Common checks of every Stripe request; records it. `Err` is the answer to give.
async fn receive(shared: &Shared, path: &str, headers: &HeaderMap, body: &Bytes) -> Result<Recorded, Response> {
    let behaviour = shared.behaviour.lock().unwrap().unwrap_or(Behaviour::Normal);
    let recorded = Recorded {
        path: path.to_owned(),
        headers: headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect(),
        form: url::form_urlencoded::parse(body).into_owned().collect(),
    };
    shared.requests.lock().unwrap().push(recorded.clone());
    match behaviour {
        Behaviour::Fail => return Err((StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response()),
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Behaviour::Normal => {}
    }
    if !recorded.headers.get("authorization").is_some_and(|a| a.starts_with("Bearer sk_test_")) {
        return Err((
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": { "message": "Invalid API Key provided" } })),
        )
            .into_response());
    }
    if recorded.headers.get("content-type").map(String::as_str) != Some("application/x-www-form-urlencoded") {
        return Err(stripe_error("Stripe takes form-encoded bodies"));
    }
    if !recorded.headers.contains_key("idempotency-key") {
        return Err(stripe_error("this fake expects an Idempotency-Key on every POST"));
    }
    // The API version is pinned: event and object shapes must be the ones we parse.
    if recorded.headers.get("stripe-version").map(String::as_str) != Some(tixshop::payments::stripe::API_VERSION) {
        return Err(stripe_error("this fake expects the pinned Stripe-Version on every request"));
    }
    Ok(recorded)
}

fn next_id(shared: &Shared, prefix: &str) -> String {
    let mut counter = shared.counter.lock().unwrap();
    *counter += 1;
    format!("{prefix}_test_{counter}")
}

async fn stripe_session(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let request = match receive(&shared, "/v1/checkout/sessions", &headers, &body).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    for required in ["mode", "success_url", "cancel_url", "metadata[order_id]", "expires_at"] {
        if request.field(required).is_none() {
            return stripe_error(&format!("Missing required param: {required}."));
        }
    }
    if request.field("mode") != Some("payment") {
        return stripe_error("mode must be payment");
    }
    let now = chrono::Utc::now().timestamp();
    let expires: i64 = request.field("expires_at").unwrap().parse().unwrap_or(0);
    // Stripe: "must be between 30 minutes and 24 hours after the current time".
    if expires < now + 30 * 60 || expires > now + 24 * 3600 {
        return stripe_error("expires_at must be between 30 minutes and 24 hours from now");
    }
    // line_items[i][…]: Stripe's nested form keys.
    let mut total: i64 = 0;
    let mut currency = None;
    let mut i = 0;
    while let Some(quantity) = request.field(&format!("line_items[{i}][quantity]")) {
        let Ok(quantity) = quantity.parse::<i64>() else { return stripe_error("quantity must be an integer") };
        let Some(Ok(unit)) = request.field(&format!("line_items[{i}][price_data][unit_amount]")).map(str::parse::<i64>)
        else {
            return stripe_error("unit_amount must be an integer in the smallest currency unit");
        };
        let Some(line_currency) = request.field(&format!("line_items[{i}][price_data][currency]")) else {
            return stripe_error("currency required");
        };
        if line_currency.len() != 3 || line_currency != line_currency.to_lowercase() {
            return stripe_error("currency must be a lower-case ISO code");
        }
        if request.field(&format!("line_items[{i}][price_data][product_data][name]")).is_none_or(str::is_empty) {
            return stripe_error("product_data.name required");
        }
        if quantity < 1 || unit < 0 {
            return stripe_error("quantity ≥ 1 and unit_amount ≥ 0");
        }
        if currency.is_some_and(|c| c != line_currency) {
            return stripe_error("all line items share one currency");
        }
        currency = Some(line_currency);
        total += unit * quantity;
        i += 1;
    }
    if i == 0 {
        return stripe_error("line_items required");
    }
    let id = next_id(&shared, "cs");
    shared.sessions.lock().unwrap().insert(id.clone(), "open");
    let mut session = stripe_object(json!({
        "id": id,
        "object": "checkout.session",
        "status": "open",
        "url": format!("https://checkout.stripe.test/c/pay/{id}"),
        "amount_total": total,
        "currency": currency,
        "expires_at": expires,
        "metadata": { "order_id": request.field("metadata[order_id]"), "order_number": request.field("metadata[order_number]") },
    }));
    session["created"] = json!(now);
    axum::Json(session).into_response()
}

async fn stripe_refund(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let request = match receive(&shared, "/v1/refunds", &headers, &body).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let (Some(pi), Some(Ok(amount))) =
        (request.field("payment_intent"), request.field("amount").map(str::parse::<i64>))
    else {
        return stripe_error("payment_intent and an integer amount are required");
    };
    axum::Json(stripe_object(
        json!({ "id": next_id(&shared, "re"), "object": "refund", "payment_intent": pi, "amount": amount, "status": "succeeded" }),
    ))
    .into_response()
}

/// `POST /v1/checkout/sessions/{id}/expire`: only an open session can be expired.
async fn stripe_expire(shared: Shared, headers: HeaderMap, id: String, body: Bytes) -> Response {
    let path = format!("/v1/checkout/sessions/{id}/expire");
    if let Err(response) = receive(&shared, &path, &headers, &body).await {
        return response;
    }
    let mut sessions = shared.sessions.lock().unwrap();
    match sessions.get(&id).copied() {
        None => (StatusCode::NOT_FOUND, axum::Json(json!({ "error": { "message": "No such checkout.session" } })))
            .into_response(),
        Some("open") => {
            sessions.insert(id.clone(), "expired");
            axum::Json(stripe_object(json!({ "id": id, "object": "checkout.session", "status": "expired" })))
                .into_response()
        }
        Some(status) => {
            stripe_error(&format!("Only Checkout Sessions with a status of open can be expired; this one is {status}."))
        }
    }
}

/// `object` with the fields Stripe always sends for its type (and the parser requires),
/// where the caller did not set them.
pub fn stripe_object(mut object: Value) -> Value {
    let defaults = match object["object"].as_str() {
        Some("checkout.session") => json!({
            "created": 1_700_000_000, "expires_at": 1_700_001_800, "livemode": false, "mode": "payment",
            "payment_status": "unpaid", "status": "open", "automatic_tax": { "enabled": false },
            "custom_fields": [], "custom_text": {}, "payment_method_types": ["card"], "shipping_options": [],
        }),
        Some("refund") => json!({ "created": 1_700_000_000, "currency": "eur" }),
        Some("charge") => json!({
            "amount": 0, "amount_captured": 0, "amount_refunded": 0, "billing_details": {}, "captured": true,
            "created": 1_700_000_000, "currency": "eur", "disputed": false, "livemode": false, "metadata": {},
            "paid": true, "refunded": false, "status": "succeeded",
        }),
        _ => json!({}),
    };
    for (key, value) in defaults.as_object().unwrap() {
        if object.get(key).is_none_or(Value::is_null) {
            object[key] = value.clone();
        }
    }
    // A charge's refunds are a list object.
    if object["object"] == "charge"
        && let Some(data) = object["refunds"]["data"].as_array().cloned()
    {
        let data: Vec<Value> = data.into_iter().map(stripe_object).collect();
        object["refunds"] = json!({ "object": "list", "data": data, "has_more": false, "url": "/v1/refunds" });
    }
    object
}

/// A Stripe event as Stripe would POST it (at the API version async-stripe speaks).
pub fn stripe_event(id: &str, kind: &str, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "object": "event", "api_version": tixshop::payments::stripe::API_VERSION, "created": 1_700_000_000,
        "livemode": false, "pending_webhooks": 1, "type": kind, "data": { "object": stripe_object(object) },
    }))
    .unwrap()
}

#[derive(Clone, Default)]
struct PaypalShared {
    requests: Arc<Mutex<Vec<(String, Value)>>>,
    orders: Arc<Mutex<HashMap<String, Value>>>,
    counter: Arc<Mutex<u64>>,
    captured_override: Arc<Mutex<Option<String>>>,
}

/// A fake PayPal REST API (OAuth2, Orders v2, captures, refunds, webhook verification).
pub struct FakePaypal {
    /// Its base URL.
    pub url: String,
    shared: PaypalShared,
}

/// Client credentials the fake accepts.
pub const PAYPAL_CLIENT: (&str, &str) = ("paypal-client", "paypal-secret");

impl FakePaypal {
    /// Starts it on a free loopback port.
    pub async fn start() -> FakePaypal {
        use axum::extract::Path;
        let shared = PaypalShared::default();
        let app = Router::new()
            .route("/v1/oauth2/token", post(paypal_token))
            .route("/v2/checkout/orders", post(paypal_create))
            .route(
                "/v2/checkout/orders/{id}/capture",
                post(|State(s): State<PaypalShared>, headers: HeaderMap, Path(id): Path<String>| async move {
                    paypal_capture(s, headers, id).await
                }),
            )
            .route(
                "/v2/payments/captures/{id}/refund",
                post(|State(s): State<PaypalShared>, headers: HeaderMap, Path(id): Path<String>, body: Bytes| async move {
                    paypal_refund(s, headers, id, body).await
                }),
            )
            .route("/v1/notifications/verify-webhook-signature", post(paypal_verify))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakePaypal { url: format!("http://{address}"), shared }
    }

    /// (path, JSON body) of everything received, token requests excluded.
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Makes the next captures report this amount value instead of the order's.
    pub fn capture_amount(&self, value: &str) {
        *self.shared.captured_override.lock().unwrap() = Some(value.to_owned());
    }
}

fn paypal_error(status: StatusCode, issue: &str) -> Response {
    (status, axum::Json(json!({ "name": "UNPROCESSABLE_ENTITY", "details": [{ "issue": issue }] }))).into_response()
}

fn bearer_ok(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer A21AA-fake-token")
}

async fn paypal_token(headers: HeaderMap, body: Bytes) -> Response {
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", PAYPAL_CLIENT.0, PAYPAL_CLIENT.1))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str())
        || body.as_ref() != b"grant_type=client_credentials"
    {
        return paypal_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    axum::Json(json!({ "access_token": "A21AA-fake-token", "token_type": "Bearer", "expires_in": 32400 }))
        .into_response()
}

/// PayPal's decimal rule: EUR two decimals, JPY none.
fn paypal_minor(value: &Value, currency: &str) -> Option<i64> {
    let text = value.as_str()?;
    let digits = if currency == "JPY" { 0 } else { 2 };
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() != digits || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    format!("{int}{frac}").parse().ok()
}

async fn paypal_create(State(shared): State<PaypalShared>, headers: HeaderMap, body: Bytes) -> Response {
    if !bearer_ok(&headers) {
        return paypal_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    let Ok(order): Result<Value, _> = serde_json::from_slice(&body) else {
        return paypal_error(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST_JSON");
    };
    shared.requests.lock().unwrap().push(("/v2/checkout/orders".into(), order.clone()));
    if order["intent"] != "CAPTURE" || !headers.contains_key("paypal-request-id") {
        return paypal_error(StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    }
    let unit = &order["purchase_units"][0];
    let currency = unit["amount"]["currency_code"].as_str().unwrap_or("");
    let (Some(total), Some(item_total)) = (
        paypal_minor(&unit["amount"]["value"], currency),
        paypal_minor(&unit["amount"]["breakdown"]["item_total"]["value"], currency),
    ) else {
        return paypal_error(StatusCode::UNPROCESSABLE_ENTITY, "DECIMAL_PRECISION");
    };
    let mut sum = 0;
    for item in unit["items"].as_array().into_iter().flatten() {
        let (Some(price), Some(quantity)) = (
            paypal_minor(&item["unit_amount"]["value"], currency),
            item["quantity"].as_str().and_then(|q| q.parse::<i64>().ok()),
        ) else {
            return paypal_error(StatusCode::UNPROCESSABLE_ENTITY, "ITEM_INVALID");
        };
        if item["unit_amount"]["currency_code"] != currency {
            return paypal_error(StatusCode::UNPROCESSABLE_ENTITY, "CURRENCY_MISMATCH");
        }
        sum += price * quantity;
    }
    if sum != item_total {
        return paypal_error(StatusCode::UNPROCESSABLE_ENTITY, "ITEM_TOTAL_MISMATCH");
    }
    if item_total != total {
        return paypal_error(StatusCode::UNPROCESSABLE_ENTITY, "AMOUNT_MISMATCH");
    }
    let id = {
        let mut counter = shared.counter.lock().unwrap();
        *counter += 1;
        format!("PAYPAL-ORDER-{counter}")
    };
    shared.orders.lock().unwrap().insert(id.clone(), unit["amount"].clone());
    axum::Json(json!({ "id": id, "status": "PAYER_ACTION_REQUIRED",
        "links": [ { "href": format!("https://www.paypal.test/checkoutnow?token={id}"), "rel": "payer-action", "method": "GET" } ] }))
    .into_response()
}

async fn paypal_capture(shared: PaypalShared, headers: HeaderMap, id: String) -> Response {
    if !bearer_ok(&headers) {
        return paypal_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    shared.requests.lock().unwrap().push((format!("/v2/checkout/orders/{id}/capture"), Value::Null));
    let Some(mut amount) = shared.orders.lock().unwrap().get(&id).cloned() else {
        return paypal_error(StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND");
    };
    if let Some(value) = shared.captured_override.lock().unwrap().clone() {
        amount["value"] = json!(value);
    }
    axum::Json(json!({ "id": id, "status": "COMPLETED", "purchase_units": [ { "payments": { "captures": [
        { "id": format!("CAPTURE-{id}"), "status": "COMPLETED",
          "amount": { "currency_code": amount["currency_code"], "value": amount["value"] } } ] } } ] }))
    .into_response()
}

async fn paypal_refund(shared: PaypalShared, headers: HeaderMap, id: String, body: Bytes) -> Response {
    if !bearer_ok(&headers) {
        return paypal_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.requests.lock().unwrap().push((format!("/v2/payments/captures/{id}/refund"), request));
    axum::Json(json!({ "id": format!("REFUND-{id}"), "status": "COMPLETED" })).into_response()
}

async fn paypal_verify(headers: HeaderMap, body: Bytes) -> Response {
    if !bearer_ok(&headers) {
        return paypal_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let genuine = request["transmission_sig"] == "genuine"
        && request["webhook_id"] == "WH-TEST"
        && request["webhook_event"]["id"].is_string();
    axum::Json(json!({ "verification_status": if genuine { "SUCCESS" } else { "FAILURE" } })).into_response()
}
