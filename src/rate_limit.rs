//! Failed-attempt limits (promo code guessing), per key (`ip:203.0.113.9`,
//! `session:abc`), shared by every instance through the `rate_limits` table.
//!
//! Only failures count: a valid code is never refused because other buyers share the
//! address (a venue's Wi-Fi, a carrier's NAT). A key is limited once it has `limit`
//! failures in its window; then every attempt is refused, valid or not, so the limit
//! cannot be used as an oracle either.
//!
//! Concurrent attempts must not all slip past one check: an attempt whose outcome is
//! not known yet holds a place, and a key never has more attempts in flight than it has
//! failures left. Further attempts wait for a place (a successful attempt gives its
//! place back at once) instead of being refused, so many good buyers behind one
//! address are queued for milliseconds, never turned away. In-flight places are per
//! instance; with several instances a burst can overshoot by at most the number of
//! instances times the limit before the shared count stops it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};
use tokio::sync::Notify;

use crate::entities::rate_limit;

/// How long an attempt waits for a place before it is refused as limited: long enough
/// for a queue of good buyers, short enough that a stuck key answers.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// The keys a code attempt is limited under: the client's address and its session.
pub fn attempt_keys(client_ip: Option<IpAddr>, session_id: Option<&str>) -> Vec<String> {
    let mut keys = vec![];
    if let Some(ip) = client_ip {
        keys.push(format!("ip:{ip}"));
    }
    if let Some(id) = session_id {
        keys.push(format!("session:{id}"));
    }
    keys
}

/// Counts failures per key within a fixed window.
#[derive(Debug)]
pub struct RateLimiter {
    db: DatabaseConnection,
    limit: u32,
    window: Duration,
    /// Attempts under way on this instance.
    in_flight: Mutex<InFlight>,
    /// Woken whenever a place is given back.
    released: Notify,
}

/// Attempts under way, and a count of failures given back: a check that read the
/// failure counts before a failure was recorded must read them again.
#[derive(Debug, Default)]
struct InFlight {
    /// Per key; an entry exists only while its count is above 0.
    attempts: HashMap<String, u32>,
    /// Bumped whenever a failed attempt gives its place back.
    failures_seen: u64,
}

/// The failures of some keys, asked for inside another statement: one scalar subquery
/// per key, read back from the columns `rl_0`, `rl_1`, …
#[derive(Debug, Clone)]
pub struct Probe {
    keys: Vec<String>,
    window_start_after: DateTime<Utc>,
}

impl Probe {
    /// The select-list expressions, with placeholders from `placeholder(n)` numbered
    /// from `first`, and their values in order.
    pub fn columns(&self, first: usize, placeholder: impl Fn(usize) -> String) -> (String, Vec<sea_orm::Value>) {
        let mut sql = String::new();
        let mut values = vec![];
        for (i, key) in self.keys.iter().enumerate() {
            let n = first + 2 * i;
            sql.push_str(&format!(
                ", CAST((SELECT r.failures FROM rate_limits r WHERE r.key = {} AND r.window_start > {}) AS BIGINT) AS rl_{i}",
                placeholder(n),
                placeholder(n + 1)
            ));
            values.push(key.clone().into());
            values.push(self.window_start_after.into());
        }
        (sql, values)
    }

    /// The failures per key from a row selected with [`Probe::columns`].
    pub fn read(&self, row: &sea_orm::QueryResult) -> Result<HashMap<String, u32>, DbErr> {
        let mut failures = HashMap::new();
        for (i, key) in self.keys.iter().enumerate() {
            if let Some(n) = row.try_get::<Option<i64>>("", &format!("rl_{i}"))? {
                failures.insert(key.clone(), u32::try_from(n).unwrap_or(u32::MAX));
            }
        }
        Ok(failures)
    }
}

/// A place held by one attempt. Report how it went with [`Permit::failed`] or
/// [`Permit::succeeded`]; dropping it counts as a success (nothing learned).
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<RateLimiter>,
    keys: Vec<String>,
}

impl RateLimiter {
    /// At most `limit` failures per key per `window`, counted in `db`.
    pub fn new(db: DatabaseConnection, limit: u32, window: Duration) -> Self {
        RateLimiter { db, limit, window, in_flight: Mutex::new(InFlight::default()), released: Notify::new() }
    }

