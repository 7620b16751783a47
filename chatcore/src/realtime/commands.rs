//! The one table of client commands: a name, JSON arguments, and the [`Service`] operation
//! they run. Names are the REST API's operation ids; arguments are the REST operation's path,
//! query and body fields in one object; a reply is the body the REST operation answers
//! (`null` where it answers 204).

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::Failure;
use crate::groups::{AssignableRole, ChatTitle, CreateGroup, HistoryVisibility};
use crate::invites::{CreateInvite, InviteCode};
use crate::messages::{ClientId, Emoji, ForwardMessage, HistoryQuery, MessageText, SendMessage};
use crate::moderation::{NewReport, ReportReason};
use crate::users::{
    DisplayName, Email, Password, Phone, ProfileUpdate, Status, UserSearch, Username,
};
use crate::{Caller, ChatId, Error, MessageId, PageRequest, Result, Service, SessionId, UserId};

/// Every command a signed-in connection accepts, besides `register` and `login` (see
/// [`Connection::command`](super::Connection::command)).
pub const COMMANDS: &[&str] = &[
    "get_me",
    "update_profile",
    "unregister",
    "change_password",
    "logout",
    "list_sessions",
    "revoke_session",
    "get_user",
    "search_users",
    "add_contact",
    "remove_contact",
    "list_contacts",
    "block_user",
    "unblock_user",
    "list_blocks",
    "list_chats",
    "start_direct_chat",
    "get_chat",
    "open_chat",
    "hide_chat",
    "create_report",
    "create_group",
    "rename_group",
    "delete_group",
    "list_members",
    "add_member",
    "remove_member",
    "set_member_role",
    "create_invite",
    "list_invites",
    "revoke_invite",
    "preview_invite",
    "accept_invite",
    "list_messages",
    "send_message",
    "edit_message",
    "delete_message",
    "forward_message",
    "add_reaction",
    "remove_reaction",
    "mark_read",
    "list_read_receipts",
    "send_typing",
];

