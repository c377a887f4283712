//! A key result's definition: its kind, unit, freshness and expected-progress curve, checked
//! as a whole by the domain's rules, in the same way when it is created and when an update
//! changes part of it.

use chrono::TimeDelta;
use devokr_domain::{
    Decimal,
    cycle::Cycle as CyclePeriod,
    health::{CurveError, ExpectedCurve, Freshness, FreshnessError, InterimTarget},
    key_result::{
        Bound, KeyResultError, KeyResultKind, MetricKeyResult, Milestone, ThresholdKeyResult,
    },
    progress::{Direction, MetricTarget, TargetError, WeightError},
    units::Unit,
};
use devokr_platform::{ServiceError, request::Violations};
use devokr_proto::convert::FieldViolation;

/// Which kind of key result a definition is for; fixed when the key result is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindChoice {
    Metric,
    Threshold,
    Binary,
    Milestones,
    ManualPercent,
}

impl KindChoice {
    /// The words the API uses for the kind, in messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Metric => "METRIC",
            Self::Threshold => "THRESHOLD",
            Self::Binary => "BINARY",
            Self::Milestones => "MILESTONES",
            Self::ManualPercent => "MANUAL_PERCENT",
        }
    }
}

/// A definition as the caller wrote it: every field read, none yet checked against the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyResultSpec {
    pub kind: KindChoice,
    pub unit: Unit,
    pub baseline: Option<Decimal>,
    pub target: Option<Decimal>,
    /// `None`: derived from baseline and target.
    pub direction: Option<Direction>,
    pub commit: Option<Decimal>,
    pub stretch: Option<Decimal>,
    pub threshold: Option<ThresholdKeyResult>,
    pub milestones: Vec<Milestone>,
    pub update_cadence: Option<TimeDelta>,
    pub stale_grace: Option<TimeDelta>,
    pub interim_targets: Vec<InterimTarget>,
    /// The key result takes its values from a metric, not from check-ins.
    pub bound_to_metric: bool,
}

/// A checked definition: what a key result's progress and health are computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub kind: KeyResultKind,
    pub unit: Unit,
    /// How often a value is due; `None`: values never go stale by age.
    pub freshness: Option<Freshness>,
    /// Empty: expected progress grows linearly over the cycle.
    pub interim_targets: Vec<InterimTarget>,
}

impl Definition {
    /// Checks `spec` for a key result in `cycle`, naming every bad field.
    pub fn check(spec: &KeyResultSpec, cycle: &CyclePeriod) -> Result<Self, ServiceError> {
        let mut violations = Violations::default();
        let kind = check_kind(spec, &mut violations);
        let freshness = violations.check(check_freshness(spec));
        let curve = ExpectedCurve::Interim(spec.interim_targets.clone());
        if let Err(error) = curve.validate(cycle) {
            let field = match error {
                CurveError::OutsideCycle { index, .. } | CurveError::NotInTimeOrder { index } => {
                    format!("key_result.interim_targets[{index}].time")
                }
                CurveError::ProgressOutOfRange { index, .. }
                | CurveError::Decreasing { index, .. } => {
                    format!("key_result.interim_targets[{index}].progress")
                }
            };
            violations.add(FieldViolation::new(field, error.to_string()));
        }
        violations.finish(|| {
            Some(Self {
                kind: kind?,
                unit: spec.unit,
                freshness: freshness?,
                interim_targets: spec.interim_targets.clone(),
            })
        })
    }

