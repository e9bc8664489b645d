//! Checkout benchmark: the real `tixshop` binary (bench profile) in its own process with
//! its default settings, and this process as 200 buyers. Each buyer has its own address,
//! cookie session and cart of 2 tickets; then all of them check out at once.
//!
//! - free: a 100 % code (usage limit = buyers) makes the total 0, so checkout pays the
//!   order at once; every answer must be a PAID order of 0.00, and afterwards the code
//!   has exactly as many redemptions as buyers.
//! - paid: 25.00 tickets through Stripe, played by the server's test mode (the real Stripe
//!   client against the emulated API over HTTP); every answer must be a PENDING order
//!   with a payment page. Then every buyer pays at once on that page (the signed
//!   `checkout.session.completed` event goes through `/webhooks/stripe`), and every
//!   receipt must read PAID.
//!
//! Figures, not assertions:
//!
//!     cargo bench --bench checkout
//!     TIXSHOP_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/bench cargo bench --bench checkout
//!     TIXSHOP_BENCH_BUYERS=200 cargo bench --bench checkout

mod common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{CpuSplit, Profile, percentile, post, post_as};

const ADD: &str = "mutation($c: ID!, $t: ID!) { addToCart(cartId: $c, ticketTypeId: $t, quantity: 2) { cart { total { amount } } userErrors { code } } }";
const APPLY: &str = "mutation($c: ID!) { applyPromo(cartId: $c, code: \"BENCHFREE\") { cart { total { amount } } userErrors { code } } }";
const CHECKOUT: &str = "mutation($c: ID!, $e: String!, $p: PaymentProviderKind!) { checkout(cartId: $c, input: { email: $e, provider: $p, successUrl: \"https://shop.example/thanks\", cancelUrl: \"https://shop.example/cart\" }) { order { status total { amount } } redirectUrl accessToken userErrors { code message } } }";
const RECEIPT: &str = "query($t: String!) { receipt(accessToken: $t) { status total { amount } } }";

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// A buyer: own address, cookie session and cart.
struct Buyer {
    http: reqwest::Client,
    cart: String,
    email: String,
}

/// Admin mutation; panics with the answer unless it has no userErrors.
async fn admin(http: &reqwest::Client, url: &str, key: &str, query: &str, variables: Value, field: &str) -> Value {
    let body = post_as(http, url, Some(key), query, variables).await.expect("an answer");
    let payload = &body["data"][field];
    assert_eq!(payload["userErrors"], json!([]), "{field}: {body}");
    payload.clone()
}

/// `buyers` buyers, each with a cart of 2 × `ticket` (and the free code when `code`).
async fn buyers(url: &str, n: usize, ticket: &str, expected: &str, code: bool, tag: &str) -> Vec<Buyer> {
    let mut out = vec![];
    for i in 0..n {
        let address = std::net::Ipv4Addr::new(127, 1 + (i / 250) as u8, 0, (2 + i % 250) as u8);
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .local_address(std::net::IpAddr::V4(address))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let cart =
            post(&http, url, "mutation { createCart(shopSlug: \"demo\") { cart { id } } }", json!({})).await.unwrap();
        let cart = cart["data"]["createCart"]["cart"]["id"].as_str().unwrap_or_else(|| panic!("{cart}")).to_owned();
        let added = post(&http, url, ADD, json!({ "c": cart, "t": ticket })).await.unwrap();
        assert_eq!(added["data"]["addToCart"]["userErrors"], json!([]), "{added}");
        if code {
            let applied = post(&http, url, APPLY, json!({ "c": cart })).await.unwrap();
            assert_eq!(applied["data"]["applyPromo"]["userErrors"], json!([]), "{applied}");
            assert_eq!(applied["data"]["applyPromo"]["cart"]["total"]["amount"], expected, "{applied}");
        } else {
            assert_eq!(added["data"]["addToCart"]["cart"]["total"]["amount"], expected, "{added}");
        }
        out.push(Buyer { http, cart, email: format!("buyer{i}.{tag}@example.com") });
    }
    out
}

/// Runs `f` on every item at once (released together); the latencies (sorted) and the
/// answers in order.
async fn all_at_once<T, F, Fut>(items: Vec<T>, f: F) -> (Vec<Duration>, Vec<Result<Value, String>>)
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<Value, String>> + Send + 'static,
{
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(items.len()));
    let mut tasks = vec![];
    for item in items {
        let request = f(item);
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let sent = Instant::now();
            let answer = request.await;
            (sent.elapsed(), answer)
        }));
    }
    let mut times = vec![];
    let mut answers = vec![];
    for t in tasks {
        let (took, answer) = t.await.unwrap();
        times.push(took);
        answers.push(answer);
    }
    times.sort_unstable();
    (times, answers)
}

/// Every buyer's checkout at once.
async fn check_out_all(url: &str, buyers: &[Buyer]) -> (Vec<Duration>, Vec<Result<Value, String>>) {
    all_at_once(buyers.iter().collect(), |b| {
        let (http, url) = (b.http.clone(), url.to_owned());
        let variables = json!({ "c": b.cart, "e": b.email, "p": "STRIPE" });
        async move { post(&http, &url, CHECKOUT, variables).await }
    })
    .await
}

