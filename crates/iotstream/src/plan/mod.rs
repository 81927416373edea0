//! The run plan: every decision about a run of `analyze` or `demo`, taken once from the parsed
//! flags (and config file, which arrives as flags) before anything is opened or connected, and
//! never changed after: which analysis and operator, how parsing threads hand readings over,
//! which clocks tick, whether and where checkpoints go, the scale-out role, and the outputs.
//!
//! Deriving a plan does no I/O (the caller reads the rules file and hands in what it found), so
//! it is unit-tested on flags alone; every problem with the flags is reported at once
//! ([`Problems`]). The `analyze` and `demo` commands then open what the plan names, in one step.
//!
//! - `analysis`: the one place that decides what is computed and how results are cut.

mod analysis;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use iotstream_engine::alerts::{Alerts, Rule};
use iotstream_engine::parse::DEFAULT_MAX_LINE_BYTES;
use iotstream_engine::EventTime;

pub use analysis::{check_queries, operator_config, settings};

use crate::alerts::AlertArgs;
use crate::cli::{AnalyzeArgs, DemoArgs, FleetArgs, HttpArgs, NamedQuery, QueryArgs};
use crate::connectors::file::output::OutputArgs;
use crate::connectors::{SinkArgs, SourceArgs};
use crate::faults::Faults;
use crate::parallel;
use crate::pipeline::Settings;
use crate::scaleout;
use crate::simulator::{Clock, DisorderConfig, Profile, SimulatorConfig};
use crate::store::{self, StoreArgs, Target};

/// How often the dashboard gets a fresh status.
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// Every decision about one run.
#[derive(Clone, Debug)]
pub struct RunPlan {
    /// What the pipeline computes and its clocks (the analysis is decided in `analysis`).
    pub settings: Settings,
    /// Where readings come from.
    pub source: Source,
    /// What is read: as a checkpoint records it (a checkpoint resumes only the same input), and
    /// as the dashboard shows it.
    pub input: InputName,
    /// How input is parsed: on how many threads, and what they hand over.
    pub parsing: Parsing,
    /// `--state-dir`: checkpoints.
    pub checkpoints: Option<Checkpoints>,
    /// `--scale-out`: this instance's part in a group.
    pub scale_out: Option<scaleout::Role>,
    /// Where results go.
    pub outputs: Outputs,
    /// `--http`: the dashboard.
    pub dashboard: Option<Dashboard>,
    /// `--rules`: alert rules and their outputs.
    pub alerts: Option<AlertPlan>,
    /// A progress bar on a terminal while a file is read.
    pub progress: bool,
    /// The fault suite's deliberately broken engines (none, in a build without them).
    pub faults: Faults,
}

/// Where readings come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// What the source flags name: a file, stdin, Kafka or MQTT.
    Flags(Box<SourceArgs>),
    /// The built-in simulator, paced in real time (`demo`).
    Simulator {
        /// The fleet.
        config: SimulatorConfig,
        /// Readings per second.
        rate: f64,
    },
}

/// What is read, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputName {
    /// As checkpoints record it (`file:…`, `kafka:…`, `mqtt:…`).
    pub checkpoint: String,
    /// As the dashboard's header shows it.
    pub shown: String,
}

/// How input is parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsing {
    /// Threads asked for (0: one per core; 1: the pipeline parses).
    pub threads: usize,
    /// What parsing threads hand the pipeline.
    pub mode: parallel::Mode,
    /// How much of each message a source keeps: enough for the parser to see it is too large,
    /// and for a dead letter.
    pub keep_bytes: usize,
}

impl Parsing {
    /// The threads that parse: as asked, or one per core.
    pub fn threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// `--state-dir` and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoints {
    /// The state directory.
    pub dir: PathBuf,
    /// How often a checkpoint is saved (also at the end and on a clean stop).
    pub interval: Duration,
    /// Files the source keeps beside the checkpoints, which each checkpoint must find on disk.
    pub companions: Vec<PathBuf>,
}

/// Where results go.
#[derive(Clone, Debug)]
pub struct Outputs {
    /// Results on stdout or in a file.
    pub stream: OutputArgs,
    /// Every connector's outputs (`analyze`; `demo` writes to the stream and the store only).
    pub connectors: Option<SinkArgs>,
    /// The results store.
    pub store: Option<StorePlan>,
}

/// `--store` as decided.
#[derive(Clone, Debug)]
pub struct StorePlan {
    /// The database.
    pub target: Target,
    /// Delete results older than this.
    pub retention: Option<Duration>,
    /// A store nobody asked for (the demo's default): a failure to open it costs the history,
    /// not the run.
    pub optional: bool,
}

