//! The fault suite's mutants, in a build without the `fault-injection` feature: there are none,
//! and no `--fault-mutant` flag. The same names as `faults/mod.rs`, each leaving what it is given
//! as it is, so that the run opens the same way in every build.

use std::path::Path;

use iotstream_engine::OperatorConfig;

use crate::channel::Source;
use crate::checkpoint::StateStore;
use crate::sinks::Outputs;

/// No flags.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct FaultArgs {}

/// No mutants.
#[derive(Clone, Debug, Default)]
pub struct Faults;

impl Faults {
    /// No faults.
    pub fn none() -> Faults {
        Faults
    }

    /// None, whatever the run.
    pub fn new(_: &FaultArgs, _: Option<&Path>, _: &OperatorConfig) -> Faults {
        Faults
    }

    /// None, whatever the alerts file.
    pub fn with_alerts(self, _: Option<&Path>) -> Faults {
        self
    }

    /// The store as it is.
    pub fn store(&self, store: Box<dyn StateStore>) -> Box<dyn StateStore> {
        store
    }

    /// The outputs as they are.
    pub fn outputs(&self, _: &mut Outputs) {}

    /// The store's sinks as they are.
    pub fn store_sinks(&self, _: &mut Outputs, _: usize) {}

    /// The source as it is.
    pub fn source(&self, source: Source, _resumed: bool) -> Source {
        source
    }
}
