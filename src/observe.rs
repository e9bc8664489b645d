//! What operators watch: counters, gauges and histograms in the Prometheus text format at
//! `GET /metrics` (behind `TIXSHOP_METRICS_TOKEN`).
//!
//! Every label value comes from a closed set: the route as declared (`/admin/promo_codes/{id}`,
//! never the id), the GraphQL root field (never the client's operation name), an error code,
//! a provider, an outcome. No promo code, email, cart id or other unbounded value is ever a
//! label.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets (seconds): from half a millisecond to ten seconds.
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use (once per process: tests start many
/// servers in one).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            match PrometheusBuilder::new().set_buckets(LATENCY_BUCKETS).and_then(|b| b.install_recorder()) {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Middleware: `tixshop_http_requests_total{method,route,status}` and
/// `tixshop_http_request_duration_seconds{method,route}`.
pub async fn track_http(request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("tixshop_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("tixshop_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// A GraphQL root field ran: `tixshop_graphql_fields_total{type,field}` and its duration.
pub fn graphql_root_field(parent: &str, field: &str, seconds: f64, failed: bool) {
    let outcome = if failed { "error" } else { "ok" };
    metrics::counter!("tixshop_graphql_fields_total", "type" => parent.to_owned(), "field" => field.to_owned(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("tixshop_graphql_field_duration_seconds", "type" => parent.to_owned(), "field" => field.to_owned())
        .record(seconds);
}

/// An `applyPromo` ended: `applied`, or the user error's code (`UNKNOWN`, `RATE_LIMITED`, …).
pub fn apply_promo(outcome: &'static str) {
    metrics::counter!("tixshop_apply_promo_total", "outcome" => outcome).increment(1);
}

/// A checkout ended: by provider and outcome (`paid`, `redirect`, or the error code).
pub fn checkout(provider: &'static str, outcome: &'static str) {
    metrics::counter!("tixshop_checkouts_total", "provider" => provider, "outcome" => outcome).increment(1);
}

/// A `cartUpdated` push was sent.
pub fn push_sent() {
    metrics::counter!("tixshop_cart_pushes_total").increment(1);
}

/// A webhook delivery attempt ended: `delivered`, `retry` or `failed`.
pub fn webhook_attempt(outcome: &'static str) {
    metrics::counter!("tixshop_webhook_attempts_total", "outcome" => outcome).increment(1);
}

/// Gauges read at scrape time: carts with subscribers, pool connections.
pub fn gauges(state: &crate::http::AppState) {
    metrics::gauge!("tixshop_cart_channels_open").set(state.events.subscribed_carts() as f64);
    let (size, idle) = crate::db::pool_usage(&state.db);
    metrics::gauge!("tixshop_db_pool_connections").set(f64::from(size));
    metrics::gauge!("tixshop_db_pool_connections_idle").set(idle as f64);
    let (size, idle) = state.kept.usage();
    metrics::gauge!("tixshop_db_kept_connections").set(f64::from(size));
    metrics::gauge!("tixshop_db_kept_connections_idle").set(idle as f64);
}

/// The async-graphql extension timing root fields (the schema bounds their names).
pub struct RootFieldMetrics;

impl async_graphql::extensions::ExtensionFactory for RootFieldMetrics {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(RootFieldMetricsExtension)
    }
}

struct RootFieldMetricsExtension;

/// The operation's name for its span: what the client called it, when that is a plain
/// GraphQL name of at most 64 characters; `anonymous` otherwise.
fn span_operation_name(name: Option<&str>) -> &str {
    match name {
        Some(n) if !n.is_empty() && n.len() <= 64 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => n,
        _ => "anonymous",
    }
}

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for RootFieldMetricsExtension {
    /// One `graphql` span per operation (INFO), with its name: the context of whatever is
    /// logged while it runs, and one line with its time when it closes.
    async fn execute(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: async_graphql::extensions::NextExecute<'_>,
    ) -> async_graphql::Response {
        use tracing::Instrument;
        let span = tracing::info_span!("graphql", operation = span_operation_name(operation_name));
        next.run(ctx, operation_name).instrument(span).await
    }

    async fn resolve(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        info: async_graphql::extensions::ResolveInfo<'_>,
        next: async_graphql::extensions::NextResolve<'_>,
    ) -> async_graphql::ServerResult<Option<async_graphql::Value>> {
        if info.path_node.parent.is_some() {
            return next.run(ctx, info).await;
        }
        use tracing::Instrument;
        let (parent, field) = (info.parent_type.to_owned(), info.name.to_owned());
        // A root field is one service call (DEBUG): `Mutation.applyPromo`.
        let span = tracing::debug_span!("service", call = %format_args!("{parent}.{field}"));
        let started = Instant::now();
        let result = next.run(ctx, info).instrument(span).await;
        graphql_root_field(&parent, &field, started.elapsed().as_secs_f64(), result.is_err());
        result
    }
}
