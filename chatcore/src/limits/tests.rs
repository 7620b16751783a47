//! Tests of the rate limits.

// Limits are set field by field, as code outside the crate must (the struct is non-exhaustive).
#![allow(clippy::field_reassign_with_default)]

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::groups::{ChatTitle, CreateGroup};
use crate::invites::CreateInvite;
use crate::messages::{ForwardMessage, HistoryQuery, MessageText, SendMessage};
use crate::users::{Email, Login, Password, ProfileUpdate, Register, Username};
use crate::{Caller, ChatCore, Options, Service};

const SECRET: &str = "a long enough secret";

async fn limited(limits: RateLimits) -> RateLimited<ChatCore> {
    let core = crate::storage::sqlite::open_in_memory(Options::default())
        .await
        .unwrap();
    RateLimited::new(core, limits)
}

/// Registers straight on the wrapped service (no limit involved) and signs in.
async fn signup(chat: &RateLimited<ChatCore>, name: &str) -> Caller {
    let mut request = Register::new(
        Username::parse(name).unwrap(),
        Password::parse(SECRET).unwrap(),
    );
    request.email = Some(Email::parse(format!("{name}@example.com")).unwrap());
    let auth = chat.inner().register(request).await.unwrap();
    chat.authenticate(&auth.session.token).await.unwrap()
}

fn login(name: &str, password: &str) -> Login {
    Login {
        login: name.to_owned(),
        password: password.to_owned(),
        user_agent: None,
    }
}

fn wait_of(error: Error) -> Duration {
    match error {
        Error::RateLimited { retry_after } => retry_after,
        other => panic!("expected rate_limited, got {other:?}"),
    }
}

#[test]
fn rates_parse_and_print() {
    assert_eq!("60/1m".parse::<Rate>().unwrap(), Rate::per_minute(60));
    assert_eq!("20/m".parse::<Rate>().unwrap(), Rate::per_minute(20));
    assert_eq!("3/h".parse::<Rate>().unwrap(), Rate::per_hour(3));
    assert_eq!(
        " 10 / 15m ".parse::<Rate>().unwrap(),
        Rate::new(10, Duration::from_secs(900))
    );
    assert_eq!(
        "5/250ms".parse::<Rate>().unwrap(),
        Rate::new(5, Duration::from_millis(250))
    );
    for bad in ["", "60", "0/1m", "x/1m", "60/1w", "60/0s", "-1/1m"] {
        assert_eq!(
            bad.parse::<Rate>().unwrap_err().code(),
            "invalid_input",
            "{bad}"
        );
    }
    for rate in ["60/1m", "10/15m", "3/1h", "5/250ms", "7/1d", "2/90s"] {
        assert_eq!(rate.parse::<Rate>().unwrap().to_string(), rate);
    }
    assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
    assert!(parse_duration("soon").is_err());
}

#[test]
fn a_keyed_limiter_trips_per_key_and_refills() {
    let limiter = KeyedLimiter::new(Rate::new(2, Duration::from_millis(400)));
    limiter.check(&"ada").unwrap();
    limiter.check(&"ada").unwrap();
    let wait = wait_of(limiter.check(&"ada").unwrap_err());
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(200),
        "{wait:?}"
    );
    // Another key has its own budget.
    limiter.check(&"bob").unwrap();
    std::thread::sleep(wait + Duration::from_millis(20));
    limiter.check(&"ada").unwrap();
}

#[test]
fn idle_keys_are_dropped() {
    let limiter = KeyedLimiter::new(Rate::new(1, Duration::from_millis(50)));
    for key in 0..1000 {
        limiter.check(&key).unwrap();
    }
    assert_eq!(limiter.len(), 1000);
    std::thread::sleep(Duration::from_millis(120));
    limiter.retain_recent();
    assert!(limiter.is_empty(), "{} keys left", limiter.len());
}

#[tokio::test]
async fn failed_logins_lock_the_account_until_the_lockout_ends() {
    let mut limits = RateLimits::default();
    limits.login_failures = Rate::per_hour(3);
    // Long enough for the logins below (argon2 in a debug build, on a busy machine) to
    // finish inside it.
    limits.lockout = Duration::from_secs(4);
    let chat = limited(limits).await;
    signup(&chat, "ada").await;
    signup(&chat, "bob").await;
    for _ in 0..3 {
        let error = chat
            .login(login("ada", "wrong password"))
            .await
            .unwrap_err();
        assert_eq!(error.code(), "invalid_login");
    }
    // Locked: the right password is refused too, in any spelling of the login.
    let wait = wait_of(chat.login(login("ada", SECRET)).await.unwrap_err());
    assert!(wait <= Duration::from_secs(4), "{wait:?}");
    wait_of(chat.login(login(" ADA ", SECRET)).await.unwrap_err());
    // A success elsewhere changes nothing; other accounts are not affected.
    chat.login(login("bob", SECRET)).await.unwrap();
    wait_of(chat.login(login("ada", SECRET)).await.unwrap_err());

    tokio::time::sleep(Duration::from_millis(4100)).await;
    chat.login(login("ada", SECRET)).await.unwrap();
    // The failures have not refilled yet: one more wrong guess locks again at once.
    chat.login(login("ada", "wrong again")).await.unwrap_err();
    wait_of(chat.login(login("ada", SECRET)).await.unwrap_err());
}

