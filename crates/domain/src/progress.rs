//! Progress of a metric key result and the weighted rollup of progress.
//!
//! Formula (Quantive's, see `reference/okr-products.md` §2.1 and §4.2): an increasing key result
//! has progress `(value − baseline) / (target − baseline)`, a decreasing one
//! `(baseline − value) / (baseline − target)`. Both are the same expression (numerator and
//! denominator only change sign), so there is one code path and the two directions cannot drift
//! apart. Raw progress is unbounded; the clamped value in [0, 1] is what rollups and health use.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::key_result::Zone;

/// Version of the progress formula; stored with every snapshot so history survives a change.
///
/// Version 1 covers every key-result kind of [`crate::key_result`]: the metric formula above
/// (unchanged since it was first stored) and the threshold, binary, milestone and manual percent
/// formulas, which were introduced together with the `zone` field. Adding `zone` changed no
/// number of a stored metric snapshot, so the version stays 1.
pub const PROGRESS_FORMULA_VERSION: i32 = 1;

/// Which way a metric must move to reach its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// The target is above the baseline.
    Increase,
    /// The target is below the baseline.
    Decrease,
}

impl Direction {
    /// The direction implied by a baseline and a target; `None` when they are equal.
    pub fn between(baseline: Decimal, target: Decimal) -> Option<Self> {
        match target.cmp(&baseline) {
            std::cmp::Ordering::Greater => Some(Self::Increase),
            std::cmp::Ordering::Less => Some(Self::Decrease),
            std::cmp::Ordering::Equal => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Increase => "increase",
            Self::Decrease => "decrease",
        })
    }
}

/// Why a baseline, target and direction do not make a metric key result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Progress would divide by zero.
    #[error(
        "baseline and target are both {value}, so progress cannot be measured; to keep a metric at or beyond a level, use a threshold key result instead"
    )]
    BaselineEqualsTarget {
        /// The common value.
        value: Decimal,
    },
    /// The declared direction is the opposite of the one the values imply.
    #[error(
        "declared direction {declared} contradicts baseline {baseline} and target {target} (a target above the baseline means increase, below means decrease)"
    )]
    DirectionContradictsValues {
        /// The direction the caller declared.
        declared: Direction,
        /// The baseline.
        baseline: Decimal,
        /// The target.
        target: Decimal,
    },
    /// `target − baseline` does not fit a decimal.
    #[error("baseline {baseline} and target {target} are too far apart to compute progress")]
    SpanTooLarge {
        /// The baseline.
        baseline: Decimal,
        /// The target.
        target: Decimal,
    },
}

/// A validated baseline, target and direction of a metric key result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetricTarget {
    baseline: Decimal,
    target: Decimal,
    direction: Direction,
}

/// Progress of a value against a [`MetricTarget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Progress {
    /// Unbounded progress: below 0 when the value is worse than the baseline, above 1 when it is
    /// beyond the target.
    pub raw: Decimal,
    /// `raw` clamped to [0, 1]; what rollups and health use.
    pub clamped: Decimal,
    /// `raw < 0`.
    pub below_baseline: bool,
    /// `raw > 1`.
    pub over_achieved: bool,
    /// `raw >= 1`.
    pub target_met: bool,
    /// Where the value stands among commit, target and stretch levels; `None` when the key
    /// result has no such levels (see [`crate::key_result::MetricKeyResult`]).
    #[serde(default)]
    pub zone: Option<Zone>,
    /// [`PROGRESS_FORMULA_VERSION`] at the time of computing.
    pub formula_version: i32,
}

impl Progress {
    /// Progress from a raw value, deriving the clamped value and the flags; no zone.
    pub fn from_raw(raw: Decimal) -> Self {
        let raw = raw.normalize();
        Self {
            raw,
            clamped: raw.clamp(Decimal::ZERO, Decimal::ONE).normalize(),
            below_baseline: raw < Decimal::ZERO,
            over_achieved: raw > Decimal::ONE,
            target_met: raw >= Decimal::ONE,
            zone: None,
            formula_version: PROGRESS_FORMULA_VERSION,
        }
    }
}

