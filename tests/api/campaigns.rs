//! Campaign tools through the public API: start dates, minimums, generated batches,
//! codes bound to newsletter recipients, partners with share links, and the alerts.

use std::time::Instant;

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::carts::{add, apply, create_cart, error_code, push_until, set_email, subscribe, tickets};
use crate::checkout::{cart_with, checkout, deliver, order_row, paying_app, session, ticket_ids};
use crate::fakes::{FakeStripe, stripe_event};
use crate::helpers::{TestApp, spawn_app};

const CODE_FIELDS: &str =
    "id code status startsAt minimumSubtotal { amount } recipientEmail batchId partner { id name }";

/// Creates a code through the admin API; returns the payload.
async fn create_code(app: &TestApp, input: Value) -> Value {
    let body = app
        .gql_admin(
            &format!(
                "mutation($input: CreatePromoCodeInput!) {{ createPromoCode(input: $input) {{
                    promoCode {{ {CODE_FIELDS} }} userErrors {{ field code message }} }} }}"
            ),
            json!({ "input": input }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["createPromoCode"].clone()
}

async fn generate(app: &TestApp, input: Value) -> Value {
    let body = app
        .gql_admin(
            "mutation($input: GeneratePromoCodesInput!) { generatePromoCodes(input: $input) {
                batch { id name prefix recipients codeCount codesRedeemed redemptions codesActive
                        revenue { amount } discountGiven { amount } csvPath }
                codes { code recipientEmail status } dryRun userErrors { field code message } } }",
            json!({ "input": input }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["generatePromoCodes"].clone()
}

async fn batch(app: &TestApp, id: &str) -> Value {
    let body = app
        .gql_admin(
            "query($id: ID!) { promoBatch(id: $id) { codeCount codesRedeemed redemptions codesActive
                revenue { amount } discountGiven { amount } } }",
            json!({ "id": id }),
        )
        .await;
    body["data"]["promoBatch"].clone()
}

