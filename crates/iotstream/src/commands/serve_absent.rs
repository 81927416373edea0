//! The dashboard in a build without the `http` feature: never served (the plan refuses `--http`).

use crate::alerts::AlertSink;
use crate::channel::SensorQuery;
use crate::pipeline::Outputs;
use crate::plan::RunPlan;
use crate::store::Target;

/// The dashboard's alert sink and the questions it asks about sensors: never.
pub type Served = Option<(Box<dyn AlertSink>, tokio::sync::mpsc::Receiver<SensorQuery>)>;

/// Nothing to serve.
pub fn serve(_: &RunPlan, _: Option<&Target>, _: &mut Outputs) -> anyhow::Result<Served> {
    Ok(None)
}
