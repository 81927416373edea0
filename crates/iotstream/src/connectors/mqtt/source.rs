//! MQTT: a persistent QoS 1 subscription on its own thread, handing the pipeline batches of
//! messages and acknowledging each message (PUBACK) only once its effect is safe.
//!
//! - **With `--state-dir`**: a message is acknowledged once a saved checkpoint includes it
//!   ([`Command::Checkpointed`]); after a crash the broker sends again exactly what no checkpoint
//!   holds, and the ledger (`mqtt/ledger.rs`) recognises what it sends again that a checkpoint does hold. Results
//!   equal an uninterrupted run's.
//! - **Without**: a message is acknowledged once the results that include it are written
//!   ([`Command::Commit`]): at least once.
//!
//! The messages form one partition (0), numbered in arrival order: MQTT orders messages per topic
//! and publisher, not across a fleet, so the event-time watermark is one for all devices, and
//! allowed lateness must cover how far apart devices' clocks and networks are (docs/MQTT.md).
//! The connection is retried with backoff through broker restarts; when the broker reports that
//! it has no session for the client id, the topics are subscribed to again.

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{
    Acks, Backoff, Broker, Error, Incoming, Input, Ledger, Message, MqttArgs, Receipt, Session, TopicFields,
    DEFAULT_VALUE_FIELD,
};
use crate::channel::{Command, Control, MessageBatch, Source, SourceError, SourceEvent, CHANNEL_DEPTH};
use crate::clock::wall_clock_now;
use crate::connectors::options::SourceOptions;
use crate::instruments;
use crate::parallel;
use crate::signals::Stop;

/// Messages per batch handed to the pipeline.
const BATCH_MESSAGES: usize = 4096;
/// How long one poll waits when nothing is pending.
const POLL: Duration = Duration::from_millis(100);
/// How long a batch waits for more messages before it is handed over.
const BATCH_WAIT: Duration = Duration::from_millis(5);
/// With a state directory: ask for a checkpoint when this many messages wait for one (the broker
/// sends at most 65,535 unacknowledged messages, and then waits).
const ACK_HIGH_WATER: usize = 16_384;
/// Without a state directory: warn (once) when this many messages wait for their results.
const STALL_WARNING: usize = 60_000;
/// How long a clean stop waits for the last acknowledgements to reach the broker (at most what is
/// left of the stop's grace: `crate::signals`).
const GOODBYE: Duration = Duration::from_secs(2);
/// The journal of messages handed over, in the state directory.
const LEDGER_FILE: &str = "mqtt-ledger";

/// `analyze --mqtt`: where to connect, what to subscribe to, how to read topics.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "MQTT")]
pub struct MqttSourceArgs {
    /// Broker, client id, version, TLS.
    #[command(flatten)]
    pub connection: MqttArgs,
    /// Topic filter to subscribe to at QoS 1 (repeatable; wildcards + and #). Default: the
    /// pattern of --mqtt-topic-fields, its fields as +.
    #[arg(id = "mqtt_topic", long = "mqtt-topic", value_name = "FILTER", requires = "mqtt")]
    pub topics: Vec<String>,
    /// Take fields from the topic, e.g. 'sites/{site}/{guid}/{format}': each {name} level a field
    /// ({format}: payload.format; {a.b}: a nested one; {measurement}: names a bare number; + or
    /// {_}: ignored). The payload may then be a flat object of measurements
    /// ({"humidity": 41.2, "battery": 88, "eventTime": "…"}, into payload.data) or a bare number
    /// (event time: arrival).
    #[arg(id = "mqtt_topic_fields", long = "mqtt-topic-fields", value_name = "PATTERN", requires = "mqtt")]
    pub topic_fields: Option<TopicFields>,
    /// With --mqtt-topic-fields: the payload.data field a bare number goes to when the pattern
    /// has no {measurement} level [default: temperature].
    #[arg(
        id = "mqtt_value_field",
        long = "mqtt-value-field",
        value_name = "NAME",
        requires = "mqtt_topic_fields"
    )]
    pub value_field: Option<String>,
}