/// One phase's figures; `cpu` is the server's CPU time during it (per request, steadier
/// than the latencies on a shared machine).
fn report(what: &str, backend: &str, times: &[Duration], cpu: Duration, split: &str, wrong: usize) {
    println!(
        "{what}, {backend}, {} at once: p50 {:.0} ms, p99 {:.0} ms, slowest {:.0} ms, server CPU {:.2} ms per request ({split}); wrong answers {wrong}",
        times.len(),
        percentile(times, 0.50).as_secs_f64() * 1e3,
        percentile(times, 0.99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e3 / times.len().max(1) as f64,
    );
}

#[tokio::main]
async fn main() {
    let n: usize = env("TIXSHOP_BENCH_BUYERS", 200);
    let server = common::start_server().await;
    let url = format!("{}/graphql", server.base);
    let http = reqwest::Client::new();
    let key = server.admin_key.clone();
    let shop = post(&http, &url, "{ shop(slug: \"demo\") { events { id } } }", json!({})).await.unwrap();
    let event = shop["data"]["shop"]["events"][0]["id"].as_str().unwrap().to_owned();
    let ticket = |name: &str, price: &str| json!({ "i": { "eventId": event, "name": name, "price": price, "capacity": 100_000 } });
    const TICKET: &str = "mutation($i: CreateTicketTypeInput!) { createTicketType(input: $i) { ticketType { id } userErrors { code message } } }";
    let free_ticket =
        admin(&http, &url, &key, TICKET, ticket("Bench free", "10.00"), "createTicketType").await["ticketType"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let paid_ticket =
        admin(&http, &url, &key, TICKET, ticket("Bench paid", "25.00"), "createTicketType").await["ticketType"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let code = admin(
        &http,
        &url,
        &key,
        "mutation($i: CreatePromoCodeInput!) { createPromoCode(input: $i) { promoCode { id } userErrors { code message } } }",
        json!({ "i": { "code": "BENCHFREE", "discountType": "PERCENTAGE", "percentOff": "100", "usageLimit": n } }),
        "createPromoCode",
    )
    .await["promoCode"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Free: 2 × 10.00 with 100 % off.
    let free = buyers(&url, n, &free_ticket, "0.00", true, "free").await;
    let (cpu, profile, split) = (server.cpu_time(), Profile::start(&server, "free"), CpuSplit::start(&server));
    let (times, answers) = check_out_all(&url, &free).await;
    let cpu = server.cpu_time() - cpu;
    let split = split.finish(&server);
    profile.stop();
    let wrong = answers
        .iter()
        .filter(|a| match a {
            Ok(b) => {
                let p = &b["data"]["checkout"];
                !(p["userErrors"] == json!([])
                    && p["order"]["status"] == "PAID"
                    && p["order"]["total"]["amount"] == "0.00")
            }
            Err(_) => true,
        })
        .count();
    if let Some(Ok(b)) =
        answers.iter().find(|a| a.as_ref().map_or(true, |b| b["data"]["checkout"]["order"]["status"] != "PAID"))
    {
        println!("first wrong free answer: {b}");
    }
    report("free checkout", server.backend, &times, cpu, &split, wrong);
    let counted = post_as(
        &http,
        &url,
        Some(&key),
        "query($id: ID!) { promoCode(id: $id) { redemptionsCount } }",
        json!({ "id": code }),
    )
    .await
    .unwrap();
    let redeemed = counted["data"]["promoCode"]["redemptionsCount"].as_u64().unwrap_or(0) as usize;
    println!("BENCHFREE redemptions after the free checkouts: {redeemed} of {n} expected");

    // Paid: 2 × 25.00 through the test-mode Stripe.
    let paid = buyers(&url, n, &paid_ticket, "50.00", false, "paid").await;
    let (cpu, profile, split) = (server.cpu_time(), Profile::start(&server, "paid"), CpuSplit::start(&server));
    let (times, answers) = check_out_all(&url, &paid).await;
    let cpu = server.cpu_time() - cpu;
    let split = split.finish(&server);
    profile.stop();
    let mut pages = vec![];
    let mut wrong = 0;
    for answer in &answers {
        let p = answer.as_ref().map(|b| b["data"]["checkout"].clone()).unwrap_or(Value::Null);
        match (p["order"]["status"].as_str(), p["redirectUrl"].as_str(), p["accessToken"].as_str()) {
            (Some("PENDING"), Some(page), Some(token)) if p["userErrors"] == json!([]) => {
                pages.push((page.to_owned(), token.to_owned()))
            }
            _ => {
                if wrong == 0 {
                    println!("first wrong paid answer: {answer:?}");
                }
                wrong += 1;
            }
        }
    }
    report("paid checkout (test-mode Stripe)", server.backend, &times, cpu, &split, wrong);

    // Every buyer pays at once: the hosted page posts the signed event to the webhook.
    let paying: Vec<(reqwest::Client, String)> =
        pages.iter().zip(&paid).map(|((page, _), b)| (b.http.clone(), page.clone())).collect();
    let (cpu, profile, split) = (server.cpu_time(), Profile::start(&server, "pay"), CpuSplit::start(&server));
    let (times, answers) = all_at_once(paying, |(http, page)| async move {
        let response = http.post(&page).form(&[("action", "pay")]).send().await.map_err(|e| e.to_string())?;
        Ok(json!({ "status": response.status().as_u16() }))
    })
    .await;
    let cpu = server.cpu_time() - cpu;
    let split = split.finish(&server);
    profile.stop();
    let refused = answers.iter().filter(|a| a.as_ref().map_or(true, |b| b["status"] != 303)).count();
    let mut unpaid = 0;
    for (_, token) in &pages {
        let receipt = post(&http, &url, RECEIPT, json!({ "t": token })).await.unwrap();
        if receipt["data"]["receipt"]["status"] != "PAID" || receipt["data"]["receipt"]["total"]["amount"] != "50.00" {
            unpaid += 1;
        }
    }
    report("payment → webhook → PAID (test-mode Stripe)", server.backend, &times, cpu, &split, refused + unpaid);
    server.stop().await;
}
