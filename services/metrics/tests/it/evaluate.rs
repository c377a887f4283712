//! EvaluateMetric on hand-built events, against values worked by hand and the reference.

use chrono::Duration;
use devokr_domain::{
    Tz,
    metric_reference::{UserEvent, activation_rate, calendar_retention},
};

use crate::support::{
    Service, activation, assert_value, at, create_metric, evaluate, event, ingest_all, ratio,
    retention, to_wire,
};

const JAN: &str = "2026-01-01T00:00:00Z";
const FEB: &str = "2026-02-01T00:00:00Z";
const SEVEN_DAYS: i64 = 7 * 24 * 3600;

/// Purchases and sign-ups of tenant acme, with the edge cases of activation:
///
/// purchase → purchase within 7 days, window January 2026 (UTC):
/// - a: first Jan 5 10:00, again Jan 12 10:00 = exactly first + 7 days → activated.
/// - b: two purchases at the same instant, Jan 6 09:00, and nothing else → not activated.
/// - c: first Jan 10 10:00, again Jan 17 10:00:01, one second too late → not activated.
/// - d: first Dec 20 (before the window), again Jan 8 and Jan 9 → not in the population.
/// - e: first Jan 31 23:00, again Feb 2 (after the window, which is fine) → activated.
/// - f: first Feb 1 00:00, the window's end → not in the population.
/// - g: only a page view → not in the population.
///
/// Population {a, b, c, e} = 4, activated {a, e} = 2: 0.5. With `within` one second shorter,
/// a's repeat is too late: 1 / 4 = 0.25.
///
/// signup → activated within 7 days, window January 2026:
/// - p: signup Jan 3 10:00, activated Jan 4 → activated.
/// - q: activated Jan 2, then signup Jan 3, nothing after → not activated.
/// - r: signup Jan 5, then a purchase (not the activation event) Jan 6 → not activated. r's
///   first purchase was on 2025-11-06, so r is not in January's purchase population either.
/// - s: signups Jan 2 and Jan 9, activated Jan 12: 10 days after the first-ever signup → not.
/// - t: signup and activation at the same instant, Jan 20 12:00 → not activated.
///
/// Population {p, q, r, s, t} = 5, activated {p} = 1: 0.2.
fn acme_events() -> Vec<UserEvent> {
    vec![
        event("a", "purchase", "2026-01-05T10:00:00Z"),
        event("a", "purchase", "2026-01-12T10:00:00Z"),
        event("b", "purchase", "2026-01-06T09:00:00Z"),
        event("b", "purchase", "2026-01-06T09:00:00Z"),
        event("c", "purchase", "2026-01-10T10:00:00Z"),
        event("c", "purchase", "2026-01-17T10:00:01Z"),
        event("d", "purchase", "2025-12-20T10:00:00Z"),
        event("d", "purchase", "2026-01-08T10:00:00Z"),
        event("d", "purchase", "2026-01-09T10:00:00Z"),
        event("e", "purchase", "2026-01-31T23:00:00Z"),
        event("e", "purchase", "2026-02-02T08:00:00Z"),
        event("f", "purchase", "2026-02-01T00:00:00Z"),
        event("f", "purchase", "2026-02-01T00:00:01Z"),
        event("g", "page_view", "2026-01-03T00:00:00Z"),
        event("p", "signup", "2026-01-03T10:00:00Z"),
        event("p", "activated", "2026-01-04T10:00:00Z"),
        event("q", "activated", "2026-01-02T10:00:00Z"),
        event("q", "signup", "2026-01-03T10:00:00Z"),
        event("r", "signup", "2026-01-05T10:00:00Z"),
        event("r", "purchase", "2025-11-06T10:00:00Z"),
        event("r", "purchase", "2026-01-06T10:00:00Z"),
        event("s", "signup", "2026-01-09T00:00:00Z"),
        event("s", "signup", "2026-01-02T00:00:00Z"),
        event("s", "activated", "2026-01-12T00:00:00Z"),
        event("t", "signup", "2026-01-20T12:00:00Z"),
        event("t", "activated", "2026-01-20T12:00:00Z"),
    ]
}

