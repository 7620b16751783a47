//! The `users` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The username as its owner spelled it.
    pub username: String,
    /// Lowercased username: the case-insensitive unique key and the search column.
    #[sea_orm(unique)]
    pub username_key: String,
    /// Lowercased email, unique when present.
    #[sea_orm(unique)]
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// Lowercased display name, for search.
    pub name_key: Option<String>,
    pub status: Option<String>,
    pub phone: Option<String>,
    /// PHC string (argon2id); `None` for users that log in through the embedding app.
    pub password_hash: Option<String>,
    /// The embedding application's own id for this user.
    #[sea_orm(unique)]
    pub external_id: Option<String>,
    /// `user` or `admin`.
    pub role: crate::users::Role,
    pub active: bool,
    pub verified: bool,
    /// The avatar's content hash: its images are `{avatar}-512` and `{avatar}-128` in the
    /// avatar store.
    pub avatar: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
