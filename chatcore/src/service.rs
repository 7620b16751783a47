//! The one door into chatcore.

use async_trait::async_trait;

use crate::chats::{ChatDetail, ChatListItem, DirectChat, Member};
use crate::groups::{AssignableRole, ChatTitle, CreateGroup};
use crate::messages::{HistoryQuery, Message, SendMessage};
use crate::pagination::{Page, PageRequest};
use crate::sessions::{Caller, NewSession, Session, SessionOptions};
use crate::users::{
    Authenticated, ExternalId, ExternalUser, Login, ProfileUpdate, Register, User, UserProfile,
    UserSearch,
};
use crate::{ChatId, MessageId, Result, SessionId, UserId};

/// Everything chatcore does, for every transport: in-process calls, REST, WebSocket and SSE
/// all go through this trait, so they cannot disagree.
///
/// The trait is object safe; hold it as `Arc<dyn Service>`.
///
/// # Contract
///
/// Every implementation guarantees:
///
/// - **Authorization.** Every operation except [`register`](Service::register),
///   [`login`](Service::login), [`authenticate`](Service::authenticate) and the trusted
///   embedding-app operations takes the [`Caller`] and checks what that user may do. A caller
///   who is not a member of a chat gets [`Error::NotFound`](crate::Error::NotFound) for
///   everything about it: a chat's existence is not revealed.
/// - **Atomicity.** An operation that fails changes nothing. An operation that returned `Ok`
///   is durable (on SQLite with `synchronous=FULL`, fsynced).
/// - **Ordering.** Messages of a chat have a `seq` contiguous from 1, unique under any
///   concurrency; history pages are in ascending `seq`.
/// - **Idempotency.** [`start_direct_chat`](Service::start_direct_chat) gives one chat per pair
///   of users whoever starts it, also when both start it at once;
///   [`send_message`](Service::send_message) with a `client_id` already used by the same sender
///   in the same chat returns the original message.
/// - **Sessions.** [`logout`](Service::logout) and [`revoke_session`](Service::revoke_session)
///   take effect at once: the token is refused by the next `authenticate`.
/// - **Secrecy.** Unknown logins and wrong passwords get the same error in about the same time.
///   Internal failures are [`Error::Internal`](crate::Error::Internal) and reveal nothing.
#[async_trait]
pub trait Service: Send + Sync + 'static {
    /// Creates an account and opens its first session.
    ///
    /// # Errors
    /// [`UserAlreadyExists`](crate::Error::UserAlreadyExists) when the username (in any case)
    /// or email is taken.
    async fn register(&self, request: Register) -> Result<Authenticated>;

    /// Opens a session for a username or email (case-insensitive) and password.
    ///
    /// # Errors
    /// [`InvalidLogin`](crate::Error::InvalidLogin) for an unknown login, a wrong password, a
    /// deactivated account, or an account without a password (managed by the embedding app).
    async fn login(&self, request: Login) -> Result<Authenticated>;

    /// Checks an access token and that its session is still active.
    ///
    /// # Errors
    /// [`NotAuthorized`](crate::Error::NotAuthorized) for a malformed, forged or expired token,
    /// or a session that was logged out or revoked.
    async fn authenticate(&self, token: &str) -> Result<Caller>;

    /// Ends the caller's session. Ending an already ended session changes nothing.
    ///
    /// # Errors
    /// None beyond [`Internal`](crate::Error::Internal).
    async fn logout(&self, caller: &Caller) -> Result<()>;

    /// The caller's own account.
    ///
    /// # Errors
    /// [`NotAuthorized`](crate::Error::NotAuthorized) if the account is gone.
    async fn get_me(&self, caller: &Caller) -> Result<User>;

    /// Another user's public profile (deleted accounts show as deleted).
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) for an unknown id.
    async fn get_user(&self, caller: &Caller, user_id: UserId) -> Result<UserProfile>;

    /// Changes the caller's profile; uniqueness of username and email is checked again.
    ///
    /// # Errors
    /// [`UserAlreadyExists`](crate::Error::UserAlreadyExists) when the new username or email
    /// belongs to someone else.
    async fn update_profile(&self, caller: &Caller, update: ProfileUpdate) -> Result<User>;

    /// Active users whose username or display name contains the query, by username.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::Error::InvalidInput) for a query longer than 64 characters.
    async fn search_users(&self, caller: &Caller, search: UserSearch) -> Result<Page<UserProfile>>;

    /// Deletes the caller's account after checking their password: the account is
    /// deactivated, its personal data removed, every session revoked; its messages stay, shown
    /// as from a deleted user, and its username becomes free.
    ///
    /// # Errors
    /// [`InvalidLogin`](crate::Error::InvalidLogin) for a wrong password.
    async fn unregister(&self, caller: &Caller, password: &str) -> Result<()>;

    /// **Trusted (embedding app only).** Creates or updates the user with this external id.
    /// Such users have no password and cannot log in by password.
    ///
    /// # Errors
    /// [`UserAlreadyExists`](crate::Error::UserAlreadyExists) when the username or email
    /// belongs to another user.
    async fn upsert_external_user(&self, user: ExternalUser) -> Result<User>;

    /// **Trusted (embedding app only).** Opens a session for the user with this external id.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) for an unknown external id;
    /// [`UserInactive`](crate::Error::UserInactive) for a deactivated user.
    async fn open_external_session(
        &self,
        external_id: &ExternalId,
        options: SessionOptions,
    ) -> Result<NewSession>;

    /// The caller's sessions, newest first, including ended ones that have not expired.
    ///
    /// # Errors
    /// None beyond [`Internal`](crate::Error::Internal).
    async fn list_sessions(&self, caller: &Caller) -> Result<Vec<Session>>;

    /// Ends one of the caller's sessions (idempotent).
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) if it is not one of the caller's sessions.
    async fn revoke_session(&self, caller: &Caller, session_id: SessionId) -> Result<()>;

    /// Starts (or returns) the direct chat between the caller and another user.
    ///
    /// # Errors
    /// [`SelfChat`](crate::Error::SelfChat) with oneself; [`NotFound`](crate::Error::NotFound)
    /// for an unknown user; [`UserInactive`](crate::Error::UserInactive) for a deactivated or
    /// deleted one.
    async fn start_direct_chat(&self, caller: &Caller, user_id: UserId) -> Result<DirectChat>;

    /// The caller's chats, newest activity first, with last message and unread count.
    ///
    /// # Errors
    /// None beyond [`Internal`](crate::Error::Internal).
    async fn list_chats(&self, caller: &Caller, page: PageRequest) -> Result<Page<ChatListItem>>;

    /// A chat with its members.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member.
    async fn get_chat(&self, caller: &Caller, chat_id: ChatId) -> Result<ChatDetail>;

    /// Hides a chat from the caller's list until its next message.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member.
    async fn hide_chat(&self, caller: &Caller, chat_id: ChatId) -> Result<()>;

    /// Creates a group with the caller as its owner and the given members.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) for an unknown member;
    /// [`UserInactive`](crate::Error::UserInactive) for a deactivated one;
    /// [`InvalidInput`](crate::Error::InvalidInput) (`members`) beyond the member limit.
    async fn create_group(&self, caller: &Caller, group: CreateGroup) -> Result<ChatDetail>;

    /// Renames a group (admins and the owner).
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member;
    /// [`Forbidden`](crate::Error::Forbidden) for a plain member or a direct chat.
    async fn rename_group(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        title: ChatTitle,
    ) -> Result<ChatDetail>;

    /// Deletes a group for everyone, with its messages (the owner only).
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member;
    /// [`Forbidden`](crate::Error::Forbidden) unless the caller owns it.
    async fn delete_group(&self, caller: &Caller, chat_id: ChatId) -> Result<()>;

    /// Adds a user to a group as a plain member (admins and the owner). Adding a member
    /// again changes nothing. Under `since_join` history the new member sees messages sent
    /// from now on.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member, or for an unknown
    /// user; [`Forbidden`](crate::Error::Forbidden) for a plain member;
    /// [`UserInactive`](crate::Error::UserInactive); [`Conflict`](crate::Error::Conflict) when
    /// the group is full.
    async fn add_member(&self, caller: &Caller, chat_id: ChatId, user_id: UserId)
    -> Result<Member>;

    /// Removes a member; removing oneself is leaving. Nobody removes the owner, and only the
    /// owner removes an admin. An owner who leaves hands ownership to the longest-standing
    /// admin, else member; the last one out deletes the group.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless both are members;
    /// [`Forbidden`](crate::Error::Forbidden) for a role that may not remove the other, or for
    /// leaving a direct chat.
    async fn remove_member(&self, caller: &Caller, chat_id: ChatId, user_id: UserId) -> Result<()>;

    /// Promotes a member to admin or demotes an admin (the owner only).
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless both are members;
    /// [`Forbidden`](crate::Error::Forbidden) unless the caller owns the group, or for the
    /// owner's own role.
    async fn set_member_role(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        user_id: UserId,
        role: AssignableRole,
    ) -> Result<Member>;

    /// A chat's members with their roles and join times, longest-standing first.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member.
    async fn list_members(&self, caller: &Caller, chat_id: ChatId) -> Result<Vec<Member>>;

    /// Sends a message; the caller's own read marker moves to it.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member.
    async fn send_message(&self, caller: &Caller, message: SendMessage) -> Result<Message>;

    /// A page of a chat's history, in ascending seq.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member.
    async fn list_messages(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        query: HistoryQuery,
    ) -> Result<Vec<Message>>;

    /// Deletes one's own message, leaving a tombstone that keeps its seq. Deleting it again
    /// changes nothing.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member and the message is in
    /// the chat; [`Forbidden`](crate::Error::Forbidden) for someone else's message.
    async fn delete_message(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
    ) -> Result<()>;
}
