//! WatchMetricChanges: every committed change once and in order, resumable, filtered by
//! tenant, with heartbeats, and ended with UNAVAILABLE when the service stops.

use std::time::{Duration, Instant};

use devokr_metrics::store::{MetricsChange, OUTBOX};
use devokr_platform::outbox::ChangeFeed;
use devokr_proto::metrics::v1 as pb;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status, Streaming};
use tonic_types::StatusExt;

use crate::support::{Client, Service, activation, assert_error, create_metric, wire_event};

/// Long enough for anything the service should send to arrive.
const PATIENCE: Duration = Duration::from_secs(10);

type Watch = Streaming<pb::WatchMetricChangesResponse>;

/// Opens a watch and reads its first message, the heartbeat that says where it starts.
async fn watch(client: &mut Client, parent: &str, resume_version: i64) -> (Watch, i64) {
    let mut stream = client
        .watch_metric_changes(pb::WatchMetricChangesRequest {
            parent: parent.to_owned(),
            resume_version,
        })
        .await
        .unwrap_or_else(|status| panic!("WatchMetricChanges {parent}: {status:?}"))
        .into_inner();
    let first = message(&mut stream).await;
    assert!(
        first.heartbeat,
        "the first message is a heartbeat: {first:?}"
    );
    if resume_version > 0 {
        assert_eq!(first.version, resume_version);
    }
    (stream, first.version)
}

/// The next message, which must come within the patience.
async fn message(stream: &mut Watch) -> pb::WatchMetricChangesResponse {
    match tokio::time::timeout(PATIENCE, stream.message()).await {
        Ok(Ok(Some(message))) => message,
        Ok(other) => panic!("expected a message, got {other:?}"),
        Err(_) => panic!("no message within {PATIENCE:?}"),
    }
}

/// The next message that is not a heartbeat.
async fn change(stream: &mut Watch) -> pb::WatchMetricChangesResponse {
    loop {
        let message = message(stream).await;
        if !message.heartbeat {
            return message;
        }
    }
}

/// `(tenant, event names)` of a change.
fn what(change: &pb::WatchMetricChangesResponse) -> (&str, Vec<&str>) {
    (
        change.tenant.as_str(),
        change.event_names.iter().map(String::as_str).collect(),
    )
}

/// Ingests one event per `(name, key)` into `tenant`; returns how many were stored.
async fn ingest(client: &mut Client, tenant: &str, events: &[(&str, &str)]) -> i32 {
    client
        .ingest_events(pb::IngestEventsRequest {
            parent: format!("tenants/{tenant}"),
            events: events
                .iter()
                .map(|(name, key)| wire_event("u1", name, "2026-01-05T10:00:00Z", key))
                .collect(),
        })
        .await
        .expect("IngestEvents succeeds")
        .into_inner()
        .stored_count
}

#[tokio::test]
async fn a_watcher_sees_an_ingestion_with_its_event_names() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    let (mut stream, start) = watch(&mut client, "tenants/acme", 0).await;

    let stored = ingest(
        &mut client,
        "acme",
        &[("signup", "k1"), ("purchase", "k2"), ("purchase", "k3")],
    )
    .await;
    assert_eq!(stored, 3);
    let change = change(&mut stream).await;
    assert_eq!(what(&change), ("tenants/acme", vec!["purchase", "signup"]));
    assert!(change.version > start);
    assert!(change.created_metrics.is_empty());
    let change_time = change.change_time.expect("a change time");
    let age = chrono::Utc::now().timestamp() - change_time.seconds;
    assert!((0..60).contains(&age), "change time {change_time:?}");
    service.stop().await;
}

#[tokio::test]
async fn a_replayed_batch_produces_no_change_and_a_new_metric_does() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    let (mut stream, _) = watch(&mut client, "tenants/acme", 0).await;
    let batch = [("signup", "k1"), ("purchase", "k2")];

    assert_eq!(ingest(&mut client, "acme", &batch).await, 2);
    let first = change(&mut stream).await;
    // All duplicates: stored nothing, so changed nothing.
    assert_eq!(ingest(&mut client, "acme", &batch).await, 0);
    // Replayed with one new event: a change with that event's name only.
    assert_eq!(
        ingest(&mut client, "acme", &[("signup", "k1"), ("refund", "k3")]).await,
        1
    );
    let second = change(&mut stream).await;
    assert_eq!(what(&second), ("tenants/acme", vec!["refund"]));
    assert_eq!(
        second.version,
        first.version + 1,
        "the replay recorded no change"
    );

    let metric = create_metric(
        &mut client,
        "acme",
        "activation",
        activation("signup", "purchase", 3600),
    )
    .await;
    let created = change(&mut stream).await;
    assert_eq!(what(&created), ("tenants/acme", vec!["purchase", "signup"]));
    assert_eq!(created.created_metrics, [metric.name]);
    service.stop().await;
}

#[tokio::test]
async fn resuming_gives_exactly_the_missed_changes_then_live_ones() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    let (mut stream, _) = watch(&mut client, "tenants/acme", 0).await;
    ingest(&mut client, "acme", &[("a", "k1")]).await;
    let seen = change(&mut stream).await;
    drop(stream);

    // Missed while disconnected.
    ingest(&mut client, "acme", &[("b", "k2")]).await;
    ingest(&mut client, "acme", &[("c", "k3"), ("d", "k4")]).await;
    create_metric(&mut client, "acme", "m", activation("a", "b", 60)).await;

    let (mut resumed, _) = watch(&mut client, "tenants/acme", seen.version).await;
    let mut missed = Vec::new();
    for _ in 0..3 {
        missed.push(change(&mut resumed).await);
    }
    let names: Vec<_> = missed.iter().map(|change| what(change).1).collect();
    assert_eq!(names, [vec!["b"], vec!["c", "d"], vec!["a", "b"]]);
    let versions: Vec<i64> = missed.iter().map(|change| change.version).collect();
    assert_eq!(
        versions,
        [seen.version + 1, seen.version + 2, seen.version + 3]
    );

    ingest(&mut client, "acme", &[("e", "k5")]).await;
    let live = change(&mut resumed).await;
    assert_eq!((live.version, what(&live).1), (seen.version + 4, vec!["e"]));
    service.stop().await;
}

