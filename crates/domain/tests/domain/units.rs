//! Units: which values are possible and how they are shown.

use devokr_domain::units::{CurrencyCode, Unit, UnitError};

use crate::support::dec;

fn eur() -> Unit {
    Unit::Currency(CurrencyCode::parse("EUR").unwrap())
}

#[test]
fn nps_is_minus_100_to_100() {
    let nps = Unit::nps();
    for ok in ["-100", "0", "42.5", "100"] {
        assert_eq!(nps.check_value(dec(ok)), Ok(()), "{ok}");
    }
    let error = nps.check_value(dec("101")).unwrap_err();
    assert_eq!(
        error,
        UnitError::ScoreOutOfRange {
            value: dec("101"),
            min: dec("-100"),
            max: dec("100"),
        }
    );
    assert_eq!(
        error.to_string(),
        "101 is outside the score range -100..100; record a score from -100 to 100"
    );
    assert!(nps.check_value(dec("-100.5")).is_err());
}

#[test]
fn csat_is_1_to_5() {
    let csat = Unit::csat();
    assert_eq!(
        csat.check_value(dec("0")),
        Err(UnitError::ScoreOutOfRange {
            value: dec("0"),
            min: dec("1"),
            max: dec("5"),
        })
    );
    for ok in ["1", "4.5", "5"] {
        assert_eq!(csat.check_value(dec(ok)), Ok(()), "{ok}");
    }
    assert!(csat.check_value(dec("5.01")).is_err());
    assert_eq!(Unit::score(dec("1"), dec("5")), Ok(csat));
}

#[test]
fn score_ranges_must_not_be_empty() {
    assert_eq!(
        Unit::score(dec("5"), dec("1")),
        Err(UnitError::EmptyScoreRange {
            min: dec("5"),
            max: dec("1")
        })
    );
    assert!(Unit::score(dec("1"), dec("1.0")).is_err());
    assert_eq!(
        Unit::score(dec("5"), dec("1")).unwrap_err().to_string(),
        "a score range needs its minimum below its maximum, got 5..1"
    );
}

#[test]
fn currency_codes_are_active_iso_4217_codes() {
    let euro = CurrencyCode::parse("EUR").unwrap();
    assert_eq!((euro.as_str(), euro.minor_units()), ("EUR", 2));
    assert_eq!(euro.to_string(), "EUR");
    assert_eq!("JPY".parse::<CurrencyCode>().unwrap().minor_units(), 0);
    assert_eq!(CurrencyCode::parse("KWD").unwrap().minor_units(), 3);
    assert_eq!(CurrencyCode::parse("CLF").unwrap().minor_units(), 4);
    // The Caribbean guilder replaced the Netherlands Antillean guilder in 2025.
    assert!(CurrencyCode::parse("XCG").is_ok());
    for rejected in [
        "EURO", "eur", "Eur", "ABC", "", "EU", " EUR", "ANG", "HRK", "XXX", "XAU",
    ] {
        assert_eq!(
            CurrencyCode::parse(rejected),
            Err(UnitError::UnknownCurrency {
                code: rejected.to_owned()
            }),
            "{rejected:?}"
        );
    }
    assert_eq!(
        CurrencyCode::parse("eur").unwrap_err().to_string(),
        "\"eur\" is not an active ISO 4217 currency code; use the three capital letters of a current currency, like \"EUR\""
    );
}

#[test]
fn durations_cannot_be_negative() {
    assert_eq!(Unit::Duration.check_value(dec("0")), Ok(()));
    assert_eq!(
        Unit::Duration.check_value(dec("-1")),
        Err(UnitError::NegativeDuration { value: dec("-1") })
    );
    assert_eq!(
        Unit::Duration
            .check_value(dec("-1"))
            .unwrap_err()
            .to_string(),
        "duration -1 seconds is negative; a duration is zero or more seconds"
    );
    // Percent, number and currency take any value, negative included.
    for unit in [Unit::Percent, Unit::Number, eur()] {
        assert_eq!(unit.check_value(dec("-250.75")), Ok(()));
    }
}

#[test]
fn formats_percent_number_and_currency() {
    assert_eq!(Unit::Percent.format(dec("45")), "45.00 %");
    // 12.345 → 12.35 (half away from zero).
    assert_eq!(Unit::Percent.format(dec("12.345")), "12.35 %");
    assert_eq!(Unit::Percent.format(dec("-0.004")), "0.00 %");
    assert_eq!(Unit::Percent.format(dec("1234.5")), "1,234.50 %");

    assert_eq!(Unit::Number.format(dec("1234.5")), "1,234.5");
    assert_eq!(Unit::Number.format(dec("1000")), "1,000");
    assert_eq!(Unit::Number.format(dec("0.125")), "0.13");
    assert_eq!(Unit::Number.format(dec("-0.001")), "0");
    assert_eq!(Unit::Number.format(dec("-0.125")), "-0.13");
    // 999,999.995 rounds up to a million.
    assert_eq!(Unit::Number.format(dec("999999.995")), "1,000,000");
    assert_eq!(Unit::Number.format(dec("123")), "123");

    assert_eq!(eur().format(dec("1234.5")), "1,234.50 EUR");
    assert_eq!(eur().format(dec("-1234567.891")), "-1,234,567.89 EUR");
    let yen = Unit::Currency(CurrencyCode::parse("JPY").unwrap());
    assert_eq!(yen.format(dec("1234.5")), "1,235 JPY");
    let dinar = Unit::Currency(CurrencyCode::parse("KWD").unwrap());
    assert_eq!(dinar.format(dec("0.1235")), "0.124 KWD");
}

#[test]
fn formats_durations_with_two_units() {
    for (seconds, text) in [
        ("0", "0 s"),
        ("0.25", "0.25 s"),
        ("45", "45 s"),
        // 59.996 s shows as 60.00 s, which is a minute.
        ("59.996", "1 min"),
        ("90", "1 min 30 s"),
        ("3600", "1 h"),
        // 3,599.6 s rounds to 3,600 s, exactly an hour.
        ("3599.6", "1 h"),
        // 3 d 4 h = 259,200 + 14,400 = 273,600 s.
        ("273600", "3 d 4 h"),
        // 3 d 4 h 29 min 59 s = 275,399 s = 76.4997 h → 76 h.
        ("275399", "3 d 4 h"),
        // 3 d 4 h 30 min = 275,400 s = 76.5 h → 77 h (half away from zero).
        ("275400", "3 d 5 h"),
        // 23 h 59 min 59 s: 1,439.98 min → 1,440 min = 1 d.
        ("86399", "1 d"),
        // 1,234 days.
        ("106617600", "1,234 d"),
        ("-90", "-1 min 30 s"),
    ] {
        assert_eq!(Unit::Duration.format(dec(seconds)), text, "{seconds} s");
    }
}

#[test]
fn formats_scores_with_their_range() {
    assert_eq!(Unit::nps().format(dec("42")), "42 (-100..100)");
    assert_eq!(Unit::nps().format(dec("-7.5")), "-7.5 (-100..100)");
    assert_eq!(Unit::csat().format(dec("4.256")), "4.26 (1..5)");
}

#[test]
fn units_name_themselves() {
    assert_eq!(Unit::Percent.to_string(), "percent");
    assert_eq!(Unit::Number.to_string(), "number");
    assert_eq!(eur().to_string(), "EUR");
    assert_eq!(Unit::Duration.to_string(), "seconds");
    assert_eq!(Unit::nps().to_string(), "score -100..100");
}
