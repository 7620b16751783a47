//! Reactions: one row per (message, user, emoji); readers get counts per emoji.

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
};
use uuid::Uuid;

use super::queries::visible_message;
use super::{Emoji, ReactionCount, entity as messages, reaction_entity as reactions};
use crate::access::sender_access;
use crate::clock::now;
use crate::context::{Context, Written};
use crate::events::{EventData, NewEvent, ReactionChanged};
use crate::sessions::Caller;
use crate::{ChatId, Error, MessageId, Result};

#[derive(FromQueryResult)]
struct CountRow {
    message_id: Uuid,
    emoji: String,
    count: i64,
    mine: i64,
}

/// Reaction counts of these messages as `reader` sees them, most frequent first, in one query.
pub(crate) async fn counts(
    db: &impl ConnectionTrait,
    reader: Uuid,
    message_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<ReactionCount>>> {
    if message_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mine = Expr::case(Expr::col(reactions::Column::UserId).eq(reader), 1).finally(0);
    let query = Query::select()
        .columns([reactions::Column::MessageId, reactions::Column::Emoji])
        .expr_as(Expr::col(reactions::Column::UserId).count(), "count")
        .expr_as(Expr::expr(mine).sum(), "mine")
        .from(reactions::Entity)
        .and_where(Expr::col(reactions::Column::MessageId).is_in(message_ids.iter().copied()))
        .group_by_columns([reactions::Column::MessageId, reactions::Column::Emoji])
        .order_by_expr(Expr::col(Alias::new("count")), Order::Desc)
        .order_by(reactions::Column::Emoji, Order::Asc)
        .to_owned();
    let rows = CountRow::find_by_statement(db.get_database_backend().build(&query))
        .all(db)
        .await?;
    let mut counts: HashMap<Uuid, Vec<ReactionCount>> = HashMap::new();
    for row in rows {
        counts
            .entry(row.message_id)
            .or_default()
            .push(ReactionCount {
                emoji: row.emoji,
                count: u64::try_from(row.count).unwrap_or(0),
                mine: row.mine > 0,
            });
    }
    Ok(counts)
}

/// Keeps the message's count of reactions (`messages.reactions`) with a reaction added (`1`)
/// or taken back (`-1`).
async fn count_reactions(txn: &impl ConnectionTrait, message_id: Uuid, change: i64) -> Result<()> {
    messages::Entity::update_many()
        .col_expr(
            messages::Column::Reactions,
            Expr::col(messages::Column::Reactions).add(change),
        )
        .filter(messages::Column::Id.eq(message_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Adds (`add = true`) or removes the caller's reaction, and returns the message's counts.
pub(crate) async fn react(
    inner: &Context,
    caller: &Caller,
    chat_id: ChatId,
    message_id: MessageId,
    emoji: Emoji,
    add: bool,
) -> Result<Vec<ReactionCount>> {
    let (chat_id, me, message_id) = (
        chat_id.as_uuid(),
        caller.user_id.as_uuid(),
        message_id.as_uuid(),
    );
    inner
        .write(move |txn| {
            Box::pin(async move {
                let member = sender_access(txn, chat_id, me).await?;
                let message =
                    visible_message(txn, chat_id, message_id, member.visible_from_seq).await?;
                let seq = message.seq;
                let changed = |emoji: &str| {
                    NewEvent::chat(
                        chat_id,
                        me,
                        EventData::ReactionChanged(ReactionChanged {
                            message_id: message_id.into(),
                            seq,
                            emoji: emoji.to_owned(),
                            user_id: me.into(),
                            added: add,
                        }),
                    )
                    .message(seq)
                };
                if !add {
                    let event = changed(emoji.as_str());
                    let removed = reactions::Entity::delete_by_id((message.id, me, emoji.into()))
                        .exec(txn)
                        .await?;
                    if removed.rows_affected == 0 {
                        return Ok(Written::quiet(()));
                    }
                    count_reactions(txn, message.id, -1).await?;
                    return Ok(Written::with((), vec![event]));
                }
                // Taking a reaction back is always allowed; adding one is not for someone the
                // other member of a direct chat blocked.
                member.ensure_not_blocked()?;
                if message.deleted_at.is_some() {
                    return Err(Error::Conflict("the message was deleted".into()));
                }
                let event = changed(emoji.as_str());
                let inserted = reactions::Entity::insert(reactions::ActiveModel {
                    message_id: Set(message.id),
                    user_id: Set(me),
                    emoji: Set(emoji.into()),
                    chat_id: Set(chat_id),
                    created_at: Set(now()),
                })
                .on_conflict(
                    OnConflict::columns([
                        reactions::Column::MessageId,
                        reactions::Column::UserId,
                        reactions::Column::Emoji,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
                if inserted == 0 {
                    return Ok(Written::quiet(()));
                }
                count_reactions(txn, message.id, 1).await?;
                Ok(Written::with((), vec![event]))
            })
        })
        .await?;
    Ok(counts(&inner.db, me, &[message_id])
        .await?
        .remove(&message_id)
        .unwrap_or_default())
}
