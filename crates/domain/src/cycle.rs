//! Cycles: a range of calendar days in an IANA time zone, as the half-open instant range
//! `[start of start_date, start of the day after end_date)`.
//!
//! Days follow the calendar of the zone, so a day can last 23 or 25 hours (DST) or, rarely,
//! start later than midnight; never step by "+24h".

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

/// Years accepted for cycle dates; keeps every derived instant far inside chrono's range.
pub const SUPPORTED_YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Why a cycle or time zone was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CycleError {
    /// The last day comes before the first.
    #[error("cycle end date {end_date} is before its start date {start_date}")]
    EndBeforeStart {
        /// The first day.
        start_date: NaiveDate,
        /// The last day (inclusive).
        end_date: NaiveDate,
    },
    /// A date outside [`SUPPORTED_YEARS`].
    #[error("date {date} is outside the supported years 1 to 9999")]
    DateOutOfRange {
        /// The rejected date.
        date: NaiveDate,
    },
    /// Not an IANA time zone name.
    #[error("unknown time zone \"{name}\" (expected an IANA name like \"Europe/Berlin\")")]
    UnknownTimeZone {
        /// The rejected name.
        name: String,
    },
}

/// Parses an IANA time zone name; empty text means UTC.
pub fn parse_time_zone(s: &str) -> Result<Tz, CycleError> {
    if s.is_empty() {
        return Ok(Tz::UTC);
    }
    s.parse()
        .map_err(|_| CycleError::UnknownTimeZone { name: s.to_owned() })
}

/// The first instant of `date` in `tz`.
///
/// That is local midnight, except when midnight does not exist (a DST gap at midnight, as in
/// America/Santiago or America/Havana): then it is the first instant of that day that does
/// exist, the end of the gap. When midnight happens twice, it is the earlier one. A date the
/// zone skipped entirely (Pacific/Apia, 2011-12-30) starts and ends at the same instant.
pub fn start_of_day(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    if let Some(earliest) = tz.from_local_datetime(&midnight).earliest() {
        return earliest.with_timezone(&Utc);
    }
    // chrono-tz does not expose transitions, so find the end of the gap by bisection: the first
    // whole second whose local date is `date` or later. UTC offsets stay well within ±26 hours,
    // which brackets the answer; transitions fall on whole seconds.
    let midnight_as_utc = midnight.and_utc().timestamp();
    let has_reached_date = |timestamp: i64| {
        DateTime::from_timestamp(timestamp, 0)
            .is_none_or(|instant| instant.with_timezone(&tz).date_naive() >= date)
    };
    let mut before = midnight_as_utc - 26 * 3600;
    let mut after = midnight_as_utc + 26 * 3600;
    while after - before > 1 {
        let middle = before + (after - before) / 2;
        if has_reached_date(middle) {
            after = middle;
        } else {
            before = middle;
        }
    }
    DateTime::from_timestamp(after, 0).unwrap_or_else(|| midnight.and_utc())
}

/// Share of `[from, to)` elapsed at `at`: 0 at or before `from`, 1 at or after `to`, in between
/// elapsed time over total time, normalized and exact to the microsecond.
pub(crate) fn share_elapsed(from: DateTime<Utc>, to: DateTime<Utc>, at: DateTime<Utc>) -> Decimal {
    // `to` first: an empty span (a skipped day, or `to <= from`) is over at once and never
    // divides by zero.
    if at >= to {
        return Decimal::ONE;
    }
    if at <= from {
        return Decimal::ZERO;
    }
    // Spans are clamped into a cycle of years 1 to 9999 by every caller.
    let microseconds = |duration: chrono::TimeDelta| {
        Decimal::from(
            duration
                .num_microseconds()
                .expect("a span within a cycle has fewer than 2^63 microseconds"),
        )
    };
    (microseconds(at - from) / microseconds(to - from)).normalize()
}

/// A cycle: calendar days `start_date..=end_date` in `time_zone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cycle {
    start_date: NaiveDate,
    end_date: NaiveDate,
    time_zone: Tz,
    // The bounds as instants, found once: every judging of a key result's health needs them,
    // and finding a day's start in a zone is a look-up in its transitions.
    start_time: DateTime<Utc>,
    end_time: DateTime<Utc>,
}