#[tokio::test]
async fn a_pruned_version_is_out_of_range_with_the_oldest_version_kept() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    let (mut stream, _) = watch(&mut client, "tenants/acme", 0).await;
    let mut versions = Vec::new();
    for key in ["k1", "k2", "k3"] {
        ingest(&mut client, "acme", &[("a", key)]).await;
        versions.push(change(&mut stream).await.version);
    }

    // Make the first two changes older than the retention and prune as the service does.
    let pool = sqlx::PgPool::connect(service.database_url())
        .await
        .expect("a pool");
    sqlx::query(
        "update metrics.outbox set recorded_at = now() - interval '8 days' where version <= $1",
    )
    .bind(versions[1])
    .execute(&pool)
    .await
    .expect("aged");
    let stop = CancellationToken::new();
    let feed: ChangeFeed<MetricsChange> = ChangeFeed::start(
        pool.clone(),
        OUTBOX,
        devokr_platform::outbox::POLL_INTERVAL,
        stop.clone(),
    );
    drop(feed.subscribe(None).await.expect("the feed starts"));
    assert_eq!(
        feed.prune(devokr_platform::outbox::RETENTION)
            .await
            .expect("pruned"),
        2
    );
    stop.cancel();

    let status = client
        .watch_metric_changes(pb::WatchMetricChangesRequest {
            parent: "tenants/acme".into(),
            resume_version: versions[0],
        })
        .await
        .expect_err("a pruned version cannot be resumed from");
    assert_error(&status, Code::OutOfRange, "RESOURCE_VERSION_TOO_OLD");
    let info = status
        .get_error_details()
        .error_info()
        .cloned()
        .expect("error info");
    assert_eq!(info.metadata["oldestVersion"], versions[2].to_string());

    // The newest change seen before the pruned ones is still a good place to resume.
    let (mut resumed, _) = watch(&mut client, "tenants/acme", versions[1]).await;
    assert_eq!(change(&mut resumed).await.version, versions[2]);
    service.stop().await;
}

#[tokio::test]
async fn a_watch_sees_only_its_tenant_and_tenants_dash_sees_all() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    let (mut acme, _) = watch(&mut client, "tenants/acme", 0).await;
    let (mut everyone, _) = watch(&mut client, "tenants/-", 0).await;

    ingest(&mut client, "globex", &[("signup", "k1")]).await;
    ingest(&mut client, "acme", &[("purchase", "k1")]).await;

    assert_eq!(
        what(&change(&mut acme).await),
        ("tenants/acme", vec!["purchase"])
    );
    assert_eq!(
        what(&change(&mut everyone).await),
        ("tenants/globex", vec!["signup"])
    );
    assert_eq!(
        what(&change(&mut everyone).await),
        ("tenants/acme", vec!["purchase"])
    );
    service.stop().await;
}

#[tokio::test]
async fn a_quiet_watch_gets_a_heartbeat_every_10_seconds_with_the_version_reached() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    let (mut acme, _) = watch(&mut client, "tenants/acme", 0).await;
    let opened = Instant::now();
    let (mut everyone, _) = watch(&mut client, "tenants/-", 0).await;
    // Another tenant's change: not sent to acme's watch, but its heartbeat's version passes it.
    ingest(&mut client, "globex", &[("signup", "k1")]).await;
    let globex = change(&mut everyone).await.version;

    let heartbeat = tokio::time::timeout(Duration::from_secs(15), acme.message())
        .await
        .expect("a heartbeat within 15 s")
        .expect("no error")
        .expect("a message");
    let after = opened.elapsed();
    assert!(heartbeat.heartbeat, "{heartbeat:?}");
    assert_eq!(heartbeat.version, globex);
    assert!(heartbeat.tenant.is_empty() && heartbeat.event_names.is_empty());
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(12)).contains(&after),
        "heartbeat after {after:?}"
    );
    service.stop().await;
}

#[tokio::test]
async fn stopping_the_service_ends_a_watch_promptly_with_unavailable() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    let (mut stream, _) = watch(&mut client, "tenants/-", 0).await;

    let started = Instant::now();
    let (stopped, ended) = tokio::join!(service.stop(), async {
        tokio::time::timeout(PATIENCE, stream.message()).await
    });
    let () = stopped;
    let status: Status = match ended {
        Ok(Err(status)) => status,
        other => panic!("expected UNAVAILABLE, got {other:?}"),
    };
    assert_error(&status, Code::Unavailable, "SERVER_SHUTTING_DOWN");
    assert_eq!(status.message(), "server shutting down");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the service took {:?} to stop",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_bad_watch_request_is_invalid_argument() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    for (parent, resume_version, field) in [
        ("tenants/Acme", 0, "parent"),
        ("", 0, "parent"),
        ("tenants/acme", -1, "resume_version"),
    ] {
        let status = client
            .watch_metric_changes(pb::WatchMetricChangesRequest {
                parent: parent.into(),
                resume_version,
            })
            .await
            .expect_err("invalid");
        crate::support::assert_invalid(&status, &[field]);
    }
    service.stop().await;
}
