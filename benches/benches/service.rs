//! Service-level benchmarks: authenticate, send message, history page, chat list and login,
//! and the latest history page with 1,000 and with 1,000,000 messages stored, on an SQLite
//! file (`synchronous=FULL`) and, with `CHATCORE_TEST_POSTGRES_URL`, on PostgreSQL. `cargo bench -p chatcore-benches`; the HTML report lands in
//! `target/criterion/report/index.html`.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use chatcore::messages::{HistoryQuery, MessageText, SendMessage};
use chatcore::users::Login;
use chatcore::{PageRequest, Service};
use chatcore_benches::Fixture;
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

fn operations(c: &mut Criterion, runtime: &Runtime, backend: &str, fixture: &Fixture) {
    let service = &fixture.service;
    let mut group = c.benchmark_group(backend);
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(30);

    let token = fixture.user.auth.session.token.clone();
    group.bench_function("authenticate", |b| {
        b.to_async(runtime)
            .iter(|| async { service.authenticate(&token).await.unwrap() })
    });
    group.bench_function("send_message", |b| {
        b.to_async(runtime).iter(|| async {
            let text = MessageText::parse("a benchmark message").unwrap();
            service
                .send_message(&fixture.peer.caller, SendMessage::new(fixture.chat, text))
                .await
                .unwrap()
        })
    });
    group.bench_function("history_page_50", |b| {
        b.to_async(runtime).iter(|| async {
            service
                .list_messages(&fixture.user.caller, fixture.chat, HistoryQuery::latest())
                .await
                .unwrap()
        })
    });
    group.bench_function("chat_list_500_chats", |b| {
        b.to_async(runtime).iter(|| async {
            service
                .list_chats(
                    &fixture.user.caller,
                    PageRequest::new(None, Some(50)).unwrap(),
                )
                .await
                .unwrap()
        })
    });
    let password = fixture.user.password.clone();
    group.bench_function("login", |b| {
        b.to_async(runtime).iter(|| async {
            service
                .login(Login {
                    login: "bencher".to_owned(),
                    password: password.clone(),
                    user_agent: None,
                })
                .await
                .unwrap()
        })
    });
    group.finish();
}

/// The latest page of history with 1,000 messages in the chat, then with 1,000,000.
fn history_scale(c: &mut Criterion, runtime: &Runtime, backend: &str, fixture: &Fixture) {
    let mut group = c.benchmark_group(format!("{backend}_history_scale"));
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(30);
    let latest = || async {
        fixture
            .service
            .list_messages(&fixture.user.caller, fixture.chat, HistoryQuery::latest())
            .await
            .unwrap()
    };
    assert_eq!(runtime.block_on(latest()).last().unwrap().seq, 1_000);
    group.bench_function("latest_page_of_1k", |b| b.to_async(runtime).iter(latest));
    runtime.block_on(fixture.grow_history(1_000_000));
    assert_eq!(runtime.block_on(latest()).last().unwrap().seq, 1_000_000);
    group.bench_function("latest_page_of_1m", |b| b.to_async(runtime).iter(latest));
    group.finish();
}

fn benches(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let sqlite = runtime.block_on(Fixture::sqlite());
    assert_eq!(runtime.block_on(sqlite.first_chats()).len(), 10);
    history_scale(c, &runtime, "sqlite", &runtime.block_on(Fixture::sqlite()));
    operations(c, &runtime, "sqlite", &sqlite);
    if let Some(postgres) = runtime.block_on(Fixture::postgres()) {
        history_scale(
            c,
            &runtime,
            "postgres",
            &runtime.block_on(Fixture::postgres()).unwrap(),
        );
        operations(c, &runtime, "postgres", &postgres);
    }
}

criterion_group!(service, benches);
criterion_main!(service);
