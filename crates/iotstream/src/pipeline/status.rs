//! What a run says about itself while it runs: stats records (to every sink), the live status
//! (metrics and the dashboard, once a second) and answers to sensor lookups.

use std::collections::BTreeMap;

use iotstream_engine::reading::STATE_CODES;
use iotstream_engine::StatsRecord;

use super::driver::Driver;
use crate::channel::SensorQuery;
use crate::clock::wall_clock_now;
use crate::instruments;

impl Driver {
    /// Writes a stats record to every sink that keeps them.
    pub(super) fn write_stats(&mut self) -> anyhow::Result<()> {
        let stats = self.stats();
        for sink in self.outputs.sinks.iter_mut() {
            sink.write_stats(&stats)?;
        }
        Ok(())
    }

    /// The live status: metrics, and a stats record for sinks that show it (the dashboard).
    pub(super) fn write_status(&mut self) -> anyhow::Result<()> {
        let stats = self.stats();
        instruments::record_status(&stats);
        if let Some(at) = self.last_checkpoint {
            instruments::record_checkpoint_age(at.elapsed());
        }
        for sink in self.outputs.sinks.iter_mut() {
            sink.write_status(&stats)?;
        }
        Ok(())
    }

    /// Messages deleted before they were read (the source logged them): counted for the metrics
    /// and the stats records.
    pub(super) fn on_data_loss(&mut self, lost: Vec<(i32, u64)>) {
        for (partition, messages) in lost {
            instruments::record_data_loss(partition, messages);
            self.data_lost += messages;
        }
    }

    /// Answers a dashboard's question about one sensor.
    pub fn answer(&self, query: SensorQuery) {
        // The asker may have given up (a closed browser tab); nothing to do then.
        let _ = query.reply.send(self.sensors.get(&query.guid).cloned());
    }

    /// Totals and live views since the start.
    pub fn stats(&self) -> StatsRecord {
        let now = wall_clock_now();
        let live = self.operator.live();
        let offline = self.sensors.offline(now, self.offline_after);
        StatsRecord {
            record_type: Default::default(),
            at: now,
            watermark: live.watermark,
            readings: self.summary.readings,
            rejected: self.rejected.total(),
            rejected_by_reason: StatsRecord::reasons(&self.rejected),
            late_by_state: by_state(&live.late_by_state),
            open_windows: live.open_windows,
            sensors: self.sensors.len() as u64,
            offline: offline.iter().sum(),
            offline_by_state: by_state(&offline),
            scale_out: self.scale_out.clone(),
            consumer_lag: (!self.lag.is_empty())
                .then(|| self.lag.values().map(|&lag| lag.max(0) as u64).sum()),
            data_lost: self.data_lost,
        }
    }
}

/// Counts per state index as a map from state code, without the zeros.
fn by_state(counts: &[u64]) -> BTreeMap<String, u64> {
    STATE_CODES.iter().zip(counts).filter(|(_, n)| **n > 0).map(|(s, n)| (s.to_string(), *n)).collect()
}
