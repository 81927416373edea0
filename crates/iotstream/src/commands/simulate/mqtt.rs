//! `simulate --mqtt`: readings to an MQTT broker, whole on one topic or small on each sensor's.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use iotstream_engine::Parser;

use super::pace::next_batch;
use crate::cli::SimulateArgs;
use crate::connectors::generator::Pacer;
use crate::connectors::mqtt::{Broker, Publisher};
use crate::progress;
use crate::simulator::Simulator;

const PATIENCE: Duration = Duration::from_secs(60);

/// `simulate --mqtt`: each reading a message, whole (the seed's JSON) on one topic, or small
/// on its sensor's topic when the topic has {state} or {guid} in it.
pub fn simulate(args: &SimulateArgs, broker: &Broker, simulator: &mut Simulator) -> anyhow::Result<()> {
    let topic = topic(args)?;
    let client_id = match &args.mqtt.connection.client_id {
        Some(id) => id.clone(),
        None => format!("iotstream-simulate-{}", std::process::id()),
    };
    let publisher = Publisher::connect(broker, &client_id)?;
    let per_sensor = topic.contains("{state}") || topic.contains("{guid}");
    let parser = Parser::new(usize::MAX);
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
                true => small(&parser, &topic, whole)?,
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

/// A reading as a device on a structured topic sends it: its sensor's topic, and a small
/// payload with the temperature and event time.
fn small(parser: &Parser, pattern: &str, whole: &[u8]) -> anyhow::Result<(String, Vec<u8>)> {
    let reading =
        parser.parse(whole).map_err(|reason| anyhow::anyhow!("simulated reading rejected: {reason}"))?;
    let topic = pattern.replace("{state}", reading.state.as_str()).replace("{guid}", &reading.guid.as_str());
    let payload =
        format!(r#"{{"temperature":{},"eventTime":"{}"}}"#, reading.temperature, reading.event_time);
    Ok((topic, payload.into_bytes()))
}
