//! Units of key-result values: what a number means, which numbers are possible, and how a
//! number is shown to a person.
//!
//! Values stay exact decimals; [`Unit::format`] is the only place a value is rounded for a
//! person, with the crate's one rule ([`crate::decimal::round_for_display`], half away from
//! zero). Display formats:
//!
//! | unit | stored value | shown |
//! |---|---|---|
//! | percent | percentage points (45 means 45 %) | `45.00 %`, always 2 places |
//! | number | the number | `1,234.5`: at most 2 places, trailing zeros dropped |
//! | currency | amount in the currency's major unit | `1,234.50 EUR`, the currency's minor-unit places |
//! | duration | seconds | `45 s`, `0.25 s` under a minute; otherwise the two largest of d, h, min, s, rounded to the smaller: `1 min 30 s`, `3 d 4 h`, `2 h` |
//! | score | the score | `42 (-100..100)`: at most 2 places, then the declared range |
//!
//! Thousands are grouped with `,` and the decimal mark is `.`, as in the rest of the API's
//! explanations; a value that rounds to zero is shown without a sign.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::decimal::{format_for_display, round_for_display};

/// Why a unit or a value of a unit was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Not in [`ACTIVE_CURRENCY_CODES`].
    #[error(
        "\"{code}\" is not an active ISO 4217 currency code; use the three capital letters of a current currency, like \"EUR\""
    )]
    UnknownCurrency {
        /// The rejected text.
        code: String,
    },
    /// A score range whose minimum is not below its maximum.
    #[error("a score range needs its minimum below its maximum, got {min}..{max}")]
    EmptyScoreRange {
        /// The declared minimum.
        min: Decimal,
        /// The declared maximum.
        max: Decimal,
    },
    /// A score outside its declared range.
    #[error("{value} is outside the score range {min}..{max}; record a score from {min} to {max}")]
    ScoreOutOfRange {
        /// The rejected value.
        value: Decimal,
        /// The lowest allowed score.
        min: Decimal,
        /// The highest allowed score.
        max: Decimal,
    },
    /// A negative duration.
    #[error("duration {value} seconds is negative; a duration is zero or more seconds")]
    NegativeDuration {
        /// The rejected value, in seconds.
        value: Decimal,
    },
}

/// Alphabetic codes of ISO 4217 List One (as published on 2026-01-01) with their minor units,
/// sorted for binary search.
///
/// Only codes that have minor units are listed: national currencies and funds (such as `CHE`,
/// `CLF`, `USN`). Units of account, precious metals, bond-market units and the testing and
/// "no currency" codes (`XAD`, `XDR`, `XUA`, `XSU`, `XAU`, `XAG`, `XPD`, `XPT`, `XBA`–`XBD`,
/// `XTS`, `XXX`) have none and cannot price a key result. Withdrawn codes (`BGN` since the euro
/// came to Bulgaria, `ANG`, `HRK`, `SLL`, `ZWL`, `CUC`) are not active.
pub const ACTIVE_CURRENCY_CODES: [(&str, u32); 164] = [
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BOV", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHE", 2),
    ("CHF", 2),
    ("CHW", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("COU", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MXV", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("USN", 2),
    ("UYI", 0),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VED", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

/// An active ISO 4217 alphabetic currency code, such as `EUR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurrencyCode {
    code: &'static str,
    minor_units: u32,
}

impl CurrencyCode {
    /// The code for `text`, which must be an entry of [`ACTIVE_CURRENCY_CODES`] exactly (three
    /// capital letters; `eur` is rejected rather than guessed).
    pub fn parse(text: &str) -> Result<Self, UnitError> {
        ACTIVE_CURRENCY_CODES
            .binary_search_by(|(code, _)| code.cmp(&text))
            .map(|index| {
                let (code, minor_units) = ACTIVE_CURRENCY_CODES[index];
                Self { code, minor_units }
            })
            .map_err(|_| UnitError::UnknownCurrency {
                code: text.to_owned(),
            })
    }

    /// The three letters.
    pub fn as_str(&self) -> &'static str {
        self.code
    }

    /// Fraction digits of the currency's minor unit (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn minor_units(&self) -> u32 {
        self.minor_units
    }
}

impl FromStr for CurrencyCode {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// What a key result's values measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Percentage points: 45 means 45 %. Any value, since changes and growth rates can be
    /// negative or above 100.
    Percent,
    /// A plain number (a count, a ratio, an index).
    Number,
    /// An amount of money in the currency's major unit; may be negative (a loss).
    Currency(CurrencyCode),
    /// A length of time in seconds, zero or more.
    Duration,
    /// A score on a declared scale, both ends included (NPS −100..100, CSAT 1..5).
    Score {
        /// The lowest possible score.
        min: Decimal,
        /// The highest possible score.
        max: Decimal,
    },
}

const SECONDS_PER_MINUTE: Decimal = Decimal::from_parts(60, 0, 0, false, 0);

/// Duration units from the largest down, in seconds.
const DURATION_UNITS: [(Decimal, &str); 4] = [
    (Decimal::from_parts(86_400, 0, 0, false, 0), "d"),
    (Decimal::from_parts(3_600, 0, 0, false, 0), "h"),
    (SECONDS_PER_MINUTE, "min"),
    (Decimal::ONE, "s"),
];

