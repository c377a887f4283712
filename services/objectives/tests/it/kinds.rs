//! Every key-result kind and unit over gRPC: creation, progress, zone, health with its
//! explanation, staleness by cadence, interim targets, updates of the new fields, closing
//! scores, and the field violations of bad definitions. Every expected number is worked out by
//! hand in the comments.
//!
//! The cycle is 1997-01-01 to 1997-03-31 in UTC: [1997-01-01T00:00Z, 1997-04-01T00:00Z), 90
//! days; at [`MID_CYCLE`] 45 days have passed, so the linear expected progress is 0.5 and on
//! track needs 0.95 × 0.5 = 0.475 (at risk from 0.75 × 0.5 = 0.375).

use devokr_proto::{objectives::v1 as pb, prost_types};
use tonic::Code;

use crate::{
    changes::{audited, get_key_result, update_key_result},
    check_ins::{MID_CYCLE, check_in, record, stack_with_objective, status_as_of, try_record},
    fixture::{
        Stack, TENANT, assert_error, assert_one_violation, dec, fields, read, timestamp,
        violated_fields, violations, wire,
    },
};

/// A metric key result that takes check-ins.
fn metric(baseline: &str, target: &str, unit: pb::Unit) -> pb::KeyResult {
    pb::KeyResult {
        display_name: format!("Move it from {baseline} to {target}"),
        kind: pb::KeyResultKind::Metric.into(),
        baseline: Some(wire(baseline)),
        target: Some(wire(target)),
        unit: unit.into(),
        ..Default::default()
    }
}

/// A threshold key result on CSAT (1 to 5) that must stay at least 4.0.
fn csat_at_least_4(scoring: pb::ThresholdScoring) -> pb::KeyResult {
    pb::KeyResult {
        display_name: "Keep CSAT at 4.0 or more".into(),
        kind: pb::KeyResultKind::Threshold.into(),
        unit: pb::Unit::Score.into(),
        score_min: Some(wire("1")),
        score_max: Some(wire("5")),
        threshold: Some(pb::Threshold {
            comparison: pb::Comparison::AtLeast.into(),
            low: Some(wire("4.0")),
            high: None,
            scoring: scoring.into(),
        }),
        ..Default::default()
    }
}

/// Creates key result `csat` under `objective`, scored by the share of its check-ins at least
/// 4.0, and records 4.2, 3.8 and 4.1, measured on 1 February: two of three pass.
async fn csat_share_with_ratings(stack: &Stack, objective: &str) -> pb::KeyResult {
    let csat = stack
        .create_key_result(
            objective,
            "csat",
            csat_at_least_4(pb::ThresholdScoring::ShareOfCheckIns),
        )
        .await;
    for (index, value) in ["4.2", "3.8", "4.1"].into_iter().enumerate() {
        record(
            stack,
            &csat.name,
            check_in(value, "1997-02-01T00:00:00Z", &format!("c{index}")),
        )
        .await;
    }
    csat
}

/// A key result of `kind` that needs no more than a title.
fn plain(kind: pb::KeyResultKind) -> pb::KeyResult {
    pb::KeyResult {
        display_name: format!("A {} key result", kind.as_str_name()),
        kind: kind.into(),
        ..Default::default()
    }
}

fn milestone(title: &str, weight: &str, done: bool) -> pb::Milestone {
    pb::Milestone {
        title: title.into(),
        weight: Some(wire(weight)),
        done,
    }
}

fn seconds(seconds: i64) -> prost_types::Duration {
    prost_types::Duration { seconds, nanos: 0 }
}

pub(crate) fn interim(time: &str, progress: &str) -> pb::InterimTarget {
    pb::InterimTarget {
        time: Some(timestamp(time)),
        progress: Some(wire(progress)),
    }
}

/// Records `check_in` on `key_result` with `request_id`, which must be refused for its value.
async fn assert_value_refused(
    stack: &Stack,
    key_result: &str,
    check_in: pb::CheckIn,
    request_id: &str,
) {
    let refused = try_record(stack, key_result, check_in, request_id)
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&refused), fields(&["check_in.value"]));
}

/// Updates the fields named by `paths` to the values in `key_result`, which must be refused
/// for `field` alone.
async fn assert_update_refused(
    stack: &Stack,
    key_result: pb::KeyResult,
    paths: &[&str],
    field: &str,
) {
    let refused = update_key_result(stack, key_result, Some(paths))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&refused), fields(&[field]), "{paths:?}");
}

