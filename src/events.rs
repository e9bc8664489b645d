//! Cart events: a signal per cart that something about it changed.
//!
//! Subscribers treat an event as "re-read and reprice", never as data, so a lagging
//! receiver loses nothing that matters. Channels live in shards keyed by cart id (no
//! global lock on the hot path) and are dropped when their last subscriber leaves.
//! On PostgreSQL every signal is also relayed to the other instances through
//! `NOTIFY tixshop_cart` (see [`spawn_pg_relay`]), so a buyer subscribed on one instance
//! hears a change made through another.

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
    /// Where signals go to reach other instances (set on PostgreSQL).
    relay: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<i64>>,
}

impl Default for CartEvents {
    fn default() -> Self {
        CartEvents {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            relay: std::sync::OnceLock::new(),
        }
    }
}

impl CartEvents {
    fn shard(&self, cart_id: i64) -> &Mutex<HashMap<i64, broadcast::Sender<()>>> {
        &self.shards[cart_id.rem_euclid(SHARDS as i64) as usize]
    }

    /// Signals every subscriber of `cart_id`, here and (on PostgreSQL) on the other
    /// instances.
    pub fn publish(&self, cart_id: i64) {
        if let Some(relay) = self.relay.get() {
            let _ = relay.send(cart_id);
        }
        self.publish_local(cart_id);
    }

    /// Signals this instance's subscribers only; a no-op when nobody listens.
    pub fn publish_local(&self, cart_id: i64) {
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

    /// Signals the organizer's dashboards of `account_id` that its orders or codes
    /// changed (here and on the other instances). A shop's channel is its negative id,
    /// so it rides the same channels and relay as carts (whose ids are positive).
    pub fn publish_shop(&self, account_id: i64) {
        self.publish(-account_id);
    }

    /// Starts listening to the activity of shop `account_id`.
    pub fn subscribe_shop(self: &Arc<Self>, account_id: i64) -> CartSubscription {
        self.subscribe(-account_id)
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

/// The NOTIFY channel cart signals travel on between instances.
const PG_CHANNEL: &str = "tixshop_cart";

/// Bytes of cart ids one NOTIFY carries at most (PostgreSQL allows 8000 per payload;
/// an id and its comma take at most 21 more).
const MAX_PAYLOAD: usize = 7900;

/// Relays cart signals between instances over PostgreSQL: this instance's signals are
/// sent with `pg_notify` (tagged with an instance id, so it ignores its own; signals
/// queued meanwhile share one notification), and the other instances' arrive through
/// `LISTEN` and reach the local subscribers. The listener reconnects by itself when the
/// connection drops.
pub fn spawn_pg_relay(
    events: Arc<CartEvents>,
    // One NOTIFY at a time, each on the connection the last one used (no ping between).
    db: crate::db::Kept,
    database_url: String,
) -> (tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let instance = uuid::Uuid::new_v4().simple().to_string();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<i64>();
    let _ = events.relay.set(tx);
    let me = instance.clone();
    let sender = tokio::spawn(async move {
        // Signals that queued up while the last one was sent go out together: under
        // load one NOTIFY carries many carts instead of one statement per change.
        while let Some(first) = rx.recv().await {
            let mut payload = format!("{me}:{first}");
            while payload.len() < MAX_PAYLOAD
                && let Ok(cart_id) = rx.try_recv()
            {
                payload.push(',');
                payload.push_str(&cart_id.to_string());
            }
            let notify = Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [PG_CHANNEL.into(), payload.into()],
            );
            if let Err(e) = db.execute_raw(notify).await {
                tracing::warn!(error = %e, "could not relay a cart signal to other instances");
            }
        }
    });
    let listener = tokio::spawn(async move {
        loop {
            let mut listener = match sea_orm::sqlx::postgres::PgListener::connect(&database_url).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other instances' cart signals; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen(PG_CHANNEL).await {
                tracing::warn!(error = %e, "LISTEN failed; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                continue;
            }
            loop {
                match listener.recv().await {
                    Ok(notification) => {
                        let payload = notification.payload();
                        if let Some((from, carts)) = payload.split_once(':')
                            && from != instance
                        {
                            for cart_id in carts.split(',').filter_map(|c| c.parse::<i64>().ok()) {
                                events.publish_local(cart_id);
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the LISTEN connection failed; reconnecting");
                        break;
                    }
                }
            }
        }
    });
    (sender, listener)
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
