//! The metrics service: ingests customer events and evaluates customer metrics (activation,
//! retention, ...) over time windows, always with the counts behind each value.
//!
//! Layers: `grpc` (thin tonic handlers and wire conversions) → `app` (use cases on typed
//! models) → `store` (all SQL, in the `metrics` schema only).

pub mod app;
pub mod grpc;
pub mod store;

use clap::Parser;
use devokr_platform::server::{CommonArgs, ServiceConfig};
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

/// Serves the metrics service on `listener` until `shutdown` fires.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    devokr_platform::server::serve_with_database(
        &config.common,
        SERVICE_NAME,
        &store::MIGRATOR,
        listener,
        shutdown,
        |pool| {
            let app = app::MetricsApp::new(store::MetricsStore::new(pool));
            Ok(tonic::service::Routes::new(
                MetricsServiceServer::new(grpc::MetricsGrpc::new(app))
                    .max_decoding_message_size(grpc::MAX_MESSAGE_BYTES),
            ))
        },
    )
    .await
}
