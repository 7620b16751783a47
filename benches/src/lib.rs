//! Fixtures for chatcore's benchmarks: services on a real SQLite file or a fresh PostgreSQL
//! database, filled with users, chats and messages.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use chatcore::chats::ChatListItem;
use chatcore::groups::{ChatTitle, CreateGroup};
use chatcore::messages::{MessageText, SendMessage};
use chatcore::testkit::{TestDatabase, TestUser, register};
use chatcore::{ChatCore, ChatId, Service};

/// Which database a benchmark runs on.
pub enum Backend {
    /// An SQLite file with `synchronous=FULL` (the default durability).
    Sqlite(tempfile::TempDir),
    /// A fresh PostgreSQL database, dropped when the fixture goes.
    Postgres(TestDatabase),
}

/// A service with data in it.
pub struct Fixture {
    /// The service.
    pub service: ChatCore,
    /// Who the benchmarks act as.
    pub user: TestUser,
    /// A second user.
    pub peer: TestUser,
    /// A direct chat between them with `history` messages.
    pub chat: ChatId,
    /// Where it runs.
    pub backend: Backend,
}

impl Fixture {
    /// An SQLite file.
    pub async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let service = chatcore_sqlite::open(dir.path().join("bench.db"))
            .await
            .unwrap();
        Fixture::fill(service, Backend::Sqlite(dir)).await
    }

    /// A fresh database on the PostgreSQL at `CHATCORE_TEST_POSTGRES_URL`, if set.
    pub async fn postgres() -> Option<Fixture> {
        let database = TestDatabase::create("chatcore_bench").await?;
        let service = chatcore_postgres::connect(database.url()).await.unwrap();
        Some(Fixture::fill(service, Backend::Postgres(database)).await)
    }

    async fn fill(service: ChatCore, backend: Backend) -> Fixture {
        let user = register(&service, "bencher").await;
        let peer = register(&service, "peer").await;
        let chat = service
            .start_direct_chat(&user.caller, peer.id())
            .await
            .unwrap()
            .chat
            .chat
            .id;
        for i in 0..1_000 {
            let text = MessageText::parse(format!("message number {i}")).unwrap();
            service
                .send_message(&user.caller, SendMessage::new(chat, text))
                .await
                .unwrap();
        }
        // 500 chats for the chat list.
        for i in 0..500 {
            let title = ChatTitle::parse(format!("group {i}")).unwrap();
            let group = service
                .create_group(&user.caller, CreateGroup::new(title, vec![peer.id()]))
                .await
                .unwrap()
                .chat
                .id;
            let text = MessageText::parse(format!("hello group {i}")).unwrap();
            service
                .send_message(&peer.caller, SendMessage::new(group, text))
                .await
                .unwrap();
        }
        Fixture {
            service,
            user,
            peer,
            chat,
            backend,
        }
    }

    /// Fills the direct chat up to `total` messages, written straight into the tables (the
    /// service would take hours): same sender, text and time as message 1,000, seqs following
    /// on, and the chat's latest seq and message moved along.
    pub async fn grow_history(&self, total: i64) {
        use chatcore::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
        let db = self.service.connection();
        let backend = db.get_database_backend();
        let chat = self.chat.as_uuid();
        let fill = match backend {
            DatabaseBackend::Sqlite => {
                "WITH RECURSIVE n(i) AS (SELECT 1001 UNION ALL SELECT i + 1 FROM n WHERE i < $2) \
                 INSERT INTO messages (id, chat_id, seq, sender_id, text, created_at) \
                 SELECT randomblob(16), m.chat_id, n.i, m.sender_id, 'bulk message ' || n.i, \
                 m.created_at FROM n, messages m WHERE m.chat_id = $1 AND m.seq = 1000"
            }
            _ => {
                "INSERT INTO messages (id, chat_id, seq, sender_id, text, created_at) \
                 SELECT gen_random_uuid(), m.chat_id, n.i, m.sender_id, 'bulk message ' || n.i, \
                 m.created_at FROM generate_series(1001, $2) AS n(i), messages m \
                 WHERE m.chat_id = $1 AND m.seq = 1000"
            }
        };
        let statements = [
            fill,
            "UPDATE chats SET last_seq = $2, last_message_id = \
             (SELECT id FROM messages WHERE chat_id = $1 AND seq = $2) WHERE id = $1",
        ];
        for sql in statements {
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [chat.into(), total.into()],
            ))
            .await
            .unwrap();
        }
    }

    /// A page of the user's chat list (to check the fixture).
    pub async fn first_chats(&self) -> Vec<ChatListItem> {
        self.service
            .list_chats(&self.user.caller, chatcore::PageRequest::default())
            .await
            .unwrap()
            .items
    }
}
