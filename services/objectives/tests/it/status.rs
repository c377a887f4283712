//! GetKeyResultStatus and GetObjectiveStatus on small hand-built events, with every expected
//! number worked out by hand below (and the counts cross-checked with the plain-Rust reference
//! formulas of `devokr_domain::metric_reference`).

use chrono::{Duration, Utc};
use devokr_domain::{
    Decimal,
    metric_reference::{Ratio, activation_rate},
};
use devokr_proto::objectives::v1 as pb;

use tonic::Code;
use tonic_types::StatusExt;

use crate::{
    check_ins::{check_in, manual_key_result, record, stack_with_objective, value_of},
    fixture::{
        Stack, assert_error, dec, from_timestamp, instant, percent_key_result, read,
        reference_events, timestamp, violated_fields,
    },
};

/// The cycle: 1997-01-01 to 1997-03-31 in UTC, that is [1997-01-01T00:00Z, 1997-04-01T00:00Z),
/// 31 + 28 + 31 = 90 days.
const CYCLE_START: &str = "1997-01-01T00:00:00Z";
const CYCLE_END: &str = "1997-04-01T00:00:00Z";
/// 31 + 14 = 45 of the 90 days elapsed: expected progress exactly 0.5, on day 46.
const MID_CYCLE: &str = "1997-02-15T00:00:00Z";

/// Activation ("purchase" again within 90 days of the first purchase) over the cycle:
/// population u1, u2, u3, u4 (first purchase in the cycle), activated u1 only: 1 of 4, 25 %.
const EVENTS: &[(&str, &str, &str)] = &[
    // u1: first purchase in the cycle, the next 27 days later: activated.
    ("u1", "purchase", "1997-01-05T10:00:00Z"),
    ("u1", "purchase", "1997-02-01T10:00:00Z"),
    // u2: a single purchase.
    ("u2", "purchase", "1997-01-10T10:00:00Z"),
    // u3: back one second after the 90 days (first + 90 days = 1997-05-21T10:00:00Z).
    ("u3", "purchase", "1997-02-20T10:00:00Z"),
    ("u3", "purchase", "1997-05-21T10:00:01Z"),
    // u4: in the last second of the cycle, twice at the same instant: not strictly after.
    ("u4", "purchase", "1997-03-31T23:59:59Z"),
    ("u4", "purchase", "1997-03-31T23:59:59Z"),
    // u5: first purchase one second before the cycle: not in the population.
    ("u5", "purchase", "1996-12-31T23:59:59Z"),
    ("u5", "purchase", "1997-01-15T10:00:00Z"),
    // u6: first purchase at the cycle's end, which is excluded: not in the population.
    ("u6", "purchase", "1997-04-01T00:00:00Z"),
    ("u6", "purchase", "1997-04-02T00:00:00Z"),
    // u7: never purchased.
    ("u7", "page_view", "1997-01-20T00:00:00Z"),
];

/// The events' activation as the reference formulas compute it, which must be the 1 of 4
/// worked out by hand above.
fn check_reference() {
    let reference = activation_rate(
        &reference_events(EVENTS),
        "purchase",
        "purchase",
        instant(CYCLE_START),
        instant(CYCLE_END),
        Duration::days(90),
    );
    assert_eq!(
        reference,
        Ratio {
            numerator: 1,
            denominator: 4
        }
    );
}

/// A stack with the events, the activation metric, the cycle and objective `growth`.
pub(crate) async fn stack_with_events() -> (Stack, String, String) {
    check_reference();
    let stack = Stack::start().await;
    stack.ingest(EVENTS).await;
    let metric = stack
        .create_activation_metric("activation", "purchase", "purchase", 90)
        .await;
    let cycle = stack
        .create_cycle("q1-1997", "1997-01-01", "1997-03-31", "UTC")
        .await;
    let objective = stack.create_objective("growth", &cycle.name).await;
    (stack, metric, objective.name)
}

