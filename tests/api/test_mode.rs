//! Demo mode's test-mode payments: the server plays Stripe for the real Stripe client,
//! and its hosted page pays through a signed webhook to itself.

use reqwest::StatusCode;
use serde_json::json;
use tixshop::config::{Mode, ServeConfig};
use tixshop::startup::Application;

use crate::checkout::{cart_with, checkout, order_row, ticket_ids};
use crate::helpers::{fresh_database_url, spawn_app_with, test_config};

#[tokio::test]
async fn a_demo_purchase_is_paid_on_the_test_mode_page_through_the_real_stripe_path() {
    let app = spawn_app_with(|c| c.test_payments = Some(true)).await;
    let tickets = ticket_ids(&app, "demo").await;
    // 2 × Standing + 1 × Seated with NEWS10: 67.48 EUR.
    let cart = cart_with(&app, "demo", &[(&tickets[0], 2), (&tickets[1], 1)], Some("NEWS10")).await;
    let payload = checkout(&app, &cart, "ann@example.com", "STRIPE").await;
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    assert_eq!(payload["order"]["status"], "PENDING");
    assert_eq!(payload["order"]["total"]["amount"], "67.48");
    let redirect = payload["redirectUrl"].as_str().unwrap().to_owned();
    assert!(redirect.starts_with(&format!("{}/test-mode/pay/cs_test_", app.address)), "{redirect}");

    let page = app.http.get(&redirect).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("TEST MODE"), "labelled: {page}");
    // The line items exactly as the session got them: discounted price points, sum = total.
    assert!(page.contains("Standing"), "{page}");
    assert!(page.contains("id=total>67.48 EUR</td>"), "{page}");

    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let paid = no_redirects.post(&redirect).form(&[("action", "pay")]).send().await.unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    assert_eq!(paid.headers()["location"], "https://shop.example/thanks");
    let order_id = payload["order"]["id"].as_str().unwrap();
    let order = order_row(&app, order_id).await;
    assert_eq!(order.status.to_string(), "PAID", "the signed webhook made it paid");
    assert!(order.payment_ref.as_deref().is_some_and(|r| r.starts_with("pi_test_")), "{order:?}");
    // Paying twice changes nothing; the page says so.
    let again = no_redirects.post(&redirect).form(&[("action", "pay")]).send().await.unwrap();
    assert!(again.text().await.unwrap().contains("This payment is complete."));

    // A refund goes through the same client to the test-mode API.
    let refund = app
        .gql_admin(
            "mutation($o: ID!) { refundOrder(orderId: $o, amount: \"10.00\") { order { status refundedAmount { amount } } userErrors { code } } }",
            json!({ "o": order_id }),
        )
        .await;
    assert_eq!(
        refund["data"]["refundOrder"]["order"],
        json!({ "status": "PARTIALLY_REFUNDED", "refundedAmount": { "amount": "10.00" } }),
        "{refund}"
    );

    // Cancelling brings the buyer back to the cart page; the order stays payable until it expires.
    let cart = cart_with(&app, "demo", &[(&tickets[2], 1)], None).await;
    let payload = checkout(&app, &cart, "bob@example.com", "STRIPE").await;
    let redirect = payload["redirectUrl"].as_str().unwrap();
    let cancelled = no_redirects.post(redirect).form(&[("action", "cancel")]).send().await.unwrap();
    assert_eq!(cancelled.headers()["location"], "https://shop.example/cart");
}

#[tokio::test]
async fn test_mode_never_runs_in_production_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut config: ServeConfig = test_config(&fresh_database_url(&dir).await);
    config.mode = Mode::Production;
    config.seed_demo = Some(false);
    config.test_payments = None;
    let app = Application::build(config.clone()).await.expect("starts");
    let address = app.address();
    tokio::spawn(app.run_until(std::future::pending()));
    let page = reqwest::get(format!("http://{address}/test-mode/pay/cs_test_1")).await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND, "no test-mode routes in production");
    config.test_payments = Some(true);
    let refused = Application::build(config).await.err().expect("refused").to_string();
    assert!(refused.contains("demo mode only"), "{refused}");
}
