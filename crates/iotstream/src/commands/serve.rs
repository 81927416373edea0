//! `--http`: starts the dashboard server and adds its sinks and sensor lookups to the run.

use std::sync::Arc;

use crate::alerts::AlertSink;
use crate::channel::SensorQuery;
use crate::dashboard::sink::{AlertsView, HttpSink};
use crate::dashboard::{self, Hub, RunInfo, ServerConfig};
use crate::pipeline::Outputs;
use crate::plan::RunPlan;
use crate::store::Target;

/// The dashboard's alert sink and the questions it asks about sensors, when one is served.
pub type Served = Option<(Box<dyn AlertSink>, tokio::sync::mpsc::Receiver<SensorQuery>)>;

/// Starts the server `plan` asks for, if any, with `store`'s history, and adds its result sink to
/// `outputs`. A dashboard the plan marks optional (the demo's) that cannot start costs a warning.
pub fn serve(plan: &RunPlan, store: Option<&Target>, outputs: &mut Outputs) -> anyhow::Result<Served> {
    let Some(plan_dashboard) = &plan.dashboard else { return Ok(None) };
    let (time, size, slide) = plan.settings.operator().describe();
    let seconds = |micros: i64| micros as f64 / 1e6;
    let history = store.map(Target::open_reader).transpose()?;
    let info = RunInfo {
        version: env!("CARGO_PKG_VERSION"),
        source: plan.input.shown.clone(),
        time,
        window_seconds: seconds(size),
        slide_seconds: seconds(slide),
        history: history.is_some(),
        queries: plan
            .settings
            .analysis
            .queries()
            .map(|q| q.named.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default(),
    };
    let (hub, queries) = Hub::with_history(&info, history);
    let config = ServerConfig {
        addr: plan_dashboard.addr,
        token: plan_dashboard.token.clone(),
        rate_limit: plan_dashboard.rate_limit,
    };
    match dashboard::start(&config, Arc::clone(&hub)) {
        Ok(_) => {}
        Err(error) if plan_dashboard.optional => {
            tracing::warn!("no dashboard: {error:#}");
            return Ok(None);
        }
        Err(error) => return Err(error.into()),
    }
    outputs.sinks.push(Box::new(HttpSink::new(Arc::clone(&hub))));
    Ok(Some((Box::new(AlertsView::new(hub)), queries)))
}
