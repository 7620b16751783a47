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

use std::collections::BTreeMap;

use chatcore::PageRequest;
use chatcore::groups::ChatTitle;
use chatcore::messages::{ClientId, HistoryQuery, MessageText};
use chatcore::users::{DisplayName, Email, Password, Phone, Status, Username};
use serde_json::{Map, Value, json};

/// The document as served: poem-openapi's, finished.
pub(crate) fn finish(spec: &str) -> String {
    let Ok(mut document) = serde_json::from_str::<Value>(spec) else {
        return spec.to_owned();
    };
    plain_references(&mut document);
    close_request_bodies(&mut document);
    one_upload_media_type(&mut document);
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

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/// Control characters, as `char::is_control` sees them (a character class body).
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
/// Whitespace, as `char::is_whitespace` and `str::trim` see it (a character class body).
const SPACE: &str =
    r"\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// Invisible and text-direction characters that free-text fields refuse (chatcore's
/// `is_hidden`, a character class body). Zero-width (non-)joiners (U+200C, U+200D), which
/// chatcore accepts between two visible non-ASCII characters (emoji sequences, some scripts),
/// are in the class too: the schema is the stricter rule, so what it allows is never refused.
const HIDDEN: &str = r"\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb";

/// No control, invisible or text-direction characters, no whitespace at either end, at least
/// one character.
fn trimmed_line(max_chars: usize) -> Value {
    json!({
        "minLength": 1,
        "maxLength": max_chars,
        "pattern": format!(
            "^[^{CONTROL}{HIDDEN}{SPACE}](?:[^{CONTROL}{HIDDEN}]*[^{CONTROL}{HIDDEN}{SPACE}])?$"
        ),
    })
}

fn username() -> Value {
    json!({
        "minLength": Username::MIN_CHARS,
        "maxLength": Username::MAX_CHARS,
        "pattern": format!("^[A-Za-z0-9_.-]{{{},{}}}$", Username::MIN_CHARS, Username::MAX_CHARS),
    })
}

fn password() -> Value {
    let common: Vec<&str> = Password::common().collect();
    // The server counts bytes; a schema counts characters, which agree on ASCII.
    json!({
        "format": "password",
        "minLength": Password::MIN_BYTES,
        "maxLength": Password::MAX_BYTES,
        "not": {"enum": common},
    })
}

fn email() -> Value {
    let part = format!("[^@{CONTROL}{SPACE}]");
    let label = format!("[^@.{CONTROL}{SPACE}]");
    json!({
        "maxLength": Email::MAX_CHARS,
        "pattern": format!(
            "^{part}{{1,{}}}@{label}{part}*\\.{part}*{label}$",
            Email::MAX_LOCAL_CHARS
        ),
    })
}

fn phone() -> Value {
    json!({
        "pattern": format!(
            "^\\+?[0-9](?:[ -]?[0-9]){{{},{}}}$",
            Phone::MIN_DIGITS - 1,
            Phone::MAX_DIGITS - 1
        ),
    })
}

fn status() -> Value {
    json!({
        "maxLength": Status::MAX_CHARS,
        "pattern": format!("^[^{CONTROL}{HIDDEN}]*$"),
    })
}

fn message_text() -> Value {
    json!({
        "minLength": 1,
        "maxLength": MessageText::MAX_CHARS,
        // Not blank, no NUL.
        "pattern": format!("^[^\\u0000]*[^\\u0000{SPACE}][^\\u0000]*$"),
    })
}

fn client_id() -> Value {
    json!({
        "minLength": 1,
        "maxLength": ClientId::MAX_CHARS,
        "pattern": format!("^[!-~]{{1,{}}}$", ClientId::MAX_CHARS),
    })
}

fn note() -> Value {
    json!({
        "maxLength": 1000,
        // Line breaks are allowed.
        "pattern": r"^[^\u0000-\u0009\u000b-\u001f\u007f-\u009f]*$",
    })
}

fn invite_code() -> Value {
    json!({"minLength": 16, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]{16,64}$"})
}

fn page_number() -> Value {
    json!({"minimum": 1, "default": 1})
}

fn page_size() -> Value {
    json!({"minimum": 1, "maximum": PageRequest::MAX_LIMIT, "default": PageRequest::DEFAULT_LIMIT})
}

/// The reaction parameters refer to one schema of every accepted emoji.
fn emoji() -> Value {
    json!({"$ref": "#/components/schemas/Emoji"})
}

/// Every emoji chatcore accepts as a reaction, fully qualified or not.
fn emoji_schema() -> Value {
    let mut accepted = std::collections::BTreeSet::new();
    for emoji in emojis::iter() {
        let tones = emoji.skin_tones().into_iter().flatten();
        for form in std::iter::once(emoji).chain(tones) {
            let text = form.as_str();
            accepted.insert(text.to_owned());
            // Unqualified and minimally qualified forms: some variation selectors left out.
            let selectors = text.matches('\u{fe0f}').count().min(4);
            for mask in 1..(1_u32 << selectors) {
                let mut index = 0;
                let variant: String = text
                    .chars()
                    .filter(|&c| {
                        if c != '\u{fe0f}' {
                            return true;
                        }
                        index += 1;
                        mask & (1 << (index - 1)) == 0
                    })
                    .collect();
                if emojis::get(&variant).is_some() {
                    accepted.insert(variant);
                }
            }
        }
    }
    let alternatives: Vec<String> = accepted.iter().map(|text| literal(text)).collect();
    json!({
        "type": "string",
        "title": "Emoji",
        "description": "One emoji of the Unicode list (skin tones included), as a reaction; \
                        `❤` and `❤️` are the same one.",
        "pattern": format!("^(?:{})$", alternatives.join("|")),
    })
}

/// `text` as a regular expression that matches only itself (in every dialect: emoji hold no
/// ASCII but digits, `#` and `*`).
fn literal(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '#' | '*' => format!("[{c}]"),
            c => c.to_string(),
        })
        .collect()
}

