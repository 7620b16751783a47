//! Chat queries.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::entity as chats;
use super::member_entity as members;
use super::{Chat, ChatDetail, ChatKind, ChatListItem, DirectChat, Member, MemberRole};
use crate::access::{access, ensure_not_blocked, membership};
use crate::clock::{from_micros, now};
use crate::context::{Context, Written};
use crate::events::chat_created;
use crate::groups::HistoryVisibility;
use crate::messages::{MessagePreview, entity as messages, preview};
use crate::pagination::{Page, PageRequest};
use crate::sessions::Caller;
use crate::sql::Sql;
use crate::users::{UserProfile, entity as users, queries as user_queries};
use crate::{ChatId, Error, Result, UserId};

/// How many characters of the last message the chat list shows.
const PREVIEW_CHARS: usize = 100;

impl From<chats::Model> for Chat {
    fn from(model: chats::Model) -> Self {
        Chat {
            id: model.id.into(),
            kind: model.kind,
            title: model.title,
            history: model.history,
            created_at: model.created_at,
            last_activity_at: from_micros(model.last_activity),
        }
    }
}

/// The key that makes a direct chat unique per pair, whoever starts it.
fn direct_key(a: UserId, b: UserId) -> String {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    format!("{low}:{high}")
}

pub(crate) async fn start_direct(
    inner: &Context,
    caller: &Caller,
    other: UserId,
) -> Result<DirectChat> {
    if other == caller.user_id {
        return Err(Error::SelfChat);
    }
    let peer = users::Entity::find_by_id(other.as_uuid())
        .one(&inner.db)
        .await?
        .ok_or(Error::NotFound("user"))?;
    if !peer.can_sign_in() {
        return Err(Error::UserInactive);
    }
    let me = caller.user_id.as_uuid();
    let key = direct_key(caller.user_id, other);
    let (chat_id, created) = inner
        .write(move |txn| {
            Box::pin(async move {
                ensure_not_blocked(txn, other.as_uuid(), me).await?;
                let now = now();
                let chat_id = ChatId::new().as_uuid();
                // Insert-if-absent on the unique pair key: two users starting the same chat at
                // once both end up with the one row that won.
                let inserted = chats::Entity::insert(chats::ActiveModel {
                    id: Set(chat_id),
                    kind: Set(ChatKind::Direct),
                    title: Set(None),
                    direct_key: Set(Some(key.clone())),
                    created_by: Set(me),
                    created_at: Set(now),
                    last_seq: Set(0),
                    last_message_id: Set(None),
                    last_activity: Set(now.timestamp_micros()),
                    history: Set(HistoryVisibility::Full),
                    large: Set(false),
                })
                .on_conflict(
                    OnConflict::column(chats::Column::DirectKey)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
                if inserted == 0 {
                    let existing = chats::Entity::find()
                        .filter(chats::Column::DirectKey.eq(key))
                        .one(txn)
                        .await?
                        .ok_or_else(|| Error::internal("direct chat vanished"))?;
                    // Starting it again brings it back to the caller's list.
                    members::Entity::update_many()
                        .col_expr(members::Column::Hidden, Expr::value(false))
                        .filter(members::Column::ChatId.eq(existing.id))
                        .filter(members::Column::UserId.eq(me))
                        .exec(txn)
                        .await?;
                    return Ok(Written::quiet((existing.id, false)));
                }
                let member = |user_id| members::ActiveModel {
                    chat_id: Set(chat_id),
                    user_id: Set(user_id),
                    role: Set(MemberRole::Member),
                    joined_at: Set(now),
                    last_read_seq: Set(0),
                    hidden: Set(false),
                    visible_from_seq: Set(0),
                    last_activity: Set(now.timestamp_micros()),
                    large: Set(false),
                };
                members::Entity::insert_many([member(me), member(other.as_uuid())])
                    .exec_without_returning(txn)
                    .await?;
                let created = load_chat(txn, chat_id).await?;
                let events = chat_created(&created, me, &[me, other.as_uuid()]);
                Ok(Written::with((chat_id, true), events))
            })
        })
        .await?;
    let chat = detail(inner, caller, chat_id.into()).await?;
    Ok(DirectChat { chat, created })
}

pub(crate) async fn detail(
    inner: &Context,
    caller: &Caller,
    chat_id: ChatId,
) -> Result<ChatDetail> {
    let chat_id = chat_id.as_uuid();
    access(inner, chat_id, caller.user_id.as_uuid()).await?;
    load_detail(&inner.db, chat_id).await
}

/// A chat's own fields.
pub(crate) async fn load_chat(db: &impl ConnectionTrait, chat_id: Uuid) -> Result<Chat> {
    Ok(chats::Entity::find_by_id(chat_id)
        .one(db)
        .await?
        .ok_or(Error::NotFound("chat"))?
        .into())
}

/// A chat with its members, for whoever may see it (the caller checks).
pub(crate) async fn load_detail(db: &impl ConnectionTrait, chat_id: Uuid) -> Result<ChatDetail> {
    let chat = chats::Entity::find_by_id(chat_id)
        .one(db)
        .await?
        .ok_or(Error::NotFound("chat"))?;
    let rows = members::Entity::find()
        .filter(members::Column::ChatId.eq(chat_id))
        .order_by_asc(members::Column::JoinedAt)
        .order_by_asc(members::Column::UserId)
        .all(db)
        .await?;
    let members = member_views(db, rows).await?;
    Ok(ChatDetail {
        chat: chat.into(),
        members,
    })
}

/// Members with their profiles, in the order given.
pub(crate) async fn member_views(
    db: &impl ConnectionTrait,
    rows: Vec<members::Model>,
) -> Result<Vec<Member>> {
    let profiles = by_id(user_queries::profiles(db, rows.iter().map(|row| row.user_id)).await?);
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(Member {
                user: profiles.get(&row.user_id)?.clone(),
                role: row.role,
                joined_at: row.joined_at,
            })
        })
        .collect())
}

