//! Conversions between wire types and domain types. Reading a request field goes through
//! these helpers so that every bad value is reported as a [`FieldViolation`] naming the
//! field's path in the request (for example `key_result.baseline`).

use chrono::{DateTime, NaiveDate, Utc};
use devokr_domain::decimal::parse_decimal;
use rust_decimal::Decimal;

use crate::common::v1 as common;

/// One bad field of a request: its path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, for example `cycle.start_date`.
    pub field: String,
    /// What is wrong, in a sentence a caller can act on.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }

    /// The violation of a required field that was left empty.
    pub fn required(field: impl Into<String>) -> Self {
        Self::new(field, "is required")
    }
}

impl std::fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

impl std::error::Error for FieldViolation {}

impl From<Decimal> for common::Decimal {
    fn from(value: Decimal) -> Self {
        Self {
            value: value.normalize().to_string(),
        }
    }
}

impl From<NaiveDate> for common::Date {
    fn from(date: NaiveDate) -> Self {
        use chrono::Datelike;
        Self {
            year: date.year(),
            month: date.month() as i32,
            day: date.day() as i32,
        }
    }
}

/// Reads a required decimal field.
pub fn decimal(field: &str, value: Option<&common::Decimal>) -> Result<Decimal, FieldViolation> {
    optional_decimal(field, value)?.ok_or_else(|| FieldViolation::required(field))
}

/// Reads an optional decimal field: absent or empty text is `None`.
pub fn optional_decimal(
    field: &str,
    value: Option<&common::Decimal>,
) -> Result<Option<Decimal>, FieldViolation> {
    match value {
        None => Ok(None),
        Some(decimal) if decimal.value.is_empty() => Ok(None),
        Some(decimal) => parse_decimal(&decimal.value)
            .map(Some)
            .map_err(|error| FieldViolation::new(field, error.to_string())),
    }
}

/// Reads a required calendar date field.
pub fn date(field: &str, value: Option<&common::Date>) -> Result<NaiveDate, FieldViolation> {
    let date = value.ok_or_else(|| FieldViolation::required(field))?;
    let (month, day) = (u32::try_from(date.month), u32::try_from(date.day));
    match (month, day) {
        (Ok(month), Ok(day)) if (1..=9999).contains(&date.year) => {
            NaiveDate::from_ymd_opt(date.year, month, day)
        }
        _ => None,
    }
    .ok_or_else(|| {
        FieldViolation::new(
            field,
            format!(
                "{:04}-{:02}-{:02} is not a calendar date",
                date.year, date.month, date.day
            ),
        )
    })
}

/// The wire form of an instant.
pub fn timestamp(instant: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: instant.timestamp(),
        nanos: instant.timestamp_subsec_nanos() as i32,
    }
}

/// Earliest and latest instant a `google.protobuf.Timestamp` may hold (0001-01-01T00:00:00Z
/// and 9999-12-31T23:59:59.999999999Z). Outside them an instant is invalid on the wire, and
/// PostgreSQL cannot store the early ones at all.
const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// Whether `instant` fits in a `google.protobuf.Timestamp`.
pub fn fits_timestamp(instant: DateTime<Utc>) -> bool {
    TIMESTAMP_SECONDS.contains(&instant.timestamp())
}

/// Reads an optional instant field.
pub fn optional_instant(
    field: &str,
    value: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, FieldViolation> {
    if let Some(ts) = value
        && !TIMESTAMP_SECONDS.contains(&ts.seconds)
    {
        return Err(FieldViolation::new(
            field,
            "is outside the range of timestamps, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z",
        ));
    }
    value
        .map(|ts| {
            u32::try_from(ts.nanos)
                .ok()
                .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
                .ok_or_else(|| FieldViolation::new(field, "is not a valid timestamp"))
        })
        .transpose()
}

/// Reads a required instant field.
pub fn instant(
    field: &str,
    value: Option<&prost_types::Timestamp>,
) -> Result<DateTime<Utc>, FieldViolation> {
    optional_instant(field, value)?.ok_or_else(|| FieldViolation::required(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_round_trips_without_float_artefacts() {
        let wire = common::Decimal::from(Decimal::new(3, 1) + Decimal::new(15, 2));
        assert_eq!(wire.value, "0.45");
        assert_eq!(decimal("x", Some(&wire)), Ok(Decimal::new(45, 2)));
    }

    #[test]
    fn bad_values_name_their_field() {
        let bad = common::Decimal {
            value: "1e5".into(),
        };
        assert_eq!(
            decimal("key_result.target", Some(&bad)).unwrap_err().field,
            "key_result.target"
        );
        assert_eq!(
            decimal("key_result.baseline", None),
            Err(FieldViolation::required("key_result.baseline"))
        );
        let feb_30 = common::Date {
            year: 2026,
            month: 2,
            day: 30,
        };
        let violation = date("cycle.end_date", Some(&feb_30)).unwrap_err();
        assert_eq!(violation.description, "2026-02-30 is not a calendar date");
    }

    #[test]
    fn timestamps_round_trip() {
        let at = DateTime::from_timestamp(852_076_800, 5).unwrap();
        assert_eq!(instant("t", Some(&timestamp(at))), Ok(at));
        let negative_nanos = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert!(instant("t", Some(&negative_nanos)).is_err());
        let year_zero = prost_types::Timestamp {
            seconds: -62_135_596_801,
            nanos: 0,
        };
        assert!(instant("t", Some(&year_zero)).is_err());
    }
}
