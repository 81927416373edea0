//! Alerts: rules judged on the stream, a state machine per (rule, key), notifications on
//! transitions only.
//!
//! Everything is judged on event time, so a replay of the same input gives the same history:
//! window rules (state and fleet thresholds) on each window's final result and its revisions,
//! sensor rules (sensor thresholds, offline, anomaly) on each reading in input order. The one
//! exception is `source_idle`, which watches the input itself and is judged on processing time.
//!
//! [`Alerts`] is driven like the operator: `on_reading`, `on_result`, `on_clock`; the caller takes
//! the [`Notification`]s it produced with [`Alerts::take`] and delivers them. Its whole state is a
//! serde value ([`AlertState`]) saved with each checkpoint.
//!
//! - `rules`: the TOML file's model, read and checked with every problem at once;
//! - `machine`: normal → pending → firing → resolved for one (rule, key);
//! - `sensors`: per-sensor state (readings, offline deadlines, moving averages);
//! - `windows`: window rules on results;
//! - `record`: the JSON record every output carries.

mod emit;
mod machine;
mod read;
mod record;
mod rules;
mod sensors;
#[cfg(test)]
mod tests;
mod windows;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use emit::KeyState;
pub use machine::{Machine, Observation, Phase, Step};
pub use read::parse_rules;
pub use record::{fingerprint, AlertRecord, AlertTag, Notification, Status};
pub use rules::{
    metric_text, op_text, Anomaly, Flap, Kind, Metric, Op, Problem, Rule, RulesError, Scope, Threshold,
};
pub use sensors::Ewm;

use crate::reading::{EventTime, Reading};
use crate::result::WindowResult;
use emit::{seconds, Emitter, Judged};

/// Everything alerts remember: what a checkpoint saves.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AlertState {
    /// Digest of the rules it was built under; other rules start afresh.
    digest: u64,
    /// Notifications sent so far (all keys).
    sequence: u64,
    /// Window rules' keys: (rule index, key).
    windows: BTreeMap<(u32, String), KeyState>,
    /// Per-sensor state.
    sensors: sensors::SensorStates,
    /// source_idle rules, by rule index.
    idle: BTreeMap<u32, KeyState>,
}

/// What a checkpoint keeps of a run's alerts: their state, how long the alerts file was, and the
/// notifications not yet acknowledged by a webhook receiver (sent again after a restart).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AlertsSnapshot {
    /// The rules' state.
    pub state: AlertState,
    /// Length of the alerts file (`None` without one).
    pub output_len: Option<u64>,
    /// Notifications queued for a webhook and not yet taken by it.
    pub undelivered: Vec<Notification>,
}

/// The rules of a run and their state.
#[derive(Debug)]
pub struct Alerts {
    rules: Vec<Rule>,
    /// Indexes of the rules judged on readings.
    sensor_rules: Vec<usize>,
    state: AlertState,
    /// Allowed out-of-orderness (µs): the alerts' event-time clock is the latest event time minus
    /// this, as the watermark is.
    delay: i64,
    out: Vec<Notification>,
}

/// Why a checkpoint's alert state was not resumed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RestoreError {
    /// The rules changed since the checkpoint.
    #[error(
        "the rules changed since the checkpoint: alert state starts afresh (active alerts may fire again)"
    )]
    OtherRules,
}

