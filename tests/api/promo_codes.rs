//! Promo code administration through GraphQL and the REST mirror.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, Set};
use serde_json::{Value, json};
use tixshop::domain::account::NewAccount;
use tixshop::domain::api_key::{KeyName, Scope};
use tixshop::entities::{event, promo_code};
use tixshop::services::{accounts, api_keys, now};

use crate::helpers::{TestApp, next_year, spawn_app};

const FIELDS: &str = "id code discountType percentOff amountOff { amount currency } eventId expiresAt usageLimit
    maxPerCustomer redemptionsCount remaining status active description deletedAt";

fn create_mutation() -> String {
    format!(
        "mutation($input: CreatePromoCodeInput!, $dryRun: Boolean! = false) {{
            createPromoCode(input: $input, dryRun: $dryRun) {{ dryRun promoCode {{ {FIELDS} }} userErrors {{ field code message }} }} }}"
    )
}

fn update_mutation() -> String {
    format!(
        "mutation($id: ID!, $input: UpdatePromoCodeInput!, $dryRun: Boolean! = false) {{
            updatePromoCode(id: $id, input: $input, dryRun: $dryRun) {{ promoCode {{ {FIELDS} }} userErrors {{ field code message }} }} }}"
    )
}

async fn create(app: &TestApp, input: Value) -> Value {
    app.gql_admin(&create_mutation(), json!({ "input": input })).await["data"]["createPromoCode"].clone()
}

async fn code_count(app: &TestApp) -> u64 {
    promo_code::Entity::find().count(&app.db).await.unwrap()
}

async fn code_id(app: &TestApp, code: &str) -> String {
    crate::helpers::promo_code_id(app, code).await.to_string()
}

