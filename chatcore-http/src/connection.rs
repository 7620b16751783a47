//! Serving HTTP/1.1 connections with the timeouts that keep slow clients from holding them:
//! a client must send each request's head within
//! [`HttpOptions::header_read_timeout`](crate::HttpOptions::header_read_timeout) (which also
//! closes keep-alive connections left idle that long), and a connection on which nothing is
//! read or written for [`HttpOptions::idle_timeout`](crate::HttpOptions::idle_timeout) is
//! closed, WebSockets included.
//!
//! poem's own `Server` offers only an idle timeout that any trickle of bytes resets, so a
//! client sending one header byte every few seconds would hold a connection for ever; hyper's
//! HTTP/1 header-read timeout closes it. HTTP/2 is left to the TLS-terminating proxy in
//! front, which speaks HTTP/1.1 to this server.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Bytes, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, EndpointExt, IntoEndpoint, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};

use crate::HttpOptions;

/// Serves `app` on `listener` until `shutdown` resolves, with the connection timeouts of
/// `options`. Then it stops accepting, lets requests in flight finish for up to `grace`, and
/// closes what is left.
///
/// # Errors
/// None so far: a failed accept (out of file descriptors, say) is logged and retried.
pub async fn serve<E>(
    listener: TcpListener,
    app: E,
    options: &HttpOptions,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()>
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    let endpoint: Arc<BoxEndpoint<'static>> =
        Arc::new(app.into_endpoint().map_to_response().boxed());
    let local = listener.local_addr()?;
    let service = move |peer: SocketAddr| {
        let endpoint = endpoint.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let endpoint = endpoint.clone();
            async move {
                let request = poem::Request::from((
                    request,
                    LocalAddr(Addr::SocketAddr(local)),
                    RemoteAddr(Addr::SocketAddr(peer)),
                    Scheme::HTTP,
                ));
                let response: Response = endpoint.get_response(request).await;
                Ok::<_, Infallible>(hyper::Response::<BoxBody<Bytes, io::Error>>::from(response))
            }
        })
    };
    serve_each(listener, service, options, shutdown, grace).await
}

/// The client's address, which [`serve_tower`] puts in every request's extensions (for
/// [`ChatService::peer_addr`](crate::tower::ChatService::peer_addr)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// Serves a tower service as [`serve`] serves an app: with the same timeouts and the same
/// graceful stop. For the HTTP app with other transports in front of it, such as
/// chatcore-socketio's layer around [`crate::tower::service`]; each request carries the
/// client's address as a [`ClientAddr`] extension.
///
/// # Errors
/// None so far: a failed accept is logged and retried.
pub async fn serve_tower<S, B>(
    listener: TcpListener,
    service: S,
    options: &HttpOptions,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()>
where
    S: tower_service::Service<hyper::Request<Incoming>, Response = hyper::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let service = move |peer: SocketAddr| {
        let service = service.clone();
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ClientAddr(peer));
            service.clone().call(request)
        })
    };
    serve_each(listener, service, options, shutdown, grace).await
}

/// Accepts connections and serves each with the hyper service `service_for(peer)` makes.
async fn serve_each<M, S, B>(
    listener: TcpListener,
    service_for: M,
    options: &HttpOptions,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()>
where
    M: Fn(SocketAddr) -> S,
    S: hyper::service::Service<hyper::Request<Incoming>, Response = hyper::Response<B>>
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let timeouts = Timeouts {
        header_read: options.header_read_timeout,
        idle: options.idle_timeout,
    };
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(
                        stream,
                        peer,
                        service_for(peer),
                        timeouts,
                        stopping.clone(),
                    ));
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    // Out of descriptors, say: give connections a moment to close.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(finished) = connections.join_next(), if !connections.is_empty() => {
                report(finished);
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(grace, async {
        while let Some(finished) = connections.join_next().await {
            report(finished);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "grace period over: closing the remaining connections"
        );
        connections.abort_all();
    }
    Ok(())
}

fn report(finished: Result<(), tokio::task::JoinError>) {
    if let Err(error) = finished
        && error.is_panic()
    {
        tracing::error!(%error, "a connection task panicked");
    }
}

