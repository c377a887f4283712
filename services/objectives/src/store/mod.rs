//! All SQL of the objectives service, against the `objectives` schema only.

use chrono::{DateTime, NaiveDate, Utc};
use devokr_domain::{
    calendar::CycleState,
    cycle::{Cycle as CyclePeriod, parse_time_zone},
    names::{CycleName, KeyResultName, MetricName, ObjectiveName, TenantName},
};
use devokr_platform::{
    ServiceError, ServiceResult,
    db::{classify, classify_insert},
};
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use uuid::Uuid;

use crate::app::{
    Actor, Cycle, Definition, KeyResult, NewCycle, NewKeyResult, NewObjective, Objective,
    ObjectiveFilter,
};

/// The objectives service's migrations; `sqlx.toml` keeps their table in the `objectives` schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Queries with a shared select list; macros so that the SQL stays a literal.
macro_rules! select_cycle {
    ($rest:literal) => {
        concat!(
            "select tenant, cycle_id, seq, display_name, start_date, end_date, time_zone, version, create_time,
                    state
             from objectives.cycle ",
            $rest
        )
    };
}

macro_rules! select_objective {
    ($rest:literal) => {
        concat!(
            "select tenant, objective_id, seq, display_name, description, cycle_id, version, create_time,
                    update_time, delete_time
             from objectives.objective ",
            $rest
        )
    };
}

/// A cycle statement returning the cycle's columns; a macro so that the SQL stays a literal.
macro_rules! select_cycle_returning {
    ($statement:literal) => {
        concat!(
            $statement,
            " returning tenant, cycle_id, seq, display_name, start_date, end_date, time_zone,
                        version, create_time, state"
        )
    };
}

/// Key results with the cycle of their objective (`c_*` columns).
macro_rules! select_key_result {
    ($rest:literal) => {
        concat!(
            "select k.tenant, k.objective_id, k.key_result_id, k.seq, k.display_name, k.baseline,
                    k.target, k.unit, k.direction, k.metric, k.metric_problem, k.weight, k.version,
                    k.kind, k.commit_level, k.stretch_level, k.threshold_comparison,
                    k.threshold_low, k.threshold_high, k.threshold_scoring, k.milestones,
                    k.currency_code, k.score_min, k.score_max, k.update_cadence_seconds,
                    k.stale_grace_seconds, k.interim_targets,
                    k.score, k.score_override_reason,
                    k.create_time, k.update_time, k.delete_time, k.status_version,
                    c.cycle_id as c_cycle_id, c.seq as c_seq, c.display_name as c_display_name,
                    c.start_date as c_start_date, c.end_date as c_end_date,
                    c.time_zone as c_time_zone, c.version as c_version,
                    c.create_time as c_create_time, c.state as c_state
             from objectives.key_result k
             join objectives.objective o using (tenant, objective_id)
             join objectives.cycle c on c.tenant = o.tenant and c.cycle_id = o.cycle_id ",
            $rest
        )
    };
}

mod changes;
mod check_ins;
mod definition;
mod lifecycle;
mod settings;
pub use changes::{KeyResultValues, ObjectiveValues};
pub use check_ins::{BoundKeyResult, KeyResultChanged, MetricReading, OUTBOX};
pub use definition::definition_json;
use definition::{DefinitionColumns, definition_columns, definition_from_row};
pub use lifecycle::ClosingScore;
pub use settings::{HealthVerdict, PublishedHealth};

/// The objectives service's database.
#[derive(Debug, Clone)]
pub struct ObjectivesStore {
    pool: PgPool,
}

