//! External load benchmark: the real `tixshop` binary (bench profile) in its own process
//! with its DEFAULT settings, and this process as the load generator. 64 buyers, each with
//! their own address, cookie session and cart of 2 × Standing, loop applyPromo NEWS10 / removePromo;
//! every answer is checked (the total, no userErrors) and any wrong answer is counted and
//! printed. Figures, not assertions.
//!
//!     cargo bench --bench load                                  # SQLite (temporary file)
//!     TIXSHOP_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/bench cargo bench --bench load
//!     TIXSHOP_BENCH_SECONDS=20 TIXSHOP_BENCH_BUYERS=64 cargo bench --bench load
//!
//! Pin the two processes apart with `taskset` for steadier figures, e.g.
//! `taskset -c 1 cargo bench --bench load` starts the server on core 1 too; the generator
//! then competes with it, as it does on a 2-core machine.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{percentile, post};

const APPLY: &str = "mutation($c: ID!) { applyPromo(cartId: $c, code: \"NEWS10\") { cart { total { amount } appliedPromo { code } } userErrors { code } } }";
const REMOVE: &str = "mutation($c: ID!) { removePromo(cartId: $c) { cart { total { amount } } userErrors { code } } }";
const READ: &str = "query($c: ID!) { cart(id: $c) { total { amount } } }";
/// 2 × 19.99 with NEWS10 (10 %): 35.98; without: 39.98.
const WITH_CODE: &str = "35.98";
const WITHOUT_CODE: &str = "39.98";

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// Whether an answer is the one expected: the cart's total and no user error.
fn checked(body: &Value, field: &str, total: &str) -> Result<(), String> {
    let payload = &body["data"][field];
    // A query answers the cart itself; a mutation a payload with the cart and its errors.
    let cart = if field == "cart" {
        payload
    } else if payload["userErrors"] != json!([]) {
        return Err(format!("{field}: userErrors {}", payload["userErrors"]));
    } else {
        &payload["cart"]
    };
    match cart["total"]["amount"].as_str() {
        Some(t) if t == total => Ok(()),
        other => Err(format!("{field}: total {other:?}, expected {total}: {body}")),
    }
}

#[tokio::main]
async fn main() {
    let seconds: u64 = env("TIXSHOP_BENCH_SECONDS", 10);
    let buyers: usize = env("TIXSHOP_BENCH_BUYERS", 64);
    let server = common::start_server().await;
    let url = format!("{}/graphql", server.base);

    // Each buyer: own client (own cookie session), own cart of 2 × Standing.
    let mut clients = vec![];
    // Each buyer comes from an address of its own (127.0.0.2, 127.0.0.3, …), as buyers on
    // their own phones do; `TIXSHOP_BENCH_ONE_ADDRESS=1` puts them all behind one (a
    // venue's Wi-Fi), where the failed-attempt limiter queues their attempts.
    let one_address = std::env::var("TIXSHOP_BENCH_ONE_ADDRESS").is_ok_and(|v| v == "1");
    for n in 0..buyers {
        let address = if one_address {
            std::net::Ipv4Addr::LOCALHOST
        } else {
            std::net::Ipv4Addr::new(127, 0, (2 + n / 250) as u8, (2 + n % 250) as u8)
        };
        let http =
            reqwest::Client::builder().cookie_store(true).local_address(std::net::IpAddr::V4(address)).build().unwrap();
        let shop = post(&http, &url, "{ shop(slug: \"demo\") { events { ticketTypes { id name } } } }", json!({}))
            .await
            .expect("the shop");
        let standing = shop["data"]["shop"]["events"][0]["ticketTypes"][0]["id"].as_str().unwrap().to_owned();
        let cart =
            post(&http, &url, "mutation { createCart(shopSlug: \"demo\") { cart { id } } }", json!({})).await.unwrap();
        let cart = cart["data"]["createCart"]["cart"]["id"].as_str().unwrap().to_owned();
        let added = post(
            &http,
            &url,
            "mutation($c: ID!, $t: ID!) { addToCart(cartId: $c, ticketTypeId: $t, quantity: 2) { cart { total { amount } } userErrors { code } } }",
            json!({ "c": cart, "t": standing }),
        )
        .await
        .unwrap();
        assert_eq!(added["data"]["addToCart"]["cart"]["total"]["amount"], WITHOUT_CODE, "{added}");
        clients.push((http, cart));
    }

    // `TIXSHOP_BENCH_MODE=read` loops a cart query instead: the floor one statement costs.
    let steps: &'static [(&str, &str, &str)] = match std::env::var("TIXSHOP_BENCH_MODE").as_deref() {
        Ok("read") => &[(READ, "cart", WITHOUT_CODE)],
        Ok("remove") => &[(REMOVE, "removePromo", WITHOUT_CODE)],
        _ => &[(APPLY, "applyPromo", WITH_CODE), (REMOVE, "removePromo", WITHOUT_CODE)],
    };
    let wrong = Arc::new(AtomicU64::new(0));
    let first_wrong = Arc::new(std::sync::Mutex::new(None::<String>));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let cpu_before = server.cpu_time();
    let split = common::CpuSplit::start(&server);
    let mut tasks = vec![];
    for (http, cart) in clients {
        let (url, wrong, first_wrong) = (url.clone(), wrong.clone(), first_wrong.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            while Instant::now() < deadline {
                for (query, field, total) in steps {
                    let sent = Instant::now();
                    let outcome =
                        post(&http, &url, query, json!({ "c": cart })).await.and_then(|b| checked(&b, field, total));
                    latencies.push(sent.elapsed());
                    if let Err(e) = outcome {
                        wrong.fetch_add(1, Ordering::Relaxed);
                        first_wrong.lock().unwrap().get_or_insert(e);
                    }
                }
            }
            latencies
        }));
    }
    let mut all: Vec<Duration> = vec![];
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let server_cpu = server.cpu_time() - cpu_before;
    let split = split.finish(&server);
    all.sort_unstable();
    let backend = server.backend;
    let addresses = if one_address { "one address" } else { "an address each" };
    println!(
        "load, {backend}, {buyers} buyers ({addresses}), default settings, external generator: {} requests in {elapsed:.1} s = {:.0} requests/s; p50 {:.1} ms, p99 {:.1} ms; server CPU {:.0} µs per request ({split}); wrong answers {}",
        all.len(),
        all.len() as f64 / elapsed,
        percentile(&all, 0.50).as_secs_f64() * 1e3,
        percentile(&all, 0.99).as_secs_f64() * 1e3,
        server_cpu.as_secs_f64() * 1e6 / all.len().max(1) as f64,
        wrong.load(Ordering::Relaxed),
    );
    if let Some(e) = first_wrong.lock().unwrap().take() {
        println!("first wrong answer: {e}");
    }
}
