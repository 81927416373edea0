//! Prometheus instruments: every metric iotstream exports, named and described in one place, and the
//! small functions the pipeline calls to update them.
//!
//! Updates go through the `metrics` facade, which does nothing until a recorder is installed (only
//! `--http` installs one), so a run without a dashboard pays nothing. The hot loop never touches a
//! metric per reading: totals the engine already keeps are copied into counters with `absolute` on
//! each status tick, and per-result instruments are updated once per emitted window.
//!
//! Labels are bounded by construction: per state (51), per rejection reason (15), per result kind
//! (3), per input partition, per SQL query (the run's `--query` names). Never per sensor.

use std::time::Duration;

use iotstream_engine::{EventTime, StatsRecord, WindowResult};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};

/// Alerts firing now, by `rule` and `severity`.
pub const ALERTS_FIRING: &str = "iotstream_alerts_firing";
/// Alert notifications, by `rule` and `status` (firing, resolved, repeat).
pub const ALERT_TRANSITIONS: &str = "iotstream_alert_transitions_total";
/// Webhook requests, by `outcome` (delivered, failed: each failure is retried).
pub const WEBHOOK_REQUESTS: &str = "iotstream_alert_webhook_requests_total";
/// Alert notifications the webhook gave up on (refused by the receiver, or the queue full).
pub const WEBHOOK_DROPPED: &str = "iotstream_alert_webhook_dropped_total";
/// Valid readings counted.
pub const READINGS: &str = "iotstream_readings_total";
/// Rejected messages, by `reason`.
pub const REJECTED: &str = "iotstream_rejected_total";
/// Readings too late for their windows, by `state`.
pub const LATE: &str = "iotstream_late_readings_total";
/// Results emitted, by `kind` (final, early, update).
pub const WINDOWS: &str = "iotstream_windows_emitted_total";
/// Wall-clock delay from a window's end to its emission.
pub const EMIT_LATENCY: &str = "iotstream_emit_latency_seconds";
/// Distinct sensors seen since start.
pub const SENSORS: &str = "iotstream_sensors";
/// Sensors silent longer than the offline threshold.
pub const OFFLINE: &str = "iotstream_sensors_offline";
/// Event-time windows held open.
pub const OPEN_WINDOWS: &str = "iotstream_open_windows";
/// The event-time watermark, as Unix seconds.
pub const WATERMARK: &str = "iotstream_watermark_seconds";
/// Wall clock minus watermark.
pub const WATERMARK_LAG: &str = "iotstream_watermark_lag_seconds";
/// Mean temperature of the latest result, by `state`.
pub const STATE_TEMPERATURE: &str = "iotstream_state_temperature_avg";
/// Messages behind the end of each input partition (Kafka), by `partition`.
pub const CONSUMER_LAG: &str = "iotstream_consumer_lag_messages";
/// Seconds since the last checkpoint was saved.
pub const CHECKPOINT_AGE: &str = "iotstream_checkpoint_age_seconds";
/// Checkpoints saved.
pub const CHECKPOINTS: &str = "iotstream_checkpoints_total";
/// Failed attempts at committing offsets to the consumer group (Kafka).
pub const COMMIT_FAILURES: &str = "iotstream_commit_failures_total";
/// Messages deleted from a partition (retention) before they were read, by `partition`.
pub const DATA_LOSS: &str = "iotstream_data_loss_messages_total";
/// MQTT messages the broker sent again (after a reconnection or restart), by `counted`: "yes" if
/// the pipeline already had it (dropped), "no" if not (counted now).
pub const MQTT_REDELIVERIES: &str = "iotstream_mqtt_redeliveries_total";
/// Times the MQTT broker had lost this client's session (and the messages it held).
pub const MQTT_SESSIONS_LOST: &str = "iotstream_mqtt_sessions_lost_total";
/// Failed attempts to write to (or prune) the results store.
pub const STORE_ERRORS: &str = "iotstream_store_errors_total";
/// Time to commit one emission's results to the store.
pub const STORE_WRITE: &str = "iotstream_store_write_seconds";
/// HTTP requests served, by `route` and `status`.
pub const HTTP_REQUESTS: &str = "iotstream_http_requests_total";
/// Scale-out: 1 while this instance writes the group's global results, else 0.
pub const MERGING: &str = "iotstream_merging";
/// Scale-out: each input partition's watermark in the merge log, as Unix seconds, by `partition`.
pub const PARTITION_WATERMARK: &str = "iotstream_partition_watermark_seconds";
/// Scale-out: messages behind each partition's end as its owner reported, by `partition`.
pub const PARTITION_LAG: &str = "iotstream_partition_lag_messages";
/// Scale-out: how far this instance has read the group's merge log.
pub const MERGE_LOG_OFFSET: &str = "iotstream_merge_log_offset";
/// SQL queries: readings each query counted, by `query`.
pub const QUERY_READINGS: &str = "iotstream_query_readings_total";
/// SQL queries: readings each query's `WHERE` left out, by `query`.
pub const QUERY_FILTERED: &str = "iotstream_query_filtered_total";
/// SQL queries: readings rejected for one query alone, by `query` and `reason`.
pub const QUERY_REJECTED: &str = "iotstream_query_rejected_total";
/// SQL queries: results emitted, by `query` and `kind` (final, early, update).
pub const QUERY_RESULTS: &str = "iotstream_query_results_total";
/// SQL queries: groups held in open windows (or the open batch), by `query`.
pub const QUERY_GROUPS: &str = "iotstream_query_groups";
/// Constant 1, labelled with the version.
pub const BUILD_INFO: &str = "iotstream_build_info";

