//! Alerts around the engine's rules (`--rules FILE`): reading the rules, judging readings and
//! results as the pipeline hands them over, and delivering each notification to every alert
//! output before the input it covers is acknowledged.
//!
//! The outputs are sinks ([`AlertSink`]): `outputs` opens them all (the file and the store are
//! there), `topic` is the Kafka topic and `webhook` the webhook (each with a stand-in for builds
//! without its feature), and the dashboard brings its own; the metrics are updated here.
//!
//! Delivery follows the pipeline's rule, emit then acknowledge: notifications are written to the
//! file and the topic before the driver acknowledges the input that caused them, and a checkpoint
//! records the file's length, the rules' state and the webhook's undelivered queue, so a restart
//! repeats exactly the history an uninterrupted run writes (see docs/ALERTS.md).

pub mod outputs;
#[cfg(feature = "kafka")]
pub mod topic;
#[cfg(not(feature = "kafka"))]
#[path = "topic_absent.rs"]
pub mod topic;
#[cfg(feature = "webhook")]
pub mod webhook;
#[cfg(not(feature = "webhook"))]
#[path = "webhook_absent.rs"]
pub mod webhook;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use iotstream_engine::alerts::{
    parse_rules, AlertRecord, Alerts, AlertsSnapshot, Notification, Rule, Status,
};
use iotstream_engine::{EventTime, Reading, WindowResult};

use crate::instruments;
use crate::sinks::SinkError;

