//! Users, sessions, chats, members, messages and settings.

use sea_orm_migration::prelude::*;

use super::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Settings {
    Table,
    Key,
    Value,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    UsernameKey,
    Email,
    DisplayName,
    NameKey,
    Status,
    Phone,
    PasswordHash,
    ExternalId,
    Role,
    Active,
    Verified,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    Active,
    UserAgent,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    Id,
    Kind,
    Title,
    DirectKey,
    CreatedBy,
    CreatedAt,
    LastSeq,
    LastMessageId,
    LastActivity,
}

#[derive(DeriveIden)]
enum ChatMembers {
    Table,
    ChatId,
    UserId,
    Role,
    JoinedAt,
    LastReadSeq,
    Hidden,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ChatId,
    Seq,
    SenderId,
    Text,
    ClientId,
    CreatedAt,
    EditedAt,
    DeletedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Settings::Table)
                    .col(
                        ColumnDef::new(Settings::Key)
                            .text()
                            .not_null()
                            .primary_key(),
                    )
                    .col(text(Settings::Value))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(uuid_pk(Users::Id))
                    .col(text(Users::Username))
                    .col(text(Users::UsernameKey).unique_key().take())
                    .col(text_null(Users::Email).unique_key().take())
                    .col(text_null(Users::DisplayName))
                    .col(text_null(Users::NameKey))
                    .col(text_null(Users::Status))
                    .col(text_null(Users::Phone))
                    .col(text_null(Users::PasswordHash))
                    .col(text_null(Users::ExternalId).unique_key().take())
                    .col(text(Users::Role).default("user").take())
                    .col(flag(Users::Active, true))
                    .col(flag(Users::Verified, false))
                    .col(time(Users::CreatedAt))
                    .col(time(Users::UpdatedAt))
                    .col(time_null(Users::DeletedAt))
                    .to_owned(),
            )
            .await?;
        // Search by display name (the username key is indexed by its unique constraint).
        manager
            .create_index(
                Index::create()
                    .name("idx_users_name_key")
                    .table(Users::Table)
                    .col(Users::NameKey)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(uuid_pk(Sessions::Id))
                    .col(uuid(Sessions::UserId))
                    .col(time(Sessions::CreatedAt))
                    .col(time(Sessions::LastSeenAt))
                    .col(time(Sessions::ExpiresAt))
                    .col(flag(Sessions::Active, true))
                    .col(text_null(Sessions::UserAgent))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_user")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Chats::Table)
                    .col(uuid_pk(Chats::Id))
                    .col(text(Chats::Kind))
                    .col(text_null(Chats::Title))
                    .col(text_null(Chats::DirectKey).unique_key().take())
                    .col(uuid(Chats::CreatedBy))
                    .col(time(Chats::CreatedAt))
                    .col(counter(Chats::LastSeq))
                    .col(ColumnDef::new(Chats::LastMessageId).uuid().null())
                    .col(counter(Chats::LastActivity))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Chats::Table, Chats::CreatedBy)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ChatMembers::Table)
                    .col(uuid(ChatMembers::ChatId))
                    .col(uuid(ChatMembers::UserId))
                    .col(text(ChatMembers::Role).default("member").take())
                    .col(time(ChatMembers::JoinedAt))
                    .col(counter(ChatMembers::LastReadSeq))
                    .col(flag(ChatMembers::Hidden, false))
                    .primary_key(
                        Index::create()
                            .col(ChatMembers::ChatId)
                            .col(ChatMembers::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ChatMembers::Table, ChatMembers::ChatId)
                            .to(Chats::Table, Chats::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ChatMembers::Table, ChatMembers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The chat list: my memberships, then each chat by its last activity.
        manager
            .create_index(
                Index::create()
                    .name("idx_chat_members_user")
                    .table(ChatMembers::Table)
                    .col(ChatMembers::UserId)
                    .col(ChatMembers::ChatId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_chats_activity")
                    .table(Chats::Table)
                    .col(Chats::LastActivity)
                    .col(Chats::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(uuid_pk(Messages::Id))
                    .col(uuid(Messages::ChatId))
                    .col(ColumnDef::new(Messages::Seq).big_integer().not_null())
                    .col(uuid(Messages::SenderId))
                    .col(text_null(Messages::Text))
                    .col(text_null(Messages::ClientId))
                    .col(time(Messages::CreatedAt))
                    .col(time_null(Messages::EditedAt))
                    .col(time_null(Messages::DeletedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Messages::Table, Messages::ChatId)
                            .to(Chats::Table, Chats::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Messages::Table, Messages::SenderId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // History pages, and the guarantee that a seq is never given twice.
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_chat_seq")
                    .table(Messages::Table)
                    .col(Messages::ChatId)
                    .col(Messages::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Idempotent sends: one message per (chat, sender, client id).
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_client_id")
                    .table(Messages::Table)
                    .col(Messages::ChatId)
                    .col(Messages::SenderId)
                    .col(Messages::ClientId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Messages::Table.into_iden(),
            ChatMembers::Table.into_iden(),
            Chats::Table.into_iden(),
            Sessions::Table.into_iden(),
            Users::Table.into_iden(),
            Settings::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
