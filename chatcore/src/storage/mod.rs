//! For storage backends: how a backend crate hands chatcore its connections, and SQLite
//! connections that run each statement on the calling thread (feature `sqlite`).

pub use crate::error::sqlite_error;
pub use crate::write::{TransactionFailures, WriteConnection};

#[cfg(any(feature = "sqlite", test))]
pub mod sqlite;

/// A row read by position from plain values: the tuples that [`Context::tuples`] decodes
/// (`ValueType` per column, as SeaORM converts them).
///
/// [`Context::tuples`]: crate::context::Context::tuples
pub(crate) trait FromValues: Sized {
    /// How many columns the row has.
    const COLUMNS: usize;

    /// The row from its values, in column order.
    fn from_values(
        values: &mut dyn Iterator<Item = sea_orm::Value>,
    ) -> Result<Self, sea_orm::DbErr>;
}

macro_rules! from_values {
    ($count:literal: $($name:ident),+) => {
        impl<$($name: sea_orm::sea_query::ValueType),+> FromValues for ($($name,)+) {
            const COLUMNS: usize = $count;

            fn from_values(
                values: &mut dyn Iterator<Item = sea_orm::Value>,
            ) -> Result<Self, sea_orm::DbErr> {
                Ok(($(
                    $name::try_from(values.next().ok_or_else(|| {
                        sea_orm::DbErr::Type("a row has too few columns".to_owned())
                    })?)
                    .map_err(|error| sea_orm::DbErr::Type(error.to_string()))?,
                )+))
            }
        }
    };
}

from_values!(2: A, B);
from_values!(4: A, B, C, D);
from_values!(8: A, B, C, D, E, F, G, H);
from_values!(10: A, B, C, D, E, F, G, H, I, J);