#[tokio::test]
async fn activation_rate_edge_cases_match_hand_and_reference() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    let events = acme_events();
    // Stored newest first, in two batches, so that nothing depends on arrival order.
    let mut reversed = to_wire(&events, "acme");
    reversed.reverse();
    let later = reversed.split_off(10);
    ingest_all(&mut client, "acme", reversed).await;
    ingest_all(&mut client, "acme", later).await;
    // Another tenant's events, with the same user ids, must not count: they would activate b
    // and add z to the population.
    let other = [
        event("b", "purchase", "2026-01-07T09:00:00Z"),
        event("z", "purchase", "2026-01-15T00:00:00Z"),
        event("q", "activated", "2026-01-04T00:00:00Z"),
    ];
    ingest_all(&mut client, "other", to_wire(&other, "other")).await;

    let repeat = create_metric(
        &mut client,
        "acme",
        "repeat",
        activation("purchase", "purchase", SEVEN_DAYS),
    )
    .await;
    let repeat_shorter = create_metric(
        &mut client,
        "acme",
        "repeat-shorter",
        activation("purchase", "purchase", SEVEN_DAYS - 1),
    )
    .await;
    let activated = create_metric(
        &mut client,
        "acme",
        "activated",
        activation("signup", "activated", SEVEN_DAYS),
    )
    .await;

    let reference = |start: &str, activation_event: &str, within: i64, from: &str, to: &str| {
        activation_rate(
            &events,
            start,
            activation_event,
            at(from),
            at(to),
            Duration::seconds(within),
        )
    };
    let cases = [
        (
            &repeat,
            ("purchase", "purchase", SEVEN_DAYS),
            ratio(2, 4),
            Some("0.5"),
        ),
        (
            &repeat_shorter,
            ("purchase", "purchase", SEVEN_DAYS - 1),
            ratio(1, 4),
            Some("0.25"),
        ),
        (
            &activated,
            ("signup", "activated", SEVEN_DAYS),
            ratio(1, 5),
            Some("0.2"),
        ),
    ];
    for (metric, (start, activation_event, within), by_hand, value_text) in cases {
        assert_eq!(
            reference(start, activation_event, within, JAN, FEB),
            by_hand,
            "{}",
            metric.name
        );
        let value = evaluate(&mut client, &metric.name, JAN, FEB, "").await;
        assert_value(&value, by_hand, value_text);
    }

    // The value says what was evaluated.
    let value = evaluate(&mut client, &repeat.name, JAN, FEB, "").await;
    assert_eq!(value.metric, "tenants/acme/metrics/repeat");
    assert_eq!(value.start_time, Some(crate::support::ts(JAN)));
    assert_eq!(value.end_time, Some(crate::support::ts(FEB)));
    assert_eq!(value.time_zone, "UTC");
    let evaluated = value.evaluate_time.expect("evaluate_time").seconds;
    assert!(
        (chrono::Utc::now().timestamp() - evaluated).abs() < 60,
        "evaluate_time is now"
    );

    // Jan 8 to Jan 10: d purchased in it, but d's first purchase was in December, so the
    // population is empty: undefined, never 0.
    let (from, to) = ("2026-01-08T00:00:00Z", "2026-01-10T00:00:00Z");
    assert_eq!(
        reference("purchase", "purchase", SEVEN_DAYS, from, to),
        ratio(0, 0)
    );
    let value = evaluate(&mut client, &repeat.name, from, to, "").await;
    assert_value(&value, ratio(0, 0), None);
    // A window with no events at all.
    let value = evaluate(
        &mut client,
        &repeat.name,
        "2026-12-01T00:00:00Z",
        "2027-01-01T00:00:00Z",
        "",
    )
    .await;
    assert_value(&value, ratio(0, 0), None);
    // December 2025: d alone, whose next purchase is 19 days later: 0 / 1 is 0, defined.
    let (from, to) = ("2025-12-01T00:00:00Z", JAN);
    assert_eq!(
        reference("purchase", "purchase", SEVEN_DAYS, from, to),
        ratio(0, 1)
    );
    let value = evaluate(&mut client, &repeat.name, from, to, "").await;
    assert_value(&value, ratio(0, 1), Some("0"));
    // r's purchase in November makes r a purchase cohort member of November, and r bought
    // again in January, two months later: 0 / 1.
    let (from, to) = ("2025-11-01T00:00:00Z", "2025-12-01T00:00:00Z");
    assert_eq!(
        reference("purchase", "purchase", SEVEN_DAYS, from, to),
        ratio(0, 1)
    );
    let value = evaluate(&mut client, &repeat.name, from, to, "").await;
    assert_value(&value, ratio(0, 1), Some("0"));
    service.stop().await;
}

/// signup → login, window = January in New York, [2026-01-01T05:00Z, 2026-02-01T05:00Z)
/// (EST is UTC−5 until March 8, then EDT is UTC−4):
/// - a: signup Jan 10; login 2026-02-01T03:00Z = Jan 31 22:00 in New York.
/// - b: signup Jan 15; login 2026-03-01T03:00Z = Feb 28 22:00 in New York.
/// - c: signup 2026-02-01T03:00Z = Jan 31 22:00 in New York (in the window); login Feb 15.
/// - d: signup 2026-01-01T03:00Z, before the window (Dec 31 in New York) → not in it.
/// - e: signup Jan 20; login 2026-04-01T04:30Z = April 1 00:30 EDT (March 31 23:30 with a
///   wrong, fixed UTC−5 offset).
///
/// Population {a, b, c, e} = 4 in any zone. Months of (first, login):
///
/// | user | UTC          | New York     |
/// |------|--------------|--------------|
/// | a    | Jan, Feb (1) | Jan, Jan (0) |
/// | b    | Jan, Mar (2) | Jan, Feb (1) |
/// | c    | Feb, Feb (0) | Jan, Feb (1) |
/// | e    | Jan, Apr (3) | Jan, Apr (3) |
///
/// Month 1: UTC {a} 1/4, New York {b, c} 2/4. Month 2: UTC {b} 1/4, New York none 0/4.
/// Month 3: {e} 1/4 in both.
fn retention_events() -> Vec<UserEvent> {
    vec![
        event("a", "signup", "2026-01-10T15:00:00Z"),
        event("a", "login", "2026-02-01T03:00:00Z"),
        event("b", "signup", "2026-01-15T12:00:00Z"),
        event("b", "login", "2026-03-01T03:00:00Z"),
        event("c", "signup", "2026-02-01T03:00:00Z"),
        event("c", "login", "2026-02-15T12:00:00Z"),
        event("d", "signup", "2026-01-01T03:00:00Z"),
        event("d", "login", "2026-02-10T12:00:00Z"),
        event("e", "signup", "2026-01-20T12:00:00Z"),
        event("e", "login", "2026-04-01T04:30:00Z"),
    ]
}

