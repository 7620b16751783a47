//! Tests of the finishing pass.

use std::sync::Arc;

use super::rules::{emoji_schema, literal};
use super::*;
use crate::HttpOptions;

async fn generated() -> Value {
    let service: Arc<dyn chatcore::Service> =
        Arc::new(chatcore_sqlite::open_in_memory().await.unwrap());
    serde_json::from_str(&crate::openapi(service, &HttpOptions::default()).spec()).unwrap()
}

#[tokio::test]
async fn every_rule_names_a_field_of_the_document() {
    let mut document = generated().await;
    assert_eq!(declare_rules(&mut document), Vec::<String>::new());
}

#[test]
fn emoji_cover_every_accepted_form() {
    let pattern = emoji_schema()["pattern"].as_str().unwrap().to_owned();
    for emoji in ["👍", "👍🏽", "❤", "❤️", "#️⃣", "👨‍👩‍👧"] {
        assert!(
            chatcore::messages::Emoji::parse(emoji).is_ok(),
            "{emoji} is no reaction"
        );
        assert!(pattern.contains(&literal(emoji)), "{emoji} is not declared");
    }
}

#[test]
fn wrapped_references_become_plain() {
    let mut schema = json!({"properties": {"role": {
        "description": "The role.",
        "allOf": [{"$ref": "#/components/schemas/Role"}, {"description": "The role."}],
    }}});
    plain_references(&mut schema);
    assert_eq!(
        schema["properties"]["role"],
        json!({"$ref": "#/components/schemas/Role", "description": "The role."})
    );
}
