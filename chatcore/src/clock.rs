//! Time, at the precision every backend stores (microseconds).

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// The current time, truncated to microseconds so that it reads back unchanged.
pub(crate) fn now() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}

/// A time from the integer sort keys (unix microseconds).
pub(crate) fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}
