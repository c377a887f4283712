//! Rollups: an objective's progress from its children, and a rollup key result's value from
//! its child key results' values.

use rust_decimal::Decimal;

use crate::progress::{WeightError, total_weight, weighted_mean};
use crate::units::Unit;

/// One child (key result or child objective) of an objective, as the rollup sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RollupChild {
    /// Relative weight, zero or more.
    pub weight: Decimal,
    /// Clamped progress; `None` while the child has no value.
    pub clamped: Option<Decimal>,
    /// `false` for archived, closed or deleted children: they drop out entirely.
    pub included: bool,
}

/// Objective progress: the weighted mean of the included children's clamped progress.
///
/// Excluded children drop out with their weights. The weights of every included child are
/// validated, with or without progress (negative, or all zero, is an error naming the child by
/// its index in `children`), so a child without data cannot hide a bad setting. Included
/// children without progress do not count as zero: they are left out of the mean, and when no
/// included child with a positive weight has progress the result is `Ok(None)`.
pub fn objective_progress(children: &[RollupChild]) -> Result<Option<Decimal>, WeightError> {
    let included = || {
        children
            .iter()
            .enumerate()
            .filter(|(_, child)| child.included)
    };
    if included().next().is_none() {
        return Ok(None);
    }
    total_weight(included().map(|(index, child)| (index, child.weight)))?;
    let measured: Vec<(Decimal, Decimal)> = included()
        .filter(|(_, child)| child.weight > Decimal::ZERO)
        .filter_map(|(_, child)| child.clamped.map(|progress| (child.weight, progress)))
        .collect();
    weighted_mean(&measured)
}

/// How a rollup key result combines its children's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RollupAggregation {
    /// The sum of the values.
    Sum,
    /// The arithmetic mean of the values.
    Average,
}

/// Why a rollup value cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollupError {
    /// A child is measured in another unit than the rollup key result.
    #[error(
        "child {index} is measured in {found} but the rollup key result is in {expected}; roll up only children in the same unit"
    )]
    UnitMismatch {
        /// Zero-based index of the first mismatching child.
        index: usize,
        /// The child's unit.
        found: Unit,
        /// The rollup key result's unit.
        expected: Unit,
    },
    /// Scores on a bounded scale do not add up to a score.
    #[error("summing scores of {unit} gives no score on that scale; average them instead")]
    SumOfScores {
        /// The score unit.
        unit: Unit,
    },
    /// The sum does not fit a decimal.
    #[error("the sum of the children's values is too large for a decimal")]
    Overflow,
}

/// The value of a rollup key result in `unit` from its children's `(unit, value)`.
///
/// Every child must be in `unit` (checked also for children without a value, so a wrong setup
/// shows at once); children without a value are skipped; no value at all gives `Ok(None)`.
pub fn rollup_value(
    children: &[(Unit, Option<Decimal>)],
    unit: &Unit,
    aggregation: RollupAggregation,
) -> Result<Option<Decimal>, RollupError> {
    if let Some((index, (found, _))) = children
        .iter()
        .enumerate()
        .find(|(_, (child_unit, _))| child_unit != unit)
    {
        return Err(RollupError::UnitMismatch {
            index,
            found: *found,
            expected: *unit,
        });
    }
    if aggregation == RollupAggregation::Sum && matches!(unit, Unit::Score { .. }) {
        return Err(RollupError::SumOfScores { unit: *unit });
    }
    let values: Vec<Decimal> = children.iter().filter_map(|(_, value)| *value).collect();
    if values.is_empty() {
        return Ok(None);
    }
    let sum = values.iter().try_fold(Decimal::ZERO, |sum, value| {
        sum.checked_add(*value).ok_or(RollupError::Overflow)
    })?;
    let value = match aggregation {
        RollupAggregation::Sum => sum,
        RollupAggregation::Average => sum / Decimal::from(values.len()),
    };
    Ok(Some(value.normalize()))
}
