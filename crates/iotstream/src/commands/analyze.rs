//! `iotstream analyze`: the run plan from the flags, then what it names opened, then the
//! pipeline until the input ends or a stop comes.

use super::common::block_on;
use super::open::open;
use crate::cli::AnalyzeArgs;
use crate::pipeline::{self, RunSummary};
use crate::plan::RunPlan;
use crate::signals::{self, Stop};

/// Installs the signal handlers, plans the run (every problem with the flags at once), opens the
/// checkpoint store, the outputs, the dashboard and the source, in that order, and runs the
/// pipeline. A stop during start-up ends the run there, successfully.
pub fn analyze(args: &AnalyzeArgs) -> anyhow::Result<RunSummary> {
    // First of all, before any file, broker or checkpoint is touched: from here on Ctrl-C and
    // SIGTERM stop the run cleanly instead of killing it.
    let stop = signals::install()?;
    let rules = args.alerts.load().map_err(|e| format!("{e:#}"));
    let plan = RunPlan::analyze(args, rules)?;
    run(&plan, stop)
}

/// Opens what `plan` names, giving up if `stop` comes meanwhile, and runs the pipeline until the
/// input ends or `stop` comes. A run that gave way to the stop while waiting for an outside system
/// (see `crate::signals`) ends successfully too: nothing it did not write was acknowledged.
pub(super) fn run(plan: &RunPlan, stop: Stop) -> anyhow::Result<RunSummary> {
    if stop.is_requested() {
        return stopped();
    }
    let Some(parts) = open(plan, &stop)? else { return stopped() };
    block_on(async {
        match pipeline::run(parts, plan.settings.clone(), stop).await {
            Err(error) if error.stopped_waiting_for().is_some() => Ok(RunSummary::default()),
            outcome => Ok(outcome?),
        }
    })
}

fn stopped() -> anyhow::Result<RunSummary> {
    tracing::info!("stopped during start-up; nothing was read");
    Ok(RunSummary::default())
}
