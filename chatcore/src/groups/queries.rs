//! Group queries.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::{AssignableRole, ChatTitle, CreateGroup, HistoryVisibility};
use crate::access::{ensure_none_blocked, ensure_not_blocked, membership, rank, require_role};
use crate::chats::entity as chats;
use crate::chats::member_entity as members;
use crate::chats::queries::{detail, load_chat, member_views};
use crate::chats::{ChatDetail, ChatKind, LARGE_GROUP, Member, MemberRole};
use crate::clock::now;
use crate::context::{Context, Written};
use crate::events::{
    ChatDeleted, ChatUpdated, EventData, MemberGone, MemberJoined, NewEvent, chat_created,
};
use crate::sessions::Caller;
use crate::users::entity as users;
use crate::{ChatId, Error, Result, UserId};

/// Checks that every user exists and is active.
pub(crate) async fn check_users(txn: &impl ConnectionTrait, ids: &[Uuid]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let found = users::Entity::find()
        .filter(users::Column::Id.is_in(ids.to_vec()))
        .all(txn)
        .await?;
    if found.len() != ids.len() {
        return Err(Error::NotFound("user"));
    }
    if !found.iter().all(users::Model::can_sign_in) {
        return Err(Error::UserInactive);
    }
    Ok(())
}

/// The member an operation is about; `NotFound("member")` when they are not one.
async fn target_member(
    txn: &impl ConnectionTrait,
    chat_id: Uuid,
    user_id: Uuid,
) -> Result<members::Model> {
    members::Entity::find_by_id((chat_id, user_id))
        .one(txn)
        .await?
        .ok_or(Error::NotFound("member"))
}

/// A member with their profile.
async fn member_view(txn: &impl ConnectionTrait, chat_id: Uuid, user_id: Uuid) -> Result<Member> {
    let row = membership(txn, chat_id, user_id).await?;
    member_views(txn, vec![row])
        .await?
        .pop()
        .ok_or_else(|| Error::internal("member without a profile"))
}

