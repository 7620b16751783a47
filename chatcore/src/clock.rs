//! Time, at the precision every backend stores (microseconds).

use chrono::{DateTime, Datelike, DurationRound, TimeDelta, Timelike, Utc};

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
    with_rfc3339(time, |text| serializer.serialize_str(text))
}

/// Hands `write` the time as [`DateTime::to_rfc3339`] writes it: from [`Rfc3339`] on the stack,
/// or from chrono for the few times it does not cover.
pub(crate) fn with_rfc3339<R>(time: &DateTime<Utc>, write: impl FnOnce(&str) -> R) -> R {
    match Rfc3339::new(time) {
        Some(text) => write(text.as_str()),
        None => write(&time.to_rfc3339()),
    }
}

/// A time written as [`DateTime::to_rfc3339`] writes it (`+00:00`, and 0, 3, 6 or 9 digits
/// of fraction, as few as show it exactly), on the stack: every message and chat of a page
/// carries times, and chrono's general writer cost several times more.
struct Rfc3339 {
    bytes: [u8; 35],
    len: usize,
}

impl Rfc3339 {
    /// `None` for the times chrono writes otherwise: years outside 0000–9999 and leap seconds.
    fn new(time: &DateTime<Utc>) -> Option<Rfc3339> {
        // From the naive parts: `DateTime`'s own accessors each convert to local time first.
        let naive = time.naive_utc();
        let (date, clock) = (naive.date(), naive.time());
        let year = u32::try_from(date.year())
            .ok()
            .filter(|year| *year <= 9999)?;
        let nanos = clock.nanosecond();
        if nanos >= 1_000_000_000 {
            return None;
        }
        let seconds = clock.num_seconds_from_midnight();
        let mut text = Rfc3339 {
            bytes: [0; 35],
            len: 0,
        };
        text.digits(year, 4);
        text.push(b'-');
        text.digits(date.month(), 2);
        text.push(b'-');
        text.digits(date.day(), 2);
        text.push(b'T');
        text.digits(seconds / 3600, 2);
        text.push(b':');
        text.digits(seconds / 60 % 60, 2);
        text.push(b':');
        text.digits(seconds % 60, 2);
        if nanos != 0 {
            text.push(b'.');
            if nanos % 1_000_000 == 0 {
                text.digits(nanos / 1_000_000, 3);
            } else if nanos % 1_000 == 0 {
                text.digits(nanos / 1_000, 6);
            } else {
                text.digits(nanos, 9);
            }
        }
        for byte in *b"+00:00" {
            text.push(byte);
        }
        Some(text)
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    /// `value` in exactly `width` decimal digits.
    fn digits(&mut self, mut value: u32, width: usize) {
        for index in (0..width).rev() {
            self.bytes[self.len + index] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len += width;
    }

    /// The text (only ASCII digits and separators were written).
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every fraction shape and the edges of the range, against chrono's own writer.
    #[test]
    fn writes_times_as_chrono_does() {
        let mut times = vec![
            DateTime::<Utc>::UNIX_EPOCH,
            from_micros(1),
            from_micros(1_000),
            from_micros(999_999),
            now(),
            Utc::now(),
        ];
        let mut seed: i64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..10_000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let seconds = seed.rem_euclid(253_402_300_799);
            let nanos = match seed.rem_euclid(4) {
                0 => 0,
                1 => (seed >> 8).rem_euclid(1_000) * 1_000_000,
                2 => (seed >> 8).rem_euclid(1_000_000) * 1_000,
                _ => (seed >> 8).rem_euclid(1_000_000_000),
            };
            times.push(
                DateTime::from_timestamp(seconds, u32::try_from(nanos).unwrap_or(0))
                    .unwrap_or_default(),
            );
        }
        for time in times {
            let written = Rfc3339::new(&time).map(|text| text.as_str().to_owned());
            assert_eq!(written, Some(time.to_rfc3339()), "{time:?}");
        }
        let far = DateTime::from_timestamp(253_402_300_800, 0).unwrap_or_default();
        assert!(Rfc3339::new(&far).is_none());
        let leap = DateTime::from_timestamp(59, 1_500_000_000).unwrap_or_default();
        assert!(Rfc3339::new(&leap).is_none());
    }
}