async fn first_event_id(app: &TestApp) -> String {
    let body = app.gql(r#"{ shop(slug: "demo") { events { id } } }"#, json!({})).await;
    body["data"]["shop"]["events"][0]["id"].as_str().unwrap().to_owned()
}

/// An order that used the code, so deletion must be soft.
async fn order_using(app: &TestApp, promo_code_id: i64) {
    crate::helpers::insert_paid_order(app, promo_code_id, "buyer@example.com").await;
}

async fn set_code(app: &TestApp, id: &str, change: impl FnOnce(&mut promo_code::ActiveModel)) {
    let row = promo_code::Entity::find_by_id(id.parse::<i64>().unwrap()).one(&app.db).await.unwrap().unwrap();
    let mut active: promo_code::ActiveModel = row.into();
    change(&mut active);
    active.update(&app.db).await.unwrap();
}

#[tokio::test]
async fn an_assistant_creates_fall26() {
    let app = spawn_app().await;
    // The end of October next year, Berlin time (CET after the clocks go back).
    let year = next_year();
    let expires = format!("{year}-10-31T23:59:59+01:00");
    let payload = create(
        &app,
        json!({ "code": " fall26 ", "discountType": "PERCENTAGE", "percentOff": "15", "maxPerCustomer": 1,
                "expiresAt": expires, "description": "Autumn newsletter" }),
    )
    .await;
    assert_eq!(payload["userErrors"], json!([]));
    let code = &payload["promoCode"];
    assert_eq!(code["code"], "FALL26");
    assert_eq!(code["percentOff"], "15");
    assert_eq!(code["amountOff"], Value::Null);
    assert_eq!(code["maxPerCustomer"], 1);
    assert_eq!(code["usageLimit"], Value::Null);
    assert_eq!(code["remaining"], Value::Null);
    assert_eq!(code["redemptionsCount"], 0);
    assert_eq!(code["status"], "ACTIVE");
    // Shown on the demo shop's clock (Europe/Berlin); the same instant.
    assert_eq!(code["expiresAt"], format!("{year}-10-31T23:59:59+01:00"));

    // Found by any case; a fixed-amount code shows money in the shop currency.
    assert_eq!(code_id(&app, "Fall26").await, code["id"].as_str().unwrap());
    let fixed =
        create(&app, json!({ "code": "TENOFF", "discountType": "FIXED_AMOUNT", "amountOff": "10", "usageLimit": 3 }))
            .await;
    assert_eq!(fixed["promoCode"]["amountOff"], json!({ "amount": "10.00", "currency": "EUR" }));
    assert_eq!(fixed["promoCode"]["remaining"], 3);
}

/// Every rule, through GraphQL and REST alike, refuses with its own code and writes nothing.
#[tokio::test]
async fn every_validation_rule_has_its_own_code_on_both_apis() {
    let app = spawn_app().await;
    let other = accounts::create(
        &app.db,
        &tixshop::services::audit::Actor::cli(),
        &NewAccount::parse("other", "Other", "EUR", "19", true).unwrap(),
    )
    .await
    .unwrap();
    let foreign_event = event::ActiveModel {
        account_id: Set(other.id),
        name: Set("Theirs".into()),
        starts_at: Set(now() + Duration::days(3)),
        created_at: Set(now()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    let past = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let pct = |extra: Value| {
        let mut base = json!({ "code": "GOOD1", "discountType": "PERCENTAGE", "percentOff": "10" });
        base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        base
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (pct(json!({ "code": "A B" })), "code", "INVALID_CODE"),
        (pct(json!({ "code": "AB" })), "code", "INVALID_CODE"),
        (pct(json!({ "code": "X".repeat(33) })), "code", "INVALID_CODE"),
        (pct(json!({ "code": "news10" })), "code", "DUPLICATE_CODE"),
        (pct(json!({ "percentOff": "0" })), "percentOff", "INVALID_PERCENT_OFF"),
        (pct(json!({ "percentOff": "100.5" })), "percentOff", "INVALID_PERCENT_OFF"),
        (pct(json!({ "percentOff": "12.345" })), "percentOff", "INVALID_PERCENT_OFF"),
        (pct(json!({ "amountOff": "5" })), "amountOff", "DISCOUNT_TYPE_MISMATCH"),
        (json!({ "code": "GOOD1", "discountType": "PERCENTAGE" }), "percentOff", "DISCOUNT_TYPE_MISMATCH"),
        (
            json!({ "code": "GOOD1", "discountType": "FIXED_AMOUNT", "amountOff": "0" }),
            "amountOff",
            "INVALID_AMOUNT_OFF",
        ),
        (
            json!({ "code": "GOOD1", "discountType": "FIXED_AMOUNT", "amountOff": "5.001" }),
            "amountOff",
            "INVALID_AMOUNT_OFF",
        ),
        (
            json!({ "code": "GOOD1", "discountType": "FIXED_AMOUNT", "amountOff": "-1" }),
            "amountOff",
            "INVALID_AMOUNT_OFF",
        ),
        (
            json!({ "code": "GOOD1", "discountType": "FIXED_AMOUNT", "percentOff": "5" }),
            "percentOff",
            "DISCOUNT_TYPE_MISMATCH",
        ),
        (pct(json!({ "eventId": foreign_event.id.to_string() })), "eventId", "EVENT_NOT_FOUND"),
        (pct(json!({ "expiresAt": past })), "expiresAt", "EXPIRES_AT_IN_PAST"),
        (pct(json!({ "usageLimit": 0 })), "usageLimit", "INVALID_USAGE_LIMIT"),
        (pct(json!({ "maxPerCustomer": 0 })), "maxPerCustomer", "INVALID_MAX_PER_CUSTOMER"),
    ];
    let before = code_count(&app).await;
    for (input, field, code) in &cases {
        let payload = create(&app, input.clone()).await;
        assert_eq!(payload["promoCode"], Value::Null, "{input}");
        let errors = payload["userErrors"].as_array().unwrap();
        assert!(
            errors.iter().any(|e| e["code"] == *code && e["field"] == json!(["input", field])),
            "GraphQL {input}: expected {code} on {field}, got {errors:?}"
        );
        assert!(errors.iter().all(|e| !e["message"].as_str().unwrap().is_empty()));

        // The same input in REST's snake_case.
        let rest_body = snake_case(input);
        let response = app
            .http
            .post(format!("{}/admin/promo_codes", app.address))
            .headers(app.admin_headers())
            .json(&rest_body)
            .send()
            .await
            .unwrap();
        let expected = if *code == "DUPLICATE_CODE" { StatusCode::CONFLICT } else { StatusCode::UNPROCESSABLE_ENTITY };
        assert_eq!(response.status(), expected, "REST {rest_body}");
        let body: Value = response.json().await.unwrap();
        let rest_field = snake(field);
        assert!(
            body["error"]["errors"].as_array().unwrap().iter().any(|e| e["code"] == *code && e["field"] == rest_field),
            "REST {rest_body}: expected {code} on {rest_field}, got {body}"
        );
    }
    assert_eq!(code_count(&app).await, before, "nothing was written");
}

fn snake(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
        out
    })
}

fn snake_case(input: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in input.as_object().unwrap() {
        let v = if k == "eventId" { json!(v.as_str().unwrap().parse::<i64>().unwrap()) } else { v.clone() };
        out.insert(snake(k), v);
    }
    Value::Object(out)
}

#[tokio::test]
async fn a_dry_run_validates_and_previews_without_writing() {
    let app = spawn_app().await;
    let before = code_count(&app).await;
    let body = app
        .gql_admin(
            &create_mutation(),
            json!({ "input": { "code": "preview", "discountType": "PERCENTAGE", "percentOff": "20" }, "dryRun": true }),
        )
        .await;
    let payload = &body["data"]["createPromoCode"];
    assert_eq!(payload["dryRun"], true);
    assert_eq!(payload["promoCode"]["code"], "PREVIEW");
    assert_eq!(payload["promoCode"]["id"], "0");
    assert_eq!(code_count(&app).await, before);

    let id = code_id(&app, "NEWS10").await;
    let body =
        app.gql_admin(&update_mutation(), json!({ "id": id, "input": { "percentOff": "50" }, "dryRun": true })).await;
    assert_eq!(body["data"]["updatePromoCode"]["promoCode"]["percentOff"], "50");
    let stored = app.gql_admin("{ promoCode(code: \"NEWS10\") { percentOff } }", json!({})).await;
    assert_eq!(stored["data"]["promoCode"]["percentOff"], "10", "unchanged");

    let response = app
        .http
        .post(format!("{}/admin/promo_codes?dry_run=true", app.address))
        .headers(app.admin_headers())
        .json(&json!({ "code": "restpreview", "discount_type": "FIXED_AMOUNT", "amount_off": "2.50" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["amount_off"], "2.50");
    assert_eq!(code_count(&app).await, before);
}

#[tokio::test]
async fn updates_change_only_what_they_name() {
    let app = spawn_app().await;
    let created = create(
        &app,
        json!({ "code": "SPRING", "discountType": "PERCENTAGE", "percentOff": "12.5", "expiresAt": format!("{}-01-01T00:00:00Z", next_year()), "usageLimit": 10 }),
    )
    .await;
    let id = created["promoCode"]["id"].as_str().unwrap().to_owned();

    let body = app
        .gql_admin(
            &update_mutation(),
            json!({ "id": id, "input": { "expiresAt": null, "description": "now open-ended" } }),
        )
        .await;
    let code = &body["data"]["updatePromoCode"]["promoCode"];
    assert_eq!(code["expiresAt"], Value::Null);
    assert_eq!(code["percentOff"], "12.5");
    assert_eq!(code["usageLimit"], 10);
    assert_eq!(code["description"], "now open-ended");

    // Switching the type drops the other type's value.
    let body = app
        .gql_admin(
            &update_mutation(),
            json!({ "id": id, "input": { "discountType": "FIXED_AMOUNT", "amountOff": "3.00" } }),
        )
        .await;
    let code = &body["data"]["updatePromoCode"]["promoCode"];
    assert_eq!((code["discountType"].as_str(), code["percentOff"].clone()), (Some("FIXED_AMOUNT"), Value::Null));
    assert_eq!(code["amountOff"]["amount"], "3.00");

    // A percentage on a fixed-amount code is refused.
    let body = app.gql_admin(&update_mutation(), json!({ "id": id, "input": { "percentOff": "10" } })).await;
    assert_eq!(body["data"]["updatePromoCode"]["userErrors"][0]["code"], "DISCOUNT_TYPE_MISMATCH");

    // Renaming onto another live code is a duplicate.
    let body = app.gql_admin(&update_mutation(), json!({ "id": id, "input": { "code": "maria15" } })).await;
    assert_eq!(body["data"]["updatePromoCode"]["userErrors"][0]["code"], "DUPLICATE_CODE");

    // Lowering usageLimit below the redemptions so far is allowed and reads EXHAUSTED.
    set_code(&app, &id, |c| c.redemptions_count = Set(7)).await;
    let body = app.gql_admin(&update_mutation(), json!({ "id": id, "input": { "usageLimit": 5 } })).await;
    let code = &body["data"]["updatePromoCode"]["promoCode"];
    assert_eq!((code["status"].as_str(), code["remaining"].as_i64()), (Some("EXHAUSTED"), Some(0)));

    // An already expired code can still be edited when the expiry is left alone.
    set_code(&app, &id, |c| c.expires_at = Set(Some(now() - Duration::days(1)))).await;
    let body = app.gql_admin(&update_mutation(), json!({ "id": id, "input": { "description": "past" } })).await;
    assert_eq!(body["data"]["updatePromoCode"]["userErrors"], json!([]));
    assert_eq!(body["data"]["updatePromoCode"]["promoCode"]["status"], "EXPIRED");
}

#[tokio::test]
async fn deactivate_and_reactivate_by_code_or_id() {
    let app = spawn_app().await;
    let body = app
        .gql_admin(r#"mutation { deactivatePromoCode(code: "alex15") { promoCode { code status active } userErrors { code } } }"#, json!({}))
        .await;
    assert_eq!(
        body["data"]["deactivatePromoCode"]["promoCode"],
        json!({ "code": "ALEX15", "status": "INACTIVE", "active": false })
    );
    let id = code_id(&app, "ALEX15").await;
    let body = app
        .gql_admin("mutation($id: ID!) { reactivatePromoCode(id: $id) { promoCode { status } } }", json!({ "id": id }))
        .await;
    assert_eq!(body["data"]["reactivatePromoCode"]["promoCode"]["status"], "ACTIVE");
    let body = app
        .gql_admin(
            r#"mutation { deactivatePromoCode(code: "NOPE99") { promoCode { id } userErrors { field code } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["deactivatePromoCode"]["userErrors"], json!([{ "field": ["code"], "code": "NOT_FOUND" }]));
    let body = app
        .gql_admin(
            "mutation($id: ID!) { deactivatePromoCode(id: $id, code: \"ALEX15\") { userErrors { code } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body["data"]["deactivatePromoCode"]["userErrors"][0]["code"], "INVALID");
}

#[tokio::test]
async fn delete_is_soft_when_orders_used_the_code_and_hard_otherwise() {
    let app = spawn_app().await;
    let delete = "mutation($id: ID!) { deletePromoCode(id: $id) { deletion promoCode { code status active deletedAt } userErrors { code } } }";

    // Never used: gone.
    let unused = code_id(&app, "JANE15").await;
    let body = app.gql_admin(delete, json!({ "id": unused })).await;
    assert_eq!(body["data"]["deletePromoCode"]["deletion"], "HARD");
    let gone = app.gql_admin("query($id: ID!) { promoCode(id: $id) { id } }", json!({ "id": unused })).await;
    assert_eq!(gone["data"]["promoCode"], Value::Null);

    // Used by an order: kept with its data, hidden from the default list, listed as DELETED.
    let used = code_id(&app, "MARIA15").await;
    order_using(&app, used.parse().unwrap()).await;
    let body = app.gql_admin(delete, json!({ "id": used })).await;
    let payload = &body["data"]["deletePromoCode"];
    assert_eq!(payload["deletion"], "SOFT");
    assert_eq!(payload["promoCode"]["status"], "DELETED");
    assert!(payload["promoCode"]["deletedAt"].is_string());
    let kept =
        app.gql_admin("query($id: ID!) { promoCode(id: $id) { code percentOff status } }", json!({ "id": used })).await;
    assert_eq!(kept["data"]["promoCode"], json!({ "code": "MARIA15", "percentOff": "15", "status": "DELETED" }));

    let list = |status: &str| format!("{{ promoCodes(filter: {{ status: {status} }}) {{ nodes {{ code }} }} }}");
    let codes = |body: Value| -> Vec<String> {
        body["data"]["promoCodes"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["code"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(!codes(app.gql_admin(&list("ALL"), json!({})).await).contains(&"MARIA15".to_owned()));
    assert_eq!(codes(app.gql_admin(&list("DELETED"), json!({})).await), vec!["MARIA15"]);
    assert_eq!(
        promo_code::Entity::find_by_id(used.parse::<i64>().unwrap())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .percent_off_bp,
        Some(1500),
        "the row keeps its data"
    );

    // The string is free again.
    let again = create(&app, json!({ "code": "maria15", "discountType": "PERCENTAGE", "percentOff": "20" })).await;
    assert_eq!(again["userErrors"], json!([]));
    assert_ne!(again["promoCode"]["id"].as_str().unwrap(), used);
    // Only the live one is found by code.
    assert_eq!(code_id(&app, "MARIA15").await, again["promoCode"]["id"].as_str().unwrap());
}

#[tokio::test]
async fn the_list_filters_searches_and_pages() {
    let app = spawn_app().await;
    let event = first_event_id(&app).await;
    create(&app, json!({ "code": "JAZZONLY", "discountType": "PERCENTAGE", "percentOff": "5", "eventId": event }))
        .await;
    let expired = create(&app, json!({ "code": "OLDIE", "discountType": "PERCENTAGE", "percentOff": "5" })).await;
    set_code(&app, expired["promoCode"]["id"].as_str().unwrap(), |c| {
        c.expires_at = Set(Some(now() - Duration::hours(1)))
    })
    .await;
    let exhausted =
        create(&app, json!({ "code": "GONE", "discountType": "PERCENTAGE", "percentOff": "5", "usageLimit": 1 })).await;
    set_code(&app, exhausted["promoCode"]["id"].as_str().unwrap(), |c| c.redemptions_count = Set(1)).await;
    app.gql_admin(r#"mutation { deactivatePromoCode(code: "FRIEND5") { userErrors { code } } }"#, json!({})).await;

    let query = "query($filter: PromoCodeFilter, $first: Int!, $after: String) {
        promoCodes(filter: $filter, first: $first, after: $after) {
            nodes { code status } pageInfo { hasNextPage endCursor } } }";
    let codes = |body: &Value| -> Vec<String> {
        body["data"]["promoCodes"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["code"].as_str().unwrap().to_owned())
            .collect()
    };
    let run = |filter: Value| {
        let app = &app;
        async move { app.gql_admin(query, json!({ "filter": filter, "first": 50 })).await }
    };
    let mut active = codes(&run(json!({ "status": "ACTIVE" })).await);
    active.sort();
    assert_eq!(active, vec!["ALEX15", "FREEPASS", "JANE15", "JAZZONLY", "MARIA15", "NEWS10"]);
    assert_eq!(codes(&run(json!({ "status": "EXPIRED" })).await), vec!["OLDIE"]);
    assert_eq!(codes(&run(json!({ "status": "EXHAUSTED" })).await), vec!["GONE"]);
    assert_eq!(codes(&run(json!({ "status": "INACTIVE" })).await), vec!["FRIEND5"]);
    assert_eq!(codes(&run(json!({ "status": "ALL" })).await).len(), 9);
    let mut search = codes(&run(json!({ "search": "15" })).await);
    search.sort();
    assert_eq!(search, vec!["ALEX15", "JANE15", "MARIA15"]);
    assert_eq!(
        codes(&run(json!({ "search": "influencer maria" })).await),
        vec!["MARIA15"],
        "description search, any case"
    );
    assert_eq!(codes(&run(json!({ "search": "_" })).await), Vec::<String>::new(), "LIKE wildcards are literal");
    assert_eq!(codes(&run(json!({ "search": "15%" })).await).len(), 3, "a literal % matches the descriptions");
    assert_eq!(codes(&run(json!({ "eventId": event })).await), vec!["JAZZONLY"]);

    // Pages of 4 cover all 9 exactly once, newest first.
    let mut seen = vec![];
    let mut after: Option<String> = None;
    loop {
        let body = app.gql_admin(query, json!({ "first": 4, "after": after })).await;
        seen.extend(codes(&body));
        let info = &body["data"]["promoCodes"]["pageInfo"];
        if !info["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = Some(info["endCursor"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen.len(), 9);
    assert_eq!(seen[0], "GONE");
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique.len(), 9);
}

#[tokio::test]
async fn rest_crud_round_trip() {
    let app = spawn_app().await;
    let url = format!("{}/admin/promo_codes", app.address);
    let created = app
        .http
        .post(&url)
        .headers(app.admin_headers())
        .json(&json!({ "code": "rest10", "discount_type": "PERCENTAGE", "percent_off": 10, "usage_limit": 50,
                       "max_per_customer": 2, "expires_at": format!("{}-12-31T23:00:00Z", next_year()) }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["code"], "REST10");
    assert_eq!(created["percent_off"], "10");
    assert_eq!(created["usage_limit"], 50);
    assert_eq!(created["max_per_customer"], 2);
    assert_eq!(created["redemptions_count"], 0);
    assert_eq!(created["remaining"], 50);
    assert_eq!(created["status"], "ACTIVE");
    let id = created["id"].as_i64().unwrap();

    let one: Value =
        app.http.get(format!("{url}/{id}")).headers(app.admin_headers()).send().await.unwrap().json().await.unwrap();
    assert_eq!(one["code"], "REST10");

    let patched = app
        .http
        .patch(format!("{url}/{id}"))
        .headers(app.admin_headers())
        .json(&json!({ "usage_limit": null, "active": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!((patched["usage_limit"].clone(), patched["status"].clone()), (Value::Null, json!("INACTIVE")));
    assert_eq!(patched["max_per_customer"], 2, "untouched");

    let list: Value = app
        .http
        .get(format!("{url}?status=inactive"))
        .headers(app.admin_headers())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let page: Value =
        app.http.get(format!("{url}?limit=2")).headers(app.admin_headers()).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = app
        .http
        .get(format!("{url}?limit=2&cursor={cursor}"))
        .headers(app.admin_headers())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(next["data"][0]["id"], page["data"][0]["id"]);

    let deleted = app.http.delete(format!("{url}/{id}")).headers(app.admin_headers()).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let missing = app.http.get(format!("{url}/{id}")).headers(app.admin_headers()).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // Soft delete answers 200 with the kept code.
    let news = code_id(&app, "NEWS10").await;
    order_using(&app, news.parse().unwrap()).await;
    let soft = app.http.delete(format!("{url}/{news}")).headers(app.admin_headers()).send().await.unwrap();
    assert_eq!(soft.status(), StatusCode::OK);
    let soft: Value = soft.json().await.unwrap();
    assert_eq!((soft["deletion"].as_str(), soft["promo_code"]["status"].as_str()), (Some("soft"), Some("DELETED")));
}

#[tokio::test]
async fn rest_refuses_bad_requests_with_the_right_status() {
    let app = spawn_app().await;
    let url = format!("{}/admin/promo_codes", app.address);
    let post = |body: String| {
        app.http.post(&url).headers(app.admin_headers()).header("content-type", "application/json").body(body)
    };

    let malformed = post("{\"code\": ".into()).send().await.unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(malformed.json::<Value>().await.unwrap()["error"]["code"], "MALFORMED_REQUEST");

    let float = post(json!({ "code": "FLOATY", "discount_type": "PERCENTAGE", "percent_off": 12.5 }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(float.status(), StatusCode::UNPROCESSABLE_ENTITY, "floats cannot carry exact values");

    let unknown = post(json!({ "code": "TYPO", "discount_type": "PERCENTAGE", "percent_of": "5" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.text().await.unwrap().contains("percent_of"));

    let no_key = app.http.get(&url).send().await.unwrap();
    assert_eq!(no_key.status(), StatusCode::UNAUTHORIZED);
    let bad_key = app.http.get(&url).bearer_auth("tix_wrong").send().await.unwrap();
    assert_eq!(bad_key.status(), StatusCode::UNAUTHORIZED);
    let unknown_id = app.http.get(format!("{url}/999999")).headers(app.admin_headers()).send().await.unwrap();
    assert_eq!(unknown_id.status(), StatusCode::NOT_FOUND);
    let bad_status = app.http.get(format!("{url}?status=sleeping")).headers(app.admin_headers()).send().await.unwrap();
    assert_eq!(bad_status.status(), StatusCode::BAD_REQUEST);
}

/// A read key reads but every write is refused; a key of another account sees and
/// touches nothing of this one, on both APIs.
#[tokio::test]
async fn tenants_and_scopes_on_every_operation() {
    let app = spawn_app().await;
    let read = app
        .gql_admin(r#"mutation { createApiKey(input: { name: "r", scope: READ }) { secret } }"#, json!({}))
        .await["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = accounts::create(
        &app.db,
        &tixshop::services::audit::Actor::cli(),
        &NewAccount::parse("rival", "Rival", "EUR", "19", true).unwrap(),
    )
    .await
    .unwrap();
    let rival = api_keys::create(
        &app.db,
        &tixshop::services::audit::Actor::cli(),
        other.id,
        &KeyName::parse("rival").unwrap(),
        Scope::Admin,
    )
    .await
    .unwrap()
    .secret;
    let news = code_id(&app, "NEWS10").await;

    let mutations = [
        (create_mutation(), json!({ "input": { "code": "NEWCODE", "discountType": "PERCENTAGE", "percentOff": "5" } })),
        (update_mutation(), json!({ "id": news, "input": { "percentOff": "99" } })),
        ("mutation($id: ID!) { deactivatePromoCode(id: $id) { userErrors { code } } }".into(), json!({ "id": news })),
        ("mutation($id: ID!) { reactivatePromoCode(id: $id) { userErrors { code } } }".into(), json!({ "id": news })),
        ("mutation($id: ID!) { deletePromoCode(id: $id) { userErrors { code } } }".into(), json!({ "id": news })),
    ];
    for (mutation, variables) in &mutations {
        let body = app.gql_as(Some(&read), mutation, variables.clone()).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{mutation}");
        let body = app.gql(mutation, variables.clone()).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{mutation}");
    }
    // The rival's writes on our code are "not found" (creating its own code is fine).
    for (mutation, variables) in mutations.iter().skip(1) {
        let body = app.gql_as(Some(&rival), mutation, variables.clone()).await;
        let payload = body["data"].as_object().unwrap().values().next().unwrap();
        assert_eq!(payload["userErrors"][0]["code"], "NOT_FOUND", "{mutation}: {body}");
    }
    let body = app.gql_as(Some(&read), "{ promoCodes { nodes { code } } }", json!({})).await;
    assert_eq!(body["data"]["promoCodes"]["nodes"].as_array().unwrap().len(), 6);
    let body = app.gql_as(Some(&rival), "{ promoCodes { nodes { code } } }", json!({})).await;
    assert_eq!(body["data"]["promoCodes"]["nodes"], json!([]));
    let body = app.gql_as(Some(&rival), "query($id: ID!) { promoCode(id: $id) { code } }", json!({ "id": news })).await;
    assert_eq!(body["data"]["promoCode"], Value::Null);
    let body = app.gql_as(Some(&rival), "{ promoCode(code: \"NEWS10\") { code } }", json!({})).await;
    assert_eq!(body["data"]["promoCode"], Value::Null);

    // REST: reads with a read key, 403 on every write; the rival gets 404 on our code.
    let url = format!("{}/admin/promo_codes", app.address);
    assert_eq!(app.http.get(&url).bearer_auth(&read).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.http.get(format!("{url}/{news}")).bearer_auth(&read).send().await.unwrap().status(), StatusCode::OK);
    let body = json!({ "code": "X123", "discount_type": "PERCENTAGE", "percent_off": "5" });
    assert_eq!(
        app.http.post(&url).bearer_auth(&read).json(&body).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.http
            .patch(format!("{url}/{news}"))
            .bearer_auth(&read)
            .json(&json!({ "active": false }))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.http.delete(format!("{url}/{news}")).bearer_auth(&read).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.http.get(format!("{url}/{news}")).bearer_auth(&rival).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.http
            .patch(format!("{url}/{news}"))
            .bearer_auth(&rival)
            .json(&json!({ "active": false }))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.http.delete(format!("{url}/{news}")).bearer_auth(&rival).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let rival_list: Value = app.http.get(&url).bearer_auth(&rival).send().await.unwrap().json().await.unwrap();
    assert_eq!(rival_list["data"], json!([]));

    // Nothing of ours changed.
    let news10 = app.gql_admin("{ promoCode(code: \"NEWS10\") { percentOff status } }", json!({})).await;
    assert_eq!(news10["data"]["promoCode"], json!({ "percentOff": "10", "status": "ACTIVE" }));
}

/// Twenty simultaneous creations of one code: exactly one is stored, the others are told
/// it is a duplicate (the partial unique index backs the check under races).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_code_store_exactly_one() {
    let app = std::sync::Arc::new(spawn_app().await);
    let before = code_count(&app).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let code = if i % 2 == 0 { "RACE50" } else { "race50" };
                create(&app, json!({ "code": code, "discountType": "PERCENTAGE", "percentOff": "50" })).await
            })
        })
        .collect();
    let mut stored = 0;
    let mut duplicates = 0;
    for task in tasks {
        let payload = task.await.unwrap();
        if payload["promoCode"].is_object() {
            stored += 1;
        } else {
            assert_eq!(payload["userErrors"][0]["code"], "DUPLICATE_CODE", "{payload}");
            duplicates += 1;
        }
    }
    assert_eq!((stored, duplicates), (1, 19));
    assert_eq!(code_count(&app).await, before + 1);
}
