//! Updates, soft deletes and undeletes of objectives and key results. Each is one transaction
//! that changes the row only if its version is still the expected one, bumps the version,
//! audits the change and publishes every change of a key result's status.

use chrono::{DateTime, Utc};
use devokr_domain::{
    Decimal,
    names::{KeyResultName, ObjectiveName},
};
use devokr_platform::{ServiceError, ServiceResult, db::classify};
use serde_json::json;
use sqlx::{PgConnection, Postgres, Row, Transaction};

use super::{
    ObjectivesStore, bind_alignment,
    check_ins::{audit, audit_and_publish},
    definition::{DefinitionColumns, definition_columns},
    key_result_from_row, objective_change, objective_from_row, objective_in, set_parents,
};
use crate::app::{Actor, Alignment, Definition, KeyResult, Objective};

/// The values an update of a key result writes (already merged with the stored ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyResultValues {
    pub display_name: String,
    pub definition: Definition,
    pub weight: Decimal,
}

/// The values an update of an objective writes (already merged with the stored ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectiveValues {
    pub display_name: String,
    pub description: String,
    pub alignment: Alignment,
}

/// What the row is now, read after a conditional update changed nothing.
struct Found {
    version: i64,
    delete_time: Option<DateTime<Utc>>,
}

/// Why a conditional change of a row changed nothing.
#[derive(Clone, Copy)]
enum Attempt {
    /// Delete, Update: the row must be live and (with an etag) at that version.
    Live(Option<i64>),
    /// Undelete: the row must be deleted.
    Deleted,
}

fn explain(
    found: Option<Found>,
    attempt: Attempt,
    resource_type: &'static str,
    name: &str,
) -> ServiceError {
    let not_found = || ServiceError::NotFound {
        resource_type,
        name: name.to_owned(),
    };
    let Some(found) = found else {
        return not_found();
    };
    match (attempt, found.delete_time) {
        // AIP-164: deleting an already deleted resource is NOT_FOUND.
        (Attempt::Live(_), Some(_)) => not_found(),
        (Attempt::Live(Some(expected)), None) if expected != found.version => {
            ServiceError::Aborted(format!(
                "{resource_type} {name} changed since it was read (its etag is now \"{}\", \
                 not \"{expected}\"); read it again",
                found.version
            ))
        }
        (Attempt::Live(_), None) => ServiceError::Aborted(format!(
            "{resource_type} {name} changed concurrently; read it again"
        )),
        (Attempt::Deleted, None) => ServiceError::AlreadyExists {
            resource_type,
            name: name.to_owned(),
        },
        (Attempt::Deleted, Some(_)) => ServiceError::Aborted(format!(
            "{resource_type} {name} changed concurrently; read it again"
        )),
    }
}

async fn found_objective(
    connection: &mut PgConnection,
    name: &ObjectiveName,
) -> ServiceResult<Option<Found>> {
    sqlx::query(
        "select version, delete_time from objectives.objective
         where tenant = $1 and objective_id = $2",
    )
    .bind(&name.tenant)
    .bind(&name.objective)
    .fetch_optional(connection)
    .await
    .map_err(classify)?
    .map(|row| {
        Ok(Found {
            version: row.try_get("version").map_err(classify)?,
            delete_time: row.try_get("delete_time").map_err(classify)?,
        })
    })
    .transpose()
}

async fn found_key_result(
    connection: &mut PgConnection,
    name: &KeyResultName,
) -> ServiceResult<Option<Found>> {
    sqlx::query(
        "select version, delete_time from objectives.key_result
         where tenant = $1 and objective_id = $2 and key_result_id = $3",
    )
    .bind(&name.tenant)
    .bind(&name.objective)
    .bind(&name.key_result)
    .fetch_optional(connection)
    .await
    .map_err(classify)?
    .map(|row| {
        Ok(Found {
            version: row.try_get("version").map_err(classify)?,
            delete_time: row.try_get("delete_time").map_err(classify)?,
        })
    })
    .transpose()
}

