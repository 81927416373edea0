//! Runs each subcommand: wires a source, the pipeline and sinks together from parsed arguments.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::Context as _;
use iotstream_engine::parse::DEFAULT_MAX_LINE_BYTES;
use iotstream_engine::{EventTimeConfig, OperatorConfig, WindowSpec};

use crate::channel::Source;
use crate::checkpoint::{self, CheckpointStore};
use crate::cli::{AnalyzeArgs, DemoArgs, FleetArgs, HttpArgs, SimulateArgs, StatsArgs, TimeMode, WindowArgs};
use crate::clock::wall_clock_now;
use crate::mutants::Mutant;
use crate::parallel;
use crate::pipeline::{self, Checkpointing, Outputs, PipelineOptions, RunSummary};
use crate::progress;
use crate::signals::{self, Stop, Stopped};
use crate::simulator::{Clock, DisorderConfig, Simulator, SimulatorConfig};
use crate::sinks::alerts::AlertContext;
use crate::sinks::store;
use crate::sinks::{self, SinkContext};
use crate::sources::generator::{self, Pacer};
use crate::sources::SourceOptions;

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
    #[cfg(feature = "mqtt")]
    if let Some(broker) = args.mqtt.connection.broker()? {
        return mqtt::simulate(args, &broker, &mut simulator);
    }
    #[cfg(feature = "kafka")]
    if let Some(connection) = crate::kafka::Connection::from_args(&args.kafka) {
        return kafka::simulate(args, &connection, &mut simulator);
    }
    #[cfg(feature = "kafka")]
    anyhow::ensure!(args.kafka.topic.is_none(), "--topic needs --kafka BROKERS or --mqtt URL");
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
    SimulatorConfig {
        seed: fleet.seed,
        sensors: fleet.sensors,
        profile: fleet.profile,
        clock,
        disorder,
        count,
    }
}

/// Turns windowing and stats flags into pipeline options, reporting every inconsistency at once.
pub fn pipeline_options(
    windows: &WindowArgs,
    stats: &StatsArgs,
    once: bool,
    max_line_bytes: usize,
) -> anyhow::Result<PipelineOptions> {
    let micros = |d: Duration| d.as_micros().min(i64::MAX as u128) as i64;
    let operator = match windows.time {
        TimeMode::Processing => {
            let event_only = [
                ("--slide", windows.slide.is_some()),
                ("--emit-every", windows.emit_every.is_some()),
                ("--allowed-lateness", !windows.allowed_lateness.is_zero()),
            ];
            let misused: Vec<&str> =
                event_only.iter().filter(|(_, used)| *used).map(|(flag, _)| *flag).collect();
            let verb = if misused.len() == 1 { "applies" } else { "apply" };
            anyhow::ensure!(misused.is_empty(), "{} only {verb} with --time event", misused.join(", "));
            OperatorConfig::Batches { period: micros(windows.window) }
        }
        TimeMode::Event => {
            let size = micros(windows.window);
            let slide = windows.slide.map_or(size, micros);
            let window = WindowSpec::new(size, slide).map_err(|e| anyhow::anyhow!("--slide: {e}"))?;
            let config = EventTimeConfig {
                window,
                max_delay: micros(windows.max_delay),
                allowed_lateness: micros(windows.allowed_lateness),
                max_skew: Some(micros(windows.max_skew)),
                idle_timeout: Some(micros(windows.idle_timeout)),
            };
            OperatorConfig::Windows { config, emit_every: windows.emit_every.map(micros) }
        }
    };
    let default_stats = (windows.time == TimeMode::Event).then_some(Duration::from_secs(3));
    Ok(PipelineOptions {
        operator,
        once,
        max_line_bytes,
        stats_every: stats.stats_every.or(default_stats),
        offline_after: stats.offline_after,
        status_every: None,
        save_every: None,
        mutant: None,
    })
}

