//! `simulate --kafka` in a build without Kafka: never reached, as there is no connection.

use crate::cli::SimulateArgs;
use crate::connectors::kafka::Connection;
use crate::simulator::Simulator;

/// Unreachable: no connection exists.
pub fn simulate(_: &SimulateArgs, connection: &Connection, _: &mut Simulator) -> anyhow::Result<()> {
    match *connection {}
}
