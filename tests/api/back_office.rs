//! The organizer's back office through the public API: a shop built from nothing,
//! catalog rules (capacity, prices, drafts, sales windows), dates in the shop's time
//! zone, invoices, and the audit log of every admin write.

use std::collections::BTreeSet;
use std::process::Command;

use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use tixshop::config::Mode;
use tixshop::entities::{audit_entry, promo_code};

use crate::checkout::{WEBHOOK_SECRET, cart_with, checkout, deliver, order_row, session, ticket_ids};
use crate::fakes::{FakeStripe, stripe_event};
use crate::helpers::{TestApp, WsClient, next_year, spawn_app, spawn_app_with};

/// The cart fields a buyer's page shows.
const CART: &str = "id total { amount currency } lines { ticketTypeId name quantity total { amount } }";

fn tixshop() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tixshop"));
    command.env_remove("DATABASE_URL").env("TIXSHOP_LOG", "warn");
    command
}

/// A GraphQL call that must not fail at the GraphQL level; returns `data.<field>`.
async fn call(app: &TestApp, key: &str, field: &str, query: &str, variables: Value) -> Value {
    let body = app.gql_as(Some(key), query, variables).await;
    assert!(body["errors"].is_null(), "{field}: {body}");
    body["data"][field].clone()
}

/// A mutation payload that must have no user errors.
async fn ok(app: &TestApp, key: &str, field: &str, query: &str, variables: Value) -> Value {
    let payload = call(app, key, field, query, variables).await;
    assert_eq!(payload["userErrors"], json!([]), "{field}: {payload}");
    payload
}

fn first_code(payload: &Value) -> String {
    payload["userErrors"][0]["code"].as_str().unwrap_or_else(|| panic!("a user error in {payload}")).to_owned()
}

async fn add(app: &TestApp, cart: &str, ticket: &str, quantity: i32) -> Value {
    let body = app
        .gql(
            &format!(
                "mutation($c: ID!, $t: ID!, $q: Int!) {{ addToCart(cartId: $c, ticketTypeId: $t, quantity: $q) {{ cart {{ {CART} }} userErrors {{ field code message }} }} }}"
            ),
            json!({ "c": cart, "t": ticket, "q": quantity }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["addToCart"].clone()
}

async fn new_cart(app: &TestApp, shop: &str) -> String {
    let body =
        app.gql("mutation($s: String!) { createCart(shopSlug: $s) { cart { id } } }", json!({ "s": shop })).await;
    body["data"]["createCart"]["cart"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
}

async fn audit_count(app: &TestApp) -> u64 {
    audit_entry::Entity::find().count(&app.db).await.unwrap()
}

const CREATE_EVENT: &str = "mutation($i: CreateEventInput!, $d: Boolean = false) { createEvent(input: $i, dryRun: $d) {
    event { id name status startsAt endsAt } dryRun userErrors { field code message } } }";
const UPDATE_EVENT: &str = "mutation($id: ID!, $i: UpdateEventInput!) { updateEvent(id: $id, input: $i) {
    event { id status } userErrors { field code message } } }";
const CREATE_TICKET: &str = "mutation($i: CreateTicketTypeInput!, $d: Boolean = false) { createTicketType(input: $i, dryRun: $d) {
    ticketType { id name price { amount currency } vatRate capacity sold held available salesFrom salesUntil hidden onSale }
    dryRun userErrors { field code message } } }";
const UPDATE_TICKET: &str = "mutation($id: ID!, $i: UpdateTicketTypeInput!) { updateTicketType(id: $id, input: $i) {
    ticketType { id price { amount } capacity sold held available } userErrors { field code message } } }";

