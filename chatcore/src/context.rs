//! The context every domain works in: the database, the writer, the caches, the event bus and
//! the options that shape them. It sits below the domains: they take a `&Context` and never see
//! the [`Service`](crate::Service) implementation above them.
//!
//! Every change goes through [`Context::write`], which runs the work in the writer, records the
//! events the work returns in the same transaction, and publishes them after commit, so that a
//! write cannot forget to tell subscribers or to make the caches forget what it changed.

use std::sync::Arc;

use chrono::Duration;
use futures::future::BoxFuture;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, Select,
    Statement, TryGetableMany, TryIntoModel,
};

use crate::Result;
use crate::auth::password::Hashing;
use crate::auth::token::TokenKeys;
use crate::avatars::Avatars;
use crate::cache::Caches;
use crate::events::sequencer::Ticket;
use crate::events::{self, EventBus, NewEvent};
use crate::messages;
use crate::notify::Notifier;
use crate::storage::FromValues;
use crate::write::Writer;

#[cfg(any(feature = "sqlite", test))]
pub(crate) use crate::storage::sqlite::DirectReads;

/// Without SQLite there are no direct reads.
#[cfg(not(any(feature = "sqlite", test)))]
#[derive(Clone, Debug)]
pub(crate) enum DirectReads {}

/// What a write's work produced: the answer for its caller, and the events that describe the
/// change (recorded in the same transaction, published after commit).
pub(crate) struct Written<T> {
    pub(crate) answer: T,
    pub(crate) events: Vec<NewEvent>,
}

impl<T> Written<T> {
    /// A change that subscribers hear of through `events`.
    pub(crate) fn with(answer: T, events: Vec<NewEvent>) -> Self {
        Written { answer, events }
    }

    /// A change no subscriber needs to hear of.
    pub(crate) fn quiet(answer: T) -> Self {
        Written {
            answer,
            events: Vec::new(),
        }
    }
}

/// What every operation works with; built once by [`ChatCore::open`](crate::ChatCore::open).
pub(crate) struct Context {
    /// For reads. Every write goes through [`Context::write`].
    pub(crate) db: DatabaseConnection,
    /// The same reads as `db`, decoded straight into models where the backend offers it
    /// (SQLite); see [`Context::all`].
    pub(crate) direct: Option<DirectReads>,
    /// Runs transactions: only [`Context::write`] and the database avatar store use it.
    pub(crate) writer: Writer,
    pub(crate) tokens: TokenKeys,
    pub(crate) session_lifetime: Duration,
    pub(crate) max_group_members: usize,
    pub(crate) max_members_per_request: usize,
    /// Admission to the password hashing threads.
    pub(crate) hashing: Hashing,
    pub(crate) events: Arc<dyn EventBus>,
    /// Numbers committed events on PostgreSQL, where they are stored without a cursor (see
    /// [`events::sequencer`]); `None` where the writer numbers them (SQLite).
    pub(crate) sequencer: Option<events::sequencer::Sequencer>,
    /// Writes PostgreSQL's plain sends in batches (see `messages::queries::SendBatcher`);
    /// `None` elsewhere.
    pub(crate) sends: Option<messages::queries::SendBatcher>,
    pub(crate) notifier: Arc<dyn Notifier>,
    pub(crate) account_token_lifetime: Duration,
    pub(crate) account_token_resend_after: Duration,
    pub(crate) avatars: Avatars,
    /// Sessions and memberships, cached when this is the only node (see [`crate::cache`]).
    pub(crate) caches: Option<Caches>,
    /// The open event streams and their caps.
    pub(crate) streams: events::Streams,
    /// Which typing notices are forwarded.
    pub(crate) typing: messages::TypingThrottle,
}

impl Context {
    /// The models `select` finds, read like `select.all(&self.db)`: on SQLite decoded straight
    /// from its rows, for the hot reads (history, chat list).
    pub(crate) async fn all<E>(&self, select: Select<E>) -> Result<Vec<E::Model>>
    where
        E: EntityTrait,
        E::ActiveModel: TryIntoModel<E::Model>,
    {
        match &self.direct {
            #[cfg(any(feature = "sqlite", test))]
            Some(direct) => {
                use sea_orm::QueryTrait;
                Ok(direct.models::<E>(&select.build(sea_orm::DbBackend::Sqlite))?)
            }
            #[cfg(not(any(feature = "sqlite", test)))]
            Some(never) => match *never {},
            None => Ok(select.all(&self.db).await?),
        }
    }

