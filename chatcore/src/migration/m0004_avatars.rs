//! Avatars: the users' avatar hash and the table of the database-backed avatar store.

use sea_orm_migration::prelude::*;

use super::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Avatar,
}

#[derive(DeriveIden)]
enum AvatarBlobs {
    Table,
    Key,
    Bytes,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(text_null(Users::Avatar))
                    .to_owned(),
            )
            .await?;
        // Replacing an avatar asks whether anyone else still shows the old one.
        manager
            .create_index(
                Index::create()
                    .name("idx_users_avatar")
                    .table(Users::Table)
                    .col(Users::Avatar)
                    .to_owned(),
            )
            .await?;
        // BLOB on SQLite, BYTEA on PostgreSQL.
        manager
            .create_table(
                Table::create()
                    .table(AvatarBlobs::Table)
                    .col(
                        ColumnDef::new(AvatarBlobs::Key)
                            .text()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AvatarBlobs::Bytes).blob().not_null())
                    .col(time(AvatarBlobs::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AvatarBlobs::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_users_avatar")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::Avatar)
                    .to_owned(),
            )
            .await
    }
}
