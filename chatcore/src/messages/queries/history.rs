//! Reading a chat's history.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::views::views;
use crate::access::access;
use crate::context::Context;
use crate::messages::entity::{self};
use crate::messages::{HistoryQuery, Message};
use crate::sessions::Caller;
use crate::{ChatId, Result};

pub(crate) async fn history(
    inner: &Context,
    caller: &Caller,
    chat_id: ChatId,
    query: HistoryQuery,
) -> Result<Vec<Message>> {
    let chat_id = chat_id.as_uuid();
    let me = caller.user_id.as_uuid();
    let member = access(inner, chat_id, me).await?;
    // Members of a `since_join` group see only what was sent after they (last) joined.
    let mut select = entity::Entity::find()
        .filter(entity::Column::ChatId.eq(chat_id))
        .filter(entity::Column::Seq.gt(member.visible_from_seq));
    if let Some(before) = query.before() {
        select = select.filter(entity::Column::Seq.lt(before));
    }
    if let Some(after) = query.after() {
        select = select.filter(entity::Column::Seq.gt(after));
    }
    let limit = u64::from(query.limit());
    let rows = if query.after().is_some() {
        inner
            .all(select.order_by_asc(entity::Column::Seq).limit(limit))
            .await?
    } else {
        let mut rows = inner
            .all(select.order_by_desc(entity::Column::Seq).limit(limit))
            .await?;
        rows.reverse();
        rows
    };
    views(&inner.db, me, member.visible_from_seq, rows).await
}
