//! A TCP proxy that tests put between chatcore and PostgreSQL to cause outages without
//! touching the database server, which other tests share.
//!
//! It can [`pause`](Proxy::pause) (connections stay open but no byte passes: a network
//! partition), [`drop_all`](Proxy::drop_all) (every connection is closed at once: a server
//! restart as clients see it), [`refuse`](Proxy::refuse) (the port is closed, so connecting
//! gets "connection refused": a stopped server), and [`resume`](Proxy::resume).

#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The PostgreSQL server's address, from the database URL (what a proxy forwards to).
pub fn server_address(url: &str) -> SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let host_port = rest
        .split(['/', '?'])
        .next()
        .unwrap()
        .rsplit('@')
        .next()
        .unwrap();
    let with_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    with_port
        .replace("localhost", "127.0.0.1")
        .parse()
        .expect("a numeric PostgreSQL address")
}

/// `url` with its host and port replaced by `address` (the proxy's), so that a client of that
/// URL reaches the database through the proxy.
pub fn through(url: &str, address: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let credentials = authority
        .rsplit_once('@')
        .map(|(credentials, _)| format!("{credentials}@"))
        .unwrap_or_default();
    format!("{scheme}://{credentials}{address}{path}")
}

/// A running proxy; it stops, closing every connection, when dropped.
pub struct Proxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    accepting: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    upstream: SocketAddr,
    /// While `true`, no byte is forwarded and new connections wait.
    paused: watch::Sender<bool>,
    /// Bumped to close every open connection.
    generation: watch::Sender<u64>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            upstream,
            paused: watch::channel(false).0,
            generation: watch::channel(0).0,
        });
        let accepting = tokio::spawn(accept(listener, shared.clone()));
        Proxy {
            address,
            shared,
            accepting: Mutex::new(Some(accepting)),
        }
    }

    /// The proxy's address; connect here instead of to the upstream.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Holds every byte, in both directions, on every connection (open or new) until
    /// [`resume`](Proxy::resume).
    pub fn pause(&self) {
        self.shared.paused.send_replace(true);
    }

    /// Closes every open connection (both sides) at once.
    pub fn drop_all(&self) {
        self.shared
            .generation
            .send_modify(|generation| *generation += 1);
    }

    /// Closes the listening port: connecting is refused until [`resume`](Proxy::resume).
    pub fn refuse(&self) {
        if let Some(accepting) = self.accepting.lock().expect("proxy lock").take() {
            // Dropping the task drops its listener, which closes the port.
            accepting.abort();
        }
    }

    /// Forwards again, and listens again on the same port if it was closed.
    pub async fn resume(&self) {
        let closed = self.accepting.lock().expect("proxy lock").is_none();
        if closed {
            let listener = bind_again(self.address).await;
            let accepting = tokio::spawn(accept(listener, self.shared.clone()));
            *self.accepting.lock().expect("proxy lock") = Some(accepting);
        }
        self.shared.paused.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.refuse();
        self.drop_all();
    }
}

/// Binds the port that was just closed (an aborted task drops its listener a moment later).
async fn bind_again(address: SocketAddr) -> TcpListener {
    let mut last_error = None;
    for _ in 0..100 {
        match TcpListener::bind(address).await {
            Ok(listener) => return listener,
            Err(error) => last_error = Some(error),
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("could not listen on {address} again: {last_error:?}");
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of file descriptors, say: try again shortly.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(forward(client, shared.clone()));
    }
}

/// Forwards one connection until either side closes it or [`Proxy::drop_all`] is called.
async fn forward(client: TcpStream, shared: Arc<Shared>) {
    let mut generation = shared.generation.subscribe();
    generation.mark_unchanged();
    let work = async {
        wait_unpaused(shared.paused.subscribe()).await;
        let Ok(server) = TcpStream::connect(shared.upstream).await else {
            return;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        tokio::select! {
            () = pipe(client_read, server_write, shared.paused.subscribe()) => {}
            () = pipe(server_read, client_write, shared.paused.subscribe()) => {}
        }
    };
    tokio::select! {
        () = work => {}
        _ = generation.changed() => {}
    }
    // Leaving drops both sockets: each side sees its connection closed.
}

async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, paused: watch::Receiver<bool>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        wait_unpaused(paused.clone()).await;
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

async fn wait_unpaused(mut paused: watch::Receiver<bool>) {
    let _ = paused.wait_for(|paused| !paused).await;
}
