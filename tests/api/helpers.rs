//! The test harness: `spawn_app()` starts the real server on 127.0.0.1:0 over a fresh
//! database — a temporary SQLite file, or a new PostgreSQL database when
//! `TIXSHOP_TEST_DATABASE_URL` points at a server — and returns clients for it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::header::{HeaderMap, HeaderValue};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tixshop::config::ServeConfig;
use tixshop::startup::Application;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The bound port.
    pub port: u16,
    /// The app's database (for arranging data and checking writes).
    pub db: DatabaseConnection,
    /// The server's own kept connections (the cart statements').
    pub kept: tixshop::db::Kept,
    /// The URL of that database (for running the CLI against it).
    pub database_url: String,
    /// The demo shop's admin key (empty when the demo seed was turned off).
    pub admin_key: String,
    /// An HTTP client.
    pub http: reqwest::Client,
    /// SQL statements the server has run.
    pub statements: tixshop::db::StatementCounter,
    _dir: tempfile::TempDir,
}

/// A fresh, empty database URL: SQLite in `dir`, or a new PostgreSQL database.
pub async fn fresh_database_url(dir: &tempfile::TempDir) -> String {
    match std::env::var("TIXSHOP_TEST_DATABASE_URL") {
        Ok(base) if !base.trim().is_empty() => {
            let admin = Database::connect(base.as_str()).await.expect("connect to TIXSHOP_TEST_DATABASE_URL");
            let mut url = url::Url::parse(&base).expect("TIXSHOP_TEST_DATABASE_URL is a URL");
            let prefix = url.path().trim_start_matches('/').to_owned();
            let name = format!("{prefix}_t{}", uuid::Uuid::new_v4().simple()).chars().take(63).collect::<String>();
            admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
            admin.close().await.ok();
            url.set_path(&name);
            url.to_string()
        }
        _ => format!("sqlite://{}", dir.path().join("tixshop-test.db").display()),
    }
}

/// Settings for a test server over `database_url`, on a free port, demo data seeded.
pub fn test_config(database_url: &str) -> ServeConfig {
    let mut config = ServeConfig::defaults();
    config.database.database_url = database_url.to_owned();
    config.database.db_max_connections = 8;
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.seed_demo = Some(true);
    // Tests configure their payment providers (fakes at the HTTP boundary) themselves.
    config.test_payments = Some(false);
    config.log = "warn".into();
    // Tests' webhook receivers listen on loopback.
    config.webhook_allow_private = true;
    config.webhook_retry_base_ms = 100;
    config
}

/// Starts the app with the default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app after `customize` adjusted its settings.
pub async fn spawn_app_with(customize: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database_url(&dir).await;
    let mut config = test_config(&database_url);
    customize(&mut config);
    let app = Application::build(config).await.expect("the app starts");
    let port = app.address().port();
    let db = app.db().clone();
    let kept = app.kept().clone();
    // Empty when the test turned the demo seed off.
    let admin_key = app.demo_admin_key().map(|k| k.secret.clone()).unwrap_or_default();
    let statements = app.statements();
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        db,
        kept,
        database_url,
        admin_key,
        http: reqwest::Client::builder().cookie_store(true).build().unwrap(),
        statements,
        _dir: dir,
    }
}

impl TestApp {
    /// What `action` returns and the SQL statements the server ran meanwhile, leaving
    /// out the relay's NOTIFY, an API key's last use (written after an earlier admin
    /// request answered, it may land in the window) and the webhook dispatcher's claim of
    /// due deliveries (it polls on its own schedule; on a loaded machine a poll landed
    /// inside a checkout's window).
    pub async fn statements_of<T>(&self, action: impl std::future::Future<Output = T>) -> (T, Vec<String>) {
        let before = self.statements.get();
        let out = action.await;
        let ran = (self.statements.get() - before) as usize;
        let recent = self.statements.recent();
        let ran = recent[recent.len().saturating_sub(ran)..]
            .iter()
            .filter(|sql| {
                !sql.contains("pg_notify")
                    && !sql.contains("\"api_keys\"")
                    && !sql.starts_with("UPDATE webhook_deliveries SET locked_until")
            })
            .cloned()
            .collect();
        (out, ran)
    }

    /// POSTs a GraphQL operation, with `key` as the bearer token if given; returns the
    /// JSON body (any HTTP status).
    pub async fn gql_as(&self, key: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.expect("request sent").json().await.expect("a JSON body")
    }

