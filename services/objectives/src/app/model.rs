//! The models the objectives service's use cases work on.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use devokr_domain::{
    Decimal,
    calendar::{CycleState, ScoreBands, WeekStart},
    cycle::Cycle as CyclePeriod,
    health::{
        Assessment, Health, InterimTarget, ObjectiveChildren, ObjectiveHealthMode, PaceBands,
    },
    key_result::{Milestone, ThresholdKeyResult},
    names::{CycleName, KeyResultName, MetricName, ObjectiveName, TenantName},
    progress::{Direction, Progress},
    rollup::RollupAggregation,
    units::Unit,
};
use devokr_platform::request::RequestId;

use super::{Definition, KeyResultSpec};

/// A metric's ratio (0 to 1) in a key result's unit: percent shows it times 100. Only percent
/// and number key results are bound to metrics.
pub fn value_of_ratio(unit: &Unit, ratio: Decimal) -> Decimal {
    match unit {
        Unit::Percent => (ratio * Decimal::ONE_HUNDRED).normalize(),
        Unit::Number | Unit::Currency(_) | Unit::Duration | Unit::Score { .. } => ratio,
    }
}

/// A stored cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub name: CycleName,
    pub display_name: String,
    pub period: CyclePeriod,
    pub create_time: DateTime<Utc>,
    pub version: i64,
    pub seq: i64,
    pub state: CycleState,
    /// The cycle this one is part of, which holds it.
    pub parent: Option<CycleName>,
}

/// A cycle to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCycle {
    pub name: CycleName,
    pub display_name: String,
    pub period: CyclePeriod,
    pub parent: Option<CycleName>,
    pub request_id: Option<RequestId>,
}

/// The level an objective is set at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ObjectiveLevel {
    Company,
    #[default]
    Team,
    Individual,
}

/// Where an objective is in its life; only active ones count in their parents' progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ObjectiveStage {
    Draft,
    #[default]
    Active,
    Closed,
}

/// How an objective sits among the others and how it rolls up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alignment {
    pub level: ObjectiveLevel,
    pub owner_team: String,
    pub stage: ObjectiveStage,
    /// The objectives it contributes to, of the same tenant; never a loop.
    pub parents: Vec<ObjectiveName>,
    pub progress_driver: ObjectiveChildren,
    pub health_mode: ObjectiveHealthMode,
    /// Relative weight in its parents' progress, 0 to 1,000.
    pub weight: Decimal,
}

impl Default for Alignment {
    fn default() -> Self {
        Self {
            level: ObjectiveLevel::default(),
            owner_team: String::new(),
            stage: ObjectiveStage::default(),
            parents: Vec::new(),
            progress_driver: ObjectiveChildren::default(),
            health_mode: ObjectiveHealthMode::default(),
            weight: Decimal::ONE,
        }
    }
}

/// A stored objective.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objective {
    pub name: ObjectiveName,
    pub display_name: String,
    pub description: String,
    pub cycle: CycleName,
    pub alignment: Alignment,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    /// When it was soft-deleted; `None` while it is live.
    pub delete_time: Option<DateTime<Utc>>,
    pub version: i64,
    pub seq: i64,
}

/// An objective to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewObjective {
    pub name: ObjectiveName,
    pub display_name: String,
    pub description: String,
    pub cycle: CycleName,
    pub alignment: Alignment,
    pub request_id: Option<RequestId>,
}

/// A stored key result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyResult {
    pub name: KeyResultName,
    pub display_name: String,
    /// Kind, unit, freshness and expected-progress curve.
    pub definition: Definition,
    /// The metric its value is read from; `None` for a key result that takes check-ins.
    pub metric: Option<MetricName>,
    /// Why the metric could not be read at the last attempt.
    pub metric_problem: Option<String>,
    /// The score given when its cycle closed, from 0 to 1.
    pub score: Option<Decimal>,
    /// Why the score was overridden; empty when it follows the bands.
    pub score_override_reason: String,
    pub weight: Decimal,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    /// When it was soft-deleted; `None` while it is live.
    pub delete_time: Option<DateTime<Utc>>,
    pub version: i64,
    pub seq: i64,
    /// Set for a rollup key result, whose value comes from its children.
    pub rollup: Option<Rollup>,
}

