//! The whole DevOKR stack in one process: a database (the one `DATABASE_URL` names, or a
//! throwaway local cluster) and the metrics, objectives and roadmap services, each on its
//! own listener and its own schema, exactly as they run when deployed apart.

use std::{net::SocketAddr, time::Duration};

use devokr_platform::{
    local_postgres::LocalPostgres,
    server::{CommonArgs, InProcess},
};
use tokio::net::TcpListener;

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
    services: Vec<InProcess>,
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
        let common = |listen| CommonArgs::in_process(listen, &database_url);
        let metrics = devokr_metrics::Config {
            common: common(addresses.metrics),
        };
        let objectives = devokr_objectives::Config {
            common: common(addresses.objectives),
            metrics_url: service_url(addresses.metrics),
            rejudge_interval_secs: devokr_objectives::DEFAULT_REJUDGE_INTERVAL_SECS,
        };
        let roadmap = devokr_roadmap::Config {
            common: common(addresses.roadmap),
            objectives_url: service_url(addresses.objectives),
        };
        let mut stack = Self {
            addresses,
            database,
            services: Vec::with_capacity(3),
            local_postgres,
        };
        let spawned = [
            InProcess::spawn(
                devokr_metrics::SERVICE_NAME,
                metrics_listener,
                |listener, shutdown| devokr_metrics::run(metrics, listener, shutdown),
            ),
            InProcess::spawn(
                devokr_objectives::SERVICE_NAME,
                objectives_listener,
                |listener, shutdown| devokr_objectives::run(objectives, listener, shutdown),
            ),
            InProcess::spawn(
                devokr_roadmap::SERVICE_NAME,
                roadmap_listener,
                |listener, shutdown| devokr_roadmap::run(roadmap, listener, shutdown),
            ),
        ];
        let mut ready = Ok(());
        for service in spawned {
            match service {
                Ok(service) => stack.services.push(service),
                Err(error) => ready = Err(error),
            }
        }
        if ready.is_ok() {
            let checks = stack
                .services
                .iter()
                .map(|service| service.wait_until_serving(Duration::from_secs(60)));
            ready = futures::future::join_all(checks)
                .await
                .into_iter()
                .collect();
        }
        if let Err(error) = ready {
            stack.stop().await.ok();
            return Err(error);
        }
        Ok(stack)
    }

    /// Stops the services (draining in-flight calls), then the local database if any.
    pub async fn stop(self) -> anyhow::Result<()> {
        let stopped =
            futures::future::join_all(self.services.into_iter().map(InProcess::stop)).await;
        if let Some(cluster) = self.local_postgres {
            tokio::task::spawn_blocking(move || drop(cluster)).await?;
        }
        stopped.into_iter().collect()
    }
}

async fn bind(address: SocketAddr, service: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|error| {
        anyhow::anyhow!("the {service} service cannot listen on {address}: {error}")
    })
}

/// The URL clients use for a service listening on `address`.
pub fn service_url(address: SocketAddr) -> String {
    format!("http://{address}")
}