async fn status(stack: &Stack, key_result: &str, at: Option<&str>) -> pb::KeyResultStatus {
    stack
        .client()
        .get_key_result_status(pb::GetKeyResultStatusRequest {
            name: key_result.into(),
            evaluation_time: at.map(timestamp),
            read_time: None,
        })
        .await
        .expect("status answers")
        .into_inner()
}

#[tokio::test]
async fn a_value_below_baseline_is_missed_at_the_end_and_off_track_mid_cycle() {
    let (stack, metric, objective) = stack_with_events().await;
    let started = Utc::now();
    let key_result = stack
        .create_key_result(
            &objective,
            "activation",
            percent_key_result("30", "45", &metric),
        )
        .await;

    // Judged at the end of the cycle.
    let at_end = status(&stack, &key_result.name, Some(CYCLE_END)).await;
    assert_eq!(at_end.key_result, key_result.name);
    let value = at_end.value.as_ref().expect("a value");
    // 1 of 4 is 0.25, shown in percent as 25.
    assert_eq!(read(value.value.as_ref()), dec("25"));
    assert_eq!((value.numerator, value.denominator), (1, 4));
    // Read from the metrics service when the key result was created.
    let computed = from_timestamp(value.evaluate_time.as_ref());
    assert!(started <= computed && computed <= Utc::now(), "{computed}");
    assert_eq!(read(at_end.baseline.as_ref()), dec("30"));
    assert_eq!(read(at_end.target.as_ref()), dec("45"));
    assert_eq!(at_end.unit(), pb::Unit::Percent);
    // (25 − 30) / (45 − 30) = −5/15 = −1/3: exact decimal division, no float artefacts.
    let progress = at_end.progress.as_ref().expect("progress");
    let minus_one_third = (Decimal::from(-1) / Decimal::from(3)).normalize();
    assert_eq!(read(progress.raw.as_ref()), minus_one_third);
    assert!(
        progress
            .raw
            .as_ref()
            .unwrap()
            .value
            .starts_with("-0.33333333333333333333")
    );
    assert_eq!(read(progress.clamped.as_ref()), Decimal::ZERO);
    assert!(progress.below_baseline);
    assert!(!progress.target_met);
    assert!(!progress.over_achieved);
    assert_eq!(progress.formula_version, 1);
    assert_eq!(read(at_end.expected_progress.as_ref()), Decimal::ONE);
    assert_eq!(at_end.health(), pb::Health::Missed);
    assert!(!at_end.explanation.trim().is_empty());
    assert!(
        at_end.explanation.contains("not reached"),
        "{}",
        at_end.explanation
    );
    assert_eq!(
        from_timestamp(at_end.evaluation_time.as_ref()),
        instant(CYCLE_END)
    );

    // Judged half way: expected 0.5; clamped progress 0 is below 0.75 × 0.5 = 0.375.
    let mid = status(&stack, &key_result.name, Some(MID_CYCLE)).await;
    assert_eq!(read(mid.expected_progress.as_ref()), dec("0.5"));
    assert_eq!(mid.health(), pb::Health::OffTrack);
    assert!(
        mid.explanation.contains("day 46 of 90"),
        "{}",
        mid.explanation
    );
    assert!(
        mid.explanation.contains("0.50 expected"),
        "{}",
        mid.explanation
    );
    assert_eq!(
        from_timestamp(mid.evaluation_time.as_ref()),
        instant(MID_CYCLE)
    );

    // Without an evaluation time it is judged now, long after this 1997 cycle ended.
    let before = Utc::now();
    let now = status(&stack, &key_result.name, None).await;
    let judged_at = from_timestamp(now.evaluation_time.as_ref());
    assert!(
        before <= judged_at && judged_at <= Utc::now(),
        "{judged_at}"
    );
    assert_eq!(now.health(), pb::Health::Missed);

    stack.stop().await;
}

