//! `simulate --kafka`: readings to a topic, keyed by guid.

use std::time::Instant;

use super::pace::next_batch;
use crate::cli::SimulateArgs;
use crate::connectors::generator::Pacer;
use crate::connectors::kafka::sink::Sender;
use crate::connectors::kafka::{check_brokers, Connection};
use crate::progress;
use crate::simulator::Simulator;

/// `simulate --kafka`: readings keyed by guid, so a sensor's readings stay in one partition.
pub fn simulate(
    args: &SimulateArgs,
    connection: &Connection,
    simulator: &mut Simulator,
) -> anyhow::Result<()> {
    check_brokers(&connection.brokers)?;
    connection.probe(&crate::signals::Stop::default())?;
    let topic = args.kafka.connection.topic()?;
    connection.ensure_topic(topic, args.kafka.partitions)?;
    let sender = Sender::new(connection, topic, false)?;
    let pacer = args.rate.map(Pacer::new);
    let started = Instant::now();
    let mut line = Vec::with_capacity(256);
    let bar = progress::readings(args.count);
    while simulator.produced() < args.count {
        let n = next_batch(pacer.as_ref(), simulator.produced(), args.count);
        for _ in 0..n {
            line.clear();
            let guid = simulator.next_line(&mut line);
            sender.send(Some(&line[guid]), &line[..line.len() - 1], None);
        }
        bar.inc(n);
    }
    sender.flush()?;
    bar.finish_and_clear();
    crate::commands::produce::report_rate("produced", sender.delivered(), started);
    Ok(())
}
