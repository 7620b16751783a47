//! The authorization matrix: every chat, group, member, invite and message operation as a
//! non-member, a removed member, and a plain member where an admin is needed.

use futures::future::LocalBoxFuture;

use super::{TestUser, register, say};
use crate::groups::{AssignableRole, ChatTitle, CreateGroup};
use crate::invites::{CreateInvite, InviteCode};
use crate::messages::{Emoji, ForwardMessage, HistoryQuery, MessageText, SendMessage};
use crate::moderation::{NewReport, ReportQuery, ReportReason};
use crate::{ChatId, MessageId, PageRequest, ReportId, Result, Service};

/// What the owner sees of the group: everything an operation could have changed.
async fn snapshot(service: &dyn Service, owner: &TestUser, chat: ChatId) -> String {
    let detail = service.get_chat(&owner.caller, chat).await.unwrap();
    let history = service
        .list_messages(&owner.caller, chat, HistoryQuery::latest())
        .await
        .unwrap();
    let invites = service.list_invites(&owner.caller, chat).await.unwrap();
    let mut receipts = Vec::new();
    for message in &history {
        receipts.push(
            service
                .list_read_receipts(&owner.caller, chat, message.id)
                .await
                .unwrap(),
        );
    }
    let listed: Vec<_> = service
        .list_chats(&owner.caller, PageRequest::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|item| item.chat.id == chat)
        .collect();
    format!("{detail:?}\n{history:?}\n{invites:?}\n{receipts:?}\n{listed:?}")
}

fn code<T>(result: Result<T>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => error.code(),
    }
}

/// Every operation on `chat` and its message as `user`, each to be run (or not) on its own,
/// giving the error code it returned.
fn attempts<'a>(
    service: &'a dyn Service,
    user: &'a TestUser,
    chat: ChatId,
    message: MessageId,
    invite: &'a InviteCode,
    others: (&'a TestUser, &'a TestUser),
    own_chat: ChatId,
) -> Vec<(&'static str, LocalBoxFuture<'a, &'static str>)> {
    let caller = &user.caller;
    let (owner, member) = others;
    let text = || MessageText::parse("sneaky").unwrap();
    let emoji = || Emoji::parse("👀").unwrap();
    let forward = ForwardMessage {
        chat_id: chat,
        message_id: message,
        to_chat_id: own_chat,
        client_id: None,
    };
    macro_rules! attempt {
        ($name:literal, $call:expr) => {
            (
                $name,
                Box::pin(async move { code($call.await) }) as LocalBoxFuture<'a, &'static str>,
            )
        };
    }
    vec![
        attempt!("get_chat", service.get_chat(caller, chat)),
        attempt!("hide_chat", service.hide_chat(caller, chat)),
        attempt!(
            "rename_group",
            service.rename_group(caller, chat, ChatTitle::parse("Hijacked").unwrap())
        ),
        attempt!("delete_group", service.delete_group(caller, chat)),
        attempt!("add_member", service.add_member(caller, chat, user.id())),
        attempt!(
            "remove_member",
            service.remove_member(caller, chat, owner.id())
        ),
        attempt!(
            "set_member_role",
            service.set_member_role(caller, chat, member.id(), AssignableRole::Admin)
        ),
        attempt!("list_members", service.list_members(caller, chat)),
        attempt!(
            "send_message",
            service.send_message(caller, SendMessage::new(chat, text()))
        ),
        attempt!(
            "list_messages",
            service.list_messages(caller, chat, HistoryQuery::latest())
        ),
        attempt!(
            "edit_message",
            service.edit_message(caller, chat, message, text())
        ),
        attempt!(
            "delete_message",
            service.delete_message(caller, chat, message)
        ),
        attempt!("forward_out", service.forward_message(caller, forward)),
        attempt!(
            "add_reaction",
            service.add_reaction(caller, chat, message, emoji())
        ),
        attempt!(
            "remove_reaction",
            service.remove_reaction(caller, chat, message, emoji())
        ),
        attempt!("mark_read", service.mark_read(caller, chat, 99)),
        attempt!(
            "list_read_receipts",
            service.list_read_receipts(caller, chat, message)
        ),
        attempt!("send_typing", service.send_typing(caller, chat)),
        attempt!(
            "create_invite",
            service.create_invite(caller, CreateInvite::new(chat))
        ),
        attempt!("list_invites", service.list_invites(caller, chat)),
        attempt!("revoke_invite", service.revoke_invite(caller, chat, invite)),
        attempt!(
            "create_report",
            service.create_report(
                caller,
                NewReport::message(chat, message, ReportReason::Spam)
            )
        ),
    ]
}

