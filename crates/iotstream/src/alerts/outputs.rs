//! Where alert notifications go, in this order: the alerts file (`--alerts-output`, JSON lines),
//! the alerts topic (`--alerts-topic`, keyed by fingerprint: `topic.rs`), the webhook
//! (`webhook.rs`), the store's `alerts` table, and the dashboard (its sink is the dashboard's).
//!
//! The file is opened like the result file: a resumed run cuts it back to the length its
//! checkpoint recorded, so that the replay writes the same lines again.

use std::io::Write;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use iotstream_engine::alerts::{Notification, Rule};
use iotstream_engine::EventTime;

use super::{AlertArgs, AlertSink, Alerting, Error};
use crate::connectors::file::output::open_output;
use crate::connectors::KafkaInput;
use crate::sinks::{Durable, SinkError};
use crate::store::{Backoff, Writer};

/// What alert outputs need from the rest of the run.
#[derive(Default)]
pub struct AlertContext<'a> {
    /// A resumed run cuts the alerts file back to this length (from its checkpoint).
    pub resume_len: Option<u64>,
    /// The Kafka input, for `--alerts-topic`.
    pub kafka: Option<&'a KafkaInput>,
    /// The results store, when there is one: alerts go into its `alerts` table.
    pub store: Option<&'a crate::store::Target>,
    /// The dashboard's alert view, when there is a dashboard.
    pub dashboard: Option<Box<dyn AlertSink>>,
}

/// Opens every alert output `args` ask for, around `rules`; `delay` is the run's allowed
/// out-of-orderness (µs).
pub fn open(
    args: &AlertArgs,
    rules: Vec<Rule>,
    delay: i64,
    context: AlertContext<'_>,
    now: EventTime,
) -> Result<Alerting, Error> {
    let mut sinks: Vec<Box<dyn AlertSink>> = Vec::new();
    if let Some(path) = &args.alerts_output {
        let out = open_output(Some(path), context.resume_len).map_err(Error::Output)?;
        let (Some(written), Some(durable)) = (out.written, out.durable) else {
            return Err(Error::NotAFile(path.clone()));
        };
        sinks.push(Box::new(AlertsFile { out: out.writer, written, durable }));
    }
    sinks.extend(super::topic::open(&args.topic, context.kafka)?);
    if let Some(url) = &args.alerts_webhook {
        sinks.push(Box::new(super::webhook::Webhook::start(url, args)?));
    }
    if let Some(target) = context.store {
        sinks.push(Box::new(StoreAlerts { writer: target.open_writer()?, backoff: Backoff::default() }));
    }
    sinks.extend(context.dashboard);
    Ok(Alerting::new(rules, delay, sinks, now))
}

/// `--alerts-output`: one JSON line per notification, flushed as written.
struct AlertsFile {
    out: Box<dyn Write + Send>,
    written: Arc<AtomicU64>,
    durable: Box<dyn Durable>,
}

impl AlertSink for AlertsFile {
    fn deliver(&mut self, notes: &[Notification]) -> Result<(), SinkError> {
        for note in notes {
            serde_json::to_writer(&mut self.out, &note.record)?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush().map_err(|source| SinkError::Write { what: "the alerts file", source })
    }

    fn sync(&mut self) -> Result<(), SinkError> {
        self.durable.sync().map_err(|source| SinkError::Sync { what: "the alerts file", source })
    }

    fn written(&self) -> Option<u64> {
        Some(self.written.load(Ordering::SeqCst))
    }
}

/// Alert notifications into the `alerts` table, retried while the database is away (as results
/// are: nothing is acknowledged meanwhile).
struct StoreAlerts {
    writer: Box<dyn Writer>,
    backoff: Backoff,
}

impl AlertSink for StoreAlerts {
    fn deliver(&mut self, notes: &[Notification]) -> Result<(), SinkError> {
        let writer = &mut self.writer;
        self.backoff
            .until_available(|| writer.write_alerts(notes))
            .map_err(|e| SinkError::Store(e.to_string()))
    }
}
