//! Check-ins, metric readings, the audit log and the outbox of status changes. Every change of
//! a key result's status is audited and published in the transaction that makes it.

use chrono::{DateTime, Utc};
use devokr_domain::{
    Decimal,
    cycle::Cycle as CyclePeriod,
    names::{KeyResultName, MetricName, ObjectiveName, TenantName},
    units::Unit,
};
use devokr_platform::{ServiceError, ServiceResult, db::classify, outbox};
use serde_json::json;
use sqlx::{PgConnection, Row, postgres::PgRow};

use super::{
    ObjectivesStore, cycle_from_row, key_result_from_row, key_result_name_from_row,
    key_result_names,
};
use crate::app::{Actor, CheckIn, CheckInSource, KeyResult, KeyResultState, NewCheckIn};

/// The outbox of key-result status changes.
pub const OUTBOX: &str = "objectives.outbox";

/// What the outbox says changed: a key result, with where it sits, so watchers of an
/// objective or a cycle can tell it is theirs without a look-up; or a tenant's settings.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyResultChanged {
    /// The key result's resource name; empty for a change of settings.
    #[prost(string, tag = "1")]
    pub key_result: String,
    /// Its cycle's resource name.
    #[prost(string, tag = "2")]
    pub cycle: String,
    /// The key result was deleted.
    #[prost(bool, tag = "3")]
    pub removed: bool,
    /// The name of the tenant settings that changed ("tenants/{tenant}/settings"); every
    /// replica reloads them, since they judge every status of the tenant.
    #[prost(string, tag = "4")]
    pub tenant_settings: String,
}

/// A metric's value over a key result's cycle, in the key result's unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricReading {
    pub value: Option<Decimal>,
    pub numerator: i64,
    pub denominator: i64,
}

/// A key result bound to a metric, with its cycle, for the refresher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundKeyResult {
    pub name: KeyResultName,
    pub metric: MetricName,
    pub unit: Unit,
    pub cycle: CyclePeriod,
}

impl BoundKeyResult {
    /// `key_result` in `cycle`, if it is bound to a metric.
    pub fn of(key_result: &KeyResult, cycle: CyclePeriod) -> Option<Self> {
        Some(Self {
            name: key_result.name.clone(),
            metric: key_result.metric.clone()?,
            unit: key_result.definition.unit,
            cycle,
        })
    }
}

const SELECT_CHECK_IN: &str =
    "select tenant, objective_id, key_result_id, check_in_id, value, numerator, denominator,
        measure_time, record_time, source, author, comment, confidence, idempotency_key,
        supersedes, late
 from objectives.check_in ";

