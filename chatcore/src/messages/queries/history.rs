//! Reading a chat's history.

use super::views::views;
use crate::access::access;
use crate::context::Context;
use crate::messages::{HistoryQuery, Message};
use crate::sessions::Caller;
use crate::sql::Sql;
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
    let above = query.after().map_or(member.visible_from_seq, |after| {
        after.max(member.visible_from_seq)
    });
    let below = query.before().unwrap_or(i64::MAX);
    let limit = i64::from(query.limit());
    let values = [chat_id.into(), above.into(), below.into(), limit.into()];
    let backend = inner.db.get_database_backend();
    let rows = if query.after().is_some() {
        inner.messages(OLDEST_FIRST.with(backend, values)).await?
    } else {
        let mut rows = inner.messages(NEWEST_FIRST.with(backend, values)).await?;
        rows.reverse();
        rows
    };
    views(&inner.db, me, member.visible_from_seq, rows).await
}

/// A page of chat `$1`'s messages with a seq above `$2` and below `$3`, at most `$4`: the
/// first ones ([`OLDEST_FIRST`], for `after`) or the last ones ([`NEWEST_FIRST`]).
macro_rules! page {
    ($order:literal) => {
        concat!(
            "SELECT id, chat_id, seq, sender_id, text, client_id, created_at, edited_at, \
             deleted_at, reply_to_id, forwarded_message_id, forwarded_sender_id, reactions \
             FROM messages WHERE chat_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq ",
            $order,
            " LIMIT $4"
        )
    };
}
static OLDEST_FIRST: Sql = Sql::new(page!("ASC"));
static NEWEST_FIRST: Sql = Sql::new(page!("DESC"));
