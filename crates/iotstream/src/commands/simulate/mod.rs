//! `iotstream simulate`: the seed's readings, to stdout, a file, a Kafka topic (keyed by guid) or
//! an MQTT broker (whole, or small on each sensor's topic).

#[cfg(feature = "kafka")]
mod kafka;
#[cfg(not(feature = "kafka"))]
#[path = "kafka_absent.rs"]
mod kafka;
#[cfg(feature = "mqtt")]
mod mqtt;
#[cfg(not(feature = "mqtt"))]
#[path = "mqtt_absent.rs"]
mod mqtt;
mod pace;

use std::io::Write as _;

use pace::{next_batch, SIMULATE_BATCH};

use crate::cli::SimulateArgs;
use crate::clock::wall_clock_now;
use crate::connectors::generator::Pacer;
use crate::plan;
use crate::progress;
use crate::simulator::Simulator;

/// `iotstream simulate`: readings to stdout, a file, or Kafka.
pub fn simulate(args: &SimulateArgs) -> anyhow::Result<()> {
    let clock = plan::simulated_clock(args.start, args.interval, wall_clock_now());
    let config = plan::simulator_config(&args.fleet, clock, Some(args.count));
    let mut simulator = Simulator::new(&config);
    tracing::debug!(seed = simulator.seed(), "simulating");
    if let Some(broker) = args.mqtt.broker()? {
        return mqtt::simulate(args, &broker, &mut simulator);
    }
    if let Some(connection) = args.kafka.connection() {
        return kafka::simulate(args, &connection, &mut simulator);
    }
    anyhow::ensure!(args.kafka.named_topic().is_none(), "--topic needs --kafka BROKERS or --mqtt URL");
    let mut out = crate::connectors::file::output::open_output(
        args.output.as_deref(),
        Default::default(),
        &Default::default(),
    )?
    .writer;
    let mut buffer = Vec::with_capacity(SIMULATE_BATCH as usize * 200);
    let pacer = args.rate.map(Pacer::new);
    // Readings on stdout are someone's input: no bar beside them.
    let bar = args.output.is_some().then(|| progress::readings(args.count));
    while simulator.produced() < args.count {
        let n = next_batch(pacer.as_ref(), simulator.produced(), args.count);
        buffer.clear();
        simulator.fill(&mut buffer, n);
        out.write_all(&buffer)?;
        if pacer.is_some() {
            out.flush()?; // a paced stream is read live
        }
        if let Some(bar) = &bar {
            bar.inc(n);
        }
    }
    out.flush()?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(())
}
