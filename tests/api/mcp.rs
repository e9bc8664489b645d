//! The AI assistant's MCP server, as MCP clients use it: the real `tixshop mcp` binary
//! over stdio (rmcp's client), and `/mcp` over Streamable HTTP.

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use crate::helpers::{TestApp, next_year, spawn_app};

fn args(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("\n")
}

async fn stdio_client(app: &TestApp, key: &str) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tixshop"));
    command.arg("mcp").env("DATABASE_URL", &app.database_url).env("TIXSHOP_API_KEY", key).env("TIXSHOP_LOG", "warn");
    let transport = TokioChildProcess::new(command).expect("spawn tixshop mcp");
    ().serve(transport).await.expect("initialize")
}

async fn audit_entries(app: &TestApp, operation: &str) -> Vec<Value> {
    let body = app
        .gql_admin(
            "query($o: String!) { auditLog(filter: {operation: $o}) { edges { node { via keyName targetId } } } }",
            json!({ "o": operation }),
        )
        .await;
    body["data"]["auditLog"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

#[tokio::test]
async fn an_assistant_runs_the_three_tasks_over_stdio_and_only_previews_without_confirm() {
    let app = spawn_app().await;
    let client = stdio_client(&app, &app.admin_key).await;
    let info = client.peer_info().expect("server info");
    assert_eq!(info.server_info.as_ref().map(|i| i.name.as_str()), Some("tixshop"));

    // tools/list: described, with schemas and the right hints.
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in [
        "shop_info",
        "list_promo_codes",
        "create_promo_code",
        "deactivate_promo_code",
        "delete_promo_code",
        "promo_report",
        "list_orders",
        "list_events",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    for tool in &tools {
        assert!(tool.description.as_ref().is_some_and(|d| d.len() > 20), "{} is described", tool.name);
        assert_eq!(tool.input_schema.get("type"), Some(&json!("object")), "{} has an object schema", tool.name);
        let hints = tool.annotations.as_ref().expect("annotations");
        let read = hints.read_only_hint == Some(true);
        let reads = [
            "shop_info",
            "list_promo_codes",
            "get_promo_code",
            "promo_report",
            "list_orders",
            "list_events",
            "list_partners",
            "list_promo_batches",
        ];
        assert_eq!(read, reads.contains(&tool.name.as_ref()), "{}: readOnlyHint", tool.name);
        if ["delete_promo_code", "deactivate_promo_code"].contains(&tool.name.as_ref()) {
            assert_eq!(hints.destructive_hint, Some(true), "{}: destructiveHint", tool.name);
        }
    }
    let create = tools.iter().find(|t| t.name == "create_promo_code").unwrap();
    let october = format!("{}-10-31", next_year());
    let coming = {
        use chrono::Datelike;
        let today = chrono::Utc::now().date_naive();
        let this_year = chrono::NaiveDate::from_ymd_opt(today.year(), 10, 31).unwrap();
        if this_year > today { this_year } else { chrono::NaiveDate::from_ymd_opt(today.year() + 1, 10, 31).unwrap() }
    };
    let described = create.description.as_deref().unwrap_or_default();
    assert!(described.contains(&coming.to_string()), "the example date lies ahead: {described}");
    let schema = serde_json::to_string(&*create.input_schema).unwrap();
    assert!(
        schema.contains("PERCENTAGE") && schema.contains("FIXED_AMOUNT") && schema.contains("expires_on"),
        "{schema}"
    );

    // The shop's zone and today, to resolve "end of October".
    let shop = client.call_tool(CallToolRequestParams::new("shop_info")).await.unwrap();
    let shop = shop.structured_content.unwrap();
    assert_eq!(shop["time_zone"], "Europe/Berlin");
    let resource = client.read_resource(rmcp::model::ReadResourceRequestParams::new("tixshop://shop")).await.unwrap();
    let body = serde_json::to_value(&resource.contents[0]).unwrap();
    let as_resource: Value = serde_json::from_str(body["text"].as_str().unwrap()).unwrap();
    assert_eq!(as_resource["today"], shop["today"], "the resource says what shop_info says");

    // 1. "Create a code FALL26, 15% off, max 1 per customer, expires end of October."
    let fall = json!({ "code": "FALL26", "discount_type": "PERCENTAGE", "percent_off": "15", "max_per_customer": 1, "expires_on": october });
    let preview = client
        .call_tool(CallToolRequestParams::new("create_promo_code").with_arguments(args(fall.clone())))
        .await
        .unwrap();
    assert_ne!(preview.is_error, Some(true), "{preview:?}");
    assert!(
        text(&preview)
            .starts_with("Preview — nothing was written. This would create FALL26: 15% off, once per customer"),
        "{}",
        text(&preview)
    );
    let lookup = app.gql_admin("{ promoCode(code: \"FALL26\") { id } }", json!({})).await;
    assert!(lookup["data"]["promoCode"].is_null(), "the preview wrote nothing");
    assert!(audit_entries(&app, "createPromoCode").await.iter().all(|e| e["via"] != "MCP"));
    let mut confirmed = args(fall);
    confirmed.insert("confirm".into(), json!(true));
    let created =
        client.call_tool(CallToolRequestParams::new("create_promo_code").with_arguments(confirmed)).await.unwrap();
    let code = &created.structured_content.as_ref().unwrap()["promo_code"];
    assert_eq!(
        (code["code"].as_str(), code["discount_type"].as_str(), code["percent_off"].as_str()),
        (Some("FALL26"), Some("PERCENTAGE"), Some("15"))
    );
    assert_eq!(code["max_per_customer"], 1);
    assert_eq!(
        code["expires_at_shop_time"],
        format!("{october}T23:59:59.999+01:00"),
        "the end of 31 October in Berlin"
    );
    let entries: Vec<Value> =
        audit_entries(&app, "createPromoCode").await.into_iter().filter(|e| e["via"] == "MCP").collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["keyName"], "demo admin");

    // 2. "List my active codes."
    let listed = client
        .call_tool(CallToolRequestParams::new("list_promo_codes").with_arguments(args(json!({ "status": "ACTIVE" }))))
        .await
        .unwrap();
    let codes = listed.structured_content.unwrap()["promo_codes"].as_array().unwrap().clone();
    let fall = codes.iter().find(|c| c["code"] == "FALL26").expect("FALL26 is listed");
    assert_eq!(
        (fall["redemptions_count"].clone(), fall["remaining"].clone(), fall["status"].clone()),
        (json!(0), Value::Null, json!("ACTIVE"))
    );

    // 3. "Deactivate ALEX15." (an order used it: the order keeps the snapshot)
    let alex = crate::helpers::promo_code_id(&app, "ALEX15").await;
    crate::helpers::insert_paid_order(&app, alex, "alexfan@example.com").await;
    let dry = client
        .call_tool(
            CallToolRequestParams::new("deactivate_promo_code").with_arguments(args(json!({ "code": "alex15" }))),
        )
        .await
        .unwrap();
    assert!(text(&dry).starts_with("Preview"), "{}", text(&dry));
    let done = client
        .call_tool(
            CallToolRequestParams::new("deactivate_promo_code")
                .with_arguments(args(json!({ "code": "alex15", "confirm": true }))),
        )
        .await
        .unwrap();
    assert_eq!(done.structured_content.unwrap()["promo_code"]["status"], "INACTIVE");
    let orders =
        app.gql_admin("{ orders(filter: {promoCode: \"ALEX15\"}) { edges { node { promoCode } } } }", json!({})).await;
    assert_eq!(orders["data"]["orders"]["edges"][0]["node"]["promoCode"], "ALEX15");
    assert_eq!(audit_entries(&app, "deactivatePromoCode").await[0]["via"], "MCP");

    // A refused input is a tool error with the code and message, so the model can fix it.
    let bad = client
        .call_tool(CallToolRequestParams::new("create_promo_code").with_arguments(args(
            json!({ "code": "TOOMUCH", "discount_type": "PERCENTAGE", "percent_off": "150", "confirm": true }),
        )))
        .await
        .unwrap();
    assert_eq!(bad.is_error, Some(true));
    assert!(text(&bad).starts_with("INVALID_PERCENT_OFF: "), "{}", text(&bad));
    assert_eq!(bad.structured_content.unwrap()["user_errors"][0]["code"], "INVALID_PERCENT_OFF");
    let past = client
        .call_tool(CallToolRequestParams::new("create_promo_code").with_arguments(args(
            json!({ "code": "GONE", "discount_type": "PERCENTAGE", "percent_off": "5", "expires_on": "2020-10-31" }),
        )))
        .await
        .unwrap();
    assert!(text(&past).starts_with("EXPIRES_AT_IN_PAST: "), "{}", text(&past));
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_read_key_is_offered_read_tools_only_and_the_http_transport_checks_every_request() {
    let app = spawn_app().await;
    let read = app
        .gql_admin("mutation { createApiKey(input: {name: \"assistant (read)\", scope: READ}) { secret } }", json!({}))
        .await["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = stdio_client(&app, &read).await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(!tools.is_empty());
    assert!(tools.iter().all(|t| t.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true)), "{tools:?}");
    let refused = client
        .call_tool(
            CallToolRequestParams::new("deactivate_promo_code")
                .with_arguments(args(json!({ "code": "NEWS10", "confirm": true }))),
        )
        .await
        .unwrap();
    assert_eq!(refused.is_error, Some(true));
    client.cancel().await.ok();

    // Streamable HTTP: JSON-RPC POSTs with the key as a bearer token.
    let post = |key: Option<String>, body: Value| {
        let mut request = app
            .http
            .post(format!("{}/mcp", app.address))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "test", "version": "1" } } });
    let answer: Value = post(Some(app.admin_key.clone()), init).await.unwrap().json().await.unwrap();
    assert_eq!(answer["result"]["serverInfo"]["name"], "tixshop", "{answer}");
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });
    let admin: Value = post(Some(app.admin_key.clone()), list.clone()).await.unwrap().json().await.unwrap();
    let count = |v: &Value| v["result"]["tools"].as_array().map(Vec::len).unwrap_or(0);
    let reader: Value = post(Some(read.clone()), list.clone()).await.unwrap().json().await.unwrap();
    assert!(count(&admin) > count(&reader) && count(&reader) > 0, "admin {admin} / read {reader}");
    let anonymous: Value = post(None, list).await.unwrap().json().await.unwrap();
    assert!(anonymous["error"]["message"].as_str().unwrap_or_default().contains("Bearer"), "{anonymous}");
    let call = json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": { "name": "get_promo_code", "arguments": { "code": "news10" } } });
    let got: Value = post(Some(read), call.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(got["result"]["structuredContent"]["promo_code"]["code"], "NEWS10", "{got}");
    // Another shop's key sees its own shop only.
    let rival_key = crate::helpers::other_shop_key(&app, "rival-mcp").await;
    let other: Value = post(Some(rival_key), call).await.unwrap().json().await.unwrap();
    assert_eq!(other["result"]["isError"], true, "{other}");
    assert_eq!(other["result"]["structuredContent"]["user_errors"][0]["code"], "NOT_FOUND", "{other}");
}

