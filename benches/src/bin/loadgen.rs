//! `loadgen`: drives a running chatcore server over HTTP and WebSocket with many users, each
//! with its own session, and reports throughput and latency.
//!
//! ```sh
//! cargo run --release -p chatcore-http &                       # the server, port 3000
//! cargo run --release -p chatcore-benches --bin loadgen -- --scenario send --connections 64
//! ```
//!
//! Scenarios: `healthz` (the reference), `send`, `history`, `chats`, `login`, `mixed`,
//! `fanout` (one group, K WebSocket subscribers: send-to-receive latency and deliveries per
//! second), `login-storm` (send latency alone, then with as many connections logging in),
//! `idle` (N idle WebSocket connections; the server's resident memory, given `--server-pid`),
//! `avatar` (each connection uploads the costliest avatar inside the server's pixel budget
//! over and over, while one more sends images just over the budget; latency of both, and the
//! server's peak resident memory during the run, given `--server-pid`) and `argon2` (the reference for `login`: argon2id with chatcore's parameters verifying in a
//! plain loop on every core, no server involved). Each run prints progress every second and a
//! summary, and writes `<out>/<scenario>.json`, `<out>/<scenario>.md` and a latency plot
//! `<out>/<scenario>.svg`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// How `fanout`'s subscribers listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Transport {
    /// `GET /api/v1/events` as a WebSocket.
    Websocket,
    /// `/socket.io/` (Engine.IO 4 over WebSocket), events pushed as `message add`.
    Socketio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "kebab-case")]
enum Scenario {
    Healthz,
    Send,
    History,
    Chats,
    Login,
    Mixed,
    Fanout,
    LoginStorm,
    Idle,
    Argon2,
    Avatar,
}

/// The image the `avatar` scenario uploads, all at the server's pixel budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "kebab-case")]
enum AvatarImage {
    /// PNG, RGBA at 16 bits a sample: the most data to inflate per pixel (the default).
    PngRgba16,
    /// PNG, grey at 8 bits (the smallest upload for its pixel count).
    PngGray8,
    /// JPEG, baseline, as the `image` crate writes it (its default quality).
    Jpeg,
    /// JPEG, progressive, 4:4:4 (every coefficient is kept until the last scan: the costliest
    /// JPEG to decode in memory), written by hand by chatcore's test samples.
    JpegProgressive,
    /// WebP, lossless.
    Webp,
    /// GIF (one frame, two colours).
    Gif,
}

#[derive(Debug, Clone, Parser)]
#[command(about = "Load generator for a running chatcore server")]
struct Args {
    /// The server.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    /// What to measure.
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Concurrent connections (one user, with its own session, per connection).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds of measurement (after setup).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Chats per user for `chats`.
    #[arg(long, default_value_t = 500)]
    chats: usize,
    /// WebSocket subscribers for `fanout`.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Messages per second sent for `fanout` (0: as fast as one sender goes).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// How `fanout`'s subscribers listen: the event WebSocket, or Socket.IO over WebSocket.
    #[arg(long, value_enum, default_value_t = Transport::Websocket)]
    transport: Transport,
    /// The server's process id, to read its resident memory (`idle`).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Distinct users whose sessions the `idle` connections share.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Where the reports go.
    #[arg(long, default_value = "target/loadgen")]
    out: PathBuf,
    /// The server's avatar pixel budget (`Options::max_avatar_pixels`), for `avatar`.
    #[arg(long, default_value_t = 4096 * 4096)]
    max_pixels: u64,
    /// What `avatar` uploads.
    #[arg(long, value_enum, default_value_t = AvatarImage::PngRgba16)]
    avatar_image: AvatarImage,
}

/// One signed-in user.
#[derive(Clone)]
struct User {
    name: String,
    token: String,
    id: String,
}

struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    fn new(url: &str, connections: usize) -> Api {
        Api {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(connections)
                .build()
                .unwrap(),
            url: url.trim_end_matches('/').to_owned(),
        }
    }

    async fn register(&self, prefix: &str, i: usize) -> User {
        let name = format!("{prefix}{i}");
        let body: Value = self
            .http
            .post(format!("{}/api/v1/auth/register", self.url))
            .json(&json!({"username": name, "password": format!("{name} long secret")}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        User {
            name,
            token: body["session"]["token"].as_str().unwrap().to_owned(),
            id: body["user"]["id"].as_str().unwrap().to_owned(),
        }
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> Value {
        self.http
            .post(format!("{}/api/v1{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null)
    }
}

/// What one request of a scenario is.
#[derive(Clone)]
enum Request {
    Get {
        path: String,
        token: Option<String>,
    },
    Post {
        path: String,
        token: Option<String>,
        body: Value,
    },
}

/// Everything a worker needs: its user's requests for the scenario.
#[derive(Clone)]
struct Worker {
    requests: Vec<Request>,
}

/// A small read buffer: every read attempt zero-fills the whole buffer first (the library's
/// default is 128 KiB), and the load generator shares the cores with the server it measures.
/// Events are well under 2 KiB.
fn client_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(2 * 1024)
}

/// A unique prefix per run, so runs against the same server do not collide.
fn run_prefix() -> String {
    let now = chrono::Utc::now().timestamp_millis() % 1_000_000_000;
    format!("lg{now}u")
}

async fn setup(api: &Api, args: &Args) -> Vec<Worker> {
    let prefix = run_prefix();
    let users: Vec<User> = futures::stream::iter(0..args.connections)
        .map(|i| api.register(&prefix, i))
        .buffer_unordered(8)
        .collect()
        .await;
    let mut workers = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let partner = &users[(i + 1) % users.len()];
        let token = Some(user.token.clone());
        let requests = match args.scenario {
            Scenario::Healthz => vec![Request::Get {
                path: "/healthz".to_owned(),
                token: None,
            }],
            Scenario::Login => vec![Request::Post {
                path: "/api/v1/auth/login".to_owned(),
                token: None,
                body: json!({"login": user.name, "password": format!("{} long secret", user.name)}),
            }],
            Scenario::Send | Scenario::History | Scenario::Mixed | Scenario::Chats => {
                let chat = api
                    .post(&user.token, "/chats/direct", json!({"user_id": partner.id}))
                    .await["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let messages = format!("/api/v1/chats/{chat}/messages");
                let send = Request::Post {
                    path: messages.clone(),
                    token: token.clone(),
                    body: json!({"text": "load test message"}),
                };
                let history = Request::Get {
                    path: format!("{messages}?limit=50"),
                    token: token.clone(),
                };
                let chats = Request::Get {
                    path: "/api/v1/chats?limit=50".to_owned(),
                    token: token.clone(),
                };
                match args.scenario {
                    Scenario::Send => vec![send],
                    Scenario::History => {
                        for _ in 0..60 {
                            api.post(
                                &user.token,
                                &messages[7..],
                                json!({"text": "history filler"}),
                            )
                            .await;
                        }
                        vec![history]
                    }
                    Scenario::Chats => {
                        // The first user owns the chat list being read; the others read it too
                        // through their own sessions would need their own lists: every user
                        // reads the list of a user with `--chats` chats, made once.
                        if i == 0 {
                            for g in 0..args.chats {
                                api.post(
                                    &user.token,
                                    "/chats/groups",
                                    json!({"title": format!("group {g}"), "members": [partner.id]}),
                                )
                                .await;
                            }
                        }
                        vec![Request::Get {
                            path: "/api/v1/chats?limit=50".to_owned(),
                            token: Some(users[0].token.clone()),
                        }]
                    }
                    _ => {
                        for _ in 0..60 {
                            api.post(
                                &user.token,
                                &messages[7..],
                                json!({"text": "history filler"}),
                            )
                            .await;
                        }
                        // Mostly reads, some sends, as a chat client does.
                        let mut mix = vec![history.clone(); 5];
                        mix.extend(vec![chats.clone(); 3]);
                        mix.extend(vec![send.clone(); 2]);
                        mix
                    }
                }
            }
            Scenario::Fanout
            | Scenario::LoginStorm
            | Scenario::Idle
            | Scenario::Argon2
            | Scenario::Avatar => Vec::new(),
        };
        workers.push(Worker { requests });
    }
    workers
}

struct Totals {
    done: AtomicU64,
    errors: AtomicU64,
}

async fn run_requests(
    api: Arc<Api>,
    workers: Vec<Worker>,
    args: &Args,
) -> (Histogram<u64>, Duration, u64, u64) {
    let totals = Arc::new(Totals {
        done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let histogram = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
    ));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in workers {
        let (api, totals, stop, histogram) =
            (api.clone(), totals.clone(), stop.clone(), histogram.clone());
        tasks.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let request = &worker.requests[i % worker.requests.len()];
                i += 1;
                let begun = Instant::now();
                let sent = match request {
                    Request::Get { path, token } => {
                        let mut builder = api.http.get(format!("{}{path}", api.url));
                        if let Some(token) = token {
                            builder = builder.bearer_auth(token);
                        }
                        builder.send().await
                    }
                    Request::Post { path, token, body } => {
                        let mut builder = api.http.post(format!("{}{path}", api.url)).json(body);
                        if let Some(token) = token {
                            builder = builder.bearer_auth(token);
                        }
                        builder.send().await
                    }
                };
                let ok = match sent {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        let _ = response.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                let micros = begun.elapsed().as_micros().max(1) as u64;
                let _ = local.record(micros.min(60_000_000));
                totals.done.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    totals.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            histogram.lock().await.add(&local).unwrap();
        }));
    }
    progress(&totals, started, args).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed();
    let histogram = Arc::try_unwrap(histogram).ok().unwrap().into_inner();
    (
        histogram,
        elapsed,
        totals.done.load(Ordering::Relaxed),
        totals.errors.load(Ordering::Relaxed),
    )
}

async fn progress(totals: &Totals, started: Instant, args: &Args) {
    let mut last = 0;
    for second in 1..=args.duration {
        tokio::time::sleep_until((started + Duration::from_secs(second)).into()).await;
        let done = totals.done.load(Ordering::Relaxed);
        eprintln!(
            "[{:?}] {second:>3}s  {done:>9} requests  {:>8} req/s  {} errors",
            args.scenario,
            done - last,
            totals.errors.load(Ordering::Relaxed)
        );
        last = done;
    }
}

/// `fanout`: K subscribers of one group over WebSocket; one sender. Latency is from the send
/// request leaving to each subscriber receiving the event.
async fn run_fanout(api: Arc<Api>, args: &Args) -> Outcome {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let prefix = run_prefix();
    let sender = api.register(&prefix, 0).await;
    let members: Vec<User> = futures::stream::iter(1..=args.subscribers)
        .map(|i| {
            let api = api.clone();
            let prefix = prefix.clone();
            async move { api.register(&prefix, i).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    // A group lists at most 100 members at its creation; the rest are added one by one.
    let (first, rest) = members.split_at(members.len().min(100));
    let group = api
        .post(
            &sender.token,
            "/chats/groups",
            json!({"title": "fanout", "members": first.iter().map(|m| m.id.clone()).collect::<Vec<_>>()}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    futures::stream::iter(rest)
        .map(|member| {
            let (api, token, path) = (
                api.clone(),
                &sender.token,
                format!("/chats/{group}/members"),
            );
            async move { api.post(token, &path, json!({"user_id": member.id})).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let origin = Instant::now();
    let histogram = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
    ));
    let delivered = Arc::new(AtomicU64::new(0));
    let ws_url = api.url.replace("http://", "ws://");
    let mut readers = Vec::new();
    for member in &members {
        let url = match args.transport {
            Transport::Websocket => format!("{ws_url}/api/v1/events?access_token={}", member.token),
            Transport::Socketio => format!("{ws_url}/socket.io/?EIO=4&transport=websocket"),
        };
        // Not split into halves: a reader only writes to answer a ping, so one owner
        // suffices, without a lock between halves taken at every frame.
        let (mut socket, _) =
            tokio_tungstenite::connect_async_with_config(url, Some(client_config()), false)
                .await
                .unwrap();
        if args.transport == Transport::Socketio {
            // Engine.IO's open packet, then Socket.IO's connect with the token.
            let _open = socket.next().await;
            let connect = format!("40{}", json!({"token": member.token}));
            socket.send(Message::text(connect)).await.unwrap();
            // Connected (and following the member's events) once `40{"sid": ...}` arrives.
            while let Some(Ok(frame)) = socket.next().await {
                if frame.to_text().is_ok_and(|text| text.starts_with("40")) {
                    break;
                }
            }
        }
        let (histogram, delivered) = (histogram.clone(), delivered.clone());
        readers.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            while let Some(Ok(frame)) = socket.next().await {
                let Message::Text(text) = frame else { continue };
                // The event's kind and text, read in place (no JSON tree per frame: the
                // load generator shares the cores with the server).
                let event = match text.as_str() {
                    // Engine.IO's ping: answer it, or the server closes the socket.
                    "2" => {
                        let _ = socket.send(Message::text("3")).await;
                        continue;
                    }
                    // A Socket.IO event: `42["message add", event]`.
                    socketio if socketio.starts_with("42") => {
                        serde_json::from_str::<(IgnoredAny, Pushed)>(&socketio[2..])
                            .map(|(_, event)| event)
                    }
                    websocket => serde_json::from_str::<Pushed>(websocket),
                };
                let Ok(event) = event else { continue };
                if event.kind != "message_created" {
                    continue;
                }
                let text = event.data.text.unwrap_or_default();
                if text == "stop" {
                    break;
                }
                let sent_at: u64 = text.parse().unwrap_or(0);
                let now = origin.elapsed().as_micros() as u64;
                let _ = local.record(now.saturating_sub(sent_at).clamp(1, 60_000_000));
                delivered.fetch_add(1, Ordering::Relaxed);
            }
            histogram.lock().await.add(&local).unwrap();
        }));
    }
    eprintln!("[fanout] {} subscribers connected", members.len());
    let started = Instant::now();
    let sent = Arc::new(AtomicU64::new(0));
    let totals = Totals {
        done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    };
    let path = format!("/chats/{group}/messages");
    let sending = {
        let (api, sent, path, token) = (
            api.clone(),
            sent.clone(),
            path.clone(),
            sender.token.clone(),
        );
        let (duration, rate) = (args.duration, args.rate);
        tokio::spawn(async move {
            let gap = (rate > 0).then(|| Duration::from_micros(1_000_000 / rate));
            while started.elapsed() < Duration::from_secs(duration) {
                let stamp = origin.elapsed().as_micros().to_string();
                api.post(&token, &path, json!({"text": stamp})).await;
                sent.fetch_add(1, Ordering::Relaxed);
                if let Some(gap) = gap {
                    tokio::time::sleep(gap).await;
                }
            }
            api.post(&token, &path, json!({"text": "stop"})).await;
        })
    };
    let mut last = 0;
    for second in 1..=args.duration {
        tokio::time::sleep_until((started + Duration::from_secs(second)).into()).await;
        let now = delivered.load(Ordering::Relaxed);
        eprintln!(
            "[fanout] {second:>3}s  {} sent  {:>9} deliveries/s",
            sent.load(Ordering::Relaxed),
            now - last
        );
        last = now;
    }
    sending.await.unwrap();
    for reader in readers {
        let _ = tokio::time::timeout(Duration::from_secs(30), reader).await;
    }
    let elapsed = started.elapsed();
    totals
        .done
        .store(delivered.load(Ordering::Relaxed), Ordering::Relaxed);
    let histogram = Arc::try_unwrap(histogram).ok().unwrap().into_inner();
    let mut outcome = Outcome::new((histogram, elapsed, totals.done.load(Ordering::Relaxed), 0));
    let sent = sent.load(Ordering::Relaxed);
    outcome
        .extra
        .insert("subscribers".into(), json!(members.len()));
    outcome.extra.insert("sends".into(), json!(sent));
    outcome.extra.insert(
        "sends_per_s".into(),
        json!(sent as f64 / elapsed.as_secs_f64()),
    );
    outcome
        .extra
        .insert("requested_rate".into(), json!(args.rate));
    outcome
}

/// What `fanout` reads of a pushed event, borrowed from the frame.
#[derive(serde::Deserialize)]
struct Pushed<'a> {
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    data: PushedData<'a>,
}

#[derive(serde::Deserialize, Default)]
struct PushedData<'a> {
    #[serde(borrow, default)]
    text: Option<std::borrow::Cow<'a, str>>,
}

/// A run's outcome: its latency histogram, how long it took, requests done and failed, and
/// figures particular to the scenario.
struct Outcome {
    histogram: Histogram<u64>,
    elapsed: Duration,
    done: u64,
    errors: u64,
    extra: serde_json::Map<String, Value>,
}

impl Outcome {
    fn new((histogram, elapsed, done, errors): (Histogram<u64>, Duration, u64, u64)) -> Outcome {
        Outcome {
            histogram,
            elapsed,
            done,
            errors,
            extra: serde_json::Map::new(),
        }
    }
}

fn report(args: &Args, outcome: &Outcome) {
    let Outcome {
        histogram,
        elapsed,
        done,
        errors,
        extra,
    } = outcome;
    let (elapsed, done, errors) = (*elapsed, *done, *errors);
    let ms = |micros: u64| micros as f64 / 1000.0;
    let throughput = done as f64 / elapsed.as_secs_f64();
    let unit = match args.scenario {
        Scenario::Fanout => "deliveries/s",
        Scenario::Idle => "connections/s",
        Scenario::Argon2 => "verifications/s",
        _ => "req/s",
    };
    let summary = json!({
        "scenario": args.scenario.to_possible_value().unwrap().get_name(),
        "url": args.url,
        "connections": args.connections,
        "subscribers": (args.scenario == Scenario::Fanout).then_some(args.subscribers),
        "transport": (args.scenario == Scenario::Fanout).then_some(format!("{:?}", args.transport).to_lowercase()),
        "seconds": elapsed.as_secs_f64(),
        "count": done,
        "errors": errors,
        "throughput": throughput,
        "throughput_unit": unit,
        "latency_ms": {
            "p50": ms(histogram.value_at_quantile(0.50)),
            "p90": ms(histogram.value_at_quantile(0.90)),
            "p99": ms(histogram.value_at_quantile(0.99)),
            "p999": ms(histogram.value_at_quantile(0.999)),
            "max": ms(histogram.max()),
        },
        "extra": extra,
    });
    println!("{}", serde_json::to_string_pretty(&summary).unwrap());
    std::fs::create_dir_all(&args.out).unwrap();
    let name = summary["scenario"].as_str().unwrap().to_owned();
    std::fs::write(args.out.join(format!("{name}.json")), summary.to_string()).unwrap();
    let extra_rows: String = extra
        .iter()
        .map(|(key, value)| format!("| {key} | {value} |\n"))
        .collect();
    let markdown = format!(
        "# {name}\n\n| metric | value |\n|---|---|\n| throughput | {throughput:.0} {unit} |\n| count | {done} |\n| errors | {errors} |\n| p50 | {:.2} ms |\n| p90 | {:.2} ms |\n| p99 | {:.2} ms |\n| max | {:.2} ms |\n{extra_rows}\n![latency]({name}.svg)\n",
        ms(histogram.value_at_quantile(0.5)),
        ms(histogram.value_at_quantile(0.9)),
        ms(histogram.value_at_quantile(0.99)),
        ms(histogram.max()),
    );
    std::fs::write(args.out.join(format!("{name}.md")), markdown).unwrap();
    plot(&args.out.join(format!("{name}.svg")), &name, histogram);
}

/// The latency distribution: latency (ms) at each percentile, as an SVG line chart.
fn plot(path: &std::path::Path, name: &str, histogram: &Histogram<u64>) {
    use plotters::prelude::*;
    let points: Vec<(f64, f64)> = (0..=1000)
        .map(|i| {
            let quantile = f64::from(i) / 1000.0;
            (
                quantile * 100.0,
                histogram.value_at_quantile(quantile) as f64 / 1000.0,
            )
        })
        .collect();
    let top = points
        .iter()
        .map(|point| point.1)
        .fold(0.0, f64::max)
        .max(0.001)
        * 1.05;
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{name}: latency by percentile"), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..100.0, 0.0..top)
        .unwrap();
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .draw()
        .unwrap();
    chart.draw_series(LineSeries::new(points, &BLUE)).unwrap();
    root.present().unwrap();
}

/// `login-storm`: send latency over `--connections` senders, alone, then while as many other
/// connections log in as fast as they can. The report's histogram is the sends during the
/// storm; `extra` compares the p99s.
async fn run_login_storm(api: Arc<Api>, args: &Args) -> Outcome {
    let as_scenario = |scenario| Args {
        scenario,
        ..args.clone()
    };
    let (send_args, login_args) = (as_scenario(Scenario::Send), as_scenario(Scenario::Login));
    let senders = setup(&api, &send_args).await;
    let loggers = setup(&api, &login_args).await;
    eprintln!("[login-storm] sends alone");
    let calm = run_requests(api.clone(), senders.clone(), &send_args).await;
    eprintln!("[login-storm] sends during the login storm");
    let (storm, logins) = tokio::join!(
        run_requests(api.clone(), senders, &send_args),
        run_requests(api.clone(), loggers, &login_args)
    );
    let p99 = |histogram: &Histogram<u64>| histogram.value_at_quantile(0.99) as f64 / 1000.0;
    let mut outcome = Outcome::new(storm);
    let (calm_p99, storm_p99) = (p99(&calm.0), p99(&outcome.histogram));
    let extra = &mut outcome.extra;
    extra.insert(
        "send_alone_req_per_s".into(),
        json!(calm.2 as f64 / calm.1.as_secs_f64()),
    );
    extra.insert("send_alone_p99_ms".into(), json!(calm_p99));
    extra.insert("send_in_storm_p99_ms".into(), json!(storm_p99));
    extra.insert("p99_ratio".into(), json!(storm_p99 / calm_p99));
    extra.insert(
        "logins_per_s_in_storm".into(),
        json!(logins.2 as f64 / logins.1.as_secs_f64()),
    );
    extra.insert("login_errors".into(), json!(logins.3));
    outcome
}

/// The resident memory of a process, in MiB, from `/proc`.
fn rss_mib(pid: Option<u32>) -> Option<f64> {
    proc_status_mib(pid, "VmRSS:")
}

/// A memory figure (`VmRSS:`, `VmHWM:`) of a process's `/proc/<pid>/status`, in MiB.
fn proc_status_mib(pid: Option<u32>, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The image `avatar` uploads: `kind`, with as many pixels as `max_pixels` allows (width
/// 4096 or less), mostly flat colour so that it compresses well.
fn worst_avatar(kind: AvatarImage, max_pixels: u64) -> (u32, u32, Vec<u8>) {
    let width = 4096.min(max_pixels) as u32;
    let height = (max_pixels / u64::from(width)) as u32;
    (width, height, avatar_image(kind, width, height))
}

/// The same kind of image one pixel column over the budget (eight for the hand-made
/// progressive JPEG, whose sides are whole blocks), refused from its header.
fn over_budget_avatar(kind: AvatarImage, max_pixels: u64) -> Vec<u8> {
    let columns = if kind == AvatarImage::JpegProgressive {
        8
    } else {
        1
    };
    let width = 4096.min(max_pixels) as u32 + columns;
    let height = max_pixels.div_ceil(u64::from(width - columns)) as u32;
    avatar_image(kind, width, height)
}

/// A `width`×`height` image of `kind`: two flat colours.
fn avatar_image(kind: AvatarImage, width: u32, height: u32) -> Vec<u8> {
    use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, Rgb, Rgba};
    let red = |x: u32, y: u32| x < width / 3 && y < height / 2;
    if kind == AvatarImage::JpegProgressive {
        use chatcore::testkit::{JpegCoding, JpegColor, handmade_jpeg};
        let (w, h) = (
            u16::try_from(width).unwrap(),
            u16::try_from(height).unwrap(),
        );
        return handmade_jpeg(w, h, JpegCoding::Progressive, JpegColor::YCbCr, |x, y| {
            if red(x, y) {
                [220, 30, 30]
            } else {
                [20, 80, 200]
            }
        });
    }
    let image = match kind {
        AvatarImage::PngRgba16 => {
            DynamicImage::ImageRgba16(ImageBuffer::from_fn(width, height, |x, y| {
                if red(x, y) {
                    Rgba([56_000, 7_700, 7_700, 65_535])
                } else {
                    Rgba([5_000, 20_000, 51_000, 65_535])
                }
            }))
        }
        AvatarImage::PngGray8 => {
            DynamicImage::ImageLuma8(ImageBuffer::from_fn(width, height, |x, y| {
                Luma([if red(x, y) { 90 } else { 160 }])
            }))
        }
        // The GIF encoder takes RGBA; with two colours it needs no quantizing.
        AvatarImage::Gif => {
            DynamicImage::ImageRgba8(ImageBuffer::from_fn(width, height, |x, y| {
                if red(x, y) {
                    Rgba([220, 30, 30, 255])
                } else {
                    Rgba([20, 80, 200, 255])
                }
            }))
        }
        AvatarImage::Jpeg | AvatarImage::JpegProgressive | AvatarImage::Webp => {
            DynamicImage::ImageRgb8(ImageBuffer::from_fn(width, height, |x, y| {
                if red(x, y) {
                    Rgb([220, 30, 30])
                } else {
                    Rgb([20, 80, 200])
                }
            }))
        }
    };
    let format = match kind {
        AvatarImage::PngRgba16 | AvatarImage::PngGray8 => ImageFormat::Png,
        AvatarImage::Jpeg | AvatarImage::JpegProgressive => ImageFormat::Jpeg,
        AvatarImage::Webp => ImageFormat::WebP,
        AvatarImage::Gif => ImageFormat::Gif,
    };
    let mut bytes = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut bytes), format)
        .unwrap();
    bytes
}

/// `avatar`: `--connections` users upload the costliest image inside the pixel budget back to
/// back, raw body, while one more user sends the same kind of image just over the budget
/// every 100 ms. The
/// histogram is the accepted uploads'; `extra` has the refusals' latency, 503s, and the
/// server's resident memory before and at its peak during the run (`VmHWM`, reset first).
async fn run_avatar(api: Arc<Api>, args: &Args) -> Outcome {
    let prefix = run_prefix();
    let users: Vec<User> = futures::stream::iter(0..=args.connections)
        .map(|i| api.register(&prefix, i))
        .buffer_unordered(8)
        .collect()
        .await;
    let (width, height, image) = worst_avatar(args.avatar_image, args.max_pixels);
    let over = over_budget_avatar(args.avatar_image, args.max_pixels);
    eprintln!(
        "[avatar] uploading {width}×{height} {:?} ({} bytes); over the budget: {} bytes",
        args.avatar_image,
        image.len(),
        over.len()
    );
    let upload = |token: String, body: reqwest::Body| {
        api.http
            .put(format!("{}/api/v1/users/me/avatar", api.url))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };
    // One upload first, so that the run measures the steady state.
    let warm = upload(users[0].token.clone(), image.clone().into())
        .await
        .unwrap();
    assert!(
        warm.status().is_success(),
        "warm-up upload: {}",
        warm.status()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The peak from here on: writing 5 to clear_refs resets VmHWM to the current RSS.
    let reset = args
        .server_pid
        .map(|pid| std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok());
    let rss_before = rss_mib(args.server_pid);
    let hwm_before = proc_status_mib(args.server_pid, "VmHWM:");
    let stop = Arc::new(AtomicBool::new(false));
    let unavailable = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut uploaders = Vec::new();
    for user in users.iter().take(args.connections) {
        let (api, stop, unavailable, image, token) = (
            api.clone(),
            stop.clone(),
            unavailable.clone(),
            image.clone(),
            user.token.clone(),
        );
        uploaders.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let (mut done, mut errors) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let begun = Instant::now();
                let response = api
                    .http
                    .put(format!("{}/api/v1/users/me/avatar", api.url))
                    .bearer_auth(&token)
                    .header("content-type", "application/octet-stream")
                    .body(image.clone())
                    .send()
                    .await;
                let status = match response {
                    Ok(response) => {
                        let status = response.status();
                        let _ = response.bytes().await;
                        Some(status)
                    }
                    Err(_) => None,
                };
                let _ = local.record(begun.elapsed().as_micros().clamp(1, 60_000_000) as u64);
                done += 1;
                if status != Some(reqwest::StatusCode::OK) {
                    errors += 1;
                }
                if status == Some(reqwest::StatusCode::SERVICE_UNAVAILABLE) {
                    unavailable.fetch_add(1, Ordering::Relaxed);
                }
            }
            (local, done, errors)
        }));
    }
    let refusals = {
        let (api, stop, over, token) = (
            api.clone(),
            stop.clone(),
            over.clone(),
            users[args.connections].token.clone(),
        );
        tokio::spawn(async move {
            let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let mut wrong = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let begun = Instant::now();
                let response = api
                    .http
                    .put(format!("{}/api/v1/users/me/avatar", api.url))
                    .bearer_auth(&token)
                    .header("content-type", "application/octet-stream")
                    .body(over.clone())
                    .send()
                    .await;
                let refused = match response {
                    Ok(response) => {
                        let status = response.status();
                        let body = response.text().await.unwrap_or_default();
                        status == reqwest::StatusCode::BAD_REQUEST && body.contains("invalid_file")
                    }
                    Err(_) => false,
                };
                let _ = local.record(begun.elapsed().as_micros().clamp(1, 60_000_000) as u64);
                if !refused {
                    wrong += 1;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (local, wrong)
        })
    };
    for second in 1..=args.duration {
        tokio::time::sleep_until((started + Duration::from_secs(second)).into()).await;
        eprintln!(
            "[avatar] {second:>3}s  peak RSS {:.0} MiB",
            proc_status_mib(args.server_pid, "VmHWM:").unwrap_or(0.0)
        );
    }
    stop.store(true, Ordering::Relaxed);
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let (mut done, mut errors) = (0, 0);
    for uploader in uploaders {
        let (local, count, failed) = uploader.await.unwrap();
        histogram.add(&local).unwrap();
        done += count;
        errors += failed;
    }
    let elapsed = started.elapsed();
    let (refused, wrong) = refusals.await.unwrap();
    let hwm_after = proc_status_mib(args.server_pid, "VmHWM:");
    let mut outcome = Outcome::new((histogram, elapsed, done, errors));
    let ms = |micros: u64| micros as f64 / 1000.0;
    let extra = &mut outcome.extra;
    extra.insert("image".into(), json!(format!("{:?}", args.avatar_image)));
    extra.insert("image_pixels".into(), json!(format!("{width}x{height}")));
    extra.insert("image_bytes".into(), json!(image.len()));
    extra.insert("over_budget_bytes".into(), json!(over.len()));
    extra.insert("max_pixels".into(), json!(args.max_pixels));
    extra.insert(
        "unavailable_503".into(),
        json!(unavailable.load(Ordering::Relaxed)),
    );
    extra.insert("over_budget_count".into(), json!(refused.len()));
    extra.insert("over_budget_not_refused".into(), json!(wrong));
    extra.insert(
        "over_budget_p50_ms".into(),
        json!(ms(refused.value_at_quantile(0.5))),
    );
    extra.insert(
        "over_budget_p99_ms".into(),
        json!(ms(refused.value_at_quantile(0.99))),
    );
    extra.insert("over_budget_max_ms".into(), json!(ms(refused.max())));
    extra.insert("server_hwm_reset".into(), json!(reset));
    extra.insert("server_rss_before_mib".into(), json!(rss_before));
    extra.insert("server_hwm_before_mib".into(), json!(hwm_before));
    extra.insert("server_hwm_during_mib".into(), json!(hwm_after));
    if let (Some(before), Some(peak)) = (rss_before, hwm_after) {
        extra.insert("server_rss_growth_mib".into(), json!(peak - before));
    }
    outcome
}

