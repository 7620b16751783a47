//! Message queries: sending, forwarding, editing, deleting and reading history, by operation
//! group; how a message looks to each reader is in `views`.

mod batch;
mod change;
mod history;
mod send;
mod views;

pub(crate) use batch::SendBatcher;
pub(crate) use change::{delete, edit};
pub(crate) use history::history;
pub(crate) use send::{forward, send};
pub(crate) use views::visible_message;