    fn window_start_after(&self) -> DateTime<Utc> {
        crate::services::now() - chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX)
    }

    /// What to ask the database for the failures of `keys`, to read them in a statement
    /// that reads something else too (see [`Probe`]).
    pub fn probe(&self, keys: &[String]) -> Probe {
        Probe { keys: keys.to_vec(), window_start_after: self.window_start_after() }
    }

    /// Failures per key in their current window.
    pub async fn failures(&self, keys: &[String]) -> Result<HashMap<String, u32>, DbErr> {
        let rows = rate_limit::Entity::find()
            .filter(rate_limit::Column::Key.is_in(keys.iter().cloned()))
            .filter(rate_limit::Column::WindowStart.gt(self.window_start_after()))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|r| (r.key, u32::try_from(r.failures).unwrap_or(0))).collect())
    }

    /// A place for an attempt under every key, or `None` when one of them is limited.
    /// Waits (up to a few seconds) while the keys' places are all taken by attempts
    /// whose outcome is not known yet.
    pub async fn acquire(self: &Arc<Self>, keys: &[String]) -> Result<Option<Permit>, DbErr> {
        let read = || async { Ok::<_, DbErr>((self.failures(keys).await?, ())) };
        Ok(self.acquire_with(keys, read).await?.map(|(permit, ())| permit))
    }

    /// [`RateLimiter::acquire`] where `read` gives the failures of `keys` along with what
    /// the attempt needs (one statement for both, see [`RateLimiter::probe`]); returns
    /// the place and what the latest read gave. `read` runs again when the counts it gave
    /// may be stale.
    pub async fn acquire_with<T, E, F, Fut>(
        self: &Arc<Self>,
        keys: &[String],
        read: F,
    ) -> Result<Option<(Permit, T)>, E>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(HashMap<String, u32>, T), E>>,
    {
        let deadline = tokio::time::Instant::now() + MAX_WAIT;
        // The counts as read, and the local failure tally they were read at: a wait for a
        // place re-reads them only when a failure was recorded meanwhile (waking because
        // a success gave its place back changes no count, and many waiters behind one
        // address must not each query again).
        let mut last: Option<(u64, HashMap<String, u32>, T)> = None;
        loop {
            // Registered before checking, so a release in between is not missed.
            let released = self.released.notified();
            let seen = self.lock().failures_seen;
            let (failures, value) = match last.take() {
                Some((at, failures, value)) if at == seen => (failures, value),
                _ => read().await?,
            };
            if keys.iter().any(|k| failures.get(k).copied().unwrap_or(0) >= self.limit) {
                return Ok(None);
            }
            {
                let mut in_flight = self.lock();
                // A failure was recorded while we read: the counts may be stale.
                if in_flight.failures_seen != seen {
                    continue;
                }
                let free = keys.iter().all(|k| {
                    failures.get(k).copied().unwrap_or(0) + in_flight.attempts.get(k).copied().unwrap_or(0) < self.limit
                });
                if free {
                    for key in keys {
                        *in_flight.attempts.entry(key.clone()).or_insert(0) += 1;
                    }
                    return Ok(Some((Permit { limiter: self.clone(), keys: keys.to_vec() }, value)));
                }
            }
            last = Some((seen, failures, value));
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return Ok(None);
            }
        }
    }

    /// Counts one failure under `key` in one statement: a new window when the old one
    /// is over, otherwise one more.
    async fn record_failure(&self, key: &str) -> Result<(), DbErr> {
        let at = crate::services::now();
        let stale = Expr::col((rate_limit::Entity, rate_limit::Column::WindowStart)).lte(self.window_start_after());
        rate_limit::Entity::insert(rate_limit::ActiveModel {
            key: Set(key.to_owned()),
            window_start: Set(at),
            failures: Set(1),
        })
        .on_conflict(
            OnConflict::column(rate_limit::Column::Key)
                .value(
                    rate_limit::Column::Failures,
                    Expr::case(stale.clone(), 1)
                        .finally(Expr::col((rate_limit::Entity, rate_limit::Column::Failures)).add(1)),
                )
                .value(
                    rate_limit::Column::WindowStart,
                    Expr::case(stale, at).finally(Expr::col((rate_limit::Entity, rate_limit::Column::WindowStart))),
                )
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn release(&self, keys: &[String], failed: bool) {
        let mut in_flight = self.lock();
        for key in keys {
            if let Some(count) = in_flight.attempts.get_mut(key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    in_flight.attempts.remove(key);
                }
            }
        }
        if failed {
            in_flight.failures_seen += 1;
        }
        drop(in_flight);
        self.released.notify_waiters();
    }

    /// Deletes the windows that are over; returns how many. Run periodically, so the
    /// table holds only the keys that failed within the last window.
    pub async fn prune(&self) -> Result<u64, DbErr> {
        Ok(rate_limit::Entity::delete_many()
            .filter(rate_limit::Column::WindowStart.lte(self.window_start_after()))
            .exec(&self.db)
            .await?
            .rows_affected)
    }

    /// Keys with an attempt under way on this instance (bounded by concurrency).
    #[cfg(test)]
    fn keys_in_flight(&self) -> usize {
        self.lock().attempts.len()
    }
}