/// How a rollup key result's value follows its child key results' values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollup {
    pub aggregation: RollupAggregation,
    /// Key results of the same tenant and unit, each once.
    pub children: Vec<KeyResultName>,
}

/// A key result to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKeyResult {
    pub name: KeyResultName,
    pub display_name: String,
    /// Checked against the objective's cycle when it is created.
    pub spec: KeyResultSpec,
    pub metric: Option<MetricName>,
    pub weight: Decimal,
    pub request_id: Option<RequestId>,
    pub rollup: Option<Rollup>,
}

impl NewObjective {
    /// A copy of `objective`'s definition named `name` in `cycle`: what CarryOverObjective
    /// creates. Built field by field from the model, so a field added to objectives must be
    /// decided on here.
    pub fn carried_over(
        objective: &Objective,
        name: ObjectiveName,
        cycle: CycleName,
        request_id: Option<RequestId>,
    ) -> Self {
        Self {
            name,
            display_name: objective.display_name.clone(),
            description: objective.description.clone(),
            cycle,
            // Level, owner, stage, parents, driver, health mode and weight stay as they were.
            alignment: objective.alignment.clone(),
            request_id,
        }
    }
}

impl NewKeyResult {
    /// A copy of `key_result`'s definition under the objective `objective` (same id), moved
    /// from the cycle `from` to `to`: its kind, unit, levels, metric binding and weight, with
    /// its interim targets at the same share of the new cycle; never its values, score or
    /// problems. A rollup rolls up the copies of its children in its own objective that are
    /// `carried` (a deleted child drops out), and its children elsewhere as they are; with no
    /// child left, the copy takes check-ins.
    pub fn carried_over(
        key_result: &KeyResult,
        objective: &ObjectiveName,
        carried: &[KeyResultName],
        from: &CyclePeriod,
        to: &CyclePeriod,
    ) -> Self {
        let mut spec = key_result.definition.spec(key_result.metric.is_some());
        for target in &mut spec.interim_targets {
            *target = target.carried(from, to);
        }
        Self {
            name: objective.key_result(key_result.name.key_result.clone()),
            display_name: key_result.display_name.clone(),
            spec,
            metric: key_result.metric.clone(),
            weight: key_result.weight,
            request_id: None,
            rollup: key_result
                .rollup
                .as_ref()
                .map(|rollup| Rollup {
                    aggregation: rollup.aggregation,
                    children: rollup
                        .children
                        .iter()
                        .filter_map(|child| {
                            if child.objective() != key_result.name.objective() {
                                Some(child.clone())
                            } else if carried.contains(child) {
                                Some(objective.key_result(child.key_result.clone()))
                            } else {
                                None
                            }
                        })
                        .collect(),
                })
                .filter(|rollup| !rollup.children.is_empty()),
        }
    }
}

/// The fields of an objective an update changes; `None` leaves one as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectiveUpdate {
    pub name: ObjectiveName,
    /// The version the caller's etag quotes; `None` when it sent none.
    pub version: Option<i64>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub level: Option<ObjectiveLevel>,
    pub owner_team: Option<String>,
    pub stage: Option<ObjectiveStage>,
    pub parents: Option<Vec<ObjectiveName>>,
    pub progress_driver: Option<ObjectiveChildren>,
    pub health_mode: Option<ObjectiveHealthMode>,
    pub weight: Option<Decimal>,
}

