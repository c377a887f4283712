//! Fiscal cycles, nesting, states, the current cycle, buckets across DST, and scores at close.

use chrono::{DateTime, Duration, Utc};
use devokr_domain::Tz;
use devokr_domain::calendar::{
    CalendarError, CycleState, CycleStateError, Granularity, Score, ScoreBand, ScoreBands,
    ScoreError, ScoreOverride, WeekStart, bucket_range, bucket_start, current_cycle,
    score_at_close, today,
};
use devokr_domain::cycle::Cycle;

use crate::support::{date, dec, instant};

fn days(cycle: &Cycle) -> (String, String) {
    (cycle.start_date().to_string(), cycle.end_date().to_string())
}

fn range(from: &str, to: &str) -> (String, String) {
    (from.to_owned(), to.to_owned())
}

#[test]
fn fiscal_year_starting_in_april() {
    // FY2027 ends in 2027: 2026-04-01 to 2027-03-31.
    let year = Cycle::year(2027, 4, Tz::UTC).unwrap();
    assert_eq!(days(&year), range("2026-04-01", "2027-03-31"));
    let quarters: Vec<Cycle> = (1..=4)
        .map(|quarter| Cycle::quarter(2027, quarter, 4, Tz::UTC).unwrap())
        .collect();
    assert_eq!(days(&quarters[0]), range("2026-04-01", "2026-06-30"));
    assert_eq!(days(&quarters[1]), range("2026-07-01", "2026-09-30"));
    assert_eq!(days(&quarters[2]), range("2026-10-01", "2026-12-31"));
    assert_eq!(days(&quarters[3]), range("2027-01-01", "2027-03-31"));
    for quarter in &quarters {
        assert!(year.contains_cycle(quarter));
        assert!(!quarter.contains_cycle(&year));
    }
    // Consecutive quarters touch: one ends where the next starts.
    for pair in quarters.windows(2) {
        assert_eq!(pair[0].end_time(), pair[1].start_time());
    }
    let next_year_q1 = Cycle::quarter(2028, 1, 4, Tz::UTC).unwrap();
    assert!(!year.contains_cycle(&next_year_q1));
    assert!(year.contains_cycle(&year));
}

#[test]
fn fiscal_year_starting_in_october() {
    // FY2027 runs 2026-10-01 to 2027-09-30.
    assert_eq!(
        days(&Cycle::year(2027, 10, Tz::UTC).unwrap()),
        range("2026-10-01", "2027-09-30")
    );
    let quarter = |number| days(&Cycle::quarter(2027, number, 10, Tz::UTC).unwrap());
    assert_eq!(quarter(1), range("2026-10-01", "2026-12-31"));
    assert_eq!(quarter(2), range("2027-01-01", "2027-03-31"));
    assert_eq!(quarter(4), range("2027-07-01", "2027-09-30"));
}

#[test]
fn calendar_and_leap_fiscal_years() {
    // Starting in January, the fiscal year is the calendar year.
    assert_eq!(
        days(&Cycle::year(2026, 1, Tz::UTC).unwrap()),
        range("2026-01-01", "2026-12-31")
    );
    assert_eq!(
        days(&Cycle::quarter(2026, 1, 1, Tz::UTC).unwrap()),
        range("2026-01-01", "2026-03-31")
    );
    // Starting in December, FY2024's first quarter ends on the leap day.
    assert_eq!(
        days(&Cycle::quarter(2024, 1, 12, Tz::UTC).unwrap()),
        range("2023-12-01", "2024-02-29")
    );
    assert_eq!(
        days(&Cycle::quarter(2025, 1, 12, Tz::UTC).unwrap()),
        range("2024-12-01", "2025-02-28")
    );
}

#[test]
fn fiscal_periods_are_validated() {
    for quarter in [0, 5] {
        assert_eq!(
            Cycle::quarter(2027, quarter, 4, Tz::UTC),
            Err(CalendarError::QuarterOutOfRange { quarter })
        );
    }
    for month in [0, 13] {
        assert_eq!(
            Cycle::year(2027, month, Tz::UTC),
            Err(CalendarError::MonthOutOfRange { month })
        );
    }
    assert_eq!(
        Cycle::quarter(2027, 5, 4, Tz::UTC).unwrap_err().to_string(),
        "quarter 5 does not exist; quarters are numbered 1 to 4"
    );
    assert_eq!(
        Cycle::year(2027, 13, Tz::UTC).unwrap_err().to_string(),
        "fiscal year start month 13 does not exist; give a month from 1 (January) to 12 (December)"
    );
    assert!(matches!(
        Cycle::year(10_000, 1, Tz::UTC),
        Err(CalendarError::Cycle(_))
    ));
    assert_eq!(
        Cycle::year(i32::MIN, 4, Tz::UTC),
        Err(CalendarError::YearOutOfRange {
            fiscal_year: i32::MIN
        })
    );
}

