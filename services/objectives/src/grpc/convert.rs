//! Wire ↔ model conversions of the objectives service. Reading a request validates it and
//! names every bad field.

use chrono::{DateTime, TimeDelta, Utc};
use devokr_domain::{
    Decimal,
    calendar::{CycleState, WeekStart},
    cycle::{Cycle as CyclePeriod, parse_time_zone},
    health::{Assessment, Health, InterimTarget, ObjectiveChildren, ObjectiveHealthMode},
    key_result::{Bound, KeyResultKind, Milestone, ThresholdKeyResult, ThresholdScoring, Zone},
    names::{
        CycleName, KeyResultName, MetricName, ObjectiveName, TenantName, validate_resource_id,
    },
    progress::{Direction, Progress},
    rollup::RollupAggregation,
    units::{CurrencyCode, Unit},
};
use devokr_platform::{
    ServiceError,
    request::{self, Violations, etag, parse_field},
};
use devokr_proto::{
    convert::{
        FieldViolation, date, decimal, fits_timestamp, instant, optional_decimal, optional_instant,
        timestamp,
    },
    objectives::v1 as pb,
    prost::{Message, bytes::Bytes},
};

use crate::app::{
    Actor, Alignment, AuditEvent, CarryOver, CheckIn, CheckInSource, Cycle, HistoryBucket,
    HistoryPoint, HypothesisOutcome, KeyResult, KeyResultSpec, KeyResultStatus, KeyResultUpdate,
    KindChoice, Learning, LearningSubject, NewCheckIn, NewCycle, NewKeyResult, NewLearning,
    NewObjective, Objective, ObjectiveFilter, ObjectiveLevel, ObjectiveStage, ObjectiveStatus,
    ObjectiveUpdate, Rollup, ScoreOverrideFor, TenantSettings, TenantSettingsUpdate,
    settings_tenant,
};

/// Longest description accepted.
const MAX_DESCRIPTION_CHARS: usize = 10_000;
const MAX_TITLE_CHARS: usize = 300;
const MAX_WEIGHT: Decimal = Decimal::ONE_THOUSAND;

/// Parses a resource name from a request field.
pub(super) fn name<T>(field: &str, value: &str) -> Result<T, ServiceError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    Ok(parse_field(field, value)?)
}

fn new_id(field: &str, chosen: &str) -> Result<String, FieldViolation> {
    request::resource_id(field, chosen, |id| {
        validate_resource_id(id).map_err(|error| error.to_string())
    })
}

pub(super) fn new_cycle(request: pb::CreateCycleRequest) -> Result<NewCycle, ServiceError> {
    let mut violations = Violations::default();
    let tenant = violations.check(parse_field::<TenantName>("parent", &request.parent));
    let cycle_id = violations.check(new_id("cycle_id", &request.cycle_id));
    let request_id = violations.check(request::request_id(&request.request_id, &request));
    let cycle = request.cycle.unwrap_or_default();
    let display_name = violations.check(request::required_text(
        "cycle.display_name",
        &cycle.display_name,
        MAX_TITLE_CHARS,
    ));
    let start = violations.check(date("cycle.start_date", cycle.start_date.as_ref()));
    let end = violations.check(date("cycle.end_date", cycle.end_date.as_ref()));
    let time_zone = violations.check(
        parse_time_zone(&cycle.time_zone)
            .map_err(|error| FieldViolation::new("cycle.time_zone", error.to_string())),
    );
    let period = match (start, end, time_zone) {
        (Some(start), Some(end), Some(time_zone)) => violations.check(
            CyclePeriod::new(start, end, time_zone)
                .map_err(|error| FieldViolation::new("cycle.end_date", error.to_string()))
                .and_then(|period| {
                    // The cycle's instants go out as Timestamps, so they must fit in one.
                    let outside = if !fits_timestamp(period.start_time()) {
                        Some(("cycle.start_date", "starts"))
                    } else if !fits_timestamp(period.end_time()) {
                        Some(("cycle.end_date", "ends"))
                    } else {
                        None
                    };
                    match outside {
                        Some((field, edge)) => Err(FieldViolation::new(
                            field,
                            format!(
                                "the cycle {edge} outside the instants a timestamp can hold \
                                 (0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z) in {}",
                                time_zone.name()
                            ),
                        )),
                        None => Ok(period),
                    }
                }),
        ),
        _ => None,
    };
    let parent = if cycle.parent.is_empty() {
        None
    } else {
        violations.check(
            parse_field::<CycleName>("cycle.parent", &cycle.parent).and_then(
                |parent| match &tenant {
                    Some(tenant) if parent.tenant != tenant.tenant => Err(FieldViolation::new(
                        "cycle.parent",
                        format!("belongs to another tenant than {tenant}"),
                    )),
                    _ => Ok(parent),
                },
            ),
        )
    };
    violations.finish(|| {
        Some(NewCycle {
            name: tenant?.cycle(cycle_id?),
            display_name: display_name?,
            period: period?,
            parent,
            request_id: request_id?,
        })
    })
}

pub(super) fn cycle(cycle: Cycle) -> pb::Cycle {
    pb::Cycle {
        name: cycle.name.to_string(),
        display_name: cycle.display_name,
        start_date: Some(cycle.period.start_date().into()),
        end_date: Some(cycle.period.end_date().into()),
        time_zone: cycle.period.time_zone().name().to_owned(),
        start_time: Some(timestamp(cycle.period.start_time())),
        end_time: Some(timestamp(cycle.period.end_time())),
        create_time: Some(timestamp(cycle.create_time)),
        etag: etag(cycle.version),
        state: match cycle.state {
            CycleState::Planning => pb::CycleState::Planning,
            CycleState::Active => pb::CycleState::Active,
            CycleState::Closed => pb::CycleState::Closed,
        }
        .into(),
        parent: cycle
            .parent
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}

pub(super) fn new_objective(
    request: pb::CreateObjectiveRequest,
) -> Result<NewObjective, ServiceError> {
    let mut violations = Violations::default();
    let tenant = violations.check(parse_field::<TenantName>("parent", &request.parent));
    let objective_id = violations.check(new_id("objective_id", &request.objective_id));
    let request_id = violations.check(request::request_id(&request.request_id, &request));
    let objective = request.objective.unwrap_or_default();
    let display_name = violations.check(request::required_text(
        "objective.display_name",
        &objective.display_name,
        MAX_TITLE_CHARS,
    ));
    let description = violations.check(request::optional_text(
        "objective.description",
        &objective.description,
        MAX_DESCRIPTION_CHARS,
    ));
    let cycle = violations.check(if objective.cycle.is_empty() {
        Err(FieldViolation::required("objective.cycle"))
    } else {
        parse_field::<CycleName>("objective.cycle", &objective.cycle)
    });
    if let (Some(tenant), Some(cycle)) = (&tenant, &cycle)
        && cycle.tenant != tenant.tenant
    {
        violations.add(FieldViolation::new(
            "objective.cycle",
            format!("belongs to another tenant than {tenant}"),
        ));
    }
    let level = violations.check(level(objective.level));
    let owner_team = violations.check(owner_team(&objective.owner_team));
    let stage = violations.check(stage(objective.stage));
    let parents = match &tenant {
        Some(tenant) => violations.check(parents(tenant, None, &objective.parents)),
        None => None,
    };
    let progress_driver = violations.check(progress_driver(objective.progress_driver));
    let health_mode = violations.check(health_mode(objective.health_mode));
    let weight = violations.check(objective_weight(objective.weight.as_ref()));
    violations.finish(|| {
        Some(NewObjective {
            name: tenant?.objective(objective_id?),
            display_name: display_name?,
            description: description?,
            cycle: cycle?,
            alignment: Alignment {
                level: level?,
                owner_team: owner_team?,
                stage: stage?,
                parents: parents?,
                progress_driver: progress_driver?,
                health_mode: health_mode?,
                weight: weight?,
            },
            request_id: request_id?,
        })
    })
}

/// Longest owner team name accepted.
const MAX_OWNER_TEAM_CHARS: usize = 100;
/// Most parents one objective may have.
const MAX_PARENTS: usize = 50;

fn level(value: i32) -> Result<ObjectiveLevel, FieldViolation> {
    match pb::ObjectiveLevel::try_from(value) {
        Ok(pb::ObjectiveLevel::Unspecified | pb::ObjectiveLevel::Team) => Ok(ObjectiveLevel::Team),
        Ok(pb::ObjectiveLevel::Company) => Ok(ObjectiveLevel::Company),
        Ok(pb::ObjectiveLevel::Individual) => Ok(ObjectiveLevel::Individual),
        Err(_) => Err(FieldViolation::new(
            "objective.level",
            format!("{value} is not a level: COMPANY, TEAM or INDIVIDUAL"),
        )),
    }
}

fn stage(value: i32) -> Result<ObjectiveStage, FieldViolation> {
    match pb::ObjectiveStage::try_from(value) {
        Ok(pb::ObjectiveStage::Unspecified | pb::ObjectiveStage::Active) => {
            Ok(ObjectiveStage::Active)
        }
        Ok(pb::ObjectiveStage::Draft) => Ok(ObjectiveStage::Draft),
        Ok(pb::ObjectiveStage::Closed) => Ok(ObjectiveStage::Closed),
        Err(_) => Err(FieldViolation::new(
            "objective.stage",
            format!("{value} is not a stage: DRAFT, ACTIVE or CLOSED"),
        )),
    }
}

fn progress_driver(value: i32) -> Result<ObjectiveChildren, FieldViolation> {
    match pb::ProgressDriver::try_from(value) {
        Ok(pb::ProgressDriver::Unspecified | pb::ProgressDriver::KeyResults) => {
            Ok(ObjectiveChildren::KeyResults)
        }
        Ok(pb::ProgressDriver::ChildObjectives) => Ok(ObjectiveChildren::ChildObjectives),
        Ok(pb::ProgressDriver::Both) => Ok(ObjectiveChildren::KeyResultsAndChildObjectives),
        Err(_) => Err(FieldViolation::new(
            "objective.progress_driver",
            format!("{value} is not a progress driver: KEY_RESULTS, CHILD_OBJECTIVES or BOTH"),
        )),
    }
}

fn health_mode(value: i32) -> Result<ObjectiveHealthMode, FieldViolation> {
    match pb::HealthMode::try_from(value) {
        Ok(pb::HealthMode::Unspecified | pb::HealthMode::Worst) => Ok(ObjectiveHealthMode::Worst),
        Ok(pb::HealthMode::Weighted) => Ok(ObjectiveHealthMode::Weighted),
        Err(_) => Err(FieldViolation::new(
            "objective.health_mode",
            format!("{value} is not a health mode: WORST or WEIGHTED"),
        )),
    }
}

fn owner_team(value: &str) -> Result<String, FieldViolation> {
    request::optional_text("objective.owner_team", value.trim(), MAX_OWNER_TEAM_CHARS)
}

/// Reads the parents of an objective of `tenant` (`child` when it exists already): names of
/// the same tenant, each once, never the objective itself. Whether they exist, are live and
/// make no loop is checked where the links are written.
fn parents(
    tenant: &TenantName,
    child: Option<&ObjectiveName>,
    names: &[String],
) -> Result<Vec<ObjectiveName>, FieldViolation> {
    let invalid = |message: String| FieldViolation::new("objective.parents", message);
    if names.len() > MAX_PARENTS {
        return Err(invalid(format!(
            "has {} parents; at most {MAX_PARENTS} are allowed",
            names.len()
        )));
    }
    let mut parents: Vec<ObjectiveName> = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let parent: ObjectiveName = name.parse().map_err(|error| {
            invalid(format!(
                "[{index}] {name:?} is not an objective name: {error}"
            ))
        })?;
        if parent.tenant != tenant.tenant {
            return Err(invalid(format!(
                "[{index}] {name} belongs to another tenant than {tenant}"
            )));
        }
        if child == Some(&parent) {
            return Err(invalid(format!(
                "[{index}] is the objective itself; an objective cannot contribute to itself"
            )));
        }
        if parents.contains(&parent) {
            return Err(invalid(format!("[{index}] {name} is listed twice")));
        }
        parents.push(parent);
    }
    Ok(parents)
}

