//! The fan-out that this machine's loopback TCP allows without chatcore: one writer pushes a
//! frame of an event's size to each of K sockets, and readers on the other ends read them,
//! with nothing else done per delivery (no WebSocket framing, no JSON, no event stream).
//! Two shapes, each run for `--duration` seconds:
//!
//! - `blocking`: one thread writes each round's frames to every socket in turn, another reads
//!   them in the same order: the kernel's own cost per delivery, with no readiness polling
//!   and no task wake-ups;
//! - `tasks`: a Tokio runtime of two workers with a task per socket that writes each frame
//!   when a broadcast channel wakes it (as chatcore-server's subscribers are woken), and a
//!   second runtime of two workers with a task per socket that reads (as the load
//!   generator's readers do): the floor of the server's and the load generator's design.
//!
//! `cargo run --release -p chatcore-benches --bin loopback -- --sockets 1000`

// A measuring tool: a failed socket call ends it with its reason.
#![allow(clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What to measure.
#[derive(Parser, Debug)]
struct Args {
    /// Sockets (subscribers).
    #[arg(long, default_value_t = 1000)]
    sockets: usize,
    /// Bytes per frame (the `fanout` scenario's `message_created` frames are about 470: 460
    /// bytes of JSON and the frame's header).
    #[arg(long, default_value_t = 470)]
    bytes: usize,
    /// `tasks`: how many frames the sender may be ahead of the slowest subscriber (1: each
    /// frame reaches every subscriber before the next is sent).
    #[arg(long, default_value_t = 64)]
    ahead: u64,
    /// Seconds per shape.
    #[arg(long, default_value_t = 5)]
    duration: u64,
}

/// Connected pairs: (the writer's end, the reader's end), both without Nagle's delay.
fn pairs(count: usize) -> Vec<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    (0..count)
        .map(|_| {
            let reader = TcpStream::connect(address).expect("connect");
            let (writer, _) = listener.accept().expect("accept");
            writer.set_nodelay(true).expect("nodelay");
            reader.set_nodelay(true).expect("nodelay");
            (writer, reader)
        })
        .collect()
}

fn blocking(args: &Args) -> f64 {
    let (writers, readers): (Vec<_>, Vec<_>) = pairs(args.sockets).into_iter().unzip();
    let stop = Arc::new(AtomicBool::new(false));
    let frame = vec![b'x'; args.bytes];
    let writing = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut writers = writers;
            while !stop.load(Ordering::Relaxed) {
                for socket in &mut writers {
                    socket.write_all(&frame).expect("write");
                }
            }
            writers
        })
    };
    let started = Instant::now();
    let mut readers = readers;
    let mut buffer = vec![0; args.bytes];
    let mut delivered = 0u64;
    while started.elapsed() < Duration::from_secs(args.duration) {
        for socket in &mut readers {
            socket.read_exact(&mut buffer).expect("read");
        }
        delivered += readers.len() as u64;
    }
    let rate = delivered as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    // Drain until the writer has stopped, so that its last round does not block.
    for reader in &readers {
        reader.set_nonblocking(true).expect("nonblocking");
    }
    while !writing.is_finished() {
        for socket in &mut readers {
            let _ = socket.read(&mut buffer);
        }
    }
    rate
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn tasks(args: &Args) -> f64 {
    let (writers, readers): (Vec<_>, Vec<_>) = pairs(args.sockets).into_iter().unzip();
    let (server, client) = (runtime(), runtime());
    let delivered = Arc::new(AtomicU64::new(0));
    let (events, _) = tokio::sync::broadcast::channel::<Arc<[u8]>>(1024);
    for socket in writers {
        socket.set_nonblocking(true).expect("nonblocking");
        let mut receiver = events.subscribe();
        server.spawn(async move {
            let mut socket = tokio::net::TcpStream::from_std(socket).expect("socket");
            while let Ok(frame) = receiver.recv().await {
                if socket.write_all(&frame).await.is_err() {
                    return;
                }
            }
        });
    }
    for socket in readers {
        socket.set_nonblocking(true).expect("nonblocking");
        let (delivered, bytes) = (delivered.clone(), args.bytes);
        client.spawn(async move {
            let mut socket = tokio::net::TcpStream::from_std(socket).expect("socket");
            let mut buffer = vec![0; bytes];
            while socket.read_exact(&mut buffer).await.is_ok() {
                delivered.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    // One sender, as fast as the subscribers keep up, at most `ahead` frames ahead of them.
    let frame: Arc<[u8]> = vec![b'x'; args.bytes].into();
    let sockets = args.sockets as u64;
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < Duration::from_secs(args.duration) {
        if sent * sockets < delivered.load(Ordering::Relaxed) + args.ahead * sockets {
            let _ = events.send(frame.clone());
            sent += 1;
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    let rate = delivered.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    drop(events);
    server.shutdown_background();
    client.shutdown_background();
    rate
}

fn main() {
    let args = Args::parse();
    println!(
        "{} sockets, {}-byte frames, {} s per shape, tasks up to {} frames ahead",
        args.sockets, args.bytes, args.duration, args.ahead
    );
    println!("blocking: {:>9.0} deliveries/s", blocking(&args));
    println!("tasks:    {:>9.0} deliveries/s", tasks(&args));
}
