//! Events as clients receive them keep the served OpenAPI document's `Event` schema: every
//! kind, over a real WebSocket, checked field by field against the schema (and its payload
//! schemas), so that absent fields are left out rather than sent as `null`, and a payload
//! the schema does not describe is caught.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chatcore::groups::{AssignableRole, ChatTitle, CreateGroup};
use chatcore::messages::{Emoji, ForwardMessage, MessageText, SendMessage};
use chatcore::users::{DisplayName, Login, Password, ProfileUpdate, Register, Username};
use chatcore::{Caller, ChatCore, Service};
use chatcore_http::{HttpOptions, app};
use futures::StreamExt;
use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::{Map, Value};
use tokio_tungstenite::tungstenite::Message as Frame;

/// Checks `value` against `schema` of `document`, strictly: an object may hold only the
/// properties its schema names (the server's events are fully described), and `null` only
/// where the schema says `nullable`. Answers what is wrong, with the path to it.
fn check(document: &Value, schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return check(
            document,
            &document["components"]["schemas"][name],
            value,
            path,
        );
    }
    if value.is_null() {
        return if schema["nullable"] == true {
            Ok(())
        } else {
            Err(format!(
                "{path}: null where the schema does not say nullable"
            ))
        };
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        check(document, part, value, path)?;
    }
    if let Some(alternatives) = schema["anyOf"].as_array().or(schema["oneOf"].as_array()) {
        let failures: Vec<String> = alternatives
            .iter()
            .filter_map(|alternative| check(document, alternative, value, path).err())
            .collect();
        if failures.len() == alternatives.len() {
            return Err(format!("{path}: matches no alternative: {failures:#?}"));
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{path}: {value} is not one of {allowed:?}"));
    }
    let typed = match schema["type"].as_str() {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some(other) => return Err(format!("{path}: unknown schema type {other}")),
    };
    if !typed {
        return Err(format!("{path}: {value} is not of type {}", schema["type"]));
    }
    if let Some(object) = value.as_object()
        && schema["type"] == "object"
    {
        check_object(document, schema, object, path)?;
    }
    if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            check(document, schema, item, &format!("{path}/{index}"))?;
        }
    }
    Ok(())
}

fn check_object(
    document: &Value,
    schema: &Value,
    object: &Map<String, Value>,
    path: &str,
) -> Result<(), String> {
    let empty = Map::new();
    let properties = schema["properties"].as_object().unwrap_or(&empty);
    for required in schema["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap();
        if !object.contains_key(name) {
            return Err(format!("{path}: required `{name}` is missing"));
        }
    }
    for (name, value) in object {
        let Some(property) = properties.get(name) else {
            return Err(format!("{path}: `{name}` is not in the schema"));
        };
        check(document, property, value, &format!("{path}/{name}"))?;
    }
    Ok(())
}

async fn register(service: &ChatCore, name: &str) -> (Caller, String) {
    let registered = service
        .register(Register::new(
            Username::parse(name).unwrap(),
            Password::parse(format!("{name} long secret")).unwrap(),
        ))
        .await
        .unwrap();
    let caller = service
        .authenticate(&registered.session.token)
        .await
        .unwrap();
    (caller, registered.session.token)
}

fn text(text: &str) -> MessageText {
    MessageText::parse(text).unwrap()
}

