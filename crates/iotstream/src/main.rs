//! `iotstream`: parses the command line, runs the command, and maps errors to exit codes
//! (1 for a failed run, 2 for bad usage — clap's — and 0, quietly, when stdout is closed early).

use std::process::ExitCode;

use iotstream::cli::{Command, DemoArgs, RulesCommand};
use iotstream::config::{self, ConfigError, Invocation};
use iotstream::{commands, telemetry};

fn main() -> ExitCode {
    let Invocation { cli, embedded } = match config::parse(std::env::args_os().collect()) {
        Ok(invocation) => invocation,
        Err(ConfigError::Usage(error)) => error.exit(),
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(cli.verbose as i8 - cli.quiet as i8);
    let outcome = match &cli.command {
        Some(Command::Simulate(args)) => commands::simulate(args),
        Some(Command::Analyze(args)) => commands::analyze(args).map(drop),
        Some(Command::Demo(args)) => commands::demo(args, embedded).map(drop),
        #[cfg(feature = "kafka")]
        Some(Command::Produce(args)) => commands::kafka::produce(args),
        #[cfg(feature = "kafka")]
        Some(Command::Group(args)) => commands::kafka::group(args),
        #[cfg(all(feature = "kafka", feature = "mqtt"))]
        Some(Command::Bridge(args)) => iotstream::bridge::bridge(args),
        Some(Command::History(args)) => iotstream::history::history(args),
        Some(Command::Rules(RulesCommand::Check { file })) => {
            iotstream::alerts::check::check(file).map(|summary| print!("{summary}"))
        }
        Some(Command::GenerateConfig) => {
            print!("{}", config::generate());
            Ok(())
        }
        // Only without a config file: with one, the demo arrives as `Command::Demo` with its settings.
        None => commands::demo(&DemoArgs::default(), true).map(drop),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if commands::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
