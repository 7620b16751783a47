//! The event stream as a WebSocket: `GET /api/v1/events` with `Upgrade: websocket`. The
//! handshake is HTTP's; everything after it is chatcore's realtime [`Connection`], framed as
//! one JSON value per text frame.

use std::sync::Arc;

use chatcore::Service;
use chatcore::avatars::AvatarLinks;
use chatcore::events::SharedEvent;
use chatcore::realtime::{Connection, ConnectionOptions, Failure, Outgoing, origin_allowed};
use futures::{SinkExt, StreamExt};
use poem::http::{Method, StatusCode, header};
use poem::web::websocket::{Message, WebSocket, WebSocketConfig, WebSocketStream};
use poem::{FromRequest, IntoResponse, Request, Response};
use serde_json::{Value, json};

use crate::HttpOptions;
use crate::auth::{SESSION_COOKIE, token_of};
use crate::error::ApiError;

/// The most event frames written at once, when events pile up on a connection.
const MAX_FRAMES_PER_WRITE: usize = 64;
/// The read buffer of a connection. Every read attempt zero-fills it first, including the one
/// around each delivery that finds nothing to read, so it is kept small: most commands fit,
/// and a larger one takes a few reads.
const READ_BUFFER: usize = 512;

/// Whether a request asks to upgrade to a WebSocket (whether it does so correctly is checked
/// by [`serve`]).
pub(crate) fn is_upgrade(request: &Request) -> bool {
    request
        .header("upgrade")
        .is_some_and(|upgrade| upgrade.eq_ignore_ascii_case("websocket"))
}

/// Clients send small commands, so a connection reads into a small buffer and refuses
/// messages over `max_frame` bytes. The library's default 128 KiB read buffer would be zeroed
/// on every read attempt and kept by every connection (1.25 GiB for 10,000 idle ones).
fn socket_config(max_frame: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(max_frame))
        .max_frame_size(Some(max_frame))
}

fn bad_handshake(message: &str) -> poem::Error {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_input",
        format!("not a valid WebSocket handshake: {message}"),
        None,
    )
    .into()
}

/// Checks the opening handshake (RFC 6455, section 4.2.1) before anything else is done for
/// the request, so that a request that cannot become a WebSocket never opens a stream: the
/// refusal to answer with, if it is not valid.
fn handshake_refusal(request: &Request) -> Option<Response> {
    let refuse = |message: &str| Some(bad_handshake(message).into_response());
    if request.method() != Method::GET {
        return refuse("the method must be GET");
    }
    let connection_upgrades = request
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    if !connection_upgrades {
        return refuse("Connection must include Upgrade");
    }
    if request.header(header::SEC_WEBSOCKET_VERSION) != Some("13") {
        // The one version spoken here, as the RFC asks to announce.
        let mut response = bad_handshake("Sec-WebSocket-Version must be 13").into_response();
        response.set_status(StatusCode::UPGRADE_REQUIRED);
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            header::HeaderValue::from_static("13"),
        );
        return Some(response);
    }
    // 16 random bytes in base64: 22 characters and `==`.
    let key_is_valid = request
        .header(header::SEC_WEBSOCKET_KEY)
        .map(str::as_bytes)
        .is_some_and(|key| {
            key.len() == 24
                && key.ends_with(b"==")
                && key[..22]
                    .iter()
                    .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/'))
        });
    if !key_is_valid {
        return refuse("Sec-WebSocket-Key must be 16 bytes in base64");
    }
    None
}

/// Whether the request carries its token in the session cookie: the one way a page of
/// another site could make a browser authenticate a WebSocket (browsers do not send
/// `Authorization` on their own, and cannot know an `access_token`). Mirrors the order of
/// [`token_of`]: a bearer header wins over the cookie.
fn authenticated_by_cookie(request: &Request) -> bool {
    let bearer = request
        .header(header::AUTHORIZATION)
        .is_some_and(|value| value.starts_with("Bearer "));
    !bearer
        && request
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .any(|pair| {
                pair.trim()
                    .split_once('=')
                    .is_some_and(|(name, _)| name == SESSION_COOKIE)
            })
}

