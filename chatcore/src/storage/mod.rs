//! For storage backends: how a backend crate hands chatcore its connections, and SQLite
//! connections that run each statement on the calling thread (feature `sqlite`).

pub use crate::error::sqlite_error;
pub use crate::write::{TransactionFailures, WriteConnection};

#[cfg(any(feature = "sqlite", test))]
pub mod sqlite;
