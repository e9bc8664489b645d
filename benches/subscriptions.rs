//! Subscriptions benchmark: the real `tixshop` binary in its own process (default
//! settings) and this process holding N open `cartUpdated` subscriptions, one WebSocket
//! and one cart (2 × Standing, NEWS10 applied) each, as N browsers would. Prints the
//! server's resident memory per open subscription, the latency of a single cart's push,
//! and how long an organizer's edit of the code takes to reach every cart. Every push is
//! checked (its total); wrong answers are counted. Figures, not assertions.
//!
//!     cargo bench --bench subscriptions                        # SQLite, 10,000 subscriptions
//!     TIXSHOP_BENCH_SUBSCRIPTIONS=2000 cargo bench --bench subscriptions
//!     TIXSHOP_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/bench cargo bench --bench subscriptions
//!
//! Both processes hold one socket per subscription: the open-files limit (`ulimit -n`)
//! must allow N plus a few hundred.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use common::{percentile, post, post_as};

/// 2 × 19.99 with NEWS10 at 10 %, then at 20 % after the organizer's edit.
const WITH_NEWS10: &str = "35.98";
const AFTER_EDIT: &str = "31.98";
/// Carts whose single push is timed.
const SAMPLED: usize = 200;

/// What one subscription has received: how many pushes, the last total, when.
type Seen = (u64, String, Instant);

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// A cart of 2 × Standing with NEWS10 applied; its id.
async fn cart(http: &reqwest::Client, url: &str, standing: &str) -> String {
    let made = post(http, url, "mutation { createCart(shopSlug: \"demo\") { cart { id } } }", json!({})).await.unwrap();
    let id = made["data"]["createCart"]["cart"]["id"].as_str().expect("a cart").to_owned();
    post(
        http,
        url,
        "mutation($c: ID!, $t: ID!) { addToCart(cartId: $c, ticketTypeId: $t, quantity: 2) { userErrors { code } } }",
        json!({ "c": id, "t": standing }),
    )
    .await
    .unwrap();
    let applied = post(
        http,
        url,
        "mutation($c: ID!) { applyPromo(cartId: $c, code: \"NEWS10\") { cart { total { amount } } userErrors { code } } }",
        json!({ "c": id }),
    )
    .await
    .unwrap();
    assert_eq!(applied["data"]["applyPromo"]["cart"]["total"]["amount"], WITH_NEWS10, "{applied}");
    id
}