#[test]
fn quarter_ends_east_and_west_of_utc() {
    // Auckland: 1 April 00:00 is still daylight time (+13), 1 July 00:00 is standard (+12);
    // daylight time ends on 5 April, so the quarter lasts 91 days and one hour.
    let auckland = Cycle::quarter(2026, 2, 1, Tz::Pacific__Auckland).unwrap();
    assert_eq!(auckland.start_time(), instant("2026-03-31T11:00:00Z"));
    assert_eq!(auckland.end_time(), instant("2026-06-30T12:00:00Z"));
    assert_eq!(
        auckland.end_time() - auckland.start_time(),
        Duration::days(91) + Duration::hours(1)
    );
    // Los Angeles: daylight time (−7) at both ends.
    let los_angeles = Cycle::quarter(2026, 2, 1, Tz::America__Los_Angeles).unwrap();
    assert_eq!(los_angeles.start_time(), instant("2026-04-01T07:00:00Z"));
    assert_eq!(los_angeles.end_time(), instant("2026-07-01T07:00:00Z"));
    // 2026-06-30T23:00Z is 1 July 11:00 in Auckland but 30 June 16:00 in Los Angeles.
    let at = instant("2026-06-30T23:00:00Z");
    assert!(auckland.has_ended(at));
    assert!(los_angeles.contains(at));
    // Q4 in Los Angeles starts in daylight time (−7) and ends in standard time (−8).
    let q4 = Cycle::quarter(2026, 4, 1, Tz::America__Los_Angeles).unwrap();
    assert_eq!(q4.start_time(), instant("2026-10-01T07:00:00Z"));
    assert_eq!(q4.end_time(), instant("2027-01-01T08:00:00Z"));
    // Different zones nest only if the instants do: Berlin's Q1 starts an hour before UTC's year.
    let utc_year = Cycle::year(2026, 1, Tz::UTC).unwrap();
    assert!(!utc_year.contains_cycle(&Cycle::quarter(2026, 1, 1, Tz::Europe__Berlin).unwrap()));
    assert!(utc_year.contains_cycle(&Cycle::quarter(2026, 2, 1, Tz::Europe__Berlin).unwrap()));
}

#[test]
fn cycle_states_only_move_forward() {
    use CycleState::{Active, Closed, Planning};
    assert_eq!(Planning.transition(Active), Ok(Active));
    assert_eq!(Active.transition(Closed), Ok(Closed));
    for (from, to) in [
        (Planning, Closed),
        (Closed, Active),
        (Closed, Planning),
        (Active, Planning),
        (Active, Active),
        (Closed, Closed),
    ] {
        assert_eq!(from.transition(to), Err(CycleStateError { from, to }));
    }
    assert_eq!(
        Closed.transition(Active).unwrap_err().to_string(),
        "a cycle cannot go from closed to active: cycles go planning → active → closed, and a closed cycle is not re-opened (record late measurements as late check-ins instead)"
    );
}

#[test]
fn the_current_cycle_is_the_innermost() {
    let berlin = Tz::Europe__Berlin;
    let cycles = [
        Cycle::year(2026, 1, berlin).unwrap(),
        Cycle::quarter(2026, 1, 1, berlin).unwrap(),
        Cycle::quarter(2026, 2, 1, berlin).unwrap(),
    ];
    assert_eq!(
        current_cycle(&cycles, instant("2026-02-10T12:00:00Z")),
        Some(&cycles[1])
    );
    // 22:30Z on 31 March is 00:30 on 1 April in Berlin (summer time since 29 March).
    assert_eq!(
        current_cycle(&cycles, instant("2026-03-31T22:30:00Z")),
        Some(&cycles[2])
    );
    // Only the year holds August.
    assert_eq!(
        current_cycle(&cycles, instant("2026-08-01T00:00:00Z")),
        Some(&cycles[0])
    );
    // The year ended at 2026-12-31T23:00Z.
    assert_eq!(
        current_cycle(&cycles, instant("2026-12-31T23:00:00Z")),
        None
    );
    assert_eq!(current_cycle(&[], instant("2026-01-01T00:00:00Z")), None);
}

