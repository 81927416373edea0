//! `simulate --mqtt` in a build without MQTT: never reached, as there is no broker.

use crate::cli::SimulateArgs;
use crate::connectors::mqtt::Broker;
use crate::simulator::Simulator;

/// Unreachable: no broker exists.
pub fn simulate(_: &SimulateArgs, broker: &Broker, _: &mut Simulator) -> anyhow::Result<()> {
    match *broker {}
}
