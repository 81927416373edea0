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
use crate::connectors::file::output::{open_output, Start};
use crate::connectors::KafkaInput;
use crate::signals::Stop;
use crate::sinks::{Durable, SinkError};
use crate::store::{Backoff, Writer};

/// What alert outputs need from the rest of the run.
pub struct AlertContext<'a> {
    /// How the alerts file starts: afresh, or cut back to the length its checkpoint recorded.
    pub output_start: Start,
    /// The run's stop: opening a FIFO waits for its reader until then.
    pub stop: &'a Stop,
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
        let out = open_output(Some(path), context.output_start, context.stop).map_err(Error::Output)?;
        sinks.push(Box::new(AlertsFile { out: out.writer, written: out.written, durable: out.durable }));
    }
    sinks.extend(super::topic::open(&args.topic, context.kafka)?);
    if let Some(url) = &args.alerts_webhook {
        sinks.push(Box::new(super::webhook::Webhook::start(url, args, context.stop)?));
    }
    if let Some(target) = context.store {
        let backoff = Backoff { stop: context.stop.clone(), ..Backoff::default() };
        sinks.push(Box::new(StoreAlerts { writer: target.open_writer(context.stop)?, backoff }));
    }
    sinks.extend(context.dashboard);
    Ok(Alerting::new(rules, delay, sinks, now))
}

/// `--alerts-output`: one JSON line per notification, flushed as written; a regular file's length
/// is counted and synced for checkpoints (a stream has neither: see `open_output`).
struct AlertsFile {
    out: Box<dyn Write + Send>,
    written: Option<Arc<AtomicU64>>,
    durable: Option<Box<dyn Durable>>,
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
        match &mut self.durable {
            Some(durable) => {
                durable.sync().map_err(|source| SinkError::Sync { what: "the alerts file", source })
            }
            None => Ok(()),
        }
    }

    fn written(&self) -> Option<u64> {
        self.written.as_ref().map(|w| w.load(Ordering::SeqCst))
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
        self.backoff.until_available(|| writer.write_alerts(notes)).map_err(SinkError::from)
    }
}
