//! The event stream as a WebSocket: `GET /api/v1/events` with `Upgrade: websocket`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatcore::{ChatId, Service};
use futures::{SinkExt, StreamExt};
use poem::http::StatusCode;
use poem::web::websocket::{Message, WebSocket, WebSocketConfig};
use poem::{FromRequest, IntoResponse, Request, Response};
use serde::Deserialize;

use crate::auth::token_of;
use crate::error::ApiError;

/// How often the server pings, and how long it waits for any sign of life before closing.
const PING_EVERY: Duration = Duration::from_secs(20);
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// The read buffer of a connection.
const READ_BUFFER: usize = 4 * 1024;
/// The largest message a client may send.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// What a client may send over the socket.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    /// The client's user is typing in a chat.
    Typing { chat_id: ChatId },
}

/// Whether a request asks to upgrade to a WebSocket.
pub(crate) fn is_upgrade(request: &Request) -> bool {
    request
        .header("upgrade")
        .is_some_and(|upgrade| upgrade.eq_ignore_ascii_case("websocket"))
}

fn error_frame(code: &str, message: &str) -> Message {
    Message::Text(serde_json::json!({ "error": { "code": code, "message": message } }).to_string())
}

/// Authenticates, subscribes (so that a bad cursor is an ordinary HTTP error), then upgrades.
/// Clients only send small notices (typing), so a connection reads into a small buffer and
/// refuses large messages. The library's default 128 KiB read buffer would be zeroed on every
/// read and kept by every connection (1.25 GiB for 10,000 idle ones).
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(MAX_CLIENT_MESSAGE))
        .max_frame_size(Some(MAX_CLIENT_MESSAGE))
}

pub(crate) async fn serve(
    request: Request,
    service: Arc<dyn Service>,
    shutdown: Option<tokio::sync::watch::Receiver<bool>>,
) -> poem::Result<Response> {
    let token = token_of(&request).ok_or_else(ApiError::not_authorized)?;
    let caller = service.authenticate(&token).await.map_err(ApiError::from)?;
    let since = match request.uri().query().and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("since="))
    }) {
        Some(value) => Some(value.parse::<i64>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_input",
                "since must be a cursor",
                Some("since"),
            )
        })?),
        None => None,
    };
    let mut events = service
        .subscribe(&caller, since)
        .await
        .map_err(ApiError::from)?;
    let (request, mut body) = request.split();
    let websocket = WebSocket::from_request(&request, &mut body).await?;
    Ok(websocket
        .config(socket_config())
        .on_upgrade(move |socket| async move {
            let (mut sink, mut incoming) = socket.split();
            let mut ping = tokio::time::interval(PING_EVERY);
            let mut heard = Instant::now();
            let mut shutdown = shutdown;
            loop {
                tokio::select! {
                    _ = crate::shut_down(&mut shutdown) => {
                        let _ = sink.send(Message::Close(None)).await;
                        return;
                    }
                    event = events.next() => match event {
                        Some(Ok(event)) => {
                            let text = serde_json::to_string(&event).unwrap_or_default();
                            if sink.send(Message::Text(text)).await.is_err() {
                                return;
                            }
                        }
                        Some(Err(error)) => {
                            let _ = sink.send(error_frame(error.code(), &error.to_string())).await;
                            let _ = sink.send(Message::Close(None)).await;
                            return;
                        }
                        None => return,
                    },
                    message = incoming.next() => {
                        heard = Instant::now();
                        match message {
                            Some(Ok(Message::Text(text))) => {
                                let reply = match serde_json::from_str::<ClientMessage>(&text) {
                                    Ok(ClientMessage::Typing { chat_id }) => service
                                        .send_typing(&caller, chat_id)
                                        .await
                                        .err()
                                        .map(|error| error_frame(error.code(), &error.to_string())),
                                    Err(error) => Some(error_frame("invalid_input", &error.to_string())),
                                };
                                if let Some(reply) = reply
                                    && sink.send(reply).await.is_err()
                                {
                                    return;
                                }
                            }
                            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                            Some(Ok(_)) => {}
                        }
                    }
                    _ = ping.tick() => {
                        if heard.elapsed() > SILENCE_LIMIT
                            || sink.send(Message::Ping(Vec::new())).await.is_err()
                        {
                            return;
                        }
                    }
                }
            }
        })
        .into_response())
}
