//! The kinds of key result and the progress of each (`reference/okr-products.md` §4.1 and §4.2).
//!
//! Every kind answers with the same [`Progress`]: raw, clamped, the flags, the zone and the
//! formula version, so health, rollups and snapshots never need to know the kind.
//!
//! - Metric: the baseline → target formula of [`MetricTarget`], with optional commit and stretch
//!   levels that put the value in a [`Zone`] (puzzle/okr's commit/target/stretch).
//! - Threshold: stay at least / at most / between, scored pass/fail on the latest value
//!   (Quantive) or as the share of check-ins that met the bound (Profit.co's control KPI).
//! - Binary: 0 (not done) or 1 (done).
//! - Milestones: the weighted share of milestones done.
//! - Manual percent: a person's estimate from 0 to 100.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::progress::{Direction, MetricTarget, Progress, TargetError, WeightError, weighted_mean};
use crate::units::Unit;

/// Why a key-result definition or a value of it was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyResultError {
    /// Baseline and target of a metric key result are not usable.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The commit level is not strictly between baseline and target.
    #[error(
        "commit level {commit} must lie strictly between baseline {baseline} and target {target}; it is the value you commit to reach on the way to the target"
    )]
    CommitNotBetween {
        /// The rejected commit level.
        commit: Decimal,
        /// The baseline.
        baseline: Decimal,
        /// The target.
        target: Decimal,
    },
    /// The stretch level is not beyond the target in the key result's direction.
    #[error(
        "stretch level {stretch} must lie beyond target {target} in the key result's direction ({direction}); it is the ambitious value past the target"
    )]
    StretchNotBeyondTarget {
        /// The rejected stretch level.
        stretch: Decimal,
        /// The target.
        target: Decimal,
        /// The key result's direction.
        direction: Direction,
    },
    /// A "between" bound whose low end is not below its high end.
    #[error(
        "a between threshold needs low below high, got low {low} and high {high}; swap them, or use at least / at most for a single value"
    )]
    EmptyBound {
        /// The low end.
        low: Decimal,
        /// The high end.
        high: Decimal,
    },
    /// Milestone weights are unusable.
    #[error("milestones: {0}")]
    MilestoneWeights(#[from] WeightError),
    /// A binary key result got a value other than 0 or 1.
    #[error(
        "binary key result value {value} is neither 0 nor 1; record 1 for done and 0 for not done"
    )]
    NotBinary {
        /// The rejected value.
        value: Decimal,
    },
    /// A manual percent outside 0 to 100.
    #[error("manual percent {value} is outside 0 to 100; record a percent from 0 to 100")]
    PercentOutOfRange {
        /// The rejected value.
        value: Decimal,
    },
    /// A value was given to a milestone key result.
    #[error(
        "a milestone key result takes its progress from its checklist, not from values; mark milestones done instead"
    )]
    ValueForMilestones,
}

/// Where a metric key result's value stands among its levels, from worst to best.
///
/// Zones exist only when a commit or a stretch level is set (otherwise the progress has no zone).
/// A level that is not set makes its zone empty: without a commit level every value short of the
/// target is `BelowCommit`; without a stretch level every value at or past the target is `Target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Zone {
    /// Short of the commit level (puzzle/okr's "fail").
    BelowCommit,
    /// At or past the commit level, short of the target.
    Commit,
    /// At or past the target, short of the stretch level.
    Target,
    /// At or past the stretch level.
    Stretch,
}

/// A metric key result: baseline → target, with optional commit and stretch levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetricKeyResult {
    target: MetricTarget,
    commit: Option<Decimal>,
    stretch: Option<Decimal>,
}

impl MetricKeyResult {
    /// Validates the levels: `commit` strictly between baseline and target, `stretch` beyond the
    /// target in the key result's direction. Baseline equal to target was already rejected by
    /// [`MetricTarget::new`], with a message that suggests a threshold instead.
    pub fn new(
        target: MetricTarget,
        commit: Option<Decimal>,
        stretch: Option<Decimal>,
    ) -> Result<Self, KeyResultError> {
        let (baseline, goal) = (target.baseline(), target.target());
        if let Some(commit) = commit
            && !(baseline.min(goal) < commit && commit < baseline.max(goal))
        {
            return Err(KeyResultError::CommitNotBetween {
                commit,
                baseline,
                target: goal,
            });
        }
        if let Some(stretch) = stretch {
            let beyond = match target.direction() {
                Direction::Increase => stretch > goal,
                Direction::Decrease => stretch < goal,
            };
            if !beyond {
                return Err(KeyResultError::StretchNotBeyondTarget {
                    stretch,
                    target: goal,
                    direction: target.direction(),
                });
            }
        }
        Ok(Self {
            target,
            commit,
            stretch,
        })
    }

    /// Baseline, target and direction.
    pub fn target(&self) -> MetricTarget {
        self.target
    }

    /// The commit level, if set.
    pub fn commit(&self) -> Option<Decimal> {
        self.commit
    }

