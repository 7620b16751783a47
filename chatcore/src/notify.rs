//! How account notices (password reset, verification) reach users: through a [`Notifier`]
//! the embedding application implements. chatcore never sends mail itself.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::UserId;

/// What a notice is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// The user asked to reset their password; the token goes to
    /// [`Service::confirm_password_reset`](crate::Service::confirm_password_reset).
    PasswordReset,
    /// The user asked to verify their account; the token goes to
    /// [`Service::confirm_verification`](crate::Service::confirm_verification).
    Verification,
}

/// A single-use token to hand to a user, with what is needed to reach them.
#[derive(Clone)]
pub struct AccountNotice {
    /// What it is for.
    pub kind: NoticeKind,
    /// The user.
    pub user_id: UserId,
    /// Their username.
    pub username: String,
    /// Their email address, if they gave one.
    pub email: Option<String>,
    /// The secret token (only its hash is stored).
    pub token: String,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for AccountNotice {
    // The token is a bearer secret: never in debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountNotice")
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Delivers account notices (by mail, SMS, a push message: the application decides).
///
/// chatcore calls it in the background after the token is stored, so a slow delivery does not
/// slow the request or reveal whether an account exists. A failure is logged.
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Delivers one notice.
    async fn notify(
        &self,
        notice: AccountNotice,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

impl fmt::Debug for dyn Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Notifier")
    }
}

/// The default notifier: logs each notice through `tracing`. Tokens are left out of the log
/// unless [`LoggingNotifier::revealing_tokens`] is used (for development, where the log is
/// the only way to receive them).
#[derive(Clone, Copy, Debug, Default)]
pub struct LoggingNotifier {
    reveal_tokens: bool,
}

impl LoggingNotifier {
    /// A notifier that writes tokens into the log too. Never use it in production.
    pub fn revealing_tokens() -> Self {
        LoggingNotifier {
            reveal_tokens: true,
        }
    }
}

#[async_trait]
impl Notifier for LoggingNotifier {
    async fn notify(
        &self,
        notice: AccountNotice,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let token = if self.reveal_tokens {
            notice.token.as_str()
        } else {
            "(hidden)"
        };
        tracing::info!(
            kind = ?notice.kind,
            user_id = %notice.user_id,
            username = %notice.username,
            expires_at = %notice.expires_at,
            token,
            "account notice (no notifier configured)"
        );
        Ok(())
    }
}
