//! Every operation in `client-examples/` runs against a real server without errors.

use std::path::{Path, PathBuf};

use chrono::{Datelike, Utc};
use serde_json::{Value, json};

use crate::helpers::spawn_app;

fn graphql_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(graphql_files(&path));
        } else if path.extension().is_some_and(|e| e == "graphql") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Replaces the year placeholders of client-examples/README.md: `{{YEAR}}` with the
/// current UTC year, `{{NEXT_YEAR}}` with the next, so future dates never go stale.
fn with_years(variables: &str) -> String {
    let year = Utc::now().year();
    let text = variables.replace("{{YEAR}}", &year.to_string()).replace("{{NEXT_YEAR}}", &(year + 1).to_string());
    assert!(!text.contains("{{"), "an unknown placeholder in {variables}");
    text
}

#[test]
fn year_placeholders_are_replaced() {
    let year = Utc::now().year();
    assert_eq!(
        with_years(r#"{ "expiresAt": "{{NEXT_YEAR}}-10-31T23:59:59+01:00", "from": "{{YEAR}}-01-01T00:00:00Z" }"#),
        format!(r#"{{ "expiresAt": "{}-10-31T23:59:59+01:00", "from": "{year}-01-01T00:00:00Z" }}"#, year + 1)
    );
}

#[tokio::test]
async fn every_client_example_operation_runs() {
    let app = spawn_app().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("client-examples");
    let files = graphql_files(&root);
    assert!(files.len() >= 3, "examples found: {files:?}");
    for file in files {
        let query = std::fs::read_to_string(&file).unwrap();
        let variables: Value = std::fs::read_to_string(file.with_extension("json"))
            .map(|v| serde_json::from_str(&with_years(&v)).unwrap())
            .unwrap_or_else(|_| json!({}));
        let relative = file.strip_prefix(&root).unwrap();
        let key =
            (relative.starts_with("admin") || relative.starts_with("assistant")).then_some(app.admin_key.as_str());
        let body = app.gql_as(key, &query, variables).await;
        assert!(body["errors"].is_null(), "{} failed: {body}", relative.display());
        assert!(body["data"].is_object(), "{} returned no data: {body}", relative.display());
        // A mutation's payload must not report user errors either.
        for (field, value) in body["data"].as_object().unwrap() {
            if let Some(errors) = value.get("userErrors") {
                assert_eq!(errors, &json!([]), "{} {field}: {body}", relative.display());
            }
        }
    }
}
