//! The health engine: interim curves, freshness, confidence, inputs, objective modes, presets.
//!
//! The cycle is Q1 1997 in UTC: 1 January to 31 March, 90 days. At 1997-02-24T21:36Z, 54.9
//! days have passed, so linear expected progress is 54.9 / 90 = 0.61, on day 55.

use chrono::{DateTime, Duration, Utc};
use devokr_domain::Decimal;
use devokr_domain::Tz;
use devokr_domain::cycle::Cycle;
use devokr_domain::health::{
    Assessment, AssessmentInputs, Confidence, ConfidenceError, CurveError, ExpectedCurve,
    Freshness, FreshnessError, Health, HealthInputs, InterimTarget, ObjectiveChild,
    ObjectiveHealthMode, PaceBands, Reading, assess, assess_key_result, assess_objective,
    assess_objective_with,
};
use devokr_domain::progress::{MetricTarget, WeightError};

use crate::support::{date, dec, instant};

const DAY_55: &str = "1997-02-24T21:36:00Z";

fn q1_1997() -> Cycle {
    Cycle::new(date("1997-01-01"), date("1997-03-31"), Tz::UTC).unwrap()
}

/// Percent-style key result 0 → 100, so progress = value / 100.
fn reading(value: &str) -> Reading {
    let target = MetricTarget::new(dec("0"), dec("100"), None).unwrap();
    Reading::Value(target.progress(dec(value)))
}

/// Interim targets 0.10 by 31 January (day 30) and 0.40 by 2 March (day 60).
fn phased_curve() -> ExpectedCurve {
    ExpectedCurve::interim(
        vec![
            InterimTarget {
                at: instant("1997-01-31T00:00:00Z"),
                progress: dec("0.10"),
            },
            InterimTarget {
                at: instant("1997-03-02T00:00:00Z"),
                progress: dec("0.40"),
            },
        ],
        &q1_1997(),
    )
    .unwrap()
}

struct Judge {
    curve: ExpectedCurve,
    last_value_at: Option<DateTime<Utc>>,
    freshness: Option<Freshness>,
    confidence: Option<Confidence>,
}

impl Judge {
    fn new() -> Self {
        Self {
            curve: ExpectedCurve::Linear,
            last_value_at: None,
            freshness: None,
            confidence: None,
        }
    }

    fn assess(&self, reading: &Reading, at: &str) -> Assessment {
        let cycle = q1_1997();
        assess(
            &HealthInputs {
                reading,
                cycle: &cycle,
                at: instant(at),
                curve: &self.curve,
                last_value_at: self.last_value_at,
                freshness: self.freshness,
                confidence: self.confidence,
            },
            &PaceBands::default(),
        )
    }
}

fn weekly_with_a_day_of_grace() -> Freshness {
    Freshness::new(Duration::days(7), Duration::days(1)).unwrap()
}

#[test]
fn interim_curve_between_two_targets() {
    let (cycle, curve) = (q1_1997(), phased_curve());
    let expected = |at: &str| curve.expected(&cycle, instant(at));
    // 15 February is 45 days in, halfway from (day 30, 0.10) to (day 60, 0.40):
    // 0.10 + (0.40 − 0.10) × 15 / 30 = 0.25 (linear would say 0.5).
    assert_eq!(expected("1997-02-15T00:00:00Z"), dec("0.25"));
    // 16 January is 15 days in, halfway from (start, 0) to (day 30, 0.10): 0.05.
    assert_eq!(expected("1997-01-16T00:00:00Z"), dec("0.05"));
    // 17 March is 75 days in, halfway from (day 60, 0.40) to (end, 1): 0.70.
    assert_eq!(expected("1997-03-17T00:00:00Z"), dec("0.7"));
    // At the interim points, before the start and after the end.
    assert_eq!(expected("1997-01-31T00:00:00Z"), dec("0.1"));
    assert_eq!(expected("1997-03-02T00:00:00Z"), dec("0.4"));
    assert_eq!(expected("1996-12-01T00:00:00Z"), Decimal::ZERO);
    assert_eq!(expected("1997-04-01T00:00:00Z"), Decimal::ONE);
    // A linear curve is the cycle's linear expected progress.
    assert_eq!(
        ExpectedCurve::Linear.expected(&cycle, instant(DAY_55)),
        dec("0.61")
    );
}