fn by_id(profiles: Vec<UserProfile>) -> HashMap<Uuid, UserProfile> {
    profiles
        .into_iter()
        .map(|profile| (profile.id.as_uuid(), profile))
        .collect()
}

/// A chat of the list page, with the member's start of history and read marker.
struct ListedChat {
    id: Uuid,
    kind: ChatKind,
    title: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    last_activity: i64,
    last_message_id: Option<Uuid>,
    history: HistoryVisibility,
    last_seq: i64,
    visible_from_seq: i64,
    last_read_seq: i64,
}

impl ListedChat {
    /// Whether the chat may hold messages the member has not read (counted by a query); when
    /// its newest message is at or below their marker or their start of history, it holds none.
    fn may_have_unread(&self) -> bool {
        self.last_seq > Ord::max(self.last_read_seq, self.visible_from_seq)
    }
}

/// [`ListedChat`]'s columns, in the order the list selects them.
const LISTED_COLUMNS: [&str; 10] = [
    "id",
    "kind",
    "title",
    "created_at",
    "last_activity",
    "last_message_id",
    "history",
    "last_seq",
    "visible_from_seq",
    "last_read_seq",
];
type ListedColumns = (
    Uuid,
    ChatKind,
    Option<String>,
    chrono::DateTime<chrono::Utc>,
    i64,
    Option<Uuid>,
    HistoryVisibility,
    i64,
    i64,
    i64,
);

impl From<ListedColumns> for ListedChat {
    fn from(
        (
            id,
            kind,
            title,
            created_at,
            last_activity,
            last_message_id,
            history,
            last_seq,
            visible_from_seq,
            last_read_seq,
        ): ListedColumns,
    ) -> Self {
        ListedChat {
            id,
            kind,
            title,
            created_at,
            last_activity,
            last_message_id,
            history,
            last_seq,
            visible_from_seq,
            last_read_seq,
        }
    }
}

