//! Scale-out without Kafka: there is no `--scale-out` flag, so no run has a role in a group. The
//! same names as `scaleout/mod.rs`, so that a build without Kafka needs no feature switches where
//! scale-out is used.

use iotstream_engine::EventTimeConfig;

use crate::channel::Source;
use crate::cli::AnalyzeArgs;
use crate::connectors::{KafkaInput, SourceArgs, SourceOptions};
use crate::pipeline::DriverHook;

/// Nothing can go wrong with a group there cannot be.
#[derive(Debug, thiserror::Error)]
pub enum Error {}

/// This instance's part in a group: never, without Kafka.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    /// The consumer group.
    pub group: String,
    /// Window shape and watermark rules.
    pub windows: EventTimeConfig,
}

/// This instance in a group: none can be.
pub enum Member {}

/// Never asked for: the flag does not exist.
pub fn requested(_: &AnalyzeArgs) -> Result<bool, String> {
    Ok(false)
}

/// A member of a group and its driver's hook.
pub type Joined = (Member, Box<dyn DriverHook>);

/// Nothing to open.
pub fn open(_: Option<&Role>, _: Option<&KafkaInput>) -> Result<Option<Joined>, Error> {
    Ok(None)
}

impl Member {
    /// Unreachable: there is no group.
    pub fn open_source(&self, _: &SourceArgs, _: &SourceOptions) -> Result<Source, Error> {
        match *self {}
    }
}