/// The status judged at [`MID_CYCLE`].
async fn at_mid_cycle(stack: &Stack, key_result: &str) -> pb::KeyResultStatus {
    status_as_of(stack, key_result, Some(MID_CYCLE), None).await
}

fn raw(status: &pb::KeyResultStatus) -> devokr_domain::Decimal {
    read(status.progress.as_ref().expect("progress").raw.as_ref())
}

#[tokio::test]
async fn metric_key_results_in_every_unit_with_zones() {
    let (stack, objective) = stack_with_objective().await;

    // Time to first value from 120 s down to 60 s; at 90 s it is (90 − 120) / (60 − 120) = 0.5
    // of the way, against 0.5 expected: on track.
    let speed = stack
        .create_key_result(&objective, "speed", metric("120", "60", pb::Unit::Duration))
        .await;
    assert_eq!(speed.kind(), pb::KeyResultKind::Metric);
    assert_eq!(speed.unit(), pb::Unit::Duration);
    assert_eq!(speed.direction(), pb::Direction::Decrease);
    record(
        &stack,
        &speed.name,
        check_in("90", "1997-02-10T00:00:00Z", "s1"),
    )
    .await;
    let status = at_mid_cycle(&stack, &speed.name).await;
    assert_eq!(raw(&status), dec("0.5"));
    assert_eq!(status.health(), pb::Health::OnTrack);
    assert_eq!(status.kind(), pb::KeyResultKind::Metric);
    assert_eq!(status.unit(), pb::Unit::Duration);
    assert_eq!(
        status.progress.as_ref().unwrap().zone(),
        pb::Zone::Unspecified,
        "no commit or stretch level: no zone"
    );
    // A duration cannot be negative.
    assert_value_refused(
        &stack,
        &speed.name,
        check_in("-1", "1997-02-11T00:00:00Z", "s2"),
        "r-s2",
    )
    .await;

    // Revenue in euros from 1,000 to 2,000: 1,500.50 is 500.50 / 1,000 = 0.5005 of the way.
    let mut revenue = metric("1000", "2000", pb::Unit::Currency);
    revenue.currency_code = "EUR".into();
    let revenue = stack
        .create_key_result(&objective, "revenue", revenue)
        .await;
    assert_eq!(revenue.unit(), pb::Unit::Currency);
    assert_eq!(revenue.currency_code, "EUR");
    let fetched = get_key_result(&stack, &revenue.name).await;
    assert_eq!(fetched.currency_code, "EUR");
    record(
        &stack,
        &revenue.name,
        check_in("1500.50", "1997-02-10T00:00:00Z", "e1"),
    )
    .await;
    assert_eq!(
        raw(&at_mid_cycle(&stack, &revenue.name).await),
        dec("0.5005")
    );

    // Activation from 30 % to 50 % with commit 40 % and stretch 60 %. Progress is
    // (value − 30) / 20: 45 % → 0.75, past commit (0.5) short of target (1): the commit zone;
    // 55 % → 1.25: the target zone; 60 % → 1.5, the stretch level itself: the stretch zone.
    let mut leveled = metric("30", "50", pb::Unit::Percent);
    leveled.commit = Some(wire("40"));
    leveled.stretch = Some(wire("60"));
    let leveled = stack
        .create_key_result(&objective, "leveled", leveled)
        .await;
    assert_eq!(read(leveled.commit.as_ref()), dec("40"));
    assert_eq!(read(leveled.stretch.as_ref()), dec("60"));
    for (value, key, progress, zone, health) in [
        ("45", "l1", "0.75", pb::Zone::Commit, pb::Health::OnTrack),
        ("55", "l2", "1.25", pb::Zone::Target, pb::Health::Achieved),
        ("60", "l3", "1.5", pb::Zone::Stretch, pb::Health::Achieved),
    ] {
        record(
            &stack,
            &leveled.name,
            check_in(value, "1997-02-10T00:00:00Z", key),
        )
        .await;
        let status = at_mid_cycle(&stack, &leveled.name).await;
        assert_eq!(raw(&status), dec(progress), "{value}");
        assert_eq!(status.progress.as_ref().unwrap().zone(), zone, "{value}");
        assert_eq!(status.health(), health, "{value}");
    }
    let status = at_mid_cycle(&stack, &leveled.name).await;
    assert!(
        status
            .explanation
            .starts_with("in the stretch zone (commit 40.00 %, target 50.00 %, stretch 60.00 %); target reached: progress 1.50"),
        "{}",
        status.explanation
    );
    stack.stop().await;
}

