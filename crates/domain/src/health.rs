//! Health of key results and objectives, each with a one-line explanation a person can act on.
//!
//! A key result's health compares its clamped progress with the progress expected at this point
//! of the cycle (linear), using ratio bands (UpRaise's preset by default, see
//! `reference/okr-products.md` §2.11 and §4.2). A value that cannot be read is stale, never a
//! silent zero; an empty population is "no data". An objective is as healthy as its worst key
//! result (Perdoo's rule), ignoring key results without data.

use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::cycle::Cycle;
use crate::decimal::format_for_display;
use crate::progress::Progress;

/// Fraction digits of numbers in explanations.
pub const EXPLANATION_PLACES: u32 = 2;

/// Health of a key result or objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Health {
    /// Progress keeps pace with the cycle.
    OnTrack,
    /// Progress is somewhat behind the pace.
    AtRisk,
    /// Progress is far behind the pace.
    OffTrack,
    /// The target is met.
    Achieved,
    /// The cycle ended without meeting the target.
    Missed,
    /// The value could not be read, so the health is unknown.
    Stale,
    /// There is no value yet (empty population).
    NoData,
}

impl Health {
    /// Rank for "worst of": higher is worse. Missed 6, off track 5, stale 4, at risk 3,
    /// on track 2, achieved 1; no data is 0 and is ignored by the worst-of rule.
    pub fn severity(self) -> u8 {
        match self {
            Self::Missed => 6,
            Self::OffTrack => 5,
            Self::Stale => 4,
            Self::AtRisk => 3,
            Self::OnTrack => 2,
            Self::Achieved => 1,
            Self::NoData => 0,
        }
    }

    /// Lowercase words, as used in explanations.
    pub fn label(self) -> &'static str {
        match self {
            Self::OnTrack => "on track",
            Self::AtRisk => "at risk",
            Self::OffTrack => "off track",
            Self::Achieved => "achieved",
            Self::Missed => "missed",
            Self::Stale => "stale",
            Self::NoData => "no data",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Pace thresholds as ratios of the expected progress: on track when
/// `progress >= expected × on_track_ratio`, at risk when `>= expected × at_risk_ratio`, off
/// track below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PaceBands {
    /// Share of the expected progress needed to be on track.
    pub on_track_ratio: Decimal,
    /// Share of the expected progress needed to be at risk rather than off track.
    pub at_risk_ratio: Decimal,
}

/// Why pace bands were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "pace bands need 0 <= at risk ratio <= on track ratio <= 1, got on track ratio {on_track_ratio} and at risk ratio {at_risk_ratio}"
)]
pub struct PaceBandsError {
    /// The rejected on-track ratio.
    pub on_track_ratio: Decimal,
    /// The rejected at-risk ratio.
    pub at_risk_ratio: Decimal,
}

impl PaceBands {
    /// UpRaise's preset: on track from 0.95 × expected, at risk from 0.75 × expected.
    pub const UPRAISE: Self = Self {
        on_track_ratio: Decimal::from_parts(95, 0, 0, false, 2),
        at_risk_ratio: Decimal::from_parts(75, 0, 0, false, 2),
    };

    /// Bands with `0 <= at_risk_ratio <= on_track_ratio <= 1`.
    pub fn new(on_track_ratio: Decimal, at_risk_ratio: Decimal) -> Result<Self, PaceBandsError> {
        if Decimal::ZERO <= at_risk_ratio
            && at_risk_ratio <= on_track_ratio
            && on_track_ratio <= Decimal::ONE
        {
            Ok(Self {
                on_track_ratio,
                at_risk_ratio,
            })
        } else {
            Err(PaceBandsError {
                on_track_ratio,
                at_risk_ratio,
            })
        }
    }
}

impl Default for PaceBands {
    fn default() -> Self {
        Self::UPRAISE
    }
}

/// The current value of a key result's metric, as far as it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// A value and its progress.
    Value(Progress),
    /// The metric is undefined: its population is empty.
    Undefined,
    /// The value could not be read; the reason, for the explanation.
    Unavailable(String),
}

/// Health with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The health.
    pub health: Health,
    /// Linear expected progress of the cycle at the time of assessing.
    pub expected_progress: Decimal,
    /// One line saying why, with the numbers rounded for display.
    pub explanation: String,
}