/// The rules of each validated request field (`Schema.property`) and parameter
/// (`operation_id.parameter`), as chatcore's parse functions enforce them.
fn rules() -> BTreeMap<String, Value> {
    let title = trimmed_line(ChatTitle::MAX_CHARS);
    let display_name = trimmed_line(DisplayName::MAX_CHARS);
    let history_limit = json!({
        "minimum": 1,
        "maximum": HistoryQuery::MAX_LIMIT,
        "default": HistoryQuery::DEFAULT_LIMIT,
    });
    let mut rules: BTreeMap<String, Value> = [
        ("RegisterRequest.username", username()),
        ("RegisterRequest.password", password()),
        ("RegisterRequest.email", email()),
        ("RegisterRequest.display_name", display_name.clone()),
        ("RegisterRequest.phone", phone()),
        ("RegisterRequest.status", status()),
        ("ChangePasswordRequest.new_password", password()),
        ("PasswordResetConfirm.new_password", password()),
        ("ProfilePatch.username", username()),
        ("ProfilePatch.email", email()),
        ("ProfilePatch.display_name", display_name),
        ("ProfilePatch.status", status()),
        ("ProfilePatch.phone", phone()),
        ("CreateGroupRequest.title", title.clone()),
        ("ChatPatch.title", title),
        ("ReportRequest.note", note()),
        ("ResolveRequest.resolution", note()),
        ("CreateInviteRequest.max_uses", json!({"minimum": 1})),
        ("SendRequest.text", message_text()),
        ("SendRequest.client_id", client_id()),
        ("EditRequest.text", message_text()),
        ("ForwardRequest.client_id", client_id()),
        ("ReadRequest.seq", json!({"minimum": 0})),
        ("search_users.q", json!({"maxLength": 64})),
        (
            "get_avatar.size",
            json!({"enum": [128, 512], "default": 512}),
        ),
        ("list_messages.before", json!({"minimum": 0})),
        ("list_messages.after", json!({"minimum": 0})),
        ("list_messages.limit", history_limit),
        ("add_reaction.emoji", emoji()),
        ("remove_reaction.emoji", emoji()),
        ("revoke_invite.code", invite_code()),
        ("preview_invite.code", invite_code()),
        ("accept_invite.code", invite_code()),
    ]
    .into_iter()
    .map(|(key, rule)| (key.to_owned(), rule))
    .collect();
    for operation in [
        "search_users",
        "list_chats",
        "list_contacts",
        "list_blocks",
        "list_reports",
    ] {
        rules.insert(format!("{operation}.page"), page_number());
        rules.insert(format!("{operation}.limit"), page_size());
    }
    rules
}

