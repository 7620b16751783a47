//! `/chats/{id}/members`: group members and roles.

use chatcore::chats::Member;
use chatcore::{ChatId, UserId};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::{ApiResult, Shared, Tag};
use crate::auth::Auth;
use crate::models::{AddMemberRequest, RolePatch};

pub(crate) struct MembersApi(pub(crate) Shared);

#[derive(ApiResponse)]
enum Added {
    /// The member (adding a member again changes nothing).
    #[oai(status = 201)]
    Created(Json<Member>),
}

#[derive(ApiResponse)]
enum Removed {
    /// Removed; removing oneself is leaving.
    #[oai(status = 204)]
    NoContent,
}

/// Group members and roles.
#[OpenApi(tag = "Tag::Members")]
impl MembersApi {
    /// Members
    ///
    /// With their roles and join times, longest-standing first.
    #[oai(
        path = "/chats/:id/members",
        method = "get",
        operation_id = "list_members"
    )]
    async fn list(&self, auth: Auth, id: Path<ChatId>) -> ApiResult<Json<Vec<Member>>> {
        Ok(Json(
            self.0.service.list_members(auth.caller(), id.0).await?,
        ))
    }

    /// Add a member
    ///
    /// Admins and the owner.
    #[oai(
        path = "/chats/:id/members",
        method = "post",
        operation_id = "add_member"
    )]
    async fn add(
        &self,
        auth: Auth,
        id: Path<ChatId>,
        body: Json<AddMemberRequest>,
    ) -> ApiResult<Added> {
        Ok(Added::Created(Json(
            self.0
                .service
                .add_member(auth.caller(), id.0, body.0.user_id)
                .await?,
        )))
    }

    /// Change a member's role
    ///
    /// The owner promotes members to admin and demotes admins.
    #[oai(
        path = "/chats/:id/members/:user_id",
        method = "patch",
        operation_id = "set_member_role"
    )]
    async fn set_role(
        &self,
        auth: Auth,
        id: Path<ChatId>,
        user_id: Path<UserId>,
        body: Json<RolePatch>,
    ) -> ApiResult<Json<Member>> {
        Ok(Json(
            self.0
                .service
                .set_member_role(auth.caller(), id.0, user_id.0, body.0.role)
                .await?,
        ))
    }

    /// Remove a member, or leave
    ///
    /// Admins remove members, the owner removes admins; anyone removes themselves (leaving).
    /// An owner who leaves hands the group over; the last one out deletes it.
    #[oai(
        path = "/chats/:id/members/:user_id",
        method = "delete",
        operation_id = "remove_member"
    )]
    async fn remove(
        &self,
        auth: Auth,
        id: Path<ChatId>,
        user_id: Path<UserId>,
    ) -> ApiResult<Removed> {
        self.0
            .service
            .remove_member(auth.caller(), id.0, user_id.0)
            .await?;
        Ok(Removed::NoContent)
    }
}
