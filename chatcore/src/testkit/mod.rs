//! The conformance suite: one function per behaviour, run against every backend, and the
//! fixtures backends' tests share ([`TestDatabase`]: a fresh PostgreSQL database per test).
//!
//! A backend crate expands the whole suite into `#[tokio::test]`s with
//! [`conformance_tests!`](crate::conformance_tests), given an async factory that returns a
//! fresh [`Harness`] (or `None` to skip, e.g. when its database is not configured).
//!
//! The suite is listed once, in `conformance_tests!`; [`suite`] is generated from that list.
//! The test functions are public only through it, so a test left off the list is dead code,
//! which this module denies: it does not compile.
//!
//! The functions panic on failure, like any test.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![deny(dead_code)]

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
mod realtime;
mod recovery;
mod streams;

pub use avatars::{
    JpegCoding, JpegColor, SAMPLE_RED, corner_picture, encoded, gif_header_only, handmade_jpeg,
    handmade_png, jpeg_header_only, png_bomb, png_header_only, sample_jpeg_with_orientation,
    sample_png, sample_transparent_png, webp_header_only, with_orientation,
};
pub use database::{TEST_POSTGRES_URL, TestDatabase, postgres_url, with_database};

/// Every conformance test as `async fn(&Harness)`, generated from the one list in
/// [`conformance_tests!`](crate::conformance_tests).
pub mod suite {
    crate::conformance_tests!(@list wrappers);
}

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::messages::{MessageText, SendMessage};
use crate::notify::{AccountNotice, NoticeKind, Notifier};
use crate::users::{Authenticated, Password, Register, Username};
use crate::{Caller, ChatCore, Options, Service, UserId};

/// A fresh service for one test, and whatever must live as long as it.
///
/// The suite runs over the [`Service`] trait ([`Harness::service`]). The few tests that reach
/// below it (a second node on the same database, the avatar queue) ask for the [`ChatCore`]
/// behind it ([`Harness::core`]); [`Harness::for_core`] provides both.
pub struct Harness {
    service: Arc<dyn Service>,
    core: Option<ChatCore>,
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
    /// Wraps a freshly opened service (a [`ChatCore`], or one wrapped, such as
    /// [`RateLimited`](crate::limits::RateLimited)). Tests that need the `ChatCore` itself
    /// fail unless it is given with [`Harness::with_core`].
    pub fn new(service: Arc<dyn Service>) -> Self {
        Harness {
            service,
            core: None,
            notices: None,
            on_drop: None,
            _keep: Vec::new(),
        }
    }

    /// A freshly opened `ChatCore`: the service under test, and the core behind it.
    pub fn for_core(core: ChatCore) -> Self {
        Harness::new(Arc::new(core.clone())).with_core(core)
    }

