//! Property tests of the key-result kinds, the interim curve and the calendar buckets.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use devokr_domain::Decimal;
use devokr_domain::calendar::{Granularity, WeekStart, bucket_range, bucket_start, today};
use devokr_domain::cycle::start_of_day;
use devokr_domain::health::{ExpectedCurve, InterimTarget};
use devokr_domain::key_result::{
    Bound, KeyResultError, KeyResultKind, MetricKeyResult, Milestone, ThresholdKeyResult,
    ThresholdScoring,
};
use devokr_domain::progress::{Direction, MetricTarget, PROGRESS_FORMULA_VERSION, WeightError};
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

use crate::properties::{cycle, decimal, distinct_pair, zone};

/// Four different decimals in ascending order.
fn four_levels() -> impl Strategy<Value = [Decimal; 4]> {
    btree_set(decimal(), 4).prop_map(|levels| {
        let levels: Vec<Decimal> = levels.into_iter().collect();
        [levels[0], levels[1], levels[2], levels[3]]
    })
}

fn bound() -> impl Strategy<Value = Bound> {
    prop_oneof![
        decimal().prop_map(Bound::AtLeast),
        decimal().prop_map(Bound::AtMost),
        distinct_pair().prop_map(|(low, high)| Bound::Between { low, high }),
    ]
}

fn scoring() -> impl Strategy<Value = ThresholdScoring> {
    prop_oneof![
        Just(ThresholdScoring::LatestPassFail),
        Just(ThresholdScoring::ShareOfCheckInsMet),
    ]
}