#[test]
fn today_follows_the_zone() {
    let at = instant("2026-03-31T22:30:00Z");
    assert_eq!(today(at, Tz::Europe__Berlin), date("2026-04-01"));
    assert_eq!(today(at, Tz::UTC), date("2026-03-31"));
    assert_eq!(today(at, Tz::America__Los_Angeles), date("2026-03-31"));
    assert_eq!(today(at, Tz::Pacific__Auckland), date("2026-04-01"));
}

fn hours(range: (DateTime<Utc>, DateTime<Utc>)) -> i64 {
    (range.1 - range.0).num_hours()
}

#[test]
fn dst_weeks_are_167_and_169_hours() {
    // Berlin springs forward on Sunday 29 March 2026: the Monday week from 23 March 00:00 CET
    // (22 March 23:00Z) to 30 March 00:00 CEST (29 March 22:00Z) is 7 × 24 − 1 = 167 hours.
    let monday_week = Granularity::Week(WeekStart::Monday);
    let spring = bucket_range(
        instant("2026-03-29T12:00:00Z"),
        monday_week,
        Tz::Europe__Berlin,
    );
    assert_eq!(
        spring,
        (
            instant("2026-03-22T23:00:00Z"),
            instant("2026-03-29T22:00:00Z")
        )
    );
    assert_eq!(hours(spring), 167);
    // And falls back on Sunday 25 October: 19 October 00:00 CEST to 26 October 00:00 CET.
    let autumn = bucket_range(
        instant("2026-10-25T12:00:00Z"),
        monday_week,
        Tz::Europe__Berlin,
    );
    assert_eq!(
        autumn,
        (
            instant("2026-10-18T22:00:00Z"),
            instant("2026-10-25T23:00:00Z")
        )
    );
    assert_eq!(hours(autumn), 169);

    // New York springs forward on Sunday 8 March 2026: the Sunday week from 8 March 00:00 EST
    // (05:00Z) to 15 March 00:00 EDT (04:00Z) is 167 hours.
    let sunday_week = Granularity::Week(WeekStart::Sunday);
    let new_york = bucket_range(
        instant("2026-03-08T12:00:00Z"),
        sunday_week,
        Tz::America__New_York,
    );
    assert_eq!(
        new_york,
        (
            instant("2026-03-08T05:00:00Z"),
            instant("2026-03-15T04:00:00Z")
        )
    );
    assert_eq!(hours(new_york), 167);
    // The same instant in a Monday week: 2 March 00:00 EST to 9 March 00:00 EDT.
    assert_eq!(
        bucket_range(
            instant("2026-03-08T12:00:00Z"),
            monday_week,
            Tz::America__New_York
        ),
        (
            instant("2026-03-02T05:00:00Z"),
            instant("2026-03-09T04:00:00Z")
        )
    );
}

#[test]
fn dst_days_and_months() {
    let berlin = Tz::Europe__Berlin;
    let spring_day = bucket_range(instant("2026-03-29T12:00:00Z"), Granularity::Day, berlin);
    assert_eq!(hours(spring_day), 23);
    let autumn_day = bucket_range(instant("2026-10-25T12:00:00Z"), Granularity::Day, berlin);
    assert_eq!(hours(autumn_day), 25);
    // March 2026 in Berlin: 1 March 00:00 CET to 1 April 00:00 CEST, 31 × 24 − 1 hours.
    let march = bucket_range(instant("2026-03-15T00:00:00Z"), Granularity::Month, berlin);
    assert_eq!(
        march,
        (
            instant("2026-02-28T23:00:00Z"),
            instant("2026-03-31T22:00:00Z")
        )
    );
    assert_eq!(hours(march), 743);
    // Half-open: the end of one bucket is the start of the next.
    assert_eq!(bucket_start(march.1, Granularity::Month, berlin), march.1);
    assert_eq!(
        bucket_start(
            march.1 - Duration::nanoseconds(1),
            Granularity::Month,
            berlin
        ),
        march.0
    );
    // Santiago skips midnight on 8 September 2024: that day starts at 01:00 −03 (04:00Z).
    let santiago = bucket_range(
        instant("2024-09-08T12:00:00Z"),
        Granularity::Day,
        Tz::America__Santiago,
    );
    assert_eq!(santiago.0, instant("2024-09-08T04:00:00Z"));
    assert_eq!(hours(santiago), 23);
}

