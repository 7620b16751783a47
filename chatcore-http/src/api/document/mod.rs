//! The finishing pass over the OpenAPI document that poem-openapi generates, in one place:
//! what its derives cannot say, so that the document is the contract the server keeps.
//!
//! - A documented field of a referenced type is a plain `$ref` (poem-openapi writes
//!   `allOf: [$ref, {description}]`, which generators read as a new, broken type).
//! - Request bodies refuse unknown fields (`additionalProperties: false`), as the server does.
//! - An upload offers generators one media type, `multipart/form-data` (the server also takes
//!   the raw bytes, as the operation says; generators mishandle a choice of media types).
//! - Every field and parameter that chatcore validates declares the same rules (lengths,
//!   patterns, ranges): a request the schema allows is never refused as invalid, and the
//!   reverse.
//! - Each operation lists the error statuses that apply to it.
//! - Responses carry links from a created resource to the operations on it.

mod links;
mod rules;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

use links::add_links;
use rules::declare_rules;

/// The document as served: poem-openapi's, finished.
pub(crate) fn finish(spec: &str) -> String {
    let Ok(mut document) = serde_json::from_str::<Value>(spec) else {
        return spec.to_owned();
    };
    plain_references(&mut document);
    close_request_bodies(&mut document);
    one_upload_media_type(&mut document);
    avatar_media_types(&mut document);
    let _ = declare_rules(&mut document);
    prune_error_statuses(&mut document);
    add_links(&mut document);
    serde_json::to_string_pretty(&document).unwrap_or_else(|_| spec.to_owned())
}

/// The methods each path of the document answers, for the `Allow` header of a 405.
pub(crate) fn allowed_methods(document: &str) -> Vec<(String, String)> {
    let Ok(document) = serde_json::from_str::<Value>(document) else {
        return Vec::new();
    };
    let Some(paths) = document["paths"].as_object() else {
        return Vec::new();
    };
    paths
        .iter()
        .filter_map(|(path, item)| {
            let mut methods: Vec<String> = item
                .as_object()?
                .keys()
                .map(|method| method.to_ascii_uppercase())
                .collect();
            if methods.iter().any(|method| method == "GET") {
                methods.push("HEAD".to_owned());
            }
            methods.sort();
            Some((path.clone(), methods.join(", ")))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------------

/// `{description, allOf: [{$ref}, {description}]}` becomes `{$ref, description}`.
fn plain_references(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if let Some(reference) = wrapped_reference(object) {
                let description = object.get("description").cloned();
                object.clear();
                object.insert("$ref".to_owned(), Value::String(reference));
                if let Some(description) = description {
                    object.insert("description".to_owned(), description);
                }
                return;
            }
            for child in object.values_mut() {
                plain_references(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(plain_references),
        _ => {}
    }
}

/// The reference of a poem-openapi wrapper whose other parts only describe it.
fn wrapped_reference(object: &Map<String, Value>) -> Option<String> {
    let all_of = object.get("allOf")?.as_array()?;
    let reference = all_of.first()?.get("$ref")?.as_str()?.to_owned();
    let only_docs = |schema: &Map<String, Value>| {
        schema.iter().all(|(key, value)| match key.as_str() {
            "description" | "title" => true,
            "readOnly" | "writeOnly" | "deprecated" | "nullable" => value == &json!(false),
            _ => false,
        })
    };
    let rest_is_docs = all_of[1..]
        .iter()
        .all(|part| part.as_object().is_some_and(only_docs));
    let outer_is_docs = object.iter().all(|(key, value)| {
        key == "allOf" || only_docs(&Map::from_iter([(key.clone(), value.clone())]))
    });
    (rest_is_docs && outer_is_docs).then_some(reference)
}

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

/// Every JSON request body is a model that denies unknown fields: say so.
fn close_request_bodies(document: &mut Value) {
    let mut closed = Vec::new();
    for_each_operation(document, |_, _, operation| {
        let reference = operation
            .pointer("/requestBody/content")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|content| content.iter())
            .filter(|(media, _)| media.starts_with("application/json"))
            .filter_map(|(_, media)| media["schema"]["$ref"].as_str().map(str::to_owned))
            .collect::<Vec<_>>();
        closed.extend(reference);
    });
    for reference in closed {
        let name = reference.trim_start_matches("#/components/schemas/");
        if let Some(schema) = document["components"]["schemas"].get_mut(name) {
            schema["additionalProperties"] = json!(false);
        }
    }
}

/// The image formats an avatar upload may be in (chatcore reads the format from the bytes).
const IMAGE_TYPES: &str = "image/png, image/jpeg, image/webp, image/gif";

fn one_upload_media_type(document: &mut Value) {
    for_each_operation(document, |_, _, operation| {
        let upload = operation["operationId"] == "set_avatar";
        if let Some(content) = operation
            .pointer_mut("/requestBody/content")
            .and_then(Value::as_object_mut)
            && let Some(form) = content.get("multipart/form-data").cloned()
        {
            content.clear();
            content.insert("multipart/form-data".to_owned(), form);
            if upload {
                content["multipart/form-data"]["encoding"] =
                    json!({"file": {"contentType": IMAGE_TYPES}});
            }
        }
    });
}

/// The avatar comes back as PNG or JPEG (poem-openapi can only name one media type for a
/// binary answer).
fn avatar_media_types(document: &mut Value) {
    for_each_operation(document, |_, _, operation| {
        if operation["operationId"] != "get_avatar" {
            return;
        }
        if let Some(content) = operation
            .pointer_mut("/responses/200/content")
            .and_then(Value::as_object_mut)
            && let Some(binary) = content.remove("application/octet-stream")
        {
            content.insert("image/png".to_owned(), binary.clone());
            content.insert("image/jpeg".to_owned(), binary);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Error statuses
// ---------------------------------------------------------------------------------------------

/// Operations that answer 410: used-up invites and expired event cursors.
const GONE: [&str; 3] = ["preview_invite", "accept_invite", "subscribe"];
/// Operations without a session that still answer 401 (a wrong login or password).
const CHECKS_PASSWORD: [&str; 1] = ["login"];

fn prune_error_statuses(document: &mut Value) {
    for_each_operation(document, |_, _, operation| {
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let secured = operation.get("security").is_some();
        let has_body = operation.get("requestBody").is_some();
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        responses.retain(|status, _| match status.as_str() {
            "401" => secured || CHECKS_PASSWORD.contains(&id.as_str()),
            "403" => secured,
            "410" => GONE.contains(&id.as_str()),
            "413" | "415" => has_body,
            _ => true,
        });
    });
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn for_each_operation(document: &mut Value, mut visit: impl FnMut(&str, &str, &mut Value)) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            visit(path, method, operation);
        }
    }
}
