//! All SQL of the objectives service, against the `objectives` schema only.

use chrono::{DateTime, NaiveDate, Utc};
use devokr_domain::{
    calendar::CycleState,
    cycle::{Cycle as CyclePeriod, parse_time_zone},
    health::{ObjectiveChildren, ObjectiveHealthMode},
    names::{CycleName, KeyResultName, MetricName, ObjectiveName, TenantName},
};
use devokr_platform::{
    ServiceError, ServiceResult,
    db::{check_retry, classify, classify_insert},
    request::RequestId,
};
use sqlx::{
    PgConnection, PgPool, Postgres, Row,
    postgres::{PgArguments, PgRow},
    query::Query,
};

use crate::app::{
    Actor, Alignment, Cycle, Definition, KeyResult, NewCycle, NewKeyResult, NewObjective,
    Objective, ObjectiveFilter, ObjectiveLevel, ObjectiveStage,
};

/// The objectives service's migrations; `sqlx.toml` keeps their table in the `objectives` schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Queries with a shared select list; macros so that the SQL stays a literal.
macro_rules! select_cycle {
    ($rest:literal) => {
        concat!(
            "select tenant, cycle_id, seq, display_name, start_date, end_date, time_zone, version, create_time,
                    state, parent_id
             from objectives.cycle ",
            $rest
        )
    };
}

/// The columns [`objective_from_row`] reads, with the objective's parents in their order.
macro_rules! objective_columns {
    () => {
        "tenant, objective_id, seq, display_name, description, cycle_id, version, create_time,
         update_time, delete_time, level, owner_team, stage, progress_driver, health_mode, weight,
         array(select p.parent_id from objectives.objective_parent p
               where p.tenant = objective.tenant and p.objective_id = objective.objective_id
               order by p.position) as parents"
    };
}

