//! A metric-bound key result follows new data in the metrics service: the metrics change feed
//! makes the objectives service read the metric again, record an automatic (METRIC) check-in
//! and publish the new status to watchers.

use std::time::{Duration, Instant};

use chrono::Duration as Days;
use devokr_domain::metric_reference::{Ratio, activation_rate};
use devokr_proto::{
    metrics::v1::{self as metrics_pb, metrics_service_client::MetricsServiceClient},
    objectives::v1::{self as pb, watch_key_result_status_response::Event},
    tonic::transport::Channel,
};

use crate::{
    check_ins::{MID_CYCLE, list_check_ins, status_as_of, value_of},
    fixture::{
        Stack, TENANT, dec, from_timestamp, instant, percent_key_result, read, reference_events,
        timestamp,
    },
    watch::{Selection, open_watch},
};

const CYCLE_START: &str = "1997-01-01T00:00:00Z";
const CYCLE_END: &str = "1997-04-01T00:00:00Z";

/// Activation ("purchase" again within 90 days of the first purchase) over 1997 Q1: the
/// population is u1 to u4 (first purchase in the cycle); only u1 came back: 1 of 4, 25 %.
pub(crate) const FIRST_EVENTS: &[(&str, &str, &str)] = &[
    // u1: back 27 days later: activated.
    ("u1", "purchase", "1997-01-05T10:00:00Z"),
    ("u1", "purchase", "1997-02-01T10:00:00Z"),
    // u2, u3, u4: one purchase each.
    ("u2", "purchase", "1997-01-10T10:00:00Z"),
    ("u3", "purchase", "1997-02-20T10:00:00Z"),
    ("u4", "purchase", "1997-03-01T10:00:00Z"),
];

/// Later data: u2 comes back 59 days after its first purchase (within 90): activated; u5
/// joins the population with one purchase. Then 2 (u1, u2) of 5 (u1 to u5): 40 %.
const MORE_EVENTS: &[(&str, &str, &str)] = &[
    ("u2", "purchase", "1997-03-10T10:00:00Z"),
    ("u5", "purchase", "1997-03-20T10:00:00Z"),
];

/// The reference formulas must agree with the counts worked out by hand above.
fn check_reference() {
    let activation = |rows: &[(&str, &str, &str)]| {
        activation_rate(
            &reference_events(rows),
            "purchase",
            "purchase",
            instant(CYCLE_START),
            instant(CYCLE_END),
            Days::days(90),
        )
    };
    assert_eq!(
        activation(FIRST_EVENTS),
        Ratio {
            numerator: 1,
            denominator: 4
        }
    );
    let all: Vec<_> = FIRST_EVENTS.iter().chain(MORE_EVENTS).copied().collect();
    assert_eq!(
        activation(&all),
        Ratio {
            numerator: 2,
            denominator: 5
        }
    );
}

/// Stores `events` in the metrics service with idempotency keys that start with `batch`
/// (the fixture's `ingest` numbers its keys from 0 on every call, so a second call would be
/// taken for a replay of the first).
pub(crate) async fn ingest(
    mut metrics: MetricsServiceClient<Channel>,
    batch: &str,
    events: &[(&str, &str, &str)],
) {
    let response = metrics
        .ingest_events(metrics_pb::IngestEventsRequest {
            parent: TENANT.into(),
            events: events
                .iter()
                .enumerate()
                .map(|(index, (user, name, occurred))| metrics_pb::Event {
                    user_id: (*user).into(),
                    event_name: (*name).into(),
                    occurred_time: Some(timestamp(occurred)),
                    properties: None,
                    idempotency_key: format!("{batch}-{index}"),
                })
                .collect(),
        })
        .await
        .expect("events are ingested")
        .into_inner();
    assert!(response.rejected.is_empty(), "{:?}", response.rejected);
    assert_eq!(response.stored_count as usize, events.len());
}

/// A stack with [`FIRST_EVENTS`], the activation metric, the 1997 Q1 cycle and objective
/// `growth`; returns the metric's and the objective's names.
pub(crate) async fn stack_with_metric() -> (Stack, String, String) {
    check_reference();
    let stack = Stack::start().await;
    ingest(stack.metrics_client(), "first", FIRST_EVENTS).await;
    let metric = stack
        .create_activation_metric("activation", "purchase", "purchase", 90)
        .await;
    let cycle = stack
        .create_cycle("q1-1997", "1997-01-01", "1997-03-31", "UTC")
        .await;
    let objective = stack.create_objective("growth", &cycle.name).await;
    (stack, metric, objective.name)
}

