//! Rate limits per account and per user, for every transport.
//!
//! [`RateLimited`] wraps any [`Service`] and implements it by delegation, checking the limits
//! of [`RateLimits`] first; a request over a limit gets [`Error::RateLimited`] with how long
//! to wait (HTTP: 429 `rate_limited` with `Retry-After`) and changes nothing. Because the
//! limits live here rather than in a transport, REST, WebSocket and any other transport over
//! the same service share them.
//!
//! ```
//! # async fn run(db: chatcore::sea_orm::DatabaseConnection) -> chatcore::Result<()> {
//! use std::sync::Arc;
//!
//! use chatcore::Service;
//! use chatcore::limits::{Rate, RateLimited, RateLimits};
//!
//! let core = chatcore::ChatCore::open(db, chatcore::Options::default()).await?;
//! let mut limits = RateLimits::default();
//! limits.sends = Rate::per_minute(120);
//! let service: Arc<dyn Service> = Arc::new(RateLimited::new(core, limits));
//! # Ok(()) }
//! ```
//!
//! Limits per client address (how many logins one IP may try) belong to the transport, which
//! knows the address: `chatcore-http` has them. A transport that knows the client's address
//! runs each request inside [`with_client`], so that the limits here which have no account to
//! go by (answers to registrations) can key by it.
//!
//! Counters live in memory, per process: behind a load balancer each node counts on its own.

mod keyed;
mod service;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::Quota;

use crate::{Error, Result, UserId};

pub use keyed::KeyedLimiter;
pub use service::RateLimited;

/// The longest login (username or email) accepted, in characters; longer ones are
/// [`Error::InvalidInput`] before any lookup or hashing.
pub const MAX_LOGIN_CHARS: usize = 320;

/// The longest password accepted where one is checked (login, change of password,
/// unregister), in characters; longer ones are [`Error::InvalidInput`] before any hashing.
pub const MAX_PASSWORD_CHARS: usize = 1024;

// ---------------------------------------------------------------------------------------------
// Rate
// ---------------------------------------------------------------------------------------------

/// A rate: `count` in a burst, refilled evenly over `per` (a generic cell rate: 60 per minute
/// allows 60 at once, then one a second).
///
/// Written and parsed as `COUNT/PERIOD`, e.g. `60/1m`, `3/1h`, `10/15m`, `5/30s` (units `ms`,
/// `s`, `m`, `h`, `d`; a bare unit means one of it: `20/m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    count: NonZeroU32,
    per: Duration,
}

impl Rate {
    /// `count` per `per`. A count of 0 counts as 1, and a period under a millisecond as one
    /// millisecond.
    pub fn new(count: u32, per: Duration) -> Rate {
        Rate {
            count: NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN),
            per: per.max(Duration::from_millis(1)),
        }
    }

    /// `count` per second.
    pub fn per_second(count: u32) -> Rate {
        Rate::new(count, Duration::from_secs(1))
    }

    /// `count` per minute.
    pub fn per_minute(count: u32) -> Rate {
        Rate::new(count, Duration::from_secs(60))
    }

    /// `count` per hour.
    pub fn per_hour(count: u32) -> Rate {
        Rate::new(count, Duration::from_secs(3600))
    }

    /// How many in a burst.
    pub fn count(&self) -> u32 {
        self.count.get()
    }

    /// Over how long the burst refills.
    pub fn per(&self) -> Duration {
        self.per
    }

    fn quota(&self) -> Quota {
        let cell = (self.per / self.count.get()).max(Duration::from_nanos(1));
        Quota::with_period(cell)
            .unwrap_or_else(|| Quota::per_second(self.count))
            .allow_burst(self.count)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, format_duration(self.per))
    }
}

impl FromStr for Rate {
    type Err = Error;

    /// Parses `COUNT/PERIOD`, e.g. `60/1m`.
    fn from_str(s: &str) -> Result<Rate> {
        let invalid = || Error::invalid("rate", "expected COUNT/PERIOD, like 60/1m or 3/1h");
        let (count, per) = s.trim().split_once('/').ok_or_else(invalid)?;
        let count: u32 = count.trim().parse().map_err(|_| invalid())?;
        if count == 0 {
            return Err(Error::invalid("rate", "the count must be at least 1"));
        }
        let per = per.trim();
        // A bare unit is one of it: `20/m`.
        let per = if per.starts_with(|c: char| c.is_ascii_digit()) {
            parse_duration(per)?
        } else {
            parse_duration(&format!("1{per}"))?
        };
        Ok(Rate::new(count, per))
    }
}

