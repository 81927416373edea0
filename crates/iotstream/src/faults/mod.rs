//! Deliberately broken engines, for the fault suite only: `analyze --fault-mutant NAME`, a flag
//! that exists only in builds with the `fault-injection` cargo feature (the tests and
//! `scripts/faults` turn it on; a release build has no such flag), hidden from `--help` and
//! refused in config files.
//!
//! A fault suite that passes is worth something only if it fails a broken engine. Each mutant
//! breaks one promise the README makes, in one place, and the suite (`tests/faults.rs`,
//! `scripts/faults --mutants`) must catch every one. A mutant is a wrapper around one thing the
//! run opens, put on where the run opens it ([`Faults`]): the source (its events and the
//! acknowledgements sent back to it), the dead-letter queue, the result sinks, the checkpoint
//! store, the store's sinks. The engine has no checks for them. Adding a mutant is a variant of
//! [`Mutant`] and its wrapper in `wrappers`; a wrapper point not yet here is one more method of
//! [`Faults`] (and of its stand-in, `absent.rs`).

mod wrappers;

use std::path::{Path, PathBuf};
use std::time::Duration;

use iotstream_engine::OperatorConfig;

use crate::channel::Source;
use crate::checkpoint::StateStore;
use crate::sinks::{Outputs, ResultSink};

/// `--fault-mutant`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct FaultArgs {
    /// Fault-suite self-test only: run a deliberately broken engine (see `faults`).
    #[arg(long, hide = true, value_enum, value_name = "NAME")]
    pub fault_mutant: Option<Mutant>,
}

/// One deliberate bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mutant {
    /// On resume, the result file is not cut back to its checkpointed length: results written
    /// after the last checkpoint are written again by the replay.
    NoCutBack,
    /// Input positions are acknowledged for commit as soon as they are read, before the results
    /// covering them are written (at most once, like auto-commit).
    AckBeforeWrite,
    /// Periodic checkpoints hold the positions but a blank operator, as if offsets were committed
    /// before processing: a crash loses the open windows. A clean stop still saves everything,
    /// so only a crash can expose it.
    PositionsWithoutState,
    /// Every 7th dead letter is silently not sent.
    DropDeadLetter,
    /// The first message batch after a restore is counted twice.
    DoubleCountReplay,
    /// On resume, the alerts file is not cut back to its checkpointed length: notifications
    /// written after the last checkpoint are written again by the replay.
    AlertsNoCutback,
    /// The webhook's undelivered notifications are not saved in the checkpoint: a crash loses
    /// what the receiver had not taken.
    WebhookQueueDropped,
    /// MQTT input is acknowledged (PUBACK) as soon as it is received, not once a checkpoint
    /// holds it: a crash loses what the broker will not send again.
    MqttAckOnReceipt,
    /// The store reports each write done at once, before the database has committed it (the
    /// write goes on in the background): offsets and checkpoints can run past what it holds.
    StoreAckBeforeCommit,
    /// A scale-out merger marks global results written in the merge log before its outputs hold
    /// them (each is written 30 s later, in the background): a merger killed in between leaves
    /// results that its successor, trusting the mark, never writes.
    ScaleOutMarkBeforeWrite,
}

/// How long after its publication mark [`Mutant::ScaleOutMarkBeforeWrite`] writes a result: more
/// than a window's worth of input in the scale-out scenario, so a kill of the merger falls in a
/// gap holding results.
const MARK_AHEAD: Duration = Duration::from_secs(30);

/// A run's mutant, if any, with what its wrappers need to know of the run.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    mutant: Option<Mutant>,
    /// The result file (`--output`).
    output: Option<PathBuf>,
    /// How the run cuts results (a blank operator is built from it).
    operator: Option<OperatorConfig>,
    /// The alerts file (`--alerts-output`).
    alerts_output: Option<PathBuf>,
}

impl Faults {
    /// No faults: the real engine.
    pub fn none() -> Faults {
        Faults::default()
    }

    /// The faults `args` ask for, in a run writing to `output` and cutting results as `operator`.
    pub fn new(args: &FaultArgs, output: Option<&Path>, operator: &OperatorConfig) -> Faults {
        let output = output.map(Path::to_owned);
        Faults { mutant: args.fault_mutant, output, operator: Some(*operator), alerts_output: None }
    }

    /// The same, in a run writing its alerts to `alerts_output`.
    pub fn with_alerts(self, alerts_output: Option<&Path>) -> Faults {
        Faults { alerts_output: alerts_output.map(Path::to_owned), ..self }
    }

    /// The checkpoint store, as the mutant has it.
    pub fn store(&self, store: Box<dyn StateStore>) -> Box<dyn StateStore> {
        match (self.mutant, &self.output, self.operator) {
            (Some(Mutant::NoCutBack), Some(output), _) => {
                Box::new(wrappers::NoCutBack { store, output: output.clone() })
            }
            (Some(Mutant::PositionsWithoutState), _, Some(operator)) => {
                Box::new(wrappers::PositionsWithoutState { store, operator })
            }
            (Some(Mutant::AlertsNoCutback), _, _) => match &self.alerts_output {
                Some(output) => Box::new(wrappers::AlertsNoCutback { store, output: output.clone() }),
                None => store,
            },
            (Some(Mutant::WebhookQueueDropped), _, _) => Box::new(wrappers::WebhookQueueDropped { store }),
            _ => store,
        }
    }

    /// The outputs (their dead-letter queue, the sinks only a merger writes) as the mutant has
    /// them.
    pub fn outputs(&self, outputs: &mut Outputs) {
        match self.mutant {
            Some(Mutant::DropDeadLetter) => {
                outputs.dead_letters = outputs
                    .dead_letters
                    .take()
                    .map(|inner| Box::new(wrappers::DropEvery7th { inner, seen: 0 }) as _);
            }
            Some(Mutant::ScaleOutMarkBeforeWrite) => {
                let sinks = std::mem::take(&mut outputs.sinks);
                outputs.sinks = sinks.into_iter().map(|sink| written_later(sink, MARK_AHEAD)).collect();
            }
            _ => {}
        }
    }

    /// The store's sinks (`outputs`' sinks from `first` on), as the mutant has them.
    pub fn store_sinks(&self, outputs: &mut Outputs, first: usize) {
        if self.mutant == Some(Mutant::StoreAckBeforeCommit) {
            let store: Vec<_> = outputs.sinks.drain(first..).collect();
            outputs.sinks.extend(store.into_iter().map(|inner| written_later(inner, Duration::ZERO)));
        }
    }

    /// The source, as the mutant has it; `resumed`: the run goes on from a checkpoint.
    pub fn source(&self, source: Source, resumed: bool) -> Source {
        match self.mutant {
            Some(Mutant::AckBeforeWrite) => wrappers::acknowledge_on_read(source),
            Some(Mutant::DoubleCountReplay) if resumed => wrappers::count_first_batch_twice(source),
            Some(Mutant::MqttAckOnReceipt) => wrappers::checkpointed_on_receipt(source),
            _ => source,
        }
    }
}

/// `sink` writing each emission `delay` after reporting it done; live views (which show, not
/// keep, results) as they are.
fn written_later(sink: Box<dyn ResultSink>, delay: Duration) -> Box<dyn ResultSink> {
    if sink.is_live_view() {
        return sink;
    }
    Box::new(wrappers::WrittenLater::new(sink, delay))
}

#[cfg(test)]
mod tests;
