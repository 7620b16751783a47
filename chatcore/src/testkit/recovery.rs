//! Changing a password, password reset and account verification.

use chrono::Duration;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::{Harness, register};
use crate::notify::NoticeKind;
use crate::users::token_entity as tokens;
use crate::users::{Login, Password};
use crate::{Service, UserId};

/// How many password-reset tokens were ever issued to the user.
async fn reset_tokens(harness: &Harness, user: UserId) -> u64 {
    tokens::Entity::find()
        .filter(tokens::Column::UserId.eq(user.as_uuid()))
        .filter(tokens::Column::Purpose.eq("password_reset"))
        .count(harness.core().connection())
        .await
        .unwrap()
}

/// Makes the user's account tokens look issued `by` earlier.
async fn age_tokens(harness: &Harness, user: UserId, by: Duration) {
    let rows = tokens::Entity::find()
        .filter(tokens::Column::UserId.eq(user.as_uuid()))
        .all(harness.core().connection())
        .await
        .unwrap();
    for row in rows {
        tokens::Entity::update_many()
            .col_expr(tokens::Column::CreatedAt, Expr::value(row.created_at - by))
            .filter(tokens::Column::TokenHash.eq(row.token_hash))
            .exec(harness.core().connection())
            .await
            .unwrap();
    }
}

fn login(name: &str, password: &str) -> Login {
    Login {
        login: name.to_owned(),
        password: password.to_owned(),
        user_agent: None,
    }
}

fn password(text: &str) -> Password {
    Password::parse(text).unwrap()
}

pub async fn changing_the_password_ends_other_sessions(service: &dyn Service) {
    let user = register(service, "changer").await;
    let other = service
        .login(login("changer", &user.password))
        .await
        .unwrap();

    let error = service
        .change_password(
            &user.caller,
            "wrong password",
            password("brand new passphrase"),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_login");
    // Nothing changed.
    service.authenticate(&other.session.token).await.unwrap();
    service
        .login(login("changer", &user.password))
        .await
        .unwrap();

    service
        .change_password(
            &user.caller,
            &user.password,
            password("brand new passphrase"),
        )
        .await
        .unwrap();
    // This session lives on, the others end, the new password works and the old one not.
    service
        .authenticate(&user.auth.session.token)
        .await
        .unwrap();
    assert_eq!(
        service
            .authenticate(&other.session.token)
            .await
            .unwrap_err()
            .code(),
        "not_authorized"
    );
    service
        .login(login("changer", "brand new passphrase"))
        .await
        .unwrap();
    assert_eq!(
        service
            .login(login("changer", &user.password))
            .await
            .unwrap_err()
            .code(),
        "invalid_login"
    );
}

pub async fn password_reset_is_silent_single_use_and_ends_sessions(harness: &Harness) {
    let service: &dyn Service = harness.service();
    let notices = harness.notices();
    let user = register(service, "forgetful").await;

    // Unknown accounts get the same answer, and nobody is notified.
    service.request_password_reset("nobody-here").await.unwrap();
    service
        .request_password_reset("nobody@example.com")
        .await
        .unwrap();
    service.request_password_reset("FORGETFUL").await.unwrap();
    let first = notices.latest(user.id(), NoticeKind::PasswordReset).await;
    assert_eq!(notices.count(), 1);
    assert!(first.token.len() >= 22, "at least 128 random bits");
    assert!(!format!("{first:?}").contains(&first.token));

    // Asking again soon sends nothing and keeps the fresh token working: nobody can retire
    // someone's reset link, or flood their inbox, by asking for them.
    service.request_password_reset("forgetful").await.unwrap();
    service.request_password_reset("FORGETFUL").await.unwrap();
    assert_eq!(reset_tokens(harness, user.id()).await, 1);

    // Once the token is older than the resend wait, a newer request replaces it.
    age_tokens(harness, user.id(), Duration::minutes(11)).await;
    service.request_password_reset("forgetful").await.unwrap();
    assert_eq!(reset_tokens(harness, user.id()).await, 2);
    while notices.count() < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let second = notices.latest(user.id(), NoticeKind::PasswordReset).await;
    assert_ne!(first.token, second.token);
    let error = service
        .confirm_password_reset(&first.token, password("another passphrase"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_token");

    // Wrong tokens and tokens of the other kind are refused.
    for token in ["", "not-a-token", &"x".repeat(500)] {
        let error = service
            .confirm_password_reset(token, password("another passphrase"))
            .await
            .unwrap_err();
        assert_eq!(error.code(), "invalid_token");
    }
    let error = service
        .confirm_verification(&second.token)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_token");

    service
        .confirm_password_reset(&second.token, password("another passphrase"))
        .await
        .unwrap();
    // Every session ended; the new password works; the token works once.
    assert_eq!(
        service
            .authenticate(&user.auth.session.token)
            .await
            .unwrap_err()
            .code(),
        "not_authorized"
    );
    service
        .login(login("forgetful", "another passphrase"))
        .await
        .unwrap();
    let error = service
        .confirm_password_reset(&second.token, password("third passphrase"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_token");
    service
        .login(login("forgetful", "another passphrase"))
        .await
        .unwrap();
}

pub async fn verification_tokens_mark_the_account_verified(harness: &Harness) {
    let service: &dyn Service = harness.service();
    let user = register(service, "unverified").await;
    assert!(!service.get_me(&user.caller).await.unwrap().verified);

    service.request_verification(&user.caller).await.unwrap();
    let notice = harness
        .notices()
        .latest(user.id(), NoticeKind::Verification)
        .await;
    assert_eq!(notice.username, "unverified");
    // Asking again while that token is fresh sends nothing new; the token keeps working.
    let sent = harness.notices().count();
    service.request_verification(&user.caller).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(harness.notices().count(), sent);
    let error = service.confirm_verification("bogus").await.unwrap_err();
    assert_eq!(error.code(), "invalid_token");
    service.confirm_verification(&notice.token).await.unwrap();
    assert!(service.get_me(&user.caller).await.unwrap().verified);
    let error = service
        .confirm_verification(&notice.token)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_token");
    let error = service
        .request_verification(&user.caller)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "conflict");
}