/// Checks the handshake and the origin of a cookie-authenticated socket, opens the
/// connection (so that a bad token, a bad cursor or a full stream allowance is an ordinary
/// HTTP error), then upgrades and frames what the connection says and hears.
pub(crate) async fn serve(
    request: Request,
    service: Arc<dyn Service>,
    options: &HttpOptions,
    allowed_origins: &[String],
) -> poem::Result<Response> {
    if let Some(refusal) = handshake_refusal(&request) {
        return Ok(refusal);
    }
    let host = request.header(header::HOST).or_else(|| {
        request
            .uri()
            .authority()
            .map(|authority| authority.as_str())
    });
    if authenticated_by_cookie(&request)
        && !origin_allowed(request.header(header::ORIGIN), host, allowed_origins)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this origin may not open the event stream with the session cookie",
            None,
        )
        .into());
    }
    let token = token_of(&request).ok_or_else(ApiError::not_authorized)?;
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
    let connection_options = ConnectionOptions {
        shutdown: options.shutdown.clone(),
        user_agent: request.header(header::USER_AGENT).map(str::to_owned),
        ..ConnectionOptions::default()
    };
    let max_frame = connection_options.max_command_bytes;
    let connection = Connection::open(service, Some(&token), since, connection_options)
        .await
        .map_err(ApiError::from)?;
    let links = options.avatar_links();
    let (request, mut body) = request.split();
    let websocket = WebSocket::from_request(&request, &mut body).await?;
    Ok(websocket
        .config(socket_config(max_frame))
        .on_upgrade(move |socket| run(socket, connection, links))
        .into_response())
}

/// Frames a connection over a WebSocket until either side ends it. The socket is not split
/// into halves: reading is only waited for in the `select!`, and writing only happens after
/// it, so one owner suffices, without a lock between two halves taken at every delivery.
async fn run(mut socket: WebSocketStream, mut connection: Connection, links: AvatarLinks) {
    loop {
        tokio::select! {
            outgoing = connection.next() => match outgoing {
                Outgoing::Event(event) => {
                    // Events that piled up meanwhile go out in the same write.
                    let mut frames = 0;
                    let mut next = Some(event);
                    while let Some(event) = next.take() {
                        if feed(&mut socket, &event, &links).await.is_err() {
                            return;
                        }
                        frames += 1;
                        if frames < MAX_FRAMES_PER_WRITE {
                            next = connection.ready_event();
                        }
                    }
                    if socket.flush().await.is_err() {
                        return;
                    }
                }
                Outgoing::Ping => {
                    if socket.send(Message::Ping(Vec::new())).await.is_err() {
                        return;
                    }
                }
                Outgoing::Close(reason) => {
                    if let Some(failure) = reason {
                        let _ = socket.send(Message::Text(failure.to_json().to_string())).await;
                    }
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            },
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let reply = links.scope(command(&mut connection, &text)).await;
                    if let Some(reply) = reply
                        && socket.send(Message::Text(reply.to_string())).await.is_err()
                    {
                        return;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                // Pongs and anything else: signs of life.
                Some(Ok(_)) => connection.heard(),
            },
        }
    }
}

/// Queues an event's frame on the socket, without flushing.
async fn feed(
    socket: &mut WebSocketStream,
    event: &SharedEvent,
    links: &AvatarLinks,
) -> std::io::Result<()> {
    // Serialized once for every connection the event is for.
    match event.json(Some(links)) {
        Ok(json) => socket.feed(Message::Text(json.get().to_owned())).await,
        Err(error) => {
            tracing::error!(%error, cursor = event.cursor, "event not serialized");
            Ok(())
        }
    }
}

/// Runs a client frame `{"type": command, "id"?: any, ...arguments}` and answers the frame
/// to send back: `{"id", "result"}` or `{"id", "error"}` when the client gave an `id`; only
/// `{"error"}` otherwise (so that fire-and-forget notices such as typing get no answer).
async fn command(connection: &mut Connection, text: &str) -> Option<Value> {
    let mut frame = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(frame)) => frame,
        Ok(_) => {
            return Some(Failure::invalid("a frame is a JSON object", None).to_json());
        }
        Err(error) => return Some(Failure::invalid(error.to_string(), None).to_json()),
    };
    let id = frame.remove("id");
    let name = match frame.remove("type") {
        Some(Value::String(name)) => name,
        _ => {
            return Some(
                Failure::invalid("a frame names its command in `type`", Some("type")).to_json(),
            );
        }
    };
    // The notice's short name, as clients have sent it from the start.
    let name = if name == "typing" {
        "send_typing"
    } else {
        &name
    };
    let outcome = connection.command(name, Value::Object(frame)).await;
    match (id, outcome) {
        (Some(id), Ok(result)) => Some(json!({ "id": id, "result": result })),
        (Some(id), Err(failure)) => Some(json!({ "id": id, "error": failure })),
        (None, Ok(_)) => None,
        (None, Err(failure)) => Some(failure.to_json()),
    }
}
