//! Check-in replay ("status as of any past instant") and late check-ins.

use chrono::{DateTime, Utc};
use devokr_domain::Tz;
use devokr_domain::calendar::CycleState;
use devokr_domain::check_in::{
    CheckIn, CheckInError, effective_history, late_check_in, value_as_of,
};
use devokr_domain::cycle::Cycle;

use crate::support::{date, dec, instant};

fn check_in(
    sequence: u64,
    value: &str,
    measured_at: &str,
    recorded_at: &str,
    supersedes: Option<u64>,
) -> CheckIn {
    CheckIn {
        value: dec(value),
        measured_at: instant(measured_at),
        recorded_at: instant(recorded_at),
        supersedes,
        sequence,
    }
}

/// 1: 10 on 5 January. 2: 20 on 12 January. 3: corrects 2 to 18, recorded on 20 January.
/// 4: 25 measured on 19 January but recorded on 21 January.
fn log() -> Vec<CheckIn> {
    vec![
        check_in(
            1,
            "10",
            "2026-01-05T12:00:00Z",
            "2026-01-05T12:00:00Z",
            None,
        ),
        check_in(
            2,
            "20",
            "2026-01-12T12:00:00Z",
            "2026-01-12T12:05:00Z",
            None,
        ),
        check_in(
            3,
            "18",
            "2026-01-12T12:00:00Z",
            "2026-01-20T09:00:00Z",
            Some(2),
        ),
        check_in(
            4,
            "25",
            "2026-01-19T12:00:00Z",
            "2026-01-21T08:00:00Z",
            None,
        ),
    ]
}

fn sequences(check_ins: &[CheckIn], as_of: DateTime<Utc>) -> Vec<u64> {
    effective_history(check_ins, as_of)
        .iter()
        .map(|check_in| check_in.sequence)
        .collect()
}

#[test]
fn a_later_correction_does_not_change_the_past() {
    let log = log();
    let value = |as_of: &str| value_as_of(&log, instant(as_of)).map(|check_in| check_in.value);
    assert_eq!(value("2026-01-01T00:00:00Z"), None);
    assert_eq!(value("2026-01-10T00:00:00Z"), Some(dec("10")));
    // Before the correction was recorded, the value was 20 ...
    assert_eq!(value("2026-01-15T00:00:00Z"), Some(dec("20")));
    assert_eq!(value("2026-01-20T08:59:59Z"), Some(dec("20")));
    // ... and from the instant it was recorded, 18.
    assert_eq!(value("2026-01-20T09:00:00Z"), Some(dec("18")));
    // The backdated check-in counts from when it was recorded, in measurement order.
    assert_eq!(value("2026-01-21T07:59:59Z"), Some(dec("18")));
    assert_eq!(value("2026-01-21T08:00:00Z"), Some(dec("25")));

    assert_eq!(sequences(&log, instant("2026-01-15T00:00:00Z")), [1, 2]);
    assert_eq!(sequences(&log, instant("2026-01-20T09:00:00Z")), [1, 3]);
    assert_eq!(sequences(&log, instant("2026-01-21T08:00:00Z")), [1, 3, 4]);
}

#[test]
fn measurement_order_not_recording_order() {
    // Recorded in the order 2, 1 but measured in the order 1, 2; a tie is broken by sequence.
    let log = vec![
        check_in(2, "7", "2026-01-03T00:00:00Z", "2026-01-03T00:00:00Z", None),
        check_in(1, "5", "2026-01-02T00:00:00Z", "2026-01-04T00:00:00Z", None),
        check_in(4, "9", "2026-01-05T00:00:00Z", "2026-01-05T00:00:00Z", None),
        check_in(3, "8", "2026-01-05T00:00:00Z", "2026-01-05T00:00:00Z", None),
    ];
    assert_eq!(
        sequences(&log, instant("2026-01-10T00:00:00Z")),
        [1, 2, 3, 4]
    );
    assert_eq!(
        value_as_of(&log, instant("2026-01-10T00:00:00Z"))
            .unwrap()
            .value,
        dec("9")
    );
    // Recorded after the instant asked about: not yet known then.
    assert_eq!(sequences(&log, instant("2026-01-04T12:00:00Z")), [1, 2]);
}

#[test]
fn corrections_of_corrections() {
    let mut log = log();
    // 5 corrects the correction 3, recorded on 25 January.
    log.push(check_in(
        5,
        "19",
        "2026-01-12T12:00:00Z",
        "2026-01-25T00:00:00Z",
        Some(3),
    ));
    assert_eq!(sequences(&log, instant("2026-01-24T00:00:00Z")), [1, 3, 4]);
    assert_eq!(sequences(&log, instant("2026-01-25T00:00:00Z")), [1, 5, 4]);
}

fn q1_berlin() -> Cycle {
    Cycle::new(date("2026-01-01"), date("2026-03-31"), Tz::Europe__Berlin).unwrap()
}

#[test]
fn late_check_ins_need_the_flag() {
    let cycle = q1_berlin();
    let inside = instant("2026-02-01T00:00:00Z");
    for state in [CycleState::Planning, CycleState::Active] {
        assert_eq!(late_check_in(inside, &cycle, state, false), Ok(()));
    }
    let error = late_check_in(inside, &cycle, CycleState::Closed, false).unwrap_err();
    assert_eq!(
        error,
        CheckInError::ClosedCycle {
            measured_at: inside
        }
    );
    assert_eq!(
        error.to_string(),
        "check-in measured at 2026-02-01 00:00:00 UTC falls in a closed cycle; set allow_late to record it as a late check-in (it is audited)"
    );
    assert_eq!(
        late_check_in(inside, &cycle, CycleState::Closed, true),
        Ok(())
    );
}

#[test]
fn check_ins_outside_the_cycle_are_rejected() {
    let cycle = q1_berlin();
    // 1 January 00:00 in Berlin is 2025-12-31T23:00Z: the first instant of the cycle.
    assert_eq!(
        late_check_in(
            instant("2025-12-31T23:00:00Z"),
            &cycle,
            CycleState::Active,
            false
        ),
        Ok(())
    );
    // 22:30Z on 31 March is already 1 April in Berlin: outside, even with the late flag.
    let after = instant("2026-03-31T22:30:00Z");
    let error = late_check_in(after, &cycle, CycleState::Closed, true).unwrap_err();
    assert_eq!(
        error,
        CheckInError::OutsideCycle {
            measured_at: after,
            start_date: date("2026-01-01"),
            end_date: date("2026-03-31"),
            time_zone: Tz::Europe__Berlin,
        }
    );
    assert_eq!(
        error.to_string(),
        "check-in measured at 2026-03-31 22:30:00 UTC is outside the cycle 2026-01-01 to 2026-03-31 (Europe/Berlin); record it in the cycle that holds that instant"
    );
    assert!(
        late_check_in(
            instant("2025-12-31T22:59:59Z"),
            &cycle,
            CycleState::Active,
            false
        )
        .is_err()
    );
}
