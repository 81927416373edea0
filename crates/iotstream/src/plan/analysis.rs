//! The one place that decides what a run computes and how its results are cut: the analysis
//! (the seed's, or the user's SQL queries), its operator (processing-time batches, event-time
//! windows, or shares of them for scale-out), and the clocks that go with it.
//!
//! Queries: every query is planned here, before anything opens, and every refusal is reported
//! at once. A query with a window of its own (`tumble`, `hop`) needs event time: without
//! `--time`, such a run is on event time (what a user who wrote a window means); with `--time
//! processing`, the query is refused with its window named.

use std::sync::Arc;
use std::time::Duration;

use iotstream_engine::query::{self, FieldPath, Time};
use iotstream_engine::units::micros;
use iotstream_engine::{EventTimeConfig, OperatorConfig, WindowSpec};

use crate::cli::{QueryArgs, StatsArgs, TimeMode, WindowArgs};
use crate::pipeline::{Analysis, QueryPlan, Settings};

/// Stats records in event time when `--stats-every` is not given.
const EVENT_TIME_STATS: Duration = Duration::from_secs(3);

/// How results are cut, from the window flags; every inconsistency at once.
pub fn operator_config(windows: &WindowArgs) -> Result<OperatorConfig, String> {
    operator_config_on(windows, windows.time())
}

/// How results are cut on the clock `time`, from the other window flags.
fn operator_config_on(windows: &WindowArgs, time: TimeMode) -> Result<OperatorConfig, String> {
    match time {
        TimeMode::Processing => {
            let event_only = [
                ("--slide", windows.slide.is_some()),
                ("--emit-every", windows.emit_every.is_some()),
                ("--allowed-lateness", !windows.allowed_lateness.is_zero()),
            ];
            let misused: Vec<&str> =
                event_only.iter().filter(|(_, used)| *used).map(|(flag, _)| *flag).collect();
            let verb = if misused.len() == 1 { "applies" } else { "apply" };
            if !misused.is_empty() {
                return Err(format!("{} only {verb} with --time event", misused.join(", ")));
            }
            Ok(OperatorConfig::Batches { period: micros(windows.window) })
        }
        TimeMode::Event => {
            let size = micros(windows.window);
            let slide = windows.slide.map_or(size, micros);
            let window = WindowSpec::new(size, slide).map_err(|e| format!("--slide: {e}"))?;
            let config = EventTimeConfig {
                window,
                max_delay: micros(windows.max_delay),
                allowed_lateness: micros(windows.allowed_lateness),
                max_skew: Some(micros(windows.max_skew)),
                idle_timeout: Some(micros(windows.idle_timeout)),
            };
            Ok(OperatorConfig::Windows { config, emit_every: windows.emit_every.map(micros) })
        }
    }
}

/// The analysis and clocks of a run with these window, query and stats flags: the seed's
/// analysis, or the queries; stats records every 3 s by default in event time, never otherwise.
/// Every problem at once.
pub fn settings(
    windows: &WindowArgs,
    queries: &QueryArgs,
    stats: &StatsArgs,
    once: bool,
    max_line_bytes: usize,
) -> Result<Settings, Vec<String>> {
    let time = windows.time.unwrap_or_else(|| implied_time(queries));
    let mut problems: Vec<String> = queries.check().err().into_iter().collect();
    let operator = operator_config_on(windows, time).map_err(|e| problems.push(e)).ok();
    let analysis = match operator {
        Some(operator) if queries.queries.is_empty() => Some(Analysis::Seed { operator }),
        Some(operator) => query_analysis(queries, operator, max_line_bytes)
            .map_err(|mut refused| problems.append(&mut refused))
            .ok(),
        None => None,
    };
    let (Some(analysis), true) = (analysis, problems.is_empty()) else { return Err(problems) };
    let default_stats = analysis.operator().is_event_time().then_some(EVENT_TIME_STATS);
    Ok(Settings {
        analysis,
        once,
        max_line_bytes,
        stats_every: stats.stats_every.or(default_stats),
        offline_after: stats.offline_after,
        status_every: None,
        save_every: None,
    })
}

/// The clock a run without `--time` is on: event time when a query has a window of its own.
fn implied_time(queries: &QueryArgs) -> TimeMode {
    let field = queries.time_field();
    let windowed = queries.queries.iter().any(|q| {
        query::plan(&q.name, &q.sql, Some(&field)).is_ok_and(|plan| plan.window != query::plan::Window::Run)
    });
    if windowed {
        TimeMode::Event
    } else {
        TimeMode::Processing
    }
}

/// The queries' analysis on `operator`'s clock: every query planned, every refusal returned.
fn query_analysis(
    queries: &QueryArgs,
    operator: OperatorConfig,
    max_line_bytes: usize,
) -> Result<Analysis, Vec<String>> {
    let time = match operator {
        OperatorConfig::Windows { config, .. } | OperatorConfig::Shares { config } => {
            Time::Event { field: queries.time_field(), config }
        }
        OperatorConfig::Batches { period } => Time::Processing { period },
    };
    let named = queries.named();
    check_queries(&named, &time)?;
    let settings = query::Settings { time, max_groups: queries.max_groups, max_line_bytes };
    Ok(Analysis::Queries { operator, queries: Arc::new(QueryPlan { named, settings }) })
}

/// Plans every query for a run on `time`: each refusal (and each name used twice), as the
/// engine words it.
pub fn check_queries(named: &[(String, String)], time: &Time) -> Result<Vec<query::Plan>, Vec<String>> {
    let field: Option<&FieldPath> = match time {
        Time::Event { field, .. } => Some(field),
        Time::Processing { .. } => None,
    };
    let mut problems = Vec::new();
    let mut plans = Vec::new();
    for (i, (name, sql)) in named.iter().enumerate() {
        if named[..i].iter().any(|(other, _)| other == name) {
            problems.push(query::QueryError::DuplicateName { name: name.clone() }.to_string());
            continue;
        }
        match query::plan(name, sql, field) {
            Ok(plan) => plans.push(plan),
            Err(refused) => problems.push(refused.to_string()),
        }
    }
    if problems.is_empty() {
        Ok(plans)
    } else {
        Err(problems)
    }
}

/// Scale-out's form of `analysis`: windows per owned partition, completed into shares for the
/// merge log.
pub fn shares(analysis: Analysis) -> Analysis {
    match analysis {
        Analysis::Seed { operator: OperatorConfig::Windows { config, .. } } => {
            Analysis::Seed { operator: OperatorConfig::Shares { config } }
        }
        other => other,
    }
}

/// The event-time settings of `operator`, if it cuts on event time.
pub fn windows_of(operator: &OperatorConfig) -> Option<EventTimeConfig> {
    match operator {
        OperatorConfig::Windows { config, .. } | OperatorConfig::Shares { config } => Some(*config),
        OperatorConfig::Batches { .. } => None,
    }
}

/// How far behind the latest event time a reading may arrive (µs): 0 in processing time.
pub fn max_delay(operator: &OperatorConfig) -> i64 {
    windows_of(operator).map_or(0, |config| config.max_delay)
}
