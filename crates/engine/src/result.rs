//! What a window produces: the numbers every sink prints, in one plain, serialisable shape.
//!
//! A [`WindowResult`] is computed from an [`Aggregate`] when a window is emitted. Its JSON form is the
//! `--format jsonl` schema and the payload of the results topic, so field names here are a public
//! interface: add fields, never rename them.

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, RejectCounts};
use crate::parse::RejectReason;
use crate::reading::{EventTime, StateCode};

/// One state's line in a result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateResult {
    /// Two-letter code.
    pub state: String,
    /// Valid readings from this state in the window.
    pub messages: u64,
    /// Distinct sensors that reported from this state in the window.
    pub sensors: u64,
    /// Mean temperature (exact sum, rounded once, divided by the count).
    pub avg_temperature: f64,
    /// Lowest temperature.
    pub min_temperature: f64,
    /// Highest temperature.
    pub max_temperature: f64,
}

/// The `type` tag of a window result, so that JSON-lines readers can tell records apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowTag {
    /// `"type": "window"`.
    #[default]
    Window,
}

/// One emitted window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowResult {
    /// Always `"window"`.
    #[serde(rename = "type", default)]
    pub record_type: WindowTag,
    /// False for an early, partial result of a window that is still open (`--emit-every`).
    #[serde(rename = "final", default = "yes")]
    pub is_final: bool,
    /// 0 for a window's first final result; each update by late readings adds one.
    #[serde(default)]
    pub revision: u32,
    /// Inclusive start.
    pub window_start: EventTime,
    /// Exclusive end.
    pub window_end: EventTime,
    /// Valid readings.
    pub messages: u64,
    /// Distinct sensors (by guid).
    pub sensors: u64,
    /// Rejected messages.
    pub rejected: u64,
    /// Rejected messages by reason; every reason is present, most are 0.
    #[serde(serialize_with = "serialize_reasons")]
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// States with at least one reading, by mean temperature descending (ties by code).
    pub states: Vec<StateResult>,
    /// Input partitions that contributed, for partitioned sources (Kafka); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<Vec<i32>>,
}

impl WindowResult {
    /// Summarises `aggregate` as the result for `[start, end)`.
    pub fn from_aggregate(window_start: EventTime, window_end: EventTime, aggregate: &Aggregate) -> Self {
        let mut states: Vec<StateResult> =
            StateCode::all().filter_map(|code| state_result(code, aggregate)).collect();
        states.sort_by(|a, b| {
            b.avg_temperature.total_cmp(&a.avg_temperature).then_with(|| a.state.cmp(&b.state))
        });
        WindowResult {
            record_type: WindowTag::Window,
            is_final: true,
            revision: 0,
            window_start,
            window_end,
            messages: aggregate.messages(),
            sensors: aggregate.sensors(),
            rejected: aggregate.rejected().total(),
            rejected_by_reason: reasons_map(aggregate.rejected()),
            states,
            partitions: None,
        }
    }

    /// The states with their distinct-sensor counts, by code ascending (the seed's third analysis).
    pub fn sensors_by_state(&self) -> Vec<(&str, u64)> {
        let mut by_state: Vec<_> = self.states.iter().map(|s| (s.state.as_str(), s.sensors)).collect();
        by_state.sort_unstable();
        by_state
    }
}

fn yes() -> bool {
    true
}

fn state_result(code: StateCode, aggregate: &Aggregate) -> Option<StateResult> {
    let stats = aggregate.state(code);
    Some(StateResult {
        state: code.as_str().to_owned(),
        messages: stats.count,
        sensors: stats.sensors,
        avg_temperature: stats.mean()?,
        min_temperature: stats.min,
        max_temperature: stats.max,
    })
}

fn reasons_map(counts: &RejectCounts) -> BTreeMap<String, u64> {
    counts.iter().map(|(reason, n)| (reason.as_str().to_owned(), n)).collect()
}

/// Writes reasons in [`RejectReason::ALL`] order (grouped as a reader expects) rather than
/// alphabetically, then any unknown names a newer producer may have added.
fn serialize_reasons<S: serde::Serializer>(
    reasons: &BTreeMap<String, u64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(None)?;
    for reason in RejectReason::ALL {
        map.serialize_entry(reason.as_str(), &reasons.get(reason.as_str()).copied().unwrap_or(0))?;
    }
    for (name, count) in reasons {
        if !RejectReason::ALL.iter().any(|r| r.as_str() == name) {
            map.serialize_entry(name, count)?;
        }
    }
    map.end()
}

