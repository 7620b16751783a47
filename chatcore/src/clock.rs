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

/// Writes a time as RFC 3339 with a `+00:00` offset (`2026-12-01T03:55:07.581882+00:00`),
/// as the OpenAPI types write it: a time reads the same in every response and event, however
/// it is serialized.
pub(crate) fn serialize_time<S: serde::Serializer>(
    time: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.to_rfc3339())
}

/// [`serialize_time`] for an optional time.
pub(crate) fn serialize_optional_time<S: serde::Serializer>(
    time: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serialize_time(time, serializer),
        None => serializer.serialize_none(),
    }
}