#[tokio::test]
async fn concurrent_guesses_check_no_more_passwords_than_allowed() {
    let mut limits = RateLimits::default();
    limits.login_failures = Rate::per_hour(3);
    let chat = Arc::new(limited(limits).await);
    signup(&chat, "ada").await;
    let guesses = (0..12).map(|n| {
        let chat = chat.clone();
        tokio::spawn(async move { chat.login(login("ada", &format!("guess {n}"))).await })
    });
    let mut checked = 0;
    let mut refused = 0;
    for guess in guesses {
        match guess.await.unwrap().unwrap_err() {
            Error::InvalidLogin => checked += 1,
            Error::RateLimited { .. } => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((checked, refused), (3, 9));
}

#[tokio::test]
async fn overlong_logins_and_passwords_are_refused_before_anything() {
    let mut limits = RateLimits::default();
    limits.login_failures = Rate::per_hour(1);
    let chat = limited(limits).await;
    signup(&chat, "ada").await;
    let long_login = "a".repeat(MAX_LOGIN_CHARS + 1);
    let error = chat.login(login(&long_login, SECRET)).await.unwrap_err();
    assert_eq!(error.field(), Some("login"));
    let long_password = "p".repeat(MAX_PASSWORD_CHARS + 1);
    let error = chat.login(login("ada", &long_password)).await.unwrap_err();
    assert_eq!(error.field(), Some("password"));
    let error = chat.request_password_reset(&long_login).await.unwrap_err();
    assert_eq!(error.field(), Some("login"));
    // None of them counted as a failure.
    chat.login(login("ada", SECRET)).await.unwrap();
}

#[tokio::test]
async fn wrong_current_passwords_lock_change_and_unregister() {
    let mut limits = RateLimits::default();
    limits.password_failures = Rate::per_hour(2);
    limits.lockout = Duration::from_millis(1000);
    let chat = limited(limits).await;
    let ada = signup(&chat, "ada").await;
    let bob = signup(&chat, "bob").await;
    let new = Password::parse("another long secret").unwrap();
    let error = chat
        .change_password(&ada, "wrong password", new.clone())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_login");
    let error = chat.unregister(&ada, "wrong password").await.unwrap_err();
    assert_eq!(error.code(), "invalid_login");
    wait_of(
        chat.change_password(&ada, SECRET, new.clone())
            .await
            .unwrap_err(),
    );
    wait_of(chat.unregister(&ada, SECRET).await.unwrap_err());
    chat.change_password(&bob, SECRET, new.clone())
        .await
        .unwrap();

    tokio::time::sleep(Duration::from_millis(1100)).await;
    chat.change_password(&ada, SECRET, new).await.unwrap();
}

#[tokio::test]
async fn reset_requests_are_limited_per_login_whether_or_not_it_exists() {
    let mut limits = RateLimits::default();
    limits.password_reset_requests = Rate::new(2, Duration::from_secs(4));
    let chat = limited(limits).await;
    signup(&chat, "ada").await;
    chat.request_password_reset("ada").await.unwrap();
    chat.request_password_reset(" ADA").await.unwrap();
    let wait = wait_of(chat.request_password_reset("ada").await.unwrap_err());
    chat.request_password_reset("nobody").await.unwrap();
    chat.request_password_reset("nobody").await.unwrap();
    wait_of(chat.request_password_reset("nobody").await.unwrap_err());

    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    chat.request_password_reset("ada").await.unwrap();
}

#[tokio::test]
async fn sends_and_forwards_share_a_rate_per_user() {
    let mut limits = RateLimits::default();
    limits.sends = Rate::new(2, Duration::from_secs(4));
    let chat = limited(limits).await;
    let ada = signup(&chat, "ada").await;
    let bob = signup(&chat, "bob").await;
    let direct = chat.start_direct_chat(&ada, bob.user_id()).await.unwrap();
    let send =
        |text: &str| SendMessage::new(direct.chat.chat.id, MessageText::parse(text).unwrap());
    let first = chat.send_message(&ada, send("one")).await.unwrap();
    chat.send_message(&ada, send("two")).await.unwrap();
    let wait = wait_of(chat.send_message(&ada, send("three")).await.unwrap_err());
    let forward = ForwardMessage {
        chat_id: direct.chat.chat.id,
        message_id: first.id,
        to_chat_id: direct.chat.chat.id,
        client_id: None,
    };
    wait_of(
        chat.forward_message(&ada, forward.clone())
            .await
            .unwrap_err(),
    );
    // Bob has his own budget; the refused sends stored nothing.
    chat.send_message(&bob, send("hi")).await.unwrap();
    let history = chat
        .list_messages(&ada, direct.chat.chat.id, HistoryQuery::default())
        .await
        .unwrap();
    assert_eq!(history.len(), 3);

    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    chat.forward_message(&ada, forward).await.unwrap();
}

#[tokio::test]
async fn uploads_contacts_groups_invites_and_verifications_are_limited_per_user() {
    let mut limits = RateLimits::default();
    limits.avatar_uploads = Rate::per_hour(1);
    limits.contact_adds = Rate::per_hour(1);
    limits.group_creations = Rate::per_hour(1);
    limits.invite_creations = Rate::per_hour(1);
    limits.verification_requests = Rate::per_hour(1);
    let chat = limited(limits).await;
    let ada = signup(&chat, "ada").await;
    let bob = signup(&chat, "bob").await;

    // A refused upload is counted too: the work was done.
    assert_eq!(
        chat.set_avatar(&ada, b"not an image".to_vec())
            .await
            .unwrap_err()
            .code(),
        "invalid_file"
    );
    wait_of(
        chat.set_avatar(&ada, b"not an image".to_vec())
            .await
            .unwrap_err(),
    );
    // Uploads handed over as files (how the HTTP upload arrives) share the same count.
    let spooled = tempfile::tempfile().unwrap();
    wait_of(chat.set_avatar_file(&ada, spooled).await.unwrap_err());

    chat.add_contact(&ada, bob.user_id()).await.unwrap();
    wait_of(chat.block_user(&ada, bob.user_id()).await.unwrap_err());
    chat.block_user(&bob, ada.user_id()).await.unwrap();

    let title = || ChatTitle::parse("Team").unwrap();
    let group = chat
        .create_group(&ada, CreateGroup::new(title(), vec![]))
        .await
        .unwrap();
    wait_of(
        chat.create_group(&ada, CreateGroup::new(title(), vec![]))
            .await
            .unwrap_err(),
    );
    chat.create_invite(&ada, CreateInvite::new(group.chat.id))
        .await
        .unwrap();
    wait_of(
        chat.create_invite(&ada, CreateInvite::new(group.chat.id))
            .await
            .unwrap_err(),
    );

    chat.request_verification(&ada).await.unwrap();
    wait_of(chat.request_verification(&ada).await.unwrap_err());
    chat.request_verification(&bob).await.unwrap();
}

#[tokio::test]
async fn answers_that_an_email_is_taken_are_limited_per_caller() {
    let mut limits = RateLimits::default();
    limits.taken_email_answers = Rate::per_hour(2);
    limits.lockout = Duration::from_millis(1000);
    let chat = limited(limits).await;
    let ada = signup(&chat, "ada").await;
    let register = |name: &str, email: &str| {
        let mut request = Register::new(
            Username::parse(name).unwrap(),
            Password::parse(SECRET).unwrap(),
        );
        request.email = Some(Email::parse(email).unwrap());
        request
    };
    let here = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let elsewhere = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    for name in ["probe1", "probe2"] {
        let error = with_client(here, chat.register(register(name, "ada@example.com")))
            .await
            .unwrap_err();
        assert_eq!(error.field(), Some("email"));
        assert_eq!(error.code(), "user_already_exists");
    }
    // Now any email is refused to this address, free ones too, so the refusal tells
    // nothing; a registration without email still works, and so does another address.
    let free = with_client(here, chat.register(register("probe3", "free@example.com")));
    wait_of(free.await.unwrap_err());
    let plain = Register::new(
        Username::parse("probe4").unwrap(),
        Password::parse(SECRET).unwrap(),
    );
    with_client(here, chat.register(plain)).await.unwrap();
    let other = with_client(
        elsewhere,
        chat.register(register("probe5", "other@example.com")),
    );
    other.await.unwrap();

    // Profile updates count per user.
    let taken = |email: &str| ProfileUpdate {
        email: Some(Some(Email::parse(email).unwrap())),
        current_password: Some(SECRET.to_owned()),
        ..ProfileUpdate::default()
    };
    for _ in 0..2 {
        let error = chat
            .update_profile(&ada, taken("other@example.com"))
            .await
            .unwrap_err();
        assert_eq!(error.code(), "user_already_exists");
    }
    wait_of(
        chat.update_profile(&ada, taken("ada2@example.com"))
            .await
            .unwrap_err(),
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    with_client(here, chat.register(register("probe3", "free@example.com")))
        .await
        .unwrap();
    chat.update_profile(&ada, taken("ada2@example.com"))
        .await
        .unwrap();
}

#[tokio::test]
async fn counters_of_idle_keys_are_dropped() {
    let mut limits = RateLimits::default();
    limits.sends = Rate::new(5, Duration::from_millis(100));
    limits.password_reset_requests = Rate::new(5, Duration::from_millis(100));
    let chat = limited(limits).await;
    for n in 0..50 {
        chat.request_password_reset(&format!("user{n}"))
            .await
            .unwrap();
    }
    assert_eq!(chat.tracked_keys(), 50);
    tokio::time::sleep(Duration::from_millis(200)).await;
    chat.retain_recent();
    assert_eq!(chat.tracked_keys(), 0);
}