/// A range of `idx_chat_members_list`: the first `$3` chats of user `$1` whose large mark is
/// `$2`, newest first. [`BY_MEMBER`] orders by the member's copy of the chat's activity;
/// [`LARGE_GROUPS`] by the chat's own.
macro_rules! listed_range {
    ($activity:literal) => {
        concat!(
            "SELECT chats.id, chats.kind, chats.title, chats.created_at, chats.last_activity, \
             chats.last_message_id, chats.history, chats.last_seq, \
             chat_members.visible_from_seq, chat_members.last_read_seq \
             FROM chat_members JOIN chats ON chats.id = chat_members.chat_id \
             WHERE chat_members.user_id = $1 AND chat_members.hidden = FALSE \
             AND chat_members.large = $2 ORDER BY ",
            $activity,
            " DESC, chat_members.chat_id DESC LIMIT $3"
        )
    };
}
static BY_MEMBER: Sql = Sql::new(listed_range!("chat_members.last_activity"));
static LARGE_GROUPS: Sql = Sql::new(listed_range!("chats.last_activity"));

/// The chat list in a fixed number of queries, whatever the page size: the page of chats,
/// their last messages, their unread counts, the direct chats' peers, and the profiles.
pub(crate) async fn list(
    inner: &Context,
    caller: &Caller,
    page: PageRequest,
) -> Result<Page<ChatListItem>> {
    let db = &inner.db;
    let backend = db.get_database_backend();
    let me = caller.user_id.as_uuid();

    // Two index ranges of `idx_chat_members_list`, newest first: the chats whose place the
    // member's row keeps, and the large groups, placed by the chat's own activity. Each gives
    // at most the rows up to the end of the page; merged, the page is cut from both.
    let window = page.offset() + u64::from(page.limit()) + 1;
    let window = i64::try_from(window).unwrap_or(i64::MAX);
    let range = |large: bool| {
        let sql = if large { &LARGE_GROUPS } else { &BY_MEMBER };
        inner.tuples::<ListedColumns>(
            sql.with(backend, [me.into(), large.into(), window.into()]),
            &LISTED_COLUMNS,
        )
    };
    let mut listed: Vec<ListedChat> = range(false)
        .await?
        .into_iter()
        .map(ListedChat::from)
        .collect();
    listed.extend(range(true).await?.into_iter().map(ListedChat::from));
    listed.sort_unstable_by_key(|chat| std::cmp::Reverse((chat.last_activity, chat.id)));
    let listed: Vec<ListedChat> = listed
        .into_iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .collect();
    let page = page.finish(listed);
    if page.items.is_empty() {
        return Ok(Page {
            items: Vec::new(),
            page: page.page,
            limit: page.limit,
            has_more: page.has_more,
        });
    }

    let last_ids: Vec<Uuid> = page
        .items
        .iter()
        .filter_map(|chat| chat.last_message_id)
        .collect();
    let last_messages: HashMap<Uuid, messages::Model> = if last_ids.is_empty() {
        HashMap::new()
    } else {
        inner
            .all(messages::Entity::find().filter(messages::Column::Id.is_in(last_ids)))
            .await?
            .into_iter()
            .map(|message| (message.chat_id, message))
            .collect()
    };

    // Counted only for the chats whose newest message is past the member's marker.
    let unread_ids: Vec<Uuid> = page
        .items
        .iter()
        .filter(|chat| chat.may_have_unread())
        .map(|chat| chat.id)
        .collect();
    let unread: HashMap<Uuid, i64> = if unread_ids.is_empty() {
        HashMap::new()
    } else {
        let query = Query::select()
            .column((messages::Entity, messages::Column::ChatId))
            .expr_as(
                Expr::col((messages::Entity, messages::Column::Id)).count(),
                "unread",
            )
            .from(messages::Entity)
            .inner_join(
                members::Entity,
                Expr::col((members::Entity, members::Column::ChatId))
                    .equals((messages::Entity, messages::Column::ChatId))
                    .and(Expr::col((members::Entity, members::Column::UserId)).eq(me)),
            )
            .and_where(Expr::col((messages::Entity, messages::Column::ChatId)).is_in(unread_ids))
            .and_where(
                Expr::col((messages::Entity, messages::Column::Seq))
                    .gt(Expr::col((members::Entity, members::Column::LastReadSeq))),
            )
            .and_where(
                Expr::col((messages::Entity, messages::Column::Seq)).gt(Expr::col((
                    members::Entity,
                    members::Column::VisibleFromSeq,
                ))),
            )
            .and_where(Expr::col((messages::Entity, messages::Column::SenderId)).ne(me))
            .and_where(Expr::col((messages::Entity, messages::Column::DeletedAt)).is_null())
            .group_by_col((messages::Entity, messages::Column::ChatId))
            .to_owned();
        inner
            .tuples::<(Uuid, i64)>(backend.build(&query), &["chat_id", "unread"])
            .await?
            .into_iter()
            .collect()
    };

    let direct_ids: Vec<Uuid> = page
        .items
        .iter()
        .filter(|chat| chat.kind == ChatKind::Direct)
        .map(|chat| chat.id)
        .collect();
    let peers: HashMap<Uuid, Uuid> = if direct_ids.is_empty() {
        HashMap::new()
    } else {
        let query = Query::select()
            .columns([members::Column::ChatId, members::Column::UserId])
            .from(members::Entity)
            .and_where(Expr::col(members::Column::ChatId).is_in(direct_ids))
            .and_where(Expr::col(members::Column::UserId).ne(me))
            .to_owned();
        inner
            .tuples::<(Uuid, Uuid)>(backend.build(&query), &["chat_id", "user_id"])
            .await?
            .into_iter()
            .collect()
    };

    let wanted = peers
        .values()
        .copied()
        .chain(last_messages.values().map(|message| message.sender_id));
    let profiles = by_id(user_queries::read_profiles(inner, wanted).await?);

    let items = page
        .items
        .into_iter()
        .map(|listed| {
            let last_message = last_messages
                .get(&listed.id)
                .filter(|message| message.seq > listed.visible_from_seq)
                .and_then(|message| {
                    Some(MessagePreview {
                        id: message.id.into(),
                        seq: message.seq,
                        sender: profiles.get(&message.sender_id)?.clone(),
                        text: message
                            .text
                            .as_deref()
                            .map(|text| preview(text, PREVIEW_CHARS)),
                        created_at: message.created_at,
                        deleted: message.deleted_at.is_some(),
                    })
                });
            ChatListItem {
                peer: peers
                    .get(&listed.id)
                    .and_then(|id| profiles.get(id))
                    .cloned(),
                last_message,
                unread_count: u64::try_from(unread.get(&listed.id).copied().unwrap_or(0))
                    .unwrap_or(0),
                chat: Chat {
                    id: listed.id.into(),
                    kind: listed.kind,
                    title: listed.title,
                    history: listed.history,
                    created_at: listed.created_at,
                    last_activity_at: from_micros(listed.last_activity),
                },
            }
        })
        .collect();
    Ok(Page {
        items,
        page: page.page,
        limit: page.limit,
        has_more: page.has_more,
    })
}

pub(crate) async fn hide(inner: &Context, caller: &Caller, chat_id: ChatId) -> Result<()> {
    let (chat_id, me) = (chat_id.as_uuid(), caller.user_id.as_uuid());
    inner
        .write(move |txn| {
            Box::pin(async move {
                membership(txn, chat_id, me).await?;
                members::Entity::update_many()
                    .col_expr(members::Column::Hidden, Expr::value(true))
                    .filter(members::Column::ChatId.eq(chat_id))
                    .filter(members::Column::UserId.eq(me))
                    .exec(txn)
                    .await?;
                Ok(Written::quiet(()))
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_key_is_the_same_whoever_starts() {
        let (a, b) = (UserId::new(), UserId::new());
        assert_eq!(direct_key(a, b), direct_key(b, a));
        assert_ne!(direct_key(a, b), direct_key(a, UserId::new()));
    }
}
