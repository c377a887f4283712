//! Property tests of the progress, cycle, rollup, decimal and name rules.

use chrono::{DateTime, Days, Duration, NaiveDate, Utc};
use devokr_domain::cycle::{Cycle, start_of_day};
use devokr_domain::decimal::{parse_decimal, round_for_display};
use devokr_domain::names::{KeyResultName, validate_resource_id};
use devokr_domain::progress::{Direction, MetricTarget, weighted_mean};
use devokr_domain::{Decimal, Tz};
use proptest::prelude::*;

/// Decimals of at most 16 digits, up to 6 of them fraction digits: wide enough to matter,
/// small enough that every difference is exact.
pub(crate) fn decimal() -> impl Strategy<Value = Decimal> {
    (-9_999_999_999_999_999i64..=9_999_999_999_999_999, 0u32..=6)
        .prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
}

/// Two different decimals, ordered `(low, high)`.
pub(crate) fn distinct_pair() -> impl Strategy<Value = (Decimal, Decimal)> {
    (decimal(), decimal())
        .prop_filter("baseline and target differ", |(a, b)| a != b)
        .prop_map(|(a, b)| if a < b { (a, b) } else { (b, a) })
}

/// Zones with DST, zones east and west of UTC, and a half-hour zone.
pub(crate) const ZONES: [Tz; 10] = [
    Tz::UTC,
    Tz::Europe__Berlin,
    Tz::America__New_York,
    Tz::America__Los_Angeles,
    Tz::America__Santiago,
    Tz::America__Havana,
    Tz::Pacific__Auckland,
    Tz::Pacific__Apia,
    Tz::Asia__Kolkata,
    Tz::Australia__Lord_Howe,
];

pub(crate) fn zone() -> impl Strategy<Value = Tz> {
    proptest::sample::select(ZONES.to_vec())
}

fn date() -> impl Strategy<Value = NaiveDate> {
    // 1970-01-01 plus up to ~70 years: covers past and future DST rules.
    (0u64..25_000).prop_map(|days| NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + Days::new(days))
}

pub(crate) fn cycle() -> impl Strategy<Value = Cycle> {
    (date(), 0u64..400, zone()).prop_map(|(start, extra_days, tz)| {
        Cycle::new(start, start + Days::new(extra_days), tz).unwrap()
    })
}

