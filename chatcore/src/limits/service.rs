//! [`RateLimited`]: any [`Service`] behind the limits.

use std::fmt;

use async_trait::async_trait;

use super::keyed::{FailureGate, KeyedLimiter};
use super::{Asker, MAX_LOGIN_CHARS, MAX_PASSWORD_CHARS, RateLimits};
use crate::avatars::{AvatarImage, AvatarSize};
use crate::chats::{ChatDetail, ChatListItem, DirectChat, Member};
use crate::contacts::ListedUser;
use crate::events::EventStream;
use crate::groups::{AssignableRole, ChatTitle, CreateGroup};
use crate::invites::{CreateInvite, Invite, InviteCode, InvitePreview, JoinedGroup};
use crate::messages::{
    Emoji, ForwardMessage, HistoryQuery, Message, MessageText, ReactionCount, ReadMarker,
    ReadReceipt, SendMessage,
};
use crate::moderation::{NewReport, Report, ReportQuery};
use crate::pagination::{Page, PageRequest};
use crate::sessions::{Caller, NewSession, Session, SessionOptions};
use crate::users::{
    Authenticated, ExternalId, ExternalUser, Login, Password, ProfileUpdate, Register, Role, User,
    UserProfile, UserRef, UserSearch,
};
use crate::{ChatId, Error, MessageId, ReportId, Result, Service, SessionId, UserId};

// ---------------------------------------------------------------------------------------------
// RateLimited
// ---------------------------------------------------------------------------------------------

struct Limiters {
    settings: RateLimits,
    logins: FailureGate<String>,
    passwords: FailureGate<UserId>,
    taken_emails: FailureGate<Asker>,
    password_resets: KeyedLimiter<String>,
    verifications: KeyedLimiter<UserId>,
    sends: KeyedLimiter<UserId>,
    avatars: KeyedLimiter<UserId>,
    contacts: KeyedLimiter<UserId>,
    groups: KeyedLimiter<UserId>,
    invites: KeyedLimiter<UserId>,
}

/// A [`Service`] with [`RateLimits`]: every method delegates to the wrapped service after the
/// limits that apply to it are checked. A refused request gets [`Error::RateLimited`] and
/// reaches nothing, and the wrapped service's contract holds otherwise.
///
/// What is limited, and by what key:
///
/// | operation | key | limit |
/// |---|---|---|
/// | [`login`](Service::login) | the login, trimmed and lowercased | [`login_failures`](RateLimits::login_failures), then [`lockout`](RateLimits::lockout) |
/// | [`change_password`](Service::change_password), [`unregister`](Service::unregister) | user | [`password_failures`](RateLimits::password_failures), then [`lockout`](RateLimits::lockout) |
/// | [`request_password_reset`](Service::request_password_reset) | the login, trimmed and lowercased | [`password_reset_requests`](RateLimits::password_reset_requests) |
/// | [`request_verification`](Service::request_verification) | user | [`verification_requests`](RateLimits::verification_requests) |
/// | [`send_message`](Service::send_message), [`forward_message`](Service::forward_message) | user | [`sends`](RateLimits::sends) |
/// | [`set_avatar`](Service::set_avatar) | user | [`avatar_uploads`](RateLimits::avatar_uploads) |
/// | [`add_contact`](Service::add_contact), [`block_user`](Service::block_user) | user | [`contact_adds`](RateLimits::contact_adds) |
/// | [`create_group`](Service::create_group) | user | [`group_creations`](RateLimits::group_creations) |
/// | [`create_invite`](Service::create_invite) | user | [`invite_creations`](RateLimits::invite_creations) |
/// | [`register`](Service::register), [`update_profile`](Service::update_profile) with an email | client address / user | [`taken_email_answers`](RateLimits::taken_email_answers), then [`lockout`](RateLimits::lockout) |
///
/// Logins longer than [`MAX_LOGIN_CHARS`] and passwords longer than [`MAX_PASSWORD_CHARS`]
/// are [`Error::InvalidInput`] before anything else.
pub struct RateLimited<S> {
    inner: S,
    limits: Limiters,
}

impl<S: Service> RateLimited<S> {
    /// Wraps `inner` with `limits`.
    pub fn new(inner: S, limits: RateLimits) -> Self {
        let lockout = limits.lockout;
        RateLimited {
            inner,
            limits: Limiters {
                logins: FailureGate::new(limits.login_failures, lockout, true),
                passwords: FailureGate::new(limits.password_failures, lockout, true),
                taken_emails: FailureGate::new(limits.taken_email_answers, lockout, false),
                password_resets: KeyedLimiter::new(limits.password_reset_requests),
                verifications: KeyedLimiter::new(limits.verification_requests),
                sends: KeyedLimiter::new(limits.sends),
                avatars: KeyedLimiter::new(limits.avatar_uploads),
                contacts: KeyedLimiter::new(limits.contact_adds),
                groups: KeyedLimiter::new(limits.group_creations),
                invites: KeyedLimiter::new(limits.invite_creations),
                settings: limits,
            },
        }
    }

