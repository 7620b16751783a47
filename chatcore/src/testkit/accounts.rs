//! Accounts and sessions.

use chrono::Duration;

use super::{Harness, register};
use crate::notify::NoticeKind;
use crate::users::{
    DisplayName, Email, ExternalId, ExternalUser, Login, Password, ProfileUpdate, Register, Role,
    Status, UserRef, UserSearch, Username,
};
use crate::{ChatCore, Error, Options, PageRequest, Service, UserId};

fn login(login: &str, password: &str) -> Login {
    Login {
        login: login.to_owned(),
        password: password.to_owned(),
        user_agent: Some("testkit".to_owned()),
    }
}

pub async fn register_returns_user_and_working_session(service: &dyn Service) {
    let mut request = Register::new(
        Username::parse("Alice").unwrap(),
        Password::parse("correct horse battery").unwrap(),
    );
    request.email = Some(Email::parse("Alice@Example.com").unwrap());
    request.display_name = Some(DisplayName::parse("Alice Liddell").unwrap());
    request.user_agent = Some("curl/8".to_owned());
    let auth = service.register(request).await.unwrap();
    assert_eq!(auth.user.username, "Alice");
    assert_eq!(auth.user.email.as_deref(), Some("alice@example.com"));
    assert!(auth.user.active);
    assert!(auth.session.session.active && auth.session.session.current);
    assert_eq!(auth.session.session.user_agent.as_deref(), Some("curl/8"));
    assert!(auth.session.session.expires_at > auth.session.session.created_at + Duration::days(29));

    let caller = service.authenticate(&auth.session.token).await.unwrap();
    assert_eq!(caller.user_id(), auth.user.id);
    assert_eq!(caller.session_id(), auth.session.session.id);
    let me = service.get_me(&caller).await.unwrap();
    assert_eq!(me, auth.user);
}

