//! Command-line interface: what each subcommand accepts. Parsing only; `commands` runs them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use iotstream_engine::units::parse_positive_duration;
use iotstream_engine::{EventTime, StateCode};

#[cfg(feature = "kafka")]
pub mod kafka;
pub mod queries;
mod windows;

pub use queries::{NamedQuery, QueryArgs, QueryCheckArgs};
pub use windows::{TimeMode, WindowArgs};

pub use crate::alerts::AlertArgs;
pub use crate::connectors::file::output::OutputArgs;
use crate::connectors::kafka::KafkaPublishArgs;
use crate::connectors::mqtt::MqttPublishArgs;
pub use crate::connectors::SinkArgs;
pub use crate::connectors::SourceArgs;
use crate::simulator::{Profile, SEED_FLEET_SIZE};
pub use crate::store::{StoreArgs, StoreUrl};

/// Real-time IoT sensor analytics: per-state temperature, message and sensor counts, live.
///
/// With no subcommand, runs the demo: the built-in sensor simulator feeding the engine, printing
/// the seed's console output every 3 seconds until Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "iotstream", version, propagate_version = true)]
pub struct Cli {
    /// What to do (default: demo).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// More log output on stderr (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less log output on stderr (-q warnings only, -qq errors only).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub quiet: u8,
    /// Settings from this TOML file (see `iotstream generate-config`); flags given here win.
    #[arg(long, global = true, value_name = "FILE", env = "IOTSTREAM_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
// Parsed once per run: the size of the largest command's flags costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Generate sensor readings in the seed's JSON format.
    Simulate(SimulateArgs),
    /// Compute the per-state analyses over a stream of readings.
    Analyze(AnalyzeArgs),
    /// The built-in simulator feeding the engine in-process, until Ctrl-C.
    Demo(DemoArgs),
    /// Send JSON lines to a Kafka topic, one message per line (like kafka-console-producer).
    #[cfg(feature = "kafka")]
    Produce(kafka::ProduceArgs),
    /// Show a scale-out group as its merge log tells it: partitions, owners, lag, watermarks,
    /// and which instance merges.
    #[cfg(feature = "kafka")]
    Group(kafka::GroupArgs),
    /// Forward an MQTT subscription to a Kafka topic, keyed by guid, acknowledging MQTT only once
    /// Kafka has the messages: a fleet on MQTT can then use everything iotstream does on Kafka.
    #[cfg(all(feature = "kafka", feature = "mqtt"))]
    Bridge(kafka::BridgeArgs),
    /// Print stored results (see --store): a time range, one state, as jsonl, console or csv.
    History(HistoryArgs),
    /// Print a commented config file with every setting at its default (for --config).
    GenerateConfig,
    /// Alert rules: `iotstream rules check FILE` reports every problem with its line.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// SQL queries: `iotstream query check SQL` prints what a query reads and computes, or why
    /// it is refused (exit 2).
    #[command(subcommand)]
    Query(QueryCommand),
}

/// `iotstream query …`.
#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// Plan a query (or the --query flags and the config file's `[[query]]` tables) and print
    /// the plan: fields read, time field, window, groups, aggregates, filter, having, columns.
    Check(QueryCheckArgs),
}

/// `iotstream rules …`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Read a rules file and report every problem at once, with line numbers (exit 1), or what
    /// the rules do.
    Check {
        /// The rules file (TOML).
        file: PathBuf,
    },
}

/// Options of the simulated fleet, shared by `simulate` and `demo`.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Simulator")]
pub struct FleetArgs {
    /// Seed for the random generator: the same seed gives the same readings (and, with --start,
    /// the same bytes).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Number of distinct sensors (the seed's guid scheme has 2,106; more extend it).
    #[arg(long, default_value_t = SEED_FLEET_SIZE, value_parser = clap::value_parser!(u32).range(1..))]
    pub sensors: u32,
    /// Which fleet: `seed` (the seed's temperature sensors, byte for byte) or `climate` (a mixed
    /// fleet of temperature, humidity and climate sensors: temperature, humidity, pressure,
    /// battery, the odd field missing or null).
    #[arg(long, value_enum, default_value_t = Profile::Seed)]
    pub profile: Profile,
    /// Emit readings out of event-time order, none displaced by more than this (the same
    /// readings as without it, only reordered).
    #[arg(long, value_parser = parse_positive_duration)]
    pub disorder: Option<Duration>,
    /// With --disorder: this fraction of readings is delayed 2–4 times beyond the bound (late data).
    #[arg(long, default_value_t = 0.0, requires = "disorder", value_parser = parse_ratio)]
    pub late_ratio: f64,
}

