//! Objective rollups and rollup key results.

use devokr_domain::progress::WeightError;
use devokr_domain::rollup::{
    RollupAggregation, RollupChild, RollupError, objective_progress, rollup_value,
};
use devokr_domain::units::{CurrencyCode, Unit};

use crate::support::dec;

fn child(weight: &str, clamped: Option<&str>, included: bool) -> RollupChild {
    RollupChild {
        weight: dec(weight),
        clamped: clamped.map(dec),
        included,
    }
}

fn currency(code: &str) -> Unit {
    Unit::Currency(CurrencyCode::parse(code).unwrap())
}

#[test]
fn archived_children_drop_out_with_their_weight() {
    // Included: (2 × 0.9 + 1 × 0.3) / 3 = 2.1 / 3 = 0.7. Counting the archived child would give
    // (1.8 + 0.3 + 0) / 8 = 0.2625.
    let children = [
        child("2", Some("0.9"), true),
        child("1", Some("0.3"), true),
        child("5", Some("0"), false),
    ];
    assert_eq!(objective_progress(&children), Ok(Some(dec("0.7"))));
}

#[test]
fn recomputes_after_archive_and_delete() {
    // Three equal children: (1 + 0.4 + 0.1) / 3 = 0.5.
    let mut children = vec![
        child("1", Some("1"), true),
        child("1", Some("0.4"), true),
        child("1", Some("0.1"), true),
    ];
    assert_eq!(objective_progress(&children), Ok(Some(dec("0.5"))));
    // Archive the third: (1 + 0.4) / 2 = 0.7.
    children[2].included = false;
    assert_eq!(objective_progress(&children), Ok(Some(dec("0.7"))));
    // Delete the second: 1 / 1 = 1.
    children.remove(1);
    assert_eq!(objective_progress(&children), Ok(Some(dec("1"))));
}

#[test]
fn target_weighted_rollup() {
    // Weights proportional to targets (revenue 100 k and 300 k):
    // (100 × 0.5 + 300 × 0.9) / 400 = (50 + 270) / 400 = 0.8.
    let children = [
        child("100", Some("0.5"), true),
        child("300", Some("0.9"), true),
    ];
    assert_eq!(objective_progress(&children), Ok(Some(dec("0.8"))));
}

#[test]
fn children_without_progress_are_not_zero() {
    // 1 × 0.6 / 1 = 0.6, not (0.6 + 0) / 4 = 0.15.
    let children = [child("1", Some("0.6"), true), child("3", None, true)];
    assert_eq!(objective_progress(&children), Ok(Some(dec("0.6"))));
    // The only child with progress has weight 0: nothing counts yet.
    let children = [child("0", Some("0.5"), true), child("1", None, true)];
    assert_eq!(objective_progress(&children), Ok(None));
    assert_eq!(objective_progress(&[child("1", None, true)]), Ok(None));
}

#[test]
fn nothing_included_is_no_progress() {
    assert_eq!(objective_progress(&[]), Ok(None));
    assert_eq!(
        objective_progress(&[child("1", Some("0.5"), false)]),
        Ok(None)
    );
}

#[test]
fn weights_of_included_children_are_validated() {
    // Every included weight is zero, with or without progress: an error, not a silent 0.
    let all_zero = [
        child("0", Some("0.5"), true),
        child("0", None, true),
        child("2", Some("1"), false),
    ];
    assert_eq!(objective_progress(&all_zero), Err(WeightError::AllZero));
    // A negative weight is named by its index even when the child has no data yet.
    let negative = [child("1", Some("0.5"), true), child("-1", None, true)];
    assert_eq!(
        objective_progress(&negative),
        Err(WeightError::Negative {
            index: 1,
            weight: dec("-1")
        })
    );
}

#[test]
fn sums_and_averages_children_in_the_same_unit() {
    let eur = currency("EUR");
    let children = [
        (eur, Some(dec("1200.50"))),
        (eur, None),
        (eur, Some(dec("799.5"))),
    ];
    // 1,200.50 + 799.5 = 2,000; the child without a value is skipped, so the mean is 2,000 / 2.
    assert_eq!(
        rollup_value(&children, &eur, RollupAggregation::Sum),
        Ok(Some(dec("2000")))
    );
    assert_eq!(
        rollup_value(&children, &eur, RollupAggregation::Average),
        Ok(Some(dec("1000")))
    );
    // Percent: (40 + 45 + 53) / 3 = 138 / 3 = 46.
    let percents = [
        (Unit::Percent, Some(dec("40"))),
        (Unit::Percent, Some(dec("45"))),
        (Unit::Percent, Some(dec("53"))),
    ];
    assert_eq!(
        rollup_value(&percents, &Unit::Percent, RollupAggregation::Average),
        Ok(Some(dec("46")))
    );
    // NPS of two teams: (20 + (−10)) / 2 = 5.
    let nps = [
        (Unit::nps(), Some(dec("20"))),
        (Unit::nps(), Some(dec("-10"))),
    ];
    assert_eq!(
        rollup_value(&nps, &Unit::nps(), RollupAggregation::Average),
        Ok(Some(dec("5")))
    );
}

#[test]
fn no_values_is_no_value() {
    let eur = currency("EUR");
    assert_eq!(rollup_value(&[], &eur, RollupAggregation::Sum), Ok(None));
    assert_eq!(
        rollup_value(
            &[(eur, None), (eur, None)],
            &eur,
            RollupAggregation::Average
        ),
        Ok(None)
    );
}

#[test]
fn the_first_unit_mismatch_is_named() {
    let (eur, usd) = (currency("EUR"), currency("USD"));
    let children = [
        (eur, Some(dec("1"))),
        (usd, None),
        (Unit::Number, Some(dec("3"))),
    ];
    let error = rollup_value(&children, &eur, RollupAggregation::Sum).unwrap_err();
    assert_eq!(
        error,
        RollupError::UnitMismatch {
            index: 1,
            found: usd,
            expected: eur,
        }
    );
    assert_eq!(
        error.to_string(),
        "child 1 is measured in USD but the rollup key result is in EUR; roll up only children in the same unit"
    );
    // Scores on different scales are different units.
    assert!(matches!(
        rollup_value(
            &[(Unit::csat(), None)],
            &Unit::nps(),
            RollupAggregation::Average
        ),
        Err(RollupError::UnitMismatch { index: 0, .. })
    ));
}

#[test]
fn scores_are_averaged_not_summed() {
    let csat = [
        (Unit::csat(), Some(dec("4"))),
        (Unit::csat(), Some(dec("5"))),
    ];
    // 4 + 5 = 9 is no CSAT; the mean 4.5 is.
    assert_eq!(
        rollup_value(&csat, &Unit::csat(), RollupAggregation::Sum),
        Err(RollupError::SumOfScores { unit: Unit::csat() })
    );
    assert_eq!(
        rollup_value(&csat, &Unit::csat(), RollupAggregation::Average),
        Ok(Some(dec("4.5")))
    );
}
