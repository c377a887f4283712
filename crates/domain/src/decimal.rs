//! Decimal text in and out: one rounding rule for display and one strict parser.
//!
//! Values are kept exact everywhere; rounding happens only when a number is shown to a person,
//! and always with the same rule so that two services never show different digits.

use rust_decimal::{Decimal, RoundingStrategy};

/// The one rounding rule used for display: half away from zero (0.125 → 0.13, −0.125 → −0.13).
pub const DISPLAY_ROUNDING: RoundingStrategy = RoundingStrategy::MidpointAwayFromZero;

/// Why a text is not accepted as a decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The text is not of the form `[+-]digits[.digits]`.
    #[error(
        "\"{text}\" is not a plain decimal number (expected an optional sign, digits and an optional fraction, like -12.5)"
    )]
    NotPlainDecimal {
        /// The rejected text.
        text: String,
    },
    /// The text is well formed but does not fit a 96-bit decimal with at most 28 fraction digits.
    #[error("\"{text}\" does not fit a decimal of at most 28 significant digits")]
    OutOfRange {
        /// The rejected text.
        text: String,
    },
}

/// Rounds `value` to `places` fraction digits, half away from zero.
///
/// The result keeps at most `places` digits; it is not padded (0.1 stays 0.1), see
/// [`format_for_display`] for fixed-width text.
pub fn round_for_display(value: Decimal, places: u32) -> Decimal {
    value.round_dp_with_strategy(places, DISPLAY_ROUNDING)
}

/// Rounds `value` with [`round_for_display`] and writes it with exactly `places` fraction digits.
///
/// A value that rounds to zero is written without a sign (`-0.001` → `0.00`), since "-0.00"
/// reads as a real negative value.
pub fn format_for_display(value: Decimal, places: u32) -> String {
    let mut rounded = round_for_display(value, places);
    if rounded.is_zero() {
        rounded.set_sign_positive(true);
    }
    // Only pads with zeros here: the value already has at most `places` digits.
    rounded.rescale(places);
    rounded.to_string()
}

/// Parses plain decimal text: an optional `+` or `-`, one or more digits, and optionally a `.`
/// followed by one or more digits.
///
/// Exponents, spaces, underscores, a bare `.5` or `5.` and empty text are rejected, because
/// values arrive from other programs and a lenient parser would hide their bugs. Text that has
/// more digits than a decimal can hold is an error rather than being silently rounded.
pub fn parse_decimal(s: &str) -> Result<Decimal, DecimalError> {
    if !is_plain_decimal(s) {
        return Err(DecimalError::NotPlainDecimal { text: s.to_owned() });
    }
    Decimal::from_str_exact(s).map_err(|_| DecimalError::OutOfRange { text: s.to_owned() })
}

fn is_plain_decimal(s: &str) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let is_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    is_digits(whole) && fraction.is_none_or(is_digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        parse_decimal(s).unwrap()
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(round_for_display(dec("0.125"), 2), dec("0.13"));
        assert_eq!(round_for_display(dec("-0.125"), 2), dec("-0.13"));
        assert_eq!(round_for_display(dec("0.135"), 2), dec("0.14"));
        assert_eq!(round_for_display(dec("2.5"), 0), dec("3"));
        assert_eq!(round_for_display(dec("-2.5"), 0), dec("-3"));
        assert_eq!(round_for_display(dec("0.1249"), 2), dec("0.12"));
        assert_eq!(round_for_display(dec("0.1"), 2), dec("0.1"));
    }

    #[test]
    fn formats_with_fixed_places_and_no_negative_zero() {
        assert_eq!(format_for_display(dec("0.125"), 2), "0.13");
        assert_eq!(format_for_display(dec("0.8"), 2), "0.80");
        assert_eq!(format_for_display(dec("1"), 2), "1.00");
        assert_eq!(format_for_display(dec("-0.001"), 2), "0.00");
        assert_eq!(format_for_display(dec("-0.005"), 2), "-0.01");
        assert_eq!(format_for_display(dec("12.3456"), 0), "12");
    }

    #[test]
    fn parses_plain_decimal_text() {
        assert_eq!(dec("42"), Decimal::new(42, 0));
        assert_eq!(dec("-12.50"), Decimal::new(-1250, 2));
        assert_eq!(dec("+0.001"), Decimal::new(1, 3));
        assert_eq!(dec("0000.5"), Decimal::new(5, 1));
        assert_eq!(
            dec("79228162514264337593543950335"),
            Decimal::MAX,
            "the largest decimal is accepted"
        );
    }

    #[test]
    fn rejects_anything_but_plain_decimal_text() {
        for text in [
            "", " 1", "1 ", "1e5", "1E5", "--1", "+", "-", ".5", "5.", "1.2.3", "1_000", "0x10",
            "NaN", "inf", "١", "1,5",
        ] {
            assert_eq!(
                parse_decimal(text),
                Err(DecimalError::NotPlainDecimal {
                    text: text.to_owned()
                }),
                "{text:?} must be rejected"
            );
        }
    }

    #[test]
    fn rejects_values_a_decimal_cannot_hold() {
        for text in [
            "79228162514264337593543950336",
            "0.00000000000000000000000000001",
        ] {
            assert_eq!(
                parse_decimal(text),
                Err(DecimalError::OutOfRange {
                    text: text.to_owned()
                })
            );
        }
    }

    #[test]
    fn error_messages_name_the_text() {
        assert_eq!(
            parse_decimal("1e5").unwrap_err().to_string(),
            "\"1e5\" is not a plain decimal number (expected an optional sign, digits and an optional fraction, like -12.5)"
        );
    }
}
