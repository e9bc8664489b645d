//! Opening the database: SQLite (WAL, sized pool, busy timeout) or PostgreSQL.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

use crate::config::DatabaseConfig;

pub mod batch;
pub mod kept;

pub use kept::Kept;

/// Why the database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    /// The URL's scheme is neither SQLite nor PostgreSQL, or it does not parse.
    #[error("unsupported database URL `{0}`: expected sqlite://FILE or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// Connecting failed.
    #[error("cannot connect to the database at {url}: {cause}{hint}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// sea-orm's error (not a `source`: its own chain repeats the same words).
        cause: DbErr,
        /// What to check, when the error suggests it.
        hint: &'static str,
    },
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(DbErr),
}

/// Counts SQL statements run through a connection (tests and benchmarks read it) and
/// keeps the last few for diagnostics.
#[derive(Debug, Clone, Default)]
pub struct StatementCounter(
    std::sync::Arc<std::sync::atomic::AtomicU64>,
    std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
);

impl StatementCounter {
    /// Statements so far.
    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts `sql` (its first 120 characters kept).
    pub fn record(&self, sql: &str) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut recent) = self.1.lock() {
            if recent.len() == 64 {
                recent.pop_front();
            }
            recent.push_back(sql.chars().take(120).collect());
        }
    }

    /// The last (up to 64) statements, oldest first.
    pub fn recent(&self) -> Vec<String> {
        self.1.lock().map(|r| r.iter().cloned().collect()).unwrap_or_default()
    }
}

/// Connects and counts every statement in `counter`.
pub async fn connect_counting(
    config: &DatabaseConfig,
    counter: &StatementCounter,
) -> Result<DatabaseConnection, DbSetupError> {
    let mut db = connect(config).await?;
    let counter = counter.clone();
    db.set_metric_callback(move |info| counter.record(&info.statement.sql));
    Ok(db)
}

/// How long a SQLite writer waits for the lock before it fails.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a pooled connection may sit idle before it is pinged when taken out.
const POOL_PING_AFTER_IDLE: Duration = Duration::from_secs(30);

/// Connects with pool and SQLite settings tuned for this service.
pub async fn connect(config: &DatabaseConfig) -> Result<DatabaseConnection, DbSetupError> {
    let url = normalize_url(&config.database_url)?;
    let shown = redact_password(&url);
    let mut options = ConnectOptions::new(url.clone());
    let timeout = Duration::from_secs(config.db_connect_timeout_secs);
    options
        .max_connections(config.db_max_connections)
        .min_connections(1)
        .connect_timeout(timeout)
        .acquire_timeout(timeout)
        // sqlx pings a connection when it goes back to the pool and, by default, again
        // when it is taken out: two extra round trips (a worker-thread hop on SQLite)
        // around every statement. A connection handed straight back is known good; only
        // one idle long enough for a server, proxy or firewall to have dropped it is
        // pinged first.
        .test_before_acquire_if_idle_for(POOL_PING_AFTER_IDLE)
        .sqlx_logging(false)
        // WAL lets readers proceed while one writer commits; NORMAL sync is durable
        // across application crashes (not power loss of the last transaction), the usual
        // WAL trade-off. The busy timeout makes concurrent writers queue, not fail.
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
                .create_if_missing(true)
        });
    let failed = |cause: DbErr| {
        let hint = if cause.to_string().contains("timed out") {
            " (no connection within the timeout: is the server running and reachable?)"
        } else {
            ""
        };
        DbSetupError::Connect { url: shown.clone(), cause, hint }
    };
    let db = Database::connect(options).await.map_err(failed)?;
    // A pool connects lazily on some drivers: make sure the database really answers.
    db.ping().await.map_err(failed)?;
    Ok(db)
}

/// Runs every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbSetupError> {
    use migration::MigratorTrait;
    migration::Migrator::up(db, None).await.map_err(DbSetupError::Migrate)
}

/// Checks that the database answers a trivial query (for `/readyz`).
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// Whether this connection is PostgreSQL (some statements differ).
pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// Accepts `sqlite:FILE`, `sqlite://FILE`, `postgres://…` and `postgresql://…`.
fn normalize_url(raw: &str) -> Result<String, DbSetupError> {
    let raw = raw.trim();
    let unsupported = || DbSetupError::UnsupportedUrl(redact_password(raw));
    if let Some(rest) = raw.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//");
        if path.is_empty() {
            return Err(unsupported());
        }
        return Ok(format!("sqlite://{path}"));
    }
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        url::Url::parse(raw).map_err(|_| unsupported())?;
        return Ok(raw.to_owned());
    }
    Err(unsupported())
}

/// The URL with any password replaced, for messages and logs.
pub fn redact_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// Whether a statement failed on a unique index: the one database error callers turn
/// into an outcome (a duplicate code, an event seen before, a number to draw again).
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// Connections of the pool: (open, idle).
pub fn pool_usage(db: &DatabaseConnection) -> (u32, usize) {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(normalize_url("sqlite:tixshop.db").unwrap(), "sqlite://tixshop.db");
        assert_eq!(normalize_url("sqlite://tixshop.db").unwrap(), "sqlite://tixshop.db");
        assert!(normalize_url("postgres://postgres@127.0.0.1/x").is_ok());
        assert!(matches!(normalize_url("mysql://x"), Err(DbSetupError::UnsupportedUrl(_))));
        assert!(matches!(normalize_url("not a url"), Err(DbSetupError::UnsupportedUrl(_))));
        assert_eq!(redact_password("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    }
}
