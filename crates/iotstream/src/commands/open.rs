//! Opening what a run plan names, in the order that makes a failure cheap: the checkpoint store
//! (a second process on the same state directory is refused before anything else), the outputs,
//! the dashboard, the alerts' outputs, and the source last, so that nothing is read before
//! everything it goes to is ready. Between the slow steps (a broker that takes its time), a stop
//! asked for ends the start-up there.

use std::sync::Arc;

use iotstream_engine::query;

use super::serve::serve;
use crate::alerts::outputs::AlertContext;
use crate::alerts::Alerting;
use crate::channel::Source;
use crate::checkpoint::{self, CheckpointStore, EngineState};
use crate::clock::wall_clock_now;
use crate::connectors::file::output::Start;
use crate::connectors::{file, generator, SinkContext, SourceOptions};
use crate::parallel::Parsers;
use crate::pipeline::{Checkpointing, Computing, Outputs, Parts};
use crate::plan::{self, RunPlan};
use crate::scaleout;
use crate::signals::Stop;
use crate::store::{self, Target};

/// Opens everything `plan` names; `None` if `stop` was asked for during start-up (nothing has
/// been read then).
pub fn open(plan: &RunPlan, stop: &Stop) -> anyhow::Result<Option<Parts>> {
    // Planned and checked already: building the set cannot refuse what the plan accepted.
    let queries = plan.settings.analysis.queries().map(|q| q.build()).transpose()?;
    let checkpointing = checkpointing(plan)?;
    let resume = checkpointing.as_ref().and_then(|c| c.resume.as_ref());
    let Some(context) = unless_stopped(stop, sink_context(plan, resume, stop))? else { return Ok(None) };
    let plans: Vec<query::Plan> = queries.iter().flat_map(|set| set.plans().cloned()).collect();
    let Some((mut outputs, store)) = unless_stopped(stop, open_outputs(plan, &context, &plans, stop))? else {
        return Ok(None);
    };
    let (member, hook) = scaleout::open(plan.scale_out.as_ref(), context.kafka.as_ref())?.unzip();
    if stop.is_requested() {
        return Ok(None);
    }
    let (dashboard, sensor_queries) = serve(plan, store.as_ref(), &mut outputs)?.unzip();
    let alerts_resume = resume.map(|r| r.alerts.as_ref().and_then(|a| a.output_len));
    let alerts = AlertContext {
        output_start: Start::of(alerts_resume),
        stop,
        kafka: context.kafka.as_ref(),
        store: store.as_ref(),
        dashboard,
    };
    let Some(alerts) = unless_stopped(stop, open_alerts(plan, alerts))? else { return Ok(None) };
    if stop.is_requested() {
        return Ok(None);
    }
    let positions = resume.map(|r| r.positions.clone()).unwrap_or_default();
    let resumed = resume.is_some();
    let parsers = match &queries {
        Some(set) => Parsers::Queries(Arc::clone(set.compiled())),
        None => Parsers::Seed(plan.settings.parser()),
    };
    let reading = Reading { positions, own_all: checkpointing.is_some(), parsers };
    let opened = open_source(plan, reading, member.as_ref(), stop);
    let Some(source) = unless_stopped(stop, opened)? else { return Ok(None) };
    let source = plan.faults.source(source, resumed);
    let computing = Computing { queries, alerts };
    Ok(Some(Parts { source, outputs, computing, sensor_queries, checkpointing, hook }))
}

/// `outcome`, unless it failed because a stop came meanwhile: a broker waited for in slices
/// gives up at a stop, and its error only says so.
fn unless_stopped<T>(stop: &Stop, outcome: anyhow::Result<T>) -> anyhow::Result<Option<T>> {
    match outcome {
        Err(_) if stop.is_requested() => Ok(None),
        outcome => outcome.map(Some),
    }
}

/// `--state-dir`: the store, and the checkpoint to resume from (checked to be of this input).
fn checkpointing(plan: &RunPlan) -> anyhow::Result<Option<Checkpointing>> {
    let Some(checkpoints) = &plan.checkpoints else { return Ok(None) };
    let input = plan.input.checkpoint.clone();
    let store = plan.faults.store(Box::new(CheckpointStore::open(&checkpoints.dir)?));
    let resume = store.load()?;
    if let Some(state) = &resume {
        checkpoint::check_input(state, &input)?;
    }
    Ok(Some(Checkpointing {
        store,
        interval: checkpoints.interval,
        input,
        resume,
        companions: checkpoints.companions.clone(),
    }))
}

