//! The REST API: one poem-openapi API struct per resource.

mod admin;
mod auth;
mod body;
mod chats;
mod contacts;
pub(crate) mod document;
mod events;
mod invites;
mod members;
mod messages;
mod sessions;
mod users;

use std::sync::Arc;

use chatcore::{PageRequest, Service};
use poem_openapi::Tags;

use crate::HttpOptions;
use crate::error::ApiError;

/// What an operation answers when it fails.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// What every API struct holds.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) service: Arc<dyn Service>,
    pub(crate) options: HttpOptions,
}

#[derive(Tags)]
pub(crate) enum Tag {
    /// Registration, login, logout, passwords and verification.
    Auth,
    /// The caller's sessions.
    Sessions,
    /// Profiles and user search.
    Users,
    /// Contacts and blocks.
    Contacts,
    /// Direct chats, groups and the chat list.
    Chats,
    /// Group members and roles.
    Members,
    /// Invite links.
    Invites,
    /// Messages, reactions, read receipts and typing.
    Messages,
    /// Moderation, for server admins.
    Admin,
    /// The realtime event stream (SSE or WebSocket).
    Events,
}

/// Every API of `/api/v1`, as one value for `OpenApiService::new`.
pub(crate) type Apis = (
    auth::AuthApi,
    sessions::SessionsApi,
    users::UsersApi,
    contacts::ContactsApi,
    chats::ChatsApi,
    members::MembersApi,
    invites::InvitesApi,
    messages::MessagesApi,
    admin::AdminApi,
    events::EventsApi,
);

pub(crate) fn apis(shared: Shared) -> Apis {
    (
        auth::AuthApi(shared.clone()),
        sessions::SessionsApi(shared.clone()),
        users::UsersApi(shared.clone()),
        contacts::ContactsApi(shared.clone()),
        chats::ChatsApi(shared.clone()),
        members::MembersApi(shared.clone()),
        invites::InvitesApi(shared.clone()),
        messages::MessagesApi(shared.clone()),
        admin::AdminApi(shared.clone()),
        events::EventsApi(shared),
    )
}

/// A page request from query parameters.
pub(crate) fn page(page: Option<u32>, limit: Option<u32>) -> ApiResult<PageRequest> {
    Ok(PageRequest::new(page, limit)?)
}
