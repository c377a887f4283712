//! The roadmap service: roadmap items, each tied to the key results it is meant to move.
//! Links are checked with the objectives service over gRPC; an item linked to no key result
//! is deferred, because shipping it would move nothing we measure.
//!
//! Layers: `grpc` (thin tonic handlers and wire conversions) → `app` (use cases) → `store`
//! (all SQL, in the `roadmap` schema only); `peers` holds the clients of other services.

pub mod app;
pub mod grpc;
pub mod peers;
pub mod store;

use clap::Parser;
use devokr_platform::server::{CommonArgs, ServiceConfig};
use devokr_proto::roadmap::v1::roadmap_service_server::RoadmapServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The name health checks and reflection use for this service.
pub const SERVICE_NAME: &str = "devokr.roadmap.v1.RoadmapService";

/// Configuration of the roadmap service, from flags and environment.
#[derive(Debug, Clone, Parser)]
#[command(name = "devokr-roadmap", version, about = "DevOKR roadmap service")]
pub struct Config {
    #[command(flatten)]
    pub common: CommonArgs,
    /// URL of the objectives service, which every key-result link is checked against.
    #[arg(
        long,
        env = "ROADMAP_OBJECTIVES_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub objectives_url: String,
}

impl ServiceConfig for Config {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

/// Serves the roadmap service on `listener` until `shutdown` fires.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let objectives_channel = devokr_platform::client::lazy_channel(&config.objectives_url)?;
    devokr_platform::server::serve_with_database(
        &config.common,
        SERVICE_NAME,
        &store::MIGRATOR,
        listener,
        shutdown,
        |pool, _migrated| {
            let app = app::RoadmapApp::new(
                store::RoadmapStore::new(pool),
                peers::ObjectivesClient::new(objectives_channel),
            );
            Ok(tonic::service::Routes::new(RoadmapServiceServer::new(
                grpc::RoadmapGrpc::new(app),
            )))
        },
    )
    .await
}