/// What the outputs need to know: where a resumed result file is cut back to, and the input's
/// connection when the input is Kafka or MQTT (their outputs use it).
fn sink_context(plan: &RunPlan, resume: Option<&EngineState>, stop: &Stop) -> anyhow::Result<SinkContext> {
    let output_start = Start::of(resume.map(|r| r.output_len));
    let plan::Source::Flags(source) = &plan.source else {
        return Ok(SinkContext { output_start, ..SinkContext::default() });
    };
    Ok(SinkContext { output_start, kafka: source.kafka_input(stop)?, mqtt: source.mqtt_input()? })
}

/// The result stream, every connector's outputs, and the store (with a table per query of
/// `queries`); the store's target when it opened.
fn open_outputs(
    plan: &RunPlan,
    context: &SinkContext,
    queries: &[query::Plan],
    stop: &Stop,
) -> anyhow::Result<(Outputs, Option<Target>)> {
    let mut outputs = file::output::open_stream(&plan.outputs.stream, context.output_start, stop)?;
    if let Some(connectors) = &plan.outputs.connectors {
        crate::connectors::open_sinks(connectors, context, &mut outputs)?;
    }
    plan.faults.outputs(&mut outputs);
    let Some(store) = &plan.outputs.store else { return Ok((outputs, None)) };
    let first = outputs.sinks.len();
    match store::open(Some(&store.target), store.retention, queries, &mut outputs, stop) {
        Ok(()) => {
            plan.faults.store_sinks(&mut outputs, first);
            Ok((outputs, Some(&store.target).cloned()))
        }
        // The default store is a convenience: a data directory that cannot take it costs the
        // history, not the demo. A store asked for with --store must open.
        Err(error) if store.optional => {
            tracing::warn!("no history: {error:#} (--store none silences this)");
            Ok((outputs, None))
        }
        Err(error) => Err(error.into()),
    }
}

/// `--rules`: the alerts and their outputs (`None` without rules).
fn open_alerts(plan: &RunPlan, context: AlertContext<'_>) -> anyhow::Result<Option<Alerting>> {
    let Some(alerts) = &plan.alerts else { return Ok(None) };
    tracing::info!(rules = alerts.rules.len(), "alert rules loaded");
    let rules = alerts.rules.clone();
    Ok(Some(crate::alerts::outputs::open(&alerts.args, rules, alerts.delay, context, wall_clock_now())?))
}

/// How the source is to read: from where the checkpoint left off, and with what.
struct Reading {
    /// Where to resume, per partition.
    positions: std::collections::BTreeMap<i32, i64>,
    /// A checkpoint holds every partition's state: own them all.
    own_all: bool,
    /// The seed's parser or the queries' extractor, for the parsing threads.
    parsers: Parsers,
}

/// The source, reading as `reading` says, as one instance of its scale-out group if it has one.
fn open_source(
    plan: &RunPlan,
    reading: Reading,
    member: Option<&scaleout::Member>,
    stop: &Stop,
) -> anyhow::Result<Source> {
    let source = match &plan.source {
        plan::Source::Flags(source) => source,
        plan::Source::Simulator { config, rate } => {
            tracing::info!(rate, "demo: built-in simulator → engine → console; Ctrl-C stops");
            return Ok(Source::plain(generator::spawn(config.clone(), *rate, None)));
        }
    };
    let options = SourceOptions {
        parsers: reading.parsers,
        threads: plan.parsing.threads(),
        mode: plan.parsing.mode,
        resume: reading.positions,
        own_all: reading.own_all,
        progress: plan.progress,
        keep_bytes: plan.parsing.keep_bytes,
        state_dir: plan.checkpoints.as_ref().map(|c| c.dir.clone()),
        stop: stop.clone(),
    };
    tracing::debug!(threads = options.threads, "parsing threads");
    match member {
        Some(member) => Ok(member.open_source(source, &options)?),
        None => Ok(source.open(&options)?),
    }
}
