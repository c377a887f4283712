//! Check-in rules: which check-ins count as of an instant, and which measurement times are
//! accepted.
//!
//! Check-ins are append-only. A correction is a new check-in that supersedes an earlier one, so
//! the history known at any past instant can be replayed exactly: take the check-ins recorded by
//! then, drop those a correction recorded by then replaced, and order them by measurement time.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::calendar::CycleState;
use crate::cycle::Cycle;

/// The fields of a check-in that the history rules need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CheckIn {
    /// The measured value.
    pub value: Decimal,
    /// When the value was measured (what it describes).
    pub measured_at: DateTime<Utc>,
    /// When the check-in was recorded (when the platform learnt of it).
    pub recorded_at: DateTime<Utc>,
    /// The `sequence` of the check-in this one corrects, if it is a correction.
    pub supersedes: Option<u64>,
    /// Position in the key result's append-only log; unique per key result.
    pub sequence: u64,
}

/// The check-ins in effect as known at `as_of`: recorded at or before `as_of` and measured at
/// or before it, minus those superseded by a correction recorded at or before `as_of`, in
/// measurement order (ties by sequence).
///
/// A correction recorded later therefore changes the history as of later instants but never the
/// history as of an instant before it was recorded.
pub fn effective_history(check_ins: &[CheckIn], as_of: DateTime<Utc>) -> Vec<&CheckIn> {
    let known = || {
        check_ins
            .iter()
            .filter(move |check_in| check_in.recorded_at <= as_of)
    };
    let superseded: HashSet<u64> = known().filter_map(|check_in| check_in.supersedes).collect();
    let mut effective: Vec<&CheckIn> = known()
        .filter(|check_in| check_in.measured_at <= as_of)
        .filter(|check_in| !superseded.contains(&check_in.sequence))
        .collect();
    effective.sort_by_key(|check_in| (check_in.measured_at, check_in.sequence));
    effective
}

/// The check-in in effect at `as_of`: the last of [`effective_history`].
pub fn value_as_of(check_ins: &[CheckIn], as_of: DateTime<Utc>) -> Option<&CheckIn> {
    effective_history(check_ins, as_of).pop()
}

/// Why a check-in's measurement time is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckInError {
    /// Measured outside the cycle.
    #[error(
        "check-in measured at {measured_at} is outside the cycle {start_date} to {end_date} ({time_zone}); record it in the cycle that holds that instant"
    )]
    OutsideCycle {
        /// The measurement time.
        measured_at: DateTime<Utc>,
        /// The cycle's first day.
        start_date: NaiveDate,
        /// The cycle's last day.
        end_date: NaiveDate,
        /// The cycle's zone.
        time_zone: Tz,
    },
    /// Measured in a closed cycle without the late flag.
    #[error(
        "check-in measured at {measured_at} falls in a closed cycle; set allow_late to record it as a late check-in (it is audited)"
    )]
    ClosedCycle {
        /// The measurement time.
        measured_at: DateTime<Utc>,
    },
}

/// Whether a check-in measured at `measured_at` may be recorded in `cycle`, which is in
/// `state`: the measurement must fall inside the cycle, and inside a closed cycle only with
/// `allow_late` (a late check-in, which the caller audits).
pub fn late_check_in(
    measured_at: DateTime<Utc>,
    cycle: &Cycle,
    state: CycleState,
    allow_late: bool,
) -> Result<(), CheckInError> {
    if !cycle.contains(measured_at) {
        return Err(CheckInError::OutsideCycle {
            measured_at,
            start_date: cycle.start_date(),
            end_date: cycle.end_date(),
            time_zone: cycle.time_zone(),
        });
    }
    if state == CycleState::Closed && !allow_late {
        return Err(CheckInError::ClosedCycle { measured_at });
    }
    Ok(())
}
