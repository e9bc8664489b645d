//! `/metrics`: what operators scrape, behind its token, with bounded labels only.

use serde_json::json;

use crate::checkout::{cart_with, checkout, ticket_ids};
use crate::helpers::spawn_app_with;

const TOKEN: &str = "metrics-secret-for-tests";

#[tokio::test]
async fn metrics_move_with_traffic_and_no_label_is_a_code_or_an_email() {
    let app = spawn_app_with(|c| c.metrics_token = Some(TOKEN.into())).await;
    let scrape = || async {
        let response = app.http.get(format!("{}/metrics", app.address)).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    };
    let denied = app.http.get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(denied.status(), 401, "no token, no metrics");
    let wrong = app.http.get(format!("{}/metrics", app.address)).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);

    let tickets = ticket_ids(&app, "demo").await;
    let cart = cart_with(&app, "demo", &[(&tickets[0], 1)], Some("NEWS10")).await;
    let wrong_code = app
        .gql(
            "mutation($c: ID!) { applyPromo(cartId: $c, code: \"NOSUCHCODE\") { userErrors { code } } }",
            json!({ "c": cart }),
        )
        .await;
    assert_eq!(wrong_code["data"]["applyPromo"]["userErrors"][0]["code"], "UNKNOWN");
    let free = cart_with(&app, "demo", &[(&tickets[0], 1)], Some("FREEPASS")).await;
    assert_eq!(checkout(&app, &free, "metrics-buyer@example.com", "STRIPE").await["order"]["status"], "PAID");
    app.http.get(format!("{}/admin/promo_codes/1", app.address)).headers(app.admin_headers()).send().await.unwrap();

    let text = scrape().await;
    let value = |prefix: &str| -> f64 {
        text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
    };
    assert!(value("tixshop_apply_promo_total{outcome=\"applied\"}") >= 2.0, "{text}");
    assert!(value("tixshop_apply_promo_total{outcome=\"UNKNOWN\"}") >= 1.0, "{text}");
    assert!(
        value("tixshop_checkouts_total{outcome=\"paid\",provider=\"FREE\"}")
            + value("tixshop_checkouts_total{provider=\"FREE\",outcome=\"paid\"}")
            >= 1.0,
        "{text}"
    );
    assert!(text.contains("tixshop_graphql_fields_total{type=\"Mutation\",field=\"applyPromo\""), "{text}");
    assert!(text.contains("tixshop_http_requests_total{method=\"POST\",route=\"/graphql\""), "{text}");
    assert!(text.contains("route=\"/admin/promo_codes/{id}\""), "the declared route, never the id: {text}");
    assert!(text.contains("tixshop_graphql_field_duration_seconds_bucket"), "{text}");
    assert!(text.contains("tixshop_db_pool_connections "), "{text}");
    // The cart statements above ran on the kept connections, which stay open between them.
    let kept = text.lines().find_map(|l| l.strip_prefix("tixshop_db_kept_connections ")).expect("kept gauge");
    assert!(kept.trim().parse::<f64>().unwrap() >= 1.0, "{text}");
    for unbounded in ["NEWS10", "FREEPASS", "NOSUCHCODE", "metrics-buyer", "@example.com", &cart] {
        assert!(!text.contains(unbounded), "no label carries {unbounded}: {text}");
    }
}
