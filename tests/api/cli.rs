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
