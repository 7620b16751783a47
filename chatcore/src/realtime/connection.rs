//! [`Connection`]: one client's live session.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::{FutureExt, StreamExt};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::{Interval, MissedTickBehavior};

use super::commands::{self, parse, reply};
use super::{ConnectionOptions, Failure, SignIn};
use crate::events::{EventStream, SharedEvent};
use crate::limits::with_client;
use crate::users::{
    Authenticated, DisplayName, Email, Login, Password, Phone, Register, Status, Username,
};
use crate::{Caller, Error, Result, Service};

/// What a transport must do next for a connection.
#[derive(Debug)]
pub enum Outgoing {
    /// Deliver an event (shared with the other connections it is for: frame it with
    /// [`SharedEvent::json`], serialized once for all of them).
    Event(SharedEvent),
    /// Ping the client (the heartbeat).
    Ping,
    /// End the connection; with the reason to tell the client, if there is one (the session
    /// ended, the cursor expired). `None`: the server shuts down, or the client went silent.
    Close(Option<Failure>),
}

/// One client's live session over any transport: see [the module](super).
pub struct Connection {
    service: Arc<dyn Service>,
    options: ConnectionOptions,
    caller: Option<Caller>,
    /// The cursor to follow from once bound.
    since: Option<i64>,
    events: Option<EventStream>,
    heartbeat: Option<Interval>,
    /// Resolves once the server starts shutting down. Made once and polled by every
    /// [`Connection::next`]: a wait made anew per call would register with the shutdown
    /// signal, and leave it, once per delivery.
    shutdown: Pin<Box<dyn Future<Output = ()> + Send + Sync>>,
    heard: Instant,
    commands: DefaultDirectRateLimiter,
    /// What the event stream answered while [`Connection::ready_event`] looked for events: its
    /// end or an error, answered by the next [`Connection::next`].
    ended: Option<Option<Result<SharedEvent>>>,
    closed: bool,
}

impl Connection {
    /// Opens a connection: bound to the session of `token` and following its events from
    /// `since`, or anonymous without a token (then `since` applies once `register` or
    /// `login` binds it).
    ///
    /// # Errors
    /// What [`Service::authenticate`] and [`Service::subscribe`] refuse: an invalid token,
    /// an expired or unknown cursor, a full stream allowance. Transports answer these in
    /// their handshake.
    pub async fn open(
        service: Arc<dyn Service>,
        token: Option<&str>,
        since: Option<i64>,
        options: ConnectionOptions,
    ) -> Result<Connection> {
        let mut connection = Connection::new(service, since, options);
        if let Some(token) = token {
            let caller = connection.service.authenticate(token).await?;
            connection.bind(caller).await?;
        }
        Ok(connection)
    }

    /// Opens a connection for a caller that the transport authenticated already, following
    /// its events from `since`.
    ///
    /// # Errors
    /// What [`Service::subscribe`] refuses.
    pub async fn for_caller(
        service: Arc<dyn Service>,
        caller: Caller,
        since: Option<i64>,
        options: ConnectionOptions,
    ) -> Result<Connection> {
        let mut connection = Connection::new(service, since, options);
        connection.bind(caller).await?;
        Ok(connection)
    }

    fn new(service: Arc<dyn Service>, since: Option<i64>, mut options: ConnectionOptions) -> Self {
        let burst = NonZeroU32::new(options.commands_per_minute.get().div_ceil(10))
            .unwrap_or(NonZeroU32::MIN);
        let heartbeat = options.heartbeat.map(|heartbeat| {
            let mut interval = tokio::time::interval_at(
                tokio::time::Instant::now() + heartbeat.interval,
                heartbeat.interval,
            );
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            interval
        });
        let shutdown = Box::pin(shut_down(options.shutdown.take()));
        Connection {
            commands: RateLimiter::direct(
                Quota::per_minute(options.commands_per_minute).allow_burst(burst),
            ),
            service,
            options,
            caller: None,
            since,
            events: None,
            heartbeat,
            shutdown,
            heard: Instant::now(),
            ended: None,
            closed: false,
        }
    }

    /// Who the connection is bound to; `None` while anonymous.
    pub fn caller(&self) -> Option<&Caller> {
        self.caller.as_ref()
    }

    /// Records a sign of life from the client (any frame, a pong).
    pub fn heard(&mut self) {
        self.heard = Instant::now();
    }

    /// What to do next: an event to deliver, a ping to send, or the end. Cancel-safe, so
    /// that a transport may `select!` it against its client's frames. Once it has answered
    /// [`Outgoing::Close`], it never resolves again.
    pub async fn next(&mut self) -> Outgoing {
        if self.closed {
            return std::future::pending().await;
        }
        let outgoing = match self.ended.take() {
            Some(ended) => event_outgoing(ended),
            None => tokio::select! {
                () = &mut self.shutdown => Outgoing::Close(None),
                event = next_event(&mut self.events) => event_outgoing(event),
                () = tick(&mut self.heartbeat) => {
                    let timeout = self.options.heartbeat.map(|heartbeat| heartbeat.timeout);
                    if timeout.is_some_and(|timeout| self.heard.elapsed() > timeout) {
                        Outgoing::Close(None)
                    } else {
                        Outgoing::Ping
                    }
                }
            },
        };
        if let Outgoing::Close(_) = outgoing {
            self.closed = true;
            // Frees the stream's place under the caps now, not when the transport is done.
            self.events = None;
        }
        outgoing
    }

