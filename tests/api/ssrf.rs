//! Outbound webhooks must not become a way into the private network: addresses are
//! checked when an endpoint is registered and again, on the addresses actually
//! connected to, at every delivery (a DNS-rebinding host answers differently later).

use std::time::Duration;

use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, Set};
use serde_json::{Value, json};
use tixshop::entities::webhook_endpoint;

use crate::checkout::{cart_with, checkout, ticket_ids};
use crate::helpers::{TestApp, spawn_app_with};
use crate::orders::{Receiver, endpoint, receiver};

/// The port of a loopback receiver (its URL is `http://127.0.0.1:PORT/hook`).
fn port_of(hook: &Receiver) -> u16 {
    url::Url::parse(&hook.url).unwrap().port().unwrap()
}

/// Points endpoint `id` at `url` behind the API's back: what a registered host whose DNS
/// now answers differently amounts to.
async fn repoint(app: &TestApp, id: &str, url: &str) {
    let row = webhook_endpoint::Entity::find_by_id(id.parse::<i64>().unwrap()).one(&app.db).await.unwrap().unwrap();
    let mut row: webhook_endpoint::ActiveModel = row.into();
    row.url = Set(url.to_owned());
    row.update(&app.db).await.unwrap();
}

/// Pays an order with the free code, which queues `order.paid`.
async fn pay_an_order(app: &TestApp) {
    let tickets = ticket_ids(app, "demo").await;
    let cart = cart_with(app, "demo", &[(&tickets[0], 1)], Some("FREEPASS")).await;
    assert_eq!(checkout(app, &cart, "ann@example.com", "STRIPE").await["order"]["status"], "PAID");
}

/// The endpoint's newest delivery once `done` holds for it (within 10 s).
async fn delivery_when(app: &TestApp, endpoint_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut log = Value::Null;
    for _ in 0..200 {
        log = app
            .gql_admin(
                "query($e: ID) { webhookDeliveries(endpointId: $e) { status attemptCount attempts { statusCode error } } }",
                json!({ "e": endpoint_id }),
            )
            .await;
        let delivery = &log["data"]["webhookDeliveries"][0];
        if !delivery.is_null() && done(delivery) {
            return delivery.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the delivery did not get there: {log}");
}

#[tokio::test]
async fn a_host_that_resolves_to_loopback_at_delivery_time_is_not_connected_to() {
    let app = spawn_app_with(|c| {
        c.webhook_allow_private = false;
        c.webhook_max_attempts = 2;
    })
    .await;
    let hook = receiver(0).await;
    // Registered while public; by delivery time its name resolves to loopback, where
    // the receiver listens.
    let (endpoint_id, _) = endpoint(&app, "http://93.184.216.34/hook").await;
    let rebound = format!("http://localhost:{}/hook", port_of(&hook));
    repoint(&app, &endpoint_id, &rebound).await;

    pay_an_order(&app).await;
    let delivery = delivery_when(&app, &endpoint_id, |d| d["status"] == "FAILED").await;

    assert_eq!(delivery["attemptCount"], 2, "{delivery}");
    for attempt in delivery["attempts"].as_array().unwrap() {
        let error = attempt["error"].as_str().unwrap_or_default();
        assert!(error.contains("localhost resolves to a forbidden address"), "{delivery}");
        assert!(attempt["statusCode"].is_null(), "nothing answered: {delivery}");
    }
    assert_eq!(hook.received.lock().unwrap().len(), 0, "the receiver on loopback got no request");

    // The URL itself works: refusing it is what kept the receiver silent.
    let direct = reqwest::Client::builder().no_proxy().build().unwrap().post(&rebound).body("{}").send().await.unwrap();
    assert!(direct.status().is_success());
    assert_eq!(hook.wait_for(1).await.len(), 1);
}

#[tokio::test]
async fn a_named_endpoint_is_resolved_and_delivered_to_when_private_addresses_are_allowed() {
    let app = spawn_app_with(|c| c.webhook_allow_private = true).await;
    let hook = receiver(0).await;
    let port = port_of(&hook);
    // A name, not an IP literal: delivery resolves it once and connects to what it found.
    let (endpoint_id, _) = endpoint(&app, &format!("http://localhost:{port}/hook")).await;

    pay_an_order(&app).await;
    let requests = hook.wait_for(1).await;
    assert_eq!(requests[0].0["host"].to_str().unwrap(), format!("localhost:{port}"), "sent for the name");
    assert_eq!(serde_json::from_str::<Value>(&requests[0].1).unwrap()["type"], "order.paid");
    let delivery = delivery_when(&app, &endpoint_id, |d| d["status"] == "DELIVERED").await;
    assert_eq!(delivery["attempts"][0]["statusCode"], 204, "{delivery}");
}

#[tokio::test]
async fn ip_literals_in_tunnelled_and_reserved_ranges_are_refused_at_registration() {
    let app = spawn_app_with(|c| c.webhook_allow_private = false).await;
    for url in [
        // NAT64 of 127.0.0.1, 6to4 of 127.0.0.1, IPv4-compatible loopback.
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
        "http://[::127.0.0.1]/",
        // Benchmarking, reserved, site-local.
        "http://198.18.0.1/",
        "http://240.0.0.1/",
        "http://[fec0::1]/",
    ] {
        let body = app
            .gql_admin(
                "mutation($url: String!) { createWebhookEndpoint(input: { url: $url, events: [\"order.paid\"] }) {
                    endpoint { id } secret userErrors { field code message } } }",
                json!({ "url": url }),
            )
            .await;
        let payload = &body["data"]["createWebhookEndpoint"];
        assert_eq!(payload["userErrors"][0]["code"], "INVALID_URL", "{url}: {body}");
        assert_eq!(payload["userErrors"][0]["field"], json!(["input", "url"]), "{url}: {body}");
        assert!(payload["userErrors"][0]["message"].as_str().unwrap().contains("forbidden address"), "{url}: {body}");
        assert!(payload["endpoint"].is_null() && payload["secret"].is_null(), "{url}: {body}");
    }
    assert_eq!(webhook_endpoint::Entity::find().count(&app.db).await.unwrap(), 0, "no row written");

    // Just outside the benchmarking range is public and accepted...
    let (id, _) = endpoint(&app, "http://198.20.0.1/hook").await;
    assert_eq!(webhook_endpoint::Entity::find().count(&app.db).await.unwrap(), 1);
    // ...and moving it into a refused range is refused like a new URL, leaving it as it was.
    let body = app
        .gql_admin(
            "mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { url: \"http://[64:ff9b::a9fe:a9fe]/\" }) {
                endpoint { id } userErrors { code } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body["data"]["updateWebhookEndpoint"]["userErrors"][0]["code"], "INVALID_URL", "{body}");
    let row = webhook_endpoint::Entity::find_by_id(id.parse::<i64>().unwrap()).one(&app.db).await.unwrap().unwrap();
    assert_eq!(row.url, "http://198.20.0.1/hook");
}