impl ObjectivesStore {
    /// A key result with its cycle and every check-in: what its status is computed from.
    pub async fn key_result_state(
        &self,
        name: &KeyResultName,
    ) -> ServiceResult<Option<KeyResultState>> {
        let Some(row) = sqlx::query(select_key_result!(
            "where k.tenant = $1 and k.objective_id = $2 and k.key_result_id = $3"
        ))
        .bind(&name.tenant)
        .bind(&name.objective)
        .bind(&name.key_result)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?
        else {
            return Ok(None);
        };
        let cycle = cycle_from_row(&row, "c_")?;
        let version: i64 = row.try_get("status_version").map_err(classify)?;
        let check_ins = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_CHECK_IN} where tenant = $1 and objective_id = $2 and key_result_id = $3
             order by check_in_id"
        )))
        .bind(&name.tenant)
        .bind(&name.objective)
        .bind(&name.key_result)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .iter()
        .map(check_in_from_row)
        .collect::<ServiceResult<Vec<_>>>()?;
        Ok(Some(KeyResultState::new(
            key_result_from_row(&row)?,
            cycle.name,
            cycle.period,
            cycle.state,
            check_ins,
            version,
        )))
    }

    /// Records a check-in, audits it and publishes the status change, in one transaction.
    /// A check-in whose idempotency key was recorded before is returned as it was, unchanged.
    pub async fn insert_check_in(
        &self,
        new: &NewCheckIn,
        measure_time: DateTime<Utc>,
        late: bool,
        actor: &Actor,
    ) -> ServiceResult<CheckIn> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "insert into objectives.check_in
                 (tenant, objective_id, key_result_id, value, numerator, denominator, measure_time,
                  source, author, comment, confidence, idempotency_key, supersedes, late)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             on conflict (tenant, objective_id, key_result_id, idempotency_key) do nothing
             returning {}",
            CHECK_IN_COLUMNS
        )))
        .bind(&new.key_result.tenant)
        .bind(&new.key_result.objective)
        .bind(&new.key_result.key_result)
        .bind(new.value)
        .bind(new.numerator)
        .bind(new.denominator)
        .bind(measure_time)
        .bind(source_text(new.source))
        .bind(&new.author)
        .bind(&new.comment)
        .bind(new.confidence)
        .bind(&new.idempotency_key)
        .bind(new.supersedes)
        .bind(late)
        .fetch_optional(&mut *transaction)
        .await
        .map_err(classify)?;
        let Some(row) = inserted else {
            drop(transaction);
            let existing = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{SELECT_CHECK_IN} where tenant = $1 and objective_id = $2 and key_result_id = $3
                 and idempotency_key = $4"
            )))
            .bind(&new.key_result.tenant)
            .bind(&new.key_result.objective)
            .bind(&new.key_result.key_result)
            .bind(&new.idempotency_key)
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
            return check_in_from_row(&existing);
        };
        let check_in = check_in_from_row(&row)?;
        audit(
            &mut transaction,
            actor,
            &new.key_result.tenant(),
            if late {
                "CreateLateCheckIn"
            } else {
                "CreateCheckIn"
            },
            &format!("{}/checkIns/{}", new.key_result, check_in.id),
            json!({
                "value": check_in.value.map(|value| value.to_string()),
                "measureTime": check_in.measure_time,
                "source": source_text(check_in.source),
                "supersedes": check_in.supersedes,
                "late": late,
            }),
        )
        .await?;
        publish(&mut transaction, &new.key_result, false).await?;
        transaction.commit().await.map_err(classify)?;
        Ok(check_in)
    }

    /// Check-ins of a key result in recording order after `after`, at most `limit`.
    pub async fn check_ins(
        &self,
        key_result: &KeyResultName,
        after: i64,
        limit: i64,
    ) -> ServiceResult<Vec<CheckIn>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_CHECK_IN} where tenant = $1 and objective_id = $2 and key_result_id = $3
             and check_in_id > $4 order by check_in_id limit $5"
        )))
        .bind(&key_result.tenant)
        .bind(&key_result.objective)
        .bind(&key_result.key_result)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .iter()
        .map(check_in_from_row)
        .collect()
    }

    /// Stores a metric reading as an automatic check-in when it differs from the latest one,
    /// and clears a recorded reading problem; publishes the change when there is one.
    /// Returns whether anything changed.
    pub async fn record_metric_reading(
        &self,
        key_result: &KeyResultName,
        reading: &MetricReading,
    ) -> ServiceResult<bool> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        // Two refreshes of one key result (say, at creation and on a change event) take turns,
        // so the second sees the first's reading and adds nothing.
        lock_key_result(&mut transaction, key_result).await?;
        let cleared = clear_metric_problem(&mut transaction, key_result).await?;
        let reading = AutomaticValue {
            value: reading.value,
            numerator: Some(reading.numerator),
            denominator: Some(reading.denominator),
        };
        let latest =
            latest_automatic_value(&mut transaction, key_result, CheckInSource::Metric).await?;
        let unchanged = latest.as_ref() == Some(&reading);
        if !unchanged {
            record_automatic_check_in(
                &mut transaction,
                key_result,
                CheckInSource::Metric,
                &reading,
                None,
                "RefreshMetricValue",
                json!({
                    "value": reading.value.map(|value| value.to_string()),
                    "numerator": reading.numerator,
                    "denominator": reading.denominator,
                }),
            )
            .await?;
        }
        let changed = cleared || !unchanged;
        if changed {
            publish(&mut transaction, key_result, false).await?;
        }
        transaction.commit().await.map_err(classify)?;
        Ok(changed)
    }

    /// Records why a key result's metric could not be read; publishes the change when the
    /// problem is new. Returns whether anything changed.
    pub async fn record_metric_problem(
        &self,
        key_result: &KeyResultName,
        problem: &str,
    ) -> ServiceResult<bool> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let changed = sqlx::query(
            "update objectives.key_result set metric_problem = $4
             where tenant = $1 and objective_id = $2 and key_result_id = $3
               and metric_problem is distinct from $4",
        )
        .bind(&key_result.tenant)
        .bind(&key_result.objective)
        .bind(&key_result.key_result)
        .bind(problem)
        .execute(&mut *transaction)
        .await
        .map_err(classify)?
        .rows_affected()
            > 0;
        if changed {
            audit_and_publish(
                &mut transaction,
                &Actor::service(),
                key_result,
                "MetricUnreadable",
                json!({ "problem": problem }),
                false,
            )
            .await?;
        }
        transaction.commit().await.map_err(classify)?;
        Ok(changed)
    }

    /// Key results bound to a metric (of `tenant`, or of every tenant), with their cycles.
    pub async fn bound_key_results(
        &self,
        tenant: Option<&TenantName>,
    ) -> ServiceResult<Vec<BoundKeyResult>> {
        sqlx::query(select_key_result!(
            "where k.metric is not null and c.state <> 'closed' and k.delete_time is null
               and ($1::text is null or k.tenant = $1)
             order by k.tenant, k.seq"
        ))
        .bind(tenant.map(|tenant| tenant.tenant.as_str()))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .iter()
        .map(|row| {
            let key_result = key_result_from_row(row)?;
            let cycle = cycle_from_row(row, "c_")?;
            BoundKeyResult::of(&key_result, cycle.period).ok_or_else(|| {
                ServiceError::Internal(anyhow::anyhow!("{} lost its metric", key_result.name))
            })
        })
        .collect()
    }

    /// Names of the live key results of an objective.
    pub async fn key_result_names_of_objective(
        &self,
        objective: &ObjectiveName,
    ) -> ServiceResult<Vec<KeyResultName>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "select key_result_id from objectives.key_result
             where tenant = $1 and objective_id = $2 and delete_time is null order by seq",
        )
        .bind(&objective.tenant)
        .bind(&objective.objective)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        Ok(ids.into_iter().map(|id| objective.key_result(id)).collect())
    }

    /// Names of the live key results of every live objective of a cycle.
    pub async fn key_result_names_of_cycle(
        &self,
        cycle: &devokr_domain::names::CycleName,
    ) -> ServiceResult<Vec<KeyResultName>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "select k.objective_id, k.key_result_id
             from objectives.key_result k
             join objectives.objective o using (tenant, objective_id)
             where k.tenant = $1 and o.cycle_id = $2 and k.delete_time is null
               and o.delete_time is null
             order by k.seq",
        )
        .bind(&cycle.tenant)
        .bind(&cycle.cycle)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        Ok(key_result_names(&cycle.tenant(), rows))
    }
}

