//! `/sessions`: the caller's sessions.

use chatcore::SessionId;
use chatcore::sessions::Session;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::{ApiResult, Shared, Tag};
use crate::auth::Auth;

pub(crate) struct SessionsApi(pub(crate) Shared);

#[derive(ApiResponse)]
enum Revoked {
    /// The session ended (or already had).
    #[oai(status = 204)]
    NoContent,
}

/// The caller's sessions.
#[OpenApi(prefix_path = "/sessions", tag = "Tag::Sessions")]
impl SessionsApi {
    /// List my sessions
    ///
    /// Newest first, including ended ones that have not expired yet.
    #[oai(path = "/", method = "get", operation_id = "list_sessions")]
    async fn list(&self, auth: Auth) -> ApiResult<Json<Vec<Session>>> {
        Ok(Json(self.0.service.list_sessions(auth.caller()).await?))
    }

    /// Revoke a session
    ///
    /// Ends one of the caller's sessions at once.
    #[oai(path = "/:id", method = "delete", operation_id = "revoke_session")]
    async fn revoke(&self, auth: Auth, id: Path<SessionId>) -> ApiResult<Revoked> {
        self.0.service.revoke_session(auth.caller(), id.0).await?;
        Ok(Revoked::NoContent)
    }
}