/// The batch's codes as CSV records (header first), read with the admin key.
async fn batch_csv(app: &TestApp, path: &str) -> Vec<Vec<String>> {
    let response = app.http.get(format!("{}{path}", app.address)).headers(app.admin_headers()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = response.text().await.unwrap();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect()
}

/// Pays a STRIPE checkout of `cart` through the provider's signed webhook; returns the order id.
async fn pay(app: &TestApp, cart: &str, email: &str) -> String {
    let payload = checkout(app, cart, email, "STRIPE").await;
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    let id = payload["order"]["id"].as_str().unwrap().to_owned();
    let session_id = order_row(app, &id).await.provider_ref.unwrap();
    let event = format!("evt_{id}");
    deliver(app, &stripe_event(&event, "checkout.session.completed", session(&id, &session_id, "paid"))).await;
    assert_eq!(order_row(app, &id).await.status.to_string(), "PAID");
    id
}

#[tokio::test]
async fn a_scheduled_code_is_refused_with_not_started_then_applies_and_is_pushed_when_it_starts() {
    let app = spawn_app().await;
    let t = tickets(&app).await;
    // Validation: one way to give the start, and it comes before the expiry.
    let both = create_code(
        &app,
        json!({ "code": "BAD1", "discountType": "PERCENTAGE", "percentOff": "10",
                "startsAt": (Utc::now() + Duration::days(1)).to_rfc3339(), "startsOn": "2030-01-01" }),
    )
    .await;
    assert_eq!(both["userErrors"][0]["field"], json!(["input", "startsOn"]), "{both}");
    let backwards = create_code(
        &app,
        json!({ "code": "BAD2", "discountType": "PERCENTAGE", "percentOff": "10",
                "startsAt": (Utc::now() + Duration::days(3)).to_rfc3339(),
                "expiresAt": (Utc::now() + Duration::days(2)).to_rfc3339() }),
    )
    .await;
    assert_eq!(backwards["userErrors"][0]["code"], "STARTS_AFTER_EXPIRY", "{backwards}");

    let starts = Utc::now() + Duration::seconds(3);
    let created = create_code(
        &app,
        json!({ "code": "SOON10", "discountType": "PERCENTAGE", "percentOff": "10", "startsAt": starts.to_rfc3339() }),
    )
    .await;
    assert_eq!(created["userErrors"], json!([]), "{created}");
    assert_eq!(created["promoCode"]["status"], "SCHEDULED");
    let listed = app.gql_admin("{ promoCodes(filter: {status: SCHEDULED}) { nodes { code } } }", json!({})).await;
    assert_eq!(listed["data"]["promoCodes"]["nodes"], json!([{ "code": "SOON10" }]), "{listed}");

    let cart = create_cart(&app).await;
    add(&app, &cart, &t.standing, 2).await;
    let mut ws = subscribe(&app, &cart).await;
    push_until(&mut ws, |_| true).await;
    let refused = apply(&app, &cart, "soon10").await;
    assert_eq!(error_code(&refused), "NOT_STARTED", "{refused}");
    assert!(refused["userErrors"][0]["message"].as_str().unwrap().contains("starts on"), "{refused}");
    // Attached, giving nothing yet, and the buyer is told when it starts.
    assert_eq!(refused["cart"]["total"]["amount"], "39.98");
    assert_eq!(refused["cart"]["promoNotice"]["reason"], "NOT_STARTED", "{refused}");
    assert!(refused["cart"]["promoNotice"]["startsAt"].is_string());
    assert!(refused["cart"]["appliedPromo"].is_null());

    // No request from anyone: the server's timer reprices and pushes the cart at the start.
    let pushed = push_until(&mut ws, |c| !c["appliedPromo"].is_null()).await;
    assert!(Utc::now() >= starts, "not before its start");
    assert_eq!(pushed["appliedPromo"]["code"], "SOON10");
    // 10 % of 39.98 = 3.998 → 4.00.
    assert_eq!(
        (pushed["discount"]["amount"].as_str(), pushed["total"]["amount"].as_str()),
        (Some("4.00"), Some("35.98"))
    );
    assert!(pushed["promoNotice"].is_null());
    let code = app.gql_admin("{ promoCode(code: \"SOON10\") { status } }", json!({})).await;
    assert_eq!(code["data"]["promoCode"]["status"], "ACTIVE");
}

#[tokio::test]
async fn a_minimum_subtotal_shows_what_is_missing_and_applies_once_the_cart_reaches_it() {
    let app = spawn_app().await;
    let t = tickets(&app).await;
    let bad = create_code(
        &app,
        json!({ "code": "MIN0", "discountType": "PERCENTAGE", "percentOff": "10", "minimumSubtotal": "0.001" }),
    )
    .await;
    assert_eq!(bad["userErrors"][0]["code"], "INVALID_MINIMUM_SUBTOTAL", "{bad}");
    let created = create_code(
        &app,
        json!({ "code": "MIN50", "discountType": "PERCENTAGE", "percentOff": "10", "minimumSubtotal": "50" }),
    )
    .await;
    assert_eq!(created["promoCode"]["minimumSubtotal"]["amount"], "50.00", "{created}");

    let cart = create_cart(&app).await;
    add(&app, &cart, &t.standing, 2).await;
    let mut ws = subscribe(&app, &cart).await;
    push_until(&mut ws, |_| true).await;
    let applied = apply(&app, &cart, "MIN50").await;
    assert_eq!(applied["userErrors"], json!([]), "a notice, not a refusal: {applied}");
    let notice = &applied["cart"]["promoNotice"];
    assert_eq!(notice["reason"], "MINIMUM_NOT_REACHED", "{applied}");
    // 50.00 − 39.98.
    assert_eq!(notice["missing"]["amount"], "10.02");
    assert!(notice["message"].as_str().unwrap().contains("Add 10.02 EUR more"), "{notice}");
    assert_eq!(
        (applied["cart"]["discount"]["amount"].as_str(), applied["cart"]["total"]["amount"].as_str()),
        (Some("0.00"), Some("39.98"))
    );
    push_until(&mut ws, |c| c["promoNotice"]["reason"] == "MINIMUM_NOT_REACHED").await;

    // A third ticket: 59.97 reaches the minimum; the cart is pushed with the discount.
    add(&app, &cart, &t.standing, 1).await;
    let pushed = push_until(&mut ws, |c| !c["appliedPromo"].is_null()).await;
    assert_eq!(
        (pushed["discount"]["amount"].as_str(), pushed["total"]["amount"].as_str()),
        (Some("6.00"), Some("53.97"))
    );
    assert!(pushed["promoNotice"].is_null());

    // Back below it: the discount goes, the notice returns.
    let lowered = crate::carts::mutate(
        &app,
        "updateCartLine",
        "cartId: $cart, ticketTypeId: $t, quantity: $q",
        json!({ "cart": cart, "t": t.standing, "q": 1 }),
    )
    .await;
    assert_eq!(lowered["cart"]["promoNotice"]["missing"]["amount"], "30.01", "{lowered}");
    assert_eq!(lowered["cart"]["total"]["amount"], "19.99");
}

#[tokio::test]
async fn ten_thousand_single_use_codes_are_generated_in_one_call_and_counted_per_batch() {
    let fake = FakeStripe::start().await;
    let app = paying_app(&fake).await;
    let tickets = ticket_ids(&app, "demo").await;

    let refused = generate(
        &app,
        json!({ "batchName": "x", "prefix": "GIFT", "count": 10_001,
                                         "discountType": "PERCENTAGE", "percentOff": "10" }),
    )
    .await;
    assert_eq!(refused["userErrors"][0]["code"], "INVALID_COUNT", "{refused}");
    let refused = generate(
        &app,
        json!({ "batchName": "x", "prefix": "GI-FT", "count": 3,
                                         "discountType": "PERCENTAGE", "percentOff": "10" }),
    )
    .await;
    assert_eq!(refused["userErrors"][0]["code"], "INVALID_PREFIX", "{refused}");

    let started = Instant::now();
    let made = generate(
        &app,
        json!({ "batchName": "Box office giveaway", "prefix": "gift", "count": 10_000,
                                      "discountType": "PERCENTAGE", "percentOff": "10" }),
    )
    .await;
    let took = started.elapsed();
    println!("generatePromoCodes(count: 10000) answered in {} ms", took.as_millis());
    assert_eq!(made["userErrors"], json!([]), "{made}");
    let batch_id = made["batch"]["id"].as_str().unwrap().to_owned();
    assert_eq!(made["batch"]["codeCount"], 10_000);
    assert_eq!(made["codes"].as_array().unwrap().len(), 20, "the first 20 in the answer");

    // Every code: unique, GIFT- and 10 characters without look-alikes, single-use.
    let records = batch_csv(&app, made["batch"]["csvPath"].as_str().unwrap()).await;
    assert_eq!(records[0][..3], ["code", "recipient_email", "status"]);
    assert_eq!(records.len(), 10_001, "one row per code after the header");
    let codes: std::collections::HashSet<&str> = records[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(codes.len(), 10_000, "unique");
    for code in &codes {
        let suffix = code.strip_prefix("GIFT-").unwrap_or_else(|| panic!("{code}"));
        assert_eq!(suffix.len(), 10);
        assert!(suffix.chars().all(|c| "23456789ABCDEFGHJKMNPQRSTUVWXYZ".contains(c)), "{code}");
    }
    assert!(records[1..].iter().all(|r| r[2] == "ACTIVE" && r[4] == "1"), "active, usage limit 1");

    // Three codes redeemed by paid orders; the first one a second time → refused.
    let picked: Vec<String> = records[1..4].iter().map(|r| r[0].clone()).collect();
    for (i, code) in picked.iter().enumerate() {
        let cart = cart_with(&app, "demo", &[(&tickets[1], 1)], Some(code)).await;
        pay(&app, &cart, &format!("buyer{i}@example.com")).await;
    }
    let again = create_cart(&app).await;
    add(&app, &again, &tickets[1], 1).await;
    let refused = apply(&app, &again, &picked[0]).await;
    assert_eq!(error_code(&refused), "USAGE_LIMIT_REACHED", "{refused}");

    // Seated 35.00 − 10 % = 31.50 each.
    let counted = batch(&app, &batch_id).await;
    assert_eq!(counted["codesRedeemed"], 3, "{counted}");
    assert_eq!(counted["redemptions"], 3);
    assert_eq!(counted["revenue"]["amount"], "94.50");
    assert_eq!(counted["discountGiven"]["amount"], "10.50");
    let records = batch_csv(&app, &format!("/admin/promo_batches/{batch_id}/codes.csv")).await;
    let exhausted = records[1..].iter().filter(|r| r[2] == "EXHAUSTED").count();
    assert_eq!(exhausted, 3, "the CSV shows their state");

    // The whole batch off at once; a cart holding one of its codes loses the discount.
    let holder = cart_with(&app, "demo", &[(&tickets[1], 1)], Some(&records[10][0])).await;
    let off = app
        .gql_admin(
            "mutation($id: ID!) { deactivatePromoBatch(id: $id) { deactivated batch { codesActive } userErrors { code } } }",
            json!({ "id": batch_id }),
        )
        .await;
    assert_eq!(off["data"]["deactivatePromoBatch"]["deactivated"], 10_000, "{off}");
    assert_eq!(off["data"]["deactivatePromoBatch"]["batch"]["codesActive"], 0);
    let cart = app
        .gql("query($c: ID!) { cart(id: $c) { total { amount } promoNotice { reason } } }", json!({ "c": holder }))
        .await;
    assert_eq!(cart["data"]["cart"]["promoNotice"]["reason"], "INACTIVE", "{cart}");
    assert_eq!(cart["data"]["cart"]["total"]["amount"], "35.00");
    let audit = app.gql_admin("{ auditLog(first: 5) { edges { node { operation targetType } } } }", json!({})).await;
    let operations: Vec<&str> = audit["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{audit}"))
        .iter()
        .map(|e| e["node"]["operation"].as_str().unwrap())
        .collect();
    assert!(operations.contains(&"generatePromoCodes") && operations.contains(&"deactivatePromoBatch"), "{audit}");
}

#[tokio::test]
async fn a_code_bound_to_a_recipient_is_refused_for_anyone_else_at_apply_and_at_checkout() {
    let fake = FakeStripe::start().await;
    let app = paying_app(&fake).await;
    let tickets = ticket_ids(&app, "demo").await;
    let csv = "name,email\nAnn,ann+news@example.com\nBob,bob@example.com\nAnn again,ANN@example.com\n";
    let made = generate(
        &app,
        json!({ "batchName": "November newsletter", "prefix": "NEWS", "recipientsCsv": csv,
                                      "discountType": "PERCENTAGE", "percentOff": "10" }),
    )
    .await;
    assert_eq!(made["userErrors"], json!([]), "{made}");
    assert_eq!(made["batch"]["codeCount"], 2, "Ann's alias counts once");
    assert_eq!(made["batch"]["recipients"], true);
    let records = batch_csv(&app, made["batch"]["csvPath"].as_str().unwrap()).await;
    let code_of = |email: &str| {
        records.iter().find(|r| r[1] == email).unwrap_or_else(|| panic!("{email}: {records:?}"))[0].clone()
    };
    let ann = code_of("ann+news@example.com");
    let bad = generate(
        &app,
        json!({ "batchName": "x", "prefix": "NEWS", "recipients": ["ok@example.com", "not-an-email"],
                                     "discountType": "PERCENTAGE", "percentOff": "10" }),
    )
    .await;
    assert_eq!(bad["userErrors"][0]["code"], "INVALID_EMAIL", "{bad}");
    assert_eq!(bad["userErrors"][0]["field"], json!(["input", "recipients", "1"]));

    // Bob's cart: his email is known, Ann's code is not his.
    let bobs = create_cart(&app).await;
    add(&app, &bobs, &tickets[1], 1).await;
    set_email(&app, &bobs, "bob@example.com").await;
    let refused = apply(&app, &bobs, &ann).await;
    assert_eq!(error_code(&refused), "CUSTOMER_MISMATCH", "{refused}");
    assert!(refused["cart"]["appliedPromo"].is_null());

    // No email yet: it applies; Bob's email at checkout refuses it there, and it comes off.
    let anonymous = cart_with(&app, "demo", &[(&tickets[1], 1)], Some(&ann)).await;
    let payload = checkout(&app, &anonymous, "bob@example.com", "STRIPE").await;
    assert_eq!(payload["userErrors"][0]["code"], "CUSTOMER_MISMATCH", "{payload}");
    assert!(payload["order"].is_null());
    let cart = app
        .gql("query($c: ID!) { cart(id: $c) { total { amount } appliedPromo { code } } }", json!({ "c": anonymous }))
        .await;
    assert_eq!(cart["data"]["cart"]["total"]["amount"], "35.00", "{cart}");

    // Setting another buyer's email after applying takes it off with the reason.
    let later = cart_with(&app, "demo", &[(&tickets[1], 1)], Some(&ann)).await;
    let set = set_email(&app, &later, "bob@example.com").await;
    assert_eq!(error_code(&set), "CUSTOMER_MISMATCH", "{set}");
    assert!(set["cart"]["appliedPromo"].is_null());

    // A free order (100 % off) is checked the same way on the free path.
    let gift = create_code(
        &app,
        json!({ "code": "ANNGIFT", "discountType": "PERCENTAGE", "percentOff": "100",
                                         "recipientEmail": "Ann+gift@example.com" }),
    )
    .await;
    assert_eq!(gift["promoCode"]["recipientEmail"], "ann+gift@example.com", "{gift}");
    let free = cart_with(&app, "demo", &[(&tickets[2], 1)], Some("ANNGIFT")).await;
    let payload = checkout(&app, &free, "bob@example.com", "STRIPE").await;
    assert_eq!(payload["userErrors"][0]["code"], "CUSTOMER_MISMATCH", "{payload}");
    let free = cart_with(&app, "demo", &[(&tickets[2], 1)], Some("ANNGIFT")).await;
    let payload = checkout(&app, &free, "ann@example.com", "STRIPE").await;
    assert_eq!(
        (payload["order"]["status"].as_str(), payload["order"]["provider"].as_str()),
        (Some("PAID"), Some("FREE")),
        "{payload}"
    );

    // Ann herself, under another spelling of her address: applied and paid.
    let hers = create_cart(&app).await;
    add(&app, &hers, &tickets[1], 1).await;
    set_email(&app, &hers, "Ann@Example.com").await;
    let applied = apply(&app, &hers, &ann.to_lowercase()).await;
    assert_eq!(applied["userErrors"], json!([]), "{applied}");
    assert_eq!(applied["cart"]["total"]["amount"], "31.50");
    let order = pay(&app, &hers, "ann+tickets@example.com").await;
    assert_eq!(order_row(&app, &order).await.promo_code.as_deref(), Some(ann.as_str()));
}

async fn partner(app: &TestApp, name: &str) -> String {
    let body = app
        .gql_admin(
            "mutation($n: String!) { createPartner(input: {name: $n, contact: \"hello@partner.example\"}) { partner { id name } userErrors { code } } }",
            json!({ "n": name }),
        )
        .await;
    assert_eq!(body["data"]["createPartner"]["userErrors"], json!([]), "{body}");
    body["data"]["createPartner"]["partner"]["id"].as_str().unwrap().to_owned()
}

const SHARE: &str = "query($t: String!) { partnerShare(token: $t) { title shopName currency codes
    totals { linkVisits orders tickets revenue { amount } }
    byUtmSource { utmSource figures { orders revenue { amount } } }
    byDay { date figures { orders } } } }";