/// Calls a tool; panics on a protocol error.
async fn call(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    name: &str,
    arguments: Value,
) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(args(arguments)))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn an_assistant_sets_up_a_newsletter_batch_and_a_partner_link_over_stdio() {
    let app = spawn_app().await;
    let client = stdio_client(&app, &app.admin_key).await;
    let partners = call(&client, "list_partners", json!({})).await;
    assert!(text(&partners).contains("Maria: MARIA15"), "{}", text(&partners));

    let ask = json!({ "batch_name": "Winter letter", "prefix": "WIN", "recipients": ["ann@example.com", "bob@example.com"],
                      "discount_type": "PERCENTAGE", "percent_off": "10", "partner": "maria", "minimum_subtotal": "30" });
    let preview = call(&client, "generate_promo_codes", ask.clone()).await;
    assert_ne!(preview.is_error, Some(true), "{}", text(&preview));
    assert!(text(&preview).starts_with("Preview — nothing was written"), "{}", text(&preview));
    let batches = call(&client, "list_promo_batches", json!({})).await;
    assert_eq!(text(&batches), "No batches yet.", "the preview wrote nothing");

    let mut confirmed = ask.clone();
    confirmed["confirm"] = json!(true);
    let made = call(&client, "generate_promo_codes", confirmed).await;
    assert!(text(&made).contains("of 2 codes"), "{}", text(&made));
    let structured = made.structured_content.clone().unwrap_or_default();
    let samples = structured["sample_codes"].as_array().unwrap();
    assert_eq!(samples[0]["recipient_email"], "ann@example.com", "{structured}");
    assert!(samples[0]["code"].as_str().unwrap().starts_with("WIN-"));
    let batches = call(&client, "list_promo_batches", json!({})).await;
    assert!(
        text(&batches).contains("Winter letter") && text(&batches).contains("0 of 2 codes redeemed"),
        "{}",
        text(&batches)
    );
    let codes = app
        .gql_admin(
            "{ promoCodes(filter: {search: \"WIN-\"}) { nodes { partner { name } minimumSubtotal { amount } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        codes["data"]["promoCodes"]["nodes"][0],
        json!({ "partner": { "name": "Maria" }, "minimumSubtotal": { "amount": "30.00" } })
    );

    let unknown = call(&client, "create_share_link", json!({ "partner": "Nobody", "confirm": true })).await;
    assert_eq!(unknown.is_error, Some(true), "{}", text(&unknown));
    let link = call(&client, "create_share_link", json!({ "partner": "Maria", "confirm": true })).await;
    let path = link.structured_content.clone().unwrap_or_default()["path"].as_str().unwrap().to_owned();
    let page = reqwest::get(format!("{}{path}", app.address)).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<h1>Maria</h1>"));
    let entries = audit_entries(&app, "generatePromoCodes").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["via"], "MCP");
    let report = call(&client, "promo_report", json!({ "group_by": "PARTNER" })).await;
    assert_ne!(report.is_error, Some(true), "{}", text(&report));
    client.cancel().await.unwrap();
}