/// Reads a key result in the transaction that changed it.
async fn key_result_in(
    transaction: &mut Transaction<'_, Postgres>,
    name: &KeyResultName,
) -> ServiceResult<KeyResult> {
    let row = sqlx::query(select_key_result!(
        "where k.tenant = $1 and k.objective_id = $2 and k.key_result_id = $3"
    ))
    .bind(&name.tenant)
    .bind(&name.objective)
    .bind(&name.key_result)
    .fetch_one(&mut **transaction)
    .await
    .map_err(classify)?;
    key_result_from_row(&row)
}

impl ObjectivesStore {
    /// Changes an objective's fields if its version is still `version`; its parents only
    /// when `fields` names them (a parent deleted since does not block other changes).
    pub async fn update_objective(
        &self,
        name: &ObjectiveName,
        version: i64,
        values: &ObjectiveValues,
        fields: &[&str],
        actor: &Actor,
    ) -> ServiceResult<Objective> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let alignment = &values.alignment;
        let query = sqlx::query(
            "update objectives.objective
             set display_name = $4, description = $5, level = $6, owner_team = $7, stage = $8,
                 progress_driver = $9, health_mode = $10, weight = $11,
                 version = version + 1, update_time = now()
             where tenant = $1 and objective_id = $2 and version = $3 and delete_time is null
             returning 1",
        )
        .bind(&name.tenant)
        .bind(&name.objective)
        .bind(version)
        .bind(&values.display_name)
        .bind(&values.description);
        let row = bind_alignment(query, alignment)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(classify)?;
        if row.is_none() {
            let found = found_objective(&mut transaction, name).await?;
            return Err(explain(
                found,
                Attempt::Live(Some(version)),
                "objective",
                &name.to_string(),
            ));
        }
        if fields.contains(&"parents") {
            set_parents(&mut transaction, name, &alignment.parents).await?;
        }
        let objective = objective_in(&mut transaction, name).await?;
        audit(
            &mut transaction,
            actor,
            &name.tenant(),
            "UpdateObjective",
            &name.to_string(),
            objective_change(&objective, fields),
        )
        .await?;
        transaction.commit().await.map_err(classify)?;
        Ok(objective)
    }

    /// Soft-deletes a live objective (at `version`, when given) and its live key results,
    /// publishing each key result's removal. Returns the objective and the key results deleted
    /// with it.
    pub async fn delete_objective(
        &self,
        name: &ObjectiveName,
        version: Option<i64>,
        actor: &Actor,
    ) -> ServiceResult<(Objective, Vec<KeyResultName>)> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let row = sqlx::query(concat!(
            "update objectives.objective
             set delete_time = now(), update_time = now(), version = version + 1
             where tenant = $1 and objective_id = $2 and delete_time is null
               and ($3::bigint is null or version = $3)
             returning ",
            objective_columns!()
        ))
        .bind(&name.tenant)
        .bind(&name.objective)
        .bind(version)
        .fetch_optional(&mut *transaction)
        .await
        .map_err(classify)?;
        let Some(row) = row else {
            let found = found_objective(&mut transaction, name).await?;
            return Err(explain(
                found,
                Attempt::Live(version),
                "objective",
                &name.to_string(),
            ));
        };
        let objective = objective_from_row(&row)?;
        // `now()` is the transaction's start: the key results get the objective's delete time
        // exactly, which is how its undelete knows them.
        let ids: Vec<String> = sqlx::query_scalar(
            "update objectives.key_result
             set delete_time = now(), update_time = now(), version = version + 1
             where tenant = $1 and objective_id = $2 and delete_time is null
             returning key_result_id",
        )
        .bind(&name.tenant)
        .bind(&name.objective)
        .fetch_all(&mut *transaction)
        .await
        .map_err(classify)?;
        let removed = cascade(&mut transaction, actor, name, ids, Cascade::Delete).await?;
        transaction.commit().await.map_err(classify)?;
        Ok((objective, removed))
    }

    /// Restores a soft-deleted objective with the key results deleted with it (not those
    /// deleted on their own before), publishing each key result's return.
    pub async fn undelete_objective(
        &self,
        name: &ObjectiveName,
        actor: &Actor,
    ) -> ServiceResult<(Objective, Vec<KeyResultName>)> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let deleted: Option<DateTime<Utc>> = sqlx::query_scalar(
            "select delete_time from objectives.objective
             where tenant = $1 and objective_id = $2 and delete_time is not null for update",
        )
        .bind(&name.tenant)
        .bind(&name.objective)
        .fetch_optional(&mut *transaction)
        .await
        .map_err(classify)?;
        let Some(deleted) = deleted else {
            let found = found_objective(&mut transaction, name).await?;
            return Err(explain(
                found,
                Attempt::Deleted,
                "objective",
                &name.to_string(),
            ));
        };
        let row = sqlx::query(concat!(
            "update objectives.objective
             set delete_time = null, update_time = now(), version = version + 1
             where tenant = $1 and objective_id = $2
             returning ",
            objective_columns!()
        ))
        .bind(&name.tenant)
        .bind(&name.objective)
        .fetch_one(&mut *transaction)
        .await
        .map_err(classify)?;
        let ids: Vec<String> = sqlx::query_scalar(
            "update objectives.key_result
             set delete_time = null, update_time = now(), version = version + 1
             where tenant = $1 and objective_id = $2 and delete_time = $3
             returning key_result_id",
        )
        .bind(&name.tenant)
        .bind(&name.objective)
        .bind(deleted)
        .fetch_all(&mut *transaction)
        .await
        .map_err(classify)?;
        let restored = cascade(&mut transaction, actor, name, ids, Cascade::Undelete).await?;
        transaction.commit().await.map_err(classify)?;
        Ok((objective_from_row(&row)?, restored))
    }

    /// Changes a key result's definition if its version is still `version`, and publishes
    /// the change of its status (its progress follows the new baseline, target and weight).
    pub async fn update_key_result(
        &self,
        name: &KeyResultName,
        version: i64,
        values: &KeyResultValues,
        change: serde_json::Value,
        actor: &Actor,
    ) -> ServiceResult<KeyResult> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let columns = DefinitionColumns::of(&values.definition);
        let query = sqlx::query(concat!(
            "update objectives.key_result
             set display_name = $5, weight = $6, version = version + 1, update_time = now(), (",
            definition_columns!(),
            ") = ($7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
                  $23, $24)
             where tenant = $1 and objective_id = $2 and key_result_id = $3 and version = $4
               and delete_time is null
             returning 1"
        ))
        .bind(&name.tenant)
        .bind(&name.objective)
        .bind(&name.key_result)
        .bind(version)
        .bind(&values.display_name)
        .bind(values.weight);
        let updated = columns
            .bind(query)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(classify)?;
        if updated.is_none() {
            let found = found_key_result(&mut transaction, name).await?;
            return Err(explain(
                found,
                Attempt::Live(Some(version)),
                "key result",
                &name.to_string(),
            ));
        }
        audit_and_publish(
            &mut transaction,
            actor,
            name,
            "UpdateKeyResult",
            change,
            false,
        )
        .await?;
        let key_result = key_result_in(&mut transaction, name).await?;
        transaction.commit().await.map_err(classify)?;
        Ok(key_result)
    }

    /// Soft-deletes a live key result (at `version`, when given) and publishes its removal.
    pub async fn delete_key_result(
        &self,
        name: &KeyResultName,
        version: Option<i64>,
        actor: &Actor,
    ) -> ServiceResult<KeyResult> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let updated = sqlx::query(
            "update objectives.key_result
             set delete_time = now(), update_time = now(), version = version + 1
             where tenant = $1 and objective_id = $2 and key_result_id = $3
               and delete_time is null and ($4::bigint is null or version = $4)
             returning 1",
        )
        .bind(&name.tenant)
        .bind(&name.objective)
        .bind(&name.key_result)
        .bind(version)
        .fetch_optional(&mut *transaction)
        .await
        .map_err(classify)?;
        if updated.is_none() {
            let found = found_key_result(&mut transaction, name).await?;
            return Err(explain(
                found,
                Attempt::Live(version),
                "key result",
                &name.to_string(),
            ));
        }
        finish_key_result_change(transaction, actor, name, "DeleteKeyResult", true).await
    }

    /// Restores a soft-deleted key result of a live objective and publishes its return.
    pub async fn undelete_key_result(
        &self,
        name: &KeyResultName,
        actor: &Actor,
    ) -> ServiceResult<KeyResult> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let objective_deleted: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
            "select delete_time from objectives.objective
             where tenant = $1 and objective_id = $2 for share",
        )
        .bind(&name.tenant)
        .bind(&name.objective)
        .fetch_optional(&mut *transaction)
        .await
        .map_err(classify)?;
        if let Some(Some(_)) = objective_deleted {
            return Err(ServiceError::FailedPrecondition {
                reason: "OBJECTIVE_DELETED",
                subject: name.objective().to_string(),
                description: format!(
                    "objective {} is deleted; undelete it first",
                    name.objective()
                ),
            });
        }
        let updated = sqlx::query(
            "update objectives.key_result
             set delete_time = null, update_time = now(), version = version + 1
             where tenant = $1 and objective_id = $2 and key_result_id = $3
               and delete_time is not null
             returning 1",
        )
        .bind(&name.tenant)
        .bind(&name.objective)
        .bind(&name.key_result)
        .fetch_optional(&mut *transaction)
        .await
        .map_err(classify)?;
        if updated.is_none() {
            let found = found_key_result(&mut transaction, name).await?;
            return Err(explain(
                found,
                Attempt::Deleted,
                "key result",
                &name.to_string(),
            ));
        }
        finish_key_result_change(transaction, actor, name, "UndeleteKeyResult", false).await
    }
}