/// A valid key-result definition of any kind; metric levels in either direction, each level
/// present or not.
fn kind() -> impl Strategy<Value = KeyResultKind> {
    let metric = (four_levels(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |([a, b, c, d], increase, with_commit, with_stretch)| {
            // Increasing a → c with commit b and stretch d; decreasing d → b with c and a.
            let (baseline, commit, target, stretch) =
                if increase { (a, b, c, d) } else { (d, c, b, a) };
            let target = MetricTarget::new(baseline, target, None).unwrap();
            KeyResultKind::Metric(
                MetricKeyResult::new(
                    target,
                    with_commit.then_some(commit),
                    with_stretch.then_some(stretch),
                )
                .unwrap(),
            )
        },
    );
    let threshold = (bound(), scoring()).prop_map(|(bound, scoring)| {
        KeyResultKind::Threshold(ThresholdKeyResult::new(bound, scoring).unwrap())
    });
    let milestones = vec((0i64..=1_000, 0u32..=2, any::<bool>()), 0..8).prop_map(|items| {
        KeyResultKind::Milestones(
            items
                .into_iter()
                .map(|(weight, scale, done)| Milestone {
                    title: "milestone".to_owned(),
                    weight: Decimal::new(weight, scale),
                    done,
                })
                .collect(),
        )
    });
    prop_oneof![
        metric,
        threshold,
        Just(KeyResultKind::Binary),
        milestones,
        Just(KeyResultKind::ManualPercent),
    ]
}

fn granularity() -> impl Strategy<Value = Granularity> {
    prop_oneof![
        Just(Granularity::Day),
        Just(Granularity::Week(WeekStart::Monday)),
        Just(Granularity::Week(WeekStart::Sunday)),
        Just(Granularity::Month),
    ]
}

proptest! {
    #[test]
    fn clamped_progress_of_every_kind_is_in_unit_interval(
        kind in kind(),
        history in vec((decimal(), 0i64..=10_000, any::<bool>()), 0..10),
    ) {
        // Values each kind accepts: 0/1 for binary, 0.00 to 100.00 for manual percent.
        let history: Vec<Decimal> = history
            .into_iter()
            .map(|(value, hundredths, flag)| match kind {
                KeyResultKind::Binary => if flag { Decimal::ONE } else { Decimal::ZERO },
                KeyResultKind::ManualPercent => Decimal::new(hundredths, 2),
                _ => value,
            })
            .collect();
        match kind.progress(&history) {
            Ok(Some(progress)) => {
                prop_assert!(Decimal::ZERO <= progress.clamped && progress.clamped <= Decimal::ONE);
                prop_assert_eq!(progress.below_baseline, progress.raw < Decimal::ZERO);
                prop_assert_eq!(progress.over_achieved, progress.raw > Decimal::ONE);
                prop_assert_eq!(progress.target_met, progress.raw >= Decimal::ONE);
                prop_assert_eq!(progress.formula_version, PROGRESS_FORMULA_VERSION);
                if !matches!(kind, KeyResultKind::Metric(_)) {
                    prop_assert_eq!(progress.raw, progress.clamped, "only metrics leave [0, 1]");
                    prop_assert_eq!(progress.zone, None);
                }
            }
            Ok(None) => prop_assert!(
                history.is_empty() || matches!(&kind, KeyResultKind::Milestones(items) if items.is_empty())
            ),
            Err(error) => prop_assert_eq!(
                error,
                KeyResultError::MilestoneWeights(WeightError::AllZero),
                "only a checklist of zero weights fails"
            ),
        }
    }

    #[test]
    fn a_decreasing_metric_mirrors_an_increasing_one_across_all_zones(
        [a, b, c, d] in four_levels(),
        with_commit in any::<bool>(),
        with_stretch in any::<bool>(),
        value in decimal(),
    ) {
        let commit = with_commit.then_some(b);
        let stretch = with_stretch.then_some(d);
        let increasing = MetricKeyResult::new(
            MetricTarget::new(a, c, Some(Direction::Increase)).unwrap(),
            commit,
            stretch,
        )
        .unwrap();
        let decreasing = MetricKeyResult::new(
            MetricTarget::new(-a, -c, Some(Direction::Decrease)).unwrap(),
            commit.map(|level| -level),
            stretch.map(|level| -level),
        )
        .unwrap();
        prop_assert_eq!(increasing.progress(value), decreasing.progress(-value));
    }

    #[test]
    fn threshold_share_is_in_unit_interval(bound in bound(), history in vec(decimal(), 1..20)) {
        let share = ThresholdKeyResult::new(bound, ThresholdScoring::ShareOfCheckInsMet)
            .unwrap()
            .progress(&history)
            .unwrap();
        prop_assert!(Decimal::ZERO <= share.raw && share.raw <= Decimal::ONE);
        let met = history.iter().filter(|value| bound.is_met(**value)).count();
        prop_assert_eq!(share.raw.is_zero(), met == 0);
        prop_assert_eq!(share.target_met, met == history.len());
        // Pass/fail is the share of the latest check-in alone.
        let latest = ThresholdKeyResult::new(bound, ThresholdScoring::LatestPassFail)
            .unwrap()
            .progress(&history)
            .unwrap();
        let latest_share = ThresholdKeyResult::new(bound, ThresholdScoring::ShareOfCheckInsMet)
            .unwrap()
            .progress(&history[history.len() - 1..])
            .unwrap();
        prop_assert_eq!(latest, latest_share);
    }

    #[test]
    fn interim_expected_progress_is_monotone_in_time(
        cycle in cycle(),
        points in vec((0i128..1_000_000, 0i64..=1_000), 0..6),
        a in -20i64 * 86_400..420 * 86_400,
        b in -20i64 * 86_400..420 * 86_400,
    ) {
        let start = cycle.start_time();
        let span = i128::from((cycle.end_time() - start).num_microseconds().unwrap());
        prop_assume!(span > 2);
        // Distinct instants strictly inside the cycle, with progress in [0, 1] never falling.
        let mut offsets: Vec<i128> = points
            .iter()
            .map(|(millionths, _)| 1 + millionths * (span - 2) / 1_000_000)
            .collect();
        offsets.sort_unstable();
        offsets.dedup();
        let mut progresses: Vec<i64> = points.iter().map(|(_, thousandths)| *thousandths).collect();
        progresses.sort_unstable();
        let targets: Vec<InterimTarget> = offsets
            .iter()
            .zip(progresses)
            .map(|(offset, thousandths)| InterimTarget {
                at: start + Duration::microseconds(i64::try_from(*offset).unwrap()),
                progress: Decimal::new(thousandths, 3),
            })
            .collect();
        let curve = ExpectedCurve::interim(targets.clone(), &cycle).unwrap();

        let (early, late) = if a <= b { (a, b) } else { (b, a) };
        let (e_early, e_late) = (
            curve.expected(&cycle, start + Duration::seconds(early)),
            curve.expected(&cycle, start + Duration::seconds(late)),
        );
        prop_assert!(e_early <= e_late, "{} then {}", e_early, e_late);
        for expected in [e_early, e_late] {
            prop_assert!(Decimal::ZERO <= expected && expected <= Decimal::ONE);
        }
        for target in targets {
            prop_assert_eq!(curve.expected(&cycle, target.at), target.progress.normalize());
        }
    }

    #[test]
    fn every_instant_of_a_year_is_in_exactly_one_bucket(
        tz in zone(),
        year in 1990i32..2040,
        second in 0i64..366 * 86_400,
        nanosecond in 0i64..1_000_000_000,
        granularity in granularity(),
    ) {
        let new_year = start_of_day(NaiveDate::from_ymd_opt(year, 1, 1).unwrap(), tz);
        let at = new_year + Duration::seconds(second) + Duration::nanoseconds(nanosecond);
        let (start, end) = bucket_range(at, granularity, tz);
        prop_assert!(start <= at && at < end, "{} not in [{}, {})", at, start, end);
        prop_assert_eq!(bucket_start(at, granularity, tz), start);
        // The buckets tile time: the next one starts at this end, the one before ends at this
        // start, so no instant is in two buckets or in none.
        prop_assert_eq!(bucket_range(end, granularity, tz).0, end);
        prop_assert_eq!(bucket_range(start - Duration::nanoseconds(1), granularity, tz).1, start);
        // Each bucket starts on its first calendar day.
        let first_day = today(start, tz);
        match granularity {
            Granularity::Day => prop_assert_eq!(first_day, today(at, tz)),
            Granularity::Week(WeekStart::Monday) => prop_assert_eq!(first_day.weekday(), Weekday::Mon),
            Granularity::Week(WeekStart::Sunday) => prop_assert_eq!(first_day.weekday(), Weekday::Sun),
            Granularity::Month => prop_assert_eq!(first_day.day(), 1),
        }
    }
}
