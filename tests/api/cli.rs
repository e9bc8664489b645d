//! The `tixshop` binary: key creation against a live server, clear startup errors.

use std::process::Command;

use serde_json::json;

use crate::helpers::spawn_app;

fn tixshop() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tixshop"));
    command.env_remove("DATABASE_URL").env("TIXSHOP_LOG", "warn");
    command
}

#[tokio::test]
async fn api_key_create_prints_a_working_key() {
    let app = spawn_app().await;
    let output = tixshop()
        .args(["api-key", "create", "--account", "demo", "--scope", "read", "--name", "reporting"])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let key = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("tix_"));
    let body = app.gql_as(Some(&key), "{ viewer { scope keyName account { slug } } }", json!({})).await;
    assert_eq!(
        body["data"]["viewer"],
        json!({ "scope": "READ", "keyName": "reporting", "account": { "slug": "demo" } })
    );

    let unknown = tixshop()
        .args(["api-key", "create", "--account", "nope", "--scope", "admin"])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no account with slug `nope`"));
    let bad_scope = tixshop()
        .args(["api-key", "create", "--account", "demo", "--scope", "root"])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("unknown scope"));
}

/// Runs `tixshop serve` with `env` and returns its stderr, asserting a clean failure:
/// exit code 1, one line, no panic.
fn failing_start(env: &[(&str, &str)]) -> String {
    let mut command = tixshop();
    command.arg("serve").env("TIXSHOP_SEED_DEMO", "false");
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    lines[0].to_owned()
}

#[test]
fn bad_configuration_exits_with_one_clear_line() {
    let line = failing_start(&[("DATABASE_URL", "mysql://root@localhost/x")]);
    assert!(line.contains("unsupported database URL"), "{line}");

    let line = failing_start(&[
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere"),
        ("TIXSHOP_DB_CONNECT_TIMEOUT_SECS", "1"),
    ]);
    assert!(line.contains("cannot connect to the database"), "{line}");

    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let line = failing_start(&[("DATABASE_URL", url.as_str()), ("TIXSHOP_BIND", address.as_str())]);
    assert!(line.contains("cannot listen on") && line.contains("in use"), "{line}");
}

#[test]
fn export_schema_prints_the_committed_sdl() {
    let output = tixshop().arg("export-schema").output().unwrap();
    assert!(output.status.success());
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(String::from_utf8(output.stdout).unwrap() == committed, "export-schema differs from schema.graphql");
}

#[tokio::test]
async fn json_logs_carry_a_span_per_graphql_operation_with_its_name_and_time() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_tixshop"))
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env("DATABASE_URL", format!("sqlite://{}", dir.path().join("logs.db").display()))
        .env("TIXSHOP_BIND", format!("127.0.0.1:{port}"))
        .env("TIXSHOP_LOG", "info,tixshop=debug")
        .env("TIXSHOP_LOG_FORMAT", "json")
        .env("TIXSHOP_WEBHOOK_DISPATCH", "false")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap()).lines();
    let mut key = String::new();
    while let Some(line) = stdout.next_line().await.unwrap() {
        if let Some(at) = line.find("tix_") {
            key = line[at..].split_whitespace().next().unwrap().to_owned();
        }
        if line.contains("listening") {
            break;
        }
    }
    let http = reqwest::Client::new();
    for (name, query, data) in [
        (Some("ShopPage"), "query ShopPage { shop(slug: \"demo\") { name } }", "shop"),
        (None, "{ shop(slug: \"demo\") { name } }", "shop"),
        (
            Some("Report"),
            "query Report { promoCodeReport(from: \"2026-01-01T00:00:00Z\", to: \"2027-01-01T00:00:00Z\") { code } }",
            "promoCodeReport",
        ),
    ] {
        let body: serde_json::Value = http
            .post(format!("http://127.0.0.1:{port}/graphql"))
            .bearer_auth(&key)
            .json(&json!({ "query": query, "operationName": name }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(body["data"][data].is_object() || body["data"][data].is_array(), "{body}");
    }
    server.start_kill().unwrap();
    let mut stderr = String::new();
    server.stderr.take().unwrap().read_to_string(&mut stderr).await.unwrap();
    let closes: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["span"]["name"] == "graphql" && e["fields"]["message"] == "close")
        .collect();
    let operations: Vec<&str> = closes.iter().filter_map(|e| e["span"]["operation"].as_str()).collect();
    assert_eq!(operations, ["ShopPage", "anonymous", "Report"], "{stderr}");
    assert!(closes.iter().all(|e| e["fields"]["time.busy"].is_string()), "{closes:?}");
    // Below the operation: the root field's service span, and in it the service's own,
    // which closes first. (The list of enclosing spans on a close line is the context
    // the span happens to be dropped in, so the order of the closing lines is checked.)
    let events: Vec<serde_json::Value> =
        stderr.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).collect();
    let closing = |name: &str, field: &str, value: &str| {
        events
            .iter()
            .position(|e| e["span"]["name"] == name && e["span"][field] == value && e["fields"]["message"] == "close")
            .unwrap_or_else(|| panic!("no closing line of {name} {field}={value}: {stderr}"))
    };
    let report = closing("promo_report", "group_by", "Code");
    let field = closing("service", "call", "Query.promoCodeReport");
    let operation = closing("graphql", "operation", "Report");
    assert!(report < field && field < operation, "{report} < {field} < {operation}: {stderr}");
}
