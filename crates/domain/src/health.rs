//! Health of key results and objectives, each with a one-line explanation a person can act on
//! and the numbers that produced it.
//!
//! A key result's health compares its clamped progress with the progress expected at this point
//! of the cycle (linear, or a curve of interim targets), using ratio bands (UpRaise's preset by
//! default, see `reference/okr-products.md` §2.11 and §4.2), and checks that its last value is
//! fresh. A value that cannot be read or is overdue is stale, never a silent zero; an empty
//! population is "no data". A manual confidence is shown beside the computed health and never
//! changes it. An objective is as healthy as its worst key result (Perdoo's rule), ignoring key
//! results without data, or, when set to weighted, as its weighted progress.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::cycle::{Cycle, share_elapsed};
use crate::decimal::format_for_display;
use crate::progress::{Progress, WeightError};
use crate::rollup::{RollupChild, objective_progress};

/// Fraction digits of numbers in explanations.
pub const EXPLANATION_PLACES: u32 = 2;

/// Health of a key result or objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Health {
    /// Progress keeps pace with the cycle.
    OnTrack,
    /// Progress is somewhat behind the pace.
    AtRisk,
    /// Progress is far behind the pace.
    OffTrack,
    /// The target is met.
    Achieved,
    /// The cycle ended without meeting the target.
    Missed,
    /// The value could not be read, so the health is unknown.
    Stale,
    /// There is no value yet (empty population).
    NoData,
}

impl Health {
    /// Rank for "worst of": higher is worse. Missed 6, off track 5, stale 4, at risk 3,
    /// on track 2, achieved 1; no data is 0 and is ignored by the worst-of rule.
    pub fn severity(self) -> u8 {
        match self {
            Self::Missed => 6,
            Self::OffTrack => 5,
            Self::Stale => 4,
            Self::AtRisk => 3,
            Self::OnTrack => 2,
            Self::Achieved => 1,
            Self::NoData => 0,
        }
    }

    /// Lowercase words, as used in explanations.
    pub fn label(self) -> &'static str {
        match self {
            Self::OnTrack => "on track",
            Self::AtRisk => "at risk",
            Self::OffTrack => "off track",
            Self::Achieved => "achieved",
            Self::Missed => "missed",
            Self::Stale => "stale",
            Self::NoData => "no data",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Pace thresholds as ratios of the expected progress: on track when
/// `progress >= expected × on_track_ratio`, at risk when `>= expected × at_risk_ratio`, off
/// track below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PaceBands {
    /// Share of the expected progress needed to be on track.
    pub on_track_ratio: Decimal,
    /// Share of the expected progress needed to be at risk rather than off track.
    pub at_risk_ratio: Decimal,
}

/// Why pace bands were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "pace bands need 0 <= at risk ratio <= on track ratio <= 1, got on track ratio {on_track_ratio} and at risk ratio {at_risk_ratio}"
)]
pub struct PaceBandsError {
    /// The rejected on-track ratio.
    pub on_track_ratio: Decimal,
    /// The rejected at-risk ratio.
    pub at_risk_ratio: Decimal,
}

impl PaceBands {
    /// UpRaise's preset, the default: on track from 0.95 × expected, at risk from 0.75 ×.
    pub const UPRAISE: Self = Self {
        on_track_ratio: Decimal::from_parts(95, 0, 0, false, 2),
        at_risk_ratio: Decimal::from_parts(75, 0, 0, false, 2),
    };

    /// Tability's preset: on track from 0.70 × expected, at risk from 0.50 ×. Tability says
    /// "above 70 %" for green; here the boundary itself is on track, as in every preset.
    ///
    /// BurningOKR (off track when progress − expected < −0.4, at risk < −0.2) and Engagedly
    /// (on track while expected − progress < 16.5 points, at risk up to 33) compare a
    /// difference in points, not a ratio: no ratio gives the same verdicts at every point of the
    /// cycle, so they are not offered as ratio presets.
    pub const TABILITY: Self = Self {
        on_track_ratio: Decimal::from_parts(70, 0, 0, false, 2),
        at_risk_ratio: Decimal::from_parts(50, 0, 0, false, 2),
    };

    /// Bands with `0 <= at_risk_ratio <= on_track_ratio <= 1`.
    pub fn new(on_track_ratio: Decimal, at_risk_ratio: Decimal) -> Result<Self, PaceBandsError> {
        if Decimal::ZERO <= at_risk_ratio
            && at_risk_ratio <= on_track_ratio
            && on_track_ratio <= Decimal::ONE
        {
            Ok(Self {
                on_track_ratio,
                at_risk_ratio,
            })
        } else {
            Err(PaceBandsError {
                on_track_ratio,
                at_risk_ratio,
            })
        }
    }
}

impl Default for PaceBands {
    fn default() -> Self {
        Self::UPRAISE
    }
}

/// The current value of a key result's metric, as far as it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// A value and its progress.
    Value(Progress),
    /// No value yet: nothing was checked in or read.
    NoValue,
    /// The metric is undefined: its population is empty.
    Undefined,
    /// The value could not be read; the reason, for the explanation.
    Unavailable(String),
}