impl Permit {
    /// The attempt failed: counted under every key, then the place is given back.
    pub async fn failed(mut self) -> Result<(), DbErr> {
        let keys = std::mem::take(&mut self.keys);
        let mut result = Ok(());
        for key in &keys {
            if let Err(e) = self.limiter.record_failure(key).await {
                result = Err(e);
            }
        }
        self.limiter.release(&keys, true);
        result
    }

    /// The attempt succeeded: nothing is counted.
    pub fn succeeded(self) {}
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.keys.is_empty() {
            self.limiter.release(&self.keys, false);
        }
    }
}

/// Prunes over windows every `every` until the process ends.
pub fn spawn_pruning(limiter: Arc<RateLimiter>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = limiter.prune().await {
                tracing::warn!(error = %e, "pruning rate limit windows failed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use migration::MigratorTrait;
    use sea_orm::{Database, PaginatorTrait};

    async fn limiter(limit: u32, window: Duration) -> Arc<RateLimiter> {
        // A file, not `:memory:`: every pooled connection must see the same database.
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("limits.db").display());
        let db = Database::connect(url).await.unwrap();
        migration::Migrator::up(&db, None).await.unwrap();
        // The directory must outlive the test; it is removed with the process's temp files.
        std::mem::forget(dir);
        Arc::new(RateLimiter::new(db, limit, window))
    }

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| (*k).to_owned()).collect()
    }

    #[tokio::test]
    async fn only_failures_count_and_successes_never_limit() {
        let limiter = limiter(3, Duration::from_secs(60)).await;
        let ip = keys(&["ip:1"]);
        for _ in 0..100 {
            limiter.acquire(&ip).await.unwrap().expect("successes never use up the limit").succeeded();
        }
        for _ in 0..3 {
            limiter.acquire(&ip).await.unwrap().unwrap().failed().await.unwrap();
        }
        assert!(limiter.acquire(&ip).await.unwrap().is_none(), "the 4th attempt after 3 failures");
        assert!(limiter.acquire(&keys(&["ip:2"])).await.unwrap().is_some(), "other keys are untouched");
        assert!(limiter.acquire(&keys(&["ip:2", "ip:1"])).await.unwrap().is_none(), "any limited key refuses");
        assert_eq!(limiter.keys_in_flight(), 0);
    }

    #[tokio::test]
    async fn concurrent_attempts_wait_for_a_place_instead_of_passing_a_stale_check() {
        let limiter = limiter(3, Duration::from_secs(60)).await;
        let ip = keys(&["ip:9"]);
        // Ten attempts at once that will all fail: only three may ever run.
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let limiter = limiter.clone();
                let ip = ip.clone();
                tokio::spawn(async move {
                    match limiter.acquire(&ip).await.unwrap() {
                        Some(permit) => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            permit.failed().await.unwrap();
                            true
                        }
                        None => false,
                    }
                })
            })
            .collect();
        let mut ran = 0;
        for task in tasks {
            ran += usize::from(task.await.unwrap());
        }
        assert_eq!(ran, 3);
        // Sixty-four good attempts at once behind one address: all get through.
        let shared = keys(&["ip:shared"]);
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let limiter = limiter.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let permit = limiter.acquire(&shared).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    permit.map(Permit::succeeded).is_some()
                })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap());
        }
        assert_eq!(limiter.keys_in_flight(), 0);
    }

    #[tokio::test]
    async fn entries_fall_back_after_their_window() {
        // Long enough for the writes below on a busy machine, where each is a commit.
        let window = Duration::from_secs(1);
        let past_it = window + Duration::from_millis(50);
        let limiter = limiter(2, window).await;
        for n in 0..10 {
            let key = keys(&[&format!("ip:{n}")]);
            limiter.acquire(&key).await.unwrap().unwrap().failed().await.unwrap();
        }
        assert_eq!(rate_limit::Entity::find().count(&limiter.db).await.unwrap(), 10);
        assert_eq!(limiter.prune().await.unwrap(), 0, "windows still open");
        tokio::time::sleep(past_it).await;
        assert_eq!(limiter.prune().await.unwrap(), 10);
        assert_eq!(rate_limit::Entity::find().count(&limiter.db).await.unwrap(), 0);
        assert_eq!(limiter.keys_in_flight(), 0);
        // A new window after the old one: counting starts again.
        let key = keys(&["ip:0"]);
        limiter.acquire(&key).await.unwrap().unwrap().failed().await.unwrap();
        limiter.acquire(&key).await.unwrap().unwrap().failed().await.unwrap();
        assert!(limiter.acquire(&key).await.unwrap().is_none());
        tokio::time::sleep(past_it).await;
        assert!(limiter.acquire(&key).await.unwrap().is_some(), "the window is over");
    }
}