#[tokio::test]
async fn threshold_key_results_score_the_share_or_the_latest_value() {
    let (stack, objective) = stack_with_objective().await;
    let share = stack
        .create_key_result(
            &objective,
            "csat-share",
            csat_at_least_4(pb::ThresholdScoring::ShareOfCheckIns),
        )
        .await;
    let latest = stack
        .create_key_result(
            &objective,
            "csat-latest",
            csat_at_least_4(pb::ThresholdScoring::Unspecified),
        )
        .await;
    assert_eq!(share.kind(), pb::KeyResultKind::Threshold);
    assert_eq!(share.baseline, None, "a threshold has no baseline");
    assert_eq!(
        latest.threshold.as_ref().unwrap().scoring(),
        pb::ThresholdScoring::LatestPassFail,
        "unspecified scoring is latest pass/fail"
    );
    assert_eq!(read(share.score_min.as_ref()), dec("1"));
    assert_eq!(read(share.score_max.as_ref()), dec("5"));

    // CSAT 4.2, 3.8, 4.1: two of three meet "at least 4.0", share 2/3; the latest (4.1) meets
    // it, so pass/fail gives 1.
    for (index, (value, measured)) in [
        ("4.2", "1997-01-10T00:00:00Z"),
        ("3.8", "1997-01-20T00:00:00Z"),
        ("4.1", "1997-02-01T00:00:00Z"),
    ]
    .into_iter()
    .enumerate()
    {
        for key_result in [&share.name, &latest.name] {
            record(
                &stack,
                key_result,
                check_in(value, measured, &format!("c{index}")),
            )
            .await;
        }
    }
    let status = at_mid_cycle(&stack, &share.name).await;
    assert_eq!(raw(&status), dec("2") / dec("3"));
    assert_eq!(status.kind(), pb::KeyResultKind::Threshold);
    assert_eq!(status.baseline, None);
    assert_eq!(status.health(), pb::Health::OnTrack, "0.67 against 0.5");
    assert!(
        status
            .explanation
            .starts_with("2 of 3 check-ins met at least 4 (1..5); progress 0.67 against 0.50"),
        "{}",
        status.explanation
    );
    let status = at_mid_cycle(&stack, &latest.name).await;
    assert_eq!(raw(&status), dec("1"));
    assert_eq!(status.health(), pb::Health::Achieved);
    assert!(
        status
            .explanation
            .starts_with("latest value 4.1 (1..5) meets at least 4 (1..5); target reached"),
        "{}",
        status.explanation
    );

    // A correction of 3.8 to 4.0 supersedes it: all three now meet the bound, share 1.
    let history = crate::check_ins::list_check_ins(&stack, &share.name).await;
    let mut correction = check_in("4.0", "1997-01-20T00:00:00Z", "fix");
    correction.supersedes = history[1].name.clone();
    record(&stack, &share.name, correction).await;
    assert_eq!(raw(&at_mid_cycle(&stack, &share.name).await), dec("1"));

    // A CSAT of 5.5 is outside 1..5: rejected, naming the value.
    let outside = try_record(
        &stack,
        &share.name,
        check_in("5.5", "1997-02-02T00:00:00Z", "bad"),
        "r-bad",
    )
    .await
    .unwrap_err();
    let found = violations(&outside);
    assert_eq!(found[0].0, "check_in.value");
    assert!(
        found[0].1.contains("outside the score range 1..5"),
        "{found:?}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn milestones_are_marked_done_by_an_audited_update() {
    let (stack, objective) = stack_with_objective().await;
    let mut checklist = plain(pb::KeyResultKind::Milestones);
    checklist.milestones = vec![
        milestone("Interview ten customers", "3", true),
        milestone("Prototype", "1", false),
        milestone("Pilot", "1", false),
    ];
    let checklist = stack
        .create_key_result(&objective, "checklist", checklist)
        .await;
    assert_eq!(checklist.unit(), pb::Unit::Number);
    assert_eq!(checklist.milestones.len(), 3);

    // Weights 3, 1, 1 with the first done: 3 / 5 = 0.6, against 0.5 expected: on track.
    let status = at_mid_cycle(&stack, &checklist.name).await;
    assert_eq!(raw(&status), dec("0.6"));
    assert_eq!(status.health(), pb::Health::OnTrack);
    assert!(
        status
            .explanation
            .starts_with("1 of 3 milestones done (weight 0.60); progress 0.60 against 0.50"),
        "{}",
        status.explanation
    );
    let version_before = status.version;

    // Marking the prototype done: (3 + 1) / 5 = 0.8. The etag changes, the change is audited
    // and published.
    let mut marked = checklist.milestones.clone();
    marked[1].done = true;
    let updated = update_key_result(
        &stack,
        pb::KeyResult {
            name: checklist.name.clone(),
            etag: checklist.etag.clone(),
            milestones: marked.clone(),
            ..Default::default()
        },
        Some(&["milestones"]),
    )
    .await
    .unwrap();
    assert!(updated.milestones[1].done);
    assert_ne!(updated.etag, checklist.etag);
    let status = at_mid_cycle(&stack, &checklist.name).await;
    assert_eq!(raw(&status), dec("0.8"));
    assert!(status.version > version_before, "the change is published");
    let events = audited(&stack, &checklist.name).await;
    let (action, _, change) = events.last().expect("an audit event");
    assert_eq!(action, "UpdateKeyResult");
    assert_eq!(change["fields"], serde_json::json!(["milestones"]));
    assert_eq!(change["definition"]["milestones"][1]["done"], true);

    // The old etag is stale: ABORTED, nothing changes.
    let stale = update_key_result(
        &stack,
        pb::KeyResult {
            name: checklist.name.clone(),
            etag: checklist.etag.clone(),
            milestones: checklist.milestones.clone(),
            ..Default::default()
        },
        Some(&["milestones"]),
    )
    .await
    .unwrap_err();
    assert_error(&stale, Code::Aborted, "CONCURRENT_CHANGE");
    assert_eq!(
        raw(&at_mid_cycle(&stack, &checklist.name).await),
        dec("0.8")
    );

    // Milestones take no check-ins, and a checklist of zero weights has no progress.
    assert_value_refused(
        &stack,
        &checklist.name,
        check_in("1", "1997-02-01T00:00:00Z", "m1"),
        "r-m1",
    )
    .await;
    let mut weightless = marked;
    for item in &mut weightless {
        item.weight = Some(wire("0"));
    }
    assert_update_refused(
        &stack,
        pb::KeyResult {
            name: checklist.name.clone(),
            milestones: weightless,
            ..Default::default()
        },
        &["milestones"],
        "key_result.milestones",
    )
    .await;
    stack.stop().await;
}

#[tokio::test]
async fn binary_and_manual_percent_take_only_their_values() {
    let (stack, objective) = stack_with_objective().await;
    let launch = stack
        .create_key_result(&objective, "launch", plain(pb::KeyResultKind::Binary))
        .await;
    let estimate = stack
        .create_key_result(
            &objective,
            "estimate",
            plain(pb::KeyResultKind::ManualPercent),
        )
        .await;
    assert_eq!(estimate.unit(), pb::Unit::Percent);

    assert_value_refused(
        &stack,
        &launch.name,
        check_in("0.5", "1997-02-01T00:00:00Z", "b0"),
        "r-b0",
    )
    .await;
    assert_value_refused(
        &stack,
        &estimate.name,
        check_in("101", "1997-02-01T00:00:00Z", "p0"),
        "r-p0",
    )
    .await;

    // Done: progress 1, achieved.
    record(
        &stack,
        &launch.name,
        check_in("1", "1997-02-01T00:00:00Z", "b1"),
    )
    .await;
    let status = at_mid_cycle(&stack, &launch.name).await;
    assert_eq!(raw(&status), dec("1"));
    assert_eq!(status.health(), pb::Health::Achieved);
    assert_eq!(status.kind(), pb::KeyResultKind::Binary);
    assert!(
        status.explanation.starts_with("done; "),
        "{}",
        status.explanation
    );

    // 40 % is progress 0.4: below 0.475, at or above 0.375, so at risk.
    record(
        &stack,
        &estimate.name,
        check_in("40", "1997-02-01T00:00:00Z", "p1"),
    )
    .await;
    let status = at_mid_cycle(&stack, &estimate.name).await;
    assert_eq!(raw(&status), dec("0.4"));
    assert_eq!(status.health(), pb::Health::AtRisk);
    assert!(
        status
            .explanation
            .starts_with("estimated 40.00 % done; progress 0.40 against 0.50"),
        "{}",
        status.explanation
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_value_older_than_cadence_and_grace_is_stale() {
    let (stack, objective) = stack_with_objective().await;
    // A value is due every 7 days and may be 1 day late: stale once older than 8 days.
    let mut weekly = metric("0", "100", pb::Unit::Number);
    weekly.update_cadence = Some(seconds(7 * 86_400));
    weekly.stale_grace = Some(seconds(86_400));
    let weekly = stack.create_key_result(&objective, "weekly", weekly).await;
    assert_eq!(weekly.update_cadence, Some(seconds(7 * 86_400)));
    assert_eq!(weekly.stale_grace, Some(seconds(86_400)));
    record(
        &stack,
        &weekly.name,
        check_in("50", "1997-02-05T00:00:00Z", "w1"),
    )
    .await;

    // Exactly 8 days later it is due but not overdue; expected 43 / 90 = 0.48, 0.5 on track.
    let fresh = status_as_of(&stack, &weekly.name, Some("1997-02-13T00:00:00Z"), None).await;
    assert_eq!(fresh.health(), pb::Health::OnTrack);
    // One second more is overdue.
    let late = status_as_of(&stack, &weekly.name, Some("1997-02-13T00:00:01Z"), None).await;
    assert_eq!(late.health(), pb::Health::Stale);
    // At mid-cycle the value is 10 days old.
    let stale = at_mid_cycle(&stack, &weekly.name).await;
    assert_eq!(stale.health(), pb::Health::Stale);
    assert_eq!(
        stale.explanation,
        "last value 10 days ago; expected every 7 days (+1 day grace)"
    );
    assert_eq!(
        raw(&stale),
        dec("0.5"),
        "the value is kept beside the verdict"
    );

    // Dropping the cadence by update makes the value count again.
    let updated = update_key_result(
        &stack,
        pb::KeyResult {
            name: weekly.name.clone(),
            etag: weekly.etag.clone(),
            ..Default::default()
        },
        Some(&["update_cadence", "stale_grace"]),
    )
    .await
    .unwrap();
    assert_eq!(updated.update_cadence, None);
    assert_eq!(
        at_mid_cycle(&stack, &weekly.name).await.health(),
        pb::Health::OnTrack
    );

    // A grace without a cadence, and a cadence of zero, are refused.
    let mut grace_only = metric("0", "100", pb::Unit::Number);
    grace_only.stale_grace = Some(seconds(60));
    let refused = stack
        .try_create_key_result(&objective, "grace", grace_only)
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&refused),
        fields(&["key_result.stale_grace"])
    );
    let mut zero = metric("0", "100", pb::Unit::Number);
    zero.update_cadence = Some(seconds(0));
    let refused = stack
        .try_create_key_result(&objective, "zero", zero)
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&refused),
        fields(&["key_result.update_cadence"])
    );
    stack.stop().await;
}

