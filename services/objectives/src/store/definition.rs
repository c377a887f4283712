//! A key result's definition in the columns of `objectives.key_result` (migration 0004), one
//! mapping for insert, update, read and the audit log.

use chrono::{DateTime, TimeDelta, Utc};
use devokr_domain::{
    Decimal,
    health::{Freshness, InterimTarget},
    key_result::{
        Bound, KeyResultKind, MetricKeyResult, Milestone, ThresholdKeyResult, ThresholdScoring,
    },
    progress::{Direction, MetricTarget},
    units::{CurrencyCode, Unit},
};
use devokr_platform::{ServiceError, ServiceResult};
use serde::{Deserialize, Serialize};
use sqlx::{
    Postgres, Row,
    postgres::{PgArguments, PgRow},
    query::Query,
    types::Json,
};

use crate::app::Definition;

/// The definition columns, in the order [`DefinitionColumns::bind`] binds them; a macro so
/// that the SQL that lists them stays a literal.
macro_rules! definition_columns {
    () => {
        "kind, baseline, target, direction, commit_level, stretch_level, threshold_comparison,
         threshold_low, threshold_high, threshold_scoring, milestones, unit, currency_code,
         score_min, score_max, update_cadence_seconds, stale_grace_seconds, interim_targets"
    };
}
pub(super) use definition_columns;

/// One milestone as stored in the `milestones` JSON array.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredMilestone {
    title: String,
    weight: Decimal,
    done: bool,
}

/// One interim target as stored in the `interim_targets` JSON array.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredInterimTarget {
    time: DateTime<Utc>,
    progress: Decimal,
}

/// A definition as column values; also what the audit log records of it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DefinitionColumns {
    kind: &'static str,
    baseline: Option<Decimal>,
    target: Option<Decimal>,
    direction: Option<&'static str>,
    commit_level: Option<Decimal>,
    stretch_level: Option<Decimal>,
    threshold_comparison: Option<&'static str>,
    threshold_low: Option<Decimal>,
    threshold_high: Option<Decimal>,
    threshold_scoring: Option<&'static str>,
    milestones: Vec<StoredMilestone>,
    unit: &'static str,
    currency_code: Option<&'static str>,
    score_min: Option<Decimal>,
    score_max: Option<Decimal>,
    update_cadence_seconds: Option<i64>,
    stale_grace_seconds: i64,
    interim_targets: Vec<StoredInterimTarget>,
}

impl DefinitionColumns {
    pub(super) fn of(definition: &Definition) -> Self {
        let mut columns = Self {
            kind: "metric",
            baseline: None,
            target: None,
            direction: None,
            commit_level: None,
            stretch_level: None,
            threshold_comparison: None,
            threshold_low: None,
            threshold_high: None,
            threshold_scoring: None,
            milestones: Vec::new(),
            unit: "number",
            currency_code: None,
            score_min: None,
            score_max: None,
            update_cadence_seconds: definition
                .freshness
                .map(|freshness| freshness.cadence().num_seconds()),
            stale_grace_seconds: definition
                .freshness
                .map_or(0, |freshness| freshness.grace().num_seconds()),
            interim_targets: definition
                .interim_targets
                .iter()
                .map(|target| StoredInterimTarget {
                    time: target.at,
                    progress: target.progress,
                })
                .collect(),
        };
        match &definition.kind {
            KeyResultKind::Metric(metric) => {
                let target = metric.target();
                columns.baseline = Some(target.baseline());
                columns.target = Some(target.target());
                columns.direction = Some(direction_text(target.direction()));
                columns.commit_level = metric.commit();
                columns.stretch_level = metric.stretch();
            }
            KeyResultKind::Threshold(threshold) => {
                columns.kind = "threshold";
                let (comparison, low, high) = match threshold.bound() {
                    Bound::AtLeast(low) => ("at_least", Some(low), None),
                    Bound::AtMost(high) => ("at_most", None, Some(high)),
                    Bound::Between { low, high } => ("between", Some(low), Some(high)),
                };
                columns.threshold_comparison = Some(comparison);
                columns.threshold_low = low;
                columns.threshold_high = high;
                columns.threshold_scoring = Some(match threshold.scoring() {
                    ThresholdScoring::LatestPassFail => "latest_pass_fail",
                    ThresholdScoring::ShareOfCheckInsMet => "share_of_check_ins",
                });
            }
            KeyResultKind::Binary => columns.kind = "binary",
            KeyResultKind::Milestones(milestones) => {
                columns.kind = "milestones";
                columns.milestones = milestones
                    .iter()
                    .map(|milestone| StoredMilestone {
                        title: milestone.title.clone(),
                        weight: milestone.weight,
                        done: milestone.done,
                    })
                    .collect();
            }
            KeyResultKind::ManualPercent => columns.kind = "manual_percent",
        }
        columns.unit = match definition.unit {
            Unit::Percent => "percent",
            Unit::Number => "number",
            Unit::Currency(code) => {
                columns.currency_code = Some(code.as_str());
                "currency"
            }
            Unit::Duration => "duration",
            Unit::Score { min, max } => {
                columns.score_min = Some(min);
                columns.score_max = Some(max);
                "score"
            }
        };
        columns
    }

