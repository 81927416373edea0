//! `iotstream demo`, and `iotstream` alone: the built-in simulator feeding the engine, with the
//! console output, the dashboard and the history store.

use super::analyze::run;
use crate::cli::DemoArgs;
use crate::pipeline::RunSummary;
use crate::plan::RunPlan;
use crate::signals;

/// Runs the demo until Ctrl-C; `embedded` for `iotstream` alone, whose default dashboard is
/// skipped (with a warning) rather than fatal when its port is taken.
pub fn demo(args: &DemoArgs, embedded: bool) -> anyhow::Result<RunSummary> {
    let stop = signals::install()?;
    let rules = args.alerts.load().map_err(|e| format!("{e:#}"));
    let plan = RunPlan::demo(args, rules, embedded)?;
    run(&plan, stop)
}
