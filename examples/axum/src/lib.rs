//! An axum app with its own routes and its own login that embeds chatcore: the REST API at
//! `/chat/api/v1`, its docs at `/chat/docs`, the event stream (SSE or WebSocket) at
//! `/chat/api/v1/events` and Socket.IO at `/chat/socket.io/`, all on the app's port. The app's users become chat users through
//! `upsert_external_user`, and logging in to the app opens their chat session.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chatcore::Service;
use chatcore::sessions::SessionOptions;
use chatcore::users::{DisplayName, ExternalId, ExternalUser, Username};
use chatcore_http::HttpOptions;
use chatcore_socketio::{ClientOf, SocketIoOptions};
use serde::Deserialize;
use tower_layer::Layer;

/// Where the chat is mounted.
pub const CHAT_PREFIX: &str = "/chat";

/// The host app's own accounts (a real app has a user table and hashed passwords).
const ACCOUNTS: &[Account] = &[
    Account {
        id: "u-1",
        username: "ada",
        name: "Ada Lovelace",
        password: "analytical",
    },
    Account {
        id: "u-2",
        username: "alan",
        name: "Alan Turing",
        password: "enigma",
    },
];

struct Account {
    id: &'static str,
    username: &'static str,
    name: &'static str,
    password: &'static str,
}

/// The chat's options: nested at [`CHAT_PREFIX`], so its docs and session cookie follow.
pub fn chat_options() -> HttpOptions {
    HttpOptions::default().nested_at(CHAT_PREFIX)
}

/// The host app, with the chat nested in it. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`, so that the chat knows client
/// addresses (for its limits per address).
pub fn app(chat: Arc<dyn Service>) -> Router {
    let chat_http =
        chatcore_http::tower::service(chat.clone(), chat_options()).peer_addr(|extensions| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0)
        });
    // Socket.IO in front of the REST API: `/chat/socket.io/` is Socket.IO, the rest REST.
    let socketio = SocketIoOptions {
        avatar_links: Some(chat_options().avatar_links()),
        // Its `user login` and `user register` count against the chat's per-address rates.
        sign_in: Some(ClientOf(chat_http.sign_in())),
        ..SocketIoOptions::default()
    };
    // Engine.IO's requests count against the chat's per-address request ceiling too.
    let ceiling = chat_http.ceiling_under(socketio.path.clone());
    let chat_service =
        ceiling.layer(chatcore_socketio::layer(chat.clone(), socketio).layer(chat_http));
    Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .nest_service(CHAT_PREFIX, chat_service)
        .fallback(|| async { (StatusCode::NOT_FOUND, "host app: no such page") })
        .with_state(chat)
}

async fn home() -> Html<&'static str> {
    Html(
        "<h1>Host app</h1><form method=post action=/login>\
         <input name=username> <input name=password type=password> <button>Log in</button>\
         </form><p><a href=/chat/docs>Chat API</a></p>",
    )
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

/// The app's own login. It makes sure the account has a chat user and opens a chat session
/// for it: the chat cookie for browsers, the token for other clients.
async fn login(State(chat): State<Arc<dyn Service>>, Form(form): Form<LoginForm>) -> Response {
    let Some(account) = ACCOUNTS
        .iter()
        .find(|account| account.username == form.username && account.password == form.password)
    else {
        return (StatusCode::UNAUTHORIZED, "wrong username or password").into_response();
    };
    match open_chat_session(chat.as_ref(), account).await {
        Ok(session) => (
            [(
                header::SET_COOKIE,
                chatcore_http::auth::session_set_cookie(&session, &chat_options()),
            )],
            Json(serde_json::json!({ "chat_token": session.token })),
        )
            .into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}

async fn open_chat_session(
    chat: &dyn Service,
    account: &Account,
) -> chatcore::Result<chatcore::sessions::NewSession> {
    let external_id = ExternalId::parse(account.id)?;
    chat.upsert_external_user(ExternalUser {
        external_id: external_id.clone(),
        username: Username::parse(account.username)?,
        display_name: Some(DisplayName::parse(account.name)?),
        email: None,
    })
    .await?;
    chat.open_external_session(&external_id, SessionOptions::default())
        .await
}
