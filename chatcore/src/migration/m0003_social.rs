//! Invites, contacts, blocks, replies and forwards, reactions, read marks, reports and
//! account tokens.

use sea_orm_migration::prelude::*;

use super::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ReplyToId,
    ForwardedMessageId,
    ForwardedSenderId,
}

#[derive(DeriveIden)]
enum Invites {
    Table,
    Code,
    ChatId,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    MaxUses,
    Uses,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    OwnerId,
    ContactId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Blocks {
    Table,
    BlockerId,
    BlockedId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Reactions {
    Table,
    MessageId,
    UserId,
    Emoji,
    ChatId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ReadMarks {
    Table,
    ChatId,
    UserId,
    Seq,
    ReadAt,
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    Id,
    ReporterId,
    ChatId,
    MessageId,
    MessageText,
    Reason,
    Note,
    CreatedAt,
    ResolvedAt,
    ResolvedBy,
    Resolution,
}

#[derive(DeriveIden)]
enum AccountTokens {
    Table,
    TokenHash,
    UserId,
    Purpose,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Invites::Table)
                    .col(
                        ColumnDef::new(Invites::Code)
                            .text()
                            .not_null()
                            .primary_key(),
                    )
                    .col(uuid(Invites::ChatId))
                    .col(uuid(Invites::CreatedBy))
                    .col(time(Invites::CreatedAt))
                    .col(time_null(Invites::ExpiresAt))
                    .col(ColumnDef::new(Invites::MaxUses).big_integer().null())
                    .col(counter(Invites::Uses))
                    .col(time_null(Invites::RevokedAt))
                    .foreign_key(&mut to_chat(Invites::Table, Invites::ChatId))
                    .foreign_key(&mut to_user(Invites::Table, Invites::CreatedBy))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_invites_chat")
                    .table(Invites::Table)
                    .col(Invites::ChatId)
                    .col(Invites::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Contacts::Table)
                    .col(uuid(Contacts::OwnerId))
                    .col(uuid(Contacts::ContactId))
                    .col(time(Contacts::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(Contacts::OwnerId)
                            .col(Contacts::ContactId),
                    )
                    .foreign_key(&mut to_user(Contacts::Table, Contacts::OwnerId))
                    .foreign_key(&mut to_user(Contacts::Table, Contacts::ContactId))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Blocks::Table)
                    .col(uuid(Blocks::BlockerId))
                    .col(uuid(Blocks::BlockedId))
                    .col(time(Blocks::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(Blocks::BlockerId)
                            .col(Blocks::BlockedId),
                    )
                    .foreign_key(&mut to_user(Blocks::Table, Blocks::BlockerId))
                    .foreign_key(&mut to_user(Blocks::Table, Blocks::BlockedId))
                    .to_owned(),
            )
            .await?;

        // SQLite adds one column per statement.
        for column in [
            Messages::ReplyToId,
            Messages::ForwardedMessageId,
            Messages::ForwardedSenderId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Messages::Table)
                        .add_column(ColumnDef::new(column).uuid().null())
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Reactions::Table)
                    .col(uuid(Reactions::MessageId))
                    .col(uuid(Reactions::UserId))
                    .col(text(Reactions::Emoji))
                    .col(uuid(Reactions::ChatId))
                    .col(time(Reactions::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(Reactions::MessageId)
                            .col(Reactions::UserId)
                            .col(Reactions::Emoji),
                    )
                    .foreign_key(&mut cascade(
                        (Reactions::Table, Reactions::MessageId),
                        (Messages::Table, Messages::Id),
                    ))
                    .foreign_key(&mut to_user(Reactions::Table, Reactions::UserId))
                    .to_owned(),
            )
            .await?;

        // Every move of a read marker, so "read by" can say when a member reached a message.
        manager
            .create_table(
                Table::create()
                    .table(ReadMarks::Table)
                    .col(uuid(ReadMarks::ChatId))
                    .col(uuid(ReadMarks::UserId))
                    .col(ColumnDef::new(ReadMarks::Seq).big_integer().not_null())
                    .col(time(ReadMarks::ReadAt))
                    .primary_key(
                        Index::create()
                            .col(ReadMarks::ChatId)
                            .col(ReadMarks::UserId)
                            .col(ReadMarks::Seq),
                    )
                    .foreign_key(&mut to_chat(ReadMarks::Table, ReadMarks::ChatId))
                    .foreign_key(&mut to_user(ReadMarks::Table, ReadMarks::UserId))
                    .to_owned(),
            )
            .await?;

        // Reports outlive the chat or message they are about: no foreign key there.
        manager
            .create_table(
                Table::create()
                    .table(Reports::Table)
                    .col(uuid_pk(Reports::Id))
                    .col(uuid(Reports::ReporterId))
                    .col(uuid(Reports::ChatId))
                    .col(ColumnDef::new(Reports::MessageId).uuid().null())
                    .col(text_null(Reports::MessageText))
                    .col(text(Reports::Reason))
                    .col(text_null(Reports::Note))
                    .col(time(Reports::CreatedAt))
                    .col(time_null(Reports::ResolvedAt))
                    .col(ColumnDef::new(Reports::ResolvedBy).uuid().null())
                    .col(text_null(Reports::Resolution))
                    .foreign_key(&mut to_user(Reports::Table, Reports::ReporterId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_reports_queue")
                    .table(Reports::Table)
                    .col(Reports::ResolvedAt)
                    .col(Reports::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccountTokens::Table)
                    .col(
                        ColumnDef::new(AccountTokens::TokenHash)
                            .text()
                            .not_null()
                            .primary_key(),
                    )
                    .col(uuid(AccountTokens::UserId))
                    .col(text(AccountTokens::Purpose))
                    .col(time(AccountTokens::CreatedAt))
                    .col(time(AccountTokens::ExpiresAt))
                    .col(time_null(AccountTokens::UsedAt))
                    .foreign_key(&mut to_user(AccountTokens::Table, AccountTokens::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_account_tokens_user")
                    .table(AccountTokens::Table)
                    .col(AccountTokens::UserId)
                    .col(AccountTokens::Purpose)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AccountTokens::Table.into_iden(),
            Reports::Table.into_iden(),
            ReadMarks::Table.into_iden(),
            Reactions::Table.into_iden(),
            Blocks::Table.into_iden(),
            Contacts::Table.into_iden(),
            Invites::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for column in [
            Messages::ForwardedSenderId,
            Messages::ForwardedMessageId,
            Messages::ReplyToId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Messages::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