/// Gives a member a role.
async fn assign_role(
    txn: &impl ConnectionTrait,
    chat_id: Uuid,
    user_id: Uuid,
    role: MemberRole,
) -> Result<()> {
    members::Entity::update_many()
        .col_expr(members::Column::Role, Expr::value(role))
        .filter(members::Column::ChatId.eq(chat_id))
        .filter(members::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Where a new member's row starts: their chat list shows the chat at its current activity.
struct Joining {
    visible_from_seq: i64,
    joined_at: chrono::DateTime<chrono::Utc>,
    last_activity: i64,
    large: bool,
}

fn new_member(
    chat_id: Uuid,
    user_id: Uuid,
    role: MemberRole,
    at: &Joining,
) -> members::ActiveModel {
    members::ActiveModel {
        chat_id: Set(chat_id),
        user_id: Set(user_id),
        role: Set(role),
        joined_at: Set(at.joined_at),
        last_read_seq: Set(at.visible_from_seq),
        hidden: Set(false),
        visible_from_seq: Set(at.visible_from_seq),
        last_activity: Set(at.last_activity),
        large: Set(at.large),
    }
}

/// Marks a chat large once it has more than [`LARGE_GROUP`] members: from then on its
/// messages leave the members' copies of its activity alone.
async fn mark_large(txn: &impl ConnectionTrait, chat_id: Uuid) -> Result<()> {
    chats::Entity::update_many()
        .col_expr(chats::Column::Large, Expr::value(true))
        .filter(chats::Column::Id.eq(chat_id))
        .exec(txn)
        .await?;
    members::Entity::update_many()
        .col_expr(members::Column::Large, Expr::value(true))
        .filter(members::Column::ChatId.eq(chat_id))
        .exec(txn)
        .await?;
    Ok(())
}

pub(crate) async fn create(
    inner: &Context,
    caller: &Caller,
    group: CreateGroup,
) -> Result<ChatDetail> {
    if group.members.len() > inner.max_members_per_request {
        let message = format!("at most {} per request", inner.max_members_per_request);
        return Err(Error::invalid("members", message));
    }
    let me = caller.user_id.as_uuid();
    let mut others: Vec<Uuid> = group.members.iter().map(UserId::as_uuid).collect();
    others.sort_unstable();
    others.dedup();
    others.retain(|id| *id != me);
    if others.len() + 1 > inner.max_group_members {
        return Err(Error::invalid(
            "members",
            "more members than a group may have",
        ));
    }
    let chat_id = inner
        .write(move |txn| {
            Box::pin(async move {
                check_users(txn, &others).await?;
                ensure_none_blocked(txn, &others, me).await?;
                let now = now();
                let chat_id = ChatId::new().as_uuid();
                let large = others.len() + 1 > LARGE_GROUP;
                chats::Entity::insert(chats::ActiveModel {
                    id: Set(chat_id),
                    kind: Set(ChatKind::Group),
                    title: Set(Some(group.title.as_str().to_owned())),
                    direct_key: Set(None),
                    created_by: Set(me),
                    created_at: Set(now),
                    last_seq: Set(0),
                    last_message_id: Set(None),
                    last_activity: Set(now.timestamp_micros()),
                    history: Set(group.history),
                    large: Set(large),
                })
                .exec_without_returning(txn)
                .await?;
                let joining = Joining {
                    visible_from_seq: 0,
                    joined_at: now,
                    last_activity: now.timestamp_micros(),
                    large,
                };
                let member = |id, role| new_member(chat_id, id, role, &joining);
                let rows = std::iter::once(member(me, MemberRole::Owner))
                    .chain(others.iter().map(|id| member(*id, MemberRole::Member)));
                members::Entity::insert_many(rows)
                    .exec_without_returning(txn)
                    .await?;
                let created = load_chat(txn, chat_id).await?;
                let everyone: Vec<Uuid> = std::iter::once(me).chain(others).collect();
                let events = chat_created(&created, me, &everyone);
                Ok(Written::with(chat_id, events))
            })
        })
        .await?;
    detail(inner, caller, chat_id.into()).await
}

pub(crate) async fn rename(
    inner: &Context,
    caller: &Caller,
    chat_id: ChatId,
    title: ChatTitle,
) -> Result<ChatDetail> {
    let me = caller.user_id.as_uuid();
    let id = chat_id.as_uuid();
    inner
        .write(move |txn| {
            Box::pin(async move {
                require_role(txn, id, me, MemberRole::Admin).await?;
                chats::Entity::update_many()
                    .col_expr(chats::Column::Title, Expr::value(title.as_str()))
                    .filter(chats::Column::Id.eq(id))
                    .exec(txn)
                    .await?;
                Ok(Written::with(
                    (),
                    vec![NewEvent::chat(
                        id,
                        me,
                        EventData::ChatUpdated(ChatUpdated {
                            title: title.into(),
                        }),
                    )],
                ))
            })
        })
        .await?;
    detail(inner, caller, chat_id).await
}

pub(crate) async fn delete(inner: &Context, caller: &Caller, chat_id: ChatId) -> Result<()> {
    let (id, me) = (chat_id.as_uuid(), caller.user_id.as_uuid());
    inner
        .write(move |txn| {
            Box::pin(async move {
                require_role(txn, id, me, MemberRole::Owner).await?;
                let notices = deleted_notices(txn, id, me).await?;
                // Members and messages go with it (foreign keys cascade).
                chats::Entity::delete_by_id(id).exec(txn).await?;
                Ok(Written::with((), notices))
            })
        })
        .await?;
    Ok(())
}

/// A `chat_deleted` event for each member: the chat's membership is gone with it, so each
/// member is told personally (and finds it on resuming).
async fn deleted_notices(
    txn: &impl ConnectionTrait,
    chat_id: Uuid,
    actor: Uuid,
) -> Result<Vec<NewEvent>> {
    Ok(members::Entity::find()
        .filter(members::Column::ChatId.eq(chat_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|member| {
            NewEvent::chat(chat_id, actor, EventData::ChatDeleted(ChatDeleted {}))
                .about(member.user_id)
        })
        .collect())
}

pub(crate) async fn add_member(
    inner: &Context,
    caller: &Caller,
    chat_id: ChatId,
    user_id: UserId,
) -> Result<Member> {
    let (id, me, user) = (
        chat_id.as_uuid(),
        caller.user_id.as_uuid(),
        user_id.as_uuid(),
    );
    let limit = inner.max_group_members;
    inner
        .write(move |txn| {
            Box::pin(async move {
                require_role(txn, id, me, MemberRole::Admin).await?;
                check_users(txn, &[user]).await?;
                ensure_not_blocked(txn, user, me).await?;
                let mut events = Vec::new();
                if members::Entity::find_by_id((id, user))
                    .one(txn)
                    .await?
                    .is_none()
                {
                    events = join(txn, id, user, me, limit).await?;
                }
                Ok(Written::with(member_view(txn, id, user).await?, events))
            })
        })
        .await
}

/// Makes a user a plain member, seeing history from now on unless the group shows it all;
/// returns the `member_joined` event.
pub(crate) async fn join(
    txn: &DatabaseTransaction,
    chat_id: Uuid,
    user_id: Uuid,
    actor: Uuid,
    limit: usize,
) -> Result<Vec<NewEvent>> {
    let chat = chats::Entity::find_by_id(chat_id)
        .one(txn)
        .await?
        .ok_or(Error::NotFound("chat"))?;
    let count = members::Entity::find()
        .filter(members::Column::ChatId.eq(chat_id))
        .count(txn)
        .await?;
    if count >= limit as u64 {
        return Err(Error::Conflict("the group is full".into()));
    }
    let visible_from = match chat.history {
        HistoryVisibility::SinceJoin => chat.last_seq,
        HistoryVisibility::Full => 0,
    };
    let joining = Joining {
        visible_from_seq: visible_from,
        joined_at: now(),
        last_activity: chat.last_activity,
        large: chat.large,
    };
    members::Entity::insert(new_member(chat_id, user_id, MemberRole::Member, &joining))
        .exec_without_returning(txn)
        .await?;
    if !chat.large && count + 1 > LARGE_GROUP as u64 {
        mark_large(txn, chat_id).await?;
    }
    let member = member_view(txn, chat_id, user_id).await?;
    // The joiner's stream learns from the event where their history starts.
    let joined = EventData::MemberJoined(MemberJoined {
        member,
        visible_from_seq: visible_from,
    });
    Ok(vec![NewEvent::chat(chat_id, actor, joined).about(user_id)])
}

pub(crate) async fn remove_member(
    inner: &Context,
    caller: &Caller,
    chat_id: ChatId,
    user_id: UserId,
) -> Result<()> {
    if user_id == caller.user_id {
        return leave(inner, caller, chat_id).await;
    }
    let (id, me, user) = (
        chat_id.as_uuid(),
        caller.user_id.as_uuid(),
        user_id.as_uuid(),
    );
    inner
        .write(move |txn| {
            Box::pin(async move {
                let mine = require_role(txn, id, me, MemberRole::Admin).await?;
                let target = target_member(txn, id, user).await?;
                // Nobody removes the owner; only the owner removes an admin.
                if rank(target.role) >= rank(mine.role) {
                    return Err(Error::Forbidden(
                        "cannot remove a member of equal or higher role".into(),
                    ));
                }
                members::Entity::delete_by_id((id, user)).exec(txn).await?;
                Ok(Written::with(
                    (),
                    vec![
                        NewEvent::chat(
                            id,
                            me,
                            EventData::MemberRemoved(MemberGone {
                                user_id: user.into(),
                            }),
                        )
                        .about(user),
                    ],
                ))
            })
        })
        .await?;
    Ok(())
}

pub(crate) async fn leave(inner: &Context, caller: &Caller, chat_id: ChatId) -> Result<()> {
    let (id, me) = (chat_id.as_uuid(), caller.user_id.as_uuid());
    inner
        .write(move |txn| {
            Box::pin(async move {
                let mine = membership(txn, id, me).await?;
                let chat = chats::Entity::find_by_id(id)
                    .one(txn)
                    .await?
                    .ok_or(Error::NotFound("chat"))?;
                if chat.kind == ChatKind::Direct {
                    return Err(Error::Forbidden(
                        "a direct chat cannot be left; hide it instead".into(),
                    ));
                }
                members::Entity::delete_by_id((id, me)).exec(txn).await?;
                let mut events = vec![
                    NewEvent::chat(
                        id,
                        me,
                        EventData::MemberLeft(MemberGone { user_id: me.into() }),
                    )
                    .about(me),
                ];
                let remaining = members::Entity::find()
                    .filter(members::Column::ChatId.eq(id))
                    .order_by_asc(members::Column::JoinedAt)
                    .order_by_asc(members::Column::UserId)
                    .all(txn)
                    .await?;
                if remaining.is_empty() {
                    // The last one out deletes the group.
                    chats::Entity::delete_by_id(id).exec(txn).await?;
                    return Ok(Written::with((), events));
                }
                if mine.role == MemberRole::Owner {
                    // Ownership goes to the longest-standing admin, else member.
                    let heir = remaining
                        .iter()
                        .find(|member| member.role == MemberRole::Admin)
                        .unwrap_or(&remaining[0]);
                    assign_role(txn, id, heir.user_id, MemberRole::Owner).await?;
                    let heir = member_view(txn, id, heir.user_id).await?;
                    let heir_id = heir.user.id.as_uuid();
                    events.push(
                        NewEvent::chat(id, me, EventData::MemberRoleChanged(heir)).about(heir_id),
                    );
                }
                Ok(Written::with((), events))
            })
        })
        .await?;
    Ok(())
}

pub(crate) async fn set_role(
    inner: &Context,
    caller: &Caller,
    chat_id: ChatId,
    user_id: UserId,
    role: AssignableRole,
) -> Result<Member> {
    let (id, me, user) = (
        chat_id.as_uuid(),
        caller.user_id.as_uuid(),
        user_id.as_uuid(),
    );
    inner
        .write(move |txn| {
            Box::pin(async move {
                require_role(txn, id, me, MemberRole::Owner).await?;
                let target = target_member(txn, id, user).await?;
                if target.role == MemberRole::Owner {
                    return Err(Error::Forbidden("the owner's role cannot change".into()));
                }
                assign_role(txn, id, user, role.into()).await?;
                let member = member_view(txn, id, user).await?;
                let changed = NewEvent::chat(id, me, EventData::MemberRoleChanged(member.clone()))
                    .about(user);
                Ok(Written::with(member, vec![changed]))
            })
        })
        .await
}

pub(crate) async fn list_members(
    inner: &Context,
    caller: &Caller,
    chat_id: ChatId,
) -> Result<Vec<Member>> {
    Ok(detail(inner, caller, chat_id).await?.members)
}