impl Cycle {
    /// A cycle from its first and last (inclusive) day.
    pub fn new(
        start_date: NaiveDate,
        end_date: NaiveDate,
        time_zone: Tz,
    ) -> Result<Self, CycleError> {
        use chrono::Datelike;
        for date in [start_date, end_date] {
            if !SUPPORTED_YEARS.contains(&date.year()) {
                return Err(CycleError::DateOutOfRange { date });
            }
        }
        if end_date < start_date {
            return Err(CycleError::EndBeforeStart {
                start_date,
                end_date,
            });
        }
        let day_after_end = end_date
            .checked_add_days(Days::new(1))
            .ok_or(CycleError::DateOutOfRange { date: end_date })?;
        Ok(Self {
            start_date,
            end_date,
            time_zone,
            start_time: start_of_day(start_date, time_zone),
            end_time: start_of_day(day_after_end, time_zone),
        })
    }

    /// The first day.
    pub fn start_date(&self) -> NaiveDate {
        self.start_date
    }

    /// The last day (inclusive).
    pub fn end_date(&self) -> NaiveDate {
        self.end_date
    }

    /// The zone whose calendar the days follow.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// The first instant of the cycle (inclusive).
    pub fn start_time(&self) -> DateTime<Utc> {
        self.start_time
    }

    /// The first instant after the cycle (exclusive): the start of the day after `end_date`.
    pub fn end_time(&self) -> DateTime<Utc> {
        self.end_time
    }

