//! `--config FILE`: a TOML file for everything the flags set, and `generate-config`, which prints a
//! commented one with every setting and its default.
//!
//! The flags are the schema. A section per subcommand (`[analyze]`, `[demo]`, …) holds settings
//! named like the subcommand's long flags (`max-delay = "5s"`, `once = true`,
//! `kafka-option = ["security.protocol=SSL"]`); settings at the top level apply to every subcommand
//! that has such a flag (brokers and topics shared by `simulate` and `analyze`, say). Flags given on
//! the command line win over the file. Positional arguments (`simulate`'s count) stay on the
//! command line.
//!
//! Every problem in the file (unknown sections and settings, wrong types, values a flag would
//! reject) is reported at once, before anything starts; a setting is checked with the very parser
//! its flag uses, so the file and the command line can never disagree on what is valid.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{ArgAction, CommandFactory as _, FromArgMatches as _};

use crate::cli::{Cli, NamedQuery, DEFAULT_HTTP};

/// Environment variable naming a config file when `--config` is not given.
pub const CONFIG_ENV: &str = "IOTSTREAM_CONFIG";

/// Subcommands whose settings a config file may hold.
const SECTIONS: &[&str] = &["simulate", "analyze", "demo", "produce", "group", "bridge", "history"];

/// What the command line (and config file) asked for.
#[derive(Debug)]
pub struct Invocation {
    /// The parsed command line, config settings included.
    pub cli: Cli,
    /// True for `iotstream` with no subcommand: the demo with its default dashboard, which is
    /// skipped with a warning when its port is taken.
    pub embedded: bool,
}

/// Why the command line could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A usage error, help or version: clap formats and exits.
    #[error(transparent)]
    Usage(#[from] clap::Error),
    /// The config file could not be read or parsed as TOML.
    #[error("cannot read config file {path}: {message}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Everything wrong with the config file's settings.
    #[error("config file {path} has {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// One line per problem.
        problems: Vec<String>,
    },
}

/// Parses `argv`, applying the config file if `--config` (or [`CONFIG_ENV`]) names one.
pub fn parse(argv: Vec<OsString>) -> Result<Invocation, ConfigError> {
    let split = Split::of(&argv);
    let config = split.config.clone().or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from));
    let embedded = split.subcommand.is_none() && !split.asks_for_help_or_version();
    let subcommand = split.subcommand.clone().unwrap_or_else(|| "demo".into());
    // The file's flags come first, so the command line's own flags override them. A build
    // without Kafka or MQTT lacks some of the sections' subcommands.
    let mut command = SECTIONS.iter().fold(Cli::command().args_override_self(true), |c, name| {
        if c.find_subcommand(name).is_none() {
            return c;
        }
        c.mut_subcommand(name, |s| s.args_override_self(true))
    });
    let mut full = split.globals.clone();
    if embedded || split.subcommand.is_some() {
        full.push(subcommand.clone());
    }
    // The dashboard, where the build has one (without it, the demo prints to the console).
    if embedded && cfg!(feature = "http") {
        full.extend(["--http".into(), DEFAULT_HTTP.into()]);
    }
    if let (Some(path), true) = (&config, embedded || split.subcommand.is_some()) {
        let table = read(path)?;
        let name = subcommand.to_string_lossy().into_owned();
        full.extend(
            settings_as_flags(&mut command, &name, &table)
                .map_err(|problems| ConfigError::Invalid { path: path.clone(), problems })?,
        );
    }
    full.extend(split.rest.iter().cloned());
    let matches = command.try_get_matches_from_mut(full)?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
    // The file was read here, and its path taken off the command line: kept for the commands
    // that read more of it (`query check` reads its [[query]] tables).
    cli.config = config;
    Ok(Invocation { cli, embedded })
}

/// The command line in three parts: global flags, the subcommand, and what follows it.
#[derive(Debug, Default)]
struct Split {
    /// Program name and global flags before the subcommand (`--config` removed).
    globals: Vec<OsString>,
    subcommand: Option<OsString>,
    rest: Vec<OsString>,
    config: Option<PathBuf>,
}