/// A manual confidence from 0 (no chance) to 1 (certain), given with a check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Confidence(Decimal);

/// Why a confidence was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("confidence {value} is outside 0 to 1; give 0 for no chance up to 1 for certain")]
pub struct ConfidenceError {
    /// The rejected value.
    pub value: Decimal,
}

impl Confidence {
    /// A confidence in `[0, 1]`.
    pub fn new(value: Decimal) -> Result<Self, ConfidenceError> {
        if Decimal::ZERO <= value && value <= Decimal::ONE {
            Ok(Self(value.normalize()))
        } else {
            Err(ConfidenceError { value })
        }
    }

    /// The value in `[0, 1]`.
    pub fn value(self) -> Decimal {
        self.0
    }
}

/// How often a key result is expected to get a value, and how late it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Freshness {
    cadence: TimeDelta,
    grace: TimeDelta,
}

/// Why a freshness setting was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FreshnessError {
    /// The cadence is zero or negative.
    #[error("update cadence must be longer than zero, got {seconds} seconds")]
    CadenceNotPositive {
        /// The rejected cadence in seconds.
        seconds: i64,
    },
    /// The grace period is negative.
    #[error("grace period cannot be negative, got {seconds} seconds; use zero for no grace")]
    NegativeGrace {
        /// The rejected grace in seconds.
        seconds: i64,
    },
}

impl Freshness {
    /// A value is due every `cadence` (longer than zero) and may be `grace` (zero or more) late.
    pub fn new(cadence: TimeDelta, grace: TimeDelta) -> Result<Self, FreshnessError> {
        if cadence <= TimeDelta::zero() {
            return Err(FreshnessError::CadenceNotPositive {
                seconds: cadence.num_seconds(),
            });
        }
        if grace < TimeDelta::zero() {
            return Err(FreshnessError::NegativeGrace {
                seconds: grace.num_seconds(),
            });
        }
        Ok(Self { cadence, grace })
    }

    /// The expected time between values.
    pub fn cadence(&self) -> TimeDelta {
        self.cadence
    }

    /// How late a value may be before it is stale.
    pub fn grace(&self) -> TimeDelta {
        self.grace
    }

    /// Whether a value `age` old is overdue: older than cadence + grace.
    pub fn is_overdue(&self, age: TimeDelta) -> bool {
        age > self.cadence + self.grace
    }
}

/// One interim target: the progress expected by an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InterimTarget {
    /// The instant.
    pub at: DateTime<Utc>,
    /// Progress expected by then, in `[0, 1]`.
    pub progress: Decimal,
}

/// How the expected progress grows over a cycle.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ExpectedCurve {
    /// From 0 at the start to 1 at the end, evenly in real time.
    #[default]
    Linear,
    /// Piecewise linear through (cycle start, 0), the interim targets, and (cycle end, 1)
    /// (Viva Goals' phased targets); see [`ExpectedCurve::validate`].
    Interim(Vec<InterimTarget>),
}

/// Why interim targets do not make an expected-progress curve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurveError {
    /// An interim target is not strictly inside the cycle.
    #[error(
        "interim target {index} at {at} is not inside the cycle [{start}, {end}); move it after the cycle's start and before its end"
    )]
    OutsideCycle {
        /// Zero-based index of the target.
        index: usize,
        /// Its instant.
        at: DateTime<Utc>,
        /// The cycle's first instant.
        start: DateTime<Utc>,
        /// The first instant after the cycle.
        end: DateTime<Utc>,
    },
    /// An interim target's progress is outside `[0, 1]`.
    #[error("interim target {index} expects progress {progress}; expected progress is from 0 to 1")]
    ProgressOutOfRange {
        /// Zero-based index of the target.
        index: usize,
        /// The rejected progress.
        progress: Decimal,
    },
    /// An interim target is not later than the one before it.
    #[error(
        "interim target {index} is not later than the one before it; list interim targets in time order, one per instant"
    )]
    NotInTimeOrder {
        /// Zero-based index of the target.
        index: usize,
    },
    /// An interim target expects less than the one before it.
    #[error(
        "interim target {index} expects progress {progress}, less than the {previous} expected before it; expected progress cannot fall"
    )]
    Decreasing {
        /// Zero-based index of the target.
        index: usize,
        /// Its progress.
        progress: Decimal,
        /// The progress of the target before it.
        previous: Decimal,
    },
}

