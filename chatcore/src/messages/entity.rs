//! The `messages` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub chat_id: Uuid,
    /// Position in the chat: contiguous from 1, unique per chat.
    pub seq: i64,
    pub sender_id: Uuid,
    /// `None` once deleted (the row stays as a tombstone keeping its seq).
    pub text: Option<String>,
    pub client_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub edited_at: Option<DateTimeUtc>,
    pub deleted_at: Option<DateTimeUtc>,
    /// The message this one answers (same chat).
    pub reply_to_id: Option<Uuid>,
    /// For a forward: the message first forwarded, and its sender.
    pub forwarded_message_id: Option<Uuid>,
    pub forwarded_sender_id: Option<Uuid>,
    /// How many reactions it carries: kept with every reaction added or taken back, and never
    /// below the number of its rows in `reactions` (0: none, and no need to look).
    pub reactions: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