/// The whole story, with nothing but a CLI-made key: settings, an event with two ticket
/// types, on sale, a buyer pays through Stripe, the organizer sees the sale, the invoice
/// and who did what.
#[tokio::test]
async fn an_organizer_opens_a_shop_from_an_empty_database_and_a_buyer_pays() {
    let fake = FakeStripe::start().await;
    let stripe = fake.url.clone();
    let app = spawn_app_with(move |c| {
        c.mode = Mode::Production;
        c.seed_demo = Some(false);
        c.stripe_api_base = stripe.parse().unwrap();
        c.stripe_secret_key = Some("sk_test_123".into());
        c.stripe_webhook_secret = Some(WEBHOOK_SECRET.into());
    })
    .await;
    assert!(app.admin_key.is_empty(), "nothing seeded");

    let output = tixshop()
        .args(["account", "create", "--slug", "river", "--name", "River Club", "--currency", "EUR", "--vat-rate", "19"])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let key = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    let settings = ok(
        &app,
        &key,
        "updateShopSettings",
        "mutation($i: UpdateShopSettingsInput!) { updateShopSettings(input: $i) {
            shop { slug timeZone pricesIncludeVat vatRate seller { legalName address vatId } storefrontUrl } userErrors { field code message } } }",
        json!({ "i": { "timeZone": "Europe/Berlin", "sellerLegalName": "River Club GmbH",
                       "sellerAddress": "Kaiweg 1\n20457 Hamburg", "sellerVatId": "DE123456789",
                       "storefrontUrl": "https://tickets.river.example/" } }),
    )
    .await;
    assert_eq!(settings["shop"]["timeZone"], "Europe/Berlin");
    assert_eq!(settings["shop"]["seller"]["vatId"], "DE123456789");

    let year = next_year();
    let event = ok(
        &app,
        &key,
        "createEvent",
        CREATE_EVENT,
        json!({ "i": { "name": "Harbour Sessions", "venue": "Pier 3",
                       "startsAt": format!("{year}-06-20T20:00:00+02:00"), "endsAt": format!("{year}-06-20T23:30:00+02:00") } }),
    )
    .await;
    assert_eq!(event["event"]["status"], "DRAFT");
    // In the shop's zone, with its summer offset.
    assert_eq!(event["event"]["startsAt"], format!("{year}-06-20T20:00:00+02:00"));
    let event_id = event["event"]["id"].as_str().unwrap().to_owned();

    let standing = ok(
        &app,
        &key,
        "createTicketType",
        CREATE_TICKET,
        json!({ "i": { "eventId": event_id, "name": "Standing", "price": "24.90", "capacity": 200 } }),
    )
    .await;
    assert_eq!(standing["ticketType"]["price"], json!({ "amount": "24.90", "currency": "EUR" }));
    assert_eq!(standing["ticketType"]["vatRate"], "19.00");
    assert_eq!(standing["ticketType"]["onSale"], false, "its event is a draft");
    let vip = ok(
        &app,
        &key,
        "createTicketType",
        CREATE_TICKET,
        json!({ "i": { "eventId": event_id, "name": "VIP", "price": "89.00", "vatRate": "7", "capacity": 20,
                       "salesUntilOn": format!("{year}-06-19") } }),
    )
    .await;
    assert_eq!(vip["ticketType"]["salesUntil"], format!("{year}-06-19T23:59:59.999+02:00"));
    let (standing, vip) = (
        standing["ticketType"]["id"].as_str().unwrap().to_owned(),
        vip["ticketType"]["id"].as_str().unwrap().to_owned(),
    );

    // A draft is not public: the shop shows nothing, and its tickets cannot be added.
    let shop = app.gql("{ shop(slug: \"river\") { name timeZone events { id } } }", json!({})).await;
    assert_eq!(shop["data"]["shop"], json!({ "name": "River Club", "timeZone": "Europe/Berlin", "events": [] }));
    let early = new_cart(&app, "river").await;
    assert_eq!(first_code(&add(&app, &early, &standing, 1).await), "NOT_ON_SALE");

    let on_sale =
        ok(&app, &key, "updateEvent", UPDATE_EVENT, json!({ "id": event_id, "i": { "status": "ON_SALE" } })).await;
    assert_eq!(on_sale["event"]["status"], "ON_SALE");
    let shop = app
        .gql(
            "{ shop(slug: \"river\") { events { name venue ticketTypes { name price { amount } onSale available } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        shop["data"]["shop"]["events"],
        json!([{ "name": "Harbour Sessions", "venue": "Pier 3", "ticketTypes": [
            { "name": "Standing", "price": { "amount": "24.90" }, "onSale": true, "available": 200 },
            { "name": "VIP", "price": { "amount": "89.00" }, "onSale": true, "available": 20 },
        ] }])
    );

    // The buyer.
    let cart = new_cart(&app, "river").await;
    add(&app, &cart, &standing, 2).await;
    let added = add(&app, &cart, &vip, 1).await;
    assert_eq!(added["userErrors"], json!([]));
    assert_eq!(added["cart"]["total"], json!({ "amount": "138.80", "currency": "EUR" }));
    let payload = checkout(&app, &cart, "buyer@example.com", "STRIPE").await;
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    let order_id = payload["order"]["id"].as_str().unwrap().to_owned();
    let session_id = order_row(&app, &order_id).await.provider_ref.unwrap();
    let paid = stripe_event("evt_river", "checkout.session.completed", session(&order_id, &session_id, "paid"));
    assert!(deliver(&app, &paid).await.is_success());

    // The organizer sees the sale.
    let events = call(
        &app,
        &key,
        "events",
        "{ events { edges { node { name status sales { ticketsSold ticketsHeld orders revenue { amount } capacity } } } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        events["edges"][0]["node"],
        json!({ "name": "Harbour Sessions", "status": "ON_SALE",
                "sales": { "ticketsSold": 3, "ticketsHeld": 0, "orders": 1, "revenue": { "amount": "138.80" }, "capacity": 220 } })
    );
    let order = call(
        &app,
        &key,
        "order",
        "query($id: ID!) { order(id: $id) { status total { amount } invoice { seller { name address vatId } total } } }",
        json!({ "id": order_id }),
    )
    .await;
    assert_eq!(order["status"], "PAID");
    assert_eq!(
        order["invoice"],
        json!({ "seller": { "name": "River Club GmbH", "address": ["Kaiweg 1", "20457 Hamburg"], "vatId": "DE123456789" },
                "total": "138.80" })
    );
    let html = app
        .http
        .get(format!("{}/orders/{order_id}/invoice.html", app.address))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<strong>River Club GmbH</strong><br>Kaiweg 1<br>20457 Hamburg<br>VAT ID DE123456789"),
        "{html}"
    );

    // Who did what: the CLI opened the shop, the key did the rest.
    let log =
        call(&app, &key, "auditLog", "{ auditLog { edges { node { operation via keyName targetType } } } }", json!({}))
            .await;
    let operations: Vec<(String, String)> = log["edges"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| (e["node"]["operation"].as_str().unwrap().to_owned(), e["node"]["via"].as_str().unwrap().to_owned()))
        .collect();
    let expected: Vec<(String, String)> = [
        ("createAccount", "CLI"),
        ("createApiKey", "CLI"),
        ("updateShopSettings", "GRAPHQL"),
        ("createEvent", "GRAPHQL"),
        ("createTicketType", "GRAPHQL"),
        ("createTicketType", "GRAPHQL"),
        ("updateEvent", "GRAPHQL"),
    ]
    .iter()
    .map(|(o, v)| (o.to_string(), v.to_string()))
    .collect();
    assert_eq!(operations, expected);
}

/// A FREEPASS order of 2 × Standing: sold at once, paid, with an invoice.
async fn free_order(app: &TestApp, email: &str) -> String {
    let tickets = ticket_ids(app, "demo").await;
    let cart = cart_with(app, "demo", &[(&tickets[0], 2)], Some("FREEPASS")).await;
    let payload = checkout(app, &cart, email, "STRIPE").await;
    assert_eq!(payload["order"]["status"], "PAID", "{payload}");
    payload["order"]["id"].as_str().unwrap().to_owned()
}