#[tokio::test]
async fn health_follows_the_pace_bands() {
    let (stack, metric, objective) = stack_with_events().await;
    // The value is 25 % for every key result; half of the cycle is expected (0.5), so on track
    // needs 0.95 × 0.5 = 0.475 and at risk needs 0.75 × 0.5 = 0.375.
    // (25 − 20) / (30 − 20) = 0.5 ≥ 0.475: on track.
    let on_track = stack
        .create_key_result(
            &objective,
            "on-track",
            percent_key_result("20", "30", &metric),
        )
        .await;
    // (25 − 20) / (32 − 20) = 5/12 = 0.4166…, in [0.375, 0.475): at risk.
    let at_risk = stack
        .create_key_result(
            &objective,
            "at-risk",
            percent_key_result("20", "32", &metric),
        )
        .await;
    // (25 − 24) / (34 − 24) = 0.1 < 0.375: off track.
    let off_track = stack
        .create_key_result(
            &objective,
            "off-track",
            percent_key_result("24", "34", &metric),
        )
        .await;
    // (25 − 10) / (20 − 10) = 1.5: past the target.
    let achieved = stack
        .create_key_result(
            &objective,
            "achieved",
            percent_key_result("10", "20", &metric),
        )
        .await;
    // Decreasing, 40 → 20: (25 − 40) / (20 − 40) = 0.75 ≥ 0.475: on track.
    let decreasing = stack
        .create_key_result(
            &objective,
            "decreasing",
            percent_key_result("40", "20", &metric),
        )
        .await;

    let cases = [
        (&on_track, dec("0.5"), dec("0.5"), pb::Health::OnTrack),
        (
            &at_risk,
            Decimal::from(5) / Decimal::from(12),
            Decimal::from(5) / Decimal::from(12),
            pb::Health::AtRisk,
        ),
        (&off_track, dec("0.1"), dec("0.1"), pb::Health::OffTrack),
        (&achieved, dec("1.5"), Decimal::ONE, pb::Health::Achieved),
        (&decreasing, dec("0.75"), dec("0.75"), pb::Health::OnTrack),
    ];
    for (key_result, raw, clamped, health) in cases {
        let mid = status(&stack, &key_result.name, Some(MID_CYCLE)).await;
        let progress = mid.progress.as_ref().expect("progress");
        assert_eq!(
            read(progress.raw.as_ref()),
            raw.normalize(),
            "{}",
            key_result.name
        );
        assert_eq!(
            read(progress.clamped.as_ref()),
            clamped.normalize(),
            "{}",
            key_result.name
        );
        assert_eq!(read(mid.expected_progress.as_ref()), dec("0.5"));
        assert_eq!(
            mid.health(),
            health,
            "{}: {}",
            key_result.name,
            mid.explanation
        );
        // 15 February 00:00 is 45 of the 90 days in (expected 0.50), on day 46 counting
        // 1 January as day 1; a key result past its target says so instead.
        if health != pb::Health::Achieved {
            assert!(
                mid.explanation
                    .contains("against 0.50 expected at day 46 of 90"),
                "{}",
                mid.explanation
            );
        }
    }

    let achieved_mid = status(&stack, &achieved.name, Some(MID_CYCLE)).await;
    let progress = achieved_mid.progress.unwrap();
    assert!(progress.target_met && progress.over_achieved && !progress.below_baseline);
    // Reached is reached, also once the cycle is over; short of the target it is missed.
    let after_end = status(&stack, &achieved.name, Some(CYCLE_END)).await;
    assert_eq!(after_end.health(), pb::Health::Achieved);
    let after_end = status(&stack, &on_track.name, Some(CYCLE_END)).await;
    assert_eq!(after_end.health(), pb::Health::Missed);

    stack.stop().await;
}

