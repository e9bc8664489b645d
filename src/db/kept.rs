//! Connections kept between statements: the buyers' hot path without sqlx's release ping.
//!
//! sea-orm takes a connection from sqlx's pool for every statement outside a transaction
//! and gives it back after, and sqlx pings every connection it is given back: a round trip
//! to PostgreSQL, a hop to the connection's worker thread and back on SQLite. On
//! `applyPromo` / `removePromo` (one or two statements each) those pings were a third of
//! the round trips; the load benchmark without them ran 13–20 % more requests on SQLite
//! and 15–55 % more on PostgreSQL (README, Benchmarks).
//!
//! [`Kept`] runs statements on connections of a pool of its own and, after a statement
//! that completed, keeps the connection for the next statement instead of giving it
//! back. A statement that did not complete (an error, or its future dropped because the
//! client went away) gives its connection back to sqlx, whose ping is then the check it
//! exists for: a connection left mid-statement is closed, not reused. A connection kept
//! idle for [`PING_AFTER_IDLE`] is pinged before its next statement, as the main pool
//! does, and one older than its maximum lifetime ([`MAX_LIFETIME`] in the server) is
//! closed and replaced, as the main pool's are.
//!
//! On PostgreSQL these connections commit asynchronously by default ([`Commits`]): what
//! they write is the buyers' drafts (a cart's lines, its code), and a commit that waits
//! for its WAL record to reach the disk left the two cores idle 11–15 % of the load
//! benchmark (README, Benchmarks). Orders, payments and every counter are written on the
//! main pool, durably.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sea_orm::sea_query::Values;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::Postgres;
use sea_orm::sqlx::sqlite::Sqlite;
use sea_orm::sqlx::{self, Connection as _, PgPool, SqlitePool};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Semaphore;

use super::StatementCounter;

/// How long a kept connection may sit unused before it is pinged first.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(30);

/// How long the server keeps a connection before it is closed and replaced (sqlx's
/// default for the main pool): a database's failover or a changed setting reaches every
/// connection within this time.
pub const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// How the kept connections' transactions commit on PostgreSQL (SQLite's are alike
/// either way: `synchronous = NORMAL` in WAL mode, the main pool's setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commits {
    /// A commit returns once its WAL record is on disk (PostgreSQL's default).
    Durable,
    /// `synchronous_commit = off`: a commit returns before its WAL record is flushed,
    /// which PostgreSQL's WAL writer does within 3 × `wal_writer_delay` (600 ms by
    /// default). A crash of PostgreSQL or of its machine (not of tixshop) can lose cart
    /// edits of that last moment, never corrupt anything; and a durable commit that
    /// comes later (a checkout reading the cart) flushes the WAL up to itself, so what it
    /// read is on disk with it.
    Asynchronous,
}

/// Statements on connections kept from one statement to the next (see the module).
/// Cheap to clone: clones share the connections.
#[derive(Clone)]
pub struct Kept(Arc<Inner>);

struct Inner {
    pool: Pool,
    /// Connections between statements, the most recently used last.
    idle: Mutex<Vec<Idle>>,
    /// One per connection of `pool`: a statement holds one while it runs, so it never
    /// waits in sqlx's pool for a connection that sits in `idle`.
    permits: Semaphore,
    acquire_timeout: Duration,
    max_lifetime: Duration,
    counter: StatementCounter,
}

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

struct Idle {
    conn: Conn,
    /// When it was taken from sqlx's pool (it was opened no later).
    born: Instant,
    since: Instant,
}

/// `body` on the connection inside `conn`, bound to `c`, whichever backend it is (the
/// same code, typed per backend).
macro_rules! on {
    ($conn:expr, $c:pat => $body:expr) => {
        match $conn {
            Conn::Sqlite($c) => $body,
            Conn::Postgres($c) => $body,
        }
    };
}

/// The statement's SQL and values as sqlx's query.
macro_rules! query {
    ($stmt:expr) => {
        sqlx::query_with(
            sqlx::AssertSqlSafe($stmt.sql.as_str()),
            SqlxValues($stmt.values.clone().unwrap_or(Values(Vec::new()))),
        )
    };
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (open, idle) = self.usage();
        f.debug_struct("Kept").field("open", &open).field("idle", &idle).finish()
    }
}

impl Kept {
    /// A pool of up to `size` connections opened like `db`'s (same URL, same SQLite
    /// settings), lazily, each replaced after `max_lifetime` (the server:
    /// [`MAX_LIFETIME`]), committing as `commits` says on PostgreSQL; its statements are
    /// counted in `counter`.
    pub fn new(
        db: &DatabaseConnection,
        size: u32,
        acquire_timeout: Duration,
        max_lifetime: Duration,
        commits: Commits,
        counter: StatementCounter,
    ) -> Self {
        let size = size.max(1);
        let pool = match db.get_database_backend() {
            DbBackend::Postgres => {
                let main = db.get_postgres_connection_pool();
                let mut options = (*main.connect_options()).clone();
                if commits == Commits::Asynchronous {
                    // Sent with the connection's start-up, so every connection has it.
                    options = options.options([("synchronous_commit", "off")]);
                }
                Pool::Postgres(pool_like(options, size, acquire_timeout, max_lifetime))
            }
            _ => {
                let main = db.get_sqlite_connection_pool();
                Pool::Sqlite(pool_like((*main.connect_options()).clone(), size, acquire_timeout, max_lifetime))
            }
        };
        Kept(Arc::new(Inner {
            pool,
            idle: Mutex::new(Vec::with_capacity(size as usize)),
            permits: Semaphore::new(size as usize),
            acquire_timeout,
            max_lifetime,
            counter,
        }))
    }