impl Split {
    /// Splits at the first word that is not a flag. The only global flag with a value is
    /// `--config`; `-v` and `-q` take none.
    fn of(argv: &[OsString]) -> Split {
        let mut split = Split::default();
        let mut words = argv.iter();
        split.globals.extend(words.next().cloned());
        let mut positional_only = false;
        while let Some(word) = words.next() {
            let text = word.to_string_lossy();
            if positional_only {
                split.rest.push(word.clone());
            } else if text == "--config" {
                split.config = words.next().map(PathBuf::from);
            } else if let Some(path) = text.strip_prefix("--config=") {
                split.config = Some(PathBuf::from(path));
            } else if split.subcommand.is_some() {
                positional_only = text == "--";
                split.rest.push(word.clone());
            } else if text.starts_with('-') && text != "-" && text != "--" {
                split.globals.push(word.clone());
            } else {
                split.subcommand = Some(word.clone());
            }
        }
        split
    }

    fn asks_for_help_or_version(&self) -> bool {
        self.globals
            .iter()
            .skip(1)
            .any(|w| ["-h", "--help", "-V", "--version"].contains(&&*w.to_string_lossy()))
    }
}

/// The SQL queries of a config file (`path`, if any): its `[[query]]` tables and the `query`
/// lists of its top level and `[analyze]` section, for `iotstream query check`.
pub fn file_queries(path: Option<&Path>) -> Result<Vec<NamedQuery>, ConfigError> {
    let Some(path) = path else { return Ok(Vec::new()) };
    let table = read(path)?;
    let analyze = table.get("analyze").and_then(toml::Value::as_table).and_then(|t| t.get("query"));
    let mut queries = Vec::new();
    let mut problems = Vec::new();
    for (place, value) in [("query", table.get("query")), ("[analyze] query", analyze)] {
        let items = match value {
            Some(toml::Value::Array(items)) => items.as_slice(),
            Some(single) => std::slice::from_ref(single),
            None => continue,
        };
        for item in items {
            let text = match item {
                toml::Value::Table(t) => query_table(place, t),
                toml::Value::String(s) => Ok(s.clone()),
                other => Err(format!("{place}: expected a [[query]] table, found {}", other.type_str())),
            };
            match text.and_then(|text| NamedQuery::parse(&text).map_err(|why| format!("{place}: {why}"))) {
                Ok(query) => queries.push(query),
                Err(problem) => problems.push(problem),
            }
        }
    }
    match problems.is_empty() {
        true => Ok(queries),
        false => Err(ConfigError::Invalid { path: path.to_owned(), problems }),
    }
}

fn read(path: &Path) -> Result<toml::Table, ConfigError> {
    let unreadable = |message: String| ConfigError::Unreadable { path: path.to_owned(), message };
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
    text.parse::<toml::Table>().map_err(|e| unreadable(e.to_string()))
}

/// Turns the settings that apply to `subcommand` into flags, checking every setting in the file
/// (other sections included) and returning every problem found.
fn settings_as_flags(
    command: &mut clap::Command,
    subcommand: &str,
    table: &toml::Table,
) -> Result<Vec<OsString>, Vec<String>> {
    let mut found = Found { subcommand, flags: Vec::new(), problems: Vec::new() };
    command.build();
    for (key, value) in table {
        match value {
            toml::Value::Table(section) if SECTIONS.contains(&key.as_str()) => {
                let Some(sub) = command.find_subcommand(key) else { continue };
                for (setting, value) in section {
                    found.add(sub, to_flags(sub, &format!("[{key}] {setting}"), setting, value));
                }
            }
            toml::Value::Table(_) => {
                found.problems.push(format!("unknown section [{key}] (sections: {})", SECTIONS.join(", ")))
            }
            _ => found.top_level(command, key, value),
        }
    }
    match found.problems.is_empty() {
        true => Ok(found.flags),
        false => Err(found.problems),
    }
}

/// The flags a file's settings become for one subcommand, and every problem with them.
struct Found<'s> {
    subcommand: &'s str,
    flags: Vec<OsString>,
    problems: Vec<String>,
}

