//! Tenant settings, and the health last published for each key result: a key result's health
//! changes with the clock and with the tenant's pace bands, and watchers hear of it.

use chrono::{DateTime, Utc};
use devokr_domain::{
    Decimal,
    calendar::{ScoreBands, WeekStart},
    cycle::parse_time_zone,
    health::{Health, PaceBands},
    names::{KeyResultName, TenantName},
};
use devokr_platform::{ServiceResult, db::classify, outbox};
use serde_json::json;
use sqlx::{PgConnection, Row, postgres::PgRow};

use super::{
    ObjectivesStore,
    check_ins::{KeyResultChanged, OUTBOX, audit, audit_and_publish},
};
use crate::app::{Actor, TenantSettings, settings_name};

/// What watchers were last told of a key result's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedHealth {
    pub name: KeyResultName,
    /// The outbox version of that message.
    pub version: i64,
    /// When it was published.
    pub time: DateTime<Utc>,
    /// The health it carried, when the service judged it (`None`: a stored change was
    /// published; its health is the status's at `time`).
    pub health: Option<Health>,
}

/// A key result's health as watchers were told it and as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthVerdict {
    pub name: KeyResultName,
    /// The outbox version the verdict was made at; a later change makes it moot.
    pub version: i64,
    pub told: Health,
    pub now: Health,
}

impl HealthVerdict {
    /// Watchers must hear of it.
    pub fn changed(&self) -> bool {
        self.told != self.now
    }
}

const SETTINGS_COLUMNS: &str = "tenant, time_zone, week_start, on_track_ratio, at_risk_ratio,
    score_yellow_from, score_green_from, version";

impl ObjectivesStore {
    /// A tenant's stored settings; `None` when it never changed the defaults.
    pub async fn tenant_settings(
        &self,
        tenant: &TenantName,
    ) -> ServiceResult<Option<TenantSettings>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "select {SETTINGS_COLUMNS} from objectives.tenant_settings where tenant = $1"
        )))
        .bind(&tenant.tenant)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?
        .map(|row| settings_from_row(&row))
        .transpose()
    }

    /// Stores `settings` if the stored version is still `expected` (0: never set), audits
    /// the change, publishes it to every replica, and settles `verdicts` (the key results
    /// the new pace bands re-judge), in one transaction. Returns the stored settings and the
    /// key results whose status was published.
    pub async fn update_tenant_settings(
        &self,
        settings: &TenantSettings,
        expected: i64,
        actor: &Actor,
        verdicts: &[HealthVerdict],
    ) -> ServiceResult<Option<(TenantSettings, Vec<KeyResultName>)>> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "insert into objectives.tenant_settings
                 (tenant, time_zone, week_start, on_track_ratio, at_risk_ratio,
                  score_yellow_from, score_green_from, version)
             values ($1, $2, $3, $4, $5, $6, $7, $8 + 1)
             on conflict (tenant) do update
                 set time_zone = excluded.time_zone, week_start = excluded.week_start,
                     on_track_ratio = excluded.on_track_ratio,
                     at_risk_ratio = excluded.at_risk_ratio,
                     score_yellow_from = excluded.score_yellow_from,
                     score_green_from = excluded.score_green_from,
                     version = excluded.version, update_time = now()
                 where objectives.tenant_settings.version = $8
             returning {SETTINGS_COLUMNS}"
        )))
        .bind(&settings.tenant.tenant)
        .bind(settings.time_zone.name())
        .bind(week_start_text(settings.week_start))
        .bind(settings.pace.on_track_ratio)
        .bind(settings.pace.at_risk_ratio)
        .bind(settings.scores.red_below())
        .bind(settings.scores.yellow_below())
        .bind(expected)
        .fetch_optional(&mut *transaction)
        .await
        .map_err(classify)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let stored = settings_from_row(&row)?;
        let name = settings_name(&settings.tenant);
        audit(
            &mut transaction,
            actor,
            &settings.tenant,
            "UpdateTenantSettings",
            &name,
            json!({
                "timeZone": stored.time_zone.name(),
                "weekStart": week_start_text(stored.week_start),
                "onTrackRatio": stored.pace.on_track_ratio.to_string(),
                "atRiskRatio": stored.pace.at_risk_ratio.to_string(),
                "scoreYellowFrom": stored.scores.red_below().to_string(),
                "scoreGreenFrom": stored.scores.yellow_below().to_string(),
            }),
        )
        .await?;
        // Before the re-judged statuses: every replica reloads the settings first, so it
        // answers those changes with the new pace bands.
        let change = KeyResultChanged {
            tenant_settings: name,
            ..Default::default()
        };
        outbox::append(&mut transaction, OUTBOX, &settings.tenant.tenant, &change)
            .await
            .map_err(classify)?;
        let published = settle_health(&mut transaction, verdicts, &Actor::service()).await?;
        transaction.commit().await.map_err(classify)?;
        Ok(Some((stored, published)))
    }

    /// What watchers were last told of every live key result of a cycle that is not closed
    /// (of `tenant`, or of every tenant), in a stable order.
    pub async fn published_health(
        &self,
        tenant: Option<&TenantName>,
    ) -> ServiceResult<Vec<PublishedHealth>> {
        // The objective and its cycle are a semi-join on the objective's key: as a plain
        // join, the planner may look key results up by the tenant alone (the cycle's tenant
        // equals theirs) while the tables have no statistics yet, as after a bulk import,
        // and read every key result once per objective: 1.1 s instead of 11 ms at 5,000.
        sqlx::query(
            "select k.tenant, k.objective_id, k.key_result_id, k.status_version, k.status_time,
                    k.published_health
             from objectives.key_result k
             where k.delete_time is null
               and ($1::text is null or k.tenant = $1)
               and exists (
                 select from objectives.objective o
                 join objectives.cycle c on c.tenant = o.tenant and c.cycle_id = o.cycle_id
                 where o.tenant = k.tenant and o.objective_id = k.objective_id
                   and o.delete_time is null and c.state <> 'closed')
             order by k.tenant, k.seq",
        )
        .bind(tenant.map(|tenant| tenant.tenant.as_str()))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .iter()
        .map(|row| {
            super::read(|| {
                Ok(PublishedHealth {
                    name: super::key_result_name_from_row(row)?,
                    version: row.try_get("status_version")?,
                    time: row.try_get("status_time")?,
                    health: row
                        .try_get::<Option<&str>, _>("published_health")?
                        .map(health_from_text)
                        .transpose()?,
                })
            })
        })
        .collect()
    }

    /// Publishes the statuses whose health changed with the clock, in one transaction, as
    /// automatic changes. Returns the key results published.
    pub async fn publish_health(
        &self,
        verdicts: &[HealthVerdict],
    ) -> ServiceResult<Vec<KeyResultName>> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let published = settle_health(&mut transaction, verdicts, &Actor::service()).await?;
        transaction.commit().await.map_err(classify)?;
        Ok(published)
    }
}

