//! The state machine of one (rule, key): normal → pending → firing → resolved (and normal again).
//!
//! It is fed observations in event time (a window's end, a reading's time) and answers with the
//! notification to send, if any. Nothing here reads a clock, so the same observations always give
//! the same notifications: that is what makes replays and restarts repeat history exactly.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::rules::Rule;
use crate::reading::EventTime;

/// Where a (rule, key) stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Nothing wrong.
    #[default]
    Normal,
    /// The condition holds, but not yet for `for` observations.
    Pending,
    /// Notified as firing; not yet resolved.
    Firing,
}

/// One judgement of a key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    /// Event time it is about (a window's end, a reading's time).
    pub at: EventTime,
    /// The fire condition holds.
    pub fires: bool,
    /// The (hysteresis) clear condition still holds: a firing alert stays firing.
    pub holds: bool,
    /// The window judged, for window rules: a revision of the window last judged replaces its
    /// verdict instead of counting as one more.
    pub window_end: Option<EventTime>,
}

/// What a step asks to notify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The key starts firing.
    Fired,
    /// Still firing, and the repeat interval has passed since the last notification.
    Repeated,
    /// The key stops firing.
    Resolved,
}

/// The state of one (rule, key).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Where it stands.
    pub phase: Phase,
    /// Consecutive firing observations while normal or pending.
    count: u32,
    /// The last window judged (window rules) and whether it fired.
    last_window: Option<(EventTime, bool)>,
    /// Since when the condition has been clear while firing (keep_firing_for, flap hold).
    cleared_since: Option<EventTime>,
    /// When the last notification (firing or repeat) was sent.
    last_sent: EventTime,
    /// When this key fired recently (flap suppression), oldest first, at most `flap.max`.
    fired_at: VecDeque<EventTime>,
    /// It fired `flap.max` times within `flap.window`: it resolves only after `flap.window` clear.
    flapping: bool,
}

impl Machine {
    /// True when nothing about this key needs remembering (it may be dropped).
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Normal
            && self.count == 0
            && self.fired_at.is_empty()
            && self.last_window.is_none()
    }

    /// Judges one observation under `rule`.
    pub fn step(&mut self, rule: &Rule, obs: &Observation) -> Option<Step> {
        match self.phase {
            Phase::Normal | Phase::Pending => self.step_quiet(rule, obs),
            Phase::Firing => self.step_firing(rule, obs),
        }
    }

    fn step_quiet(&mut self, rule: &Rule, obs: &Observation) -> Option<Step> {
        match (obs.window_end, self.last_window) {
            // A revision of an older window: the key has moved on.
            (Some(end), Some((last, _))) if end < last => return None,
            // A revision of the window last judged replaces its verdict.
            (Some(end), Some((last, fired))) if end == last => {
                self.count = self.count.saturating_sub(u32::from(fired))
            }
            _ => {}
        }
        if let Some(end) = obs.window_end {
            self.last_window = Some((end, obs.fires));
        }
        if !obs.fires {
            self.count = 0;
            self.phase = Phase::Normal;
            return None;
        }
        self.count = self.count.saturating_add(1);
        if self.count < rule.for_count {
            self.phase = Phase::Pending;
            return None;
        }
        self.fire(rule, obs.at);
        Some(Step::Fired)
    }

    fn fire(&mut self, rule: &Rule, at: EventTime) {
        self.phase = Phase::Firing;
        self.count = 0;
        self.cleared_since = None;
        self.last_sent = at;
        if let Some(flap) = rule.flap {
            self.fired_at.push_back(at);
            while self.fired_at.len() > flap.max as usize {
                self.fired_at.pop_front();
            }
            let recent = self.fired_at.iter().filter(|t| at.0.saturating_sub(t.0) <= flap.window).count();
            self.flapping = recent >= flap.max as usize;
        }
    }

    fn step_firing(&mut self, rule: &Rule, obs: &Observation) -> Option<Step> {
        if let Some(end) = obs.window_end {
            if self.last_window.is_some_and(|(last, _)| end < last) {
                return None;
            }
            self.last_window = Some((end, obs.fires));
        }
        if obs.holds {
            self.cleared_since = None;
            let due = rule.repeat.is_some_and(|r| obs.at.0 >= self.last_sent.0.saturating_add(r));
            if due {
                self.last_sent = obs.at;
                return Some(Step::Repeated);
            }
            return None;
        }
        let since = *self.cleared_since.get_or_insert(obs.at);
        if obs.at.0.saturating_sub(since.0) < self.hold(rule) {
            return None;
        }
        self.phase = Phase::Normal;
        self.count = 0;
        self.cleared_since = None;
        self.flapping = false;
        self.last_window = obs.window_end.map(|end| (end, false));
        self.forget_old_firings(rule, obs.at);
        Some(Step::Resolved)
    }

    /// How long the condition must stay clear before the key resolves: `keep_firing_for`, or the
    /// flap window when the key is flapping.
    fn hold(&self, rule: &Rule) -> i64 {
        match (self.flapping, rule.flap) {
            (true, Some(flap)) => flap.window.max(rule.keep_firing_for),
            _ => rule.keep_firing_for,
        }
    }

    fn forget_old_firings(&mut self, rule: &Rule, at: EventTime) {
        let window = rule.flap.map_or(0, |f| f.window);
        while self.fired_at.front().is_some_and(|t| at.0.saturating_sub(t.0) > window) {
            self.fired_at.pop_front();
        }
    }
}
