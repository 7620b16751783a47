//! The mapping of names: Chatset's Socket.IO events to chatcore's commands, and chatcore's
//! events to the names they are pushed under. The README's table is this file.

use chatcore::chats::{ChatKind, MemberRole};
use chatcore::events::{Event, EventData};
use chatcore::realtime::Failure;
use serde_json::{Map, Value};

/// How a client event becomes a command: its name, and what to add to its arguments.
struct Route {
    event: &'static str,
    command: &'static str,
    /// Arguments the event implies (`group user admin add` sets `role: admin`).
    implied: &'static [(&'static str, &'static str)],
    /// An argument the event requires though the command does not (`message reply`).
    required: Option<&'static str>,
}

const fn route(event: &'static str, command: &'static str) -> Route {
    Route {
        event,
        command,
        implied: &[],
        required: None,
    }
}

/// Chatset's events, then the ones a Socket.IO client needs besides. Every command of
/// chatcore's table is also accepted under its own name (`edit_message`).
const ROUTES: &[Route] = &[
    route("user register", "register"),
    route("user login", "login"),
    route("user logout", "logout"),
    route("user unregister", "unregister"),
    route("user list", "search_users"),
    // `user data` without `user_id` is `get_me`: see `command`.
    route("user data", "get_user"),
    route("user update", "update_profile"),
    route("contact user add", "add_contact"),
    route("contact user remove", "remove_contact"),
    // As the Chatset notes spell it.
    route("contact user remote", "remove_contact"),
    route("contact list", "list_contacts"),
    route("contact user block", "block_user"),
    route("contact user unblock", "unblock_user"),
    route("contact block list", "list_blocks"),
    route("conversation create", "start_direct_chat"),
    route("conversation open", "open_chat"),
    route("conversation close", "mark_read"),
    route("conversation list", "list_chats"),
    route("conversation data", "get_chat"),
    route("conversation remove", "hide_chat"),
    Route {
        implied: &[("reason", "spam")],
        ..route("conversation spam", "create_report")
    },
    route("conversation read", "mark_read"),
    route("conversation typing", "send_typing"),
    route("message add", "send_message"),
    Route {
        required: Some("reply_to"),
        ..route("message reply", "send_message")
    },
    route("message edit", "edit_message"),
    route("message delete", "delete_message"),
    route("message forward", "forward_message"),
    route("message react", "add_reaction"),
    route("message unreact", "remove_reaction"),
    route("message list", "list_messages"),
    route("message read list", "list_read_receipts"),
    route("group create", "create_group"),
    route("group delete", "delete_group"),
    route("group rename", "rename_group"),
    route("group user add", "add_member"),
    route("group user remove", "remove_member"),
    Route {
        implied: &[("role", "admin")],
        ..route("group user admin add", "set_member_role")
    },
    Route {
        implied: &[("role", "member")],
        ..route("group user admin remove", "set_member_role")
    },
    route("group user list", "list_members"),
    route("group invite create", "create_invite"),
    route("group invite list", "list_invites"),
    route("group invite revoke", "revoke_invite"),
    route("invite preview", "preview_invite"),
    route("invite accept", "accept_invite"),
];

/// The command a client event runs, with its arguments. An event that is neither in the
/// table nor a command's own name is passed on as it is, for the connection to refuse.
pub(crate) fn command(event: &str, args: Value) -> Result<(String, Value), Failure> {
    let mut args = match args {
        Value::Object(args) => args,
        Value::Null => Map::new(),
        _ => return Err(Failure::invalid("arguments are one JSON object", None)),
    };
    if event == "user data" && !args.contains_key("user_id") {
        return Ok(("get_me".to_owned(), Value::Object(args)));
    }
    let Some(route) = ROUTES.iter().find(|route| route.event == event) else {
        return Ok((event.to_owned(), Value::Object(args)));
    };
    if let Some(field) = route.required
        && args.get(field).is_none_or(Value::is_null)
    {
        return Err(Failure::invalid(
            format!("{event} needs {field}"),
            Some(field),
        ));
    }
    for (field, value) in route.implied {
        if args.contains_key(*field) {
            return Err(Failure::invalid(
                format!("{event} sets {field} itself"),
                Some(field),
            ));
        }
        args.insert((*field).to_owned(), Value::from(*value));
    }
    Ok((route.command.to_owned(), Value::Object(args)))
}

/// The name an event is pushed under: Chatset's where it has one, else the event's kind.
pub(crate) fn push(event: &Event) -> &'static str {
    match &event.data {
        EventData::MessageCreated(message) if message.reply_to.is_some() => "message reply",
        EventData::MessageCreated(_) => "message add",
        EventData::ChatCreated(created) if created.chat.kind == ChatKind::Group => "group create",
        EventData::ChatCreated(_) => "conversation create",
        EventData::ChatDeleted(_) => "group delete",
        EventData::MemberJoined(_) => "group user add",
        EventData::MemberLeft(_) | EventData::MemberRemoved(_) => "group user remove",
        EventData::MemberRoleChanged(member) if member.role == MemberRole::Member => {
            "group user admin remove"
        }
        EventData::MemberRoleChanged(_) => "group user admin add",
        _ => event.kind().as_str(),
    }
}

#[cfg(test)]
mod tests {
    use chatcore::realtime::COMMANDS;
    use serde_json::json;

    use super::*;

    #[test]
    fn every_route_leads_to_a_command_and_is_in_the_readme() {
        let readme = include_str!("../README.md");
        for route in ROUTES {
            assert!(
                ["register", "login"].contains(&route.command) || COMMANDS.contains(&route.command),
                "{} leads nowhere",
                route.event
            );
            assert!(
                readme.contains(&format!("| `{}` |", route.event)),
                "{} is not in the README's table",
                route.event
            );
        }
    }

    #[test]
    fn events_become_commands_with_what_they_imply() -> Result<(), Failure> {
        assert_eq!(
            command(
                "group user admin add",
                json!({"chat_id": "c", "user_id": "u"})
            )?,
            (
                "set_member_role".to_owned(),
                json!({"chat_id": "c", "user_id": "u", "role": "admin"})
            )
        );
        assert_eq!(command("user data", Value::Null)?.0, "get_me");
        assert_eq!(command("user data", json!({"user_id": "u"}))?.0, "get_user");
        assert_eq!(
            command("contact user remote", json!({}))?.0,
            "remove_contact"
        );
        assert_eq!(command("edit_message", json!({}))?.0, "edit_message");
        let reply = command("message reply", json!({"chat_id": "c", "text": "t"}));
        assert_eq!(
            reply.map_err(|failure| failure.field),
            Err(Some("reply_to".to_owned()))
        );
        assert_eq!(
            command("conversation spam", json!({"reason": "abuse"})).map_err(|f| f.field),
            Err(Some("reason".to_owned()))
        );
        assert!(command("message add", json!([1, 2])).is_err());
        Ok(())
    }
}
