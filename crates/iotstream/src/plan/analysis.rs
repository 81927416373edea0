//! The one place that decides what a run computes and how its results are cut: the analysis
//! (today the seed's), its operator (processing-time batches, event-time windows, or shares of
//! them for scale-out), and the clocks that go with it.

use std::time::Duration;

use iotstream_engine::units::micros;
use iotstream_engine::{EventTimeConfig, OperatorConfig, WindowSpec};

use crate::cli::{StatsArgs, TimeMode, WindowArgs};
use crate::pipeline::{Analysis, Settings};

/// Stats records in event time when `--stats-every` is not given.
const EVENT_TIME_STATS: Duration = Duration::from_secs(3);

/// How results are cut, from the window flags; every inconsistency at once.
pub fn operator_config(windows: &WindowArgs) -> Result<OperatorConfig, String> {
    match windows.time {
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

/// The analysis and clocks of a run with these window and stats flags: the seed's analysis;
/// stats records every 3 s by default in event time, never otherwise.
pub fn settings(
    windows: &WindowArgs,
    stats: &StatsArgs,
    once: bool,
    max_line_bytes: usize,
) -> Result<Settings, String> {
    let operator = operator_config(windows)?;
    let default_stats = operator.is_event_time().then_some(EVENT_TIME_STATS);
    Ok(Settings {
        analysis: Analysis::Seed { operator },
        once,
        max_line_bytes,
        stats_every: stats.stats_every.or(default_stats),
        offline_after: stats.offline_after,
        status_every: None,
        save_every: None,
    })
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
