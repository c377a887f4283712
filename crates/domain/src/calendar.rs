//! Calendar rules on top of [`Cycle`]: fiscal quarters and years, nesting, cycle states, the
//! current cycle, day/week/month buckets in a zone, and scoring at close.
//!
//! Fiscal years are named for the calendar year in which they END (the common convention of
//! fiscal years that do not start in January): with a fiscal year starting in April, FY2027 runs
//! from 2026-04-01 to 2027-03-31 and its Q1 is April to June 2026. A fiscal year starting in
//! January is the calendar year.
//!
//! Buckets are ranges of whole calendar days in the zone, half-open `[start, end)`, built with
//! [`start_of_day`]: a day lasts 23 or 25 hours across DST, a week 167 or 169 hours.

use std::fmt;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::cycle::{Cycle, CycleError, start_of_day};
use crate::decimal::round_for_display;

/// Why a fiscal period was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// A quarter other than 1 to 4.
    #[error("quarter {quarter} does not exist; quarters are numbered 1 to 4")]
    QuarterOutOfRange {
        /// The rejected quarter.
        quarter: u32,
    },
    /// A month other than 1 to 12.
    #[error(
        "fiscal year start month {month} does not exist; give a month from 1 (January) to 12 (December)"
    )]
    MonthOutOfRange {
        /// The rejected month.
        month: u32,
    },
    /// A fiscal year whose first day has no date.
    #[error("fiscal year {fiscal_year} is outside the supported years 1 to 9999")]
    YearOutOfRange {
        /// The rejected fiscal year.
        fiscal_year: i32,
    },
    /// The period's dates are outside the supported years.
    #[error(transparent)]
    Cycle(#[from] CycleError),
}

/// The first day of fiscal year `fiscal_year` (named for the year it ends in).
fn fiscal_year_start(fiscal_year: i32, start_month: u32) -> Result<NaiveDate, CalendarError> {
    if !(1..=12).contains(&start_month) {
        return Err(CalendarError::MonthOutOfRange { month: start_month });
    }
    let calendar_year = if start_month == 1 {
        Some(fiscal_year)
    } else {
        fiscal_year.checked_sub(1)
    };
    calendar_year
        .and_then(|year| NaiveDate::from_ymd_opt(year, start_month, 1))
        .ok_or(CalendarError::YearOutOfRange { fiscal_year })
}

/// The cycle of `months` whole months from `first_day`.
fn months_from(first_day: NaiveDate, months: u32, tz: Tz) -> Result<Cycle, CalendarError> {
    let last_day = first_day
        .checked_add_months(Months::new(months))
        .and_then(|day_after| day_after.checked_sub_days(Days::new(1)))
        .ok_or(CycleError::DateOutOfRange { date: first_day })?;
    Ok(Cycle::new(first_day, last_day, tz)?)
}

impl Cycle {
    /// Fiscal year `fiscal_year`, starting on the first of `fiscal_year_start_month` (1 to 12)
    /// and named for the calendar year in which it ends.
    pub fn year(
        fiscal_year: i32,
        fiscal_year_start_month: u32,
        tz: Tz,
    ) -> Result<Self, CalendarError> {
        months_from(
            fiscal_year_start(fiscal_year, fiscal_year_start_month)?,
            12,
            tz,
        )
    }

    /// Quarter `quarter` (1 to 4) of fiscal year `fiscal_year` (see [`Cycle::year`]).
    pub fn quarter(
        fiscal_year: i32,
        quarter: u32,
        fiscal_year_start_month: u32,
        tz: Tz,
    ) -> Result<Self, CalendarError> {
        if !(1..=4).contains(&quarter) {
            return Err(CalendarError::QuarterOutOfRange { quarter });
        }
        let year_start = fiscal_year_start(fiscal_year, fiscal_year_start_month)?;
        let quarter_start = year_start
            .checked_add_months(Months::new(3 * (quarter - 1)))
            .ok_or(CycleError::DateOutOfRange { date: year_start })?;
        months_from(quarter_start, 3, tz)
    }

    /// Whether `other` lies within this cycle (a year holds its quarters), comparing instants,
    /// so cycles in different zones nest only if the instants do.
    pub fn contains_cycle(&self, other: &Cycle) -> bool {
        self.start_time() <= other.start_time() && other.end_time() <= self.end_time()
    }
}