impl InterimTarget {
    /// The same point of `to` as this one is of `from`: at the same share of the cycle's time,
    /// with the same expected progress. Carrying a key result into another cycle keeps its
    /// curve's shape even when the cycles differ in length (to the microsecond, rounded down).
    pub fn carried(&self, from: &Cycle, to: &Cycle) -> Self {
        let span = |cycle: &Cycle| {
            i128::from(
                (cycle.end_time() - cycle.start_time())
                    .num_microseconds()
                    .expect("a cycle of years 1 to 9999 spans fewer than 2^63 microseconds"),
            )
        };
        let elapsed = i128::from(
            (self.at.clamp(from.start_time(), from.end_time()) - from.start_time())
                .num_microseconds()
                .expect("clamped into the cycle"),
        );
        let moved = elapsed * span(to) / span(from).max(1);
        Self {
            at: to.start_time()
                + TimeDelta::microseconds(i64::try_from(moved).expect("at most the span of `to`")),
            progress: self.progress,
        }
    }
}

impl ExpectedCurve {
    /// A validated curve of interim targets for `cycle`.
    pub fn interim(targets: Vec<InterimTarget>, cycle: &Cycle) -> Result<Self, CurveError> {
        let curve = Self::Interim(targets);
        curve.validate(cycle)?;
        Ok(curve)
    }

    /// Checks that the interim targets are strictly inside the cycle, strictly later one after
    /// the other, with progress in `[0, 1]` that never falls. A linear curve is always valid.
    pub fn validate(&self, cycle: &Cycle) -> Result<(), CurveError> {
        let Self::Interim(targets) = self else {
            return Ok(());
        };
        let (start, end) = (cycle.start_time(), cycle.end_time());
        let mut previous: Option<&InterimTarget> = None;
        for (index, target) in targets.iter().enumerate() {
            if !(start < target.at && target.at < end) {
                return Err(CurveError::OutsideCycle {
                    index,
                    at: target.at,
                    start,
                    end,
                });
            }
            if !(Decimal::ZERO <= target.progress && target.progress <= Decimal::ONE) {
                return Err(CurveError::ProgressOutOfRange {
                    index,
                    progress: target.progress,
                });
            }
            if let Some(previous) = previous {
                if target.at <= previous.at {
                    return Err(CurveError::NotInTimeOrder { index });
                }
                if target.progress < previous.progress {
                    return Err(CurveError::Decreasing {
                        index,
                        progress: target.progress,
                        previous: previous.progress,
                    });
                }
            }
            previous = Some(target);
        }
        Ok(())
    }

    /// Progress expected at `at`: 0 until the cycle starts, 1 once it has ended, in between the
    /// curve's value, interpolated in real time between its points.
    ///
    /// Meant for a validated curve; an unvalidated one still gives a value in `[0, 1]` (its
    /// points are clamped into the cycle and its result into `[0, 1]`) and never panics.
    pub fn expected(&self, cycle: &Cycle, at: DateTime<Utc>) -> Decimal {
        let Self::Interim(targets) = self else {
            return cycle.expected_progress_linear(at);
        };
        let (start, end) = (cycle.start_time(), cycle.end_time());
        if at >= end {
            return Decimal::ONE;
        }
        let points = targets
            .iter()
            .map(|target| (target.at.clamp(start, end), target.progress))
            .chain([(end, Decimal::ONE)]);
        let mut previous = (start, Decimal::ZERO);
        for point in points {
            if at < point.0 {
                let (from, to) = (previous, point);
                let share = share_elapsed(from.0, to.0, at);
                return (from.1 + (to.1 - from.1) * share)
                    .clamp(Decimal::ZERO, Decimal::ONE)
                    .normalize();
            }
            previous = point;
        }
        Decimal::ONE
    }
}

/// Everything a key result's health is judged from.
#[derive(Debug, Clone, Copy)]
pub struct HealthInputs<'a> {
    /// The current value, as far as it could be read.
    pub reading: &'a Reading,
    /// The cycle the key result belongs to.
    pub cycle: &'a Cycle,
    /// The instant of judging ("now", or a past instant for history).
    pub at: DateTime<Utc>,
    /// How progress is expected to grow.
    pub curve: &'a ExpectedCurve,
    /// When the latest value was measured, if there is one.
    pub last_value_at: Option<DateTime<Utc>>,
    /// The update cadence and grace, if the key result has one.
    pub freshness: Option<Freshness>,
    /// The latest manual confidence, if one was given.
    pub confidence: Option<Confidence>,
}

/// The numbers an assessment was made from, so a caller can show what produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssessmentInputs {
    /// Clamped progress that was judged (for an objective judged by its worst key result, the
    /// lowest progress among the key results with the worst health); `None` without a value.
    pub progress: Option<Decimal>,
    /// Expected progress at the instant of judging.
    pub expected_progress: Decimal,
    /// 1-based day of the cycle at the instant of judging (see [`Cycle::day_of_cycle`]).
    pub day_of_cycle: u32,
    /// Days in the cycle.
    pub total_days: u32,
    /// Age of the latest value in whole seconds, if known (never negative).
    pub last_value_age_seconds: Option<i64>,
    /// The manual confidence shown beside the health.
    pub confidence: Option<Confidence>,
}

/// Health with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The health.
    pub health: Health,
    /// Expected progress of the cycle at the time of assessing.
    pub expected_progress: Decimal,
    /// One line saying why, with the numbers rounded for display.
    pub explanation: String,
    /// The numbers used.
    pub inputs: AssessmentInputs,
}

