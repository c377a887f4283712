//! Structured logs through `tracing`: human-readable by default, JSON for log collectors.

use clap::{Args, ValueEnum};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// Logging settings shared by every binary.
#[derive(Debug, Clone, Args)]
pub struct TelemetryArgs {
    /// Which events to log, in `RUST_LOG` syntax.
    #[arg(long, env = "LOG_FILTER", default_value = "info,sqlx=warn,h2=warn")]
    pub log_filter: String,
    /// How log lines are written.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// Installs the global subscriber; logs go to stderr so stdout stays for program output.
pub fn init(args: &TelemetryArgs) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&args.log_filter)?;
    let registry = tracing_subscriber::registry().with(filter);
    let writer = std::io::stderr;
    match args.log_format {
        LogFormat::Text => registry
            .with(fmt::layer().with_writer(writer).with_target(false))
            .try_init()?,
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(writer))
            .try_init()?,
    }
    Ok(())
}
