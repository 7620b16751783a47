//! Test databases: one fresh database per test, dropped afterwards.
//!
//! Reads `CHATCORE_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`).
//! Without it the tests say so and pass vacuously, unless `CI=true`, where that is a failure.

#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)]

use chatcore::sea_orm::{ConnectionTrait, Database};

/// A database created for one test; dropped with this value.
pub struct TestDatabase {
    /// The URL of the test database.
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// A fresh database, or `None` when PostgreSQL is not configured (outside CI).
    pub async fn create() -> Option<TestDatabase> {
        let admin_url = base_url()?;
        let name = format!("chatcore_test_{}", uuid::Uuid::now_v7().simple());
        let admin = Database::connect(&admin_url)
            .await
            .expect("connect to PostgreSQL");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.expect("close");
        Some(TestDatabase {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        })
    }

    /// Moves the cleanup into a closure (for [`chatcore::testkit::Harness::on_drop`]).
    pub fn into_cleanup(mut self) -> impl FnOnce() + Send + 'static {
        let admin_url = std::mem::take(&mut self.admin_url);
        let name = std::mem::take(&mut self.name);
        move || drop_database(admin_url, name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if !self.name.is_empty() {
            drop_database(self.admin_url.clone(), self.name.clone());
        }
    }
}

fn base_url() -> Option<String> {
    match std::env::var("CHATCORE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but CHATCORE_TEST_POSTGRES_URL is not set")
        }
        _ => {
            eprintln!("skipped: set CHATCORE_TEST_POSTGRES_URL to run the PostgreSQL suite");
            None
        }
    }
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let prefix = match base.rfind('/') {
        Some(slash) if slash > "postgres://".len() => &base[..slash],
        _ => base,
    };
    match query {
        Some(query) => format!("{prefix}/{database}?{query}"),
        None => format!("{prefix}/{database}"),
    }
}

/// Drops a test database, from a thread of its own because `Drop` cannot await.
fn drop_database(url: String, name: String) {
    let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    let dropped = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let admin = Database::connect(&url).await?;
            admin.execute_unprepared(&statement).await?;
            admin.close().await
        })
    })
    .join();
    if !matches!(dropped, Ok(Ok(()))) {
        eprintln!("could not drop test database {name}");
    }
}
pub mod proxy;

/// Ann and Ben, registered on node `a`, in a direct chat; Ben's session as node `b` sees it
/// (sessions live in the shared database).
pub async fn direct_chat(
    a: &chatcore::ChatCore,
    b: &chatcore::ChatCore,
) -> (
    chatcore::testkit::TestUser,
    chatcore::testkit::TestUser,
    chatcore::Caller,
    chatcore::ChatId,
) {
    use chatcore::Service;
    use chatcore::testkit::register;
    let ann = register(a, "ann").await;
    let ben = register(a, "ben").await;
    let ben_on_b = b.authenticate(&ben.auth.session.token).await.unwrap();
    let chat = a
        .start_direct_chat(&ann.caller, ben.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    (ann, ben, ben_on_b, chat)
}
