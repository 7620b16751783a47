//! `/events`: the caller's event stream, as Server-Sent Events (and as a WebSocket, on the
//! same path, handled in `crate::realtime`).

use std::borrow::Cow;
use std::time::Duration;

use chatcore::events::{Event, SharedEvent};
use chatcore::realtime::{Connection, ConnectionOptions, Outgoing};
use futures::StreamExt;
use poem::web::sse;
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::EventStream;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, OpenApi};

use super::{ApiResult, Shared, Tag};
use crate::auth::EventsAuth;

pub(crate) struct EventsApi(pub(crate) Shared);

/// How often an idle stream sends a keep-alive comment. Besides keeping proxies from timing
/// the stream out, the writes are how the server learns that a client went away without a
/// word (poem's server notices a closed connection only when writing to it), which ends the
/// stream and frees its place under the stream caps: within two keep-alive periods.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(ApiResponse)]
enum Events {
    /// The caller's events, oldest first: each SSE `id` is the event's cursor and its `event`
    /// the kind; the data is the event as JSON. Typing notices have no `id`.
    #[oai(status = 200)]
    Stream(EventStream<futures::stream::BoxStream<'static, StreamEvent>>),
}

/// An event of the stream, documented as an [`Event`] and framed from the JSON it shares
/// with the other subscribers.
struct StreamEvent(SharedEvent);

impl Type for StreamEvent {
    const IS_REQUIRED: bool = true;
    type RawValueType = Event;
    type RawElementValueType = Event;

    fn name() -> Cow<'static, str> {
        Event::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        Event::schema_ref()
    }

    fn register(registry: &mut Registry) {
        Event::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Event> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Event> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ToJSON for StreamEvent {
    fn to_json(&self) -> Option<serde_json::Value> {
        self.0.to_json()
    }
}

/// The caller's event stream.
#[OpenApi(tag = "Tag::Events")]
impl EventsApi {
    /// Event stream
    ///
    /// Server-Sent Events (`Accept: text/event-stream`), or a WebSocket on the same path
    /// (`Upgrade: websocket`) with one JSON event per text frame and pings every 20 seconds.
    /// Over the WebSocket the client may also run operations: a frame `{"type": operation,
    /// "id": any, ...fields}` names an operation id of this API (`send_message`,
    /// `mark_read`, `send_typing` or its short name `typing`, ...), with the operation's path,
    /// query and body fields in the frame; the answer is `{"id", "result"}` with the body the
    /// operation answers (`null` for none), or `{"id", "error"}`. Without an `id`, only a
    /// refusal is answered, as `{"error"}`.
    ///
    /// Resume with `since` (or SSE's `Last-Event-ID`) set to the last cursor seen: every
    /// event missed is delivered once, in order, then live ones. A cursor older than the
    /// retained events answers 410 `cursor_expired` (resync, then subscribe without one).
    /// The stream ends when the session does. Browsers, which cannot set headers on
    /// `EventSource` or `WebSocket`, may pass `access_token` in the query.
    ///
    /// A session may hold 8 streams open at once and a user 32 (by default); one more is
    /// answered 429 `rate_limited` with `Retry-After` until another closes. A WebSocket
    /// authenticated by the session cookie must come from the server's own origin or one
    /// the server allows (403 `forbidden` otherwise); an invalid handshake is answered 400
    /// (426 for a `Sec-WebSocket-Version` other than 13).
    #[oai(path = "/events", method = "get", operation_id = "subscribe")]
    async fn events(
        &self,
        auth: EventsAuth,
        /// The last cursor seen; absent: from now on.
        since: Query<Option<i64>>,
        /// The last cursor seen, as browsers resend it when reconnecting an `EventSource`.
        #[oai(name = "Last-Event-ID")]
        last_event_id: Header<Option<i64>>,
    ) -> ApiResult<Events> {
        let since = since.0.or(last_event_id.0);
        let options = ConnectionOptions {
            // An SSE client cannot answer pings: its keep-alives are SSE comments, below.
            heartbeat: None,
            shutdown: self.0.options.shutdown.clone(),
            ..ConnectionOptions::default()
        };
        let connection = Connection::for_caller(
            self.0.service.clone(),
            auth.caller().clone(),
            since,
            options,
        )
        .await?;
        // The stream ends when the connection closes: the session ended (the client saw the
        // `session_revoked` event that came just before), or the server shuts down.
        let events = futures::stream::unfold(connection, |mut connection| async move {
            match connection.next().await {
                Outgoing::Event(event) => Some((StreamEvent(event), connection)),
                Outgoing::Ping | Outgoing::Close(_) => None,
            }
        })
        .boxed();
        let links = self.0.options.avatar_links();
        Ok(Events::Stream(
            EventStream::new(events)
                .keep_alive(KEEP_ALIVE)
                .to_event(move |StreamEvent(event)| {
                    // Serialized once for every subscriber the event is for.
                    let data = match event.json(Some(&links)) {
                        Ok(json) => json.get().to_owned(),
                        Err(error) => {
                            tracing::error!(%error, cursor = event.cursor, "event not serialized");
                            String::new()
                        }
                    };
                    let message = sse::Event::message(data).event_type(event.kind().as_str());
                    if event.ephemeral {
                        message
                    } else {
                        message.id(event.cursor.to_string())
                    }
                }),
        ))
    }
}
