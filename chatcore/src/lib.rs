#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod access;
mod auth;
pub mod avatars;
mod cache;
pub mod chats;
mod clock;
pub mod contacts;
mod context;
mod core;
mod error;
pub mod events;
pub mod groups;
mod ids;
pub mod invites;
pub mod limits;
pub mod messages;
mod migration;
pub mod moderation;
pub mod notify;
mod options;
mod pagination;
mod readiness;
pub mod realtime;
mod roles;
mod service;
pub mod sessions;
mod settings_entity;
mod sql;
pub mod storage;
mod stored;
#[cfg(test)]
mod test_support;
#[cfg(feature = "testkit")]
pub mod testkit;
mod text;
pub mod users;
mod write;

pub use crate::core::ChatCore;
pub use error::{Error, Result, UNAVAILABLE_RETRY_AFTER};
pub use ids::{ChatId, MessageId, ReportId, SessionId, UserId};
pub use migration::Migrator;
pub use notify::{AccountNotice, LoggingNotifier, NoticeKind, Notifier};
pub use options::Options;
pub use pagination::{Page, PageRequest};
pub use readiness::{READINESS_TIMEOUT, Readiness};
pub use service::Service;
pub use sessions::Caller;
pub use write::WriteMode;

/// Re-exported so that backend crates and applications use the same SeaORM.
pub use sea_orm;