pub(super) fn objective(objective: Objective) -> pb::Objective {
    pb::Objective {
        name: objective.name.to_string(),
        display_name: objective.display_name,
        description: objective.description,
        cycle: objective.cycle.to_string(),
        create_time: Some(timestamp(objective.create_time)),
        etag: etag(objective.version),
        update_time: Some(timestamp(objective.update_time)),
        delete_time: objective.delete_time.map(timestamp),
        level: match objective.alignment.level {
            ObjectiveLevel::Company => pb::ObjectiveLevel::Company,
            ObjectiveLevel::Team => pb::ObjectiveLevel::Team,
            ObjectiveLevel::Individual => pb::ObjectiveLevel::Individual,
        }
        .into(),
        owner_team: objective.alignment.owner_team,
        stage: stage_to_wire(objective.alignment.stage).into(),
        parents: objective
            .alignment
            .parents
            .iter()
            .map(ToString::to_string)
            .collect(),
        progress_driver: driver_to_wire(objective.alignment.progress_driver).into(),
        health_mode: health_mode_to_wire(objective.alignment.health_mode).into(),
        weight: Some(objective.alignment.weight.into()),
    }
}

fn stage_to_wire(stage: ObjectiveStage) -> pb::ObjectiveStage {
    match stage {
        ObjectiveStage::Draft => pb::ObjectiveStage::Draft,
        ObjectiveStage::Active => pb::ObjectiveStage::Active,
        ObjectiveStage::Closed => pb::ObjectiveStage::Closed,
    }
}

fn driver_to_wire(driver: ObjectiveChildren) -> pb::ProgressDriver {
    match driver {
        ObjectiveChildren::KeyResults => pb::ProgressDriver::KeyResults,
        ObjectiveChildren::ChildObjectives => pb::ProgressDriver::ChildObjectives,
        ObjectiveChildren::KeyResultsAndChildObjectives => pb::ProgressDriver::Both,
    }
}

fn health_mode_to_wire(mode: ObjectiveHealthMode) -> pb::HealthMode {
    match mode {
        ObjectiveHealthMode::Worst => pb::HealthMode::Worst,
        ObjectiveHealthMode::Weighted => pb::HealthMode::Weighted,
    }
}

pub(super) fn new_key_result(
    request: pb::CreateKeyResultRequest,
) -> Result<NewKeyResult, ServiceError> {
    let mut violations = Violations::default();
    let objective = violations.check(parse_field::<ObjectiveName>("parent", &request.parent));
    let key_result_id = violations.check(new_id("key_result_id", &request.key_result_id));
    let request_id = violations.check(request::request_id(&request.request_id, &request));
    let key_result = request.key_result.unwrap_or_default();
    let display_name = violations.check(request::required_text(
        "key_result.display_name",
        &key_result.display_name,
        MAX_TITLE_CHARS,
    ));
    let kind = violations.check(kind_choice(key_result.kind));
    let unit = kind.and_then(|kind| violations.check(unit_of(&key_result, kind)));
    let baseline = violations.check(optional_decimal(
        "key_result.baseline",
        key_result.baseline.as_ref(),
    ));
    let target = violations.check(optional_decimal(
        "key_result.target",
        key_result.target.as_ref(),
    ));
    let direction = violations.check(direction(key_result.direction));
    let commit = violations.check(optional_decimal(
        "key_result.commit",
        key_result.commit.as_ref(),
    ));
    let stretch = violations.check(optional_decimal(
        "key_result.stretch",
        key_result.stretch.as_ref(),
    ));
    let threshold = threshold(key_result.threshold.as_ref(), &mut violations);
    let milestones = milestones(&key_result.milestones, &mut violations);
    let update_cadence = violations.check(duration(
        "key_result.update_cadence",
        key_result.update_cadence.as_ref(),
    ));
    let stale_grace = violations.check(duration(
        "key_result.stale_grace",
        key_result.stale_grace.as_ref(),
    ));
    let interim_targets = interim_targets(&key_result.interim_targets, &mut violations);
    let metric_field = "key_result.metric_binding.metric";
    // Without a metric binding the key result takes check-ins.
    let metric = violations.check(match key_result.metric_binding.as_ref() {
        Some(binding) if !binding.metric.is_empty() => {
            parse_field::<MetricName>(metric_field, &binding.metric).map(Some)
        }
        _ => Ok(None),
    });
    if let (Some(objective), Some(Some(metric))) = (&objective, &metric)
        && objective.tenant != metric.tenant
    {
        violations.add(FieldViolation::new(
            metric_field,
            format!("belongs to another tenant than {}", objective.tenant()),
        ));
    }
    if let (Some(Some(_)), Some(kind), Some(unit)) = (&metric, kind, &unit) {
        // A metric gives a rate: it can move or hold a percent or a number, nothing else.
        if !matches!(kind, KindChoice::Metric | KindChoice::Threshold) {
            violations.add(FieldViolation::new(
                metric_field,
                format!(
                    "a {} key result takes its values from people; only METRIC and THRESHOLD key results can be bound to a metric",
                    kind.label()
                ),
            ));
        } else if !matches!(unit, Unit::Percent | Unit::Number) {
            violations.add(FieldViolation::new(
                metric_field,
                format!(
                    "a metric gives a rate, which a key result in {unit} cannot show; use UNIT_PERCENT or UNIT_NUMBER"
                ),
            ));
        }
    }
    let weight = violations.check(
        optional_decimal("key_result.weight", key_result.weight.as_ref())
            .and_then(|weight| checked_weight("key_result.weight", weight.unwrap_or(Decimal::ONE))),
    );
    let rollup = match (&objective, key_result.rollup.as_ref()) {
        (Some(objective), Some(wire)) => {
            violations.check(rollup(&objective.tenant(), wire).map(Some))
        }
        (_, None) | (None, _) => Some(None),
    };
    if let (Some(Some(_)), Some(Some(_))) = (&rollup, &metric) {
        violations.add(FieldViolation::new(
            "key_result.rollup",
            "a rollup key result takes its value from its children, not from a metric binding",
        ));
    }
    violations.finish(|| {
        let metric = metric?;
        Some(NewKeyResult {
            name: objective?.key_result(key_result_id?),
            display_name: display_name?,
            spec: KeyResultSpec {
                kind: kind?,
                unit: unit?,
                baseline: baseline?,
                target: target?,
                direction: direction?,
                commit: commit?,
                stretch: stretch?,
                threshold: threshold?,
                milestones: milestones?,
                update_cadence: update_cadence?,
                stale_grace: stale_grace?,
                interim_targets: interim_targets?,
                bound_to_metric: metric.is_some(),
            },
            metric,
            weight: weight?,
            request_id: request_id?,
            rollup: rollup?,
        })
    })
}

