//! Authentication: a bearer token or the session cookie, checked by the service.
//!
//! Only a failed authentication answers 401. When the check itself cannot be made (storage
//! unavailable: 503 `unavailable`), that is the answer, whichever way the caller proved who
//! they are: a client that sees 401 drops its session, which a database blip must not cause.

use std::sync::Arc;

use chatcore::sessions::NewSession;
use chatcore::{Caller, Service};
use poem::http::StatusCode;
use poem::{Request, RequestBody};
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::registry::Registry;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme};

use crate::HttpOptions;
use crate::error::ApiError;

/// The name of the session cookie that register and login set.
pub const SESSION_COOKIE: &str = "chatcore_session";

/// `Authorization: Bearer <token>` with the token from register or login.
#[derive(SecurityScheme)]
#[oai(
    rename = "bearer",
    ty = "bearer",
    bearer_format = "JWT",
    checker = "check_bearer"
)]
pub struct BearerAuth(Caller);

/// The `chatcore_session` cookie that register and login set (`HttpOnly`, `SameSite=Strict`).
#[derive(SecurityScheme)]
#[oai(
    rename = "cookie",
    ty = "api_key",
    key_in = "cookie",
    key_name = "chatcore_session",
    checker = "check_cookie"
)]
pub struct CookieAuth(Caller);

/// Either way of proving who is calling: the bearer token, else the cookie.
pub enum Auth {
    /// A bearer token.
    Bearer(BearerAuth),
    /// The session cookie.
    Cookie(CookieAuth),
}

impl Auth {
    /// The authenticated caller.
    pub fn caller(&self) -> &Caller {
        match self {
            Auth::Bearer(BearerAuth(caller)) | Auth::Cookie(CookieAuth(caller)) => caller,
        }
    }
}

async fn authenticate(request: &Request, token: &str) -> poem::Result<Caller> {
    let service = request.data::<Arc<dyn Service>>().ok_or_else(|| {
        poem::Error::from(ApiError::from(chatcore::Error::Internal(
            "no service".into(),
        )))
    })?;
    service
        .authenticate(token)
        .await
        .map_err(|error| ApiError::from(error).into())
}

async fn check_bearer(request: &Request, bearer: Bearer) -> poem::Result<Caller> {
    authenticate(request, &bearer.token).await
}

async fn check_cookie(request: &Request, cookie: ApiKey) -> poem::Result<Caller> {
    authenticate(request, &cookie.key).await
}

/// The `Set-Cookie` value that opens a session in a browser (its path is
/// [`HttpOptions::base_path`], `/` when empty).
pub(crate) fn session_cookie(token: &str, max_age_seconds: i64, options: &HttpOptions) -> String {
    let secure = if options.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let path = options.cookie_path();
    format!(
        "{SESSION_COOKIE}={token}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{secure}"
    )
}

/// The `Set-Cookie` value that logs a browser into `session`, as register and login set it:
/// for a host app with its own login that opens chat sessions with
/// [`Service::open_external_session`].
pub fn session_set_cookie(session: &NewSession, options: &HttpOptions) -> String {
    let seconds = (session.session.expires_at - chrono::Utc::now())
        .num_seconds()
        .max(0);
    session_cookie(&session.token, seconds, options)
}

/// The `Set-Cookie` value that ends it.
pub(crate) fn cleared_cookie(options: &HttpOptions) -> String {
    session_cookie("", 0, options)
}

/// `access_token` in the query, for the event stream only: browsers cannot set headers on
/// `EventSource` or `WebSocket`.
#[derive(SecurityScheme)]
#[oai(
    rename = "access_token",
    ty = "api_key",
    key_in = "query",
    key_name = "access_token",
    checker = "check_query"
)]
pub struct QueryAuth(Caller);

async fn check_query(request: &Request, token: ApiKey) -> poem::Result<Caller> {
    authenticate(request, &token.key).await
}

/// How the event stream may be authenticated: bearer, cookie, or `access_token`, tried in
/// that order.
pub enum EventsAuth {
    /// A bearer token.
    Bearer(BearerAuth),
    /// The session cookie.
    Cookie(CookieAuth),
    /// The token in the query.
    Query(QueryAuth),
}

impl EventsAuth {
    /// The authenticated caller.
    pub fn caller(&self) -> &Caller {
        match self {
            EventsAuth::Bearer(BearerAuth(caller))
            | EventsAuth::Cookie(CookieAuth(caller))
            | EventsAuth::Query(QueryAuth(caller)) => caller,
        }
    }
}

/// The token a request carries, by header, cookie or `access_token` query parameter.
pub(crate) fn token_of(request: &Request) -> Option<String> {
    if let Some(bearer) = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    // Read the header itself: the cookie jar middleware is not installed.
    let cookie = request
        .headers()
        .get_all("cookie")
        .iter()
        .find_map(|header| {
            header.to_str().ok()?.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                (name == SESSION_COOKIE).then(|| value.to_owned())
            })
        });
    if cookie.is_some() {
        return cookie;
    }
    request
        .uri()
        .query()
        .and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("access_token="))
        })
        .map(str::to_owned)
}

/// Passes over a scheme that could not authenticate the request, so that the next one may be
/// tried; any other failure (503 `unavailable`, 500) is the answer, as it is.
fn unauthenticated(error: poem::Error) -> poem::Result<()> {
    if error.status() == StatusCode::UNAUTHORIZED {
        Ok(())
    } else {
        Err(error)
    }
}

/// Implements [`ApiExtractor`] for an enum of security schemes: each variant's scheme is tried
/// in order; the first that authenticates wins, the first that fails for another reason than
/// authentication answers, and when all fail to authenticate, 401 `not_authorized`. (The derived
/// enum scheme tries the next variant after any error and answers with the last error, so a
/// storage failure of the bearer check became the cookie's "no cookie" 401.)
macro_rules! schemes_in_order {
    ($name:ident { $($variant:ident($scheme:ty)),+ $(,)? }) => {
        impl<'a> ApiExtractor<'a> for $name {
            const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

            type ParamType = ();
            type ParamRawType = ();

            fn register(registry: &mut Registry) {
                $(<$scheme as ApiExtractor>::register(registry);)+
            }

            fn security_schemes() -> Vec<&'static str> {
                let mut schemes = Vec::new();
                $(schemes.extend(<$scheme as ApiExtractor>::security_schemes());)+
                schemes
            }

            async fn from_request(
                request: &'a Request,
                body: &mut RequestBody,
                options: ExtractParamOptions<()>,
            ) -> poem::Result<Self> {
                $(
                    match <$scheme as ApiExtractor>::from_request(request, body, options.clone())
                        .await
                    {
                        Ok(caller) => return Ok($name::$variant(caller)),
                        Err(error) => unauthenticated(error)?,
                    }
                )+
                Err(ApiError::not_authorized().into())
            }
        }
    };
}

schemes_in_order!(Auth {
    Bearer(BearerAuth),
    Cookie(CookieAuth),
});

schemes_in_order!(EventsAuth {
    Bearer(BearerAuth),
    Cookie(CookieAuth),
    Query(QueryAuth),
});