/// The fields of a key result an update changes; `None` leaves one as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyResultUpdate {
    pub name: KeyResultName,
    /// The version the caller's etag quotes; `None` when it sent none.
    pub version: Option<i64>,
    pub display_name: Option<String>,
    pub baseline: Option<Decimal>,
    pub target: Option<Decimal>,
    /// `Some(None)`: derive the direction from baseline and target.
    pub direction: Option<Option<Direction>>,
    /// `Some(None)`: remove the level.
    pub commit: Option<Option<Decimal>>,
    pub stretch: Option<Option<Decimal>>,
    pub threshold: Option<ThresholdKeyResult>,
    /// The whole checklist: marking a milestone done sends the list with it done.
    pub milestones: Option<Vec<Milestone>>,
    pub weight: Option<Decimal>,
    /// `Some(None)`: values never go stale by age.
    pub update_cadence: Option<Option<TimeDelta>>,
    pub stale_grace: Option<Option<TimeDelta>>,
    /// `Some(vec![])`: the linear curve.
    pub interim_targets: Option<Vec<InterimTarget>>,
}

/// ListObjectives' filter and whether to show soft-deleted objectives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectiveFilter {
    /// Only the objectives of this cycle.
    pub cycle: Option<CycleName>,
    /// Only the objectives this team owns.
    pub owner_team: Option<String>,
    /// Only the objectives at this stage.
    pub stage: Option<ObjectiveStage>,
    /// Only the objectives whose status, judged now, has this health.
    pub health: Option<Health>,
    pub show_deleted: bool,
}

/// A key result's current value, in its unit, with the counts behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyResultValue {
    /// `None` when undefined (the metric's population is empty).
    pub value: Option<Decimal>,
    pub numerator: i64,
    pub denominator: i64,
    pub evaluate_time: Option<DateTime<Utc>>,
}

/// How a key result is doing at `evaluation_time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyResultStatus {
    pub key_result: KeyResult,
    pub cycle: CycleName,
    /// The latest value; `None` when there is none yet.
    pub value: Option<KeyResultValue>,
    pub progress: Option<Progress>,
    pub assessment: Assessment,
    pub evaluation_time: DateTime<Utc>,
    /// The manual confidence of the latest check-in.
    pub confidence: Option<Decimal>,
    /// When the latest value was measured.
    pub last_value_time: Option<DateTime<Utc>>,
    /// Why the value is stale or missing, when it is.
    pub data_problem: Option<String>,
    /// The version of the last change of this key result (0 before any).
    pub version: i64,
}

/// How an objective is doing at `evaluation_time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectiveStatus {
    pub objective: ObjectiveName,
    /// Weighted mean of the clamped progress of what the driver counts; `None` without values
    /// or when the weights leave it undefined (the explanation says so).
    pub progress: Option<Decimal>,
    pub health: Health,
    pub explanation: String,
    pub key_results: Vec<KeyResultStatus>,
    pub evaluation_time: DateTime<Utc>,
    pub progress_driver: ObjectiveChildren,
    pub health_mode: ObjectiveHealthMode,
    /// The child objectives counted (live and active), when the driver uses them.
    pub child_objectives: Vec<ChildObjectiveStatus>,
}

/// How a child objective counts in its parent's rollup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildObjectiveStatus {
    pub objective: ObjectiveName,
    pub weight: Decimal,
    pub progress: Option<Decimal>,
    pub health: Health,
    pub explanation: String,
}

/// Where a check-in's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckInSource {
    Manual,
    Metric,
    Import,
    Rollup,
}

/// A recorded value of a key result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckIn {
    pub key_result: KeyResultName,
    /// Position among all check-ins of the tenant, in recording order.
    pub id: i64,
    /// `None` only for a metric reading with an empty population (undefined).
    pub value: Option<Decimal>,
    /// For metric readings: users that met the criterion, and the population.
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
    pub measure_time: DateTime<Utc>,
    pub record_time: DateTime<Utc>,
    pub source: CheckInSource,
    pub author: String,
    pub comment: String,
    pub confidence: Option<Decimal>,
    pub idempotency_key: String,
    /// The check-in this one corrects.
    pub supersedes: Option<i64>,
    /// Accepted into a closed cycle.
    pub late: bool,
}