macro_rules! select_objective {
    ($rest:literal) => {
        concat!(
            "select ",
            objective_columns!(),
            " from objectives.objective ",
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
                        version, create_time, state, parent_id"
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
                    c.create_time as c_create_time, c.state as c_state,
                    c.parent_id as c_parent_id,
                    (select r.aggregation from objectives.key_result_rollup r
                     where r.tenant = k.tenant and r.objective_id = k.objective_id
                       and r.key_result_id = k.key_result_id) as rollup_aggregation,
                    array(select rc.child_objective_id || '/' || rc.child_key_result_id
                          from objectives.key_result_rollup_child rc
                          where rc.tenant = k.tenant and rc.objective_id = k.objective_id
                            and rc.key_result_id = k.key_result_id
                          order by rc.position) as rollup_children
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
mod rollups;
mod settings;
pub use changes::{KeyResultValues, ObjectiveValues};
pub use check_ins::{BoundKeyResult, KeyResultChanged, MetricReading, OUTBOX};
pub use definition::definition_json;
use definition::{DefinitionColumns, definition_columns, definition_from_row};
pub use lifecycle::ClosingScore;
pub use rollups::RollupWrite;
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
                 (tenant, cycle_id, display_name, start_date, end_date, time_zone, request_id,
                  request_digest, parent_id)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             on conflict (tenant, request_id) do nothing
             returning tenant, cycle_id, seq, display_name, start_date, end_date, time_zone,
                       version, create_time, state, parent_id",
        )
        .bind(&new.name.tenant)
        .bind(&new.name.cycle)
        .bind(&new.display_name)
        .bind(new.period.start_date())
        .bind(new.period.end_date())
        .bind(new.period.time_zone().name())
        .bind(new.request_id.map(|request| request.id))
        .bind(new.request_id.map(|request| request.digest.to_vec()))
        .bind(new.parent.as_ref().map(|parent| parent.cycle.as_str()))
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| classify_insert(error, "cycle", &new.name))?;
        let row = match (inserted, &new.request_id) {
            (Some(row), _) => row,
            // Only a request id used before keeps a new row out.
            (None, request) => {
                if let Some(request) = request {
                    check_retry(&self.pool, "objectives.cycle", &new.name.tenant, request).await?;
                }
                sqlx::query(select_cycle!("where tenant = $1 and request_id = $2"))
                    .bind(&new.name.tenant)
                    .bind(request.map(|request| request.id))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(classify)?
            }
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

    /// Inserts an objective with its parents and audits it; with a request id already used,
    /// returns the one it created.
    pub async fn insert_objective(
        &self,
        new: &NewObjective,
        actor: &Actor,
    ) -> ServiceResult<Objective> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let Some(objective) = insert_objective_row(&mut transaction, new).await? else {
            drop(transaction);
            return self.created_objective(new).await;
        };
        check_ins::audit(
            &mut transaction,
            actor,
            &new.name.tenant(),
            "CreateObjective",
            &new.name.to_string(),
            objective_change(&objective, &[]),
        )
        .await?;
        transaction.commit().await.map_err(classify)?;
        Ok(objective)
    }

    /// The objective that `new`'s request id made, when inserting `new` added no row: only a
    /// request id used before keeps a new row out.
    async fn created_objective(&self, new: &NewObjective) -> ServiceResult<Objective> {
        let created = match &new.request_id {
            Some(request) => {
                self.objective_by_request_id(&new.name.tenant(), request)
                    .await?
            }
            None => None,
        };
        created.ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!(
                "objective {} was neither inserted nor found by its request id",
                new.name
            ))
        })
    }

    /// The live objectives that name `parent` among their parents, oldest first.
    pub async fn child_objectives(&self, parent: &ObjectiveName) -> ServiceResult<Vec<Objective>> {
        sqlx::query(select_objective!(
            "where tenant = $1 and delete_time is null
               and objective_id in (select objective_id from objectives.objective_parent
                                    where tenant = $1 and parent_id = $2)
             order by seq"
        ))
        .bind(&parent.tenant)
        .bind(&parent.objective)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .iter()
        .map(objective_from_row)
        .collect()
    }

    /// The objective a create (or carry-over) with `request`'s id made, if any; an error
    /// when that id came with a different request.
    pub async fn objective_by_request_id(
        &self,
        tenant: &TenantName,
        request: &RequestId,
    ) -> ServiceResult<Option<Objective>> {
        check_retry(&self.pool, "objectives.objective", &tenant.tenant, request).await?;
        sqlx::query(select_objective!("where tenant = $1 and request_id = $2"))
            .bind(&tenant.tenant)
            .bind(request.id)
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
               and ($6::text is null or owner_team = $6)
               and ($7::text is null or stage = $7)
             order by seq limit $3"
        ))
        .bind(&tenant.tenant)
        .bind(after)
        .bind(limit)
        .bind(filter.show_deleted)
        .bind(filter.cycle.as_ref().map(|cycle| cycle.cycle.as_str()))
        .bind(filter.owner_team.as_deref())
        .bind(filter.stage.map(stage_text))
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
        let stored = match (inserted, &new.request_id) {
            (false, Some(request)) => {
                self.key_result_by_request_id(&new.name.tenant(), request)
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

    /// The key result a create with `request`'s id made, if any; an error when that id came
    /// with a different request.
    pub async fn key_result_by_request_id(
        &self,
        tenant: &TenantName,
        request: &RequestId,
    ) -> ServiceResult<Option<KeyResult>> {
        check_retry(&self.pool, "objectives.key_result", &tenant.tenant, request).await?;
        sqlx::query(select_key_result!(
            "where k.tenant = $1 and k.request_id = $2"
        ))
        .bind(&tenant.tenant)
        .bind(request.id)
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

/// Inserts an objective row with its parents; `None` when its request id was used before.
async fn insert_objective_row(
    connection: &mut PgConnection,
    new: &NewObjective,
) -> ServiceResult<Option<Objective>> {
    let alignment = &new.alignment;
    let query = sqlx::query(
        "insert into objectives.objective
             (tenant, objective_id, display_name, description, cycle_id, request_id, level,
              owner_team, stage, progress_driver, health_mode, weight, request_digest)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         on conflict (tenant, request_id) do nothing
         returning 1",
    )
    .bind(&new.name.tenant)
    .bind(&new.name.objective)
    .bind(&new.display_name)
    .bind(&new.description)
    .bind(&new.cycle.cycle)
    .bind(new.request_id.map(|request| request.id));
    let inserted = bind_alignment(query, alignment)
        .bind(new.request_id.map(|request| request.digest.to_vec()))
        .fetch_optional(&mut *connection)
        .await
        .map_err(|error| classify_insert(error, "objective", &new.name))?;
    if inserted.is_none() {
        return Ok(None);
    }
    // Without parents there is nothing to check, so no tenant-wide lock to take.
    if !alignment.parents.is_empty() {
        set_parents(connection, &new.name, &alignment.parents).await?;
    }
    objective_in(connection, &new.name).await.map(Some)
}

/// Replaces the parents of `child` by `parents`, which must be live objectives of its tenant
/// that do not have `child` among their ancestors. Links are written under a per-tenant lock,
/// so two concurrent changes cannot close a loop between them.
async fn set_parents(
    connection: &mut PgConnection,
    child: &ObjectiveName,
    parents: &[ObjectiveName],
) -> ServiceResult<()> {
    sqlx::query(
        "select pg_advisory_xact_lock(hashtextextended('objectives.objective_parent/' || $1, 0))",
    )
    .bind(&child.tenant)
    .execute(&mut *connection)
    .await
    .map_err(classify)?;
    let ids: Vec<&str> = parents
        .iter()
        .map(|parent| parent.objective.as_str())
        .collect();
    let found: Vec<(String, bool)> = sqlx::query_as(
        "select objective_id, delete_time is not null from objectives.objective
         where tenant = $1 and objective_id = any($2)",
    )
    .bind(&child.tenant)
    .bind(&ids)
    .fetch_all(&mut *connection)
    .await
    .map_err(classify)?;
    for parent in parents {
        let problem = match found.iter().find(|(id, _)| *id == parent.objective) {
            None => "does not exist",
            Some((_, true)) => "is deleted; undelete it first",
            Some((_, false)) => continue,
        };
        return Err(ServiceError::invalid(
            "objective.parents",
            format!("parent {parent} {problem}"),
        ));
    }
    // The path up from a new parent that reaches the child closes a loop.
    let ancestry: Option<Vec<String>> = sqlx::query_scalar(
        "with recursive up (objective_id, path) as (
             select parent, array[parent] from unnest($2::text[]) as parent
             union all
             select link.parent_id, up.path || link.parent_id
             from up join objectives.objective_parent link
               on link.tenant = $1 and link.objective_id = up.objective_id
             where not link.parent_id = any(up.path)
         )
         select path from up where objective_id = $3 order by cardinality(path) limit 1",
    )
    .bind(&child.tenant)
    .bind(&ids)
    .bind(&child.objective)
    .fetch_optional(&mut *connection)
    .await
    .map_err(classify)?;
    if let Some(path) = ancestry {
        let tenant = child.tenant();
        let chain: Vec<String> = std::iter::once(child.to_string())
            .chain(path.into_iter().map(|id| tenant.objective(id).to_string()))
            .collect();
        return Err(ServiceError::invalid(
            "objective.parents",
            format!(
                "would make {child} its own ancestor: {}; an objective cannot contribute to itself",
                chain.join(" → ")
            ),
        ));
    }
    sqlx::query("delete from objectives.objective_parent where tenant = $1 and objective_id = $2")
        .bind(&child.tenant)
        .bind(&child.objective)
        .execute(&mut *connection)
        .await
        .map_err(classify)?;
    sqlx::query(
        "insert into objectives.objective_parent (tenant, objective_id, parent_id, position)
         select $1, $2, parent, position from unnest($3::text[]) with ordinality as p (parent, position)",
    )
    .bind(&child.tenant)
    .bind(&child.objective)
    .bind(&ids)
    .execute(&mut *connection)
    .await
    .map_err(classify)?;
    Ok(())
}

/// Reads an objective in the transaction that changed it.
async fn objective_in(
    connection: &mut PgConnection,
    name: &ObjectiveName,
) -> ServiceResult<Objective> {
    let row = sqlx::query(select_objective!("where tenant = $1 and objective_id = $2"))
        .bind(&name.tenant)
        .bind(&name.objective)
        .fetch_one(connection)
        .await
        .map_err(classify)?;
    objective_from_row(&row)
}

/// What the audit log records of an objective's definition, with the fields a change named.
fn objective_change(objective: &Objective, fields: &[&str]) -> serde_json::Value {
    let alignment = &objective.alignment;
    serde_json::json!({
        "fields": fields,
        "displayName": objective.display_name,
        "description": objective.description,
        "cycle": objective.cycle.to_string(),
        "level": level_text(alignment.level),
        "ownerTeam": alignment.owner_team,
        "stage": stage_text(alignment.stage),
        "parents": alignment.parents.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "progressDriver": driver_text(alignment.progress_driver),
        "healthMode": health_mode_text(alignment.health_mode),
        "weight": alignment.weight.to_string(),
    })
}

/// Binds an objective's alignment columns in this order: level, owner_team, stage,
/// progress_driver, health_mode, weight.
fn bind_alignment<'q>(
    query: Query<'q, Postgres, PgArguments>,
    alignment: &'q Alignment,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(level_text(alignment.level))
        .bind(&alignment.owner_team)
        .bind(stage_text(alignment.stage))
        .bind(driver_text(alignment.progress_driver))
        .bind(health_mode_text(alignment.health_mode))
        .bind(alignment.weight)
}

fn level_text(level: ObjectiveLevel) -> &'static str {
    match level {
        ObjectiveLevel::Company => "company",
        ObjectiveLevel::Team => "team",
        ObjectiveLevel::Individual => "individual",
    }
}

