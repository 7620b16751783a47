//! Background upkeep while the service lives.

use std::sync::{Arc, Weak};

use chrono::Duration;

use crate::context::{Context, Written};
use crate::events::{self, InProcessBus};

/// Background upkeep while the service lives: skipping event gaps that waited too long on the
/// in-process bus, and pruning events past their retention (once a minute, or every half
/// retention when that is shorter).
pub(super) fn start(inner: Weak<Context>, bus: Option<Arc<InProcessBus>>, retention: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        let mut ticks: i64 = 0;
        let prune_every = (retention.num_milliseconds() / 2 / 100).clamp(1, 600);
        loop {
            tick.tick().await;
            let Some(inner) = inner.upgrade() else {
                return;
            };
            if let Some(bus) = &bus {
                bus.tick();
            }
            ticks += 1;
            if ticks % prune_every == 0 {
                let before = crate::clock::now() - retention;
                let pruned = inner
                    .write(move |txn| {
                        Box::pin(async move {
                            events::log::prune(txn, before).await.map(Written::quiet)
                        })
                    })
                    .await;
                if let Err(error) = pruned {
                    tracing::warn!(%error, "could not prune old events");
                }
            }
        }
    });
}