/// A check-in to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckIn {
    pub key_result: KeyResultName,
    pub value: Option<Decimal>,
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
    /// `None` means now.
    pub measure_time: Option<DateTime<Utc>>,
    pub source: CheckInSource,
    pub author: String,
    pub comment: String,
    pub confidence: Option<Decimal>,
    pub idempotency_key: String,
    pub supersedes: Option<i64>,
    pub allow_late: bool,
}

/// Who makes a change, and the request it came with, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// A person or a service, for example "alice" or "service:objectives".
    pub name: String,
    /// The caller's request id, if it sent one.
    pub request_id: String,
}

impl Actor {
    /// The objectives service itself, for automatic changes.
    pub fn service() -> Self {
        Self {
            name: "service:objectives".to_owned(),
            request_id: String::new(),
        }
    }
}

/// Whether the hypothesis behind a key result or objective held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HypothesisOutcome {
    Unspecified,
    Held,
    Rejected,
    Inconclusive,
}

/// What was learned on a key result or objective.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learning {
    /// The key result or objective it is about.
    pub subject: String,
    pub id: i64,
    pub text: String,
    pub hypothesis: HypothesisOutcome,
    pub author: String,
    pub create_time: DateTime<Utc>,
}

/// A learning to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLearning {
    pub subject: String,
    pub text: String,
    pub hypothesis: HypothesisOutcome,
    pub author: String,
    pub request_id: Option<RequestId>,
}

/// A score set by a person instead of the bands, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreOverrideFor {
    pub key_result: KeyResultName,
    pub score: Decimal,
    pub reason: String,
}

/// One change, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub sequence: i64,
    pub time: DateTime<Utc>,
    pub actor: String,
    pub request_id: String,
    pub action: String,
    pub resource: String,
    /// What changed, as JSON text.
    pub change: String,
}

/// How a tenant judges pace and scores, and the calendar it lives by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSettings {
    pub tenant: TenantName,
    /// "Today" and the current cycle follow this zone.
    pub time_zone: Tz,
    /// First day of the weeks of history charts.
    pub week_start: WeekStart,
    /// Judges every key result's health.
    pub pace: PaceBands,
    /// Colours closing scores.
    pub scores: ScoreBands,
    /// Counts the changes; 0 for the defaults of a tenant that never changed them.
    pub version: i64,
}

/// The resource name of a tenant's settings.
pub fn settings_name(tenant: &TenantName) -> String {
    format!("{tenant}/settings")
}

/// The tenant whose settings `name` ("tenants/{tenant}/settings") names.
pub fn settings_tenant(name: &str) -> Result<TenantName, String> {
    let tenant = name
        .strip_suffix("/settings")
        .ok_or_else(|| format!("{name:?} is not a settings name like \"tenants/acme/settings\""))?;
    TenantName::parse(tenant).map_err(|error| error.to_string())
}

impl TenantSettings {
    /// The settings of a tenant that never changed them: UTC, Monday weeks, the default
    /// pace and score bands.
    pub fn defaults(tenant: TenantName) -> Self {
        Self {
            tenant,
            time_zone: Tz::UTC,
            week_start: WeekStart::default(),
            pace: PaceBands::default(),
            scores: ScoreBands::default(),
            version: 0,
        }
    }
}

/// The settings an update changes; `None` leaves one as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSettingsUpdate {
    pub tenant: TenantName,
    /// The version the caller's etag quotes; `None` when it sent none.
    pub version: Option<i64>,
    pub time_zone: Option<Tz>,
    pub week_start: Option<WeekStart>,
    pub on_track_ratio: Option<Decimal>,
    pub at_risk_ratio: Option<Decimal>,
    pub score_yellow_from: Option<Decimal>,
    pub score_green_from: Option<Decimal>,
}

/// An objective to copy into another cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarryOver {
    pub source: ObjectiveName,
    /// The copy's name (the id chosen or generated).
    pub name: ObjectiveName,
    pub cycle: CycleName,
    pub request_id: Option<RequestId>,
}
