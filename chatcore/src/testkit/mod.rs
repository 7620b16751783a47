//! The conformance suite: one function per behaviour, run against every backend, and the
//! fixtures backends' tests share ([`TestDatabase`]: a fresh PostgreSQL database per test).
//!
//! A backend crate expands the whole suite into `#[tokio::test]`s with
//! [`conformance_tests!`](crate::conformance_tests), given an async factory that returns a
//! fresh [`Harness`] (or `None` to skip, e.g. when its database is not configured).
//!
//! The functions panic on failure, like any test.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod accounts;
mod authorization;
mod avatars;
mod blocks;
mod chats;
mod contacts;
mod conversation;
mod database;
mod events;
mod groups;
mod invites;
mod messages;
mod moderation;
mod recovery;
mod streams;

pub use accounts::*;
pub use authorization::*;
pub use avatars::*;
pub use blocks::*;
pub use chats::*;
pub use contacts::*;
pub use conversation::*;
pub use database::{TEST_POSTGRES_URL, TestDatabase, postgres_url, with_database};
pub use events::*;
pub use groups::*;
pub use invites::*;
pub use messages::*;
pub use moderation::*;
pub use recovery::*;
pub use streams::*;

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::messages::{MessageText, SendMessage};
use crate::notify::{AccountNotice, NoticeKind, Notifier};
use crate::users::{Authenticated, Password, Register, Username};
use crate::{Caller, ChatCore, Options, Service, UserId};

/// A fresh service for one test, and whatever must live as long as it.
pub struct Harness {
    service: ChatCore,
    notices: Option<Notices>,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
    _keep: Vec<Box<dyn Any + Send>>,
}

/// A notifier that keeps every account notice for the suite to read.
#[derive(Clone, Default)]
pub struct Notices(Arc<Mutex<Vec<AccountNotice>>>);

impl Notices {
    /// Service options that deliver account notices here.
    pub fn options(&self) -> Options {
        Options::default().notifier(self.clone())
    }

    /// How many notices arrived so far.
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The latest notice of this kind for this user, waiting up to 5 seconds for it (the
    /// service delivers in the background).
    pub async fn latest(&self, user: UserId, kind: NoticeKind) -> AccountNotice {
        for _ in 0..500 {
            let found = self
                .0
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|notice| notice.user_id == user && notice.kind == kind)
                .cloned();
            if let Some(notice) = found {
                return notice;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {kind:?} notice for {user}");
    }
}

#[async_trait]
impl Notifier for Notices {
    async fn notify(
        &self,
        notice: AccountNotice,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.lock().unwrap().push(notice);
        Ok(())
    }
}

impl Harness {
    /// Wraps a freshly opened service.
    pub fn new(service: ChatCore) -> Self {
        Harness {
            service,
            notices: None,
            on_drop: None,
            _keep: Vec::new(),
        }
    }

    /// Tells the harness where the service (opened with [`Notices::options`]) delivers its
    /// account notices.
    pub fn with_notices(mut self, notices: Notices) -> Self {
        self.notices = Some(notices);
        self
    }

    /// The captured account notices.
    pub fn notices(&self) -> &Notices {
        self.notices
            .as_ref()
            .expect("the factory must open the service with Notices::options and call with_notices")
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
            server_admin_follows_the_account_not_the_name,
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
            group_creation_lists_a_bounded_number_of_members,
            checks_answered_from_memory_follow_every_change,
            invites_join_groups_until_expired_revoked_or_used_up,
            concurrent_accepts_never_exceed_max_uses,
            contacts_are_added_listed_and_removed,
            blocks_stop_direct_chats_messages_and_adds,
            replies_carry_a_preview_of_what_the_reader_may_see,
            forwards_record_their_origin,
            edits_and_moderated_deletes,
            reactions_are_counted_per_emoji,
            read_markers_move_forward_and_feed_unread_and_receipts,
            typing_needs_membership,
            reports_reach_server_admins,
            server_admins_deactivate_users_and_delete_any_message,
            changing_the_password_ends_other_sessions,
            authorization_matrix_refuses_and_changes_nothing,
            subscribers_receive_their_chats_events,
            events_stop_at_the_membership_boundary,
            a_revoked_session_ends_its_streams,
            resuming_from_a_cursor_loses_and_repeats_nothing,
            a_slow_consumer_catches_up_without_slowing_others,
            events_about_messages_before_a_join_reach_only_who_can_see_them,
            full_history_members_get_events_about_earlier_messages,
            chat_created_is_addressed_to_each_member_without_the_member_list,
            a_dropped_stream_ends_its_follower,
            streams_are_capped_per_session_and_per_user,
            typing_notices_are_throttled_per_member_and_chat,
            blocked_users_cannot_edit_in_that_direct_chat,
            blocked_users_cannot_react_in_that_direct_chat,
            blocked_users_cannot_send_typing_in_that_direct_chat,
            avatars_come_in_two_sizes_for_everyone_to_see,
            bad_avatars_are_refused_and_change_nothing,
        );
        $crate::conformance_tests!(@expand_harness $factory;
            password_reset_is_silent_single_use_and_ends_sessions,
            verification_tokens_mark_the_account_verified,
            identity_changes_need_the_password_and_unverify_the_email,
            replacing_or_removing_an_avatar_deletes_its_images,
            avatar_uploads_wait_in_a_bounded_queue,
            avatar_files_are_read_when_their_turn_comes,
        );
    };
    (@expand_harness $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(harness) = $factory().await else {
                    return;
                };
                $crate::testkit::$name(&harness).await;
            }
        )*
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