impl Found<'_> {
    /// What one setting of `sub`'s became: its flags, if `sub` is the subcommand run, or a
    /// problem (reported once, whichever subcommand finds it first).
    fn add(&mut self, sub: &clap::Command, outcome: Result<Vec<OsString>, String>) {
        match outcome {
            Ok(args) if sub.get_name() == self.subcommand => self.flags.extend(args),
            Ok(_) => {}
            Err(problem) if !self.problems.contains(&problem) => self.problems.push(problem),
            Err(_) => {}
        }
    }

    /// A top-level setting: for every subcommand that has the flag.
    fn top_level(&mut self, command: &clap::Command, key: &str, value: &toml::Value) {
        let owners: Vec<&clap::Command> = SECTIONS
            .iter()
            .filter_map(|s| command.find_subcommand(s))
            .filter(|s| find(s, key).is_some_and(|arg| takes_top_level(key, arg)))
            .collect();
        if owners.is_empty() {
            self.problems.push(unknown(command, None, key));
        }
        for sub in owners {
            self.add(sub, to_flags(sub, key, key, value));
        }
    }
}

/// Whether a top-level setting applies to a subcommand's flag `arg`: top-level `[[query]]`
/// tables are SQL queries (`analyze`, `demo`), not the one query name `history --query` reads.
fn takes_top_level(key: &str, arg: &clap::Arg) -> bool {
    key != "query" || matches!(arg.get_action(), ArgAction::Append)
}

/// The flag a setting names (`max-delay` or `max_delay`), if it is one a file may set.
fn find<'a>(sub: &'a clap::Command, setting: &str) -> Option<&'a clap::Arg> {
    let long = setting.replace('_', "-");
    sub.get_arguments().find(|arg| arg.get_long() == Some(long.as_str()) && settable(arg))
}

/// Flags a file may set: not help or version, not hidden test switches, not positionals.
fn settable(arg: &clap::Arg) -> bool {
    arg.get_long().is_some()
        && !arg.is_hide_set()
        && !arg.is_global_set()
        && !matches!(
            arg.get_action(),
            ArgAction::Help | ArgAction::Version | ArgAction::HelpLong | ArgAction::HelpShort
        )
}

/// One setting as command-line words, or what is wrong with it.
fn to_flags(
    sub: &clap::Command,
    place: &str,
    setting: &str,
    value: &toml::Value,
) -> Result<Vec<OsString>, String> {
    let Some(arg) = find(sub, setting) else { return Err(unknown(sub, Some(place), setting)) };
    let flag = format!("--{}", arg.get_long().unwrap_or(setting));
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return match value {
            toml::Value::Boolean(true) => Ok(vec![flag.into()]),
            toml::Value::Boolean(false) => Ok(Vec::new()),
            other => Err(format!("{place}: expected true or false, found {}", other.type_str())),
        };
    }
    let many = matches!(arg.get_action(), ArgAction::Append);
    let values: Vec<&toml::Value> = match value {
        toml::Value::Array(items) if many => items.iter().collect(),
        toml::Value::Array(_) => return Err(format!("{place}: takes one value, not a list")),
        single => vec![single],
    };
    let mut words = Vec::new();
    for value in values {
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(x) => x.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Table(table) if arg.get_long() == Some("query") => query_table(place, table)?,
            other => {
                return Err(format!("{place}: expected a string or a number, found {}", other.type_str()))
            }
        };
        check_value(arg, &text).map_err(|why| format!("{place} = {value}: {why}"))?;
        words.extend([OsString::from(&flag), OsString::from(text)]);
    }
    Ok(words)
}

/// A `[[query]]` table (`name`, `sql`) as the `--query` flag's `NAME=SQL`.
fn query_table(place: &str, table: &toml::Table) -> Result<String, String> {
    let text = |key: &str| match table.get(key) {
        Some(toml::Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("{place}: {key} must be a string, found {}", other.type_str())),
        None => Err(format!("{place}: a [[query]] needs `name` and `sql`")),
    };
    if let Some(key) = table.keys().find(|k| !["name", "sql"].contains(&k.as_str())) {
        return Err(format!("{place}: unknown key `{key}` in [[query]] (it has `name` and `sql`)"));
    }
    Ok(format!("{}={}", text("name")?, text("sql")?))
}

