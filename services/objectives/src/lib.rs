//! The objectives service: cycles, objectives and key results, and how each key result is
//! doing. A key result bound to a metric gets its value from the metrics service over gRPC,
//! and its progress and health from the rules in `devokr-domain`.
//!
//! Layers: `grpc` (thin tonic handlers and wire conversions) → `app` (use cases) → `store`
//! (all SQL, in the `objectives` schema only); `peers` holds the clients of other services.

pub mod app;
pub mod grpc;
pub mod peers;
pub mod store;

use clap::Parser;
use devokr_platform::server::{CommonArgs, ServiceConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The name health checks and reflection use for this service.
pub const SERVICE_NAME: &str = "devokr.objectives.v1.ObjectivesService";

/// How often, in seconds, health is judged again by default.
pub const DEFAULT_REJUDGE_INTERVAL_SECS: f64 = 60.0;

/// Configuration of the objectives service, from flags and environment.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "devokr-objectives",
    version,
    about = "DevOKR objectives service"
)]
pub struct Config {
    #[command(flatten)]
    pub common: CommonArgs,
    /// URL of the metrics service, which key results bound to a metric read their value from.
    #[arg(
        long,
        env = "OBJECTIVES_METRICS_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub metrics_url: String,
    /// How often, in seconds, every key result's health is judged again, so that watchers
    /// hear of health that changed with the clock alone (a cycle that ended, a pace fallen
    /// behind).
    #[arg(long, env = "OBJECTIVES_REJUDGE_INTERVAL_SECS", default_value_t = DEFAULT_REJUDGE_INTERVAL_SECS)]
    pub rejudge_interval_secs: f64,
}

impl ServiceConfig for Config {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

/// Serves the objectives service on `listener` until `shutdown` fires.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let metrics_channel = devokr_platform::client::lazy_channel(&config.metrics_url)?;
    let rejudge_interval = std::time::Duration::try_from_secs_f64(config.rejudge_interval_secs)
        .ok()
        .filter(|interval| !interval.is_zero())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the re-judge interval must be a positive number of seconds, got {}",
                config.rejudge_interval_secs
            )
        })?;
    // Background work stops with the service.
    let background = shutdown.child_token();
    devokr_platform::server::serve_with_database(
        &config.common,
        SERVICE_NAME,
        &store::MIGRATOR,
        listener,
        shutdown,
        |pool, migrated| {
            let feed = devokr_platform::outbox::ChangeFeed::start(
                pool.clone(),
                store::OUTBOX,
                devokr_platform::outbox::POLL_INTERVAL,
                background.clone(),
            );
            feed.spawn_pruning(
                devokr_platform::outbox::PRUNE_INTERVAL,
                devokr_platform::outbox::RETENTION,
            );
            let app = app::ObjectivesApp::new(
                store::ObjectivesStore::new(pool),
                peers::MetricsClient::new(metrics_channel),
                feed,
            );
            app::spawn_background(&app, &background, migrated, rejudge_interval);
            Ok(grpc::ObjectivesGrpc::new(app, background).routes())
        },
    )
    .await
}