fn show(value: Decimal) -> String {
    format_for_display(value, EXPLANATION_PLACES)
}

/// Health of a key result at `at`. Rules, first match wins:
/// 1. unreadable value → stale;
/// 2. empty population → no data;
/// 3. raw progress ≥ 1 → achieved (even after the cycle ended);
/// 4. cycle ended → missed;
/// 5. clamped progress against expected × bands → on track, at risk or off track (always on
///    track while nothing is expected yet).
pub fn assess_key_result(
    reading: &Reading,
    cycle: &Cycle,
    at: DateTime<Utc>,
    bands: &PaceBands,
) -> Assessment {
    let expected = cycle.expected_progress_linear(at);
    let (health, explanation) = match reading {
        Reading::Unavailable(reason) => {
            let reason = if reason.trim().is_empty() {
                "no reason given"
            } else {
                reason.as_str()
            };
            (Health::Stale, format!("value could not be read: {reason}"))
        }
        Reading::Undefined => (
            Health::NoData,
            "no value yet: the metric's population is empty".to_owned(),
        ),
        Reading::Value(progress) if progress.target_met => (
            Health::Achieved,
            format!("target reached: progress {}", show(progress.raw)),
        ),
        Reading::Value(progress) if cycle.has_ended(at) => (
            Health::Missed,
            format!(
                "cycle ended with progress {} (target not reached)",
                show(progress.raw)
            ),
        ),
        Reading::Value(progress) => assess_pace(progress, expected, cycle, at, bands),
    };
    Assessment {
        health,
        expected_progress: expected,
        explanation,
    }
}

fn assess_pace(
    progress: &Progress,
    expected: Decimal,
    cycle: &Cycle,
    at: DateTime<Utc>,
    bands: &PaceBands,
) -> (Health, String) {
    let on_track_from = expected * bands.on_track_ratio;
    let at_risk_from = expected * bands.at_risk_ratio;
    let health = if expected.is_zero() || progress.clamped >= on_track_from {
        Health::OnTrack
    } else if progress.clamped >= at_risk_from {
        Health::AtRisk
    } else {
        Health::OffTrack
    };
    let (day, total_days) = cycle.day_of_cycle(at);
    let mut explanation = format!(
        "progress {} against {} expected at day {day} of {total_days}",
        show(progress.clamped),
        show(expected)
    );
    if progress.below_baseline {
        explanation.push_str(&format!(
            "; the value is worse than the baseline (raw progress {})",
            show(progress.raw)
        ));
    }
    if health != Health::OnTrack {
        explanation.push_str(&format!("; on track needs {}", show(on_track_from)));
    }
    (health, explanation)
}