/// Where a cycle is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CycleState {
    /// Objectives are being drafted.
    Planning,
    /// The cycle is running: check-ins update progress and health.
    Active,
    /// The cycle is over and scored; check-ins need the late flag.
    Closed,
}

impl CycleState {
    /// Lowercase words, as used in messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Planning => "planning",
            Self::Active => "active",
            Self::Closed => "closed",
        }
    }

    /// The state after moving to `to`. Only planning → active and active → closed are allowed:
    /// a closed cycle is never re-opened, because its scores and learnings are final (late
    /// measurements go in as late check-ins), and a cycle is not closed without having run.
    pub fn transition(self, to: CycleState) -> Result<CycleState, CycleStateError> {
        match (self, to) {
            (Self::Planning, Self::Active) | (Self::Active, Self::Closed) => Ok(to),
            _ => Err(CycleStateError { from: self, to }),
        }
    }
}

impl fmt::Display for CycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A state change that cycles do not make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a cycle cannot go from {from} to {to}: cycles go planning → active → closed, and a closed cycle is not re-opened (record late measurements as late check-ins instead)"
)]
pub struct CycleStateError {
    /// The current state.
    pub from: CycleState,
    /// The requested state.
    pub to: CycleState,
}

/// The innermost cycle holding `now`: of the cycles that contain it (each in its own zone), the
/// shortest; the first of equally long ones. `None` when no cycle holds `now`.
pub fn current_cycle(cycles: &[Cycle], now: DateTime<Utc>) -> Option<&Cycle> {
    cycles
        .iter()
        .filter(|cycle| cycle.contains(now))
        .min_by_key(|cycle| cycle.end_time() - cycle.start_time())
}

/// The calendar date in `tz` at `now`: the date whose day bucket holds `now`.
pub fn today(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    // The local date is right except where a DST fall-back crosses midnight and local dates run
    // briefly backwards; the day buckets then decide, so that days tile time without overlap.
    let mut date = now.with_timezone(&tz).date_naive();
    while let Some(next) = date.succ_opt()
        && start_of_day(next, tz) <= now
    {
        date = next;
    }
    while let Some(previous) = date.pred_opt()
        && start_of_day(date, tz) > now
    {
        date = previous;
    }
    date
}

/// The first day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum WeekStart {
    /// ISO 8601 weeks.
    #[default]
    Monday,
    /// Weeks as in the United States.
    Sunday,
}

/// The size of a bucket of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Granularity {
    /// A calendar day.
    Day,
    /// Seven calendar days from the given first day of the week.
    Week(WeekStart),
    /// A calendar month.
    Month,
}

/// The half-open range `[start, end)` of the bucket holding `at`, following the calendar in
/// `tz`. Consecutive buckets tile time: the end of one is the start of the next.
pub fn bucket_range(
    at: DateTime<Utc>,
    granularity: Granularity,
    tz: Tz,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let date = today(at, tz);
    let (first_day, day_after) = match granularity {
        Granularity::Day => (date, date + Days::new(1)),
        Granularity::Week(week_start) => {
            let days_into_week = match week_start {
                WeekStart::Monday => date.weekday().num_days_from_monday(),
                WeekStart::Sunday => date.weekday().num_days_from_sunday(),
            };
            let first_day = date - Days::new(u64::from(days_into_week));
            (first_day, first_day + Days::new(7))
        }
        Granularity::Month => {
            let first_day = date.with_day(1).expect("every month has a first day");
            (first_day, first_day + Months::new(1))
        }
    };
    (start_of_day(first_day, tz), start_of_day(day_after, tz))
}

/// The first instant of the bucket holding `at` (see [`bucket_range`]).
pub fn bucket_start(at: DateTime<Utc>, granularity: Granularity, tz: Tz) -> DateTime<Utc> {
    bucket_range(at, granularity, tz).0
}

/// Fraction digits of a score at close.
pub const SCORE_PLACES: u32 = 1;

/// The colour of a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScoreBand {
    /// Below [`ScoreBands::red_below`].
    Red,
    /// From `red_below` up to [`ScoreBands::yellow_below`].
    Yellow,
    /// From `yellow_below` up.
    Green,
}

/// Score bands, set per tenant: red below `red_below`, yellow below `yellow_below`, green from
/// there (Doerr's 0.0–0.3 red, 0.4–0.6 yellow, 0.7–1.0 green by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScoreBands {
    red_below: Decimal,
    yellow_below: Decimal,
}