/// An objective's weight: 1 when absent.
fn objective_weight(
    weight: Option<&devokr_proto::common::v1::Decimal>,
) -> Result<Decimal, FieldViolation> {
    let weight = optional_decimal("objective.weight", weight)?.unwrap_or(Decimal::ONE);
    checked_weight("objective.weight", weight).map(|weight| weight.normalize())
}

/// A relative weight of a key result or objective, named `field`.
fn checked_weight(field: &str, weight: Decimal) -> Result<Decimal, FieldViolation> {
    if (Decimal::ZERO..=MAX_WEIGHT).contains(&weight) {
        Ok(weight)
    } else {
        Err(FieldViolation::new(
            field,
            format!("must be from 0 to {MAX_WEIGHT}, got {weight}"),
        ))
    }
}

/// Most children one rollup key result may have.
const MAX_ROLLUP_CHILDREN: usize = 100;

/// Reads a rollup of a key result of `tenant`: an aggregation and distinct key results of the
/// tenant. Whether they exist, are live and share the unit is checked by the use case.
fn rollup(tenant: &TenantName, rollup: &pb::Rollup) -> Result<Rollup, FieldViolation> {
    let aggregation = match pb::RollupAggregation::try_from(rollup.aggregation) {
        Ok(pb::RollupAggregation::Sum) => RollupAggregation::Sum,
        Ok(pb::RollupAggregation::Mean) => RollupAggregation::Average,
        Ok(pb::RollupAggregation::Unspecified) | Err(_) => {
            return Err(FieldViolation::new(
                "key_result.rollup.aggregation",
                "is required: ROLLUP_AGGREGATION_SUM or ROLLUP_AGGREGATION_MEAN",
            ));
        }
    };
    let field = "key_result.rollup.key_results";
    if rollup.key_results.is_empty() || rollup.key_results.len() > MAX_ROLLUP_CHILDREN {
        return Err(FieldViolation::new(
            field,
            format!(
                "has {} key results; give 1 to {MAX_ROLLUP_CHILDREN}",
                rollup.key_results.len()
            ),
        ));
    }
    let mut children: Vec<KeyResultName> = Vec::with_capacity(rollup.key_results.len());
    for (index, name) in rollup.key_results.iter().enumerate() {
        let child: KeyResultName = name.parse().map_err(|error| {
            FieldViolation::new(
                field,
                format!("[{index}] {name:?} is not a key result name: {error}"),
            )
        })?;
        if child.tenant != tenant.tenant {
            return Err(FieldViolation::new(
                field,
                format!("[{index}] {name} belongs to another tenant than {tenant}"),
            ));
        }
        if children.contains(&child) {
            return Err(FieldViolation::new(
                field,
                format!("[{index}] {name} is listed twice"),
            ));
        }
        children.push(child);
    }
    Ok(Rollup {
        aggregation,
        children,
    })
}

fn kind_choice(kind: i32) -> Result<KindChoice, FieldViolation> {
    match pb::KeyResultKind::try_from(kind) {
        Ok(pb::KeyResultKind::Unspecified | pb::KeyResultKind::Metric) => Ok(KindChoice::Metric),
        Ok(pb::KeyResultKind::Threshold) => Ok(KindChoice::Threshold),
        Ok(pb::KeyResultKind::Binary) => Ok(KindChoice::Binary),
        Ok(pb::KeyResultKind::Milestones) => Ok(KindChoice::Milestones),
        Ok(pb::KeyResultKind::ManualPercent) => Ok(KindChoice::ManualPercent),
        Err(_) => Err(FieldViolation::new(
            "key_result.kind",
            format!("{kind} is not a key-result kind"),
        )),
    }
}

fn kind_of(kind: &KeyResultKind) -> pb::KeyResultKind {
    match kind {
        KeyResultKind::Metric(_) => pb::KeyResultKind::Metric,
        KeyResultKind::Threshold(_) => pb::KeyResultKind::Threshold,
        KeyResultKind::Binary => pb::KeyResultKind::Binary,
        KeyResultKind::Milestones(_) => pb::KeyResultKind::Milestones,
        KeyResultKind::ManualPercent => pb::KeyResultKind::ManualPercent,
    }
}

/// The unit of a new key result: required for METRIC and THRESHOLD; implied by the other kinds
/// (number for BINARY and MILESTONES, percent for MANUAL_PERCENT), which may also state it.
fn unit_of(key_result: &pb::KeyResult, kind: KindChoice) -> Result<Unit, FieldViolation> {
    let wire = pb::Unit::try_from(key_result.unit).map_err(|_| {
        FieldViolation::new(
            "key_result.unit",
            format!("{} is not a unit", key_result.unit),
        )
    })?;
    for (field, set, unit) in [
        (
            "currency_code",
            !key_result.currency_code.is_empty(),
            pb::Unit::Currency,
        ),
        ("score_min", key_result.score_min.is_some(), pb::Unit::Score),
        ("score_max", key_result.score_max.is_some(), pb::Unit::Score),
    ] {
        if set && wire != unit {
            return Err(FieldViolation::new(
                format!("key_result.{field}"),
                format!("is for {} only", unit.as_str_name()),
            ));
        }
    }
    let implied = match kind {
        KindChoice::Metric | KindChoice::Threshold => None,
        KindChoice::Binary | KindChoice::Milestones => Some((Unit::Number, pb::Unit::Number)),
        KindChoice::ManualPercent => Some((Unit::Percent, pb::Unit::Percent)),
    };
    if let Some((unit, allowed)) = implied {
        return if wire == pb::Unit::Unspecified || wire == allowed {
            Ok(unit)
        } else {
            Err(FieldViolation::new(
                "key_result.unit",
                format!(
                    "a {} key result is in {}; leave unit unset or set {}",
                    kind.label(),
                    unit,
                    allowed.as_str_name()
                ),
            ))
        };
    }
    match wire {
        pb::Unit::Percent => Ok(Unit::Percent),
        pb::Unit::Number => Ok(Unit::Number),
        pb::Unit::Duration => Ok(Unit::Duration),
        pb::Unit::Currency => CurrencyCode::parse(&key_result.currency_code)
            .map(Unit::Currency)
            .map_err(|error| FieldViolation::new("key_result.currency_code", error.to_string())),
        pb::Unit::Score => {
            let min = decimal("key_result.score_min", key_result.score_min.as_ref())?;
            let max = decimal("key_result.score_max", key_result.score_max.as_ref())?;
            Unit::score(min, max)
                .map_err(|error| FieldViolation::new("key_result.score_max", error.to_string()))
        }
        pb::Unit::Unspecified => Err(FieldViolation::new(
            "key_result.unit",
            "is required: UNIT_PERCENT, UNIT_NUMBER, UNIT_CURRENCY, UNIT_DURATION or UNIT_SCORE",
        )),
    }
}

/// The wire unit with its currency code and score range.
struct WireUnit {
    unit: pb::Unit,
    currency_code: String,
    score_min: Option<devokr_proto::common::v1::Decimal>,
    score_max: Option<devokr_proto::common::v1::Decimal>,
}

fn wire_unit(unit: &Unit) -> WireUnit {
    let mut wire = WireUnit {
        unit: pb::Unit::Number,
        currency_code: String::new(),
        score_min: None,
        score_max: None,
    };
    wire.unit = match unit {
        Unit::Percent => pb::Unit::Percent,
        Unit::Number => pb::Unit::Number,
        Unit::Currency(code) => {
            wire.currency_code = code.as_str().to_owned();
            pb::Unit::Currency
        }
        Unit::Duration => pb::Unit::Duration,
        Unit::Score { min, max } => {
            wire.score_min = Some((*min).into());
            wire.score_max = Some((*max).into());
            pb::Unit::Score
        }
    };
    wire
}

/// Reads a direction; unspecified is `None` (derived from baseline and target).
fn direction(direction: i32) -> Result<Option<Direction>, FieldViolation> {
    match pb::Direction::try_from(direction) {
        Ok(pb::Direction::Unspecified) => Ok(None),
        Ok(pb::Direction::Increase) => Ok(Some(Direction::Increase)),
        Ok(pb::Direction::Decrease) => Ok(Some(Direction::Decrease)),
        Err(_) => Err(FieldViolation::new(
            "key_result.direction",
            format!("{direction} is not a direction"),
        )),
    }
}

