//! The rules chatcore enforces on fields and parameters, declared in the document: a request
//! the schema allows is never refused as invalid, and the reverse.

use std::collections::BTreeMap;

use chatcore::PageRequest;
use chatcore::groups::ChatTitle;
use chatcore::messages::{ClientId, HistoryQuery, MessageText};
use chatcore::users::{DisplayName, Email, Password, Phone, Status, Username};
use serde_json::{Value, json};

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
pub(super) fn emoji_schema() -> Value {
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
pub(super) fn literal(text: &str) -> String {
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
pub(super) fn declare_rules(document: &mut Value) -> Vec<String> {
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