/// Why a score, an override or score bands were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoreError {
    /// Bands out of order or outside `[0, 1]`.
    #[error(
        "score bands need 0 <= red below <= yellow below <= 1, got red below {red_below} and yellow below {yellow_below}"
    )]
    BandsOutOfOrder {
        /// The rejected red limit.
        red_below: Decimal,
        /// The rejected yellow limit.
        yellow_below: Decimal,
    },
    /// A score outside `[0, 1]`.
    #[error("score {score} is outside 0.0 to 1.0")]
    OutOfRange {
        /// The rejected score.
        score: Decimal,
    },
    /// A score with more than one fraction digit.
    #[error("score {score} has more than one decimal; scores go from 0.0 to 1.0 in steps of 0.1")]
    TooPrecise {
        /// The rejected score.
        score: Decimal,
    },
    /// An override without a reason.
    #[error("a score override needs a reason; say why the computed score is wrong")]
    MissingReason,
}

impl ScoreBands {
    /// Red below 0.4, yellow below 0.7, green from 0.7 (Google, Doerr).
    pub const GOOGLE: Self = Self {
        red_below: Decimal::from_parts(4, 0, 0, false, 1),
        yellow_below: Decimal::from_parts(7, 0, 0, false, 1),
    };

    /// Bands with `0 <= red_below <= yellow_below <= 1`.
    pub fn new(red_below: Decimal, yellow_below: Decimal) -> Result<Self, ScoreError> {
        if Decimal::ZERO <= red_below && red_below <= yellow_below && yellow_below <= Decimal::ONE {
            Ok(Self {
                red_below,
                yellow_below,
            })
        } else {
            Err(ScoreError::BandsOutOfOrder {
                red_below,
                yellow_below,
            })
        }
    }

    /// Scores below this are red.
    pub fn red_below(&self) -> Decimal {
        self.red_below
    }

    /// Scores below this (and not red) are yellow; the rest green.
    pub fn yellow_below(&self) -> Decimal {
        self.yellow_below
    }

    /// The band of `score`.
    pub fn band(&self, score: Decimal) -> ScoreBand {
        if score < self.red_below {
            ScoreBand::Red
        } else if score < self.yellow_below {
            ScoreBand::Yellow
        } else {
            ScoreBand::Green
        }
    }

    fn score(&self, value: Decimal) -> Score {
        let mut value = value;
        value.rescale(SCORE_PLACES);
        Score {
            value,
            band: self.band(value),
        }
    }
}

impl Default for ScoreBands {
    fn default() -> Self {
        Self::GOOGLE
    }
}

/// A key result's grade at close: 0.0 to 1.0 with one decimal, and its band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Score {
    /// 0.0 to 1.0, with exactly one fraction digit.
    pub value: Decimal,
    /// The band of `value`.
    pub band: ScoreBand,
}

/// The score of a key result whose clamped progress at close is `progress`: the progress,
/// clamped into `[0, 1]` and rounded to one decimal with the display rule (half away from
/// zero: 0.65 → 0.7). `None` when there is no progress: a key result without data gets no
/// silent 0.0; give it a [`ScoreOverride`] instead.
pub fn score_at_close(progress: Option<Decimal>, bands: &ScoreBands) -> Option<Score> {
    let clamped = progress?.clamp(Decimal::ZERO, Decimal::ONE);
    Some(bands.score(round_for_display(clamped, SCORE_PLACES)))
}

/// A person's score that replaces the computed one, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScoreOverride {
    score: Decimal,
    reason: String,
}

impl ScoreOverride {
    /// An override: `score` from 0.0 to 1.0 with at most one decimal, and a reason that is not
    /// blank (kept as given).
    pub fn new(score: Decimal, reason: impl Into<String>) -> Result<Self, ScoreError> {
        let reason = reason.into();
        if !(Decimal::ZERO <= score && score <= Decimal::ONE) {
            return Err(ScoreError::OutOfRange { score });
        }
        if score.normalize().scale() > SCORE_PLACES {
            return Err(ScoreError::TooPrecise { score });
        }
        if reason.trim().is_empty() {
            return Err(ScoreError::MissingReason);
        }
        Ok(Self { score, reason })
    }

    /// The overriding score.
    pub fn score(&self) -> Decimal {
        self.score
    }

    /// Why the computed score was replaced.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The override as a [`Score`] in `bands`.
    pub fn apply(&self, bands: &ScoreBands) -> Score {
        bands.score(self.score)
    }
}
