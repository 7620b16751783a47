//! Changing a sent message: editing and deleting.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
};

use super::views::{event_view, single_view, visible_message};
use crate::access::{is_server_admin, sender_access};
use crate::chats::MemberRole;
use crate::chats::member_entity as members;
use crate::clock::now;
use crate::context::{Context, Written};
use crate::events::{EventData, MessageDeleted, NewEvent};
use crate::messages::entity::{self};
use crate::messages::{Message, MessageText, reaction_entity as reactions};
use crate::sessions::Caller;
use crate::{ChatId, Error, MessageId, Result};

pub(crate) async fn edit(
    inner: &Context,
    caller: &Caller,
    chat_id: ChatId,
    message_id: MessageId,
    text: MessageText,
) -> Result<Message> {
    let (chat_id, me) = (chat_id.as_uuid(), caller.user_id.as_uuid());
    let (row, visible_from) = inner
        .write(move |txn| {
            Box::pin(async move {
                let member = sender_access(txn, chat_id, me).await?;
                let message =
                    visible_message(txn, chat_id, message_id.as_uuid(), member.visible_from_seq)
                        .await?;
                if message.sender_id != me {
                    return Err(Error::Forbidden(
                        "only the sender may edit this message".into(),
                    ));
                }
                // Blocked by the other member of a direct chat: no more changes to what
                // they read.
                member.ensure_not_blocked()?;
                if message.deleted_at.is_some() {
                    return Err(Error::Conflict("the message was deleted".into()));
                }
                if message.forwarded_message_id.is_some() {
                    return Err(Error::Forbidden(
                        "a forwarded message cannot be edited".into(),
                    ));
                }
                let reply_seq = match message.reply_to_id {
                    Some(original) => entity::Entity::find_by_id(original)
                        .one(txn)
                        .await?
                        .map(|original| original.seq),
                    None => None,
                };
                let mut row = message.into_active_model();
                row.text = Set(Some(text.into()));
                row.edited_at = Set(Some(now()));
                let row = row.update(txn).await?;
                let events = vec![
                    NewEvent::chat(
                        chat_id,
                        me,
                        EventData::MessageEdited(event_view(&row, reply_seq)),
                    )
                    .message(row.seq),
                ];
                Ok(Written::with((row, member.visible_from_seq), events))
            })
        })
        .await?;
    single_view(&inner.db, me, visible_from, row).await
}

pub(crate) async fn delete(
    inner: &Context,
    caller: &Caller,
    chat_id: ChatId,
    message_id: MessageId,
) -> Result<()> {
    let (chat_id, me) = (chat_id.as_uuid(), caller.user_id.as_uuid());
    inner
        .write(move |txn| {
            Box::pin(async move {
                let member = members::Entity::find_by_id((chat_id, me)).one(txn).await?;
                // Server admins moderate every chat, member or not, and see all of it.
                let visible_from = match &member {
                    Some(member) => member.visible_from_seq,
                    None if is_server_admin(txn, me).await? => 0,
                    None => return Err(Error::NotFound("chat")),
                };
                let message =
                    visible_message(txn, chat_id, message_id.as_uuid(), visible_from).await?;
                if message.sender_id != me {
                    let group_admin = member
                        .as_ref()
                        .is_some_and(|member| member.role != MemberRole::Member);
                    if !group_admin && !is_server_admin(txn, me).await? {
                        return Err(Error::Forbidden(
                            "only the sender or an admin may delete this message".into(),
                        ));
                    }
                }
                if message.deleted_at.is_some() {
                    return Ok(Written::quiet(()));
                }
                let (id, seq) = (message.id, message.seq);
                let mut row = message.into_active_model();
                row.text = Set(None);
                row.deleted_at = Set(Some(now()));
                // Its reactions go with it.
                row.reactions = Set(0);
                row.update(txn).await?;
                reactions::Entity::delete_many()
                    .filter(reactions::Column::MessageId.eq(id))
                    .exec(txn)
                    .await?;
                Ok(Written::with(
                    (),
                    vec![
                        NewEvent::chat(
                            chat_id,
                            me,
                            EventData::MessageDeleted(MessageDeleted {
                                message_id: id.into(),
                                seq,
                            }),
                        )
                        .message(seq),
                    ],
                ))
            })
        })
        .await?;
    Ok(())
}