impl ObjectivesStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Inserts a cycle; with a request id already used, returns the cycle it created.
    pub async fn insert_cycle(&self, new: &NewCycle) -> ServiceResult<Cycle> {
        let inserted = sqlx::query(
            "insert into objectives.cycle
                 (tenant, cycle_id, display_name, start_date, end_date, time_zone, request_id)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (tenant, request_id) do nothing
             returning tenant, cycle_id, seq, display_name, start_date, end_date, time_zone,
                       version, create_time, state",
        )
        .bind(&new.name.tenant)
        .bind(&new.name.cycle)
        .bind(&new.display_name)
        .bind(new.period.start_date())
        .bind(new.period.end_date())
        .bind(new.period.time_zone().name())
        .bind(new.request_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| classify_insert(error, "cycle", &new.name))?;
        let row = match inserted {
            Some(row) => row,
            None => sqlx::query(select_cycle!("where tenant = $1 and request_id = $2"))
                .bind(&new.name.tenant)
                .bind(new.request_id)
                .fetch_one(&self.pool)
                .await
                .map_err(classify)?,
        };
        cycle_from_row(&row, "")
    }

    pub async fn cycle(&self, name: &CycleName) -> ServiceResult<Option<Cycle>> {
        sqlx::query(select_cycle!("where tenant = $1 and cycle_id = $2"))
            .bind(&name.tenant)
            .bind(&name.cycle)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(|row| cycle_from_row(&row, ""))
            .transpose()
    }

    pub async fn cycles(
        &self,
        tenant: &TenantName,
        after: i64,
        limit: i64,
    ) -> ServiceResult<Vec<Cycle>> {
        sqlx::query(select_cycle!(
            "where tenant = $1 and seq > $2 order by seq limit $3"
        ))
        .bind(&tenant.tenant)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .iter()
        .map(|row| cycle_from_row(row, ""))
        .collect()
    }

    /// Inserts an objective; with a request id already used, returns the one it created.
    pub async fn insert_objective(&self, new: &NewObjective) -> ServiceResult<Objective> {
        let mut connection = self.pool.acquire().await.map_err(classify)?;
        match insert_objective_row(&mut connection, new).await? {
            Some(objective) => Ok(objective),
            None => self.created_objective(new).await,
        }
    }

    /// The objective a create with `new`'s request id made.
    async fn created_objective(&self, new: &NewObjective) -> ServiceResult<Objective> {
        let row = sqlx::query(select_objective!("where tenant = $1 and request_id = $2"))
            .bind(&new.name.tenant)
            .bind(new.request_id)
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        objective_from_row(&row)
    }

    /// The objective a create (or carry-over) with `request_id` made, if any.
    pub async fn objective_by_request_id(
        &self,
        tenant: &TenantName,
        request_id: Uuid,
    ) -> ServiceResult<Option<Objective>> {
        sqlx::query(select_objective!("where tenant = $1 and request_id = $2"))
            .bind(&tenant.tenant)
            .bind(request_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(|row| objective_from_row(&row))
            .transpose()
    }

    /// Inserts `objective` with `key_results` under it, copied from `source`, publishes each
    /// key result and audits the copy, in one transaction. With a request id already used,
    /// returns the objective it created and no key results.
    pub async fn insert_carried_over(
        &self,
        objective: &NewObjective,
        key_results: &[(NewKeyResult, Definition)],
        source: &ObjectiveName,
        actor: &Actor,
    ) -> ServiceResult<(Objective, Vec<KeyResultName>)> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let Some(created) = insert_objective_row(&mut transaction, objective).await? else {
            drop(transaction);
            return Ok((self.created_objective(objective).await?, Vec::new()));
        };
        let mut names = Vec::with_capacity(key_results.len());
        for (key_result, definition) in key_results {
            insert_key_result_row(&mut transaction, key_result, definition).await?;
            check_ins::publish(&mut transaction, &key_result.name, false).await?;
            names.push(key_result.name.clone());
        }
        check_ins::audit(
            &mut transaction,
            actor,
            &objective.name.tenant(),
            "CarryOverObjective",
            &objective.name.to_string(),
            serde_json::json!({
                "from": source.to_string(),
                "cycle": objective.cycle.to_string(),
                "keyResults": names.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
        )
        .await?;
        transaction.commit().await.map_err(classify)?;
        Ok((created, names))
    }

    pub async fn objective(&self, name: &ObjectiveName) -> ServiceResult<Option<Objective>> {
        sqlx::query(select_objective!("where tenant = $1 and objective_id = $2"))
            .bind(&name.tenant)
            .bind(&name.objective)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(|row| objective_from_row(&row))
            .transpose()
    }

    /// Objectives of a tenant after `after`, at most `limit`, that `filter` selects; every
    /// value of the filter is a bound parameter.
    pub async fn objectives(
        &self,
        tenant: &TenantName,
        filter: &ObjectiveFilter,
        after: i64,
        limit: i64,
    ) -> ServiceResult<Vec<Objective>> {
        sqlx::query(select_objective!(
            "where tenant = $1 and seq > $2
               and ($4 or delete_time is null)
               and ($5::text is null or cycle_id = $5)
             order by seq limit $3"
        ))
        .bind(&tenant.tenant)
        .bind(after)
        .bind(limit)
        .bind(filter.show_deleted)
        .bind(filter.cycle.as_ref().map(|cycle| cycle.cycle.as_str()))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .iter()
        .map(objective_from_row)
        .collect()
    }

    /// Inserts a key result; with a request id already used, returns the one it created.
    pub async fn insert_key_result(
        &self,
        new: &NewKeyResult,
        definition: &Definition,
    ) -> ServiceResult<KeyResult> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let inserted = insert_key_result_row(&mut transaction, new, definition).await?;
        // A new key result joins the watches of its objective and cycle.
        if inserted {
            check_ins::publish(&mut transaction, &new.name, false).await?;
        }
        transaction.commit().await.map_err(classify)?;
        let stored = match (inserted, new.request_id) {
            (false, Some(request_id)) => {
                self.key_result_by_request_id(&new.name.tenant(), request_id)
                    .await?
            }
            _ => self
                .key_result(&new.name)
                .await?
                .map(|(key_result, _)| key_result),
        };
        stored.ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!(
                "key result {} vanished after insert",
                new.name
            ))
        })
    }

    /// The key result a create with `request_id` made, if any.
    pub async fn key_result_by_request_id(
        &self,
        tenant: &TenantName,
        request_id: Uuid,
    ) -> ServiceResult<Option<KeyResult>> {
        sqlx::query(select_key_result!(
            "where k.tenant = $1 and k.request_id = $2"
        ))
        .bind(&tenant.tenant)
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?
        .map(|row| key_result_from_row(&row))
        .transpose()
    }

    /// A key result with the period of its objective's cycle.
    pub async fn key_result(
        &self,
        name: &KeyResultName,
    ) -> ServiceResult<Option<(KeyResult, CyclePeriod)>> {
        sqlx::query(select_key_result!(
            "where k.tenant = $1 and k.objective_id = $2 and k.key_result_id = $3"
        ))
        .bind(&name.tenant)
        .bind(&name.objective)
        .bind(&name.key_result)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?
        .map(|row| {
            Ok((
                key_result_from_row(&row)?,
                cycle_from_row(&row, "c_")?.period,
            ))
        })
        .transpose()
    }

    /// The live (not soft-deleted) key results of an objective after `after`, at most `limit`.
    pub async fn key_results(
        &self,
        objective: &ObjectiveName,
        after: i64,
        limit: i64,
    ) -> ServiceResult<Vec<KeyResult>> {
        sqlx::query(select_key_result!(
            "where k.tenant = $1 and k.objective_id = $2 and k.seq > $3 and k.delete_time is null
             order by k.seq limit $4"
        ))
        .bind(&objective.tenant)
        .bind(&objective.objective)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .iter()
        .map(key_result_from_row)
        .collect()
    }

    /// Every live key result of an objective, in creation order.
    pub async fn all_key_results(
        &self,
        objective: &ObjectiveName,
    ) -> ServiceResult<Vec<KeyResult>> {
        self.key_results(objective, 0, i64::MAX).await
    }
}