impl MqttSourceArgs {
    /// Every problem with the MQTT flags.
    pub fn check(&self) -> Result<(), String> {
        if self.connection.url.is_none() {
            return Ok(());
        }
        self.connection.required_client_id().map_err(|e| e.to_string())?;
        if self.filters().is_empty() {
            return Err("--mqtt needs --mqtt-topic FILTER (or --mqtt-topic-fields PATTERN)".into());
        }
        for filter in self.filters() {
            check_filter(&filter).map_err(|e| format!("--mqtt-topic {filter:?}: {e}"))?;
        }
        Ok(())
    }

    /// How topics and small payloads become readings, if they do.
    pub fn mapping(&self) -> Option<TopicFields> {
        self.topic_fields
            .clone()
            .map(|fields| fields.with_value_field(self.value_field.as_deref().unwrap_or(DEFAULT_VALUE_FIELD)))
    }

    /// The topic filters subscribed to.
    pub fn filters(&self) -> Vec<String> {
        match (&self.topics[..], &self.topic_fields) {
            ([], Some(fields)) => vec![fields.filter()],
            (topics, _) => topics.to_vec(),
        }
    }

    /// What is read, for checkpoints: a checkpoint resumes only the same broker and client id.
    pub fn name(&self) -> Option<String> {
        let url = self.connection.url.as_ref()?;
        let id = self.connection.client_id.as_deref().unwrap_or_default();
        Some(format!("mqtt:{}:{}/{id}", url.host, url.port))
    }

    /// Whether the input is MQTT (`--mqtt`).
    pub fn given(&self) -> bool {
        self.connection.url.is_some()
    }

    /// The broker and client id read, when the input is MQTT.
    pub fn input(&self) -> Result<Option<Input>, Error> {
        let Some(broker) = self.connection.broker()? else { return Ok(None) };
        Ok(Some((broker, self.connection.required_client_id()?.to_owned())))
    }

    /// Files the source keeps in the state directory `dir`: the ledger, when the input is MQTT.
    pub fn companions(&self, dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        match self.given() {
            true => vec![ledger_path(dir)],
            false => Vec::new(),
        }
    }
}

/// A filter as MQTT allows it: `#` only as the last level, wildcards only as whole levels.
fn check_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        return Err("empty".into());
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err("# must be a whole level, the last one".into());
        }
        if level.contains('+') && *level != "+" {
            return Err("+ must be a whole level".into());
        }
    }
    Ok(())
}