fn show(value: Decimal) -> String {
    format_for_display(value, EXPLANATION_PLACES)
}

/// `span` in words with one unit: the largest of days, hours, minutes and seconds that fits
/// (`exact`: that divides it, for settings such as "every 36 hours"; otherwise the whole count
/// rounded down, for ages such as "9 days").
fn span_words(span: TimeDelta, exact: bool) -> String {
    const UNITS: [(i64, &str); 4] = [
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    let seconds = span.num_seconds();
    let (unit_seconds, name) = UNITS
        .into_iter()
        .find(|&(unit_seconds, _)| {
            if exact {
                seconds % unit_seconds == 0 && seconds != 0
            } else {
                seconds >= unit_seconds
            }
        })
        .unwrap_or(UNITS[3]);
    let count = seconds / unit_seconds;
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {name}{plural}")
}

/// Health of a key result. Rules, first match wins:
/// 1. unreadable value → stale, with the reason;
/// 2. latest value older than cadence + grace → stale;
/// 3. empty population → no data;
/// 4. raw progress ≥ 1 → achieved (even after the cycle ended);
/// 5. cycle ended → missed;
/// 6. clamped progress against the curve's expected progress × bands → on track, at risk or
///    off track (always on track while nothing is expected yet).
///
/// The explanation states the verdict's numbers, then the age of the latest value (when known
/// and not already the reason) and the manual confidence (when given), which never changes the
/// health.
pub fn assess(inputs: &HealthInputs<'_>, bands: &PaceBands) -> Assessment {
    let HealthInputs {
        reading,
        cycle,
        at,
        curve,
        last_value_at,
        freshness,
        confidence,
    } = *inputs;
    let expected = curve.expected(cycle, at);
    let (day_of_cycle, total_days) = cycle.day_of_cycle(at);
    // A value measured after `at` (clock skew) counts as just measured.
    let age = last_value_at.map(|measured| (at - measured).max(TimeDelta::zero()));
    let overdue = match (age, freshness) {
        (Some(age), Some(freshness)) if freshness.is_overdue(age) => Some((age, freshness)),
        _ => None,
    };
    let (health, mut explanation) = match (reading, overdue) {
        (Reading::Unavailable(reason), _) => {
            let reason = if reason.trim().is_empty() {
                "no reason given"
            } else {
                reason.as_str()
            };
            (Health::Stale, format!("value could not be read: {reason}"))
        }
        (_, Some((age, freshness))) => {
            let mut text = format!(
                "last value {} ago; expected every {}",
                span_words(age, false),
                span_words(freshness.cadence, true)
            );
            if !freshness.grace.is_zero() {
                text.push_str(&format!(" (+{} grace)", span_words(freshness.grace, true)));
            }
            (Health::Stale, text)
        }
        (Reading::NoValue, None) => (Health::NoData, "no value yet: no check-in".to_owned()),
        (Reading::Undefined, None) => (
            Health::NoData,
            "no value: the metric's population is empty".to_owned(),
        ),
        (Reading::Value(progress), None) if progress.target_met => (
            Health::Achieved,
            format!("target reached: progress {}", show(progress.raw)),
        ),
        (Reading::Value(progress), None) if cycle.has_ended(at) => (
            Health::Missed,
            format!(
                "cycle ended with progress {} (target not reached)",
                show(progress.raw)
            ),
        ),
        (Reading::Value(progress), None) => {
            assess_pace(progress, expected, (day_of_cycle, total_days), bands)
        }
    };
    let age_is_the_reason = overdue.is_some() && !matches!(reading, Reading::Unavailable(_));
    // A value measured after the instant judged (a past instant, judged with today's data)
    // has no age worth telling.
    let measured_before = last_value_at.is_some_and(|measured| measured <= at);
    if let Some(age) = age
        && !age_is_the_reason
        && measured_before
    {
        explanation.push_str(&format!("; last value {} ago", span_words(age, false)));
    }
    if let Some(confidence) = confidence {
        explanation.push_str(&format!("; confidence {}", show(confidence.value())));
    }
    Assessment {
        health,
        expected_progress: expected,
        explanation,
        inputs: AssessmentInputs {
            progress: match reading {
                Reading::Value(progress) => Some(progress.clamped),
                Reading::NoValue | Reading::Undefined | Reading::Unavailable(_) => None,
            },
            expected_progress: expected,
            day_of_cycle,
            total_days,
            last_value_age_seconds: age.map(|age| age.num_seconds()),
            confidence,
        },
    }
}

/// [`assess`] with the linear curve, no freshness check and no confidence.
pub fn assess_key_result(
    reading: &Reading,
    cycle: &Cycle,
    at: DateTime<Utc>,
    bands: &PaceBands,
) -> Assessment {
    assess(
        &HealthInputs {
            reading,
            cycle,
            at,
            curve: &ExpectedCurve::Linear,
            last_value_at: None,
            freshness: None,
            confidence: None,
        },
        bands,
    )
}

/// Health from the pace: `progress` against `expected` on `(day, total_days)` of the cycle.
fn assess_pace(
    progress: &Progress,
    expected: Decimal,
    (day, total_days): (u32, u32),
    bands: &PaceBands,
) -> (Health, String) {
    let on_track_from = expected * bands.on_track_ratio;
    let at_risk_from = expected * bands.at_risk_ratio;
    let health = if expected.is_zero() || progress.clamped >= on_track_from {
        Health::OnTrack
    } else if progress.clamped >= at_risk_from {
        Health::AtRisk
    } else {
        Health::OffTrack
    };
    let mut explanation = format!(
        "progress {} against {} expected at day {day} of {total_days}",
        show(progress.clamped),
        show(expected)
    );
    if progress.below_baseline {
        explanation.push_str(&format!(
            "; the value is worse than the baseline (raw progress {})",
            show(progress.raw)
        ));
    }
    if health != Health::OnTrack {
        explanation.push_str(&format!("; on track needs {}", show(on_track_from)));
    }
    (health, explanation)
}

/// How an objective's health follows its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ObjectiveHealthMode {
    /// The worst child's health, ignoring children with no data (Perdoo's rule).
    #[default]
    Worst,
    /// The objective's weighted progress judged like a key result's, with the same bands.
    Weighted,
}