/// Locks a key result's row until the caller's transaction ends, so that writers of its
/// automatic check-ins take turns.
pub(super) async fn lock_key_result(
    connection: &mut PgConnection,
    key_result: &KeyResultName,
) -> ServiceResult<()> {
    sqlx::query(
        "select 1 from objectives.key_result
         where tenant = $1 and objective_id = $2 and key_result_id = $3 for update",
    )
    .bind(&key_result.tenant)
    .bind(&key_result.objective)
    .bind(&key_result.key_result)
    .execute(connection)
    .await
    .map_err(classify)?;
    Ok(())
}

/// A value the service records itself as a check-in: a metric's reading or a rollup's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AutomaticValue {
    pub value: Option<Decimal>,
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
}

/// The value of a key result's latest check-in from `source`, if it has one.
pub(super) async fn latest_automatic_value(
    connection: &mut PgConnection,
    key_result: &KeyResultName,
    source: CheckInSource,
) -> ServiceResult<Option<AutomaticValue>> {
    let latest: Option<(Option<Decimal>, Option<i64>, Option<i64>)> = sqlx::query_as(
        "select value, numerator, denominator from objectives.check_in
         where tenant = $1 and objective_id = $2 and key_result_id = $3 and source = $4
         order by check_in_id desc limit 1",
    )
    .bind(&key_result.tenant)
    .bind(&key_result.objective)
    .bind(&key_result.key_result)
    .bind(source_text(source))
    .fetch_optional(connection)
    .await
    .map_err(classify)?;
    Ok(
        latest.map(|(value, numerator, denominator)| AutomaticValue {
            value,
            numerator,
            denominator,
        }),
    )
}

/// Records `value` as a check-in from `source` by the service, and audits it as `action`
/// with `change`, in the caller's transaction. Its idempotency key is the transaction's id:
/// one automatic check-in per transaction.
/// Records `value` as a check-in of the service, measured at `measured_at` (now when `None`),
/// and audits it as `action`.
pub(super) async fn record_automatic_check_in(
    connection: &mut PgConnection,
    key_result: &KeyResultName,
    source: CheckInSource,
    value: &AutomaticValue,
    measured_at: Option<DateTime<Utc>>,
    action: &str,
    change: serde_json::Value,
) -> ServiceResult<()> {
    let actor = Actor::service();
    let source = source_text(source);
    let id: i64 = sqlx::query_scalar(
        "insert into objectives.check_in
             (tenant, objective_id, key_result_id, value, numerator, denominator,
              measure_time, source, author, idempotency_key)
         values ($1, $2, $3, $4, $5, $6, coalesce($9, now()), $7, $8,
                 $7 || ':' || pg_current_xact_id()::text)
         returning check_in_id",
    )
    .bind(&key_result.tenant)
    .bind(&key_result.objective)
    .bind(&key_result.key_result)
    .bind(value.value)
    .bind(value.numerator)
    .bind(value.denominator)
    .bind(source)
    .bind(&actor.name)
    .bind(measured_at)
    .fetch_one(&mut *connection)
    .await
    .map_err(classify)?;
    audit(
        connection,
        &actor,
        &key_result.tenant(),
        action,
        &format!("{key_result}/checkIns/{id}"),
        change,
    )
    .await
}

