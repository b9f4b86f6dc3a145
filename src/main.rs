//! The `pricepool` binary: read the configuration (flags, variables, the
//! config file), build the service, run
//! it until SIGINT/SIGTERM. A startup failure is one line on stderr and a
//! non-zero exit; a graceful shutdown exits 0.

use std::process::ExitCode;

use pricepool::app::{Application, StartupError};
use pricepool::config::{Cli, Command, LoadError};
use pricepool::shutdown::StopSignals;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_load() {
        Ok(cli) => cli,
        Err(LoadError::Config(error)) => {
            eprintln!("pricepool: cannot start: {}", StartupError::from(error));
            return ExitCode::FAILURE;
        }
        Err(LoadError::Args(error)) if !error.use_stderr() => {
            // --help and --version
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(LoadError::Args(error)) => {
            let rendered = error.to_string();
            let first_line = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!("pricepool: {}", first_line.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Healthcheck { timeout }) = cli.command {
        return match pricepool::healthcheck::check(cli.config.local_address(), timeout).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("pricepool: unhealthy: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let config = cli.config;
    pricepool::telemetry::init_tracing(config.log_format, &config.log);
    let signals = match StopSignals::install() {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("pricepool: cannot start: cannot install signal handlers: {error}");
            return ExitCode::FAILURE;
        }
    };
    let application = match Application::build(config).await {
        Ok(application) => application,
        Err(error) => {
            eprintln!("pricepool: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match application.run_until(signals.received()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pricepool: stopped with an error: {error}");
            ExitCode::FAILURE
        }
    }
}