#[tokio::test]
async fn interim_targets_shape_the_expected_progress() {
    let (stack, objective) = stack_with_objective().await;
    // 10 % by 31 January (day 30) and 30 % by 2 March (day 60). Mid-cycle (15 February) is 15
    // of the 30 days between them: expected 0.1 + (0.3 − 0.1) × 15 / 30 = 0.2.
    let mut phased = metric("0", "100", pb::Unit::Number);
    phased.interim_targets = vec![
        interim("1997-01-31T00:00:00Z", "0.1"),
        interim("1997-03-02T00:00:00Z", "0.3"),
    ];
    let phased = stack.create_key_result(&objective, "phased", phased).await;
    assert_eq!(phased.interim_targets.len(), 2);
    record(
        &stack,
        &phased.name,
        check_in("20", "1997-02-10T00:00:00Z", "p1"),
    )
    .await;
    let status = at_mid_cycle(&stack, &phased.name).await;
    assert_eq!(read(status.expected_progress.as_ref()), dec("0.2"));
    assert_eq!(status.health(), pb::Health::OnTrack, "0.2 against 0.2");

    // Back to the linear curve: 0.2 against 0.5 is below 0.375, off track.
    update_key_result(
        &stack,
        pb::KeyResult {
            name: phased.name.clone(),
            ..Default::default()
        },
        Some(&["interim_targets"]),
    )
    .await
    .unwrap();
    let status = at_mid_cycle(&stack, &phased.name).await;
    assert_eq!(read(status.expected_progress.as_ref()), dec("0.5"));
    assert_eq!(status.health(), pb::Health::OffTrack);

    // Outside the cycle, and falling, are refused with the index of the bad target.
    assert_update_refused(
        &stack,
        pb::KeyResult {
            name: phased.name.clone(),
            interim_targets: vec![interim("1997-04-01T00:00:00Z", "0.5")],
            ..Default::default()
        },
        &["interim_targets"],
        "key_result.interim_targets[0].time",
    )
    .await;
    assert_update_refused(
        &stack,
        pb::KeyResult {
            name: phased.name.clone(),
            interim_targets: vec![
                interim("1997-01-31T00:00:00Z", "0.4"),
                interim("1997-03-02T00:00:00Z", "0.3"),
            ],
            ..Default::default()
        },
        &["interim_targets"],
        "key_result.interim_targets[1].progress",
    )
    .await;
    stack.stop().await;
}