/// Inserts an objective row; `None` when its request id was used before.
async fn insert_objective_row(
    connection: &mut PgConnection,
    new: &NewObjective,
) -> ServiceResult<Option<Objective>> {
    sqlx::query(
        "insert into objectives.objective
             (tenant, objective_id, display_name, description, cycle_id, request_id)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (tenant, request_id) do nothing
         returning tenant, objective_id, seq, display_name, description, cycle_id, version,
                   create_time, update_time, delete_time",
    )
    .bind(&new.name.tenant)
    .bind(&new.name.objective)
    .bind(&new.display_name)
    .bind(&new.description)
    .bind(&new.cycle.cycle)
    .bind(new.request_id)
    .fetch_optional(connection)
    .await
    .map_err(|error| classify_insert(error, "objective", &new.name))?
    .map(|row| objective_from_row(&row))
    .transpose()
}

/// Inserts a key result row; false when its request id was used before.
async fn insert_key_result_row(
    connection: &mut PgConnection,
    new: &NewKeyResult,
    definition: &Definition,
) -> ServiceResult<bool> {
    let query = sqlx::query(concat!(
        "insert into objectives.key_result
             (tenant, objective_id, key_result_id, display_name, metric, weight, request_id, ",
        definition_columns!(),
        ")
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18, $19, $20, $21, $22, $23, $24, $25)
         on conflict (tenant, request_id) do nothing
         returning 1"
    ))
    .bind(&new.name.tenant)
    .bind(&new.name.objective)
    .bind(&new.name.key_result)
    .bind(&new.display_name)
    .bind(new.metric.as_ref().map(ToString::to_string))
    .bind(new.weight)
    .bind(new.request_id);
    let inserted = DefinitionColumns::of(definition)
        .bind(query)
        .fetch_optional(connection)
        .await
        .map_err(|error| classify_insert(error, "key result", &new.name))?;
    Ok(inserted.is_some())
}

