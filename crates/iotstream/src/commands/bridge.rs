//! `iotstream bridge`: an MQTT subscription forwarded to a Kafka topic, keyed by guid, so that a
//! fleet publishing to MQTT gets everything iotstream does on Kafka (consumer groups, scale-out,
//! replay).
//!
//! At least once, and nothing lost through crashes: a message is acknowledged to the MQTT broker
//! only after Kafka has acknowledged it (the producer is flushed, then every message received
//! before the flush is acknowledged, in order). After a crash the broker sends again what was not
//! acknowledged, some of which Kafka may already hold: duplicates in Kafka, never a gap. Messages
//! sent again while the bridge runs (after a reconnection) and still waiting for Kafka are
//! recognised and not forwarded twice. With `--mqtt-topic-fields`, small device payloads are
//! forwarded in the seed's format (see `sources::mqtt`), so Kafka consumers read whole readings.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use iotstream_engine::Parser;

use crate::cli::kafka::BridgeArgs;
use crate::clock::wall_clock_now;
use crate::connectors::kafka::sink::Sender;
use crate::connectors::mqtt::source::identity;
use crate::connectors::mqtt::{Acks, Backoff, Incoming, Ledger, Receipt, Session, TopicFields};
use crate::instruments;
use crate::signals::{self, Stop};

/// How long one poll of the MQTT connection waits.
const POLL: Duration = Duration::from_millis(50);
/// Kafka is flushed (and MQTT acknowledged) at least this often while messages wait…
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// …or when this many wait (well below the 65,535 a broker sends unacknowledged).
const FLUSH_MESSAGES: usize = 16_384;

/// Runs the bridge until Ctrl-C or SIGTERM.
pub fn bridge(args: &BridgeArgs) -> anyhow::Result<()> {
    let stop = signals::install()?;
    args.mqtt.check().map_err(anyhow::Error::msg)?;
    let broker = args.mqtt.connection.broker()?.context("--mqtt URL is required")?;
    let client_id = args.mqtt.connection.required_client_id()?.to_owned();
    let connection = args.kafka.connect()?;
    let topic = args.kafka.topic()?;
    connection.probe(&stop)?;
    connection.ensure_topic(topic, args.partitions)?;
    let sender = Sender::new(&connection, topic, true)?;
    let session = broker.session(&client_id, Acks::Manual);
    tracing::info!(mqtt = %broker.url, client_id, filters = ?args.mqtt.filters(), kafka_topic = topic, "bridging");
    let mut bridge = Bridge {
        session,
        sender,
        filters: args.mqtt.filters(),
        fields: args.mqtt.mapping(),
        ledger: Ledger::in_memory(),
        parser: Parser::new(usize::MAX),
        scratch: Vec::new(),
        subscribed: false,
        forwarded: 0,
    };
    bridge.run(&stop)?;
    tracing::info!(forwarded = bridge.forwarded, "bridge stopped");
    Ok(())
}

struct Bridge {
    session: Session,
    sender: Sender,
    filters: Vec<String>,
    fields: Option<TopicFields>,
    ledger: Ledger,
    parser: Parser,
    scratch: Vec<u8>,
    subscribed: bool,
    forwarded: u64,
}

impl Bridge {
    fn run(&mut self, stop: &Stop) -> anyhow::Result<()> {
        let mut backoff = Backoff::default();
        let mut flushed = Instant::now();
        while !stop.is_requested() {
            match self.session.poll(POLL) {
                Ok(Incoming::Message(message)) => self.forward(&message),
                Ok(Incoming::Connected { session_present }) => {
                    backoff.reset();
                    if !(session_present && self.subscribed) {
                        self.subscribed = self.session.subscribe(&self.filters).is_ok();
                    }
                }
                Ok(Incoming::Subscribed { refused }) => {
                    anyhow::ensure!(
                        refused == 0,
                        "the MQTT broker refused {refused} of the filters {:?}",
                        self.filters
                    )
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "MQTT connection lost; reconnecting");
                    std::thread::sleep(backoff.next_wait());
                }
            }
            let waiting = self.ledger.unacked();
            if waiting >= FLUSH_MESSAGES || (waiting > 0 && flushed.elapsed() >= FLUSH_EVERY) {
                self.acknowledge()?;
                flushed = Instant::now();
            }
        }
        self.acknowledge()?;
        self.session.close(Duration::from_secs(2));
        Ok(())
    }

    /// Sends a new message to Kafka, keyed by its guid; one sent again is dropped (or, if Kafka
    /// already has it, acknowledged again).
    fn forward(&mut self, message: &crate::connectors::mqtt::Message) {
        let hash = identity(&message.topic, &message.payload);
        match self.ledger.receive(message.pkid, hash, message.dup, message.qos) {
            Receipt::Redelivered { ack_now } => {
                instruments::record_mqtt_redelivery(true);
                if ack_now {
                    self.session.ack(message.pkid);
                }
            }
            Receipt::New(_) => {
                let payload: &[u8] = match &self.fields {
                    Some(fields) => {
                        fields.normalize(
                            &message.topic,
                            &message.payload,
                            wall_clock_now(),
                            &mut self.scratch,
                        );
                        &self.scratch
                    }
                    None => &message.payload,
                };
                // A message that is not a reading goes on unkeyed: the engine rejects it, and
                // counts it, where it is read.
                let key = self.parser.parse(payload).ok().map(|r| r.guid.as_str().into_owned());
                self.sender.send(key.as_deref().map(str::as_bytes), payload, None);
                self.forwarded += 1;
            }
        }
    }

    /// Waits for Kafka to have everything sent, then acknowledges it all to MQTT.
    fn acknowledge(&mut self) -> anyhow::Result<()> {
        self.sender.flush()?;
        let next = self.ledger.next();
        for pkid in self.ledger.safe_through(next) {
            self.session.ack(pkid);
        }
        Ok(())
    }
}
