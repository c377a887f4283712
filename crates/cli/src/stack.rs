//! The whole DevOKR stack in one process: a database (the one `DATABASE_URL` names, or a
//! throwaway local cluster) and the metrics, objectives and roadmap services, each on its
//! own listener and its own schema, exactly as they run when deployed apart.

use std::{net::SocketAddr, time::Duration};

use devokr_platform::{
    client::{lazy_channel, wait_until_serving},
    db::DatabaseArgs,
    local_postgres::LocalPostgres,
    server::{CommonArgs, ServerArgs},
    telemetry::{LogFormat, TelemetryArgs},
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// Where each service listens; port 0 picks a free one.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    pub objectives: SocketAddr,
    pub metrics: SocketAddr,
    pub roadmap: SocketAddr,
}

impl Addresses {
    /// Free ports on the loopback interface.
    pub fn any_free() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            objectives: any,
            metrics: any,
            roadmap: any,
        }
    }
}

/// A running stack. Stop it with [`Stack::stop`].
#[derive(Debug)]
pub struct Stack {
    /// The addresses the services listen on.
    pub addresses: Addresses,
    /// The database the services use.
    pub database: DatabaseLocation,
    shutdown: CancellationToken,
    services: Vec<(&'static str, JoinHandle<anyhow::Result<()>>)>,
    local_postgres: Option<LocalPostgres>,
}

/// Which database the stack runs on.
#[derive(Debug, Clone)]
pub enum DatabaseLocation {
    /// The one named by `DATABASE_URL`.
    External,
    /// A throwaway local cluster on this loopback port.
    Local { port: u16 },
}

impl Stack {
    /// Starts the database (unless `database_url` is given) and the three services, and
    /// waits until each reports SERVING. `on_step` hears about each slow step.
    pub async fn start(
        database_url: Option<String>,
        addresses: Addresses,
        mut on_step: impl FnMut(&str),
    ) -> anyhow::Result<Self> {
        let (database_url, local_postgres, database) = match database_url {
            Some(url) => (url, None, DatabaseLocation::External),
            None => {
                on_step("starting a throwaway PostgreSQL cluster");
                let cluster = LocalPostgres::start().await?;
                let url = cluster.create_database("devokr").await?;
                let port = cluster.port();
                (url, Some(cluster), DatabaseLocation::Local { port })
            }
        };

        on_step("starting the metrics, objectives and roadmap services");
        let metrics_listener = bind(addresses.metrics, "metrics").await?;
        let objectives_listener = bind(addresses.objectives, "objectives").await?;
        let roadmap_listener = bind(addresses.roadmap, "roadmap").await?;
        let addresses = Addresses {
            metrics: metrics_listener.local_addr()?,
            objectives: objectives_listener.local_addr()?,
            roadmap: roadmap_listener.local_addr()?,
        };
        let common = |listen: SocketAddr| CommonArgs {
            server: ServerArgs {
                listen,
                request_timeout_secs: 60,
                shutdown_timeout_secs: 10,
            },
            database: DatabaseArgs {
                database_url: database_url.clone(),
                db_max_connections: 8,
                db_acquire_timeout_secs: 10,
            },
            telemetry: TelemetryArgs {
                log_filter: String::new(),
                log_format: LogFormat::Text,
            },
        };

        let shutdown = CancellationToken::new();
        let services = vec![
            (
                devokr_metrics::SERVICE_NAME,
                tokio::spawn(devokr_metrics::run(
                    devokr_metrics::Config {
                        common: common(addresses.metrics),
                    },
                    metrics_listener,
                    shutdown.child_token(),
                )),
            ),
            (
                devokr_objectives::SERVICE_NAME,
                tokio::spawn(devokr_objectives::run(
                    devokr_objectives::Config {
                        common: common(addresses.objectives),
                        metrics_url: service_url(addresses.metrics),
                    },
                    objectives_listener,
                    shutdown.child_token(),
                )),
            ),
            (
                devokr_roadmap::SERVICE_NAME,
                tokio::spawn(devokr_roadmap::run(
                    devokr_roadmap::Config {
                        common: common(addresses.roadmap),
                        objectives_url: service_url(addresses.objectives),
                    },
                    roadmap_listener,
                    shutdown.child_token(),
                )),
            ),
        ];
        let stack = Self {
            addresses,
            database,
            shutdown,
            services,
            local_postgres,
        };
        if let Err(error) = stack.wait_until_ready().await {
            stack.stop().await.ok();
            return Err(error);
        }
        Ok(stack)
    }

    async fn wait_until_ready(&self) -> anyhow::Result<()> {
        let checks = [
            (self.addresses.metrics, devokr_metrics::SERVICE_NAME),
            (self.addresses.objectives, devokr_objectives::SERVICE_NAME),
            (self.addresses.roadmap, devokr_roadmap::SERVICE_NAME),
        ]
        .map(|(address, service)| async move {
            wait_until_serving(lazy_channel(&service_url(address))?, service, Duration::from_secs(60)).await
        });
        for result in futures::future::join_all(checks).await {
            result?;
        }
        Ok(())
    }

    /// Stops the services (draining in-flight calls), then the local database if any.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let mut first_error = None;
        for (service, handle) in self.services {
            let outcome = match handle.await {
                Ok(result) => result,
                Err(join_error) => Err(join_error.into()),
            };
            if let Err(error) = outcome {
                first_error.get_or_insert(error.context(format!("{service} failed")));
            }
        }
        if let Some(cluster) = self.local_postgres {
            tokio::task::spawn_blocking(move || drop(cluster)).await?;
        }
        first_error.map_or(Ok(()), Err)
    }
}

async fn bind(address: SocketAddr, service: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|error| anyhow::anyhow!("the {service} service cannot listen on {address}: {error}"))
}

/// The URL clients use for a service listening on `address`.
pub fn service_url(address: SocketAddr) -> String {
    format!("http://{address}")
}
