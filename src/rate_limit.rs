//! Failed-attempt rate limiting (promo code guessing), in memory, per key.
//!
//! Keys are strings such as `ip:203.0.113.9` or `session:abc`. A fixed window per key;
//! shards keep contention off the hot path. Per instance: with several instances a
//! client gets the limit on each (acceptable for throttling enumeration).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SHARDS: usize = 32;
/// Above this many keys a shard drops its expired windows.
const PRUNE_AT: usize = 4_096;

/// Counts failures per key within a window.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<String, (Instant, u32)>>>,
}

impl RateLimiter {
    /// At most `limit` failures per key per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        RateLimiter {
            limit,
            window,
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, (Instant, u32)>> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    /// Whether `key` has used up its failures in the current window.
    pub fn is_limited(&self, key: &str) -> bool {
        let shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        shard.get(key).is_some_and(|(start, count)| start.elapsed() < self.window && *count >= self.limit)
    }

    /// Counts an attempt for every key at once, unless one of them is already at its
    /// limit (then nothing is counted and `false` comes back). Check and count happen
    /// under one lock per key, so concurrent attempts cannot all pass a stale check.
    /// Call [`RateLimiter::release`] when the attempt succeeded: only failures count.
    pub fn try_acquire(&self, keys: &[String]) -> bool {
        for (i, key) in keys.iter().enumerate() {
            let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
            let entry = shard.entry(key.clone()).or_insert((Instant::now(), 0));
            if entry.0.elapsed() >= self.window {
                *entry = (Instant::now(), 0);
            }
            if entry.1 >= self.limit {
                drop(shard);
                self.release(&keys[..i]);
                return false;
            }
            entry.1 += 1;
        }
        true
    }

    /// Gives back attempts counted by [`RateLimiter::try_acquire`].
    pub fn release(&self, keys: &[String]) {
        for key in keys {
            let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = shard.get_mut(key) {
                entry.1 = entry.1.saturating_sub(1);
            }
        }
    }

    /// Records one failure for `key`.
    pub fn record_failure(&self, key: &str) {
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= PRUNE_AT {
            let window = self.window;
            shard.retain(|_, (start, _)| start.elapsed() < window);
        }
        let entry = shard.entry(key.to_owned()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_within_the_window() {
        let limiter = RateLimiter::new(3, Duration::from_millis(200));
        for _ in 0..3 {
            assert!(!limiter.is_limited("ip:1"));
            limiter.record_failure("ip:1");
        }
        assert!(limiter.is_limited("ip:1"));
        assert!(!limiter.is_limited("ip:2"));
        std::thread::sleep(Duration::from_millis(250));
        assert!(!limiter.is_limited("ip:1"), "a new window");
    }

    #[test]
    fn acquire_counts_atomically_and_release_gives_back() {
        let limiter = std::sync::Arc::new(RateLimiter::new(10, Duration::from_secs(60)));
        let keys = vec!["ip:9".to_owned(), "session:s".to_owned()];
        let granted: usize = (0..8)
            .map(|_| {
                let limiter = limiter.clone();
                let keys = keys.clone();
                std::thread::spawn(move || (0..5).filter(|_| limiter.try_acquire(&keys)).count())
            })
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(granted, 10, "40 concurrent attempts, 10 granted");
        limiter.release(&keys);
        assert!(limiter.try_acquire(&keys), "a released attempt frees a place");
        assert!(!limiter.try_acquire(&["session:s".to_owned()]));
        assert!(limiter.try_acquire(&["session:other".to_owned()]));
    }
}