    /// The definition as a spec, for an update to change part of it.
    pub fn spec(&self, bound_to_metric: bool) -> KeyResultSpec {
        let mut spec = KeyResultSpec {
            kind: KindChoice::Metric,
            unit: self.unit,
            baseline: None,
            target: None,
            // Unless an update sets it, the direction follows the baseline and target.
            direction: None,
            commit: None,
            stretch: None,
            threshold: None,
            milestones: Vec::new(),
            update_cadence: self.freshness.map(|freshness| freshness.cadence()),
            stale_grace: self.freshness.map(|freshness| freshness.grace()),
            interim_targets: self.interim_targets.clone(),
            bound_to_metric,
        };
        match &self.kind {
            KeyResultKind::Metric(metric) => {
                spec.baseline = Some(metric.target().baseline());
                spec.target = Some(metric.target().target());
                spec.commit = metric.commit();
                spec.stretch = metric.stretch();
            }
            KeyResultKind::Threshold(threshold) => {
                spec.kind = KindChoice::Threshold;
                spec.threshold = Some(*threshold);
            }
            KeyResultKind::Binary => spec.kind = KindChoice::Binary,
            KeyResultKind::Milestones(milestones) => {
                spec.kind = KindChoice::Milestones;
                spec.milestones.clone_from(milestones);
            }
            KeyResultKind::ManualPercent => spec.kind = KindChoice::ManualPercent,
        }
        spec
    }

    /// Whether `value` can be checked in: possible in the unit, and allowed by the kind.
    pub fn check_value(&self, value: Decimal) -> Result<(), String> {
        self.unit
            .check_value(value)
            .map_err(|error| error.to_string())?;
        self.kind
            .check_value(value)
            .map_err(|error| error.to_string())
    }

    /// The expected-progress curve.
    pub fn curve(&self) -> ExpectedCurve {
        if self.interim_targets.is_empty() {
            ExpectedCurve::Linear
        } else {
            ExpectedCurve::Interim(self.interim_targets.clone())
        }
    }
}

/// A violation for a field `kind` does not have.
fn not_of_kind(field: &str, kind: KindChoice, owner: &str) -> FieldViolation {
    FieldViolation::new(
        format!("key_result.{field}"),
        format!(
            "a {} key result has no {field}; only {owner} key results do",
            kind.label()
        ),
    )
}

/// Checks that `value`, given in `field`, is a possible value of the unit.
fn check_in_unit(violations: &mut Violations, unit: &Unit, field: &str, value: Option<Decimal>) {
    if let Some(value) = value
        && let Err(error) = unit.check_value(value)
    {
        violations.add(FieldViolation::new(field, error.to_string()));
    }
}

fn check_kind(spec: &KeyResultSpec, violations: &mut Violations) -> Option<KeyResultKind> {
    let kind = spec.kind;
    let metric_fields = [
        ("baseline", spec.baseline.is_some()),
        ("target", spec.target.is_some()),
        ("direction", spec.direction.is_some()),
        ("commit", spec.commit.is_some()),
        ("stretch", spec.stretch.is_some()),
    ];
    if kind != KindChoice::Metric {
        for (field, set) in metric_fields {
            if set {
                violations.add(not_of_kind(field, kind, "METRIC"));
            }
        }
    }
    if kind != KindChoice::Threshold && spec.threshold.is_some() {
        violations.add(not_of_kind("threshold", kind, "THRESHOLD"));
    }
    if kind != KindChoice::Milestones && !spec.milestones.is_empty() {
        violations.add(not_of_kind("milestones", kind, "MILESTONES"));
    }
    match kind {
        KindChoice::Metric => check_metric(spec, violations).map(KeyResultKind::Metric),
        KindChoice::Threshold => {
            let Some(threshold) = spec.threshold else {
                violations.add(FieldViolation::new(
                    "key_result.threshold",
                    "is required for a THRESHOLD key result: the comparison, its bound and how it is scored",
                ));
                return None;
            };
            let (low, high) = match threshold.bound() {
                Bound::AtLeast(low) => (Some(low), None),
                Bound::AtMost(high) => (None, Some(high)),
                Bound::Between { low, high } => (Some(low), Some(high)),
            };
            check_in_unit(violations, &spec.unit, "key_result.threshold.low", low);
            check_in_unit(violations, &spec.unit, "key_result.threshold.high", high);
            Some(KeyResultKind::Threshold(threshold))
        }
        KindChoice::Binary => Some(KeyResultKind::Binary),
        KindChoice::ManualPercent => Some(KeyResultKind::ManualPercent),
        KindChoice::Milestones => {
            if spec.milestones.is_empty() {
                violations.add(FieldViolation::new(
                    "key_result.milestones",
                    "a MILESTONES key result needs at least one milestone",
                ));
                return None;
            }
            let kind = KeyResultKind::Milestones(spec.milestones.clone());
            match kind.progress(&[]) {
                Ok(_) => Some(kind),
                Err(error) => {
                    let field = match error {
                        KeyResultError::MilestoneWeights(WeightError::Negative {
                            index, ..
                        }) => format!("key_result.milestones[{index}].weight"),
                        _ => "key_result.milestones".to_owned(),
                    };
                    violations.add(FieldViolation::new(field, error.to_string()));
                    None
                }
            }
        }
    }
}

