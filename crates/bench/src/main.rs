//! `devokr-bench`: the benchmark of the objectives service's status API, in one run.
//!
//! It starts PostgreSQL (or uses `--database-url`), the metrics and objectives services and a
//! do-nothing gRPC server as separate processes, seeds a realistic data set through the API,
//! then measures `GetKeyResultStatus` against the do-nothing `Noop` (closed loop, same
//! concurrency), `GetKeyResultStatus` at half its maximum (open loop), and
//! `WatchKeyResultStatus` fan-out (10,000 streams: memory per stream and change delays).
//! Progress goes to stderr; the results go to stdout as a table, or as JSON with `--json`.
//!
//! Build the three binaries in release first; the benchmark finds the services next to itself:
//! `cargo build --release -p devokr-bench -p devokr-objectives -p devokr-metrics`.

mod load;
mod machine;
mod noop;
mod report;
mod seed;
mod stack;
mod watch;

use std::{
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::{Args, Parser, Subcommand};
use devokr_platform::{server::ServerArgs, telemetry::TelemetryArgs};
use devokr_proto::{bench::v1::NoopRequest, objectives::v1::GetKeyResultStatusRequest};

use crate::{
    load::{Encoded, LoadResult, Phase, connect},
    report::Results,
    stack::Stack,
};

/// The do-nothing method: what the server setup alone costs.
const NOOP: &str = "/devokr.bench.v1.NoopService/Noop";
/// The method under test.
const GET_STATUS: &str = "/devokr.objectives.v1.ObjectivesService/GetKeyResultStatus";
/// The warm-up of each closed-loop round after the first: the connections and the server
/// are warm by then, and 64 senders are all calling within a few milliseconds.
const ROUND_WARMUP: Duration = Duration::from_millis(250);
/// How long a thread spins on each core to find how often the machine stops it.
const MACHINE_SPIN: Duration = Duration::from_secs(2);
/// How long a thread sleeps and wakes to find how late the machine wakes it.
const MACHINE_NAPS: Duration = Duration::from_secs(2);

/// Benchmark of the DevOKR key-result status API: reads against a do-nothing RPC, an
/// open-loop latency run, and watch fan-out.
#[derive(Debug, Parser)]
#[command(name = "devokr-bench", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves the do-nothing `devokr.bench.v1.NoopService` with the services' server setup
    /// until SIGTERM. The benchmark starts it as a child process.
    #[command(hide = true)]
    ServeNoop {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        telemetry: TelemetryArgs,
    },
}