/// `iotstream analyze`: installs the signal handlers, checks every flag, then opens the checkpoint
/// store, the sinks, the dashboard and the source, in that order, and runs the pipeline. A stop
/// during start-up ends the run there, successfully.
pub fn analyze(args: &AnalyzeArgs) -> anyhow::Result<RunSummary> {
    // First of all, before any file, broker or checkpoint is touched: from here on Ctrl-C and
    // SIGTERM stop the run cleanly instead of killing it.
    let stop = signals::install()?;
    match start_and_run(args, stop) {
        Err(error) if error.downcast_ref::<Stopped>().is_some() => {
            tracing::info!("stopped during start-up; nothing was read");
            Ok(RunSummary::default())
        }
        outcome => outcome,
    }
}

/// `analyze` once its signal handlers are in place; [`Stopped`] if a stop came during start-up.
fn start_and_run(args: &AnalyzeArgs, stop: Stop) -> anyhow::Result<RunSummary> {
    let source = &args.source;
    let options = pipeline_options(&args.windows, &args.stats, source.once, source.max_line_bytes);
    let store = args.output.store.target(None).map_err(anyhow::Error::from);
    let rules = args.alerts.load();
    check_all([
        options.as_ref().err(),
        check_http(&args.http).err().as_ref(),
        source.check().err().as_ref(),
        check_scale_out(args).err().as_ref(),
        store.as_ref().err(),
        rules.as_ref().err(),
    ])?;
    let mut options = options?;
    let store = store?;
    let rules = rules?;
    options.mutant = args.fault_mutant;
    let checkpointing = checkpointing(args)?;
    stop.check()?;
    let resume = checkpointing.as_ref().and_then(|c| c.resume.as_ref());
    let output = args.output.stream.output.as_deref();
    let resume_len = Mutant::resume_len(args.fault_mutant, output, resume.and_then(|r| r.output_len));
    let context = SinkContext {
        resume_len,
        kafka: kafka_input(source, &stop)?,
        #[cfg(feature = "mqtt")]
        mqtt: mqtt_input(source)?,
        store: store.clone(),
    };
    let mut outputs = sinks::open(&args.output, &context)?;
    #[cfg(feature = "kafka")]
    let scale_out = scale_out(args, &mut options, context.kafka.as_ref(), &mut outputs)?;
    stop.check()?;
    let dashboard_source = match (source.kafka_topic(), source.mqtt_name()) {
        (Some(topic), _) => format!("kafka:{topic}"),
        (None, Some(mqtt)) => mqtt,
        (None, None) => "file".to_owned(),
    };
    let dashboard = Dashboard { source: &dashboard_source, optional: false, store: store.as_ref() };
    let hub = serve_dashboard(&args.http, &dashboard, &mut options, &mut outputs)?;
    let alerts_resume = resume.and_then(|r| r.alerts.as_ref()).and_then(|a| a.output_len);
    let alerts =
        AlertContext { resume_len: alerts_resume, kafka: context.kafka.as_ref(), store: store.as_ref(), hub };
    outputs.alerts = open_alerts(&args.alerts, rules, &options, alerts)?;
    stop.check()?;
    let one_by_one = outputs.alerts.as_ref().is_some_and(|a| a.wants_readings());
    let source_options = SourceOptions {
        threads: parser_threads(source.threads),
        // Sensor alert rules judge readings one by one, in input order: the ordered stage.
        mode: if one_by_one { parallel::Mode::Ordered } else { parser_mode(&options) },
        resume: resume.map(|r| r.positions.clone()).unwrap_or_default(),
        own_all: checkpointing.is_some(),
        // A file read with --once or into a result file gets a progress bar (on a terminal): its
        // results are printed only at the end, or elsewhere, so the bar never interleaves with them.
        progress: source.once || args.output.stream.output.is_some(),
        keep_bytes: keep_bytes(args),
        state_dir: args.checkpoints.state_dir.clone(),
        #[cfg(feature = "kafka")]
        scale_out,
        stop: stop.clone(),
    };
    tracing::debug!(threads = source_options.threads, "parsing threads");
    let events = source.open(&source_options)?;
    block_on(pipeline::run(events, outputs, options, checkpointing, stop))
}

