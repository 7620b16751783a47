#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod names;

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use chatcore::Service;
use chatcore::avatars::AvatarLinks;
use chatcore::realtime::{
    Connection, ConnectionOptions, Failure, Outgoing, SignInLimits, origin_allowed,
};
use serde_json::Value;
use socketioxide::extract::{AckSender, Event, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{SocketIo, TransportType};
use tokio::sync::{Notify, mpsc};

/// How the Socket.IO transport behaves. Start from `SocketIoOptions::default()`.
#[derive(Clone, Debug)]
pub struct SocketIoOptions {
    /// Where Socket.IO is served. Default: `/socket.io` (what clients use unless told
    /// otherwise).
    pub path: String,
    /// Each socket's realtime connection. Its heartbeat becomes Engine.IO's ping interval
    /// and timeout, and `max_command_bytes` the largest packet accepted.
    pub connection: ConnectionOptions,
    /// Where avatars are linked from (chatcore-http's `HttpOptions::avatar_links`); `None`
    /// leaves `avatar_url` out.
    pub avatar_links: Option<AvatarLinks>,
    /// The cookie that carries a session token, for browsers on the same site. Default:
    /// `chatcore_session`, chatcore-http's.
    pub session_cookie: String,
    /// Origins (`scheme://host[:port]`) whose pages may connect authenticated by the session
    /// cookie, besides the server's own; a handshake from any other is refused, so that
    /// another site cannot use a visitor's cookie. Handshakes with a token in `auth`, or
    /// without an `Origin` (not from a browser), are not checked. Default: none.
    pub allowed_origins: Vec<String>,
    /// Commands a socket may have waiting for their turn; more are refused with
    /// `rate_limited`. Default: 16.
    pub max_waiting_commands: usize,
    /// Who a handshake's client is, and that client's limits on `user login` and
    /// `user register`: pass chatcore-http's `ChatService::sign_in()` so that they count
    /// against the HTTP app's own per-address rates. Default: `None` (sockets then sign in
    /// limited only by [`ConnectionOptions::commands_per_minute`] each).
    pub sign_in: Option<ClientOf>,
}

/// What [`SocketIoOptions::sign_in`] holds: from a handshake's request, the client's address
/// and its limits on signing in.
#[derive(Clone)]
pub struct ClientOf(pub Arc<ClientFn>);

/// The function inside [`ClientOf`].
pub type ClientFn =
    dyn Fn(&http::request::Parts) -> (Option<IpAddr>, Option<Arc<dyn SignInLimits>>) + Send + Sync;

impl std::fmt::Debug for ClientOf {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ClientOf(..)")
    }
}

impl Default for SocketIoOptions {
    fn default() -> Self {
        SocketIoOptions {
            path: "/socket.io".to_owned(),
            connection: ConnectionOptions::default(),
            avatar_links: None,
            session_cookie: "chatcore_session".to_owned(),
            allowed_origins: Vec::new(),
            max_waiting_commands: 16,
            sign_in: None,
        }
    }
}

/// The transport as a tower layer: wrap the HTTP app's tower service with it
/// (`layer.layer(http)`), and requests under [`SocketIoOptions::path`] become Socket.IO
/// while all others reach the app.
pub fn layer(service: Arc<dyn Service>, options: SocketIoOptions) -> SocketIoLayer {
    let heartbeat = options.connection.heartbeat.unwrap_or_default();
    let (layer, io) = SocketIo::builder()
        .req_path(options.path.clone())
        .ping_interval(heartbeat.interval)
        .ping_timeout(heartbeat.timeout)
        .max_payload(options.connection.max_command_bytes as u64)
        .ws_max_message_size(options.connection.max_command_bytes)
        .transports([TransportType::Polling, TransportType::Websocket])
        .with_state(Shared(Arc::new((service, options))))
        .build_layer();
    io.ns("/", connected.with(authenticate));
    layer
}

/// What every handler reads: the service and the options.
#[derive(Clone)]
struct Shared(Arc<(Arc<dyn Service>, SocketIoOptions)>);

impl Shared {
    fn service(&self) -> Arc<dyn Service> {
        self.0.0.clone()
    }

    fn options(&self) -> &SocketIoOptions {
        &self.0.1
    }
}

/// What the handshake opened, waiting for its socket to be connected: the connection, the
/// commands the socket's events became meanwhile, and whether the socket went away.
#[derive(Clone)]
struct Opened(Arc<Mutex<Option<Opening>>>);

struct Opening {
    connection: Connection,
    waiting: mpsc::Receiver<Command>,
    gone: Arc<Notify>,
}

/// Why a handshake was refused: the client's `connect_error` says `code: message`.
#[derive(Debug)]
struct Refused(Failure);

impl std::fmt::Display for Refused {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}: {}", self.0.code, self.0.message)
    }
}

