//! The `chats` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chats")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `direct` or `group`.
    pub kind: crate::chats::ChatKind,
    pub title: Option<String>,
    /// For direct chats, `"<smaller user id>:<larger user id>"`: one chat per pair.
    #[sea_orm(unique)]
    pub direct_key: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    /// The seq of the latest message; the next one gets `last_seq + 1`.
    pub last_seq: i64,
    pub last_message_id: Option<Uuid>,
    /// Unix time in microseconds of the latest activity, the chat list's sort key
    /// (an integer so that it orders the same on every backend).
    pub last_activity: i64,
    /// `since_join` (members see messages from their latest join on) or `full`.
    pub history: crate::groups::HistoryVisibility,
    /// More than [`LARGE_GROUP`](crate::chats::LARGE_GROUP) members: its place in its
    /// members' lists is `last_activity` here, not their copies (set once, never cleared).
    pub large: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
