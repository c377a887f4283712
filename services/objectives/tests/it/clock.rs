//! Health that changes with the clock and with the tenant's pace bands reaches watchers as a
//! normal change with a version, published once, and audited as made by the service.

use std::time::Duration;

use chrono::{Days, TimeDelta, Utc};
use devokr_domain::Decimal;
use devokr_proto::objectives::v1::{self as pb, watch_key_result_status_response::Event};

use crate::{
    check_ins::{manual_key_result, record, status_as_of},
    fixture::{REJUDGE_INTERVAL_SECS, Stack, from_timestamp, wire},
    settings::set_on_track_ratio,
    watch::{Selection, Watcher, open_watch},
};

/// The key result's target: values this large make progress fine-grained enough to place
/// the instant its pace falls behind within a microsecond.
const TARGET: i64 = 1_000_000;

/// A key result from 0 to [`TARGET`] that takes check-ins.
fn pace_key_result() -> pb::KeyResult {
    manual_key_result("0", &TARGET.to_string())
}

/// A stack with a three-day cycle around now (yesterday to tomorrow, UTC) and `key_result` in
/// it; returns the key result's name and the cycle's first instant.
async fn stack_with_current_key_result(
    key_result: pb::KeyResult,
) -> (Stack, String, chrono::DateTime<Utc>) {
    let stack = Stack::start().await;
    let today = Utc::now().date_naive();
    let (yesterday, tomorrow) = (today - Days::new(1), today + Days::new(1));
    let cycle = stack
        .create_cycle("now", &yesterday.to_string(), &tomorrow.to_string(), "UTC")
        .await;
    let objective = stack.create_objective("growth", &cycle.name).await;
    let key_result = stack
        .create_key_result(&objective.name, "pace", key_result)
        .await;
    let start = from_timestamp(cycle.start_time.as_ref());
    (stack, key_result.name, start)
}

/// The expected progress at `at` of the three-day cycle starting at `start`, exactly as the
/// linear curve has it: elapsed microseconds over the cycle's microseconds.
fn expected_at(start: chrono::DateTime<Utc>, at: chrono::DateTime<Utc>) -> Decimal {
    let micros = |span: TimeDelta| Decimal::from(span.num_microseconds().unwrap());
    micros(at - start) / micros(TimeDelta::days(3))
}

/// Records `progress` × [`TARGET`] (rounded up to 6 places) measured now.
async fn record_progress(stack: &Stack, key_result: &str, progress: Decimal, key: &str) {
    let value = (progress * Decimal::from(TARGET))
        .round_dp_with_strategy(6, rust_decimal::RoundingStrategy::AwayFromZero);
    record(
        stack,
        key_result,
        pb::CheckIn {
            value: Some(wire(&value.to_string())),
            idempotency_key: key.into(),
            ..Default::default()
        },
    )
    .await;
}

/// Opens a watch of `key_result` once its latest change is published.
async fn watch(stack: &Stack, key_result: &str) -> Watcher {
    let settled = status_as_of(stack, key_result, None, None).await.version;
    open_watch(
        stack,
        Selection::KeyResults(vec![key_result.into()]),
        settled,
    )
    .await
}

/// The next message within `within`, which must be a status.
async fn next_status_within(watcher: &mut Watcher, within: Duration) -> (i64, pb::KeyResultStatus) {
    let message = watcher
        .next(within)
        .await
        .expect("a status in time")
        .expect("a status, not an error");
    match message.event {
        Some(Event::Status(status)) => (message.version, status),
        other => panic!("expected a status, got {other:?}"),
    }
}

