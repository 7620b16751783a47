//! `impl Service for ChatCore`: each method delegates to its domain.

use async_trait::async_trait;

use super::ChatCore;
use crate::avatars::{self, AvatarImage, AvatarSize};
use crate::chats::{self, ChatDetail, ChatListItem, DirectChat, Member};
use crate::contacts::{self, ListedUser, queries::Listing};
use crate::events::{self, EventStream};
use crate::groups::{self, AssignableRole, ChatTitle, CreateGroup};
use crate::invites::{self, CreateInvite, Invite, InviteCode, InvitePreview, JoinedGroup};
use crate::messages::{
    self, Emoji, ForwardMessage, HistoryQuery, Message, MessageText, ReactionCount, ReadMarker,
    ReadReceipt, SendMessage,
};
use crate::moderation::{self, NewReport, Report, ReportQuery};
use crate::pagination::{Page, PageRequest};
use crate::sessions::{self, Caller, NewSession, Session, SessionOptions};
use crate::users::{
    self, Authenticated, ExternalId, ExternalUser, Login, Password, ProfileUpdate, Register, Role,
    User, UserProfile, UserRef, UserSearch,
};
use crate::{ChatId, MessageId, Readiness, ReportId, Result, Service, SessionId, UserId};
#[async_trait]
impl Service for ChatCore {
    async fn register(&self, request: Register) -> Result<Authenticated> {
        users::queries::register(&self.inner, request).await
    }

    async fn login(&self, request: Login) -> Result<Authenticated> {
        users::queries::login(&self.inner, request).await
    }

    async fn authenticate(&self, token: &str) -> Result<Caller> {
        sessions::queries::authenticate(&self.inner, token).await
    }

    async fn logout(&self, caller: &Caller) -> Result<()> {
        sessions::queries::revoke(&self.inner, caller, caller.session_id).await
    }

    async fn get_me(&self, caller: &Caller) -> Result<User> {
        users::queries::get_me(&self.inner, caller).await
    }

    async fn get_user(&self, caller: &Caller, user_id: UserId) -> Result<UserProfile> {
        users::queries::get_user(&self.inner, caller, user_id).await
    }

    async fn update_profile(&self, caller: &Caller, update: ProfileUpdate) -> Result<User> {
        users::queries::update_profile(&self.inner, caller, update).await
    }

    async fn search_users(&self, caller: &Caller, search: UserSearch) -> Result<Page<UserProfile>> {
        users::queries::search(&self.inner, caller, search).await
    }

    async fn unregister(&self, caller: &Caller, password: &str) -> Result<()> {
        users::queries::unregister(&self.inner, caller, password).await
    }

    async fn set_avatar(&self, caller: &Caller, image: Vec<u8>) -> Result<User> {
        avatars::queries::set(&self.inner, caller, avatars::Upload::Bytes(image)).await
    }

    async fn set_avatar_file(&self, caller: &Caller, image: std::fs::File) -> Result<User> {
        avatars::queries::set(&self.inner, caller, avatars::Upload::File(image)).await
    }

    async fn remove_avatar(&self, caller: &Caller) -> Result<User> {
        avatars::queries::remove(&self.inner, caller).await
    }

    async fn get_avatar(
        &self,
        caller: &Caller,
        user_id: UserId,
        size: AvatarSize,
    ) -> Result<AvatarImage> {
        avatars::queries::get(&self.inner, caller, user_id, size).await
    }

    async fn upsert_external_user(&self, user: ExternalUser) -> Result<User> {
        users::queries::upsert_external(&self.inner, user).await
    }

    async fn open_external_session(
        &self,
        external_id: &ExternalId,
        options: SessionOptions,
    ) -> Result<NewSession> {
        users::queries::open_external_session(&self.inner, external_id, options).await
    }

    async fn list_sessions(&self, caller: &Caller) -> Result<Vec<Session>> {
        sessions::queries::list(&self.inner, caller).await
    }

    async fn revoke_session(&self, caller: &Caller, session_id: SessionId) -> Result<()> {
        sessions::queries::revoke(&self.inner, caller, session_id).await
    }

    async fn start_direct_chat(&self, caller: &Caller, user_id: UserId) -> Result<DirectChat> {
        chats::queries::start_direct(&self.inner, caller, user_id).await
    }

    async fn list_chats(&self, caller: &Caller, page: PageRequest) -> Result<Page<ChatListItem>> {
        chats::queries::list(&self.inner, caller, page).await
    }

