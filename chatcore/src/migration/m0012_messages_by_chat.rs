//! Fewer B-trees to write per message, and a history page read from one.
//!
//! - On SQLite, `messages` is keyed by `(chat_id, seq)` (`WITHOUT ROWID`): a chat's messages
//!   sit together in seq order, so a history page is one range of one B-tree instead of an
//!   index range plus a table seek per row, and a new message no longer writes a rowid table
//!   and an index of its own for `(chat_id, seq)`. Lookups by id go through a unique index.
//!   `read_marks` and `chat_members`, already keyed by `(chat_id, user_id, …)`, lose their
//!   rowid tables the same way: a membership is then found in one B-tree, where it took an
//!   index seek and a table seek (every send checks the sender's and updates every
//!   member's).
//! - On both databases, the client-id index holds only the messages that carry one (the
//!   others never conflicted there: a NULL equals nothing).
//! - Three indexes that no query reads are dropped: the events' by chat and by user (a
//!   stream catches up by cursor and checks membership per event) and the chats' by
//!   activity (the chat list ranges over the member's index). Each was written by every
//!   message.
//!
//! SQLite changes a table's key only by building the table anew. Its documented way is
//! followed: foreign key enforcement off (outside any transaction, as SQLite requires), then
//! in one transaction create, copy, drop, rename, index, and check every foreign key, then
//! enforcement back on. With enforcement on, dropping the old `messages` would delete every
//! reaction through their `ON DELETE CASCADE`. The copy reads and writes every message once,
//! at the first start of a version with this migration: about 30 seconds per million
//! messages on the machine of `BENCHMARKS.md`.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::prelude::*;

use super::columns::{counter, flag, text, text_null, time, time_null, to_chat, to_user, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
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
    ReplyToId,
    ForwardedMessageId,
    ForwardedSenderId,
    Reactions,
}

/// Every column of `messages`, in its order.
const MESSAGE_COLUMNS: [Messages; 13] = [
    Messages::Id,
    Messages::ChatId,
    Messages::Seq,
    Messages::SenderId,
    Messages::Text,
    Messages::ClientId,
    Messages::CreatedAt,
    Messages::EditedAt,
    Messages::DeletedAt,
    Messages::ReplyToId,
    Messages::ForwardedMessageId,
    Messages::ForwardedSenderId,
    Messages::Reactions,
];

#[derive(DeriveIden, Clone, Copy)]
enum ReadMarks {
    Table,
    ChatId,
    UserId,
    Seq,
    ReadAt,
}

const READ_MARK_COLUMNS: [ReadMarks; 4] = [
    ReadMarks::ChatId,
    ReadMarks::UserId,
    ReadMarks::Seq,
    ReadMarks::ReadAt,
];

#[derive(DeriveIden, Clone, Copy)]
enum ChatMembers {
    Table,
    ChatId,
    UserId,
    Role,
    JoinedAt,
    LastReadSeq,
    Hidden,
    VisibleFromSeq,
    LastActivity,
    Large,
}

const MEMBER_COLUMNS: [ChatMembers; 9] = [
    ChatMembers::ChatId,
    ChatMembers::UserId,
    ChatMembers::Role,
    ChatMembers::JoinedAt,
    ChatMembers::LastReadSeq,
    ChatMembers::Hidden,
    ChatMembers::VisibleFromSeq,
    ChatMembers::LastActivity,
    ChatMembers::Large,
];

#[derive(DeriveIden)]
enum Events {
    Table,
    ChatId,
    UserId,
    Seq,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    Id,
    LastActivity,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

/// The table a rebuilt table is built as, before it takes the old one's name.
#[derive(DeriveIden)]
enum Rebuilt {
    Table,
}

const CHAT_SEQ_INDEX: &str = "idx_messages_chat_seq";
const CLIENT_ID_INDEX: &str = "idx_messages_client_id";
const ID_INDEX: &str = "idx_messages_id";

/// How SQLite stores `messages`, `read_marks` and `chat_members`: keyed by a rowid (before
/// this migration) or by their primary key (`WITHOUT ROWID`). `Clustered` also stands for
/// the rest of this migration, on either database.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Rowid,
    Clustered,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        migrate(manager, Layout::Clustered).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        migrate(manager, Layout::Rowid).await
    }

    /// SQLite's foreign key switch is set outside a transaction; [`migrate`] opens its own.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }
}

