//! Real PostgreSQL for tests: a fresh, empty database per test, on the server named by
//! `DATABASE_URL` or, when it is not set, on one throwaway cluster per test process.

use std::sync::OnceLock;

use anyhow::Context;
use sqlx::{Connection, PgConnection};

use crate::local_postgres::{LocalPostgres, PgBinaries};

/// A database that exists for one test and is dropped with it.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates an empty database with a unique name.
    pub async fn create() -> anyhow::Result<Self> {
        let admin_url = admin_url()?;
        let name = format!("devokr_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .with_context(|| format!("cannot connect to {admin_url}"))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let url = with_database(&admin_url, &name)?;
        Ok(Self {
            admin_url,
            name,
            url,
        })
    }

    /// The URL of the test's database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside the test's runtime, which cannot be blocked on; use a thread.
        let dropped = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                    .execute(&mut admin)
                    .await?;
                admin.close().await?;
                Ok(())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!(
                "warning: could not drop test database {}: {error:#}",
                self.name
            );
        }
    }
}

fn admin_url() -> anyhow::Result<String> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return Ok(url);
    }
    static CLUSTER: OnceLock<Result<LocalPostgres, String>> = OnceLock::new();
    let cluster = CLUSTER.get_or_init(|| {
        // Started outside any async runtime, from a thread of its own.
        std::thread::spawn(|| {
            PgBinaries::find()
                .and_then(|binaries| LocalPostgres::start_blocking(&binaries))
                .map_err(|error| format!("{error:#}"))
        })
        .join()
        .unwrap_or_else(|_| Err("starting PostgreSQL panicked".into()))
    });
    match cluster {
        Ok(cluster) => Ok(cluster.url("postgres")),
        Err(error) => anyhow::bail!("no DATABASE_URL and no local PostgreSQL: {error}"),
    }
}

fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url).with_context(|| format!("{url} is not a URL"))?;
    parsed.set_path(&format!("/{database}"));
    Ok(parsed.into())
}

/// Starts a service on a free loopback port and waits until it reports SERVING.
/// `run(listener, shutdown)` is the service's `run` with its configuration bound.
pub async fn start_service<Fut>(
    name: &'static str,
    run: impl FnOnce(tokio::net::TcpListener, tokio_util::sync::CancellationToken) -> Fut,
) -> anyhow::Result<crate::server::InProcess>
where
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let service = crate::server::InProcess::spawn(name, listener, run)?;
    service
        .wait_until_serving(std::time::Duration::from_secs(30))
        .await?;
    Ok(service)
}