/// Places of numbers and scores; percent is shown with exactly this many.
const PLACES: u32 = 2;

impl Unit {
    /// Net Promoter Score: −100 to 100.
    pub const fn nps() -> Self {
        Self::Score {
            min: Decimal::from_parts(100, 0, 0, true, 0),
            max: Decimal::ONE_HUNDRED,
        }
    }

    /// Customer satisfaction on the 1 to 5 scale.
    pub const fn csat() -> Self {
        Self::Score {
            min: Decimal::ONE,
            max: Decimal::from_parts(5, 0, 0, false, 0),
        }
    }

    /// A score scale from `min` to `max` (both included); `min` must be below `max`.
    pub fn score(min: Decimal, max: Decimal) -> Result<Self, UnitError> {
        if min < max {
            Ok(Self::Score { min, max })
        } else {
            Err(UnitError::EmptyScoreRange { min, max })
        }
    }

    /// Whether `value` is a possible value of this unit: a score must lie in its range and a
    /// duration cannot be negative; other units take any value.
    pub fn check_value(&self, value: Decimal) -> Result<(), UnitError> {
        match *self {
            Self::Score { min, max } if !(min <= value && value <= max) => {
                Err(UnitError::ScoreOutOfRange { value, min, max })
            }
            Self::Duration if value < Decimal::ZERO => Err(UnitError::NegativeDuration { value }),
            _ => Ok(()),
        }
    }

    /// `value` as a person reads it (see the module documentation for each unit's format).
    pub fn format(&self, value: Decimal) -> String {
        match self {
            Self::Percent => format!("{} %", display_number(value, PLACES, true)),
            Self::Number => display_number(value, PLACES, false),
            Self::Currency(code) => {
                format!("{} {code}", display_number(value, code.minor_units(), true))
            }
            Self::Duration => display_duration(value),
            Self::Score { min, max } => format!(
                "{} ({}..{})",
                display_number(value, PLACES, false),
                min.normalize(),
                max.normalize()
            ),
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Percent => f.write_str("percent"),
            Self::Number => f.write_str("number"),
            Self::Currency(code) => write!(f, "{code}"),
            Self::Duration => f.write_str("seconds"),
            Self::Score { min, max } => {
                write!(f, "score {}..{}", min.normalize(), max.normalize())
            }
        }
    }
}

/// `value` rounded to `places` with the display rule, padded to `places` or with trailing
/// zeros dropped, and with its thousands grouped.
fn display_number(value: Decimal, places: u32, pad: bool) -> String {
    let fixed = format_for_display(value, places);
    let text = if pad || !fixed.contains('.') {
        fixed.as_str()
    } else {
        fixed.trim_end_matches('0').trim_end_matches('.')
    };
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(unsigned) => ("-", unsigned),
        None => ("", text),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let mut grouped = String::with_capacity(text.len() + whole.len() / 3);
    grouped.push_str(sign);
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if let Some(fraction) = fraction {
        grouped.push('.');
        grouped.push_str(fraction);
    }
    grouped
}

/// Seconds as `45 s` under a minute, otherwise as the largest unit reached and the next smaller
/// one (`1 min 30 s`, `3 d 4 h`), rounded to the smaller one.
fn display_duration(seconds: Decimal) -> String {
    let magnitude = round_for_display(seconds.abs(), PLACES);
    let sign = if seconds < Decimal::ZERO && !magnitude.is_zero() {
        "-"
    } else {
        ""
    };
    if magnitude < SECONDS_PER_MINUTE {
        return format!("{sign}{} s", display_number(magnitude, PLACES, false));
    }
    // Index of the largest unit that `value` reaches; at least minutes from here on.
    let largest = |value: Decimal| {
        DURATION_UNITS
            .iter()
            .position(|&(unit_seconds, _)| value >= unit_seconds)
            .unwrap_or(DURATION_UNITS.len() - 1)
    };
    let (smaller_seconds, _) = DURATION_UNITS[largest(magnitude) + 1];
    let rounded = round_for_display(magnitude / smaller_seconds, 0) * smaller_seconds;
    // Rounding up can reach the next unit exactly (59 min 59.6 s is 1 h), so split again.
    let index = largest(rounded);
    let ((big_seconds, big_name), (small_seconds, small_name)) =
        (DURATION_UNITS[index], DURATION_UNITS[index + 1]);
    let big = (rounded / big_seconds).trunc();
    let small = (rounded - big * big_seconds) / small_seconds;
    let mut text = format!("{sign}{} {big_name}", display_number(big, 0, false));
    if !small.is_zero() {
        text.push_str(&format!(" {} {small_name}", small.normalize()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_codes_are_sorted_unique_and_three_capitals() {
        for pair in ACTIVE_CURRENCY_CODES.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{pair:?} out of order");
        }
        for (code, minor_units) in ACTIVE_CURRENCY_CODES {
            assert!(
                code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()),
                "{code}"
            );
            assert!(minor_units <= 4, "{code}");
        }
    }
}