/// `--http` as decided.
#[derive(Clone, Debug)]
pub struct Dashboard {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The bearer token.
    pub token: Option<String>,
    /// Requests per second admitted.
    pub rate_limit: u32,
    /// A failure to listen is a warning, not an error (`iotstream` alone).
    pub optional: bool,
}

/// `--rules` as decided.
#[derive(Clone, Debug)]
pub struct AlertPlan {
    /// The alert flags (outputs, webhook settings).
    pub args: AlertArgs,
    /// The rules, read and checked.
    pub rules: Vec<Rule>,
    /// The alerts' allowed out-of-orderness (µs): the watermark's, in event time.
    pub delay: i64,
}

/// Everything wrong with the flags, one line each.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", list(.0))]
pub struct Problems(pub Vec<String>);

fn list(problems: &[String]) -> String {
    match problems {
        [one] => one.clone(),
        many => format!("{} problems:\n  - {}", many.len(), many.join("\n  - ")),
    }
}

/// Collects problems; each check that fails adds its message and gives `None`.
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    fn take<T, E: std::fmt::Display>(&mut self, outcome: Result<T, E>) -> Option<T> {
        outcome.map_err(|e| self.0.push(e.to_string())).ok()
    }

    /// A check that may find several problems.
    fn take_all<T>(&mut self, outcome: Result<T, Vec<String>>) -> Option<T> {
        outcome.map_err(|mut problems| self.0.append(&mut problems)).ok()
    }

    /// What every plan needs, once every check has passed.
    fn all(
        self,
        settings: Option<Settings>,
        dashboard: Option<Option<Dashboard>>,
        store: Option<Option<StorePlan>>,
        rules: Option<Option<Vec<Rule>>>,
    ) -> Result<Checked, Problems> {
        match (settings, dashboard, store, rules) {
            (Some(settings), Some(dashboard), Some(store), Some(rules)) if self.0.is_empty() => {
                Ok(Checked { settings, dashboard, store, rules })
            }
            _ => Err(Problems(self.0)),
        }
    }
}

/// What every plan needs, checked.
struct Checked {
    settings: Settings,
    dashboard: Option<Dashboard>,
    store: Option<StorePlan>,
    rules: Option<Vec<Rule>>,
}

impl RunPlan {
    /// The plan of `iotstream analyze`, with the rules file as read (`None` without `--rules`).
    pub fn analyze(
        args: &AnalyzeArgs,
        rules: Result<Option<Vec<Rule>>, String>,
    ) -> Result<RunPlan, Problems> {
        let mut checks = Checks::default();
        let source = &args.source;
        let settings = checks.take_all(settings(
            &args.windows,
            &args.queries,
            &args.stats,
            source.once,
            source.max_line_bytes,
        ));
        checks.take(without_rules(&args.queries, &args.alerts));
        let dashboard = checks.take(dashboard(&args.http, false));
        checks.take(source.check().map_err(|e| format!("{e:#}")));
        let scale_out = checks.take(scale_out(args)).flatten();
        let store = checks.take(analyze_store(&args.output.store));
        let rules = checks.take(rules);
        let checked = checks.all(settings, dashboard, store, rules)?;
        Ok(analyze_plan(args, checked, scale_out))
    }

    /// The plan of `iotstream demo`; `embedded` for `iotstream` alone, whose default dashboard is
    /// skipped (with a warning) rather than fatal when its port is taken.
    pub fn demo(
        args: &DemoArgs,
        rules: Result<Option<Vec<Rule>>, String>,
        embedded: bool,
    ) -> Result<RunPlan, Problems> {
        let mut checks = Checks::default();
        let max_line_bytes = DEFAULT_MAX_LINE_BYTES;
        let queries = demo_queries(&args.fleet, &args.queries);
        let settings = checks.take_all(settings(&args.windows, &queries, &args.stats, false, max_line_bytes));
        checks.take(without_rules(&queries, &args.alerts));
        let dashboard = checks.take(dashboard(&args.http, embedded));
        let store = checks.take(demo_store(&args.store));
        let rules = checks.take(rules);
        let Checked { settings, dashboard, store, rules } = checks.all(settings, dashboard, store, rules)?;
        let settings = adjusted(settings, false, &dashboard, &Duration::ZERO);
        let alerts = rules.map(|rules| alert_plan(&args.alerts, rules, &settings));
        let config = simulator_config(&args.fleet, Clock::Wall, None);
        Ok(RunPlan {
            // The generator's chunks are parsed by the pipeline itself.
            parsing: parsing(&settings, alerts.as_ref(), 1, DEFAULT_MAX_LINE_BYTES + 1),
            settings,
            source: Source::Simulator { config, rate: args.rate },
            input: InputName { checkpoint: "simulator".to_owned(), shown: "simulator".to_owned() },
            checkpoints: None,
            scale_out: None,
            outputs: Outputs { stream: args.output.clone(), connectors: None, store },
            dashboard,
            alerts,
            progress: false,
            faults: Faults::none(),
        })
    }
}