    /// The wrapped service.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The limits in force.
    pub fn limits(&self) -> &RateLimits {
        &self.limits.settings
    }

    /// Drops every counter that has refilled and every lockout that has ended (this also
    /// happens by itself about once a minute).
    pub fn retain_recent(&self) {
        let limits = &self.limits;
        limits.logins.retain_recent();
        limits.passwords.retain_recent();
        limits.taken_emails.retain_recent();
        for limiter in [
            &limits.verifications,
            &limits.sends,
            &limits.avatars,
            &limits.contacts,
            &limits.groups,
            &limits.invites,
        ] {
            limiter.retain_recent();
        }
        limits.password_resets.retain_recent();
    }

    /// How many keys (users, logins, addresses) the counters and lockouts hold.
    pub fn tracked_keys(&self) -> usize {
        let limits = &self.limits;
        limits.logins.len()
            + limits.passwords.len()
            + limits.taken_emails.len()
            + limits.password_resets.len()
            + [
                &limits.verifications,
                &limits.sends,
                &limits.avatars,
                &limits.contacts,
                &limits.groups,
                &limits.invites,
            ]
            .iter()
            .map(|limiter| limiter.len())
            .sum::<usize>()
    }
}

impl<S> fmt::Debug for RateLimited<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimited")
            .field("limits", &self.limits.settings)
            .finish_non_exhaustive()
    }
}

/// The key of a login: how the service finds the account (trimmed, lowercased).
fn login_key(login: &str, field: &'static str) -> Result<String> {
    if login.chars().nth(MAX_LOGIN_CHARS).is_some() {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_LOGIN_CHARS} characters long"),
        ));
    }
    Ok(login.trim().to_lowercase())
}

fn check_password_length(password: &str, field: &'static str) -> Result<()> {
    if password.chars().nth(MAX_PASSWORD_CHARS).is_some() {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_PASSWORD_CHARS} characters long"),
        ));
    }
    Ok(())
}

fn wrong_password<T>(result: &Result<T>) -> bool {
    matches!(result, Err(Error::InvalidLogin))
}

fn email_taken<T>(result: &Result<T>) -> bool {
    matches!(result, Err(Error::UserAlreadyExists { field: "email" }))
}

#[async_trait]
impl<S: Service> Service for RateLimited<S> {
    async fn register(&self, request: Register) -> Result<Authenticated> {
        if request.email.is_none() {
            return self.inner.register(request).await;
        }
        self.limits
            .taken_emails
            .guard(Asker::current(), self.inner.register(request), email_taken)
            .await
    }

    async fn login(&self, request: Login) -> Result<Authenticated> {
        let key = login_key(&request.login, "login")?;
        check_password_length(&request.password, "password")?;
        self.limits
            .logins
            .guard(key, self.inner.login(request), wrong_password)
            .await
    }

    async fn authenticate(&self, token: &str) -> Result<Caller> {
        self.inner.authenticate(token).await
    }

    async fn logout(&self, caller: &Caller) -> Result<()> {
        self.inner.logout(caller).await
    }

    async fn get_me(&self, caller: &Caller) -> Result<User> {
        self.inner.get_me(caller).await
    }

    async fn get_user(&self, caller: &Caller, user_id: UserId) -> Result<UserProfile> {
        self.inner.get_user(caller, user_id).await
    }

    async fn update_profile(&self, caller: &Caller, update: ProfileUpdate) -> Result<User> {
        if !matches!(update.email, Some(Some(_))) {
            return self.inner.update_profile(caller, update).await;
        }
        self.limits
            .taken_emails
            .guard(
                Asker::User(caller.user_id()),
                self.inner.update_profile(caller, update),
                email_taken,
            )
            .await
    }

    async fn search_users(&self, caller: &Caller, search: UserSearch) -> Result<Page<UserProfile>> {
        self.inner.search_users(caller, search).await
    }

    async fn unregister(&self, caller: &Caller, password: &str) -> Result<()> {
        check_password_length(password, "password")?;
        self.limits
            .passwords
            .guard(
                caller.user_id(),
                self.inner.unregister(caller, password),
                wrong_password,
            )
            .await
    }

