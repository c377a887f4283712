//! Golden cases of every key-result kind, worked out by hand in the comments.

use devokr_domain::Decimal;
use devokr_domain::key_result::{
    Bound, KeyResultError, KeyResultKind, MetricKeyResult, Milestone, ThresholdKeyResult,
    ThresholdScoring, Zone,
};
use devokr_domain::progress::{
    Direction, MetricTarget, PROGRESS_FORMULA_VERSION, Progress, TargetError, WeightError,
};

use crate::support::dec;

fn metric(
    baseline: &str,
    target: &str,
    commit: Option<&str>,
    stretch: Option<&str>,
) -> KeyResultKind {
    let target = MetricTarget::new(dec(baseline), dec(target), None).unwrap();
    KeyResultKind::Metric(MetricKeyResult::new(target, commit.map(dec), stretch.map(dec)).unwrap())
}

fn values(texts: &[&str]) -> Vec<Decimal> {
    texts.iter().map(|text| dec(text)).collect()
}

/// Progress of the latest of `history`, which must exist and be valid.
fn progress(kind: &KeyResultKind, history: &[&str]) -> Progress {
    kind.progress(&values(history)).unwrap().unwrap()
}

fn threshold(bound: Bound, scoring: ThresholdScoring) -> KeyResultKind {
    KeyResultKind::Threshold(ThresholdKeyResult::new(bound, scoring).unwrap())
}

#[test]
fn decreasing_metric_with_negative_values_crossing_zero() {
    // Net revenue retention gap, from +0.8 down to −1.2: span 0.8 − (−1.2) = 2.
    let kind = metric("0.8", "-1.2", None, None);
    // (0.8 − (−0.45)) / 2 = 1.25 / 2 = 0.625
    let halfway = progress(&kind, &["0.3", "-0.45"]);
    assert_eq!(halfway.raw, dec("0.625"));
    assert_eq!(halfway.clamped, dec("0.625"));
    assert_eq!(halfway.zone, None);
    assert_eq!(halfway.formula_version, PROGRESS_FORMULA_VERSION);
    // (0.8 − 1.3) / 2 = −0.25: worse than the baseline.
    let worse = progress(&kind, &["1.3"]);
    assert_eq!(worse.raw, dec("-0.25"));
    assert_eq!(worse.clamped, Decimal::ZERO);
    assert!(worse.below_baseline && !worse.target_met);
    // (0.8 − (−1.7)) / 2 = 2.5 / 2 = 1.25: beyond the target.
    let beyond = progress(&kind, &["-1.7"]);
    assert_eq!(beyond.raw, dec("1.25"));
    assert_eq!(beyond.clamped, Decimal::ONE);
    assert!(beyond.over_achieved && beyond.target_met);
}

#[test]
fn decreasing_metric_with_fractional_values() {
    // Time to first value in hours, 12.5 down to 4.5: span 8.
    let kind = metric("12.5", "4.5", None, None);
    // (12.5 − 7.1) / 8 = 5.4 / 8 = 0.675
    assert_eq!(progress(&kind, &["7.1"]).raw, dec("0.675"));
    // (12.5 − 13.3) / 8 = −0.8 / 8 = −0.1
    assert_eq!(progress(&kind, &["13.3"]).raw, dec("-0.1"));
    // Exactly the target: 8 / 8 = 1.
    let met = progress(&kind, &["4.50"]);
    assert_eq!(met.raw, Decimal::ONE);
    assert!(met.target_met && !met.over_achieved);
}

#[test]
fn zones_of_an_increasing_metric() {
    // Activation rate: baseline 20, commit 30, target 40, stretch 50; span 20.
    let kind = metric("20", "40", Some("30"), Some("50"));
    // (value − 20) / 20 and the first level reached from the top.
    for (value, raw, zone) in [
        ("10", "-0.5", Zone::BelowCommit),
        ("25", "0.25", Zone::BelowCommit),
        ("30", "0.5", Zone::Commit),
        ("39.9", "0.995", Zone::Commit),
        ("40", "1", Zone::Target),
        ("49.99", "1.4995", Zone::Target),
        ("50", "1.5", Zone::Stretch),
        ("70", "2.5", Zone::Stretch),
    ] {
        let progress = progress(&kind, &[value]);
        assert_eq!(progress.raw, dec(raw), "value {value}");
        assert_eq!(progress.zone, Some(zone), "value {value}");
    }
}