#[tokio::test]
async fn bad_definitions_name_their_fields_and_store_nothing() {
    let (stack, objective) = stack_with_objective().await;
    let mut nps = metric("-100", "150", pb::Unit::Score);
    nps.score_min = Some(wire("-100"));
    nps.score_max = Some(wire("100"));
    let mut unknown_currency = metric("0", "10", pb::Unit::Currency);
    unknown_currency.currency_code = "eur".into();
    let mut commit_outside = metric("30", "50", pb::Unit::Percent);
    commit_outside.commit = Some(wire("55"));
    let mut stretch_short = metric("30", "50", pb::Unit::Percent);
    stretch_short.stretch = Some(wire("45"));
    let mut at_least_with_high = csat_at_least_4(pb::ThresholdScoring::LatestPassFail);
    at_least_with_high.threshold.as_mut().unwrap().high = Some(wire("5"));
    let mut empty_between = csat_at_least_4(pb::ThresholdScoring::LatestPassFail);
    empty_between.threshold = Some(pb::Threshold {
        comparison: pb::Comparison::Between.into(),
        low: Some(wire("4")),
        high: Some(wire("3")),
        scoring: 0,
    });
    let mut threshold_outside_range = csat_at_least_4(pb::ThresholdScoring::LatestPassFail);
    threshold_outside_range.threshold.as_mut().unwrap().low = Some(wire("6"));
    let mut untitled = plain(pb::KeyResultKind::Milestones);
    untitled.milestones = vec![milestone(" ", "1", false)];
    let mut bound_binary = plain(pb::KeyResultKind::Binary);
    bound_binary.metric_binding = Some(pb::MetricBinding {
        metric: "tenants/acme/metrics/activation".into(),
    });
    let mut binary_in_euros = plain(pb::KeyResultKind::Binary);
    binary_in_euros.unit = pb::Unit::Currency.into();
    binary_in_euros.currency_code = "EUR".into();
    let mut threshold_with_target = csat_at_least_4(pb::ThresholdScoring::LatestPassFail);
    threshold_with_target.target = Some(wire("4"));
    let mut no_threshold = csat_at_least_4(pb::ThresholdScoring::LatestPassFail);
    no_threshold.threshold = None;
    let binding = Some(pb::MetricBinding {
        metric: "tenants/acme/metrics/activation".into(),
    });
    let mut bound_with_cadence = metric("30", "45", pb::Unit::Percent);
    bound_with_cadence.metric_binding.clone_from(&binding);
    bound_with_cadence.update_cadence = Some(seconds(86_400));
    let mut percent_with_range = metric("0", "10", pb::Unit::Percent);
    percent_with_range.score_max = Some(wire("10"));
    let mut bound_duration = metric("120", "60", pb::Unit::Duration);
    bound_duration.metric_binding = binding;

    for (key_result, field, says) in [
        (
            metric("5", "5", pb::Unit::Number),
            "key_result.target",
            "threshold",
        ),
        (
            nps,
            "key_result.target",
            "outside the score range -100..100",
        ),
        (unknown_currency, "key_result.currency_code", "ISO 4217"),
        (commit_outside, "key_result.commit", "strictly between"),
        (stretch_short, "key_result.stretch", "beyond target"),
        (at_least_with_high, "key_result.threshold.high", "low only"),
        (empty_between, "key_result.threshold.high", "low below high"),
        (
            threshold_outside_range,
            "key_result.threshold.low",
            "outside the score range 1..5",
        ),
        (untitled, "key_result.milestones[0].title", ""),
        (
            plain(pb::KeyResultKind::Milestones),
            "key_result.milestones",
            "at least one",
        ),
        (
            bound_binary,
            "key_result.metric_binding.metric",
            "only METRIC and THRESHOLD",
        ),
        (binary_in_euros, "key_result.unit", "leave unit unset"),
        (
            threshold_with_target,
            "key_result.target",
            "only METRIC key results",
        ),
        (no_threshold, "key_result.threshold", "required"),
        (
            percent_with_range,
            "key_result.score_max",
            "UNIT_SCORE only",
        ),
        (
            bound_with_cadence,
            "key_result.update_cadence",
            "bound to a metric",
        ),
        (
            bound_duration,
            "key_result.metric_binding.metric",
            "UNIT_PERCENT or UNIT_NUMBER",
        ),
    ] {
        let refused = stack
            .try_create_key_result(&objective, "bad", key_result)
            .await
            .unwrap_err();
        assert_one_violation(&refused, field, says);
    }
    assert!(
        stack.key_result_names(&objective).await.is_empty(),
        "nothing was stored"
    );
    stack.stop().await;
}