/// Parses a duration such as `500ms`, `30s`, `15m`, `1h` or `1d`; a bare number is seconds.
///
/// # Errors
/// [`Error::InvalidInput`] (`duration`) for anything else, or a zero duration.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let invalid = || {
        Error::invalid(
            "duration",
            "expected a number with a unit (ms, s, m, h, d), like 30s or 15m",
        )
    };
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let unit_ms: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" | "sec" => 1_000,
        "m" | "min" => 60_000,
        "h" | "hour" => 3_600_000,
        "d" | "day" => 86_400_000,
        _ => return Err(invalid()),
    };
    let millis = number.checked_mul(unit_ms).ok_or_else(invalid)?;
    if millis == 0 {
        return Err(Error::invalid("duration", "must be longer than zero"));
    }
    Ok(Duration::from_millis(millis))
}

/// The shortest of `1d`, `3h`, `15m`, `30s`, `250ms` that says exactly `duration`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis >= size && millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

// ---------------------------------------------------------------------------------------------
// RateLimits
// ---------------------------------------------------------------------------------------------

/// The limits [`RateLimited`] enforces. Start from `RateLimits::default()`, whose values are
/// meant to be kept by a real deployment: a person never meets them, a script does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimits {
    /// Failed logins per account (the login as typed, trimmed and lowercased) before the
    /// account's logins are locked for [`lockout`](RateLimits::lockout). Only failures count;
    /// during a lockout every login for it is refused, the right password included, and a
    /// success does not end it. Concurrent logins to one account are tried one at a time, so
    /// no more than this many guesses are ever checked. Default: 10 per 15 minutes.
    pub login_failures: Rate,
    /// Wrong current passwords per user in [`change_password`](Service::change_password) and
    /// [`unregister`](Service::unregister) before both are locked for
    /// [`lockout`](RateLimits::lockout). Default: 5 per 15 minutes.
    pub password_failures: Rate,
    /// How long a lockout lasts: after too many failed logins or password guesses, or too many
    /// answers that an email is taken. Default: 15 minutes.
    pub lockout: Duration,
    /// Password-reset requests per login (trimmed, lowercased), whether or not the account
    /// exists. Default: 3 per hour.
    pub password_reset_requests: Rate,
    /// Verification requests per user. Default: 3 per hour.
    pub verification_requests: Rate,
    /// Messages sent per user, forwards included. Default: 60 per minute.
    pub sends: Rate,
    /// Avatar uploads per user. Default: 10 per hour.
    pub avatar_uploads: Rate,
    /// Contacts added and users blocked, per user. Default: 200 per hour.
    pub contact_adds: Rate,
    /// Groups created per user. Default: 50 per hour.
    pub group_creations: Rate,
    /// Invite links created per user. Default: 100 per hour.
    pub invite_creations: Rate,
    /// Answers that an email is taken (`user_already_exists` for `email`, from
    /// [`register`](Service::register) and [`update_profile`](Service::update_profile)) per
    /// caller: per user for profile updates, per client address (see [`with_client`]) for
    /// registrations. After that many, every request of that caller that names an email is
    /// refused for [`lockout`](RateLimits::lockout), taken or not, so that the refusal says
    /// nothing either. The 409 answer itself stays. Default: 5 per hour.
    pub taken_email_answers: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            login_failures: Rate::new(10, Duration::from_secs(15 * 60)),
            password_failures: Rate::new(5, Duration::from_secs(15 * 60)),
            lockout: Duration::from_secs(15 * 60),
            password_reset_requests: Rate::per_hour(3),
            verification_requests: Rate::per_hour(3),
            sends: Rate::per_minute(60),
            avatar_uploads: Rate::per_hour(10),
            contact_adds: Rate::per_hour(200),
            group_creations: Rate::per_hour(50),
            invite_creations: Rate::per_hour(100),
            taken_email_answers: Rate::per_hour(5),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The client's address
// ---------------------------------------------------------------------------------------------

tokio::task_local! {
    static CLIENT: IpAddr;
}

/// Runs `future` (one request) as coming from `client`: limits that have no account to key by
/// (answers to registrations) then count per address. Transports that know the address use
/// it; without it those limits count every such request together.
pub async fn with_client<F: Future>(client: IpAddr, future: F) -> F::Output {
    CLIENT.scope(client, future).await
}

/// The address set by [`with_client`] for the request being served, if any.
pub fn current_client() -> Option<IpAddr> {
    CLIENT.try_with(|client| *client).ok()
}

/// Who asks, for limits that also apply before there is an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Asker {
    User(UserId),
    Client(IpAddr),
    Unknown,
}

impl Asker {
    fn current() -> Asker {
        current_client().map_or(Asker::Unknown, Asker::Client)
    }
}
