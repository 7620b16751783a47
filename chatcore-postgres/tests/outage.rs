//! Database outages, caused by a TCP proxy between the nodes and PostgreSQL (the machine's
//! PostgreSQL itself is never stopped: other tests share it).
//!
//! During an outage every operation answers [`Error::Unavailable`], never `NotAuthorized`;
//! readiness says what is down; afterwards the nodes recover by themselves, their listeners
//! reconnect, subscribers on both nodes receive every event once, and sends retried with the
//! same `client_id` are stored once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chatcore::events::{EventData, EventStream};
use chatcore::messages::{ClientId, HistoryQuery, MessageText, SendMessage};
use chatcore::sea_orm::{ConnectOptions, ConnectionTrait, Database};
use chatcore::testkit::TestDatabase;
use chatcore::testkit::register;
use chatcore::users::Login;
use chatcore::{Caller, ChatCore, ChatId, Error, Service};
use chatcore_postgres::PostgresOptions;
use futures::StreamExt;
use support::proxy::{Proxy, server_address, through};

/// How long a request waits for a connection here: short, so that the tests are quick.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the nodes must take at most to serve again after the database is back.
const RECOVERY_LIMIT: Duration = Duration::from_secs(15);

/// Two nodes reaching their database through one proxy. Fields drop in order.
struct Outage {
    a: ChatCore,
    b: ChatCore,
    proxy: Proxy,
    /// Dropped last.
    _database: TestDatabase,
}

async fn outage() -> Option<Outage> {
    let database = TestDatabase::create("chatcore_test").await?;
    let proxy = Proxy::start(server_address(database.url())).await;
    let url = through(database.url(), proxy.address());
    let options = || PostgresOptions::default().acquire_timeout(ACQUIRE_TIMEOUT);
    let a = chatcore_postgres::connect_with(&url, options())
        .await
        .expect("node A connects");
    let b = chatcore_postgres::connect_with(&url, options())
        .await
        .expect("node B connects");
    Some(Outage {
        a,
        b,
        proxy,
        _database: database,
    })
}

fn is_unavailable<T: std::fmt::Debug>(result: &chatcore::Result<T>) -> bool {
    matches!(result, Err(Error::Unavailable(_)))
}

/// Sends `text` with `text` as its `client_id`, retrying while the service is unavailable, as
/// a client would; the seq it was acknowledged with.
async fn send_until_acknowledged(
    service: &ChatCore,
    caller: &Caller,
    chat: ChatId,
    text: &str,
) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let message = SendMessage::new(chat, MessageText::parse(text).unwrap())
            .client_id(ClientId::parse(text).unwrap());
        match service.send_message(caller, message).await {
            Ok(message) => return message.seq,
            Err(Error::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("sending {text}: {error:?}"),
        }
    }
}

/// A subscriber that resumes from its last cursor whenever its stream ends, as clients do;
/// it collects the texts of `message_created` events, with their cursors.
struct Subscriber {
    received: Arc<std::sync::Mutex<Vec<(i64, String)>>>,
    /// How many times the stream had to be resumed.
    resumed: Arc<std::sync::atomic::AtomicUsize>,
}

impl Subscriber {
    async fn start(service: ChatCore, caller: Caller) -> Subscriber {
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let resumed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let first = service.subscribe(&caller, None).await.unwrap();
        tokio::spawn({
            let received = received.clone();
            let resumed = resumed.clone();
            async move {
                let mut stream: EventStream = first;
                let mut cursor: Option<i64> = None;
                loop {
                    while let Some(item) = stream.next().await {
                        let Ok(event) = item else { break };
                        if !event.ephemeral {
                            cursor = Some(event.cursor);
                        }
                        if let EventData::MessageCreated(message) = &event.data {
                            let text = message.text.clone().unwrap();
                            received.lock().unwrap().push((event.cursor, text));
                        }
                    }
                    // The stream ended (storage was unavailable): resume where it stopped.
                    loop {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if let Ok(next) = service.subscribe(&caller, cursor).await {
                            resumed.fetch_add(1, Ordering::Relaxed);
                            stream = next;
                            break;
                        }
                    }
                }
            }
        });
        Subscriber { received, resumed }
    }

