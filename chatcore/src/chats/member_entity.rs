//! The `chat_members` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub chat_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// `owner`, `admin` or `member`.
    pub role: crate::chats::MemberRole,
    pub joined_at: DateTimeUtc,
    /// The member's read marker: every message with `seq <= last_read_seq` is read.
    pub last_read_seq: i64,
    /// Hidden from this member's chat list until the next message arrives.
    pub hidden: bool,
    /// The member sees messages with `seq > visible_from_seq` (0: the whole history).
    pub visible_from_seq: i64,
    /// The chat's last activity (microseconds since the epoch), kept equal to
    /// `chats.last_activity` in the same transaction: the chat list's sort key, unless the
    /// chat is large.
    pub last_activity: i64,
    /// The chat is large: its place in this member's list is `chats.last_activity`, and
    /// `last_activity` here is not kept up to date.
    pub large: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