proptest! {
    #[test]
    fn increasing_progress_never_falls_when_the_value_rises(
        (baseline, target) in distinct_pair(),
        a in decimal(),
        b in decimal(),
    ) {
        let kr = MetricTarget::new(baseline, target, None).unwrap();
        prop_assert_eq!(kr.direction(), Direction::Increase);
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let (p_low, p_high) = (kr.progress(low), kr.progress(high));
        prop_assert!(p_low.raw <= p_high.raw, "{:?} then {:?}", p_low, p_high);
        prop_assert!(p_low.clamped <= p_high.clamped);
    }

    #[test]
    fn decreasing_progress_never_falls_when_the_value_falls(
        (target, baseline) in distinct_pair(),
        a in decimal(),
        b in decimal(),
    ) {
        let kr = MetricTarget::new(baseline, target, None).unwrap();
        prop_assert_eq!(kr.direction(), Direction::Decrease);
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(kr.progress(high).raw <= kr.progress(low).raw);
    }

    #[test]
    fn decreasing_is_the_mirror_of_increasing(
        (target, baseline) in distinct_pair(),
        value in decimal(),
    ) {
        let decreasing = MetricTarget::new(baseline, target, Some(Direction::Decrease)).unwrap();
        let increasing = MetricTarget::new(-baseline, -target, Some(Direction::Increase)).unwrap();
        prop_assert_eq!(decreasing.progress(value), increasing.progress(-value));
    }

    #[test]
    fn clamped_is_in_unit_interval_and_flags_agree_with_raw(
        (low, high) in distinct_pair(),
        increase in any::<bool>(),
        value in decimal(),
    ) {
        let (baseline, target) = if increase { (low, high) } else { (high, low) };
        let progress = MetricTarget::new(baseline, target, None).unwrap().progress(value);
        prop_assert!(Decimal::ZERO <= progress.clamped && progress.clamped <= Decimal::ONE);
        prop_assert_eq!(progress.below_baseline, progress.raw < Decimal::ZERO);
        prop_assert_eq!(progress.over_achieved, progress.raw > Decimal::ONE);
        prop_assert_eq!(progress.target_met, progress.raw >= Decimal::ONE);
        if Decimal::ZERO <= progress.raw && progress.raw <= Decimal::ONE {
            prop_assert_eq!(progress.clamped, progress.raw);
        }
        prop_assert_eq!(progress.raw, progress.raw.normalize());
        prop_assert_eq!(progress.raw.scale(), progress.raw.normalize().scale());
    }

    #[test]
    fn value_at_baseline_is_zero_and_at_target_is_one((low, high) in distinct_pair()) {
        for (baseline, target) in [(low, high), (high, low)] {
            let kr = MetricTarget::new(baseline, target, None).unwrap();
            prop_assert_eq!(kr.progress(baseline).raw, Decimal::ZERO);
            prop_assert_eq!(kr.progress(target).raw, Decimal::ONE);
        }
    }

    #[test]
    fn expected_progress_is_monotone_and_in_unit_interval(
        cycle in cycle(),
        a in -20i64 * 86_400..420 * 86_400,
        b in -20i64 * 86_400..420 * 86_400,
    ) {
        let (early, late) = if a <= b { (a, b) } else { (b, a) };
        let start = cycle.start_time();
        let (e_early, e_late) = (
            cycle.expected_progress_linear(start + Duration::seconds(early)),
            cycle.expected_progress_linear(start + Duration::seconds(late)),
        );
        prop_assert!(e_early <= e_late, "{} then {}", e_early, e_late);
        for expected in [e_early, e_late] {
            prop_assert!(Decimal::ZERO <= expected && expected <= Decimal::ONE);
        }
    }

    #[test]
    fn day_of_cycle_stays_in_range(cycle in cycle(), offset in -20i64 * 86_400..420 * 86_400) {
        let (day, total) = cycle.day_of_cycle(cycle.start_time() + Duration::seconds(offset));
        prop_assert!(1 <= day && day <= total);
        prop_assert_eq!(
            i64::from(total),
            (cycle.end_date() - cycle.start_date()).num_days() + 1
        );
    }

    #[test]
    fn start_of_day_is_the_first_instant_of_the_local_date(date in date(), tz in zone()) {
        let start = start_of_day(date, tz);
        let local_date = |at: DateTime<Utc>| at.with_timezone(&tz).date_naive();
        // On or after the date (after only when the zone skipped the whole date) ...
        prop_assert!(local_date(start) >= date);
        // ... and the instant before is on an earlier date.
        prop_assert!(local_date(start - Duration::nanoseconds(1)) < date);
        prop_assert!(start <= start_of_day(date + Days::new(1), tz));
    }

    #[test]
    fn weighted_mean_lies_between_min_and_max(
        items in proptest::collection::vec((0i64..=100_000, 0u32..=2, 0i64..=10_000), 1..12),
    ) {
        let items: Vec<(Decimal, Decimal)> = items
            .into_iter()
            .map(|(weight, scale, progress)| (Decimal::new(weight, scale), Decimal::new(progress, 4)))
            .collect();
        let counted: Vec<Decimal> = items
            .iter()
            .filter(|(weight, _)| *weight > Decimal::ZERO)
            .map(|(_, progress)| *progress)
            .collect();
        let mean = weighted_mean(&items);
        match (counted.iter().min(), counted.iter().max()) {
            (Some(min), Some(max)) => {
                let mean = mean.unwrap().unwrap();
                prop_assert!(*min <= mean && mean <= *max, "{} not in [{}, {}]", mean, min, max);
            }
            _ => prop_assert!(mean.is_err(), "all weights zero must be an error"),
        }
    }

    #[test]
    fn decimal_text_round_trips(value in decimal()) {
        prop_assert_eq!(parse_decimal(&value.to_string()), Ok(value));
    }

    #[test]
    fn display_rounding_is_symmetric_around_zero(value in decimal(), places in 0u32..=4) {
        prop_assert_eq!(round_for_display(-value, places), -round_for_display(value, places));
        let rounded = round_for_display(value, places);
        prop_assert!(rounded.scale() <= places);
        // Half away from zero never moves a value by more than half a unit of the last place.
        let half_unit = Decimal::new(5, places + 1);
        prop_assert!((rounded - value).abs() <= half_unit);
    }

    #[test]
    fn names_round_trip(
        tenant in "[a-z]([a-z0-9_-]{0,61}[a-z0-9])?",
        objective in "[a-z]([a-z0-9_-]{0,61}[a-z0-9])?",
        key_result in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    ) {
        prop_assert!(validate_resource_id(&tenant).is_ok());
        prop_assert!(validate_resource_id(&key_result).is_ok());
        let name = format!("tenants/{tenant}/objectives/{objective}/keyResults/{key_result}");
        let parsed = KeyResultName::parse(&name).unwrap();
        prop_assert_eq!(parsed.to_string(), name);
        prop_assert_eq!(&parsed.tenant, &tenant);
        prop_assert_eq!(parsed.objective().key_result(key_result.clone()), parsed.clone());
    }

    #[test]
    fn ids_with_uppercase_are_rejected(id in "[a-z][a-z0-9]{0,20}[A-Z][a-z0-9]{0,20}") {
        prop_assert!(validate_resource_id(&id).is_err());
    }
}
