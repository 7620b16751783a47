//! What each kind of event carries: [`EventData`], one variant per kind with its payload.
//!
//! The list of kinds exists once, in the `kinds!` invocation below: [`EventKind`], its
//! names (in JSON, in SSE `event:` lines and in the event log) and the OpenAPI schema of the
//! payloads are all generated from it.
//!
//! Payloads are read back from the event log and from other nodes (the PostgreSQL bus) with
//! serde, without re-validating text fields: they were valid when the event was written, and
//! they are plain strings here (`text`, `title`, `emoji`), not the validated newtypes.

use serde::{Deserialize, Serialize};

use crate::chats::{Chat, Member};
use crate::messages::Message;
use crate::users::UserProfile;
use crate::{MessageId, SessionId, UserId};

/// Declares the kinds: `Variant = "name" (Payload)`, each with its documentation.
macro_rules! kinds {
    ($(
        $(#[doc = $doc:tt])*
        $variant:ident = $name:tt ($payload:ty),
    )*) => {
        /// What happened.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
        pub enum EventKind {
            $(
                $(#[doc = $doc])*
                #[serde(rename = $name)]
                #[cfg_attr(feature = "openapi", oai(rename = $name))]
                $variant,
            )*
        }

        /// What happened, with what a client needs to update its view: an event's `kind`
        /// and `data`, side by side in its JSON (`{"kind": "message_created", "data":
        /// {...}}`).
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", content = "data")]
        pub enum EventData {
            $(
                $(#[doc = $doc])*
                #[serde(rename = $name)]
                $variant($payload),
            )*
        }

        impl EventData {
            /// Its kind.
            pub fn kind(&self) -> EventKind {
                match self {
                    $(EventData::$variant(_) => EventKind::$variant,)*
                }
            }
        }

        impl EventKind {
            /// The snake_case name, as in JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$variant => $name,)*
                }
            }

            /// Every kind, in declaration order.
            pub const ALL: &[EventKind] = &[$(EventKind::$variant,)*];
        }

        impl EventData {
            /// Its payload as JSON: the event's `data`, as the event log stores it.
            pub(crate) fn payload_json(&self) -> serde_json::Result<String> {
                match self {
                    $(EventData::$variant(payload) => serde_json::to_string(payload),)*
                }
            }

            /// The event of kind `kind` (its name) with `payload` (JSON), as the event log
            /// stores them.
            pub(crate) fn from_payload_json(kind: &str, payload: &str) -> serde_json::Result<Self> {
                match kind {
                    $($name => serde_json::from_str(payload).map(EventData::$variant),)*
                    _ => Err(serde::de::Error::unknown_variant(kind, &[$($name),*])),
                }
            }
        }

        #[cfg(feature = "openapi")]
        impl EventData {
            /// Registers every payload type; answers their schemas, each once.
            fn payload_schemas() -> Vec<poem_openapi::registry::MetaSchemaRef> {
                let mut schemas: Vec<poem_openapi::registry::MetaSchemaRef> = Vec::new();
                $(
                    let schema = <$payload as poem_openapi::types::Type>::schema_ref();
                    if !schemas.contains(&schema) {
                        schemas.push(schema);
                    }
                )*
                schemas
            }

            fn register_payloads(registry: &mut poem_openapi::registry::Registry) {
                $(<$payload as poem_openapi::types::Type>::register(registry);)*
            }
        }
    };
}

kinds! {
    /// A message was sent (or forwarded); `data` is the message.
    MessageCreated = "message_created" (Message),
    /// A message was edited; `data` is the message. Like every event about a message, it
    /// reaches only the members who can see that message: not a `since_join` member who
    /// joined after it was sent.
    MessageEdited = "message_edited" (Message),
    /// A message was deleted; `data` has `message_id` and `seq`. Only for the members who can
    /// see the message.
    MessageDeleted = "message_deleted" (MessageDeleted),
    /// Someone reacted or took a reaction back; `data` has `message_id`, `seq` (the
    /// message's), `emoji`, `user_id` and `added`. Only for the members who can see the
    /// message.
    ReactionChanged = "reaction_changed" (ReactionChanged),
    /// A member's read marker moved; `data` has `user_id` and `seq`. Only for the members who
    /// can see the message at `seq`.
    ReadMarkerMoved = "read_marker_moved" (ReadMarkerMoved),
    /// A member is typing (ephemeral: never stored, no cursor of its own); `data` has
    /// `user_id`. At most one notice per member and chat is delivered per
    /// [`typing_interval`](crate::Options::typing_interval) (3 seconds by default): further
    /// ones within that time are accepted and dropped.
    Typing = "typing" (Typing),
    /// A chat was created, or the caller was put in one at its creation. Each member gets
    /// their own notice, addressed to them (`user_id`); `data` is the chat's own fields
    /// (as [`Chat`](crate::chats::Chat)) and `member_count`. It does not list the members
    /// (a group may have thousands): read them with
    /// [`get_chat`](crate::Service::get_chat) or [`list_members`](crate::Service::list_members).
    /// In a direct chat, the other member is the one who started it (`actor_id`), or the one
    /// its starter chose.
    ChatCreated = "chat_created" (ChatCreated),
    /// A chat's title changed; `data` has `title`.
    ChatUpdated = "chat_updated" (ChatUpdated),
    /// A group was deleted; each member gets their own notice, addressed to them; `data` is
    /// empty.
    ChatDeleted = "chat_deleted" (ChatDeleted),
    /// Someone joined; `data` is the member, and `visible_from_seq`: they see the messages
    /// with a greater seq (0: the whole history).
    MemberJoined = "member_joined" (MemberJoined),
    /// Someone left; `data` has `user_id`.
    MemberLeft = "member_left" (MemberGone),
    /// Someone was removed; `data` has `user_id`.
    MemberRemoved = "member_removed" (MemberGone),
    /// A member's role changed; `data` is the member.
    MemberRoleChanged = "member_role_changed" (Member),
    /// A user's profile or avatar changed; `data` is the profile.
    UserUpdated = "user_updated" (UserProfile),
    /// A session ended; `data` has `session_id` (`null`: every session of the user, but
    /// `except` when given).
    SessionRevoked = "session_revoked" (SessionRevoked),
}

impl EventKind {
    /// Kinds whose events, when addressed to a user, are for that user alone even though they
    /// name a chat (each member gets their own).
    pub(crate) const ADDRESSED_ONLY: [EventKind; 2] =
        [EventKind::ChatCreated, EventKind::ChatDeleted];

    /// Whether this kind is one of [`ADDRESSED_ONLY`](Self::ADDRESSED_ONLY).
    pub(crate) fn addressed_only(self) -> bool {
        Self::ADDRESSED_ONLY.contains(&self)
    }
}

/// `message_deleted`: which message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct MessageDeleted {
    /// The deleted message.
    pub message_id: MessageId,
    /// Its seq.
    pub seq: i64,
}