/// Makes every stored kind of event reach `ann`: messages (with a reply and a forward),
/// edits, reactions, read markers, chats and groups coming and going, members joining,
/// changing role, leaving and being removed, a profile change, and sessions ending (one,
/// and every other). Answers ann and ben's direct chat.
async fn every_kind_of_event(
    service: &ChatCore,
    ann: &Caller,
    ben: &Caller,
    cat: &Caller,
) -> chatcore::ChatId {
    let direct = service
        .start_direct_chat(ann, ben.user_id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    let first = service
        .send_message(ben, SendMessage::new(direct, text("hello")))
        .await
        .unwrap();
    let mut reply = SendMessage::new(direct, text("hello to you"));
    reply.reply_to = Some(first.id);
    let answer = service.send_message(ann, reply).await.unwrap();
    service
        .edit_message(ben, direct, first.id, text("hello!"))
        .await
        .unwrap();
    let thumbs = Emoji::parse("👍").unwrap();
    service
        .add_reaction(ben, direct, first.id, thumbs.clone())
        .await
        .unwrap();
    service
        .remove_reaction(ben, direct, first.id, thumbs)
        .await
        .unwrap();
    service.mark_read(ben, direct, answer.seq).await.unwrap();

    let group = service
        .create_group(
            ann,
            CreateGroup::new(ChatTitle::parse("Plans").unwrap(), vec![ben.user_id()]),
        )
        .await
        .unwrap()
        .chat
        .id;
    service
        .forward_message(
            ann,
            ForwardMessage {
                chat_id: direct,
                message_id: first.id,
                to_chat_id: group,
                client_id: None,
            },
        )
        .await
        .unwrap();
    service
        .rename_group(ann, group, ChatTitle::parse("Better plans").unwrap())
        .await
        .unwrap();
    service.add_member(ann, group, cat.user_id()).await.unwrap();
    service
        .set_member_role(ann, group, cat.user_id(), AssignableRole::Admin)
        .await
        .unwrap();
    service
        .remove_member(ann, group, cat.user_id())
        .await
        .unwrap();
    service
        .remove_member(ben, group, ben.user_id())
        .await
        .unwrap();
    let gone = service
        .create_group(
            ben,
            CreateGroup::new(
                ChatTitle::parse("Short-lived").unwrap(),
                vec![ann.user_id()],
            ),
        )
        .await
        .unwrap()
        .chat
        .id;
    service.delete_group(ben, gone).await.unwrap();
    let deleted = service
        .send_message(ben, SendMessage::new(direct, text("oops")))
        .await
        .unwrap();
    service
        .delete_message(ben, direct, deleted.id)
        .await
        .unwrap();
    service
        .update_profile(
            ben,
            ProfileUpdate {
                display_name: Some(Some(DisplayName::parse("Ben").unwrap())),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    // Sessions of ann's that end while her stream's session goes on: one by id, then every
    // other one (`session_id: null`).
    let login = || Login {
        login: "ann".to_owned(),
        password: "ann long secret".to_owned(),
        user_agent: None,
    };
    let other = service.login(login()).await.unwrap().session.session.id;
    service.revoke_session(ann, other).await.unwrap();
    service.login(login()).await.unwrap();
    service
        .change_password(
            ann,
            "ann long secret",
            Password::parse("ann longer secret").unwrap(),
        )
        .await
        .unwrap();
    direct
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_keeps_the_served_event_schema() {
    let service = chatcore_sqlite::open_in_memory().await.unwrap();
    let shared: Arc<dyn Service> = Arc::new(service.clone());
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let address = acceptor.local_addr()[0]
        .as_socket_addr()
        .unwrap()
        .to_owned();
    tokio::spawn(
        poem::Server::new_with_acceptor(acceptor).run(app(shared, HttpOptions::default())),
    );
    let document: Value = reqwest::get(format!("http://{address}/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event_schema = document["components"]["schemas"]["Event"].clone();
    let kinds: BTreeSet<String> = document["components"]["schemas"]["EventKind"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kind| kind.as_str().unwrap().to_owned())
        .collect();

    let (ann, ann_token) = register(&service, "ann").await;
    let (ben, _) = register(&service, "ben").await;
    let (cat, _) = register(&service, "cat").await;
    let direct = every_kind_of_event(&service, &ann, &ben, &cat).await;

    // Everything stored from the start, then a live typing notice.
    let (mut socket, _) = tokio_tungstenite::connect_async(format!(
        "ws://{address}/api/v1/events?since=0&access_token={ann_token}"
    ))
    .await
    .unwrap();
    let mut seen = BTreeSet::new();
    let mut typing_sent = false;
    while seen != kinds {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap_or_else(|_| panic!("no event in 10 s; kinds seen: {seen:?} of {kinds:?}"))
            .expect("the stream goes on")
            .unwrap();
        let Frame::Text(frame) = frame else {
            continue;
        };
        let event: Value = serde_json::from_str(frame.as_str()).unwrap();
        if let Err(problem) = check(&document, &event_schema, &event, "") {
            panic!("{problem}\nin {event:#}");
        }
        seen.insert(event["kind"].as_str().unwrap().to_owned());
        // The last stored event is ann's other sessions ending: the history is all in.
        if !typing_sent
            && event["kind"] == "session_revoked"
            && event["data"]["session_id"].is_null()
        {
            service.send_typing(&ben, direct).await.unwrap();
            typing_sent = true;
        }
    }
}

#[test]
fn the_checker_refuses_null_and_unknown_fields() {
    let document = serde_json::json!({"components": {"schemas": {
        "Thing": {
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "string"},
                "note": {"type": "string"},
                "gone": {"type": "string", "nullable": true},
            },
        },
    }}});
    let schema = serde_json::json!({"$ref": "#/components/schemas/Thing"});
    let check = |value: Value| check(&document, &schema, &value, "");
    assert!(check(serde_json::json!({"id": "a"})).is_ok());
    assert!(check(serde_json::json!({"id": "a", "gone": null})).is_ok());
    assert!(check(serde_json::json!({"id": "a", "note": null})).is_err());
    assert!(check(serde_json::json!({"id": "a", "other": 1})).is_err());
    assert!(check(serde_json::json!({"note": "b"})).is_err());
    assert!(check(serde_json::json!({"id": 1})).is_err());
}