/// The handshake: `auth: {"token"?, "since"?}` or the session cookie opens the connection
/// (bound, or anonymous without either).
async fn authenticate(
    socket: SocketRef,
    TryData(auth): TryData<Value>,
    State(shared): State<Shared>,
) -> Result<(), Refused> {
    let auth = auth.unwrap_or(Value::Null);
    let options = shared.options();
    let headers = &socket.req_parts().headers;
    let token = match auth.get("token") {
        Some(Value::String(token)) => Some(token.clone()),
        Some(Value::Null) | None => {
            let token = cookie(headers, &options.session_cookie);
            let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
            if token.is_some()
                && !origin_allowed(header("origin"), header("host"), &options.allowed_origins)
            {
                return Err(refused(
                    "forbidden",
                    "this origin may not connect with the session cookie",
                ));
            }
            token
        }
        Some(_) => return Err(refused("invalid_input", "auth.token must be a string")),
    };
    let since = match auth.get("since") {
        Some(Value::Number(since)) => Some(
            since
                .as_i64()
                .ok_or_else(|| refused("invalid_input", "auth.since must be a cursor"))?,
        ),
        Some(Value::String(since)) => Some(
            since
                .parse()
                .map_err(|_| refused("invalid_input", "auth.since must be a cursor"))?,
        ),
        Some(Value::Null) | None => None,
        Some(_) => return Err(refused("invalid_input", "auth.since must be a cursor")),
    };
    let mut connection_options = options.connection.clone();
    // Engine.IO pings; the connection need not.
    connection_options.heartbeat = None;
    if let Some(ClientOf(client_of)) = &options.sign_in {
        let (client, limits) = client_of(socket.req_parts());
        connection_options.client = client;
        connection_options.sign_in_limits = limits;
    }
    connection_options.user_agent = headers
        .get("user-agent")
        .and_then(|agent| agent.to_str().ok())
        .map(str::to_owned);
    let connection = Connection::open(
        shared.service(),
        token.as_deref(),
        since,
        connection_options,
    )
    .await
    .map_err(|error| Refused(error.into()))?;
    // Listen before the connect packet goes out (socketioxide sends it once this returns, and
    // runs `connected` after that): a client that emits as soon as it is connected must not
    // find the socket deaf.
    let (waiting, gone) = listen(&socket, options.max_waiting_commands);
    let opening = Opening {
        connection,
        waiting,
        gone,
    };
    socket
        .extensions
        .insert(Opened(Arc::new(Mutex::new(Some(opening)))));
    Ok(())
}

/// Makes the socket's events commands, queued for its connection (at most `max_waiting`
/// of them; past that they are refused at once), and notes when the socket goes away.
fn listen(socket: &SocketRef, max_waiting: usize) -> (mpsc::Receiver<Command>, Arc<Notify>) {
    let (commands, waiting) = mpsc::channel(max_waiting.max(1));
    socket.on_fallback(
        async move |Event(event): Event, TryData(args): TryData<Value>, ack: AckSender| {
            let command = Command {
                event,
                args: args.unwrap_or(Value::Null),
                ack,
            };
            if let Err(mpsc::error::TrySendError::Full(command)) = commands.try_send(command) {
                let failure = Failure {
                    retry_after: Some(1),
                    ..Failure::new(
                        "rate_limited",
                        "too many commands are waiting on this socket",
                    )
                };
                let _ = command.ack.send(&failure.to_json());
            }
        },
    );
    let gone = Arc::new(Notify::new());
    let disconnected = gone.clone();
    socket.on_disconnect(async move || disconnected.notify_one());
    (waiting, gone)
}

fn refused(code: &'static str, message: &str) -> Refused {
    Refused(Failure::new(code, message))
}

/// A client's event, waiting for its turn on the socket's connection.
struct Command {
    event: String,
    args: Value,
    ack: AckSender,
}

/// The socket is connected: the commands its events became are run, and its connection's
/// events are pushed, in one task per socket.
async fn connected(socket: SocketRef, State(shared): State<Shared>) {
    let Some(opening) = socket.extensions.remove::<Opened>().and_then(|opened| {
        opened
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }) else {
        let _ = socket.disconnect();
        return;
    };
    let links = shared.options().avatar_links.clone();
    tokio::spawn(run(
        socket,
        opening.connection,
        opening.waiting,
        opening.gone,
        links,
    ));
}

/// Frames a connection over a socket until either side ends it.
async fn run(
    socket: SocketRef,
    mut connection: Connection,
    mut waiting: mpsc::Receiver<Command>,
    gone: Arc<Notify>,
    links: Option<AvatarLinks>,
) {
    loop {
        tokio::select! {
            () = gone.notified() => return,
            outgoing = connection.next() => match outgoing {
                Outgoing::Event(event) => {
                    // Serialized once for every socket the event is for, and sent as it is.
                    let json = match event.json(links.as_ref()) {
                        Ok(json) => json,
                        Err(error) => {
                            tracing::error!(%error, cursor = event.cursor, "event not serialized");
                            continue;
                        }
                    };
                    if socket.emit(names::push(&event), &*json).is_err() {
                        return;
                    }
                }
                Outgoing::Ping => {}
                Outgoing::Close(reason) => {
                    if let Some(failure) = reason {
                        let _ = socket.emit("error", &failure.to_json());
                    }
                    let _ = socket.disconnect();
                    return;
                }
            },
            Some(command) = waiting.recv() => {
                let outcome = match names::command(&command.event, command.args) {
                    Ok((name, args)) => match &links {
                        Some(links) => links.scope(connection.command(&name, args)).await,
                        None => connection.command(&name, args).await,
                    },
                    Err(failure) => Err(failure),
                };
                let body = outcome.unwrap_or_else(|failure| failure.to_json());
                let _ = command.ack.send(&body);
            }
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
}