/// Brings the schema to `layout` (`Clustered`: this migration applied) in one transaction; on
/// SQLite, with foreign key enforcement off meanwhile, then restored as it was.
async fn migrate(manager: &SchemaManager<'_>, layout: Layout) -> Result<(), DbErr> {
    let sqlite = manager.get_database_backend() == DbBackend::Sqlite;
    let db = manager.get_connection();
    let enforced = sqlite
        && db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA foreign_keys",
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "foreign_keys"))
            .transpose()?
            == Some(1);
    if enforced {
        db.execute_unprepared("PRAGMA foreign_keys = OFF").await?;
    }
    let migrated = async {
        let txn = manager.begin().await?;
        let partial = layout == Layout::Clustered;
        if sqlite {
            rebuild_messages(&txn, layout).await?;
            rebuild_read_marks(&txn, layout).await?;
            rebuild_chat_members(&txn, layout).await?;
            let broken = txn
                .get_connection()
                .query_all_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "PRAGMA foreign_key_check",
                ))
                .await?;
            if !broken.is_empty() {
                return Err(DbErr::Migration(format!(
                    "{} rows would break a foreign key after the rebuild",
                    broken.len()
                )));
            }
        } else {
            txn.drop_index(
                Index::drop()
                    .name(CLIENT_ID_INDEX)
                    .table(Messages::Table)
                    .to_owned(),
            )
            .await?;
            txn.create_index(client_id_index(partial)).await?;
        }
        for index in unread_indexes() {
            if layout == Layout::Clustered {
                let name = index.get_index_spec().get_name().unwrap_or_default();
                txn.drop_index(Index::drop().name(name).to_owned()).await?;
            } else {
                txn.create_index(index).await?;
            }
        }
        txn.commit().await
    }
    .await;
    if enforced {
        db.execute_unprepared("PRAGMA foreign_keys = ON").await?;
    }
    migrated
}

/// An index `name` on `columns` of `table`.
fn index<C: IntoIden>(
    name: &str,
    table: impl IntoIden,
    columns: impl IntoIterator<Item = C>,
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(column);
    }
    index
}

/// The indexes this migration drops, as they were.
fn unread_indexes() -> [IndexCreateStatement; 3] {
    [
        index(
            "idx_events_chat",
            Events::Table,
            [Events::ChatId, Events::Seq],
        ),
        index(
            "idx_events_user",
            Events::Table,
            [Events::UserId, Events::Seq],
        ),
        index(
            "idx_chats_activity",
            Chats::Table,
            [Chats::LastActivity, Chats::Id],
        ),
    ]
}

/// One message per (chat, sender, client id); `partial`: only messages with a client id.
fn client_id_index(partial: bool) -> IndexCreateStatement {
    let mut index = Index::create();
    index
        .name(CLIENT_ID_INDEX)
        .table(Messages::Table)
        .col(Messages::ChatId)
        .col(Messages::SenderId)
        .col(Messages::ClientId)
        .unique();
    if partial {
        index.and_where(Expr::col(Messages::ClientId).is_not_null());
    }
    index
}

/// Creates `table` as `Rebuilt`, copies `columns` from `table` into it, drops `table` and
/// gives its name to the copy.
async fn replace_table<C: IntoIden + Copy>(
    manager: &SchemaManager<'_>,
    table: C,
    mut definition: TableCreateStatement,
    columns: &[C],
) -> Result<(), DbErr> {
    manager
        .create_table(definition.table(Rebuilt::Table).to_owned())
        .await?;
    let copy = Query::insert()
        .into_table(Rebuilt::Table)
        .columns(columns.iter().copied())
        .select_from(
            Query::select()
                .columns(columns.iter().copied())
                .from(table)
                .to_owned(),
        )
        .map_err(|error| DbErr::Migration(error.to_string()))?
        .to_owned();
    manager.exec_stmt(copy).await?;
    manager
        .drop_table(Table::drop().table(table).to_owned())
        .await?;
    manager
        .rename_table(Table::rename().table(Rebuilt::Table, table).to_owned())
        .await
}

