//! Per-sensor alert state: the rules judged on every reading.
//!
//! One map lookup per reading finds the sensor's machines (one per sensor rule) and moving
//! averages (one per anomaly rule). Offline needs no work per reading beyond noting the time:
//! a queue ordered by deadline holds at most one entry per sensor, and an entry whose sensor has
//! reported since is pushed back with its new deadline when it comes up. The clock that expires
//! deadlines is the latest event time seen minus the allowed delay, advanced reading by reading,
//! so the same input in the same order always takes sensors offline at the same readings.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use super::emit::{seconds, Emitter, Judged, KeyState};
use super::machine::{Observation, Phase};
use super::record::AlertRecord;
use super::rules::{Anomaly, Kind, Rule};
use crate::reading::{EventTime, Reading, StateCode};

/// An exponentially weighted moving mean and variance of one sensor's readings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ewm {
    /// Readings seen.
    pub n: u32,
    /// Moving mean.
    pub mean: f64,
    /// Moving variance.
    pub var: f64,
}

impl Ewm {
    /// Takes `x` in: the standard incremental form (West 1979, as in Finch 2009, "Incremental
    /// calculation of weighted mean and variance").
    pub fn update(&mut self, x: f64, alpha: f64) {
        if self.n == 0 {
            self.mean = x;
            self.var = 0.0;
        } else {
            let diff = x - self.mean;
            let incr = alpha * diff;
            self.mean += incr;
            self.var = (1.0 - alpha) * (self.var + diff * incr);
        }
        self.n = self.n.saturating_add(1);
    }

    /// Judges `x` against the history before it: (fires, still holds, the bound crossed), or
    /// `None` while warming up.
    pub fn judge(&self, x: f64, rule: &Anomaly) -> Option<(bool, bool, f64)> {
        if self.n < rule.warmup {
            return None;
        }
        let std = self.var.max(0.0).sqrt();
        let deviation = (x - self.mean).abs();
        let bound = if x >= self.mean { self.mean + rule.z * std } else { self.mean - rule.z * std };
        Some((deviation > rule.z * std, deviation > rule.clear_z * std, bound))
    }
}

/// One sensor.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Sensor {
    guid: String,
    state: StateCode,
    /// Latest event time.
    last: EventTime,
    /// Has an entry in the offline queue.
    queued: bool,
    /// One per sensor rule.
    keys: Vec<KeyState>,
    /// One per sensor rule (used by anomaly rules only).
    ewm: Vec<Ewm>,
}

/// A sensor's offline deadline; the queue pops the earliest (ties by sensor, for determinism).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Deadline {
    at: i64,
    sensor: u64,
}

impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.sensor).cmp(&(self.at, self.sensor))
    }
}

impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Every sensor's alert state and the offline clock.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct SensorStates {
    sensors: HashMap<u64, Sensor>,
    queue: BinaryHeap<Deadline>,
    /// Latest event time seen.
    latest: Option<i64>,
}

impl SensorStates {
    /// Judges `reading` under the sensor rules, then takes sensors offline that the advanced clock
    /// says are silent.
    pub(super) fn on_reading(
        &mut self,
        rules: &[Rule],
        sensor_rules: &[usize],
        reading: &Reading<'_>,
        delay: i64,
        emit: &mut Emitter<'_>,
    ) {
        let t = reading.event_time;
        emit.order = (self.latest.map_or(i64::MIN, |l| l.saturating_sub(delay)), 1);
        let sensor = self.sensors.entry(reading.sensor.0).or_insert_with(|| Sensor {
            guid: reading.guid.as_str().into_owned(),
            state: reading.state,
            last: t,
            queued: false,
            keys: vec![KeyState::default(); sensor_rules.len()],
            ewm: vec![Ewm::default(); sensor_rules.len()],
        });
        let previous = sensor.last;
        sensor.state = reading.state;
        sensor.last = sensor.last.max(t);
        let mut offline = None;
        for (slot, &index) in sensor_rules.iter().enumerate() {
            let rule = &rules[index];
            if !rule.covers(reading.state) && !matches!(rule.kind, Kind::Offline { .. }) {
                continue;
            }
            judge(rule, slot, sensor, reading, previous, emit);
            if let Kind::Offline { after } = rule.kind {
                offline = Some(offline.map_or(after, |a: i64| a.min(after)));
            }
        }
        if let (Some(after), false) = (offline, sensor.queued) {
            sensor.queued = true;
            self.queue.push(Deadline { at: sensor.last.0.saturating_add(after), sensor: reading.sensor.0 });
        }
        let latest = self.latest.map_or(t.0, |l| l.max(t.0));
        self.latest = Some(latest);
        self.expire(rules, sensor_rules, latest.saturating_sub(delay), emit);
    }