    /// An anonymous GraphQL POST.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_as(None, query, variables).await
    }

    /// A GraphQL POST with the demo admin key.
    pub async fn gql_admin(&self, query: &str, variables: Value) -> Value {
        self.gql_as(Some(&self.admin_key), query, variables).await
    }

    /// Opens a GraphQL WebSocket speaking `protocol`, with extra request headers.
    pub async fn ws(&self, protocol: &str, headers: &[(&str, &str)]) -> Result<WsClient, String> {
        let mut request = format!("ws://127.0.0.1:{}/graphql/ws", self.port).into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_str(protocol).unwrap());
        for (name, value) in headers {
            request.headers_mut().insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(WsClient { stream, protocol: protocol.to_owned() }),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Default headers with the admin key, for raw requests.
    pub fn admin_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {}", self.admin_key)).unwrap());
        headers
    }
}

/// A GraphQL-over-WebSocket client for either protocol.
pub struct WsClient {
    stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    protocol: String,
}

impl WsClient {
    /// Sends `connection_init` and waits for the ack.
    pub async fn init(&mut self, payload: Value) {
        self.send(json!({ "type": "connection_init", "payload": payload })).await;
        let ack = self.next().await;
        assert_eq!(ack["type"], "connection_ack", "expected an ack, got {ack}");
    }

    /// Starts an operation under `id`.
    pub async fn start(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.protocol == "graphql-ws" { "start" } else { "subscribe" };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } })).await;
    }

    /// The next data payload (`next` / `data` message), skipping keep-alives.
    pub async fn next_payload(&mut self) -> Value {
        loop {
            let message = self.next().await;
            match message["type"].as_str() {
                Some("next" | "data") => return message["payload"].clone(),
                Some("ka" | "ping" | "pong") => continue,
                _ => panic!("expected data, got {message}"),
            }
        }
    }

    /// The next JSON message, within 10 s.
    pub async fn next(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("a message within 10 s")
                .expect("the socket is open")
                .expect("a frame");
            match frame {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON message"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Waits for the server to close the socket; returns the close code.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.stream.next()).await.expect("within 10 s");
            match frame {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code.into()),
                Some(Ok(Message::Text(text))) => panic!("expected the socket to close, got {text}"),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Sends one JSON message as it is.
    pub async fn send(&mut self, value: Value) {
        self.stream.send(Message::Text(value.to_string().into())).await.expect("send");
    }
}

/// Arranges a paid order that used promo code `promo_code_id` for `email` (what checkout
/// will write): per-customer caps count it, and it makes deleting the code soft.
pub async fn insert_paid_order(app: &TestApp, promo_code_id: i64, email: &str) {
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    use tixshop::domain::email::Email;
    use tixshop::entities::{order, promo_code};
    let code = promo_code::Entity::find_by_id(promo_code_id).one(&app.db).await.unwrap().unwrap();
    let at = tixshop::services::now();
    order::ActiveModel {
        account_id: Set(code.account_id),
        number: Set(format!("T-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])),
        access_token: Set(uuid::Uuid::new_v4().simple().to_string()),
        email: Set(email.into()),
        customer_key: Set(Email::parse(email).unwrap().customer_key()),
        status: Set(tixshop::entities::enums::OrderStatus::Paid),
        provider: Set(tixshop::entities::enums::Provider::Free),
        currency: Set(tixshop::domain::Currency::parse("EUR").unwrap().into()),
        prices_include_vat: Set(true),
        subtotal: Set(1999),
        discount_amount: Set(1999),
        net_amount: Set(0),
        vat_amount: Set(0),
        total: Set(0),
        refunded_amount: Set(0),
        promo_code_id: Set(Some(promo_code_id)),
        promo_code: Set(Some(code.code.clone())),
        over_cap: Set(false),
        via_link: Set(false),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
}

/// The year after the current one (UTC): for dates that must lie in the future.
pub fn next_year() -> i32 {
    use chrono::Datelike;
    chrono::Utc::now().year() + 1
}

/// The id of the account's live promo code `code`, through the admin API.
pub async fn promo_code_id(app: &TestApp, code: &str) -> i64 {
    let body = app.gql_admin("query($c: String!) { promoCode(code: $c) { id } }", json!({ "c": code })).await;
    body["data"]["promoCode"]["id"].as_str().unwrap_or_else(|| panic!("{code}: {body}")).parse().unwrap()
}

/// Opens another shop `slug` (through the services, as the CLI does) and returns its
/// admin key: the "other account" of tenant-isolation checks.
pub async fn other_shop_key(app: &TestApp, slug: &str) -> String {
    use tixshop::domain::account::NewAccount;
    use tixshop::domain::api_key::{KeyName, Scope};
    use tixshop::services::audit::Actor;
    let shop = tixshop::services::accounts::create(
        &app.db,
        &Actor::cli(),
        &NewAccount::parse(slug, "Rival", "EUR", "19", true).unwrap(),
    )
    .await
    .unwrap();
    tixshop::services::api_keys::create(
        &app.db,
        &Actor::cli(),
        shop.id,
        &KeyName::parse("rival").unwrap(),
        Scope::Admin,
    )
    .await
    .unwrap()
    .secret
}