/// `reaction_changed`: who reacted to which message with what, or took it back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ReactionChanged {
    /// The message.
    pub message_id: MessageId,
    /// The message's seq.
    pub seq: i64,
    /// The emoji.
    pub emoji: String,
    /// Who reacted.
    pub user_id: UserId,
    /// `true`: the reaction was added; `false`: taken back.
    pub added: bool,
}

/// `read_marker_moved`: whose marker, and where it stands now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ReadMarkerMoved {
    /// The member who read.
    pub user_id: UserId,
    /// Every message up to this seq is read.
    pub seq: i64,
}

/// `typing`: who is typing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct Typing {
    /// Who.
    pub user_id: UserId,
}

/// `chat_created`: the chat's own fields and how many members it has, never the member list
/// (a group may have thousands, and each member gets a notice).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ChatCreated {
    /// The chat.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", oai(flatten))]
    pub chat: Chat,
    /// How many members it has.
    pub member_count: u64,
}

/// `chat_updated`: the new title.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ChatUpdated {
    /// The title.
    pub title: String,
}

/// `chat_deleted`: nothing besides the event's `chat_id`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct ChatDeleted {}

/// `member_joined`: the member, and where their history starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct MemberJoined {
    /// The member.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", oai(flatten))]
    pub member: Member,
    /// They see the messages with a greater seq (0: the whole history).
    pub visible_from_seq: i64,
}

/// `member_left` and `member_removed`: who is gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct MemberGone {
    /// The member who left or was removed.
    pub user_id: UserId,
}