/// Declares every rule; answers the keys of those that name no field of the document.
fn declare_rules(document: &mut Value) -> Vec<String> {
    let mut unapplied = Vec::new();
    if let Some(schemas) = document["components"]["schemas"].as_object_mut() {
        schemas.insert("Emoji".to_owned(), emoji_schema());
    }
    for (key, rule) in rules() {
        let Some((owner, field)) = key.split_once('.') else {
            continue;
        };
        let target = if let Some(schema) = document["components"]["schemas"].get_mut(owner) {
            schema
                .get_mut("properties")
                .and_then(|properties| properties.get_mut(field))
        } else {
            parameter_schema(document, owner, field)
        };
        match (target, rule.as_object()) {
            // A reference replaces the schema (siblings of `$ref` mean nothing).
            (Some(target), Some(rule)) if rule.contains_key("$ref") => {
                *target = rule.clone().into()
            }
            (Some(target), Some(rule)) => match target.as_object_mut() {
                Some(target) => target.extend(rule.clone()),
                None => unapplied.push(key),
            },
            _ => unapplied.push(key),
        }
    }
    bound_integers(document);
    unapplied
}

fn parameter_schema<'a>(
    document: &'a mut Value,
    operation_id: &str,
    name: &str,
) -> Option<&'a mut Value> {
    let paths = document["paths"].as_object_mut()?;
    for item in paths.values_mut() {
        for operation in item.as_object_mut()?.values_mut() {
            if operation["operationId"] != operation_id {
                continue;
            }
            return operation
                .get_mut("parameters")?
                .as_array_mut()?
                .iter_mut()
                .find(|parameter| parameter["name"] == name)
                .map(|parameter| &mut parameter["schema"]);
        }
    }
    None
}

