//! The subcommands, one file each: what each does with its parsed arguments. This folder and
//! `main` are the only places where errors are `anyhow`: below here every module says what went
//! wrong with a type of its own.
//!
//! `analyze` and `demo` derive a run plan (`crate::plan`) and open what it names (`open`).

mod analyze;
#[cfg(all(feature = "kafka", feature = "mqtt"))]
mod bridge;
mod demo;
#[cfg(feature = "kafka")]
mod group;
mod history;
mod open;
#[cfg(feature = "kafka")]
mod produce;
mod rules;
mod simulate;

use std::io;
use std::time::Instant;

use anyhow::Context as _;

pub use analyze::analyze;
pub use demo::demo;

use crate::cli::{Cli, Command, DemoArgs, RulesCommand};
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
        Some(Command::GenerateConfig) => {
            print!("{}", config::generate());
            Ok(())
        }
        // Only without a config file: with one, the demo arrives as `Command::Demo` with its settings.
        None => demo(&DemoArgs::default(), true).map(drop),
    }
}

/// True if `error` is a closed stdout (`iotstream simulate | head`), which ends a run quietly.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Runs `future` to its end on a runtime of its own.
fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

/// Logs how many messages went out, how fast.
#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
fn report_rate(what: &str, messages: u64, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    let rate = messages as f64 / seconds.max(1e-9);
    tracing::info!(messages, seconds = format!("{seconds:.2}"), rate = format!("{rate:.0}/s"), "{what}");
}