#[test]
fn zones_of_a_decreasing_metric() {
    // Churn: baseline 5.0, commit 4.0, target 3.0, stretch 2.5; span 2.
    let kind = metric("5.0", "3.0", Some("4.0"), Some("2.5"));
    // (5 − value) / 2
    for (value, raw, zone) in [
        ("6", "-0.5", Zone::BelowCommit),
        ("4.5", "0.25", Zone::BelowCommit),
        ("4.0", "0.5", Zone::Commit),
        ("3.2", "0.9", Zone::Commit),
        ("3.0", "1", Zone::Target),
        ("2.6", "1.2", Zone::Target),
        ("2.5", "1.25", Zone::Stretch),
        ("1", "2", Zone::Stretch),
    ] {
        let progress = progress(&kind, &[value]);
        assert_eq!(progress.raw, dec(raw), "value {value}");
        assert_eq!(progress.zone, Some(zone), "value {value}");
    }
}

#[test]
fn a_missing_level_leaves_its_zone_empty() {
    // Commit only: past the target is Target, never Stretch.
    let commit_only = metric("0", "100", Some("50"), None);
    assert_eq!(
        progress(&commit_only, &["49"]).zone,
        Some(Zone::BelowCommit)
    );
    assert_eq!(progress(&commit_only, &["50"]).zone, Some(Zone::Commit));
    assert_eq!(progress(&commit_only, &["120"]).zone, Some(Zone::Target));
    // Stretch only: short of the target is BelowCommit, never Commit.
    let stretch_only = metric("0", "100", None, Some("150"));
    assert_eq!(
        progress(&stretch_only, &["80"]).zone,
        Some(Zone::BelowCommit)
    );
    assert_eq!(progress(&stretch_only, &["100"]).zone, Some(Zone::Target));
    assert_eq!(progress(&stretch_only, &["150"]).zone, Some(Zone::Stretch));
    // Neither: no zones.
    assert_eq!(
        progress(&metric("0", "100", None, None), &["80"]).zone,
        None
    );
}

#[test]
fn levels_are_validated() {
    let increasing = MetricTarget::new(dec("20"), dec("40"), None).unwrap();
    for commit in ["20", "40", "45", "10"] {
        assert_eq!(
            MetricKeyResult::new(increasing, Some(dec(commit)), None),
            Err(KeyResultError::CommitNotBetween {
                commit: dec(commit),
                baseline: dec("20"),
                target: dec("40"),
            }),
            "commit {commit}"
        );
    }
    assert_eq!(
        MetricKeyResult::new(increasing, Some(dec("45")), None)
            .unwrap_err()
            .to_string(),
        "commit level 45 must lie strictly between baseline 20 and target 40; it is the value you commit to reach on the way to the target"
    );
    for stretch in ["40", "39"] {
        assert!(MetricKeyResult::new(increasing, None, Some(dec(stretch))).is_err());
    }

    // Decreasing 5 → 3: the stretch must be below 3, the commit between 3 and 5.
    let decreasing = MetricTarget::new(dec("5"), dec("3"), None).unwrap();
    assert!(MetricKeyResult::new(decreasing, Some(dec("4")), Some(dec("2.5"))).is_ok());
    let error = MetricKeyResult::new(decreasing, None, Some(dec("3.5"))).unwrap_err();
    assert_eq!(
        error,
        KeyResultError::StretchNotBeyondTarget {
            stretch: dec("3.5"),
            target: dec("3"),
            direction: Direction::Decrease,
        }
    );
    assert_eq!(
        error.to_string(),
        "stretch level 3.5 must lie beyond target 3 in the key result's direction (decrease); it is the ambitious value past the target"
    );
}

