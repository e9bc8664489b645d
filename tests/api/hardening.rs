//! Real traffic and real attackers, through the public API: many buyers behind one
//! address, code guessing by typing and by links, exact capacity, caps that hold under
//! simultaneous checkouts, one payable session per cart, provider events in any order,
//! and WebSocket authentication.

use std::sync::Arc;

use futures_util::future::join_all;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};
use tixshop::entities::{order, refund, ticket_type, webhook_delivery};
use tixshop::services::now;

use crate::checkout::{
    cart_with, checkout, deliver, order_row, paying_app, pending_stripe_order, redemptions, session,
};
use crate::fakes::{FakeStripe, stripe_event};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// A buyer: their own cookie session, from the same address as every other.
fn buyer() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).build().unwrap()
}

async fn post(client: &reqwest::Client, url: &str, query: &str, variables: Value) -> Value {
    let response = client.post(url).json(&json!({ "query": query, "variables": variables })).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

const CART_FIELDS: &str = "id total { amount } discount { amount } appliedPromo { code } promoNotice { reason }";

async fn new_cart(client: &reqwest::Client, url: &str) -> Value {
    let body = post(
        client,
        url,
        &format!("mutation {{ createCart(shopSlug: \"demo\") {{ cart {{ {CART_FIELDS} }} userErrors {{ code }} }} }}"),
        json!({}),
    )
    .await;
    assert_eq!(body["data"]["createCart"]["userErrors"], json!([]), "{body}");
    body["data"]["createCart"]["cart"].clone()
}

async fn add(client: &reqwest::Client, url: &str, cart: &str, ticket: &str, quantity: i32) -> Value {
    let body = post(
        client,
        url,
        "mutation($c: ID!, $t: ID!, $q: Int!) { addToCart(cartId: $c, ticketTypeId: $t, quantity: $q) {
            cart { lines { ticketTypeId quantity available } } userErrors { field code message } } }",
        json!({ "c": cart, "t": ticket, "q": quantity }),
    )
    .await;
    body["data"]["addToCart"].clone()
}

async fn apply(client: &reqwest::Client, url: &str, cart: &str, code: &str) -> Value {
    let body = post(
        client,
        url,
        &format!(
            "mutation($c: ID!, $code: String!) {{ applyPromo(cartId: $c, code: $code) {{
                cart {{ {CART_FIELDS} }} userErrors {{ field code message }} }} }}"
        ),
        json!({ "c": cart, "code": code }),
    )
    .await;
    body["data"]["applyPromo"].clone()
}

async fn ticket(app: &TestApp, name: &str) -> (String, i64) {
    let row =
        ticket_type::Entity::find().filter(ticket_type::Column::Name.eq(name)).one(&app.db).await.unwrap().unwrap();
    (row.id.to_string(), row.id)
}

async fn ticket_row(app: &TestApp, id: i64) -> ticket_type::Model {
    ticket_type::Entity::find_by_id(id).one(&app.db).await.unwrap().unwrap()
}

async fn set_capacity(app: &TestApp, id: i64, capacity: i64) {
    let mut row: ticket_type::ActiveModel = ticket_row(app, id).await.into();
    row.capacity = Set(Some(capacity));
    row.update(&app.db).await.unwrap();
}

async fn create_code(app: &TestApp, input: Value) {
    let body = app
        .gql_admin(
            "mutation($input: CreatePromoCodeInput!) { createPromoCode(input: $input) { userErrors { field code } } }",
            json!({ "input": input }),
        )
        .await;
    assert_eq!(body["data"]["createPromoCode"]["userErrors"], json!([]), "{body}");
}