/// Runs the command `name` for `caller`.
pub(super) async fn run(
    service: &dyn Service,
    caller: &Caller,
    name: &str,
    args: Value,
) -> Result<Value, Failure> {
    match name {
        "get_me" => {
            let NoArgs {} = parse(args)?;
            reply(service.get_me(caller).await)
        }
        "update_profile" => {
            let args: ProfileArgs = parse(args)?;
            reply(service.update_profile(caller, args.update()?).await)
        }
        "unregister" => {
            let args: PasswordArgs = parse(args)?;
            reply(service.unregister(caller, &args.password).await)
        }
        "change_password" => {
            let args: ChangePasswordArgs = parse(args)?;
            let new = Password::parse(args.new_password)?;
            reply(
                service
                    .change_password(caller, &args.current_password, new)
                    .await,
            )
        }
        "logout" => {
            let NoArgs {} = parse(args)?;
            reply(service.logout(caller).await)
        }
        "list_sessions" => {
            let NoArgs {} = parse(args)?;
            reply(service.list_sessions(caller).await)
        }
        "revoke_session" => {
            let args: SessionArgs = parse(args)?;
            reply(service.revoke_session(caller, args.session_id).await)
        }
        "get_user" => {
            let args: UserArgs = parse(args)?;
            reply(service.get_user(caller, args.user_id).await)
        }
        "search_users" => {
            let args: SearchArgs = parse(args)?;
            let search = UserSearch {
                query: args.q,
                page: PageRequest::new(args.page, args.limit)?,
            };
            reply(service.search_users(caller, search).await)
        }
        "add_contact" => {
            let args: UserArgs = parse(args)?;
            reply(service.add_contact(caller, args.user_id).await)
        }
        "remove_contact" => {
            let args: UserArgs = parse(args)?;
            reply(service.remove_contact(caller, args.user_id).await)
        }
        "list_contacts" => {
            let args: PageArgs = parse(args)?;
            reply(service.list_contacts(caller, args.request()?).await)
        }
        "block_user" => {
            let args: UserArgs = parse(args)?;
            reply(service.block_user(caller, args.user_id).await)
        }
        "unblock_user" => {
            let args: UserArgs = parse(args)?;
            reply(service.unblock_user(caller, args.user_id).await)
        }
        "list_blocks" => {
            let args: PageArgs = parse(args)?;
            reply(service.list_blocks(caller, args.request()?).await)
        }
        "list_chats" => {
            let args: PageArgs = parse(args)?;
            reply(service.list_chats(caller, args.request()?).await)
        }
        "start_direct_chat" => {
            let args: UserArgs = parse(args)?;
            reply(
                service
                    .start_direct_chat(caller, args.user_id)
                    .await
                    .map(|direct| direct.chat),
            )
        }
        "get_chat" => {
            let args: ChatArgs = parse(args)?;
            reply(service.get_chat(caller, args.chat_id).await)
        }
        "open_chat" => {
            let args: HistoryArgs = parse(args)?;
            let query = HistoryQuery::new(args.before, args.after, args.limit)?;
            let chat = service.get_chat(caller, args.chat_id).await?;
            let messages = service.list_messages(caller, args.chat_id, query).await?;
            reply(Ok(OpenChat { chat, messages }))
        }
        "hide_chat" => {
            let args: ChatArgs = parse(args)?;
            reply(service.hide_chat(caller, args.chat_id).await)
        }
        "create_report" => {
            let args: ReportArgs = parse(args)?;
            let report = NewReport {
                chat_id: args.chat_id,
                message_id: args.message_id,
                reason: args.reason,
                note: args.note,
            };
            reply(service.create_report(caller, report).await)
        }
        "create_group" => {
            let args: GroupArgs = parse(args)?;
            let mut group = CreateGroup::new(
                ChatTitle::parse(args.title)?,
                args.members.unwrap_or_default(),
            );
            if let Some(history) = args.history {
                group.history = history;
            }
            reply(service.create_group(caller, group).await)
        }
        "rename_group" => {
            let args: RenameArgs = parse(args)?;
            let title = ChatTitle::parse(args.title)?;
            reply(service.rename_group(caller, args.chat_id, title).await)
        }
        "delete_group" => {
            let args: ChatArgs = parse(args)?;
            reply(service.delete_group(caller, args.chat_id).await)
        }
        "list_members" => {
            let args: ChatArgs = parse(args)?;
            reply(service.list_members(caller, args.chat_id).await)
        }
        "add_member" => {
            let args: MemberArgs = parse(args)?;
            reply(service.add_member(caller, args.chat_id, args.user_id).await)
        }
        "remove_member" => {
            let args: MemberArgs = parse(args)?;
            reply(
                service
                    .remove_member(caller, args.chat_id, args.user_id)
                    .await,
            )
        }
        "set_member_role" => {
            let args: RoleArgs = parse(args)?;
            reply(
                service
                    .set_member_role(caller, args.chat_id, args.user_id, args.role)
                    .await,
            )
        }
        "create_invite" => {
            let args: InviteArgs = parse(args)?;
            let invite = CreateInvite {
                chat_id: args.chat_id,
                expires_at: args.expires_at,
                max_uses: args.max_uses,
            };
            reply(service.create_invite(caller, invite).await)
        }
        "list_invites" => {
            let args: ChatArgs = parse(args)?;
            reply(service.list_invites(caller, args.chat_id).await)
        }
        "revoke_invite" => {
            let args: RevokeInviteArgs = parse(args)?;
            let code = InviteCode::parse(args.code)?;
            reply(service.revoke_invite(caller, args.chat_id, &code).await)
        }
        "preview_invite" => {
            let args: CodeArgs = parse(args)?;
            let code = InviteCode::parse(args.code)?;
            reply(service.preview_invite(caller, &code).await)
        }
        "accept_invite" => {
            let args: CodeArgs = parse(args)?;
            let code = InviteCode::parse(args.code)?;
            reply(service.accept_invite(caller, &code).await)
        }
        "list_messages" => {
            let args: HistoryArgs = parse(args)?;
            let query = HistoryQuery::new(args.before, args.after, args.limit)?;
            reply(service.list_messages(caller, args.chat_id, query).await)
        }
        "send_message" => {
            let args: SendArgs = parse(args)?;
            let mut message = SendMessage::new(args.chat_id, MessageText::parse(args.text)?);
            message.reply_to = args.reply_to;
            message.client_id = args.client_id.map(ClientId::parse).transpose()?;
            reply(service.send_message(caller, message).await)
        }
        "edit_message" => {
            let args: EditArgs = parse(args)?;
            let text = MessageText::parse(args.text)?;
            reply(
                service
                    .edit_message(caller, args.chat_id, args.message_id, text)
                    .await,
            )
        }
        "delete_message" => {
            let args: MessageArgs = parse(args)?;
            reply(
                service
                    .delete_message(caller, args.chat_id, args.message_id)
                    .await,
            )
        }
        "forward_message" => {
            let args: ForwardArgs = parse(args)?;
            let forward = ForwardMessage {
                chat_id: args.chat_id,
                message_id: args.message_id,
                to_chat_id: args.to_chat_id,
                client_id: args.client_id.map(ClientId::parse).transpose()?,
            };
            reply(service.forward_message(caller, forward).await)
        }
        "add_reaction" => {
            let args: ReactionArgs = parse(args)?;
            let emoji = Emoji::parse(args.emoji)?;
            reply(
                service
                    .add_reaction(caller, args.chat_id, args.message_id, emoji)
                    .await,
            )
        }
        "remove_reaction" => {
            let args: ReactionArgs = parse(args)?;
            let emoji = Emoji::parse(args.emoji)?;
            reply(
                service
                    .remove_reaction(caller, args.chat_id, args.message_id, emoji)
                    .await,
            )
        }
        "mark_read" => {
            let args: ReadArgs = parse(args)?;
            reply(service.mark_read(caller, args.chat_id, args.seq).await)
        }
        "list_read_receipts" => {
            let args: MessageArgs = parse(args)?;
            reply(
                service
                    .list_read_receipts(caller, args.chat_id, args.message_id)
                    .await,
            )
        }
        "send_typing" => {
            let args: ChatArgs = parse(args)?;
            reply(service.send_typing(caller, args.chat_id).await)
        }
        _ => Err(unknown(name)),
    }
}