/// A child of an objective, as its health sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectiveChild {
    /// The child's health.
    pub health: Health,
    /// The child's clamped progress; `None` without data.
    pub clamped: Option<Decimal>,
    /// The child's relative weight (used by [`ObjectiveHealthMode::Weighted`] only).
    pub weight: Decimal,
}

/// What an objective's progress is the weighted mean of (its progress driver), which also
/// gives the words of its explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ObjectiveChildren {
    /// Its key results.
    #[default]
    KeyResults,
    /// Its child objectives.
    ChildObjectives,
    /// Its key results and its child objectives together.
    KeyResultsAndChildObjectives,
}

impl ObjectiveChildren {
    /// Whether its key results count.
    pub fn uses_key_results(self) -> bool {
        matches!(self, Self::KeyResults | Self::KeyResultsAndChildObjectives)
    }

    /// Whether its child objectives count.
    pub fn uses_child_objectives(self) -> bool {
        matches!(
            self,
            Self::ChildObjectives | Self::KeyResultsAndChildObjectives
        )
    }

    fn one(self) -> &'static str {
        match self {
            Self::KeyResults => "key result",
            Self::ChildObjectives => "child objective",
            Self::KeyResultsAndChildObjectives => "child",
        }
    }

    fn many(self) -> &'static str {
        match self {
            Self::KeyResults => "key results",
            Self::ChildObjectives => "child objectives",
            Self::KeyResultsAndChildObjectives => "children",
        }
    }
}

/// Health of an objective from its (included) key results: [`assess_objective_of`] with
/// [`ObjectiveChildren::KeyResults`].
pub fn assess_objective_with(
    children: &[ObjectiveChild],
    mode: ObjectiveHealthMode,
    cycle: &Cycle,
    at: DateTime<Utc>,
    bands: &PaceBands,
) -> Result<Assessment, WeightError> {
    assess_objective_of(
        children,
        ObjectiveChildren::KeyResults,
        mode,
        cycle,
        at,
        bands,
    )
}

/// An objective's progress from its (included) children: [`objective_progress`] with every
/// child included.
pub fn children_progress(children: &[ObjectiveChild]) -> Result<Option<Decimal>, WeightError> {
    let rollup: Vec<RollupChild> = children
        .iter()
        .map(|child| RollupChild {
            weight: child.weight,
            clamped: child.clamped,
            included: true,
        })
        .collect();
    objective_progress(&rollup)
}

/// Health of an objective from its (included) children, which are `kinds`.
///
/// [`ObjectiveHealthMode::Worst`] is [`assess_objective`]; weights do not matter there.
/// [`ObjectiveHealthMode::Weighted`] takes the weighted mean of the children's clamped progress
/// ([`objective_progress`]: children without progress are left out, bad weights are an error)
/// and judges it with the rules of [`assess`] on the linear curve: achieved at 1, missed once
/// the cycle ended, otherwise the pace bands; no data when no child has progress.
pub fn assess_objective_of(
    children: &[ObjectiveChild],
    kinds: ObjectiveChildren,
    mode: ObjectiveHealthMode,
    cycle: &Cycle,
    at: DateTime<Utc>,
    bands: &PaceBands,
) -> Result<Assessment, WeightError> {
    if mode == ObjectiveHealthMode::Worst {
        let pairs: Vec<(Health, Option<Decimal>)> = children
            .iter()
            .map(|child| (child.health, child.clamped))
            .collect();
        return Ok(worst_of(&pairs, kinds, cycle, at));
    }
    let reading = match children_progress(children)? {
        Some(progress) => Reading::Value(Progress::from_raw(progress)),
        None => {
            return Ok(no_data_objective(children.len(), kinds, cycle, at));
        }
    };
    let mut assessment = assess_key_result(&reading, cycle, at, bands);
    let with_data = children
        .iter()
        .filter(|child| child.clamped.is_some())
        .count();
    assessment.explanation.push_str(&format!(
        "; weighted mean of {with_data} of {} {} with data",
        children.len(),
        kinds.many()
    ));
    Ok(assessment)
}