fn first_error(payload: &Value) -> &str {
    payload["userErrors"][0]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buyers_behind_one_address_are_never_refused_a_valid_code_and_guessers_are() {
    // Default settings: 10 failed attempts per minute.
    let app = Arc::new(spawn_app().await);
    let url = format!("{}/graphql", app.address);
    let (standing, _) = ticket(&app, "Standing").await;

    // 64 buyers from 127.0.0.1, each with a session and a cart of 2 × Standing, apply
    // NEWS10 at the same moment: 2 × 19.99 = 39.98, 10 % = 4.00 off, 35.98 to pay.
    let mut carts = vec![];
    for _ in 0..64 {
        let client = buyer();
        let cart = new_cart(&client, &url).await["id"].as_str().unwrap().to_owned();
        assert_eq!(add(&client, &url, &cart, &standing, 2).await["userErrors"], json!([]));
        carts.push((client, cart));
    }
    let applied = join_all(carts.iter().map(|(client, cart)| apply(client, &url, cart, "NEWS10"))).await;
    let refused: Vec<&Value> = applied.iter().filter(|p| p["userErrors"] != json!([])).collect();
    assert!(refused.is_empty(), "{} of 64 refused: {:?}", refused.len(), refused.first());
    for payload in &applied {
        assert_eq!(payload["cart"]["appliedPromo"]["code"], "NEWS10");
        assert_eq!(payload["cart"]["discount"]["amount"], "4.00");
        assert_eq!(payload["cart"]["total"]["amount"], "35.98");
    }

    // A guesser on the same address, 11 wrong codes at once: 10 are looked up and
    // UNKNOWN, the 11th is RATE_LIMITED, however the requests interleave.
    let guesser = buyer();
    let cart = new_cart(&guesser, &url).await["id"].as_str().unwrap().to_owned();
    let wrong: Vec<String> = (0..11).map(|n| format!("GUESS{n:02}")).collect();
    let guesses = join_all(wrong.iter().map(|code| apply(&guesser, &url, &cart, code))).await;
    let mut codes: Vec<&str> = guesses.iter().map(first_error).collect();
    codes.sort_unstable();
    assert_eq!(codes.iter().filter(|c| **c == "UNKNOWN").count(), 10, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == "RATE_LIMITED").count(), 1, "{codes:?}");
    // Limited: a valid code is refused too (no oracle), from the session and from a fresh
    // one on the same address.
    assert_eq!(first_error(&apply(&guesser, &url, &cart, "NEWS10").await), "RATE_LIMITED");
    let other = buyer();
    let other_cart = new_cart(&other, &url).await["id"].as_str().unwrap().to_owned();
    assert_eq!(first_error(&apply(&other, &url, &other_cart, "FRIEND5").await), "RATE_LIMITED");
}

#[tokio::test]
async fn eleven_wrong_codes_one_after_another_limit_the_eleventh() {
    let app = spawn_app().await;
    let url = format!("{}/graphql", app.address);
    let client = buyer();
    let cart = new_cart(&client, &url).await["id"].as_str().unwrap().to_owned();
    for n in 0..10 {
        // Successes in between use up nothing.
        assert_eq!(apply(&client, &url, &cart, "NEWS10").await["userErrors"], json!([]));
        assert_eq!(first_error(&apply(&client, &url, &cart, &format!("WRONG{n}")).await), "UNKNOWN", "attempt {n}");
    }
    let eleventh = apply(&client, &url, &cart, "WRONG10").await;
    assert_eq!(first_error(&eleventh), "RATE_LIMITED", "{eleventh}");
    assert!(eleventh["userErrors"][0]["message"].as_str().unwrap().contains("wait"));
}