/// Whether an objective's key results go with it or come back with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cascade {
    Delete,
    Undelete,
}

/// Audits and publishes the key results (by id) that were deleted or restored with an
/// objective, then audits the objective; returns their names in id order.
async fn cascade(
    transaction: &mut PgConnection,
    actor: &Actor,
    objective: &ObjectiveName,
    key_result_ids: Vec<String>,
    cascade: Cascade,
) -> ServiceResult<Vec<KeyResultName>> {
    let (key_result_action, objective_action) = match cascade {
        Cascade::Delete => ("DeleteKeyResult", "DeleteObjective"),
        Cascade::Undelete => ("UndeleteKeyResult", "UndeleteObjective"),
    };
    let mut key_results: Vec<KeyResultName> = key_result_ids
        .into_iter()
        .map(|id| objective.key_result(id))
        .collect();
    key_results.sort_by(|a, b| a.key_result.cmp(&b.key_result));
    for key_result in &key_results {
        audit_and_publish(
            &mut *transaction,
            actor,
            key_result,
            key_result_action,
            json!({ "withObjective": objective.to_string() }),
            cascade == Cascade::Delete,
        )
        .await?;
    }
    audit(
        transaction,
        actor,
        &objective.tenant(),
        objective_action,
        &objective.to_string(),
        json!({
            "keyResults": key_results.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
    )
    .await?;
    Ok(key_results)
}

/// The end of a key result's delete or undelete: audit, publish, commit, the key result.
async fn finish_key_result_change(
    mut transaction: Transaction<'_, Postgres>,
    actor: &Actor,
    name: &KeyResultName,
    action: &str,
    removed: bool,
) -> ServiceResult<KeyResult> {
    audit_and_publish(&mut transaction, actor, name, action, json!({}), removed).await?;
    let key_result = key_result_in(&mut transaction, name).await?;
    transaction.commit().await.map_err(classify)?;
    Ok(key_result)
}
