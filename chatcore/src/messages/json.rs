//! [`to_json`]: a page of messages as JSON, written field by field.

use std::io::Write;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{ForwardedFrom, Message, ReactionCount, ReplyTo};
use crate::clock::with_rfc3339;

/// `messages` as a JSON array: the very bytes `serde_json::to_vec(messages)` writes, at a
/// fraction of the cost. A history page is the hottest read, and serde_json escapes every key,
/// id and time of it character by character; here only the texts go through its escaping.
/// `tests::writes_what_serde_writes` holds the two encodings together.
pub fn to_json(messages: &[Message]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + messages.len() * 384);
    out.push(b'[');
    for (index, message) in messages.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_message(&mut out, message);
    }
    out.push(b']');
    out
}

/// The fields in [`Message`]'s order, as its `Serialize` derive writes them.
fn write_message(out: &mut Vec<u8>, message: &Message) {
    id(out, b"{\"id\":", message.id.as_uuid());
    id(out, b",\"chat_id\":", message.chat_id.as_uuid());
    number(out, b",\"seq\":", message.seq);
    id(out, b",\"sender_id\":", message.sender_id.as_uuid());
    if let Some(text) = &message.text {
        string(out, b",\"text\":", text);
    }
    if let Some(client_id) = &message.client_id {
        string(out, b",\"client_id\":", client_id);
    }
    time(out, b",\"created_at\":", &message.created_at);
    if let Some(edited_at) = &message.edited_at {
        time(out, b",\"edited_at\":", edited_at);
    }
    boolean(out, b",\"deleted\":", message.deleted);
    if let Some(reply_to) = &message.reply_to {
        write_reply(out, reply_to);
    }
    if let Some(ForwardedFrom {
        message_id,
        sender_id,
    }) = &message.forwarded_from
    {
        id(
            out,
            b",\"forwarded_from\":{\"message_id\":",
            message_id.as_uuid(),
        );
        id(out, b",\"sender_id\":", sender_id.as_uuid());
        out.push(b'}');
    }
    out.extend_from_slice(b",\"reactions\":[");
    for (index, reaction) in message.reactions.iter().enumerate() {
        let ReactionCount { emoji, count, mine } = reaction;
        string(
            out,
            if index > 0 {
                b",{\"emoji\":"
            } else {
                b"{\"emoji\":"
            },
            emoji,
        );
        number(out, b",\"count\":", count);
        boolean(out, b",\"mine\":", *mine);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

fn write_reply(out: &mut Vec<u8>, reply: &ReplyTo) {
    id(
        out,
        b",\"reply_to\":{\"message_id\":",
        reply.message_id.as_uuid(),
    );
    number(out, b",\"seq\":", reply.seq);
    boolean(out, b",\"visible\":", reply.visible);
    if let Some(sender_id) = &reply.sender_id {
        id(out, b",\"sender_id\":", sender_id.as_uuid());
    }
    if let Some(text) = &reply.text {
        string(out, b",\"text\":", text);
    }
    boolean(out, b",\"deleted\":", reply.deleted);
    out.push(b'}');
}

fn id(out: &mut Vec<u8>, key: &[u8], id: Uuid) {
    out.extend_from_slice(key);
    out.push(b'"');
    out.extend_from_slice(
        id.hyphenated()
            .encode_lower(&mut Uuid::encode_buffer())
            .as_bytes(),
    );
    out.push(b'"');
}

fn number(out: &mut Vec<u8>, key: &[u8], value: impl std::fmt::Display) {
    out.extend_from_slice(key);
    // Writing into a `Vec` cannot fail.
    let _ = write!(out, "{value}");
}

fn boolean(out: &mut Vec<u8>, key: &[u8], value: bool) {
    out.extend_from_slice(key);
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

fn time(out: &mut Vec<u8>, key: &[u8], time: &DateTime<Utc>) {
    out.extend_from_slice(key);
    out.push(b'"');
    with_rfc3339(time, |text| out.extend_from_slice(text.as_bytes()));
    out.push(b'"');
}

/// Any text, escaped as serde_json escapes it.
fn string(out: &mut Vec<u8>, key: &[u8], text: &str) {
    out.extend_from_slice(key);
    // Writing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::clock::{from_micros, now};
    use crate::{ChatId, MessageId, UserId};

    fn message(seq: i64) -> Message {
        Message {
            id: MessageId::new(),
            chat_id: ChatId::new(),
            seq,
            sender_id: UserId::new(),
            text: Some(format!("message {seq}")),
            client_id: None,
            created_at: now(),
            edited_at: None,
            deleted: false,
            reply_to: None,
            forwarded_from: None,
            reactions: Vec::new(),
        }
    }

    /// Every field, present and absent, and texts that need escaping.
    #[test]
    fn writes_what_serde_writes() {
        let mut messages = vec![message(1)];
        let mut full = message(2);
        full.text = Some("quote \" backslash \\ slash / tab \t nl \n nul \u{0} bell \u{7} del \u{7f} é 👍 \u{2028}".into());
        full.client_id = Some("client-\"id\"".into());
        full.edited_at = Some(from_micros(1_700_000_000_123_000));
        full.created_at = from_micros(1_700_000_000_000_000);
        full.reply_to = Some(ReplyTo {
            message_id: MessageId::new(),
            seq: 1,
            visible: true,
            sender_id: Some(UserId::new()),
            text: Some("the \"original\"".into()),
            deleted: false,
        });
        full.forwarded_from = Some(ForwardedFrom {
            message_id: MessageId::new(),
            sender_id: UserId::new(),
        });
        full.reactions = vec![
            ReactionCount {
                emoji: "👍".into(),
                count: 3,
                mine: true,
            },
            ReactionCount {
                emoji: "❤️".into(),
                count: 1,
                mine: false,
            },
        ];
        messages.push(full);
        let mut hidden = message(-3);
        hidden.text = None;
        hidden.deleted = true;
        hidden.created_at = from_micros(i64::from(u32::MAX) * 1_000_000 + 1);
        hidden.reply_to = Some(ReplyTo {
            message_id: MessageId::new(),
            seq: i64::MAX,
            visible: false,
            sender_id: None,
            text: None,
            deleted: true,
        });
        messages.push(hidden);

        assert_eq!(to_json(&messages), serde_json::to_vec(&messages).unwrap());
        for single in &messages {
            let one = std::slice::from_ref(single);
            assert_eq!(to_json(one), serde_json::to_vec(one).unwrap());
        }
        assert_eq!(to_json(&[]), b"[]");
    }
}
