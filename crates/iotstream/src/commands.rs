//! Runs each subcommand: wires a source, the pipeline and sinks together from parsed arguments.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::Context as _;

use crate::cli::{AnalyzeArgs, DemoArgs, FleetArgs, OutputArgs, SimulateArgs};
use crate::pipeline::{self, PipelineOptions, RunSummary};
use crate::simulator::{wall_clock_now, Clock, Simulator, SimulatorConfig};
use crate::sinks::{self, ResultSink};
use crate::sources::file::{self, Input};
use crate::sources::generator::{self, Pacer};
use iotstream_engine::parse::DEFAULT_MAX_LINE_BYTES;

/// Readings generated per write when not pacing.
const SIMULATE_BATCH: u64 = 4096;

/// `iotstream simulate`: readings to stdout or a file.
pub fn simulate(args: &SimulateArgs) -> anyhow::Result<()> {
    let config = simulator_config(&args.fleet, simulated_clock(args));
    let mut simulator = Simulator::new(&config);
    tracing::debug!(seed = simulator.seed(), "simulating");
    let mut out = sinks::open_output(args.output.as_deref())?;
    let mut buffer = Vec::with_capacity(SIMULATE_BATCH as usize * 200);
    let pacer = args.rate.map(Pacer::new);
    while simulator.produced() < args.count {
        let left = args.count - simulator.produced();
        let n = match &pacer {
            Some(pacer) => pace(pacer, simulator.produced()).min(left),
            None => SIMULATE_BATCH.min(left),
        };
        buffer.clear();
        simulator.fill(&mut buffer, n);
        out.write_all(&buffer)?;
        if pacer.is_some() {
            out.flush()?; // a paced stream is read live
        }
    }
    out.flush()?;
    Ok(())
}

/// Waits until at least one reading is due; returns how many are.
fn pace(pacer: &Pacer, produced: u64) -> u64 {
    loop {
        let due = pacer.due(produced);
        if due > 0 {
            return due;
        }
        std::thread::sleep(pacer.wait(produced).min(Duration::from_millis(50)));
    }
}

fn simulated_clock(args: &SimulateArgs) -> Clock {
    if args.start.is_none() && args.interval.is_none() {
        return Clock::Wall;
    }
    Clock::Simulated {
        start: args.start.unwrap_or_else(wall_clock_now),
        interval_micros: args
            .interval
            .unwrap_or(Duration::from_millis(1))
            .as_micros() as i64,
    }
}

fn simulator_config(fleet: &FleetArgs, clock: Clock) -> SimulatorConfig {
    SimulatorConfig {
        seed: fleet.seed,
        sensors: fleet.sensors,
        clock,
    }
}

/// `iotstream analyze`.
pub fn analyze(args: &AnalyzeArgs) -> anyhow::Result<RunSummary> {
    let input = Input::from_arg(&args.input);
    let reader = input.open()?;
    let sinks = result_sinks(&args.output)?;
    let source = file::spawn(reader, args.max_line_bytes);
    let options = PipelineOptions {
        window: args.output.window,
        once: args.once,
        max_line_bytes: args.max_line_bytes,
    };
    block_on(pipeline::run(source, sinks, options))
}

/// `iotstream demo` and `iotstream` alone.
pub fn demo(args: &DemoArgs) -> anyhow::Result<RunSummary> {
    let sinks = result_sinks(&args.output)?;
    tracing::info!(
        rate = args.rate,
        "demo: built-in simulator → engine → console; Ctrl-C stops"
    );
    let source = generator::spawn(simulator_config(&args.fleet, Clock::Wall), args.rate, None);
    let options = PipelineOptions {
        window: args.output.window,
        once: false,
        max_line_bytes: DEFAULT_MAX_LINE_BYTES,
    };
    block_on(pipeline::run(source, sinks, options))
}

fn result_sinks(output: &OutputArgs) -> anyhow::Result<Vec<Box<dyn ResultSink>>> {
    let out = sinks::open_output(output.output.as_deref())?;
    Ok(vec![sinks::stream_sink(output.format, out)])
}

fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

/// True if `error` is a closed stdout (`iotstream simulate | head`), which ends a run quietly.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