#[test]
fn equal_baseline_and_target_suggests_a_threshold() {
    let build = || -> Result<MetricKeyResult, KeyResultError> {
        let target = MetricTarget::new(dec("4.2"), dec("4.20"), None)?;
        MetricKeyResult::new(target, None, None)
    };
    let error = build().unwrap_err();
    assert_eq!(
        error,
        KeyResultError::Target(TargetError::BaselineEqualsTarget { value: dec("4.2") })
    );
    assert!(
        error
            .to_string()
            .ends_with("use a threshold key result instead"),
        "{error}"
    );
}

#[test]
fn threshold_pass_fail_on_the_latest_value() {
    // Quantive's bounce-rate example: stay at most 25 %; 27 % → 0, then 24 % → 1.
    let at_most = threshold(Bound::AtMost(dec("25")), ThresholdScoring::LatestPassFail);
    assert_eq!(progress(&at_most, &["27"]).raw, Decimal::ZERO);
    let passed = progress(&at_most, &["27", "24"]);
    assert_eq!(passed.raw, Decimal::ONE);
    assert!(passed.target_met && passed.zone.is_none());
    assert_eq!(
        progress(&at_most, &["25"]).raw,
        Decimal::ONE,
        "the bound itself passes"
    );

    // Uptime at least 99.5: only the latest value counts.
    let at_least = threshold(
        Bound::AtLeast(dec("99.5")),
        ThresholdScoring::LatestPassFail,
    );
    assert_eq!(progress(&at_least, &["99.9", "99.4"]).raw, Decimal::ZERO);
    assert_eq!(progress(&at_least, &["99.4", "99.5"]).raw, Decimal::ONE);

    // UpRaise's maintain example: below 5 → 0, 5 to 7 → 1, beyond 7 → 0.
    let between = threshold(
        Bound::Between {
            low: dec("5"),
            high: dec("7"),
        },
        ThresholdScoring::LatestPassFail,
    );
    for (value, raw) in [
        ("4.99", "0"),
        ("5", "1"),
        ("6", "1"),
        ("7", "1"),
        ("7.01", "0"),
    ] {
        assert_eq!(progress(&between, &[value]).raw, dec(raw), "value {value}");
    }
    assert_eq!(between.progress(&[]), Ok(None));
}

#[test]
fn threshold_share_of_check_ins_met() {
    // At least 10: 12, 10 and 11 meet it, 9 and 8 do not: 3 / 5 = 0.6.
    let at_least = threshold(
        Bound::AtLeast(dec("10")),
        ThresholdScoring::ShareOfCheckInsMet,
    );
    assert_eq!(
        progress(&at_least, &["12", "9", "10", "11", "8"]).raw,
        dec("0.6")
    );
    // Between 5 and 7: 5 and 6 meet it, 4 and 8 do not: 2 / 4 = 0.5.
    let between = threshold(
        Bound::Between {
            low: dec("5"),
            high: dec("7"),
        },
        ThresholdScoring::ShareOfCheckInsMet,
    );
    assert_eq!(progress(&between, &["4", "5", "6", "8"]).raw, dec("0.5"));
    // Profit.co's control KPI: 13 weekly check-ins, one success is 1/13 ≈ 7.69 %;
    // 1/13 = 0.076923 076923 …, cut at 28 places (next digit 2, rounds down).
    let at_most = threshold(
        Bound::AtMost(dec("1")),
        ThresholdScoring::ShareOfCheckInsMet,
    );
    let mut weekly = vec!["1.5"; 12];
    weekly.insert(4, "0.5");
    let one_of_thirteen = progress(&at_most, &weekly);
    assert_eq!(
        one_of_thirteen.raw.to_string(),
        "0.0769230769230769230769230769"
    );
    assert!(!one_of_thirteen.target_met);
    // All met is the target; none met is 0; no check-ins is no progress at all.
    assert!(progress(&at_most, &["1", "0.2"]).target_met);
    assert_eq!(progress(&at_most, &["2", "3"]).raw, Decimal::ZERO);
    assert_eq!(at_most.progress(&[]), Ok(None));
}