#[tokio::test]
async fn a_share_link_shows_one_partner_their_figures_and_nothing_else_until_revoked() {
    let fake = FakeStripe::start().await;
    let app = paying_app(&fake).await;
    let tickets = ticket_ids(&app, "demo").await;
    // The demo shop's creators, each with their code.
    let listed = app.gql_admin("{ partners { id name } }", json!({})).await;
    let id_of = |name: &str| {
        listed["data"]["partners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{listed}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (maria, alex) = (id_of("Maria"), id_of("Alex"));
    let taken = app
        .gql_admin("mutation { createPartner(input: {name: \" Maria \"}) { userErrors { code } } }", json!({}))
        .await;
    assert_eq!(taken["data"]["createPartner"]["userErrors"][0]["code"], "TAKEN", "{taken}");
    let code = app.gql_admin("{ promoCode(code: \"ALEX15\") { partner { id name } } }", json!({})).await;
    assert_eq!(code["data"]["promoCode"]["partner"], json!({ "id": alex, "name": "Alex" }), "{code}");
    let extra = partner(&app, "Maria's venue").await;
    let made = create_code(
        &app,
        json!({ "code": "VENUE5", "discountType": "FIXED_AMOUNT", "amountOff": "5", "partnerId": extra }),
    )
    .await;
    assert_eq!(made["promoCode"]["partner"]["name"], "Maria's venue", "{made}");
    // Maria also hands out a small batch: listed as one entry, not code by code.
    let batch = generate(
        &app,
        json!({ "batchName": "Maria's fans", "prefix": "MB", "count": 3, "partnerId": maria,
                                       "discountType": "PERCENTAGE", "percentOff": "5" }),
    )
    .await;
    let batch_codes: Vec<String> =
        batch["codes"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap().to_owned()).collect();
    assert_eq!(batch_codes.len(), 3, "{batch}");
    // Maria: two orders, one through her Instagram link; Alex: one.
    app.http.get(format!("{}/?promo=MARIA15&utm_source=instagram", app.address)).send().await.unwrap();
    let first = cart_with(&app, "demo", &[(&tickets[1], 1)], None).await;
    pay(&app, &first, "fan.one@example.com").await;
    let second = cart_with(&app, "demo", &[(&tickets[0], 2)], Some("MARIA15")).await;
    pay(&app, &second, "fan.two@example.com").await;
    let third = cart_with(&app, "demo", &[(&tickets[1], 1)], Some("ALEX15")).await;
    pay(&app, &third, "alex.fan@example.com").await;

    let link = app
        .gql_admin(
            "mutation($p: ID!) { createPartnerShareLink(partnerId: $p) { shareLink { id active } token path userErrors { code } } }",
            json!({ "p": maria }),
        )
        .await;
    let link = &link["data"]["createPartnerShareLink"];
    assert_eq!(link["userErrors"], json!([]), "{link}");
    let token = link["token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 32, "unguessable: {token}");
    let path = link["path"].as_str().unwrap().to_owned();
    assert_eq!(path, format!("/partners/{token}"));

    // The page, without any key: Maria's two orders, nothing of Alex, no email.
    let anonymous = reqwest::Client::new();
    let page = anonymous.get(format!("{}{path}", app.address)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>Maria</h1>"), "{html}");
    assert!(html.contains("<b id=orders>2</b>"), "{html}");
    assert!(html.contains("<b id=visits>1</b>"), "{html}");
    // 35.00 − 5.25 = 29.75; 39.98 − 6.00 = 33.98 (15 % of 39.98 = 5.997 → 6.00).
    assert!(html.contains("<b id=revenue>63.73 EUR</b>"), "{html}");
    assert!(html.contains("<svg id=chart"), "a chart: {html}");
    assert!(html.contains("instagram"), "by utm_source: {html}");
    for hidden in ["ALEX15", "Alex", "VENUE5", "@", "fan.one", "T-"] {
        assert!(!html.contains(hidden), "{hidden} must not be on the page: {html}");
    }
    // The same through GraphQL, public.
    let body = app.gql_as(None, SHARE, json!({ "t": token })).await;
    let share = &body["data"]["partnerShare"];
    assert_eq!(share["title"], "Maria", "{body}");
    assert_eq!(share["codes"], json!(["MARIA15", "MB-… (3 codes)"]));
    assert!(batch_codes.iter().all(|c| !html.contains(c.as_str())), "single-use codes stay off the page");
    assert_eq!(
        share["totals"],
        json!({ "linkVisits": 1, "orders": 2, "tickets": 3, "revenue": { "amount": "63.73" } })
    );
    assert_eq!(share["byDay"].as_array().unwrap().len(), 30);
    assert_eq!(share["byDay"][29]["figures"]["orders"], 2, "today");
    let sources: Vec<&Value> = share["byUtmSource"].as_array().unwrap().iter().collect();
    assert!(sources.iter().any(|s| s["utmSource"] == "instagram" && s["figures"]["orders"] == 2), "{body}");
    let json = body.to_string();
    assert!(!json.contains('@') && !json.contains("ALEX15"), "{json}");

    // The report groups by partner too.
    let report = app
        .gql_admin(
            "query($f: DateTime!, $t: DateTime!) { promoCodeReport(from: $f, to: $t, groupBy: PARTNER) { code partner orders redeemedAs } }",
            json!({ "f": (Utc::now() - Duration::days(1)).to_rfc3339(), "t": (Utc::now() + Duration::days(1)).to_rfc3339() }),
        )
        .await;
    let rows = report["data"]["promoCodeReport"].as_array().unwrap_or_else(|| panic!("{report}"));
    let row = |name: &str| rows.iter().find(|r| r["partner"] == name).unwrap_or_else(|| panic!("{name}: {report}"));
    assert_eq!((row("Maria")["orders"].as_i64(), row("Alex")["orders"].as_i64()), (Some(2), Some(1)));
    assert_eq!(row("Maria")["redeemedAs"], json!(["MARIA15"]));

    // Revoked: the page is gone, the query answers null; a made-up token is no better.
    let id = link["shareLink"]["id"].as_str().unwrap();
    let revoked = app
        .gql_admin(
            "mutation($id: ID!) { revokePartnerShareLink(id: $id) { shareLink { active revokedAt } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(revoked["data"]["revokePartnerShareLink"]["shareLink"]["active"], false, "{revoked}");
    assert_eq!(anonymous.get(format!("{}{path}", app.address)).send().await.unwrap().status(), 404);
    assert!(app.gql_as(None, SHARE, json!({ "t": token })).await["data"]["partnerShare"].is_null());
    let guessed = anonymous.get(format!("{}/partners/tps_guessed", app.address)).send().await.unwrap();
    assert_eq!(guessed.status(), 404);
}

#[tokio::test]
async fn promo_code_exhausted_is_delivered_signed_when_the_last_use_is_redeemed() {
    let fake = FakeStripe::start().await;
    let app = paying_app(&fake).await;
    let tickets = ticket_ids(&app, "demo").await;
    let hook = crate::orders::receiver(0).await;
    let body = app
        .gql_admin(
            "mutation($url: String!) { createWebhookEndpoint(input: { url: $url, events: [\"promo_code.exhausted\", \"promo_code.over_cap\"] }) {
                secret userErrors { code message } } }",
            json!({ "url": hook.url }),
        )
        .await;
    let secret =
        body["data"]["createWebhookEndpoint"]["secret"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    create_code(&app, json!({ "code": "LAST2", "discountType": "PERCENTAGE", "percentOff": "10", "usageLimit": 2 }))
        .await;
    let first = cart_with(&app, "demo", &[(&tickets[1], 1)], Some("LAST2")).await;
    pay(&app, &first, "one@example.com").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(hook.received.lock().unwrap().is_empty(), "one use left: no alert yet");
    let second = cart_with(&app, "demo", &[(&tickets[1], 1)], Some("LAST2")).await;
    let order = pay(&app, &second, "two@example.com").await;

    let requests = hook.wait_for(1).await;
    let (headers, body) = &requests[0];
    assert!(crate::orders::verify(&secret, headers, body), "signed like order.paid");
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["type"], "promo_code.exhausted");
    assert_eq!(event["data"]["code"], "LAST2");
    assert_eq!(
        (event["data"]["usage_limit"].as_i64(), event["data"]["redemptions_count"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(event["data"]["order_id"], order);
    assert!(!body.contains("two@example.com"), "no buyer email in a code alert");
}

/// `method path` with the admin key and a JSON body: (status, JSON).
async fn rest(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.http.request(method, format!("{}{path}", app.address)).headers(app.admin_headers());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_rest_mirror_makes_partners_batches_and_share_links() {
    use reqwest::Method;
    let app = spawn_app().await;
    let (status, created) =
        rest(&app, Method::POST, "/admin/partners", Some(json!({ "name": "Lena", "contact": "@lena" }))).await;
    assert_eq!(status, 201, "{created}");
    let lena = created["id"].as_i64().unwrap();
    let (status, renamed) = rest(
        &app,
        Method::PATCH,
        &format!("/admin/partners/{lena}"),
        Some(json!({ "name": "Lena K", "contact": null })),
    )
    .await;
    assert_eq!(
        (status, renamed["name"].as_str(), renamed["contact"].is_null()),
        (200, Some("Lena K"), true),
        "{renamed}"
    );
    let (status, taken) = rest(&app, Method::POST, "/admin/partners", Some(json!({ "name": "Maria" }))).await;
    assert_eq!((status, taken["error"]["errors"][0]["code"].as_str()), (422, Some("TAKEN")), "{taken}");

    // A newsletter batch from CSV text, starting next week with a 30.00 minimum.
    let body = json!({ "batch_name": "December letter", "prefix": "DEC", "recipients_csv": "email\nann@example.com\nbob@example.com\n",
                       "discount_type": "FIXED_AMOUNT", "amount_off": "5", "starts_on": "2099-01-01", "minimum_subtotal": "30",
                       "partner_id": lena });
    let (status, preview) = rest(&app, Method::POST, "/admin/promo_batches?dry_run=true", Some(body.clone())).await;
    assert_eq!((status, preview["dry_run"].as_bool()), (200, Some(true)), "{preview}");
    assert_eq!(preview["batch"]["id"], 0);
    let (status, made) = rest(&app, Method::POST, "/admin/promo_batches", Some(body)).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["batch"]["code_count"], 2);
    let codes = made["codes"].as_array().unwrap();
    assert!(
        codes.iter().all(|c| c["status"] == "SCHEDULED" && c["minimum_subtotal"] == "30.00" && c["partner_id"] == lena),
        "{made}"
    );
    let emails: Vec<&str> = codes.iter().map(|c| c["recipient_email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["ann@example.com", "bob@example.com"]);
    let id = made["batch"]["id"].as_i64().unwrap();
    let (status, shown) = rest(&app, Method::GET, &format!("/admin/promo_batches/{id}"), None).await;
    assert_eq!((status, shown["codes_active"].as_i64()), (200, Some(2)), "{shown}");
    let (_, listed) =
        rest(&app, Method::GET, &format!("/admin/promo_codes?batch_id={id}&status=scheduled"), None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");
    let (status, refused) = rest(
        &app,
        Method::POST,
        "/admin/promo_batches",
        Some(json!({ "batch_name": "x", "prefix": "D-C", "count": 2, "recipients": ["a@example.com"], "discount_type": "PERCENTAGE", "percent_off": "5" })),
    )
    .await;
    assert_eq!((status, refused["error"]["errors"][0]["field"].as_str()), (422, Some("count")), "{refused}");
    let (status, off) = rest(&app, Method::POST, &format!("/admin/promo_batches/{id}/deactivate"), None).await;
    assert_eq!(
        (status, off["deactivated"].as_i64(), off["batch"]["codes_active"].as_i64()),
        (200, Some(2), Some(0)),
        "{off}"
    );

    // A share link for one code, then revoked.
    let code_id = crate::helpers::promo_code_id(&app, "JANE15").await;
    let (status, link) = rest(&app, Method::POST, &format!("/admin/promo_codes/{code_id}/share_links"), None).await;
    assert_eq!(status, 201, "{link}");
    let path = link["path"].as_str().unwrap().to_owned();
    let page = reqwest::get(format!("{}{path}", app.address)).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<h1>JANE15</h1>"));
    let (_, links) = rest(&app, Method::GET, "/admin/share_links", None).await;
    assert_eq!(links["data"][0]["promo_code_id"], code_id, "{links}");
    let link_id = link["share_link"]["id"].as_i64().unwrap();
    let (status, revoked) = rest(&app, Method::DELETE, &format!("/admin/share_links/{link_id}"), None).await;
    assert_eq!((status, revoked["active"].as_bool()), (200, Some(false)), "{revoked}");
    assert_eq!(reqwest::get(format!("{}{path}", app.address)).await.unwrap().status(), 404);
}

#[tokio::test]
async fn promo_code_over_cap_is_delivered_when_a_late_payment_goes_past_the_limit() {
    let fake = FakeStripe::start().await;
    let app = paying_app(&fake).await;
    let tickets = ticket_ids(&app, "demo").await;
    let hook = crate::orders::receiver(0).await;
    let body = app
        .gql_admin(
            "mutation($url: String!) { createWebhookEndpoint(input: { url: $url, events: [\"promo_code.over_cap\"] }) { secret } }",
            json!({ "url": hook.url }),
        )
        .await;
    let secret =
        body["data"]["createWebhookEndpoint"]["secret"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let made = create_code(
        &app,
        json!({ "code": "TWOSEATS", "discountType": "PERCENTAGE", "percentOff": "10", "usageLimit": 2 }),
    )
    .await;
    let id = made["promoCode"]["id"].as_str().unwrap().to_owned();
    // Two buyers are paying when the organizer lowers the limit to one.
    let mut pending = vec![];
    for email in ["a@example.com", "b@example.com"] {
        let cart = cart_with(&app, "demo", &[(&tickets[1], 1)], Some("TWOSEATS")).await;
        let payload = checkout(&app, &cart, email, "STRIPE").await;
        let order = payload["order"]["id"].as_str().unwrap_or_else(|| panic!("{payload}")).to_owned();
        pending.push((order.clone(), order_row(&app, &order).await.provider_ref.unwrap()));
    }
    app.gql_admin(
        "mutation($id: ID!) { updatePromoCode(id: $id, input: { usageLimit: 1 }) { userErrors { code } } }",
        json!({ "id": id }),
    )
    .await;
    for (n, (order, session_id)) in pending.iter().enumerate() {
        deliver(
            &app,
            &stripe_event(&format!("evt_late_{n}"), "checkout.session.completed", session(order, session_id, "paid")),
        )
        .await;
    }
    // Only the endpoint's event: exhausted (the first) is not subscribed.
    let requests = hook.wait_for(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(hook.received.lock().unwrap().len(), 1, "one alert: the second payment");
    let (headers, body) = &requests[0];
    assert!(crate::orders::verify(&secret, headers, body));
    let event: Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["type"], "promo_code.over_cap");
    assert_eq!((event["data"]["redemptions_count"].as_i64(), event["data"]["over_by"].as_i64()), (Some(2), Some(1)));
    assert_eq!(event["data"]["order_id"].as_str(), Some(pending[1].0.as_str()));
    assert!(order_row(&app, &pending[1].0).await.over_cap);
}