/// Opens a subscription to `cart` and keeps reading it in a task that publishes what
/// arrived; returns once the first push (the cart now) is in.
async fn subscribe(ws_url: &str, cart: String, wrong: Arc<AtomicU64>) -> watch::Receiver<Seen> {
    let mut request = ws_url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    // Small client buffers too: this process holds as many sockets as the server.
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .expect("a WebSocket (is `ulimit -n` high enough?)");
    socket.send(Message::Text(json!({ "type": "connection_init", "payload": {} }).to_string().into())).await.unwrap();
    let subscribe = json!({
        "id": "1",
        "type": "subscribe",
        "payload": { "query": "subscription($c: ID!) { cartUpdated(cartId: $c) { total { amount } } }", "variables": { "c": cart } },
    });
    if std::env::var("TIXSHOP_BENCH_SOCKETS_ONLY").is_ok() {
        // Diagnostics: what an acknowledged socket without a subscription costs.
        while let Some(Ok(message)) = socket.next().await {
            if message.to_text().is_ok_and(|t| t.contains("connection_ack")) {
                break;
            }
        }
        tokio::spawn(async move { while let Some(Ok(_)) = socket.next().await {} });
        return watch::channel((1, WITH_NEWS10.to_owned(), Instant::now())).1;
    }
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    let (tx, mut rx) = watch::channel((0, String::new(), Instant::now()));
    tokio::spawn(async move {
        let mut count = 0;
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else { continue };
            let value: Value = serde_json::from_str(&text).unwrap_or_default();
            match value["type"].as_str() {
                Some("next") => {
                    count += 1;
                    let total = value["payload"]["data"]["cartUpdated"]["total"]["amount"].as_str().unwrap_or("");
                    if total.is_empty() {
                        wrong.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = tx.send((count, total.to_owned(), Instant::now()));
                }
                Some("connection_ack") | Some("ping") | Some("pong") => {}
                _ => {
                    wrong.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    rx.wait_for(|(count, _, _)| *count >= 1).await.expect("the first push");
    if rx.borrow().1 != WITH_NEWS10 {
        panic!("first push total {}, expected {WITH_NEWS10}", rx.borrow().1);
    }
    rx
}

#[tokio::main]
async fn main() {
    let subscriptions: usize = env("TIXSHOP_BENCH_SUBSCRIPTIONS", 10_000);
    let server = common::start_server().await;
    let url = format!("{}/graphql", server.base);
    let ws_url = format!("{}/graphql/ws", server.base.replace("http://", "ws://"));
    let http = reqwest::Client::new();
    let shop =
        post(&http, &url, "{ shop(slug: \"demo\") { events { ticketTypes { id } } } }", json!({})).await.unwrap();
    let standing = shop["data"]["shop"]["events"][0]["ticketTypes"][0]["id"].as_str().unwrap().to_owned();

    // The carts, 32 being made at a time.
    let made = Instant::now();
    let carts: Vec<String> = futures_util::stream::iter(0..subscriptions)
        .map(|_| {
            let (http, url, standing) = (http.clone(), url.clone(), standing.clone());
            async move { cart(&http, &url, &standing).await }
        })
        .buffered(32)
        .collect()
        .await;
    println!("{subscriptions} carts made in {:.1} s", made.elapsed().as_secs_f64());

    // Memory with everything warmed up but no subscription open.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib();
    let wrong = Arc::new(AtomicU64::new(0));
    let opened = Instant::now();
    let receivers: Vec<watch::Receiver<Seen>> = futures_util::stream::iter(carts.clone())
        .map(|cart| {
            let (ws_url, wrong) = (ws_url.clone(), wrong.clone());
            async move { subscribe(&ws_url, cart, wrong).await }
        })
        .buffered(64)
        .collect()
        .await;
    let open_for = opened.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib();
    let per = (after.saturating_sub(before)) as f64 / subscriptions as f64;
    println!(
        "subscriptions, {}, {subscriptions} open (opened in {:.1} s): server RSS {} MiB -> {} MiB = {per:.1} KiB per subscription",
        server.backend,
        open_for.as_secs_f64(),
        before / 1024,
        after / 1024,
    );
    if std::env::var("TIXSHOP_BENCH_SOCKETS_ONLY").is_ok() {
        server.stop().await;
        return;
    }

    // One cart's push: the buyer sets an email (total unchanged), the push is timed.
    let admin = reqwest::Client::new();
    let mut single = vec![];
    for (n, (cart, rx)) in carts.iter().zip(&receivers).take(SAMPLED).enumerate() {
        let mut rx = rx.clone();
        let count = rx.borrow().0;
        let sent = Instant::now();
        let answer = post(
            &http,
            &url,
            "mutation($c: ID!, $e: String!) { setCartEmail(cartId: $c, email: $e) { userErrors { code } } }",
            json!({ "c": cart, "e": format!("buyer{n}@example.com") }),
        )
        .await
        .unwrap();
        if answer["data"]["setCartEmail"]["userErrors"] != json!([]) {
            wrong.fetch_add(1, Ordering::Relaxed);
        }
        let seen = rx.wait_for(|(c, _, _)| *c > count).await.expect("a push").clone();
        if seen.1 != WITH_NEWS10 {
            wrong.fetch_add(1, Ordering::Relaxed);
        }
        single.push(seen.2.duration_since(sent));
    }
    single.sort_unstable();

    // The organizer edits the code: every cart is repriced and pushed.
    let key = Some(server.admin_key.as_str());
    let id = post_as(&admin, &url, key, "{ promoCode(code: \"NEWS10\") { id } }", json!({})).await.unwrap();
    let code_id = id["data"]["promoCode"]["id"].as_str().expect("the admin key works").to_owned();
    let edited = Instant::now();
    let answer = post_as(
        &admin,
        &url,
        key,
        "mutation($id: ID!) { updatePromoCode(id: $id, input: { percentOff: \"20\" }) { userErrors { code } } }",
        json!({ "id": code_id }),
    )
    .await
    .unwrap();
    assert_eq!(answer["data"]["updatePromoCode"]["userErrors"], json!([]), "{answer}");
    let answered = edited.elapsed();
    let mut last = Duration::ZERO;
    for rx in &receivers {
        let mut rx = rx.clone();
        let seen = tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|(_, total, _)| total == AFTER_EDIT))
            .await
            .expect("every cart pushed within a minute")
            .expect("a push")
            .clone();
        last = last.max(seen.2.duration_since(edited));
    }

    println!(
        "single-cart push ({SAMPLED} carts): p50 {:.1} ms, p99 {:.1} ms; organizer edit answered in {:.0} ms, all {subscriptions} carts pushed after {:.0} ms; wrong answers {}",
        percentile(&single, 0.5).as_secs_f64() * 1e3,
        percentile(&single, 0.99).as_secs_f64() * 1e3,
        answered.as_secs_f64() * 1e3,
        last.as_secs_f64() * 1e3,
        wrong.load(Ordering::Relaxed),
    );
    server.stop().await;
}
