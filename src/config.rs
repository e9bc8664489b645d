//! Settings, from command-line flags or environment variables (flags win).
//!
//! Every field is documented where it is declared; `tixshop serve --help` prints the
//! same text. Secrets are never printed: [`ServeConfig`]'s `Debug` redacts them and
//! `--help` hides their environment values.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Minutes a pending order may stay payable: Stripe's own limits for a Checkout
/// Session's expiry (30 minutes to 24 hours).
pub const PENDING_ORDER_MINUTES: RangeInclusive<u32> = 30..=1440;

/// How open the server is to anonymous callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Introspection and field suggestions for everyone, the demo shop seeded into an
    /// empty database. The default, so GraphiQL works at once.
    Demo,
    /// Introspection and suggestions only for requests with a valid API key; nothing seeded.
    Production,
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// Database URL: `sqlite://FILE` (created if missing) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://tixshop.db")]
    pub database_url: String,

    /// Size of each of the two connection pools: the main one, and the one whose
    /// connections the buyers' cart statements keep between statements (`db::kept`).
    /// Default: twice this machine's cores, 4 to 32. More connections than the cores
    /// can serve only queue in the database: 200 checkouts at once finished sooner with
    /// 4 than with 16 on 2 cores (on PostgreSQL they wait for one another's lock on a
    /// ticket type's row; on SQLite for the one writer).
    #[arg(long, env = "TIXSHOP_DB_MAX_CONNECTIONS", default_value_t = default_pool_size())]
    pub db_max_connections: u32,

    /// Seconds to wait for a database connection before failing (startup included).
    #[arg(long, env = "TIXSHOP_DB_CONNECT_TIMEOUT_SECS", default_value_t = 5)]
    pub db_connect_timeout_secs: u64,

    /// On PostgreSQL, whether the buyers' cart edits (lines, code, on the kept
    /// connections) wait for the disk at commit like orders and payments do. Off by
    /// default: they commit asynchronously (`synchronous_commit = off`), so a crash of
    /// PostgreSQL itself may lose the last fraction of a second of cart edits, never an
    /// order, a payment or a counter (`db::kept::Commits`).
    #[arg(long, env = "TIXSHOP_CART_SYNCHRONOUS_COMMIT", default_value_t = false, action = clap::ArgAction::Set)]
    pub cart_synchronous_commit: bool,
}

/// The default size of each connection pool: twice the cores (4 to 32).
pub fn default_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    u32::try_from(cores * 2).unwrap_or(u32::MAX).clamp(4, 32)
}

/// Everything `tixshop serve` needs.
#[derive(Clone, Args)]
pub struct ServeConfig {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub database: DatabaseConfig,

    /// Address and port to listen on.
    #[arg(long, env = "TIXSHOP_BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    /// `demo` (open introspection, demo data) or `production`.
    #[arg(long, env = "TIXSHOP_MODE", value_enum, default_value = "demo")]
    pub mode: Mode,

    /// Seed the demo shop into an empty database [default: true in demo mode].
    #[arg(long, env = "TIXSHOP_SEED_DEMO")]
    pub seed_demo: Option<bool>,

    /// Log filter, e.g. `info` or `tixshop=debug,sqlx=warn`.
    #[arg(long, env = "TIXSHOP_LOG", default_value = "info")]
    pub log: String,

    /// The URL buyers reach this server at, used in links handed to payment providers
    /// [default: http://BIND].
    #[arg(long, env = "TIXSHOP_PUBLIC_BASE_URL")]
    pub public_base_url: Option<url::Url>,

    /// Storefront origins, comma-separated (e.g. `https://shop.example.com`): allowed to
    /// open GraphQL WebSockets and to call `/graphql` from the browser (CORS, with
    /// cookies). The public base URL is always allowed.
    #[arg(long, env = "TIXSHOP_STOREFRONT_ORIGINS", value_delimiter = ',')]
    pub storefront_origins: Vec<String>,

    /// Send the session cookie with `SameSite=None; Secure`, for storefronts served from
    /// another site than this server (needs HTTPS).
    #[arg(long, env = "TIXSHOP_CROSS_SITE_COOKIES", default_value_t = false)]
    pub cross_site_cookies: bool,

    /// Deepest field nesting a GraphQL operation may have; deeper ones are refused
    /// before anything executes.
    #[arg(long, env = "TIXSHOP_MAX_QUERY_DEPTH", default_value_t = 12)]
    pub max_query_depth: usize,

    /// Highest complexity (roughly: number of fields selected) a GraphQL operation may
    /// have; larger ones are refused before anything executes.
    #[arg(long, env = "TIXSHOP_MAX_QUERY_COMPLEXITY", default_value_t = 500)]
    pub max_query_complexity: usize,

    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "TIXSHOP_MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,