#[tokio::test]
async fn a_watcher_hears_when_the_pace_falls_behind_with_no_new_value() {
    let (stack, key_result, start) = stack_with_current_key_result(pace_key_result()).await;
    // Two replicas judge health again; one publishes the change.
    let (replica, _) = stack.start_replica().await;
    // Progress exactly 0.95 × the expected progress of a few seconds from now: on track
    // (the default bands: from 0.95 × expected) until then, at risk (from 0.75 ×) after.
    let behind_from = Utc::now() + TimeDelta::seconds(8);
    let progress = Decimal::new(95, 2) * expected_at(start, behind_from);
    record_progress(&stack, &key_result, progress, "pace").await;
    let mut watcher = watch(&stack, &key_result).await;
    let now = &watcher.snapshot[0];
    assert!(
        from_timestamp(now.evaluation_time.as_ref()) < behind_from,
        "the machine was too slow to watch before the pace fell behind"
    );
    assert_eq!(now.health(), pb::Health::OnTrack, "{}", now.explanation);

    // Within a re-judge interval of the instant, and well before the next health (off track
    // from 0.75 × expected, hours away).
    let wait = (behind_from - Utc::now()).to_std().unwrap_or_default()
        + Duration::from_secs_f64(REJUDGE_INTERVAL_SECS * 2.0 + 2.0);
    let (version, status) = next_status_within(&mut watcher, wait).await;
    assert!(
        version > watcher.bookmark,
        "{version} after {}",
        watcher.bookmark
    );
    assert_eq!(status.version, version);
    assert_eq!(
        status.health(),
        pb::Health::AtRisk,
        "{}",
        status.explanation
    );
    assert!(from_timestamp(status.evaluation_time.as_ref()) >= behind_from);
    // Published once, whichever pass saw it.
    for _ in 0..3 {
        watcher
            .assert_quiet("the health did not change again")
            .await;
    }
    let rejudged: Vec<_> = stack
        .audit_events(&key_result)
        .await
        .into_iter()
        .filter(|(action, _, _)| action == "RejudgeHealth")
        .collect();
    assert_eq!(rejudged.len(), 1, "{rejudged:?}");
    assert_eq!(rejudged[0].1, "service:objectives");
    assert_eq!(rejudged[0].2["from"], "on_track");
    assert_eq!(rejudged[0].2["to"], "at_risk");

    replica.stop().await.expect("the replica stops cleanly");
    stack.stop().await;
}

#[tokio::test]
async fn a_watcher_hears_of_health_that_new_pace_bands_change() {
    let (stack, key_result, start) = stack_with_current_key_result(pace_key_result()).await;
    set_on_track_ratio(&stack, "0.9").await;
    // Progress 0.925 × expected: on track from 0.9 ×, at risk under on track from 0.95 × (and
    // above at risk from 0.75 ×). The ratio falls by about 1e-5 a second as expected
    // progress grows, so it stays between 0.9 and 0.95 for the whole test.
    let progress = Decimal::new(925, 3) * expected_at(start, Utc::now());
    record_progress(&stack, &key_result, progress, "pace").await;
    let mut watcher = watch(&stack, &key_result).await;
    assert_eq!(watcher.snapshot[0].health(), pb::Health::OnTrack);

    set_on_track_ratio(&stack, "0.95").await;
    let (version, status) = watcher.next_status().await;
    assert!(version > watcher.bookmark);
    assert_eq!(
        status.health(),
        pb::Health::AtRisk,
        "{}",
        status.explanation
    );
    watcher.assert_quiet("one message per change").await;

    // Back to 0.9: on track again.
    set_on_track_ratio(&stack, "0.9").await;
    let (_, status) = watcher.next_status().await;
    assert_eq!(
        status.health(),
        pb::Health::OnTrack,
        "{}",
        status.explanation
    );

    stack.stop().await;
}

#[tokio::test]
async fn a_watcher_hears_when_a_value_goes_stale_with_no_new_value() {
    // A check-in is due every 3 s, with 1 s of grace: a value measured now is stale 4 s on.
    let seconds = |seconds| Some(devokr_proto::prost_types::Duration { seconds, nanos: 0 });
    let mut due_often = pace_key_result();
    due_often.update_cadence = seconds(3);
    due_often.stale_grace = seconds(1);
    let (stack, key_result, start) = stack_with_current_key_result(due_often).await;
    // Well ahead of the pace (twice the expected progress, below the target): on track while
    // the value is fresh.
    let ahead = (Decimal::TWO * expected_at(start, Utc::now())).min(Decimal::new(99, 2));
    let measured = Utc::now();
    record_progress(&stack, &key_result, ahead, "fresh").await;
    let mut watcher = watch(&stack, &key_result).await;
    let fresh = watcher.snapshot[0].clone();
    assert_eq!(fresh.health(), pb::Health::OnTrack, "{}", fresh.explanation);

    let wait = Duration::from_secs(4) + Duration::from_secs_f64(REJUDGE_INTERVAL_SECS * 2.0 + 2.0);
    let (version, status) = next_status_within(&mut watcher, wait).await;
    assert!(version > watcher.bookmark);
    assert_eq!(status.health(), pb::Health::Stale, "{}", status.explanation);
    assert!(from_timestamp(status.evaluation_time.as_ref()) >= measured + TimeDelta::seconds(4));
    // The value itself is still shown beside the stale health.
    assert_eq!(status.value, fresh.value);
    watcher.assert_quiet("stale stays stale").await;

    stack.stop().await;
}