#[derive(Clone, Copy, Debug)]
struct Timeouts {
    header_read: Duration,
    idle: Duration,
}

async fn serve_connection<S, B>(
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    timeouts: Timeouts,
    mut stopping: watch::Receiver<bool>,
) where
    S: hyper::service::Service<hyper::Request<Incoming>, Response = hyper::Response<B>>,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let io = TokioIo::new(IdleTimeout::new(stream, timeouts.idle));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = async { let _ = stopping.wait_for(|stopping| *stopping).await; } => {
            // Finish the request in flight, then close.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection closed");
    }
}

/// A stream that fails with [`io::ErrorKind::TimedOut`] once nothing was read from or written
/// to it for `timeout`.
///
/// The deadline is checked whenever the stream is polled and has nothing ready, and the
/// connection's task is woken when it passes: hyper always has a read pending (for the next
/// request, or for the peer closing), so an idle connection is noticed. A read or a write
/// only notes the time; the timer is moved when it goes off and finds the stream active
/// since, about once per `timeout` rather than at every read and write (each move takes the
/// runtime's timer lock, and an event stream writes a frame per delivery).
struct IdleTimeout<T> {
    inner: T,
    timeout: Duration,
    /// When the stream last read or wrote.
    active_at: Instant,
    /// Passes at or before `active_at + timeout`.
    deadline: Pin<Box<Sleep>>,
}

impl<T> IdleTimeout<T> {
    fn new(inner: T, timeout: Duration) -> Self {
        IdleTimeout {
            inner,
            timeout,
            active_at: Instant::now(),
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    fn active(&mut self) {
        self.active_at = Instant::now();
    }

    fn poll_idle<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        while self.deadline.as_mut().poll(cx).is_ready() {
            let idle_until = self.active_at + self.timeout;
            if idle_until <= self.deadline.deadline() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection was idle too long",
                )));
            }
            // Active since the timer was set: it goes off `timeout` after that activity.
            self.deadline.as_mut().reset(idle_until);
        }
        Poll::Pending
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.active();
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_idle(cx),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                this.active();
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_idle(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                this.active();
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_idle(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => this.poll_idle(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Reads from `stream` until it fails as idle, and checks that this took `timeout` (not
    /// less, and not far more).
    async fn ends_after<T: AsyncRead + Unpin>(stream: &mut IdleTimeout<T>, timeout: Duration) {
        let started = std::time::Instant::now();
        let mut byte = [0u8; 1];
        let error = stream.read(&mut byte).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let idle = started.elapsed();
        assert!(
            idle >= timeout - Duration::from_millis(5) && idle < Duration::from_secs(3),
            "ended after {idle:?}"
        );
    }

    /// A read or a write keeps the stream for another `timeout` from then, past the deadline
    /// set before it; only `timeout` without either ends it.
    #[tokio::test]
    async fn activity_keeps_a_stream_for_a_timeout_from_then() {
        let timeout = Duration::from_millis(300);
        let mut byte = [0u8; 1];

        // Written to at 200 ms: not ended at 300 ms, but 300 ms after the write.
        let (near, mut far) = tokio::io::duplex(64);
        let mut stream = IdleTimeout::new(near, timeout);
        tokio::time::sleep(Duration::from_millis(200)).await;
        stream.write_all(b"x").await.unwrap();
        far.read_exact(&mut byte).await.unwrap();
        ends_after(&mut stream, timeout).await;

        // Reads count as activity too.
        let (near, mut far) = tokio::io::duplex(64);
        let mut stream = IdleTimeout::new(near, timeout);
        tokio::time::sleep(Duration::from_millis(200)).await;
        far.write_all(b"y").await.unwrap();
        stream.read_exact(&mut byte).await.unwrap();
        ends_after(&mut stream, timeout).await;

        // Never active: ended at the first deadline.
        let (near, _far) = tokio::io::duplex(64);
        let mut stream = IdleTimeout::new(near, timeout);
        ends_after(&mut stream, timeout).await;
    }
}
