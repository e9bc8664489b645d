//! Report benchmark: `promoCodeReport` and its CSV over 1,000,000 orders, seeded with
//! set-based SQL (200 codes, 10 utm sources, orders spread over a year), against the real
//! binary in its own process. Each answer is checked (the rows' order counts add up to
//! the orders seeded in the range). Figures, not assertions.
//!
//!     TIXSHOP_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/bench cargo bench --bench report
//!     TIXSHOP_BENCH_ORDERS=100000 TIXSHOP_BENCH_DATABASE_URL=… cargo bench --bench report

mod common;

use std::time::Instant;

use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

use common::{percentile, post_as};

const REPORT: &str = "query($f: DateTime!, $t: DateTime!, $g: ReportGroupBy!) { promoCodeReport(from: $f, to: $t, groupBy: $g) { orders revenue } }";

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let Ok(database) = std::env::var("TIXSHOP_BENCH_DATABASE_URL") else {
        println!("report benchmark: set TIXSHOP_BENCH_DATABASE_URL to a PostgreSQL database");
        return;
    };
    let orders: i64 = env("TIXSHOP_BENCH_ORDERS", 1_000_000);
    let server = common::start_server().await;
    let url = format!("{}/graphql", server.base);
    let db = Database::connect(&database).await.expect("the benchmark database");

    // 200 codes and a year of paid orders: order n on day n mod 365 of 2025, code n mod
    // 200, utm source n mod 10, 2 tickets, 39.98 with 4.00 off.
    let seeded = Instant::now();
    db.execute_unprepared(
        "INSERT INTO promo_codes (account_id, code, discount_type, percent_off_bp, redemptions_count, active, created_at, updated_at) \
         SELECT 1, 'BENCH' || g, 'PERCENTAGE', 1000, 0, true, now(), now() FROM generate_series(1, 200) g",
    )
    .await
    .expect("codes");
    db.execute_unprepared(&format!(
        "INSERT INTO orders (account_id, number, access_token, email, customer_key, status, provider, currency, \
         prices_include_vat, subtotal, discount_amount, net_amount, vat_amount, total, ticket_count, refunded_amount, \
         promo_code_id, promo_code, promo_discount_type, promo_percent_off_bp, over_cap, utm_source, refund_due, \
         paid_at, created_at, updated_at) \
         SELECT 1, 'B-' || n, 'bench-' || n, 'b' || n || '@example.com', 'b' || n || '@example.com', 'PAID', 'STRIPE', 'EUR', \
         true, 3998, 400, 3025, 573, 3598, 2, 0, \
         c.id, c.code, 'PERCENTAGE', 1000, false, 'source' || ((n / 200) % 10), false, \
         t, t, t \
         FROM generate_series(1, {orders}) n \
         JOIN LATERAL (SELECT timestamptz '2025-01-01 00:00:00+00' + ((n % 365) * interval '1 day') + ((n % 86400) * interval '1 second') AS t) AS at ON true \
         JOIN promo_codes c ON c.account_id = 1 AND c.code = 'BENCH' || (1 + n % 200)"
    ))
    .await
    .expect("orders");
    // What autovacuum does after such an insert, before the figures are taken: the
    // visibility map (index-only scans), the roll-up's dead row versions (one per order
    // of a single seeding statement), fresh statistics.
    db.execute_unprepared("VACUUM ANALYZE").await.expect("vacuum");
    println!("seeded {orders} orders in {:.1} s", seeded.elapsed().as_secs_f64());

    let key = Some(server.admin_key.as_str());
    let http = reqwest::Client::new();
    let ranges = [
        ("a month", "2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z"),
        ("the whole range", "2024-12-01T00:00:00Z", "2026-02-01T00:00:00Z"),
        // Nine whole months from the roll-up, six weeks of days around them from the orders.
        ("mid-February to mid-November", "2025-02-15T00:00:00Z", "2025-11-20T00:00:00Z"),
    ];
    for (name, from, to) in ranges {
        let expected: i64 = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT COUNT(*) AS n FROM orders WHERE account_id = 1 AND promo_code LIKE 'BENCH%' \
                     AND created_at >= '{from}' AND created_at < '{to}'"
                ),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        for group in ["CODE", "CODE_AND_UTM_SOURCE"] {
            let mut times = vec![];
            for _ in 0..7 {
                let sent = Instant::now();
                let body: Value =
                    post_as(&http, &url, key, REPORT, json!({ "f": from, "t": to, "g": group })).await.unwrap();
                times.push(sent.elapsed());
                let rows = body["data"]["promoCodeReport"].as_array().unwrap_or_else(|| panic!("{body}"));
                let counted: i64 = rows.iter().map(|r| r["orders"].as_i64().unwrap_or(0)).sum();
                assert_eq!(counted, expected, "orders in the report for {name}");
            }
            times.sort_unstable();
            println!(
                "promoCodeReport, {name} ({expected} orders), {group}: p50 {:.0} ms, best {:.0} ms",
                percentile(&times, 0.5).as_secs_f64() * 1e3,
                times[0].as_secs_f64() * 1e3
            );
        }
        let mut times = vec![];
        let mut rows = 0;
        for _ in 0..7 {
            let sent = Instant::now();
            let csv = http
                .get(format!(
                    "{}/admin/reports/promo_codes.csv?from={from}&to={to}&group_by=code_and_utm_source",
                    server.base
                ))
                .bearer_auth(&server.admin_key)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            times.push(sent.elapsed());
            // The orders column (5th when grouped by source) adds up to the orders seeded.
            let mut reader = csv::Reader::from_reader(csv.as_bytes());
            let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV record")).collect();
            let counted: i64 = records.iter().map(|r| r[4].parse::<i64>().expect("an order count")).sum();
            assert_eq!(counted, expected, "orders in the CSV for {name}");
            rows = records.len();
        }
        times.sort_unstable();
        println!(
            "CSV, {name}: {rows} rows, p50 {:.0} ms, best {:.0} ms",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3
        );
    }
    server.stop().await;
}
