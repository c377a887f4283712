//! `devokr`: run DevOKR on one machine.

use std::{
    io::{IsTerminal, Write},
    net::SocketAddr,
    process::ExitCode,
    time::Instant,
};

use clap::{Parser, Subcommand};
use devokr_cli::{
    demo::{self, Clients},
    import::vendored_cdnow,
    report::thousands,
    stack::{Addresses, DatabaseLocation, Stack},
};

#[derive(Debug, Parser)]
#[command(
    name = "devokr",
    version,
    about = "DevOKR on one machine: the services, and a demo on real data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Which service log events to print to stderr, in `RUST_LOG` syntax.
    #[arg(long, env = "LOG_FILTER", default_value = "warn", global = true)]
    log_filter: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the stack, load the CDNOW purchases, create the 1997-Q1 OKR and roadmap through
    /// the services' gRPC APIs, and print the report the services computed.
    Demo {
        /// Print the report as JSON instead of tables.
        #[arg(long)]
        json: bool,
        /// Use this PostgreSQL database instead of a throwaway local cluster.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
    /// Run the objectives, metrics and roadmap services until Ctrl-C.
    Dev {
        /// Where the objectives service listens.
        #[arg(long, default_value = "127.0.0.1:50051")]
        objectives: SocketAddr,
        /// Where the metrics service listens.
        #[arg(long, default_value = "127.0.0.1:50052")]
        metrics: SocketAddr,
        /// Where the roadmap service listens.
        #[arg(long, default_value = "127.0.0.1:50053")]
        roadmap: SocketAddr,
        /// Print the addresses as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Use this PostgreSQL database instead of a throwaway local cluster.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = devokr_platform::telemetry::TelemetryArgs {
        log_filter: cli.log_filter.clone(),
        log_format: devokr_platform::telemetry::LogFormat::Text,
    };
    if let Err(error) = devokr_platform::telemetry::init(&telemetry) {
        eprintln!("error: invalid --log-filter: {error:#}");
        return ExitCode::from(64);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Demo { json, database_url } => run_demo(json, database_url).await,
            Command::Dev {
                objectives,
                metrics,
                roadmap,
                json,
                database_url,
            } => {
                let addresses = Addresses {
                    objectives,
                    metrics,
                    roadmap,
                };
                run_dev(addresses, json, database_url).await
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Progress on stderr, so stdout carries only the report.
struct StderrProgress {
    started: Instant,
    interactive: bool,
}

impl StderrProgress {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            interactive: std::io::stderr().is_terminal(),
        }
    }
}

impl demo::Progress for StderrProgress {
    fn step(&self, what: &str) {
        eprintln!("[{:>5.1} s] {what}", self.started.elapsed().as_secs_f64());
    }

    fn imported(&self, done: usize, total: usize) {
        let line = format!(
            "[{:>5.1} s]   {} of {} purchases stored",
            self.started.elapsed().as_secs_f64(),
            thousands(done as i64),
            thousands(total as i64)
        );
        if self.interactive {
            eprint!("\r{line}");
            if done == total {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        } else if done == total || done % 20_000 < devokr_cli::import::BATCH_SIZE {
            eprintln!("{line}");
        }
    }
}

async fn run_demo(json: bool, database_url: Option<String>) -> anyhow::Result<()> {
    let progress = StderrProgress::new();
    let cdnow = vendored_cdnow()?;
    let stack = Stack::start(database_url, Addresses::any_free(), |step| {
        demo::Progress::step(&progress, step)
    })
    .await?;
    let outcome = async {
        let clients = Clients::connect(&stack.addresses)?;
        demo::run(&clients, &cdnow, &progress).await
    }
    .await;
    demo::Progress::step(&progress, "stopping the services");
    let stopped = stack.stop().await;
    let report = outcome?;
    stopped?;
    demo::Progress::step(&progress, "done");
    let mut stdout = std::io::stdout().lock();
    if json {
        writeln!(stdout, "{}", report.to_json()?)?;
    } else {
        write!(stdout, "{}", report.to_text())?;
    }
    Ok(())
}

async fn run_dev(
    addresses: Addresses,
    json: bool,
    database_url: Option<String>,
) -> anyhow::Result<()> {
    let shutdown = devokr_platform::shutdown::on_signal()?;
    let progress = StderrProgress::new();
    let stack = Stack::start(database_url, addresses, |step| {
        demo::Progress::step(&progress, step)
    })
    .await?;
    let services = [
        (
            "objectives",
            stack.addresses.objectives,
            devokr_objectives::SERVICE_NAME,
        ),
        (
            "metrics",
            stack.addresses.metrics,
            devokr_metrics::SERVICE_NAME,
        ),
        (
            "roadmap",
            stack.addresses.roadmap,
            devokr_roadmap::SERVICE_NAME,
        ),
    ];
    let database = match stack.database {
        DatabaseLocation::External => "the database DATABASE_URL names".to_owned(),
        DatabaseLocation::Local { port } => {
            format!("throwaway PostgreSQL at 127.0.0.1:{port}, database devokr (removed on exit)")
        }
    };
    if json {
        let value = serde_json::json!({
            "services": services.iter().map(|(name, address, service)| serde_json::json!({
                "name": name, "address": address.to_string(), "grpc_service": service,
            })).collect::<Vec<_>>(),
            "database": database,
        });
        println!("{value}");
    } else {
        println!("DevOKR is running; Ctrl-C stops it.\n");
        println!("{:<12}{:<18}gRPC service", "Service", "Address");
        for (name, address, service) in services {
            println!("{name:<12}{:<18}{service}", address.to_string());
        }
        println!("\nDatabase: {database}");
        println!(
            "Health and reflection on every address, e.g. grpcurl -plaintext {} list",
            stack.addresses.objectives
        );
    }
    shutdown.cancelled().await;
    demo::Progress::step(&progress, "stopping");
    stack.stop().await?;
    demo::Progress::step(&progress, "stopped; a throwaway database is removed");
    Ok(())
}
