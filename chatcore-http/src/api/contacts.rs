//! `/contacts` and `/blocks`.

use chatcore::UserId;
use chatcore::contacts::ListedUser;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::{ApiResult, Shared, Tag};
use crate::auth::Auth;
use crate::models::ListedUserPage;

pub(crate) struct ContactsApi(pub(crate) Shared);

#[derive(ApiResponse)]
enum Removed {
    /// Removed (or was not there).
    #[oai(status = 204)]
    NoContent,
}

/// Contacts and blocks.
#[OpenApi(tag = "Tag::Contacts")]
impl ContactsApi {
    /// My contacts
    ///
    /// With their public profiles, by username.
    #[oai(path = "/contacts", method = "get", operation_id = "list_contacts")]
    async fn list_contacts(
        &self,
        auth: Auth,
        /// The page, from 1.
        page: Query<Option<u32>>,
        /// The page size, 1 to 100 (default 10).
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ListedUserPage>> {
        let request = super::page(page.0, limit.0)?;
        Ok(Json(
            self.0
                .service
                .list_contacts(auth.caller(), request)
                .await?
                .into(),
        ))
    }

    /// Add a contact
    ///
    /// Adding again changes nothing.
    #[oai(
        path = "/contacts/:user_id",
        method = "put",
        operation_id = "add_contact"
    )]
    async fn add_contact(&self, auth: Auth, user_id: Path<UserId>) -> ApiResult<Json<ListedUser>> {
        Ok(Json(
            self.0.service.add_contact(auth.caller(), user_id.0).await?,
        ))
    }

    /// Remove a contact
    #[oai(
        path = "/contacts/:user_id",
        method = "delete",
        operation_id = "remove_contact"
    )]
    async fn remove_contact(&self, auth: Auth, user_id: Path<UserId>) -> ApiResult<Removed> {
        self.0
            .service
            .remove_contact(auth.caller(), user_id.0)
            .await?;
        Ok(Removed::NoContent)
    }

    /// Users I blocked
    #[oai(path = "/blocks", method = "get", operation_id = "list_blocks")]
    async fn list_blocks(
        &self,
        auth: Auth,
        /// The page, from 1.
        page: Query<Option<u32>>,
        /// The page size, 1 to 100 (default 10).
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ListedUserPage>> {
        let request = super::page(page.0, limit.0)?;
        Ok(Json(
            self.0
                .service
                .list_blocks(auth.caller(), request)
                .await?
                .into(),
        ))
    }

    /// Block a user
    ///
    /// They can no longer open a direct chat with the caller, write in it, or add the caller
    /// to a group.
    #[oai(path = "/blocks/:user_id", method = "put", operation_id = "block_user")]
    async fn block(&self, auth: Auth, user_id: Path<UserId>) -> ApiResult<Json<ListedUser>> {
        Ok(Json(
            self.0.service.block_user(auth.caller(), user_id.0).await?,
        ))
    }

    /// Unblock a user
    #[oai(
        path = "/blocks/:user_id",
        method = "delete",
        operation_id = "unblock_user"
    )]
    async fn unblock(&self, auth: Auth, user_id: Path<UserId>) -> ApiResult<Removed> {
        self.0
            .service
            .unblock_user(auth.caller(), user_id.0)
            .await?;
        Ok(Removed::NoContent)
    }
}
