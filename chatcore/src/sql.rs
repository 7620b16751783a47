//! [`Sql`]: the statements of the hot write paths, written once as SQL for both backends.

use std::sync::OnceLock;

use sea_orm::{DbBackend, Statement, Value};

/// A statement that a hot path runs many times a second, written as SQL with PostgreSQL's
/// numbered placeholders (`$1`, `$2`, …, each may appear several times); SQLite runs the same
/// text with its own numbered form (`?1`). Building such a statement with sea-query formats its
/// text anew on every run, which cost more than SQLite took to execute it (a send ran six).
/// The text must hold no `$` other than placeholders.
pub(crate) struct Sql {
    text: &'static str,
    sqlite: OnceLock<String>,
}

impl Sql {
    pub(crate) const fn new(text: &'static str) -> Sql {
        Sql {
            text,
            sqlite: OnceLock::new(),
        }
    }

    /// The statement for `backend`, with `values` for `$1`, `$2`, … in this order.
    pub(crate) fn with(
        &self,
        backend: DbBackend,
        values: impl IntoIterator<Item = Value>,
    ) -> Statement {
        let text = match backend {
            DbBackend::Sqlite => self.sqlite.get_or_init(|| self.text.replace('$', "?")),
            _ => self.text,
        };
        Statement::from_sql_and_values(backend, text, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_reads_the_same_numbers() {
        static SQL: Sql = Sql::new("UPDATE t SET a = $1 WHERE b = $2 OR c = $1");
        let postgres = SQL.with(DbBackend::Postgres, [1i64.into(), 2i64.into()]);
        assert_eq!(postgres.sql, "UPDATE t SET a = $1 WHERE b = $2 OR c = $1");
        let sqlite = SQL.with(DbBackend::Sqlite, [1i64.into(), 2i64.into()]);
        assert_eq!(sqlite.sql, "UPDATE t SET a = ?1 WHERE b = ?2 OR c = ?1");
        assert_eq!(sqlite.values, postgres.values);
    }
}
