//! The conformance suite: one function per behaviour, run against every backend.
//!
//! A backend crate expands the whole suite into `#[tokio::test]`s with
//! [`conformance_tests!`](crate::conformance_tests), given an async factory that returns a
//! fresh [`Harness`] (or `None` to skip, e.g. when its database is not configured).
//!
//! The functions panic on failure, like any test.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod accounts;
mod chats;
mod groups;
mod messages;

pub use accounts::*;
pub use chats::*;
pub use groups::*;
pub use messages::*;

use std::any::Any;

use crate::messages::{MessageText, SendMessage};
use crate::users::{Authenticated, Password, Register, Username};
use crate::{Caller, ChatCore, Service};

/// A fresh service for one test, and whatever must live as long as it.
pub struct Harness {
    service: ChatCore,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
    _keep: Vec<Box<dyn Any + Send>>,
}

impl Harness {
    /// Wraps a freshly opened service.
    pub fn new(service: ChatCore) -> Self {
        Harness {
            service,
            on_drop: None,
            _keep: Vec::new(),
        }
    }

    /// Keeps `value` (a temporary directory, say) alive as long as the harness.
    pub fn keep_alive(mut self, value: impl Any + Send) -> Self {
        self._keep.push(Box::new(value));
        self
    }

    /// Runs `cleanup` when the harness is dropped (dropping a test database, say).
    pub fn on_drop(mut self, cleanup: impl FnOnce() + Send + 'static) -> Self {
        self.on_drop = Some(Box::new(cleanup));
        self
    }

    /// The service under test.
    pub fn service(&self) -> &ChatCore {
        &self.service
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(cleanup) = self.on_drop.take() {
            cleanup();
        }
    }
}

/// A registered user: their account, session and caller.
pub struct TestUser {
    pub auth: Authenticated,
    pub caller: Caller,
    pub password: String,
}

impl TestUser {
    pub fn id(&self) -> crate::UserId {
        self.auth.user.id
    }
}

/// Registers `username` with a valid password and authenticates its token.
pub async fn register(service: &dyn Service, username: &str) -> TestUser {
    let password = format!("{username}-secret-passphrase");
    let auth = service
        .register(Register::new(
            Username::parse(username).unwrap(),
            Password::parse(password.clone()).unwrap(),
        ))
        .await
        .unwrap();
    let caller = service.authenticate(&auth.session.token).await.unwrap();
    TestUser {
        auth,
        caller,
        password,
    }
}

/// Sends `text` into `chat` as `user`; the send must succeed.
pub async fn say(
    service: &dyn Service,
    user: &TestUser,
    chat: crate::ChatId,
    text: &str,
) -> crate::messages::Message {
    let message = SendMessage::new(chat, MessageText::parse(text).unwrap());
    service.send_message(&user.caller, message).await.unwrap()
}

/// Expands the conformance suite into `#[tokio::test]`s over a harness factory:
/// `async fn factory() -> Option<Harness>`.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:path) => {
        $crate::conformance_tests!(@expand $factory;
            register_returns_user_and_working_session,
            usernames_and_emails_are_unique_case_insensitively,
            login_by_username_or_email_in_any_case,
            bad_logins_are_indistinguishable,
            logout_revokes_the_token_at_once,
            sessions_are_listed_and_revocable,
            expired_sessions_are_refused,
            forged_tokens_are_refused,
            signing_secret_is_shared_through_the_database,
            profile_updates_recheck_uniqueness,
            search_finds_active_users_by_substring_in_pages,
            unregister_needs_the_password_and_keeps_messages,
            external_users_get_sessions_without_passwords,
            direct_chat_is_one_per_pair,
            concurrent_direct_chat_starts_make_one_chat,
            direct_chat_with_self_or_inactive_user_is_refused,
            chat_list_is_newest_first_with_preview_and_unread,
            chat_list_pages_without_gaps,
            chat_detail_lists_participants,
            hidden_chat_returns_with_the_next_message,
            non_members_learn_nothing,
            client_id_makes_sends_idempotent,
            concurrent_senders_get_contiguous_seqs,
            history_pages_by_cursor,
            deleting_leaves_a_tombstone,
            groups_enforce_roles,
            group_history_starts_at_join_unless_full,
            owners_hand_over_and_the_last_one_out_deletes,
            deleting_a_group_removes_it_for_everyone,
            group_members_are_checked,
        );
    };
    (@expand $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(harness) = $factory().await else {
                    return;
                };
                $crate::testkit::$name(harness.service()).await;
            }
        )*
    };
}