#[tokio::test]
async fn an_empty_population_has_no_data_not_zero() {
    let (stack, _, objective) = stack_with_events().await;
    // Nobody signed up, so the population of this metric is empty.
    let metric = stack
        .create_activation_metric("signup-activation", "signup", "purchase", 30)
        .await;
    let key_result = stack
        .create_key_result(
            &objective,
            "signups",
            percent_key_result("30", "45", &metric),
        )
        .await;

    let mid = status(&stack, &key_result.name, Some(MID_CYCLE)).await;
    let value = mid.value.as_ref().expect("the value was read");
    assert_eq!(value.value, None, "an empty population has no value, not 0");
    assert_eq!((value.numerator, value.denominator), (0, 0));
    assert_eq!(mid.progress, None);
    assert_eq!(mid.health(), pb::Health::NoData);
    assert!(
        mid.explanation.contains("population is empty"),
        "{}",
        mid.explanation
    );
    // Also after the end: no data is not a miss.
    let at_end = status(&stack, &key_result.name, Some(CYCLE_END)).await;
    assert_eq!(at_end.health(), pb::Health::NoData);

    // An objective whose only key result has no data has no progress and no data.
    let objective_status = stack
        .client()
        .get_objective_status(pb::GetObjectiveStatusRequest {
            name: objective,
            evaluation_time: Some(timestamp(MID_CYCLE)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(objective_status.progress, None);
    assert_eq!(objective_status.health(), pb::Health::NoData);
    assert_eq!(objective_status.key_results.len(), 1);

    stack.stop().await;
}

#[tokio::test]
async fn objective_status_is_the_weighted_mean_and_the_worst_health_then_stale_without_metrics() {
    let (mut stack, metric, objective) = stack_with_events().await;
    let weighted = |baseline: &str, target: &str, metric: &str, weight: &str| {
        let mut key_result = percent_key_result(baseline, target, metric);
        key_result.weight = Some(crate::fixture::wire(weight));
        key_result
    };
    // Weight 1, clamped progress 5/12, at risk at mid cycle (see `health_follows_the_pace_bands`).
    let at_risk = stack
        .create_key_result(&objective, "at-risk", weighted("20", "32", &metric, "1"))
        .await;
    // Weight 3, clamped progress 0.75, on track.
    let heavy = stack
        .create_key_result(&objective, "heavy", weighted("40", "20", &metric, "3"))
        .await;
    // Weight 1, no data: left out of both the mean and the health.
    let empty_metric = stack
        .create_activation_metric("signup-activation", "signup", "purchase", 30)
        .await;
    let no_data = stack
        .create_key_result(
            &objective,
            "no-data",
            weighted("30", "45", &empty_metric, "1"),
        )
        .await;

    let status = stack
        .client()
        .get_objective_status(pb::GetObjectiveStatusRequest {
            name: objective.clone(),
            evaluation_time: Some(timestamp(MID_CYCLE)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.objective, objective);
    // (1 × 5/12 + 3 × 3/4) / (1 + 3) = (5/12 + 27/12) / 4 = 32/48 = 2/3. Counting the no-data
    // key result as 0 would give (32/12) / 5 = 8/15; an unweighted mean (5/12 + 3/4) / 2 = 7/12.
    let progress = read(status.progress.as_ref());
    let two_thirds = Decimal::from(2) / Decimal::from(3);
    assert_eq!(progress.round_dp(20), two_thirds.round_dp(20), "{progress}");
    // The worst of at risk and on track, ignoring no data.
    assert_eq!(
        status.health(),
        pb::Health::AtRisk,
        "{}",
        status.explanation
    );
    assert!(!status.explanation.trim().is_empty());
    let children: Vec<(&str, pb::Health)> = status
        .key_results
        .iter()
        .map(|child| (child.key_result.as_str(), child.health()))
        .collect();
    assert_eq!(
        children,
        [
            (at_risk.name.as_str(), pb::Health::AtRisk),
            (heavy.name.as_str(), pb::Health::OnTrack),
            (no_data.name.as_str(), pb::Health::NoData),
        ]
    );

    // The metrics service goes away: within moments every bound key result is stale, with
    // the reason, and shows the last value it had, never a silent zero.
    let before = stack
        .client()
        .get_objective_status(pb::GetObjectiveStatusRequest {
            name: objective.clone(),
            evaluation_time: Some(timestamp(MID_CYCLE)),
        })
        .await
        .unwrap()
        .into_inner();
    stack.stop_metrics().await;
    let mut stale = pb::KeyResultStatus::default();
    for _ in 0..100 {
        stale = stack
            .client()
            .get_key_result_status(pb::GetKeyResultStatusRequest {
                name: heavy.name.clone(),
                evaluation_time: Some(timestamp(MID_CYCLE)),
                read_time: None,
            })
            .await
            .expect("a stale status is an answer, not an error")
            .into_inner();
        if stale.health() == pb::Health::Stale {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(stale.health(), pb::Health::Stale, "{}", stale.explanation);
    assert!(
        stale.explanation.contains("could not be read"),
        "{}",
        stale.explanation
    );
    assert!(
        stale.data_problem.contains("metrics service"),
        "{}",
        stale.data_problem
    );
    let last_known = stale.value.as_ref().expect("the last value is still shown");
    // 1 of 4 users activated: 25 %, as before the metrics service went away.
    assert_eq!(read(last_known.value.as_ref()), dec("25"));
    // What is known without the metric is still there.
    assert_eq!(read(stale.baseline.as_ref()), dec("40"));
    assert_eq!(read(stale.expected_progress.as_ref()), dec("0.5"));

    // The key results are marked stale one after the other: wait for the last.
    let mut status = pb::ObjectiveStatus::default();
    for _ in 0..100 {
        status = stack
            .client()
            .get_objective_status(pb::GetObjectiveStatusRequest {
                name: objective.clone(),
                evaluation_time: Some(timestamp(MID_CYCLE)),
            })
            .await
            .expect("objective status answers without metrics")
            .into_inner();
        if status
            .key_results
            .iter()
            .all(|child| child.health() == pb::Health::Stale)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status.health(), pb::Health::Stale, "{}", status.explanation);
    // Progress still says where the last values stood.
    assert_eq!(status.progress, before.progress);
    let children: Vec<pb::Health> = status
        .key_results
        .iter()
        .map(|child| child.health())
        .collect();
    // Even the key result with no data is stale now: whether it has data cannot be known.
    assert_eq!(
        children,
        [pb::Health::Stale, pb::Health::Stale, pb::Health::Stale]
    );

    // Creating a key result needs the metrics service to check its metric: retryable, and
    // nothing is stored meanwhile.
    let status = stack
        .try_create_key_result(&objective, "later", percent_key_result("30", "45", &metric))
        .await
        .unwrap_err();
    assert_error(&status, Code::Unavailable, "DEPENDENCY_UNAVAILABLE");
    assert!(
        status.get_error_details().retry_info().is_some(),
        "{status:?}"
    );
    assert_eq!(stack.key_result_names(&objective).await.len(), 3);

    stack.stop().await;
}

#[tokio::test]
async fn a_status_read_takes_a_known_name_as_written_and_checks_any_other_text() {
    let (stack, objective) = stack_with_objective().await;
    let key_result = stack
        .create_key_result(&objective, "retention", manual_key_result("10", "20"))
        .await
        .name;
    record(
        &stack,
        &key_result,
        check_in("12", "1997-01-20T00:00:00Z", "r-1"),
    )
    .await;
    let get = |name: String| {
        let mut client = stack.client();
        async move {
            client
                .get_key_result_status(pb::GetKeyResultStatusRequest {
                    name,
                    evaluation_time: Some(timestamp(MID_CYCLE)),
                    read_time: None,
                })
                .await
                .map(tonic::Response::into_inner)
        }
    };
    // Twice: loaded on the first read (or already by the check-in), from the index after.
    for _ in 0..2 {
        let status = get(key_result.clone()).await.expect("a status");
        assert_eq!(status.key_result, key_result);
        assert_eq!(value_of(&status), dec("12"));
        // (12 - 10) / (20 - 10) = 0.2.
        let progress = status.progress.expect("progress");
        assert_eq!(read(progress.raw.as_ref()), dec("0.2"));
    }
    // Text that is not a key result's name is rejected as such, even while the index holds
    // the key result it resembles; a well-formed name of no key result is not found.
    for bad in [
        String::new(),
        format!("{key_result}/"),
        format!(" {key_result}"),
        format!("{key_result}/checkIns/1"),
        objective.clone(),
    ] {
        let status = get(bad.clone()).await.expect_err("not a name");
        assert_eq!(
            violated_fields(&status),
            ["name".to_owned()].into(),
            "{bad:?}"
        );
    }
    let missing = get(format!("{objective}/keyResults/missing"))
        .await
        .expect_err("no such key result");
    assert_error(&missing, Code::NotFound, "RESOURCE_NOT_FOUND");
    stack.stop().await;
}

#[tokio::test]
async fn a_current_status_read_again_at_other_instants_is_judged_afresh_at_each() {
    let (stack, objective) = stack_with_objective().await;
    let key_result = stack
        .create_key_result(&objective, "retention", manual_key_result("10", "20"))
        .await
        .name;
    record(
        &stack,
        &key_result,
        check_in("12", "1997-01-20T00:00:00Z", "r-1"),
    )
    .await;
    // GetKeyResultStatus keeps the wire form of the first read and fills in, per read, what
    // depends on the instant; BatchGetKeyResultStatus builds every status whole. Both must
    // say the same at every instant, the first read's included.
    let get = |at: &'static str| {
        let mut client = stack.client();
        let name = key_result.clone();
        async move {
            client
                .get_key_result_status(pb::GetKeyResultStatusRequest {
                    name,
                    evaluation_time: Some(timestamp(at)),
                    read_time: None,
                })
                .await
                .expect("a status")
                .into_inner()
        }
    };
    let batch = |at: &'static str| {
        let mut client = stack.client();
        let name = key_result.clone();
        async move {
            let results = client
                .batch_get_key_result_status(pb::BatchGetKeyResultStatusRequest {
                    parent: crate::fixture::TENANT.into(),
                    names: vec![name],
                    evaluation_time: Some(timestamp(at)),
                })
                .await
                .expect("a batch")
                .into_inner()
                .results;
            match results.into_iter().next().and_then(|result| result.result) {
                Some(pb::key_result_status_result::Result::Status(status)) => status,
                other => panic!("expected a status, got {other:?}"),
            }
        }
    };
    // Progress (12 − 10) / (20 − 10) = 0.2 throughout. Expected progress: 45 of the 90
    // days at mid-cycle, 0.5; 9 of 90 on 10 January, 0.1; 1 once the cycle has ended, which
    // it did below target: missed.
    let instants = [
        (MID_CYCLE, "0.5"),
        ("1997-01-10T00:00:00Z", "0.1"),
        ("1997-04-01T00:00:00Z", "1"),
        (MID_CYCLE, "0.5"),
    ];
    let mut explanations = Vec::new();
    for (at, expected) in instants {
        let status = get(at).await;
        assert_eq!(status, batch(at).await, "at {at}");
        assert_eq!(from_timestamp(status.evaluation_time.as_ref()), instant(at));
        assert_eq!(
            read(status.expected_progress.as_ref()),
            dec(expected),
            "at {at}"
        );
        assert_eq!(
            read(
                status
                    .progress
                    .as_ref()
                    .and_then(|progress| progress.raw.as_ref())
            ),
            dec("0.2")
        );
        explanations.push(status.explanation);
    }
    assert_eq!(
        get("1997-04-01T00:00:00Z").await.health(),
        pb::Health::Missed
    );
    // Each instant has its own explanation; the same instant, the same one.
    assert_ne!(explanations[0], explanations[1]);
    assert_ne!(explanations[1], explanations[2]);
    assert_eq!(explanations[0], explanations[3]);
    stack.stop().await;
}