/// Reads a threshold: the comparison decides which bounds it needs, and it takes no other.
/// `Some(None)` when absent; `None` when invalid (with the violations recorded).
fn threshold(
    threshold: Option<&pb::Threshold>,
    violations: &mut Violations,
) -> Option<Option<ThresholdKeyResult>> {
    let Some(threshold) = threshold else {
        return Some(None);
    };
    let low = violations.check(optional_decimal(
        "key_result.threshold.low",
        threshold.low.as_ref(),
    ))?;
    let high = violations.check(optional_decimal(
        "key_result.threshold.high",
        threshold.high.as_ref(),
    ))?;
    let scoring = match pb::ThresholdScoring::try_from(threshold.scoring) {
        Ok(pb::ThresholdScoring::Unspecified | pb::ThresholdScoring::LatestPassFail) => {
            ThresholdScoring::LatestPassFail
        }
        Ok(pb::ThresholdScoring::ShareOfCheckIns) => ThresholdScoring::ShareOfCheckInsMet,
        Err(_) => {
            violations.add(FieldViolation::new(
                "key_result.threshold.scoring",
                format!("{} is not a threshold scoring", threshold.scoring),
            ));
            return None;
        }
    };
    let needs = |field: &str, value: Option<Decimal>, comparison: &str| {
        value.ok_or_else(|| {
            FieldViolation::new(
                format!("key_result.threshold.{field}"),
                format!("is required for {comparison}"),
            )
        })
    };
    let unused = |field: &str, value: Option<Decimal>, comparison: &str, uses: &str| match value {
        Some(_) => Err(FieldViolation::new(
            format!("key_result.threshold.{field}"),
            format!(
                "{comparison} compares with {uses} only; remove {field}, or use COMPARISON_BETWEEN for a range"
            ),
        )),
        None => Ok(()),
    };
    let bound = match pb::Comparison::try_from(threshold.comparison) {
        Ok(pb::Comparison::AtLeast) => {
            let comparison = "COMPARISON_AT_LEAST";
            violations.check(unused("high", high, comparison, "low"));
            Bound::AtLeast(violations.check(needs("low", low, comparison))?)
        }
        Ok(pb::Comparison::AtMost) => {
            let comparison = "COMPARISON_AT_MOST";
            violations.check(unused("low", low, comparison, "high"));
            Bound::AtMost(violations.check(needs("high", high, comparison))?)
        }
        Ok(pb::Comparison::Between) => {
            let comparison = "COMPARISON_BETWEEN";
            let low = violations.check(needs("low", low, comparison));
            let high = violations.check(needs("high", high, comparison));
            Bound::Between {
                low: low?,
                high: high?,
            }
        }
        Ok(pb::Comparison::Unspecified) | Err(_) => {
            violations.add(FieldViolation::new(
                "key_result.threshold.comparison",
                "is required: COMPARISON_AT_LEAST, COMPARISON_AT_MOST or COMPARISON_BETWEEN",
            ));
            return None;
        }
    };
    violations
        .check(
            ThresholdKeyResult::new(bound, scoring).map_err(|error| {
                FieldViolation::new("key_result.threshold.high", error.to_string())
            }),
        )
        .map(Some)
}

/// Reads a checklist: every milestone needs a title; an absent weight is 1.
fn milestones(milestones: &[pb::Milestone], violations: &mut Violations) -> Option<Vec<Milestone>> {
    let mut read = Vec::with_capacity(milestones.len());
    let mut valid = true;
    for (index, milestone) in milestones.iter().enumerate() {
        let title = violations.check(request::required_text(
            &format!("key_result.milestones[{index}].title"),
            &milestone.title,
            MAX_TITLE_CHARS,
        ));
        let weight = violations.check(optional_decimal(
            &format!("key_result.milestones[{index}].weight"),
            milestone.weight.as_ref(),
        ));
        match (title, weight) {
            (Some(title), Some(weight)) => read.push(Milestone {
                title,
                weight: weight.unwrap_or(Decimal::ONE),
                done: milestone.done,
            }),
            _ => valid = false,
        }
    }
    valid.then_some(read)
}

/// Reads an optional duration in whole seconds.
fn duration(
    field: &str,
    duration: Option<&devokr_proto::prost_types::Duration>,
) -> Result<Option<TimeDelta>, FieldViolation> {
    match duration {
        None => Ok(None),
        Some(duration) if duration.nanos != 0 => {
            Err(FieldViolation::new(field, "must be whole seconds"))
        }
        Some(duration) => TimeDelta::try_seconds(duration.seconds)
            .map(Some)
            .ok_or_else(|| FieldViolation::new(field, "is too long")),
    }
}

fn wire_duration(duration: TimeDelta) -> devokr_proto::prost_types::Duration {
    devokr_proto::prost_types::Duration {
        seconds: duration.num_seconds(),
        nanos: 0,
    }
}

/// Reads interim targets; whether they fit the cycle is checked with the cycle.
fn interim_targets(
    targets: &[pb::InterimTarget],
    violations: &mut Violations,
) -> Option<Vec<InterimTarget>> {
    let mut read = Vec::with_capacity(targets.len());
    let mut valid = true;
    for (index, target) in targets.iter().enumerate() {
        let at = violations.check(instant(
            &format!("key_result.interim_targets[{index}].time"),
            target.time.as_ref(),
        ));
        let progress = violations.check(decimal(
            &format!("key_result.interim_targets[{index}].progress"),
            target.progress.as_ref(),
        ));
        match (at, progress) {
            (Some(at), Some(progress)) => read.push(InterimTarget { at, progress }),
            _ => valid = false,
        }
    }
    valid.then_some(read)
}

pub(super) fn key_result(key_result: KeyResult) -> pb::KeyResult {
    let definition = &key_result.definition;
    let unit = wire_unit(&definition.unit);
    let mut wire = pb::KeyResult {
        name: key_result.name.to_string(),
        display_name: key_result.display_name,
        unit: unit.unit.into(),
        currency_code: unit.currency_code,
        score_min: unit.score_min,
        score_max: unit.score_max,
        metric_binding: key_result.metric.as_ref().map(|metric| pb::MetricBinding {
            metric: metric.to_string(),
        }),
        weight: Some(key_result.weight.into()),
        create_time: Some(timestamp(key_result.create_time)),
        etag: etag(key_result.version),
        kind: kind_of(&definition.kind).into(),
        update_cadence: definition
            .freshness
            .map(|freshness| wire_duration(freshness.cadence())),
        stale_grace: definition
            .freshness
            .map(|freshness| wire_duration(freshness.grace())),
        interim_targets: definition
            .interim_targets
            .iter()
            .map(|target| pb::InterimTarget {
                time: Some(timestamp(target.at)),
                progress: Some(target.progress.into()),
            })
            .collect(),
        score: key_result.score.map(Into::into),
        score_override_reason: key_result.score_override_reason,
        update_time: Some(timestamp(key_result.update_time)),
        delete_time: key_result.delete_time.map(timestamp),
        rollup: key_result.rollup.map(|rollup| pb::Rollup {
            aggregation: match rollup.aggregation {
                RollupAggregation::Sum => pb::RollupAggregation::Sum,
                RollupAggregation::Average => pb::RollupAggregation::Mean,
            }
            .into(),
            key_results: rollup.children.iter().map(ToString::to_string).collect(),
        }),
        ..Default::default()
    };
    match &definition.kind {
        KeyResultKind::Metric(metric) => {
            let target = metric.target();
            wire.baseline = Some(target.baseline().into());
            wire.target = Some(target.target().into());
            wire.direction = match target.direction() {
                Direction::Increase => pb::Direction::Increase,
                Direction::Decrease => pb::Direction::Decrease,
            }
            .into();
            wire.commit = metric.commit().map(Into::into);
            wire.stretch = metric.stretch().map(Into::into);
        }
        KeyResultKind::Threshold(threshold) => {
            let (comparison, low, high) = match threshold.bound() {
                Bound::AtLeast(low) => (pb::Comparison::AtLeast, Some(low), None),
                Bound::AtMost(high) => (pb::Comparison::AtMost, None, Some(high)),
                Bound::Between { low, high } => (pb::Comparison::Between, Some(low), Some(high)),
            };
            wire.threshold = Some(pb::Threshold {
                comparison: comparison.into(),
                low: low.map(Into::into),
                high: high.map(Into::into),
                scoring: match threshold.scoring() {
                    ThresholdScoring::LatestPassFail => pb::ThresholdScoring::LatestPassFail,
                    ThresholdScoring::ShareOfCheckInsMet => pb::ThresholdScoring::ShareOfCheckIns,
                }
                .into(),
            });
        }
        KeyResultKind::Milestones(milestones) => {
            wire.milestones = milestones
                .iter()
                .map(|milestone| pb::Milestone {
                    title: milestone.title.clone(),
                    weight: Some(milestone.weight.into()),
                    done: milestone.done,
                })
                .collect();
        }
        KeyResultKind::Binary | KeyResultKind::ManualPercent => {}
    }
    wire
}

fn progress(progress: Progress) -> pb::Progress {
    pb::Progress {
        raw: Some(progress.raw.into()),
        clamped: Some(progress.clamped.into()),
        below_baseline: progress.below_baseline,
        over_achieved: progress.over_achieved,
        target_met: progress.target_met,
        formula_version: progress.formula_version,
        zone: match progress.zone {
            None => pb::Zone::Unspecified,
            Some(Zone::BelowCommit) => pb::Zone::BelowCommit,
            Some(Zone::Commit) => pb::Zone::Commit,
            Some(Zone::Target) => pb::Zone::Target,
            Some(Zone::Stretch) => pb::Zone::Stretch,
        }
        .into(),
    }
}

fn health(health: Health) -> pb::Health {
    match health {
        Health::OnTrack => pb::Health::OnTrack,
        Health::AtRisk => pb::Health::AtRisk,
        Health::OffTrack => pb::Health::OffTrack,
        Health::Achieved => pb::Health::Achieved,
        Health::Missed => pb::Health::Missed,
        Health::Stale => pb::Health::Stale,
        Health::NoData => pb::Health::NoData,
    }
}

