//! `/chats/{id}/invites` and `/invites/{code}`.

use chatcore::ChatId;
use chatcore::invites::{CreateInvite, Invite, InviteCode, InvitePreview, JoinedGroup};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::{ApiResult, Shared, Tag};
use crate::auth::Auth;
use crate::models::CreateInviteRequest;

pub(crate) struct InvitesApi(pub(crate) Shared);

#[derive(ApiResponse)]
enum Created {
    /// The new invite link.
    #[oai(status = 201)]
    Created(Json<Invite>),
}

#[derive(ApiResponse)]
enum Revoked {
    /// The link no longer works.
    #[oai(status = 204)]
    NoContent,
}

/// Invite links.
#[OpenApi(tag = "Tag::Invites")]
impl InvitesApi {
    /// Create an invite link
    ///
    /// Admins and the owner; optional expiry and maximum uses. The code has 128 random bits.
    #[oai(
        path = "/chats/:id/invites",
        method = "post",
        operation_id = "create_invite"
    )]
    async fn create(
        &self,
        auth: Auth,
        id: Path<ChatId>,
        body: Json<CreateInviteRequest>,
    ) -> ApiResult<Created> {
        let mut invite = CreateInvite::new(id.0);
        invite.expires_at = body.0.expires_at;
        invite.max_uses = body.0.max_uses;
        Ok(Created::Created(Json(
            self.0.service.create_invite(auth.caller(), invite).await?,
        )))
    }

    /// A group's invite links
    ///
    /// Newest first, with their state and uses (admins and the owner).
    #[oai(
        path = "/chats/:id/invites",
        method = "get",
        operation_id = "list_invites"
    )]
    async fn list(&self, auth: Auth, id: Path<ChatId>) -> ApiResult<Json<Vec<Invite>>> {
        Ok(Json(
            self.0.service.list_invites(auth.caller(), id.0).await?,
        ))
    }

    /// Revoke an invite link
    #[oai(
        path = "/chats/:id/invites/:code",
        method = "delete",
        operation_id = "revoke_invite"
    )]
    async fn revoke(&self, auth: Auth, id: Path<ChatId>, code: Path<String>) -> ApiResult<Revoked> {
        let code = InviteCode::parse(code.0)?;
        self.0
            .service
            .revoke_invite(auth.caller(), id.0, &code)
            .await?;
        Ok(Revoked::NoContent)
    }

    /// Preview an invite
    ///
    /// The group's title and member count, and whether the link still works.
    #[oai(
        path = "/invites/:code",
        method = "get",
        operation_id = "preview_invite"
    )]
    async fn preview(&self, auth: Auth, code: Path<String>) -> ApiResult<Json<InvitePreview>> {
        let code = InviteCode::parse(code.0)?;
        Ok(Json(
            self.0.service.preview_invite(auth.caller(), &code).await?,
        ))
    }

    /// Accept an invite
    ///
    /// Joins the group as a member. Accepting while already a member changes nothing.
    #[oai(
        path = "/invites/:code/accept",
        method = "post",
        operation_id = "accept_invite"
    )]
    async fn accept(&self, auth: Auth, code: Path<String>) -> ApiResult<Json<JoinedGroup>> {
        let code = InviteCode::parse(code.0)?;
        Ok(Json(
            self.0.service.accept_invite(auth.caller(), &code).await?,
        ))
    }
}