    async fn set_avatar(&self, caller: &Caller, image: Vec<u8>) -> Result<User> {
        self.limits.avatars.check(&caller.user_id())?;
        self.inner.set_avatar(caller, image).await
    }

    // Forwarded as a file, so that the wrapped service reads it only when its turn comes
    // (the trait's default would read it into memory first).
    async fn set_avatar_file(&self, caller: &Caller, image: std::fs::File) -> Result<User> {
        self.limits.avatars.check(&caller.user_id())?;
        self.inner.set_avatar_file(caller, image).await
    }

    async fn remove_avatar(&self, caller: &Caller) -> Result<User> {
        self.inner.remove_avatar(caller).await
    }

    async fn get_avatar(
        &self,
        caller: &Caller,
        user_id: UserId,
        size: AvatarSize,
    ) -> Result<AvatarImage> {
        self.inner.get_avatar(caller, user_id, size).await
    }

    async fn upsert_external_user(&self, user: ExternalUser) -> Result<User> {
        self.inner.upsert_external_user(user).await
    }

    async fn open_external_session(
        &self,
        external_id: &ExternalId,
        options: SessionOptions,
    ) -> Result<NewSession> {
        self.inner.open_external_session(external_id, options).await
    }

    async fn list_sessions(&self, caller: &Caller) -> Result<Vec<Session>> {
        self.inner.list_sessions(caller).await
    }

    async fn revoke_session(&self, caller: &Caller, session_id: SessionId) -> Result<()> {
        self.inner.revoke_session(caller, session_id).await
    }

    async fn start_direct_chat(&self, caller: &Caller, user_id: UserId) -> Result<DirectChat> {
        self.inner.start_direct_chat(caller, user_id).await
    }

    async fn list_chats(&self, caller: &Caller, page: PageRequest) -> Result<Page<ChatListItem>> {
        self.inner.list_chats(caller, page).await
    }

    async fn get_chat(&self, caller: &Caller, chat_id: ChatId) -> Result<ChatDetail> {
        self.inner.get_chat(caller, chat_id).await
    }

    async fn hide_chat(&self, caller: &Caller, chat_id: ChatId) -> Result<()> {
        self.inner.hide_chat(caller, chat_id).await
    }

    async fn create_group(&self, caller: &Caller, group: CreateGroup) -> Result<ChatDetail> {
        self.limits.groups.check(&caller.user_id())?;
        self.inner.create_group(caller, group).await
    }

    async fn rename_group(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        title: ChatTitle,
    ) -> Result<ChatDetail> {
        self.inner.rename_group(caller, chat_id, title).await
    }

    async fn delete_group(&self, caller: &Caller, chat_id: ChatId) -> Result<()> {
        self.inner.delete_group(caller, chat_id).await
    }

    async fn add_member(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        user_id: UserId,
    ) -> Result<Member> {
        self.inner.add_member(caller, chat_id, user_id).await
    }

    async fn remove_member(&self, caller: &Caller, chat_id: ChatId, user_id: UserId) -> Result<()> {
        self.inner.remove_member(caller, chat_id, user_id).await
    }

    async fn set_member_role(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        user_id: UserId,
        role: AssignableRole,
    ) -> Result<Member> {
        self.inner
            .set_member_role(caller, chat_id, user_id, role)
            .await
    }

    async fn list_members(&self, caller: &Caller, chat_id: ChatId) -> Result<Vec<Member>> {
        self.inner.list_members(caller, chat_id).await
    }

    async fn send_message(&self, caller: &Caller, message: SendMessage) -> Result<Message> {
        self.limits.sends.check(&caller.user_id())?;
        self.inner.send_message(caller, message).await
    }

    async fn list_messages(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        query: HistoryQuery,
    ) -> Result<Vec<Message>> {
        self.inner.list_messages(caller, chat_id, query).await
    }

    async fn delete_message(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
    ) -> Result<()> {
        self.inner.delete_message(caller, chat_id, message_id).await
    }

    async fn change_password(&self, caller: &Caller, current: &str, new: Password) -> Result<()> {
        check_password_length(current, "current_password")?;
        self.limits
            .passwords
            .guard(
                caller.user_id(),
                self.inner.change_password(caller, current, new),
                wrong_password,
            )
            .await
    }

    async fn request_password_reset(&self, login: &str) -> Result<()> {
        let key = login_key(login, "login")?;
        self.limits.password_resets.check(&key)?;
        self.inner.request_password_reset(login).await
    }

    async fn confirm_password_reset(&self, token: &str, new_password: Password) -> Result<()> {
        self.inner.confirm_password_reset(token, new_password).await
    }