/// Reads a row; a row that does not make a valid model is a bug (constraints guard it).
fn read<T>(read: impl FnOnce() -> anyhow::Result<T>) -> ServiceResult<T> {
    read().map_err(|error| ServiceError::Internal(error.context("corrupt row")))
}

/// Reads a cycle from columns named with `prefix` (`""` for the cycle table itself).
fn cycle_from_row(row: &PgRow, prefix: &str) -> ServiceResult<Cycle> {
    read(|| {
        let column = |name: &str| format!("{prefix}{name}");
        let time_zone = parse_time_zone(row.try_get::<&str, _>(column("time_zone").as_str())?)?;
        let period = CyclePeriod::new(
            row.try_get::<NaiveDate, _>(column("start_date").as_str())?,
            row.try_get::<NaiveDate, _>(column("end_date").as_str())?,
            time_zone,
        )?;
        Ok(Cycle {
            name: CycleName {
                tenant: row.try_get("tenant")?,
                cycle: row.try_get(column("cycle_id").as_str())?,
            },
            display_name: row.try_get(column("display_name").as_str())?,
            period,
            create_time: row.try_get::<DateTime<Utc>, _>(column("create_time").as_str())?,
            version: row.try_get(column("version").as_str())?,
            seq: row.try_get(column("seq").as_str())?,
            state: match row.try_get::<&str, _>(column("state").as_str())? {
                "planning" => CycleState::Planning,
                "active" => CycleState::Active,
                "closed" => CycleState::Closed,
                other => anyhow::bail!("unknown cycle state {other:?}"),
            },
        })
    })
}

fn objective_from_row(row: &PgRow) -> ServiceResult<Objective> {
    read(|| {
        let tenant: String = row.try_get("tenant")?;
        Ok(Objective {
            name: ObjectiveName {
                tenant: tenant.clone(),
                objective: row.try_get("objective_id")?,
            },
            display_name: row.try_get("display_name")?,
            description: row.try_get("description")?,
            cycle: CycleName {
                tenant,
                cycle: row.try_get("cycle_id")?,
            },
            create_time: row.try_get("create_time")?,
            update_time: row.try_get("update_time")?,
            delete_time: row.try_get("delete_time")?,
            version: row.try_get("version")?,
            seq: row.try_get("seq")?,
        })
    })
}

fn key_result_from_row(row: &PgRow) -> ServiceResult<KeyResult> {
    read(|| {
        Ok(KeyResult {
            name: KeyResultName {
                tenant: row.try_get("tenant")?,
                objective: row.try_get("objective_id")?,
                key_result: row.try_get("key_result_id")?,
            },
            display_name: row.try_get("display_name")?,
            definition: definition_from_row(row)?,
            metric: row
                .try_get::<Option<&str>, _>("metric")?
                .map(MetricName::parse)
                .transpose()?,
            metric_problem: row.try_get("metric_problem")?,
            score: row.try_get("score")?,
            score_override_reason: row.try_get("score_override_reason")?,
            weight: row.try_get("weight")?,
            create_time: row.try_get("create_time")?,
            update_time: row.try_get("update_time")?,
            delete_time: row.try_get("delete_time")?,
            version: row.try_get("version")?,
            seq: row.try_get("seq")?,
        })
    })
}
