//! Rollup key results: their children, and their values recorded as 'rollup' check-ins.

use chrono::{DateTime, Utc};
use devokr_domain::{
    Decimal,
    names::{KeyResultName, ObjectiveName},
    rollup::RollupAggregation,
};
use devokr_platform::{ServiceResult, db::classify};
use serde_json::json;
use sqlx::{PgConnection, Row, postgres::PgRow};

use super::{
    ObjectivesStore,
    check_ins::{
        AutomaticValue, latest_automatic_value, lock_key_result, publish, record_automatic_check_in,
    },
    key_result_names,
};
use crate::app::{CheckInSource, Rollup};

/// What recording a rollup's value did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupWrite {
    /// A new value was recorded, audited and published.
    Recorded,
    /// The latest value is already this one.
    Unchanged,
    /// A child changed since its value was read: compute again.
    InputsChanged,
}

fn aggregation_text(aggregation: RollupAggregation) -> &'static str {
    match aggregation {
        RollupAggregation::Sum => "sum",
        RollupAggregation::Average => "mean",
    }
}

/// Stores the definition of a rollup key result created in `connection`'s transaction.
pub(super) async fn insert_rollup(
    connection: &mut PgConnection,
    name: &KeyResultName,
    rollup: &Rollup,
) -> ServiceResult<()> {
    sqlx::query(
        "insert into objectives.key_result_rollup (tenant, objective_id, key_result_id, aggregation)
         values ($1, $2, $3, $4)",
    )
    .bind(&name.tenant)
    .bind(&name.objective)
    .bind(&name.key_result)
    .bind(aggregation_text(rollup.aggregation))
    .execute(&mut *connection)
    .await
    .map_err(classify)?;
    let objectives: Vec<&str> = rollup
        .children
        .iter()
        .map(|child| child.objective.as_str())
        .collect();
    let key_results: Vec<&str> = rollup
        .children
        .iter()
        .map(|child| child.key_result.as_str())
        .collect();
    sqlx::query(
        "insert into objectives.key_result_rollup_child
             (tenant, objective_id, key_result_id, child_objective_id, child_key_result_id, position)
         select $1, $2, $3, child.objective_id, child.key_result_id, child.position
         from unnest($4::text[], $5::text[]) with ordinality
              as child (objective_id, key_result_id, position)",
    )
    .bind(&name.tenant)
    .bind(&name.objective)
    .bind(&name.key_result)
    .bind(&objectives)
    .bind(&key_results)
    .execute(connection)
    .await
    .map_err(classify)?;
    Ok(())
}

/// Reads the `rollup_aggregation` and `rollup_children` columns of a key-result row.
pub(super) fn rollup_from_row(row: &PgRow) -> anyhow::Result<Option<Rollup>> {
    let Some(aggregation) = row.try_get::<Option<&str>, _>("rollup_aggregation")? else {
        return Ok(None);
    };
    let aggregation = match aggregation {
        "sum" => RollupAggregation::Sum,
        "mean" => RollupAggregation::Average,
        other => anyhow::bail!("unknown rollup aggregation {other:?}"),
    };
    let tenant: String = row.try_get("tenant")?;
    let children = row
        .try_get::<Vec<String>, _>("rollup_children")?
        .into_iter()
        .map(|child| {
            let (objective, key_result) = child.split_once('/').ok_or_else(|| {
                anyhow::anyhow!("rollup child {child:?} is not objective/key result")
            })?;
            Ok(ObjectiveName {
                tenant: tenant.clone(),
                objective: objective.to_owned(),
            }
            .key_result(key_result))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(Rollup {
        aggregation,
        children,
    }))
}

impl ObjectivesStore {
    /// The live rollup key results that have `child` among their children.
    pub async fn rollups_of(&self, child: &KeyResultName) -> ServiceResult<Vec<KeyResultName>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "select rc.objective_id, rc.key_result_id
             from objectives.key_result_rollup_child rc
             join objectives.key_result k using (tenant, objective_id, key_result_id)
             where rc.tenant = $1 and rc.child_objective_id = $2 and rc.child_key_result_id = $3
               and k.delete_time is null
             order by k.seq",
        )
        .bind(&child.tenant)
        .bind(&child.objective)
        .bind(&child.key_result)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        Ok(key_result_names(&child.tenant(), rows))
    }

    /// Records `value` as the rollup's new value, computed from its children at the status
    /// versions of `inputs`, unless it is its latest value already or a child has changed
    /// since (then the caller computes again). The rollup's row lock makes concurrent
    /// recomputations take turns, so an older computation never overwrites a newer one.
    pub async fn record_rollup_value(
        &self,
        rollup: &KeyResultName,
        value: Decimal,
        measured_at: DateTime<Utc>,
        inputs: &[(KeyResultName, i64)],
    ) -> ServiceResult<RollupWrite> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        lock_key_result(&mut transaction, rollup).await?;
        for (child, version) in inputs {
            let now: Option<i64> = sqlx::query_scalar(
                "select status_version from objectives.key_result
                 where tenant = $1 and objective_id = $2 and key_result_id = $3",
            )
            .bind(&child.tenant)
            .bind(&child.objective)
            .bind(&child.key_result)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(classify)?;
            if now != Some(*version) {
                return Ok(RollupWrite::InputsChanged);
            }
        }
        let latest =
            latest_automatic_value(&mut transaction, rollup, CheckInSource::Rollup).await?;
        if latest.and_then(|latest| latest.value) == Some(value) {
            return Ok(RollupWrite::Unchanged);
        }
        record_automatic_check_in(
            &mut transaction,
            rollup,
            CheckInSource::Rollup,
            &AutomaticValue {
                value: Some(value),
                numerator: None,
                denominator: None,
            },
            Some(measured_at),
            "RecomputeRollupValue",
            json!({
                "value": value.to_string(),
                "children": inputs.iter().map(|(child, _)| child.to_string()).collect::<Vec<_>>(),
            }),
        )
        .await?;
        publish(&mut transaction, rollup, false).await?;
        transaction.commit().await.map_err(classify)?;
        Ok(RollupWrite::Recorded)
    }
}
