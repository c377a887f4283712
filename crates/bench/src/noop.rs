//! The do-nothing `devokr.bench.v1.NoopService`, served the way every DevOKR service is
//! served (the same runtime, telemetry, `devokr_platform::server::serve` with health,
//! reflection and timeouts) in a process of its own, so that the gap between its throughput
//! and `GetKeyResultStatus`'s is what the objectives service's own work costs.

use std::process::ExitCode;

use devokr_platform::{
    server::{GrpcService, ServerArgs, serve},
    telemetry::TelemetryArgs,
};
use devokr_proto::bench::v1::{
    NoopRequest, NoopResponse,
    noop_service_server::{NoopService, NoopServiceServer, SERVICE_NAME},
};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status, service::Routes};

struct Noop;

#[tonic::async_trait]
impl NoopService for Noop {
    async fn noop(&self, _request: Request<NoopRequest>) -> Result<Response<NoopResponse>, Status> {
        Ok(Response::new(NoopResponse {}))
    }
}

/// The `serve-noop` subcommand: serves until SIGINT or SIGTERM, as the services'
/// `devokr_platform::server::main` does (which needs a database this server has no use for).
pub(crate) fn main(server: &ServerArgs, telemetry: &TelemetryArgs) -> ExitCode {
    if let Err(error) = devokr_platform::telemetry::init(telemetry) {
        eprintln!("error: invalid logging settings: {error:#}");
        return ExitCode::from(64);
    }
    let served = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(server)));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "noop server stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(server: &ServerArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(server.listen)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", server.listen))?;
    let shutdown = devokr_platform::shutdown::on_signal()?;
    let service = GrpcService {
        name: SERVICE_NAME,
        routes: Routes::new(NoopServiceServer::new(Noop)),
    };
    // Nothing to wait for and nothing to probe: serving as soon as it listens.
    serve(
        server,
        listener,
        service,
        async { Ok(()) },
        || async { true },
        shutdown,
    )
    .await
}