fn stage_text(stage: ObjectiveStage) -> &'static str {
    match stage {
        ObjectiveStage::Draft => "draft",
        ObjectiveStage::Active => "active",
        ObjectiveStage::Closed => "closed",
    }
}

fn driver_text(driver: ObjectiveChildren) -> &'static str {
    match driver {
        ObjectiveChildren::KeyResults => "key_results",
        ObjectiveChildren::ChildObjectives => "child_objectives",
        ObjectiveChildren::KeyResultsAndChildObjectives => "both",
    }
}

fn health_mode_text(mode: ObjectiveHealthMode) -> &'static str {
    match mode {
        ObjectiveHealthMode::Worst => "worst",
        ObjectiveHealthMode::Weighted => "weighted",
    }
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
        ", request_digest)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18, $19, $20, $21, $22, $23, $24, $25, $26)
         on conflict (tenant, request_id) do nothing
         returning 1"
    ))
    .bind(&new.name.tenant)
    .bind(&new.name.objective)
    .bind(&new.name.key_result)
    .bind(&new.display_name)
    .bind(new.metric.as_ref().map(ToString::to_string))
    .bind(new.weight)
    .bind(new.request_id.map(|request| request.id));
    let inserted = DefinitionColumns::of(definition)
        .bind(query)
        .bind(new.request_id.map(|request| request.digest.to_vec()))
        .fetch_optional(&mut *connection)
        .await
        .map_err(|error| classify_insert(error, "key result", &new.name))?;
    if inserted.is_some()
        && let Some(rollup) = &new.rollup
    {
        rollups::insert_rollup(connection, &new.name, rollup).await?;
    }
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
        let tenant: String = row.try_get("tenant")?;
        Ok(Cycle {
            name: CycleName {
                tenant: tenant.clone(),
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
            parent: row
                .try_get::<Option<String>, _>(column("parent_id").as_str())?
                .map(|parent| CycleName {
                    tenant: tenant.clone(),
                    cycle: parent,
                }),
        })
    })
}

