//! The limit settings: per account and user, per client address, and on bodies and
//! connections, as flags and environment variables.

use std::net::IpAddr;
use std::time::Duration;

use chatcore::limits::{Rate, RateLimits, parse_duration};
use chatcore_http::limits::IpNet;
use chatcore_http::{HttpOptions, IpLimits};

/// The `chatcore-server` settings for every limit: per account and user (applied by wrapping
/// the service in [`chatcore::limits::RateLimited`]), per client address, and for bodies and
/// connections. A rate is written `COUNT/PERIOD` (`60/1m`, `3/1h`, `10/15m`); a duration
/// `30s`, `15m`, `1h`.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Turn off every rate limit, per account and per address (for benchmarks and closed
    /// networks; not for a server reachable from the internet).
    #[arg(long, env = "CHATCORE_NO_RATE_LIMITS")]
    pub no_rate_limits: bool,
    /// Failed logins per account before its logins are locked for `--lockout`.
    #[arg(long, env = "CHATCORE_LOGIN_FAILURES", default_value_t = RateLimits::default().login_failures)]
    pub login_failures: Rate,
    /// Wrong current passwords per user (change password, delete account) before both are
    /// locked for `--lockout`.
    #[arg(long, env = "CHATCORE_PASSWORD_FAILURES", default_value_t = RateLimits::default().password_failures)]
    pub password_failures: Rate,
    /// How long a lockout lasts (failed logins, password guesses, taken-email answers).
    #[arg(long, env = "CHATCORE_LOCKOUT", value_parser = parse_duration, default_value = "15m")]
    pub lockout: Duration,
    /// Password-reset requests per login, whether or not the account exists.
    #[arg(long, env = "CHATCORE_PASSWORD_RESET_REQUESTS", default_value_t = RateLimits::default().password_reset_requests)]
    pub password_reset_requests: Rate,
    /// Verification requests per user.
    #[arg(long, env = "CHATCORE_VERIFICATION_REQUESTS", default_value_t = RateLimits::default().verification_requests)]
    pub verification_requests: Rate,
    /// Messages sent (and forwarded) per user.
    #[arg(long, env = "CHATCORE_SEND_RATE", default_value_t = RateLimits::default().sends)]
    pub send_rate: Rate,
    /// Avatar uploads per user.
    #[arg(long, env = "CHATCORE_AVATAR_UPLOADS", default_value_t = RateLimits::default().avatar_uploads)]
    pub avatar_uploads: Rate,
    /// Contacts added and users blocked, per user.
    #[arg(long, env = "CHATCORE_CONTACT_ADDS", default_value_t = RateLimits::default().contact_adds)]
    pub contact_adds: Rate,
    /// Groups created per user.
    #[arg(long, env = "CHATCORE_GROUP_CREATIONS", default_value_t = RateLimits::default().group_creations)]
    pub group_creations: Rate,
    /// Invite links created per user.
    #[arg(long, env = "CHATCORE_INVITE_CREATIONS", default_value_t = RateLimits::default().invite_creations)]
    pub invite_creations: Rate,
    /// Answers that an email is taken, per user (profile) or per address (registration),
    /// before that caller's requests naming an email are refused for `--lockout`.
    #[arg(long, env = "CHATCORE_TAKEN_EMAIL_ANSWERS", default_value_t = RateLimits::default().taken_email_answers)]
    pub taken_email_answers: Rate,
    /// Login requests per client address.
    #[arg(long, env = "CHATCORE_IP_LOGINS", default_value_t = IpLimits::default().logins)]
    pub ip_logins: Rate,
    /// Registration requests per client address.
    #[arg(long, env = "CHATCORE_IP_REGISTRATIONS", default_value_t = IpLimits::default().registrations)]
    pub ip_registrations: Rate,
    /// Password-reset confirmations per client address.
    #[arg(long, env = "CHATCORE_IP_RESET_CONFIRMATIONS", default_value_t = IpLimits::default().password_reset_confirmations)]
    pub ip_reset_confirmations: Rate,
    /// Verification confirmations per client address.
    #[arg(long, env = "CHATCORE_IP_VERIFICATION_CONFIRMATIONS", default_value_t = IpLimits::default().verification_confirmations)]
    pub ip_verification_confirmations: Rate,
    /// Requests of any kind per client address, Socket.IO's included.
    #[arg(long, env = "CHATCORE_IP_REQUESTS", default_value_t = IpLimits::default().requests)]
    pub ip_requests: Rate,
    /// Reverse proxies whose `X-Forwarded-For` is believed (addresses or CIDR networks,
    /// comma-separated). Default: none, so the peer address is the client's.
    #[arg(long, env = "CHATCORE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<IpNet>,
    /// The largest JSON body accepted, in bytes (every route but the avatar upload).
    #[arg(long, env = "CHATCORE_MAX_BODY_BYTES", default_value_t = HttpOptions::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// How long a client has to send a request's head (also how long an idle keep-alive
    /// connection stays open).
    #[arg(long, env = "CHATCORE_HEADER_READ_TIMEOUT", value_parser = parse_duration, default_value = "30s")]
    pub header_read_timeout: Duration,
    /// How long a client has to send a JSON body once its head arrived.
    #[arg(long, env = "CHATCORE_BODY_READ_TIMEOUT", value_parser = parse_duration, default_value = "30s")]
    pub body_read_timeout: Duration,
    /// How long a connection may go without a byte read or written before it is closed
    /// (event streams send a keep-alive every 20 s).
    #[arg(long, env = "CHATCORE_IDLE_TIMEOUT", value_parser = parse_duration, default_value = "60s")]
    pub idle_timeout: Duration,
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{s}` is neither an IP address nor a CIDR network"))
}

impl LimitArgs {
    /// The per-account and per-user limits, or `None` with `--no-rate-limits`.
    pub fn rate_limits(&self) -> Option<RateLimits> {
        if self.no_rate_limits {
            return None;
        }
        let mut limits = RateLimits::default();
        limits.login_failures = self.login_failures;
        limits.password_failures = self.password_failures;
        limits.lockout = self.lockout;
        limits.password_reset_requests = self.password_reset_requests;
        limits.verification_requests = self.verification_requests;
        limits.sends = self.send_rate;
        limits.avatar_uploads = self.avatar_uploads;
        limits.contact_adds = self.contact_adds;
        limits.group_creations = self.group_creations;
        limits.invite_creations = self.invite_creations;
        limits.taken_email_answers = self.taken_email_answers;
        Some(limits)
    }

    /// Sets the HTTP options these settings cover.
    pub fn apply(&self, options: &mut HttpOptions) {
        options.ip_limits = (!self.no_rate_limits).then(|| {
            let mut limits = IpLimits::default();
            limits.logins = self.ip_logins;
            limits.registrations = self.ip_registrations;
            limits.password_reset_confirmations = self.ip_reset_confirmations;
            limits.verification_confirmations = self.ip_verification_confirmations;
            limits.requests = self.ip_requests;
            limits
        });
        options.trusted_proxies = self.trusted_proxies.clone();
        options.max_body_bytes = self.max_body_bytes;
        options.header_read_timeout = self.header_read_timeout;
        options.body_read_timeout = self.body_read_timeout;
        options.idle_timeout = self.idle_timeout;
    }
}