/// `idle`: `--connections` WebSocket subscriptions that stay open and quiet, shared among
/// `--users` users; reports the server's resident memory before and after.
async fn run_idle(api: Arc<Api>, args: &Args) -> Outcome {
    let prefix = run_prefix();
    let users: Vec<User> = futures::stream::iter(0..args.users.max(1))
        .map(|i| api.register(&prefix, i))
        .buffer_unordered(8)
        .collect()
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_mib(args.server_pid);
    let ws_url = api.url.replace("http://", "ws://");
    let histogram = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
    ));
    let connected = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let readers: Vec<_> = futures::stream::iter(0..args.connections)
        .map(|i| {
            let url = format!(
                "{ws_url}/api/v1/events?access_token={}",
                users[i % users.len()].token
            );
            let (histogram, connected, failed) =
                (histogram.clone(), connected.clone(), failed.clone());
            async move {
                let begun = Instant::now();
                match tokio_tungstenite::connect_async_with_config(
                    url,
                    Some(client_config()),
                    false,
                )
                .await
                {
                    Ok((socket, _)) => {
                        let micros = begun.elapsed().as_micros().max(1) as u64;
                        let _ = histogram.lock().await.record(micros.min(60_000_000));
                        let count = connected.fetch_add(1, Ordering::Relaxed) + 1;
                        if count % 1000 == 0 {
                            eprintln!("[idle] {count} connected");
                        }
                        // Reading answers the server's pings.
                        Some(tokio::spawn(async move {
                            let (_, mut incoming) = socket.split();
                            while let Some(Ok(_)) = incoming.next().await {}
                        }))
                    }
                    Err(error) => {
                        if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("[idle] a connection failed: {error}");
                        }
                        None
                    }
                }
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let elapsed = started.elapsed();
    eprintln!(
        "[idle] {} connected in {elapsed:.1?}; holding for {} s",
        connected.load(Ordering::Relaxed),
        args.duration
    );
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    let after = rss_mib(args.server_pid);
    let open = readers
        .iter()
        .flatten()
        .filter(|task| !task.is_finished())
        .count();
    let histogram = Arc::try_unwrap(histogram).ok().unwrap().into_inner();
    let mut outcome = Outcome::new((
        histogram,
        elapsed,
        connected.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    ));
    let extra = &mut outcome.extra;
    extra.insert("still_open".into(), json!(open));
    extra.insert("server_rss_before_mib".into(), json!(before));
    extra.insert("server_rss_after_mib".into(), json!(after));
    if let (Some(before), Some(after)) = (before, after) {
        extra.insert(
            "kib_per_connection".into(),
            json!((after - before) * 1024.0 / args.connections.max(1) as f64),
        );
    }
    for task in readers.into_iter().flatten() {
        task.abort();
    }
    outcome
}

/// `argon2`: the reference for `login`: what argon2id with chatcore's parameters (the argon2
/// crate's defaults) verifies per second in a plain loop, one thread per core.
fn run_argon2(args: &Args) -> Outcome {
    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
    let salt = SaltString::encode_b64(b"loadgen salt 16b").unwrap();
    let phc = argon2::Argon2::default()
        .hash_password(b"loadgen password", &salt)
        .unwrap()
        .to_string();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let started = Instant::now();
    let histograms: Vec<Histogram<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let phc = phc.clone();
                scope.spawn(move || {
                    let parsed = PasswordHash::new(&phc).unwrap();
                    let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                    while Instant::now() < deadline {
                        let begun = Instant::now();
                        argon2::Argon2::default()
                            .verify_password(b"loadgen password", &parsed)
                            .unwrap();
                        let _ = local.record(begun.elapsed().as_micros().max(1) as u64);
                    }
                    local
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for local in &histograms {
        histogram.add(local).unwrap();
    }
    let done = histogram.len();
    let mut outcome = Outcome::new((histogram, started.elapsed(), done, 0));
    outcome.extra.insert("threads".into(), json!(threads));
    outcome
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let api = Arc::new(Api::new(&args.url, args.connections));
    eprintln!("[{:?}] setting up against {}", args.scenario, args.url);
    let outcome = match args.scenario {
        Scenario::Fanout => run_fanout(api, &args).await,
        Scenario::LoginStorm => run_login_storm(api, &args).await,
        Scenario::Idle => run_idle(api, &args).await,
        Scenario::Argon2 => run_argon2(&args),
        Scenario::Avatar => run_avatar(api, &args).await,
        _ => {
            let workers = setup(&api, &args).await;
            Outcome::new(run_requests(api, workers, &args).await)
        }
    };
    report(&args, &outcome);
}