pub(super) fn key_result_status(status: KeyResultStatus) -> pb::KeyResultStatus {
    let key_result = status.key_result;
    let definition = &key_result.definition;
    let metric_target = match &definition.kind {
        KeyResultKind::Metric(metric) => Some(metric.target()),
        KeyResultKind::Threshold(_)
        | KeyResultKind::Binary
        | KeyResultKind::Milestones(_)
        | KeyResultKind::ManualPercent => None,
    };
    pb::KeyResultStatus {
        key_result: key_result.name.to_string(),
        value: status.value.map(|value| pb::KeyResultValue {
            value: value.value.map(Into::into),
            numerator: value.numerator,
            denominator: value.denominator,
            evaluate_time: value.evaluate_time.map(timestamp),
        }),
        baseline: metric_target.map(|target| target.baseline().into()),
        target: metric_target.map(|target| target.target().into()),
        unit: wire_unit(&definition.unit).unit.into(),
        progress: status.progress.map(progress),
        expected_progress: Some(status.assessment.expected_progress.into()),
        health: health(status.assessment.health).into(),
        explanation: status.assessment.explanation,
        evaluation_time: Some(timestamp(status.evaluation_time)),
        confidence: status.confidence.map(Into::into),
        last_value_time: status.last_value_time.map(timestamp),
        data_problem: status.data_problem.unwrap_or_default(),
        version: status.version,
        objective: key_result.name.objective().to_string(),
        cycle: status.cycle.to_string(),
        kind: kind_of(&definition.kind).into(),
    }
}

/// The encoded wire form of the parts of a current status (judged with every check-in
/// known) that are the same at every instant judged: everything but [`judged_status`]'s
/// fields, which are left unset.
pub(super) fn unchanging_status(status: KeyResultStatus) -> Bytes {
    pb::KeyResultStatus {
        expected_progress: None,
        health: pb::Health::Unspecified.into(),
        explanation: String::new(),
        evaluation_time: None,
        ..key_result_status(status)
    }
    .encode_to_vec()
    .into()
}

/// The fields of a current status that depend on the instant judged, every other field
/// unset: sent after [`unchanging_status`]'s bytes, they complete the status.
pub(super) fn judged_status(
    assessment: Assessment,
    evaluation_time: DateTime<Utc>,
) -> pb::KeyResultStatus {
    pb::KeyResultStatus {
        expected_progress: Some(assessment.expected_progress.into()),
        health: health(assessment.health).into(),
        explanation: assessment.explanation,
        evaluation_time: Some(timestamp(evaluation_time)),
        ..Default::default()
    }
}

/// The resource name of a check-in.
pub(super) fn check_in_name(check_in: &CheckIn) -> String {
    format!("{}/checkIns/{}", check_in.key_result, check_in.id)
}

pub(super) fn check_in(check_in: CheckIn) -> pb::CheckIn {
    pb::CheckIn {
        name: check_in_name(&check_in),
        value: check_in.value.map(Into::into),
        measure_time: Some(timestamp(check_in.measure_time)),
        record_time: Some(timestamp(check_in.record_time)),
        source: match check_in.source {
            CheckInSource::Manual => pb::CheckInSource::Manual,
            CheckInSource::Metric => pb::CheckInSource::Metric,
            CheckInSource::Import => pb::CheckInSource::Import,
            CheckInSource::Rollup => pb::CheckInSource::Rollup,
        }
        .into(),
        author: check_in.author,
        comment: check_in.comment,
        confidence: check_in.confidence.map(Into::into),
        idempotency_key: check_in.idempotency_key,
        supersedes: check_in
            .supersedes
            .map(|id| format!("{}/checkIns/{id}", check_in.key_result))
            .unwrap_or_default(),
        late: check_in.late,
    }
}

/// Reads a CreateCheckIn request. The author is the caller (`actor`) unless the request
/// names one.
pub(super) fn new_check_in(
    request: pb::CreateCheckInRequest,
    actor: &Actor,
) -> Result<NewCheckIn, ServiceError> {
    let mut violations = Violations::default();
    let key_result = violations.check(parse_field::<KeyResultName>("parent", &request.parent));
    let check_in = request.check_in.unwrap_or_default();
    let value = violations.check(decimal("check_in.value", check_in.value.as_ref()));
    let measure_time = violations.check(optional_instant(
        "check_in.measure_time",
        check_in.measure_time.as_ref(),
    ));
    let source = violations.check(match pb::CheckInSource::try_from(check_in.source) {
        Ok(pb::CheckInSource::Unspecified | pb::CheckInSource::Manual) => Ok(CheckInSource::Manual),
        Ok(pb::CheckInSource::Import) => Ok(CheckInSource::Import),
        Ok(pb::CheckInSource::Metric | pb::CheckInSource::Rollup) | Err(_) => {
            Err(FieldViolation::new(
                "check_in.source",
                "must be MANUAL or IMPORT: metric and rollup values are recorded by the service",
            ))
        }
    });
    let confidence = violations.check(
        optional_decimal("check_in.confidence", check_in.confidence.as_ref()).and_then(|value| {
            match value {
                Some(value) if !(Decimal::ZERO..=Decimal::ONE).contains(&value) => {
                    Err(FieldViolation::new(
                        "check_in.confidence",
                        format!("must be from 0 to 1, got {value}"),
                    ))
                }
                value => Ok(value),
            }
        }),
    );
    let idempotency_key = violations.check(request::required_text(
        "check_in.idempotency_key",
        &check_in.idempotency_key,
        200,
    ));
    let comment = violations.check(request::optional_text(
        "check_in.comment",
        &check_in.comment,
        MAX_DESCRIPTION_CHARS,
    ));
    let author = violations.check(request::optional_text(
        "check_in.author",
        &check_in.author,
        200,
    ));
    let supersedes = violations.check(if check_in.supersedes.is_empty() {
        Ok(None)
    } else {
        let prefix = format!("{}/checkIns/", request.parent);
        check_in
            .supersedes
            .strip_prefix(&prefix)
            .and_then(|id| id.parse::<i64>().ok())
            .map(Some)
            .ok_or_else(|| {
                FieldViolation::new(
                    "check_in.supersedes",
                    format!("must name a check-in of this key result, like \"{prefix}17\""),
                )
            })
    });
    violations.finish(|| {
        let author = author?;
        Some(NewCheckIn {
            key_result: key_result?,
            value: Some(value?),
            numerator: None,
            denominator: None,
            measure_time: measure_time?,
            source: source?,
            author: if author.is_empty() {
                actor.name.clone()
            } else {
                author
            },
            comment: comment?,
            confidence: confidence?,
            idempotency_key: idempotency_key?,
            supersedes: supersedes?,
            allow_late: request.allow_late,
        })
    })
}

pub(super) fn objective_status(status: ObjectiveStatus) -> pb::ObjectiveStatus {
    pb::ObjectiveStatus {
        objective: status.objective.to_string(),
        progress: status.progress.map(Into::into),
        health: health(status.health).into(),
        explanation: status.explanation,
        key_results: status
            .key_results
            .into_iter()
            .map(key_result_status)
            .collect(),
        evaluation_time: Some(timestamp(status.evaluation_time)),
        progress_driver: driver_to_wire(status.progress_driver).into(),
        health_mode: health_mode_to_wire(status.health_mode).into(),
        child_objectives: status
            .child_objectives
            .into_iter()
            .map(|child| pb::ChildObjectiveStatus {
                objective: child.objective.to_string(),
                weight: Some(child.weight.into()),
                progress: child.progress.map(Into::into),
                health: health(child.health).into(),
                explanation: child.explanation,
            })
            .collect(),
    }
}

/// One item of a batch: the status, or the error it would have been alone.
pub(super) fn status_result(
    name: String,
    status: Result<KeyResultStatus, tonic::Status>,
) -> pb::KeyResultStatusResult {
    use tonic_types::StatusExt;
    let result = match status {
        Ok(status) => pb::key_result_status_result::Result::Status(key_result_status(status)),
        Err(status) => pb::key_result_status_result::Result::Error(pb::ItemError {
            code: status.code() as i32,
            message: status.message().to_owned(),
            reason: status
                .get_error_details()
                .error_info()
                .map(|info| info.reason.clone())
                .unwrap_or_default(),
        }),
    };
    pb::KeyResultStatusResult {
        name,
        result: Some(result),
    }
}

/// Reads an optional etag: empty is `None`, otherwise the row version it quotes.
pub(super) fn version_of_etag(field: &str, etag: &str) -> Result<Option<i64>, ServiceError> {
    if etag.is_empty() {
        return Ok(None);
    }
    etag.trim_matches('"')
        .parse::<i64>()
        .map(Some)
        .map_err(|_| {
            ServiceError::invalid(
                field,
                format!("{etag:?} is not an etag this service issued"),
            )
        })
}

pub(super) fn score_overrides(
    overrides: Vec<pb::ScoreOverride>,
) -> Result<Vec<ScoreOverrideFor>, ServiceError> {
    let mut violations = Violations::default();
    let mut read = Vec::with_capacity(overrides.len());
    for (index, score_override) in overrides.into_iter().enumerate() {
        let key_result = violations.check(parse_field::<KeyResultName>(
            &format!("overrides[{index}].key_result"),
            &score_override.key_result,
        ));
        let score = violations.check(decimal(
            &format!("overrides[{index}].score"),
            score_override.score.as_ref(),
        ));
        let reason = violations.check(request::required_text(
            &format!("overrides[{index}].reason"),
            &score_override.reason,
            MAX_DESCRIPTION_CHARS,
        ));
        if let (Some(key_result), Some(score), Some(reason)) = (key_result, score, reason) {
            read.push(ScoreOverrideFor {
                key_result,
                score,
                reason,
            });
        }
    }
    violations.finish(|| Some(read))
}