#[test]
fn between_needs_low_below_high() {
    for (low, high) in [("7", "5"), ("5", "5.0")] {
        let bound = Bound::Between {
            low: dec(low),
            high: dec(high),
        };
        assert_eq!(
            ThresholdKeyResult::new(bound, ThresholdScoring::LatestPassFail),
            Err(KeyResultError::EmptyBound {
                low: dec(low),
                high: dec(high)
            })
        );
    }
    assert_eq!(
        KeyResultError::EmptyBound {
            low: dec("7"),
            high: dec("5")
        }
        .to_string(),
        "a between threshold needs low below high, got low 7 and high 5; swap them, or use at least / at most for a single value"
    );
}

fn milestone(title: &str, weight: &str, done: bool) -> Milestone {
    Milestone {
        title: title.to_owned(),
        weight: dec(weight),
        done,
    }
}

#[test]
fn milestones_are_a_weighted_checklist() {
    // Done weights 2 + 1 = 3 of 2 + 1 + 1 = 4 → 0.75; the zero-weight milestones do not count,
    // whether done or not.
    let kind = KeyResultKind::Milestones(vec![
        milestone("interviews", "2", true),
        milestone("prototype", "1", false),
        milestone("nice to have", "0", true),
        milestone("pricing page", "1", true),
        milestone("stretch idea", "0", false),
    ]);
    let progress = kind.progress(&[]).unwrap().unwrap();
    assert_eq!(progress.raw, dec("0.75"));
    assert_eq!(progress.formula_version, PROGRESS_FORMULA_VERSION);
    // Values do not move a checklist.
    assert_eq!(kind.progress(&values(&["1"])).unwrap().unwrap(), progress);
    assert_eq!(
        kind.check_value(dec("1")),
        Err(KeyResultError::ValueForMilestones)
    );

    // Fractional weights: 0.5 of 0.5 + 1.5 = 0.25.
    let fractional = KeyResultKind::Milestones(vec![
        milestone("a", "0.5", true),
        milestone("b", "1.5", false),
    ]);
    assert_eq!(fractional.progress(&[]).unwrap().unwrap().raw, dec("0.25"));

    let all_done = KeyResultKind::Milestones(vec![milestone("a", "3", true)]);
    assert!(all_done.progress(&[]).unwrap().unwrap().target_met);
    assert_eq!(KeyResultKind::Milestones(vec![]).progress(&[]), Ok(None));
}

#[test]
fn milestone_weights_are_validated() {
    let all_zero = KeyResultKind::Milestones(vec![
        milestone("a", "0", true),
        milestone("b", "0.0", false),
    ]);
    let error = all_zero.progress(&[]).unwrap_err();
    assert_eq!(
        error,
        KeyResultError::MilestoneWeights(WeightError::AllZero)
    );
    assert_eq!(
        error.to_string(),
        "milestones: all weights are zero, so the weighted mean is undefined; give at least one item a positive weight"
    );
    let negative =
        KeyResultKind::Milestones(vec![milestone("a", "1", true), milestone("b", "-2", false)]);
    assert_eq!(
        negative.progress(&[]),
        Err(KeyResultError::MilestoneWeights(WeightError::Negative {
            index: 1,
            weight: dec("-2")
        }))
    );
}

#[test]
fn binary_is_zero_or_one() {
    let kind = KeyResultKind::Binary;
    assert_eq!(kind.progress(&[]), Ok(None));
    assert_eq!(progress(&kind, &["0"]).raw, Decimal::ZERO);
    let done = progress(&kind, &["0", "1"]);
    assert_eq!(done.raw, Decimal::ONE);
    assert!(done.target_met);
    assert_eq!(
        progress(&kind, &["1", "0"]).raw,
        Decimal::ZERO,
        "the latest counts"
    );
    assert_eq!(progress(&kind, &["1.0"]).raw, Decimal::ONE);
    for value in ["0.5", "2", "-1"] {
        assert_eq!(
            kind.progress(&values(&[value])),
            Err(KeyResultError::NotBinary { value: dec(value) })
        );
    }
    assert_eq!(
        kind.check_value(dec("0.5")).unwrap_err().to_string(),
        "binary key result value 0.5 is neither 0 nor 1; record 1 for done and 0 for not done"
    );
}