impl MetricTarget {
    /// Validates a metric key result's baseline and target, and the direction if one is declared.
    pub fn new(
        baseline: Decimal,
        target: Decimal,
        declared: Option<Direction>,
    ) -> Result<Self, TargetError> {
        let Some(direction) = Direction::between(baseline, target) else {
            return Err(TargetError::BaselineEqualsTarget { value: baseline });
        };
        if let Some(declared) = declared
            && declared != direction
        {
            return Err(TargetError::DirectionContradictsValues {
                declared,
                baseline,
                target,
            });
        }
        if target.checked_sub(baseline).is_none() {
            return Err(TargetError::SpanTooLarge { baseline, target });
        }
        Ok(Self {
            baseline,
            target,
            direction,
        })
    }

    /// The value progress is measured from (progress 0).
    pub fn baseline(&self) -> Decimal {
        self.baseline
    }

    /// The value to reach (progress 1).
    pub fn target(&self) -> Decimal {
        self.target
    }

    /// Whether the value must rise or fall.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Progress of `value`: `(value − baseline) / (target − baseline)` for both directions.
    ///
    /// Exact up to the 28 significant digits of a decimal. A quotient beyond the decimal range
    /// (a value astronomically far from a very narrow span) saturates at ±[`Decimal::MAX`]
    /// rather than panicking; its flags stay right.
    pub fn progress(&self, value: Decimal) -> Progress {
        // Cannot overflow: checked in `new`.
        let span = self.target - self.baseline;
        let raw = value
            .checked_sub(self.baseline)
            .and_then(|moved| moved.checked_div(span))
            .unwrap_or_else(|| {
                let moved_toward_target = (value > self.baseline) == (span > Decimal::ZERO);
                if moved_toward_target {
                    Decimal::MAX
                } else {
                    Decimal::MIN
                }
            });
        Progress::from_raw(raw)
    }
}

/// Why a weighted mean cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeightError {
    /// A weight is below zero.
    #[error("weight {weight} of item {index} is negative; weights must be zero or more")]
    Negative {
        /// Zero-based index of the item.
        index: usize,
        /// The negative weight.
        weight: Decimal,
    },
    /// Every weight is zero, so the mean divides by zero.
    #[error(
        "all weights are zero, so the weighted mean is undefined; give at least one item a positive weight"
    )]
    AllZero,
    /// The weighted sum does not fit a decimal.
    #[error("the weighted sum of progress is too large for a decimal")]
    Overflow,
}

/// Weighted mean `Σ w·p / Σ w` of `(weight, clamped progress)` pairs.
///
/// No items gives `Ok(None)` (nothing to roll up). A weight of zero means the item does not
/// count (Viva Goals' "0x"), but if every weight is zero the mean is undefined and that is an
/// error rather than a silent 0.
pub fn weighted_mean(items: &[(Decimal, Decimal)]) -> Result<Option<Decimal>, WeightError> {
    if items.is_empty() {
        return Ok(None);
    }
    let total_weight = total_weight(items.iter().map(|&(weight, _)| weight).enumerate())?;
    let mut weighted_sum = Decimal::ZERO;
    for &(weight, progress) in items {
        weighted_sum = weight
            .checked_mul(progress)
            .and_then(|product| weighted_sum.checked_add(product))
            .ok_or(WeightError::Overflow)?;
    }
    let mean = weighted_sum
        .checked_div(total_weight)
        .ok_or(WeightError::Overflow)?;
    Ok(Some(mean.normalize()))
}

