//! The driver's part in scale-out, as its hook: publishing the operator's shares and partition
//! clocks to the merge log, saving partition states, restoring partitions taken over, and writing
//! the global results the log produces.

use std::collections::BTreeMap;
use std::sync::mpsc as std_mpsc;

use iotstream_engine::{EventTime, Operator, ScaleOutStatus};

use super::events::{Event, MergeUpdate};
use super::log::ShareSink;
use crate::instruments;
use crate::pipeline::{DriverHook, HookContext};
use crate::sinks::SinkError;

/// Scale-out's hook.
pub struct Hook {
    /// The merge log and the state topic.
    log: Box<dyn ShareSink>,
    /// What the consumer and the merge log's reader queued.
    news: std_mpsc::Receiver<Event>,
    /// The group as the merge log last showed it.
    status: Option<ScaleOutStatus>,
}

impl Hook {
    /// A hook writing to `log`, taking news from `news`.
    pub fn new(log: Box<dyn ShareSink>, news: std_mpsc::Receiver<Event>) -> Hook {
        Hook { log, news, status: None }
    }

    /// A partition taken over from its saved state.
    fn restored(
        &mut self,
        run: &mut HookContext<'_>,
        partition: i32,
        next: i64,
        windows: iotstream_engine::EventTimeWindows,
    ) {
        let (Some(owners), Ok(p)) = (run.operator.shares(), u32::try_from(partition)) else { return };
        tracing::info!(partition, next, "partition taken over from its saved state");
        owners.restore(p, windows, next);
        run.progress.advance(partition, next);
    }

    /// Global results from the merge log: written everywhere when this instance merges (then
    /// marked as written in the log), else shown on the live views only.
    fn merged(&mut self, run: &mut HookContext<'_>, update: MergeUpdate) -> Result<(), SinkError> {
        instruments::record_scale_out(&update.status);
        self.status = Some(update.status);
        run.emitting.emit_elsewhere(&update.live, true, run.now)?;
        run.emitting.emit_elsewhere(&update.publish, false, run.now)?;
        if let Some(through) = update.through {
            self.log.published(through);
        }
        Ok(())
    }
}

impl DriverHook for Hook {
    /// Queues the shares the operator completed, before anything they count is acknowledged.
    fn before_emit(&mut self, operator: &mut Operator) -> Result<(), SinkError> {
        let Some(owners) = operator.shares() else { return Ok(()) };
        let completed = owners.take_shares();
        for (partition, share) in &completed {
            self.log.share(*partition, share);
        }
        if !completed.is_empty() {
            self.log.flush()?;
        }
        Ok(())
    }

    /// Queues what idle partitions' open windows hold, then the owned partitions' clocks: the
    /// merger judges watermarks and idleness on the clocks, and finds the contents first.
    fn on_clock(&mut self, operator: &mut Operator, lag: &BTreeMap<i32, i64>, now: EventTime) {
        let Some(owners) = operator.shares() else { return };
        let provisional = owners.provisional(now);
        let clocks = owners.clocks(now);
        for (partition, share) in &provisional {
            self.log.provisional(*partition, share);
        }
        self.log.progress(&clocks, lag, now.as_micros());
    }

    /// Saves the states of `partitions` (all owned ones with `None`) where their next owner finds
    /// them; input they cover may then be acknowledged.
    fn save(
        &mut self,
        operator: &mut Operator,
        positions: &BTreeMap<i32, i64>,
        partitions: Option<&[i32]>,
    ) -> Result<(), SinkError> {
        let Some(owners) = operator.shares() else { return Ok(()) };
        let chosen: Vec<u32> = match partitions {
            Some(list) => list.iter().filter_map(|&p| u32::try_from(p).ok()).collect(),
            None => owners.owned().collect(),
        };
        for partition in chosen {
            let (Some(windows), Ok(p)) = (owners.state(partition), i32::try_from(partition)) else {
                continue;
            };
            let Some(&next) = positions.get(&p) else { continue };
            self.log.save_state(partition, next, windows)?;
            owners.saved(partition, next);
        }
        Ok(())
    }

    /// The partitions' windows go with them.
    fn on_revoke(&mut self, operator: &mut Operator, partitions: &[i32]) {
        if let Some(shares) = operator.shares() {
            partitions.iter().filter_map(|&p| u32::try_from(p).ok()).for_each(|p| shares.release(p));
        }
    }

    fn on_ring(&mut self, mut run: HookContext<'_>) -> Result<(), SinkError> {
        while let Ok(event) = self.news.try_recv() {
            match event {
                Event::Restored { partition, next, windows } => {
                    self.restored(&mut run, partition, next, *windows)
                }
                Event::Merged(update) => self.merged(&mut run, *update)?,
            }
        }
        Ok(())
    }

    fn status(&self) -> Option<ScaleOutStatus> {
        self.status.clone()
    }
}