    /// The stretch level, if set.
    pub fn stretch(&self) -> Option<Decimal> {
        self.stretch
    }

    /// Progress of `value` with its zone.
    ///
    /// Levels are compared in progress space (a level is reached when the value's raw progress
    /// is at least the level's), so both directions share one comparison and the `Target` zone
    /// agrees exactly with `target_met`.
    pub fn progress(&self, value: Decimal) -> Progress {
        let progress = self.target.progress(value);
        if self.commit.is_none() && self.stretch.is_none() {
            return progress;
        }
        let reached = |level: Option<Decimal>| {
            level.is_some_and(|level| progress.raw >= self.target.progress(level).raw)
        };
        let zone = if reached(self.stretch) {
            Zone::Stretch
        } else if progress.target_met {
            Zone::Target
        } else if reached(self.commit) {
            Zone::Commit
        } else {
            Zone::BelowCommit
        };
        Progress {
            zone: Some(zone),
            ..progress
        }
    }
}

/// The range a threshold key result must stay in; every bound includes its ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bound {
    /// `value >= limit`.
    AtLeast(Decimal),
    /// `value <= limit`.
    AtMost(Decimal),
    /// `low <= value <= high`, with `low < high`.
    Between {
        /// The lowest allowed value.
        low: Decimal,
        /// The highest allowed value.
        high: Decimal,
    },
}

impl Bound {
    /// The bound in words, with values shown in `unit`: "at least 4 (1..5)".
    pub fn describe(&self, unit: &Unit) -> String {
        match *self {
            Self::AtLeast(limit) => format!("at least {}", unit.format(limit)),
            Self::AtMost(limit) => format!("at most {}", unit.format(limit)),
            Self::Between { low, high } => {
                format!("between {} and {}", unit.format(low), unit.format(high))
            }
        }
    }

    /// Whether `value` stays within the bound.
    pub fn is_met(&self, value: Decimal) -> bool {
        match *self {
            Self::AtLeast(limit) => value >= limit,
            Self::AtMost(limit) => value <= limit,
            Self::Between { low, high } => low <= value && value <= high,
        }
    }
}

/// How a threshold key result turns check-ins into progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ThresholdScoring {
    /// 1 when the latest value meets the bound, else 0.
    LatestPassFail,
    /// The share of the cycle's check-ins that met the bound.
    ShareOfCheckInsMet,
}

/// A threshold ("maintain") key result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThresholdKeyResult {
    bound: Bound,
    scoring: ThresholdScoring,
}

impl ThresholdKeyResult {
    /// Validates the bound: a between bound needs `low < high`.
    pub fn new(bound: Bound, scoring: ThresholdScoring) -> Result<Self, KeyResultError> {
        if let Bound::Between { low, high } = bound
            && low >= high
        {
            return Err(KeyResultError::EmptyBound { low, high });
        }
        Ok(Self { bound, scoring })
    }

    /// The range to stay in.
    pub fn bound(&self) -> Bound {
        self.bound
    }

    /// How check-ins are scored.
    pub fn scoring(&self) -> ThresholdScoring {
        self.scoring
    }

    /// Progress from the cycle's effective values in time order; `None` when there are none.
    pub fn progress(&self, history: &[Decimal]) -> Option<Progress> {
        let raw = match self.scoring {
            ThresholdScoring::LatestPassFail => {
                let latest = *history.last()?;
                if self.bound.is_met(latest) {
                    Decimal::ONE
                } else {
                    Decimal::ZERO
                }
            }
            ThresholdScoring::ShareOfCheckInsMet => {
                if history.is_empty() {
                    return None;
                }
                let met = history.iter().filter(|&&value| self.bound.is_met(value));
                Decimal::from(met.count()) / Decimal::from(history.len())
            }
        };
        Some(Progress::from_raw(raw))
    }
}

/// One item of a milestone key result's checklist.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Milestone {
    /// What is to be done.
    pub title: String,
    /// Relative weight, zero or more (zero: listed but not counted).
    pub weight: Decimal,
    /// Whether it is done.
    pub done: bool,
}

/// A key result's kind with its definition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyResultKind {
    /// Baseline → target with optional commit and stretch levels.
    Metric(MetricKeyResult),
    /// Stay at least / at most / between.
    Threshold(ThresholdKeyResult),
    /// Done (1) or not (0).
    Binary,
    /// A weighted checklist.
    Milestones(Vec<Milestone>),
    /// A person's estimate from 0 to 100 percent.
    ManualPercent,
}

impl KeyResultKind {
    /// Whether `value` can be checked in: binary takes 0 or 1, manual percent 0 to 100,
    /// milestones take no values; metric and threshold values are limited only by their unit
    /// ([`crate::units::Unit::check_value`]).
    pub fn check_value(&self, value: Decimal) -> Result<(), KeyResultError> {
        match self {
            Self::Metric(_) | Self::Threshold(_) => Ok(()),
            Self::Binary if value == Decimal::ZERO || value == Decimal::ONE => Ok(()),
            Self::Binary => Err(KeyResultError::NotBinary { value }),
            Self::ManualPercent if Decimal::ZERO <= value && value <= Decimal::ONE_HUNDRED => {
                Ok(())
            }
            Self::ManualPercent => Err(KeyResultError::PercentOutOfRange { value }),
            Self::Milestones(_) => Err(KeyResultError::ValueForMilestones),
        }
    }

