//! The driver's part in scale-out: publishing shares and partition clocks to the merge log,
//! saving and restoring partition states, and writing the global results the log produces.

use iotstream_engine::{EventTime, EventTimeWindows, WindowResult};

use super::driver::Driver;
use crate::channel::MergeUpdate;
use crate::clock::wall_clock_now;
use crate::instruments;

impl Driver {
    /// Queues the shares the operator completed, before anything they count is acknowledged.
    pub(super) fn publish_shares(&mut self) -> anyhow::Result<()> {
        let Some(owners) = self.operator.shares() else { return Ok(()) };
        let completed = owners.take_shares();
        let Some(log) = &mut self.outputs.shares else {
            anyhow::ensure!(completed.is_empty(), "window shares but no merge log to publish them to");
            return Ok(());
        };
        for (partition, share) in &completed {
            log.share(*partition, share);
        }
        if !completed.is_empty() {
            log.flush()?;
        }
        Ok(())
    }

    /// Queues what idle partitions' open windows hold, then the owned partitions' clocks: the
    /// merger judges watermarks and idleness on the clocks, and finds the contents first.
    pub(super) fn report_clocks(&mut self, now: EventTime) {
        let Some(owners) = self.operator.shares() else { return };
        let provisional = owners.provisional(now);
        let clocks = owners.clocks(now);
        if let Some(log) = &mut self.outputs.shares {
            for (partition, share) in &provisional {
                log.provisional(*partition, share);
            }
            log.progress(&clocks, &self.lag, now.as_micros());
        }
    }

    /// Saves the states of `partitions` (all owned ones with `None`) where their next owner finds
    /// them; input they cover may then be acknowledged.
    pub(super) fn save_partitions(&mut self, partitions: Option<&[i32]>) -> anyhow::Result<()> {
        let Some(owners) = self.operator.shares() else { return Ok(()) };
        let Some(log) = &mut self.outputs.shares else { return Ok(()) };
        let chosen: Vec<u32> = match partitions {
            Some(list) => list.iter().filter_map(|&p| u32::try_from(p).ok()).collect(),
            None => owners.owned().collect(),
        };
        for partition in chosen {
            let (Some(windows), Ok(p)) = (owners.state(partition), i32::try_from(partition)) else {
                continue;
            };
            let Some(&next) = self.progress.positions().get(&p) else { continue };
            log.save_state(partition, next, windows)?;
            owners.saved(partition, next);
        }
        Ok(())
    }

    /// A partition taken over from its saved state.
    pub(super) fn on_restored(&mut self, partition: i32, next: i64, windows: EventTimeWindows) {
        let (Some(owners), Ok(p)) = (self.operator.shares(), u32::try_from(partition)) else { return };
        tracing::info!(partition, next, "partition taken over from its saved state");
        owners.restore(p, windows, next);
        self.progress.advance(partition, next);
    }

    /// Global results from the merge log: written everywhere when this instance merges (then
    /// marked as written in the log), else shown on the live views only.
    pub(super) fn on_merged(&mut self, update: MergeUpdate) -> anyhow::Result<()> {
        instruments::record_scale_out(&update.status);
        self.scale_out = Some(update.status);
        self.write_global(&update.live, true)?;
        self.write_global(&update.publish, false)?;
        if let (Some(through), Some(log)) = (update.through, &mut self.outputs.shares) {
            log.published(through);
        }
        Ok(())
    }

    /// Writes global results, each emission as one batch (a store commits it in one transaction).
    fn write_global(&mut self, results: &[WindowResult], live_only: bool) -> anyhow::Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        for sink in self.outputs.sinks.iter_mut().filter(|s| !live_only || s.is_live_view()) {
            sink.write_results(results)?;
        }
        if !live_only {
            let now = wall_clock_now();
            for result in results {
                instruments::record_result(result, now);
            }
            self.summary.results += results.len() as u64;
        }
        Ok(())
    }
}
