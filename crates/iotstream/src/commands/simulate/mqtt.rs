//! `simulate --mqtt`: readings to an MQTT broker, whole on one topic or small on each sensor's.
//!
//! A topic with `{state}`, `{guid}` or `{format}` in it is a sensor's own: each reading goes there
//! as a device on a structured topic sends it, a flat object of its measurements and event time
//! (`{"humidity":41.2,"battery":88,"eventTime":"…"}`), the fields the topic does not carry
//! added to it, so that `analyze --mqtt-topic-fields` with the same pattern reads the same readings.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Map, Value};

use super::pace::next_batch;
use crate::cli::SimulateArgs;
use crate::connectors::generator::Pacer;
use crate::connectors::mqtt::{Broker, Publisher};
use crate::progress;
use crate::simulator::Simulator;

const PATIENCE: Duration = Duration::from_secs(60);

/// The fields a sensor's topic may carry, and where each is in a whole reading.
const TOPIC_FIELDS: [(&str, &[&str]); 3] =
    [("{state}", &["state"]), ("{guid}", &["guid"]), ("{format}", &["payload", "format"])];

/// `simulate --mqtt`: each reading a message, whole (the seed's JSON) on one topic, or small
/// on its sensor's topic when the topic has {state}, {guid} or {format} in it.
pub fn simulate(args: &SimulateArgs, broker: &Broker, simulator: &mut Simulator) -> anyhow::Result<()> {
    let topic = topic(args)?;
    let client_id = match &args.mqtt.connection.client_id {
        Some(id) => id.clone(),
        None => format!("iotstream-simulate-{}", std::process::id()),
    };
    let publisher = Publisher::connect(broker, &client_id)?;
    let per_sensor = TOPIC_FIELDS.iter().any(|(level, _)| topic.contains(level));
    let pacer = args.rate.map(Pacer::new);
    let started = Instant::now();
    let bar = progress::readings(args.count);
    let mut line = Vec::with_capacity(256);
    while simulator.produced() < args.count {
        let n = next_batch(pacer.as_ref(), simulator.produced(), args.count);
        for _ in 0..n {
            line.clear();
            simulator.next_line(&mut line);
            let whole = line.strip_suffix(b"\n").unwrap_or(&line);
            let (to, payload) = match per_sensor {
                false => (topic.clone(), whole.to_vec()),
                true => small(&topic, whole)?,
            };
            publisher.publish(&to, args.mqtt.qos, payload).context("the MQTT connection closed")?;
        }
        bar.inc(n);
    }
    bar.finish_and_clear();
    let expected = if args.mqtt.qos == 0 { 0 } else { args.count };
    let complete = publisher.finish(expected, PATIENCE);
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        messages = args.count,
        seconds = format!("{seconds:.2}"),
        rate = format!("{:.0}/s", args.count as f64 / seconds.max(1e-9)),
        "published"
    );
    anyhow::ensure!(complete, "the MQTT broker did not acknowledge every message within {PATIENCE:?}");
    Ok(())
}

/// The topic: `--mqtt-topic`, or `--topic`.
fn topic(args: &SimulateArgs) -> anyhow::Result<String> {
    let kafka_topic = args.kafka.named_topic().map(str::to_owned);
    args.mqtt.topic.clone().or(kafka_topic).context("simulate --mqtt needs --mqtt-topic TOPIC (or --topic)")
}

/// A reading as a device on a structured topic sends it: its sensor's topic, and a flat payload
/// of its measurements and event time, plus the fields the topic does not carry.
fn small(pattern: &str, whole: &[u8]) -> anyhow::Result<(String, Vec<u8>)> {
    let reading: Value = serde_json::from_slice(whole).context("a simulated reading is not JSON")?;
    let mut topic = pattern.to_owned();
    let mut payload = match reading.pointer("/payload/data") {
        Some(Value::Object(data)) => data.clone(),
        _ => Map::new(),
    };
    for (level, path) in TOPIC_FIELDS {
        let value = path.iter().try_fold(&reading, |at, key| at.get(key)).and_then(Value::as_str);
        match (topic.contains(level), value) {
            (true, Some(text)) => topic = topic.replace(level, text),
            (false, Some(text)) if path.len() == 1 => {
                payload.insert(path[0].to_owned(), Value::String(text.to_owned()));
            }
            _ => {}
        }
    }
    if let Some(time) = reading.get("eventTime") {
        payload.insert("eventTime".to_owned(), time.clone());
    }
    Ok((topic, Value::Object(payload).to_string().into_bytes()))
}