    /// Progress from `history`, the effective values of the cycle in time order (the latest
    /// last; see [`crate::check_in::effective_history`]). `Ok(None)` when there is nothing to
    /// judge: no value yet, or no milestones.
    ///
    /// Milestones ignore `history`: their progress is `Σ weight of done / Σ weight`, with the
    /// weights validated like every weighted mean (negative or all zero is an error). A latest
    /// value that [`Self::check_value`] rejects is an error, never a guess.
    pub fn progress(&self, history: &[Decimal]) -> Result<Option<Progress>, KeyResultError> {
        match self {
            Self::Milestones(milestones) => {
                let items: Vec<(Decimal, Decimal)> = milestones
                    .iter()
                    .map(|milestone| {
                        let done = if milestone.done {
                            Decimal::ONE
                        } else {
                            Decimal::ZERO
                        };
                        (milestone.weight, done)
                    })
                    .collect();
                Ok(weighted_mean(&items)?.map(Progress::from_raw))
            }
            Self::Threshold(threshold) => Ok(threshold.progress(history)),
            Self::Metric(metric) => Ok(history.last().map(|&value| metric.progress(value))),
            Self::Binary | Self::ManualPercent => {
                let Some(&latest) = history.last() else {
                    return Ok(None);
                };
                self.check_value(latest)?;
                let raw = if matches!(self, Self::ManualPercent) {
                    latest / Decimal::ONE_HUNDRED
                } else {
                    latest
                };
                Ok(Some(Progress::from_raw(raw)))
            }
        }
    }

    /// What the kind's progress is made of, in words a person can act on, or `None` when the
    /// progress says it all (a metric key result without levels, or nothing to judge yet).
    /// `history` is as for [`Self::progress`]; values are shown in `unit`.
    ///
    /// - metric with levels: "in the commit zone (commit 95.00 %, target 100.00 %)";
    /// - threshold: "latest value 4.1 (1..5) meets at least 4 (1..5)", or
    ///   "2 of 3 check-ins met at least 4 (1..5)";
    /// - binary: "done" or "not done yet";
    /// - milestones: "2 of 4 milestones done (weight 0.55)";
    /// - manual percent: "estimated 40.00 % done".
    pub fn describe(&self, history: &[Decimal], unit: &Unit) -> Option<String> {
        match self {
            Self::Metric(metric) => {
                let zone = metric.progress(*history.last()?).zone?;
                let mut levels = Vec::with_capacity(3);
                if let Some(commit) = metric.commit {
                    levels.push(format!("commit {}", unit.format(commit)));
                }
                levels.push(format!("target {}", unit.format(metric.target.target())));
                if let Some(stretch) = metric.stretch {
                    levels.push(format!("stretch {}", unit.format(stretch)));
                }
                let zone = match zone {
                    Zone::BelowCommit => "below the commit level",
                    Zone::Commit => "in the commit zone",
                    Zone::Target => "in the target zone",
                    Zone::Stretch => "in the stretch zone",
                };
                Some(format!("{zone} ({})", levels.join(", ")))
            }
            Self::Threshold(threshold) => {
                let bound = threshold.bound.describe(unit);
                match threshold.scoring {
                    ThresholdScoring::LatestPassFail => {
                        let latest = *history.last()?;
                        let verdict = if threshold.bound.is_met(latest) {
                            "meets"
                        } else {
                            "does not meet"
                        };
                        Some(format!(
                            "latest value {} {verdict} {bound}",
                            unit.format(latest)
                        ))
                    }
                    ThresholdScoring::ShareOfCheckInsMet => {
                        if history.is_empty() {
                            return None;
                        }
                        let met = history
                            .iter()
                            .filter(|&&value| threshold.bound.is_met(value))
                            .count();
                        Some(format!("{met} of {} check-ins met {bound}", history.len()))
                    }
                }
            }
            Self::Binary => Some(
                if *history.last()? == Decimal::ONE {
                    "done"
                } else {
                    "not done yet"
                }
                .to_owned(),
            ),
            Self::Milestones(milestones) => {
                let progress = self.progress(history).ok()??;
                let done = milestones.iter().filter(|milestone| milestone.done).count();
                Some(format!(
                    "{done} of {} milestones done (weight {})",
                    milestones.len(),
                    crate::decimal::format_for_display(
                        progress.raw,
                        crate::health::EXPLANATION_PLACES
                    )
                ))
            }
            Self::ManualPercent => Some(format!(
                "estimated {} done",
                Unit::Percent.format(*history.last()?)
            )),
        }
    }
}
