//! `iotstream`: parses the command line, runs the command, and maps errors to exit codes
//! (1 for a failed run, 2 for bad usage — clap's — and 0, quietly, when stdout is closed early).

use std::process::ExitCode;

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
    let outcome = commands::run(&cli, embedded);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if commands::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) if error.is::<commands::Refused>() => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
