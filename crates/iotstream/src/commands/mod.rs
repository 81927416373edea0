//! The subcommands, one file each: what each does with its parsed arguments. This folder and
//! `main` are the only places where errors are `anyhow`: below here every module says what went
//! wrong with a type of its own.
//!
//! `analyze` and `demo` derive a run plan (`crate::plan`) and open what it names (`open`).

mod analyze;
#[cfg(all(feature = "kafka", feature = "mqtt"))]
mod bridge;
mod common;
mod demo;
#[cfg(feature = "kafka")]
mod group;
mod history;
mod open;
#[cfg(feature = "kafka")]
mod produce;
mod query;
mod rules;
#[cfg(feature = "http")]
mod serve;
#[cfg(not(feature = "http"))]
#[path = "serve_absent.rs"]
mod serve;
mod simulate;

pub use analyze::analyze;
pub use common::is_broken_pipe;
pub use demo::demo;
pub use query::Refused;

use crate::cli::{Cli, Command, DemoArgs, QueryCommand, RulesCommand};
use crate::config;

/// Runs the command `cli` names; `embedded` for `iotstream` with no subcommand.
pub fn run(cli: &Cli, embedded: bool) -> anyhow::Result<()> {
    match &cli.command {
        Some(Command::Simulate(args)) => simulate::simulate(args),
        Some(Command::Analyze(args)) => analyze(args).map(drop),
        Some(Command::Demo(args)) => demo(args, embedded).map(drop),
        #[cfg(feature = "kafka")]
        Some(Command::Produce(args)) => produce::produce(args),
        #[cfg(feature = "kafka")]
        Some(Command::Group(args)) => group::group(args),
        #[cfg(all(feature = "kafka", feature = "mqtt"))]
        Some(Command::Bridge(args)) => bridge::bridge(args),
        Some(Command::History(args)) => history::history(args),
        Some(Command::Rules(RulesCommand::Check { file })) => {
            rules::check(file).map(|summary| print!("{summary}"))
        }
        Some(Command::Query(QueryCommand::Check(args))) => {
            let from_config = config::file_queries(cli.config.as_deref())?;
            query::check(args, from_config).map(|plans| print!("{plans}"))
        }
        Some(Command::GenerateConfig) => {
            print!("{}", config::generate());
            Ok(())
        }
        // Only without a config file: with one, the demo arrives as `Command::Demo` with its settings.
        None => demo(&DemoArgs::default(), true).map(drop),
    }
}