fn objective_inputs(
    progress: Option<Decimal>,
    cycle: &Cycle,
    at: DateTime<Utc>,
) -> AssessmentInputs {
    let (day_of_cycle, total_days) = cycle.day_of_cycle(at);
    AssessmentInputs {
        progress,
        expected_progress: cycle.expected_progress_linear(at),
        day_of_cycle,
        total_days,
        last_value_age_seconds: None,
        confidence: None,
    }
}

fn no_data_objective(
    children: usize,
    kinds: ObjectiveChildren,
    cycle: &Cycle,
    at: DateTime<Utc>,
) -> Assessment {
    let explanation = if children == 0 {
        format!("no {} yet", kinds.many())
    } else {
        format!("no {} has data yet (0 of {children})", kinds.one())
    };
    let inputs = objective_inputs(None, cycle, at);
    Assessment {
        health: Health::NoData,
        expected_progress: inputs.expected_progress,
        explanation,
        inputs,
    }
}

/// Health of an objective from its key results' `(health, clamped progress)`: the worst
/// health by [`Health::severity`], ignoring key results with no data; no data if none has
/// data. The explanation names the worst health and, when known, the lowest progress among
/// the key results that have it.
pub fn assess_objective(
    children: &[(Health, Option<Decimal>)],
    cycle: &Cycle,
    at: DateTime<Utc>,
) -> Assessment {
    worst_of(children, ObjectiveChildren::KeyResults, cycle, at)
}