/// Buckets of the emit-latency histogram: from immediate (micro-batches, written within a
/// millisecond or two of their end) to minutes (event time with long delays and allowed lateness).
pub const EMIT_LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// Buckets of the store-write histogram: a local SQLite commit to a slow remote database.
pub const STORE_WRITE_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Registers descriptions (the `# HELP` lines) and the build-info gauge.
pub fn describe() {
    describe_counter!(READINGS, "Valid readings counted (late ones included).");
    describe_counter!(REJECTED, "Rejected messages, by reason (late and future_timestamp included).");
    describe_counter!(LATE, "Readings that arrived after their windows closed, by state.");
    describe_counter!(WINDOWS, "Results emitted, by kind: final, early (partial) or update (late data).");
    describe_histogram!(EMIT_LATENCY, Unit::Seconds, "Wall-clock delay from a window's end to its result.");
    describe_gauge!(SENSORS, "Distinct sensors seen since start.");
    describe_gauge!(OFFLINE, "Sensors silent for longer than --offline-after.");
    describe_gauge!(OPEN_WINDOWS, "Event-time windows held open.");
    describe_gauge!(WATERMARK, Unit::Seconds, "Event-time watermark, Unix seconds.");
    describe_gauge!(WATERMARK_LAG, Unit::Seconds, "Wall clock minus the event-time watermark.");
    describe_gauge!(STATE_TEMPERATURE, "Mean temperature in the latest result, by state.");
    describe_gauge!(CONSUMER_LAG, "Messages between the consumer's position and the partition's end.");
    describe_gauge!(CHECKPOINT_AGE, Unit::Seconds, "Seconds since the last checkpoint.");
    describe_counter!(CHECKPOINTS, "Checkpoints saved.");
    describe_counter!(
        MQTT_REDELIVERIES,
        "MQTT messages the broker sent again, by whether they were already counted (then dropped)."
    );
    describe_counter!(
        MQTT_SESSIONS_LOST,
        "Reconnections to an MQTT broker that had lost this client's session and its messages."
    );
    describe_counter!(COMMIT_FAILURES, "Failed attempts at committing consumer offsets (each is retried).");
    describe_counter!(DATA_LOSS, "Messages deleted from a partition (retention) before they were read.");
    describe_counter!(STORE_ERRORS, "Failed attempts to write to the results store (each is retried).");
    describe_histogram!(STORE_WRITE, Unit::Seconds, "Time to commit one emission's results to the store.");
    describe_counter!(HTTP_REQUESTS, "Dashboard and API requests, by route and status.");
    describe_gauge!(MERGING, "Scale-out: 1 while this instance writes the group's global results.");
    describe_gauge!(
        PARTITION_WATERMARK,
        Unit::Seconds,
        "Scale-out: each input partition's watermark, Unix seconds."
    );
    describe_gauge!(PARTITION_LAG, "Scale-out: messages behind each partition's end, as its owner reported.");
    describe_gauge!(MERGE_LOG_OFFSET, "Scale-out: how far this instance has read the group's merge log.");
    describe_gauge!(ALERTS_FIRING, "Alerts firing now, by rule and severity.");
    describe_queries();
    describe_counter!(
        ALERT_TRANSITIONS,
        "Alert notifications, by rule and status (firing, resolved, repeat)."
    );
    describe_counter!(WEBHOOK_REQUESTS, "Webhook requests, by outcome (delivered, failed and retried).");
    describe_counter!(
        WEBHOOK_DROPPED,
        "Alert notifications the webhook gave up on (refused, or its queue full)."
    );
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// The SQL queries' instruments (`--query`), labelled by the run's query names only.
fn describe_queries() {
    describe_counter!(QUERY_READINGS, "SQL queries: readings counted, by query.");
    describe_counter!(QUERY_FILTERED, "SQL queries: readings left out by WHERE, by query.");
    describe_counter!(
        QUERY_REJECTED,
        "SQL queries: readings rejected for one query alone, by query and reason."
    );
    describe_counter!(
        QUERY_RESULTS,
        "SQL queries: results emitted, by query and kind (final, early, update)."
    );
    describe_gauge!(QUERY_GROUPS, "SQL queries: groups held in open windows, by query.");
}

/// Copies the engine's running totals and live views (a stats record) into the instruments.
pub fn record_status(stats: &StatsRecord) {
    counter!(READINGS).absolute(stats.readings);
    for (reason, count) in &stats.rejected_by_reason {
        counter!(REJECTED, "reason" => reason.clone()).absolute(*count);
    }
    for (state, late) in &stats.late_by_state {
        counter!(LATE, "state" => state.clone()).absolute(*late);
    }
    gauge!(SENSORS).set(stats.sensors as f64);
    gauge!(OFFLINE).set(stats.offline as f64);
    gauge!(OPEN_WINDOWS).set(stats.open_windows as f64);
    if let Some(watermark) = stats.watermark {
        gauge!(WATERMARK).set(seconds(watermark));
        gauge!(WATERMARK_LAG).set(seconds(stats.at) - seconds(watermark));
    }
    for query in &stats.queries {
        let name = query.query.clone();
        counter!(QUERY_READINGS, "query" => name.clone()).absolute(query.readings);
        counter!(QUERY_FILTERED, "query" => name.clone()).absolute(query.filtered);
        for (reason, count) in &query.rejected_by_reason {
            counter!(QUERY_REJECTED, "query" => name.clone(), "reason" => reason.clone()).absolute(*count);
        }
        gauge!(QUERY_GROUPS, "query" => name).set(query.groups as f64);
    }
}

/// One emitted result of a SQL query, at wall-clock time `now`.
pub fn record_query_result(result: &iotstream_engine::query::Emission, now: EventTime) {
    let kind = kind(result.is_final, result.revision);
    counter!(QUERY_RESULTS, "query" => result.query.to_string(), "kind" => kind).increment(1);
    if kind == "final" {
        histogram!(EMIT_LATENCY).record((seconds(now) - seconds(result.window_end)).max(0.0));
    }
}

/// A result's kind: `early` (partial), `final`, or `update` (a revision).
fn kind(is_final: bool, revision: u32) -> &'static str {
    match (is_final, revision) {
        (false, _) => "early",
        (true, 0) => "final",
        (true, _) => "update",
    }
}