impl Alerts {
    /// Alerts for `rules`, with the run's allowed out-of-orderness `delay` (µs; 0 without one).
    pub fn new(rules: Vec<Rule>, delay: i64) -> Alerts {
        let sensor_rules = rules.iter().enumerate().filter(|(_, r)| r.per_sensor()).map(|(i, _)| i).collect();
        let state = AlertState { digest: digest(&rules), ..AlertState::default() };
        Alerts { rules, sensor_rules, state, delay, out: Vec::new() }
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// True when some rule is judged on every reading (readings must then reach [`Self::on_reading`]
    /// one by one, in input order).
    pub fn wants_readings(&self) -> bool {
        !self.sensor_rules.is_empty()
    }

    /// Judges one reading (sensor rules) and advances the event-time clock (offline).
    #[inline]
    pub fn on_reading(&mut self, reading: &Reading<'_>) {
        if self.sensor_rules.is_empty() {
            return;
        }
        let mut emit =
            Emitter { sequence: &mut self.state.sequence, out: &mut self.out, order: (i64::MIN, 1) };
        self.state.sensors.on_reading(&self.rules, &self.sensor_rules, reading, self.delay, &mut emit);
    }

    /// Judges a window's result (final results and revisions; partial ones are skipped).
    pub fn on_result(&mut self, result: &WindowResult) {
        if !result.is_final {
            return;
        }
        let order = (result.window_end.0, 0);
        let mut emit = Emitter { sequence: &mut self.state.sequence, out: &mut self.out, order };
        windows::judge(&self.rules, &mut self.state.windows, result, &mut emit);
    }

    /// Judges source_idle rules at processing time `now`, the input last seen at `last_input`.
    pub fn on_clock(&mut self, now: EventTime, last_input: EventTime) {
        let mut emit =
            Emitter { sequence: &mut self.state.sequence, out: &mut self.out, order: (i64::MIN, 0) };
        for (index, rule) in self.rules.iter().enumerate() {
            let Kind::SourceIdle { after } = rule.kind else { continue };
            let idle = now.0.saturating_sub(last_input.0);
            let key = self.state.idle.entry(index as u32).or_default();
            let obs = Observation { at: now, fires: idle >= after, holds: idle >= after, window_end: None };
            let value = Judged { value: seconds(idle), threshold: seconds(after), window: None };
            emit.step(rule, "source", key, &obs, value);
        }
    }

    /// The notifications produced since the last call, in the order a replay repeats: window
    /// notifications where their window closed among the readings' (see [`Notification::order`]).
    pub fn take(&mut self) -> Vec<Notification> {
        // Stable: each alert's own notifications keep the order they were made in.
        self.out.sort_by_key(|n| n.order);
        std::mem::take(&mut self.out)
    }

    /// True when notifications wait to be taken.
    pub fn has_pending(&self) -> bool {
        !self.out.is_empty()
    }

    /// Every alert firing now, by rule and key.
    pub fn firing(&self) -> Vec<AlertRecord> {
        let windows = self.state.windows.values();
        let idle = self.state.idle.values();
        let mut firing: Vec<AlertRecord> =
            windows.chain(idle).filter_map(|k| k.firing.as_deref().cloned()).collect();
        firing.extend(self.state.sensors.firing());
        firing.sort_by(|a, b| (&a.rule, &a.key).cmp(&(&b.rule, &b.key)));
        firing
    }

    /// Notifications sent so far, all keys together.
    pub fn sequence(&self) -> u64 {
        self.state.sequence
    }

    /// Moves the state out (for a checkpoint); [`Self::put_back`] returns it.
    pub fn take_state(&mut self) -> AlertState {
        std::mem::take(&mut self.state)
    }

    /// Returns the state taken with [`Self::take_state`].
    pub fn put_back(&mut self, state: AlertState) {
        self.state = state;
    }

    /// Resumes from a checkpoint's state. Under other rules only the count of notifications
    /// carries over, and the error says so.
    pub fn restore(&mut self, state: AlertState) -> Result<(), RestoreError> {
        if state.digest == self.state.digest {
            self.state = state;
            return Ok(());
        }
        self.state.sequence = state.sequence;
        Err(RestoreError::OtherRules)
    }
}

/// A digest of what the rules mean (their lines left out: moving a rule in the file keeps state).
fn digest(rules: &[Rule]) -> u64 {
    let text: String = rules.iter().map(|r| format!("{:?};", Rule { line: 0, ..r.clone() })).collect();
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}