/// `session_revoked`: which session ended.
///
/// `session_id` is always present: `null` means every session of the user (but `except`),
/// which is why it is the one field of an event sent as `null` rather than left out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(poem_openapi::Object))]
pub struct SessionRevoked {
    /// The session that ended; `null`: every session of the user (but `except`).
    #[cfg_attr(feature = "openapi", oai(nullable))]
    pub session_id: Option<SessionId>,
    /// With `session_id: null`, the one session that goes on (the one that asked), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", oai(skip_serializing_if_is_none))]
    pub except: Option<SessionId>,
}

impl SessionRevoked {
    /// Whether the session `session` ended.
    pub(crate) fn ends(&self, session: SessionId) -> bool {
        match self.session_id {
            Some(id) => id == session,
            None => self.except != Some(session),
        }
    }
}

#[cfg(feature = "openapi")]
mod openapi {
    //! [`EventData`] in the OpenAPI document: flattened into `Event` as `kind` and `data`,
    //! with `data` one of the payload schemas.

    use std::borrow::Cow;

    use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
    use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
    use serde_json::Value;

    use super::{EventData, EventKind};

    impl Type for EventData {
        const IS_REQUIRED: bool = true;
        type RawValueType = Self;
        type RawElementValueType = Self;

        fn name() -> Cow<'static, str> {
            "EventData".into()
        }

        /// Inline: `Event` flattens it into its own properties.
        fn schema_ref() -> MetaSchemaRef {
            let kind = EventKind::schema_ref().merge(MetaSchema {
                description: Some("What happened."),
                ..MetaSchema::ANY
            });
            let data = MetaSchema {
                description: Some(
                    "What a client needs to update its view: the payload of the `kind` \
                     (see `EventKind`).",
                ),
                any_of: EventData::payload_schemas(),
                ..MetaSchema::ANY
            };
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                required: vec!["kind", "data"],
                properties: vec![
                    ("kind", kind),
                    ("data", MetaSchemaRef::Inline(Box::new(data))),
                ],
                ..MetaSchema::new("object")
            }))
        }

        fn register(registry: &mut Registry) {
            EventKind::register(registry);
            EventData::register_payloads(registry);
        }

        fn as_raw_value(&self) -> Option<&Self::RawValueType> {
            Some(self)
        }

        fn raw_element_iter<'a>(
            &'a self,
        ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
            Box::new(self.as_raw_value().into_iter())
        }
    }

    impl ToJSON for EventData {
        fn to_json(&self) -> Option<Value> {
            serde_json::to_value(self).ok()
        }
    }

    impl ParseFromJSON for EventData {
        fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
            serde_json::from_value(value.unwrap_or_default()).map_err(ParseError::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_name_in_json() {
        for kind in EventKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.as_str())
            );
        }
    }

    #[test]
    fn data_is_tagged_by_kind() {
        let user_id = UserId::new();
        let data = EventData::Typing(Typing { user_id });
        assert_eq!(
            serde_json::to_value(&data).unwrap(),
            serde_json::json!({"kind": "typing", "data": {"user_id": user_id}})
        );
        assert_eq!(data.kind(), EventKind::Typing);
        let revoked = EventData::SessionRevoked(SessionRevoked {
            session_id: None,
            except: None,
        });
        assert_eq!(
            serde_json::to_value(&revoked).unwrap()["data"],
            serde_json::json!({"session_id": null}),
            "every session: `session_id` is null, not left out"
        );
    }

    /// The event log stores a payload as the tagged form's `data`, and reads it back by kind;
    /// an unknown kind is refused.
    #[test]
    fn payloads_are_stored_as_their_data() {
        let user_id = UserId::new();
        for data in [
            EventData::Typing(Typing { user_id }),
            EventData::SessionRevoked(SessionRevoked {
                session_id: None,
                except: None,
            }),
            EventData::ReadMarkerMoved(ReadMarkerMoved { user_id, seq: 7 }),
        ] {
            let stored = data.payload_json().unwrap();
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&stored).unwrap(),
                serde_json::to_value(&data).unwrap()["data"]
            );
            let kind = data.kind().as_str();
            assert_eq!(EventData::from_payload_json(kind, &stored).unwrap(), data);
        }
        assert!(EventData::from_payload_json("no_such_kind", "{}").is_err());
        assert!(EventData::from_payload_json("typing", "{}").is_err());
    }
}