/// Integers say the range of their Rust type, which the server parses them into.
fn bound_integers(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if object.get("type") == Some(&json!("integer")) {
                let (minimum, maximum) = match object.get("format").and_then(Value::as_str) {
                    Some("uint32") => (json!(0), json!(u32::MAX)),
                    Some("int32") => (json!(i32::MIN), json!(i32::MAX)),
                    Some("uint64") => (json!(0), json!(u64::MAX)),
                    Some("int64") => (json!(i64::MIN), json!(i64::MAX)),
                    _ => (Value::Null, Value::Null),
                };
                if !minimum.is_null() {
                    object.entry("minimum").or_insert(minimum);
                    object.entry("maximum").or_insert(maximum);
                }
            }
            object.values_mut().for_each(bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
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
// Links
// ---------------------------------------------------------------------------------------------

/// `(operation, statuses, link name, target operation, parameters, request body)`.
type LinkSpec = (
    &'static str,
    &'static [&'static str],
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<Value>,
);

fn links() -> Vec<LinkSpec> {
    const CHAT: &[(&str, &str)] = &[("id", "$response.body#/id")];
    const STARTED: &[&str] = &["200", "201"];
    const CREATED: &[&str] = &["201"];
    const MESSAGE: &[(&str, &str)] = &[
        ("id", "$response.body#/chat_id"),
        ("message_id", "$response.body#/id"),
    ];
    const INVITE: &[(&str, &str)] = &[("code", "$response.body#/code")];
    const JOINED: &[(&str, &str)] = &[("id", "$response.body#/chat/id")];
    const MEMBER: &[(&str, &str)] = &[
        ("id", "$request.path.id"),
        ("user_id", "$response.body#/user/id"),
    ];
    let seq = Some(json!({"seq": "$response.body#/seq"}));
    let mut links: Vec<LinkSpec> = Vec::new();
    for (operation, statuses) in [("start_direct_chat", STARTED), ("create_group", CREATED)] {
        for (name, target) in [
            ("GetChat", "get_chat"),
            ("ListMessages", "list_messages"),
            ("SendMessage", "send_message"),
            ("ListMembers", "list_members"),
            ("SendTyping", "send_typing"),
            ("HideChat", "hide_chat"),
            ("ReportChat", "create_report"),
        ] {
            links.push((operation, statuses, name, target, CHAT, None));
        }
    }
    for (name, target) in [
        ("RenameGroup", "rename_group"),
        ("AddMember", "add_member"),
        ("CreateInvite", "create_invite"),
        ("ListInvites", "list_invites"),
        ("DeleteGroup", "delete_group"),
    ] {
        links.push(("create_group", CREATED, name, target, CHAT, None));
    }
    for operation in ["send_message", "forward_message"] {
        for (name, target) in [
            ("EditMessage", "edit_message"),
            ("DeleteMessage", "delete_message"),
            ("ForwardMessage", "forward_message"),
            ("AddReaction", "add_reaction"),
            ("ListReadReceipts", "list_read_receipts"),
        ] {
            links.push((operation, CREATED, name, target, MESSAGE, None));
        }
        links.push((
            operation,
            CREATED,
            "MarkRead",
            "mark_read",
            &[("id", "$response.body#/chat_id")],
            seq.clone(),
        ));
    }
    for (name, target) in [
        ("PreviewInvite", "preview_invite"),
        ("AcceptInvite", "accept_invite"),
    ] {
        links.push(("create_invite", CREATED, name, target, INVITE, None));
    }
    links.push((
        "create_invite",
        CREATED,
        "RevokeInvite",
        "revoke_invite",
        &[
            ("id", "$response.body#/chat_id"),
            ("code", "$response.body#/code"),
        ],
        None,
    ));
    for (name, target) in [
        ("GetChat", "get_chat"),
        ("ListMessages", "list_messages"),
        ("ListMembers", "list_members"),
    ] {
        links.push(("accept_invite", &["200"], name, target, JOINED, None));
    }
    for (name, target) in [
        ("SetMemberRole", "set_member_role"),
        ("RemoveMember", "remove_member"),
    ] {
        links.push(("add_member", CREATED, name, target, MEMBER, None));
    }
    for operation in ["register", "login"] {
        let statuses: &'static [&'static str] = if operation == "register" {
            CREATED
        } else {
            &["200"]
        };
        links.push((
            operation,
            statuses,
            "GetUser",
            "get_user",
            &[("id", "$response.body#/user/id")],
            None,
        ));
        links.push((
            operation,
            statuses,
            "RevokeSession",
            "revoke_session",
            &[("id", "$response.body#/session/session/id")],
            None,
        ));
    }
    links.push((
        "create_report",
        &["202"],
        "ResolveReport",
        "resolve_report",
        &[("id", "$response.body#/id")],
        None,
    ));
    links
}

fn add_links(document: &mut Value) {
    let specs = links();
    for_each_operation(document, |_, _, operation| {
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for (source, statuses, name, target, parameters, body) in &specs {
            if *source != id {
                continue;
            }
            for status in *statuses {
                let Some(response) = operation
                    .get_mut("responses")
                    .and_then(|responses| responses.get_mut(*status))
                else {
                    continue;
                };
                let mut link = json!({"operationId": target});
                if !parameters.is_empty() {
                    link["parameters"] = parameters
                        .iter()
                        .map(|(name, expression)| ((*name).to_owned(), json!(expression)))
                        .collect::<Map<_, _>>()
                        .into();
                }
                if let Some(body) = body {
                    link["requestBody"] = body.clone();
                }
                response["links"][*name] = link;
            }
        }
    });
}

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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

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
}