/// `POST /graphql?promo=GUESS` with `createCart`: an oracle unless failed captures count.
async fn capture_probe(client: &reqwest::Client, base: &str, code: &str) -> (Value, bool) {
    let url = format!("{base}/graphql?promo={code}&utm_source=probe");
    let response = client
        .post(&url)
        .json(&json!({ "query": "mutation { createCart(shopSlug: \"demo\") { cart { appliedPromo { code } promoNotice { reason } discount { amount } utmSource } userErrors { code } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let sets_cookie = response.headers().contains_key("set-cookie");
    let body: Value = response.json().await.unwrap();
    (body["data"]["createCart"].clone(), sets_cookie)
}

#[tokio::test]
async fn promo_links_cannot_be_used_to_guess_codes() {
    let app = spawn_app_with(|c| c.promo_attempt_window_secs = 3).await;
    let client = buyer();
    // 40 bad captures from one address and session.
    for n in 0..40 {
        let (payload, _) = capture_probe(&client, &app.address, &format!("GUESS{n:02}")).await;
        assert_eq!(payload["cart"]["appliedPromo"], Value::Null);
        assert_eq!(payload["userErrors"], json!([]), "never an error, never a hint");
    }
    // Now the valid demo codes: no response tells them from a wrong guess, from this
    // session or from a fresh one on the same address.
    let (wrong, wrong_cookie) = capture_probe(&client, &app.address, "GUESS99").await;
    for code in ["NEWS10", "FRIEND5", "MARIA15"] {
        for probe in [&client, &buyer()] {
            let (valid, valid_cookie) = capture_probe(probe, &app.address, code).await;
            assert_eq!(valid, wrong, "{code} must look like a wrong guess");
            if std::ptr::eq(probe, &client) {
                assert_eq!(valid_cookie, wrong_cookie);
            }
        }
    }
    assert_eq!(wrong["cart"]["utmSource"], "probe", "UTM values are still recorded");
    // Typed codes are limited by the same failures.
    let url = format!("{}/graphql", app.address);
    let cart = new_cart(&client, &url).await["id"].as_str().unwrap().to_owned();
    assert_eq!(first_error(&apply(&client, &url, &cart, "NEWS10").await), "RATE_LIMITED");

    // Once the window has passed, a valid link works again.
    tokio::time::sleep(std::time::Duration::from_millis(3_200)).await;
    let (valid, _) = capture_probe(&buyer(), &app.address, "NEWS10").await;
    assert_eq!(valid["cart"]["appliedPromo"]["code"], "NEWS10", "{valid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn free_checkouts_never_sell_more_seats_than_there_are() {
    let app = Arc::new(spawn_app_with(|c| c.promo_attempts_per_minute = 10_000).await);
    create_code(&app, json!({ "code": "ALLFREE", "discountType": "PERCENTAGE", "percentOff": "100" })).await;
    let (seated, seated_id) = ticket(&app, "Seated").await;
    assert_eq!(ticket_row(&app, seated_id).await.capacity, Some(120));
    let mut carts = vec![];
    for _ in 0..130 {
        carts.push(cart_with(&app, "demo", &[(&seated, 1)], Some("ALLFREE")).await);
    }
    let results = join_all(carts.iter().enumerate().map(|(n, cart)| {
        let app = app.clone();
        async move { checkout(&app, cart, &format!("fan{n}@example.com"), "STRIPE").await }
    }))
    .await;
    let paid = results.iter().filter(|p| p["order"]["status"] == "PAID").count();
    assert_eq!(paid, 120, "exactly the capacity");
    for refused in results.iter().filter(|p| p["order"].is_null()) {
        assert_eq!(first_error(refused), "SOLD_OUT", "{refused}");
        assert!(refused["userErrors"][0]["message"].as_str().unwrap().contains("sold out"));
    }
    let row = ticket_row(&app, seated_id).await;
    assert_eq!((row.sold_count, row.held_count), (120, 0));
    let paid_tickets: i64 = order::Entity::find()
        .filter(order::Column::Status.eq("PAID"))
        .all(&app.db)
        .await
        .unwrap()
        .iter()
        .map(|o| i64::from(o.ticket_count))
        .sum();
    assert_eq!(paid_tickets, 120);

    // What is left is shown, and nobody can put more in a cart.
    let shop = app
        .gql("{ shop(slug: \"demo\") { events { ticketTypes { name capacity sold held available } } } }", json!({}))
        .await;
    let types: Vec<Value> = shop["data"]["shop"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["ticketTypes"].as_array().unwrap().clone())
        .collect();
    let seated_view = types.iter().find(|t| t["name"] == "Seated").unwrap();
    assert_eq!(seated_view, &json!({ "name": "Seated", "capacity": 120, "sold": 120, "held": 0, "available": 0 }));
    let url = format!("{}/graphql", app.address);
    let client = buyer();
    let cart = new_cart(&client, &url).await["id"].as_str().unwrap().to_owned();
    let refused = add(&client, &url, &cart, &seated, 1).await;
    assert_eq!(first_error(&refused), "SOLD_OUT", "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paid_checkouts_hold_seats_and_a_late_payment_for_a_seat_that_is_gone_is_refunded() {
    let fake = FakeStripe::start().await;
    let app = Arc::new(paying_app(&fake).await);
    let (seated, seated_id) = ticket(&app, "Seated").await;
    set_capacity(&app, seated_id, 3).await;
    // An endpoint, to see the refund announced.
    let hook = app
        .gql_admin(
            "mutation { createWebhookEndpoint(input: { url: \"http://127.0.0.1:9/hook\", events: [\"order.refunded\"] }) { userErrors { code } } }",
            json!({}),
        )
        .await;
    assert!(hook["errors"].is_null(), "{hook}");

    // Asking for more than is left is refused with the number left.
    let url = format!("{}/graphql", app.address);
    let client = buyer();
    let big = new_cart(&client, &url).await["id"].as_str().unwrap().to_owned();
    let refused = add(&client, &url, &big, &seated, 4).await;
    assert_eq!(first_error(&refused), "NOT_ENOUGH_TICKETS", "{refused}");
    assert!(refused["userErrors"][0]["message"].as_str().unwrap().contains("Only 3"), "{refused}");

    // Six buyers of one seat each press Pay at once: three hold a seat, three are told.
    let mut carts = vec![];
    for _ in 0..6 {
        carts.push(cart_with(&app, "demo", &[(&seated, 1)], None).await);
    }
    let results = join_all(carts.iter().enumerate().map(|(n, cart)| {
        let app = app.clone();
        async move { checkout(&app, cart, &format!("seat{n}@example.com"), "STRIPE").await }
    }))
    .await;
    let pending: Vec<String> = results
        .iter()
        .filter(|p| p["order"]["status"] == "PENDING")
        .map(|p| p["order"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pending.len(), 3);
    for refused in results.iter().filter(|p| p["order"].is_null()) {
        assert_eq!(first_error(refused), "SOLD_OUT", "{refused}");
    }
    let row = ticket_row(&app, seated_id).await;
    assert_eq!((row.sold_count, row.held_count), (0, 3), "holds never exceed capacity");

    // The first hold runs out: its seat goes to the next buyer.
    let late = pending[0].clone();
    let late_session = order_row(&app, &late).await.provider_ref.unwrap();
    let mut stale: order::ActiveModel = order_row(&app, &late).await.into();
    stale.expires_at = Set(Some(now() - chrono::Duration::seconds(1)));
    stale.update(&app.db).await.unwrap();
    assert_eq!(tixshop::services::checkout::expire_stale(&app.db).await.unwrap(), 1);
    assert_eq!(ticket_row(&app, seated_id).await.held_count, 2);
    let next = cart_with(&app, "demo", &[(&seated, 1)], None).await;
    let taken = checkout(&app, &next, "next@example.com", "STRIPE").await;
    assert_eq!(taken["order"]["status"], "PENDING", "{taken}");
    assert_eq!(ticket_row(&app, seated_id).await.held_count, 3);

    // The expired order's payment arrives after all: the seat is gone, so the money goes
    // back through Stripe, the order is CANCELLED with the reason, and it is announced.
    let paid = stripe_event("evt_late_seat", "checkout.session.completed", session(&late, &late_session, "paid"));
    assert_eq!(deliver(&app, &paid).await, StatusCode::OK);
    let cancelled = order_row(&app, &late).await;
    assert_eq!(cancelled.status.to_string(), "CANCELLED");
    assert!(!cancelled.refund_due);
    assert_eq!(cancelled.refunded_amount, cancelled.total);
    assert!(cancelled.failure_reason.as_deref().unwrap().contains("sold out"), "{:?}", cancelled.failure_reason);
    let refund_call = fake.requests().into_iter().find(|r| r.path == "/v1/refunds").expect("a refund through Stripe");
    assert_eq!(refund_call.field("payment_intent"), Some(format!("pi_for_{late}").as_str()));
    assert_eq!(refund_call.field("amount"), Some(cancelled.total.to_string().as_str()));
    assert_eq!(
        refund::Entity::find().filter(refund::Column::OrderId.eq(cancelled.id)).count(&app.db).await.unwrap(),
        1
    );
    let announced = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::EventType.eq("order.refunded"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(announced.len(), 1);
    assert!(announced[0].payload.contains(&cancelled.number));
    let row = ticket_row(&app, seated_id).await;
    assert_eq!((row.sold_count, row.held_count), (0, 3), "the refunded order took no seat");
    // The same event again changes nothing and refunds nothing more.
    assert_eq!(deliver(&app, &paid).await, StatusCode::OK);
    assert_eq!(fake.requests().iter().filter(|r| r.path == "/v1/refunds").count(), 1);

    // The holders pay: held seats become sold ones.
    for id in pending.iter().skip(1).chain([&taken["order"]["id"].as_str().unwrap().to_owned()]) {
        let reference = order_row(&app, id).await.provider_ref.unwrap();
        let event =
            stripe_event(&format!("evt_pay_{id}"), "checkout.session.completed", session(id, &reference, "paid"));
        assert_eq!(deliver(&app, &event).await, StatusCode::OK);
        assert_eq!(order_row(&app, id).await.status.to_string(), "PAID");
    }
    let row = ticket_row(&app, seated_id).await;
    assert_eq!((row.sold_count, row.held_count), (3, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_usage_limit_of_ten_lets_at_most_ten_of_fifty_simultaneous_checkouts_through() {
    let fake = FakeStripe::start().await;
    let app = Arc::new(paying_app(&fake).await);
    create_code(&app, json!({ "code": "CAP10", "discountType": "PERCENTAGE", "percentOff": "10", "usageLimit": 10 }))
        .await;
    let (standing, _) = ticket(&app, "Standing").await;
    let mut carts = vec![];
    for _ in 0..50 {
        carts.push(cart_with(&app, "demo", &[(&standing, 1)], Some("CAP10")).await);
    }
    let results = join_all(carts.iter().enumerate().map(|(n, cart)| {
        let app = app.clone();
        async move { checkout(&app, cart, &format!("rush{n}@example.com"), "STRIPE").await }
    }))
    .await;
    let pending = results.iter().filter(|p| p["order"]["status"] == "PENDING").count();
    assert_eq!(pending, 10, "the cap counts checkouts in flight, under a lock");
    for refused in results.iter().filter(|p| p["order"].is_null()) {
        assert_eq!(first_error(refused), "USAGE_LIMIT_REACHED", "{refused}");
    }
    let rows = order::Entity::find().filter(order::Column::PromoCode.eq("CAP10")).count(&app.db).await.unwrap();
    assert_eq!(rows, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_buyer_checking_out_twice_at_once_gets_a_once_per_customer_code_once() {
    let fake = FakeStripe::start().await;
    let app = Arc::new(paying_app(&fake).await);
    create_code(&app, json!({ "code": "ONCE", "discountType": "PERCENTAGE", "percentOff": "10", "maxPerCustomer": 1 }))
        .await;
    let (standing, _) = ticket(&app, "Standing").await;
    for round in 0..5 {
        let first = cart_with(&app, "demo", &[(&standing, 1)], Some("ONCE")).await;
        let second = cart_with(&app, "demo", &[(&standing, 1)], Some("ONCE")).await;
        // One buyer, two spellings of the same address.
        let (plain, alias) = (format!("buyer{round}@example.com"), format!("Buyer{round}+tickets@Example.com"));
        let (a, b) = tokio::join!(checkout(&app, &first, &plain, "STRIPE"), checkout(&app, &second, &alias, "STRIPE"));
        let payable = [&a, &b].iter().filter(|p| p["order"]["status"] == "PENDING").count();
        assert_eq!(payable, 1, "round {round}: {a} {b}");
        let refused = if a["order"].is_null() { &a } else { &b };
        assert_eq!(first_error(refused), "CUSTOMER_LIMIT_REACHED", "{refused}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_once_per_customer_free_code_is_paid_once_per_buyer_and_once_for_each_buyer() {
    let app = Arc::new(spawn_app().await);
    create_code(
        &app,
        json!({ "code": "FREEONCE", "discountType": "PERCENTAGE", "percentOff": "100", "maxPerCustomer": 1 }),
    )
    .await;
    let (standing, _) = ticket(&app, "Standing").await;
    for round in 0..5 {
        let first = cart_with(&app, "demo", &[(&standing, 1)], Some("FREEONCE")).await;
        let second = cart_with(&app, "demo", &[(&standing, 1)], Some("FREEONCE")).await;
        let other = cart_with(&app, "demo", &[(&standing, 1)], Some("FREEONCE")).await;
        let (plain, alias) = (format!("fan{round}@example.com"), format!("Fan{round}+free@Example.com"));
        let someone_else = format!("friend{round}@example.com");
        let (a, b, c) = tokio::join!(
            checkout(&app, &first, &plain, "STRIPE"),
            checkout(&app, &second, &alias, "STRIPE"),
            checkout(&app, &other, &someone_else, "STRIPE"),
        );
        let paid = [&a, &b].iter().filter(|p| p["order"]["status"] == "PAID").count();
        assert_eq!(paid, 1, "round {round}: one of the buyer's two: {a} {b}");
        let refused = if a["order"].is_null() { &a } else { &b };
        assert_eq!(first_error(refused), "CUSTOMER_LIMIT_REACHED", "{refused}");
        // The buyer's first use, and another buyer's, are not refused.
        assert_eq!(c["order"]["status"], "PAID", "round {round}: {c}");
        assert_eq!(c["order"]["total"]["amount"], "0.00", "{c}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cart_never_has_two_payable_sessions() {
    let fake = FakeStripe::start().await;
    let app = Arc::new(paying_app(&fake).await);
    let (standing, _) = ticket(&app, "Standing").await;
    let (seated, _) = ticket(&app, "Seated").await;
    let cart = cart_with(&app, "demo", &[(&standing, 1)], Some("NEWS10")).await;
    let sessions = || fake.requests().iter().filter(|r| r.path == "/v1/checkout/sessions").count();

    // A double click: the same session again, no second one at Stripe.
    let first = checkout(&app, &cart, "ann@example.com", "STRIPE").await;
    let again = checkout(&app, &cart, "ann@example.com", "STRIPE").await;
    assert_eq!(again["order"]["id"], first["order"]["id"], "{again}");
    assert_eq!(again["redirectUrl"], first["redirectUrl"]);
    assert_eq!(sessions(), 1);

    // The cart changed: the first session is ended at Stripe before a new one is made.
    let first_id = first["order"]["id"].as_str().unwrap().to_owned();
    let first_session = order_row(&app, &first_id).await.provider_ref.unwrap();
    let body = app
        .gql(
            "mutation($c: ID!, $t: ID!) { addToCart(cartId: $c, ticketTypeId: $t, quantity: 1) { userErrors { code } } }",
            json!({ "c": cart, "t": seated }),
        )
        .await;
    assert_eq!(body["data"]["addToCart"]["userErrors"], json!([]));
    let changed = checkout(&app, &cart, "ann@example.com", "STRIPE").await;
    assert_eq!(changed["order"]["status"], "PENDING", "{changed}");
    assert_ne!(changed["order"]["id"], first["order"]["id"]);
    assert_eq!(fake.session_status(&first_session), Some("expired"));
    assert_eq!(order_row(&app, &first_id).await.status.to_string(), "CANCELLED");
    let expire_call = fake.requests().into_iter().find(|r| r.path.ends_with("/expire")).unwrap();
    assert_eq!(expire_call.path, format!("/v1/checkout/sessions/{first_session}/expire"));

    // The buyer is paying the second one on Stripe's page right now: it cannot be ended,
    // so no third session is made.
    let second_id = changed["order"]["id"].as_str().unwrap().to_owned();
    fake.complete(&order_row(&app, &second_id).await.provider_ref.unwrap());
    let other_email = checkout(&app, &cart, "someone@example.com", "STRIPE").await;
    assert_eq!(first_error(&other_email), "PAYMENT_IN_PROGRESS", "{other_email}");
    assert_eq!(order_row(&app, &second_id).await.status.to_string(), "PENDING");
    assert_eq!(sessions(), 2);
    let payable = order::Entity::find()
        .filter(order::Column::CartId.eq(order_row(&app, &second_id).await.cart_id.unwrap()))
        .filter(order::Column::Status.eq("PENDING"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(payable, 1);

    // Five simultaneous clicks on a fresh cart: one pending order, one session.
    let fresh = cart_with(&app, "demo", &[(&standing, 2)], None).await;
    let before = sessions();
    let clicks = join_all((0..5).map(|_| {
        let app = app.clone();
        let fresh = fresh.clone();
        async move { checkout(&app, &fresh, "bo@example.com", "STRIPE").await }
    }))
    .await;
    let ids: std::collections::BTreeSet<&str> = clicks.iter().filter_map(|p| p["order"]["id"].as_str()).collect();
    assert_eq!(ids.len(), 1, "{clicks:?}");
    for click in clicks.iter().filter(|p| p["order"].is_null()) {
        assert_eq!(first_error(click), "PAYMENT_IN_PROGRESS", "{click}");
    }
    assert_eq!(sessions() - before, 1);
}

fn charge_refunded(order_id: &str, refunds: &[(&str, i64)]) -> Value {
    let data: Vec<Value> =
        refunds.iter().map(|(id, amount)| json!({ "id": id, "object": "refund", "amount": amount })).collect();
    json!({ "id": format!("ch_for_{order_id}"), "object": "charge", "payment_intent": format!("pi_for_{order_id}"),
            "refunded": true, "refunds": { "data": data } })
}

#[tokio::test]
async fn a_refund_reported_before_its_payment_is_kept_and_applied_when_the_payment_arrives() {
    let fake = FakeStripe::start().await;
    let app = paying_app(&fake).await;
    let (order_id, session_id, _) = pending_stripe_order(&app, Some("NEWS10"), "early@example.com").await;
    let total = order_row(&app, &order_id).await.total;

    // The refund first: tixshop does not know pi_for_… yet, so it keeps the event.
    let refunded =
        stripe_event("evt_refund_first", "charge.refunded", charge_refunded(&order_id, &[("re_early", total)]));
    assert_eq!(deliver(&app, &refunded).await, StatusCode::OK);
    let row = order_row(&app, &order_id).await;
    assert_eq!((row.status.to_string().as_str(), row.refunded_amount), ("PENDING", 0));

    // Then the payment: paid, and the kept refund applied in the same transaction.
    let completed =
        stripe_event("evt_paid_later", "checkout.session.completed", session(&order_id, &session_id, "paid"));
    assert_eq!(deliver(&app, &completed).await, StatusCode::OK);
    let row = order_row(&app, &order_id).await;
    assert_eq!((row.status.to_string().as_str(), row.refunded_amount), ("REFUNDED", total));
    assert_eq!(refund::Entity::find().filter(refund::Column::OrderId.eq(row.id)).count(&app.db).await.unwrap(), 1);
    assert_eq!(redemptions(&app, "NEWS10").await, (1, 1), "redeemed once, refunds never uncount");
    // A redelivery of either changes nothing.
    assert_eq!(deliver(&app, &refunded).await, StatusCode::OK);
    assert_eq!(deliver(&app, &completed).await, StatusCode::OK);
    assert_eq!(order_row(&app, &order_id).await.refunded_amount, total);

    // A partial dashboard refund (refund.created) before the payment: kept, then applied.
    let (second, second_session, _) = pending_stripe_order(&app, None, "partial@example.com").await;
    let partial = json!({ "id": "re_partial", "object": "refund", "amount": 500, "status": "succeeded",
                          "payment_intent": format!("pi_for_{second}") });
    assert_eq!(deliver(&app, &stripe_event("evt_partial", "refund.created", partial)).await, StatusCode::OK);
    let paid = stripe_event("evt_second_paid", "checkout.session.completed", session(&second, &second_session, "paid"));
    assert_eq!(deliver(&app, &paid).await, StatusCode::OK);
    let row = order_row(&app, &second).await;
    assert_eq!((row.status.to_string().as_str(), row.refunded_amount), ("PARTIALLY_REFUNDED", 500));
}

#[tokio::test]
async fn a_failed_then_succeeded_async_payment_ends_paid_in_either_order() {
    let fake = FakeStripe::start().await;
    let app = paying_app(&fake).await;
    // pending_stripe_order buys one Seated ticket.
    let (_, seated_id) = ticket(&app, "Seated").await;

    // failed, then succeeded: the money arrived after all.
    let (first, first_session, _) = pending_stripe_order(&app, Some("MARIA15"), "slow@example.com").await;
    let failed =
        stripe_event("evt_f1", "checkout.session.async_payment_failed", session(&first, &first_session, "unpaid"));
    assert_eq!(deliver(&app, &failed).await, StatusCode::OK);
    assert_eq!(order_row(&app, &first).await.status.to_string(), "CANCELLED");
    let succeeded =
        stripe_event("evt_s1", "checkout.session.async_payment_succeeded", session(&first, &first_session, "paid"));
    assert_eq!(deliver(&app, &succeeded).await, StatusCode::OK);
    let row = order_row(&app, &first).await;
    assert_eq!(row.status.to_string(), "PAID");
    assert_eq!(row.failure_reason, None);
    assert_eq!(redemptions(&app, "MARIA15").await, (1, 1));

    // succeeded, then failed: stays paid.
    let (second, second_session, _) = pending_stripe_order(&app, Some("MARIA15"), "fast@example.com").await;
    let succeeded =
        stripe_event("evt_s2", "checkout.session.async_payment_succeeded", session(&second, &second_session, "paid"));
    let failed =
        stripe_event("evt_f2", "checkout.session.async_payment_failed", session(&second, &second_session, "unpaid"));
    assert_eq!(deliver(&app, &succeeded).await, StatusCode::OK);
    assert_eq!(deliver(&app, &failed).await, StatusCode::OK);
    assert_eq!(order_row(&app, &second).await.status.to_string(), "PAID");
    assert_eq!(redemptions(&app, "MARIA15").await, (2, 2));
    // Both orders' seats are sold, none is left held.
    let row = ticket_row(&app, seated_id).await;
    assert_eq!((row.sold_count, row.held_count), (2, 0));
}

#[tokio::test]
async fn a_websocket_with_a_bad_key_is_closed_4403_and_a_subscribe_before_the_ack_4401() {
    let app = spawn_app().await;
    let mut ws = app.ws("graphql-transport-ws", &[]).await.unwrap();
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": "Bearer tix_not_a_real_key" } })).await;
    assert_eq!(ws.close_code().await, Some(4403));

    let mut ws = app.ws("graphql-transport-ws", &[]).await.unwrap();
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ __typename }" } })).await;
    assert_eq!(ws.close_code().await, Some(4401));

    // A document nested thousands deep (which would overflow the parser's stack) or
    // carrying a NUL closes the socket; the server goes on.
    for query in [
        format!("subscription {{ cartUpdated(cartId: {}\"x\"{}) {{ id }} }}", "[".repeat(5_000), "]".repeat(5_000)),
        "subscription { cartUpdated(cartId: \"x\\u0000\") { id } }".to_owned(),
    ] {
        let mut ws = app.ws("graphql-transport-ws", &[]).await.unwrap();
        ws.init(json!({})).await;
        ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": query } })).await;
        assert!(ws.close_code().await.is_some());
    }
    // A message bigger than a request body may be (1 MiB) is refused by the socket
    // itself, before anything parses it: the connection ends without an answer (a
    // parsed one would get an error message, and `close_code` fails on any message).
    let mut ws = app.ws("graphql-transport-ws", &[]).await.unwrap();
    ws.init(json!({})).await;
    let query = format!("subscription {{ cartUpdated(cartId: \"x\") {{ id }} }} #{}", "x".repeat(1_100_000));
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": query } })).await;
    assert_eq!(ws.close_code().await, None, "dropped, no close frame");
    assert_eq!(app.http.get(format!("{}/healthz", app.address)).send().await.unwrap().status(), StatusCode::OK);

    // A good key and no key are acknowledged.
    let mut ws = app.ws("graphql-transport-ws", &[]).await.unwrap();
    ws.init(json!({ "Authorization": format!("Bearer {}", app.admin_key) })).await;
    let mut ws = app.ws("graphql-transport-ws", &[]).await.unwrap();
    ws.init(json!({})).await;
}

#[tokio::test]
async fn the_failed_attempt_limit_holds_across_instances_sharing_a_database() {
    let app = spawn_app().await;
    let other = tixshop::startup::Application::build(crate::helpers::test_config(&app.database_url)).await.unwrap();
    let other_url = format!("http://{}/graphql", other.address());
    tokio::spawn(other.run_until(std::future::pending()));
    let url = format!("{}/graphql", app.address);
    let client = buyer();
    let cart = new_cart(&client, &url).await["id"].as_str().unwrap().to_owned();
    // Five wrong guesses through each instance: ten from this address in all.
    for n in 0..5 {
        assert_eq!(first_error(&apply(&client, &url, &cart, &format!("ONE{n}")).await), "UNKNOWN");
        assert_eq!(first_error(&apply(&client, &other_url, &cart, &format!("TWO{n}")).await), "UNKNOWN");
    }
    assert_eq!(first_error(&apply(&client, &url, &cart, "NEWS10").await), "RATE_LIMITED");
    assert_eq!(first_error(&apply(&client, &other_url, &cart, "NEWS10").await), "RATE_LIMITED");
}
