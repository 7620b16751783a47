//! Two users chatting through chatcore in-process, on a temporary SQLite file.
//!
//! Run with `cargo run -p example-embedded`.

use chatcore::messages::{HistoryQuery, MessageText, SendMessage};
use chatcore::users::{DisplayName, Password, Register, Username};
use chatcore::{PageRequest, Service};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("chat.db");
    let chat = chatcore_sqlite::open(&path).await?;
    println!("chat database: {}", path.display());

    let mut ana = Register::new(
        Username::parse("ana")?,
        Password::parse("ana's long secret")?,
    );
    ana.display_name = Some(DisplayName::parse("Ana")?);
    let ana = chat.register(ana).await?;
    let bruno = Register::new(
        Username::parse("bruno")?,
        Password::parse("bruno's long secret")?,
    );
    let bruno = chat.register(bruno).await?;

    // In a server, each request brings its token; in-process, we authenticate once.
    let ana_caller = chat.authenticate(&ana.session.token).await?;
    let bruno_caller = chat.authenticate(&bruno.session.token).await?;

    let direct = chat.start_direct_chat(&ana_caller, bruno.user.id).await?;
    let chat_id = direct.chat.chat.id;
    println!("ana started chat {chat_id} (new: {})", direct.created);

    let lines = [
        (&ana_caller, "Hola Bruno, ¿qué tal?"),
        (
            &bruno_caller,
            "Hi Ana! All good. Shipping the chat backend today.",
        ),
        (&ana_caller, "Nice. Send me the history when it's done."),
        (&bruno_caller, "It's right below."),
    ];
    for (caller, text) in lines {
        chat.send_message(caller, SendMessage::new(chat_id, MessageText::parse(text)?))
            .await?;
    }

    println!("\nhistory, as bruno sees it:");
    for message in chat
        .list_messages(&bruno_caller, chat_id, HistoryQuery::latest())
        .await?
    {
        let sender = if message.sender_id == ana.user.id {
            "ana"
        } else {
            "bruno"
        };
        let text = message.text.as_deref().unwrap_or("(deleted)");
        println!("  #{} {:>5}: {text}", message.seq, sender);
    }

    println!("\nana's chat list:");
    for item in chat
        .list_chats(&ana_caller, PageRequest::default())
        .await?
        .items
    {
        let peer = item.peer.map(|peer| peer.username).unwrap_or_default();
        let last = item
            .last_message
            .and_then(|message| message.text)
            .unwrap_or_default();
        println!("  with {peer}: {} unread, last: {last}", item.unread_count);
    }
    Ok(())
}
