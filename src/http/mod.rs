//! The HTTP edge: router, GraphQL over HTTP and WebSocket, health checks.

pub mod auth;
pub mod capture;
pub mod dashboard;
pub mod graphql;
pub mod health;
pub mod input;
pub mod partners;
pub mod reports;
pub mod rest;
pub mod rest_campaigns;
pub mod rest_catalog;
pub mod storefront;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::config::{Mode, ServeConfig};
use crate::events::CartEvents;
use crate::graphql::{self as gql, AppSchema, Caller, Limits};
use crate::payments::Providers;
use crate::payments::paypal::PaypalClient;
use crate::payments::stripe::StripeClient;
use crate::rate_limit::RateLimiter;
use crate::services::checkout::CheckoutSettings;

/// How long browsers may cache a CORS preflight answer.
const CORS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// How long a storefront session lives without a request: a buyer who comes back within
/// a month still has the code their link captured.
const SESSION_IDLE_LIFETIME: tower_sessions::cookie::time::Duration = tower_sessions::cookie::time::Duration::days(30);

/// What every handler shares. Cheap to clone: all of it is reference-counted.
#[derive(Clone)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// Connections kept between statements for the buyers' cart statements.
    pub kept: crate::db::Kept,
    /// The settings the server started with.
    pub config: Arc<ServeConfig>,
    /// Per-cart change signals.
    pub events: Arc<CartEvents>,
    /// The configured payment providers.
    pub providers: Arc<Providers>,
    /// Failed promo code attempts (typed codes and `?promo=` links alike).
    pub limiter: Arc<RateLimiter>,
    /// Test-mode payments (demo mode without Stripe keys), when on.
    pub test_mode: Option<Arc<crate::payments::test_mode::TestMode>>,
    /// Schema with introspection and suggestions: for key holders, or everyone in demo mode.
    open_schema: AppSchema,
    /// Schema without them: for anonymous callers in production mode.
    closed_schema: AppSchema,
}

impl AppState {
    /// Builds the state and both schemas; fails when a provider cannot be set up from
    /// the configuration.
    pub fn new(
        db: DatabaseConnection,
        kept: crate::db::Kept,
        config: ServeConfig,
        test_mode: Option<Arc<crate::payments::test_mode::TestMode>>,
    ) -> Result<Self, crate::payments::ProviderError> {
        let limits = Limits { max_depth: config.max_query_depth, max_complexity: config.max_query_complexity };
        let events = Arc::new(CartEvents::default());
        let mut providers = Providers::default();
        let timeout = config.provider_timeout();
        if let Some(key) = &config.stripe_secret_key {
            providers.stripe = Some(Arc::new(StripeClient::new(&config.stripe_api_base, key, timeout)?));
        }
        if let (Some(id), Some(secret)) = (&config.paypal_client_id, &config.paypal_client_secret) {
            providers.paypal = Some(Arc::new(PaypalClient::new(
                config.paypal_api_base.clone(),
                id.clone(),
                secret.clone(),
                config.paypal_webhook_id.clone(),
                timeout,
            )));
        }
        providers.test_mode = test_mode.is_some();
        let providers = Arc::new(providers);
        let checkout = CheckoutSettings { pending_ttl: chrono::Duration::minutes(config.pending_order_minutes.into()) };
        let extras =
            gql::Extras { events: events.clone(), providers: providers.clone(), checkout, webhooks: config.webhooks() };
        let limiter =
            Arc::new(RateLimiter::new(db.clone(), config.promo_attempts_per_minute, config.promo_attempt_window()));
        let open_schema = gql::build(db.clone(), kept.clone(), extras.clone(), limiter.clone(), limits, true);
        let closed_schema = match config.mode {
            Mode::Demo => open_schema.clone(),
            Mode::Production => gql::build(db.clone(), kept.clone(), extras, limiter.clone(), limits, false),
        };
        Ok(AppState {
            db,
            kept,
            config: Arc::new(config),
            events,
            providers,
            limiter,
            test_mode,
            open_schema,
            closed_schema,
        })
    }

    /// The schema this caller is served from.
    pub fn schema_for(&self, caller: &Caller) -> &AppSchema {
        if caller.has_valid_key() { &self.open_schema } else { &self.closed_schema }
    }
}

/// CORS for the configured storefront origins only, with credentials (the session
/// cookie). JSON POSTs need a preflight, so no other site can send one with cookies.
fn cors(config: &ServeConfig) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderValue, Method, header};
    let origins: Vec<HeaderValue> = config
        .storefront_origins
        .iter()
        .map(|o| o.trim().trim_end_matches('/'))
        .filter(|o| !o.is_empty())
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .allow_credentials(true)
        .max_age(CORS_MAX_AGE)
}

/// The MCP tools over Streamable HTTP: stateless JSON answers, the bearer key checked on
/// every request, Host checked against this server's own names.
fn mcp_service(
    state: &AppState,
) -> rmcp::transport::streamable_http_server::StreamableHttpService<
    crate::mcp::TixMcp,
    rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
> {
    use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
    let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    hosts.push(state.config.bind.ip().to_string());
    if let Some(host) = state.config.base_url().host_str() {
        hosts.push(host.to_owned());
    }
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(hosts);
    let (db, events) = (state.db.clone(), state.events.clone());
    StreamableHttpService::new(
        move || Ok(crate::mcp::TixMcp::new(db.clone(), events.clone(), crate::mcp::KeySource::PerRequest)),
        Default::default(),
        config,
    )
}

