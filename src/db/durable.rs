//! Write transactions on PostgreSQL that release their row locks before their commit
//! reaches the disk, and return only once it has.
//!
//! A checkout's transaction ends by updating rows every other checkout of the same
//! tickets or code updates too (the ticket type's counters, the code's redemptions), and
//! PostgreSQL holds those row locks until the commit's WAL record is flushed: each
//! checkout waited for the flushes of all those before it. With the flush out of the
//! locked part (`synchronous_commit = off` in the transaction, then a [`Barrier`]), the
//! 200-at-once benchmark's free and paid checkouts finished 7–17 % sooner in four runs of
//! five (p99; the payments alike; README, Benchmarks).
//!
//! The barrier is a transaction of its own that commits durably after the write
//! transaction's commit returned: `SELECT pg_logical_emit_message(true, …)` writes a WAL
//! record under a transaction id, so its commit waits for the WAL to be flushed up to
//! itself, past the earlier commit. Commits that returned while another barrier was in
//! flight share the next one. Nobody is told "done" before that: not the buyer, not the
//! payment provider (a paid checkout calls it after its order's commit). Other
//! transactions may read the rows in the moment before; whatever they write commits later
//! in the WAL, so a crash in that moment loses both, never one without the other, and a
//! durable commit of theirs flushes the rows with it (the webhook dispatcher claims a
//! delivery, durably, before it sends it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::Duration;

use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use super::StatementCounter;
use super::kept::{Commits, Kept, MAX_LIFETIME};

/// What a write transaction sends first on PostgreSQL: its commit returns before its WAL
/// record is flushed (the [`Barrier`] waits for that).
pub const ASYNCHRONOUS_COMMIT: &str = "SET LOCAL synchronous_commit = off";

/// How long the barrier waits for its connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits for the commits that returned before it to be on disk (see the module).
pub struct Barrier {
    /// One connection committing durably, its own: a barrier never queues behind the
    /// main pool's transactions.
    conn: Kept,
    /// Commits registered so far, numbered from 1 in the order they registered.
    registered: AtomicU64,
    /// The highest number a completed barrier covers; held while one runs.
    flushed: tokio::sync::Mutex<u64>,
}

impl Barrier {
    fn new(db: &DatabaseConnection) -> Self {
        Barrier {
            conn: Kept::new(db, 1, ACQUIRE_TIMEOUT, MAX_LIFETIME, Commits::Durable, StatementCounter::default()),
            registered: AtomicU64::new(0),
            flushed: tokio::sync::Mutex::new(0),
        }
    }

    /// The barrier of `db`'s pool on PostgreSQL (one per pool, made on first use, gone
    /// with the pool); `None` on SQLite, whose commits need none.
    pub fn of(db: &DatabaseConnection) -> Option<Arc<Barrier>> {
        // A pool is known by its options (its own `Arc`): held weakly, they keep their
        // address as long as the entry, and tell when the pool is gone.
        type Barriers = Vec<(Weak<PgConnectOptions>, Arc<Barrier>)>;
        static BARRIERS: LazyLock<Mutex<Barriers>> = LazyLock::new(Default::default);
        if db.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let options = db.get_postgres_connection_pool().connect_options();
        let mut barriers = BARRIERS.lock().unwrap_or_else(PoisonError::into_inner);
        // A closed pool's barrier closes its connection too.
        barriers.retain(|(pool, _)| pool.strong_count() > 0);
        if let Some((_, barrier)) = barriers.iter().find(|(pool, _)| std::ptr::eq(pool.as_ptr(), Arc::as_ptr(&options)))
        {
            return Some(barrier.clone());
        }
        let barrier = Arc::new(Barrier::new(db));
        barriers.push((Arc::downgrade(&options), barrier.clone()));
        Some(barrier)
    }

    /// Returns once every commit that returned before this call is on disk. A barrier
    /// that fails is logged: the commit stands, and PostgreSQL's WAL writer flushes it
    /// within moments unless the database crashes first.
    pub async fn wait(&self) {
        let mine = self.registered.fetch_add(1, Ordering::SeqCst) + 1;
        let mut flushed = self.flushed.lock().await;
        if *flushed >= mine {
            // A barrier that began after this commit returned has completed meanwhile.
            return;
        }
        // Every commit numbered up to here returned before this barrier begins.
        let covers = self.registered.load(Ordering::SeqCst);
        let barrier = Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_logical_emit_message(true, 'tixshop', 'durable')".to_owned(),
        );
        match self.conn.execute_raw(barrier).await {
            Ok(_) => *flushed = covers,
            Err(e) => tracing::error!(error = %e, "could not wait for a commit to reach the disk"),
        }
    }
}