/// Runs the flag's own value parser on `text`: the flag alone, in a command of its own, so that
/// other flags' requirements do not get in the way.
fn check_value(arg: &clap::Arg, text: &str) -> Result<(), String> {
    let values: Vec<String> = arg.get_possible_values().iter().map(|v| v.get_name().to_owned()).collect();
    if !values.is_empty() && !values.iter().any(|v| v == text) {
        return Err(format!("must be one of {}", values.join(", ")));
    }
    let alone = clap::Arg::new("value").long("value").value_parser(arg.get_value_parser().clone());
    let words = [OsStr::new("--value"), OsStr::new(text)];
    clap::Command::new("check").no_binary_name(true).arg(alone).try_get_matches_from(words).map(drop).map_err(
        |e| {
            // clap's message is "error: invalid value 'x' for '--value <value>': why\n\nFor more…"; keep the why.
            let message = e.to_string();
            let line = message.lines().next().unwrap_or_default();
            line.split_once("': ").map_or(line, |(_, why)| why).to_owned()
        },
    )
}

/// "unknown setting", with the closest flag's name when one is close.
fn unknown(sub: &clap::Command, place: Option<&str>, setting: &str) -> String {
    let names: Vec<&str> = sub
        .get_subcommands()
        .flat_map(|s| s.get_arguments())
        .chain(sub.get_arguments())
        .filter(|a| settable(a))
        .filter_map(|a| a.get_long())
        .collect();
    let close = names
        .iter()
        .copied()
        .min_by_key(|name| distance(name, setting))
        .filter(|n| distance(n, setting) <= 2);
    let place = place.map_or_else(|| setting.to_owned(), str::to_owned);
    match close {
        Some(name) => format!("{place}: unknown setting (did you mean `{name}`?)"),
        None => format!("{place}: unknown setting"),
    }
}

/// Levenshtein distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// A commented config file with every setting of every subcommand, at its default.
pub fn generate() -> String {
    let mut command = Cli::command();
    command.build();
    let mut out = String::from(
        "# iotstream configuration. Use with `iotstream --config FILE SUBCOMMAND` (or IOTSTREAM_CONFIG=FILE).\n\
         # Every setting is a long flag of the subcommand whose section it is in; flags on the command line\n\
         # win over this file. Settings above the first section apply to every subcommand that has them.\n\
         # Each setting below is commented out at its default: uncomment to change it.\n\
         # SQL queries (analyze, demo) are tables at the top level, one per query:\n\
         #   [[query]]\n\
         #   name = \"hot\"\n\
         #   sql = \"SELECT state, max(payload.data.temperature) AS t FROM readings GROUP BY state\"\n",
    );
    for name in SECTIONS {
        let Some(sub) = command.find_subcommand(name) else { continue };
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let _ = write!(out, "\n[{name}]\n# {about}\n");
        for arg in sub.get_arguments().filter(|a| settable(a)) {
            describe(&mut out, arg);
        }
    }
    out
}

/// One setting: its help as comments, then `# key = default`.
fn describe(out: &mut String, arg: &clap::Arg) {
    let Some(long) = arg.get_long() else { return };
    out.push('\n');
    let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
    for line in help.lines() {
        let _ = writeln!(out, "# {line}");
    }
    let possible: Vec<String> = arg.get_possible_values().iter().map(|v| v.get_name().to_owned()).collect();
    if !possible.is_empty() {
        let _ = writeln!(out, "# One of: {}.", possible.join(", "));
    }
    let defaults: Vec<String> =
        arg.get_default_values().iter().map(|v| toml_value(&v.to_string_lossy())).collect();
    match arg.get_action() {
        ArgAction::SetTrue => {
            let _ = writeln!(out, "# {long} = false");
        }
        ArgAction::Append => {
            let _ = writeln!(out, "# {long} = []");
        }
        _ if defaults.len() == 1 => {
            let _ = writeln!(out, "# {long} = {}", defaults[0]);
        }
        _ => {
            let _ = writeln!(out, "# {long} = (no default)");
        }
    }
}

/// A default as TOML: numbers bare, everything else a string.
fn toml_value(text: &str) -> String {
    if text.parse::<i64>().is_ok() || (text.parse::<f64>().is_ok_and(f64::is_finite) && text.contains('.')) {
        text.to_owned()
    } else {
        toml::Value::String(text.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests;
