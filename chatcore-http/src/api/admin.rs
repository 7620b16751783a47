//! `/admin`: the report queue and user deactivation, for server admins.

use chatcore::moderation::{Report, ReportQuery};
use chatcore::{ReportId, UserId};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::{ApiResult, Shared, Tag};
use crate::auth::Auth;
use crate::models::{ReportPage, ResolveRequest};

pub(crate) struct AdminApi(pub(crate) Shared);

#[derive(ApiResponse)]
enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

/// Moderation, for server admins.
#[OpenApi(prefix_path = "/admin", tag = "Tag::Admin")]
impl AdminApi {
    /// The report queue
    ///
    /// Oldest first; open reports only unless `include_resolved`.
    #[oai(path = "/reports", method = "get", operation_id = "list_reports")]
    async fn reports(
        &self,
        auth: Auth,
        /// Also list resolved reports.
        include_resolved: Query<Option<bool>>,
        /// The page, from 1.
        page: Query<Option<u32>>,
        /// The page size, 1 to 100 (default 10).
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ReportPage>> {
        let query = ReportQuery {
            include_resolved: include_resolved.0.unwrap_or(false),
            page: super::page(page.0, limit.0)?,
        };
        Ok(Json(
            self.0
                .service
                .list_reports(auth.caller(), query)
                .await?
                .into(),
        ))
    }

    /// Resolve a report
    #[oai(
        path = "/reports/:id/resolve",
        method = "post",
        operation_id = "resolve_report"
    )]
    async fn resolve(
        &self,
        auth: Auth,
        id: Path<ReportId>,
        body: Json<ResolveRequest>,
    ) -> ApiResult<Json<Report>> {
        Ok(Json(
            self.0
                .service
                .resolve_report(auth.caller(), id.0, body.0.resolution)
                .await?,
        ))
    }

    /// Deactivate a user
    ///
    /// They cannot sign in, and every session of theirs ends at once.
    #[oai(
        path = "/users/:id/deactivate",
        method = "post",
        operation_id = "deactivate_user"
    )]
    async fn deactivate(&self, auth: Auth, id: Path<UserId>) -> ApiResult<Done> {
        self.0.service.deactivate_user(auth.caller(), id.0).await?;
        Ok(Done::NoContent)
    }

    /// Reactivate a user
    #[oai(
        path = "/users/:id/reactivate",
        method = "post",
        operation_id = "reactivate_user"
    )]
    async fn reactivate(&self, auth: Auth, id: Path<UserId>) -> ApiResult<Done> {
        self.0.service.reactivate_user(auth.caller(), id.0).await?;
        Ok(Done::NoContent)
    }
}
