//! Messages as a reader sees them, and as events carry them.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::messages::entity::{self, Model};
use crate::messages::{ForwardedFrom, Message, ReactionCount, ReplyTo, preview};
use crate::{Error, Result};

/// How many characters of the original a reply shows.
const REPLY_PREVIEW_CHARS: usize = 100;

/// Turns rows into messages as `reader` sees them (their history starting after
/// `visible_from`): reply previews and reaction counts in two more queries at most, whatever
/// the number of rows (none for counts when no row carries reactions).
pub(crate) async fn views(
    db: &impl ConnectionTrait,
    reader: Uuid,
    visible_from: i64,
    rows: Vec<Model>,
) -> Result<Vec<Message>> {
    let reply_ids: Vec<Uuid> = rows.iter().filter_map(|row| row.reply_to_id).collect();
    let originals: HashMap<Uuid, Model> = if reply_ids.is_empty() {
        HashMap::new()
    } else {
        entity::Entity::find()
            .filter(entity::Column::Id.is_in(reply_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|original| (original.id, original))
            .collect()
    };
    let ids: Vec<Uuid> = rows
        .iter()
        .filter(|row| row.reactions > 0)
        .map(|row| row.id)
        .collect();
    let mut counts = crate::messages::reactions::counts(db, reader, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let reply_to = row
                .reply_to_id
                .map(|id| reply_view(id, originals.get(&id), visible_from));
            let reactions = counts.remove(&row.id).unwrap_or_default();
            view(row, reply_to, reactions)
        })
        .collect())
}

/// What a reply shows of its original to a reader whose history starts after `visible_from`.
pub(super) fn reply_view(id: Uuid, original: Option<&Model>, visible_from: i64) -> ReplyTo {
    match original {
        Some(original) if original.seq > visible_from => ReplyTo {
            message_id: id.into(),
            seq: original.seq,
            visible: true,
            sender_id: Some(original.sender_id.into()),
            text: original
                .text
                .as_deref()
                .map(|text| preview(text, REPLY_PREVIEW_CHARS)),
            deleted: original.deleted_at.is_some(),
        },
        original => ReplyTo {
            message_id: id.into(),
            seq: original.map_or(0, |original| original.seq),
            visible: false,
            sender_id: None,
            text: None,
            deleted: false,
        },
    }
}

/// A message as events carry it: the same for every member, so a reply names its original
/// without quoting it (a member may not be allowed to see it).
pub(super) fn event_view(row: &Model, reply_seq: Option<i64>) -> Message {
    let reply_to = row.reply_to_id.map(|id| ReplyTo {
        message_id: id.into(),
        seq: reply_seq.unwrap_or(0),
        visible: false,
        sender_id: None,
        text: None,
        deleted: false,
    });
    view(row.clone(), reply_to, Vec::new())
}

pub(super) fn view(
    model: Model,
    reply_to: Option<ReplyTo>,
    reactions: Vec<ReactionCount>,
) -> Message {
    let forwarded_from = match (model.forwarded_message_id, model.forwarded_sender_id) {
        (Some(message_id), Some(sender_id)) => Some(ForwardedFrom {
            message_id: message_id.into(),
            sender_id: sender_id.into(),
        }),
        _ => None,
    };
    Message {
        id: model.id.into(),
        chat_id: model.chat_id.into(),
        seq: model.seq,
        sender_id: model.sender_id.into(),
        deleted: model.deleted_at.is_some(),
        text: model.text,
        client_id: model.client_id,
        created_at: model.created_at,
        edited_at: model.edited_at,
        reply_to,
        forwarded_from,
        reactions,
    }
}

pub(super) async fn single_view(
    db: &impl ConnectionTrait,
    reader: Uuid,
    visible_from: i64,
    row: Model,
) -> Result<Message> {
    views(db, reader, visible_from, vec![row])
        .await?
        .pop()
        .ok_or_else(|| Error::internal("message view missing"))
}

/// A message of the chat that a member whose history starts after `visible_from` may see.
pub(crate) async fn visible_message(
    db: &impl ConnectionTrait,
    chat_id: Uuid,
    message_id: Uuid,
    visible_from: i64,
) -> Result<Model> {
    entity::Entity::find_by_id(message_id)
        .filter(entity::Column::ChatId.eq(chat_id))
        .filter(entity::Column::Seq.gt(visible_from))
        .one(db)
        .await?
        .ok_or(Error::NotFound("message"))
}