fn objective_from_row(row: &PgRow) -> ServiceResult<Objective> {
    read(|| {
        let tenant: String = row.try_get("tenant")?;
        let alignment = Alignment {
            level: match row.try_get::<&str, _>("level")? {
                "company" => ObjectiveLevel::Company,
                "team" => ObjectiveLevel::Team,
                "individual" => ObjectiveLevel::Individual,
                other => anyhow::bail!("unknown objective level {other:?}"),
            },
            owner_team: row.try_get("owner_team")?,
            stage: match row.try_get::<&str, _>("stage")? {
                "draft" => ObjectiveStage::Draft,
                "active" => ObjectiveStage::Active,
                "closed" => ObjectiveStage::Closed,
                other => anyhow::bail!("unknown objective stage {other:?}"),
            },
            parents: row
                .try_get::<Vec<String>, _>("parents")?
                .into_iter()
                .map(|parent| ObjectiveName {
                    tenant: tenant.clone(),
                    objective: parent,
                })
                .collect(),
            progress_driver: match row.try_get::<&str, _>("progress_driver")? {
                "key_results" => ObjectiveChildren::KeyResults,
                "child_objectives" => ObjectiveChildren::ChildObjectives,
                "both" => ObjectiveChildren::KeyResultsAndChildObjectives,
                other => anyhow::bail!("unknown progress driver {other:?}"),
            },
            health_mode: match row.try_get::<&str, _>("health_mode")? {
                "worst" => ObjectiveHealthMode::Worst,
                "weighted" => ObjectiveHealthMode::Weighted,
                other => anyhow::bail!("unknown health mode {other:?}"),
            },
            weight: row.try_get("weight")?,
        };
        Ok(Objective {
            alignment,
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

/// The names of `tenant`'s key results read as (objective id, key result id) rows.
fn key_result_names(tenant: &TenantName, rows: Vec<(String, String)>) -> Vec<KeyResultName> {
    rows.into_iter()
        .map(|(objective, key_result)| tenant.objective(objective).key_result(key_result))
        .collect()
}

/// Reads a key result's name from its `tenant`, `objective_id` and `key_result_id` columns.
fn key_result_name_from_row(row: &PgRow) -> anyhow::Result<KeyResultName> {
    Ok(KeyResultName {
        tenant: row.try_get("tenant")?,
        objective: row.try_get("objective_id")?,
        key_result: row.try_get("key_result_id")?,
    })
}

fn key_result_from_row(row: &PgRow) -> ServiceResult<KeyResult> {
    read(|| {
        Ok(KeyResult {
            name: key_result_name_from_row(row)?,
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
            rollup: rollups::rollup_from_row(row)?,
        })
    })
}