async fn invoice_html(app: &TestApp, order_id: &str) -> reqwest::Response {
    app.http
        .get(format!("{}/orders/{order_id}/invoice.html", app.address))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
}

async fn subscribe(app: &TestApp, cart: &str) -> WsClient {
    let mut ws = app.ws("graphql-transport-ws", &[]).await.unwrap();
    ws.init(json!({})).await;
    ws.start("c", &format!("subscription($c: ID!) {{ cartUpdated(cartId: $c) {{ {CART} }} }}"), json!({ "c": cart }))
        .await;
    ws
}

#[tokio::test]
async fn capacity_prices_drafts_and_sales_windows_hold_through_the_api() {
    let fake = FakeStripe::start().await;
    let app = crate::checkout::paying_app(&fake).await;
    let key = app.admin_key.clone();
    let tickets = ticket_ids(&app, "demo").await;
    let standing = tickets[0].clone();

    // Capacity never below sold + held: 2 sold (free), 1 held (a pending Stripe checkout).
    let order_id = free_order(&app, "ann@example.com").await;
    let pending = cart_with(&app, "demo", &[(&standing, 1)], None).await;
    assert_eq!(checkout(&app, &pending, "bob@example.com", "STRIPE").await["order"]["status"], "PENDING");
    let refused =
        call(&app, &key, "updateTicketType", UPDATE_TICKET, json!({ "id": standing, "i": { "capacity": 2 } })).await;
    assert_eq!(first_code(&refused), "CAPACITY_BELOW_SOLD");
    assert_eq!(refused["userErrors"][0]["field"], json!(["input", "capacity"]));
    assert!(refused["userErrors"][0]["message"].as_str().unwrap().contains("2 sold and 1 held"), "{refused}");
    let lowered =
        ok(&app, &key, "updateTicketType", UPDATE_TICKET, json!({ "id": standing, "i": { "capacity": 3 } })).await;
    assert_eq!(
        lowered["ticketType"],
        json!({ "id": standing, "price": { "amount": "19.99" }, "capacity": 3, "sold": 2, "held": 1, "available": 0 })
    );
    ok(&app, &key, "updateTicketType", UPDATE_TICKET, json!({ "id": standing, "i": { "capacity": 500 } })).await;

    // A price change reprices an open cart at once, with a push; the paid order keeps its invoice.
    let before = invoice_html(&app, &order_id).await.text().await.unwrap();
    let cart = cart_with(&app, "demo", &[(&standing, 2)], None).await;
    let mut ws = subscribe(&app, &cart).await;
    let first = ws.next_payload().await;
    assert_eq!(first["data"]["cartUpdated"]["total"]["amount"], "39.98");
    ok(&app, &key, "updateTicketType", UPDATE_TICKET, json!({ "id": standing, "i": { "price": "24.50" } })).await;
    let pushed = ws.next_payload().await;
    assert_eq!(pushed["data"]["cartUpdated"]["total"]["amount"], "49.00", "{pushed}");
    let after = invoice_html(&app, &order_id).await.text().await.unwrap();
    assert_eq!(before, after, "the paid order's invoice is its snapshot");
    assert!(after.contains("the prices above include a discount of 39.98 EUR"), "{after}");

    // An unpaid order has no invoice.
    let pending_id = {
        let cart = cart_with(&app, "demo", &[(&tickets[1], 1)], None).await;
        let payload = checkout(&app, &cart, "cy@example.com", "STRIPE").await;
        payload["order"]["id"].as_str().unwrap().to_owned()
    };
    assert_eq!(invoice_html(&app, &pending_id).await.status(), 404);
    let order = call(
        &app,
        &key,
        "order",
        "query($id: ID!) { order(id: $id) { status invoice { total } } }",
        json!({ "id": pending_id }),
    )
    .await;
    assert_eq!(order, json!({ "status": "PENDING", "invoice": null }));

    // A DRAFT event's tickets cannot be added; nor can tickets before their sales open.
    let year = next_year();
    let draft = ok(
        &app,
        &key,
        "createEvent",
        CREATE_EVENT,
        json!({ "i": { "name": "Secret Gig", "startsAt": format!("{year}-03-01T20:00:00Z") } }),
    )
    .await;
    let draft_id = draft["event"]["id"].as_str().unwrap().to_owned();
    let secret = ok(
        &app,
        &key,
        "createTicketType",
        CREATE_TICKET,
        json!({ "i": { "eventId": draft_id, "name": "Door", "price": "10" } }),
    )
    .await;
    let secret = secret["ticketType"]["id"].as_str().unwrap().to_owned();
    let buyer = new_cart(&app, "demo").await;
    let refused = add(&app, &buyer, &secret, 1).await;
    assert_eq!(first_code(&refused), "NOT_ON_SALE");
    assert_eq!(refused["userErrors"][0]["message"], "Secret Gig is not on sale yet.");
    ok(&app, &key, "updateEvent", UPDATE_EVENT, json!({ "id": draft_id, "i": { "status": "ON_SALE" } })).await;
    let later = ok(
        &app,
        &key,
        "createTicketType",
        CREATE_TICKET,
        json!({ "i": { "eventId": draft_id, "name": "Late", "price": "12", "salesFromOn": format!("{year}-01-15") } }),
    )
    .await;
    // The demo shop keeps Berlin time: midnight there, in winter.
    assert_eq!(later["ticketType"]["salesFrom"], format!("{year}-01-15T00:00:00+01:00"));
    let later = later["ticketType"]["id"].as_str().unwrap().to_owned();
    assert_eq!(first_code(&add(&app, &buyer, &later, 1).await), "SALES_NOT_STARTED");
    assert_eq!(add(&app, &buyer, &secret, 1).await["userErrors"], json!([]));
    // Hidden types sell by id but are not listed.
    ok(&app, &key, "updateTicketType", UPDATE_TICKET, json!({ "id": secret, "i": { "hidden": true } })).await;
    let listed = app.gql("{ shop(slug: \"demo\") { events { name ticketTypes { name } } } }", json!({})).await;
    let gig = listed["data"]["shop"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "Secret Gig")
        .unwrap()
        .clone();
    assert_eq!(gig["ticketTypes"], json!([{ "name": "Late" }]));

    // Taking an event off sale stops a cart holding its tickets at checkout.
    ok(&app, &key, "updateEvent", UPDATE_EVENT, json!({ "id": draft_id, "i": { "status": "CANCELLED" } })).await;
    let payload = checkout(&app, &buyer, "dee@example.com", "STRIPE").await;
    assert_eq!(first_code(&payload), "NOT_ON_SALE");
    assert_eq!(payload["userErrors"][0]["message"], "Secret Gig was cancelled.");

    // Currency is fixed once there are orders.
    let currency = call(&app, &key, "updateShopSettings",
        "mutation { updateShopSettings(input: {currency: \"USD\"}) { shop { currency } userErrors { field code message } } }", json!({})).await;
    assert_eq!(first_code(&currency), "CURRENCY_LOCKED");
    assert_eq!(currency["userErrors"][0]["field"], json!(["input", "currency"]));

    // Bad input: every field refused at once, typed, nothing written.
    let entries = audit_count(&app).await;
    let bad = call(
        &app,
        &key,
        "createTicketType",
        CREATE_TICKET,
        json!({ "i": { "eventId": "999999", "name": " ", "price": "1.999", "vatRate": "101", "capacity": -1 } }),
    )
    .await;
    let mut fields: Vec<String> =
        bad["userErrors"].as_array().unwrap().iter().map(|e| e["field"][1].as_str().unwrap().to_owned()).collect();
    fields.sort();
    assert_eq!(fields, ["capacity", "eventId", "name", "price", "vatRate"], "{bad}");
    let bad_event = call(
        &app,
        &key,
        "createEvent",
        CREATE_EVENT,
        json!({ "i": { "name": "Past", "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2019-01-01T00:00:00Z" } }),
    )
    .await;
    let fields: Vec<&Value> = bad_event["userErrors"].as_array().unwrap().iter().map(|e| &e["field"]).collect();
    assert_eq!(fields, [&json!(["input", "startsAt"]), &json!(["input", "endsAt"])], "{bad_event}");
    // Out-of-range numbers are typed refusals, never a crash.
    let huge = call(
        &app,
        &key,
        "createTicketType",
        CREATE_TICKET,
        json!({ "i": { "eventId": draft_id, "name": "Gold", "price": "100000000.01", "vatRate": "79228162514264337593543950335" } }),
    )
    .await;
    let fields: Vec<&Value> = huge["userErrors"].as_array().unwrap().iter().map(|e| &e["field"]).collect();
    assert_eq!(fields, [&json!(["input", "price"]), &json!(["input", "vatRate"])], "{huge}");
    let bad_zone = call(&app, &key, "updateShopSettings",
        "mutation { updateShopSettings(input: {timeZone: \"Mars/Olympus\", storefrontUrl: \"javascript:alert(1)\"}) { userErrors { field code } } }", json!({})).await;
    assert_eq!(
        bad_zone["userErrors"],
        json!([{ "field": ["input", "timeZone"], "code": "INVALID" }, { "field": ["input", "storefrontUrl"], "code": "INVALID_URL" }])
    );
    assert_eq!(audit_count(&app).await, entries, "refused writes leave no entry");

    // Sales figures are the own shop's only, even reached through the public shop query.
    let other = call(
        &app,
        &key,
        "createApiKey",
        "mutation { createApiKey(input: {name: \"r\", scope: READ}) { secret userErrors { code } } }",
        json!({}),
    )
    .await;
    let rival_key = crate::helpers::other_shop_key(&app, "rival").await;
    let nested = "{ shop(slug: \"demo\") { events { name sales { revenue { amount } } } } }";
    let peek = app.gql_as(Some(&rival_key), nested, json!({})).await;
    assert_eq!(peek["errors"][0]["extensions"]["code"], "FORBIDDEN", "{peek}");
    assert!(peek["data"]["shop"]["events"].as_array().unwrap().iter().all(|e| e["sales"].is_null()), "{peek}");
    let own = app.gql_as(Some(other["secret"].as_str().unwrap()), nested, json!({})).await;
    assert!(own["errors"].is_null() && own["data"]["shop"]["events"][0]["sales"]["revenue"].is_object(), "{own}");
}

