//! Wire ↔ model conversions of the objectives service. Reading a request validates it and
//! names every bad field.

use devokr_domain::{
    Decimal,
    calendar::CycleState,
    cycle::{Cycle as CyclePeriod, parse_time_zone},
    health::Health,
    names::{
        CycleName, KeyResultName, MetricName, ObjectiveName, TenantName, validate_resource_id,
    },
    progress::{Direction, MetricTarget, PROGRESS_FORMULA_VERSION, Progress, TargetError},
};
use devokr_platform::{
    ServiceError,
    request::{self, Violations, etag, parse_field},
};
use devokr_proto::{
    convert::{FieldViolation, date, decimal, optional_decimal, optional_instant, timestamp},
    objectives::v1 as pb,
};

use crate::app::{
    Actor, AuditEvent, CheckIn, CheckInSource, Cycle, HistoryPoint, HypothesisOutcome, KeyResult,
    KeyResultStatus, KeyResultUpdate, Learning, LearningSubject, NewCheckIn, NewCycle,
    NewKeyResult, NewLearning, NewObjective, Objective, ObjectiveFilter, ObjectiveStatus,
    ObjectiveUpdate, ScoreOverrideFor, Unit,
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
    let request_id = violations.check(request::request_id(&request.request_id));
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
                .map_err(|error| FieldViolation::new("cycle.end_date", error.to_string())),
        ),
        _ => None,
    };
    violations.finish(|| {
        Some(NewCycle {
            name: tenant?.cycle(cycle_id?),
            display_name: display_name?,
            period: period?,
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
        parent: String::new(),
    }
}

pub(super) fn new_objective(
    request: pb::CreateObjectiveRequest,
) -> Result<NewObjective, ServiceError> {
    let mut violations = Violations::default();
    let tenant = violations.check(parse_field::<TenantName>("parent", &request.parent));
    let objective_id = violations.check(new_id("objective_id", &request.objective_id));
    let request_id = violations.check(request::request_id(&request.request_id));
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
    violations.finish(|| {
        Some(NewObjective {
            name: tenant?.objective(objective_id?),
            display_name: display_name?,
            description: description?,
            cycle: cycle?,
            request_id: request_id?,
        })
    })
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
        ..Default::default()
    }
}

pub(super) fn new_key_result(
    request: pb::CreateKeyResultRequest,
) -> Result<NewKeyResult, ServiceError> {
    let mut violations = Violations::default();
    let objective = violations.check(parse_field::<ObjectiveName>("parent", &request.parent));
    let key_result_id = violations.check(new_id("key_result_id", &request.key_result_id));
    let request_id = violations.check(request::request_id(&request.request_id));
    let key_result = request.key_result.unwrap_or_default();
    let display_name = violations.check(request::required_text(
        "key_result.display_name",
        &key_result.display_name,
        MAX_TITLE_CHARS,
    ));
    let baseline = violations.check(decimal("key_result.baseline", key_result.baseline.as_ref()));
    let target_value = violations.check(decimal("key_result.target", key_result.target.as_ref()));
    // The other kinds have their rules in devokr-domain but are not served yet: refuse them
    // rather than store a metric key result the caller did not ask for.
    if !matches!(
        pb::KeyResultKind::try_from(key_result.kind),
        Ok(pb::KeyResultKind::Unspecified | pb::KeyResultKind::Metric)
    ) {
        violations.add(FieldViolation::new(
            "key_result.kind",
            "only KEY_RESULT_KIND_METRIC is served yet",
        ));
    }
    let unit = violations.check(match pb::Unit::try_from(key_result.unit) {
        Ok(pb::Unit::Percent) => Ok(Unit::Percent),
        Ok(pb::Unit::Number) => Ok(Unit::Number),
        Ok(pb::Unit::Unspecified | pb::Unit::Currency | pb::Unit::Duration | pb::Unit::Score)
        | Err(_) => Err(FieldViolation::new(
            "key_result.unit",
            "is required: UNIT_PERCENT or UNIT_NUMBER",
        )),
    });
    let declared = violations.check(match pb::Direction::try_from(key_result.direction) {
        Ok(pb::Direction::Unspecified) => Ok(None),
        Ok(pb::Direction::Increase) => Ok(Some(Direction::Increase)),
        Ok(pb::Direction::Decrease) => Ok(Some(Direction::Decrease)),
        Err(_) => Err(FieldViolation::new(
            "key_result.direction",
            format!("{} is not a direction", key_result.direction),
        )),
    });
    let target = match (baseline, target_value, declared) {
        (Some(baseline), Some(target), Some(declared)) => violations.check(
            MetricTarget::new(baseline, target, declared).map_err(|error| {
                let field = match error {
                    TargetError::DirectionContradictsValues { .. } => "key_result.direction",
                    TargetError::BaselineEqualsTarget { .. } | TargetError::SpanTooLarge { .. } => {
                        "key_result.target"
                    }
                };
                FieldViolation::new(field, error.to_string())
            }),
        ),
        _ => None,
    };
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
    let weight = violations.check(
        optional_decimal("key_result.weight", key_result.weight.as_ref()).and_then(|weight| {
            let weight = weight.unwrap_or(Decimal::ONE);
            if (Decimal::ZERO..=MAX_WEIGHT).contains(&weight) {
                Ok(weight)
            } else {
                Err(FieldViolation::new(
                    "key_result.weight",
                    format!("must be from 0 to {MAX_WEIGHT}, got {weight}"),
                ))
            }
        }),
    );
    violations.finish(|| {
        Some(NewKeyResult {
            name: objective?.key_result(key_result_id?),
            display_name: display_name?,
            target: target?,
            unit: unit?,
            metric: metric?,
            weight: weight?,
            request_id: request_id?,
        })
    })
}

fn unit(unit: Unit) -> pb::Unit {
    match unit {
        Unit::Percent => pb::Unit::Percent,
        Unit::Number => pb::Unit::Number,
    }
}

pub(super) fn key_result(key_result: KeyResult) -> pb::KeyResult {
    pb::KeyResult {
        name: key_result.name.to_string(),
        display_name: key_result.display_name,
        baseline: Some(key_result.target.baseline().into()),
        target: Some(key_result.target.target().into()),
        unit: unit(key_result.unit).into(),
        direction: match key_result.target.direction() {
            Direction::Increase => pb::Direction::Increase,
            Direction::Decrease => pb::Direction::Decrease,
        }
        .into(),
        metric_binding: key_result.metric.as_ref().map(|metric| pb::MetricBinding {
            metric: metric.to_string(),
        }),
        weight: Some(key_result.weight.into()),
        create_time: Some(timestamp(key_result.create_time)),
        etag: etag(key_result.version),
        kind: pb::KeyResultKind::Metric.into(),
        score: key_result.score.map(Into::into),
        score_override_reason: key_result.score_override_reason,
        update_time: Some(timestamp(key_result.update_time)),
        delete_time: key_result.delete_time.map(timestamp),
        ..Default::default()
    }
}

fn progress(progress: Progress) -> pb::Progress {
    pb::Progress {
        raw: Some(progress.raw.into()),
        clamped: Some(progress.clamped.into()),
        below_baseline: progress.below_baseline,
        over_achieved: progress.over_achieved,
        target_met: progress.target_met,
        formula_version: PROGRESS_FORMULA_VERSION,
        ..Default::default()
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
    pb::KeyResultStatus {
        key_result: key_result.name.to_string(),
        value: status.value.map(|value| pb::KeyResultValue {
            value: value.value.map(Into::into),
            numerator: value.numerator,
            denominator: value.denominator,
            evaluate_time: value.evaluate_time.map(timestamp),
        }),
        baseline: Some(key_result.target.baseline().into()),
        target: Some(key_result.target.target().into()),
        unit: unit(key_result.unit).into(),
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
        kind: pb::KeyResultKind::Metric.into(),
    }
}

/// The wire form of `status`, a current status (judged with every check-in known), from
/// `current`, the wire form of the same state's current status at another instant: only the
/// assessment and the instant depend on the instant judged.
pub(super) fn current_key_result_status(
    current: &pb::KeyResultStatus,
    status: KeyResultStatus,
) -> pb::KeyResultStatus {
    pb::KeyResultStatus {
        expected_progress: Some(status.assessment.expected_progress.into()),
        health: health(status.assessment.health).into(),
        explanation: status.assessment.explanation,
        evaluation_time: Some(timestamp(status.evaluation_time)),
        ..current.clone()
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
    learning: Option<pb::Learning>,
    subject: &LearningSubject,
    request_id: &str,
) -> Result<NewLearning, ServiceError> {
    let learning = learning.unwrap_or_default();
    let mut violations = Violations::default();
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
    let request_id = violations.check(request::request_id(request_id));
    let hypothesis = match pb::HypothesisOutcome::try_from(learning.hypothesis) {
        Ok(pb::HypothesisOutcome::Held) => HypothesisOutcome::Held,
        Ok(pb::HypothesisOutcome::Rejected) => HypothesisOutcome::Rejected,
        Ok(pb::HypothesisOutcome::Inconclusive) => HypothesisOutcome::Inconclusive,
        Ok(pb::HypothesisOutcome::Unspecified) | Err(_) => HypothesisOutcome::Unspecified,
    };
    violations.finish(|| {
        Some(NewLearning {
            subject: subject.to_string(),
            text: text?,
            hypothesis,
            author: author?,
            request_id: request_id?,
        })
    })
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
const OBJECTIVE_UPDATABLE: &[&str] = &["display_name", "description"];
/// Objective fields the proto lists as updatable that this service does not store yet.
const OBJECTIVE_UNSUPPORTED: &[&str] = &[
    "level",
    "owner_team",
    "stage",
    // Fixed at creation: CarryOverObjective copies an objective into another cycle.
    "cycle",
    "parents",
    "progress_driver",
    "health_mode",
    "weight",
];
/// Objective fields set by the service only.
const OBJECTIVE_OUTPUT_ONLY: &[&str] =
    &["name", "create_time", "etag", "update_time", "delete_time"];

/// Key-result fields UpdateKeyResult changes.
const KEY_RESULT_UPDATABLE: &[&str] =
    &["display_name", "baseline", "target", "direction", "weight"];
/// Key-result fields the proto lists as updatable that this service does not store yet.
const KEY_RESULT_UNSUPPORTED: &[&str] = &[
    "commit",
    "stretch",
    "threshold",
    "milestones",
    "update_cadence",
    "stale_grace",
    "interim_targets",
    "metric_binding",
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
    unsupported: &[&str],
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
        } else if unsupported.contains(&path) {
            return Err(FieldViolation::new(
                "update_mask",
                format!(
                    "{path:?} cannot be updated by this service yet; updatable: {}",
                    updatable.join(", ")
                ),
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
        OBJECTIVE_UNSUPPORTED,
        OBJECTIVE_OUTPUT_ONLY,
        |field| match field {
            "display_name" => !objective.display_name.is_empty(),
            "description" => !objective.description.is_empty(),
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
        })
    })
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
        KEY_RESULT_UNSUPPORTED,
        KEY_RESULT_OUTPUT_ONLY,
        |field| match field {
            "display_name" => !key_result.display_name.is_empty(),
            "baseline" => key_result.baseline.is_some(),
            "target" => key_result.target.is_some(),
            "direction" => key_result.direction != 0,
            "weight" => key_result.weight.is_some(),
            _ => false,
        },
    ));
    let paths = paths.unwrap_or_default();
    let display_name = if paths.contains(&"display_name") {
        violations.check(
            request::required_text(
                "key_result.display_name",
                &key_result.display_name,
                MAX_TITLE_CHARS,
            )
            .map(Some),
        )
    } else {
        Some(None)
    };
    let baseline = if paths.contains(&"baseline") {
        violations.check(decimal("key_result.baseline", key_result.baseline.as_ref()).map(Some))
    } else {
        Some(None)
    };
    let target = if paths.contains(&"target") {
        violations.check(decimal("key_result.target", key_result.target.as_ref()).map(Some))
    } else {
        Some(None)
    };
    let direction = if paths.contains(&"direction") {
        violations.check(match pb::Direction::try_from(key_result.direction) {
            Ok(pb::Direction::Unspecified) => Ok(Some(None)),
            Ok(pb::Direction::Increase) => Ok(Some(Some(Direction::Increase))),
            Ok(pb::Direction::Decrease) => Ok(Some(Some(Direction::Decrease))),
            Err(_) => Err(FieldViolation::new(
                "key_result.direction",
                format!("{} is not a direction", key_result.direction),
            )),
        })
    } else {
        Some(None)
    };
    let weight = if paths.contains(&"weight") {
        violations.check(
            decimal("key_result.weight", key_result.weight.as_ref()).and_then(|weight| {
                if (Decimal::ZERO..=MAX_WEIGHT).contains(&weight) {
                    Ok(Some(weight))
                } else {
                    Err(FieldViolation::new(
                        "key_result.weight",
                        format!("must be from 0 to {MAX_WEIGHT}, got {weight}"),
                    ))
                }
            }),
        )
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
            weight: weight?,
        })
    })
}