async fn rebuild_messages(manager: &SchemaManager<'_>, layout: Layout) -> Result<(), DbErr> {
    let mut table = Table::create();
    table
        .col(uuid(Messages::Id))
        .col(uuid(Messages::ChatId))
        .col(ColumnDef::new(Messages::Seq).big_integer().not_null())
        .col(uuid(Messages::SenderId))
        .col(text_null(Messages::Text))
        .col(text_null(Messages::ClientId))
        .col(time(Messages::CreatedAt))
        .col(time_null(Messages::EditedAt))
        .col(time_null(Messages::DeletedAt))
        .col(ColumnDef::new(Messages::ReplyToId).uuid().null())
        .col(ColumnDef::new(Messages::ForwardedMessageId).uuid().null())
        .col(ColumnDef::new(Messages::ForwardedSenderId).uuid().null())
        .col(counter(Messages::Reactions))
        .foreign_key(&mut to_chat(Rebuilt::Table, Messages::ChatId))
        .foreign_key(
            ForeignKey::create()
                .from(Rebuilt::Table, Messages::SenderId)
                .to(Users::Table, Users::Id),
        );
    match layout {
        Layout::Clustered => {
            table
                .primary_key(Index::create().col(Messages::ChatId).col(Messages::Seq))
                .extra("WITHOUT ROWID");
        }
        Layout::Rowid => {
            table.primary_key(Index::create().col(Messages::Id));
        }
    }
    replace_table(manager, Messages::Table, table, &MESSAGE_COLUMNS).await?;

    // By id (replies, edits, reactions' foreign key), or by (chat, seq): whichever the table
    // is not keyed by.
    let mut other_key = Index::create();
    other_key.table(Messages::Table).unique();
    match layout {
        Layout::Clustered => other_key.name(ID_INDEX).col(Messages::Id),
        Layout::Rowid => other_key
            .name(CHAT_SEQ_INDEX)
            .col(Messages::ChatId)
            .col(Messages::Seq),
    };
    manager.create_index(other_key).await?;
    manager
        .create_index(client_id_index(layout == Layout::Clustered))
        .await
}

async fn rebuild_read_marks(manager: &SchemaManager<'_>, layout: Layout) -> Result<(), DbErr> {
    let mut table = Table::create();
    table
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
        .foreign_key(&mut to_chat(Rebuilt::Table, ReadMarks::ChatId))
        .foreign_key(&mut to_user(Rebuilt::Table, ReadMarks::UserId));
    if layout == Layout::Clustered {
        table.extra("WITHOUT ROWID");
    }
    replace_table(manager, ReadMarks::Table, table, &READ_MARK_COLUMNS).await
}

