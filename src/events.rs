//! Cart events: a signal per cart that something about it changed.
//!
//! Subscribers treat an event as "re-read and reprice", never as data, so a lagging
//! receiver loses nothing that matters. Channels live in shards keyed by cart id (no
//! global lock on the hot path) and are dropped when their last subscriber leaves.
//! In-process only: several instances would relay these through PostgreSQL
//! LISTEN/NOTIFY (not built yet).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

const SHARDS: usize = 64;
/// Pending signals per subscriber; more are coalesced (a lagged receiver re-reads once).
const CAPACITY: usize = 4;

/// The per-cart channels.
#[derive(Debug)]
pub struct CartEvents {
    shards: Vec<Mutex<HashMap<i64, broadcast::Sender<()>>>>,
}

impl Default for CartEvents {
    fn default() -> Self {
        CartEvents { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }
}

impl CartEvents {
    fn shard(&self, cart_id: i64) -> &Mutex<HashMap<i64, broadcast::Sender<()>>> {
        &self.shards[cart_id.rem_euclid(SHARDS as i64) as usize]
    }

    /// Signals every subscriber of `cart_id`; a no-op when nobody listens.
    pub fn publish(&self, cart_id: i64) {
        let shard = self.shard(cart_id).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = shard.get(&cart_id) {
            let _ = sender.send(());
        }
    }

    /// Signals several carts.
    pub fn publish_all(&self, cart_ids: impl IntoIterator<Item = i64>) {
        for id in cart_ids {
            self.publish(id);
        }
    }

    /// Starts listening to `cart_id`.
    pub fn subscribe(self: &Arc<Self>, cart_id: i64) -> CartSubscription {
        let mut shard = self.shard(cart_id).lock().unwrap_or_else(|e| e.into_inner());
        let receiver = shard.entry(cart_id).or_insert_with(|| broadcast::channel(CAPACITY).0).subscribe();
        CartSubscription { events: self.clone(), cart_id, receiver: Some(receiver) }
    }

    /// Carts with at least one subscriber (for tests and metrics).
    pub fn subscribed_carts(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len()).sum()
    }
}

/// One subscriber of one cart; leaving drops the channel when it was the last.
#[derive(Debug)]
pub struct CartSubscription {
    events: Arc<CartEvents>,
    cart_id: i64,
    receiver: Option<broadcast::Receiver<()>>,
}

impl CartSubscription {
    /// Waits for the next signal. Lagging counts as a signal: the state is re-read anyway.
    pub async fn changed(&mut self) {
        let receiver = self.receiver.as_mut().expect("present until drop");
        match receiver.recv().await {
            Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            // The sender lives as long as a subscription does: never closed while we hold one.
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

impl Drop for CartSubscription {
    fn drop(&mut self) {
        let mut shard = self.events.shard(self.cart_id).lock().unwrap_or_else(|e| e.into_inner());
        drop(self.receiver.take());
        if shard.get(&self.cart_id).is_some_and(|s| s.receiver_count() == 0) {
            shard.remove(&self.cart_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn signals_reach_only_their_cart_and_channels_are_cleaned_up() {
        let events = Arc::new(CartEvents::default());
        let mut a = events.subscribe(1);
        let mut b = events.subscribe(2);
        events.publish(1);
        tokio::time::timeout(Duration::from_secs(1), a.changed()).await.expect("cart 1 signalled");
        assert!(tokio::time::timeout(Duration::from_millis(50), b.changed()).await.is_err(), "cart 2 untouched");
        assert_eq!(events.subscribed_carts(), 2);
        drop(a);
        drop(b);
        assert_eq!(events.subscribed_carts(), 0);
        events.publish(1); // nobody listens: fine
    }

    #[tokio::test]
    async fn many_signals_coalesce_for_a_slow_subscriber() {
        let events = Arc::new(CartEvents::default());
        let mut s = events.subscribe(7);
        for _ in 0..100 {
            events.publish(7);
        }
        tokio::time::timeout(Duration::from_secs(1), s.changed()).await.expect("lag is a signal");
    }
}
