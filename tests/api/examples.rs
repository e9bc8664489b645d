//! Every operation in `client-examples/` runs against a real server without errors.

use std::path::{Path, PathBuf};

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

#[tokio::test]
async fn every_client_example_operation_runs() {
    let app = spawn_app().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("client-examples");
    let files = graphql_files(&root);
    assert!(files.len() >= 3, "examples found: {files:?}");
    for file in files {
        let query = std::fs::read_to_string(&file).unwrap();
        let variables: Value = std::fs::read_to_string(file.with_extension("json"))
            .map(|v| serde_json::from_str(&v).unwrap())
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
