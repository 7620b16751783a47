//! Sending, history and deletion.

use futures::future::join_all;

use super::{register, say};
use crate::messages::{ClientId, HistoryQuery, MessageText, SendMessage};
use crate::{PageRequest, Service};

pub async fn client_id_makes_sends_idempotent(service: &dyn Service) {
    let tom = register(service, "tom").await;
    let uma = register(service, "uma").await;
    let chat = service
        .start_direct_chat(&tom.caller, uma.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    let send = |text: &str, client_id: &str| {
        let mut message = SendMessage::new(chat, MessageText::parse(text).unwrap());
        message.client_id = Some(ClientId::parse(client_id).unwrap());
        message
    };
    let first = service
        .send_message(&tom.caller, send("once", "c-1"))
        .await
        .unwrap();
    let retry = service
        .send_message(&tom.caller, send("once", "c-1"))
        .await
        .unwrap();
    assert_eq!(retry, first);
    // Concurrent retries too.
    let retries = (0..8).map(|_| service.send_message(&tom.caller, send("once", "c-2")));
    let results: Vec<_> = join_all(retries)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert!(results.iter().all(|message| message.id == results[0].id));
    // The same client id from another sender is another message.
    let other = service
        .send_message(&uma.caller, send("mine", "c-1"))
        .await
        .unwrap();
    assert_ne!(other.id, first.id);

    let history = service
        .list_messages(&tom.caller, chat, HistoryQuery::latest())
        .await
        .unwrap();
    let seqs: Vec<_> = history.iter().map(|message| message.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
}

pub async fn concurrent_senders_get_contiguous_seqs(service: &dyn Service) {
    let vic = register(service, "vic").await;
    let wes = register(service, "wes").await;
    let chat = service
        .start_direct_chat(&vic.caller, wes.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    const SENDERS: usize = 32;
    const EACH: usize = 4;
    let senders = (0..SENDERS).map(|i| {
        let user = if i % 2 == 0 { &vic } else { &wes };
        async move {
            let mut acknowledged = Vec::new();
            for j in 0..EACH {
                let text = MessageText::parse(format!("{i}-{j}")).unwrap();
                let message = service
                    .send_message(&user.caller, SendMessage::new(chat, text))
                    .await
                    .expect("every concurrent send is acknowledged");
                acknowledged.push(message);
            }
            acknowledged
        }
    });
    let acknowledged: Vec<_> = join_all(senders).await.into_iter().flatten().collect();
    assert_eq!(acknowledged.len(), SENDERS * EACH);

    let query = HistoryQuery::new(None, None, Some(200)).unwrap();
    let history = service
        .list_messages(&vic.caller, chat, query)
        .await
        .unwrap();
    let seqs: Vec<i64> = history.iter().map(|message| message.seq).collect();
    let expected: Vec<i64> = (1..=(SENDERS * EACH) as i64).collect();
    assert_eq!(seqs, expected, "seq 1..N, no gap, no duplicate");
    for message in &acknowledged {
        let stored = &history[(message.seq - 1) as usize];
        assert_eq!(stored.id, message.id);
        assert_eq!(stored.text, message.text);
    }
    let list = service
        .list_chats(&vic.caller, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        list.items[0].last_message.as_ref().unwrap().seq,
        (SENDERS * EACH) as i64
    );
}

pub async fn history_pages_by_cursor(service: &dyn Service) {
    let xia = register(service, "xia").await;
    let yan = register(service, "yan").await;
    let chat = service
        .start_direct_chat(&xia.caller, yan.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    for i in 1..=120 {
        let text = MessageText::parse(format!("message {i}")).unwrap();
        service
            .send_message(&xia.caller, SendMessage::new(chat, text))
            .await
            .unwrap();
    }
    let seqs = |messages: Vec<crate::messages::Message>| -> Vec<i64> {
        messages.into_iter().map(|message| message.seq).collect()
    };
    let latest = service
        .list_messages(&yan.caller, chat, HistoryQuery::latest())
        .await
        .unwrap();
    assert_eq!(seqs(latest), (71..=120).collect::<Vec<_>>());

    let before = HistoryQuery::new(Some(71), None, Some(50)).unwrap();
    let page = service
        .list_messages(&yan.caller, chat, before)
        .await
        .unwrap();
    assert_eq!(seqs(page), (21..=70).collect::<Vec<_>>());
    let before = HistoryQuery::new(Some(21), None, Some(50)).unwrap();
    let page = service
        .list_messages(&yan.caller, chat, before)
        .await
        .unwrap();
    assert_eq!(seqs(page), (1..=20).collect::<Vec<_>>());

    let after = HistoryQuery::new(None, Some(100), Some(10)).unwrap();
    let page = service
        .list_messages(&yan.caller, chat, after)
        .await
        .unwrap();
    assert_eq!(seqs(page), (101..=110).collect::<Vec<_>>());
    let after = HistoryQuery::new(None, Some(120), None).unwrap();
    assert!(
        service
            .list_messages(&yan.caller, chat, after)
            .await
            .unwrap()
            .is_empty()
    );
    let range = HistoryQuery::new(Some(10), Some(4), None).unwrap();
    let page = service
        .list_messages(&yan.caller, chat, range)
        .await
        .unwrap();
    assert_eq!(seqs(page), (5..=9).collect::<Vec<_>>());
}

pub async fn deleting_leaves_a_tombstone(service: &dyn Service) {
    let zoe = register(service, "zoe").await;
    let amy = register(service, "amy").await;
    let chat = service
        .start_direct_chat(&zoe.caller, amy.id())
        .await
        .unwrap()
        .chat
        .chat
        .id;
    let first = say(service, &zoe, chat, "oops").await;
    let second = say(service, &amy, chat, "hi").await;

    let error = service
        .delete_message(&zoe.caller, chat, second.id)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
    service
        .delete_message(&zoe.caller, chat, first.id)
        .await
        .unwrap();
    service
        .delete_message(&zoe.caller, chat, first.id)
        .await
        .unwrap();

    let history = service
        .list_messages(&amy.caller, chat, HistoryQuery::latest())
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].seq, 1);
    assert!(history[0].deleted);
    assert_eq!(history[0].text, None);
    assert_eq!(history[1].text.as_deref(), Some("hi"));
    // The next message still gets the next seq.
    assert_eq!(say(service, &zoe, chat, "again").await.seq, 3);
    // A deleted message no longer counts as unread.
    let list = service
        .list_chats(&amy.caller, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(list.items[0].unread_count, 1);
}