pub(super) fn learning(learning: Learning) -> pb::Learning {
    pb::Learning {
        name: format!("{}/learnings/{}", learning.subject, learning.id),
        text: learning.text,
        hypothesis: match learning.hypothesis {
            HypothesisOutcome::Unspecified => pb::HypothesisOutcome::Unspecified,
            HypothesisOutcome::Held => pb::HypothesisOutcome::Held,
            HypothesisOutcome::Rejected => pb::HypothesisOutcome::Rejected,
            HypothesisOutcome::Inconclusive => pb::HypothesisOutcome::Inconclusive,
        }
        .into(),
        author: learning.author,
        create_time: Some(timestamp(learning.create_time)),
    }
}

/// The subject of a learning: an objective or key result name.
pub(super) fn learning_subject(field: &str, name: &str) -> Result<LearningSubject, ServiceError> {
    if let Ok(key_result) = name.parse::<KeyResultName>() {
        return Ok(LearningSubject::KeyResult(key_result));
    }
    Ok(LearningSubject::Objective(parse_field::<ObjectiveName>(
        field, name,
    )?))
}

pub(super) fn new_learning(
    request: pb::CreateLearningRequest,
    subject: &LearningSubject,
) -> Result<NewLearning, ServiceError> {
    let mut violations = Violations::default();
    let request_id = violations.check(request::request_id(&request.request_id, &request));
    let learning = request.learning.unwrap_or_default();
    let text = violations.check(request::required_text(
        "learning.text",
        &learning.text,
        MAX_DESCRIPTION_CHARS,
    ));
    let author = violations.check(request::optional_text(
        "learning.author",
        &learning.author,
        200,
    ));
    let hypothesis = violations.check(match pb::HypothesisOutcome::try_from(learning.hypothesis) {
        Ok(pb::HypothesisOutcome::Held) => Ok(HypothesisOutcome::Held),
        Ok(pb::HypothesisOutcome::Rejected) => Ok(HypothesisOutcome::Rejected),
        Ok(pb::HypothesisOutcome::Inconclusive) => Ok(HypothesisOutcome::Inconclusive),
        Ok(pb::HypothesisOutcome::Unspecified) => Ok(HypothesisOutcome::Unspecified),
        Err(_) => Err(FieldViolation::new(
            "learning.hypothesis",
            format!(
                "{} is not a hypothesis outcome: HELD, REJECTED or INCONCLUSIVE",
                learning.hypothesis
            ),
        )),
    });
    violations.finish(|| {
        Some(NewLearning {
            subject: subject.to_string(),
            text: text?,
            hypothesis: hypothesis?,
            author: author?,
            request_id: request_id?,
        })
    })
}

/// The buckets of a key result's history; DAY when unset.
pub(super) fn history_bucket(value: i32) -> Result<HistoryBucket, FieldViolation> {
    match pb::Granularity::try_from(value) {
        Ok(pb::Granularity::Day | pb::Granularity::Unspecified) => Ok(HistoryBucket::Day),
        Ok(pb::Granularity::Week) => Ok(HistoryBucket::Week),
        Ok(pb::Granularity::Month) => Ok(HistoryBucket::Month),
        Err(_) => Err(FieldViolation::new(
            "granularity",
            format!("{value} is not a granularity: DAY, WEEK or MONTH"),
        )),
    }
}

pub(super) fn audit_event(event: AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        sequence: event.sequence,
        time: Some(timestamp(event.time)),
        actor: event.actor,
        request_id: event.request_id,
        action: event.action,
        resource: event.resource,
        change: event.change,
    }
}

pub(super) fn history_point(point: HistoryPoint) -> pb::KeyResultHistoryPoint {
    pb::KeyResultHistoryPoint {
        start_time: Some(timestamp(point.start)),
        end_time: Some(timestamp(point.end)),
        value: point.value.map(Into::into),
        progress: point.progress.map(progress),
        health: health(point.health).into(),
    }
}

/// Objective fields UpdateObjective changes.
const OBJECTIVE_UPDATABLE: &[&str] = &[
    "display_name",
    "description",
    "level",
    "owner_team",
    "stage",
    "parents",
    "progress_driver",
    "health_mode",
    "weight",
];
/// Objective fields fixed at creation, with what to do instead.
const OBJECTIVE_FIXED: &[(&str, &str)] = &[(
    "cycle",
    "an objective stays in its cycle; CarryOverObjective copies it into another",
)];
/// Objective fields set by the service only.
const OBJECTIVE_OUTPUT_ONLY: &[&str] =
    &["name", "create_time", "etag", "update_time", "delete_time"];

/// Key-result fields UpdateKeyResult changes.
const KEY_RESULT_UPDATABLE: &[&str] = &[
    "display_name",
    "baseline",
    "target",
    "direction",
    "commit",
    "stretch",
    "threshold",
    "milestones",
    "weight",
    "update_cadence",
    "stale_grace",
    "interim_targets",
];
/// Key-result fields fixed at creation, with what to do instead. A key result measured by
/// another metric is another key result (its history would mix two measures), and fixed
/// children keep rollups free of loops.
const KEY_RESULT_FIXED: &[(&str, &str)] = &[
    (
        "metric_binding",
        "a key result keeps the metric it is measured by; create a key result bound to the other metric",
    ),
    (
        "rollup",
        "a rollup keeps its children; create another rollup key result over the new ones",
    ),
];
/// Key-result fields set by the service only.
const KEY_RESULT_OUTPUT_ONLY: &[&str] = &[
    "name",
    "create_time",
    "etag",
    "score",
    "score_override_reason",
    "update_time",
    "delete_time",
];

/// The paths of an update mask, checked against what can be updated. `None` (no mask)
/// means the fields `populated` says are set; `*` means every updatable field.
fn mask_paths(
    mask: Option<&devokr_proto::prost_types::FieldMask>,
    updatable: &[&'static str],
    fixed: &[(&str, &str)],
    output_only: &[&str],
    populated: impl Fn(&str) -> bool,
) -> Result<Vec<&'static str>, FieldViolation> {
    let Some(mask) = mask else {
        return Ok(updatable
            .iter()
            .copied()
            .filter(|field| populated(field))
            .collect());
    };
    let mut paths = Vec::new();
    for path in &mask.paths {
        let path = path.trim();
        if path == "*" {
            return Ok(updatable.to_vec());
        }
        if let Some(field) = updatable.iter().find(|field| **field == path) {
            if !paths.contains(field) {
                paths.push(*field);
            }
        } else if output_only.contains(&path) {
            // AIP-161: output-only fields in a mask are ignored.
            continue;
        } else if let Some((_, instead)) = fixed.iter().find(|(field, _)| *field == path) {
            return Err(FieldViolation::new(
                "update_mask",
                format!("{path:?} cannot be updated: {instead}"),
            ));
        } else {
            return Err(FieldViolation::new(
                "update_mask",
                format!(
                    "{path:?} is not a field that can be updated; updatable: {}",
                    updatable.join(", ")
                ),
            ));
        }
    }
    if paths.is_empty() {
        return Err(FieldViolation::new(
            "update_mask",
            format!(
                "names no field that can be updated (output-only fields are ignored); updatable: {}",
                updatable.join(", ")
            ),
        ));
    }
    Ok(paths)
}

pub(super) fn objective_update(
    request: pb::UpdateObjectiveRequest,
) -> Result<ObjectiveUpdate, ServiceError> {
    let mut violations = Violations::default();
    let objective = request.objective.unwrap_or_default();
    let name = violations.check(if objective.name.is_empty() {
        Err(FieldViolation::required("objective.name"))
    } else {
        parse_field::<ObjectiveName>("objective.name", &objective.name)
    });
    let version = version_of_etag("objective.etag", &objective.etag)?;
    let paths = violations.check(mask_paths(
        request.update_mask.as_ref(),
        OBJECTIVE_UPDATABLE,
        OBJECTIVE_FIXED,
        OBJECTIVE_OUTPUT_ONLY,
        |field| match field {
            "display_name" => !objective.display_name.is_empty(),
            "description" => !objective.description.is_empty(),
            "level" => objective.level != 0,
            "owner_team" => !objective.owner_team.is_empty(),
            "stage" => objective.stage != 0,
            "parents" => !objective.parents.is_empty(),
            "progress_driver" => objective.progress_driver != 0,
            "health_mode" => objective.health_mode != 0,
            "weight" => objective.weight.is_some(),
            _ => false,
        },
    ));
    let paths = paths.unwrap_or_default();
    let display_name = if paths.contains(&"display_name") {
        violations.check(
            request::required_text(
                "objective.display_name",
                &objective.display_name,
                MAX_TITLE_CHARS,
            )
            .map(Some),
        )
    } else {
        Some(None)
    };
    let description = if paths.contains(&"description") {
        violations.check(
            request::optional_text(
                "objective.description",
                &objective.description,
                MAX_DESCRIPTION_CHARS,
            )
            .map(Some),
        )
    } else {
        Some(None)
    };
    // A field outside the mask is left as it is (None); inside, it is read like on creation.
    let masked = |field: &str| paths.contains(&field);
    let level = optional(&mut violations, masked("level"), || level(objective.level));
    let owner_team = optional(&mut violations, masked("owner_team"), || {
        owner_team(&objective.owner_team)
    });
    let stage = optional(&mut violations, masked("stage"), || stage(objective.stage));
    let parents = optional(&mut violations, masked("parents"), || match &name {
        Some(child) => parents(&child.tenant(), Some(child), &objective.parents),
        None => Ok(Vec::new()),
    });
    let progress_driver = optional(&mut violations, masked("progress_driver"), || {
        progress_driver(objective.progress_driver)
    });
    let health_mode = optional(&mut violations, masked("health_mode"), || {
        health_mode(objective.health_mode)
    });
    let weight = optional(&mut violations, masked("weight"), || {
        objective_weight(objective.weight.as_ref())
    });
    if changes_nothing(&paths, &request.update_mask) {
        violations.add(FieldViolation::new(
            "update_mask",
            "is absent and no updatable field is set",
        ));
    }
    violations.finish(|| {
        Some(ObjectiveUpdate {
            name: name?,
            version,
            display_name: display_name?,
            description: description?,
            level: level?,
            owner_team: owner_team?,
            stage: stage?,
            parents: parents?,
            progress_driver: progress_driver?,
            health_mode: health_mode?,
            weight: weight?,
        })
    })
}

