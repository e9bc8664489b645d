//! The foundation: demo data, hardening at the mount, API keys, scopes, tenants, health.

use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use tixshop::config::Mode;
use tixshop::domain::account::NewAccount;
use tixshop::domain::api_key::{KeyName, Scope};
use tixshop::entities::{account, api_key};
use tixshop::services::{accounts, api_keys};
use tixshop::startup::Application;

use crate::helpers::{TestApp, spawn_app, spawn_app_with, test_config};

const SHOP_QUERY: &str = r#"{ shop(slug: "demo") { name currency pricesIncludeVat vatRate
    events { name ticketTypes { name price { amount currency } vatRate } } } }"#;

const CREATE_KEY: &str = r#"mutation($name: String!, $scope: ApiKeyScope!) {
    createApiKey(input: { name: $name, scope: $scope }) {
        secret apiKey { id name scope } userErrors { field code message } } }"#;

async fn key_count(app: &TestApp) -> u64 {
    api_key::Entity::find().count(&app.db).await.unwrap()
}

fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}"))
}

#[tokio::test]
async fn the_demo_shop_is_served_to_anonymous_buyers() {
    let app = spawn_app().await;
    let body = app.gql(SHOP_QUERY, json!({})).await;
    let shop = &body["data"]["shop"];
    assert_eq!(shop["name"], "Demo Tickets");
    assert_eq!(shop["currency"], "EUR");
    assert_eq!(shop["pricesIncludeVat"], true);
    assert_eq!(shop["vatRate"], "19.00");
    let prices: Vec<(String, String)> = shop["events"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["ticketTypes"].as_array().unwrap().clone())
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t["price"]["amount"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        prices,
        vec![
            ("Standing".into(), "19.99".into()),
            ("Seated".into(), "35.00".into()),
            ("Day pass".into(), "7.50".into())
        ]
    );
    assert_eq!(app.gql(r#"{ shop(slug: "nope") { name } }"#, json!({})).await["data"]["shop"], Value::Null);
}

#[tokio::test]
async fn a_second_start_does_not_seed_again() {
    let app = spawn_app().await;
    let again = Application::build(test_config(&app.database_url)).await.expect("second start");
    assert!(again.demo_admin_key().is_none(), "the second start must not print a new key");
    assert_eq!(account::Entity::find().count(&app.db).await.unwrap(), 1);
    assert_eq!(key_count(&app).await, 1);
}

#[tokio::test]
async fn a_mutation_over_get_is_405_and_not_executed() {
    let app = spawn_app().await;
    let query = r#"mutation { createApiKey(input: { name: "via-get", scope: READ }) { secret } }"#;
    let response = app
        .http
        .get(format!("{}/graphql", app.address))
        .query(&[("query", query)])
        .headers(app.admin_headers())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(key_count(&app).await, 1);

    // A named mutation among several operations is caught too.
    let doc = "query Q { __typename } mutation M { revokeApiKey(id: \"1\") { userErrors { code } } }";
    let response = app
        .http
        .get(format!("{}/graphql", app.address))
        .query(&[("query", doc), ("operationName", "M")])
        .headers(app.admin_headers())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

    // Queries over GET work; GET without a query serves GraphiQL.
    let response =
        app.http.get(format!("{}/graphql", app.address)).query(&[("query", "{ __typename }")]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["data"]["__typename"], "Query");
    let page = app.http.get(format!("{}/graphql", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(page.to_lowercase().contains("graphiql"));
}

#[tokio::test]
async fn only_json_posts_are_accepted() {
    let app = spawn_app().await;
    let body = json!({ "query": r#"mutation { createApiKey(input: { name: "csrf", scope: ADMIN }) { secret } }"# });
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let response = app
            .http
            .post(format!("{}/graphql", app.address))
            .headers(app.admin_headers())
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
    }
    assert_eq!(key_count(&app).await, 1, "nothing executed");

    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["errors"][0]["extensions"]["code"], "BAD_REQUEST");
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = spawn_app_with(|c| c.max_body_bytes = 2048).await;
    let padding = "x".repeat(4096);
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": format!("{{ __typename }} # {padding}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn too_deep_or_too_complex_operations_are_refused_before_any_resolver_runs() {
    let app = spawn_app_with(|c| {
        c.max_query_depth = 2;
        c.max_query_complexity = 20;
    })
    .await;
    let shallow = r#"mutation { createApiKey(input: { name: "shallow", scope: READ }) { secret } }"#;
    let body = app.gql_admin(shallow, json!({})).await;
    assert!(body["errors"].is_null(), "depth 2 is allowed: {body}");
    assert_eq!(key_count(&app).await, 2);

    let deep = r#"mutation { createApiKey(input: { name: "deep", scope: READ }) { apiKey { id } } }"#;
    let body = app.gql_admin(deep, json!({})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("nested too deep"), "{body}");
    assert!(body["data"].is_null());
    assert_eq!(key_count(&app).await, 2, "the resolver did not run");

    // 21 aliased creations weigh 42 > 20: refused as a whole, none created.
    let many: String = (0..21)
        .map(|i| format!("k{i}: createApiKey(input: {{ name: \"k{i}\", scope: READ }}) {{ secret }}\n"))
        .collect();
    let body = app.gql_admin(&format!("mutation {{ {many} }}"), json!({})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("too complex"), "{body}");
    assert_eq!(key_count(&app).await, 2, "no resolver ran");
}

/// Parsed documents are kept by their text (the document cache); a text sent again is
/// still validated against the schema, its limits and that request's variables.
#[tokio::test]
async fn a_document_sent_again_is_validated_again() {
    let app = spawn_app_with(|c| c.max_query_depth = 2).await;
    let deep = r#"mutation { createApiKey(input: { name: "deep", scope: READ }) { apiKey { id } } }"#;
    for attempt in 0..3 {
        let body = app.gql_admin(deep, json!({})).await;
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("nested too deep"), "attempt {attempt}: {body}");
        assert!(body["data"].is_null(), "attempt {attempt}: {body}");
    }
    assert_eq!(key_count(&app).await, 1, "no resolver ran");

    let query = "query($slug: String!) { shop(slug: $slug) { name } }";
    let body = app.gql(query, json!({ "slug": "demo" })).await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(body["data"]["shop"]["name"].is_string(), "{body}");
    // The same text: a missing variable, then one of the wrong type, are refused.
    let body = app.gql(query, json!({})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("slug"), "{body}");
    let body = app.gql(query, json!({ "slug": 7 })).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("slug"), "{body}");
    // And valid variables again get their own answer.
    let body = app.gql(query, json!({ "slug": "no-such-shop" })).await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(body["data"]["shop"].is_null(), "{body}");
}

#[tokio::test]
async fn production_mode_keeps_introspection_and_suggestions_for_key_holders() {
    let app = spawn_app_with(|c| c.mode = Mode::Production).await;
    let introspect = "{ __schema { queryType { name } } }";
    let anonymous = app.gql(introspect, json!({})).await;
    assert!(anonymous["data"]["__schema"].is_null(), "anonymous introspection refused: {anonymous}");
    let keyed = app.gql_admin(introspect, json!({})).await;
    assert_eq!(keyed["data"]["__schema"]["queryType"]["name"], "Query", "{keyed}");

    let typo = r#"{ shopp(slug: "demo") { name } }"#;
    let anonymous = app.gql(typo, json!({})).await.to_string();
    assert!(!anonymous.contains("Did you mean"), "{anonymous}");
    let keyed = app.gql_admin(typo, json!({})).await.to_string();
    assert!(keyed.contains("Did you mean"), "{keyed}");

    // The public storefront still works anonymously.
    assert_eq!(app.gql(SHOP_QUERY, json!({})).await["data"]["shop"]["name"], "Demo Tickets");
}

#[tokio::test]
async fn demo_mode_is_open_for_graphiql() {
    let app = spawn_app().await;
    let body = app.gql("{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    let typo = app.gql(r#"{ shopp(slug: "demo") { name } }"#, json!({})).await.to_string();
    assert!(typo.contains("Did you mean"), "{typo}");
}

#[tokio::test]
async fn admin_fields_need_a_valid_key() {
    let app = spawn_app().await;
    let viewer = "{ viewer { scope keyName account { slug } } }";
    assert_eq!(error_code(&app.gql(viewer, json!({})).await), "UNAUTHENTICATED");
    let forged = format!("tix_{}", "A".repeat(43));
    for bad in ["nonsense", forged.as_str()] {
        assert_eq!(error_code(&app.gql_as(Some(bad), viewer, json!({})).await), "UNAUTHENTICATED");
    }
    let body = app.gql_admin(viewer, json!({})).await;
    assert_eq!(
        body["data"]["viewer"],
        json!({ "scope": "ADMIN", "keyName": "demo admin", "account": { "slug": "demo" } })
    );
}

#[tokio::test]
async fn a_read_key_reads_but_cannot_write() {
    let app = spawn_app().await;
    let created = app.gql_admin(CREATE_KEY, json!({ "name": "dashboard", "scope": "READ" })).await;
    let payload = &created["data"]["createApiKey"];
    assert_eq!(payload["userErrors"], json!([]));
    assert_eq!(payload["apiKey"]["scope"], "READ");
    let read_key = payload["secret"].as_str().unwrap().to_owned();

    let viewer = app.gql_as(Some(&read_key), "{ viewer { scope } apiKeys { name } }", json!({})).await;
    assert_eq!(viewer["data"]["viewer"]["scope"], "READ");
    assert_eq!(viewer["data"]["apiKeys"].as_array().unwrap().len(), 2);

    let before = key_count(&app).await;
    let refused = app.gql_as(Some(&read_key), CREATE_KEY, json!({ "name": "sneaky", "scope": "ADMIN" })).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let refused =
        app.gql_as(Some(&read_key), r#"mutation { revokeApiKey(id: "1") { apiKey { id } } }"#, json!({})).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    assert_eq!(key_count(&app).await, before);
    let anonymous = app.gql(CREATE_KEY, json!({ "name": "anon", "scope": "ADMIN" })).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
}

#[tokio::test]
async fn key_creation_validates_and_previews() {
    let app = spawn_app().await;
    let body = app.gql_admin(CREATE_KEY, json!({ "name": "   ", "scope": "READ" })).await;
    let payload = &body["data"]["createApiKey"];
    assert_eq!(payload["userErrors"][0]["field"], json!(["input", "name"]));
    assert_eq!(payload["userErrors"][0]["code"], "INVALID");
    assert_eq!(payload["secret"], Value::Null);

    let dry = r#"mutation { createApiKey(input: { name: "preview", scope: READ }, dryRun: true) { secret apiKey { id } userErrors { code } } }"#;
    let body = app.gql_admin(dry, json!({})).await;
    assert_eq!(body["data"]["createApiKey"], json!({ "secret": null, "apiKey": null, "userErrors": [] }));
    assert_eq!(key_count(&app).await, 1, "a dry run writes nothing");
}

#[tokio::test]
async fn a_revoked_key_stops_working() {
    let app = spawn_app().await;
    let created = app.gql_admin(CREATE_KEY, json!({ "name": "temp", "scope": "READ" })).await;
    let secret = created["data"]["createApiKey"]["secret"].as_str().unwrap().to_owned();
    let id = created["data"]["createApiKey"]["apiKey"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.gql_as(Some(&secret), "{ viewer { scope } }", json!({})).await["data"]["viewer"]["scope"], "READ");
    let revoked = app
        .gql_admin(
            "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } userErrors { code } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(revoked["data"]["revokeApiKey"]["apiKey"]["revokedAt"].is_string(), "{revoked}");
    assert_eq!(error_code(&app.gql_as(Some(&secret), "{ viewer { scope } }", json!({})).await), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_key_of_one_account_sees_nothing_of_another() {
    let app = spawn_app().await;
    let other = NewAccount::parse("other-shop", "Other Shop", "JPY", "10", false).unwrap();
    let other = accounts::create(&app.db, &tixshop::services::audit::Actor::cli(), &other).await.unwrap();
    let other_key = api_keys::create(
        &app.db,
        &tixshop::services::audit::Actor::cli(),
        other.id,
        &KeyName::parse("b-admin").unwrap(),
        Scope::Admin,
    )
    .await
    .unwrap();

    let mine = app.gql_admin("{ viewer { account { slug } } apiKeys { name } }", json!({})).await;
    assert_eq!(mine["data"]["viewer"]["account"]["slug"], "demo");
    let names: Vec<&str> =
        mine["data"]["apiKeys"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["demo admin"]);

    let theirs = app
        .gql_as(Some(&other_key.secret), "{ viewer { account { slug currency } } apiKeys { name } }", json!({}))
        .await;
    assert_eq!(theirs["data"]["viewer"]["account"], json!({ "slug": "other-shop", "currency": "JPY" }));
    assert_eq!(theirs["data"]["apiKeys"], json!([{ "name": "b-admin" }]));

    // Revoking the other account's key by id is "not found", and it keeps working.
    let attempt = app
        .gql_admin(
            "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id } userErrors { code field } } }",
            json!({ "id": other_key.key.id.to_string() }),
        )
        .await;
    assert_eq!(attempt["data"]["revokeApiKey"]["userErrors"], json!([{ "code": "NOT_FOUND", "field": ["id"] }]));
    let still = app.gql_as(Some(&other_key.secret), "{ viewer { scope } }", json!({})).await;
    assert_eq!(still["data"]["viewer"]["scope"], "ADMIN");
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app.http.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.http.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.json::<Value>().await.unwrap()["database"], "ok");
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.db.clone().close().await.unwrap();
    let ready = app.http.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn websockets_speak_both_protocols() {
    let app = spawn_app().await;
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mut ws = app.ws(protocol, &[]).await.expect("connects");
        ws.init(json!({})).await;
        ws.start("1", r#"{ shop(slug: "demo") { name } }"#, json!({})).await;
        assert_eq!(ws.next_payload().await["data"]["shop"]["name"], "Demo Tickets", "{protocol}");
    }
    // An API key in connection_init authenticates the socket.
    let mut ws = app.ws("graphql-transport-ws", &[]).await.unwrap();
    ws.init(json!({ "Authorization": format!("Bearer {}", app.admin_key) })).await;
    ws.start("1", "{ viewer { scope } }", json!({})).await;
    assert_eq!(ws.next_payload().await["data"]["viewer"]["scope"], "ADMIN");
}

#[tokio::test]
async fn websockets_check_the_origin() {
    let app = spawn_app_with(|c| c.storefront_origins = vec!["https://shop.example.com".into()]).await;
    let refused = app.ws("graphql-transport-ws", &[("origin", "https://evil.example")]).await;
    assert!(refused.is_err_and(|e| e.contains("403")), "a foreign origin is refused");
    let allowed = app.ws("graphql-transport-ws", &[("origin", "https://shop.example.com")]).await;
    assert!(allowed.is_ok(), "a configured origin is allowed");
    let own = format!("http://127.0.0.1:{}", app.port);
    assert!(app.ws("graphql-transport-ws", &[("origin", own.as_str())]).await.is_ok(), "our own origin is allowed");
}

#[tokio::test]
async fn the_committed_schema_is_fresh() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(
        committed == tixshop::graphql::sdl(),
        "schema.graphql is stale: run `cargo run -- export-schema > schema.graphql` and commit it"
    );
}

/// An assistant reads the schema's descriptions to act: every type, field, argument,
/// input field and enum value of ours has one.
#[tokio::test]
async fn every_part_of_the_schema_is_described() {
    let app = spawn_app().await;
    let query = r#"{ __schema { types { name description
        fields(includeDeprecated: true) { name description args { name description } }
        inputFields { name description }
        enumValues(includeDeprecated: true) { name description } } } }"#;
    let body = app.gql(query, json!({})).await;
    let mut missing = vec![];
    for t in body["data"]["__schema"]["types"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        if name.starts_with("__") || ["String", "Boolean", "Int", "Float", "ID"].contains(&name) {
            continue;
        }
        let described = |v: &Value| v["description"].as_str().is_some_and(|d| !d.trim().is_empty());
        if !described(t) {
            missing.push(name.to_owned());
        }
        for f in t["fields"].as_array().into_iter().flatten() {
            if !described(f) {
                missing.push(format!("{name}.{}", f["name"]));
            }
            for a in f["args"].as_array().into_iter().flatten() {
                if !described(a) {
                    missing.push(format!("{name}.{}({})", f["name"], a["name"]));
                }
            }
        }
        for list in ["inputFields", "enumValues"] {
            for v in t[list].as_array().into_iter().flatten() {
                if !described(v) {
                    missing.push(format!("{name}.{}", v["name"]));
                }
            }
        }
    }
    assert!(missing.is_empty(), "undescribed: {missing:?}");
}

#[tokio::test]
async fn cors_admits_configured_storefronts_only() {
    let app = spawn_app_with(|c| c.storefront_origins = vec!["https://shop.example.com".into()]).await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("https://shop.example.com").await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://shop.example.com");
    assert_eq!(allowed.headers()["access-control-allow-credentials"], "true");
    let foreign = preflight("https://evil.example").await.unwrap();
    assert!(foreign.headers().get("access-control-allow-origin").is_none(), "no CORS grant for other sites");
}

/// The cart statements' kept connections (`db::kept`): one connection serves statement
/// after statement; a statement cancelled mid-way (its future dropped, as when a buyer's
/// request is abandoned) does not leave its connection to answer the next statement;
/// concurrent statements each get their own answer.
#[tokio::test]
async fn kept_connections_are_reused_and_a_cancelled_statement_leaves_none_midway() {
    use sea_orm::{ConnectionTrait, Statement};
    use std::time::Duration;
    let app = spawn_app().await;
    let backend = app.db.get_database_backend();
    let kept = tixshop::db::Kept::new(
        &app.db,
        2,
        Duration::from_secs(5),
        Duration::from_secs(600),
        tixshop::db::kept::Commits::Asynchronous,
        Default::default(),
    );
    let select = |i: i64| Statement::from_string(backend, format!("SELECT CAST({i} AS BIGINT) AS v"));
    let value = |row: Option<sea_orm::QueryResult>| row.expect("a row").try_get::<i64>("", "v").unwrap();

    for i in 0..10 {
        assert_eq!(value(kept.query_one_raw(select(i)).await.unwrap()), i);
    }
    assert_eq!(kept.usage(), (1, 1), "one connection, kept between the statements");

    let slow = Statement::from_string(
        backend,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) \
         SELECT CAST(count(*) AS BIGINT) AS v FROM n",
    );
    let cancelled = tokio::time::timeout(Duration::from_millis(5), kept.query_one_raw(slow)).await;
    assert!(cancelled.is_err(), "the slow statement was cut off");
    for i in 100..110 {
        assert_eq!(value(kept.query_one_raw(select(i)).await.unwrap()), i, "each statement its own answer");
    }

    let answers = futures_util::future::join_all((0..40).map(|i| {
        let kept = kept.clone();
        async move { value(kept.query_one_raw(select(i)).await.unwrap()) }
    }))
    .await;
    assert_eq!(answers, (0..40).collect::<Vec<_>>());
    let (open, idle) = kept.usage();
    assert!(open <= 2 && idle <= 2, "never more than its size: {open} open, {idle} idle");

    // A failed statement answers its error, and the next one still works.
    let bad = Statement::from_string(backend, "SELECT no_such_column FROM accounts");
    assert!(kept.query_one_raw(bad).await.is_err());
    assert_eq!(value(kept.query_one_raw(select(7)).await.unwrap()), 7);
}

/// On PostgreSQL the kept connections (the buyers' cart edits) commit asynchronously
/// unless told not to, and the main pool (orders, payments, counters) always waits for
/// the disk: the server's own, by default and with `TIXSHOP_CART_SYNCHRONOUS_COMMIT`
/// set, and pools made with either setting.
#[tokio::test]
async fn cart_edits_commit_asynchronously_on_postgresql_and_orders_durably() {
    use sea_orm::{ConnectionTrait, Statement};
    use std::time::Duration;
    use tixshop::db::kept::Commits;
    let app = spawn_app().await;
    let backend = app.db.get_database_backend();
    if backend != sea_orm::DbBackend::Postgres {
        return; // SQLite: one setting for every connection (WAL, synchronous = NORMAL).
    }
    let setting = |row: Option<sea_orm::QueryResult>| row.unwrap().try_get::<String>("", "synchronous_commit").unwrap();
    let show = || Statement::from_string(backend, "SHOW synchronous_commit");
    for (commits, expected) in [(Commits::Asynchronous, "off"), (Commits::Durable, "on")] {
        let kept = tixshop::db::Kept::new(
            &app.db,
            2,
            Duration::from_secs(5),
            Duration::from_secs(600),
            commits,
            Default::default(),
        );
        // Every connection of the pool, not only the first.
        let both = futures_util::future::join_all((0..8).map(|_| kept.query_one_raw(show()))).await;
        for answer in both {
            assert_eq!(setting(answer.unwrap()), expected, "{commits:?}");
        }
    }
    for _ in 0..4 {
        assert_eq!(setting(app.db.query_one_raw(show()).await.unwrap()), "on", "the main pool stays durable");
        assert_eq!(setting(app.kept.query_one_raw(show()).await.unwrap()), "off", "the server's default");
    }
    let durable = spawn_app_with(|c| c.database.cart_synchronous_commit = true).await;
    assert_eq!(
        setting(durable.kept.query_one_raw(show()).await.unwrap()),
        "on",
        "TIXSHOP_CART_SYNCHRONOUS_COMMIT=true"
    );
}

/// A kept connection past its lifetime is closed and replaced: a temporary table (which
/// lives as long as its connection) is there for the next statement, and gone after.
#[tokio::test]
async fn a_kept_connection_is_replaced_after_its_lifetime() {
    use sea_orm::{ConnectionTrait, Statement};
    use std::time::Duration;
    let app = spawn_app().await;
    let backend = app.db.get_database_backend();
    let lifetime = Duration::from_millis(400);
    let kept = tixshop::db::Kept::new(
        &app.db,
        1,
        Duration::from_secs(5),
        lifetime,
        tixshop::db::kept::Commits::Durable,
        Default::default(),
    );
    let marker = || Statement::from_string(backend, "SELECT COUNT(*) AS n FROM kept_marker");
    kept.execute_raw(Statement::from_string(backend, "CREATE TEMP TABLE kept_marker (x INTEGER)")).await.unwrap();
    assert!(kept.query_one_raw(marker()).await.is_ok(), "the same connection, kept");
    tokio::time::sleep(lifetime + Duration::from_millis(100)).await;
    let gone = kept.query_one_raw(marker()).await.expect_err("a new connection: no such table");
    assert!(gone.to_string().contains("kept_marker"), "{gone}");
    // And the new one is kept in turn.
    kept.execute_raw(Statement::from_string(backend, "CREATE TEMP TABLE kept_marker (x INTEGER)")).await.unwrap();
    assert!(kept.query_one_raw(marker()).await.is_ok());
}

/// A batch of statements (`db::batch`, how a checkout's write transaction is sent): each
/// statement's rows come back as its own, in order, with later statements seeing what
/// earlier ones wrote; an `UPDATE` that matches nothing yields no rows; a failing
/// statement fails the batch and, in a transaction, the rollback leaves nothing of it.
#[tokio::test]
async fn a_batch_hands_back_each_statements_rows_and_fails_as_a_whole() {
    use sea_orm::sea_query::{Expr, ExprTrait};
    use sea_orm::{ColumnTrait, QueryFilter, QueryTrait, TransactionTrait};
    use tixshop::db::batch::Batch;
    use tixshop::entities::ticket_type;
    let app = spawn_app().await;
    let backend = app.db.get_database_backend();
    let tickets = ticket_type::Entity::find().all(&app.db).await.unwrap();
    let (first, second) = (&tickets[0], &tickets[1]);

    let txn = app.db.begin().await.unwrap();
    let mut batch = Batch::new(backend);
    let bump = |id: i64, by: i64| {
        ticket_type::Entity::update_many()
            .col_expr(ticket_type::Column::HeldCount, Expr::col(ticket_type::Column::HeldCount).add(by))
            .filter(ticket_type::Column::Id.eq(id))
            .into_query()
    };
    let bumped = batch.update(bump(first.id, 3));
    let nothing = batch.update(bump(-1, 1));
    let read = batch
        .select(ticket_type::Entity::find().filter(ticket_type::Column::Id.is_in([first.id, second.id])).into_query());
    let again = batch.update(bump(first.id, 1));
    assert_eq!(batch.len(), 4);
    let rows = batch.run(&txn).await.unwrap();
    let bumped: Vec<ticket_type::Model> = rows.models(bumped).unwrap();
    assert_eq!(bumped.len(), 1);
    assert_eq!(bumped[0].held_count, first.held_count + 3, "the row as the update left it");
    assert!(!rows.any(nothing), "an update of no row yields none");
    let mut read: Vec<ticket_type::Model> = rows.models(read).unwrap();
    read.sort_by_key(|t| t.id);
    assert_eq!(read.len(), 2, "the select's own rows, not the updates'");
    assert_eq!(read[0].held_count, first.held_count + 3, "a later statement sees an earlier one's write");
    assert_eq!(read[1].held_count, second.held_count);
    let again: Option<ticket_type::Model> = rows.first(again).unwrap();
    assert_eq!(again.unwrap().held_count, first.held_count + 4);
    txn.rollback().await.unwrap();

    // A failing statement in the middle: the batch errs, and rolling back leaves no trace.
    let txn = app.db.begin().await.unwrap();
    let mut batch = Batch::new(backend);
    batch.update(bump(first.id, 5));
    batch.update(
        ticket_type::Entity::update_many()
            .col_expr(ticket_type::Column::Name, Expr::value(Option::<String>::None))
            .filter(ticket_type::Column::Id.eq(second.id))
            .into_query(),
    );
    batch.update(bump(second.id, 5));
    assert!(batch.run(&txn).await.is_err(), "NOT NULL name: the batch fails");
    txn.rollback().await.unwrap();
    let after = ticket_type::Entity::find().all(&app.db).await.unwrap();
    let held = |id: i64| after.iter().find(|t| t.id == id).unwrap().held_count;
    assert_eq!((held(first.id), held(second.id)), (first.held_count, second.held_count));
}
