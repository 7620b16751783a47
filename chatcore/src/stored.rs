//! [`stored_enum!`]: the one shape of every enum kept in a text column (roles, chat kinds,
//! history visibility, report reasons).

/// Declares a plain enum stored as its snake_case name: serde, the OpenAPI enum and the
/// SeaORM active enum all use that name, and a stored value naming no variant fails the read
/// (it never falls back to a default). Extra attributes (docs, `#[derive(Default)]`) go first.
macro_rules! stored_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(
            Clone,
            Copy,
            Debug,
            PartialEq,
            Eq,
            Hash,
            serde::Serialize,
            serde::Deserialize,
            sea_orm::EnumIter,
            sea_orm::DeriveActiveEnum,
        )]
        #[cfg_attr(
            feature = "openapi",
            derive(poem_openapi::Enum),
            oai(rename_all = "snake_case")
        )]
        #[serde(rename_all = "snake_case")]
        #[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
        pub enum $name { $($body)* }
    };
}

pub(crate) use stored_enum;
