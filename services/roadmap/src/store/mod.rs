//! All SQL of the roadmap service, against the `roadmap` schema only.

use devokr_domain::{
    names::{KeyResultName, RoadmapItemName, TenantName},
    roadmap::PlanningState,
};
use devokr_platform::{
    ServiceError, ServiceResult,
    db::{check_retry, classify, classify_insert},
    request::RequestId,
};
use sqlx::{PgPool, Row, postgres::PgRow};

use crate::app::{NewRoadmapItem, RoadmapItem};

/// The roadmap service's migrations; `sqlx.toml` keeps their table in the `roadmap` schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Items with their links in position order; a macro so that the SQL stays a literal.
macro_rules! select_roadmap_item {
    ($condition:literal) => {
        concat!(
            "select i.tenant, i.roadmap_item_id, i.seq, i.display_name, i.description, i.state,
                    i.deferral_reason, i.version, i.create_time,
                    coalesce(array_agg(l.key_result order by l.position)
                             filter (where l.key_result is not null), '{}') as key_results
             from roadmap.roadmap_item i
             left join roadmap.key_result_link l using (tenant, roadmap_item_id) ",
            $condition,
            " group by i.tenant, i.roadmap_item_id order by i.seq"
        )
    };
}

/// The roadmap service's database.
#[derive(Debug, Clone)]
pub struct RoadmapStore {
    pool: PgPool,
}

impl RoadmapStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Inserts an item and its links in one transaction; with a request id already used,
    /// returns the item it created.
    pub async fn insert_roadmap_item(
        &self,
        new: &NewRoadmapItem,
        state: &PlanningState,
    ) -> ServiceResult<RoadmapItem> {
        let (state_text, reason) = match state {
            PlanningState::Planned => ("planned", ""),
            PlanningState::Deferred { reason } => ("deferred", reason.as_str()),
        };
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let inserted = sqlx::query(
            "insert into roadmap.roadmap_item
                 (tenant, roadmap_item_id, display_name, description, state, deferral_reason,
                  request_id, request_digest)
             values ($1, $2, $3, $4, $5, $6, $7, $8)
             on conflict (tenant, request_id) do nothing
             returning roadmap_item_id",
        )
        .bind(&new.name.tenant)
        .bind(&new.name.roadmap_item)
        .bind(&new.display_name)
        .bind(&new.description)
        .bind(state_text)
        .bind(reason)
        .bind(new.request_id.map(|request| request.id))
        .bind(new.request_id.map(|request| request.digest.to_vec()))
        .fetch_optional(&mut *transaction)
        .await
        .map_err(|error| classify_insert(error, "roadmap item", &new.name))?;
        if inserted.is_none() {
            // Only a request id used before keeps a new row out: answer with what that
            // request created.
            drop(transaction);
            let created = match &new.request_id {
                Some(request) => {
                    self.roadmap_item_by_request_id(&new.name.tenant(), request)
                        .await?
                }
                None => None,
            };
            return created.ok_or_else(|| {
                ServiceError::Internal(anyhow::anyhow!(
                    "roadmap item {} was neither inserted nor found by its request id",
                    new.name
                ))
            });
        }
        let positions: Vec<i32> = (0..new.key_results.len())
            .map(|position| i32::try_from(position).unwrap_or(i32::MAX))
            .collect();
        let key_results: Vec<String> = new.key_results.iter().map(ToString::to_string).collect();
        sqlx::query(
            "insert into roadmap.key_result_link (tenant, roadmap_item_id, position, key_result)
             select $1, $2, * from unnest($3::int[], $4::text[])",
        )
        .bind(&new.name.tenant)
        .bind(&new.name.roadmap_item)
        .bind(&positions)
        .bind(&key_results)
        .execute(&mut *transaction)
        .await
        .map_err(classify)?;
        let row = sqlx::query(select_roadmap_item!(
            "where i.tenant = $1 and i.roadmap_item_id = $2"
        ))
        .bind(&new.name.tenant)
        .bind(&new.name.roadmap_item)
        .fetch_one(&mut *transaction)
        .await
        .map_err(classify)?;
        transaction.commit().await.map_err(classify)?;
        roadmap_item_from_row(&row)
    }

    pub async fn roadmap_item(&self, name: &RoadmapItemName) -> ServiceResult<Option<RoadmapItem>> {
        sqlx::query(select_roadmap_item!(
            "where i.tenant = $1 and i.roadmap_item_id = $2"
        ))
        .bind(&name.tenant)
        .bind(&name.roadmap_item)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?
        .map(|row| roadmap_item_from_row(&row))
        .transpose()
    }

    /// The item a create with `request_id` made, if any.
    pub async fn roadmap_item_by_request_id(
        &self,
        tenant: &TenantName,
        request: &RequestId,
    ) -> ServiceResult<Option<RoadmapItem>> {
        check_retry(&self.pool, "roadmap.roadmap_item", &tenant.tenant, request).await?;
        sqlx::query(select_roadmap_item!(
            "where i.tenant = $1 and i.request_id = $2"
        ))
        .bind(&tenant.tenant)
        .bind(request.id)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?
        .map(|row| roadmap_item_from_row(&row))
        .transpose()
    }

    /// Items in creation order after sequence number `after`, at most `limit`.
    pub async fn roadmap_items(
        &self,
        tenant: &TenantName,
        after: i64,
        limit: i64,
    ) -> ServiceResult<Vec<RoadmapItem>> {
        sqlx::query(concat!(
            select_roadmap_item!("where i.tenant = $1 and i.seq > $2"),
            " limit $3"
        ))
        .bind(&tenant.tenant)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .iter()
        .map(roadmap_item_from_row)
        .collect()
    }
}

fn roadmap_item_from_row(row: &PgRow) -> ServiceResult<RoadmapItem> {
    let read = || -> anyhow::Result<RoadmapItem> {
        let state = match row.try_get::<&str, _>("state")? {
            "planned" => PlanningState::Planned,
            "deferred" => PlanningState::Deferred {
                reason: row.try_get("deferral_reason")?,
            },
            other => anyhow::bail!("unknown state {other:?}"),
        };
        let key_results = row
            .try_get::<Vec<String>, _>("key_results")?
            .iter()
            .map(|name| KeyResultName::parse(name))
            .collect::<Result<_, _>>()?;
        Ok(RoadmapItem {
            name: RoadmapItemName {
                tenant: row.try_get("tenant")?,
                roadmap_item: row.try_get("roadmap_item_id")?,
            },
            display_name: row.try_get("display_name")?,
            description: row.try_get("description")?,
            key_results,
            state,
            create_time: row.try_get("create_time")?,
            version: row.try_get("version")?,
            seq: row.try_get("seq")?,
        })
    };
    read().map_err(|error| ServiceError::Internal(error.context("corrupt roadmap item row")))
}
