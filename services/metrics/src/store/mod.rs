//! All SQL of the metrics service, against the `metrics` schema only.

use chrono::{DateTime, Duration, Utc};
use devokr_domain::{
    metric_reference::Ratio,
    names::{MetricName, TenantName},
};
use devokr_platform::{
    ServiceError, ServiceResult,
    db::{check_retry, classify, classify_insert},
    outbox,
};
use devokr_proto::prost_types;
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};

use crate::app::{Evaluation, Metric, MetricDefinition, NewEvent, NewMetric};

/// The metrics service's migrations; `sqlx.toml` keeps their table in the `metrics` schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The outbox of the metrics service's changes (see `devokr_platform::outbox`).
pub const OUTBOX: &str = "metrics.outbox";

/// What changed, as stored in a `metrics.outbox` row (the row has the tenant and version).
/// Prost-encoded: the tags are a storage format, so never renumber or reuse one.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricsChange {
    /// Event names whose data changed, sorted and distinct: the names of newly stored events,
    /// or the events a new metric is computed from.
    #[prost(string, repeated, tag = "1")]
    pub event_names: Vec<String>,
    /// When the change was made.
    #[prost(message, optional, tag = "2")]
    pub change_time: Option<prost_types::Timestamp>,
    /// Ids of metrics created by the change.
    #[prost(string, repeated, tag = "3")]
    pub created_metrics: Vec<String>,
}

/// Records `change` of `tenant` in the outbox, in the transaction of `connection`.
async fn record_change(
    connection: &mut PgConnection,
    tenant: &str,
    change: &MetricsChange,
) -> ServiceResult<i64> {
    outbox::append(connection, OUTBOX, tenant, change)
        .await
        .map_err(classify)
}

/// A query for metrics with the given `where` clause; a macro so the SQL stays a literal.
macro_rules! select_metric {
    ($condition:literal) => {
        concat!(
            "select tenant, metric_id, seq, display_name, definition, version, create_time
             from metrics.metric ",
            $condition
        )
    };
}

/// The metrics service's database.
#[derive(Debug, Clone)]
pub struct MetricsStore {
    pool: PgPool,
}

