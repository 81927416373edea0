//! What a run says about itself while it runs: the stats record (totals, rejections, late
//! readings, live sensor views, consumer lag; each SQL query's numbers), written as stats records
//! to every sink and as the live status to the dashboard and the metrics; and each query's
//! numbers in the end-of-run log.

use std::collections::BTreeMap;

use iotstream_engine::query::QueryLive;
use iotstream_engine::reading::STATE_CODES;
use iotstream_engine::result::{QueryStats, QUERY_REASONS};
use iotstream_engine::{EventTime, RejectReason, ScaleOutStatus, StatsRecord};

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
    let queries: Vec<QueryLive> = counting.queries.as_ref().map(|q| q.set.live()).unwrap_or_default();
    let (watermark, open_windows) = match &counting.queries {
        Some(q) => (q.set.watermark(), queries.iter().map(|q| q.open_windows).sum()),
        None => (live.watermark, live.open_windows),
    };
    StatsRecord {
        record_type: Default::default(),
        at: now,
        watermark,
        readings: counting.totals.readings,
        rejected: counting.rejected.total(),
        rejected_by_reason: StatsRecord::reasons(&counting.rejected),
        late_by_state: by_state(&live.late_by_state),
        open_windows,
        sensors: counting.sensors.len() as u64,
        offline: offline.iter().sum(),
        offline_by_state: by_state(&offline),
        scale_out,
        consumer_lag: (!telemetry.lag.is_empty())
            .then(|| telemetry.lag.values().map(|&lag| lag.max(0) as u64).sum()),
        data_lost: telemetry.data_lost,
        queries: queries.iter().map(query_stats).collect(),
    }
}

/// One query's numbers as a stats record carries them.
fn query_stats(live: &QueryLive) -> QueryStats {
    let counts = &live.counts;
    let reasons = RejectReason::EVERY.iter().map(|&reason| (reason, counts.rejected_for(reason)));
    let rejected_by_reason = reasons
        .filter(|&(reason, n)| n > 0 || QUERY_REASONS.contains(&reason))
        .map(|(reason, n)| (reason.as_str().to_owned(), n))
        .collect();
    QueryStats {
        query: live.name.to_string(),
        readings: counts.counted,
        filtered: counts.filtered,
        rejected: counts.rejected.iter().sum(),
        rejected_by_reason,
        results: counts.emitted,
        groups: live.groups_open,
        open_windows: live.open_windows,
    }
}

/// Each query's numbers at the end of a run, one log line each (rejections by reason, those
/// that happened).
pub fn log_queries(counting: &Counting) {
    let Some(queries) = &counting.queries else { return };
    for live in queries.set.live() {
        let stats = query_stats(&live);
        let reasons: Vec<String> = stats
            .rejected_by_reason
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        tracing::info!(
            query = %stats.query,
            readings = stats.readings,
            filtered = stats.filtered,
            rejected = stats.rejected,
            by_reason = %reasons.join(" "),
            results = stats.results,
            "query done"
        );
    }
}

/// Counts per state index as a map from state code, without the zeros.
fn by_state(counts: &[u64]) -> BTreeMap<String, u64> {
    STATE_CODES.iter().zip(counts).filter(|(_, n)| **n > 0).map(|(s, n)| (s.to_string(), *n)).collect()
}
