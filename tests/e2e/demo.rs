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
    assert_eq!(
        report.baseline.as_deref().map(decimal),
        Some(Decimal::from(baseline))
    );
    assert_eq!(
        report.target.as_deref().map(decimal),
        Some(Decimal::from(target))
    );

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

/// Week `n` of Q1 1997 in UTC, Monday weeks: week 0 is the clipped first week, 1997-01-01 to
/// 1997-01-05 (the 1st is a Wednesday); week `n` starts on 1997-01-06 + 7 (n − 1) days.
fn week_of(date: chrono::NaiveDate) -> usize {
    let first_monday = chrono::NaiveDate::from_ymd_opt(1997, 1, 6).unwrap();
    usize::try_from((date - first_monday).num_days().div_euclid(7) + 1).unwrap()
}

/// The spend objective against sums taken straight from the file: revenue so far, the share
/// of weeks whose average order was $33 or more, and the milestones done by weight.
fn check_spend_objective(report: &Report, purchases: &[cdnow::Purchase]) {
    let end = chrono::NaiveDate::from_ymd_opt(1997, 4, 1).unwrap();
    // 1997-03-31 is a Monday: 13 whole or clipped weeks before it and one day after.
    let mut weeks = vec![(0u64, Decimal::ZERO); 14];
    for purchase in purchases.iter().filter(|purchase| purchase.date < end) {
        let week = &mut weeks[week_of(purchase.date)];
        week.0 += 1;
        week.1 += purchase.dollar_value;
    }
    let revenue: Decimal = weeks.iter().map(|(_, revenue)| *revenue).sum();
    // Each week's average order in cents, rounded half away from zero, against $33.00.
    let weeks_met = weeks
        .iter()
        .filter(|(orders, revenue)| {
            let average = (revenue / Decimal::from(*orders))
                .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
            average >= Decimal::from(33)
        })
        .count();

    let spend = &report.objectives[1];
    assert_eq!(spend.display_name, "Grow what new customers spend");
    let [revenue_kr, order_value, experiment] = &spend.key_results[..] else {
        panic!("three key results: {:?}", spend.key_results);
    };
    assert_eq!(
        (revenue_kr.kind, order_value.kind, experiment.kind),
        ("metric", "threshold", "milestones")
    );
    assert_eq!(revenue_kr.value.as_deref().map(decimal), Some(revenue));
    assert_eq!(
        decimal(revenue_kr.progress_raw.as_deref().unwrap()),
        revenue / Decimal::from(1_200_000)
    );
    // Below the $1.2M target when the cycle ended.
    assert!(revenue < Decimal::from(1_200_000));
    assert_eq!(revenue_kr.health, "missed");
    assert_eq!(
        decimal(order_value.progress_raw.as_deref().unwrap()).round_dp(20),
        (Decimal::from(weeks_met as u64) / Decimal::from(weeks.len() as u64)).round_dp(20)
    );
    // Weights 1 and 2 of 1 + 2 + 1 are done.
    assert_eq!(
        decimal(experiment.progress_raw.as_deref().unwrap()),
        decimal("0.75")
    );
    for key_result in &spend.key_results {
        assert!(
            !key_result.explanation.is_empty(),
            "{} explains its health",
            key_result.display_name
        );
    }

    // The history of revenue so far: one point per week, each the sum of the weeks up to it.
    let history = &report.history;
    assert_eq!(history.key_result, revenue_kr.name);
    let values: Vec<Option<Decimal>> = history
        .points
        .iter()
        .map(|point| point.value.as_deref().map(decimal))
        .collect();
    let running: Vec<Option<Decimal>> = weeks
        .iter()
        .scan(Decimal::ZERO, |so_far, (_, revenue)| {
            *so_far += revenue;
            Some(Some(*so_far))
        })
        .collect();
    assert_eq!(values, running);
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
    let discover = &report.objectives[0];
    assert_eq!(discover.evaluation_time, "1997-04-01T00:00:00Z");

    let key_results = &discover.key_results;
    assert_eq!(key_results.len(), 2);
    check_key_result(&key_results[0], activation, 30, 45);
    check_key_result(&key_results[1], retention, 10, 20);

    // Objective progress: the equally weighted mean of the clamped progress.
    let clamped = |report: &KeyResultReport| decimal(report.progress_clamped.as_deref().unwrap());
    let mean = (clamped(&key_results[0]) + clamped(&key_results[1])) / Decimal::TWO;
    assert_eq!(
        decimal(discover.progress.as_deref().unwrap()).round_dp(20),
        mean.round_dp(20)
    );
    assert_eq!(discover.health, "missed");

    check_spend_objective(&report, &purchases);

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
    for (again, first) in again.objectives.iter().zip(&report.objectives) {
        let values = |objective: &devokr_cli::report::ObjectiveReport| {
            objective
                .key_results
                .iter()
                .map(|kr| (kr.value.clone(), kr.progress_raw.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(values(again), values(first), "{}", first.display_name);
    }
    assert_eq!(again.history.points.len(), report.history.points.len());
    assert_eq!(again.roadmap.len(), 3);

    stack.stop().await.unwrap();
}
