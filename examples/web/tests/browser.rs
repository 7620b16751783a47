//! The web chat in a real browser: the `example-web` binary on a free port over an SQLite
//! file, and two headless Chromium sessions (chromedriver, driven with fantoccini) as two
//! people, Alice and Bob, doing what a person would and checking what a person would see.
//!
//! Needs `chromedriver` and `chromium` (Debian: `apt-get install chromium chromium-driver`;
//! `CHROMEDRIVER` and `CHROME_BIN` name other paths). Without chromedriver the test says so
//! and passes, except with `CI=true`, where that is a failure. On a failure, screenshots of
//! both pages go to `$CARGO_TARGET_TMPDIR/example-web/`. With `UPDATE_SCREENSHOT=1` the test
//! rewrites `examples/web/screenshot.png`, the picture in the README.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::error::Error;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chatcore::Service;
use chatcore::messages::{MessageText, SendMessage};
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// How long anything may take to show up.
const WAIT: Duration = Duration::from_secs(15);
/// How often a page is checked while waiting.
const POLL: Duration = Duration::from_millis(100);
const PASSWORD: &str = "correct horse battery";
const GAP_MESSAGE: &str = "Sent while the server was down";

type Result<T = (), E = Box<dyn Error>> = std::result::Result<T, E>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_chat_in_real_browsers() {
    let Some(chromedriver) = chromedriver() else {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            panic!(
                "CI=true but chromedriver is not installed (apt-get install chromium chromium-driver)"
            );
        }
        eprintln!(
            "skipped: install chromium and chromium-driver (or set CHROMEDRIVER) to run the browser test"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(free_port(), dir.path().join("chat.db")).await;
    let driver = Driver::start(&chromedriver).await;
    let alice = Page::open(&driver, "alice", &server.base).await;
    let bob = Page::open(&driver, "bob", &server.base).await;

    let outcome = AssertUnwindSafe(scenario(&mut server, &alice, &bob))
        .catch_unwind()
        .await;
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error.to_string()),
        Err(panic) => Some(
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panicked".to_owned()),
        ),
    };
    if let Some(failure) = &failure {
        let out = output_dir();
        for page in [&alice, &bob] {
            page.save_screenshot(&out.join(format!("{}-failure.png", page.name)))
                .await;
        }
        eprintln!("{failure}\nscreenshots of both pages in {}", out.display());
    }
    alice.client.clone().close().await.ok();
    bob.client.clone().close().await.ok();
    if let Some(failure) = failure {
        panic!("{failure}");
    }
}