fn score(value: &str, band: ScoreBand) -> Option<Score> {
    Some(Score {
        value: dec(value),
        band,
    })
}

#[test]
fn scores_at_close_round_to_one_decimal() {
    let bands = ScoreBands::default();
    // Half away from zero: 0.65 → 0.7 (green from 0.7), 0.649 → 0.6 (yellow).
    assert_eq!(
        score_at_close(Some(dec("0.65")), &bands),
        score("0.7", ScoreBand::Green)
    );
    assert_eq!(
        score_at_close(Some(dec("0.649")), &bands),
        score("0.6", ScoreBand::Yellow)
    );
    // 0.35 → 0.4 is yellow; 0.349 → 0.3 is red.
    assert_eq!(
        score_at_close(Some(dec("0.35")), &bands),
        score("0.4", ScoreBand::Yellow)
    );
    assert_eq!(
        score_at_close(Some(dec("0.349")), &bands),
        score("0.3", ScoreBand::Red)
    );
    // Always one decimal, clamped into [0, 1].
    let full = score_at_close(Some(dec("1")), &bands).unwrap();
    assert_eq!(full.value.to_string(), "1.0");
    assert_eq!(full.band, ScoreBand::Green);
    assert_eq!(
        score_at_close(Some(dec("1.3")), &bands)
            .unwrap()
            .value
            .to_string(),
        "1.0"
    );
    let nothing = score_at_close(Some(dec("0")), &bands).unwrap();
    assert_eq!(
        (nothing.value.to_string(), nothing.band),
        ("0.0".to_owned(), ScoreBand::Red)
    );
    // No data is no score, not a silent 0.0.
    assert_eq!(score_at_close(None, &bands), None);
}

#[test]
fn score_bands_are_set_per_tenant() {
    let lenient = ScoreBands::new(dec("0.3"), dec("0.6")).unwrap();
    assert_eq!(
        score_at_close(Some(dec("0.6")), &lenient),
        score("0.6", ScoreBand::Green)
    );
    assert_eq!(
        score_at_close(Some(dec("0.3")), &lenient),
        score("0.3", ScoreBand::Yellow)
    );
    assert_eq!(
        (
            ScoreBands::GOOGLE.red_below(),
            ScoreBands::GOOGLE.yellow_below()
        ),
        (dec("0.4"), dec("0.7"))
    );
    for (red, yellow) in [("0.8", "0.5"), ("-0.1", "0.5"), ("0.5", "1.1")] {
        assert_eq!(
            ScoreBands::new(dec(red), dec(yellow)),
            Err(ScoreError::BandsOutOfOrder {
                red_below: dec(red),
                yellow_below: dec(yellow)
            })
        );
    }
    assert_eq!(
        ScoreBands::new(dec("0.8"), dec("0.5"))
            .unwrap_err()
            .to_string(),
        "score bands need 0 <= red below <= yellow below <= 1, got red below 0.8 and yellow below 0.5"
    );
}

#[test]
fn score_overrides_need_a_reason() {
    let reason = "launch slipped for reasons outside the team";
    let manual = ScoreOverride::new(dec("0.8"), reason).unwrap();
    assert_eq!((manual.score(), manual.reason()), (dec("0.8"), reason));
    assert_eq!(
        manual.apply(&ScoreBands::default()),
        score("0.8", ScoreBand::Green).unwrap()
    );
    assert_eq!(
        ScoreOverride::new(dec("1.1"), reason),
        Err(ScoreError::OutOfRange { score: dec("1.1") })
    );
    assert_eq!(
        ScoreOverride::new(dec("-0.1"), reason),
        Err(ScoreError::OutOfRange { score: dec("-0.1") })
    );
    assert_eq!(
        ScoreOverride::new(dec("0.75"), reason),
        Err(ScoreError::TooPrecise { score: dec("0.75") })
    );
    assert!(ScoreOverride::new(dec("0.50"), reason).is_ok());
    assert_eq!(
        ScoreOverride::new(dec("0.5"), "  "),
        Err(ScoreError::MissingReason)
    );
    assert_eq!(
        ScoreError::MissingReason.to_string(),
        "a score override needs a reason; say why the computed score is wrong"
    );
}