    /// Connections: (open, idle between statements).
    pub fn usage(&self) -> (u32, usize) {
        let open = match &self.0.pool {
            Pool::Sqlite(p) => p.size(),
            Pool::Postgres(p) => p.size(),
        };
        (open, self.0.idle.lock().unwrap_or_else(PoisonError::into_inner).len())
    }

    /// Runs `work` on a connection, keeping the connection afterwards if it succeeded.
    async fn with<T>(
        &self,
        stmt: &str,
        failed: fn(RuntimeErr) -> DbErr,
        work: impl AsyncFnOnce(&mut Conn) -> Result<T, sqlx::Error>,
    ) -> Result<T, DbErr> {
        let inner = &self.0;
        let _permit = tokio::time::timeout(inner.acquire_timeout, inner.permits.acquire())
            .await
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))?;
        let (mut conn, born) = self.take().await?;
        inner.counter.record(stmt);
        let result = work(&mut conn).await;
        // Dropped instead (here on an error or past its lifetime, or with this future),
        // the connection goes back to sqlx, which pings it and closes it if the statement
        // left it unusable, and closes it past its lifetime.
        if result.is_ok() && born.elapsed() < inner.max_lifetime {
            let idle = Idle { conn, born, since: Instant::now() };
            inner.idle.lock().unwrap_or_else(PoisonError::into_inner).push(idle);
        }
        result.map_err(|e| failed(RuntimeErr::SqlxError(Arc::new(e))))
    }

    /// An idle connection (pinged first if idle long) and when it was taken from sqlx's
    /// pool, or a new one. The caller holds a permit, so the pool has room for a new one.
    async fn take(&self) -> Result<(Conn, Instant), DbErr> {
        loop {
            let idle = self.0.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let Some(Idle { mut conn, born, since }) = idle else { break };
            if born.elapsed() >= self.0.max_lifetime {
                // Given back, sqlx closes it: past the pool's lifetime too.
                drop(conn);
                continue;
            }
            if since.elapsed() < PING_AFTER_IDLE {
                return Ok((conn, born));
            }
            match on!(&mut conn, c => c.ping().await) {
                Ok(()) => return Ok((conn, born)),
                // Gone (a restart, a proxy's timeout): close it without ceremony, try the next.
                Err(_) => on!(conn, mut c => c.close_on_drop()),
            }
        }
        let acquired = match &self.0.pool {
            Pool::Sqlite(p) => p.acquire().await.map(Conn::Sqlite),
            Pool::Postgres(p) => p.acquire().await.map(Conn::Postgres),
        };
        let born = Instant::now();
        acquired.map(|conn| (conn, born)).map_err(|e| match e {
            sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
            e => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))),
        })
    }
}

/// A lazily opened pool of up to `size` connections opened with `options`. Nothing goes
/// back to it but a connection to check or close, and it pings none it hands out
/// (`Kept::take` pings one that sat idle long).
fn pool_like<DB: sqlx::Database>(
    options: <DB::Connection as sqlx::Connection>::Options,
    size: u32,
    acquire_timeout: Duration,
    max_lifetime: Duration,
) -> sqlx::Pool<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(size)
        .max_lifetime(max_lifetime)
        .min_connections(0)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(false)
        .connect_lazy_with(options)
}

#[async_trait::async_trait]
impl ConnectionTrait for Kept {
    fn get_database_backend(&self) -> DbBackend {
        match self.0.pool {
            Pool::Sqlite(_) => DbBackend::Sqlite,
            Pool::Postgres(_) => DbBackend::Postgres,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.with(
            &stmt.sql,
            DbErr::Exec,
            async |conn| on!(conn, c => query!(stmt).execute(&mut **c).await.map(ExecResult::from)),
        )
        .await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        use sqlx::Executor as _;
        self.with(
            sql,
            DbErr::Exec,
            async |conn| on!(conn, c => c.execute(sqlx::AssertSqlSafe(sql.to_owned())).await.map(ExecResult::from)),
        )
        .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.with(
            &stmt.sql,
            DbErr::Query,
            async |conn| on!(conn, c => query!(stmt).fetch_optional(&mut **c).await.map(|r| r.map(QueryResult::from))),
        )
        .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.with(&stmt.sql, DbErr::Query, async |conn| {
            on!(conn, c => query!(stmt).fetch_all(&mut **c).await.map(|rows| rows.into_iter().map(QueryResult::from).collect()))
        })
        .await
    }
}
