//! Turning machine steps into numbered notifications, shared by every kind of rule.

use serde::{Deserialize, Serialize};

use super::machine::{Machine, Observation, Step};
use super::record::{fingerprint, AlertRecord, AlertTag, Notification, Status};
use super::rules::Rule;
use crate::reading::EventTime;

/// One (rule, key)'s machine, and the record it last sent while it fires.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyState {
    /// The state machine.
    pub machine: Machine,
    /// The firing notification, while firing (the dashboard's active alerts).
    pub firing: Option<Box<AlertRecord>>,
    /// Notifications sent about this key.
    pub sent: u64,
}

/// What a notification reports besides its transition.
#[derive(Clone, Copy, Debug)]
pub struct Judged {
    pub value: f64,
    pub threshold: f64,
    pub window: Option<(EventTime, EventTime)>,
}

/// Turns machine steps into numbered notifications.
pub struct Emitter<'a> {
    pub sequence: &'a mut u64,
    pub out: &'a mut Vec<Notification>,
    /// The order key of what is emitted now (see [`Notification::order`]).
    pub order: (i64, u8),
}

impl Emitter<'_> {
    /// Steps `key`'s machine with `obs`, and notifies if it transitions.
    pub fn step(&mut self, rule: &Rule, key: &str, state: &mut KeyState, obs: &Observation, judged: Judged) {
        let Some(step) = state.machine.step(rule, obs) else { return };
        let status = match step {
            Step::Fired | Step::Repeated => Status::Firing,
            Step::Resolved => Status::Resolved,
        };
        let record = AlertRecord {
            record_type: AlertTag::Alert,
            rule: rule.id.clone(),
            key: key.to_owned(),
            status,
            severity: rule.severity.clone(),
            at: obs.at,
            value: judged.value,
            threshold: judged.threshold,
            window_start: judged.window.map(|w| w.0),
            window_end: judged.window.map(|w| w.1),
            fingerprint: fingerprint(&rule.id, key),
        };
        state.firing = (status == Status::Firing).then(|| Box::new(record.clone()));
        state.sent += 1;
        *self.sequence += 1;
        self.out.push(Notification { sequence: state.sent, record, order: self.order });
    }
}

/// µs as seconds, as notifications report durations.
pub fn seconds(micros: i64) -> f64 {
    micros as f64 / 1e6
}