    /// Seconds a request may take before it is answered 408.
    #[arg(long, env = "TIXSHOP_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Failed promo code attempts (typed codes, `?promo=` links, per-customer refusals)
    /// allowed per window, per session and per client address. Only failures count: a
    /// valid code is never refused because others share the address.
    #[arg(long, env = "TIXSHOP_PROMO_ATTEMPTS_PER_MINUTE", default_value_t = 10)]
    pub promo_attempts_per_minute: u32,

    /// Length of the failed-attempt window in seconds (a minute unless testing).
    #[arg(long, env = "TIXSHOP_PROMO_ATTEMPT_WINDOW_SECS", default_value_t = 60)]
    pub promo_attempt_window_secs: u64,

    /// Shop whose codes a `?promo=` link on a route without a shop in its path refers to.
    #[arg(long, env = "TIXSHOP_DEFAULT_SHOP", default_value = "demo")]
    pub default_shop: String,

    /// Take the client address from the last `X-Forwarded-For` entry, the one the proxy
    /// appended (earlier entries are the client's own claims). Only behind a proxy that
    /// appends it.
    #[arg(long, env = "TIXSHOP_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// Minutes a pending (unpaid) order and its Stripe session stay payable, 30–1440
    /// (Stripe's own limits for a Checkout Session).
    #[arg(long, env = "TIXSHOP_PENDING_ORDER_MINUTES", default_value_t = 30)]
    pub pending_order_minutes: u32,

    /// Seconds to wait for a payment provider's answer before giving up (nothing is
    /// charged then, and the cart stays as it was).
    #[arg(long, env = "TIXSHOP_PROVIDER_TIMEOUT_SECS", default_value_t = 20)]
    pub provider_timeout_secs: u64,

    /// Allow webhook endpoints on private, loopback and link-local addresses (refused by
    /// default: they could reach internal services or cloud metadata).
    #[arg(long, env = "TIXSHOP_WEBHOOK_ALLOW_PRIVATE", default_value_t = false)]
    pub webhook_allow_private: bool,

    /// Milliseconds before the first webhook retry; each further retry waits twice as long.
    #[arg(long, env = "TIXSHOP_WEBHOOK_RETRY_BASE_MS", default_value_t = 5_000)]
    pub webhook_retry_base_ms: u64,

    /// Webhook attempts before a delivery is given up (15 ≈ 24 h with the default base).
    #[arg(long, env = "TIXSHOP_WEBHOOK_MAX_ATTEMPTS", default_value_t = 15)]
    pub webhook_max_attempts: i32,

    /// Run the webhook dispatcher in this instance.
    #[arg(long, env = "TIXSHOP_WEBHOOK_DISPATCH", default_value_t = true, action = clap::ArgAction::Set)]
    pub webhook_dispatch: bool,

    /// Bearer token for `GET /metrics` (Prometheus text format); unset: no metrics route.
    #[arg(long, env = "TIXSHOP_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Log format: `text` (default) or `json` (one object per line).
    #[arg(long, env = "TIXSHOP_LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    /// Serve the organizer's dashboard at `/admin/` [default: true in demo mode]. It is a
    /// client of the public API and signs in with an API key.
    #[arg(long, env = "TIXSHOP_ADMIN_UI", action = clap::ArgAction::Set)]
    pub admin_ui: Option<bool>,

    /// Test-mode payments: the server stands in for Stripe (hosted page at
    /// `/test-mode/pay/…`, signed webhooks to itself), so a demo purchase needs no
    /// account. Demo mode only [default: true in demo mode without STRIPE_SECRET_KEY].
    #[arg(long, env = "TIXSHOP_TEST_PAYMENTS", action = clap::ArgAction::Set)]
    pub test_payments: Option<bool>,

    /// Stripe secret API key (`sk_…`).
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,

    /// Stripe webhook signing secret (`whsec_…`).
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,

    /// Stripe API base URL (tests point it at a fake).
    #[arg(long, env = "STRIPE_API_BASE", default_value = "https://api.stripe.com")]
    pub stripe_api_base: url::Url,

    /// PayPal REST client id.
    #[arg(long, env = "PAYPAL_CLIENT_ID")]
    pub paypal_client_id: Option<String>,

    /// PayPal REST client secret.
    #[arg(long, env = "PAYPAL_CLIENT_SECRET", hide_env_values = true)]
    pub paypal_client_secret: Option<String>,

    /// The id PayPal gave the webhook registered for this server (for verification).
    #[arg(long, env = "PAYPAL_WEBHOOK_ID")]
    pub paypal_webhook_id: Option<String>,