/// `GET /metrics`: the Prometheus text format, for the configured bearer token only.
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let expected = state.config.metrics_token.as_deref().unwrap_or_default().trim();
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::bearer_token)
        .unwrap_or_default();
    // Constant-time comparison: the token guards operational data.
    let equal = presented.len() == expected.len()
        && presented.bytes().zip(expected.bytes()).fold(0_u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !equal {
        return (StatusCode::UNAUTHORIZED, "send `Authorization: Bearer <TIXSHOP_METRICS_TOKEN>`\n").into_response();
    }
    crate::observe::gauges(&state);
    match crate::observe::handle() {
        Some(handle) => {
            ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, "metrics are not available\n").into_response(),
    }
}

/// All routes with their limits.
pub fn router(state: AppState) -> Router {
    let timeout = state.config.request_timeout();
    let body_limit = state.config.max_body_bytes;
    let cross_site = state.config.cross_site_cookies;
    let secure = cross_site || state.config.base_url().scheme() == "https";
    let same_site =
        if cross_site { tower_sessions::cookie::SameSite::None } else { tower_sessions::cookie::SameSite::Lax };
    let sessions = SessionManagerLayer::new(crate::session_store::DbSessionStore::new(state.db.clone()))
        .with_name("tixshop_session")
        .with_secure(secure)
        .with_same_site(same_site)
        .with_expiry(Expiry::OnInactivity(SESSION_IDLE_LIFETIME));
    // The buyer-facing routes: sessions and `?promo=` capture.
    let mut shop = Router::new()
        .route("/graphql", get(graphql::get_handler).post(graphql::post_handler))
        .route("/graphql/ws", get(graphql::ws_handler));
    if state.config.mode == Mode::Demo {
        shop = shop.merge(storefront::routes());
    }
    let shop = shop
        .layer(middleware::from_fn_with_state(state.clone(), capture::capture))
        .layer(sessions)
        .layer(cors(&state.config));
    // The REST edge: JSON envelopes, NUL characters refused before any handler.
    let rest = Router::new()
        .route("/admin/reports/promo_codes.csv", get(reports::promo_codes_csv))
        .route("/orders/{id}/invoice.html", get(reports::invoice_html))
        .route("/partners/{token}", get(partners::share_page))
        .route("/admin/promo_batches/{id}/codes.csv", get(partners::batch_csv))
        .route("/admin/promo_batches", get(rest_campaigns::list_batches).post(rest_campaigns::create_batch))
        .route("/admin/promo_batches/{id}", get(rest_campaigns::show_batch))
        .route("/admin/promo_batches/{id}/deactivate", axum::routing::post(rest_campaigns::deactivate_batch))
        .route("/admin/partners", get(rest_campaigns::list_partners).post(rest_campaigns::create_partner))
        .route("/admin/partners/{id}", axum::routing::patch(rest_campaigns::update_partner))
        .route("/admin/partners/{id}/share_links", axum::routing::post(rest_campaigns::create_partner_link))
        .route("/admin/promo_codes/{id}/share_links", axum::routing::post(rest_campaigns::create_code_link))
        .route("/admin/share_links", get(rest_campaigns::list_links))
        .route("/admin/share_links/{id}", axum::routing::delete(rest_campaigns::revoke_link))
        .route("/admin/promo_codes", get(rest::list).post(rest::create))
        .route("/admin/promo_codes/{id}", get(rest::show).patch(rest::update).delete(rest::delete))
        .route("/admin/events", get(rest_catalog::list_events).post(rest_catalog::create_event))
        .route(
            "/admin/events/{id}",
            get(rest_catalog::show_event).patch(rest_catalog::update_event).delete(rest_catalog::delete_event),
        )
        .route("/admin/events/{id}/ticket_types", axum::routing::post(rest_catalog::create_ticket_type))
        .route(
            "/admin/ticket_types/{id}",
            axum::routing::patch(rest_catalog::update_ticket_type).delete(rest_catalog::delete_ticket_type),
        )
        .route("/admin/shop", get(rest_catalog::show_shop).patch(rest_catalog::update_shop))
        .route("/admin/audit_log", get(rest_catalog::audit_log))
        .layer(middleware::from_fn(rest::refuse_nul));
    let mut app = Router::new().merge(shop).merge(rest);
    if state.config.admin_ui() {
        app = app.merge(dashboard::routes());
    }
    app = app.nest_service("/mcp", mcp_service(&state));
    if state.config.metrics_token.as_deref().is_some_and(|t| !t.trim().is_empty()) {
        crate::observe::handle();
        app = app.route("/metrics", get(metrics));
    }
    if let Some(test_mode) = state.test_mode.clone() {
        use crate::payments::test_mode as tm;
        app = app.merge(
            Router::new()
                .route("/test-mode/stripe/v1/checkout/sessions", axum::routing::post(tm::create_session))
                .route("/test-mode/stripe/v1/checkout/sessions/{id}/expire", axum::routing::post(tm::expire_session))
                .route("/test-mode/stripe/v1/refunds", axum::routing::post(tm::refund))
                .route("/test-mode/pay/{id}", get(tm::pay_page).post(tm::pay))
                .with_state(test_mode),
        );
    }
    app.route("/webhooks/stripe", axum::routing::post(webhooks::stripe))
        .route("/webhooks/paypal", axum::routing::post(webhooks::paypal))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(middleware::from_fn(crate::observe::track_http))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
