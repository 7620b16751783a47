//! The `events` and `event_head` tables.

pub(crate) mod event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "events")]
    pub struct Model {
        /// The cursor: contiguous, in numbering order. On PostgreSQL it is empty until the
        /// sequencer numbers the committed event (see `events::sequencer`).
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub kind: String,
        pub chat_id: Option<Uuid>,
        /// The user the event is addressed to or about, when not (only) a chat's members.
        pub user_id: Option<Uuid>,
        pub actor_id: Option<Uuid>,
        /// JSON.
        pub data: String,
        pub created_at: DateTimeUtc,
        /// The seq of the message the event is about, in its chat (members who cannot see
        /// that message do not receive the event).
        pub message_seq: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod head {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "event_head")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub last: i64,
        pub pruned_through: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