#[tokio::test]
async fn closing_the_cycle_scores_every_kind() {
    let (stack, objective) = stack_with_objective().await;
    let share = csat_share_with_ratings(&stack, &objective).await;
    let mut checklist = plain(pb::KeyResultKind::Milestones);
    checklist.milestones = vec![
        milestone("a", "3", true),
        milestone("b", "1", false),
        milestone("c", "1", false),
    ];
    let checklist = stack
        .create_key_result(&objective, "checklist", checklist)
        .await;
    let estimate = stack
        .create_key_result(
            &objective,
            "estimate",
            plain(pb::KeyResultKind::ManualPercent),
        )
        .await;
    record(
        &stack,
        &estimate.name,
        check_in("34", "1997-03-01T00:00:00Z", "e1"),
    )
    .await;
    stack
        .activate_and_close_cycle(&format!("{TENANT}/cycles/q1-1997"))
        .await;
    // Share 2/3 = 0.67 rounds to 0.7; milestones 3/5 = 0.6; 34 % is 0.34, rounded to 0.3.
    for (key_result, score) in [
        (&share.name, "0.7"),
        (&checklist.name, "0.6"),
        (&estimate.name, "0.3"),
    ] {
        let scored = get_key_result(&stack, key_result).await;
        assert_eq!(read(scored.score.as_ref()), dec(score), "{key_result}");
    }
    stack.stop().await;
}