    /// Takes offline the sensors whose deadline the clock has passed.
    fn expire(&mut self, rules: &[Rule], sensor_rules: &[usize], clock: i64, emit: &mut Emitter<'_>) {
        while let Some(&top) = self.queue.peek() {
            if top.at > clock {
                return;
            }
            self.queue.pop();
            let Some(sensor) = self.sensors.get_mut(&top.sensor) else { continue };
            sensor.queued = false;
            let mut next: Option<i64> = None;
            for (slot, &index) in sensor_rules.iter().enumerate() {
                let rule = &rules[index];
                let Kind::Offline { after } = rule.kind else { continue };
                let key = &mut sensor.keys[slot];
                if key.machine.phase == Phase::Firing {
                    continue;
                }
                let deadline = sensor.last.0.saturating_add(after);
                if deadline > clock {
                    next = Some(next.map_or(deadline, |n| n.min(deadline)));
                    continue;
                }
                if !rule.covers(sensor.state) {
                    continue;
                }
                let obs = Observation { at: EventTime(deadline), fires: true, holds: true, window_end: None };
                let judged =
                    Judged { value: seconds(clock - sensor.last.0), threshold: seconds(after), window: None };
                emit.step(rule, &sensor.guid, key, &obs, judged);
            }
            if let Some(at) = next {
                sensor.queued = true;
                self.queue.push(Deadline { at, sensor: top.sensor });
            }
        }
    }

    /// Every sensor alert firing now.
    pub(super) fn firing(&self) -> impl Iterator<Item = AlertRecord> + '_ {
        self.sensors.values().flat_map(|s| s.keys.iter().filter_map(|k| k.firing.as_deref().cloned()))
    }
}

/// Judges one reading under one sensor rule.
fn judge(
    rule: &Rule,
    slot: usize,
    sensor: &mut Sensor,
    reading: &Reading<'_>,
    previous: EventTime,
    emit: &mut Emitter<'_>,
) {
    let x = reading.temperature;
    let at = reading.event_time;
    let key = &mut sensor.keys[slot];
    match &rule.kind {
        Kind::Threshold(t) => {
            let obs = Observation {
                at,
                fires: t.op.holds(x, t.fire),
                holds: t.op.holds(x, t.clear),
                window_end: None,
            };
            let judged = Judged { value: x, threshold: t.fire, window: None };
            emit.step(rule, &sensor.guid, key, &obs, judged);
        }
        Kind::Anomaly(a) => {
            let ewm = &mut sensor.ewm[slot];
            if let Some((fires, holds, bound)) = ewm.judge(x, a) {
                let obs = Observation { at, fires, holds, window_end: None };
                emit.step(rule, &sensor.guid, key, &obs, Judged { value: x, threshold: bound, window: None });
            }
            ewm.update(x, a.alpha);
        }
        Kind::Offline { after } => {
            // Any reading is a sign of life: an offline sensor is back.
            if key.machine.phase == Phase::Firing {
                let obs = Observation { at, fires: false, holds: false, window_end: None };
                let gap = seconds(at.0.saturating_sub(previous.0).max(0));
                emit.step(
                    rule,
                    &sensor.guid,
                    key,
                    &obs,
                    Judged { value: gap, threshold: seconds(*after), window: None },
                );
            }
        }
        Kind::SourceIdle { .. } => {}
    }
}
