//! [`JsonBody`]: a JSON response written straight from the value.

use chatcore::messages::Message;
use poem::http::{StatusCode, header};
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use serde::Serialize;

/// A JSON response body, documented as poem-openapi's [`Json`] documents it, but serialized by
/// serde from the value itself: `Json` first builds a `serde_json::Value` tree of the whole
/// body (an allocation per field), which the hot reads (history, chat list) cannot afford.
/// The two encodings agree byte for byte (chatcore writes times as the OpenAPI types do);
/// `tests::bodies_match_poem_openapi` checks it.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = Json::<T>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        Json::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// How a [`JsonBody`] is encoded: by serde, unless the type has a faster writer of the same
/// bytes.
pub(crate) trait EncodeJson: Serialize {
    fn encode_json(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(self)
    }
}

impl EncodeJson for crate::models::ChatPage {}

/// A message just sent or forwarded.
impl EncodeJson for Message {}

/// A history page: chatcore's own writer (`chatcore::messages::to_json`).
impl EncodeJson for Vec<Message> {
    fn encode_json(&self) -> serde_json::Result<Vec<u8>> {
        Ok(chatcore::messages::to_json(self))
    }
}

impl<T: EncodeJson + Send> IntoResponse for JsonBody<T> {
    fn into_response(self) -> Response {
        match self.0.encode_json() {
            Ok(body) => Response::builder()
                .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
                .body(body),
            Err(error) => Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .body(error.to_string()),
        }
    }
}

impl<T: Type + ToJSON + EncodeJson + Send> ApiResponse for JsonBody<T> {
    fn meta() -> MetaResponses {
        Json::<T>::meta()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chatcore::messages::{Emoji, HistoryQuery, MessageText, SendMessage};
    use chatcore::testkit::{register, sample_png, say};
    use chatcore::{PageRequest, Service};
    use poem_openapi::types::ToJSON;
    use serde::Serialize;

    use crate::HttpOptions;
    use crate::models::ChatPage;

    fn same<T: ToJSON + Serialize>(value: &T) {
        assert_eq!(
            serde_json::to_value(value).unwrap(),
            value.to_json().unwrap()
        );
    }

    /// Every field the history and the chat list can carry: replies, edits, deletions,
    /// reactions, avatars, direct chats and groups, read and unread.
    #[tokio::test]
    async fn bodies_match_poem_openapi() {
        let service = chatcore_sqlite::open_in_memory().await.unwrap();
        let ann = register(&service, "ann").await;
        let ben = register(&service, "ben").await;
        service
            .set_avatar(&ann.caller, sample_png(64, 64))
            .await
            .unwrap();
        let direct = service
            .start_direct_chat(&ann.caller, ben.id())
            .await
            .unwrap();
        let chat = direct.chat.chat.id;
        let first = say(&service, &ann, chat, "first").await;
        let reply = SendMessage::new(chat, MessageText::parse("reply").unwrap()).reply_to(first.id);
        let reply = service.send_message(&ben.caller, reply).await.unwrap();
        // A send's answer, with its reply.
        same(&reply);
        service
            .edit_message(
                &ben.caller,
                chat,
                reply.id,
                MessageText::parse("edited").unwrap(),
            )
            .await
            .unwrap();
        service
            .add_reaction(&ann.caller, chat, reply.id, Emoji::parse("👍").unwrap())
            .await
            .unwrap();
        let gone = say(&service, &ann, chat, "gone").await;
        service
            .delete_message(&ann.caller, chat, gone.id)
            .await
            .unwrap();
        service
            .create_group(
                &ben.caller,
                chatcore::groups::CreateGroup::new(
                    chatcore::groups::ChatTitle::parse("Group").unwrap(),
                    vec![ann.id()],
                ),
            )
            .await
            .unwrap();

        let links = HttpOptions::default().avatar_links();
        for user in [&ann, &ben] {
            let history = service
                .list_messages(&user.caller, chat, HistoryQuery::latest())
                .await
                .unwrap();
            assert_eq!(history.len(), 3);
            let chats: ChatPage = service
                .list_chats(&user.caller, PageRequest::default())
                .await
                .unwrap()
                .into();
            assert_eq!(chats.items.len(), 2);
            links
                .scope(async {
                    same(&history);
                    same(&chats);
                })
                .await;
            same(&history);
            same(&chats);
            // The history's own writer gives serde's bytes.
            assert_eq!(
                super::EncodeJson::encode_json(&history).unwrap(),
                serde_json::to_vec(&history).unwrap()
            );
        }
    }
}