    /// The messages `statement` selects, its result columns being every column of `messages`
    /// in the entity's order: on SQLite decoded by position, for the history.
    pub(crate) async fn messages(
        &self,
        statement: Statement,
    ) -> Result<Vec<messages::entity::Model>> {
        match &self.direct {
            #[cfg(any(feature = "sqlite", test))]
            Some(direct) => Ok(direct.messages(&statement)?),
            #[cfg(not(any(feature = "sqlite", test)))]
            Some(never) => match *never {},
            None => Ok(messages::entity::Entity::find()
                .from_raw_sql(statement)
                .all(&self.db)
                .await?),
        }
    }

    /// The rows `statement` selects, as tuples of its result columns, which are `columns` in
    /// this order: on SQLite decoded straight from its rows, elsewhere through SeaORM by name
    /// (a proxy connection's rows know their columns by name only).
    pub(crate) async fn tuples<T>(&self, statement: Statement, columns: &[&str]) -> Result<Vec<T>>
    where
        T: FromValues + TryGetableMany,
    {
        match &self.direct {
            #[cfg(any(feature = "sqlite", test))]
            Some(direct) => Ok(direct.tuples::<T>(&statement, columns)?),
            #[cfg(not(any(feature = "sqlite", test)))]
            Some(never) => match *never {},
            None => {
                let names: Vec<String> = columns.iter().map(|&name| name.to_owned()).collect();
                self.db
                    .query_all_raw(statement)
                    .await?
                    .iter()
                    .map(|row| {
                        T::try_get_many(row, "", &names).map_err(|error| DbErr::from(error).into())
                    })
                    .collect()
            }
        }
    }

    /// Runs `work` in a transaction (or a savepoint of a group commit), records the events it
    /// returns in that same transaction, and publishes them once it committed. Every change
    /// goes through here.
    ///
    /// # Errors
    /// Whatever `work` fails with (nothing is then written or published), or the database's
    /// failure to commit.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> BoxFuture<'c, Result<Written<T>>>
            + Send
            + 'static,
    {
        let (answer, events) = self
            .writer
            .run(move |txn| {
                Box::pin(async move {
                    let Written { answer, events } = work(txn).await?;
                    let events = events::log::record(txn, events).await?;
                    Ok((answer, events))
                })
            })
            .await?;
        self.publish(events).await;
        Ok(answer)
    }

    /// A change that one statement makes, its events included, run on its own outside the
    /// writer: PostgreSQL runs a lone statement atomically, so it needs no `BEGIN` and
    /// `COMMIT` round trips. `statement` runs it and returns the answer, the events it stored
    /// (unnumbered, for the sequencer: cursor 0) and the sequencer's ticket taken when it
    /// committed (if it took one); the events are then published as [`Context::write`]
    /// publishes. Only for backends whose writes run concurrently (not SQLite's one writer).
    ///
    /// # Errors
    /// Whatever `statement` fails with; nothing is then written or published.
    pub(crate) async fn write_alone<T>(
        &self,
        statement: impl Future<Output = Result<(T, Vec<events::Event>, Option<Ticket>)>>,
    ) -> Result<T> {
        let (answer, events, ticket) = statement.await?;
        self.publish_since(events, ticket).await;
        Ok(answer)
    }

    /// Hands committed events to the bus (or, stored unnumbered, to the sequencer, which
    /// numbers and publishes them; the write then waits until they are numbered), and lets
    /// the caches forget what they make stale.
    async fn publish(&self, events: Vec<events::Event>) {
        self.publish_since(events, None).await;
    }

    /// [`Context::publish`], waiting on the sequencer for a round from `ticket` on (taken
    /// when the events committed) rather than for one that begins after this call.
    async fn publish_since(&self, events: Vec<events::Event>, ticket: Option<Ticket>) {
        if events.is_empty() {
            return;
        }
        if let Some(caches) = &self.caches {
            caches.observe(&events);
        }
        match (&self.sequencer, ticket) {
            (Some(sequencer), Some(ticket)) => sequencer.numbered_since(ticket).await,
            (Some(sequencer), None) => sequencer.numbered().await,
            (None, _) => self.events.publish(events),
        }
    }
}
