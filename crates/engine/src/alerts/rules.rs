//! Alert rules: the model of the TOML file (read and checked in `read`), and the problems found
//! in one.

use std::fmt;

use crate::reading::StateCode;

/// What a rule watches, and how it judges it.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A metric crossing a threshold, with hysteresis.
    Threshold(Threshold),
    /// A sensor silent for `after` µs of event time.
    Offline {
        /// Silence (µs of event time) before a sensor counts as offline.
        after: i64,
    },
    /// A sensor's reading far from its own exponentially weighted history.
    Anomaly(Anomaly),
    /// No input at all for `after` µs of processing time.
    SourceIdle {
        /// Processing time (µs) without input before it fires.
        after: i64,
    },
}

/// A threshold rule's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// What is compared: a window's per-state or fleet figure, or a sensor's reading.
    pub scope: Scope,
    /// Which figure.
    pub metric: Metric,
    /// How the value is compared with `fire` (and `clear`).
    pub op: Op,
    /// The value fires when `value op fire`.
    pub fire: f64,
    /// A firing alert resolves only once `value op clear` no longer holds (hysteresis).
    pub clear: f64,
}

/// An anomaly rule's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// Fires when `|x - mean| > z * standard deviation`.
    pub z: f64,
    /// A firing alert resolves once `|x - mean| <= clear_z * standard deviation`.
    pub clear_z: f64,
    /// Weight of the newest reading in the moving mean and variance (0 < alpha <= 1).
    pub alpha: f64,
    /// Readings a sensor must have before it is judged.
    pub warmup: u32,
}

/// Which key a threshold rule keeps alerts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One alert per state, judged on each window's final result.
    State,
    /// One alert for the whole fleet (or the filtered states together), per window.
    Fleet,
    /// One alert per sensor, judged on each reading.
    Sensor,
}

/// A figure a threshold rule compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Mean temperature of the window.
    AvgTemperature,
    /// Lowest temperature of the window.
    MinTemperature,
    /// Highest temperature of the window.
    MaxTemperature,
    /// Valid readings in the window.
    Messages,
    /// Distinct sensors in the window.
    Sensors,
    /// Rejected messages over all messages of the window (fleet only).
    RejectedRatio,
    /// Late readings counted in the window (fleet only).
    Late,
    /// A sensor's reading (sensor scope, anomaly rules).
    Temperature,
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl Op {
    /// `value op limit`.
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Gt => value > limit,
            Op::Ge => value >= limit,
            Op::Lt => value < limit,
            Op::Le => value <= limit,
        }
    }

    pub(super) fn upward(self) -> bool {
        matches!(self, Op::Gt | Op::Ge)
    }
}

/// Flap suppression: a key that has fired `max` times within `window` µs is held firing until its
/// condition has stayed clear for `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flap {
    /// Event time (µs) over which firings are counted, and how long a flapping key must be clear.
    pub window: i64,
    /// Firings within `window` that make a key flapping.
    pub max: u32,
}

/// One checked rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Unique name, the `rule` of its alerts.
    pub id: String,
    /// What it watches.
    pub kind: Kind,
    /// Copied into its alerts (`warning` unless given).
    pub severity: String,
    /// Only these states (a bit per state index); `None`: every state.
    pub states: Option<u64>,
    /// Consecutive firing observations (windows, or readings for sensors) before it fires.
    pub for_count: u32,
    /// Keeps firing this long (µs) after the condition clears.
    pub keep_firing_for: i64,
    /// Notifies again this often (µs) while firing.
    pub repeat: Option<i64>,
    /// Flap suppression.
    pub flap: Option<Flap>,
    /// Line of its `[[alert]]` header in the file.
    pub line: usize,
}

impl Rule {
    /// True when the rule applies to `state`.
    pub fn covers(&self, state: StateCode) -> bool {
        self.states.is_none_or(|mask| mask & (1 << state.index()) != 0)
    }

    /// True for rules judged on every reading (sensor thresholds, offline, anomaly).
    pub fn per_sensor(&self) -> bool {
        match &self.kind {
            Kind::Threshold(t) => t.scope == Scope::Sensor,
            Kind::Offline { .. } | Kind::Anomaly(_) => true,
            Kind::SourceIdle { .. } => false,
        }
    }
}

/// Every problem found in a rules file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{}", render(.0))]
pub struct RulesError(pub Vec<Problem>);

/// One problem, with the line it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line (0 when the whole file is concerned).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => f.write_str(&self.message),
            line => write!(f, "line {line}: {}", self.message),
        }
    }
}

fn render(problems: &[Problem]) -> String {
    problems.iter().map(Problem::to_string).collect::<Vec<_>>().join("\n")
}

/// Every metric, by its name in rules files.
pub(super) const METRICS: [(&str, Metric); 8] = [
    ("avg_temperature", Metric::AvgTemperature),
    ("min_temperature", Metric::MinTemperature),
    ("max_temperature", Metric::MaxTemperature),
    ("messages", Metric::Messages),
    ("sensors", Metric::Sensors),
    ("rejected_ratio", Metric::RejectedRatio),
    ("late", Metric::Late),
    ("temperature", Metric::Temperature),
];

/// The metric's name in rules files.
pub fn metric_text(metric: Metric) -> &'static str {
    METRICS.iter().find(|(_, m)| *m == metric).map_or("?", |(n, _)| n)
}

/// The comparison as written in rules files.
pub fn op_text(op: Op) -> &'static str {
    match op {
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Lt => "<",
        Op::Le => "<=",
    }
}