pub async fn usernames_and_emails_are_unique_case_insensitively(service: &dyn Service) {
    let mut first = Register::new(
        Username::parse("bob").unwrap(),
        Password::parse("bob's long password").unwrap(),
    );
    first.email = Some(Email::parse("bob@example.com").unwrap());
    service.register(first).await.unwrap();

    let same_name = Register::new(
        Username::parse("BOB").unwrap(),
        Password::parse("another long password").unwrap(),
    );
    let error = service.register(same_name).await.unwrap_err();
    assert_eq!(error.code(), "user_already_exists");
    assert_eq!(error.field(), Some("username"));

    let mut same_email = Register::new(
        Username::parse("robert").unwrap(),
        Password::parse("another long password").unwrap(),
    );
    same_email.email = Some(Email::parse("BOB@example.COM").unwrap());
    let error = service.register(same_email).await.unwrap_err();
    assert_eq!(error.field(), Some("email"));

    // Nothing was created by the refused attempts.
    let error = service
        .login(login("robert", "another long password"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_login");
}

pub async fn login_by_username_or_email_in_any_case(service: &dyn Service) {
    let mut request = Register::new(
        Username::parse("Carol").unwrap(),
        Password::parse("carol's passphrase").unwrap(),
    );
    request.email = Some(Email::parse("carol@example.com").unwrap());
    let registered = service.register(request).await.unwrap();

    for name in [
        "Carol",
        "carol",
        "CAROL",
        "carol@example.com",
        "Carol@Example.COM",
    ] {
        let auth = service
            .login(login(name, "carol's passphrase"))
            .await
            .unwrap();
        assert_eq!(auth.user.id, registered.user.id, "{name}");
        let caller = service.authenticate(&auth.session.token).await.unwrap();
        assert_eq!(caller.user_id(), registered.user.id);
    }
    let caller = service
        .authenticate(&registered.session.token)
        .await
        .unwrap();
    assert_eq!(service.list_sessions(&caller).await.unwrap().len(), 6);
}

pub async fn bad_logins_are_indistinguishable(service: &dyn Service) {
    register(service, "dave").await;
    let wrong_password = service
        .login(login("dave", "not the password"))
        .await
        .unwrap_err();
    let unknown_user = service
        .login(login("nobody", "not the password"))
        .await
        .unwrap_err();
    let unknown_email = service.login(login("no@body.org", "x")).await.unwrap_err();
    for error in [&wrong_password, &unknown_user, &unknown_email] {
        assert!(matches!(error, Error::InvalidLogin));
        assert_eq!(error.to_string(), wrong_password.to_string());
    }
}

pub async fn logout_revokes_the_token_at_once(service: &dyn Service) {
    let erin = register(service, "erin").await;
    let other = service.login(login("erin", &erin.password)).await.unwrap();
    service.logout(&erin.caller).await.unwrap();
    let error = service
        .authenticate(&erin.auth.session.token)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_authorized");
    // Other sessions are untouched.
    let caller = service.authenticate(&other.session.token).await.unwrap();
    let sessions = service.list_sessions(&caller).await.unwrap();
    let ended = sessions
        .iter()
        .find(|session| session.id == erin.auth.session.session.id)
        .unwrap();
    assert!(!ended.active);
}

pub async fn sessions_are_listed_and_revocable(service: &dyn Service) {
    let frank = register(service, "frank").await;
    let phone = service
        .login(login("frank", &frank.password))
        .await
        .unwrap();
    let sessions = service.list_sessions(&frank.caller).await.unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|session| session.current).count(), 1);
    assert_eq!(sessions[0].id, phone.session.session.id, "newest first");

    service
        .revoke_session(&frank.caller, phone.session.session.id)
        .await
        .unwrap();
    assert_eq!(
        service
            .authenticate(&phone.session.token)
            .await
            .unwrap_err()
            .code(),
        "not_authorized"
    );
    service
        .authenticate(&frank.auth.session.token)
        .await
        .unwrap();

    // Someone else's session is not found, and stays valid.
    let grace = register(service, "grace").await;
    let error = service
        .revoke_session(&frank.caller, grace.auth.session.session.id)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    service
        .authenticate(&grace.auth.session.token)
        .await
        .unwrap();
}

pub async fn expired_sessions_are_refused(core: &ChatCore) {
    let short = ChatCore::open(
        core.connection().clone(),
        Options::default().session_lifetime(Duration::seconds(-1)),
    )
    .await
    .unwrap();
    let auth = short
        .register(Register::new(
            Username::parse("heidi").unwrap(),
            Password::parse("heidi's passphrase").unwrap(),
        ))
        .await
        .unwrap();
    assert!(!auth.session.session.active);
    assert_eq!(
        short
            .authenticate(&auth.session.token)
            .await
            .unwrap_err()
            .code(),
        "not_authorized"
    );
    assert_eq!(
        core.authenticate(&auth.session.token)
            .await
            .unwrap_err()
            .code(),
        "not_authorized"
    );
}

