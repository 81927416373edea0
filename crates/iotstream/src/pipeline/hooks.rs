//! The driver's extension point: what a run adds around the operator at fixed moments, without
//! the driver knowing what it is. Scale-out plugs in here (`crate::scaleout::hook`): it publishes
//! the operator's shares before an emission, reports clocks on each tick, saves partition states
//! with checkpoints and on revocations, and takes what its own threads queued for it (partitions
//! taken over, global results) when its source rings.

use std::collections::BTreeMap;

use iotstream_engine::{EventTime, Operator, ScaleOutStatus};

use super::emitting::Emitting;
use super::positions::Progress;
use crate::sinks::SinkError;

/// What the driver lends an extension when its source rings.
pub struct HookContext<'a> {
    /// The operator.
    pub operator: &'a mut Operator,
    /// How far the input is counted (a partition taken over goes on from its saved position).
    pub progress: &'a mut Progress,
    /// The outputs, for results computed elsewhere.
    pub emitting: &'a mut Emitting,
    /// Processing time.
    pub now: EventTime,
}

/// An extension of the driver. Each call comes at a fixed moment of the run; an error ends it.
pub trait DriverHook: Send {
    /// Before an emission is written, so that what it hands on is durable before any input it
    /// covers is acknowledged.
    fn before_emit(&mut self, operator: &mut Operator) -> Result<(), SinkError>;

    /// The operator's clock ticked at `now` (with the consumer lag the source reported).
    fn on_clock(&mut self, operator: &mut Operator, lag: &BTreeMap<i32, i64>, now: EventTime);

    /// Checkpoint time (`partitions`: `None`) or a revocation (those partitions): what must
    /// outlive this process, saved before the input it covers is acknowledged.
    fn save(
        &mut self,
        operator: &mut Operator,
        positions: &BTreeMap<i32, i64>,
        partitions: Option<&[i32]>,
    ) -> Result<(), SinkError>;

    /// `partitions` have gone to another process.
    fn on_revoke(&mut self, operator: &mut Operator, partitions: &[i32]);

    /// The source rang: what the extension's threads queued meanwhile is due now.
    fn on_ring(&mut self, run: HookContext<'_>) -> Result<(), SinkError>;

    /// What stats records say of the extension (a scale-out group's status).
    fn status(&self) -> Option<ScaleOutStatus>;
}