/// `--scale-out`: the group's topics, windows kept per owned partition and completed into shares
/// for the merge log, partition states saved every checkpoint interval.
#[cfg(feature = "kafka")]
fn scale_out(
    args: &AnalyzeArgs,
    options: &mut PipelineOptions,
    kafka: Option<&sinks::KafkaInput>,
    outputs: &mut sinks::Outputs,
) -> anyhow::Result<Option<crate::scaleout::Plan>> {
    let (Some((connection, topic)), true) = (kafka, args.source.kafka.scale_out) else { return Ok(None) };
    let OperatorConfig::Windows { config, .. } = options.operator else {
        anyhow::bail!("--scale-out needs --time event");
    };
    let plan = crate::scaleout::Plan::prepare(connection, topic, &args.source.kafka.group, config)?;
    let log = crate::scaleout::log::ShareLog::new(
        connection,
        &plan.merge_topic,
        &plan.state_topic,
        &plan.instance,
    )?;
    outputs.shares = Some(Box::new(log));
    options.operator = OperatorConfig::Shares { config };
    options.save_every = Some(args.checkpoints.checkpoint_interval);
    Ok(Some(plan))
}

/// `--scale-out` goes with event time, and without what it replaces or cannot do yet.
fn check_scale_out(args: &AnalyzeArgs) -> anyhow::Result<()> {
    #[cfg(feature = "kafka")]
    if args.source.kafka.scale_out {
        let conflicts = [
            ("--time event", args.windows.time != TimeMode::Event),
            ("no --emit-every", args.windows.emit_every.is_some()),
            (
                "no --state-dir (partition states live in the group's topics)",
                args.checkpoints.state_dir.is_some(),
            ),
            ("no --once", args.source.once),
        ];
        let wrong: Vec<&str> = conflicts.iter().filter(|(_, bad)| *bad).map(|(what, _)| *what).collect();
        anyhow::ensure!(wrong.is_empty(), "--scale-out needs {}", wrong.join(", "));
        anyhow::ensure!(args.alerts.rules.is_none(), "--rules does not work with --scale-out yet");
    }
    let _ = args;
    Ok(())
}

/// How much of each message a source keeps: enough for the parser to see it is too large, and
/// for a dead letter.
fn keep_bytes(args: &AnalyzeArgs) -> usize {
    let parse = args.source.max_line_bytes.saturating_add(1);
    #[cfg(feature = "kafka")]
    return parse.max(args.output.kafka.dead_letter_max_bytes);
    #[cfg(not(feature = "kafka"))]
    parse
}