pub async fn forged_tokens_are_refused(core: &ChatCore) {
    let ivan = register(core, "ivan").await;
    for token in [
        "",
        "garbage",
        "a.b.c",
        &format!("{}x", ivan.auth.session.token),
    ] {
        assert_eq!(
            core.authenticate(token).await.unwrap_err().code(),
            "not_authorized"
        );
    }
    // A token signed with another secret.
    let other = ChatCore::open(
        core.connection().clone(),
        Options::default().signing_secret(vec![7u8; 32]),
    )
    .await
    .unwrap();
    let forged = other
        .register(Register::new(
            Username::parse("mallory").unwrap(),
            Password::parse("mallory's passphrase").unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(
        core.authenticate(&forged.session.token)
            .await
            .unwrap_err()
            .code(),
        "not_authorized"
    );
    assert!(
        ChatCore::open(
            core.connection().clone(),
            Options::default().signing_secret(vec![1u8; 8])
        )
        .await
        .is_err()
    );
}

pub async fn signing_secret_is_shared_through_the_database(core: &ChatCore) {
    let judy = register(core, "judy").await;
    // A second node on the same database accepts the first node's tokens. (Two services on
    // one database without a shared event bus must not cache: neither would hear of the
    // other's changes.)
    let node_b = ChatCore::open(core.connection().clone(), Options::default().cache(false))
        .await
        .unwrap();
    let caller = node_b.authenticate(&judy.auth.session.token).await.unwrap();
    assert_eq!(caller.user_id(), judy.id());
    // And logout on one node is seen by the other at once.
    core.logout(&caller).await.unwrap();
    assert!(node_b.authenticate(&judy.auth.session.token).await.is_err());
}

pub async fn profile_updates_recheck_uniqueness(service: &dyn Service) {
    let karl = register(service, "karl").await;
    let mut request = Register::new(
        Username::parse("lena").unwrap(),
        Password::parse("lena's passphrase").unwrap(),
    );
    request.email = Some(Email::parse("lena@example.com").unwrap());
    service.register(request).await.unwrap();

    let taken_name = ProfileUpdate {
        current_password: Some(karl.password.clone()),
        username: Some(Username::parse("LENA").unwrap()),
        display_name: Some(Some(DisplayName::parse("Should not stick").unwrap())),
        ..Default::default()
    };
    let error = service
        .update_profile(&karl.caller, taken_name)
        .await
        .unwrap_err();
    assert_eq!(error.field(), Some("username"));
    let taken_email = ProfileUpdate {
        current_password: Some(karl.password.clone()),
        email: Some(Some(Email::parse("lena@example.com").unwrap())),
        ..Default::default()
    };
    let error = service
        .update_profile(&karl.caller, taken_email)
        .await
        .unwrap_err();
    assert_eq!(error.field(), Some("email"));
    assert_eq!(
        service.get_me(&karl.caller).await.unwrap().display_name,
        None
    );

    let update = ProfileUpdate {
        current_password: Some(karl.password.clone()),
        username: Some(Username::parse("Karl").unwrap()),
        email: Some(Some(Email::parse("karl@example.com").unwrap())),
        display_name: Some(Some(DisplayName::parse("Karl Marx").unwrap())),
        status: Some(Some(Status::parse("writing").unwrap())),
        ..Default::default()
    };
    let updated = service.update_profile(&karl.caller, update).await.unwrap();
    assert_eq!(updated.username, "Karl");
    assert_eq!(updated.display_name.as_deref(), Some("Karl Marx"));
    assert_eq!(service.get_me(&karl.caller).await.unwrap(), updated);
    let profile = service.get_user(&karl.caller, karl.id()).await.unwrap();
    assert_eq!(profile.status.as_deref(), Some("writing"));

    let cleared = ProfileUpdate {
        current_password: Some(karl.password.clone()),
        email: Some(None),
        ..Default::default()
    };
    assert_eq!(
        service
            .update_profile(&karl.caller, cleared)
            .await
            .unwrap()
            .email,
        None
    );
}

pub async fn search_finds_active_users_by_substring_in_pages(service: &dyn Service) {
    let searcher = register(service, "searcher").await;
    for name in ["mia_one", "mia_two", "mia_three", "Zed_mia", "other"] {
        register(service, name).await;
    }
    let named = register(service, "plain").await;
    let update = ProfileUpdate {
        display_name: Some(Some(DisplayName::parse("Mia Plain").unwrap())),
        ..Default::default()
    };
    service.update_profile(&named.caller, update).await.unwrap();
    let gone = register(service, "mia_gone").await;
    service
        .unregister(&gone.caller, &gone.password)
        .await
        .unwrap();

    let search = |query: &str, page: u32, limit: u32| UserSearch {
        query: Some(query.to_owned()),
        page: PageRequest::new(Some(page), Some(limit)).unwrap(),
    };
    let all = service
        .search_users(&searcher.caller, search("MIA", 1, 100))
        .await
        .unwrap();
    let names: Vec<_> = all
        .items
        .iter()
        .map(|user| user.username.as_str())
        .collect();
    assert_eq!(
        names,
        ["mia_one", "mia_three", "mia_two", "plain", "Zed_mia"]
    );
    assert!(!all.has_more);

    let first = service
        .search_users(&searcher.caller, search("mia", 1, 2))
        .await
        .unwrap();
    let second = service
        .search_users(&searcher.caller, search("mia", 2, 2))
        .await
        .unwrap();
    let third = service
        .search_users(&searcher.caller, search("mia", 3, 2))
        .await
        .unwrap();
    assert!(first.has_more && second.has_more && !third.has_more);
    let paged: Vec<_> = [first, second, third]
        .into_iter()
        .flat_map(|page| page.items)
        .map(|user| user.username)
        .collect();
    assert_eq!(paged, names);

    // LIKE wildcards are literal.
    let wildcard = service
        .search_users(&searcher.caller, search("%", 1, 10))
        .await
        .unwrap();
    assert!(wildcard.items.is_empty());
    let underscore = service
        .search_users(&searcher.caller, search("mi_", 1, 10))
        .await
        .unwrap();
    assert!(underscore.items.is_empty());
    let everyone = service
        .search_users(&searcher.caller, UserSearch::default())
        .await
        .unwrap();
    assert_eq!(everyone.items.len(), 7);
}

pub async fn unregister_needs_the_password_and_keeps_messages(service: &dyn Service) {
    let nick = register(service, "nick").await;
    let olga = register(service, "olga").await;
    let chat = service
        .start_direct_chat(&nick.caller, olga.id())
        .await
        .unwrap();
    let text = crate::messages::MessageText::parse("bye").unwrap();
    let sent = service
        .send_message(
            &nick.caller,
            crate::messages::SendMessage::new(chat.chat.chat.id, text),
        )
        .await
        .unwrap();

    let error = service
        .unregister(&nick.caller, "wrong password")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_login");
    service
        .authenticate(&nick.auth.session.token)
        .await
        .unwrap();

    service
        .unregister(&nick.caller, &nick.password)
        .await
        .unwrap();
    assert!(
        service
            .authenticate(&nick.auth.session.token)
            .await
            .is_err()
    );
    assert_eq!(
        service
            .login(login("nick", &nick.password))
            .await
            .unwrap_err()
            .code(),
        "invalid_login"
    );
    let profile = service.get_user(&olga.caller, nick.id()).await.unwrap();
    assert!(profile.deleted && !profile.active);
    assert_eq!(profile.username, "deleted");

    let history = service
        .list_messages(&olga.caller, chat.chat.chat.id, Default::default())
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, sent.id);
    assert_eq!(history[0].text.as_deref(), Some("bye"));
    let list = service
        .list_chats(&olga.caller, PageRequest::default())
        .await
        .unwrap();
    assert!(list.items[0].last_message.as_ref().unwrap().sender.deleted);

    // The username is free again.
    let again = register(service, "nick").await;
    assert_ne!(again.id(), nick.id());
}

pub async fn external_users_get_sessions_without_passwords(service: &dyn Service) {
    let external = ExternalUser {
        external_id: ExternalId::parse("app-user-42").unwrap(),
        username: Username::parse("pat").unwrap(),
        display_name: Some(DisplayName::parse("Pat").unwrap()),
        email: None,
    };
    let created = service
        .upsert_external_user(external.clone())
        .await
        .unwrap();
    assert_eq!(created.external_id.as_deref(), Some("app-user-42"));

    let renamed = ExternalUser {
        username: Username::parse("patricia").unwrap(),
        ..external.clone()
    };
    let updated = service.upsert_external_user(renamed).await.unwrap();
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.username, "patricia");

    let session = service
        .open_external_session(&external.external_id, Default::default())
        .await
        .unwrap();
    let caller = service.authenticate(&session.token).await.unwrap();
    assert_eq!(caller.user_id(), created.id);

    // No password login for app-managed users, whatever is typed.
    for password in ["", "patricia", "anything at all"] {
        let error = service
            .login(login("patricia", password))
            .await
            .unwrap_err();
        assert_eq!(error.code(), "invalid_login");
    }
    let unknown = ExternalId::parse("nobody").unwrap();
    let error = service
        .open_external_session(&unknown, Default::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");

    // Its username is as unique as anyone's.
    register(service, "quinn").await;
    let clash = ExternalUser {
        external_id: ExternalId::parse("app-user-43").unwrap(),
        username: Username::parse("Quinn").unwrap(),
        display_name: None,
        email: None,
    };
    let error = service.upsert_external_user(clash).await.unwrap_err();
    assert_eq!(error.field(), Some("username"));
}

/// Server admin belongs to an account an operator chose, never to a name: registering or
/// renaming into an admin's former name gives nothing, and the admin keeps the role when
/// renamed.
pub async fn server_admin_follows_the_account_not_the_name(service: &dyn Service) {
    let boss = register(service, "boss").await;
    assert_eq!(boss.auth.user.role, Role::User);
    let granted = service
        .set_server_role(
            UserRef::Username(Username::parse("BOSS").unwrap()),
            Role::Admin,
        )
        .await
        .unwrap();
    assert_eq!((granted.id, granted.role), (boss.id(), Role::Admin));

    // The admin renames; the role stays with the account.
    let rename = ProfileUpdate {
        current_password: Some(boss.password.clone()),
        username: Some(Username::parse("chief").unwrap()),
        ..Default::default()
    };
    let renamed = service.update_profile(&boss.caller, rename).await.unwrap();
    assert_eq!(
        (renamed.username.as_str(), renamed.role),
        ("chief", Role::Admin)
    );

    // Whoever takes the freed name, by registering or renaming, is an ordinary user.
    let newcomer = register(service, "boss").await;
    assert_eq!(newcomer.auth.user.role, Role::User);
    assert_eq!(
        service
            .authenticate(&newcomer.auth.session.token)
            .await
            .unwrap()
            .role(),
        Role::User
    );
    let chief = service.login(login("chief", &boss.password)).await.unwrap();
    assert_eq!(chief.user.role, Role::Admin);
    let rename = ProfileUpdate {
        current_password: Some(boss.password.clone()),
        username: Some(Username::parse("chief2").unwrap()),
        ..Default::default()
    };
    service.update_profile(&boss.caller, rename).await.unwrap();
    let climber = register(service, "climber").await;
    let rename = ProfileUpdate {
        current_password: Some(climber.password.clone()),
        username: Some(Username::parse("Chief").unwrap()),
        ..Default::default()
    };
    let climbed = service
        .update_profile(&climber.caller, rename)
        .await
        .unwrap();
    assert_eq!(climbed.role, Role::User);
    assert_eq!(
        service.get_me(&climber.caller).await.unwrap().role,
        Role::User
    );

    // Unknown names and deleted accounts get no role.
    let error = service
        .set_server_role(
            UserRef::Username(Username::parse("nobody-here").unwrap()),
            Role::Admin,
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    let error = service
        .set_server_role(UserRef::Id(UserId::new()), Role::Admin)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "not_found");
    service
        .unregister(&newcomer.caller, &newcomer.password)
        .await
        .unwrap();
    let error = service
        .set_server_role(UserRef::Id(newcomer.id()), Role::Admin)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "conflict");
    // And nobody can register as "deleted", what a deleted account is shown as.
    assert_eq!(
        Username::parse("Deleted").unwrap_err().field(),
        Some("username")
    );
}

