//! The metrics service: ingests customer events and evaluates customer metrics (activation,
//! retention, ...) over time windows, always with the counts behind each value.
//!
//! Layers: `grpc` (thin tonic handlers and wire conversions) → `app` (use cases on typed
//! models) → `store` (all SQL, in the `metrics` schema only).

pub mod app;
pub mod grpc;
pub mod store;

use clap::Parser;
use devokr_platform::{
    outbox::{self, ChangeFeed},
    server::{CommonArgs, ServiceConfig},
};
use devokr_proto::metrics::v1::metrics_service_server::MetricsServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The name health checks and reflection use for this service.
pub const SERVICE_NAME: &str = "devokr.metrics.v1.MetricsService";

/// Configuration of the metrics service, from flags and environment.
#[derive(Debug, Clone, Parser)]
#[command(name = "devokr-metrics", version, about = "DevOKR metrics service")]
pub struct Config {
    #[command(flatten)]
    pub common: CommonArgs,
}

impl ServiceConfig for Config {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

/// Serves the metrics service on `listener` until `shutdown` fires. The change feed (and its
/// hourly pruning) runs as long as the service; watches end when `shutdown` fires.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let service_shutdown = shutdown.clone();
    devokr_platform::server::serve_with_database(
        &config.common,
        SERVICE_NAME,
        &store::MIGRATOR,
        listener,
        shutdown,
        move |pool, _migrated| {
            let changes = ChangeFeed::start(
                pool.clone(),
                store::OUTBOX,
                outbox::POLL_INTERVAL,
                service_shutdown.clone(),
            );
            changes.spawn_pruning(outbox::PRUNE_INTERVAL, outbox::RETENTION);
            let app = app::MetricsApp::new(store::MetricsStore::new(pool), changes);
            Ok(tonic::service::Routes::new(
                MetricsServiceServer::new(grpc::MetricsGrpc::new(app, service_shutdown))
                    .max_decoding_message_size(grpc::MAX_MESSAGE_BYTES),
            ))
        },
    )
    .await
}
