//! The database pool, schema migrations and the translation of database failures into
//! service errors.

use std::time::Duration;

use clap::Args;
use sqlx::{
    AssertSqlSafe, ConnectOptions, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio_util::sync::CancellationToken;

use crate::{error::ServiceError, request::RequestId};

/// Database settings shared by every service.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL, for example `postgres://user:password@host:5432/devokr`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Most connections this process keeps open.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
    /// How long a call waits for a free connection before failing as unavailable, in seconds.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 5)]
    pub db_acquire_timeout_secs: u64,
}

/// A pool that connects on first use, so a service can start before its database is up.
pub fn lazy_pool(args: &DatabaseArgs, application_name: &str) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = args
        .database_url
        .parse::<PgConnectOptions>()
        .map_err(|error| anyhow::anyhow!("DATABASE_URL is not a PostgreSQL URL: {error}"))?
        .application_name(application_name)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
    Ok(PgPoolOptions::new()
        .max_connections(args.db_max_connections)
        .acquire_timeout(Duration::from_secs(args.db_acquire_timeout_secs))
        .connect_lazy_with(options))
}

/// Waits until the database answers, then applies the service's migrations. Retries with
/// backoff while the database is unreachable, until `shutdown` fires.
pub async fn wait_and_migrate(
    pool: &PgPool,
    migrator: &Migrator,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(100);
    loop {
        match sqlx::query("SELECT 1").execute(pool).await {
            Ok(_) => break,
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                tokio::select! {
                    () = shutdown.cancelled() => anyhow::bail!("shut down before the database was reachable"),
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    migrator.run(pool).await?;
    Ok(())
}

/// Whether the database answers a trivial query within two seconds.
pub async fn answers(pool: &PgPool) -> bool {
    let query = sqlx::query("SELECT 1").execute(pool);
    matches!(
        tokio::time::timeout(Duration::from_secs(2), query).await,
        Ok(Ok(_))
    )
}

/// Translates a database failure into the service error a caller should see: the database
/// being unreachable or overloaded is retryable, a serialization conflict is a concurrent
/// change, and anything else is internal.
pub fn classify(error: sqlx::Error) -> ServiceError {
    match &error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            ServiceError::unavailable("database", error)
        }
        sqlx::Error::Database(database_error)
            if matches!(database_error.code().as_deref(), Some("40001" | "40P01")) =>
        {
            ServiceError::Aborted("a concurrent change conflicted with this one; retry".into())
        }
        _ => ServiceError::Internal(error.into()),
    }
}

/// Like [`classify`], for an insert of resource `name`: a unique-key violation means a
/// resource with that name exists already.
pub fn classify_insert(
    error: sqlx::Error,
    resource_type: &'static str,
    name: &impl ToString,
) -> ServiceError {
    match &error {
        sqlx::Error::Database(database_error) if database_error.is_unique_violation() => {
            ServiceError::AlreadyExists {
                resource_type,
                name: name.to_string(),
            }
        }
        _ => classify(error),
    }
}

/// Fails when the id of `request` was first used in `table` for a different request. The
/// table has `tenant`, `request_id` and `request_digest` columns; an id not used yet passes.
pub async fn check_retry(
    executor: impl sqlx::PgExecutor<'_>,
    table: &'static str,
    tenant: &str,
    request: &RequestId,
) -> Result<(), ServiceError> {
    let sql = format!("select request_digest from {table} where tenant = $1 and request_id = $2");
    let first: Option<Option<Vec<u8>>> = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(tenant)
        .bind(request.id)
        .fetch_optional(executor)
        .await
        .map_err(classify)?;
    match first {
        Some(first) => request.repeats(first.as_deref()),
        None => Ok(()),
    }
}