#[test]
fn health_follows_the_interim_curve() {
    let phased = Judge {
        curve: phased_curve(),
        ..Judge::new()
    };
    // Expected 0.25 on 15 February (day 46): on track from 0.95 × 0.25 = 0.2375.
    let on_track = phased.assess(&reading("24"), "1997-02-15T00:00:00Z");
    assert_eq!(on_track.health, Health::OnTrack);
    assert_eq!(on_track.expected_progress, dec("0.25"));
    assert_eq!(
        on_track.explanation,
        "progress 0.24 against 0.25 expected at day 46 of 90"
    );
    // The same value against the linear 0.5 is off track (at risk needs 0.375).
    let linear = Judge::new().assess(&reading("24"), "1997-02-15T00:00:00Z");
    assert_eq!(linear.health, Health::OffTrack);
}

#[test]
fn interim_targets_are_validated() {
    let cycle = q1_1997();
    let target = |at: &str, progress: &str| InterimTarget {
        at: instant(at),
        progress: dec(progress),
    };
    assert_eq!(
        ExpectedCurve::interim(vec![target("1997-01-01T00:00:00Z", "0.1")], &cycle),
        Err(CurveError::OutsideCycle {
            index: 0,
            at: instant("1997-01-01T00:00:00Z"),
            start: instant("1997-01-01T00:00:00Z"),
            end: instant("1997-04-01T00:00:00Z"),
        })
    );
    assert!(matches!(
        ExpectedCurve::interim(vec![target("1997-04-01T00:00:00Z", "1")], &cycle),
        Err(CurveError::OutsideCycle { index: 0, .. })
    ));
    assert_eq!(
        ExpectedCurve::interim(vec![target("1997-02-01T00:00:00Z", "1.1")], &cycle),
        Err(CurveError::ProgressOutOfRange {
            index: 0,
            progress: dec("1.1")
        })
    );
    let falling = vec![
        target("1997-02-01T00:00:00Z", "0.5"),
        target("1997-03-01T00:00:00Z", "0.4"),
    ];
    let error = ExpectedCurve::interim(falling, &cycle).unwrap_err();
    assert_eq!(
        error.to_string(),
        "interim target 1 expects progress 0.4, less than the 0.5 expected before it; expected progress cannot fall"
    );
    let same_instant = vec![
        target("1997-02-01T00:00:00Z", "0.2"),
        target("1997-02-01T00:00:00Z", "0.3"),
    ];
    assert_eq!(
        ExpectedCurve::interim(same_instant, &cycle),
        Err(CurveError::NotInTimeOrder { index: 1 })
    );
    // A flat stretch is allowed.
    let flat = vec![
        target("1997-02-01T00:00:00Z", "0.3"),
        target("1997-03-01T00:00:00Z", "0.3"),
    ];
    assert!(ExpectedCurve::interim(flat, &cycle).is_ok());
    assert_eq!(ExpectedCurve::Linear.validate(&cycle), Ok(()));
}

#[test]
fn a_value_older_than_cadence_and_grace_is_stale() {
    // 9 days old against every 7 days + 1 day of grace.
    let judge = Judge {
        last_value_at: Some(instant("1997-02-15T21:36:00Z")),
        freshness: Some(weekly_with_a_day_of_grace()),
        ..Judge::new()
    };
    let stale = judge.assess(&reading("58"), DAY_55);
    assert_eq!(stale.health, Health::Stale);
    assert_eq!(
        stale.explanation,
        "last value 9 days ago; expected every 7 days (+1 day grace)"
    );
    assert_eq!(stale.inputs.last_value_age_seconds, Some(9 * 86_400));
    // Stale comes before no data and before achieved.
    assert_eq!(
        judge.assess(&Reading::Undefined, DAY_55).health,
        Health::Stale
    );
    assert_eq!(judge.assess(&reading("100"), DAY_55).health, Health::Stale);
    // An unreadable value keeps its own reason, and says how old the last one is.
    let unreadable = judge.assess(&Reading::Unavailable("metrics timed out".into()), DAY_55);
    assert_eq!(unreadable.health, Health::Stale);
    assert_eq!(
        unreadable.explanation,
        "value could not be read: metrics timed out; last value 9 days ago"
    );
}

#[test]
fn staleness_starts_after_cadence_plus_grace() {
    let at = |last: &str| Judge {
        last_value_at: Some(instant(last)),
        freshness: Some(weekly_with_a_day_of_grace()),
        ..Judge::new()
    };
    // Exactly 8 days old is not yet older than 7 + 1 days.
    let due = at("1997-02-16T21:36:00Z").assess(&reading("58"), DAY_55);
    assert_eq!(due.health, Health::OnTrack);
    assert_eq!(
        due.explanation,
        "progress 0.58 against 0.61 expected at day 55 of 90; last value 8 days ago"
    );
    // One second more is stale; the age is shown in whole days, rounded down.
    let overdue = at("1997-02-16T21:35:59Z").assess(&reading("58"), DAY_55);
    assert_eq!(overdue.health, Health::Stale);
    assert_eq!(
        overdue.explanation,
        "last value 8 days ago; expected every 7 days (+1 day grace)"
    );
}