fn check_metric(spec: &KeyResultSpec, violations: &mut Violations) -> Option<MetricKeyResult> {
    let required = |field: &str, value: Option<Decimal>| {
        value.ok_or_else(|| FieldViolation::required(format!("key_result.{field}")))
    };
    let baseline = violations.check(required("baseline", spec.baseline));
    let target = violations.check(required("target", spec.target));
    for (field, value) in [
        ("key_result.baseline", spec.baseline),
        ("key_result.target", spec.target),
        ("key_result.commit", spec.commit),
        ("key_result.stretch", spec.stretch),
    ] {
        check_in_unit(violations, &spec.unit, field, value);
    }
    let target = violations.check(
        MetricTarget::new(baseline?, target?, spec.direction).map_err(|error| {
            let field = match error {
                TargetError::DirectionContradictsValues { .. } => "key_result.direction",
                TargetError::BaselineEqualsTarget { .. } | TargetError::SpanTooLarge { .. } => {
                    "key_result.target"
                }
            };
            FieldViolation::new(field, error.to_string())
        }),
    )?;
    violations.check(
        MetricKeyResult::new(target, spec.commit, spec.stretch).map_err(|error| {
            let field = match error {
                KeyResultError::StretchNotBeyondTarget { .. } => "key_result.stretch",
                KeyResultError::CommitNotBetween { .. }
                | KeyResultError::Target(_)
                | KeyResultError::EmptyBound { .. }
                | KeyResultError::MilestoneWeights(_)
                | KeyResultError::NotBinary { .. }
                | KeyResultError::PercentOutOfRange { .. }
                | KeyResultError::ValueForMilestones => "key_result.commit",
            };
            FieldViolation::new(field, error.to_string())
        }),
    )
}

fn check_freshness(spec: &KeyResultSpec) -> Result<Option<Freshness>, FieldViolation> {
    let Some(cadence) = spec.update_cadence else {
        return match spec.stale_grace {
            Some(grace) if !grace.is_zero() => Err(FieldViolation::new(
                "key_result.stale_grace",
                "is a grace period after update_cadence; set update_cadence too",
            )),
            _ => Ok(None),
        };
    };
    if spec.bound_to_metric {
        return Err(FieldViolation::new(
            "key_result.update_cadence",
            "a key result bound to a metric is read every few minutes and is stale whenever the metric cannot be read; update_cadence is for key results that take check-ins",
        ));
    }
    if spec.kind == KindChoice::Milestones {
        return Err(FieldViolation::new(
            "key_result.update_cadence",
            "a MILESTONES key result takes no check-ins that could be late; its progress is its checklist",
        ));
    }
    Freshness::new(cadence, spec.stale_grace.unwrap_or_default())
        .map(Some)
        .map_err(|error| {
            let field = match error {
                FreshnessError::CadenceNotPositive { .. } => "key_result.update_cadence",
                FreshnessError::NegativeGrace { .. } => "key_result.stale_grace",
            };
            FieldViolation::new(field, error.to_string())
        })
}