/// Reads ListObjectives' filter: `field = "value"` terms joined by `AND`. Only `cycle` (a
/// cycle name of the tenant) is supported; anything else is INVALID_ARGUMENT on `filter`.
pub(super) fn objective_filter(
    tenant: &TenantName,
    filter: &str,
    show_deleted: bool,
) -> Result<ObjectiveFilter, ServiceError> {
    let invalid = |message: String| ServiceError::invalid("filter", message);
    let mut parsed = ObjectiveFilter {
        cycle: None,
        show_deleted,
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
        if field.is_empty() || field.contains(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            return Err(invalid(format!("{term:?} has no field name before `=`")));
        }
        let value = match value
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
        {
            Some(inner) if !inner.contains('"') => inner,
            _ => {
                return Err(invalid(format!(
                    "the value of {field} must be one double-quoted string, got {value:?}"
                )));
            }
        };
        match field {
            "cycle" => {
                let cycle: CycleName = value.parse().map_err(|error| {
                    invalid(format!("cycle {value:?} is not a cycle name: {error}"))
                })?;
                if cycle.tenant != tenant.tenant {
                    return Err(invalid(format!(
                        "cycle {value:?} belongs to another tenant than {tenant}"
                    )));
                }
                if parsed.cycle.as_ref().is_some_and(|seen| *seen != cycle) {
                    // Two different cycles: nothing matches both; say so rather than answer empty.
                    return Err(invalid(
                        "names two different cycles, which no objective matches".to_owned(),
                    ));
                }
                parsed.cycle = Some(cycle);
            }
            "owner_team" | "stage" | "health" => {
                return Err(invalid(format!(
                    "filtering on {field} is not supported yet; supported: cycle"
                )));
            }
            other => {
                return Err(invalid(format!(
                    "{other:?} is not a field objectives can be filtered on; supported: cycle"
                )));
            }
        }
    }
    Ok(parsed)
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