async fn clear_metric_problem(
    connection: &mut PgConnection,
    key_result: &KeyResultName,
) -> ServiceResult<bool> {
    Ok(sqlx::query(
        "update objectives.key_result set metric_problem = null
         where tenant = $1 and objective_id = $2 and key_result_id = $3
           and metric_problem is not null",
    )
    .bind(&key_result.tenant)
    .bind(&key_result.objective)
    .bind(&key_result.key_result)
    .execute(connection)
    .await
    .map_err(classify)?
    .rows_affected()
        > 0)
}

/// Writes one audit event in the caller's transaction.
pub(super) async fn audit(
    connection: &mut PgConnection,
    actor: &Actor,
    tenant: &TenantName,
    action: &str,
    resource: &str,
    change: serde_json::Value,
) -> ServiceResult<()> {
    sqlx::query(
        "insert into objectives.audit_event (tenant, actor, request_id, action, resource, change)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&tenant.tenant)
    .bind(&actor.name)
    .bind(&actor.request_id)
    .bind(action)
    .bind(resource)
    .bind(change)
    .execute(connection)
    .await
    .map_err(classify)?;
    Ok(())
}

/// Audits `action` on a key result with `change` and publishes the change of its status
/// (`removed`: it was deleted), in the caller's transaction.
pub(super) async fn audit_and_publish(
    connection: &mut PgConnection,
    actor: &Actor,
    key_result: &KeyResultName,
    action: &str,
    change: serde_json::Value,
    removed: bool,
) -> ServiceResult<()> {
    audit(
        &mut *connection,
        actor,
        &key_result.tenant(),
        action,
        &key_result.to_string(),
        change,
    )
    .await?;
    publish(connection, key_result, removed).await?;
    Ok(())
}

/// Publishes a change of a key result's status in the caller's transaction.
pub(super) async fn publish(
    connection: &mut PgConnection,
    key_result: &KeyResultName,
    removed: bool,
) -> ServiceResult<i64> {
    let cycle: String = sqlx::query_scalar(
        "select o.cycle_id from objectives.objective o where o.tenant = $1 and o.objective_id = $2",
    )
    .bind(&key_result.tenant)
    .bind(&key_result.objective)
    .fetch_one(&mut *connection)
    .await
    .map_err(classify)?;
    let change = KeyResultChanged {
        key_result: key_result.to_string(),
        cycle: key_result.tenant().cycle(cycle).to_string(),
        removed,
        tenant_settings: String::new(),
    };
    let version = outbox::append(&mut *connection, OUTBOX, &key_result.tenant, &change)
        .await
        .map_err(classify)?;
    // Watchers are told the status as of now; its health is judged again from here.
    sqlx::query(
        "update objectives.key_result
         set status_version = $4, status_time = now(), published_health = null
         where tenant = $1 and objective_id = $2 and key_result_id = $3",
    )
    .bind(&key_result.tenant)
    .bind(&key_result.objective)
    .bind(&key_result.key_result)
    .bind(version)
    .execute(connection)
    .await
    .map_err(classify)?;
    Ok(version)
}

const CHECK_IN_COLUMNS: &str = "tenant, objective_id, key_result_id, check_in_id, value, numerator,
    denominator, measure_time, record_time, source, author, comment, confidence, idempotency_key,
    supersedes, late";

fn source_text(source: CheckInSource) -> &'static str {
    match source {
        CheckInSource::Manual => "manual",
        CheckInSource::Metric => "metric",
        CheckInSource::Import => "import",
        CheckInSource::Rollup => "rollup",
    }
}

fn check_in_from_row(row: &PgRow) -> ServiceResult<CheckIn> {
    super::read(|| {
        let source = match row.try_get::<&str, _>("source")? {
            "manual" => CheckInSource::Manual,
            "metric" => CheckInSource::Metric,
            "import" => CheckInSource::Import,
            "rollup" => CheckInSource::Rollup,
            other => anyhow::bail!("unknown check-in source {other:?}"),
        };
        Ok(CheckIn {
            key_result: key_result_name_from_row(row)?,
            id: row.try_get("check_in_id")?,
            value: row.try_get("value")?,
            numerator: row.try_get("numerator")?,
            denominator: row.try_get("denominator")?,
            measure_time: row.try_get("measure_time")?,
            record_time: row.try_get("record_time")?,
            source,
            author: row.try_get("author")?,
            comment: row.try_get("comment")?,
            confidence: row.try_get("confidence")?,
            idempotency_key: row.try_get("idempotency_key")?,
            supersedes: row.try_get("supersedes")?,
            late: row.try_get("late")?,
        })
    })
}