    /// PayPal API base URL (sandbox by default; tests point it at a fake).
    #[arg(long, env = "PAYPAL_API_BASE", default_value = "https://api-m.sandbox.paypal.com")]
    pub paypal_api_base: url::Url,
}

impl ServeConfig {
    /// The settings from environment variables alone (what a bare `tixshop` runs with).
    pub fn defaults_from_env() -> Self {
        Self::defaults()
    }

    /// The defaults, overridden by any environment variables set (tests start from this
    /// and override what they need).
    pub fn defaults() -> Self {
        use clap::{FromArgMatches, Parser};
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: ServeConfig,
        }
        let matches =
            <Wrapper as clap::CommandFactory>::command().no_binary_name(true).get_matches_from(Vec::<String>::new());
        Wrapper::from_arg_matches(&matches).expect("defaults parse").config
    }

    /// Whether `/admin/` serves the dashboard.
    pub fn admin_ui(&self) -> bool {
        self.admin_ui.unwrap_or(self.mode == Mode::Demo)
    }

    /// Whether the server plays Stripe itself (see `test_payments`).
    pub fn test_payments(&self) -> bool {
        self.mode == Mode::Demo && self.test_payments.unwrap_or(self.stripe_secret_key.is_none())
    }

    /// Whether to seed the demo shop into an empty database.
    pub fn seeds_demo(&self) -> bool {
        self.seed_demo.unwrap_or(self.mode == Mode::Demo)
    }

    /// The public base URL, defaulting to the bind address.
    pub fn base_url(&self) -> url::Url {
        self.public_base_url
            .clone()
            .unwrap_or_else(|| url::Url::parse(&format!("http://{}", self.bind)).expect("a socket address makes a URL"))
    }

    /// The webhook settings.
    pub fn webhooks(&self) -> crate::services::webhooks::WebhookSettings {
        crate::services::webhooks::WebhookSettings {
            allow_private: self.webhook_allow_private,
            retry_base: Duration::from_millis(self.webhook_retry_base_ms),
            max_attempts: self.webhook_max_attempts.max(1),
            poll: Duration::from_millis(500),
        }
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// How long to wait for a payment provider.
    pub fn provider_timeout(&self) -> Duration {
        Duration::from_secs(self.provider_timeout_secs)
    }

    /// The failed-attempt window; at least a second, so a window always exists.
    pub fn promo_attempt_window(&self) -> Duration {
        Duration::from_secs(self.promo_attempt_window_secs.max(1))
    }
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("ServeConfig")
            .field("database", &self.database)
            .field("bind", &self.bind)
            .field("mode", &self.mode)
            .field("seed_demo", &self.seed_demo)
            .field("public_base_url", &self.public_base_url)
            .field("storefront_origins", &self.storefront_origins)
            .field("cross_site_cookies", &self.cross_site_cookies)
            .field("max_query_depth", &self.max_query_depth)
            .field("max_query_complexity", &self.max_query_complexity)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("promo_attempts_per_minute", &self.promo_attempts_per_minute)
            .field("promo_attempt_window_secs", &self.promo_attempt_window_secs)
            .field("default_shop", &self.default_shop)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("pending_order_minutes", &self.pending_order_minutes)
            .field("provider_timeout_secs", &self.provider_timeout_secs)
            .field("webhook_allow_private", &self.webhook_allow_private)
            .field("webhook_retry_base_ms", &self.webhook_retry_base_ms)
            .field("webhook_max_attempts", &self.webhook_max_attempts)
            .field("webhook_dispatch", &self.webhook_dispatch)
            .field("metrics_token", &redact(&self.metrics_token))
            .field("log_format", &self.log_format)
            .field("admin_ui", &self.admin_ui)
            .field("test_payments", &self.test_payments)
            .field("stripe_secret_key", &redact(&self.stripe_secret_key))
            .field("stripe_webhook_secret", &redact(&self.stripe_webhook_secret))
            .field("stripe_api_base", &self.stripe_api_base.as_str())
            .field("paypal_client_id", &self.paypal_client_id)
            .field("paypal_client_secret", &redact(&self.paypal_client_secret))
            .field("paypal_webhook_id", &self.paypal_webhook_id)
            .field("paypal_api_base", &self.paypal_api_base.as_str())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let mut config = ServeConfig::defaults();
        config.stripe_secret_key = Some("sk_live_very_secret".into());
        config.paypal_client_secret = Some("pp-secret".into());
        let printed = format!("{config:?}");
        assert!(!printed.contains("very_secret"));
        assert!(!printed.contains("pp-secret"));
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = ServeConfig::defaults();
        assert_eq!(config.database.database_url, "sqlite://tixshop.db");
        assert_eq!(config.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(config.mode, Mode::Demo);
        assert!(config.seeds_demo());
    }
}