/// One emitted result, at wall-clock time `now`.
pub fn record_result(result: &WindowResult, now: EventTime) {
    let kind = kind(result.is_final, result.revision);
    counter!(WINDOWS, "kind" => kind).increment(1);
    if kind == "final" {
        histogram!(EMIT_LATENCY).record((seconds(now) - seconds(result.window_end)).max(0.0));
    }
    for state in &result.states {
        gauge!(STATE_TEMPERATURE, "state" => state.state.clone()).set(state.avg_temperature);
    }
}

/// The group as the merge log shows it (scale-out).
pub fn record_scale_out(status: &iotstream_engine::ScaleOutStatus) {
    gauge!(MERGING).set(if status.merging { 1.0 } else { 0.0 });
    gauge!(MERGE_LOG_OFFSET).set(status.log_offset as f64);
    for partition in &status.partitions {
        let label = partition.partition.to_string();
        if let Some(watermark) = partition.watermark {
            gauge!(PARTITION_WATERMARK, "partition" => label.clone()).set(seconds(watermark));
        }
        if let Some(lag) = partition.lag {
            gauge!(PARTITION_LAG, "partition" => label).set(lag as f64);
        }
    }
}

/// A checkpoint was saved.
pub fn record_checkpoint() {
    counter!(CHECKPOINTS).increment(1);
    gauge!(CHECKPOINT_AGE).set(0.0);
}

