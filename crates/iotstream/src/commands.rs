//! Runs each subcommand: wires a source, the pipeline and sinks together from parsed arguments.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::Context as _;
use iotstream_engine::parse::DEFAULT_MAX_LINE_BYTES;
use iotstream_engine::{EventTimeConfig, Parser, WindowSpec};

use crate::checkpoint::{self, CheckpointStore};
use crate::cli::{AnalyzeArgs, DemoArgs, FleetArgs, HttpArgs, OutputArgs, SimulateArgs, TimeMode};
use crate::parallel;
use crate::pipeline::Checkpointing;
use crate::pipeline::{self, Mode, Outputs, PipelineOptions, RunSummary};
use crate::progress;
use crate::simulator::{wall_clock_now, Clock, DisorderConfig, Simulator, SimulatorConfig};
use crate::sinks;
use crate::sources::file::{self, Input};
use crate::sources::generator::{self, Pacer};
use crate::sources::Source;

/// How often the dashboard gets a fresh status.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// Readings generated per write when not pacing.
const SIMULATE_BATCH: u64 = 4096;

/// `iotstream simulate`: readings to stdout, a file, or Kafka.
pub fn simulate(args: &SimulateArgs) -> anyhow::Result<()> {
    let config = simulator_config(&args.fleet, simulated_clock(args), Some(args.count));
    let mut simulator = Simulator::new(&config);
    tracing::debug!(seed = simulator.seed(), "simulating");
    #[cfg(feature = "kafka")]
    if let Some(connection) = crate::kafka::Connection::from_args(&args.kafka) {
        return kafka::simulate(args, &connection, &mut simulator);
    }
    let mut out = sinks::open_output(args.output.as_deref(), None)?.writer;
    let mut buffer = Vec::with_capacity(SIMULATE_BATCH as usize * 200);
    let pacer = args.rate.map(Pacer::new);
    // Readings on stdout are someone's input: no bar beside them.
    let bar = args.output.is_some().then(|| progress::readings(args.count));
    while simulator.produced() < args.count {
        let n = next_batch(pacer.as_ref(), simulator.produced(), args.count);
        buffer.clear();
        simulator.fill(&mut buffer, n);
        out.write_all(&buffer)?;
        if pacer.is_some() {
            out.flush()?; // a paced stream is read live
        }
        if let Some(bar) = &bar {
            bar.inc(n);
        }
    }
    out.flush()?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(())
}