/// A stolen session alone cannot move the account's password resets elsewhere: the username
/// and email need the password, and a new email is unverified until confirmed again.
pub async fn identity_changes_need_the_password_and_unverify_the_email(harness: &Harness) {
    let service: &dyn Service = harness.service();
    let mut request = Register::new(
        Username::parse("ivy").unwrap(),
        Password::parse("ivy's passphrase").unwrap(),
    );
    request.email = Some(Email::parse("ivy@example.com").unwrap());
    let ivy = service.register(request).await.unwrap();
    let caller = service.authenticate(&ivy.session.token).await.unwrap();
    service.request_verification(&caller).await.unwrap();
    let verification = harness
        .notices()
        .latest(ivy.user.id, NoticeKind::Verification)
        .await;
    service
        .confirm_verification(&verification.token)
        .await
        .unwrap();
    assert!(service.get_me(&caller).await.unwrap().verified);

    let new_email = |password: Option<&str>| ProfileUpdate {
        current_password: password.map(str::to_owned),
        email: Some(Some(Email::parse("thief@example.com").unwrap())),
        ..Default::default()
    };
    let error = service
        .update_profile(&caller, new_email(None))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "forbidden");
    assert!(error.to_string().contains("current_password"), "{error}");
    let error = service
        .update_profile(&caller, new_email(Some("not the passphrase")))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_login");
    for refused in [
        ProfileUpdate {
            email: Some(None),
            ..Default::default()
        },
        ProfileUpdate {
            username: Some(Username::parse("ivy2").unwrap()),
            ..Default::default()
        },
    ] {
        let error = service.update_profile(&caller, refused).await.unwrap_err();
        assert_eq!(error.code(), "forbidden");
    }
    // Nothing changed.
    let me = service.get_me(&caller).await.unwrap();
    assert_eq!(
        (me.username.as_str(), me.email.as_deref(), me.verified),
        ("ivy", Some("ivy@example.com"), true)
    );

    // Other fields, and the same email or username again, need no password.
    let harmless = ProfileUpdate {
        username: Some(Username::parse("ivy").unwrap()),
        email: Some(Some(Email::parse("IVY@example.com").unwrap())),
        display_name: Some(Some(DisplayName::parse("Ivy").unwrap())),
        status: Some(Some(Status::parse("around").unwrap())),
        ..Default::default()
    };
    let me = service.update_profile(&caller, harmless).await.unwrap();
    assert_eq!(
        (me.display_name.as_deref(), me.verified),
        (Some("Ivy"), true)
    );

    // With the password the email changes, and is unverified.
    let me = service
        .update_profile(&caller, new_email(Some("ivy's passphrase")))
        .await
        .unwrap();
    assert_eq!(
        (me.email.as_deref(), me.verified),
        (Some("thief@example.com"), false)
    );
    assert!(!service.get_me(&caller).await.unwrap().verified);

    // A verification link sent to one address does not vouch for the next one.
    service.request_verification(&caller).await.unwrap();
    let sent = loop {
        let latest = harness
            .notices()
            .latest(ivy.user.id, NoticeKind::Verification)
            .await;
        if latest.token != verification.token {
            break latest;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(sent.email.as_deref(), Some("thief@example.com"));
    let back = ProfileUpdate {
        current_password: Some("ivy's passphrase".to_owned()),
        email: Some(Some(Email::parse("ivy@example.com").unwrap())),
        ..Default::default()
    };
    service.update_profile(&caller, back).await.unwrap();
    let error = service.confirm_verification(&sent.token).await.unwrap_err();
    assert_eq!(error.code(), "invalid_token");
    assert!(!service.get_me(&caller).await.unwrap().verified);

    // The username changes with the password too, and logs in.
    let rename = ProfileUpdate {
        current_password: Some("ivy's passphrase".to_owned()),
        username: Some(Username::parse("ivy2").unwrap()),
        ..Default::default()
    };
    assert_eq!(
        service
            .update_profile(&caller, rename)
            .await
            .unwrap()
            .username,
        "ivy2"
    );
    service
        .login(login("ivy2", "ivy's passphrase"))
        .await
        .unwrap();
}