/// The Kafka connection and topic, when the input is Kafka (the Kafka sinks use them too).
fn kafka_input(
    source: &crate::sources::SourceArgs,
    stop: &Stop,
) -> anyhow::Result<Option<sinks::KafkaInput>> {
    #[cfg(feature = "kafka")]
    if source.input.is_none() && source.kafka.connection.brokers.is_some() {
        let args = &source.kafka.connection;
        let connection = args.connect()?;
        match connection.probe(stop) {
            Ok(()) => {}
            // A run that reads what the topic holds now cannot do without the broker; a stop is a
            // stop.
            Err(error) if source.once || error.is::<crate::signals::Stopped>() => return Err(error),
            // A live run waits for the broker to come (back), and says so.
            Err(error) => tracing::warn!("{error:#}; retrying until it answers"),
        }
        return Ok(Some((connection, args.topic()?.to_owned())));
    }
    let _ = (source, stop);
    Ok(None)
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

/// `--state-dir`: the store, and the checkpoint to resume from (checked to be of this input).
fn checkpointing(args: &AnalyzeArgs) -> anyhow::Result<Option<Checkpointing>> {
    let Some(dir) = &args.checkpoints.state_dir else { return Ok(None) };
    let input = args.source.name();
    let store = CheckpointStore::open(dir)?;
    let resume = store.load()?;
    if let Some(state) = &resume {
        checkpoint::check_input(state, &input)?;
    }
    Ok(Some(Checkpointing {
        store,
        interval: args.checkpoints.checkpoint_interval,
        input,
        resume,
        unsafe_positions_only: args.fault_mutant == Some(Mutant::PositionsWithoutState),
        companions: source_companions(&args.source, dir),
    }))
}

/// The broker and client id read, when the input is MQTT.
#[cfg(feature = "mqtt")]
fn mqtt_input(source: &crate::sources::SourceArgs) -> anyhow::Result<Option<sinks::mqtt::MqttInput>> {
    let connection = &source.mqtt.connection;
    let Some(broker) = connection.broker()? else { return Ok(None) };
    Ok(Some((broker, connection.required_client_id()?.to_owned())))
}

/// Files the source keeps in the state directory `dir`, which each checkpoint must find on disk.
fn source_companions(source: &crate::sources::SourceArgs, dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    #[cfg(feature = "mqtt")]
    if source.mqtt.connection.url.is_some() {
        return vec![crate::sources::mqtt::ledger_path(dir)];
    }
    let _ = (source, dir);
    Vec::new()
}

/// How many threads parse: `requested` (0 = one per core).
fn parser_threads(requested: usize) -> usize {
    match requested {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// What parsing threads hand the pipeline: readings in input order where order matters (event
/// time: watermarks and lateness) or each reading updates the per-sensor table (stats records, the
/// status, sensor lookups); partial aggregates, merged in any order, otherwise.
fn parser_mode(options: &PipelineOptions) -> parallel::Mode {
    if options.operator.takes_partials() && !options.tracks_sensors() {
        parallel::Mode::Aggregate
    } else {
        parallel::Mode::Ordered
    }
}

/// `iotstream demo`; `embedded` for `iotstream` alone, whose default dashboard is skipped (with a
/// warning) rather than fatal when its port is taken.
pub fn demo(args: &DemoArgs, embedded: bool) -> anyhow::Result<RunSummary> {
    let stop = signals::install()?;
    let options = pipeline_options(&args.windows, &args.stats, false, DEFAULT_MAX_LINE_BYTES);
    let store = args.store.target(store::default_target()).map_err(anyhow::Error::from);
    let rules = args.alerts.load();
    let http = check_http(&args.http);
    check_all([options.as_ref().err(), http.as_ref().err(), store.as_ref().err(), rules.as_ref().err()])?;
    let mut options = options?;
    let mut store = store?;
    let rules = rules?;
    let mut outputs = sinks::open_stream(&args.output, None)?;
    match store::open(store.as_ref(), args.store.store_retention, &mut outputs) {
        Ok(()) => {}
        // The default store is a convenience: a data directory that cannot take it costs the
        // history, not the demo. A store asked for with --store must open.
        Err(error) if args.store.store.is_none() => {
            tracing::warn!("no history: {error:#} (--store none silences this)");
            store = None;
        }
        Err(error) => return Err(error),
    }
    let dashboard = Dashboard { source: "simulator", optional: embedded, store: store.as_ref() };
    let hub = serve_dashboard(&args.http, &dashboard, &mut options, &mut outputs)?;
    let alerts = AlertContext { store: store.as_ref(), hub, ..Default::default() };
    outputs.alerts = open_alerts(&args.alerts, rules, &options, alerts)?;
    tracing::info!(rate = args.rate, "demo: built-in simulator → engine → console; Ctrl-C stops");
    let source = generator::spawn(simulator_config(&args.fleet, Clock::Wall, None), args.rate, None);
    block_on(pipeline::run(Source::plain(source), outputs, options, None, stop))
}

/// What the dashboard is told about a run.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
struct Dashboard<'a> {
    /// Where readings come from, for the page's header.
    source: &'a str,
    /// A failure to listen is a warning, not an error (`iotstream` alone).
    optional: bool,
    /// The store the history charts read.
    store: Option<&'a store::Target>,
}

/// `--http`: starts the dashboard server and adds its sink, status ticks and sensor lookups to the
/// run.
#[cfg(feature = "http")]
fn serve_dashboard(
    http: &HttpArgs,
    dashboard: &Dashboard<'_>,
    options: &mut PipelineOptions,
    outputs: &mut Outputs,
) -> anyhow::Result<DashboardHub> {
    use crate::dashboard::{self, Hub, RunInfo, ServerConfig};
    let Some(addr) = http.http else { return Ok(None) };
    let (time, size, slide) = options.operator.describe();
    let seconds = |micros: i64| micros as f64 / 1e6;
    let history = dashboard.store.map(store::Reader::open).transpose()?;
    let info = RunInfo {
        version: env!("CARGO_PKG_VERSION"),
        source: dashboard.source.to_owned(),
        time,
        window_seconds: seconds(size),
        slide_seconds: seconds(slide),
        history: history.is_some(),
    };
    let (hub, queries) = Hub::with_history(&info, history);
    let config = ServerConfig { addr, token: http.http_token.clone(), rate_limit: http.http_rate_limit };
    match dashboard::start(&config, std::sync::Arc::clone(&hub)) {
        Ok(_) => {}
        Err(error) if dashboard.optional => {
            tracing::warn!("no dashboard: {error:#}");
            return Ok(None);
        }
        Err(error) => return Err(error),
    }
    outputs.sinks.push(Box::new(sinks::http::HttpSink::new(std::sync::Arc::clone(&hub))));
    outputs.sensor_queries = Some(queries);
    options.status_every = Some(STATUS_EVERY);
    Ok(Some(hub))
}

/// The dashboard's hub, when one is served (alerts publish to it).
#[cfg(feature = "http")]
type DashboardHub = Option<std::sync::Arc<crate::dashboard::Hub>>;
/// Without the `http` feature there is never a hub.
#[cfg(not(feature = "http"))]
type DashboardHub = Option<std::convert::Infallible>;

/// `--rules`: the alerts and their outputs (`None` without rules). The alerts' event-time clock
/// allows the same out-of-orderness as the watermark.
fn open_alerts(
    args: &crate::alerts::AlertArgs,
    rules: Option<Vec<iotstream_engine::alerts::Rule>>,
    options: &PipelineOptions,
    context: AlertContext<'_>,
) -> anyhow::Result<Option<crate::alerts::Alerting>> {
    let Some(rules) = rules else { return Ok(None) };
    let delay = match options.operator {
        OperatorConfig::Windows { config, .. } | OperatorConfig::Shares { config } => config.max_delay,
        OperatorConfig::Batches { .. } => 0,
    };
    tracing::info!(rules = rules.len(), "alert rules loaded");
    sinks::alerts::open(args, rules, delay, context, wall_clock_now()).map(Some)
}

/// Without the `http` feature, `--http` is an error.
#[cfg(not(feature = "http"))]
fn serve_dashboard(
    http: &HttpArgs,
    _dashboard: &Dashboard<'_>,
    _options: &mut PipelineOptions,
    _outputs: &mut Outputs,
) -> anyhow::Result<DashboardHub> {
    anyhow::ensure!(http.http.is_none(), "this build has no dashboard (the `http` feature); drop --http");
    Ok(None)
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
    use crate::kafka::{check_brokers, Connection};
    use crate::sinks::kafka::Sender;

    /// `simulate --kafka`: readings keyed by guid, so a sensor's readings stay in one partition.
    pub fn simulate(
        args: &SimulateArgs,
        connection: &Connection,
        simulator: &mut Simulator,
    ) -> anyhow::Result<()> {
        check_brokers(&connection.brokers)?;
        connection.probe(&crate::signals::Stop::default())?;
        let topic = args.kafka.topic()?;
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
        let connection = args.kafka.connect()?;
        connection.probe(&crate::signals::Stop::default())?;
        let topic = args.kafka.topic()?;
        let mut reader =
            io::BufReader::with_capacity(1 << 20, crate::sources::file::Input::from_arg(&args.input).open()?);
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

    /// `iotstream group`: reads the group's merge log to its end and prints what it says.
    pub fn group(args: &crate::cli::GroupArgs) -> anyhow::Result<()> {
        let connection = args.kafka.connect()?;
        connection.probe(&crate::signals::Stop::default())?;
        let topic = args.kafka.topic()?;
        let stats = crate::cli::StatsArgs { offline_after: Duration::from_secs(60), stats_every: None };
        let options = pipeline_options(&args.windows, &stats, false, usize::MAX)?;
        let iotstream_engine::OperatorConfig::Windows { config, .. } = options.operator else {
            anyhow::bail!(
                "a scale-out group runs in event time: give --time event and the instances' window flags"
            );
        };
        let plan = crate::scaleout::Plan::describe(&connection, topic, &args.group, config)?;
        let view = crate::scaleout::follower::read_to_end(plan.follower(&connection))?;
        let text = match args.format {
            crate::cli::GroupFormat::Json => serde_json::to_string_pretty(&view)? + "\n",
            crate::cli::GroupFormat::Text => view.to_text(&args.group, topic),
        };
        io::stdout().write_all(text.as_bytes())?;
        Ok(())
    }

    fn report_rate(what: &str, messages: u64, started: Instant) {
        let seconds = started.elapsed().as_secs_f64();
        let rate = messages as f64 / seconds.max(1e-9);
        tracing::info!(messages, seconds = format!("{seconds:.2}"), rate = format!("{rate:.0}/s"), "{what}");
    }
}

/// `simulate --mqtt`.
#[cfg(feature = "mqtt")]
pub mod mqtt {
    use std::time::Instant;

    use anyhow::Context as _;
    use iotstream_engine::Parser;

    use super::*;
    use crate::mqtt::{Broker, Publisher};

    /// How long the end of `simulate --mqtt` waits for the broker to acknowledge everything.
    const PATIENCE: Duration = Duration::from_secs(60);

    /// `simulate --mqtt`: each reading a message, whole (the seed's JSON) on one topic, or small
    /// on its sensor's topic when the topic has {state} or {guid} in it.
    pub fn simulate(args: &SimulateArgs, broker: &Broker, simulator: &mut Simulator) -> anyhow::Result<()> {
        let topic = topic(args)?;
        let client_id = match &args.mqtt.connection.client_id {
            Some(id) => id.clone(),
            None => format!("iotstream-simulate-{}", std::process::id()),
        };
        let publisher = Publisher::connect(broker, &client_id)?;
        let per_sensor = topic.contains("{state}") || topic.contains("{guid}");
        let parser = Parser::new(usize::MAX);
        let pacer = args.rate.map(Pacer::new);
        let started = Instant::now();
        let bar = progress::readings(args.count);
        let mut line = Vec::with_capacity(256);
        while simulator.produced() < args.count {
            let n = next_batch(pacer.as_ref(), simulator.produced(), args.count);
            for _ in 0..n {
                line.clear();
                simulator.next_line(&mut line);
                let whole = line.strip_suffix(b"\n").unwrap_or(&line);
                let (to, payload) = match per_sensor {
                    false => (topic.clone(), whole.to_vec()),
                    true => small(&parser, &topic, whole)?,
                };
                publisher.publish(&to, args.mqtt.qos, payload).context("the MQTT connection closed")?;
            }
            bar.inc(n);
        }
        bar.finish_and_clear();
        let expected = if args.mqtt.qos == 0 { 0 } else { args.count };
        let complete = publisher.finish(expected, PATIENCE);
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            messages = args.count,
            seconds = format!("{seconds:.2}"),
            rate = format!("{:.0}/s", args.count as f64 / seconds.max(1e-9)),
            "published"
        );
        anyhow::ensure!(complete, "the MQTT broker did not acknowledge every message within {PATIENCE:?}");
        Ok(())
    }

    /// The topic: `--mqtt-topic`, or `--topic`.
    fn topic(args: &SimulateArgs) -> anyhow::Result<String> {
        #[cfg(feature = "kafka")]
        let kafka_topic = args.kafka.topic.clone();
        #[cfg(not(feature = "kafka"))]
        let kafka_topic = None;
        args.mqtt
            .topic
            .clone()
            .or(kafka_topic)
            .context("simulate --mqtt needs --mqtt-topic TOPIC (or --topic)")
    }

    /// A reading as a device on a structured topic sends it: its sensor's topic, and a small
    /// payload with the temperature and event time.
    fn small(parser: &Parser, pattern: &str, whole: &[u8]) -> anyhow::Result<(String, Vec<u8>)> {
        let reading =
            parser.parse(whole).map_err(|reason| anyhow::anyhow!("simulated reading rejected: {reason}"))?;
        let topic =
            pattern.replace("{state}", reading.state.as_str()).replace("{guid}", &reading.guid.as_str());
        let payload =
            format!(r#"{{"temperature":{},"eventTime":"{}"}}"#, reading.temperature, reading.event_time);
        Ok((topic, payload.into_bytes()))
    }
}