/// `analyze`'s plan, its flags checked.
fn analyze_plan(args: &AnalyzeArgs, checked: Checked, scale_out: Option<scaleout::Role>) -> RunPlan {
    let Checked { settings, dashboard, store, rules } = checked;
    let source = &args.source;
    let interval = args.checkpoints.checkpoint_interval;
    let settings = adjusted(settings, scale_out.is_some(), &dashboard, &interval);
    let output = args.output.stream.output.as_deref();
    let alerts = rules.map(|rules| alert_plan(&args.alerts, rules, &settings));
    let checkpoints = args.checkpoints.state_dir.as_ref().map(|dir| Checkpoints {
        dir: dir.clone(),
        interval,
        companions: source.companions(dir),
    });
    RunPlan {
        parsing: parsing(&settings, alerts.as_ref(), source.threads, keep_bytes(args)),
        faults: Faults::new(&args.faults, output, settings.operator())
            .with_alerts(args.alerts.alerts_output.as_deref()),
        settings,
        source: Source::Flags(Box::new(source.clone())),
        input: input_name(source),
        checkpoints,
        scale_out,
        outputs: Outputs { stream: args.output.stream.clone(), connectors: Some(args.output.clone()), store },
        dashboard,
        alerts,
        // A file read with --once or into a result file gets a progress bar (on a terminal): its
        // results are printed only at the end, or elsewhere, so the bar never interleaves with
        // them.
        progress: source.once || output.is_some(),
    }
}

/// What `source` reads, by name.
fn input_name(source: &SourceArgs) -> InputName {
    let shown = match (source.kafka_topic(), source.mqtt_name()) {
        (Some(topic), _) => format!("kafka:{topic}"),
        (None, Some(mqtt)) => mqtt,
        (None, None) => "file".to_owned(),
    };
    InputName { checkpoint: source.name(), shown }
}

/// `analyze --store`: none unless asked for.
fn analyze_store(args: &StoreArgs) -> Result<Option<StorePlan>, store::StoreError> {
    let target = args.target(None)?;
    Ok(target.map(|target| StorePlan { target, retention: args.store_retention, optional: false }))
}

/// The settings as the rest of the plan makes them: the dashboard's status clock; with scale-out,
/// windows per owned partition completing into shares, saved every checkpoint interval.
fn adjusted(
    mut settings: Settings,
    scale_out: bool,
    dashboard: &Option<Dashboard>,
    interval: &Duration,
) -> Settings {
    if dashboard.is_some() {
        settings.status_every = Some(STATUS_EVERY);
    }
    if scale_out {
        settings.analysis = analysis::shares(settings.analysis);
        settings.save_every = Some(*interval);
    }
    settings
}

/// What parsing threads hand the pipeline: readings in input order where order matters (event
/// time: watermarks and lateness), where each reading updates the per-sensor table (stats
/// records, the status, sensor lookups), or where sensor alert rules judge readings one by one;
/// partial aggregates, merged in any order, otherwise. Queries: each message's extracted fields
/// (records), in input order, which the ordered stage counts for every query.
fn parsing(settings: &Settings, alerts: Option<&AlertPlan>, threads: usize, keep_bytes: usize) -> Parsing {
    let one_by_one = alerts.is_some_and(|a| Alerts::new(a.rules.clone(), a.delay).wants_readings());
    let partials = settings.operator().takes_partials() && !settings.tracks_sensors();
    let mode = match (settings.analysis.queries(), partials && !one_by_one) {
        (Some(_), _) => parallel::Mode::Records,
        (None, true) => parallel::Mode::Aggregate,
        (None, false) => parallel::Mode::Ordered,
    };
    Parsing { threads, mode, keep_bytes }
}

/// `--rules` judges the seed's results and readings: not queries' rows (yet).
fn without_rules(queries: &crate::cli::QueryArgs, alerts: &AlertArgs) -> Result<(), String> {
    match (queries.queries.is_empty(), &alerts.rules) {
        (false, Some(_)) => Err("--rules does not work with --query yet: alert rules judge the seed's \
                                 analyses (drop one of them)"
            .into()),
        _ => Ok(()),
    }
}

/// `--rules`: the alerts' event-time clock allows the same out-of-orderness as the watermark.
fn alert_plan(args: &AlertArgs, rules: Vec<Rule>, settings: &Settings) -> AlertPlan {
    AlertPlan { args: args.clone(), rules, delay: analysis::max_delay(settings.operator()) }
}

