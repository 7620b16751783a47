//! Users chatting through chatcore in-process, on a temporary SQLite file: a direct chat,
//! then a group that a third user joins through an invite link, a reply and read receipts.
//!
//! Run with `cargo run -p example-embedded`.

use chatcore::groups::{ChatTitle, CreateGroup};
use chatcore::invites::{CreateInvite, InviteCode};
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

    // A group, and an invite link for a third user.
    let carla = Register::new(
        Username::parse("carla")?,
        Password::parse("carla's long secret")?,
    );
    let carla = chat.register(carla).await?;
    let carla_caller = chat.authenticate(&carla.session.token).await?;
    let group = chat
        .create_group(
            &ana_caller,
            CreateGroup::new(ChatTitle::parse("Launch team")?, vec![bruno.user.id]),
        )
        .await?;
    let group_id = group.chat.id;
    let mut invite = CreateInvite::new(group_id);
    invite.max_uses = Some(5);
    invite.expires_at = Some(chrono::Utc::now() + chrono::Duration::days(1));
    let invite = chat.create_invite(&ana_caller, invite).await?;
    println!(
        "
ana created an invite link: /invites/{}",
        invite.code
    );

    let code = InviteCode::parse(invite.code)?;
    let preview = chat.preview_invite(&carla_caller, &code).await?;
    println!(
        "carla previews it: {:?}, {} members, {:?}",
        preview.title.unwrap_or_default(),
        preview.member_count,
        preview.state
    );
    let joined = chat.accept_invite(&carla_caller, &code).await?;
    println!(
        "carla joined; the group has {} members",
        joined.chat.members.len()
    );

    // A question, a reply to it, and who has read the question.
    let question = chat
        .send_message(
            &ana_caller,
            SendMessage::new(group_id, MessageText::parse("Launch at 10:00?")?),
        )
        .await?;
    let answer = chat
        .send_message(
            &carla_caller,
            SendMessage::new(group_id, MessageText::parse("10:00 works for me")?)
                .reply_to(question.id),
        )
        .await?;
    if let Some(quoted) = &answer.reply_to {
        println!(
            "carla replied {:?} to {:?}",
            answer.text.as_deref().unwrap_or_default(),
            quoted.text.as_deref().unwrap_or_default()
        );
    }
    chat.mark_read(&bruno_caller, group_id, answer.seq).await?;
    println!("read by (question):");
    for receipt in chat
        .list_read_receipts(&ana_caller, group_id, question.id)
        .await?
    {
        println!(
            "  {} at {}",
            receipt.user.username,
            receipt.read_at.format("%H:%M:%S%.3f")
        );
    }
    Ok(())
}
