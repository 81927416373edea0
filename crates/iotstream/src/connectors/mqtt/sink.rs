//! MQTT outputs: dead letters. With `--mqtt-dead-letter-topic T`, every rejected message of an
//! MQTT input is published at QoS 1 to `T/REASON` (`T/malformed_json`, `T/unknown_state`, …) on
//! the broker read, its bytes as received (cut to what the source keeps), so that subscribers can
//! take every dead letter (`T/#`) or one reason; a message rejected for one SQL query alone goes
//! to `T/REASON/QUERY` (`T/wrong_type/hot`). Like the Kafka dead-letter topic, `flush`
//! returns only once the broker has acknowledged every letter, because the messages they came
//! from are acknowledged right after.

use std::time::{Duration, Instant};

use iotstream_engine::RejectReason;

use super::{Error, Input, Publisher};
use crate::sinks::{Outputs, RejectSink, SinkError};

/// How long `flush` waits between two log lines while the broker has not acknowledged.
const PATIENCE_LOG: Duration = Duration::from_secs(10);

/// `analyze --mqtt`'s outputs.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "MQTT")]
pub struct MqttSinkArgs {
    /// Publish every rejected message (its bytes) at QoS 1 to TOPIC/REASON on the broker read.
    #[arg(
        id = "mqtt_dead_letter_topic",
        long = "mqtt-dead-letter-topic",
        value_name = "TOPIC",
        requires = "mqtt"
    )]
    pub dead_letter_topic: Option<String>,
}

/// Adds the dead-letter topic, if asked for, to `outputs`.
pub fn open(args: &MqttSinkArgs, input: Option<&Input>, outputs: &mut Outputs) -> Result<(), Error> {
    let (Some(topic), Some((broker, client_id))) = (&args.dead_letter_topic, input) else { return Ok(()) };
    if topic.is_empty() || topic.contains(['+', '#']) {
        return Err(Error::DeadLetterTopic);
    }
    // A client id of its own: one id per connection, or the broker drops the other.
    let publisher = Publisher::connect(broker, &format!("{client_id}-dead-letters"))?;
    outputs.dead_letters = Some(Box::new(MqttDeadLetters { publisher, topic: topic.clone(), sent: 0 }));
    Ok(())
}

/// Dead letters published to an MQTT topic per reason.
pub struct MqttDeadLetters {
    publisher: Publisher,
    topic: String,
    /// Letters published so far (each acknowledged by the broker, eventually).
    sent: u64,
}

impl RejectSink for MqttDeadLetters {
    fn reject(
        &mut self,
        payload: &[u8],
        reason: RejectReason,
        query: Option<&str>,
        _partition: i32,
        _offset: i64,
    ) {
        let topic = match query {
            Some(query) => format!("{}/{reason}/{query}", self.topic),
            None => format!("{}/{reason}", self.topic),
        };
        // The publisher's queue only closes when its connection thread has ended, which the
        // flush reports.
        if self.publisher.publish(&topic, 1, payload.to_vec()).is_ok() {
            self.sent += 1;
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let mut logged = Instant::now();
        while self.publisher.acknowledged() < self.sent {
            if logged.elapsed() >= PATIENCE_LOG {
                tracing::warn!(
                    waiting = self.sent - self.publisher.acknowledged(),
                    topic = %self.topic,
                    "waiting for the MQTT broker to acknowledge dead letters"
                );
                logged = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }
}