/// How many readings to make next: what is due when pacing (waiting for at least one), else a batch.
fn next_batch(pacer: Option<&Pacer>, produced: u64, count: u64) -> u64 {
    let left = count - produced;
    let Some(pacer) = pacer else {
        return SIMULATE_BATCH.min(left);
    };
    loop {
        let due = pacer.due(produced);
        if due > 0 {
            return due.min(left);
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
        interval_micros: args.interval.unwrap_or(Duration::from_millis(1)).as_micros() as i64,
    }
}

fn simulator_config(fleet: &FleetArgs, clock: Clock, count: Option<u64>) -> SimulatorConfig {
    let disorder = fleet.disorder.map(|bound| DisorderConfig {
        bound_micros: bound.as_micros().min(i64::MAX as u128) as i64,
        late_ratio: fleet.late_ratio,
    });
    SimulatorConfig { seed: fleet.seed, sensors: fleet.sensors, clock, disorder, count }
}

/// Turns windowing flags into pipeline options, reporting every inconsistency at once.
pub fn pipeline_options(
    output: &OutputArgs,
    once: bool,
    max_line_bytes: usize,
) -> anyhow::Result<PipelineOptions> {
    let micros = |d: Duration| d.as_micros().min(i64::MAX as u128) as i64;
    let mode = match output.time {
        TimeMode::Processing => {
            let event_only = [
                ("--slide", output.slide.is_some()),
                ("--emit-every", output.emit_every.is_some()),
                ("--allowed-lateness", !output.allowed_lateness.is_zero()),
            ];
            let misused: Vec<&str> =
                event_only.iter().filter(|(_, used)| *used).map(|(flag, _)| *flag).collect();
            let verb = if misused.len() == 1 { "applies" } else { "apply" };
            anyhow::ensure!(misused.is_empty(), "{} only {verb} with --time event", misused.join(", "));
            Mode::Processing { window: output.window }
        }
        TimeMode::Event => {
            let size = micros(output.window);
            let slide = output.slide.map_or(size, micros);
            let window = WindowSpec::new(size, slide).map_err(|e| anyhow::anyhow!("--slide: {e}"))?;
            let config = EventTimeConfig {
                window,
                max_delay: micros(output.max_delay),
                allowed_lateness: micros(output.allowed_lateness),
                max_skew: Some(micros(output.max_skew)),
                idle_timeout: Some(micros(output.idle_timeout)),
            };
            Mode::Event { config, emit_every: output.emit_every }
        }
    };
    let default_stats = (output.time == TimeMode::Event).then_some(Duration::from_secs(3));
    Ok(PipelineOptions {
        mode,
        once,
        max_line_bytes,
        stats_every: output.stats_every.or(default_stats),
        offline_after: output.offline_after,
        status_every: None,
    })
}

/// `iotstream analyze`.
pub fn analyze(args: &AnalyzeArgs) -> anyhow::Result<RunSummary> {
    let max = args.max_line_bytes;
    let options = pipeline_options(&args.output, args.once, max);
    check_all([
        options.as_ref().err(),
        check_http(&args.http).err().as_ref(),
        check_kafka(args).err().as_ref(),
    ])?;
    let mut options = options?;
    let checkpointing = checkpointing(args)?;
    let resume = checkpointing.as_ref().and_then(|c| c.resume.as_ref());
    let mut outputs = outputs(&args.output, resume.and_then(|r| r.output_len))?;
    let source_name = match &args.kafka_topic() {
        Some(topic) if args.input.is_none() => format!("kafka:{topic}"),
        _ => "file".to_owned(),
    };
    serve_dashboard(&args.http, false, &source_name, &mut options, &mut outputs)?;
    let positions = resume.map(|r| r.positions.clone()).unwrap_or_default();
    let threads = parser_threads(args.threads, &options);
    tracing::debug!(threads, "parsing threads");
    let source = match &args.input {
        Some(path) => {
            let start_line = positions.get(&0).map_or(1, |&line| line.max(1) as u64);
            let input = Input::from_arg(path);
            let input = with_progress(&input, input.open()?, args);
            if threads > 1 {
                // The parsing threads read too, each the block it parses next (see `parallel`).
                let lines = file::line_reader(input, max);
                Source::plain(parallel::spawn_reading(lines, start_line, threads, Parser::new(max)))
            } else {
                Source::plain(file::spawn(input, max, start_line))
            }
        }
        #[cfg(feature = "kafka")]
        None => {
            let mut source = kafka::source(args, &mut outputs, positions)?;
            if threads > 1 {
                // Batches mixing the partitions, polled by one consumer (librdkafka fetches the
                // partitions concurrently), parsed by all threads and seen by the pipeline in
                // the order they were polled (see `parallel`).
                source.events = parallel::spawn(source.events, threads, Parser::new(max));
            }
            source
        }
        #[cfg(not(feature = "kafka"))]
        None => anyhow::bail!("this build has no Kafka support; use --input"),
    };
    block_on(pipeline::run(source, outputs, options, checkpointing))
}

/// A file read with `--once` or into a result file gets a progress bar (on a terminal): its results
/// are printed only at the end, or elsewhere, so the bar never interleaves with them.
fn with_progress(
    input: &Input,
    reader: Box<dyn io::Read + Send>,
    args: &AnalyzeArgs,
) -> Box<dyn io::Read + Send> {
    let Input::Path(path) = input else { return reader };
    let size = std::fs::metadata(path).ok().filter(|m| m.is_file()).map(|m| m.len());
    match size {
        Some(size) if args.once || args.output.output.is_some() => {
            Box::new(progress::ProgressRead::new(reader, progress::bytes(size)))
        }
        _ => reader,
    }
}

/// Fails with every problem found, one per line, so that a run with several mistakes is fixed in
/// one go, and before anything is opened or connected.
fn check_all<'a>(problems: impl IntoIterator<Item = Option<&'a anyhow::Error>>) -> anyhow::Result<()> {
    let problems: Vec<String> = problems.into_iter().flatten().map(|e| format!("{e:#}")).collect();
    match problems.as_slice() {
        [] => Ok(()),
        [one] => anyhow::bail!("{one}"),
        many => anyhow::bail!("{} problems:\n  - {}", many.len(), many.join("\n  - ")),
    }
}

/// `--http` settings that would be refused when the server starts.
fn check_http(http: &HttpArgs) -> anyhow::Result<()> {
    #[cfg(feature = "http")]
    if let Some(addr) = http.http {
        let config = crate::dashboard::ServerConfig { addr, token: http.http_token.clone(), rate_limit: 1 };
        return config.check();
    }
    #[cfg(not(feature = "http"))]
    anyhow::ensure!(http.http.is_none(), "this build has no dashboard (the `http` feature); drop --http");
    Ok(())
}

/// `--kafka` needs a topic.
fn check_kafka(args: &AnalyzeArgs) -> anyhow::Result<()> {
    #[cfg(feature = "kafka")]
    anyhow::ensure!(
        args.kafka.brokers.is_none() || args.kafka.topic.is_some(),
        "--topic is required with --kafka"
    );
    let _ = args;
    Ok(())
}