#[test]
fn manual_percent_is_zero_to_one_hundred() {
    let kind = KeyResultKind::ManualPercent;
    assert_eq!(kind.progress(&[]), Ok(None));
    // 45 / 100 = 0.45; 33.3 / 100 = 0.333
    assert_eq!(progress(&kind, &["45"]).raw, dec("0.45"));
    assert_eq!(progress(&kind, &["80", "33.3"]).raw, dec("0.333"));
    assert_eq!(progress(&kind, &["0"]).raw, Decimal::ZERO);
    assert!(progress(&kind, &["100"]).target_met);
    for value in ["100.5", "-1", "250"] {
        assert_eq!(
            kind.progress(&values(&[value])),
            Err(KeyResultError::PercentOutOfRange { value: dec(value) })
        );
    }
    assert_eq!(
        kind.check_value(dec("100.5")).unwrap_err().to_string(),
        "manual percent 100.5 is outside 0 to 100; record a percent from 0 to 100"
    );
    assert_eq!(kind.check_value(dec("100")), Ok(()));
}

#[test]
fn metric_and_threshold_take_any_value() {
    let kinds = [
        metric("0", "1", None, None),
        threshold(Bound::AtLeast(dec("1")), ThresholdScoring::LatestPassFail),
    ];
    for kind in kinds {
        assert_eq!(kind.check_value(dec("-123.456")), Ok(()));
        assert_eq!(kind.progress(&[]), Ok(None));
    }
}

#[test]
fn each_kind_describes_what_its_progress_is_made_of() {
    use devokr_domain::units::Unit;
    // CSAT at least 4 with check-ins 4.2, 3.8, 4.1: two of the three meet it; the latest
    // (4.1) meets it.
    let csat = values(&["4.2", "3.8", "4.1"]);
    assert_eq!(
        threshold(
            Bound::AtLeast(dec("4")),
            ThresholdScoring::ShareOfCheckInsMet
        )
        .describe(&csat, &Unit::csat())
        .unwrap(),
        "2 of 3 check-ins met at least 4 (1..5)"
    );
    assert_eq!(
        threshold(Bound::AtLeast(dec("4")), ThresholdScoring::LatestPassFail)
            .describe(&csat, &Unit::csat())
            .unwrap(),
        "latest value 4.1 (1..5) meets at least 4 (1..5)"
    );
    assert_eq!(
        threshold(
            Bound::Between {
                low: dec("10"),
                high: dec("20")
            },
            ThresholdScoring::LatestPassFail
        )
        .describe(&values(&["25"]), &Unit::Number)
        .unwrap(),
        "latest value 25 does not meet between 10 and 20"
    );
    // Commit 40, target 50, stretch 60 from baseline 30: 45 is past commit, short of target.
    assert_eq!(
        metric("30", "50", Some("40"), Some("60"))
            .describe(&values(&["45"]), &Unit::Percent)
            .unwrap(),
        "in the commit zone (commit 40.00 %, target 50.00 %, stretch 60.00 %)"
    );
    assert_eq!(
        metric("30", "50", None, None).describe(&values(&["45"]), &Unit::Percent),
        None,
        "no levels: the progress says it all"
    );
    // Weights 0.3, 0.25, 0.2, 0.25 with the first and third done: 0.5 of 1, half done.
    let checklist = KeyResultKind::Milestones(
        [
            ("a", "0.3", true),
            ("b", "0.25", false),
            ("c", "0.2", true),
            ("d", "0.25", false),
        ]
        .into_iter()
        .map(|(title, weight, done)| Milestone {
            title: title.into(),
            weight: dec(weight),
            done,
        })
        .collect(),
    );
    assert_eq!(
        checklist.describe(&[], &Unit::Number).unwrap(),
        "2 of 4 milestones done (weight 0.50)"
    );
    assert_eq!(
        KeyResultKind::Binary
            .describe(&values(&["0", "1"]), &Unit::Number)
            .unwrap(),
        "done"
    );
    assert_eq!(KeyResultKind::Binary.describe(&[], &Unit::Number), None);
    assert_eq!(
        KeyResultKind::ManualPercent
            .describe(&values(&["40"]), &Unit::Percent)
            .unwrap(),
        "estimated 40.00 % done"
    );
}