async fn rebuild_chat_members(manager: &SchemaManager<'_>, layout: Layout) -> Result<(), DbErr> {
    let mut table = Table::create();
    table
        .col(uuid(ChatMembers::ChatId))
        .col(uuid(ChatMembers::UserId))
        .col(text(ChatMembers::Role).default("member").take())
        .col(time(ChatMembers::JoinedAt))
        .col(counter(ChatMembers::LastReadSeq))
        .col(flag(ChatMembers::Hidden, false))
        .col(counter(ChatMembers::VisibleFromSeq))
        .col(counter(ChatMembers::LastActivity))
        .col(flag(ChatMembers::Large, false))
        .primary_key(
            Index::create()
                .col(ChatMembers::ChatId)
                .col(ChatMembers::UserId),
        )
        .foreign_key(&mut to_chat(Rebuilt::Table, ChatMembers::ChatId))
        .foreign_key(&mut to_user(Rebuilt::Table, ChatMembers::UserId));
    if layout == Layout::Clustered {
        table.extra("WITHOUT ROWID");
    }
    replace_table(manager, ChatMembers::Table, table, &MEMBER_COLUMNS).await?;
    // The table's indexes as m0001, m0006 and m0010 left them, except that keyed by its
    // primary key, the chat list's index also carries the two columns the list reads from
    // a membership: a page then reads no membership row (a seek by a two-UUID key), only
    // the index. A send rewrites the member's entry anyway (its `last_activity`).
    let mut list = vec![
        ChatMembers::UserId,
        ChatMembers::Hidden,
        ChatMembers::Large,
        ChatMembers::LastActivity,
        ChatMembers::ChatId,
    ];
    if layout == Layout::Clustered {
        list.extend([ChatMembers::VisibleFromSeq, ChatMembers::LastReadSeq]);
    }
    let indexes: [(&str, &[ChatMembers]); 3] = [
        (
            "idx_chat_members_user",
            &[ChatMembers::UserId, ChatMembers::ChatId],
        ),
        (
            "idx_chat_members_hidden",
            &[ChatMembers::ChatId, ChatMembers::Hidden],
        ),
        ("idx_chat_members_list", &list),
    ];
    for (name, columns) in indexes {
        manager
            .create_index(index(name, ChatMembers::Table, columns.iter().copied()))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Statement};
    use sea_orm_migration::MigratorTrait;

    use crate::chats::member_entity as members;
    use crate::messages::{
        ClientId, Emoji, MessageText, SendMessage, entity as messages,
        reaction_entity as reactions, read_mark_entity as read_marks,
    };
    use crate::storage::sqlite::Connections;
    use crate::test_support::{direct_chat, user};
    use crate::{Migrator, Options, Service};

    /// Whether SQLite stores `table` without a rowid.
    async fn clustered(db: &DatabaseConnection, table: &str) -> bool {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "SELECT wr FROM pragma_table_list WHERE name = ?",
                [table.into()],
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "wr").unwrap() == 1
    }

    /// How many of the indexes this migration drops exist.
    async fn unread_indexes(db: &DatabaseConnection) -> i64 {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT count(*) AS found FROM sqlite_master WHERE type = 'index' AND name IN \
                 ('idx_events_chat', 'idx_events_user', 'idx_chats_activity')",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "found").unwrap()
    }

    async fn foreign_keys_enforced(db: &DatabaseConnection) -> bool {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA foreign_keys",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "foreign_keys").unwrap() == 1
    }

    /// Every message, reaction, read mark and membership comes through the rebuild both ways
    /// (dropping the old `messages` with foreign keys enforced would take the reactions with
    /// it), the tables are keyed as promised, foreign keys are enforced again afterwards, and
    /// the service goes on: a repeated client id finds its message, a new send takes the next
    /// seq.
    #[tokio::test]
    async fn rebuilds_keep_every_row() {
        let connections = Connections::memory().await.unwrap();
        let db = connections.write.db.clone();
        let chat = connections.open(Options::default(), 16).await.unwrap();
        let (ada, bob) = (user(&chat, "ada").await, user(&chat, "bob").await);
        let direct = direct_chat(&chat, &ada, &bob).await;
        let send = |text: &str, client_id: Option<&str>| {
            let mut message = SendMessage::new(direct, MessageText::parse(text).unwrap());
            if let Some(client_id) = client_id {
                message = message.client_id(ClientId::parse(client_id).unwrap());
            }
            message
        };
        let first = chat
            .send_message(&ada, send("first", Some("c-1")))
            .await
            .unwrap();
        chat.send_message(&bob, send("second", None)).await.unwrap();
        chat.add_reaction(&bob, direct, first.id, Emoji::parse("👍").unwrap())
            .await
            .unwrap();
        chat.mark_read(&ada, direct, 2).await.unwrap();

        let rows = || async {
            let mut kept = messages::Entity::find().all(&db).await.unwrap();
            kept.sort_by_key(|row| row.seq);
            let mut marks = read_marks::Entity::find().all(&db).await.unwrap();
            marks.sort_by_key(|mark| (mark.user_id, mark.seq));
            let mut members = members::Entity::find().all(&db).await.unwrap();
            members.sort_by_key(|member| member.user_id);
            (
                kept,
                reactions::Entity::find().all(&db).await.unwrap(),
                marks,
                members,
            )
        };
        let before = rows().await;
        let counts = (
            before.0.len(),
            before.1.len(),
            before.2.len(),
            before.3.len(),
        );
        // Marks: Bob's send (past Ada's message) and Ada's mark_read; Ada's first send passed
        // only her own message.
        assert_eq!(counts, (2, 1, 2, 2));
        assert!(clustered(&db, "messages").await && clustered(&db, "read_marks").await);

        // This migration and the one after it (which changes nothing on SQLite).
        Migrator::down(&db, Some(2)).await.unwrap();
        assert!(!clustered(&db, "messages").await && !clustered(&db, "read_marks").await);
        assert!(!clustered(&db, "chat_members").await);
        assert_eq!(unread_indexes(&db).await, 3);
        assert!(foreign_keys_enforced(&db).await);
        assert_eq!(rows().await, before);

        Migrator::up(&db, None).await.unwrap();
        assert!(clustered(&db, "messages").await && clustered(&db, "read_marks").await);
        assert!(clustered(&db, "chat_members").await);
        assert_eq!(unread_indexes(&db).await, 0);
        assert!(foreign_keys_enforced(&db).await);
        assert_eq!(rows().await, before);

        let again = chat
            .send_message(&ada, send("first", Some("c-1")))
            .await
            .unwrap();
        assert_eq!((again.id, again.seq), (first.id, 1));
        let third = chat.send_message(&ada, send("third", None)).await.unwrap();
        assert_eq!(third.seq, 3);
    }
}