#[tokio::test]
async fn calendar_retention_counts_months_in_the_evaluation_time_zone() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    let events = retention_events();
    ingest_all(&mut client, "acme", to_wire(&events, "r")).await;
    let (from, to) = ("2026-01-01T05:00:00Z", "2026-02-01T05:00:00Z");
    let new_york: Tz = "America/New_York".parse().expect("a zone");

    let cases = [
        (1, Tz::UTC, ratio(1, 4), "0.25"),
        (1, new_york, ratio(2, 4), "0.5"),
        (2, Tz::UTC, ratio(1, 4), "0.25"),
        (2, new_york, ratio(0, 4), "0"),
        (3, Tz::UTC, ratio(1, 4), "0.25"),
        (3, new_york, ratio(1, 4), "0.25"),
    ];
    for (months_after, _, _, _) in cases.iter().step_by(2) {
        create_metric(
            &mut client,
            "acme",
            &format!("month-{months_after}"),
            retention("signup", "login", *months_after),
        )
        .await;
    }
    for (months_after, zone, by_hand, value_text) in cases {
        let reference = calendar_retention(
            &events,
            "signup",
            "login",
            at(from),
            at(to),
            zone,
            months_after as u32,
        );
        assert_eq!(
            reference, by_hand,
            "reference, month {months_after} in {zone}"
        );
        let name = format!("tenants/acme/metrics/month-{months_after}");
        let value = evaluate(&mut client, &name, from, to, zone.name()).await;
        assert_eq!(value.time_zone, zone.name());
        assert_value(&value, by_hand, Some(value_text));
    }

    // Zones with other offsets (half hours, 45 minutes, east of UTC, southern DST) agree
    // with the reference too.
    for zone in [
        "Asia/Tokyo",
        "Asia/Kolkata",
        "Pacific/Chatham",
        "Australia/Lord_Howe",
        "Europe/Berlin",
        "America/St_Johns",
    ] {
        let tz: Tz = zone.parse().expect("a zone");
        for months_after in 1..=3 {
            let reference = calendar_retention(
                &events,
                "signup",
                "login",
                at(from),
                at(to),
                tz,
                months_after,
            );
            let value = evaluate(
                &mut client,
                &format!("tenants/acme/metrics/month-{months_after}"),
                from,
                to,
                zone,
            )
            .await;
            let text = reference.value().map(|value| value.to_string());
            assert_value(&value, reference, text.as_deref());
        }
    }
    service.stop().await;
}

/// Every time zone a caller may name is one the service can evaluate in: none of them may
/// end in an internal error.
#[tokio::test]
async fn every_accepted_time_zone_can_be_evaluated() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    let events = retention_events();
    ingest_all(&mut client, "acme", to_wire(&events, "r")).await;
    create_metric(
        &mut client,
        "acme",
        "month-1",
        retention("signup", "login", 1),
    )
    .await;
    let (from, to) = ("2026-01-01T05:00:00Z", "2026-02-01T05:00:00Z");
    let mut failures = Vec::new();
    for tz in chrono_tz::TZ_VARIANTS {
        let request = devokr_proto::metrics::v1::EvaluateMetricRequest {
            name: "tenants/acme/metrics/month-1".into(),
            start_time: Some(crate::support::ts(from)),
            end_time: Some(crate::support::ts(to)),
            time_zone: tz.name().into(),
        };
        match client.evaluate_metric(request).await {
            Ok(value) => {
                let value = value.into_inner();
                let reference =
                    calendar_retention(&events, "signup", "login", at(from), at(to), tz, 1);
                if (value.numerator, value.denominator)
                    != (reference.numerator as i64, reference.denominator as i64)
                {
                    failures.push(format!(
                        "{}: {}/{} but the reference says {reference:?}",
                        tz.name(),
                        value.numerator,
                        value.denominator
                    ));
                }
            }
            Err(status) => failures.push(format!("{}: {status:?}", tz.name())),
        }
    }
    assert_eq!(failures, Vec::<String>::new());
    service.stop().await;
}
