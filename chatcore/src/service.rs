//! The one door into chatcore.

use async_trait::async_trait;

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
use crate::{ChatId, MessageId, Readiness, ReportId, Result, SessionId, UserId};

#[doc = include_str!("service.md")]
#[async_trait]
pub trait Service: Send + Sync + 'static {
    /// Creates an account and opens its first session. A new account is never a server admin,
    /// whatever its name (see [`set_server_role`](Service::set_server_role)).
    ///
    /// # Errors
    /// [`UserAlreadyExists`](crate::Error::UserAlreadyExists) when the username (in any case)
    /// or email is taken; [`Unavailable`](crate::Error::Unavailable) when too many password
    /// hashes are already waiting
    /// ([`Options::max_waiting_password_jobs`](crate::Options::max_waiting_password_jobs)).
    async fn register(&self, request: Register) -> Result<Authenticated>;

    /// Opens a session for a username or email (case-insensitive) and password.
    ///
    /// # Errors
    /// [`InvalidLogin`](crate::Error::InvalidLogin) for an unknown login, a wrong password, a
    /// deactivated account, or an account without a password (managed by the embedding app);
    /// [`Unavailable`](crate::Error::Unavailable) when too many password hashes are already
    /// waiting.
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
    /// Changing the username or the email needs
    /// [`ProfileUpdate::current_password`]; a changed email is unverified (`verified: false`)
    /// until confirmed, and verification tokens sent earlier stop working.
    ///
    /// # Errors
    /// [`Forbidden`](crate::Error::Forbidden) when the username or email changes without
    /// the password; [`InvalidLogin`](crate::Error::InvalidLogin) for a
    /// wrong one (or an account without a password, managed by the embedding app);
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

    /// Sets the caller's avatar from an uploaded PNG, JPEG, WebP or GIF (first frame): it is
    /// turned upright by its EXIF orientation, cropped to its centred square, re-encoded
    /// without metadata at 512×512 and 128×128 (PNG if it has transparency, JPEG otherwise;
    /// see [`avatars`](crate::avatars)) and shown in [`User::avatar`] and
    /// [`UserProfile::avatar`] as its content hash. The previous images are deleted.
    ///
    /// # Errors
    /// [`NotAuthorized`](crate::Error::NotAuthorized) if the account is gone;
    /// [`PayloadTooLarge`](crate::Error::PayloadTooLarge) for more than
    /// [`Options::max_avatar_bytes`](crate::Options::max_avatar_bytes), checked first;
    /// [`InvalidFile`](crate::Error::InvalidFile) for anything but an intact image of those
    /// kinds, or one over [`Options::max_avatar_pixels`](crate::Options::max_avatar_pixels)
    /// or 8192 pixels a side (read from the header, before decoding);
    /// [`Unavailable`](crate::Error::Unavailable) when the processing queue is full or the
    /// wait timed out ([`Options::max_avatar_queue`](crate::Options::max_avatar_queue)). A
    /// refused upload changes nothing.
    async fn set_avatar(&self, caller: &Caller, image: Vec<u8>) -> Result<User>;

    /// [`set_avatar`](Service::set_avatar) with the image in a file (a spooled upload, say),
    /// read from its start. The service reads the header at once, and the rest only when a
    /// processing slot is free, so an upload that waits for its turn holds no memory.
    ///
    /// The provided implementation reads the whole file, then calls
    /// [`set_avatar`](Service::set_avatar); [`ChatCore`](crate::ChatCore) overrides it.
    ///
    /// # Errors
    /// As [`set_avatar`](Service::set_avatar); [`Internal`](crate::Error::Internal) when the
    /// file cannot be read.
    async fn set_avatar_file(&self, caller: &Caller, image: std::fs::File) -> Result<User> {
        let bytes = crate::avatars::read_whole(image).await?;
        self.set_avatar(caller, bytes).await
    }

    /// Removes the caller's avatar, if any (idempotent), and deletes its images.
    ///
    /// # Errors
    /// [`NotAuthorized`](crate::Error::NotAuthorized) if the account is gone.
    async fn remove_avatar(&self, caller: &Caller) -> Result<User>;

    /// One size of a user's avatar, with its content type and a strong ETag.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) (`avatar`) for an unknown or deleted user, or one
    /// without an avatar.
    async fn get_avatar(
        &self,
        caller: &Caller,
        user_id: UserId,
        size: AvatarSize,
    ) -> Result<AvatarImage>;

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
    /// deleted one; [`Blocked`](crate::Error::Blocked) when they blocked the caller.
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
    /// [`InvalidInput`](crate::Error::InvalidInput) (`members`) beyond the member limit or for
    /// more than [`Options::max_members_per_request`](crate::Options::max_members_per_request)
    /// listed members;
    /// [`Blocked`](crate::Error::Blocked) when one of them blocked the caller.
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
    /// the group is full; [`Blocked`](crate::Error::Blocked) when the user blocked the caller.
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

    /// Sends a message, possibly as a reply to a message of the same chat; the caller's own
    /// read marker moves to it.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member, or for a
    /// `reply_to` the caller cannot see in this chat; [`Blocked`](crate::Error::Blocked) in a
    /// direct chat whose other member blocked the caller.
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

    /// Deletes a message, leaving a tombstone that keeps its seq; its reactions go. Senders
    /// delete their own messages, group admins and owners any message of their group, server
    /// admins any message anywhere. Deleting it again changes nothing.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member (or a server admin)
    /// and the message is in the chat; [`Forbidden`](crate::Error::Forbidden) for someone
    /// else's message without the right to moderate it.
    async fn delete_message(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
    ) -> Result<()>;
    /// Changes the caller's password, given the current one; every other session of the
    /// caller ends.
    ///
    /// # Errors
    /// [`InvalidLogin`](crate::Error::InvalidLogin) for a wrong current password (or an
    /// account without one).
    async fn change_password(&self, caller: &Caller, current: &str, new: Password) -> Result<()>;

    /// Asks for a password-reset token for a username or email. The answer is the same
    /// whether or not such an account exists; when it does (active, with a password), a
    /// single-use token is stored as a hash and handed to the [`Notifier`](crate::Notifier).
    /// An earlier unused reset token stops working, except that a token issued less than
    /// [`Options::account_token_resend_after`](crate::Options::account_token_resend_after)
    /// ago that still works is kept and nothing new is sent (the answer is the same).
    ///
    /// # Errors
    /// None beyond [`Internal`](crate::Error::Internal).
    async fn request_password_reset(&self, login: &str) -> Result<()>;

    /// Sets a new password with a reset token; every session of the account ends. The token is
    /// checked before the new password is hashed, so wrong tokens cost little.
    ///
    /// # Errors
    /// [`InvalidToken`](crate::Error::InvalidToken) for an unknown, used or expired token.
    async fn confirm_password_reset(&self, token: &str, new_password: Password) -> Result<()>;

    /// Sends the caller a verification token through the [`Notifier`](crate::Notifier) (not
    /// again while one sent less than
    /// [`Options::account_token_resend_after`](crate::Options::account_token_resend_after) ago
    /// still works).
    ///
    /// # Errors
    /// [`Conflict`](crate::Error::Conflict) when the account is already verified.
    async fn request_verification(&self, caller: &Caller) -> Result<()>;

    /// Marks the token's account as verified.
    ///
    /// # Errors
    /// [`InvalidToken`](crate::Error::InvalidToken) for an unknown, used or expired token.
    async fn confirm_verification(&self, token: &str) -> Result<()>;

    /// Adds a user to the caller's contacts (adding again changes nothing).
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) for an unknown user;
    /// [`InvalidInput`](crate::Error::InvalidInput) for oneself.
    async fn add_contact(&self, caller: &Caller, user_id: UserId) -> Result<ListedUser>;

    /// Removes a user from the caller's contacts (idempotent).
    ///
    /// # Errors
    /// None beyond [`Internal`](crate::Error::Internal).
    async fn remove_contact(&self, caller: &Caller, user_id: UserId) -> Result<()>;

    /// The caller's contacts with their public profiles, by username.
    ///
    /// # Errors
    /// None beyond [`Internal`](crate::Error::Internal).
    async fn list_contacts(&self, caller: &Caller, page: PageRequest) -> Result<Page<ListedUser>>;

    /// Blocks a user (blocking again changes nothing).
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) for an unknown user;
    /// [`InvalidInput`](crate::Error::InvalidInput) for oneself.
    async fn block_user(&self, caller: &Caller, user_id: UserId) -> Result<ListedUser>;

    /// Unblocks a user (idempotent).
    ///
    /// # Errors
    /// None beyond [`Internal`](crate::Error::Internal).
    async fn unblock_user(&self, caller: &Caller, user_id: UserId) -> Result<()>;

    /// The users the caller blocked, by username.
    ///
    /// # Errors
    /// None beyond [`Internal`](crate::Error::Internal).
    async fn list_blocks(&self, caller: &Caller, page: PageRequest) -> Result<Page<ListedUser>>;

    /// Creates an invite link for a group (admins and the owner), with a code of 128 random
    /// bits.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member;
    /// [`Forbidden`](crate::Error::Forbidden) for a plain member or a direct chat;
    /// [`InvalidInput`](crate::Error::InvalidInput) for an expiry in the past or zero uses.
    async fn create_invite(&self, caller: &Caller, invite: CreateInvite) -> Result<Invite>;

    /// A group's invite links, newest first, with their state (admins and the owner).
    ///
    /// # Errors
    /// As [`create_invite`](Service::create_invite).
    async fn list_invites(&self, caller: &Caller, chat_id: ChatId) -> Result<Vec<Invite>>;

    /// Revokes an invite link (admins and the owner; idempotent).
    ///
    /// # Errors
    /// As [`create_invite`](Service::create_invite), and
    /// [`NotFound`](crate::Error::NotFound) for a code of another group.
    async fn revoke_invite(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        code: &InviteCode,
    ) -> Result<()>;

    /// What an invite leads to: the group's title, member count, and whether it still works.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) for an unknown code.
    async fn preview_invite(&self, caller: &Caller, code: &InviteCode) -> Result<InvitePreview>;

    /// Joins a group through an invite. Concurrent accepts never exceed the invite's
    /// maximum uses; accepting while already a member changes nothing and spends no use.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) for an unknown code;
    /// [`InviteExpired`](crate::Error::InviteExpired),
    /// [`InviteRevoked`](crate::Error::InviteRevoked),
    /// [`InviteExhausted`](crate::Error::InviteExhausted);
    /// [`Conflict`](crate::Error::Conflict) when the group is full.
    async fn accept_invite(&self, caller: &Caller, code: &InviteCode) -> Result<JoinedGroup>;

    /// Forwards a message the caller can see into another chat the caller is in: a new
    /// message recording the original message and sender.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member of both chats and
    /// can see the (undeleted) message; [`Blocked`](crate::Error::Blocked) into a direct chat
    /// whose other member blocked the caller.
    async fn forward_message(&self, caller: &Caller, forward: ForwardMessage) -> Result<Message>;

    /// Changes the text of one's own message and records when.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member and can see the
    /// message; [`Forbidden`](crate::Error::Forbidden) for someone else's message or a
    /// forward; [`Blocked`](crate::Error::Blocked) in a direct chat whose other member blocked
    /// the caller; [`Conflict`](crate::Error::Conflict) for a deleted one.
    async fn edit_message(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
        text: MessageText,
    ) -> Result<Message>;

    /// Reacts to a message with an emoji (reacting twice with the same one changes
    /// nothing); returns the message's reaction counts.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member and can see the
    /// message; [`Blocked`](crate::Error::Blocked) in a direct chat whose other member blocked
    /// the caller (taking a reaction back stays allowed); [`Conflict`](crate::Error::Conflict)
    /// for a deleted message.
    async fn add_reaction(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
        emoji: Emoji,
    ) -> Result<Vec<ReactionCount>>;

    /// Takes back a reaction (idempotent); returns the message's reaction counts.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member and can see the
    /// message.
    async fn remove_reaction(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
        emoji: Emoji,
    ) -> Result<Vec<ReactionCount>>;

    /// Moves the caller's read marker forward to `seq` (capped at the latest message); an
    /// older seq changes nothing. Returns where the marker stands.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member;
    /// [`InvalidInput`](crate::Error::InvalidInput) for a negative seq.
    async fn mark_read(&self, caller: &Caller, chat_id: ChatId, seq: i64) -> Result<ReadMarker>;

    /// The members (other than the sender) whose read marker reached a message, with the
    /// time it did, earliest first.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member and can see the
    /// message.
    async fn list_read_receipts(
        &self,
        caller: &Caller,
        chat_id: ChatId,
        message_id: MessageId,
    ) -> Result<Vec<ReadReceipt>>;

    /// Says the caller is typing in a chat. Nothing is stored; the other members get an
    /// ephemeral notice through the realtime layer.
    ///
    /// Notices are throttled per member and chat: at most one is forwarded per
    /// [`Options::typing_interval`](crate::Options::typing_interval) (3 seconds by default,
    /// counted on each node). Further notices within that time are accepted (`Ok`) and
    /// dropped, so a client may send one per keystroke without flooding the others.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member;
    /// [`Blocked`](crate::Error::Blocked) in a direct chat whose other member blocked the
    /// caller.
    async fn send_typing(&self, caller: &Caller, chat_id: ChatId) -> Result<()>;

    /// Reports a chat, or a message in it, to the server's admins.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) unless the caller is a member and can see the
    /// message; [`InvalidInput`](crate::Error::InvalidInput) for a note over 1,000 characters.
    async fn create_report(&self, caller: &Caller, report: NewReport) -> Result<Report>;

    /// The report queue, oldest first (server admins).
    ///
    /// # Errors
    /// [`Forbidden`](crate::Error::Forbidden) unless the caller is a server admin.
    async fn list_reports(&self, caller: &Caller, query: ReportQuery) -> Result<Page<Report>>;

    /// Marks a report resolved, with an optional note (server admins). Resolving again keeps
    /// the first resolution.
    ///
    /// # Errors
    /// [`Forbidden`](crate::Error::Forbidden) unless the caller is a server admin;
    /// [`NotFound`](crate::Error::NotFound) for an unknown report.
    async fn resolve_report(
        &self,
        caller: &Caller,
        report_id: ReportId,
        resolution: Option<String>,
    ) -> Result<Report>;

    /// Deactivates a user (server admins): they cannot sign in, and every session of theirs
    /// ends at once.
    ///
    /// # Errors
    /// [`Forbidden`](crate::Error::Forbidden) unless the caller is a server admin, or for
    /// oneself; [`NotFound`](crate::Error::NotFound) for an unknown user.
    async fn deactivate_user(&self, caller: &Caller, user_id: UserId) -> Result<()>;

    /// Lets a deactivated user sign in again (server admins).
    ///
    /// # Errors
    /// As [`deactivate_user`](Service::deactivate_user);
    /// [`Conflict`](crate::Error::Conflict) for a deleted account.
    async fn reactivate_user(&self, caller: &Caller, user_id: UserId) -> Result<()>;

    /// **Trusted (embedding app only).** Sets a user's server-wide role; it applies from
    /// their next authenticated request. This is the only way to make a server admin: a
    /// [`UserRef::Username`] is resolved to its account once, and the role stays with that
    /// account (renaming it keeps the role; whoever takes a freed name later does not get it).
    /// `chatcore-server admin grant <username>` calls this.
    ///
    /// # Errors
    /// [`NotFound`](crate::Error::NotFound) for an unknown user;
    /// [`Conflict`](crate::Error::Conflict) for a deleted account.
    async fn set_server_role(&self, user: UserRef, role: Role) -> Result<User>;

    /// The caller's events from `since` (a cursor they saw; `None`: from now on), in cursor
    /// order, exactly once, then live: every change in their chats from when they joined, and
    /// what is addressed to them. A removed member stops receiving that chat's events at
    /// once; when the caller's session ends the stream yields
    /// [`NotAuthorized`](crate::Error::NotAuthorized) and stops. A consumer that falls behind
    /// never slows others: it is caught up from the stored events. A live event is one
    /// [`SharedEvent`](crate::events::SharedEvent) for every subscriber of the node that may
    /// see it, so that its JSON is serialized once for all of them.
    ///
    /// # Errors
    /// [`CursorExpired`](crate::Error::CursorExpired) for a cursor older than the retained
    /// events (resync, then subscribe from now); [`InvalidInput`](crate::Error::InvalidInput)
    /// for a cursor the stream never gave; [`RateLimited`](crate::Error::RateLimited) when
    /// the caller's session or user already holds as many open streams as allowed
    /// ([`Options::max_streams_per_session`](crate::Options::max_streams_per_session),
    /// [`Options::max_streams_per_user`](crate::Options::max_streams_per_user)).
    async fn subscribe(&self, caller: &Caller, since: Option<i64>) -> Result<EventStream>;

    /// Whether the service can serve requests now: its database answers a trivial query within
    /// [`READINESS_TIMEOUT`](crate::READINESS_TIMEOUT) and its event bus is connected. For
    /// readiness probes (`/readyz`); never fails, and recovers by itself.
    async fn readiness(&self) -> Readiness;

    /// How many event streams are being followed on this node right now. A stream stops
    /// counting shortly after its consumer drops it (or after it ends), whether or not any
    /// event arrived in between. For health and metrics endpoints.
    fn live_subscriptions(&self) -> usize;
}
