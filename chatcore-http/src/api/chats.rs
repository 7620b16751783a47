//! `/chats`: the chat list, direct chats, groups, hiding and reports.

use chatcore::ChatId;
use chatcore::chats::ChatDetail;
use chatcore::groups::{ChatTitle, CreateGroup};
use chatcore::moderation::{NewReport, Report};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::body::JsonBody;
use super::{ApiResult, Shared, Tag};
use crate::auth::Auth;
use crate::models::{ChatPage, ChatPatch, CreateGroupRequest, ReportRequest, StartDirectRequest};

pub(crate) struct ChatsApi(pub(crate) Shared);

#[derive(ApiResponse)]
enum DirectStarted {
    /// A new direct chat.
    #[oai(status = 201)]
    Created(Json<ChatDetail>),
    /// The direct chat that already existed between the two users.
    #[oai(status = 200)]
    Existing(Json<ChatDetail>),
}

#[derive(ApiResponse)]
enum GroupCreated {
    /// The new group, with the caller as its owner.
    #[oai(status = 201)]
    Created(Json<ChatDetail>),
}

#[derive(ApiResponse)]
enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
enum Reported {
    /// The report is queued for the server's admins.
    #[oai(status = 202)]
    Accepted(Json<Report>),
}

/// Direct chats, groups and the chat list.
#[OpenApi(prefix_path = "/chats", tag = "Tag::Chats")]
impl ChatsApi {
    /// My chats
    ///
    /// Newest activity first, each with its last message, sender, time and unread count.
    #[oai(path = "/", method = "get", operation_id = "list_chats")]
    async fn list(
        &self,
        auth: Auth,
        /// The page, from 1.
        page: Query<Option<u32>>,
        /// The page size, 1 to 100 (default 10).
        limit: Query<Option<u32>>,
    ) -> ApiResult<JsonBody<ChatPage>> {
        let request = super::page(page.0, limit.0)?;
        Ok(JsonBody(
            self.0
                .service
                .list_chats(auth.caller(), request)
                .await?
                .into(),
        ))
    }

    /// Start a direct chat
    ///
    /// One chat per pair of users, whoever starts it: 201 when this call created it, 200 when
    /// it existed.
    #[oai(path = "/direct", method = "post", operation_id = "start_direct_chat")]
    async fn start_direct(
        &self,
        auth: Auth,
        body: Json<StartDirectRequest>,
    ) -> ApiResult<DirectStarted> {
        let direct = self
            .0
            .service
            .start_direct_chat(auth.caller(), body.0.user_id)
            .await?;
        Ok(if direct.created {
            DirectStarted::Created(Json(direct.chat))
        } else {
            DirectStarted::Existing(Json(direct.chat))
        })
    }

    /// Create a group
    #[oai(path = "/groups", method = "post", operation_id = "create_group")]
    async fn create_group(
        &self,
        auth: Auth,
        body: Json<CreateGroupRequest>,
    ) -> ApiResult<GroupCreated> {
        let body = body.0;
        let members = body.members.unwrap_or_default();
        let mut group = CreateGroup::new(ChatTitle::parse(body.title)?, members);
        if let Some(history) = body.history {
            group.history = history;
        }
        Ok(GroupCreated::Created(Json(
            self.0.service.create_group(auth.caller(), group).await?,
        )))
    }

    /// A chat
    ///
    /// With its members.
    #[oai(path = "/:id", method = "get", operation_id = "get_chat")]
    async fn get(&self, auth: Auth, id: Path<ChatId>) -> ApiResult<Json<ChatDetail>> {
        Ok(Json(self.0.service.get_chat(auth.caller(), id.0).await?))
    }

    /// Rename a group
    ///
    /// Admins and the owner.
    #[oai(path = "/:id", method = "patch", operation_id = "rename_group")]
    async fn rename(
        &self,
        auth: Auth,
        id: Path<ChatId>,
        body: Json<ChatPatch>,
    ) -> ApiResult<Json<ChatDetail>> {
        let title = ChatTitle::parse(body.0.title)?;
        Ok(Json(
            self.0
                .service
                .rename_group(auth.caller(), id.0, title)
                .await?,
        ))
    }

    /// Delete a group
    ///
    /// The owner only: it disappears for everyone with its messages. (Members leave with
    /// `DELETE /chats/{id}/members/{my id}`; a direct chat is hidden with `POST
    /// /chats/{id}/hide`.)
    #[oai(path = "/:id", method = "delete", operation_id = "delete_group")]
    async fn delete(&self, auth: Auth, id: Path<ChatId>) -> ApiResult<Done> {
        self.0.service.delete_group(auth.caller(), id.0).await?;
        Ok(Done::NoContent)
    }

    /// Hide a chat
    ///
    /// Removes it from the caller's list until its next message.
    #[oai(path = "/:id/hide", method = "post", operation_id = "hide_chat")]
    async fn hide(&self, auth: Auth, id: Path<ChatId>) -> ApiResult<Done> {
        self.0.service.hide_chat(auth.caller(), id.0).await?;
        Ok(Done::NoContent)
    }

    /// Report a chat or a message
    ///
    /// For spam, abuse or another reason, to the server's admins.
    #[oai(path = "/:id/report", method = "post", operation_id = "create_report")]
    async fn report(
        &self,
        auth: Auth,
        id: Path<ChatId>,
        body: Json<ReportRequest>,
    ) -> ApiResult<Reported> {
        let body = body.0;
        let report = NewReport {
            chat_id: id.0,
            message_id: body.message_id,
            reason: body.reason,
            note: body.note,
        };
        Ok(Reported::Accepted(Json(
            self.0.service.create_report(auth.caller(), report).await?,
        )))
    }
}
