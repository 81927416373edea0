//! Snapshots: what the engine's state looks like on disk, so a run can stop (or crash) and resume
//! with the same results as if it never had.
//!
//! Every stateful engine type serialises with serde; [`Snapshot`] wraps them with a format version,
//! checked on load, so that state written by one build is either read correctly by another or
//! refused with a clear error — never misread.

use serde::{Deserialize, Serialize};

/// The snapshot format written by this build. Bump it when a stored type changes shape, and teach
/// [`check_version`] to read (or refuse) the older ones.
///
/// - 1: the first format.
/// - 2: event-time windows keep their readings in slices ([`crate::EventTimeWindows`]), and the
///   binary's checkpoint gained the alerts' state. A format-1 snapshot without event-time windows
///   is still read (without alert state); one with windows is refused.
/// - 3: the binary's checkpoint gained the SQL queries' state (none in runs of the seed's
///   analyses). Formats 1 and 2 are still read, as runs without queries.
///
/// The seed's types keep their byte layout whatever their window contents' type parameter.
/// SQL queries save [`crate::query::SavedQueriesRef`] (read back as
/// [`crate::query::SavedQueries`]), a value of its own with a fingerprint per query that
/// [`crate::query::QuerySet::restore`] checks; format 3 first carries it, so that older builds
/// refuse it rather than misread it.
pub const SNAPSHOT_VERSION: u32 = 3;

/// The first format with sliced event-time windows: older snapshots holding windows are refused.
pub const SLICED_WINDOWS_SINCE: u32 = 2;

/// A versioned envelope around a caller's state.
#[derive(Debug, Serialize, Deserialize)]
pub struct Snapshot<T> {
    /// Format version ([`SNAPSHOT_VERSION`] when written by this build).
    pub version: u32,
    /// The state.
    pub state: T,
}

/// Why a stored snapshot cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    /// Written by a newer build, in a format this one does not know.
    #[error("snapshot format {found} is newer than this build's ({SNAPSHOT_VERSION}); upgrade iotstream or remove the state directory")]
    TooNew {
        /// The version found.
        found: u32,
    },
    /// Written by an older build whose event-time window state this one cannot read.
    #[error("snapshot format {found} holds event-time windows in the layout used before stream slicing (format {SLICED_WINDOWS_SINCE}); finish the run with the build that wrote it, or remove the state directory to start afresh")]
    OldWindows {
        /// The version found.
        found: u32,
    },
}

/// Accepts the versions this build reads.
pub fn check_version(found: u32) -> Result<(), SnapshotError> {
    if found > SNAPSHOT_VERSION {
        return Err(SnapshotError::TooNew { found });
    }
    Ok(())
}

/// Accepts the versions this build reads for state that holds event-time windows (`windows`):
/// those since [`SLICED_WINDOWS_SINCE`]. State without windows is read from any known version.
pub fn check_windows_version(found: u32, windows: bool) -> Result<(), SnapshotError> {
    check_version(found)?;
    if windows && found < SLICED_WINDOWS_SINCE {
        return Err(SnapshotError::OldWindows { found });
    }
    Ok(())
}

/// Serde for fixed arrays longer than 32 (serde's own limit): as a sequence, checked on the way in.
pub mod array {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes the array as a sequence.
    pub fn serialize<S: Serializer, T: Serialize, const N: usize>(
        array: &[T; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        array.as_slice().serialize(s)
    }

    /// Reads a sequence of exactly `N` elements.
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>, const N: usize>(
        d: D,
    ) -> Result<[T; N], D::Error> {
        let items: Vec<T> = Vec::deserialize(d)?;
        let len = items.len();
        items.try_into().map_err(|_| D::Error::invalid_length(len, &"one element per state or reason"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Aggregate, EventTime, EventTimeConfig, EventTimeWindows, Parser, WindowSpec};

    const LINE: &str = r#"{"guid":"g","state":"CA","eventTime":"2016-11-16T13:26:39Z","payload":{"data":{"temperature":1.5}}}"#;

    #[test]
    fn an_aggregate_round_trips_exactly() {
        let mut aggregate = Aggregate::default();
        aggregate.add(&Parser::default().parse(LINE.as_bytes()).unwrap());
        aggregate.reject(crate::RejectReason::Empty);
        // Binary, as checkpoints are: JSON has no infinity for an empty state's minimum.
        let bytes = postcard::to_stdvec(&aggregate).unwrap();
        let back: Aggregate = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, aggregate);
    }

    #[test]
    fn a_restored_operator_continues_as_the_original() {
        let config = EventTimeConfig {
            window: WindowSpec::tumbling(10_000_000).unwrap(),
            max_delay: 0,
            allowed_lateness: 0,
            max_skew: None,
            idle_timeout: None,
        };
        let mut original = EventTimeWindows::new(config);
        let reading = Parser::default().parse(LINE.as_bytes()).unwrap();
        original.on_reading(0, 1, &reading, EventTime(0));
        let bytes = postcard::to_stdvec(&Snapshot { version: SNAPSHOT_VERSION, state: &original }).unwrap();
        let restored: Snapshot<EventTimeWindows> = postcard::from_bytes(&bytes).unwrap();
        check_version(restored.version).unwrap();
        let mut restored = restored.state;
        assert_eq!(restored.pinned_positions(), original.pinned_positions());
        assert_eq!(restored.on_end(), original.on_end());
        assert_eq!(
            check_version(SNAPSHOT_VERSION + 1),
            Err(SnapshotError::TooNew { found: SNAPSHOT_VERSION + 1 })
        );
    }

    #[test]
    fn windows_from_before_slicing_are_refused_other_state_is_not() {
        assert_eq!(check_windows_version(1, false), Ok(()));
        assert_eq!(check_windows_version(1, true), Err(SnapshotError::OldWindows { found: 1 }));
        assert_eq!(check_windows_version(SNAPSHOT_VERSION, true), Ok(()));
        let message = SnapshotError::OldWindows { found: 1 }.to_string();
        assert!(message.contains("remove the state directory"), "{message}");
    }
}