#[tokio::test]
async fn expires_on_is_the_end_of_that_day_in_the_shops_zone() {
    let app = spawn_app().await;
    let key = app.admin_key.clone();
    ok(
        &app,
        &key,
        "updateShopSettings",
        "mutation { updateShopSettings(input: {timeZone: \"Europe/Berlin\"}) { userErrors { field code message } } }",
        json!({}),
    )
    .await;
    let year = next_year();
    let created = ok(&app, &key, "createPromoCode",
        "mutation($i: CreatePromoCodeInput!) { createPromoCode(input: $i) { promoCode { id expiresAt status } userErrors { field code message } } }",
        json!({ "i": { "code": "OCTOBER", "discountType": "PERCENTAGE", "percentOff": "10", "expiresOn": format!("{year}-10-31") } })).await;
    assert_eq!(created["promoCode"]["expiresAt"], format!("{year}-10-31T23:59:59.999+01:00"));
    assert_eq!(created["promoCode"]["status"], "ACTIVE");
    let id: i64 = created["promoCode"]["id"].as_str().unwrap().parse().unwrap();
    let row = promo_code::Entity::find_by_id(id).one(&app.db).await.unwrap().unwrap();
    assert_eq!(row.expires_at.unwrap().to_rfc3339(), format!("{year}-10-31T22:59:59.999+00:00"), "stored in UTC");
    // Summer time in Berlin is two hours ahead.
    let moved = ok(&app, &key, "updatePromoCode",
        "mutation($id: ID!, $i: UpdatePromoCodeInput!) { updatePromoCode(id: $id, input: $i) { promoCode { expiresAt } userErrors { field code message } } }",
        json!({ "id": id.to_string(), "i": { "expiresOn": format!("{year}-07-31") } })).await;
    assert_eq!(moved["promoCode"]["expiresAt"], format!("{year}-07-31T23:59:59.999+02:00"));
    // Over REST too.
    let rest: Value = app.http.post(format!("{}/admin/promo_codes", app.address)).bearer_auth(&key)
        .json(&json!({ "code": "RESTOCT", "discount_type": "PERCENTAGE", "percent_off": "5", "expires_on": format!("{year}-10-31") }))
        .send().await.unwrap().json().await.unwrap();
    assert_eq!(rest["expires_at"], format!("{year}-10-31T22:59:59.999Z"), "{rest}");

    // Both forms at once, or a day already over, are refused.
    let both = call(&app, &key, "createPromoCode",
        "mutation($i: CreatePromoCodeInput!) { createPromoCode(input: $i) { userErrors { field code } } }",
        json!({ "i": { "code": "BOTH", "discountType": "PERCENTAGE", "percentOff": "10", "expiresOn": format!("{year}-10-31"), "expiresAt": format!("{year}-10-31T00:00:00Z") } })).await;
    assert_eq!(both["userErrors"], json!([{ "field": ["input", "expiresOn"], "code": "INVALID" }]));
    let past = call(
        &app,
        &key,
        "createPromoCode",
        "mutation($i: CreatePromoCodeInput!) { createPromoCode(input: $i) { userErrors { field code } } }",
        json!({ "i": { "code": "PAST", "discountType": "PERCENTAGE", "percentOff": "10", "expiresOn": "2020-10-31" } }),
    )
    .await;
    assert_eq!(past["userErrors"][0]["code"], "EXPIRES_AT_IN_PAST");

    // The code applies up to its instant and stops just after it.
    let expiry = chrono::Utc::now() + chrono::Duration::seconds(4);
    ok(
        &app,
        &key,
        "createPromoCode",
        "mutation($i: CreatePromoCodeInput!) { createPromoCode(input: $i) { userErrors { field code message } } }",
        json!({ "i": { "code": "SOON", "discountType": "PERCENTAGE", "percentOff": "10", "expiresAt": expiry.to_rfc3339() } }),
    )
    .await;
    let tickets = ticket_ids(&app, "demo").await;
    let cart = cart_with(&app, "demo", &[(&tickets[0], 1)], Some("SOON")).await;
    let wait = (expiry - chrono::Utc::now()).to_std().unwrap_or_default() + std::time::Duration::from_millis(300);
    tokio::time::sleep(wait).await;
    let late = app
        .gql(
            "mutation($c: ID!) { applyPromo(cartId: $c, code: \"SOON\") { userErrors { code } } }",
            json!({ "c": cart }),
        )
        .await;
    assert_eq!(late["data"]["applyPromo"]["userErrors"], json!([{ "code": "EXPIRED" }]));
}