pub async fn authorization_matrix_refuses_and_changes_nothing(service: &dyn Service) {
    let owner = register(service, "boss").await;
    let member = register(service, "worker").await;
    let removed = register(service, "former").await;
    let stranger = register(service, "stranger").await;
    let chat = service
        .create_group(
            &owner.caller,
            CreateGroup::new(
                ChatTitle::parse("Staff").unwrap(),
                vec![member.id(), removed.id()],
            ),
        )
        .await
        .unwrap()
        .chat
        .id;
    let message = say(service, &owner, chat, "owner's words").await;
    say(service, &removed, chat, "my last words").await;
    service
        .add_reaction(
            &member.caller,
            chat,
            message.id,
            Emoji::parse("👀").unwrap(),
        )
        .await
        .unwrap();
    service.mark_read(&member.caller, chat, 2).await.unwrap();
    let invite = service
        .create_invite(&owner.caller, CreateInvite::new(chat))
        .await
        .unwrap();
    let invite = InviteCode::parse(invite.code).unwrap();
    service
        .remove_member(&owner.caller, chat, removed.id())
        .await
        .unwrap();
    let before = snapshot(service, &owner, chat).await;

    // Non-members and removed members learn nothing: every answer is `not_found`.
    for outsider in [&stranger, &removed] {
        let own_chat = service
            .start_direct_chat(&outsider.caller, owner.id())
            .await
            .unwrap()
            .chat
            .chat
            .id;
        let all = attempts(
            service,
            outsider,
            chat,
            message.id,
            &invite,
            (&owner, &member),
            own_chat,
        );
        assert_eq!(all.len(), 22);
        for (operation, attempt) in all {
            assert_eq!(
                attempt.await,
                "not_found",
                "{operation} as {}",
                outsider.auth.user.username
            );
        }
        // Nor can they forward from their own chat into the group.
        let theirs = say(service, outsider, own_chat, "mine").await;
        let error = service
            .forward_message(
                &outsider.caller,
                ForwardMessage {
                    chat_id: own_chat,
                    message_id: theirs.id,
                    to_chat_id: chat,
                    client_id: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(error.code(), "not_found");
    }

    // A plain member may take part but not manage.
    let own_chat = service
        .start_direct_chat(&member.caller, owner.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    let forbidden = [
        "rename_group",
        "delete_group",
        "add_member",
        "remove_member",
        "set_member_role",
        "edit_message",
        "delete_message",
        "create_invite",
        "list_invites",
        "revoke_invite",
    ];
    let all = attempts(
        service,
        &member,
        chat,
        message.id,
        &invite,
        (&owner, &stranger),
        own_chat,
    );
    for (operation, attempt) in all {
        if forbidden.contains(&operation) {
            assert_eq!(attempt.await, "forbidden", "{operation} as a plain member");
        }
    }
    let server = [
        code(
            service
                .list_reports(&member.caller, ReportQuery::default())
                .await,
        ),
        code(
            service
                .resolve_report(&member.caller, ReportId::new(), None)
                .await,
        ),
        code(service.deactivate_user(&member.caller, owner.id()).await),
        code(service.reactivate_user(&member.caller, owner.id()).await),
    ];
    assert_eq!(server, ["forbidden"; 4]);

    // The refusals changed nothing.
    assert_eq!(snapshot(service, &owner, chat).await, before);
}