#[tokio::test]
async fn update_mask_changes_levels_and_bounds_with_etags() {
    let (stack, objective) = stack_with_objective().await;
    let leveled = stack
        .create_key_result(&objective, "leveled", metric("30", "50", pb::Unit::Percent))
        .await;
    record(
        &stack,
        &leveled.name,
        check_in("45", "1997-02-10T00:00:00Z", "l1"),
    )
    .await;
    assert_eq!(
        at_mid_cycle(&stack, &leveled.name)
            .await
            .progress
            .unwrap()
            .zone(),
        pb::Zone::Unspecified
    );

    // Commit 46 %: 45 % (progress 0.75) is short of its progress 0.8, below the commit zone.
    let with_commit = update_key_result(
        &stack,
        pb::KeyResult {
            name: leveled.name.clone(),
            etag: leveled.etag.clone(),
            commit: Some(wire("46")),
            ..Default::default()
        },
        Some(&["commit"]),
    )
    .await
    .unwrap();
    assert_eq!(read(with_commit.commit.as_ref()), dec("46"));
    assert_eq!(
        at_mid_cycle(&stack, &leveled.name)
            .await
            .progress
            .unwrap()
            .zone(),
        pb::Zone::BelowCommit
    );
    // The etag read before the change is stale now.
    let stale = update_key_result(
        &stack,
        pb::KeyResult {
            name: leveled.name.clone(),
            etag: leveled.etag.clone(),
            ..Default::default()
        },
        Some(&["commit"]),
    )
    .await
    .unwrap_err();
    assert_error(&stale, Code::Aborted, "CONCURRENT_CHANGE");
    // Named in the mask and left unset, the commit level is removed: no zone again.
    let cleared = update_key_result(
        &stack,
        pb::KeyResult {
            name: leveled.name.clone(),
            etag: with_commit.etag.clone(),
            ..Default::default()
        },
        Some(&["commit"]),
    )
    .await
    .unwrap();
    assert_eq!(cleared.commit, None);
    assert_eq!(
        at_mid_cycle(&stack, &leveled.name)
            .await
            .progress
            .unwrap()
            .zone(),
        pb::Zone::Unspecified
    );
    // A target moved below the commit level is checked with the levels: with commit 46 back,
    // target 40 leaves it outside 30..40.
    assert_update_refused(
        &stack,
        pb::KeyResult {
            name: leveled.name.clone(),
            commit: Some(wire("46")),
            target: Some(wire("40")),
            ..Default::default()
        },
        &["commit", "target"],
        "key_result.commit",
    )
    .await;

    // A threshold's bound moves from at least 4.0 to between 4.15 and 5: of 4.2, 3.8, 4.1 only
    // 4.2 stays inside, share 1/3.
    let csat = csat_share_with_ratings(&stack, &objective).await;
    let between = update_key_result(
        &stack,
        pb::KeyResult {
            name: csat.name.clone(),
            etag: csat.etag.clone(),
            threshold: Some(pb::Threshold {
                comparison: pb::Comparison::Between.into(),
                low: Some(wire("4.15")),
                high: Some(wire("5")),
                scoring: pb::ThresholdScoring::ShareOfCheckIns.into(),
            }),
            ..Default::default()
        },
        Some(&["threshold"]),
    )
    .await
    .unwrap();
    assert_eq!(
        between.threshold.as_ref().unwrap().comparison(),
        pb::Comparison::Between
    );
    assert_eq!(
        raw(&at_mid_cycle(&stack, &csat.name).await),
        dec("1") / dec("3")
    );
    // A threshold cannot be removed, nor can a threshold key result take a baseline.
    for (key_result, paths, field) in [
        (
            pb::KeyResult {
                name: csat.name.clone(),
                ..Default::default()
            },
            &["threshold"][..],
            "key_result.threshold",
        ),
        (
            pb::KeyResult {
                name: csat.name.clone(),
                baseline: Some(wire("3")),
                ..Default::default()
            },
            &["baseline"][..],
            "key_result.baseline",
        ),
    ] {
        assert_update_refused(&stack, key_result, paths, field).await;
    }
    assert_eq!(
        get_key_result(&stack, &csat.name).await.etag,
        between.etag,
        "refused updates change nothing"
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_threshold_key_result_can_follow_a_metric() {
    // The status tests' events: activation over the cycle is 1 of 4 users, 25 %.
    let (stack, metric, objective) = crate::status::stack_with_events().await;
    let mut floor = csat_at_least_4(pb::ThresholdScoring::LatestPassFail);
    floor.unit = pb::Unit::Percent.into();
    floor.score_min = None;
    floor.score_max = None;
    floor.threshold.as_mut().unwrap().low = Some(wire("20"));
    floor.metric_binding = Some(pb::MetricBinding {
        metric: metric.clone(),
    });
    let floor = stack.create_key_result(&objective, "floor", floor).await;
    let status = at_mid_cycle(&stack, &floor.name).await;
    let value = status.value.as_ref().expect("the metric's value");
    assert_eq!(read(value.value.as_ref()), dec("25"));
    assert_eq!((value.numerator, value.denominator), (1, 4));
    // 25 % meets at least 20 %: progress 1.
    assert_eq!(raw(&status), dec("1"));
    assert_eq!(status.health(), pb::Health::Achieved);
    assert!(
        status
            .explanation
            .starts_with("latest value 25.00 % meets at least 20.00 %"),
        "{}",
        status.explanation
    );
    stack.stop().await;
}