    /// Binds the columns in the order of [`definition_columns`].
    pub(super) fn bind<'q>(
        &'q self,
        query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        query
            .bind(self.kind)
            .bind(self.baseline)
            .bind(self.target)
            .bind(self.direction)
            .bind(self.commit_level)
            .bind(self.stretch_level)
            .bind(self.threshold_comparison)
            .bind(self.threshold_low)
            .bind(self.threshold_high)
            .bind(self.threshold_scoring)
            .bind(Json(&self.milestones))
            .bind(self.unit)
            .bind(self.currency_code)
            .bind(self.score_min)
            .bind(self.score_max)
            .bind(self.update_cadence_seconds)
            .bind(self.stale_grace_seconds)
            .bind(Json(&self.interim_targets))
    }
}

/// The definition as the audit log records it.
pub fn definition_json(definition: &Definition) -> ServiceResult<serde_json::Value> {
    serde_json::to_value(DefinitionColumns::of(definition)).map_err(|error| {
        ServiceError::Internal(
            anyhow::Error::new(error).context("a key-result definition as audit JSON"),
        )
    })
}

pub(super) fn direction_text(direction: Direction) -> &'static str {
    match direction {
        Direction::Increase => "increase",
        Direction::Decrease => "decrease",
    }
}

/// Reads the definition columns of a key-result row.
pub(super) fn definition_from_row(row: &PgRow) -> anyhow::Result<Definition> {
    let decimal = |column: &str| row.try_get::<Option<Decimal>, _>(column);
    let required =
        |column: &str| decimal(column)?.ok_or_else(|| anyhow::anyhow!("{column} is null"));
    let kind = match row.try_get::<&str, _>("kind")? {
        "metric" => {
            let direction = match row.try_get::<&str, _>("direction")? {
                "increase" => Direction::Increase,
                "decrease" => Direction::Decrease,
                other => anyhow::bail!("unknown direction {other:?}"),
            };
            let target =
                MetricTarget::new(required("baseline")?, required("target")?, Some(direction))?;
            KeyResultKind::Metric(MetricKeyResult::new(
                target,
                decimal("commit_level")?,
                decimal("stretch_level")?,
            )?)
        }
        "threshold" => {
            let bound = match row.try_get::<&str, _>("threshold_comparison")? {
                "at_least" => Bound::AtLeast(required("threshold_low")?),
                "at_most" => Bound::AtMost(required("threshold_high")?),
                "between" => Bound::Between {
                    low: required("threshold_low")?,
                    high: required("threshold_high")?,
                },
                other => anyhow::bail!("unknown threshold comparison {other:?}"),
            };
            let scoring = match row.try_get::<&str, _>("threshold_scoring")? {
                "latest_pass_fail" => ThresholdScoring::LatestPassFail,
                "share_of_check_ins" => ThresholdScoring::ShareOfCheckInsMet,
                other => anyhow::bail!("unknown threshold scoring {other:?}"),
            };
            KeyResultKind::Threshold(ThresholdKeyResult::new(bound, scoring)?)
        }
        "binary" => KeyResultKind::Binary,
        "milestones" => {
            let Json(stored) = row.try_get::<Json<Vec<StoredMilestone>>, _>("milestones")?;
            KeyResultKind::Milestones(
                stored
                    .into_iter()
                    .map(|milestone| Milestone {
                        title: milestone.title,
                        weight: milestone.weight,
                        done: milestone.done,
                    })
                    .collect(),
            )
        }
        "manual_percent" => KeyResultKind::ManualPercent,
        other => anyhow::bail!("unknown key result kind {other:?}"),
    };
    let unit = match row.try_get::<&str, _>("unit")? {
        "percent" => Unit::Percent,
        "number" => Unit::Number,
        "currency" => Unit::Currency(CurrencyCode::parse(
            row.try_get::<&str, _>("currency_code")?,
        )?),
        "duration" => Unit::Duration,
        "score" => Unit::score(required("score_min")?, required("score_max")?)?,
        other => anyhow::bail!("unknown unit {other:?}"),
    };
    let freshness = row
        .try_get::<Option<i64>, _>("update_cadence_seconds")?
        .map(|cadence| {
            Freshness::new(
                TimeDelta::seconds(cadence),
                TimeDelta::seconds(row.try_get("stale_grace_seconds")?),
            )
            .map_err(anyhow::Error::from)
        })
        .transpose()?;
    let Json(interim) = row.try_get::<Json<Vec<StoredInterimTarget>>, _>("interim_targets")?;
    Ok(Definition {
        kind,
        unit,
        freshness,
        interim_targets: interim
            .into_iter()
            .map(|target| InterimTarget {
                at: target.time,
                progress: target.progress,
            })
            .collect(),
    })
}