/// Everything the two of them do, in order.
async fn scenario(server: &mut Server, alice: &Page, bob: &Page) -> Result {
    // Both register.
    alice.register().await?;
    bob.register().await?;
    alice.mark_document().await?;
    // What Bob sees must arrive live, without his page reloading.
    bob.mark_document().await?;

    // Alice finds Bob and writes; Bob's list shows it live, unread.
    alice.fill("#user-search", "bob").await?;
    alice
        .click(Locator::Css(
            "[data-testid=search-result][data-username=bob] button",
        ))
        .await?;
    alice.wait_text("#chat-title", "bob").await?;
    alice.send("Hello Bob").await?;
    alice.wait_message("Hello Bob").await?;
    bob.wait_for(
        "Bob's chat list to show Alice's message, unread",
        "const item = document.querySelector('[data-testid=chat-item][data-title=alice]');
         return item
             && item.querySelector('[data-testid=chat-preview]').textContent === 'Hello Bob'
             && item.querySelector('[data-testid=unread-count]')?.textContent === '1';",
        vec![],
    )
    .await?;

    // Bob opens the chat (which reads it) and replies to Alice's message.
    bob.click(Locator::Css("[data-testid=chat-item][data-title=alice]"))
        .await?;
    bob.wait_message("Hello Bob").await?;
    bob.wait_for(
        "the unread count to go once Bob opened the chat",
        "return !document.querySelector('[data-testid=chat-item][data-title=alice] [data-testid=unread-count]')",
        vec![],
    )
    .await?;
    bob.click(Locator::XPath(&message_button(
        "Hello Bob",
        "[@data-action='reply']",
    )))
    .await?;
    bob.send("Hi Alice!").await?;
    alice.wait_message("Hi Alice!").await?;
    alice
        .wait_for(
            "Bob's reply to quote Alice's message",
            "return [...document.querySelectorAll('[data-testid=reply-quote]')]
                 .some(q => q.textContent === 'you: Hello Bob')",
            vec![],
        )
        .await?;
    // Alice has the chat open, so she has read it: Bob sees that.
    bob.wait_for(
        "Alice's read mark on Bob's reply",
        "const mark = document.querySelector('[data-testid=read-by]');
         return mark && mark.textContent.includes('Read by alice')
             && mark.closest('[data-testid=message]').textContent.includes('Hi Alice!');",
        vec![],
    )
    .await?;

    // They react to each other's messages; Alice edits hers, which keeps its reaction.
    bob.react("Hello Bob", "🎉").await?;
    alice
        .wait_reaction("Bob's reaction at Alice", "🎉 1")
        .await?;
    alice.react("Hi Alice!", "👍").await?;
    bob.wait_reaction("Alice's reaction at Bob", "👍 1").await?;
    alice
        .click(Locator::XPath(&message_button(
            "Hello Bob",
            "[@data-action='edit']",
        )))
        .await?;
    alice.fill("#composer-input", "Hello Bob, welcome!").await?;
    alice.click(Locator::Css("#send-button")).await?;
    bob.wait_message("Hello Bob, welcome!").await?;
    bob.wait_for(
        "the edited mark, and the reaction kept",
        "const edited = document.querySelector('[data-testid=edited]')?.closest('[data-testid=message]');
         return edited !== null && edited !== undefined
             && edited.querySelector('[data-testid=reaction]')?.textContent === '🎉 1';",
        vec![],
    )
    .await?;

    // Alice creates a group and an invite link; Bob joins by opening the link.
    alice.fill("#group-title", "Book club").await?;
    alice.click(Locator::Css("#create-group")).await?;
    alice.wait_text("#chat-title", "Book club").await?;
    alice.click(Locator::Css("#invite-button")).await?;
    let link = alice
        .wait_for(
            "the invite link",
            "const link = document.querySelector('#invite-link').value; return link || null",
            vec![],
        )
        .await?;
    let link = link.as_str().ok_or("the invite link is not a string")?;
    assert!(
        link.starts_with(&format!("{}/join/", server.base)),
        "{link}"
    );
    bob.assert_same_document().await?;
    bob.client.goto(link).await?;
    bob.wait_text("#invite-title", "Book club").await?;
    bob.click(Locator::Css("#join-button")).await?;
    bob.wait_text("#chat-title", "Book club").await?;
    bob.mark_document().await?;
    alice
        .wait_for(
            "Bob among the group's members at Alice",
            "return document.querySelector('#chat-subtitle').textContent.includes('bob')",
            vec![],
        )
        .await?;

    // Bob types in the group: Alice sees it; then he sends.
    bob.fill("#composer-input", "Count me").await?;
    alice.wait_text("#typing", "bob is typing…").await?;
    bob.find(Locator::Css("#composer-input"))
        .await?
        .send_keys(" in")
        .await?;
    bob.click(Locator::Css("#send-button")).await?;
    alice.wait_message("Count me in").await?;
    alice.wait_text("#typing", "").await?;

    // Avatars: each uploads one, and each sees the other's in the chat list.
    alice
        .upload_avatar(&png(&server.dir, "alice.png", [59, 110, 245])?)
        .await?;
    bob.upload_avatar(&png(&server.dir, "bob.png", [231, 111, 81])?)
        .await?;
    bob.wait_for(
        "Alice's avatar in Bob's chat list",
        "return loaded(document.querySelector('[data-testid=chat-item][data-title=alice] img'))",
        vec![],
    )
    .await?;
    alice
        .wait_for(
            "Bob's avatar in Alice's chat list",
            "return loaded(document.querySelector('[data-testid=chat-item][data-title=bob] img'))",
            vec![],
        )
        .await?;

    // The README's picture: Alice's view of the direct chat.
    alice
        .click(Locator::Css("[data-testid=chat-item][data-title=bob]"))
        .await?;
    alice.wait_message("Hi Alice!").await?;
    alice
        .wait_for(
            "Bob's avatar beside his messages",
            "return loaded(document.querySelector('[data-testid=message] img'))",
            vec![],
        )
        .await?;
    let picture = alice.client.screenshot().await?;
    std::fs::write(output_dir().join("screenshot.png"), &picture)?;
    if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        std::fs::write(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("screenshot.png"),
            &picture,
        )?;
    }

    // Alice deletes a mistaken message; Bob, back in the direct chat, sees it go.
    bob.click(Locator::Css("[data-testid=chat-item][data-title=alice]"))
        .await?;
    bob.wait_message("Hello Bob, welcome!").await?;
    alice.send("Oops, wrong chat").await?;
    bob.wait_message("Oops, wrong chat").await?;
    alice
        .click(Locator::XPath(&message_button(
            "Oops, wrong chat",
            "[@data-action='delete']",
        )))
        .await?;
    bob.wait_for(
        "the deletion at Bob",
        "return document.querySelector('[data-testid=message-deleted]') !== null
             && !texts().includes('Oops, wrong chat')",
        vec![],
    )
    .await?;

    // The server dies with both pages open on the direct chat. While it is down, Bob writes
    // (through the library, on the same database file: no page can be connected then).
    let (token, chat_id) = bobs_session_and_chat_with_alice(&server.base).await?;
    server.kill().await;
    for page in [alice, bob] {
        page.wait_for(
            "the page to notice the connection is gone",
            "return document.querySelector('#connection').dataset.state === 'reconnecting'",
            vec![],
        )
        .await?;
    }
    {
        let chat = chatcore_sqlite::open(&server.database).await?;
        let caller = chat.authenticate(&token).await?;
        chat.send_message(
            &caller,
            SendMessage::new(chat_id.parse()?, MessageText::parse(GAP_MESSAGE)?),
        )
        .await?;
    }
    server.restart().await;
    for page in [alice, bob] {
        page.wait_for(
            "the page to reconnect",
            "return document.querySelector('#connection').dataset.state === 'online'",
            vec![],
        )
        .await?;
        page.wait_message(GAP_MESSAGE).await?;
    }
    // A live message after it: once Bob sees it, everything before it has arrived.
    alice.send("Back online").await?;
    bob.wait_message("Back online").await?;
    alice.wait_message("Back online").await?;
    for page in [alice, bob] {
        let count = page
            .script(
                "return texts().filter(t => t === arguments[0]).length",
                vec![json!(GAP_MESSAGE)],
            )
            .await?;
        assert_eq!(
            count,
            json!(1),
            "{}'s page shows the message sent during the gap once",
            page.name
        );
    }
    // Both pages reconnected by themselves: neither was reloaded.
    alice.assert_same_document().await?;
    bob.assert_same_document().await?;

    // Alice logs out, and back in.
    alice.click(Locator::Css("#logout")).await?;
    alice
        .wait_for(
            "the login form",
            "return !document.querySelector('#auth-view').hidden",
            vec![],
        )
        .await?;
    alice.fill("#auth-username", "alice").await?;
    alice.fill("#auth-password", PASSWORD).await?;
    alice.click(Locator::Css("#login-button")).await?;
    alice
        .wait_for(
            "Alice's chats after logging in again",
            "return ['bob', 'Book club'].every(title =>
                 document.querySelector(`[data-testid=chat-item][data-title='${title}']`))",
            vec![],
        )
        .await?;
    Ok(())
}