/// How much of each message a source keeps: enough for the parser to see it is too large, and
/// for a dead letter.
fn keep_bytes(args: &AnalyzeArgs) -> usize {
    args.source.max_line_bytes.saturating_add(1).max(args.output.dead_letter_max_bytes())
}

/// `--http` settings that would be refused when the server starts.
fn dashboard(http: &HttpArgs, optional: bool) -> Result<Option<Dashboard>, String> {
    let Some(addr) = http.http else { return Ok(None) };
    let dashboard =
        Dashboard { addr, token: http.http_token.clone(), rate_limit: http.http_rate_limit, optional };
    check_dashboard(&dashboard).map(|()| Some(dashboard))
}

/// What the dashboard would refuse (everything, in a build without one).
fn check_dashboard(dashboard: &Dashboard) -> Result<(), String> {
    crate::dashboard::check(dashboard.addr, dashboard.token.as_deref()).map_err(|e| format!("{e:#}"))
}

/// The demo's store: `--store`, else an SQLite file in the user's data directory, which may fail
/// to open without ending the demo.
fn demo_store(args: &StoreArgs) -> Result<Option<StorePlan>, store::StoreError> {
    let target = args.target(store::default_target())?;
    Ok(target.map(|target| StorePlan {
        target,
        retention: args.store_retention,
        optional: args.store.is_none(),
    }))
}

/// `--scale-out`: its role, if asked for, after checking it goes with what it needs.
fn scale_out(args: &AnalyzeArgs) -> Result<Option<scaleout::Role>, String> {
    if !scaleout::requested(args)? {
        return Ok(None);
    }
    let operator = operator_config(&args.windows)?;
    let windows = analysis::windows_of(&operator).ok_or("--scale-out needs --time event")?;
    Ok(Some(scaleout::Role { group: args.source.kafka_group().unwrap_or_default(), windows }))
}

/// What `demo --profile climate` asks of its mixed fleet when no `--query` is given: the seed's
/// question (temperature by state) is only one of a mixed fleet's, and these show the others
/// (every format's own fields, a sketch, distinct counts, a filter) in windows short enough to
/// see at once.
pub const CLIMATE_EXAMPLES: [(&str, &str); 3] = [
    (
        "formats",
        "SELECT payload.format AS format, count(*) AS readings, count(DISTINCT guid) AS sensors, \
         avg(payload.data.temperature) AS avg_temperature, \
         approx_percentile(payload.data.humidity, 0.95) AS p95_humidity \
         FROM readings GROUP BY tumble(interval '10 seconds'), payload.format ORDER BY format",
    ),
    (
        "warm",
        "SELECT state, count(*) AS readings, max(payload.data.temperature) AS hottest \
         FROM readings WHERE payload.data.temperature > 70 \
         GROUP BY tumble(interval '10 seconds'), state ORDER BY hottest DESC",
    ),
    (
        "battery",
        "SELECT count(DISTINCT guid) AS sensors, min(payload.data.battery) AS lowest, \
         avg(payload.data.battery) AS average FROM readings WHERE payload.data.battery IS NOT NULL \
         GROUP BY tumble(interval '10 seconds')",
    ),
];

/// The demo's queries: those given, else the climate fleet's examples, else none (the seed's).
fn demo_queries(fleet: &FleetArgs, given: &QueryArgs) -> QueryArgs {
    if fleet.profile != Profile::Climate || !given.queries.is_empty() {
        return given.clone();
    }
    let examples =
        CLIMATE_EXAMPLES.iter().map(|(name, sql)| NamedQuery { name: (*name).into(), sql: (*sql).into() });
    QueryArgs { queries: examples.collect(), ..given.clone() }
}

/// The simulated fleet of `simulate` and `demo`.
pub fn simulator_config(fleet: &FleetArgs, clock: Clock, count: Option<u64>) -> SimulatorConfig {
    let disorder = fleet.disorder.map(|bound| DisorderConfig {
        bound_micros: iotstream_engine::units::micros(bound),
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

/// The clock of `simulate`: simulated from `--start` (or now) in steps of `--interval` (or 1 ms)
/// when either is given, else the wall clock.
pub fn simulated_clock(start: Option<EventTime>, interval: Option<Duration>, now: EventTime) -> Clock {
    if start.is_none() && interval.is_none() {
        return Clock::Wall;
    }
    Clock::Simulated {
        start: start.unwrap_or(now),
        interval_micros: iotstream_engine::units::micros(interval.unwrap_or(Duration::from_millis(1))),
    }
}
