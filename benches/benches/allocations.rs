//! Heap allocations per request on the hot reads, counted by dhat's allocator: the history
//! page of 50 and the chat list page of 50 (of 500 chats), through the service alone and
//! through the HTTP API in-process (routing, authentication, JSON encoding), on an SQLite
//! file. `cargo bench -p chatcore-benches --bench allocations`.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use chatcore::messages::HistoryQuery;
use chatcore::{PageRequest, Service};
use chatcore_benches::Fixture;
use poem::{Endpoint, EndpointExt, Request};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const CALLS: u64 = 200;

/// Allocations and bytes per call of `call`, after a warm-up.
async fn per_call<F, Fut>(mut call: F) -> (u64, u64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..20 {
        call().await;
    }
    let before = dhat::HeapStats::get();
    for _ in 0..CALLS {
        call().await;
    }
    let after = dhat::HeapStats::get();
    (
        (after.total_blocks - before.total_blocks) / CALLS,
        (after.total_bytes - before.total_bytes) / CALLS,
    )
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let fixture = Fixture::sqlite().await;
        let service = &fixture.service;
        let caller = &fixture.user.caller;
        let chat = fixture.chat;
        let app = chatcore_http::app(
            Arc::new(service.clone()) as Arc<dyn Service>,
            chatcore_http::HttpOptions::default(),
        )
        .map_to_response();
        let token = format!("Bearer {}", fixture.user.auth.session.token);
        let http = |uri: String| {
            let app = &app;
            let token = token.clone();
            async move {
                let request = Request::builder()
                    .uri(uri.parse().unwrap())
                    .header("authorization", token)
                    .finish();
                let response = app.call(request).await.unwrap();
                assert!(response.status().is_success());
                response.into_body().into_bytes().await.unwrap();
            }
        };

        let rows = [
            (
                "history page of 50, service",
                per_call(|| async {
                    let page = service
                        .list_messages(caller, chat, HistoryQuery::latest())
                        .await
                        .unwrap();
                    assert_eq!(page.len(), 50);
                })
                .await,
            ),
            (
                "history page of 50, HTTP",
                per_call(|| http(format!("/api/v1/chats/{chat}/messages?limit=50"))).await,
            ),
            (
                "chat list page of 50, service",
                per_call(|| async {
                    let page = service
                        .list_chats(caller, PageRequest::new(Some(1), Some(50)).unwrap())
                        .await
                        .unwrap();
                    assert_eq!(page.items.len(), 50);
                })
                .await,
            ),
            (
                "chat list page of 50, HTTP",
                per_call(|| http("/api/v1/chats?limit=50".to_owned())).await,
            ),
        ];
        println!("| request | allocations | bytes allocated |");
        println!("|---|---|---|");
        for (name, (blocks, bytes)) in rows {
            println!("| {name} | {blocks} | {bytes} |");
        }
    });
}