/// The XPath of a message's button, found by the message's text: `[@data-action='reply']`,
/// `[@data-action='react' and @data-emoji='👍']`, ...
fn message_button(text: &str, button: &str) -> String {
    format!(
        "//li[@data-testid='message'][.//div[@data-testid='message-text' and text()='{text}']]\
         //button{button}"
    )
}

/// Functions every check script may use.
const HELPERS: &str = "
    const texts = () => [...document.querySelectorAll('[data-testid=message-text]')].map(e => e.textContent);
    const loaded = (img) => Boolean(img && img.complete && img.naturalWidth > 0);
";

/// One person's browser.
struct Page {
    client: Client,
    name: &'static str,
    base: String,
}

impl Page {
    async fn open(driver: &Driver, name: &'static str, base: &str) -> Page {
        let mut chrome = json!({
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                "--window-size=1200,800",
                "--lang=en-US",
            ],
        });
        if let Some(binary) = chrome_binary() {
            chrome["binary"] = json!(binary);
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), chrome);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a Chromium session");
        Page {
            client,
            name,
            base: base.to_owned(),
        }
    }

    /// Marks the page's document: a reload loses the mark.
    async fn mark_document(&self) -> Result {
        self.script("window.sameDocument = true", vec![]).await?;
        Ok(())
    }

    /// Fails when the page was reloaded since [`Page::mark_document`].
    async fn assert_same_document(&self) -> Result {
        let same = self
            .script("return window.sameDocument === true", vec![])
            .await?;
        if same != json!(true) {
            return Err(format!("{}'s page was reloaded", self.name).into());
        }
        Ok(())
    }

    async fn register(&self) -> Result {
        self.client.goto(&format!("{}/", self.base)).await?;
        self.fill("#auth-username", self.name).await?;
        self.fill("#auth-password", PASSWORD).await?;
        self.click(Locator::Css("#register-button")).await?;
        self.wait_text("#me-name", self.name).await?;
        self.wait_for(
            "the event stream",
            "return document.querySelector('#connection').dataset.state === 'online'",
            vec![],
        )
        .await?;
        Ok(())
    }

    /// Runs `script` (a function body, with [`HELPERS`]) in the page.
    async fn script(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        Ok(self
            .client
            .execute(&format!("{HELPERS}\n{script}"), args)
            .await?)
    }

    /// Waits until `script` answers something other than `false`, `null` or nothing, and
    /// answers that.
    async fn wait_for(&self, what: &str, script: &str, args: Vec<Value>) -> Result<Value> {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            match self.script(script, args.clone()).await {
                Ok(Value::Null | Value::Bool(false)) => {}
                Ok(value) => return Ok(value),
                Err(error) => last = format!(" (last error: {error})"),
            }
            if Instant::now() > deadline {
                return Err(format!("{}: timed out waiting for {what}{last}", self.name).into());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn wait_text(&self, selector: &str, text: &str) -> Result {
        self.wait_for(
            &format!("{selector} to read {text:?}"),
            "return document.querySelector(arguments[0])?.textContent === arguments[1]",
            vec![json!(selector), json!(text)],
        )
        .await
        .map(drop)
    }

    async fn wait_message(&self, text: &str) -> Result {
        self.wait_for(
            &format!("the message {text:?}"),
            "return texts().includes(arguments[0])",
            vec![json!(text)],
        )
        .await
        .map(drop)
    }

    /// The element, once it is there.
    /// Reacts with `emoji` to the message that reads `text`.
    async fn react(&self, text: &str, emoji: &str) -> Result {
        let button = format!("[@data-action='react' and @data-emoji='{emoji}']");
        self.click(Locator::XPath(&message_button(text, &button)))
            .await
    }

    /// Waits until a reaction on the page reads `shown` (`"🎉 1"`).
    async fn wait_reaction(&self, what: &str, shown: &str) -> Result {
        self.wait_for(
            what,
            "return [...document.querySelectorAll('[data-testid=reaction]')]
                 .some(r => r.textContent === arguments[0])",
            vec![json!(shown)],
        )
        .await
        .map(drop)
    }

    async fn find(&self, locator: Locator<'_>) -> Result<fantoccini::elements::Element> {
        Ok(self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(locator)
            .await?)
    }

    /// Clicks the element once it is there and can be clicked.
    async fn click(&self, locator: Locator<'_>) -> Result {
        let deadline = Instant::now() + WAIT;
        loop {
            let error = match self.find(locator).await?.click().await {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            if Instant::now() > deadline {
                return Err(format!("{}: cannot click {locator:?}: {error}", self.name).into());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Types `text` into the input, replacing what it holds, key by key as a person would.
    async fn fill(&self, selector: &str, text: &str) -> Result {
        let deadline = Instant::now() + WAIT;
        loop {
            let input = self.find(Locator::Css(selector)).await?;
            let typed = async {
                input.clear().await?;
                input.send_keys(text).await
            };
            let error = match typed.await {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            if Instant::now() > deadline {
                return Err(format!("{}: cannot type into {selector}: {error}", self.name).into());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn send(&self, text: &str) -> Result {
        self.fill("#composer-input", text).await?;
        self.click(Locator::Css("#send-button")).await
    }

    async fn upload_avatar(&self, file: &Path) -> Result {
        self.find(Locator::Css("#avatar-input"))
            .await?
            .send_keys(&file.display().to_string())
            .await?;
        self.wait_for(
            "the new avatar in the header",
            "return loaded(document.querySelector('#me-avatar img'))",
            vec![],
        )
        .await
        .map(drop)
    }

    async fn save_screenshot(&self, path: &Path) {
        match self.client.screenshot().await {
            Ok(png) => {
                if let Err(error) = std::fs::write(path, png) {
                    eprintln!("cannot write {}: {error}", path.display());
                }
            }
            Err(error) => eprintln!("no screenshot of {}'s page: {error}", self.name),
        }
    }
}

/// The `example-web` binary on a port and a database file.
struct Server {
    child: Option<Child>,
    port: u16,
    base: String,
    database: PathBuf,
    dir: PathBuf,
}

impl Server {
    async fn start(port: u16, database: PathBuf) -> Server {
        let dir = database.parent().unwrap().to_owned();
        let mut server = Server {
            child: None,
            port,
            base: format!("http://127.0.0.1:{port}"),
            database,
            dir,
        };
        server.restart().await;
        server
    }

    /// Starts the binary (again) on the same port and file, and waits until it answers.
    async fn restart(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_example-web"))
            .arg("--bind")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--database")
            .arg(&self.database)
            .arg("--no-rate-limits")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the example-web binary starts");
        self.child = Some(child);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = http
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "example-web did not start");
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGKILL: no goodbye to the open connections.
    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("example-web is killed");
        }
    }
}

/// A chromedriver on a free port.
struct Driver {
    _child: Child,
    url: String,
}

impl Driver {
    async fn start(binary: &Path) -> Driver {
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + WAIT;
        loop {
            let status = http.get(format!("{url}/status")).send().await;
            if let Ok(response) = status
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == json!(true)
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(POLL).await;
        }
        Driver { _child: child, url }
    }
}

/// Bob's own session (a login of his, besides his page's) and the id of his chat with Alice.
async fn bobs_session_and_chat_with_alice(base: &str) -> Result<(String, String)> {
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "login": "bob", "password": PASSWORD }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = login["session"]["token"]
        .as_str()
        .ok_or("no token")?
        .to_owned();
    let chats: Value = http
        .get(format!("{base}/api/v1/chats"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let chat_id = chats["items"]
        .as_array()
        .ok_or("no chats")?
        .iter()
        .find(|chat| chat["peer"]["username"] == "alice")
        .and_then(|chat| chat["id"].as_str())
        .ok_or("no chat with alice")?
        .to_owned();
    Ok((token, chat_id))
}

/// A 64×64 PNG, a gradient of `color`, for an avatar.
fn png(dir: &Path, name: &str, color: [u8; 3]) -> Result<PathBuf> {
    let path = dir.join(name);
    let file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut encoder = png::Encoder::new(file, 64, 64);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    let mut pixels = Vec::with_capacity(64 * 64 * 3);
    for y in 0..64u16 {
        for x in 0..64u16 {
            let shade = |channel: u8| (u16::from(channel) * (128 + x + y) / 256) as u8;
            pixels.extend(color.map(shade));
        }
    }
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(path)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("example-web");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `CHROMEDRIVER`, or `chromedriver` on the `PATH`.
fn chromedriver() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMEDRIVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromedriver"))
        .find(|candidate| candidate.is_file())
}

/// `CHROME_BIN`, or Debian's chromium when it is there (chromedriver looks for Chrome
/// otherwise).
fn chrome_binary() -> Option<String> {
    if let Ok(path) = std::env::var("CHROME_BIN") {
        return Some(path);
    }
    let debian = Path::new("/usr/bin/chromium");
    debian.is_file().then(|| debian.display().to_string())
}