/// The admin mutations of the schema: every Mutation field but the buyer's.
async fn admin_mutations(app: &TestApp) -> BTreeSet<String> {
    let body = app.gql_admin("{ __schema { mutationType { fields { name } } } }", json!({})).await;
    let public = [
        "createCart",
        "addToCart",
        "updateCartLine",
        "removeCartLine",
        "setCartEmail",
        "applyPromo",
        "removePromo",
        "checkout",
        "capturePaypalOrder",
    ];
    body["data"]["__schema"]["mutationType"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .filter(|n| !public.contains(&n.as_str()))
        .collect()
}

/// The newest audit entry as the API shows it.
async fn newest_entry(app: &TestApp) -> Value {
    let log = call(app, &app.admin_key, "auditLog",
        "{ auditLog(first: 1) { edges { node { operation via keyId keyName targetType targetId changes { field before after } } } } }", json!({})).await;
    log["edges"][0]["node"].clone()
}

#[tokio::test]
async fn every_admin_mutation_leaves_exactly_one_audit_entry() {
    let app = spawn_app().await;
    let key = app.admin_key.clone();
    let viewer = call(&app, &key, "viewer", "{ viewer { keyId } }", json!({})).await;
    let key_id = viewer["keyId"].as_str().unwrap().to_owned();
    let read = ok(
        &app,
        &key,
        "createApiKey",
        "mutation { createApiKey(input: {name: \"auditor\", scope: READ}) { secret userErrors { code } } }",
        json!({}),
    )
    .await;
    let read_key = read["secret"].as_str().unwrap().to_owned();
    let mutations = admin_mutations(&app).await;
    let mut walked: BTreeSet<String> = BTreeSet::new();
    let year = next_year();

    // Runs one admin mutation: a read key is refused and writes nothing; a dry run (where
    // there is one) writes nothing; the real call writes exactly one entry, by this key,
    // about `target`, with its changes. Returns the payload.
    macro_rules! step {
        ($name:expr, $target:expr, $query:expr, $vars:expr) => {{
            let (name, query, vars): (&str, &str, Value) = ($name, $query, $vars);
            let before = audit_count(&app).await;
            let refused = app.gql_as(Some(&read_key), query, vars.clone()).await;
            assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{name} with a read key: {refused}");
            if query.contains("$d") {
                let mut dry = vars.clone();
                dry["d"] = json!(true);
                let payload = call(&app, &key, name, query, dry).await;
                assert_eq!(payload["userErrors"], json!([]), "{name} dry run: {payload}");
                if payload.get("dryRun").is_some() {
                    assert_eq!(payload["dryRun"], true, "{name}: {payload}");
                }
            }
            assert_eq!(audit_count(&app).await, before, "{name}: a refused call or a dry run writes no entry");
            let payload = ok(&app, &key, name, query, vars).await;
            assert_eq!(audit_count(&app).await, before + 1, "{name} writes exactly one entry");
            let entry = newest_entry(&app).await;
            assert_eq!(entry["operation"], name);
            assert_eq!(entry["via"], "GRAPHQL");
            assert_eq!(entry["keyId"], key_id.as_str(), "{name}");
            assert_eq!(entry["keyName"], "demo admin");
            assert_eq!(entry["targetType"], $target, "{name}: {entry}");
            assert!(!entry["changes"].as_array().unwrap().is_empty(), "{name} records what changed: {entry}");
            // Secrets never reach the log: a webhook signing secret, an API key's secret.
            let text = entry.to_string();
            assert!(!text.contains("whsec_"), "{name}: no secrets in {entry}");
            if let Some(secret) = payload["secret"].as_str() {
                assert!(!text.contains(secret), "{name}: no secrets in {entry}");
            }
            walked.insert(name.to_owned());
            (payload, entry)
        }};
    }

    let (_, entry) = step!(
        "updateShopSettings",
        "SHOP",
        "mutation($d: Boolean = false) { updateShopSettings(input: {sellerVatId: \"DE999\", vatRate: \"7\"}, dryRun: $d) { dryRun userErrors { code } } }",
        json!({})
    );
    let changes = entry["changes"].as_array().unwrap();
    assert!(changes.contains(&json!({ "field": "vatRate", "before": "19.00", "after": "7.00" })), "{entry}");
    assert!(changes.contains(&json!({ "field": "sellerVatId", "before": "DE000000000", "after": "DE999" })), "{entry}");
    assert_eq!(changes.len(), 2, "only what changed: {entry}");

    let (created, _) = step!(
        "createEvent",
        "EVENT",
        CREATE_EVENT,
        json!({ "i": { "name": "Audit Night", "startsAt": format!("{year}-05-01T19:00:00Z") } })
    );
    let event_id = created["event"]["id"].as_str().unwrap().to_owned();
    let (_, entry) = step!(
        "updateEvent",
        "EVENT",
        "mutation($id: ID!, $d: Boolean = false) { updateEvent(id: $id, input: {venue: \"Dock 9\"}, dryRun: $d) { dryRun userErrors { code } } }",
        json!({ "id": event_id })
    );
    assert_eq!(entry["changes"], json!([{ "field": "venue", "before": null, "after": "Dock 9" }]));
    let (created, _) = step!(
        "createTicketType",
        "TICKET_TYPE",
        CREATE_TICKET,
        json!({ "i": { "eventId": event_id, "name": "Floor", "price": "15.00" } })
    );
    let ticket_id = created["ticketType"]["id"].as_str().unwrap().to_owned();
    let (_, entry) = step!(
        "updateTicketType",
        "TICKET_TYPE",
        "mutation($id: ID!, $d: Boolean = false) { updateTicketType(id: $id, input: {price: \"17.50\"}, dryRun: $d) { dryRun userErrors { code } } }",
        json!({ "id": ticket_id })
    );
    assert_eq!(entry["changes"], json!([{ "field": "price", "before": "15.00", "after": "17.50" }]));
    step!(
        "deleteTicketType",
        "TICKET_TYPE",
        "mutation($id: ID!, $d: Boolean = false) { deleteTicketType(id: $id, dryRun: $d) { dryRun deletion userErrors { code } } }",
        json!({ "id": ticket_id })
    );
    let (_, entry) = step!(
        "deleteEvent",
        "EVENT",
        "mutation($id: ID!, $d: Boolean = false) { deleteEvent(id: $id, dryRun: $d) { dryRun deletion userErrors { code } } }",
        json!({ "id": event_id })
    );
    assert!(entry["changes"].as_array().unwrap().iter().all(|c| c["after"].is_null()), "a hard delete: {entry}");

    let (created, _) = step!(
        "createPromoCode",
        "PROMO_CODE",
        "mutation($d: Boolean = false) { createPromoCode(input: {code: \"AUDIT5\", discountType: FIXED_AMOUNT, amountOff: \"5\"}, dryRun: $d) { dryRun promoCode { id } userErrors { code } } }",
        json!({})
    );
    let code_id = created["promoCode"]["id"].as_str().unwrap().to_owned();
    let (_, entry) = step!(
        "updatePromoCode",
        "PROMO_CODE",
        "mutation($id: ID!, $d: Boolean = false) { updatePromoCode(id: $id, input: {amountOff: \"7.50\"}, dryRun: $d) { dryRun userErrors { code } } }",
        json!({ "id": code_id })
    );
    assert_eq!(entry["changes"], json!([{ "field": "amountOff", "before": "5.00", "after": "7.50" }]));
    step!(
        "deactivatePromoCode",
        "PROMO_CODE",
        "mutation($id: ID!, $d: Boolean = false) { deactivatePromoCode(id: $id, dryRun: $d) { dryRun userErrors { code } } }",
        json!({ "id": code_id })
    );
    step!(
        "reactivatePromoCode",
        "PROMO_CODE",
        "mutation($id: ID!, $d: Boolean = false) { reactivatePromoCode(id: $id, dryRun: $d) { dryRun userErrors { code } } }",
        json!({ "id": code_id })
    );
    step!(
        "deletePromoCode",
        "PROMO_CODE",
        "mutation($id: ID!, $d: Boolean = false) { deletePromoCode(id: $id, dryRun: $d) { dryRun userErrors { code } } }",
        json!({ "id": code_id })
    );

    let (created, _) = step!(
        "createWebhookEndpoint",
        "WEBHOOK_ENDPOINT",
        "mutation { createWebhookEndpoint(input: {url: \"http://127.0.0.1:9/hook\", events: [\"order.paid\"]}) { endpoint { id } secret userErrors { code } } }",
        json!({})
    );
    let endpoint_id = created["endpoint"]["id"].as_str().unwrap().to_owned();
    step!(
        "updateWebhookEndpoint",
        "WEBHOOK_ENDPOINT",
        "mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {description: \"CRM\"}) { userErrors { code } } }",
        json!({ "id": endpoint_id })
    );
    let order_id = free_order(&app, "audit@example.com").await;
    let deliveries = call(&app, &key, "webhookDeliveries", "{ webhookDeliveries { id } }", json!({})).await;
    let delivery_id = deliveries[0]["id"].as_str().unwrap_or_else(|| panic!("a delivery: {deliveries}")).to_owned();
    step!(
        "redeliverWebhook",
        "WEBHOOK_DELIVERY",
        "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { ok userErrors { code } } }",
        json!({ "id": delivery_id })
    );
    step!(
        "deleteWebhookEndpoint",
        "WEBHOOK_ENDPOINT",
        "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { ok userErrors { code } } }",
        json!({ "id": endpoint_id })
    );
    let (_, entry) = step!(
        "refundOrder",
        "ORDER",
        "mutation($id: ID!) { refundOrder(orderId: $id) { order { status } userErrors { code } } }",
        json!({ "id": order_id })
    );
    assert!(
        entry["changes"]
            .as_array()
            .unwrap()
            .contains(&json!({ "field": "status", "before": "PAID", "after": "REFUNDED" })),
        "{entry}"
    );

    let (created, entry) = step!(
        "createApiKey",
        "API_KEY",
        "mutation($d: Boolean = false) { createApiKey(input: {name: \"ci\", scope: ADMIN}, dryRun: $d) { secret apiKey { id } userErrors { code } } }",
        json!({})
    );
    assert!(entry.to_string().contains("\"ADMIN\""), "{entry}");
    let new_key = created["apiKey"]["id"].as_str().unwrap().to_owned();
    step!(
        "revokeApiKey",
        "API_KEY",
        "mutation($id: ID!) { revokeApiKey(id: $id) { userErrors { code } } }",
        json!({ "id": new_key })
    );

    let (created, _) = step!(
        "createPartner",
        "PARTNER",
        "mutation { createPartner(input: {name: \"Box office\", contact: \"box@example.com\"}) { partner { id } userErrors { code } } }",
        json!({})
    );
    let partner = created["partner"]["id"].as_str().unwrap().to_owned();
    step!(
        "updatePartner",
        "PARTNER",
        "mutation($id: ID!) { updatePartner(id: $id, input: {name: \"Front desk\"}) { userErrors { code } } }",
        json!({ "id": partner })
    );
    let (created, entry) = step!(
        "generatePromoCodes",
        "PROMO_BATCH",
        "mutation($d: Boolean = false, $p: ID!) { generatePromoCodes(input: {batchName: \"Desk\", prefix: \"DESK\", count: 25,
            discountType: PERCENTAGE, percentOff: \"5\", partnerId: $p}, dryRun: $d) { batch { id } dryRun userErrors { code } } }",
        json!({ "p": partner })
    );
    assert!(entry.to_string().contains("\"codeCount\""), "one entry for the whole batch: {entry}");
    let batch = created["batch"]["id"].as_str().unwrap().to_owned();
    step!(
        "deactivatePromoBatch",
        "PROMO_BATCH",
        "mutation($id: ID!) { deactivatePromoBatch(id: $id) { userErrors { code } } }",
        json!({ "id": batch })
    );
    let (created, entry) = step!(
        "createPartnerShareLink",
        "SHARE_LINK",
        "mutation($p: ID!) { createPartnerShareLink(partnerId: $p) { shareLink { id } token userErrors { code } } }",
        json!({ "p": partner })
    );
    assert!(!entry.to_string().contains(created["token"].as_str().unwrap()), "no token in {entry}");
    step!(
        "revokePartnerShareLink",
        "SHARE_LINK",
        "mutation($id: ID!) { revokePartnerShareLink(id: $id) { userErrors { code } } }",
        json!({ "id": created["shareLink"]["id"] })
    );

    assert_eq!(walked, mutations, "every admin mutation of the schema is walked here (a new one must be added)");

    // A write that changes nothing, and a REST dry run, leave no entry.
    let entries = audit_count(&app).await;
    ok(
        &app,
        &key,
        "updateShopSettings",
        "mutation { updateShopSettings(input: {sellerVatId: \"DE999\"}) { userErrors { code } } }",
        json!({}),
    )
    .await;
    let dry = app
        .http
        .post(format!("{}/admin/events?dry_run=true", app.address))
        .bearer_auth(&key)
        .json(&json!({ "name": "Dry", "starts_at": format!("{year}-09-01T18:00:00Z") }))
        .send()
        .await
        .unwrap();
    assert_eq!(dry.status(), 200);
    assert_eq!(audit_count(&app).await, entries, "no change, no entry");

    // Read keys read the log, filtered; nobody can change it, not even with SQL.
    let by_target = call(
        &app,
        &read_key,
        "auditLog",
        "query($id: ID!) { auditLog(filter: {target: {type: PROMO_CODE, id: $id}}) { edges { node { operation } } } }",
        json!({ "id": code_id }),
    )
    .await;
    let operations: Vec<&str> =
        by_target["edges"].as_array().unwrap().iter().map(|e| e["node"]["operation"].as_str().unwrap()).collect();
    assert_eq!(
        operations,
        ["deletePromoCode", "reactivatePromoCode", "deactivatePromoCode", "updatePromoCode", "createPromoCode"]
    );
    let by_operation = call(&app, &read_key, "auditLog",
        "query($k: ID!) { auditLog(filter: {keyId: $k, operation: \"createEvent\", from: \"2020-01-01T00:00:00Z\"}) { edges { node { targetType } } } }", json!({ "k": key_id })).await;
    assert_eq!(by_operation["edges"].as_array().unwrap().len(), 1);
    let rest: Value = app
        .http
        .get(format!("{}/admin/audit_log?target_type=event&limit=2", app.address))
        .bearer_auth(&read_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["data"][0]["operation"], "deleteEvent", "{rest}");
    assert_eq!(rest["data"].as_array().unwrap().len(), 2);
    assert!(rest["next_cursor"].is_string());
    for sql in ["UPDATE audit_log SET key_name = 'someone else'", "DELETE FROM audit_log"] {
        assert!(app.db.execute_unprepared(sql).await.is_err(), "{sql} is refused by the database");
    }
}

#[tokio::test]
async fn the_rest_mirror_manages_events_ticket_types_and_settings_with_audit_entries() {
    let app = spawn_app().await;
    let url = |path: &str| format!("{}{path}", app.address);
    let year = next_year();
    let created = app
        .http
        .post(url("/admin/events"))
        .bearer_auth(&app.admin_key)
        .json(&json!({ "name": "REST Fest", "starts_at": format!("{year}-08-01T18:00:00Z"), "status": "on_sale" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let event: Value = created.json().await.unwrap();
    assert_eq!(event["status"], "ON_SALE");
    let event_id = event["id"].as_i64().unwrap();
    let ticket = app
        .http
        .post(url(&format!("/admin/events/{event_id}/ticket_types")))
        .bearer_auth(&app.admin_key)
        .json(&json!({ "name": "Day", "price": "12.00", "capacity": 10 }))
        .send()
        .await
        .unwrap();
    assert_eq!(ticket.status(), 201);
    let ticket: Value = ticket.json().await.unwrap();
    let ticket_id = ticket["id"].as_i64().unwrap();
    let patched: Value = app
        .http
        .patch(url(&format!("/admin/ticket_types/{ticket_id}")))
        .bearer_auth(&app.admin_key)
        .json(&json!({ "price": "13.50", "capacity": null }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((patched["price"].as_str(), patched["capacity"].is_null()), (Some("13.50"), true), "{patched}");
    let bad = app
        .http
        .patch(url(&format!("/admin/ticket_types/{ticket_id}")))
        .bearer_auth(&app.admin_key)
        .json(&json!({ "price": 13.5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422, "floats are not money");
    let shop: Value = app
        .http
        .patch(url("/admin/shop"))
        .bearer_auth(&app.admin_key)
        .json(&json!({ "time_zone": "America/New_York", "seller_address": "1 Main St" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (shop["time_zone"].as_str(), shop["seller_address"].as_str()),
        (Some("America/New_York"), Some("1 Main St"))
    );
    let listed: Value = app
        .http
        .get(url("/admin/events?search=rest"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["ticket_types"][0]["price"], "13.50");
    assert_eq!(listed["data"][0]["starts_at"], format!("{year}-08-01T14:00:00-04:00"), "in the shop's zone");
    assert_eq!(
        app.http
            .delete(url(&format!("/admin/events/{event_id}")))
            .bearer_auth(&app.admin_key)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );

    let log: Value = app
        .http
        .get(url("/admin/audit_log?limit=5"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seen: Vec<(&str, &str)> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["operation"].as_str().unwrap(), e["via"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("deleteEvent", "REST"),
            ("updateShopSettings", "REST"),
            ("updateTicketType", "REST"),
            ("createTicketType", "REST"),
            ("createEvent", "REST")
        ]
    );
    assert_eq!(
        log["data"][2]["changes"],
        json!([{ "field": "capacity", "before": 10, "after": null }, { "field": "price", "before": "12.00", "after": "13.50" }])
    );
}

/// Sales figures of a page of events are one batch (the DataLoader), however many events.
#[tokio::test]
async fn sales_figures_of_many_events_cost_the_same_statements() {
    let app = spawn_app().await;
    let key = app.admin_key.clone();
    let query = "{ shop(slug: \"demo\") { events { name sales { ticketsSold orders } } } events { edges { node { sales { orders } } } } }";
    let two = statements_of(&app, query).await;
    let year = next_year();
    for day in 1..=6 {
        ok(&app, &key, "createEvent", CREATE_EVENT,
            json!({ "i": { "name": format!("Extra {day}"), "status": "ON_SALE", "startsAt": format!("{year}-04-0{day}T19:00:00Z") } }))
            .await;
    }
    let listed = app.gql_admin(query, json!({})).await;
    assert_eq!(listed["data"]["shop"]["events"].as_array().unwrap().len(), 8);
    // Not more with more events (background tasks may add to the smaller figure, never
    // per event): the loop of a query per event grew from 11 to 23 here.
    let eight = statements_of(&app, query).await;
    assert!(eight <= two, "8 events cost no more statements than 2: {eight} > {two}");
}

/// The fewest statements `query` costs over a few runs (background tasks share the
/// counted pool).
async fn statements_of(app: &TestApp, query: &str) -> u64 {
    // A first run warms up what is done once (the key's last-use stamp, prepared statements).
    app.gql_admin(query, json!({})).await;
    let mut runs = vec![];
    for _ in 0..3 {
        let before = app.statements.get();
        let body = app.gql_admin(query, json!({})).await;
        assert!(body["errors"].is_null(), "{body}");
        runs.push(app.statements.get() - before);
    }
    runs.into_iter().min().unwrap()
}