/// `--state-dir`: the store, and the checkpoint to resume from (checked to be of this input).
fn checkpointing(args: &AnalyzeArgs) -> anyhow::Result<Option<Checkpointing>> {
    let Some(dir) = &args.state_dir else { return Ok(None) };
    let input = match (&args.input, &args.kafka_topic()) {
        (Some(path), _) => format!("file:{}", path.display()),
        (None, Some(topic)) => format!("kafka:{topic}"),
        (None, None) => anyhow::bail!("--state-dir needs an input"),
    };
    let store = CheckpointStore::open(dir)?;
    let resume = store.load()?;
    if let Some(state) = &resume {
        checkpoint::check_input(state, &input)?;
    }
    let unsafe_positions_only = args.fault_unsafe_checkpoints;
    Ok(Some(Checkpointing {
        store,
        interval: args.checkpoint_interval,
        input,
        resume,
        unsafe_positions_only,
    }))
}

/// How many threads parse: `requested` (0 = one per core), but one where order matters (event
/// time) or where live views are kept per reading (stats records).
fn parser_threads(requested: usize, options: &PipelineOptions) -> usize {
    if matches!(options.mode, Mode::Event { .. }) || options.tracks_sensors() {
        return 1;
    }
    match requested {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// `iotstream demo`; `embedded` for `iotstream` alone, whose default dashboard is skipped (with a
/// warning) rather than fatal when its port is taken.
pub fn demo(args: &DemoArgs, embedded: bool) -> anyhow::Result<RunSummary> {
    let options = pipeline_options(&args.output, false, DEFAULT_MAX_LINE_BYTES);
    check_all([options.as_ref().err(), check_http(&args.http).err().as_ref()])?;
    let mut options = options?;
    let mut outputs = outputs(&args.output, None)?;
    serve_dashboard(&args.http, embedded, "simulator", &mut options, &mut outputs)?;
    tracing::info!(rate = args.rate, "demo: built-in simulator → engine → console; Ctrl-C stops");
    let source = generator::spawn(simulator_config(&args.fleet, Clock::Wall, None), args.rate, None);
    block_on(pipeline::run(Source::plain(source), outputs, options, None))
}

/// The result sink for `--format`/`--output`; a resumed run cuts the file back to `resume_len`.
fn outputs(output: &OutputArgs, resume_len: Option<u64>) -> anyhow::Result<Outputs> {
    let out = sinks::open_output(output.output.as_deref(), resume_len)?;
    let sinks = vec![sinks::stream_sink(output.format, out.writer)];
    Ok(Outputs { sinks, dead_letters: None, written: out.written, sensor_queries: None })
}

/// `--http`: starts the dashboard server and adds its sink, status ticks and sensor lookups to the
/// run. With `optional`, a failure to listen is a warning, not an error.
#[cfg(feature = "http")]
fn serve_dashboard(
    http: &HttpArgs,
    optional: bool,
    source: &str,
    options: &mut PipelineOptions,
    outputs: &mut Outputs,
) -> anyhow::Result<()> {
    use crate::dashboard::{self, Hub, RunInfo, ServerConfig};
    let Some(addr) = http.http else { return Ok(()) };
    let seconds = |d: Duration| d.as_secs_f64();
    let (time, window_seconds, slide_seconds) = match options.mode {
        Mode::Processing { window } => ("processing", seconds(window), seconds(window)),
        Mode::Event { config, .. } => {
            let micros = |m: i64| m as f64 / 1e6;
            ("event", micros(config.window.size()), micros(config.window.slide()))
        }
    };
    let info = RunInfo {
        version: env!("CARGO_PKG_VERSION"),
        source: source.to_owned(),
        time,
        window_seconds,
        slide_seconds,
    };
    let (hub, queries) = Hub::new(&info);
    let config = ServerConfig { addr, token: http.http_token.clone(), rate_limit: http.http_rate_limit };
    match dashboard::start(&config, std::sync::Arc::clone(&hub)) {
        Ok(_) => {}
        Err(error) if optional => {
            tracing::warn!("no dashboard: {error:#}");
            return Ok(());
        }
        Err(error) => return Err(error),
    }
    outputs.sinks.push(Box::new(sinks::http::HttpSink::new(hub)));
    outputs.sensor_queries = Some(queries);
    options.status_every = Some(STATUS_EVERY);
    Ok(())
}

/// Without the `http` feature, `--http` is an error.
#[cfg(not(feature = "http"))]
fn serve_dashboard(
    http: &HttpArgs,
    _optional: bool,
    _source: &str,
    _options: &mut PipelineOptions,
    _outputs: &mut Outputs,
) -> anyhow::Result<()> {
    anyhow::ensure!(http.http.is_none(), "this build has no dashboard (the `http` feature); drop --http");
    Ok(())
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

/// The Kafka halves of the commands.
#[cfg(feature = "kafka")]
pub mod kafka {
    use std::io::BufRead as _;
    use std::time::Instant;

    use anyhow::Context as _;
    use iotstream_engine::Parser;

    use super::*;
    use crate::cli::ProduceArgs;
    use crate::kafka::{check_brokers, Connection, KafkaArgs};
    use crate::sinks::kafka::{DeadLetters, KafkaResultSink, Sender, TopicDeadLetters};
    use crate::sources::kafka::{self as kafka_source, KafkaSourceConfig};

    fn topic(args: &KafkaArgs) -> anyhow::Result<&str> {
        args.topic.as_deref().context("--topic is required with --kafka")
    }

    fn connect(args: &KafkaArgs) -> anyhow::Result<Connection> {
        let connection = Connection::from_args(args).context("--kafka BROKERS is required")?;
        check_brokers(&connection.brokers)?;
        Ok(connection)
    }

    /// `simulate --kafka`: readings keyed by guid, so a sensor's readings stay in one partition.
    pub fn simulate(
        args: &SimulateArgs,
        connection: &Connection,
        simulator: &mut Simulator,
    ) -> anyhow::Result<()> {
        check_brokers(&connection.brokers)?;
        let topic = topic(&args.kafka)?;
        connection.ensure_topic(topic, args.partitions)?;
        let sender = Sender::new(connection, topic, false)?;
        let pacer = args.rate.map(Pacer::new);
        let started = Instant::now();
        let mut line = Vec::with_capacity(256);
        let bar = progress::readings(args.count);
        while simulator.produced() < args.count {
            let n = next_batch(pacer.as_ref(), simulator.produced(), args.count);
            for _ in 0..n {
                line.clear();
                let guid = simulator.next_line(&mut line);
                sender.send(Some(&line[guid]), &line[..line.len() - 1], None);
            }
            bar.inc(n);
        }
        sender.flush()?;
        bar.finish_and_clear();
        report_rate("produced", sender.delivered(), started);
        Ok(())
    }

    /// `iotstream produce`: one message per input line, keyed by guid where the line has one.
    pub fn produce(args: &ProduceArgs) -> anyhow::Result<()> {
        let connection = connect(&args.kafka)?;
        let topic = topic(&args.kafka)?;
        let mut reader = io::BufReader::with_capacity(1 << 20, Input::from_arg(&args.input).open()?);
        connection.ensure_topic(topic, args.partitions)?;
        let sender = Sender::new(&connection, topic, false)?;
        let parser = Parser::new(usize::MAX);
        let started = Instant::now();
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).context("reading input failed")? > 0 {
            let message = line.strip_suffix(b"\n").unwrap_or(&line);
            let key = parser.parse(message).ok().map(|r| r.guid.into_string());
            sender.send(key.as_deref().map(str::as_bytes), message, None);
            line.clear();
        }
        sender.flush()?;
        report_rate("produced", sender.delivered(), started);
        Ok(())
    }

    fn report_rate(what: &str, messages: u64, started: Instant) {
        let seconds = started.elapsed().as_secs_f64();
        let rate = messages as f64 / seconds.max(1e-9);
        tracing::info!(messages, seconds = format!("{seconds:.2}"), rate = format!("{rate:.0}/s"), "{what}");
    }

    /// `analyze --kafka`: the consumer, plus the results and dead-letter topics if asked for.
    pub fn source(
        args: &AnalyzeArgs,
        outputs: &mut Outputs,
        resume: std::collections::BTreeMap<i32, i64>,
    ) -> anyhow::Result<Source> {
        let connection = connect(&args.kafka)?;
        let topic = topic(&args.kafka)?.to_owned();
        let consumer = &args.consumer;
        if let Some(results) = &consumer.results_topic {
            connection.ensure_topic(results, 1)?;
            outputs.sinks.push(Box::new(KafkaResultSink::new(&connection, results)?));
        }
        if let Some(dead) = &consumer.dead_letter_topic {
            connection.ensure_topic(dead, 1)?;
            let dead_letters = DeadLetters::new(&connection, dead, consumer.dead_letter_max_bytes)?;
            outputs.dead_letters =
                Some(Box::new(TopicDeadLetters { dead_letters, source_topic: topic.clone() }));
        }
        kafka_source::spawn(KafkaSourceConfig {
            connection,
            topic,
            group: consumer.group.clone(),
            from: consumer.from,
            once: args.once,
            own_all: args.state_dir.is_some(),
            resume,
            keep_bytes: args.max_line_bytes.saturating_add(1).max(consumer.dead_letter_max_bytes),
        })
    }
}