/// `iotstream simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Number of readings to generate.
    #[arg(default_value_t = 1)]
    pub count: u64,
    /// The simulated fleet.
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Event time of the first reading (RFC 3339); readings then follow a simulated clock instead
    /// of the wall clock.
    #[arg(long, value_parser = parse_time)]
    pub start: Option<EventTime>,
    /// Event-time step between readings on the simulated clock (e.g. 1ms, 2s); implies a simulated
    /// clock starting now when --start is not given.
    #[arg(long, value_parser = parse_positive_duration)]
    pub interval: Option<Duration>,
    /// Pace output at this many readings per second of real time (default: as fast as possible).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Write to this file instead of stdout.
    #[arg(long, short, conflicts_with_all = crate::connectors::kafka::BROKER_FLAGS)]
    pub output: Option<PathBuf>,
    /// MQTT broker to publish to, and how.
    #[command(flatten)]
    pub mqtt: MqttPublishArgs,
    /// Kafka connection and its settings, and the topic's partitions.
    #[command(flatten)]
    pub kafka: KafkaPublishArgs,
}

/// `iotstream analyze`: a source, the windows, the outputs, checkpoints and the dashboard, each
/// under its own heading in `--help`. Sources and sinks bring their own flags (see
/// [`SourceArgs`] and [`SinkArgs`]).
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(crate::connectors::input_flags()))]
pub struct AnalyzeArgs {
    /// Where readings come from.
    #[command(flatten)]
    pub source: SourceArgs,
    /// How results are cut.
    #[command(flatten)]
    pub windows: WindowArgs,
    /// SQL queries instead of the seed's analyses.
    #[command(flatten)]
    pub queries: QueryArgs,
    /// Where results go.
    #[command(flatten)]
    pub output: SinkArgs,
    /// Stats records.
    #[command(flatten)]
    pub stats: StatsArgs,
    /// Checkpoints.
    #[command(flatten)]
    pub checkpoints: CheckpointArgs,
    /// The dashboard.
    #[command(flatten)]
    pub http: HttpArgs,
    /// Alert rules and where their notifications go.
    #[command(flatten)]
    pub alerts: AlertArgs,
    /// The fault suite's deliberately broken engines (only in builds with `fault-injection`).
    #[command(flatten)]
    pub faults: crate::faults::FaultArgs,
}

/// `--state-dir` and its settings.
#[derive(Debug, Args)]
#[command(next_help_heading = "Checkpoints")]
pub struct CheckpointArgs {
    /// Keep checkpoints here (a local database): a run restarted with the same directory resumes
    /// from the last checkpoint with the same results as an uninterrupted run.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// How often to checkpoint (also at the end and on a clean stop).
    #[arg(long, default_value = "5s", value_parser = parse_positive_duration)]
    pub checkpoint_interval: Duration,
}

/// Stats records and the live views they carry: shared by `analyze` and `demo`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct StatsArgs {
    /// Sensors silent longer than this count as offline in stats records.
    #[arg(long, default_value = "60s", value_parser = parse_positive_duration)]
    pub offline_after: Duration,
    /// Emit a stats record (totals, rejections, late readings, offline sensors) this often, and
    /// at the end (default: every 3s with --time event, never otherwise).
    #[arg(long, value_parser = parse_positive_duration)]
    pub stats_every: Option<Duration>,
}

/// `iotstream demo` (also what `iotstream` alone runs).
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Readings per second from the built-in simulator.
    #[arg(long, default_value_t = 2000.0, value_parser = parse_rate)]
    pub rate: f64,
    /// The simulated fleet.
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// How results are cut.
    #[command(flatten)]
    pub windows: WindowArgs,
    /// SQL queries instead of the seed's analyses.
    #[command(flatten)]
    pub queries: QueryArgs,
    /// Where results go.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Stats records.
    #[command(flatten)]
    pub stats: StatsArgs,
    /// The dashboard.
    #[command(flatten)]
    pub http: HttpArgs,
    /// The results store (default: an SQLite file in the user's data directory).
    #[command(flatten)]
    pub store: StoreArgs,
    /// Alert rules and where their notifications go.
    #[command(flatten)]
    pub alerts: AlertArgs,
}

