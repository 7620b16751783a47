//! `/readyz`: whether this node can serve requests now (database and event bus), for load
//! balancers and orchestrators. `/healthz`, the liveness check, is answered in `lib.rs`.

use std::sync::Arc;

use chatcore::Service;
use poem::http::StatusCode;
use poem::http::header::{CACHE_CONTROL, RETRY_AFTER};
use poem::web::Json;
use poem::{Endpoint, IntoResponse, Response, endpoint::make, get};

/// `GET /readyz`: 200 `{"status": "ready", ...}` when the database answers a trivial query
/// within a second and the event bus is connected; otherwise 503 `{"status": "unavailable",
/// "down": [...], ...}` naming what is down, with `Retry-After`.
pub(crate) fn readyz(service: Arc<dyn Service>) -> impl Endpoint {
    get(make(move |_| {
        let service = service.clone();
        async move { answer(service.readiness().await) }
    }))
}

fn answer(readiness: chatcore::Readiness) -> Response {
    let up = |up: bool| if up { "up" } else { "down" };
    let ready = readiness.is_ready();
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": up(readiness.database),
        "event_bus": up(readiness.event_bus),
        "down": readiness.down(),
    });
    let response = Json(body)
        .with_header(CACHE_CONTROL, "no-store")
        .into_response();
    if ready {
        return response;
    }
    let mut response = response;
    response.set_status(StatusCode::SERVICE_UNAVAILABLE);
    response.headers_mut().insert(
        RETRY_AFTER,
        chatcore::UNAVAILABLE_RETRY_AFTER.as_secs().max(1).into(),
    );
    response
}