#[test]
fn cadence_in_hours_and_no_grace() {
    let judge = Judge {
        last_value_at: Some(instant("1997-02-22T21:36:00Z")),
        freshness: Some(Freshness::new(Duration::hours(36), Duration::zero()).unwrap()),
        ..Judge::new()
    };
    assert_eq!(
        judge.assess(&reading("58"), DAY_55).explanation,
        "last value 2 days ago; expected every 36 hours"
    );
}

#[test]
fn freshness_is_validated() {
    assert_eq!(
        Freshness::new(Duration::zero(), Duration::days(1)),
        Err(FreshnessError::CadenceNotPositive { seconds: 0 })
    );
    assert_eq!(
        Freshness::new(Duration::days(7), Duration::hours(-1)),
        Err(FreshnessError::NegativeGrace { seconds: -3600 })
    );
    assert_eq!(
        FreshnessError::NegativeGrace { seconds: -3600 }.to_string(),
        "grace period cannot be negative, got -3600 seconds; use zero for no grace"
    );
    let freshness = weekly_with_a_day_of_grace();
    assert_eq!(
        (freshness.cadence(), freshness.grace()),
        (Duration::days(7), Duration::days(1))
    );
}

#[test]
fn explanation_with_age_and_confidence_and_the_inputs() {
    let judge = Judge {
        last_value_at: Some(instant("1997-02-21T21:36:00Z")),
        freshness: Some(weekly_with_a_day_of_grace()),
        confidence: Some(Confidence::new(dec("0.4")).unwrap()),
        ..Judge::new()
    };
    // The example: 0.42 against 0.61 expected on day 55 of 90; on track needs
    // 0.95 × 0.61 = 0.5795 → 0.58.
    let assessment = judge.assess(&reading("42"), DAY_55);
    assert_eq!(assessment.health, Health::OffTrack);
    assert_eq!(
        assessment.explanation,
        "progress 0.42 against 0.61 expected at day 55 of 90; on track needs 0.58; last value 3 days ago; confidence 0.40"
    );
    assert_eq!(
        assessment.inputs,
        AssessmentInputs {
            progress: Some(dec("0.42")),
            expected_progress: dec("0.61"),
            day_of_cycle: 55,
            total_days: 90,
            last_value_age_seconds: Some(3 * 86_400),
            confidence: Some(Confidence::new(dec("0.4")).unwrap()),
        }
    );
}

#[test]
fn confidence_never_changes_the_health() {
    for confidence in ["0", "0.4", "1"] {
        let judge = Judge {
            confidence: Some(Confidence::new(dec(confidence)).unwrap()),
            ..Judge::new()
        };
        assert_eq!(
            judge.assess(&reading("42"), DAY_55).health,
            Health::OffTrack
        );
        assert_eq!(judge.assess(&reading("60"), DAY_55).health, Health::OnTrack);
    }
    assert_eq!(
        Confidence::new(dec("1.01")),
        Err(ConfidenceError { value: dec("1.01") })
    );
    assert!(Confidence::new(dec("-0.1")).is_err());
    assert_eq!(
        ConfidenceError { value: dec("1.01") }.to_string(),
        "confidence 1.01 is outside 0 to 1; give 0 for no chance up to 1 for certain"
    );
}

#[test]
fn the_thin_wrapper_is_assess_with_defaults() {
    let cycle = q1_1997();
    for value in ["42", "58", "100", "-30"] {
        assert_eq!(
            assess_key_result(
                &reading(value),
                &cycle,
                instant(DAY_55),
                &PaceBands::default()
            ),
            Judge::new().assess(&reading(value), DAY_55)
        );
    }
    let plain = Judge::new().assess(&reading("42"), DAY_55);
    assert_eq!(plain.inputs.last_value_age_seconds, None);
    assert_eq!(plain.inputs.confidence, None);
}

#[test]
fn tability_preset() {
    // On track from 0.70 × 0.61 = 0.427, at risk from 0.50 × 0.61 = 0.305.
    let cycle = q1_1997();
    let health = |value: &str| {
        assess_key_result(
            &reading(value),
            &cycle,
            instant(DAY_55),
            &PaceBands::TABILITY,
        )
        .health
    };
    assert_eq!(health("42.7"), Health::OnTrack);
    assert_eq!(health("42.69"), Health::AtRisk);
    assert_eq!(health("30.5"), Health::AtRisk);
    assert_eq!(health("30.49"), Health::OffTrack);
    assert_eq!(
        PaceBands::TABILITY,
        PaceBands::new(dec("0.7"), dec("0.5")).unwrap()
    );
}

