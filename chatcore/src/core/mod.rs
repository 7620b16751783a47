//! [`ChatCore`]: the one implementation of [`Service`](crate::Service), over a SeaORM
//! connection. It sits on top of the domains and only delegates to them (`service.rs`);
//! `open.rs` applies migrations and builds the shared [`Context`], `housekeeping.rs` keeps it
//! tidy while it lives.

mod housekeeping;
mod open;
mod service;

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::context::Context;

/// The chatcore service over a SeaORM database. Cheap to clone; clones share everything.
///
/// Usually made by a backend crate (`chatcore_sqlite::open`, `chatcore_postgres::connect`).
#[derive(Clone)]
pub struct ChatCore {
    pub(crate) inner: Arc<Context>,
}

impl ChatCore {
    /// The underlying database connection (for the backend crates and tests). On SQLite
    /// (`chatcore::storage::sqlite`) it is the read connection: each statement runs on its
    /// own, and a transaction begun on it does not hold (an error is logged); writes that need
    /// one go through the service.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.inner.db
    }
}