    /// An event that is ready now, without waiting; `None` when none is (or the stream
    /// ended: [`Connection::next`] then answers the close). A transport that has an event to
    /// write takes these too and writes them all at once: one write for what piled up.
    pub fn ready_event(&mut self) -> Option<SharedEvent> {
        if self.closed || self.ended.is_some() {
            return None;
        }
        match self.events.as_mut()?.next().now_or_never()? {
            Some(Ok(event)) => Some(event),
            ended => {
                self.ended = Some(ended);
                None
            }
        }
    }

    /// Runs the command `name` with `args` (a JSON object, or `null` for none), and answers
    /// the reply body. An anonymous connection may only run `register` and `login` (with the
    /// REST bodies' fields), which bind it to the new session and start its events.
    ///
    /// # Errors
    /// A [`Failure`]: `not_found` for an unknown command, `not_authorized` for any other
    /// command while anonymous, `conflict` for `register` or `login` once bound,
    /// `rate_limited` past the connection's allowance, and whatever the operation refuses.
    pub async fn command(&mut self, name: &str, args: Value) -> Result<Value, Failure> {
        self.heard();
        if let Err(not_until) = self.commands.check() {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(Error::RateLimited { retry_after: wait }.into());
        }
        match name {
            "register" | "login" => {
                if self.caller.is_some() {
                    return Err(
                        Error::Conflict("the connection is signed in already".into()).into(),
                    );
                }
                let sign_in = if name == "register" {
                    SignIn::Register
                } else {
                    SignIn::Login
                };
                // Counted like the HTTP routes for them: every attempt, whatever its outcome.
                if let Some(limits) = &self.options.sign_in_limits {
                    limits.check(sign_in)?;
                }
                let signing_in = async {
                    Ok::<_, Failure>(match sign_in {
                        SignIn::Register => self.register(parse(args)?).await?,
                        SignIn::Login => self.login(parse(args)?).await?,
                    })
                };
                let authenticated = match self.options.client {
                    Some(client) => with_client(client, signing_in).await?,
                    None => signing_in.await?,
                };
                let caller = self
                    .service
                    .authenticate(&authenticated.session.token)
                    .await?;
                self.bind(caller).await?;
                reply(Ok(authenticated))
            }
            name if commands::COMMANDS.contains(&name) => {
                let Some(caller) = &self.caller else {
                    return Err(Error::NotAuthorized.into());
                };
                commands::run(self.service.as_ref(), caller, name, args).await
            }
            name => Err(commands::unknown(name)),
        }
    }

    async fn bind(&mut self, caller: Caller) -> Result<()> {
        self.events = Some(self.service.subscribe(&caller, self.since).await?);
        self.caller = Some(caller);
        Ok(())
    }

    async fn register(&self, args: RegisterArgs) -> Result<Authenticated> {
        fn optional<T>(
            value: Option<String>,
            parse: impl Fn(String) -> Result<T>,
        ) -> Result<Option<T>> {
            value.map(parse).transpose()
        }
        let mut request = Register::new(
            Username::parse(args.username)?,
            Password::parse(args.password)?,
        );
        request.email = optional(args.email, Email::parse)?;
        request.display_name = optional(args.display_name, DisplayName::parse)?;
        request.phone = optional(args.phone, Phone::parse)?;
        request.status = optional(args.status, Status::parse)?;
        request.user_agent.clone_from(&self.options.user_agent);
        self.service.register(request).await
    }

    async fn login(&self, args: LoginArgs) -> Result<Authenticated> {
        self.service
            .login(Login {
                login: args.login,
                password: args.password,
                user_agent: self.options.user_agent.clone(),
            })
            .await
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterArgs {
    username: String,
    password: String,
    email: Option<String>,
    display_name: Option<String>,
    phone: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginArgs {
    login: String,
    password: String,
}

fn event_outgoing(event: Option<Result<SharedEvent>>) -> Outgoing {
    match event {
        Some(Ok(event)) => Outgoing::Event(event),
        Some(Err(error)) => Outgoing::Close(Some(error.into())),
        None => Outgoing::Close(None),
    }
}

async fn next_event(events: &mut Option<EventStream>) -> Option<Result<SharedEvent>> {
    match events {
        Some(events) => events.next().await,
        None => std::future::pending().await,
    }
}

async fn tick(heartbeat: &mut Option<Interval>) {
    match heartbeat {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Resolves when the server starts shutting down (never, without a shutdown signal).
async fn shut_down(shutdown: Option<tokio::sync::watch::Receiver<bool>>) {
    if let Some(mut receiver) = shutdown
        && receiver.wait_for(|stopping| *stopping).await.is_ok()
    {
        return;
    }
    // No signal, or its sender is gone: no shutdown will ever be announced.
    std::future::pending::<()>().await;
}