/// A field of an update: `Some(None)` when the mask leaves it out, `Some(Some(value))` when
/// it is read, `None` when reading it failed (the violation is recorded).
fn optional<T>(
    violations: &mut Violations,
    masked: bool,
    read: impl FnOnce() -> Result<T, FieldViolation>,
) -> Option<Option<T>> {
    if masked {
        violations.check(read().map(Some))
    } else {
        Some(None)
    }
}

/// No mask and nothing populated: the update would change nothing, which is a mistake.
fn changes_nothing(paths: &[&str], mask: &Option<devokr_proto::prost_types::FieldMask>) -> bool {
    mask.is_none() && paths.is_empty()
}

pub(super) fn key_result_update(
    request: pb::UpdateKeyResultRequest,
) -> Result<KeyResultUpdate, ServiceError> {
    let mut violations = Violations::default();
    let key_result = request.key_result.unwrap_or_default();
    let name = violations.check(if key_result.name.is_empty() {
        Err(FieldViolation::required("key_result.name"))
    } else {
        parse_field::<KeyResultName>("key_result.name", &key_result.name)
    });
    let version = version_of_etag("key_result.etag", &key_result.etag)?;
    let paths = violations.check(mask_paths(
        request.update_mask.as_ref(),
        KEY_RESULT_UPDATABLE,
        KEY_RESULT_FIXED,
        KEY_RESULT_OUTPUT_ONLY,
        |field| match field {
            "display_name" => !key_result.display_name.is_empty(),
            "baseline" => key_result.baseline.is_some(),
            "target" => key_result.target.is_some(),
            "direction" => key_result.direction != 0,
            "commit" => key_result.commit.is_some(),
            "stretch" => key_result.stretch.is_some(),
            "threshold" => key_result.threshold.is_some(),
            "milestones" => !key_result.milestones.is_empty(),
            "weight" => key_result.weight.is_some(),
            "update_cadence" => key_result.update_cadence.is_some(),
            "stale_grace" => key_result.stale_grace.is_some(),
            "interim_targets" => !key_result.interim_targets.is_empty(),
            _ => false,
        },
    ));
    let paths = paths.unwrap_or_default();
    // Each field below is `Some(Some(value))` when the update sets it, `Some(None)` when it
    // leaves it alone, and `None` after a violation.
    let read = |path: &str| paths.contains(&path);
    let display_name = if read("display_name") {
        violations
            .check(request::required_text(
                "key_result.display_name",
                &key_result.display_name,
                MAX_TITLE_CHARS,
            ))
            .map(Some)
    } else {
        Some(None)
    };
    // Baseline and target are required values when named; a level may be cleared.
    let required = |violations: &mut Violations, path: &str, value| {
        violations
            .check(decimal(&format!("key_result.{path}"), value))
            .map(Some)
    };
    let baseline = if read("baseline") {
        required(&mut violations, "baseline", key_result.baseline.as_ref())
    } else {
        Some(None)
    };
    let target = if read("target") {
        required(&mut violations, "target", key_result.target.as_ref())
    } else {
        Some(None)
    };
    let direction = if read("direction") {
        violations.check(direction(key_result.direction)).map(Some)
    } else {
        Some(None)
    };
    let commit = if read("commit") {
        violations
            .check(optional_decimal(
                "key_result.commit",
                key_result.commit.as_ref(),
            ))
            .map(Some)
    } else {
        Some(None)
    };
    let stretch = if read("stretch") {
        violations
            .check(optional_decimal(
                "key_result.stretch",
                key_result.stretch.as_ref(),
            ))
            .map(Some)
    } else {
        Some(None)
    };
    let threshold = if read("threshold") {
        match threshold(key_result.threshold.as_ref(), &mut violations) {
            Some(Some(threshold)) => Some(Some(threshold)),
            Some(None) => {
                violations.add(FieldViolation::new(
                    "key_result.threshold",
                    "is named by the update mask but not set; a threshold cannot be removed",
                ));
                None
            }
            None => None,
        }
    } else {
        Some(None)
    };
    let milestones = if read("milestones") {
        milestones(&key_result.milestones, &mut violations).map(Some)
    } else {
        Some(None)
    };
    let weight = if read("weight") {
        violations
            .check(
                decimal("key_result.weight", key_result.weight.as_ref())
                    .and_then(|weight| checked_weight("key_result.weight", weight)),
            )
            .map(Some)
    } else {
        Some(None)
    };
    let update_cadence = if read("update_cadence") {
        violations
            .check(duration(
                "key_result.update_cadence",
                key_result.update_cadence.as_ref(),
            ))
            .map(Some)
    } else {
        Some(None)
    };
    let stale_grace = if read("stale_grace") {
        violations
            .check(duration(
                "key_result.stale_grace",
                key_result.stale_grace.as_ref(),
            ))
            .map(Some)
    } else {
        Some(None)
    };
    let interim_targets = if read("interim_targets") {
        interim_targets(&key_result.interim_targets, &mut violations).map(Some)
    } else {
        Some(None)
    };
    if changes_nothing(&paths, &request.update_mask) {
        violations.add(FieldViolation::new(
            "update_mask",
            "is absent and no updatable field is set",
        ));
    }
    violations.finish(|| {
        Some(KeyResultUpdate {
            name: name?,
            version,
            display_name: display_name?,
            baseline: baseline?,
            target: target?,
            direction: direction?,
            commit: commit?,
            stretch: stretch?,
            threshold: threshold?,
            milestones: milestones?,
            weight: weight?,
            update_cadence: update_cadence?,
            stale_grace: stale_grace?,
            interim_targets: interim_targets?,
        })
    })
}

