//! Building and running the application: what `serve` does and what tests start.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::config::{PENDING_ORDER_MINUTES, ServeConfig};
use crate::db::{self, DbSetupError};
use crate::http::{self, AppState};
use crate::services::api_keys::CreatedKey;
use crate::services::{ServiceError, demo};

/// How often pending orders past their time are expired: a held ticket comes free at
/// most this long after its order's time is up.
const EXPIRY_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How often failure windows that are over are deleted (the table keeps only keys that
/// failed within the last window, plus at most this long).
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// How often expired cookie sessions are deleted: they are never read once expired, so
/// this bounds only how long their rows linger.
const SESSION_CLEANUP_EVERY: Duration = Duration::from_secs(60 * 60);

/// Why the server could not start. Each is one clear line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Database connection or migration.
    #[error(transparent)]
    Database(#[from] DbSetupError),
    /// Seeding the demo shop failed.
    #[error("seeding the demo shop failed: {0:?}")]
    Seed(ServiceError),
    /// A setting out of its range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A server, built and bound, not yet serving.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
    demo_admin_key: Option<CreatedKey>,
    statements: db::StatementCounter,
}

impl Application {
    /// Connects to the database, migrates it, seeds the demo shop if asked and the
    /// database is empty, and binds the listener (port 0 picks a free one).
    pub async fn build(config: ServeConfig) -> Result<Self, StartupError> {
        if !PENDING_ORDER_MINUTES.contains(&config.pending_order_minutes) {
            return Err(StartupError::Config(format!(
                "TIXSHOP_PENDING_ORDER_MINUTES must be between {} and {}",
                PENDING_ORDER_MINUTES.start(),
                PENDING_ORDER_MINUTES.end()
            )));
        }
        let statements = db::StatementCounter::default();
        let db = db::connect_counting(&config.database, &statements).await?;
        db::migrate(&db).await?;
        let demo_admin_key =
            if config.seeds_demo() { demo::seed_if_empty(&db).await.map_err(StartupError::Seed)? } else { None };
        let listener =
            TcpListener::bind(config.bind).await.map_err(|source| StartupError::Bind { addr: config.bind, source })?;
        let address = listener.local_addr().map_err(|source| StartupError::Bind { addr: config.bind, source })?;
        if config.test_payments == Some(true) && config.mode != crate::config::Mode::Demo {
            return Err(StartupError::Config("TIXSHOP_TEST_PAYMENTS is for demo mode only".into()));
        }
        let mut config = config;
        let test_mode = config.test_payments().then(|| {
            // The server calls itself: over loopback when it listens on every interface.
            let own = if address.ip().is_unspecified() {
                SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), address.port())
            } else {
                address
            };
            let secret = format!("whsec_{}", uuid::Uuid::new_v4().simple());
            let mode = crate::payments::test_mode::TestMode::new(format!("http://{own}/"), secret.clone());
            config.stripe_secret_key = Some(crate::payments::test_mode::SECRET_KEY.into());
            config.stripe_webhook_secret = Some(secret);
            config.stripe_api_base = url::Url::parse(&mode.api_base()).expect("a loopback URL");
            std::sync::Arc::new(mode)
        });
        let kept = db::Kept::new(
            &db,
            config.database.db_max_connections,
            Duration::from_secs(config.database.db_connect_timeout_secs),
            db::kept::MAX_LIFETIME,
            if config.database.cart_synchronous_commit {
                db::kept::Commits::Durable
            } else {
                db::kept::Commits::Asynchronous
            },
            statements.clone(),
        );
        let state = AppState::new(db, kept, config, test_mode).map_err(|e| StartupError::Config(e.to_string()))?;
        Ok(Application { listener, address, state, demo_admin_key, statements })
    }

    /// The address actually bound.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The demo shop's admin key, when this start seeded it.
    pub fn demo_admin_key(&self) -> Option<&CreatedKey> {
        self.demo_admin_key.as_ref()
    }

    /// SQL statements run so far (tests count them; benchmarks report them).
    pub fn statements(&self) -> db::StatementCounter {
        self.statements.clone()
    }

    /// The connection pool (tests use it to arrange data).
    pub fn db(&self) -> &DatabaseConnection {
        &self.state.db
    }

    /// The cart statements' kept connections (tests check how they are set up).
    pub fn kept(&self) -> &db::Kept {
        &self.state.kept
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        // Pending orders past their time stop holding a place under codes' caps.
        let sweeper = crate::services::checkout::spawn_expiry(
            self.state.db.clone(),
            self.state.providers.clone(),
            EXPIRY_SWEEP_EVERY,
        );
        let dispatcher =
            self.state.config.webhook_dispatch.then(|| {
                crate::services::webhooks::spawn_dispatcher(self.state.db.clone(), self.state.config.webhooks())
            });
        // Cart signals between instances, on PostgreSQL.
        let relay = crate::db::is_postgres(&self.state.db).then(|| {
            crate::events::spawn_pg_relay(
                self.state.events.clone(),
                self.state.kept.clone(),
                self.state.config.database.database_url.clone(),
            )
        });
        // Failure windows that are over are deleted, so the table stays small.
        let limits = crate::rate_limit::spawn_pruning(self.state.limiter.clone(), PRUNE_EVERY);
        // Expired cookie sessions are deleted now and then.
        let sessions = {
            use tower_sessions::session_store::ExpiredDeletion;
            let store = crate::session_store::DbSessionStore::new(self.state.db.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(SESSION_CLEANUP_EVERY);
                loop {
                    tick.tick().await;
                    if let Err(e) = store.delete_expired().await {
                        tracing::warn!(error = %e, "deleting expired sessions failed");
                    }
                }
            })
        };
        let app = http::router(self.state);
        let served = axum::serve(self.listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
        sweeper.abort();
        limits.abort();
        sessions.abort();
        if let Some((sender, listener)) = relay {
            sender.abort();
            listener.abort();
        }
        if let Some(dispatcher) = dispatcher {
            dispatcher.abort();
        }
        served
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received, finishing in-flight requests");
}
