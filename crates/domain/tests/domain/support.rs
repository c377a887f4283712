//! Small constructors shared by the test modules.

use chrono::{DateTime, NaiveDate, Utc};
use devokr_domain::Decimal;
use devokr_domain::decimal::parse_decimal;

/// A decimal from plain text, so that the test reads like the hand calculation.
pub(crate) fn dec(text: &str) -> Decimal {
    parse_decimal(text).unwrap()
}

/// An instant from RFC 3339 text.
pub(crate) fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// A calendar date from `YYYY-MM-DD`.
pub(crate) fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}
