//! `/chats/{id}/messages` and friends: history, sending, replies, forwards, edits, deletes,
//! reactions, read receipts and typing.

use chatcore::messages::{
    ClientId, Emoji, ForwardMessage, HistoryQuery, Message, MessageText, ReactionCount, ReadMarker,
    ReadReceipt, SendMessage,
};
use chatcore::{ChatId, MessageId};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::body::JsonBody;
use super::{ApiResult, Shared, Tag};
use crate::auth::Auth;
use crate::models::{EditRequest, ForwardRequest, ReadRequest, SendRequest};

pub(crate) struct MessagesApi(pub(crate) Shared);

#[derive(ApiResponse)]
enum Sent {
    /// The message (for a repeated `client_id`, the first one sent with it).
    #[oai(status = 201)]
    Created(JsonBody<Message>),
}

#[derive(ApiResponse)]
enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

fn client_id(value: Option<String>) -> chatcore::Result<Option<ClientId>> {
    value.map(ClientId::parse).transpose()
}

/// Messages, reactions, read receipts and typing.
#[OpenApi(tag = "Tag::Messages")]
impl MessagesApi {
    /// History
    ///
    /// Ascending by `seq`. Without cursors, the latest `limit` messages; `before` gives the
    /// page just before that seq, `after` the page just after it.
    #[oai(
        path = "/chats/:id/messages",
        method = "get",
        operation_id = "list_messages"
    )]
    async fn list(
        &self,
        auth: Auth,
        id: Path<ChatId>,
        /// Only messages with a smaller seq.
        before: Query<Option<i64>>,
        /// Only messages with a greater seq.
        after: Query<Option<i64>>,
        /// The page size, 1 to 200 (default 50).
        limit: Query<Option<u32>>,
    ) -> ApiResult<JsonBody<Vec<Message>>> {
        let query = HistoryQuery::new(before.0, after.0, limit.0)?;
        Ok(JsonBody(
            self.0
                .service
                .list_messages(auth.caller(), id.0, query)
                .await?,
        ))
    }

    /// Send a message
    ///
    /// Optionally as a reply to a message of the same chat. Idempotent on `client_id`.
    #[oai(
        path = "/chats/:id/messages",
        method = "post",
        operation_id = "send_message"
    )]
    async fn send(&self, auth: Auth, id: Path<ChatId>, body: Json<SendRequest>) -> ApiResult<Sent> {
        let body = body.0;
        let mut message = SendMessage::new(id.0, MessageText::parse(body.text)?);
        message.client_id = client_id(body.client_id)?;
        message.reply_to = body.reply_to;
        Ok(Sent::Created(JsonBody(
            self.0.service.send_message(auth.caller(), message).await?,
        )))
    }

    /// Edit a message
    ///
    /// One's own; records `edited_at`.
    #[oai(
        path = "/chats/:id/messages/:message_id",
        method = "patch",
        operation_id = "edit_message"
    )]
    async fn edit(
        &self,
        auth: Auth,
        id: Path<ChatId>,
        message_id: Path<MessageId>,
        body: Json<EditRequest>,
    ) -> ApiResult<Json<Message>> {
        let text = MessageText::parse(body.0.text)?;
        Ok(Json(
            self.0
                .service
                .edit_message(auth.caller(), id.0, message_id.0, text)
                .await?,
        ))
    }

    /// Delete a message
    ///
    /// One's own, or any as a group admin or server admin. A tombstone keeps its seq.
    #[oai(
        path = "/chats/:id/messages/:message_id",
        method = "delete",
        operation_id = "delete_message"
    )]
    async fn delete(
        &self,
        auth: Auth,
        id: Path<ChatId>,
        message_id: Path<MessageId>,
    ) -> ApiResult<Done> {
        self.0
            .service
            .delete_message(auth.caller(), id.0, message_id.0)
            .await?;
        Ok(Done::NoContent)
    }

    /// Forward a message
    ///
    /// Into another chat the caller is in; the new message records the original sender and
    /// message.
    #[oai(
        path = "/chats/:id/messages/:message_id/forward",
        method = "post",
        operation_id = "forward_message"
    )]
    async fn forward(
        &self,
        auth: Auth,
        id: Path<ChatId>,
        message_id: Path<MessageId>,
        body: Json<ForwardRequest>,
    ) -> ApiResult<Sent> {
        let forward = ForwardMessage {
            chat_id: id.0,
            message_id: message_id.0,
            to_chat_id: body.0.to_chat_id,
            client_id: client_id(body.0.client_id)?,
        };
        Ok(Sent::Created(JsonBody(
            self.0
                .service
                .forward_message(auth.caller(), forward)
                .await?,
        )))
    }

    /// React
    ///
    /// Adds the caller's reaction (reacting twice is once); answers the message's counts.
    #[oai(
        path = "/chats/:id/messages/:message_id/reactions/:emoji",
        method = "put",
        operation_id = "add_reaction"
    )]
    async fn react(
        &self,
        auth: Auth,
        id: Path<ChatId>,
        message_id: Path<MessageId>,
        /// One emoji (URL-encoded).
        emoji: Path<String>,
    ) -> ApiResult<Json<Vec<ReactionCount>>> {
        let emoji = Emoji::parse(emoji.0)?;
        Ok(Json(
            self.0
                .service
                .add_reaction(auth.caller(), id.0, message_id.0, emoji)
                .await?,
        ))
    }

    /// Take back a reaction
    #[oai(
        path = "/chats/:id/messages/:message_id/reactions/:emoji",
        method = "delete",
        operation_id = "remove_reaction"
    )]
    async fn unreact(
        &self,
        auth: Auth,
        id: Path<ChatId>,
        message_id: Path<MessageId>,
        /// One emoji (URL-encoded).
        emoji: Path<String>,
    ) -> ApiResult<Json<Vec<ReactionCount>>> {
        let emoji = Emoji::parse(emoji.0)?;
        Ok(Json(
            self.0
                .service
                .remove_reaction(auth.caller(), id.0, message_id.0, emoji)
                .await?,
        ))
    }

    /// Read by
    ///
    /// The members whose read marker reached the message, with the time, earliest first.
    #[oai(
        path = "/chats/:id/messages/:message_id/receipts",
        method = "get",
        operation_id = "list_read_receipts"
    )]
    async fn receipts(
        &self,
        auth: Auth,
        id: Path<ChatId>,
        message_id: Path<MessageId>,
    ) -> ApiResult<Json<Vec<ReadReceipt>>> {
        Ok(Json(
            self.0
                .service
                .list_read_receipts(auth.caller(), id.0, message_id.0)
                .await?,
        ))
    }

    /// Mark read
    ///
    /// Moves the caller's read marker forward to `seq` (an older seq changes nothing).
    #[oai(path = "/chats/:id/read", method = "post", operation_id = "mark_read")]
    async fn read(
        &self,
        auth: Auth,
        id: Path<ChatId>,
        body: Json<ReadRequest>,
    ) -> ApiResult<Json<ReadMarker>> {
        Ok(Json(
            self.0
                .service
                .mark_read(auth.caller(), id.0, body.0.seq)
                .await?,
        ))
    }

    /// Typing
    ///
    /// Tells the other members the caller is typing (nothing is stored).
    #[oai(
        path = "/chats/:id/typing",
        method = "post",
        operation_id = "send_typing"
    )]
    async fn typing(&self, auth: Auth, id: Path<ChatId>) -> ApiResult<Done> {
        self.0.service.send_typing(auth.caller(), id.0).await?;
        Ok(Done::NoContent)
    }
}