impl MetricsStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Inserts events in one statement and one transaction; events whose idempotency key is
    /// already stored (or repeated in the batch) are skipped. When at least one was stored,
    /// the transaction also records the change (the stored events' names) in the outbox.
    /// Returns how many were stored.
    pub async fn insert_events(
        &self,
        tenant: &TenantName,
        events: &[NewEvent],
        change_time: DateTime<Utc>,
    ) -> ServiceResult<u64> {
        let mut keys = Vec::with_capacity(events.len());
        let mut users = Vec::with_capacity(events.len());
        let mut names = Vec::with_capacity(events.len());
        let mut times = Vec::with_capacity(events.len());
        let mut properties = Vec::with_capacity(events.len());
        for event in events {
            keys.push(event.idempotency_key.as_str());
            users.push(event.user_id.as_str());
            names.push(event.event_name.as_str());
            times.push(event.occurred_at);
            properties.push(&event.properties);
        }
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let row = sqlx::query(
            "with stored as (
                 insert into metrics.event (tenant, idempotency_key, user_id, event_name, occurred_at, properties)
                 select $1, * from unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::jsonb[])
                 on conflict (tenant, idempotency_key) do nothing
                 returning event_name
             )
             select count(*) as stored,
                    coalesce(array_agg(distinct event_name order by event_name), '{}') as event_names
             from stored",
        )
        .bind(&tenant.tenant)
        .bind(&keys)
        .bind(&users)
        .bind(&names)
        .bind(&times)
        .bind(&properties)
        .fetch_one(&mut *transaction)
        .await
        .map_err(classify)?;
        let stored: i64 = row.try_get("stored").map_err(classify)?;
        if stored > 0 {
            let change = MetricsChange {
                event_names: row.try_get("event_names").map_err(classify)?,
                change_time: Some(devokr_proto::convert::timestamp(change_time)),
                created_metrics: Vec::new(),
            };
            record_change(&mut transaction, &tenant.tenant, &change).await?;
        }
        transaction.commit().await.map_err(classify)?;
        u64::try_from(stored).map_err(|error| ServiceError::Internal(error.into()))
    }

    /// Inserts a metric and records the change in the outbox, in one transaction; with a
    /// request id already used, returns the metric it created and records nothing. The
    /// second value says whether the metric was created by this call.
    pub async fn insert_metric(
        &self,
        new: &NewMetric,
        change_time: DateTime<Utc>,
    ) -> ServiceResult<(Metric, bool)> {
        let definition = serde_json::to_value(&new.definition)
            .map_err(|error| ServiceError::Internal(error.into()))?;
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let inserted = sqlx::query(
            "insert into metrics.metric
                 (tenant, metric_id, display_name, definition, request_id, request_digest)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (tenant, request_id) do nothing
             returning tenant, metric_id, seq, display_name, definition, version, create_time",
        )
        .bind(&new.name.tenant)
        .bind(&new.name.metric)
        .bind(&new.display_name)
        .bind(&definition)
        .bind(new.request_id.map(|request| request.id))
        .bind(new.request_id.map(|request| request.digest.to_vec()))
        .fetch_optional(&mut *transaction)
        .await
        .map_err(|error| classify_insert(error, "metric", &new.name))?;
        let (row, created) = match inserted {
            Some(row) => {
                let mut event_names = new.definition.event_names();
                event_names.sort_unstable();
                event_names.dedup();
                let change = MetricsChange {
                    event_names,
                    change_time: Some(devokr_proto::convert::timestamp(change_time)),
                    created_metrics: vec![new.name.metric.clone()],
                };
                record_change(&mut transaction, &new.name.tenant, &change).await?;
                (row, true)
            }
            None => {
                // Only a request id already used keeps a new row out.
                if let Some(request) = &new.request_id {
                    check_retry(
                        &mut *transaction,
                        "metrics.metric",
                        &new.name.tenant,
                        request,
                    )
                    .await?;
                }
                let row = sqlx::query(select_metric!("where tenant = $1 and request_id = $2"))
                    .bind(&new.name.tenant)
                    .bind(new.request_id.map(|request| request.id))
                    .fetch_one(&mut *transaction)
                    .await
                    .map_err(classify)?;
                (row, false)
            }
        };
        transaction.commit().await.map_err(classify)?;
        Ok((metric_from_row(&row)?, created))
    }

    pub async fn metric(&self, name: &MetricName) -> ServiceResult<Option<Metric>> {
        sqlx::query(select_metric!("where tenant = $1 and metric_id = $2"))
            .bind(&name.tenant)
            .bind(&name.metric)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .as_ref()
            .map(metric_from_row)
            .transpose()
    }

    /// Metrics in creation order after sequence number `after`, at most `limit`.
    pub async fn metrics(
        &self,
        tenant: &TenantName,
        after: i64,
        limit: i64,
    ) -> ServiceResult<Vec<Metric>> {
        sqlx::query(select_metric!(
            "where tenant = $1 and seq > $2 order by seq limit $3"
        ))
        .bind(&tenant.tenant)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .iter()
        .map(metric_from_row)
        .collect()
    }

    /// Population: users whose first-ever `start_event` is in the window. Activated: an
    /// `activation_event` strictly after it and at most `within` after it.
    pub async fn activation_rate(
        &self,
        tenant: &TenantName,
        start_event: &str,
        activation_event: &str,
        evaluation: &Evaluation,
        within: Duration,
    ) -> ServiceResult<Ratio> {
        let row = sqlx::query(
            "with cohort as (
                 select user_id, min(occurred_at) as first_at
                 from metrics.event
                 where tenant = $1 and event_name = $2 and occurred_at < $5
                 group by user_id
                 having min(occurred_at) >= $4
             )
             select count(*) as population,
                    count(*) filter (where exists (
                        select 1 from metrics.event e
                        where e.tenant = $1 and e.event_name = $3 and e.user_id = c.user_id
                          and e.occurred_at > c.first_at
                          and e.occurred_at <= c.first_at + make_interval(secs => $6)
                    )) as activated
             from cohort c",
        )
        .bind(&tenant.tenant)
        .bind(start_event)
        .bind(activation_event)
        .bind(evaluation.start)
        .bind(evaluation.end)
        .bind(within.num_seconds() as f64)
        .fetch_one(&self.pool)
        .await
        .map_err(classify)?;
        ratio(&row, "activated")
    }

    /// Population as for activation. Retained: a `return_event` in the calendar month
    /// (in the evaluation's zone) `months_after` months after the first event's month.
    pub async fn calendar_retention(
        &self,
        tenant: &TenantName,
        start_event: &str,
        return_event: &str,
        evaluation: &Evaluation,
        months_after: i32,
    ) -> ServiceResult<Ratio> {
        let row = sqlx::query(
            "with cohort as (
                 select user_id,
                        min(occurred_at) as first_at,
                        date_trunc('month', min(occurred_at) at time zone $6)
                            + make_interval(months => $7) as return_month
                 from metrics.event
                 where tenant = $1 and event_name = $2 and occurred_at < $5
                 group by user_id
                 having min(occurred_at) >= $4
             )
             select count(*) as population,
                    count(*) filter (where exists (
                        select 1 from metrics.event e
                        where e.tenant = $1 and e.event_name = $3 and e.user_id = c.user_id
                          and e.occurred_at > c.first_at
                          and date_trunc('month', e.occurred_at at time zone $6) = c.return_month
                    )) as retained
             from cohort c",
        )
        .bind(&tenant.tenant)
        .bind(start_event)
        .bind(return_event)
        .bind(evaluation.start)
        .bind(evaluation.end)
        .bind(evaluation.time_zone.name())
        .bind(months_after)
        .fetch_one(&self.pool)
        .await
        .map_err(classify)?;
        ratio(&row, "retained")
    }
}

fn metric_from_row(row: &PgRow) -> ServiceResult<Metric> {
    let read = || -> Result<Metric, anyhow::Error> {
        let definition: serde_json::Value = row.try_get("definition")?;
        Ok(Metric {
            name: MetricName {
                tenant: row.try_get("tenant")?,
                metric: row.try_get("metric_id")?,
            },
            display_name: row.try_get("display_name")?,
            definition: serde_json::from_value::<MetricDefinition>(definition)?,
            create_time: row.try_get::<DateTime<Utc>, _>("create_time")?,
            version: row.try_get("version")?,
            seq: row.try_get("seq")?,
        })
    };
    read().map_err(ServiceError::Internal)
}

fn ratio(row: &PgRow, numerator_column: &str) -> ServiceResult<Ratio> {
    let count = |column: &str| -> ServiceResult<u64> {
        let value: i64 = row.try_get(column).map_err(classify)?;
        u64::try_from(value).map_err(|error| ServiceError::Internal(error.into()))
    };
    Ok(Ratio {
        numerator: count(numerator_column)?,
        denominator: count("population")?,
    })
}