fn kr(health: Health, clamped: Option<&str>, weight: &str) -> ObjectiveChild {
    ObjectiveChild {
        health,
        clamped: clamped.map(dec),
        weight: dec(weight),
    }
}

fn objective(children: &[ObjectiveChild], mode: ObjectiveHealthMode, at: &str) -> Assessment {
    assess_objective_with(
        children,
        mode,
        &q1_1997(),
        instant(at),
        &PaceBands::default(),
    )
    .unwrap()
}

#[test]
fn objective_weighted_against_worst() {
    let children = [
        kr(Health::OnTrack, Some("0.9"), "3"),
        kr(Health::OffTrack, Some("0.1"), "1"),
        kr(Health::NoData, None, "1"),
    ];
    let worst = objective(&children, ObjectiveHealthMode::Worst, DAY_55);
    assert_eq!(worst.health, Health::OffTrack);
    assert_eq!(
        worst.explanation,
        "worst key result is off track at progress 0.10 (2 of 3 key results have data)"
    );
    assert_eq!(worst.inputs.progress, Some(dec("0.1")));
    // (3 × 0.9 + 1 × 0.1) / 4 = 2.8 / 4 = 0.7 ≥ 0.5795: on track.
    let weighted = objective(&children, ObjectiveHealthMode::Weighted, DAY_55);
    assert_eq!(weighted.health, Health::OnTrack);
    assert_eq!(
        weighted.explanation,
        "progress 0.70 against 0.61 expected at day 55 of 90; weighted mean of 2 of 3 key results with data"
    );
    assert_eq!(weighted.inputs.progress, Some(dec("0.7")));
    assert_eq!(weighted.expected_progress, dec("0.61"));

    // Equal weights: (0.9 + 0.1) / 2 = 0.5, between 0.4575 and 0.5795: at risk.
    let equal = [
        kr(Health::OnTrack, Some("0.9"), "1"),
        kr(Health::OffTrack, Some("0.1"), "1"),
    ];
    let at_risk = objective(&equal, ObjectiveHealthMode::Weighted, DAY_55);
    assert_eq!(at_risk.health, Health::AtRisk);
    assert_eq!(
        at_risk.explanation,
        "progress 0.50 against 0.61 expected at day 55 of 90; on track needs 0.58; weighted mean of 2 of 2 key results with data"
    );
}

#[test]
fn weighted_objective_achieved_missed_and_no_data() {
    let done = [
        kr(Health::Achieved, Some("1"), "1"),
        kr(Health::Achieved, Some("1"), "2"),
    ];
    assert_eq!(
        objective(&done, ObjectiveHealthMode::Weighted, DAY_55).health,
        Health::Achieved
    );
    let short = [kr(Health::OnTrack, Some("0.7"), "1")];
    let missed = objective(
        &short,
        ObjectiveHealthMode::Weighted,
        "1997-04-01T00:00:00Z",
    );
    assert_eq!(missed.health, Health::Missed);
    assert_eq!(
        missed.explanation,
        "cycle ended with progress 0.70 (target not reached); weighted mean of 1 of 1 key results with data"
    );
    let empty = [kr(Health::NoData, None, "1"), kr(Health::NoData, None, "1")];
    let no_data = objective(&empty, ObjectiveHealthMode::Weighted, DAY_55);
    assert_eq!(no_data.health, Health::NoData);
    assert_eq!(no_data.explanation, "no key result has data yet (0 of 2)");
    assert_eq!(no_data.inputs.progress, None);
}

#[test]
fn weighted_objective_rejects_bad_weights() {
    let zero = [
        kr(Health::OnTrack, Some("0.5"), "0"),
        kr(Health::NoData, None, "0"),
    ];
    assert_eq!(
        assess_objective_with(
            &zero,
            ObjectiveHealthMode::Weighted,
            &q1_1997(),
            instant(DAY_55),
            &PaceBands::default()
        ),
        Err(WeightError::AllZero)
    );
    // Worst mode does not use weights.
    assert_eq!(
        objective(&zero, ObjectiveHealthMode::Worst, DAY_55).health,
        Health::OnTrack
    );
}

#[test]
fn worst_mode_is_assess_objective() {
    let children = [
        kr(Health::Achieved, Some("1"), "1"),
        kr(Health::Stale, None, "1"),
        kr(Health::AtRisk, Some("0.5"), "2"),
    ];
    let pairs: Vec<(Health, Option<Decimal>)> = children
        .iter()
        .map(|child| (child.health, child.clamped))
        .collect();
    assert_eq!(
        objective(&children, ObjectiveHealthMode::Worst, DAY_55),
        assess_objective(&pairs, &q1_1997(), instant(DAY_55))
    );
    assert_eq!(ObjectiveHealthMode::default(), ObjectiveHealthMode::Worst);
}