/// The sum of `(index, weight)` weights, rejecting a negative weight (named by its index), a sum
/// that overflows, and a sum of zero. The one place weights are validated.
pub(crate) fn total_weight(
    weights: impl IntoIterator<Item = (usize, Decimal)>,
) -> Result<Decimal, WeightError> {
    let mut total = Decimal::ZERO;
    for (index, weight) in weights {
        if weight < Decimal::ZERO {
            return Err(WeightError::Negative { index, weight });
        }
        total = total.checked_add(weight).ok_or(WeightError::Overflow)?;
    }
    if total.is_zero() {
        return Err(WeightError::AllZero);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::parse_decimal;

    fn dec(s: &str) -> Decimal {
        parse_decimal(s).unwrap()
    }

    fn target(baseline: &str, target: &str) -> MetricTarget {
        MetricTarget::new(dec(baseline), dec(target), None).unwrap()
    }

    #[test]
    fn increasing_key_result_is_exact() {
        let kr = target("30", "45");
        assert_eq!(kr.direction(), Direction::Increase);
        let progress = kr.progress(dec("42"));
        assert_eq!(progress.raw, dec("0.8"));
        assert_eq!(
            progress.raw.to_string(),
            "0.8",
            "normalized, no float artefacts"
        );
        assert_eq!(progress.clamped, dec("0.8"));
        assert!(!progress.below_baseline && !progress.over_achieved && !progress.target_met);
        assert_eq!(progress.formula_version, PROGRESS_FORMULA_VERSION);

        assert_eq!(kr.progress(dec("30")).raw, Decimal::ZERO);
        let met = kr.progress(dec("45"));
        assert_eq!(met.raw, Decimal::ONE);
        assert!(met.target_met && !met.over_achieved);
    }

    #[test]
    fn gitlab_float_bug_case_is_exact() {
        // GitLab documents (94 − 0)/(100 − 0) giving 93 % on Linux with floats.
        assert_eq!(target("0", "100").progress(dec("94")).raw, dec("0.94"));
        // Classic 0.1 + 0.2 territory.
        assert_eq!(
            target("0.1", "0.4").progress(dec("0.3")).raw.to_string(),
            "0.6666666666666666666666666667"
        );
        assert_eq!(
            target("0.1", "0.3").progress(dec("0.2")).raw.to_string(),
            "0.5"
        );
    }

    #[test]
    fn decreasing_key_result_is_mirrored() {
        let kr = target("200", "100");
        assert_eq!(kr.direction(), Direction::Decrease);
        assert_eq!(kr.progress(dec("150")).raw, dec("0.5"));

        let worse = kr.progress(dec("250"));
        assert_eq!(worse.raw, dec("-0.5"));
        assert_eq!(worse.clamped, Decimal::ZERO);
        assert!(worse.below_baseline && !worse.target_met);

        let beyond = kr.progress(dec("50"));
        assert_eq!(beyond.raw, dec("1.5"));
        assert_eq!(beyond.clamped, Decimal::ONE);
        assert!(beyond.over_achieved && beyond.target_met && !beyond.below_baseline);
    }

    #[test]
    fn quantive_unbounded_example() {
        // Quantive (okr-products.md §2.1) only publishes "50 bugs equals to 125% KR progress"
        // for a "should decrease" KR, not its baseline and target. Any decreasing pair with
        // (baseline − 50) / (baseline − target) = 1.25 reproduces it, e.g. 250 → 90.
        let progress = target("250", "90").progress(dec("50"));
        assert_eq!(progress.raw, dec("1.25"));
        assert!(progress.over_achieved);
        // And their formula for "should increase": (actual − initial)/(target − initial).
        assert_eq!(target("10", "50").progress(dec("60")).raw, dec("1.25"));
    }

    #[test]
    fn negative_and_fractional_values() {
        // NPS from −20 to +10.
        let nps = target("-20", "10");
        assert_eq!(nps.progress(dec("-5")).raw, dec("0.5"));
        assert_eq!(nps.progress(dec("-26")).raw, dec("-0.2"));
        assert_eq!(nps.progress(dec("-20")).raw, Decimal::ZERO);

        // Churn rate from 0.045 down to 0.03.
        let churn = target("0.045", "0.030");
        assert_eq!(churn.direction(), Direction::Decrease);
        assert_eq!(churn.progress(dec("0.036")).raw, dec("0.6"));

        // Negative values decreasing further: a loss from −1.5 to −4.5 is a decrease.
        let loss = target("-1.5", "-4.5");
        assert_eq!(loss.direction(), Direction::Decrease);
        assert_eq!(loss.progress(dec("-2.25")).raw, dec("0.25"));
    }

    #[test]
    fn thirds_round_at_the_last_digit() {
        let progress = target("0", "3").progress(dec("1"));
        assert_eq!(progress.raw.to_string(), "0.3333333333333333333333333333");
        assert_eq!(progress.clamped, progress.raw);
    }

    #[test]
    fn equal_baseline_and_target_is_rejected() {
        let error = MetricTarget::new(dec("5"), dec("5.0"), None).unwrap_err();
        assert_eq!(error, TargetError::BaselineEqualsTarget { value: dec("5") });
        assert!(
            error
                .to_string()
                .contains("use a threshold key result instead")
        );
        assert!(
            MetricTarget::new(dec("5"), dec("5"), Some(Direction::Increase)).is_err(),
            "a declared direction does not rescue equal values"
        );
    }

    #[test]
    fn declared_direction_must_agree_with_the_values() {
        assert_eq!(
            MetricTarget::new(dec("10"), dec("20"), Some(Direction::Decrease)),
            Err(TargetError::DirectionContradictsValues {
                declared: Direction::Decrease,
                baseline: dec("10"),
                target: dec("20"),
            })
        );
        assert_eq!(
            MetricTarget::new(dec("10"), dec("20"), Some(Direction::Decrease))
                .unwrap_err()
                .to_string(),
            "declared direction decrease contradicts baseline 10 and target 20 (a target above the baseline means increase, below means decrease)"
        );
        assert!(MetricTarget::new(dec("20"), dec("10"), Some(Direction::Increase)).is_err());
        let agreed = MetricTarget::new(dec("20"), dec("10"), Some(Direction::Decrease)).unwrap();
        assert_eq!(
            (agreed.baseline(), agreed.target(), agreed.direction()),
            (dec("20"), dec("10"), Direction::Decrease)
        );
    }

    #[test]
    fn extreme_values_saturate_instead_of_panicking() {
        assert_eq!(
            MetricTarget::new(Decimal::MIN, Decimal::MAX, None),
            Err(TargetError::SpanTooLarge {
                baseline: Decimal::MIN,
                target: Decimal::MAX
            })
        );
        let narrow = target("0", "0.0000000000000000000000000001");
        let huge = narrow.progress(Decimal::MAX);
        assert_eq!(huge.raw, Decimal::MAX);
        assert!(huge.over_achieved && huge.target_met);
        let very_negative = narrow.progress(Decimal::MIN);
        assert_eq!(very_negative.raw, Decimal::MIN);
        assert!(very_negative.below_baseline);

        let wide = target("-1", "1");
        let overflowing = wide.progress(Decimal::MAX);
        assert!(overflowing.target_met);
        let narrow_decrease = target("0.0000000000000000000000000001", "0");
        assert_eq!(narrow_decrease.progress(Decimal::MIN).raw, Decimal::MAX);
    }

    #[test]
    fn weighted_mean_golden_cases() {
        assert_eq!(weighted_mean(&[]), Ok(None));
        assert_eq!(
            weighted_mean(&[
                (dec("1"), dec("1")),
                (dec("1"), dec("0")),
                (dec("1"), dec("0"))
            ])
            .unwrap()
            .unwrap()
            .to_string(),
            "0.3333333333333333333333333333"
        );
        // Viva Goals: 2x counts twice, 0x does not count.
        assert_eq!(
            weighted_mean(&[
                (dec("2"), dec("0.9")),
                (dec("1"), dec("0.3")),
                (dec("0"), dec("0"))
            ]),
            Ok(Some(dec("0.7")))
        );
        // Fractional weights.
        assert_eq!(
            weighted_mean(&[(dec("0.5"), dec("0.4")), (dec("1.5"), dec("0.8"))]),
            Ok(Some(dec("0.7")))
        );
        assert_eq!(
            weighted_mean(&[(dec("3"), dec("0.25"))]),
            Ok(Some(dec("0.25")))
        );
    }

    #[test]
    fn weighted_mean_rejects_all_zero_and_negative_weights() {
        assert_eq!(
            weighted_mean(&[(dec("0"), dec("0.5"))]),
            Err(WeightError::AllZero)
        );
        assert_eq!(
            weighted_mean(&[(dec("0"), dec("0.5")), (dec("0.0"), dec("1"))]),
            Err(WeightError::AllZero)
        );
        assert_eq!(
            weighted_mean(&[(dec("1"), dec("0.5")), (dec("-1"), dec("1"))]),
            Err(WeightError::Negative {
                index: 1,
                weight: dec("-1")
            })
        );
        assert_eq!(
            WeightError::Negative {
                index: 1,
                weight: dec("-1")
            }
            .to_string(),
            "weight -1 of item 1 is negative; weights must be zero or more"
        );
        assert_eq!(
            weighted_mean(&[(Decimal::MAX, dec("1")), (Decimal::MAX, dec("1"))]),
            Err(WeightError::Overflow)
        );
    }
}