/// Why the rules or the alert outputs could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The rules file cannot be read.
    #[error("cannot read rules file {}", .0.display())]
    ReadRules(PathBuf, #[source] std::io::Error),
    /// The rules file has problems (every one, with its line).
    #[error("rules file {} has {} problem(s):\n{}", .0.display(), .1.0.len(), problems(&.1.0))]
    Rules(PathBuf, iotstream_engine::alerts::RulesError),
    /// The alerts file cannot be opened.
    #[error("--alerts-output")]
    Output(#[source] crate::connectors::file::Error),
    /// An alerts topic without a Kafka input.
    #[error("--alerts-topic needs a Kafka input (--brokers)")]
    TopicWithoutKafka,
    /// The alerts topic cannot be used.
    #[error(transparent)]
    Kafka(#[from] crate::connectors::kafka::Error),
    /// The store cannot take alerts.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A webhook in a build without them.
    #[error("this build has no webhook support (the `webhook` feature)")]
    NoWebhook,
    /// `--alerts-webhook` is not a URL.
    #[error("--alerts-webhook {0}: not a URL")]
    NotAUrl(String, #[source] Box<dyn std::error::Error + Send + Sync>),
    /// `--alerts-webhook` is not http or https.
    #[error("--alerts-webhook {0}: give an http:// or https:// URL with a host")]
    NotHttp(String),
    /// The secret's variable is not set.
    #[error("--alerts-webhook-secret-env: environment variable {0} is not set")]
    NoSecret(String, #[source] std::env::VarError),
    /// A thread could not be started.
    #[error("cannot start {0}")]
    Start(&'static str, #[source] std::io::Error),
}

/// A rules file's problems, one per line.
fn problems(problems: &[iotstream_engine::alerts::Problem]) -> String {
    problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
}

/// A destination for alert notifications.
pub trait AlertSink: Send {
    /// Delivers `notes`, in order; durable outputs return once they are durable (or handed to the
    /// OS, for a file: see [`Self::sync`]), queues (the webhook) once they are queued.
    fn deliver(&mut self, notes: &[Notification]) -> Result<(), SinkError>;

    /// Makes what was delivered survive an OS crash (before a checkpoint records it).
    fn sync(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Bytes written, for a file (a checkpoint records it; a restart cuts the file back to it).
    fn written(&self) -> Option<u64> {
        None
    }

    /// Notifications queued but not yet delivered (a checkpoint keeps them).
    fn undelivered(&self) -> Vec<Notification> {
        Vec::new()
    }

    /// After a restart: notifications a checkpoint kept undelivered.
    fn requeue(&mut self, _notes: &[Notification]) {}

    /// After a restart: what fires now (the dashboard's active alerts).
    fn restored(&mut self, _firing: &[AlertRecord]) {}
}

/// Alert flags, shared by `analyze` and `demo`.
#[derive(Clone, Debug, Args, Default)]
#[command(next_help_heading = "Alerts")]
pub struct AlertArgs {
    /// Alert rules (TOML; see docs/ALERTS.md and `iotstream rules check`).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Write alert notifications to this file as JSON lines (made durable with checkpoints, like
    /// --output).
    #[arg(long, value_name = "FILE", requires = "rules")]
    pub alerts_output: Option<PathBuf>,
    /// The alerts topic (`--alerts-topic`, with Kafka).
    #[command(flatten)]
    pub topic: topic::TopicArgs,
    /// POST each alert notification to this URL (http:// or https://), retried with backoff while
    /// the receiver is down.
    #[arg(long, value_name = "URL", requires = "rules")]
    pub alerts_webhook: Option<String>,
    /// Sign webhook bodies with HMAC-SHA256, keyed by the secret in this environment variable
    /// (header `X-Iotstream-Signature: sha256=HEX`).
    #[arg(long, value_name = "VAR", requires = "alerts_webhook")]
    pub alerts_webhook_secret_env: Option<String>,
    /// Longest pause between webhook retries (they start at 100 ms and double).
    #[arg(long, value_name = "DURATION", value_parser = iotstream_engine::units::parse_positive_duration, default_value = "5s")]
    pub alerts_webhook_max_backoff: Duration,
}

impl AlertArgs {
    /// The rules, read and checked (`None` without `--rules`).
    pub fn load(&self) -> Result<Option<Vec<Rule>>, Error> {
        self.rules.as_deref().map(read_rules).transpose()
    }
}

/// Reads and checks a rules file: every problem at once, with its line.
pub fn read_rules(path: &Path) -> Result<Vec<Rule>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::ReadRules(path.to_owned(), e))?;
    parse_rules(&text).map_err(|e| Error::Rules(path.to_owned(), e))
}

/// The rules of a run, their state, and where their notifications go.
pub struct Alerting {
    engine: Alerts,
    sinks: Vec<Box<dyn AlertSink>>,
    /// Keys firing now (fingerprints), and how many per rule, for the firing gauge.
    firing: HashSet<String>,
    per_rule: HashMap<String, usize>,
    /// Input seen so far (readings and rejections), to tell when input last arrived.
    inputs: u64,
    /// Processing time input last arrived (source_idle rules).
    last_input: EventTime,
}

impl Alerting {
    /// Alerts for `rules`, with the run's allowed out-of-orderness (µs), delivering to `sinks`.
    pub fn new(rules: Vec<Rule>, delay: i64, sinks: Vec<Box<dyn AlertSink>>, now: EventTime) -> Alerting {
        let engine = Alerts::new(rules, delay);
        for rule in engine.rules() {
            instruments::record_alerts_firing(&rule.id, &rule.severity, 0);
        }
        Alerting {
            engine,
            sinks,
            firing: HashSet::new(),
            per_rule: HashMap::new(),
            inputs: 0,
            last_input: now,
        }
    }

    /// True when readings must reach [`Self::on_reading`] one by one, in input order.
    pub fn wants_readings(&self) -> bool {
        self.engine.wants_readings()
    }

    /// Judges one reading (sensor rules).
    #[inline]
    pub fn on_reading(&mut self, reading: &Reading<'_>) {
        self.engine.on_reading(reading);
    }

    /// Judges `results` (window rules) and source idleness at `now` (`inputs`: messages so far),
    /// then delivers every notification waiting, returning once the durable outputs have them.
    pub fn deliver(
        &mut self,
        results: &[WindowResult],
        inputs: u64,
        now: EventTime,
    ) -> Result<(), SinkError> {
        for result in results {
            self.engine.on_result(result);
        }
        if inputs != self.inputs {
            self.inputs = inputs;
            self.last_input = now;
        }
        self.engine.on_clock(now, self.last_input);
        if !self.engine.has_pending() {
            return Ok(());
        }
        let notes = self.engine.take();
        for sink in &mut self.sinks {
            sink.deliver(&notes).map_err(|e| e.within("delivering alerts"))?;
        }
        self.count(&notes);
        Ok(())
    }

    /// Updates the firing gauge and the transitions counter.
    fn count(&mut self, notes: &[Notification]) {
        for note in notes {
            let r = &note.record;
            let changed = match r.status {
                Status::Firing => self.firing.insert(r.fingerprint.clone()),
                Status::Resolved => self.firing.remove(&r.fingerprint),
            };
            instruments::record_alert(&r.rule, r.status.as_str(), changed);
            if changed {
                let count = self.per_rule.entry(r.rule.clone()).or_default();
                *count = match r.status {
                    Status::Firing => *count + 1,
                    Status::Resolved => count.saturating_sub(1),
                };
                instruments::record_alerts_firing(&r.rule, &r.severity, *count);
            }
        }
    }

    /// Makes the durable outputs durable (before a checkpoint records their length).
    pub fn sync(&mut self) -> Result<(), SinkError> {
        self.sinks.iter_mut().try_for_each(|s| s.sync())
    }

    /// Moves everything a checkpoint keeps out; [`Self::put_back`] returns it after saving.
    pub fn take_snapshot(&mut self) -> AlertsSnapshot {
        let output_len = self.sinks.iter().find_map(|s| s.written());
        let undelivered = self.sinks.iter().flat_map(|s| s.undelivered()).collect();
        AlertsSnapshot { state: self.engine.take_state(), output_len, undelivered }
    }

    /// Returns the state taken by [`Self::take_snapshot`].
    pub fn put_back(&mut self, snapshot: AlertsSnapshot) {
        self.engine.put_back(snapshot.state);
    }

    /// Resumes from a checkpoint: the rules' state, and the webhook's undelivered notifications
    /// queued again.
    pub fn restore(&mut self, snapshot: Option<AlertsSnapshot>) {
        let Some(snapshot) = snapshot else {
            tracing::warn!("the checkpoint has no alert state (taken without --rules or by an older build): alerts start afresh");
            return;
        };
        if let Err(error) = self.engine.restore(snapshot.state) {
            tracing::warn!("{error}");
        }
        for sink in &mut self.sinks {
            sink.requeue(&snapshot.undelivered);
        }
        let firing = self.engine.firing();
        self.firing = firing.iter().map(|r| r.fingerprint.clone()).collect();
        self.per_rule.clear();
        for record in &firing {
            *self.per_rule.entry(record.rule.clone()).or_default() += 1;
        }
        for rule in self.engine.rules() {
            let count = self.per_rule.get(&rule.id).copied().unwrap_or(0);
            instruments::record_alerts_firing(&rule.id, &rule.severity, count);
        }
        for sink in &mut self.sinks {
            sink.restored(&firing);
        }
    }
}