/// Connects (in the background: a broker that is down is waited for) and starts the reader.
pub fn open(args: &MqttSourceArgs, options: &SourceOptions) -> Result<Source, Error> {
    let broker = args.connection.broker()?.ok_or(Error::NoBroker)?;
    let client_id = args.connection.required_client_id()?.to_owned();
    let resume = options.resume.get(&0).copied().unwrap_or(0);
    let ledger = match &options.state_dir {
        Some(dir) => Ledger::journaled(ledger_path(dir), u64::try_from(resume).unwrap_or(0))
            .map_err(|e| Error::Journal(dir.clone(), e))?,
        None => Ledger::in_memory(),
    };
    let session = broker.session(&client_id, Acks::Manual);
    let (tx, events) = mpsc::channel(CHANNEL_DEPTH);
    let (control_tx, control) = std_mpsc::channel();
    // One partition, from the start: event time waits for it.
    let _ = tx.try_send(SourceEvent::Control(Control::Assigned(vec![0])));
    let reader = Reader {
        session,
        broker,
        client_id,
        filters: args.filters(),
        fields: args.mapping(),
        events: tx,
        control,
        ledger,
        durable: options.state_dir.is_some(),
        keep_bytes: options.keep_bytes,
        batch: MessageBatch::default(),
        scratch: Vec::new(),
        backoff: Backoff::default(),
        connected: false,
        subscribed: false,
        idle: false,
        asked: false,
        redelivered: (0, 0),
        batch_due: None,
        warned_stall: false,
        failure: None,
        stop: options.stop.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("mqtt-source".into())
        .spawn(move || reader.run())
        .map_err(|e| Error::Start("the MQTT reader thread", e))?;
    let mut source = Source { events, control: Some(control_tx), thread: Some(thread) };
    if options.threads > 1 {
        source.events =
            parallel::spawn(source.events, options.threads, options.parsers.clone(), options.mode);
    }
    Ok(source)
}

/// The reader thread's state.
struct Reader {
    session: Session,
    broker: Broker,
    client_id: String,
    filters: Vec<String>,
    fields: Option<TopicFields>,
    events: mpsc::Sender<SourceEvent>,
    control: std_mpsc::Receiver<Command>,
    ledger: Ledger,
    /// Acknowledge on checkpoints (a state directory), not on written results.
    durable: bool,
    keep_bytes: usize,
    /// Messages not yet handed over.
    batch: MessageBatch,
    scratch: Vec<u8>,
    backoff: Backoff,
    connected: bool,
    /// The subscription is in place (the broker had the session, or it was made).
    subscribed: bool,
    /// The pipeline was told that nothing is waiting (sent once per quiet spell).
    idle: bool,
    /// A checkpoint was asked for and not yet made.
    asked: bool,
    /// Messages sent again since the connection was made: already counted, and not.
    redelivered: (u64, u64),
    /// When the batch being filled must be handed over.
    batch_due: Option<Instant>,
    /// The reading-pauses warning was given.
    warned_stall: bool,
    /// Why the last attempt to connect failed, while not connected (each new reason is a warning).
    failure: Option<String>,
    /// The run's stop: waiting to reconnect ends at it, and the goodbye is bounded by its grace.
    stop: Stop,
}

/// Why the reader stops.
enum Exit {
    /// The pipeline asked for it (after its last checkpoint).
    Shutdown(Vec<(i32, i64)>),
    /// The pipeline has gone.
    Gone,
}

impl Reader {
    fn run(mut self) {
        tracing::info!(broker = %self.broker.url, client_id = %self.client_id, filters = ?self.filters, "connecting to the MQTT broker");
        match self.read() {
            Exit::Shutdown(positions) => self.goodbye(&positions),
            Exit::Gone => {
                let _ = self.session.disconnect();
            }
        }
    }

    /// Reads until the pipeline says stop.
    fn read(&mut self) -> Exit {
        loop {
            if let Some(exit) = self.handle_controls() {
                return exit;
            }
            // A batch waits at most BATCH_WAIT for more messages: large batches at high rates
            // (one hand-over, one journal write for thousands of messages), little delay at low.
            let wait = match self.batch_due {
                Some(due) => due.saturating_duration_since(Instant::now()),
                None => POLL,
            };
            let polled = self.session.poll(wait);
            let handed = match polled {
                Ok(Incoming::Message(message)) => {
                    self.batch_due.get_or_insert_with(|| Instant::now() + BATCH_WAIT);
                    self.on_message(message)
                }
                Ok(Incoming::Connected { session_present }) => self.on_connected(session_present),
                Ok(Incoming::Subscribed { refused }) => self.on_subscribed(refused),
                Ok(Incoming::Quiet) => self.on_quiet(),
                Ok(Incoming::Nothing | Incoming::Published) => true,
                Err(broken) => self.on_broken(&broken.to_string()),
            };
            if !handed {
                return Exit::Gone;
            }
            if self.batch_due.is_some_and(|due| Instant::now() >= due) && !self.hand_over() {
                return Exit::Gone;
            }
        }
    }

    /// Acknowledgements and stops from the pipeline; `Some` to stop.
    fn handle_controls(&mut self) -> Option<Exit> {
        loop {
            match self.control.try_recv() {
                Ok(Command::Commit(positions)) if !self.durable => self.acknowledge(&positions),
                Ok(Command::Checkpointed(positions)) => {
                    self.asked = false;
                    if self.durable {
                        self.acknowledge(&positions);
                    }
                }
                Ok(Command::Shutdown(positions)) => return Some(Exit::Shutdown(positions)),
                Ok(_) => {}
                Err(std_mpsc::TryRecvError::Empty) => return None,
                Err(std_mpsc::TryRecvError::Disconnected) => return Some(Exit::Gone),
            }
        }
    }

    /// Acknowledges every message below the position of partition 0 in `positions`.
    fn acknowledge(&mut self, positions: &[(i32, i64)]) {
        let Some(&(_, position)) = positions.iter().find(|(p, _)| *p == 0) else { return };
        for pkid in self.ledger.safe_through(u64::try_from(position).unwrap_or(0)) {
            self.session.ack(pkid);
        }
    }

    /// One message: counted (new) or recognised (sent again). False if the pipeline has gone.
    fn on_message(&mut self, message: Message) -> bool {
        self.idle = false;
        let hash = identity(&message.topic, &message.payload);
        match self.ledger.receive(message.pkid, hash, message.dup, message.qos) {
            Receipt::Redelivered { ack_now } => {
                instruments::record_mqtt_redelivery(true);
                self.note_redelivery(true);
                if ack_now {
                    self.session.ack(message.pkid);
                }
                true
            }
            Receipt::New(seq) => {
                if message.dup {
                    instruments::record_mqtt_redelivery(false);
                    self.note_redelivery(false);
                }
                self.push(&message, seq);
                self.batch.len() < BATCH_MESSAGES || self.hand_over()
            }
        }
    }

    /// Counts a message sent again, and says so once per connection: how many of them the
    /// pipeline already had (dropped) and how many it had not (counted now).
    fn note_redelivery(&mut self, counted: bool) {
        let (dropped, new) = &mut self.redelivered;
        if counted {
            *dropped += 1;
        } else {
            *new += 1;
        }
        if *dropped + *new == 1 {
            tracing::info!("the broker is sending again messages not acknowledged before; those already counted are dropped");
        }
    }

    /// Adds a message to the batch, in the seed's format if the topic carries fields.
    fn push(&mut self, message: &Message, seq: u64) {
        let position = i64::try_from(seq).unwrap_or(i64::MAX);
        match &self.fields {
            // A payload too long for the parser is rejected as such, unread.
            Some(fields) if message.payload.len() < self.keep_bytes => {
                fields.normalize(&message.topic, &message.payload, wall_clock_now(), &mut self.scratch);
                self.batch.push(&self.scratch, self.keep_bytes, 0, position);
            }
            _ => self.batch.push(&message.payload, self.keep_bytes, 0, position),
        }
    }

    /// Hands the batch to the pipeline (its ledger entries made durable first), and asks for a
    /// checkpoint when many messages wait for one. False if the pipeline has gone.
    fn hand_over(&mut self) -> bool {
        self.batch_due = None;
        if self.batch.is_empty() {
            return true;
        }
        if let Err(error) = self.ledger.before_hand_over() {
            let failed = SourceEvent::Control(Control::Failed(SourceError::Journal(error)));
            let _ = self.events.blocking_send(failed);
            return false;
        }
        let batch = std::mem::take(&mut self.batch);
        if self.events.blocking_send(SourceEvent::messages(batch)).is_err() {
            return false;
        }
        if self.durable && !self.asked && self.ledger.unacked() >= ACK_HIGH_WATER {
            self.asked = true;
            return self.events.blocking_send(SourceEvent::Control(Control::CheckpointWanted)).is_ok();
        }
        if !self.durable && !self.warned_stall && self.ledger.unacked() >= STALL_WARNING {
            self.warned_stall = true;
            tracing::warn!(
                unacknowledged = self.ledger.unacked(),
                "the broker stops at 65,535 unacknowledged messages, and without --state-dir they are \
                 acknowledged only when their results are written: reading pauses until then (use \
                 --state-dir to acknowledge at checkpoints)"
            );
        }
        true
    }

    /// Nothing arrived within a poll: hand over what is pending, and tell the pipeline once per
    /// quiet spell that nothing is waiting (event time may then let the partition go idle).
    fn on_quiet(&mut self) -> bool {
        if !self.batch.is_empty() {
            return self.hand_over();
        }
        if self.idle || !self.connected {
            return true;
        }
        self.idle = true;
        self.events.blocking_send(SourceEvent::Control(Control::CaughtUp(0))).is_ok()
    }

    /// (Re)connected: subscribe unless the broker kept the session with its subscriptions.
    fn on_connected(&mut self, session_present: bool) -> bool {
        self.report_redeliveries();
        self.connected = true;
        self.failure = None;
        self.backoff.reset();
        if session_present && self.subscribed {
            tracing::info!(broker = %self.broker.url, "MQTT connection back; the broker kept the session");
            return true;
        }
        if self.subscribed {
            // The broker lost the session (a restart without persistence, or it expired): what
            // it held for this client is gone.
            tracing::error!(broker = %self.broker.url, client_id = %self.client_id,
                "the MQTT broker has no session for this client any more: messages it held are lost; subscribing again");
            instruments::record_mqtt_session_lost();
        }
        // Subscribing again replaces the subscription, and a broker that kept the session from an
        // earlier run (whose filters may differ) then delivers by these filters.
        tracing::info!(broker = %self.broker.url, filters = ?self.filters, session_present, "subscribing");
        self.subscribed = self.session.subscribe(&self.filters).is_ok();
        true
    }

    /// How many messages the broker sent again on the connection that ends.
    fn report_redeliveries(&mut self) {
        let (dropped, counted) = std::mem::take(&mut self.redelivered);
        if dropped + counted > 0 {
            tracing::info!(
                already_counted = dropped,
                counted_now = counted,
                "messages sent again by the broker"
            );
        }
    }

    /// The broker answered the subscription; refusals end the run (nothing would arrive).
    fn on_subscribed(&mut self, refused: usize) -> bool {
        if refused == 0 {
            return true;
        }
        let error = SourceError::Refused { refused, filters: self.filters.clone() };
        let _ = self.events.blocking_send(SourceEvent::Control(Control::Failed(error)));
        false
    }

    /// The connection broke: hand over what arrived, wait (watching for a stop), and poll again,
    /// which reconnects.
    fn on_broken(&mut self, error: &str) -> bool {
        if self.connected {
            tracing::warn!(broker = %self.broker.url, error, "MQTT connection lost; reconnecting");
        } else if self.failure.as_deref() != Some(error) {
            // Once per reason, not at every retry: a broker that is down, a certificate or a
            // password refused must be said, and a run that waits for the broker is not flooded.
            tracing::warn!(broker = %self.broker.url, error, "cannot connect to the MQTT broker; retrying");
            self.failure = Some(error.to_owned());
        } else {
            tracing::debug!(broker = %self.broker.url, error, "MQTT connection failed; retrying");
        }
        self.connected = false;
        self.report_redeliveries();
        if !self.hand_over() {
            return false;
        }
        let until = Instant::now() + self.backoff.next_wait();
        while Instant::now() < until {
            if self.events.is_closed() {
                return false;
            }
            // The pipeline's last word (its shutdown) comes next: take it instead of waiting.
            if self.stop.is_requested() {
                std::thread::sleep(Duration::from_millis(20));
                return true;
            }
            std::thread::sleep(
                Duration::from_millis(20).min(until.saturating_duration_since(Instant::now())),
            );
        }
        true
    }

    /// A clean stop: the last acknowledgements, then a clean disconnection (the session stays).
    fn goodbye(&mut self, positions: &[(i32, i64)]) {
        self.report_redeliveries();
        if !self.durable {
            self.acknowledge(positions);
        }
        // The broker is not there to say goodbye to while the connection is down.
        if self.connected {
            self.session.close(self.stop.patience(GOODBYE));
        }
        tracing::debug!("MQTT reader closed");
    }
}

/// The MQTT journal in the state directory `dir` (synced before each checkpoint).
pub fn ledger_path(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join(LEDGER_FILE)
}

/// What identifies a message beside its (reused) packet id: its topic and payload.
pub fn identity(topic: &str, payload: &[u8]) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(topic.as_bytes());
    hasher.update(&[0]);
    hasher.update(payload);
    hasher.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_checked_level_by_level() {
        for good in ["sensors/#", "sensors/+/temp", "#", "+", "a/b/c"] {
            assert!(check_filter(good).is_ok(), "{good}");
        }
        for bad in ["", "sensors/#/x", "sensors/te#", "sensors/+x"] {
            assert!(check_filter(bad).is_err(), "{bad}");
        }
    }
}