/// Time since the last checkpoint.
pub fn record_checkpoint_age(age: Duration) {
    gauge!(CHECKPOINT_AGE).set(age.as_secs_f64());
}

/// The MQTT broker sent a message again; `counted`: the pipeline already had it.
pub fn record_mqtt_redelivery(counted: bool) {
    counter!(MQTT_REDELIVERIES, "counted" => if counted { "yes" } else { "no" }).increment(1);
}

/// The MQTT broker had lost this client's session.
pub fn record_mqtt_session_lost() {
    counter!(MQTT_SESSIONS_LOST).increment(1);
}

/// An attempt at committing offsets failed.
pub fn record_commit_failure() {
    counter!(COMMIT_FAILURES).increment(1);
}

/// `messages` of `partition` were deleted before they were read.
pub fn record_data_loss(partition: i32, messages: u64) {
    counter!(DATA_LOSS, "partition" => partition.to_string()).increment(messages);
}

/// One emission committed to the store in `took`.
pub fn record_store_write(took: Duration) {
    histogram!(STORE_WRITE).record(took.as_secs_f64());
}

/// A failed attempt to write to the store.
pub fn record_store_error() {
    counter!(STORE_ERRORS).increment(1);
}

/// A partition's consumer lag, from the Kafka client's statistics.
pub fn record_consumer_lag(partition: i32, lag: i64) {
    gauge!(CONSUMER_LAG, "partition" => partition.to_string()).set(lag as f64);
}

fn seconds(time: EventTime) -> f64 {
    time.as_micros() as f64 / 1e6
}

/// How many keys of `rule` fire now.
pub fn record_alerts_firing(rule: &str, severity: &str, firing: usize) {
    gauge!(ALERTS_FIRING, "rule" => rule.to_owned(), "severity" => severity.to_owned()).set(firing as f64);
}

/// One alert notification: `changed` is false for a repeat of a firing alert.
pub fn record_alert(rule: &str, status: &'static str, changed: bool) {
    let status = if changed { status } else { "repeat" };
    counter!(ALERT_TRANSITIONS, "rule" => rule.to_owned(), "status" => status).increment(1);
}

/// One webhook request.
pub fn record_webhook(delivered: bool) {
    let outcome = if delivered { "delivered" } else { "failed" };
    counter!(WEBHOOK_REQUESTS, "outcome" => outcome).increment(1);
}

/// An alert notification the webhook gave up on.
pub fn record_webhook_dropped() {
    counter!(WEBHOOK_DROPPED).increment(1);
}
