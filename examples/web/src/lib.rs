//! A chat in the browser: a single-page client in plain HTML, CSS and JavaScript modules
//! (in `static/`, embedded in the binary), served on the same port as chatcore's REST API,
//! docs and event stream.
//!
//! The page talks to the API the way any browser client can: `fetch` on `/api/v1/...`
//! authenticated by the `HttpOnly` session cookie that register and login set (so the page
//! never holds a token), and the event stream `GET /api/v1/events` as a WebSocket on the
//! same origin, resumed after a dropped connection with `?since=<last cursor>`.
//!
//! [`app`] is the whole server: the page's files in front of [`chatcore_http::app`].

#![deny(missing_docs)]

use std::sync::Arc;

use chatcore::Service;
use chatcore_http::HttpOptions;
use poem::http::{Method, header};
use poem::{Endpoint, EndpointExt, IntoResponse, Response};

/// The page's files are its own and nothing else: scripts, styles and connections from this
/// origin only (WebSocket included), images from here (avatars) or inline `data:` ones.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A file of the page: its content type and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The file.
    pub body: &'static str,
}

const INDEX: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_str!("../static/index.html"),
};

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The page's file at `path`, if it is one. The page itself answers at `/` and at every
/// invite link, `/join/{code}`, where it offers to join the group.
pub fn asset(path: &str) -> Option<Asset> {
    let asset = match path {
        "/" | "/index.html" => INDEX,
        "/style.css" => Asset {
            content_type: "text/css; charset=utf-8",
            body: include_str!("../static/style.css"),
        },
        "/app.js" => Asset {
            content_type: JAVASCRIPT,
            body: include_str!("../static/app.js"),
        },
        "/api.js" => Asset {
            content_type: JAVASCRIPT,
            body: include_str!("../static/api.js"),
        },
        "/events.js" => Asset {
            content_type: JAVASCRIPT,
            body: include_str!("../static/events.js"),
        },
        path => match path.strip_prefix("/join/") {
            Some(code) if !code.is_empty() && !code.contains('/') => INDEX,
            _ => return None,
        },
    };
    Some(asset)
}

/// The example's server: the page's files (see [`asset`]) in front of chatcore's HTTP app
/// (`/api/v1`, `/docs`, `/healthz`, `/readyz`), which answers everything else.
pub fn app(chat: Arc<dyn Service>, options: HttpOptions) -> impl Endpoint {
    chatcore_http::app(chat, options).around(|next, request| async move {
        let method = request.method();
        if (method == Method::GET || method == Method::HEAD)
            && let Some(asset) = asset(request.uri().path())
        {
            return Ok(Response::builder()
                .content_type(asset.content_type)
                // Small files, always revalidated: a rebuilt binary's page shows at once.
                .header(header::CACHE_CONTROL, "no-cache")
                .header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)
                .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
                .header(header::REFERRER_POLICY, "no-referrer")
                .body(asset.body));
        }
        Ok(next.call(request).await?.into_response())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_answers_at_the_root_and_at_invite_links_only() {
        assert!(asset("/").is_some_and(|asset| asset.body.contains("<html")));
        assert!(asset("/join/abc123").is_some_and(|asset| asset.body.contains("<html")));
        assert!(asset("/join/").is_none());
        assert!(asset("/join/a/b").is_none());
        assert!(asset("/api/v1/users").is_none());
        assert!(
            asset("/app.js").is_some_and(|asset| asset.content_type.starts_with("text/javascript"))
        );
    }
}
