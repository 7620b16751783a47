//! `/events`: the caller's event stream, as Server-Sent Events (and as a WebSocket, on the
//! same path, handled in `crate::realtime`).

use std::time::Duration;

use chatcore::events::Event;
use futures::StreamExt;
use futures::future::ready;
use poem::web::sse;
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::EventStream;
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
    Stream(EventStream<futures::stream::BoxStream<'static, Event>>),
}

/// The caller's event stream.
#[OpenApi(tag = "Tag::Events")]
impl EventsApi {
    /// Event stream
    ///
    /// Server-Sent Events (`Accept: text/event-stream`), or a WebSocket on the same path
    /// (`Upgrade: websocket`) with one JSON event per text frame, pings every 20 seconds,
    /// and typing notices accepted from the client as `{"type": "typing", "chat_id": "..."}`.
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
        let stream = self.0.service.subscribe(auth.caller(), since).await?;
        // An error (the session ended) closes the stream; the client sees the
        // `session_revoked` event that came just before.
        let mut shutdown = self.0.options.shutdown.clone();
        let events = stream
            .take_while(|item| ready(item.is_ok()))
            .filter_map(|item| ready(item.ok()))
            .take_until(Box::pin(
                async move { crate::shut_down(&mut shutdown).await },
            ))
            .boxed();
        Ok(Events::Stream(
            EventStream::new(events)
                .keep_alive(KEEP_ALIVE)
                .to_event(|event| {
                    let data = serde_json::to_string(&event).unwrap_or_default();
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