    /// Waits until `expected` texts arrived (or 30 s passed); what arrived, in order.
    async fn until(&self, expected: usize) -> Vec<(i64, String)> {
        for _ in 0..300 {
            if self.received.lock().unwrap().len() >= expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Anything beyond the expected would be a duplicate: give it a moment to show.
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.received.lock().unwrap().clone()
    }
}

/// Waits until both nodes are ready; how long that took.
async fn until_ready(outage: &Outage, since: Instant) -> Duration {
    loop {
        let (a, b) = (outage.a.readiness().await, outage.b.readiness().await);
        if a.is_ready() && b.is_ready() {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < RECOVERY_LIMIT,
            "not ready {RECOVERY_LIMIT:?} after the database came back: {a:?} {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_answers_unavailable_and_both_nodes_recover() {
    let Some(outage) = outage().await else {
        return;
    };
    let (ann, ben, ben_on_b, chat) = support::direct_chat(&outage.a, &outage.b).await;
    let on_b = Subscriber::start(outage.b.clone(), ben_on_b.clone()).await;
    let on_a = Subscriber::start(outage.a.clone(), ann.caller.clone()).await;
    let mut expected = Vec::new();
    for i in 0..5 {
        let text = format!("before-{i}");
        send_until_acknowledged(&outage.a, &ann.caller, chat, &text).await;
        expected.push(text);
    }

    // PostgreSQL "stops": every connection is cut and new ones are refused.
    outage.proxy.refuse();
    outage.proxy.drop_all();
    let stopped = Instant::now();

    // Sends keep being retried through the outage, from both nodes.
    let during: Vec<String> = (0..6).map(|i| format!("during-{i}")).collect();
    let mut senders = Vec::new();
    for (i, text) in during.iter().enumerate() {
        let (node, caller) = if i % 2 == 0 {
            (outage.a.clone(), ann.caller.clone())
        } else {
            (outage.b.clone(), ben_on_b.clone())
        };
        let text = text.clone();
        senders.push(tokio::spawn(async move {
            send_until_acknowledged(&node, &caller, chat, &text).await
        }));
    }
    expected.extend(during.iter().cloned());

    // Every kind of request says "unavailable", never "not authorized".
    let token = ann.auth.session.token.clone();
    let authenticated = outage.a.authenticate(&token).await;
    assert!(is_unavailable(&authenticated), "{authenticated:?}");
    let authenticated = outage.b.authenticate(&ben.auth.session.token).await;
    assert!(is_unavailable(&authenticated), "{authenticated:?}");
    let login = outage
        .a
        .login(Login {
            login: "ann".into(),
            password: ann.password.clone(),
            user_agent: None,
        })
        .await;
    assert!(is_unavailable(&login), "{login:?}");
    let history = outage
        .b
        .list_messages(&ben_on_b, chat, HistoryQuery::latest())
        .await;
    assert!(is_unavailable(&history), "{history:?}");
    assert!(matches!(
        outage.a.subscribe(&ann.caller, None).await,
        Err(Error::Unavailable(_))
    ));
    // A forged token is still refused as such: no database needed to say so.
    assert!(matches!(
        outage.a.authenticate("not-a-token").await,
        Err(Error::NotAuthorized)
    ));
    for node in [&outage.a, &outage.b] {
        let readiness = node.readiness().await;
        assert!(!readiness.database, "{readiness:?}");
    }
    // The listeners notice that their connections are gone.
    let mut bus_down = false;
    for _ in 0..50 {
        let (a, b) = (outage.a.readiness().await, outage.b.readiness().await);
        if !a.event_bus && !b.event_bus {
            bus_down = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(bus_down, "readiness reports the event bus down");
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(stopped.elapsed())).await;

    // PostgreSQL is back.
    outage.proxy.resume().await;
    let back = Instant::now();
    let ready_after = until_ready(&outage, back).await;
    for sender in senders {
        sender.await.unwrap();
    }
    let sends_after = back.elapsed();
    assert!(sends_after < RECOVERY_LIMIT, "{sends_after:?}");
    let caller = outage.a.authenticate(&token).await.unwrap();
    assert_eq!(caller.user_id(), ann.id());
    for i in 0..5 {
        let text = format!("after-{i}");
        send_until_acknowledged(&outage.b, &ben_on_b, chat, &text).await;
        expected.push(text);
    }
    eprintln!(
        "outage of {:?}: both nodes ready {ready_after:?} after the database came back; \
         every retried send acknowledged after {sends_after:?}",
        back - stopped
    );

    // Every message is stored once, with contiguous seqs.
    let history = outage
        .a
        .list_messages(
            &ann.caller,
            chat,
            HistoryQuery::new(None, None, Some(100)).unwrap(),
        )
        .await
        .unwrap();
    let texts: Vec<String> = history.iter().filter_map(|m| m.text.clone()).collect();
    let stored: HashSet<&String> = texts.iter().collect();
    assert_eq!(texts.len(), expected.len(), "no duplicates: {texts:?}");
    assert_eq!(stored, expected.iter().collect::<HashSet<_>>());
    let seqs: Vec<i64> = history.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=expected.len() as i64).collect::<Vec<_>>());

    // Subscribers on both nodes received every message once, in cursor order.
    for (node, subscriber) in [("A", &on_a), ("B", &on_b)] {
        let received = subscriber.until(expected.len()).await;
        let texts: Vec<&String> = received.iter().map(|(_, text)| text).collect();
        assert_eq!(
            texts.len(),
            expected.len(),
            "node {node}: every message once: {texts:?}"
        );
        assert_eq!(
            texts.iter().copied().collect::<HashSet<_>>(),
            expected.iter().collect::<HashSet<_>>(),
            "node {node}"
        );
        assert!(
            received.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "node {node}: in cursor order"
        );
        eprintln!(
            "node {node}: stream resumed {} time(s)",
            subscriber.resumed.load(Ordering::Relaxed)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_under_load_lose_and_duplicate_nothing() {
    let Some(outage) = outage().await else {
        return;
    };
    let (ann, _ben, ben_on_b, chat) = support::direct_chat(&outage.a, &outage.b).await;
    let on_b = Subscriber::start(outage.b.clone(), ben_on_b.clone()).await;
    let on_a = Subscriber::start(outage.a.clone(), ann.caller.clone()).await;

    // Four clients send continuously, two per node, each retrying with the same client_id.
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for client in 0..4 {
        let (node, caller) = if client % 2 == 0 {
            (outage.a.clone(), ann.caller.clone())
        } else {
            (outage.b.clone(), ben_on_b.clone())
        };
        let stop = stop.clone();
        senders.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let text = format!("c{client}-{}", sent.len());
                send_until_acknowledged(&node, &caller, chat, &text).await;
                sent.push(text);
            }
            sent
        }));
    }
    // Every connection is cut every 200 ms for 2 s, commits in flight included.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        outage.proxy.drop_all();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut expected = Vec::new();
    for sender in senders {
        expected.extend(sender.await.unwrap());
    }
    assert!(expected.len() > 20, "sending went on: {}", expected.len());
    until_ready(&outage, Instant::now()).await;

    // Forward from the first message: without a cursor a page is the latest one.
    let mut history = Vec::new();
    let mut after = Some(0);
    loop {
        let page = outage
            .b
            .list_messages(
                &ben_on_b,
                chat,
                HistoryQuery::new(None, after, Some(100)).unwrap(),
            )
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.seq);
        history.extend(page);
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for message in &history {
        *counts.entry(message.text.clone().unwrap()).or_default() += 1;
    }
    assert!(counts.values().all(|&count| count == 1), "{counts:?}");
    assert_eq!(
        counts.keys().collect::<HashSet<_>>(),
        expected.iter().collect::<HashSet<_>>()
    );
    let seqs: Vec<i64> = history.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=expected.len() as i64).collect::<Vec<_>>());

    for (node, subscriber) in [("A", &on_a), ("B", &on_b)] {
        let received = subscriber.until(expected.len()).await;
        let mut seen = HashSet::new();
        for (_, text) in &received {
            assert!(seen.insert(text), "node {node}: {text} delivered twice");
        }
        assert_eq!(
            seen,
            expected.iter().collect::<HashSet<_>>(),
            "node {node}: every message"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_pause_reports_not_ready_then_recovers() {
    let Some(outage) = outage().await else {
        return;
    };
    let ann = register(&outage.a, "ann").await;
    assert!(outage.a.readiness().await.is_ready());

    outage.proxy.pause();
    let paused = Instant::now();
    let readiness = outage.a.readiness().await;
    assert!(!readiness.database, "{readiness:?}");
    // The probe gives up after its timeout instead of hanging with the network.
    assert!(paused.elapsed() < Duration::from_secs(3));
    let authenticated = outage.a.authenticate(&ann.auth.session.token).await;
    assert!(is_unavailable(&authenticated), "{authenticated:?}");

    outage.proxy.resume().await;
    let ready_after = until_ready(&outage, Instant::now()).await;
    eprintln!("ready {ready_after:?} after the network came back");
    outage
        .a
        .authenticate(&ann.auth.session.token)
        .await
        .unwrap();
}

/// PostgreSQL terminating a connection (`57P01`, as on shutdown or `pg_terminate_backend`)
/// is "unavailable", as is a refused connection; a bad statement stays internal.
#[tokio::test]
async fn driver_errors_are_classified_by_meaning() {
    let Some(database) = TestDatabase::create("chatcore_test").await else {
        return;
    };
    let mut options = ConnectOptions::new(database.url());
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await.unwrap();
    let terminated = db
        .execute_unprepared("SELECT pg_terminate_backend(pg_backend_pid())")
        .await
        .unwrap_err();
    let error = Error::from(terminated.clone());
    assert_eq!(error.code(), "unavailable", "{terminated}");
    assert!(error.retry_after().is_some());

    let broken = db
        .execute_unprepared("SELECT * FROM no_such_table")
        .await
        .unwrap_err();
    assert_eq!(Error::from(broken).code(), "internal");
    db.close().await.unwrap();

    // Nothing listens on this port: connecting is refused until the acquire timeout.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let mut options = ConnectOptions::new(through(database.url(), address));
    options
        .acquire_timeout(Duration::from_millis(300))
        .sqlx_logging(false);
    let refused = Database::connect(options).await.unwrap_err();
    assert_eq!(Error::from(refused).code(), "unavailable");
}
