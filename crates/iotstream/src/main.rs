//! `iotstream`: parses the command line, runs the command, and maps errors to exit codes
//! (1 for a failed run, 2 for bad usage — clap's — and 0, quietly, when stdout is closed early).

use std::process::ExitCode;

use clap::Parser as _;
use iotstream::cli::{Cli, Command, DemoArgs};
use iotstream::{commands, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.verbose as i8 - cli.quiet as i8);
    let outcome = match &cli.command {
        Some(Command::Simulate(args)) => commands::simulate(args),
        Some(Command::Analyze(args)) => commands::analyze(args).map(drop),
        Some(Command::Demo(args)) => commands::demo(args, false).map(drop),
        #[cfg(feature = "kafka")]
        Some(Command::Produce(args)) => commands::kafka::produce(args),
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
