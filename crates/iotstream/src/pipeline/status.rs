//! What a run says about itself while it runs: the stats record (totals, rejections, late
//! readings, live sensor views, consumer lag), written as stats records to every sink and as the
//! live status to the dashboard and the metrics.

use std::collections::BTreeMap;

use iotstream_engine::reading::STATE_CODES;
use iotstream_engine::{EventTime, ScaleOutStatus, StatsRecord};

use super::counting::Counting;

/// What the source reported about itself: consumer lag and data lost to retention.
#[derive(Debug, Default)]
pub struct SourceTelemetry {
    /// The latest consumer lag per partition (Kafka).
    pub lag: BTreeMap<i32, i64>,
    /// Messages deleted before they were read, since start (Kafka retention).
    pub data_lost: u64,
}

/// Totals and live views since the start, at `now`.
pub fn stats(
    counting: &Counting,
    telemetry: &SourceTelemetry,
    scale_out: Option<ScaleOutStatus>,
    offline_after: i64,
    now: EventTime,
) -> StatsRecord {
    let live = counting.operator.live();
    let offline = counting.sensors.offline(now, offline_after);
    StatsRecord {
        record_type: Default::default(),
        at: now,
        watermark: live.watermark,
        readings: counting.totals.readings,
        rejected: counting.rejected.total(),
        rejected_by_reason: StatsRecord::reasons(&counting.rejected),
        late_by_state: by_state(&live.late_by_state),
        open_windows: live.open_windows,
        sensors: counting.sensors.len() as u64,
        offline: offline.iter().sum(),
        offline_by_state: by_state(&offline),
        scale_out,
        consumer_lag: (!telemetry.lag.is_empty())
            .then(|| telemetry.lag.values().map(|&lag| lag.max(0) as u64).sum()),
        data_lost: telemetry.data_lost,
    }
}

/// Counts per state index as a map from state code, without the zeros.
fn by_state(counts: &[u64]) -> BTreeMap<String, u64> {
    STATE_CODES.iter().zip(counts).filter(|(_, n)| **n > 0).map(|(s, n)| (s.to_string(), *n)).collect()
}