/// Records each verdict's health as the one watchers know, publishing (and auditing) the
/// changed ones; only while the key result is still at the verdict's version, so of several
/// replicas judging the same key result, one publishes. A key result another transaction is
/// changing is skipped: that change is published anyway. Returns the key results published.
async fn settle_health(
    connection: &mut PgConnection,
    verdicts: &[HealthVerdict],
    actor: &Actor,
) -> ServiceResult<Vec<KeyResultName>> {
    let mut published = Vec::new();
    for verdict in verdicts {
        let name = &verdict.name;
        let current = sqlx::query(
            "select 1 from objectives.key_result
             where tenant = $1 and objective_id = $2 and key_result_id = $3
               and status_version = $4
             for update skip locked",
        )
        .bind(&name.tenant)
        .bind(&name.objective)
        .bind(&name.key_result)
        .bind(verdict.version)
        .fetch_optional(&mut *connection)
        .await
        .map_err(classify)?;
        if current.is_none() {
            continue;
        }
        if verdict.changed() {
            audit_and_publish(
                &mut *connection,
                actor,
                name,
                "RejudgeHealth",
                json!({
                    "from": health_text(verdict.told),
                    "to": health_text(verdict.now),
                }),
                false,
            )
            .await?;
            published.push(name.clone());
        }
        sqlx::query(
            "update objectives.key_result set published_health = $4
             where tenant = $1 and objective_id = $2 and key_result_id = $3",
        )
        .bind(&name.tenant)
        .bind(&name.objective)
        .bind(&name.key_result)
        .bind(health_text(verdict.now))
        .execute(&mut *connection)
        .await
        .map_err(classify)?;
    }
    Ok(published)
}

fn settings_from_row(row: &PgRow) -> ServiceResult<TenantSettings> {
    super::read(|| {
        let week_start = match row.try_get::<&str, _>("week_start")? {
            "monday" => WeekStart::Monday,
            "sunday" => WeekStart::Sunday,
            other => anyhow::bail!("unknown week start {other:?}"),
        };
        Ok(TenantSettings {
            tenant: TenantName {
                tenant: row.try_get("tenant")?,
            },
            time_zone: parse_time_zone(row.try_get::<&str, _>("time_zone")?)?,
            week_start,
            pace: PaceBands::new(
                row.try_get::<Decimal, _>("on_track_ratio")?,
                row.try_get::<Decimal, _>("at_risk_ratio")?,
            )?,
            scores: ScoreBands::new(
                row.try_get::<Decimal, _>("score_yellow_from")?,
                row.try_get::<Decimal, _>("score_green_from")?,
            )?,
            version: row.try_get("version")?,
        })
    })
}

fn week_start_text(week_start: WeekStart) -> &'static str {
    match week_start {
        WeekStart::Monday => "monday",
        WeekStart::Sunday => "sunday",
    }
}

fn health_text(health: Health) -> &'static str {
    match health {
        Health::OnTrack => "on_track",
        Health::AtRisk => "at_risk",
        Health::OffTrack => "off_track",
        Health::Achieved => "achieved",
        Health::Missed => "missed",
        Health::Stale => "stale",
        Health::NoData => "no_data",
    }
}

fn health_from_text(text: &str) -> anyhow::Result<Health> {
    Ok(match text {
        "on_track" => Health::OnTrack,
        "at_risk" => Health::AtRisk,
        "off_track" => Health::OffTrack,
        "achieved" => Health::Achieved,
        "missed" => Health::Missed,
        "stale" => Health::Stale,
        "no_data" => Health::NoData,
        other => anyhow::bail!("unknown health {other:?}"),
    })
}
