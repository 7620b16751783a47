//! The OpenAPI document is valid OpenAPI 3, by a real validator (`openapi-spec-validator`).
//!
//! Without the validator on `PATH` the test says so and passes, unless `CI=true`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;

use chatcore::Service;
use chatcore_http::{HttpOptions, openapi_document};

#[tokio::test]
async fn the_document_is_valid_openapi_3() {
    let service: Arc<dyn Service> = Arc::new(chatcore_sqlite::open_in_memory().await.unwrap());
    let document = openapi_document(service, &HttpOptions::default());
    let spec: serde_json::Value = serde_json::from_str(&document).unwrap();
    // Every operation has an id, a tag and a summary, and fails with the one error shape.
    for (path, item) in spec["paths"].as_object().unwrap() {
        assert!(!path.contains(':'), "unconverted path parameter in {path}");
        for (method, operation) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
            assert!(
                operation["operationId"].is_string(),
                "{name}: no operationId"
            );
            assert!(operation["tags"][0].is_string(), "{name}: no tag");
            assert!(operation["summary"].is_string(), "{name}: no summary");
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &document).unwrap();
    let output = match Command::new("openapi-spec-validator").arg(&file).output() {
        Ok(output) => output,
        Err(error) => {
            if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                panic!("CI=true but openapi-spec-validator cannot run: {error}");
            }
            eprintln!("skipped: install openapi-spec-validator (pip) to validate the document");
            return;
        }
    };
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
