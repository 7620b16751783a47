//! Report and moderation queries.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::entity::{self, Model};
use super::{NewReport, Report, ReportQuery};
use crate::access::{membership, require_server_admin};
use crate::clock::now;
use crate::context::{Context, Written};
use crate::messages::queries::visible_message;
use crate::pagination::Page;
use crate::sessions::{Caller, queries as sessions};
use crate::users::{Role, User, UserProfile, UserRef, entity as users, queries as user_queries};
use crate::{Error, ReportId, Result, UserId};

/// The longest report note or resolution, in characters.
const MAX_NOTE_CHARS: usize = 1000;

fn check_note(field: &'static str, note: Option<String>) -> Result<Option<String>> {
    let Some(note) = note.map(|note| note.trim().to_owned()) else {
        return Ok(None);
    };
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(Error::invalid(field, "at most 1000 characters"));
    }
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(Some(note).filter(|note| !note.is_empty()))
}

async fn views(db: &impl ConnectionTrait, rows: Vec<Model>) -> Result<Vec<Report>> {
    let profiles: std::collections::HashMap<Uuid, UserProfile> =
        user_queries::profiles(db, rows.iter().map(|row| row.reporter_id))
            .await?
            .into_iter()
            .map(|profile| (profile.id.as_uuid(), profile))
            .collect();
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(Report {
                id: row.id.into(),
                reporter: profiles.get(&row.reporter_id)?.clone(),
                chat_id: row.chat_id.into(),
                message_id: row.message_id.map(Into::into),
                message_text: row.message_text,
                reason: row.reason,
                note: row.note,
                created_at: row.created_at,
                resolved_at: row.resolved_at,
                resolved_by: row.resolved_by.map(Into::into),
                resolution: row.resolution,
            })
        })
        .collect())
}

async fn single(db: &impl ConnectionTrait, row: Model) -> Result<Report> {
    views(db, vec![row])
        .await?
        .pop()
        .ok_or_else(|| Error::internal("report without a reporter"))
}

pub(crate) async fn report(inner: &Context, caller: &Caller, report: NewReport) -> Result<Report> {
    let note = check_note("note", report.note)?;
    let (chat_id, me) = (report.chat_id.as_uuid(), caller.user_id.as_uuid());
    let row = inner
        .write(move |txn| {
            Box::pin(async move {
                // One reports only what one can see.
                let member = membership(txn, chat_id, me).await?;
                let message_text = match report.message_id {
                    Some(message_id) => {
                        visible_message(txn, chat_id, message_id.as_uuid(), member.visible_from_seq)
                            .await?
                            .text
                    }
                    None => None,
                };
                let row = entity::ActiveModel {
                    id: Set(ReportId::new().as_uuid()),
                    reporter_id: Set(me),
                    chat_id: Set(chat_id),
                    message_id: Set(report.message_id.map(|id| id.as_uuid())),
                    message_text: Set(message_text),
                    reason: Set(report.reason),
                    note: Set(note),
                    created_at: Set(now()),
                    resolved_at: Set(None),
                    resolved_by: Set(None),
                    resolution: Set(None),
                }
                .insert(txn)
                .await?;
                Ok(Written::quiet(row))
            })
        })
        .await?;
    single(&inner.db, row).await
}

pub(crate) async fn list(
    inner: &Context,
    caller: &Caller,
    query: ReportQuery,
) -> Result<Page<Report>> {
    require_server_admin(&inner.db, caller.user_id.as_uuid()).await?;
    let mut select = entity::Entity::find();
    if !query.include_resolved {
        select = select.filter(entity::Column::ResolvedAt.is_null());
    }
    let page = query.page;
    let rows = select
        .order_by_asc(entity::Column::CreatedAt)
        .order_by_asc(entity::Column::Id)
        .offset(page.offset())
        .limit(u64::from(page.limit()) + 1)
        .all(&inner.db)
        .await?;
    let page = page.finish(rows);
    Ok(Page {
        items: views(&inner.db, page.items).await?,
        page: page.page,
        limit: page.limit,
        has_more: page.has_more,
    })
}

pub(crate) async fn resolve(
    inner: &Context,
    caller: &Caller,
    report_id: ReportId,
    resolution: Option<String>,
) -> Result<Report> {
    let resolution = check_note("resolution", resolution)?;
    let me = caller.user_id.as_uuid();
    let row = inner
        .write(move |txn| {
            Box::pin(async move {
                require_server_admin(txn, me).await?;
                let report = entity::Entity::find_by_id(report_id.as_uuid())
                    .one(txn)
                    .await?
                    .ok_or(Error::NotFound("report"))?;
                // Resolving again keeps the first resolution.
                if report.resolved_at.is_some() {
                    return Ok(Written::quiet(report));
                }
                let mut row = report.into_active_model();
                row.resolved_at = Set(Some(now()));
                row.resolved_by = Set(Some(me));
                row.resolution = Set(resolution);
                Ok(Written::quiet(row.update(txn).await?))
            })
        })
        .await?;
    single(&inner.db, row).await
}

/// Activates or deactivates a user; deactivating ends all their sessions at once.
pub(crate) async fn set_active(
    inner: &Context,
    caller: &Caller,
    user_id: UserId,
    active: bool,
) -> Result<()> {
    if user_id == caller.user_id {
        return Err(Error::Forbidden(
            "admins cannot change their own account this way".into(),
        ));
    }
    let me = caller.user_id.as_uuid();
    inner
        .write(move |txn| {
            Box::pin(async move {
                require_server_admin(txn, me).await?;
                let user = users::Entity::find_by_id(user_id.as_uuid())
                    .one(txn)
                    .await?
                    .ok_or(Error::NotFound("user"))?;
                if user.deleted_at.is_some() {
                    return Err(Error::Conflict("the account was deleted".into()));
                }
                users::Entity::update_many()
                    .col_expr(users::Column::Active, Expr::value(active))
                    .col_expr(users::Column::UpdatedAt, Expr::value(now()))
                    .filter(users::Column::Id.eq(user.id))
                    .exec(txn)
                    .await?;
                let events = match active {
                    true => Vec::new(),
                    false => sessions::revoke_all(txn, user.id, None).await?,
                };
                Ok(Written::with((), events))
            })
        })
        .await
}

/// Sets a server role on one account. A username is resolved to its account once, here:
/// the role then belongs to that account whatever it is called later, and never to whoever
/// takes the name next.
pub(crate) async fn set_role(inner: &Context, user: UserRef, role: Role) -> Result<User> {
    let row = inner
        .write(move |txn| {
            Box::pin(async move {
                let found = match &user {
                    UserRef::Id(id) => users::Entity::find_by_id(id.as_uuid()).one(txn).await?,
                    UserRef::Username(name) => {
                        users::Entity::find()
                            .filter(users::Column::UsernameKey.eq(name.key()))
                            .one(txn)
                            .await?
                    }
                };
                let found = found.ok_or(Error::NotFound("user"))?;
                if found.deleted_at.is_some() {
                    return Err(Error::Conflict("the account was deleted".into()));
                }
                let mut row = found.into_active_model();
                row.role = Set(role);
                row.updated_at = Set(now());
                Ok(Written::quiet(row.update(txn).await?))
            })
        })
        .await?;
    // The role travels in each `Caller`; no event says it changed.
    if let Some(caches) = &inner.caches {
        caches.forget_user(Some(row.id));
    }
    Ok(row.into())
}