/// Health of an objective from its key results' `(health, clamped progress)`: the worst
/// health by [`Health::severity`], ignoring key results with no data; no data if none has
/// data. The explanation names the worst health and, when known, the lowest progress among
/// the key results that have it.
pub fn assess_objective(
    children: &[(Health, Option<Decimal>)],
    cycle: &Cycle,
    at: DateTime<Utc>,
) -> Assessment {
    let expected_progress = cycle.expected_progress_linear(at);
    let with_data: Vec<&(Health, Option<Decimal>)> = children
        .iter()
        .filter(|(health, _)| *health != Health::NoData)
        .collect();
    let Some(worst) = with_data
        .iter()
        .map(|(health, _)| *health)
        .max_by_key(|h| h.severity())
    else {
        let explanation = if children.is_empty() {
            "no key results yet".to_owned()
        } else {
            format!("no key result has data yet (0 of {})", children.len())
        };
        return Assessment {
            health: Health::NoData,
            expected_progress,
            explanation,
        };
    };
    let lowest_progress_of_worst = with_data
        .iter()
        .filter(|(health, _)| *health == worst)
        .filter_map(|(_, progress)| *progress)
        .min();
    let progress_text = lowest_progress_of_worst
        .map(|progress| format!(" at progress {}", show(progress)))
        .unwrap_or_default();
    Assessment {
        health: worst,
        expected_progress,
        explanation: format!(
            "worst key result is {worst}{progress_text} ({} of {} key results have data)",
            with_data.len(),
            children.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::parse_decimal;
    use crate::progress::MetricTarget;
    use chrono::NaiveDate;
    use chrono_tz::Tz;

    fn dec(s: &str) -> Decimal {
        parse_decimal(s).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn q1_1997() -> Cycle {
        let date = |s: &str| s.parse::<NaiveDate>().unwrap();
        Cycle::new(date("1997-01-01"), date("1997-03-31"), Tz::UTC).unwrap()
    }

    /// Percent-style key result 0 → 100, so progress = value / 100.
    fn reading(value: &str) -> Reading {
        let target = MetricTarget::new(dec("0"), dec("100"), None).unwrap();
        Reading::Value(target.progress(dec(value)))
    }

    fn assess(reading: &Reading, when: &str) -> Assessment {
        assess_key_result(reading, &q1_1997(), at(when), &PaceBands::default())
    }

    // 54.9 of 90 days elapsed: expected exactly 0.61, on day 55 (24 February).
    const DAY_55: &str = "1997-02-24T21:36:00Z";

    #[test]
    fn pace_bands_at_day_55_of_90() {
        // Expected 0.61: on track from 0.5795, at risk from 0.4575.
        let off = assess(&reading("42"), DAY_55);
        assert_eq!(off.expected_progress, dec("0.61"));
        assert_eq!(off.health, Health::OffTrack);
        assert_eq!(
            off.explanation,
            "progress 0.42 against 0.61 expected at day 55 of 90; on track needs 0.58"
        );

        let at_risk = assess(&reading("45.75"), DAY_55);
        assert_eq!(at_risk.health, Health::AtRisk);
        assert_eq!(
            at_risk.explanation,
            "progress 0.46 against 0.61 expected at day 55 of 90; on track needs 0.58"
        );
        assert_eq!(assess(&reading("45.74"), DAY_55).health, Health::OffTrack);
        assert_eq!(assess(&reading("57.94"), DAY_55).health, Health::AtRisk);

        let on_track = assess(&reading("57.95"), DAY_55);
        assert_eq!(on_track.health, Health::OnTrack);
        assert_eq!(
            on_track.explanation,
            "progress 0.58 against 0.61 expected at day 55 of 90"
        );
    }

    #[test]
    fn below_baseline_says_so() {
        let assessment = assess(&reading("-30"), DAY_55);
        assert_eq!(assessment.health, Health::OffTrack);
        assert_eq!(
            assessment.explanation,
            "progress 0.00 against 0.61 expected at day 55 of 90; the value is worse than the baseline (raw progress -0.30); on track needs 0.58"
        );
    }

    #[test]
    fn nothing_expected_yet_is_on_track() {
        let before = assess(&reading("0"), "1996-12-15T00:00:00Z");
        assert_eq!(before.expected_progress, Decimal::ZERO);
        assert_eq!(before.health, Health::OnTrack);
        assert_eq!(
            before.explanation,
            "progress 0.00 against 0.00 expected at day 1 of 90"
        );
        assert_eq!(
            assess(&reading("-5"), "1997-01-01T00:00:00Z").health,
            Health::OnTrack
        );
    }

    #[test]
    fn target_met_is_achieved_before_and_after_the_end() {
        let achieved = assess(&reading("112"), DAY_55);
        assert_eq!(achieved.health, Health::Achieved);
        assert_eq!(achieved.explanation, "target reached: progress 1.12");
        assert_eq!(
            assess(&reading("100"), "1997-06-01T00:00:00Z").health,
            Health::Achieved
        );
    }

    #[test]
    fn not_met_at_the_end_is_missed() {
        let missed = assess(&reading("80"), "1997-04-01T00:00:00Z");
        assert_eq!(missed.health, Health::Missed);
        assert_eq!(missed.expected_progress, Decimal::ONE);
        assert_eq!(
            missed.explanation,
            "cycle ended with progress 0.80 (target not reached)"
        );
        // One nanosecond before the end the cycle is still running.
        let last_moment = at("1997-04-01T00:00:00Z") - chrono::Duration::nanoseconds(1);
        let running = assess_key_result(
            &reading("80"),
            &q1_1997(),
            last_moment,
            &PaceBands::default(),
        );
        assert_eq!(running.health, Health::AtRisk);
        assert_eq!(
            running.explanation,
            "progress 0.80 against 1.00 expected at day 90 of 90; on track needs 0.95"
        );
    }

    #[test]
    fn unreadable_and_undefined_values() {
        let stale = assess(
            &Reading::Unavailable("metrics service timed out".into()),
            DAY_55,
        );
        assert_eq!(stale.health, Health::Stale);
        assert_eq!(
            stale.explanation,
            "value could not be read: metrics service timed out"
        );
        assert_eq!(stale.expected_progress, dec("0.61"));
        assert_eq!(
            assess(&Reading::Unavailable(" ".into()), DAY_55).explanation,
            "value could not be read: no reason given"
        );

        let no_data = assess(&Reading::Undefined, DAY_55);
        assert_eq!(no_data.health, Health::NoData);
        assert_eq!(
            no_data.explanation,
            "no value yet: the metric's population is empty"
        );
        // Stale and no data take precedence over the cycle having ended.
        assert_eq!(
            assess(&Reading::Undefined, "1998-01-01T00:00:00Z").health,
            Health::NoData
        );
    }

    #[test]
    fn pace_bands_are_validated() {
        assert_eq!(
            PaceBands::default(),
            PaceBands::new(dec("0.95"), dec("0.75")).unwrap()
        );
        assert!(PaceBands::new(dec("1"), dec("0")).is_ok());
        assert!(PaceBands::new(dec("0.5"), dec("0.5")).is_ok());
        assert!(PaceBands::new(dec("0.7"), dec("0.8")).is_err());
        assert!(PaceBands::new(dec("1.1"), dec("0.8")).is_err());
        assert_eq!(
            PaceBands::new(dec("0.9"), dec("-0.1"))
                .unwrap_err()
                .to_string(),
            "pace bands need 0 <= at risk ratio <= on track ratio <= 1, got on track ratio 0.9 and at risk ratio -0.1"
        );
    }

    #[test]
    fn custom_bands_move_the_thresholds() {
        // Tability-like: on track from 0.7 × expected, at risk from 0.5 ×.
        let bands = PaceBands::new(dec("0.7"), dec("0.5")).unwrap();
        let assessment = assess_key_result(&reading("43"), &q1_1997(), at(DAY_55), &bands);
        assert_eq!(assessment.health, Health::OnTrack);
    }

    #[test]
    fn severity_orders_worst_first() {
        let by_severity = [
            Health::Missed,
            Health::OffTrack,
            Health::Stale,
            Health::AtRisk,
            Health::OnTrack,
            Health::Achieved,
            Health::NoData,
        ];
        for pair in by_severity.windows(2) {
            assert!(pair[0].severity() > pair[1].severity(), "{pair:?}");
        }
    }

    #[test]
    fn objective_is_its_worst_key_result() {
        let cycle = q1_1997();
        let when = at(DAY_55);
        let both_missed = assess_objective(
            &[
                (Health::Missed, Some(dec("0.8"))),
                (Health::Missed, Some(dec("0.3"))),
            ],
            &cycle,
            when,
        );
        assert_eq!(both_missed.health, Health::Missed);
        assert_eq!(
            both_missed.explanation,
            "worst key result is missed at progress 0.30 (2 of 2 key results have data)"
        );

        let mixed = assess_objective(
            &[
                (Health::Achieved, Some(dec("1"))),
                (Health::NoData, None),
                (Health::Stale, None),
                (Health::AtRisk, Some(dec("0.5"))),
            ],
            &cycle,
            when,
        );
        assert_eq!(mixed.health, Health::Stale);
        assert_eq!(mixed.expected_progress, dec("0.61"));
        assert_eq!(
            mixed.explanation,
            "worst key result is stale (3 of 4 key results have data)"
        );

        let achieved = assess_objective(&[(Health::Achieved, Some(dec("1")))], &cycle, when);
        assert_eq!(achieved.health, Health::Achieved);
    }

    #[test]
    fn objective_without_data() {
        let cycle = q1_1997();
        let when = at(DAY_55);
        let none = assess_objective(
            &[(Health::NoData, None), (Health::NoData, None)],
            &cycle,
            when,
        );
        assert_eq!(none.health, Health::NoData);
        assert_eq!(none.explanation, "no key result has data yet (0 of 2)");
        let empty = assess_objective(&[], &cycle, when);
        assert_eq!(empty.health, Health::NoData);
        assert_eq!(empty.explanation, "no key results yet");
    }
}
