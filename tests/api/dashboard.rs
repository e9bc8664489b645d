//! The organizer's dashboard, live: `shopActivity` over WebSocket.

use serde_json::{Value, json};

use crate::checkout::{cart_with, checkout, ticket_ids};
use crate::helpers::spawn_app;

const ACTIVITY: &str = "subscription { shopActivity { at promoCodes { code redemptionsCount remaining status } } }";

fn code<'a>(payload: &'a Value, code: &str) -> &'a Value {
    payload["data"]["shopActivity"]["promoCodes"]
        .as_array()
        .unwrap_or_else(|| panic!("codes in {payload}"))
        .iter()
        .find(|c| c["code"] == code)
        .unwrap_or_else(|| panic!("{code} in {payload}"))
}

#[tokio::test]
async fn shop_activity_pushes_counters_when_orders_are_paid_and_codes_change() {
    let app = spawn_app().await;
    let mut ws = app.ws("graphql-transport-ws", &[]).await.unwrap();
    ws.init(json!({ "Authorization": format!("Bearer {}", app.admin_key) })).await;
    ws.start("a", ACTIVITY, json!({})).await;
    let first = ws.next_payload().await;
    assert_eq!(code(&first, "FREEPASS")["redemptionsCount"], 0, "{first}");
    assert_eq!(code(&first, "FREEPASS")["remaining"], 100);

    // A buyer's paid order moves the counter, pushed without asking.
    let tickets = ticket_ids(&app, "demo").await;
    let cart = cart_with(&app, "demo", &[(&tickets[0], 1)], Some("FREEPASS")).await;
    assert_eq!(checkout(&app, &cart, "live@example.com", "STRIPE").await["order"]["status"], "PAID");
    let pushed = ws.next_payload().await;
    assert_eq!(code(&pushed, "FREEPASS")["redemptionsCount"], 1, "{pushed}");
    assert_eq!(code(&pushed, "FREEPASS")["remaining"], 99);

    // The organizer deactivating a code is pushed too.
    let body =
        app.gql_admin("mutation { deactivatePromoCode(code: \"ALEX15\") { userErrors { code } } }", json!({})).await;
    assert_eq!(body["data"]["deactivatePromoCode"]["userErrors"], json!([]));
    let pushed = ws.next_payload().await;
    assert_eq!(code(&pushed, "ALEX15")["status"], "INACTIVE", "{pushed}");

    // Without a key there is nothing to watch.
    let mut anonymous = app.ws("graphql-transport-ws", &[]).await.unwrap();
    anonymous.init(json!({})).await;
    anonymous.start("a", ACTIVITY, json!({})).await;
    let refused = anonymous.next_payload().await;
    assert_eq!(refused["data"], Value::Null, "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{refused}");
}