/// What to measure, and how hard.
#[derive(Debug, Clone, Args)]
struct Options {
    /// PostgreSQL database to use. Without it, a throwaway local cluster is started.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Calls in flight during the closed-loop runs (and most in flight in the open-loop run).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// HTTP/2 connections the load is spread over.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Measured seconds of each load: the closed loops' rounds share them.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Unmeasured seconds before each load run (and each round).
    #[arg(long, default_value_t = 1)]
    warmup_secs: u64,
    /// Rounds the closed loops of Noop and GetKeyResultStatus alternate in: many short ones
    /// spread the machine's changes of speed evenly over both.
    #[arg(long, default_value_t = 8)]
    rounds: usize,
    /// Objectives to seed.
    #[arg(long, default_value_t = 1_000)]
    objectives: usize,
    /// Key results per objective.
    #[arg(long, default_value_t = 5)]
    key_results_per_objective: usize,
    /// Check-ins of history per key result.
    #[arg(long, default_value_t = 6)]
    check_ins_per_key_result: usize,
    /// Concurrent WatchKeyResultStatus streams, each watching one key result.
    #[arg(long, default_value_t = 10_000)]
    watch_streams: usize,
    /// HTTP/2 connections the watch streams are spread over.
    #[arg(long, default_value_t = 40)]
    watch_connections: usize,
    /// Key results changed (one check-in each) while the streams watch.
    #[arg(long, default_value_t = 200)]
    changes: usize,
    /// Changes per second.
    #[arg(long, default_value_t = 50.0)]
    change_rate: f64,
    /// Print the results as one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::ServeNoop { server, telemetry }) = cli.command {
        return noop::main(&server, &telemetry);
    }
    let options = cli.options;
    if let Err(error) = validate(&options) {
        eprintln!("error: {error}");
        return ExitCode::from(64);
    }
    // The same runtime the services build: multi-threaded, one worker per core.
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    match runtime.block_on(run(&options)) {
        Ok(results) => {
            let run_time = started.elapsed();
            if options.json {
                println!("{:#}", report::json(&results, run_time));
            } else {
                print!("{}", report::table(&results, run_time));
            }
            // The numbers are the result even when a target is missed, but a watcher that
            // never heard of a change is a failure of the service.
            if results.watch.missing() > 0 {
                eprintln!(
                    "error: {} of {} expected watch deliveries never arrived",
                    results.watch.missing(),
                    results.watch.expected
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn validate(options: &Options) -> anyhow::Result<()> {
    let positive = [
        ("--concurrency", options.concurrency),
        ("--connections", options.connections),
        ("--duration-secs", usize::try_from(options.duration_secs)?),
        ("--rounds", options.rounds),
        ("--objectives", options.objectives),
        (
            "--key-results-per-objective",
            options.key_results_per_objective,
        ),
        ("--watch-streams", options.watch_streams),
        ("--watch-connections", options.watch_connections),
        ("--changes", options.changes),
    ];
    if let Some((flag, _)) = positive.iter().find(|(_, value)| *value == 0) {
        anyhow::bail!("{flag} must be at least 1");
    }
    let key_results = options.objectives * options.key_results_per_objective;
    if options.changes > key_results {
        anyhow::bail!(
            "--changes ({}) must not exceed the {key_results} key results: each change is on a distinct one",
            options.changes
        );
    }
    if options.change_rate <= 0.0 || !options.change_rate.is_finite() {
        anyhow::bail!("--change-rate must be positive");
    }
    Ok(())
}

/// Starts the stack, runs every phase and stops the stack again, also after a failure.
async fn run(options: &Options) -> anyhow::Result<Results> {
    stack::raise_open_file_limit()?;
    let stack = Stack::start(options.database_url.clone()).await?;
    let results = phases(&stack, options).await;
    let stopped = stack.stop().await;
    let results = results?;
    stopped?;
    Ok(results)
}

async fn phases(stack: &Stack, options: &Options) -> anyhow::Result<Results> {
    // The most connections the objectives server holds at once (load and watch), with room
    // for its database pool and its own files. Streams multiplex: they need no files.
    stack
        .objectives
        .check_open_file_limit(options.watch_connections + options.connections + 64)?;

    let seeded = seed::seed(
        &connect(&stack.objectives.url, options.connections).await?,
        &seed::Shape {
            objectives: options.objectives,
            key_results_per_objective: options.key_results_per_objective,
            check_ins_per_key_result: options.check_ins_per_key_result,
        },
    )
    .await?;

    let phase = Phase {
        warmup: Duration::from_secs(options.warmup_secs),
        duration: Duration::from_secs(options.duration_secs),
    };
    // The same client for both servers: the same channels setup, the same sender code.
    let noop_channels = connect(&stack.noop.url, options.connections).await?;
    let status_channels = connect(&stack.objectives.url, options.connections).await?;
    let noop_requests: Arc<[Encoded]> = Arc::new([Encoded::of(&NoopRequest {})]);
    let status_requests: Vec<GetKeyResultStatusRequest> = seeded
        .key_results
        .iter()
        .map(|name| load::status_request(name))
        .collect();
    let encoded_status_requests: Arc<[Encoded]> = status_requests.iter().map(Encoded::of).collect();
    let noop_senders = || {
        load::spread(&noop_channels, options.concurrency, |channel, index| {
            load::Unary::new(channel, NOOP, Arc::clone(&noop_requests), index as u64)
        })
    };
    let status_senders = || {
        load::spread(&status_channels, options.concurrency, |channel, index| {
            load::Unary::new(
                channel,
                GET_STATUS,
                Arc::clone(&encoded_status_requests),
                index as u64,
            )
        })
    };

    eprintln!(
        "machine at rest: spinning a thread on each core for {:?}, then sleeping {:?} at a time for {:?}",
        MACHINE_SPIN,
        machine::NAP,
        MACHINE_NAPS
    );
    let machine =
        tokio::task::spawn_blocking(|| machine::measure(MACHINE_SPIN, MACHINE_NAPS)).await??;

    eprintln!(
        "reading each of the {} key results once, so the server's status index is warm",
        status_requests.len()
    );
    load::warm_status_index(&status_channels, &status_requests, options.concurrency).await?;
    // Rounds in ABBA order: a drift of the machine's speed during the run (a busy neighbour
    // on the host) weighs on both methods alike.
    let round_length = phase.duration / u32::try_from(options.rounds)?;
    eprintln!(
        "closed loop: Noop and GetKeyResultStatus (key results chosen uniformly at random), \
         {} in flight over {} connections, in {} rounds of each, {:?} measured after a warm-up \
         of {:?} in the first round and {ROUND_WARMUP:?} in the others",
        options.concurrency, options.connections, options.rounds, round_length, phase.warmup
    );
    let (mut noop_runs, mut status_runs) = (Vec::new(), Vec::new());
    for index in 0..options.rounds {
        let order = if index % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        let round = Phase {
            warmup: if index == 0 {
                phase.warmup
            } else {
                ROUND_WARMUP
            },
            duration: round_length,
        };
        for noop_turn in order {
            let run = if noop_turn {
                load::closed_loop(&stack.noop, noop_senders(), round).await?
            } else {
                load::closed_loop(&stack.objectives, status_senders(), round).await?
            };
            let method = if noop_turn {
                "Noop"
            } else {
                "GetKeyResultStatus"
            };
            eprintln!(
                "  round {}/{}, {method:<18} {}",
                index + 1,
                options.rounds,
                run.summary()
            );
            if noop_turn {
                noop_runs.push(run);
            } else {
                status_runs.push(run);
            }
        }
    }
    let round_ratios = status_runs
        .iter()
        .zip(&noop_runs)
        .map(|(status, noop)| status.throughput() / noop.throughput())
        .collect();
    let noop = LoadResult::sum(noop_runs)?;
    let status = LoadResult::sum(status_runs)?;

    let rate = status.throughput() / 2.0;
    eprintln!("open loop: GetKeyResultStatus at {rate:.0} req/s (half the measured maximum)");
    let open = load::open_loop(&stack.objectives, status_senders(), rate, phase).await?;
    eprintln!("  {}", open.load.summary());
    // The control: what the stack alone gives at that rate on this machine.
    eprintln!("open loop: Noop at the same rate, for comparison");
    let open_noop = load::open_loop(&stack.noop, noop_senders(), rate, phase).await?;
    eprintln!("  {}", open_noop.load.summary());
    drop((noop_channels, status_channels));

    let watch = watch::run(
        &stack.objectives,
        &seeded.key_results,
        &watch::Plan {
            streams: options.watch_streams,
            connections: options.watch_connections,
            changes: options.changes,
            change_rate: options.change_rate,
        },
    )
    .await?;

    Ok(Results {
        settings: report::Settings {
            concurrency: options.concurrency,
            connections: options.connections,
            rounds: options.rounds,
            round_warmup: ROUND_WARMUP,
            phase,
        },
        seeded,
        machine,
        noop,
        status,
        round_ratios,
        open,
        open_noop,
        watch,
    })
}