/// The `type` tag of a stats record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatsTag {
    /// `"type": "stats"`.
    #[default]
    Stats,
}

/// Running totals and live views since the start of a run: what is not tied to one window
/// (rejections and late readings in event-time mode, the sensor fleet's state).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsRecord {
    /// Always `"stats"`.
    #[serde(rename = "type", default)]
    pub record_type: StatsTag,
    /// Processing time of the record.
    pub at: EventTime,
    /// The engine's event-time watermark (event-time mode, once there is input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<EventTime>,
    /// Valid readings since start (late ones included).
    pub readings: u64,
    /// Rejected messages since start (late and future ones included).
    pub rejected: u64,
    /// Rejected messages since start by reason.
    #[serde(serialize_with = "serialize_reasons")]
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Late readings since start, by state.
    pub late_by_state: BTreeMap<String, u64>,
    /// Windows held open (event-time mode).
    pub open_windows: u64,
    /// Sensors seen since start.
    pub sensors: u64,
    /// Sensors silent for longer than the offline threshold.
    pub offline: u64,
    /// The same, by state.
    pub offline_by_state: BTreeMap<String, u64>,
    /// Messages between the consumer's positions and the ends of its partitions (Kafka, once the
    /// client has reported it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_lag: Option<u64>,
    /// Messages deleted from Kafka partitions (retention) before this process read them: they are
    /// in no result. Present only when there were any.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub data_lost: u64,
    /// Scale-out: the group's merge as this instance sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_out: Option<ScaleOutStatus>,
    /// SQL queries (`--query`): each query's own numbers; absent in runs of the seed's analyses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<QueryStats>,
}

/// One SQL query's numbers since the start of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryStats {
    /// The query's name.
    pub query: String,
    /// Readings counted in its windows (or batches).
    pub readings: u64,
    /// Readings its `WHERE` left out.
    pub filtered: u64,
    /// Readings rejected for this query alone (the input's rejections are the record's own).
    pub rejected: u64,
    /// The same by reason: every reason a query may give, always present.
    #[serde(serialize_with = "serialize_query_reasons")]
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Results (windows or batches) emitted.
    pub results: u64,
    /// Groups held in open windows (or the open batch).
    pub groups: u64,
    /// Windows held open (event time).
    pub open_windows: u64,
}

/// The reasons a reading may be rejected for one query and not the others, in the order
/// outputs list them.
pub const QUERY_REASONS: [RejectReason; 7] = [
    RejectReason::WrongType,
    RejectReason::NonFinite,
    RejectReason::OutOfRange,
    RejectReason::DuplicateField,
    RejectReason::MalformedJson,
    RejectReason::Late,
    RejectReason::TooManyGroups,
];

/// Writes a query's reasons in [`QUERY_REASONS`] order, each present, then any other.
fn serialize_query_reasons<S: serde::Serializer>(
    reasons: &BTreeMap<String, u64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(None)?;
    for reason in QUERY_REASONS {
        map.serialize_entry(reason.as_str(), &reasons.get(reason.as_str()).copied().unwrap_or(0))?;
    }
    for (name, count) in reasons {
        if !QUERY_REASONS.iter().any(|r| r.as_str() == name) {
            map.serialize_entry(name, count)?;
        }
    }
    map.end()
}

/// Scale-out: the group as one instance sees it in the merge log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScaleOutStatus {
    /// This instance's name.
    pub instance: String,
    /// True when this instance writes the global results (the merger).
    pub merging: bool,
    /// The global watermark: the minimum over every partition of the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<EventTime>,
    /// Global windows held (open, or still revisable).
    pub open_windows: u64,
    /// How far the merge log has been read (its next offset).
    pub log_offset: i64,
    /// Every partition of the input topic, as its owner last reported it.
    pub partitions: Vec<PartitionStatus>,
}

/// One input partition in the merge log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionStatus {
    /// The partition.
    pub partition: u32,
    /// The instance that last reported it.
    pub owner: String,
    /// Its watermark (latest event time minus the allowed delay), once it has readings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<EventTime>,
    /// Its owner has read all it has.
    pub caught_up: bool,
    /// Messages behind its end, as its owner's consumer reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<i64>,
    /// When its owner reported it.
    pub reported_at: EventTime,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl StatsRecord {
    /// Per-reason counts as a map (every reason present).
    pub fn reasons(counts: &RejectCounts) -> BTreeMap<String, u64> {
        reasons_map(counts)
    }
}
