//! Use cases over the database: each public function is one unit of work, and every
//! state change is one transaction. Services translate between `entities` rows and
//! `domain` values; the GraphQL, REST and CLI edges call only these.

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod batch;
pub mod capacity;
pub mod capture;
pub mod carts;
pub mod checkout;
pub mod demo;
pub mod error;
pub mod events;
pub mod invoices;
pub mod orders;
pub mod partners;
pub mod payment_events;
pub mod promo_batches;
pub mod promo_codes;
pub mod reports;
pub mod ticket_types;
pub mod webhooks;

pub use error::{ServiceError, ServiceResult, UserError, UserErrorCode};

/// The current time, truncated to microseconds so that values read back from either
/// database compare equal to the ones written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}

/// `text` with LIKE's wildcards escaped (`\` the escape character), to match it literally.
pub(crate) fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// A failure that is ours, not the caller's (a template or CSV writer failing): logged
/// by the edge with its cause chain, shown as "internal error".
pub(crate) fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!(e.to_string()))
}

/// Begins a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: it takes the
/// write lock up front, where a deferred transaction that read first would fail with
/// SQLITE_BUSY when another connection committed in between. PostgreSQL ignores the
/// option. Inside a transaction it opens a savepoint.
///
/// SQLite has one writer at a time, and a connection waiting for the lock sleeps in
/// growing steps (1, 2, 5, … 100 ms) before it tries again: 200 buyers checking out at
/// once waited mostly in those sleeps. So the writers of one process take turns first,
/// in arrival order, on the database file's [`WriterTurns`]; the lock is then free or
/// held only briefly by a single-statement write, and the busy timeout covers other
/// processes.
pub async fn begin_write(db: &impl Writable) -> Result<WriteTxn, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions};
    let turn = writer_turn(db).await?;
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTxn { txn, _turn: turn })
}

/// The writer turn of `db`'s SQLite file (`None` where there are none, see
/// [`Writable`]), for a write of one statement that needs no transaction around it: it
/// then waits for no other writer's lock, as [`begin_write`]'s transactions do not, and
/// costs no `BEGIN` and `COMMIT`. Held until dropped.
pub async fn writer_turn(db: &impl Writable) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, sea_orm::DbErr> {
    let Some(turns) = db.writer_turns() else { return Ok(None) };
    // As long as SQLite's busy timeout, and failing like it: a writer that never gets its
    // turn (one that waits for itself) errs instead of hanging.
    match tokio::time::timeout(WRITER_TURN_WAIT, turns.acquire_owned()).await {
        Ok(Ok(turn)) => Ok(Some(turn)),
        Ok(Err(e)) => Err(sea_orm::DbErr::Custom(e.to_string())),
        Err(_) => Err(sea_orm::DbErr::Custom("database is locked: no writer turn within the busy timeout".into())),
    }
}

/// How long a writer waits for its turn: SQLite's busy timeout (see `db::connect`).
const WRITER_TURN_WAIT: std::time::Duration = crate::db::SQLITE_BUSY_TIMEOUT;

/// One writer at a time per SQLite file in this process, first come first served.
pub type WriterTurns = std::sync::Arc<tokio::sync::Semaphore>;

/// What [`begin_write`] opens a transaction on.
pub trait Writable: sea_orm::TransactionTrait<Transaction = sea_orm::DatabaseTransaction> + Sync {
    /// The turns its writers take: the file's on a SQLite pool, none on PostgreSQL (row
    /// locks) or inside a transaction (which holds the lock already).
    fn writer_turns(&self) -> Option<WriterTurns>;
}

impl Writable for sea_orm::DatabaseConnection {
    fn writer_turns(&self) -> Option<WriterTurns> {
        use std::collections::HashMap;
        use std::sync::{LazyLock, Mutex};
        static TURNS: LazyLock<Mutex<HashMap<std::path::PathBuf, WriterTurns>>> = LazyLock::new(Default::default);
        if self.get_database_backend() != sea_orm::DbBackend::Sqlite {
            return None;
        }
        let file = self.get_sqlite_connection_pool().connect_options().get_filename().to_path_buf();
        let mut turns = TURNS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(turns.entry(file).or_insert_with(|| std::sync::Arc::new(tokio::sync::Semaphore::new(1))).clone())
    }
}

impl Writable for sea_orm::DatabaseTransaction {
    fn writer_turns(&self) -> Option<WriterTurns> {
        None
    }
}

/// A transaction from [`begin_write`], holding its writer turn until it commits, rolls
/// back or is dropped. Use it like the [`sea_orm::DatabaseTransaction`] it derefs to.
pub struct WriteTxn {
    txn: sea_orm::DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl WriteTxn {
    /// Commits, then gives the turn to the next writer.
    pub async fn commit(self) -> Result<(), sea_orm::DbErr> {
        self.txn.commit().await
    }

    /// Rolls back, then gives the turn to the next writer.
    pub async fn rollback(self) -> Result<(), sea_orm::DbErr> {
        self.txn.rollback().await
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = sea_orm::DatabaseTransaction;

    fn deref(&self) -> &Self::Target {
        &self.txn
    }
}

#[async_trait::async_trait]
impl sea_orm::ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> sea_orm::DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: sea_orm::Statement) -> Result<sea_orm::ExecResult, sea_orm::DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, sea_orm::DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: sea_orm::Statement) -> Result<Option<sea_orm::QueryResult>, sea_orm::DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: sea_orm::Statement) -> Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}
