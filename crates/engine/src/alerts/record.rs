//! Alert records: what every alert output carries, one per notification.
//!
//! The JSON form is a public interface (the alerts file, topic, webhook body and dashboard all
//! use it): add fields, never rename them.

use serde::{Deserialize, Serialize};

use crate::reading::EventTime;

/// The `type` tag of an alert record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertTag {
    /// `"type": "alert"`.
    #[default]
    Alert,
}

/// Firing or resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The condition holds (a first notification, or a repeat).
    Firing,
    /// The condition has cleared.
    Resolved,
}

impl Status {
    /// `firing` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// One notification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Always `"alert"`.
    #[serde(rename = "type", default)]
    pub record_type: AlertTag,
    /// The rule's id.
    pub rule: String,
    /// The state code, the sensor's guid, `"fleet"`, or `"source"`.
    pub key: String,
    /// Firing or resolved.
    pub status: Status,
    /// The rule's severity.
    pub severity: String,
    /// Event time of the transition (processing time for source_idle rules).
    pub at: EventTime,
    /// The value judged (a temperature, a count, seconds of silence).
    pub value: f64,
    /// The limit it was judged against.
    pub threshold: f64,
    /// The window judged (window rules; `null` otherwise).
    pub window_start: Option<EventTime>,
    /// Its end.
    pub window_end: Option<EventTime>,
    /// Stable identity of the (rule, key): the same for every notification about it.
    pub fingerprint: String,
}

/// The fingerprint of (rule, key): 16 hex digits of XXH3, stable across builds and runs.
pub fn fingerprint(rule: &str, key: &str) -> String {
    let mut bytes = Vec::with_capacity(rule.len() + key.len() + 1);
    bytes.extend_from_slice(rule.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(key.as_bytes());
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes))
}

/// A record with its place among the notifications about its (rule, key), which is the same in
/// every replay: see [`Notification::idempotency_key`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// 1 for the first notification about this (rule, key), +1 for each next (kept in
    /// checkpoints).
    pub sequence: u64,
    /// The record.
    pub record: AlertRecord,
    /// Where it goes among the notifications delivered together, so that their order does not
    /// depend on how the input was cut into pieces: a reading's notifications sort by the alerts
    /// clock *before* that reading, `(clock, 1)`; a window's by its end, `(end, 0)`. A window is
    /// final once the watermark (for one partition, the same clock) reaches its end, so this puts
    /// its notifications after those of the reading that closed it and before those of every
    /// later reading, as if windows were closed reading by reading.
    pub order: (i64, u8),
}

impl Notification {
    /// The key a receiver uses to drop a notification it has already taken:
    /// `FINGERPRINT-AT-SEQUENCE`, `AT` the event time in microseconds since the epoch. The same in
    /// every replay of the same input; the time keeps it apart from another run's notifications
    /// (another input, or alert state started afresh), whose numbers start at 1 again.
    pub fn idempotency_key(&self) -> String {
        format!("{}-{}-{}", self.record.fingerprint, self.record.at.as_micros(), self.sequence)
    }
}
