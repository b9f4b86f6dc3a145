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
    let log = pricepool::telemetry::init_tracing(config.log_format, &config.log);
    let outcome = serve(config).await;
    // Writes the queued log lines before the failure line, so it stays last.
    drop(log);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("pricepool: {line}");
            ExitCode::FAILURE
        }
    }
}

/// Builds the service and serves until a stop signal; a failure is the
/// one line to print.
async fn serve(config: pricepool::config::Config) -> Result<(), String> {
    let signals = StopSignals::install()
        .map_err(|error| format!("cannot start: cannot install signal handlers: {error}"))?;
    let application = Application::build(config)
        .await
        .map_err(|error| format!("cannot start: {error}"))?;
    application
        .run_until(signals.received())
        .await
        .map_err(|error| format!("stopped with an error: {error}"))
}