/// Reads ListObjectives' filter: terms joined by `AND`, each `field = "value"` for `cycle`
/// (a cycle name of the tenant) and `owner_team`, or `field = VALUE` (quoted or not) for the
/// enums `stage` and `health`. Anything else is INVALID_ARGUMENT on `filter`.
pub(super) fn objective_filter(
    tenant: &TenantName,
    filter: &str,
    show_deleted: bool,
) -> Result<ObjectiveFilter, ServiceError> {
    let invalid = |message: String| ServiceError::invalid("filter", message);
    let mut parsed = ObjectiveFilter {
        show_deleted,
        ..ObjectiveFilter::default()
    };
    if filter.trim().is_empty() {
        return Ok(parsed);
    }
    for term in split_and(filter) {
        let term = term.trim();
        let Some((field, value)) = term.split_once('=') else {
            return Err(invalid(format!(
                "{term:?} is not a `field = \"value\"` term"
            )));
        };
        let field = field.trim();
        let value = value.trim();
        if let Some(operator) = ["!", "<", ">", ":"]
            .into_iter()
            .find(|operator| field.ends_with(operator))
        {
            return Err(invalid(format!(
                "{term:?} uses `{operator}=`; only `=` is supported, as in `field = \"value\"`"
            )));
        }
        if field.is_empty() || field.contains(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            return Err(invalid(format!("{term:?} has no field name before `=`")));
        }
        let quoted = value
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .filter(|inner| !inner.contains('"'));
        let string = || {
            quoted.ok_or_else(|| {
                invalid(format!(
                    "the value of {field} must be one double-quoted string, got {value:?}"
                ))
            })
        };
        // An enum value may be written bare (AIP-160) or quoted.
        let enum_value = || {
            quoted
                .or_else(|| {
                    (!value.is_empty()
                        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                    .then_some(value)
                })
                .ok_or_else(|| {
                    invalid(format!(
                        "the value of {field} must be one of its values, got {value:?}"
                    ))
                })
        };
        match field {
            "cycle" => {
                let value = string()?;
                let cycle: CycleName = value.parse().map_err(|error| {
                    invalid(format!("cycle {value:?} is not a cycle name: {error}"))
                })?;
                if cycle.tenant != tenant.tenant {
                    return Err(invalid(format!(
                        "cycle {value:?} belongs to another tenant than {tenant}"
                    )));
                }
                set_once(&mut parsed.cycle, cycle, "cycles").map_err(invalid)?;
            }
            "owner_team" => {
                set_once(&mut parsed.owner_team, string()?.to_owned(), "owner teams")
                    .map_err(invalid)?;
            }
            "stage" => {
                let value = enum_value()?;
                let stage = match value.trim_start_matches("OBJECTIVE_STAGE_") {
                    "DRAFT" => ObjectiveStage::Draft,
                    "ACTIVE" => ObjectiveStage::Active,
                    "CLOSED" => ObjectiveStage::Closed,
                    _ => {
                        return Err(invalid(format!(
                            "stage {value:?} is not a stage; stages: DRAFT, ACTIVE, CLOSED"
                        )));
                    }
                };
                set_once(&mut parsed.stage, stage, "stages").map_err(invalid)?;
            }
            "health" => {
                let value = enum_value()?;
                let health = match value.trim_start_matches("HEALTH_") {
                    "ON_TRACK" => Health::OnTrack,
                    "AT_RISK" => Health::AtRisk,
                    "OFF_TRACK" => Health::OffTrack,
                    "ACHIEVED" => Health::Achieved,
                    "MISSED" => Health::Missed,
                    "STALE" => Health::Stale,
                    "NO_DATA" => Health::NoData,
                    _ => {
                        return Err(invalid(format!(
                            "health {value:?} is not a health; health values: ON_TRACK, \
                             AT_RISK, OFF_TRACK, ACHIEVED, MISSED, STALE, NO_DATA"
                        )));
                    }
                };
                set_once(&mut parsed.health, health, "health values").map_err(invalid)?;
            }
            other => {
                return Err(invalid(format!(
                    "{other:?} is not a field objectives can be filtered on; supported: cycle, \
                     owner_team, stage, health"
                )));
            }
        }
    }
    Ok(parsed)
}

/// Sets a filter field; a second, different value is refused, as no objective matches both.
fn set_once<T: PartialEq>(slot: &mut Option<T>, value: T, plural: &str) -> Result<(), String> {
    if slot.as_ref().is_some_and(|seen| *seen != value) {
        return Err(format!(
            "names two different {plural}, which no objective matches"
        ));
    }
    *slot = Some(value);
    Ok(())
}

/// Splits a filter at the `AND` keywords outside double quotes; an empty term (a leading,
/// trailing or doubled AND) is kept, so that it is rejected.
fn split_and(filter: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let words: Vec<&str> = filter.split(' ').collect();
    for (index, word) in words.iter().enumerate() {
        if !in_quotes && *word == "AND" {
            terms.push(std::mem::take(&mut current));
            continue;
        }
        if !current.is_empty() || index > 0 {
            current.push(' ');
        }
        current.push_str(word);
        in_quotes ^= word.matches('"').count() % 2 == 1;
    }
    terms.push(current);
    terms
}

/// Reads a settings name, `tenants/{tenant}/settings`, as its tenant.
pub(super) fn settings_name(field: &str, value: &str) -> Result<TenantName, FieldViolation> {
    settings_tenant(value).map_err(|error| FieldViolation::new(field, error))
}

pub(super) fn tenant_settings(settings: TenantSettings) -> pb::TenantSettings {
    pb::TenantSettings {
        name: crate::app::settings_name(&settings.tenant),
        time_zone: settings.time_zone.name().to_owned(),
        week_start: match settings.week_start {
            WeekStart::Monday => pb::WeekStart::Monday,
            WeekStart::Sunday => pb::WeekStart::Sunday,
        }
        .into(),
        on_track_ratio: Some(settings.pace.on_track_ratio.into()),
        at_risk_ratio: Some(settings.pace.at_risk_ratio.into()),
        score_yellow_from: Some(settings.scores.red_below().into()),
        score_green_from: Some(settings.scores.yellow_below().into()),
        etag: etag(settings.version),
    }
}

/// Settings fields UpdateTenantSettings changes.
const SETTINGS_UPDATABLE: &[&str] = &[
    "time_zone",
    "week_start",
    "on_track_ratio",
    "at_risk_ratio",
    "score_yellow_from",
    "score_green_from",
];
/// Settings fields set by the service only.
const SETTINGS_OUTPUT_ONLY: &[&str] = &["name", "etag"];

/// A decimal setting within `range`, described for the caller by `range_text`.
fn setting(
    paths: &[&str],
    field: &str,
    value: Option<&devokr_proto::common::v1::Decimal>,
    within: impl Fn(Decimal) -> bool,
    range_text: &str,
) -> Result<Option<Decimal>, FieldViolation> {
    if !paths.contains(&field) {
        return Ok(None);
    }
    let path = format!("settings.{field}");
    let value = decimal(&path, value)?;
    if within(value) {
        Ok(Some(value))
    } else {
        Err(FieldViolation::new(
            path,
            format!("must be {range_text}, got {value}"),
        ))
    }
}

pub(super) fn tenant_settings_update(
    request: pb::UpdateTenantSettingsRequest,
) -> Result<TenantSettingsUpdate, ServiceError> {
    let mut violations = Violations::default();
    let settings = request.settings.unwrap_or_default();
    let tenant = violations.check(if settings.name.is_empty() {
        Err(FieldViolation::required("settings.name"))
    } else {
        settings_name("settings.name", &settings.name)
    });
    let version = version_of_etag("settings.etag", &settings.etag)?;
    let paths = violations.check(mask_paths(
        request.update_mask.as_ref(),
        SETTINGS_UPDATABLE,
        &[],
        SETTINGS_OUTPUT_ONLY,
        |field| match field {
            "time_zone" => !settings.time_zone.is_empty(),
            "week_start" => settings.week_start != 0,
            "on_track_ratio" => settings.on_track_ratio.is_some(),
            "at_risk_ratio" => settings.at_risk_ratio.is_some(),
            "score_yellow_from" => settings.score_yellow_from.is_some(),
            "score_green_from" => settings.score_green_from.is_some(),
            _ => false,
        },
    ));
    let paths = paths.unwrap_or_default();
    let time_zone = if paths.contains(&"time_zone") {
        violations.check(
            parse_time_zone(&settings.time_zone)
                .map(Some)
                .map_err(|error| FieldViolation::new("settings.time_zone", error.to_string())),
        )
    } else {
        Some(None)
    };
    let week_start = if paths.contains(&"week_start") {
        violations.check(match pb::WeekStart::try_from(settings.week_start) {
            Ok(pb::WeekStart::Unspecified | pb::WeekStart::Monday) => Ok(Some(WeekStart::Monday)),
            Ok(pb::WeekStart::Sunday) => Ok(Some(WeekStart::Sunday)),
            Err(_) => Err(FieldViolation::new(
                "settings.week_start",
                format!("{} is not a week start", settings.week_start),
            )),
        })
    } else {
        Some(None)
    };
    let ratio = |value: Decimal| Decimal::ZERO < value && value <= Decimal::ONE;
    let score = |value: Decimal| (Decimal::ZERO..=Decimal::ONE).contains(&value);
    let on_track_ratio = violations.check(setting(
        &paths,
        "on_track_ratio",
        settings.on_track_ratio.as_ref(),
        ratio,
        "above 0 and at most 1",
    ));
    let at_risk_ratio = violations.check(setting(
        &paths,
        "at_risk_ratio",
        settings.at_risk_ratio.as_ref(),
        ratio,
        "above 0 and at most 1",
    ));
    let score_yellow_from = violations.check(setting(
        &paths,
        "score_yellow_from",
        settings.score_yellow_from.as_ref(),
        score,
        "from 0 to 1",
    ));
    let score_green_from = violations.check(setting(
        &paths,
        "score_green_from",
        settings.score_green_from.as_ref(),
        score,
        "from 0 to 1",
    ));
    if changes_nothing(&paths, &request.update_mask) {
        violations.add(FieldViolation::new(
            "update_mask",
            "is absent and no updatable field is set",
        ));
    }
    violations.finish(|| {
        Some(TenantSettingsUpdate {
            tenant: tenant?,
            version,
            time_zone: time_zone?,
            week_start: week_start?,
            on_track_ratio: on_track_ratio?,
            at_risk_ratio: at_risk_ratio?,
            score_yellow_from: score_yellow_from?,
            score_green_from: score_green_from?,
        })
    })
}

pub(super) fn carry_over(
    request: pb::CarryOverObjectiveRequest,
) -> Result<CarryOver, ServiceError> {
    let mut violations = Violations::default();
    let source = violations.check(if request.name.is_empty() {
        Err(FieldViolation::required("name"))
    } else {
        parse_field::<ObjectiveName>("name", &request.name)
    });
    let cycle = violations.check(if request.cycle.is_empty() {
        Err(FieldViolation::required("cycle"))
    } else {
        parse_field::<CycleName>("cycle", &request.cycle)
    });
    if let (Some(source), Some(cycle)) = (&source, &cycle)
        && source.tenant != cycle.tenant
    {
        violations.add(FieldViolation::new(
            "cycle",
            format!("belongs to another tenant than {}", source.tenant()),
        ));
    }
    let objective_id = violations.check(new_id("objective_id", &request.objective_id));
    let request_id = violations.check(request::request_id(&request.request_id, &request));
    violations.finish(|| {
        let source = source?;
        Some(CarryOver {
            name: source.tenant().objective(objective_id?),
            source,
            cycle: cycle?,
            request_id: request_id?,
        })
    })
}