    /// Whether `at` is in `[start_time, end_time)`.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start_time() <= at && at < self.end_time()
    }

    /// Whether every instant of `inner` is in this cycle (each in its own zone).
    pub fn holds(&self, inner: &Cycle) -> bool {
        self.start_time() <= inner.start_time() && inner.end_time() <= self.end_time()
    }

    /// Whether the cycle is over at `at` (`at >= end_time`).
    pub fn has_ended(&self, at: DateTime<Utc>) -> bool {
        at >= self.end_time()
    }

    /// Share of the cycle's time elapsed at `at`: 0 at or before the start, 1 at or after the
    /// end, in between elapsed time over total time (real time, so DST days count as 23 or 25
    /// hours), normalized. Exact to the microsecond.
    pub fn expected_progress_linear(&self, at: DateTime<Utc>) -> Decimal {
        share_elapsed(self.start_time(), self.end_time(), at)
    }

    /// Calendar days in the cycle (`end_date − start_date + 1`).
    pub fn total_days(&self) -> u32 {
        // At most 9999 years of days, so it fits.
        ((self.end_date - self.start_date).num_days() + 1) as u32
    }

    /// `(day, total_days)`: the 1-based day of the cycle on which `at` falls in the cycle's
    /// zone, clamped into `[1, total_days]` (day 1 before the start, the last day after the end).
    pub fn day_of_cycle(&self, at: DateTime<Utc>) -> (u32, u32) {
        let total = self.total_days();
        let local_date = at.with_timezone(&self.time_zone).date_naive();
        let day = (local_date - self.start_date).num_days() + 1;
        (day.clamp(1, i64::from(total)) as u32, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn instant(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn tz(name: &str) -> Tz {
        parse_time_zone(name).unwrap()
    }

    fn dec(s: &str) -> Decimal {
        crate::decimal::parse_decimal(s).unwrap()
    }

    fn quarter_1997_utc() -> Cycle {
        Cycle::new(date("1997-01-01"), date("1997-03-31"), Tz::UTC).unwrap()
    }

    #[test]
    fn quarter_in_utc() {
        let q1 = quarter_1997_utc();
        assert_eq!(q1.start_time(), instant("1997-01-01T00:00:00Z"));
        assert_eq!(q1.end_time(), instant("1997-04-01T00:00:00Z"));
        assert_eq!(q1.total_days(), 90);
        assert_eq!(
            q1.expected_progress_linear(instant("1997-02-15T00:00:00Z")),
            dec("0.5")
        );
        assert_eq!(
            q1.expected_progress_linear(instant("1997-01-10T00:00:00Z")),
            dec("0.1")
        );
        assert_eq!(q1.day_of_cycle(instant("1997-02-15T00:00:00Z")), (46, 90));
        assert_eq!(q1.day_of_cycle(instant("1997-02-14T23:59:59Z")), (45, 90));
        assert_eq!(q1.day_of_cycle(instant("1997-01-01T00:00:00Z")), (1, 90));
        assert_eq!(q1.day_of_cycle(instant("1997-03-31T23:59:59Z")), (90, 90));
    }

    #[test]
    fn expected_progress_is_zero_before_and_one_after() {
        let q1 = quarter_1997_utc();
        assert_eq!(
            q1.expected_progress_linear(instant("1996-12-31T00:00:00Z")),
            Decimal::ZERO
        );
        assert_eq!(q1.expected_progress_linear(q1.start_time()), Decimal::ZERO);
        assert_eq!(q1.expected_progress_linear(q1.end_time()), Decimal::ONE);
        assert_eq!(
            q1.expected_progress_linear(instant("2000-01-01T00:00:00Z")),
            Decimal::ONE
        );
        let one_microsecond_in = q1.start_time() + Duration::microseconds(1);
        assert_eq!(
            q1.expected_progress_linear(one_microsecond_in),
            Decimal::ONE / Decimal::from(90i64 * 86_400 * 1_000_000)
        );
        assert_eq!(q1.day_of_cycle(instant("1990-01-01T00:00:00Z")), (1, 90));
        assert_eq!(q1.day_of_cycle(instant("2000-01-01T00:00:00Z")), (90, 90));
    }

    #[test]
    fn half_open_bounds() {
        let q1 = quarter_1997_utc();
        assert!(q1.contains(q1.start_time()));
        assert!(!q1.contains(q1.start_time() - Duration::nanoseconds(1)));
        assert!(q1.contains(q1.end_time() - Duration::nanoseconds(1)));
        assert!(!q1.contains(q1.end_time()));
        assert!(!q1.has_ended(q1.end_time() - Duration::nanoseconds(1)));
        assert!(q1.has_ended(q1.end_time()));
    }

    #[test]
    fn cycle_ends_east_and_west_of_utc() {
        let auckland = Cycle::new(
            date("2026-01-01"),
            date("2026-03-31"),
            tz("Pacific/Auckland"),
        )
        .unwrap();
        // New Zealand daylight time (+13) lasts until the first Sunday of April (2026-04-05),
        // so both ends are at +13.
        assert_eq!(auckland.start_time(), instant("2025-12-31T11:00:00Z"));
        assert_eq!(auckland.end_time(), instant("2026-03-31T11:00:00Z"));

        let los_angeles = Cycle::new(
            date("2026-01-01"),
            date("2026-03-31"),
            tz("America/Los_Angeles"),
        )
        .unwrap();
        assert_eq!(los_angeles.start_time(), instant("2026-01-01T08:00:00Z"));
        assert_eq!(los_angeles.end_time(), instant("2026-04-01T07:00:00Z"));

        // The same instant is on a different cycle day in each zone.
        let at = instant("2026-03-31T12:00:00Z");
        assert!(auckland.has_ended(at));
        assert_eq!(auckland.expected_progress_linear(at), Decimal::ONE);
        assert!(los_angeles.contains(at));
        assert_eq!(los_angeles.day_of_cycle(at), (90, 90));
        let kolkata =
            Cycle::new(date("2026-01-01"), date("2026-03-31"), tz("Asia/Kolkata")).unwrap();
        assert_eq!(kolkata.end_time(), instant("2026-03-31T18:30:00Z"));
    }

    #[test]
    fn dst_days_are_23_and_25_hours() {
        let berlin = tz("Europe/Berlin");
        let spring = Cycle::new(date("2026-03-29"), date("2026-03-29"), berlin).unwrap();
        assert_eq!(spring.end_time() - spring.start_time(), Duration::hours(23));
        assert_eq!(spring.start_time(), instant("2026-03-28T23:00:00Z"));
        assert_eq!(spring.total_days(), 1);
        // 02:00 UTC is 04:00 CEST: 3 of 23 hours have passed.
        assert_eq!(
            spring.expected_progress_linear(instant("2026-03-29T02:00:00Z")),
            Decimal::from(3) / Decimal::from(23)
        );

        let autumn = Cycle::new(date("2026-10-25"), date("2026-10-25"), berlin).unwrap();
        assert_eq!(autumn.end_time() - autumn.start_time(), Duration::hours(25));
        assert_eq!(autumn.start_time(), instant("2026-10-24T22:00:00Z"));

        let ordinary = Cycle::new(date("2026-06-01"), date("2026-06-01"), berlin).unwrap();
        assert_eq!(
            ordinary.end_time() - ordinary.start_time(),
            Duration::hours(24)
        );
    }

    #[test]
    fn midnight_in_a_dst_gap_starts_the_day_at_the_end_of_the_gap() {
        // Chile: 2024-09-07 24:00 −04 jumps to 2024-09-08 01:00 −03 (rule "Sep Sun>=2 4:00u").
        let santiago = tz("America/Santiago");
        let start = start_of_day(date("2024-09-08"), santiago);
        assert_eq!(start, instant("2024-09-08T04:00:00Z"));
        assert_eq!(
            start.with_timezone(&santiago).to_rfc3339(),
            "2024-09-08T01:00:00-03:00"
        );
        let day = Cycle::new(date("2024-09-08"), date("2024-09-08"), santiago).unwrap();
        assert_eq!(day.end_time() - day.start_time(), Duration::hours(23));
        // The day before is 24 hours: it runs to the instant of the jump.
        let eve = Cycle::new(date("2024-09-07"), date("2024-09-07"), santiago).unwrap();
        assert_eq!(eve.end_time() - eve.start_time(), Duration::hours(24));

        // Cuba: 2024-03-10 00:00 CST jumps to 01:00 CDT (rule "Mar Sun>=8 0:00s").
        let havana = tz("America/Havana");
        assert_eq!(
            start_of_day(date("2024-03-10"), havana),
            instant("2024-03-10T05:00:00Z")
        );
    }

    #[test]
    fn ambiguous_midnight_takes_the_earlier_instant() {
        // Cuba: 2024-11-03 01:00 CDT falls back to 00:00 CST, so midnight happens twice:
        // 00:00 CDT (04:00Z) and 00:00 CST (05:00Z).
        let havana = tz("America/Havana");
        assert_eq!(
            start_of_day(date("2024-11-03"), havana),
            instant("2024-11-03T04:00:00Z")
        );
        let day = Cycle::new(date("2024-11-03"), date("2024-11-03"), havana).unwrap();
        assert_eq!(day.end_time() - day.start_time(), Duration::hours(25));

        // Chile: 2024-04-07 00:00 −03 falls back to 2024-04-06 23:00 −04; midnight of the 7th
        // happens once, and the 6th lasts 25 hours.
        let santiago = tz("America/Santiago");
        let sixth = Cycle::new(date("2024-04-06"), date("2024-04-06"), santiago).unwrap();
        assert_eq!(sixth.start_time(), instant("2024-04-06T03:00:00Z"));
        assert_eq!(sixth.end_time(), instant("2024-04-07T04:00:00Z"));
    }

    #[test]
    fn a_skipped_day_has_no_length() {
        // Samoa skipped 2011-12-30: 29 December 24:00 (−10) became 31 December 00:00 (+14).
        let apia = tz("Pacific/Apia");
        let skipped = start_of_day(date("2011-12-30"), apia);
        assert_eq!(skipped, instant("2011-12-30T10:00:00Z"));
        assert_eq!(start_of_day(date("2011-12-31"), apia), skipped);
        let day = Cycle::new(date("2011-12-30"), date("2011-12-30"), apia).unwrap();
        assert_eq!(day.start_time(), day.end_time());
        assert_eq!(day.expected_progress_linear(skipped), Decimal::ONE);
        let week = Cycle::new(date("2011-12-27"), date("2011-12-31"), apia).unwrap();
        assert_eq!(week.total_days(), 5);
        assert_eq!(week.end_time() - week.start_time(), Duration::hours(4 * 24));
    }

    #[test]
    fn rejects_end_before_start() {
        let error = Cycle::new(date("2026-03-31"), date("2026-01-01"), Tz::UTC).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cycle end date 2026-01-01 is before its start date 2026-03-31"
        );
        assert!(Cycle::new(date("2026-03-31"), date("2026-03-31"), Tz::UTC).is_ok());
        assert_eq!(
            Cycle::new(date("2026-01-01"), NaiveDate::MAX, Tz::UTC),
            Err(CycleError::DateOutOfRange {
                date: NaiveDate::MAX
            })
        );
    }

    #[test]
    fn parses_time_zones() {
        assert_eq!(parse_time_zone(""), Ok(Tz::UTC));
        assert_eq!(parse_time_zone("UTC"), Ok(Tz::UTC));
        assert_eq!(parse_time_zone("Europe/Berlin"), Ok(Tz::Europe__Berlin));
        assert_eq!(
            parse_time_zone("Mars/Olympus_Mons")
                .unwrap_err()
                .to_string(),
            "unknown time zone \"Mars/Olympus_Mons\" (expected an IANA name like \"Europe/Berlin\")"
        );
        assert!(parse_time_zone("europe/berlin").is_err());
        assert!(parse_time_zone(" Europe/Berlin").is_err());
    }
}