#[tokio::test]
async fn a_bound_key_result_follows_new_metric_data() {
    let (stack, metric, objective) = stack_with_metric().await;
    let key_result = stack
        .create_key_result(
            &objective,
            "activation",
            percent_key_result("20", "60", &metric),
        )
        .await;
    let kr = key_result.name.as_str();

    // 1 of 4 = 25 %: progress (25 − 20) / (60 − 20) = 5/40 = 0.125.
    let first = status_as_of(&stack, kr, Some(MID_CYCLE), None).await;
    assert_eq!(value_of(&first), dec("25"));
    let value = first.value.as_ref().unwrap();
    assert_eq!((value.numerator, value.denominator), (1, 4));
    assert_eq!(
        read(first.progress.as_ref().unwrap().raw.as_ref()),
        dec("0.125")
    );
    assert!(first.version > 0);

    let mut watcher = open_watch(
        &stack,
        Selection::KeyResults(vec![kr.into()]),
        first.version,
    )
    .await;
    assert_eq!(watcher.snapshot.len(), 1);
    assert_eq!(value_of(&watcher.snapshot[0]), dec("25"));

    // New data: 2 of 5 = 40 %, progress (40 − 20) / 40 = 0.5.
    let ingested = Instant::now();
    ingest(stack.metrics_client(), "more", MORE_EVENTS).await;
    let mut latest = first.clone();
    while ingested.elapsed() < Duration::from_secs(5) {
        latest = status_as_of(&stack, kr, Some(MID_CYCLE), None).await;
        if latest.version != first.version {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(value_of(&latest), dec("40"), "not refreshed within 5 s");
    let value = latest.value.as_ref().unwrap();
    assert_eq!((value.numerator, value.denominator), (2, 5));
    assert_eq!(
        read(latest.progress.as_ref().unwrap().raw.as_ref()),
        dec("0.5")
    );
    assert!(latest.version > first.version);
    assert_eq!(latest.data_problem, "");

    // Each reading that changed the value is an automatic check-in, by the service.
    let check_ins = list_check_ins(&stack, kr).await;
    let readings: Vec<_> = check_ins
        .iter()
        .map(|check_in| {
            (
                check_in.source(),
                read(check_in.value.as_ref()),
                check_in.author.as_str(),
            )
        })
        .collect();
    assert_eq!(
        readings,
        [
            (pb::CheckInSource::Metric, dec("25"), "service:objectives"),
            (pb::CheckInSource::Metric, dec("40"), "service:objectives"),
        ]
    );
    let measured = from_timestamp(check_ins[1].measure_time.as_ref());
    assert_eq!(
        from_timestamp(value.evaluate_time.as_ref()),
        measured,
        "the value is the one the latest reading recorded"
    );

    // The watcher hears of it: the new status, at the version of the change.
    let message = watcher
        .next(Duration::from_secs(5))
        .await
        .expect("the change reaches the watcher within 5 s")
        .expect("a change, not an error");
    let Some(Event::Status(changed)) = &message.event else {
        panic!("expected a status, got {message:?}");
    };
    assert_eq!(changed.key_result, kr);
    assert_eq!(value_of(changed), dec("40"));
    assert_eq!(changed.version, latest.version);
    assert_eq!(message.version, latest.version);
    assert!(message.version > watcher.bookmark);

    stack.stop().await;
}

#[tokio::test]
async fn a_bound_key_result_catches_up_on_data_that_arrived_while_the_service_was_down() {
    let (stack, metric, objective) = stack_with_metric().await;
    let kr = stack
        .create_key_result(
            &objective,
            "activation",
            percent_key_result("20", "60", &metric),
        )
        .await
        .name;
    // 1 of 4 = 25 %.
    let first = status_as_of(&stack, &kr, Some(MID_CYCLE), None).await;
    assert_eq!(value_of(&first), dec("25"));

    let (stopped, _, parked) = stack.stop_objectives().await;
    stopped.expect("the service stops cleanly");
    // New data while the objectives service is down: 2 of 5 = 40 %. The metrics service
    // publishes the change (seen here on a watch of our own) before a new objectives service
    // starts, so that one can only learn of it by reading its bound key results again.
    let mut changes = parked
        .metrics_client()
        .watch_metric_changes(metrics_pb::WatchMetricChangesRequest {
            parent: TENANT.into(),
            resume_version: 0,
        })
        .await
        .expect("the metrics change feed answers")
        .into_inner();
    let heartbeat = changes.message().await.unwrap().expect("a first heartbeat");
    assert!(heartbeat.heartbeat);
    ingest(parked.metrics_client(), "more", MORE_EVENTS).await;
    let published = tokio::time::timeout(Duration::from_secs(5), changes.message())
        .await
        .expect("the change is published within 5 s")
        .unwrap()
        .expect("a change");
    assert!(!published.heartbeat && published.version > heartbeat.version);
    assert_eq!(published.event_names, ["purchase"]);
    drop(changes);
    let stack = parked.start_objectives().await;

    let started = Instant::now();
    let mut latest = first.clone();
    while started.elapsed() < Duration::from_secs(5) {
        latest = status_as_of(&stack, &kr, Some(MID_CYCLE), None).await;
        if latest.version != first.version {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(value_of(&latest), dec("40"), "not caught up within 5 s");

    stack.stop().await;
}
