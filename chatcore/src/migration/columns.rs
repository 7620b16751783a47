//! Column shapes shared by the migrations.

use sea_orm_migration::prelude::*;

pub(super) fn uuid_pk<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).uuid().not_null().primary_key().take()
}

pub(super) fn uuid<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).uuid().not_null().take()
}

pub(super) fn time<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

pub(super) fn time_null<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .take()
}

pub(super) fn text<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).text().not_null().take()
}

pub(super) fn text_null<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).text().null().take()
}

pub(super) fn flag<T: IntoIden>(name: T, default: bool) -> ColumnDef {
    ColumnDef::new(name)
        .boolean()
        .not_null()
        .default(default)
        .take()
}

pub(super) fn counter<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .default(0)
        .take()
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    Id,
}

/// `from` refers to `to`, and its rows go when the row they refer to goes.
pub(super) fn cascade(
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

/// `column` of `table` is a user, and its rows go with the user.
pub(super) fn to_user(table: impl IntoIden, column: impl IntoIden) -> ForeignKeyCreateStatement {
    cascade((table, column), (Users::Table, Users::Id))
}

/// `column` of `table` is a chat, and its rows go with the chat.
pub(super) fn to_chat(table: impl IntoIden, column: impl IntoIden) -> ForeignKeyCreateStatement {
    cascade((table, column), (Chats::Table, Chats::Id))
}