    /// Gives the `ChatCore` behind the service (the same database), for the tests that
    /// reach below the [`Service`] trait.
    pub fn with_core(mut self, core: ChatCore) -> Self {
        self.core = Some(core);
        self
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
    pub fn service(&self) -> &dyn Service {
        self.service.as_ref()
    }

    /// The service under test, shared.
    pub fn shared_service(&self) -> Arc<dyn Service> {
        self.service.clone()
    }

    /// The `ChatCore` behind the service, for tests that reach below the [`Service`] trait.
    ///
    /// # Panics
    /// When the harness was built without one ([`Harness::for_core`], [`Harness::with_core`]).
    pub fn core(&self) -> &ChatCore {
        self.core.as_ref().expect(
            "this test needs the ChatCore: build the harness with Harness::for_core or with_core",
        )
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

/// A write left open: a `chat_updated` event recorded, as every write records its events,
/// in a transaction that commits only when told. It stands for a write that commits late,
/// after writes that began after it (PostgreSQL; on SQLite the writer alone writes).
pub struct HeldWrite {
    txn: sea_orm::DatabaseTransaction,
    core: ChatCore,
}

/// Begins a write on `core`'s database that records a `chat_updated` event for `chat`, titled
/// `title`, and leaves it open.
pub async fn hold_write_open(
    core: &ChatCore,
    chat: crate::ChatId,
    actor: crate::UserId,
    title: &str,
) -> HeldWrite {
    use crate::events::{ChatUpdated, EventData, NewEvent};
    use sea_orm::TransactionTrait;
    let txn = core.connection().begin().await.unwrap();
    let event = NewEvent::chat(
        chat.as_uuid(),
        actor.as_uuid(),
        EventData::ChatUpdated(ChatUpdated {
            title: title.into(),
        }),
    );
    crate::events::log::record(&txn, vec![event]).await.unwrap();
    HeldWrite {
        txn,
        core: core.clone(),
    }
}

impl HeldWrite {
    /// Commits the write, and tells the service it did, as every write does.
    pub async fn commit(self) {
        self.txn.commit().await.unwrap();
        if let Some(sequencer) = &self.core.inner.sequencer {
            sequencer.numbered().await;
        }
    }
}

/// What a conformance test takes, given the harness: the service (`&dyn Service`), the
/// `ChatCore` behind it, or the harness itself. The generated [`suite`] passes each test
/// what its signature asks for.
pub trait SuiteInput {
    fn from_harness(harness: &Harness) -> &Self;
}

impl<'s> SuiteInput for dyn Service + 's {
    fn from_harness(harness: &Harness) -> &Self {
        harness.service()
    }
}

impl SuiteInput for ChatCore {
    fn from_harness(harness: &Harness) -> &Self {
        harness.core()
    }
}

impl SuiteInput for Harness {
    fn from_harness(harness: &Harness) -> &Self {
        harness
    }
}

/// Expands the conformance suite into `#[tokio::test]`s over a harness factory:
/// `async fn factory() -> Option<Harness>`.
///
/// The list below is the suite: each test once, as `module::name`. It also generates
/// [`testkit::suite`](crate::testkit::suite), the only way the test functions are reached,
/// so one left off the list is dead code and the crate does not compile.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:path) => {
        $crate::conformance_tests!(@list tests $factory);
    };
    (@list $($then:tt)*) => {
        $crate::conformance_tests!(@each [$($then)*]
            accounts::register_returns_user_and_working_session,
            accounts::usernames_and_emails_are_unique_case_insensitively,
            accounts::login_by_username_or_email_in_any_case,
            accounts::bad_logins_are_indistinguishable,
            accounts::logout_revokes_the_token_at_once,
            accounts::sessions_are_listed_and_revocable,
            accounts::expired_sessions_are_refused,
            accounts::forged_tokens_are_refused,
            accounts::signing_secret_is_shared_through_the_database,
            accounts::profile_updates_recheck_uniqueness,
            accounts::search_finds_active_users_by_substring_in_pages,
            accounts::unregister_needs_the_password_and_keeps_messages,
            accounts::external_users_get_sessions_without_passwords,
            accounts::server_admin_follows_the_account_not_the_name,
            accounts::identity_changes_need_the_password_and_unverify_the_email,
            authorization::authorization_matrix_refuses_and_changes_nothing,
            avatars::avatars_come_in_two_sizes_for_everyone_to_see,
            avatars::replacing_or_removing_an_avatar_deletes_its_images,
            avatars::bad_avatars_are_refused_and_change_nothing,
            avatars::avatar_uploads_wait_in_a_bounded_queue,
            avatars::avatar_files_are_read_when_their_turn_comes,
            blocks::blocked_users_cannot_send_but_retries_get_their_message,
            blocks::blocked_users_cannot_edit_in_that_direct_chat,
            blocks::blocked_users_cannot_react_in_that_direct_chat,
            blocks::blocked_users_cannot_send_typing_in_that_direct_chat,
            chats::direct_chat_is_one_per_pair,
            chats::concurrent_direct_chat_starts_make_one_chat,
            chats::direct_chat_with_self_or_inactive_user_is_refused,
            chats::chat_list_is_newest_first_with_preview_and_unread,
            chats::chat_list_pages_without_gaps,
            chats::chat_detail_lists_participants,
            chats::hidden_chat_returns_with_the_next_message,
            chats::large_groups_take_their_place_in_chat_lists,
            chats::non_members_learn_nothing,
            contacts::contacts_are_added_listed_and_removed,
            contacts::blocks_stop_direct_chats_messages_and_adds,
            conversation::replies_carry_a_preview_of_what_the_reader_may_see,
            conversation::forwards_record_their_origin,
            conversation::edits_and_moderated_deletes,
            conversation::reactions_are_counted_per_emoji,
            conversation::read_markers_move_forward_and_feed_unread_and_receipts,
            conversation::typing_needs_membership,
            events::subscribers_receive_their_chats_events,
            events::events_stop_at_the_membership_boundary,
            events::a_revoked_session_ends_its_streams,
            events::resuming_from_a_cursor_loses_and_repeats_nothing,
            events::a_slow_consumer_catches_up_without_slowing_others,
            events::events_about_messages_before_a_join_reach_only_who_can_see_them,
            events::full_history_members_get_events_about_earlier_messages,
            events::chat_created_is_addressed_to_each_member_without_the_member_list,
            events::one_shared_event_and_one_serialization_for_all_its_subscribers,
            groups::groups_enforce_roles,
            groups::group_history_starts_at_join_unless_full,
            groups::owners_hand_over_and_the_last_one_out_deletes,
            groups::deleting_a_group_removes_it_for_everyone,
            groups::group_members_are_checked,
            groups::checks_answered_from_memory_follow_every_change,
            groups::group_creation_lists_a_bounded_number_of_members,
            invites::invites_join_groups_until_expired_revoked_or_used_up,
            invites::concurrent_accepts_never_exceed_max_uses,
            messages::client_id_makes_sends_idempotent,
            messages::concurrent_senders_get_contiguous_seqs,
            events::concurrent_sends_in_many_chats_read_as_if_sent_one_by_one,
            messages::history_pages_by_cursor,
            messages::deleting_leaves_a_tombstone,
            moderation::reports_reach_server_admins,
            moderation::server_admins_deactivate_users_and_delete_any_message,
            realtime::a_connection_binds_by_command_and_answers_every_command_by_the_table,
            realtime::a_connection_resumes_from_a_cursor_once_and_ends_with_its_session,
            realtime::a_connection_is_rate_limited_and_closes_on_shutdown_or_silence,
            recovery::changing_the_password_ends_other_sessions,
            recovery::password_reset_is_silent_single_use_and_ends_sessions,
            recovery::verification_tokens_mark_the_account_verified,
            streams::a_dropped_stream_ends_its_follower,
            streams::streams_are_capped_per_session_and_per_user,
            streams::typing_notices_are_throttled_per_member_and_chat,
        );
    };
    (@each [tests $factory:path] $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(harness) = $factory().await else {
                    return;
                };
                $crate::testkit::suite::$name(&harness).await;
            }
        )*
    };
    (@each [wrappers] $($module:ident :: $name:ident),* $(,)?) => {
        $(
            pub async fn $name(harness: &$crate::testkit::Harness) {
                super::$module::$name($crate::testkit::SuiteInput::from_harness(harness)).await
            }
        )*

        /// Every test's name, in the order of the list.
        pub const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}