    async fn get_chat(&self, caller: &Caller, chat_id: ChatId) -> Result<ChatDetail> {
        chats::queries::detail(&self.inner, caller, chat_id).await
    }

    async fn hide_chat(&self, caller: &Caller, chat_id: ChatId) -> Result<()> {
        chats::queries::hide(&self.inner, caller, chat_id).await
    }

    async fn create_group(&self, caller: &Caller, group: CreateGroup) -> Result<ChatDetail> {
        groups::queries::create(&self.inner, caller, group).await
    }

    async fn rename_group(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        title: ChatTitle,
    ) -> Result<ChatDetail> {
        groups::queries::rename(&self.inner, caller, chat_id, title).await
    }

    async fn delete_group(&self, caller: &Caller, chat_id: ChatId) -> Result<()> {
        groups::queries::delete(&self.inner, caller, chat_id).await
    }

    async fn add_member(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        user_id: UserId,
    ) -> Result<Member> {
        groups::queries::add_member(&self.inner, caller, chat_id, user_id).await
    }

    async fn remove_member(&self, caller: &Caller, chat_id: ChatId, user_id: UserId) -> Result<()> {
        groups::queries::remove_member(&self.inner, caller, chat_id, user_id).await
    }

    async fn set_member_role(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        user_id: UserId,
        role: AssignableRole,
    ) -> Result<Member> {
        groups::queries::set_role(&self.inner, caller, chat_id, user_id, role).await
    }

    async fn list_members(&self, caller: &Caller, chat_id: ChatId) -> Result<Vec<Member>> {
        groups::queries::list_members(&self.inner, caller, chat_id).await
    }

    async fn send_message(&self, caller: &Caller, message: SendMessage) -> Result<Message> {
        messages::queries::send(&self.inner, caller, message).await
    }

    async fn list_messages(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        query: HistoryQuery,
    ) -> Result<Vec<Message>> {
        messages::queries::history(&self.inner, caller, chat_id, query).await
    }

    async fn delete_message(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
    ) -> Result<()> {
        messages::queries::delete(&self.inner, caller, chat_id, message_id).await
    }
    async fn change_password(&self, caller: &Caller, current: &str, new: Password) -> Result<()> {
        users::recovery::change_password(&self.inner, caller, current, new).await
    }

    async fn request_password_reset(&self, login: &str) -> Result<()> {
        users::recovery::request_password_reset(&self.inner, login).await
    }

    async fn confirm_password_reset(&self, token: &str, new_password: Password) -> Result<()> {
        users::recovery::confirm_password_reset(&self.inner, token, new_password).await
    }

    async fn request_verification(&self, caller: &Caller) -> Result<()> {
        users::recovery::request_verification(&self.inner, caller).await
    }

    async fn confirm_verification(&self, token: &str) -> Result<()> {
        users::recovery::confirm_verification(&self.inner, token).await
    }

    async fn add_contact(&self, caller: &Caller, user_id: UserId) -> Result<ListedUser> {
        contacts::queries::add(&self.inner, caller, Listing::Contacts, user_id).await
    }

    async fn remove_contact(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        contacts::queries::remove(&self.inner, caller, Listing::Contacts, user_id).await
    }

    async fn list_contacts(&self, caller: &Caller, page: PageRequest) -> Result<Page<ListedUser>> {
        contacts::queries::list(&self.inner, caller, Listing::Contacts, page).await
    }

    async fn block_user(&self, caller: &Caller, user_id: UserId) -> Result<ListedUser> {
        contacts::queries::add(&self.inner, caller, Listing::Blocks, user_id).await
    }

    async fn unblock_user(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        contacts::queries::remove(&self.inner, caller, Listing::Blocks, user_id).await
    }

    async fn list_blocks(&self, caller: &Caller, page: PageRequest) -> Result<Page<ListedUser>> {
        contacts::queries::list(&self.inner, caller, Listing::Blocks, page).await
    }

    async fn create_invite(&self, caller: &Caller, invite: CreateInvite) -> Result<Invite> {
        invites::queries::create(&self.inner, caller, invite).await
    }

    async fn list_invites(&self, caller: &Caller, chat_id: ChatId) -> Result<Vec<Invite>> {
        invites::queries::list(&self.inner, caller, chat_id).await
    }

    async fn revoke_invite(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        code: &InviteCode,
    ) -> Result<()> {
        invites::queries::revoke(&self.inner, caller, chat_id, code.clone()).await
    }

    async fn preview_invite(&self, caller: &Caller, code: &InviteCode) -> Result<InvitePreview> {
        invites::queries::preview(&self.inner, caller, code.clone()).await
    }