/// The refusal of a command that is not in the table.
pub(super) fn unknown(name: &str) -> Failure {
    let name: String = name.chars().take(64).collect();
    Failure::new(
        Error::NotFound("command").code(),
        format!("no command named {name:?}"),
    )
}

/// Arguments as the command's struct: `null` or absent is an empty object; an unknown field,
/// a missing one or a value of the wrong type is `invalid_input` naming the field.
pub(super) fn parse<T: DeserializeOwned>(args: Value) -> Result<T, Failure> {
    let args = match args {
        Value::Null => Value::Object(serde_json::Map::new()),
        args => args,
    };
    serde_path_to_error::deserialize(args).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        let field = match path.as_str() {
            "." | "" => inner
                .split('`')
                .nth(1)
                .filter(|_| {
                    inner.starts_with("missing field") || inner.starts_with("unknown field")
                })
                .map(str::to_owned),
            path => Some(path.to_owned()),
        };
        Failure::invalid(inner, field.as_deref())
    })
}

/// A reply: the body as JSON (`null` for `()`).
pub(super) fn reply<T: Serialize>(result: Result<T>) -> Result<Value, Failure> {
    let body = result?;
    serde_json::to_value(body).map_err(|error| Failure::from(Error::internal(error)))
}

/// `open_chat`'s reply: the chat and a page of its messages.
#[derive(Serialize)]
struct OpenChat {
    chat: crate::chats::ChatDetail,
    messages: Vec<crate::messages::Message>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordArgs {
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePasswordArgs {
    current_password: String,
    new_password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionArgs {
    session_id: SessionId,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserArgs {
    user_id: UserId,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatArgs {
    chat_id: ChatId,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberArgs {
    chat_id: ChatId,
    user_id: UserId,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleArgs {
    chat_id: ChatId,
    user_id: UserId,
    role: AssignableRole,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageArgs {
    chat_id: ChatId,
    message_id: MessageId,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageArgs {
    page: Option<u32>,
    limit: Option<u32>,
}

impl PageArgs {
    fn request(self) -> Result<PageRequest> {
        PageRequest::new(self.page, self.limit)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    q: Option<String>,
    page: Option<u32>,
    limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryArgs {
    chat_id: ChatId,
    before: Option<i64>,
    after: Option<i64>,
    limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportArgs {
    chat_id: ChatId,
    reason: ReportReason,
    message_id: Option<MessageId>,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupArgs {
    title: String,
    members: Option<Vec<UserId>>,
    history: Option<HistoryVisibility>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameArgs {
    chat_id: ChatId,
    title: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteArgs {
    chat_id: ChatId,
    expires_at: Option<DateTime<Utc>>,
    max_uses: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeArgs {
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeInviteArgs {
    chat_id: ChatId,
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendArgs {
    chat_id: ChatId,
    text: String,
    reply_to: Option<MessageId>,
    client_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditArgs {
    chat_id: ChatId,
    message_id: MessageId,
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForwardArgs {
    chat_id: ChatId,
    message_id: MessageId,
    to_chat_id: ChatId,
    client_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReactionArgs {
    chat_id: ChatId,
    message_id: MessageId,
    emoji: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadArgs {
    chat_id: ChatId,
    seq: i64,
}

/// `update_profile`: a field left out stays; `null` clears the optional ones.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileArgs {
    current_password: Option<String>,
    username: Option<String>,
    #[serde(default, deserialize_with = "clearable")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "clearable")]
    display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "clearable")]
    status: Option<Option<String>>,
    #[serde(default, deserialize_with = "clearable")]
    phone: Option<Option<String>>,
}

/// A present field, `null` included (`Some(None)`); serde makes an absent one `None`.
fn clearable<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

impl ProfileArgs {
    fn update(self) -> Result<ProfileUpdate> {
        fn each<T>(
            value: Option<Option<String>>,
            parse: impl Fn(String) -> Result<T>,
        ) -> Result<Option<Option<T>>> {
            value.map(|value| value.map(&parse).transpose()).transpose()
        }
        Ok(ProfileUpdate {
            current_password: self.current_password,
            username: self.username.map(Username::parse).transpose()?,
            email: each(self.email, Email::parse)?,
            display_name: each(self.display_name, DisplayName::parse)?,
            status: each(self.status, Status::parse)?,
            phone: each(self.phone, Phone::parse)?,
        })
    }
}