/// `iotstream history`: stored results read back.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The store to read: sqlite:PATH or postgres://USER@HOST:PORT/DB (default: the demo's SQLite
    /// file in the user's data directory).
    #[arg(long, value_name = "URL", value_parser = StoreUrl::from_arg)]
    pub store: Option<StoreUrl>,
    /// Windows ending at or after this time: RFC 3339, or a duration meaning that long ago (1h).
    #[arg(long, value_name = "TIME", value_parser = parse_time_or_ago)]
    pub from: Option<EventTime>,
    /// Windows ending at or before this time: RFC 3339, or a duration meaning that long ago.
    #[arg(long, value_name = "TIME", value_parser = parse_time_or_ago)]
    pub to: Option<EventTime>,
    /// Only this state's rows (e.g. CA); windows without readings from it are left out.
    #[arg(long, value_parser = parse_state)]
    pub state: Option<StateCode>,
    /// The rows of SQL query NAME (stored by `analyze --query NAME=SQL --store …`) instead of
    /// the seed's windows: as `analyze --format jsonl|console` wrote them, or CSV with a line
    /// per row.
    #[arg(long, value_name = "NAME", conflicts_with = "state")]
    pub query: Option<String>,
    /// Output format: jsonl (the schema `analyze --format jsonl` writes), console (the seed's
    /// blocks) or csv (one line per window and state).
    #[arg(long, value_enum, default_value_t = HistoryFormat::Jsonl)]
    pub format: HistoryFormat,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// How `iotstream history` prints results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryFormat {
    /// One JSON object per window, as `analyze --format jsonl` writes it.
    Jsonl,
    /// The seed's Spark `pprint` blocks.
    Console,
    /// A header, then one line per window and state.
    Csv,
}

/// Where `iotstream` alone serves its dashboard.
pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";

/// The live dashboard, JSON API and Prometheus metrics.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Dashboard")]
pub struct HttpArgs {
    /// Serve the live dashboard, its JSON API and Prometheus /metrics on this address (e.g.
    /// 127.0.0.1:8080; port 0 picks a free one). Any address other than loopback needs --http-token.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Bearer token required on every route but /healthz (at least 16 characters). A browser can
    /// open http://ADDR/?token=TOKEN once; a cookie carries it from then on.
    #[arg(long, env = "IOTSTREAM_HTTP_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub http_token: Option<String>,
    /// Requests per second the server admits on average (bursts of twice that); beyond, 429.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub http_rate_limit: u32,
}

impl Default for DemoArgs {
    /// What `iotstream` alone means: `iotstream demo` with its declared defaults (not a copy), and the
    /// dashboard on [`DEFAULT_HTTP`] where the build has one.
    fn default() -> Self {
        let dashboard = if cfg!(feature = "http") { &["--http", DEFAULT_HTTP][..] } else { &[] };
        match Cli::try_parse_from([&["iotstream", "demo"][..], dashboard].concat()).map(|cli| cli.command) {
            Ok(Some(Command::Demo(args))) => args,
            _ => unreachable!("`iotstream demo` parses: checked by cli_is_well_formed"),
        }
    }
}

fn parse_time(text: &str) -> Result<EventTime, String> {
    EventTime::parse_rfc3339(text.as_bytes())
        .ok_or_else(|| "not an RFC 3339 timestamp like 2016-11-16T13:26:39Z".to_string())
}

/// An RFC 3339 time, or a duration meaning that long before now (`1h` = an hour ago).
pub fn parse_time_or_ago(text: &str) -> Result<EventTime, String> {
    if let Some(time) = EventTime::parse_rfc3339(text.as_bytes()) {
        return Ok(time);
    }
    let ago = parse_positive_duration(text).map_err(|_| {
        "not an RFC 3339 time like 2016-11-16T13:26:39Z, nor a duration like 1h (that long ago)".to_string()
    })?;
    let micros = iotstream_engine::units::micros(ago);
    Ok(EventTime(crate::clock::wall_clock_now().as_micros().saturating_sub(micros)))
}

fn parse_state(text: &str) -> Result<StateCode, String> {
    StateCode::from_bytes(text.trim().to_ascii_uppercase().as_bytes())
        .ok_or_else(|| "not one of the 51 state codes (e.g. CA, TX, DC)".to_string())
}

fn parse_ratio(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err("must be a number from 0 to 1".into()),
    }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err("must be a positive number of readings per second".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use iotstream_engine::units::parse_duration;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
        assert_eq!(DemoArgs::default().windows.window, Duration::from_secs(3));
    }

    #[test]
    fn durations_read_as_every_flag_did() {
        assert_eq!(parse_positive_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_positive_duration("0s").is_err(), "--window and friends need more than nothing");
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO), "--max-delay may be zero");
        assert!(parse_time_or_ago("1h").is_ok_and(|t| t < crate::clock::wall_clock_now()));
    }
}
