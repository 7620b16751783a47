//! [`Readiness`]: whether a service can serve requests right now, for readiness probes.

use std::time::Duration;

/// How long [`Service::readiness`](crate::Service::readiness) waits for the database to
/// answer a trivial query before reporting it down.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

/// What [`Service::readiness`](crate::Service::readiness) found, part by part.
///
/// A service is ready when every part is up. Liveness is another matter: a service that is
/// not ready is still alive, and recovers by itself when its database comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Readiness {
    /// The database answered a trivial query within [`READINESS_TIMEOUT`].
    pub database: bool,
    /// The event bus is connected (the PostgreSQL bus's `LISTEN` connection is up; the
    /// in-process bus always is).
    pub event_bus: bool,
}

impl Readiness {
    /// A report with these parts.
    pub fn new(database: bool, event_bus: bool) -> Self {
        Readiness {
            database,
            event_bus,
        }
    }

    /// Whether every part is up.
    pub fn is_ready(&self) -> bool {
        self.database && self.event_bus
    }

    /// The names of the parts that are down (`database`, `event_bus`).
    pub fn down(&self) -> Vec<&'static str> {
        [("database", self.database), ("event_bus", self.event_bus)]
            .into_iter()
            .filter_map(|(name, up)| (!up).then_some(name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_is_down() {
        assert!(Readiness::new(true, true).is_ready());
        assert!(Readiness::new(true, true).down().is_empty());
        let bus_down = Readiness::new(true, false);
        assert!(!bus_down.is_ready());
        assert_eq!(bus_down.down(), ["event_bus"]);
        assert_eq!(
            Readiness::new(false, false).down(),
            ["database", "event_bus"]
        );
    }
}