fn worst_of(
    children: &[(Health, Option<Decimal>)],
    kinds: ObjectiveChildren,
    cycle: &Cycle,
    at: DateTime<Utc>,
) -> Assessment {
    let with_data: Vec<&(Health, Option<Decimal>)> = children
        .iter()
        .filter(|(health, _)| *health != Health::NoData)
        .collect();
    let Some(worst) = with_data
        .iter()
        .map(|(health, _)| *health)
        .max_by_key(|h| h.severity())
    else {
        return no_data_objective(children.len(), kinds, cycle, at);
    };
    let lowest_progress_of_worst = with_data
        .iter()
        .filter(|(health, _)| *health == worst)
        .filter_map(|(_, progress)| *progress)
        .min();
    let progress_text = lowest_progress_of_worst
        .map(|progress| format!(" at progress {}", show(progress)))
        .unwrap_or_default();
    let inputs = objective_inputs(lowest_progress_of_worst, cycle, at);
    Assessment {
        health: worst,
        expected_progress: inputs.expected_progress,
        explanation: format!(
            "worst {} is {worst}{progress_text} ({} of {} {} have data)",
            kinds.one(),
            with_data.len(),
            children.len(),
            kinds.many()
        ),
        inputs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::parse_decimal;
    use crate::progress::MetricTarget;
    use chrono::NaiveDate;
    use chrono_tz::Tz;

    #[test]
    fn interim_targets_keep_their_share_of_the_cycle_when_carried() {
        let day = |text: &str| text.parse::<chrono::NaiveDate>().unwrap();
        let utc = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        // Q1 2026 has 90 days and Q2 91: half-way through Q1 (day 45, Feb 15 00:00) is
        // half-way through Q2, 45.5 days after Apr 1, May 16 12:00.
        let q1 = Cycle::new(day("2026-01-01"), day("2026-03-31"), chrono_tz::UTC).unwrap();
        let q2 = Cycle::new(day("2026-04-01"), day("2026-06-30"), chrono_tz::UTC).unwrap();
        let half = InterimTarget {
            at: utc("2026-02-15T00:00:00Z"),
            progress: Decimal::new(4, 1),
        };
        assert_eq!(
            half.carried(&q1, &q2),
            InterimTarget {
                at: utc("2026-05-16T12:00:00Z"),
                progress: Decimal::new(4, 1),
            }
        );
        // The ends stay the ends; from a longer cycle to a shorter one too.
        let start = InterimTarget {
            at: q2.start_time(),
            progress: Decimal::ZERO,
        };
        assert_eq!(start.carried(&q2, &q1).at, q1.start_time());
        let end = InterimTarget {
            at: q2.end_time(),
            progress: Decimal::ONE,
        };
        assert_eq!(end.carried(&q2, &q1).at, q1.end_time());
    }

    fn dec(s: &str) -> Decimal {
        parse_decimal(s).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn q1_1997() -> Cycle {
        let date = |s: &str| s.parse::<NaiveDate>().unwrap();
        Cycle::new(date("1997-01-01"), date("1997-03-31"), Tz::UTC).unwrap()
    }

    /// Percent-style key result 0 → 100, so progress = value / 100.
    fn reading(value: &str) -> Reading {
        let target = MetricTarget::new(dec("0"), dec("100"), None).unwrap();
        Reading::Value(target.progress(dec(value)))
    }

    fn assess(reading: &Reading, when: &str) -> Assessment {
        assess_key_result(reading, &q1_1997(), at(when), &PaceBands::default())
    }

    // 54.9 of 90 days elapsed: expected exactly 0.61, on day 55 (24 February).
    const DAY_55: &str = "1997-02-24T21:36:00Z";

    #[test]
    fn pace_bands_at_day_55_of_90() {
        // Expected 0.61: on track from 0.5795, at risk from 0.4575.
        let off = assess(&reading("42"), DAY_55);
        assert_eq!(off.expected_progress, dec("0.61"));
        assert_eq!(off.health, Health::OffTrack);
        assert_eq!(
            off.explanation,
            "progress 0.42 against 0.61 expected at day 55 of 90; on track needs 0.58"
        );

        let at_risk = assess(&reading("45.75"), DAY_55);
        assert_eq!(at_risk.health, Health::AtRisk);
        assert_eq!(
            at_risk.explanation,
            "progress 0.46 against 0.61 expected at day 55 of 90; on track needs 0.58"
        );
        assert_eq!(assess(&reading("45.74"), DAY_55).health, Health::OffTrack);
        assert_eq!(assess(&reading("57.94"), DAY_55).health, Health::AtRisk);

        let on_track = assess(&reading("57.95"), DAY_55);
        assert_eq!(on_track.health, Health::OnTrack);
        assert_eq!(
            on_track.explanation,
            "progress 0.58 against 0.61 expected at day 55 of 90"
        );
    }

    #[test]
    fn below_baseline_says_so() {
        let assessment = assess(&reading("-30"), DAY_55);
        assert_eq!(assessment.health, Health::OffTrack);
        assert_eq!(
            assessment.explanation,
            "progress 0.00 against 0.61 expected at day 55 of 90; the value is worse than the baseline (raw progress -0.30); on track needs 0.58"
        );
    }

    #[test]
    fn nothing_expected_yet_is_on_track() {
        let before = assess(&reading("0"), "1996-12-15T00:00:00Z");
        assert_eq!(before.expected_progress, Decimal::ZERO);
        assert_eq!(before.health, Health::OnTrack);
        assert_eq!(
            before.explanation,
            "progress 0.00 against 0.00 expected at day 1 of 90"
        );
        assert_eq!(
            assess(&reading("-5"), "1997-01-01T00:00:00Z").health,
            Health::OnTrack
        );
    }

    #[test]
    fn target_met_is_achieved_before_and_after_the_end() {
        let achieved = assess(&reading("112"), DAY_55);
        assert_eq!(achieved.health, Health::Achieved);
        assert_eq!(achieved.explanation, "target reached: progress 1.12");
        assert_eq!(
            assess(&reading("100"), "1997-06-01T00:00:00Z").health,
            Health::Achieved
        );
    }

    #[test]
    fn not_met_at_the_end_is_missed() {
        let missed = assess(&reading("80"), "1997-04-01T00:00:00Z");
        assert_eq!(missed.health, Health::Missed);
        assert_eq!(missed.expected_progress, Decimal::ONE);
        assert_eq!(
            missed.explanation,
            "cycle ended with progress 0.80 (target not reached)"
        );
        // One nanosecond before the end the cycle is still running.
        let last_moment = at("1997-04-01T00:00:00Z") - chrono::Duration::nanoseconds(1);
        let running = assess_key_result(
            &reading("80"),
            &q1_1997(),
            last_moment,
            &PaceBands::default(),
        );
        assert_eq!(running.health, Health::AtRisk);
        assert_eq!(
            running.explanation,
            "progress 0.80 against 1.00 expected at day 90 of 90; on track needs 0.95"
        );
    }

    #[test]
    fn unreadable_and_undefined_values() {
        let stale = assess(
            &Reading::Unavailable("metrics service timed out".into()),
            DAY_55,
        );
        assert_eq!(stale.health, Health::Stale);
        assert_eq!(
            stale.explanation,
            "value could not be read: metrics service timed out"
        );
        assert_eq!(stale.expected_progress, dec("0.61"));
        assert_eq!(
            assess(&Reading::Unavailable(" ".into()), DAY_55).explanation,
            "value could not be read: no reason given"
        );

        let no_data = assess(&Reading::Undefined, DAY_55);
        assert_eq!(no_data.health, Health::NoData);
        assert_eq!(
            no_data.explanation,
            "no value: the metric's population is empty"
        );
        let nothing_yet = assess(&Reading::NoValue, DAY_55);
        assert_eq!(nothing_yet.health, Health::NoData);
        assert_eq!(nothing_yet.explanation, "no value yet: no check-in");
        // Stale and no data take precedence over the cycle having ended.
        assert_eq!(
            assess(&Reading::Undefined, "1998-01-01T00:00:00Z").health,
            Health::NoData
        );
    }

    #[test]
    fn pace_bands_are_validated() {
        assert_eq!(
            PaceBands::default(),
            PaceBands::new(dec("0.95"), dec("0.75")).unwrap()
        );
        assert!(PaceBands::new(dec("1"), dec("0")).is_ok());
        assert!(PaceBands::new(dec("0.5"), dec("0.5")).is_ok());
        assert!(PaceBands::new(dec("0.7"), dec("0.8")).is_err());
        assert!(PaceBands::new(dec("1.1"), dec("0.8")).is_err());
        assert_eq!(
            PaceBands::new(dec("0.9"), dec("-0.1"))
                .unwrap_err()
                .to_string(),
            "pace bands need 0 <= at risk ratio <= on track ratio <= 1, got on track ratio 0.9 and at risk ratio -0.1"
        );
    }

    #[test]
    fn custom_bands_move_the_thresholds() {
        // Tability-like: on track from 0.7 × expected, at risk from 0.5 ×.
        let bands = PaceBands::new(dec("0.7"), dec("0.5")).unwrap();
        let assessment = assess_key_result(&reading("43"), &q1_1997(), at(DAY_55), &bands);
        assert_eq!(assessment.health, Health::OnTrack);
    }

    #[test]
    fn severity_orders_worst_first() {
        let by_severity = [
            Health::Missed,
            Health::OffTrack,
            Health::Stale,
            Health::AtRisk,
            Health::OnTrack,
            Health::Achieved,
            Health::NoData,
        ];
        for pair in by_severity.windows(2) {
            assert!(pair[0].severity() > pair[1].severity(), "{pair:?}");
        }
    }

    #[test]
    fn objective_is_its_worst_key_result() {
        let cycle = q1_1997();
        let when = at(DAY_55);
        let both_missed = assess_objective(
            &[
                (Health::Missed, Some(dec("0.8"))),
                (Health::Missed, Some(dec("0.3"))),
            ],
            &cycle,
            when,
        );
        assert_eq!(both_missed.health, Health::Missed);
        assert_eq!(
            both_missed.explanation,
            "worst key result is missed at progress 0.30 (2 of 2 key results have data)"
        );

        let mixed = assess_objective(
            &[
                (Health::Achieved, Some(dec("1"))),
                (Health::NoData, None),
                (Health::Stale, None),
                (Health::AtRisk, Some(dec("0.5"))),
            ],
            &cycle,
            when,
        );
        assert_eq!(mixed.health, Health::Stale);
        assert_eq!(mixed.expected_progress, dec("0.61"));
        assert_eq!(
            mixed.explanation,
            "worst key result is stale (3 of 4 key results have data)"
        );

        let achieved = assess_objective(&[(Health::Achieved, Some(dec("1")))], &cycle, when);
        assert_eq!(achieved.health, Health::Achieved);
    }

    #[test]
    fn objective_without_data() {
        let cycle = q1_1997();
        let when = at(DAY_55);
        let none = assess_objective(
            &[(Health::NoData, None), (Health::NoData, None)],
            &cycle,
            when,
        );
        assert_eq!(none.health, Health::NoData);
        assert_eq!(none.explanation, "no key result has data yet (0 of 2)");
        let empty = assess_objective(&[], &cycle, when);
        assert_eq!(empty.health, Health::NoData);
        assert_eq!(empty.explanation, "no key results yet");
    }

    #[test]
    fn explanations_name_the_kind_of_children() {
        let cycle = q1_1997();
        let when = at(DAY_55);
        let child = |health, clamped: &str| ObjectiveChild {
            health,
            clamped: Some(dec(clamped)),
            weight: Decimal::ONE,
        };
        let children = [
            child(Health::OffTrack, "0.2"),
            child(Health::OnTrack, "0.8"),
        ];
        let assess = |kinds, mode| {
            assess_objective_of(&children, kinds, mode, &cycle, when, &PaceBands::default())
                .unwrap()
                .explanation
        };
        assert_eq!(
            assess(
                ObjectiveChildren::ChildObjectives,
                ObjectiveHealthMode::Worst
            ),
            "worst child objective is off track at progress 0.20 (2 of 2 child objectives have data)"
        );
        // Mean (0.2 + 0.8) / 2 = 0.5 against 0.61: at risk (0.4575 <= 0.5 < 0.5795).
        assert_eq!(
            assess(
                ObjectiveChildren::KeyResultsAndChildObjectives,
                ObjectiveHealthMode::Weighted
            ),
            "progress 0.50 against 0.61 expected at day 55 of 90; on track needs 0.58; weighted mean of 2 of 2 children with data"
        );
        let none = assess_objective_of(
            &[],
            ObjectiveChildren::ChildObjectives,
            ObjectiveHealthMode::Worst,
            &cycle,
            when,
            &PaceBands::default(),
        )
        .unwrap();
        assert_eq!(none.explanation, "no child objectives yet");
    }
}
