//! The gRPC server every service runs: its routes plus `grpc.health.v1` and server
//! reflection (v1 and v1alpha), NOT_SERVING until the service is ready, and a graceful
//! shutdown that drains in-flight calls within a bounded time.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    process::ExitCode,
    task::{Context, Poll},
    time::Duration,
};

use clap::{Args, Parser};
use futures::TryStreamExt;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::CancellationToken;
use tonic::{
    service::Routes,
    transport::{
        Server,
        server::{Connected, TcpConnectInfo, TcpIncoming},
    },
};
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{db::DatabaseArgs, telemetry::TelemetryArgs};

/// Server settings shared by every service.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Address the gRPC server listens on.
    #[arg(long, env = "GRPC_LISTEN_ADDR", default_value = "0.0.0.0:50051")]
    pub listen: SocketAddr,
    /// Longest a call may run, in seconds; a shorter client deadline wins.
    #[arg(long, env = "GRPC_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// After SIGTERM, how long in-flight calls may take to finish, in seconds.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 20)]
    pub shutdown_timeout_secs: u64,
}

/// Everything a service binary is configured with besides its own settings.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

impl CommonArgs {
    /// Settings for a service run inside another process (the local stack, tests): listen
    /// on `listen`, use `database_url`, and default everything else.
    pub fn in_process(listen: SocketAddr, database_url: &str) -> Self {
        Self {
            server: ServerArgs {
                listen,
                request_timeout_secs: 60,
                shutdown_timeout_secs: 10,
            },
            database: DatabaseArgs {
                database_url: database_url.to_owned(),
                db_max_connections: 8,
                db_acquire_timeout_secs: 10,
            },
            telemetry: TelemetryArgs {
                log_filter: String::new(),
                log_format: crate::telemetry::LogFormat::Text,
            },
        }
    }
}

/// A service's configuration: its common part and its own settings.
pub trait ServiceConfig: Parser {
    /// The settings every service has.
    fn common(&self) -> &CommonArgs;
}

/// The `main` of a service binary: parse flags and environment, start logging, bind the
/// listener, run until SIGINT or SIGTERM and exit 0 once drained.
pub fn main<C, F, Fut>(run: F) -> ExitCode
where
    C: ServiceConfig,
    F: FnOnce(C, TcpListener, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let config = C::parse();
    if let Err(error) = crate::telemetry::init(&config.common().telemetry) {
        eprintln!("error: invalid logging settings: {error:#}");
        return ExitCode::from(64);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let address = config.common().server.listen;
        let listener = TcpListener::bind(address)
            .await
            .map_err(|error| anyhow::anyhow!("cannot listen on {address}: {error}"))?;
        let shutdown = crate::shutdown::on_signal()?;
        run(config, listener, shutdown).await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "service stopped");
            ExitCode::FAILURE
        }
    }
}

/// One gRPC service to serve: its fully qualified name (as health checks name it) and routes.
#[derive(Debug)]
pub struct GrpcService {
    /// For example `devokr.metrics.v1.MetricsService`.
    pub name: &'static str,
    /// The tonic routes of the service.
    pub routes: Routes,
}

/// How long a stopping service waits for its database connections to close.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How often a ready service re-checks its dependencies for its health status.
const PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// Serves `service` on `listener` until `shutdown` fires.
///
/// Health reports NOT_SERVING, for the whole server (`""`) and for the service, until
/// `readiness` (typically: database reachable and migrated) completes, then SERVING; after
/// that it follows `probe` (typically: the database answers), so a replica whose database is
/// gone stops receiving traffic. On shutdown it reports NOT_SERVING again, stops accepting
/// connections and waits up to `server.shutdown_timeout_secs` for in-flight calls to finish.
pub async fn serve<P, PFut>(
    server: &ServerArgs,
    listener: TcpListener,
    service: GrpcService,
    readiness: impl Future<Output = anyhow::Result<()>>,
    probe: P,
    shutdown: CancellationToken,
) -> anyhow::Result<()>
where
    P: Fn() -> PFut,
    PFut: Future<Output = bool>,
{
    let local_addr = listener.local_addr()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    set_status(&health, service.name, ServingStatus::NotServing).await;

    let routes = service
        .routes
        .add_service(health_service)
        .add_service(reflection(service.name).build_v1()?)
        .add_service(reflection(service.name).build_v1alpha()?);
    let stop_serving = CancellationToken::new();
    let serving = tokio::spawn(
        Server::builder()
            .timeout(Duration::from_secs(server.request_timeout_secs))
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            // Recycling connections lets HTTP/2 clients spread over new replicas; the grace
            // period lets in-flight calls finish.
            .max_connection_age(Duration::from_secs(600))
            .max_connection_age_grace(Duration::from_secs(30))
            .add_routes(routes)
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener)
                    .with_nodelay(Some(true))
                    .map_ok(Coalescing),
                stop_serving.clone().cancelled_owned(),
            ),
    );
    tracing::info!(service = service.name, address = %local_addr, "listening");

    // Shutdown first: a readiness attempt cut short by shutdown is a clean stop, not a failure.
    let ready = tokio::select! {
        biased;
        () = shutdown.cancelled() => None,
        result = readiness => Some(result),
    };
    let startup_error = match ready {
        Some(Ok(())) => {
            set_status(&health, service.name, ServingStatus::Serving).await;
            tracing::info!(service = service.name, "ready");
            follow_probe(&health, service.name, probe, &shutdown).await;
            None
        }
        Some(Err(_)) if shutdown.is_cancelled() => None,
        Some(Err(error)) => Some(error),
        None => None,
    };

    set_status(&health, service.name, ServingStatus::NotServing).await;
    stop_serving.cancel();
    let drain = Duration::from_secs(server.shutdown_timeout_secs);
    match tokio::time::timeout(drain, serving).await {
        Ok(joined) => joined??,
        Err(_) => tracing::warn!(
            timeout_secs = drain.as_secs(),
            "in-flight calls did not finish in time; stopping anyway"
        ),
    }
    match startup_error {
        Some(error) => Err(error.context(format!("{} could not become ready", service.name))),
        None => {
            tracing::info!(service = service.name, "stopped");
            Ok(())
        }
    }
}

