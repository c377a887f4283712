use chrono::{DateTime, Duration, Utc};
use devokr_cli::{
    demo::{self, Clients},
    import::vendored_cdnow,
    report::{KeyResultReport, Report},
    stack::{Addresses, Stack},
};
use devokr_domain::{
    Decimal, Tz, cdnow,
    decimal::parse_decimal,
    metric_reference::{Ratio, activation_rate, calendar_retention},
};
use devokr_platform::testing::TestDatabase;

struct NoProgress;

impl demo::Progress for NoProgress {
    fn step(&self, _what: &str) {}
    fn imported(&self, _done: usize, _total: usize) {}
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn decimal(text: &str) -> Decimal {
    parse_decimal(text).unwrap()
}

async fn run_demo(stack: &Stack, cdnow_text: &str) -> Report {
    let clients = Clients::connect(&stack.addresses).unwrap();
    demo::run(&clients, cdnow_text, &NoProgress).await.unwrap()
}

/// Checks one key result of the report against a reference ratio and its targets, with
/// progress worked out here from the formula `(value − baseline) / (target − baseline)`.
fn check_key_result(report: &KeyResultReport, reference: Ratio, baseline: i64, target: i64) {
    assert_eq!(
        report.numerator,
        Some(reference.numerator as i64),
        "{}",
        report.display_name
    );
    assert_eq!(
        report.denominator,
        Some(reference.denominator as i64),
        "{}",
        report.display_name
    );
    let percent = Decimal::from(reference.numerator) * Decimal::ONE_HUNDRED
        / Decimal::from(reference.denominator);
    let value = decimal(report.value.as_deref().unwrap());
    assert_eq!(
        value.round_dp(20),
        percent.round_dp(20),
        "{}",
        report.display_name
    );
    assert_eq!(decimal(&report.baseline), Decimal::from(baseline));
    assert_eq!(decimal(&report.target), Decimal::from(target));

    let raw = (percent - Decimal::from(baseline)) / Decimal::from(target - baseline);
    assert_eq!(
        decimal(report.progress_raw.as_deref().unwrap()).round_dp(20),
        raw.round_dp(20)
    );
    let clamped = raw.clamp(Decimal::ZERO, Decimal::ONE);
    assert_eq!(
        decimal(report.progress_clamped.as_deref().unwrap()).round_dp(20),
        clamped.round_dp(20)
    );
    // Judged at the cycle's end and below target: missed, and it says so.
    assert!(percent < Decimal::from(target));
    assert_eq!(report.health, "missed");
    assert!(
        report.explanation.contains("target not reached"),
        "{}",
        report.explanation
    );
}

#[tokio::test]
async fn demo_on_cdnow_matches_the_reference_and_defers_unlinked_work() {
    let database = TestDatabase::create().await.unwrap();
    let stack = Stack::start(
        Some(database.url().to_owned()),
        Addresses::any_free(),
        |_| {},
    )
    .await
    .unwrap();
    let cdnow_text = vendored_cdnow().unwrap();

    let report = run_demo(&stack, &cdnow_text).await;

    // The reference, straight from the file.
    let (purchases, malformed) = cdnow::parse(&cdnow_text);
    assert!(malformed.is_empty());
    let events = cdnow::purchase_events(&purchases);
    let (start, end) = (
        instant("1997-01-01T00:00:00Z"),
        instant("1997-04-01T00:00:00Z"),
    );
    let activation = activation_rate(
        &events,
        "purchase",
        "purchase",
        start,
        end,
        Duration::days(90),
    );
    let retention = calendar_retention(&events, "purchase", "purchase", start, end, Tz::UTC, 1);
    // Every customer of the file made a first purchase in Q1 1997 (data/README).
    assert_eq!(activation.denominator, 23_570);
    assert_eq!(retention.denominator, 23_570);

    assert_eq!(report.import.rows, purchases.len());
    assert_eq!(report.import.stored, purchases.len() as u64);
    assert!(report.import.skipped.is_empty());
    assert_eq!(report.cycle.start_time, "1997-01-01T00:00:00Z");
    assert_eq!(report.cycle.end_time, "1997-04-01T00:00:00Z");
    assert_eq!(report.objective.evaluation_time, "1997-04-01T00:00:00Z");

    let key_results = &report.objective.key_results;
    assert_eq!(key_results.len(), 2);
    check_key_result(&key_results[0], activation, 30, 45);
    check_key_result(&key_results[1], retention, 10, 20);

    // Objective progress: the equally weighted mean of the clamped progress.
    let clamped = |report: &KeyResultReport| decimal(report.progress_clamped.as_deref().unwrap());
    let mean = (clamped(&key_results[0]) + clamped(&key_results[1])) / Decimal::TWO;
    assert_eq!(
        decimal(report.objective.progress.as_deref().unwrap()).round_dp(20),
        mean.round_dp(20)
    );
    assert_eq!(report.objective.health, "missed");

    // The roadmap: two planned items tied to their key result, one deferred with the reason.
    let items: Vec<_> = report
        .roadmap
        .iter()
        .map(|item| {
            (
                item.display_name.as_str(),
                item.state,
                item.key_results.len(),
            )
        })
        .collect();
    assert_eq!(
        items,
        [
            (
                "Recommend a next CD right after the first purchase",
                "planned",
                1
            ),
            (
                "Welcome-back email three weeks after the first order",
                "planned",
                1
            ),
            ("Redesign the logo", "deferred", 0),
        ]
    );
    assert_eq!(report.roadmap[0].key_results[0], key_results[0].name);
    assert_eq!(report.roadmap[1].key_results[0], key_results[1].name);
    let reason = report.roadmap[2].deferral_reason.as_deref().unwrap();
    assert!(reason.starts_with("linked to no key result"), "{reason}");
    assert!(report.roadmap[0].deferral_reason.is_none());

    // Running it again stores nothing twice and gives the same values.
    let again = run_demo(&stack, &cdnow_text).await;
    assert_eq!(again.import.stored, 0);
    assert_eq!(again.import.duplicates, purchases.len() as u64);
    assert_eq!(again.objective.key_results[0].value, key_results[0].value);
    assert_eq!(again.objective.key_results[1].value, key_results[1].value);
    assert_eq!(again.roadmap.len(), 3);

    stack.stop().await.unwrap();
}