    async fn accept_invite(&self, caller: &Caller, code: &InviteCode) -> Result<JoinedGroup> {
        invites::queries::accept(&self.inner, caller, code.clone()).await
    }

    async fn forward_message(&self, caller: &Caller, forward: ForwardMessage) -> Result<Message> {
        messages::queries::forward(&self.inner, caller, forward).await
    }

    async fn edit_message(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
        text: MessageText,
    ) -> Result<Message> {
        messages::queries::edit(&self.inner, caller, chat_id, message_id, text).await
    }

    async fn add_reaction(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
        emoji: Emoji,
    ) -> Result<Vec<ReactionCount>> {
        messages::reactions::react(&self.inner, caller, chat_id, message_id, emoji, true).await
    }

    async fn remove_reaction(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
        emoji: Emoji,
    ) -> Result<Vec<ReactionCount>> {
        messages::reactions::react(&self.inner, caller, chat_id, message_id, emoji, false).await
    }

    async fn mark_read(&self, caller: &Caller, chat_id: ChatId, seq: i64) -> Result<ReadMarker> {
        messages::receipts::mark_read(&self.inner, caller, chat_id, seq).await
    }

    async fn list_read_receipts(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
    ) -> Result<Vec<ReadReceipt>> {
        messages::receipts::read_by(&self.inner, caller, chat_id, message_id).await
    }

    async fn send_typing(&self, caller: &Caller, chat_id: ChatId) -> Result<()> {
        messages::receipts::typing(&self.inner, caller, chat_id).await
    }

    async fn create_report(&self, caller: &Caller, report: NewReport) -> Result<Report> {
        moderation::queries::report(&self.inner, caller, report).await
    }

    async fn list_reports(&self, caller: &Caller, query: ReportQuery) -> Result<Page<Report>> {
        moderation::queries::list(&self.inner, caller, query).await
    }

    async fn resolve_report(
        &self,
        caller: &Caller,
        report_id: ReportId,
        resolution: Option<String>,
    ) -> Result<Report> {
        moderation::queries::resolve(&self.inner, caller, report_id, resolution).await
    }

    async fn deactivate_user(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        moderation::queries::set_active(&self.inner, caller, user_id, false).await
    }

    async fn reactivate_user(&self, caller: &Caller, user_id: UserId) -> Result<()> {
        moderation::queries::set_active(&self.inner, caller, user_id, true).await
    }

    async fn subscribe(&self, caller: &Caller, since: Option<i64>) -> Result<EventStream> {
        events::subscribe(&self.inner, caller, since).await
    }

    fn live_subscriptions(&self) -> usize {
        self.inner.streams.live()
    }

    async fn readiness(&self) -> Readiness {
        let ping = tokio::time::timeout(crate::READINESS_TIMEOUT, self.inner.db.ping()).await;
        let database = matches!(ping, Ok(Ok(())));
        Readiness::new(database, self.inner.events.is_connected())
    }

    async fn set_server_role(&self, user: UserRef, role: Role) -> Result<User> {
        moderation::queries::set_role(&self.inner, user, role).await
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::Options;
    use crate::users::{Password, Username};

    async fn register(chat: &ChatCore, name: &str) -> User {
        chat.register(Register::new(
            Username::parse(name).unwrap(),
            Password::parse("a long enough secret").unwrap(),
        ))
        .await
        .unwrap()
        .user
    }

    #[tokio::test]
    async fn cursors_older_than_retention_expire() {
        let chat = crate::storage::sqlite::open_in_memory(
            Options::default().event_retention(Duration::zero()),
        )
        .await
        .unwrap();
        let ada = register(&chat, "ada").await;
        let bob = register(&chat, "bob").await;
        let caller = chat
            .authenticate(
                &chat
                    .login(Login {
                        login: "ada".to_owned(),
                        password: "a long enough secret".to_owned(),
                        user_agent: None,
                    })
                    .await
                    .unwrap()
                    .session
                    .token,
            )
            .await
            .unwrap();
        assert_eq!(ada.id, caller.user_id());
        chat.start_direct_chat(&caller, bob.id).await.unwrap();
        // The first pruning runs within the first tick of housekeeping.
        let mut expired = false;
        for _ in 0..50 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            if let Err(error) = chat.subscribe(&caller, Some(0)).await {
                assert_eq!(error.code(), "cursor_expired");
                expired = true;
                break;
            }
        }
        assert!(expired, "the old cursor never expired");
        // Subscribing from now still works.
        let _live = chat.subscribe(&caller, None).await.unwrap();
    }
}