    async fn request_verification(&self, caller: &Caller) -> Result<()> {
        self.limits.verifications.check(&caller.user_id())?;
        self.inner.request_verification(caller).await
    }

    async fn confirm_verification(&self, token: &str) -> Result<()> {
        self.inner.confirm_verification(token).await
    }

    async fn add_contact(&self, caller: &Caller, user_id: UserId) -> Result<ListedUser> {
        self.limits.contacts.check(&caller.user_id())?;
        self.inner.add_contact(caller, user_id).await
    }

    async fn remove_contact(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        self.inner.remove_contact(caller, user_id).await
    }

    async fn list_contacts(&self, caller: &Caller, page: PageRequest) -> Result<Page<ListedUser>> {
        self.inner.list_contacts(caller, page).await
    }

    async fn block_user(&self, caller: &Caller, user_id: UserId) -> Result<ListedUser> {
        self.limits.contacts.check(&caller.user_id())?;
        self.inner.block_user(caller, user_id).await
    }

    async fn unblock_user(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        self.inner.unblock_user(caller, user_id).await
    }

    async fn list_blocks(&self, caller: &Caller, page: PageRequest) -> Result<Page<ListedUser>> {
        self.inner.list_blocks(caller, page).await
    }

    async fn create_invite(&self, caller: &Caller, invite: CreateInvite) -> Result<Invite> {
        self.limits.invites.check(&caller.user_id())?;
        self.inner.create_invite(caller, invite).await
    }

    async fn list_invites(&self, caller: &Caller, chat_id: ChatId) -> Result<Vec<Invite>> {
        self.inner.list_invites(caller, chat_id).await
    }

    async fn revoke_invite(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        code: &InviteCode,
    ) -> Result<()> {
        self.inner.revoke_invite(caller, chat_id, code).await
    }

    async fn preview_invite(&self, caller: &Caller, code: &InviteCode) -> Result<InvitePreview> {
        self.inner.preview_invite(caller, code).await
    }

    async fn accept_invite(&self, caller: &Caller, code: &InviteCode) -> Result<JoinedGroup> {
        self.inner.accept_invite(caller, code).await
    }

    async fn forward_message(&self, caller: &Caller, forward: ForwardMessage) -> Result<Message> {
        self.limits.sends.check(&caller.user_id())?;
        self.inner.forward_message(caller, forward).await
    }

    async fn edit_message(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
        text: MessageText,
    ) -> Result<Message> {
        self.inner
            .edit_message(caller, chat_id, message_id, text)
            .await
    }

    async fn add_reaction(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
        emoji: Emoji,
    ) -> Result<Vec<ReactionCount>> {
        self.inner
            .add_reaction(caller, chat_id, message_id, emoji)
            .await
    }

    async fn remove_reaction(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
        emoji: Emoji,
    ) -> Result<Vec<ReactionCount>> {
        self.inner
            .remove_reaction(caller, chat_id, message_id, emoji)
            .await
    }

    async fn mark_read(&self, caller: &Caller, chat_id: ChatId, seq: i64) -> Result<ReadMarker> {
        self.inner.mark_read(caller, chat_id, seq).await
    }

    async fn list_read_receipts(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
    ) -> Result<Vec<ReadReceipt>> {
        self.inner
            .list_read_receipts(caller, chat_id, message_id)
            .await
    }

    async fn send_typing(&self, caller: &Caller, chat_id: ChatId) -> Result<()> {
        self.inner.send_typing(caller, chat_id).await
    }

    async fn create_report(&self, caller: &Caller, report: NewReport) -> Result<Report> {
        self.inner.create_report(caller, report).await
    }

    async fn list_reports(&self, caller: &Caller, query: ReportQuery) -> Result<Page<Report>> {
        self.inner.list_reports(caller, query).await
    }

    async fn resolve_report(
        &self,
        caller: &Caller,
        report_id: ReportId,
        resolution: Option<String>,
    ) -> Result<Report> {
        self.inner
            .resolve_report(caller, report_id, resolution)
            .await
    }

    async fn deactivate_user(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        self.inner.deactivate_user(caller, user_id).await
    }

    async fn reactivate_user(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        self.inner.reactivate_user(caller, user_id).await
    }

    async fn set_server_role(&self, user: UserRef, role: Role) -> Result<User> {
        self.inner.set_server_role(user, role).await
    }

    async fn subscribe(&self, caller: &Caller, since: Option<i64>) -> Result<EventStream> {
        self.inner.subscribe(caller, since).await
    }

    async fn readiness(&self) -> crate::Readiness {
        self.inner.readiness().await
    }

    fn live_subscriptions(&self) -> usize {
        self.inner.live_subscriptions()
    }
}
