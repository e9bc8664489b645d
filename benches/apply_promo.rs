//! Load benchmark: the buyer's apply/remove-code round trip at 64 concurrent buyers,
//! each with their own cart, against the real server on loopback. Prints throughput,
//! latency percentiles and SQL statements per applyPromo. Figures, not assertions.
//!
//!     cargo bench --bench apply_promo                      # SQLite (temporary file)
//!     TIXSHOP_BENCH_DATABASE_URL=postgres://… cargo bench --bench apply_promo
//!     TIXSHOP_BENCH_SECONDS=20 TIXSHOP_BENCH_BUYERS=64 cargo bench --bench apply_promo

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tixshop::config::ServeConfig;
use tixshop::startup::Application;

const APPLY: &str =
    "mutation($c: ID!) { applyPromo(cartId: $c, code: \"NEWS10\") { cart { total { amount } } userErrors { code } } }";
const REMOVE: &str = "mutation($c: ID!) { removePromo(cartId: $c) { cart { total { amount } } userErrors { code } } }";

async fn post(http: &reqwest::Client, url: &str, query: &str, variables: Value) -> Value {
    http.post(url).json(&json!({ "query": query, "variables": variables })).send().await.unwrap().json().await.unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("TIXSHOP_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let buyers: usize = std::env::var("TIXSHOP_BENCH_BUYERS").ok().and_then(|s| s.parse().ok()).unwrap_or(64);
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::defaults();
    config.database.database_url = std::env::var("TIXSHOP_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    config.database.db_max_connections = std::env::var("TIXSHOP_BENCH_POOL")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(config.database.db_max_connections);
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.seed_demo = Some(true);
    config.promo_attempts_per_minute = u32::MAX;
    config.webhook_dispatch = false;
    let app = Application::build(config).await.expect("the app starts");
    let url = format!("http://{}/graphql", app.address());
    let statements = app.statements();
    tokio::spawn(app.run_until(std::future::pending()));

    let http = reqwest::Client::builder().pool_max_idle_per_host(buyers).build().unwrap();
    let shop = post(&http, &url, "{ shop(slug: \"demo\") { events { ticketTypes { id } } } }", json!({})).await;
    let ticket = shop["data"]["shop"]["events"][0]["ticketTypes"][0]["id"].as_str().unwrap().to_owned();
    let mut carts = vec![];
    for _ in 0..buyers {
        let body = post(&http, &url, "mutation { createCart(shopSlug: \"demo\") { cart { id } } }", json!({})).await;
        let cart = body["data"]["createCart"]["cart"]["id"].as_str().unwrap().to_owned();
        post(&http, &url, "mutation($c: ID!, $t: ID!) { addToCart(cartId: $c, ticketTypeId: $t, quantity: 2) { userErrors { code } } }", json!({ "c": cart, "t": ticket })).await;
        carts.push(cart);
    }

    // Statements per applyPromo, measured alone.
    let before = statements.get();
    let body = post(&http, &url, APPLY, json!({ "c": carts[0] })).await;
    assert_eq!(body["data"]["applyPromo"]["userErrors"], json!([]), "{body}");
    let per_apply = statements.get() - before;
    post(&http, &url, REMOVE, json!({ "c": carts[0] })).await;

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let http = Arc::new(http);
    let tasks: Vec<_> = carts
        .into_iter()
        .map(|cart| {
            let http = http.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let mut latencies = vec![];
                while Instant::now() < deadline {
                    for query in [APPLY, REMOVE] {
                        let started = Instant::now();
                        let body = post(&http, &url, query, json!({ "c": cart })).await;
                        latencies.push(started.elapsed());
                        assert!(body["errors"].is_null(), "{body}");
                    }
                }
                latencies
            })
        })
        .collect();
    let started = Instant::now();
    let mut all = vec![];
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let round_trips = all.len() / 2;
    println!(
        "apply/remove round trips, {buyers} concurrent buyers, {seconds} s, database {}",
        if std::env::var("TIXSHOP_BENCH_DATABASE_URL").is_ok() { "PostgreSQL" } else { "SQLite" }
    );
    println!("  requests:            {} ({:.0}/s)", all.len(), all.len() as f64 / elapsed);
    println!("  round trips:         {round_trips} ({:.0}/s)", round_trips as f64 / elapsed);
    println!(
        "  latency per request: p50 {:?}  p99 {:?}  max {:?}",
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().unwrap()
    );
    println!("  SQL statements per applyPromo: {per_apply}");
    println!("  connection pool: {}", std::env::var("TIXSHOP_BENCH_POOL").unwrap_or_else(|_| "default".into()));
}
