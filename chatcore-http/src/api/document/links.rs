//! Response links from a created resource to the operations on it, for generators and
//! stateful testing.

use serde_json::{Map, Value, json};

use super::for_each_operation;

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

pub(super) fn add_links(document: &mut Value) {
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