/// Keeps health in step with `probe` until shutdown, logging each change.
async fn follow_probe<P, PFut>(
    health: &HealthReporter,
    service_name: &str,
    probe: P,
    shutdown: &CancellationToken,
) where
    P: Fn() -> PFut,
    PFut: Future<Output = bool>,
{
    let mut serving = true;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(PROBE_INTERVAL) => {}
        }
        let healthy = tokio::select! {
            () = shutdown.cancelled() => return,
            healthy = probe() => healthy,
        };
        if healthy != serving {
            serving = healthy;
            if healthy {
                tracing::info!(service = service_name, "dependencies answer again: serving");
                set_status(health, service_name, ServingStatus::Serving).await;
            } else {
                tracing::warn!(
                    service = service_name,
                    "dependencies do not answer: not serving"
                );
                set_status(health, service_name, ServingStatus::NotServing).await;
            }
        }
    }
}

/// An accepted connection that tells HTTP/2 it has no vectored writes, so that answers from
/// many calls leave in one write.
///
/// Over a connection with vectored writes, h2 hands every DATA payload of more than 256 bytes
/// to the kernel as a slice of its own, and buffers nothing more until that slice is written:
/// each answer of a few hundred bytes (a key result's status) then costs a system call of its
/// own, and its trailers another. Without them, h2 copies payloads of up to 1 KiB into its
/// write buffer, where the frames of every call that is ready go out together. Copying a few
/// hundred bytes is far cheaper than a write on loopback or a virtual NIC.
struct Coalescing(TcpStream);

impl Connected for Coalescing {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.0.connect_info()
    }
}

impl AsyncRead for Coalescing {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

// `poll_write_vectored` and `is_write_vectored` keep their defaults: no vectored writes.
impl AsyncWrite for Coalescing {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

fn reflection(service_name: &'static str) -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(devokr_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name(service_name)
        .with_service_name("grpc.health.v1.Health")
}

async fn set_status(health: &HealthReporter, service_name: &str, status: ServingStatus) {
    health.set_service_status("", status).await;
    health.set_service_status(service_name, status).await;
}

/// Runs a service backed by its own schema: a lazy pool on `common.database`, readiness once
/// the database answers and `migrator` has run, and the pool closed after the last call.
pub async fn serve_with_database(
    common: &CommonArgs,
    service_name: &'static str,
    migrator: &'static sqlx::migrate::Migrator,
    listener: TcpListener,
    shutdown: CancellationToken,
    routes: impl FnOnce(sqlx::PgPool, Migrated) -> anyhow::Result<Routes>,
) -> anyhow::Result<()> {
    let pool = crate::db::lazy_pool(&common.database, service_name)?;
    let migrated = Migrated::default();
    let service = GrpcService {
        name: service_name,
        routes: routes(pool.clone(), migrated.clone())?,
    };
    let readiness = async {
        crate::db::wait_and_migrate(&pool, migrator, &shutdown).await?;
        migrated.0.cancel();
        Ok(())
    };
    let probe = || crate::db::answers(&pool);
    let served = serve(
        &common.server,
        listener,
        service,
        readiness,
        probe,
        shutdown.clone(),
    )
    .await;
    // Closing waits for connection attempts still under way (say, to a database that never
    // came up); a stopping service does not wait on them for long.
    if tokio::time::timeout(POOL_CLOSE_TIMEOUT, pool.close())
        .await
        .is_err()
    {
        tracing::warn!(
            service = service_name,
            "database connections did not close in time"
        );
    }
    served
}

/// Tells background work of a service that its schema is migrated, so it starts only then.
#[derive(Debug, Clone, Default)]
pub struct Migrated(CancellationToken);

impl Migrated {
    /// Waits until the service's migrations have run.
    pub async fn wait(&self) {
        self.0.cancelled().await;
    }
}

/// A service running as a task of this process, as the local stack and tests run them.
#[derive(Debug)]
pub struct InProcess {
    /// The service's gRPC name, for example `devokr.metrics.v1.MetricsService`.
    pub name: &'static str,
    /// Where it listens.
    pub address: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    /// Spawns `run(listener, shutdown)`, the service's `run` with its configuration bound.
    pub fn spawn<Fut>(
        name: &'static str,
        listener: TcpListener,
        run: impl FnOnce(TcpListener, CancellationToken) -> Fut,
    ) -> anyhow::Result<Self>
    where
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let address = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(listener, shutdown.clone()));
        Ok(Self {
            name,
            address,
            shutdown,
            task,
        })
    }

    /// The URL clients use.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A channel to the service.
    pub fn channel(&self) -> anyhow::Result<tonic::transport::Channel> {
        crate::client::lazy_channel(&self.url())
    }

    /// Waits until health reports the service SERVING.
    pub async fn wait_until_serving(&self, timeout: Duration) -> anyhow::Result<()> {
        crate::client::wait_until_serving(self.channel()?, self.name, timeout).await
    }

    /// Shuts the service down as SIGTERM would and waits for it to drain.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task
            .await
            .map_err(anyhow::Error::from)
            .and_then(|result| result)
            .map_err(|error| error.context(format!("{} failed", self.name)))
    }
}
