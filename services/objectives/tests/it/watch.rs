//! WatchKeyResultStatus: the current statuses of the selection, a bookmark, then every change
//! in version order; resuming after a version; a version too old; server shutdown.

use std::time::{Duration, Instant};

use devokr_proto::objectives::v1::{self as pb, watch_key_result_status_response::Event};
use sqlx::PgPool;
use tonic::{Code, Status, Streaming};
use tonic_types::StatusExt;

use crate::{
    check_ins::{
        MID_CYCLE, check_in, manual_key_result, record, stack_with_objective, status_as_of,
        value_of,
    },
    fixture::{Stack, TENANT, assert_error, dec, percent_key_result},
    metric_refresh::stack_with_metric,
};

/// What a watch follows.
#[derive(Debug, Clone)]
pub(crate) enum Selection {
    KeyResults(Vec<String>),
    Objective(String),
    Cycle(String),
}

fn request(selection: &Selection, resume_version: i64) -> pb::WatchKeyResultStatusRequest {
    let mut request = pb::WatchKeyResultStatusRequest {
        parent: TENANT.into(),
        resume_version,
        ..Default::default()
    };
    match selection {
        Selection::KeyResults(names) => request.key_results.clone_from(names),
        Selection::Objective(name) => request.objective.clone_from(name),
        Selection::Cycle(name) => request.cycle.clone_from(name),
    }
    request
}

/// An open watch, past its snapshot and bookmark.
pub(crate) struct Watcher {
    /// The statuses sent before the bookmark.
    pub(crate) snapshot: Vec<pb::KeyResultStatus>,
    /// The bookmark's version (0 for a resumed watch, which has none).
    pub(crate) bookmark: i64,
    stream: Streaming<pb::WatchKeyResultStatusResponse>,
}

impl Watcher {
    /// The next message, or `None` when none comes `within`; panics if the stream ends.
    pub(crate) async fn next(
        &mut self,
        within: Duration,
    ) -> Option<Result<pb::WatchKeyResultStatusResponse, Status>> {
        match tokio::time::timeout(within, self.stream.message()).await {
            Err(_) => None,
            Ok(Ok(Some(message))) => Some(Ok(message)),
            Ok(Ok(None)) => panic!("the watch ended without a status"),
            Ok(Err(status)) => Some(Err(status)),
        }
    }

    /// The next message, which must be a status and come within 2 s.
    pub(crate) async fn next_status(&mut self) -> (i64, pb::KeyResultStatus) {
        let message = self
            .next(Duration::from_secs(2))
            .await
            .expect("a change within 2 s")
            .expect("a change, not an error");
        match message.event {
            Some(Event::Status(status)) => (message.version, status),
            other => panic!("expected a status, got {other:?}"),
        }
    }

    /// Checks that nothing arrives within half a second.
    pub(crate) async fn assert_quiet(&mut self, what: &str) {
        if let Some(message) = self.next(Duration::from_millis(500)).await {
            panic!("{what}: unexpected {message:?}");
        }
    }
}

/// Starts a watch (resume_version 0) and reads its snapshot up to the bookmark. A bookmark
/// below `settled` means the service had not yet published the changes the test made before
/// (the change feed follows commits a few milliseconds behind): the watch is opened again.
pub(crate) async fn open_watch(stack: &Stack, selection: Selection, settled: i64) -> Watcher {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = stack
            .client()
            .watch_key_result_status(request(&selection, 0))
            .await
            .expect("the watch starts")
            .into_inner();
        let mut snapshot = Vec::new();
        let bookmark = loop {
            let message = tokio::time::timeout(Duration::from_secs(2), stream.message())
                .await
                .expect("the snapshot comes within 2 s")
                .expect("the snapshot is sent")
                .expect("the stream goes on");
            match message.event {
                Some(Event::Status(status)) => {
                    // Each current status carries its own version.
                    assert_eq!(message.version, status.version, "{status:?}");
                    snapshot.push(status);
                }
                Some(Event::Bookmark(bookmark)) => {
                    assert_eq!(message.version, bookmark.version);
                    break bookmark.version;
                }
                other => panic!("unexpected {other:?} in the snapshot"),
            }
        };
        if bookmark >= settled || Instant::now() > deadline {
            assert!(bookmark >= settled, "bookmark {bookmark} < {settled}");
            return Watcher {
                snapshot,
                bookmark,
                stream,
            };
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Resumes a watch after `resume_version`: no snapshot and no bookmark, only changes.
pub(crate) async fn resume_watch(
    stack: &Stack,
    selection: Selection,
    resume_version: i64,
) -> Result<Watcher, Status> {
    let stream = stack
        .client()
        .watch_key_result_status(request(&selection, resume_version))
        .await?
        .into_inner();
    Ok(Watcher {
        snapshot: Vec::new(),
        bookmark: 0,
        stream,
    })
}

#[tokio::test]
async fn a_watch_of_an_objective_sends_its_statuses_a_bookmark_then_every_change() {
    let (stack, metric, growth) = stack_with_metric().await;
    let cycle = format!("{TENANT}/cycles/q1-1997");
    let other = stack.create_objective("other", &cycle).await.name;
    let a1 = stack
        .create_key_result(&growth, "a1", manual_key_result("10", "20"))
        .await
        .name;
    let a2 = stack
        .create_key_result(&growth, "a2", manual_key_result("10", "20"))
        .await
        .name;
    let b1 = stack
        .create_key_result(&other, "b1", manual_key_result("10", "20"))
        .await
        .name;
    record(&stack, &a1, check_in("12", "1997-01-20T00:00:00Z", "a1-1")).await;
    let a1_version = status_as_of(&stack, &a1, None, None).await.version;
    assert!(a1_version > 0);

    // The current statuses, in the objective's order, each with its version; then the bookmark.
    let mut watcher = open_watch(&stack, Selection::Objective(growth.clone()), a1_version).await;
    let snapshot: Vec<(&str, i64)> = watcher
        .snapshot
        .iter()
        .map(|status| (status.key_result.as_str(), status.version))
        .collect();
    // a2 changed only when it was created (before a1's check-in): that version, no value.
    let a2_version = status_as_of(&stack, &a2, None, None).await.version;
    assert!(0 < a2_version && a2_version < a1_version);
    assert_eq!(
        snapshot,
        [(a1.as_str(), a1_version), (a2.as_str(), a2_version)]
    );
    assert_eq!(value_of(&watcher.snapshot[0]), dec("12"));
    assert_eq!(watcher.snapshot[1].value, None);
    assert_eq!(watcher.snapshot[1].health(), pb::Health::NoData);
    // Nothing changed after a1's check-in: the bookmark is its version.
    assert_eq!(watcher.bookmark, a1_version);

    let mut other_watcher =
        open_watch(&stack, Selection::Objective(other.clone()), a1_version).await;
    let other_snapshot: Vec<&str> = other_watcher
        .snapshot
        .iter()
        .map(|status| status.key_result.as_str())
        .collect();
    assert_eq!(other_snapshot, [b1.as_str()]);

    // A check-in on a2 arrives within 2 s: its new value, at a version after the bookmark.
    let recorded = Instant::now();
    record(&stack, &a2, check_in("14", "1997-01-25T00:00:00Z", "a2-1")).await;
    let (version, status) = watcher.next_status().await;
    assert!(recorded.elapsed() < Duration::from_secs(2));
    assert_eq!(status.key_result, a2);
    assert_eq!(value_of(&status), dec("14"));
    assert!(
        version > watcher.bookmark,
        "{version} <= {}",
        watcher.bookmark
    );
    assert_eq!(status.version, version);
    assert_eq!(status_as_of(&stack, &a2, None, None).await.version, version);

    // A key result created later in the objective arrives too, with the value its metric
    // has: 1 of 4 users activated, 25 %.
    let a3 = stack
        .create_key_result(&growth, "a3", percent_key_result("20", "60", &metric))
        .await
        .name;
    // Its creation and its first metric reading are two changes; the first message may
    // already show the reading (each message carries the latest status).
    let (mut a3_version, mut status) = watcher.next_status().await;
    assert_eq!(status.key_result, a3);
    if status.value.is_none() {
        (a3_version, status) = watcher.next_status().await;
        assert_eq!(status.key_result, a3);
    }
    assert_eq!(value_of(&status), dec("25"));
    // A first message (the creation's) that already showed the reading leaves the reading's
    // own message queued at a later version: the status carries that version, so resume from
    // it, not from the message's.
    a3_version = a3_version.max(status.version);
    assert!(a3_version > version);

    // The watch of the other objective heard of none of it.
    other_watcher
        .assert_quiet("the other objective's watch")
        .await;

    // Resume: the watch goes away, two changes happen, a new watch resumes after the last
    // version seen and gets exactly those two, in order, with no snapshot and no bookmark.
    drop(watcher);
    record(&stack, &a1, check_in("13", "1997-02-01T00:00:00Z", "a1-2")).await;
    record(&stack, &a2, check_in("15", "1997-02-02T00:00:00Z", "a2-2")).await;
    let mut resumed = resume_watch(&stack, Selection::Objective(growth.clone()), a3_version)
        .await
        .expect("the watch resumes");
    let (v4, status) = resumed.next_status().await;
    assert_eq!(
        (status.key_result.as_str(), value_of(&status)),
        (a1.as_str(), dec("13"))
    );
    let (v5, status) = resumed.next_status().await;
    assert_eq!(
        (status.key_result.as_str(), value_of(&status)),
        (a2.as_str(), dec("15"))
    );
    assert!(a3_version < v4 && v4 < v5, "{a3_version} {v4} {v5}");
    resumed
        .assert_quiet("a resumed watch after its two changes")
        .await;
    drop(resumed);

    // Pruned by hand up to the version resumed from: resuming from it still loses nothing,
    // resuming from before it is told its version is too old.
    let pool = PgPool::connect(stack.database_url()).await.unwrap();
    let pruned = sqlx::query("delete from objectives.outbox where version <= $1")
        .bind(a3_version)
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    assert!(pruned >= 3, "{pruned}");
    pool.close().await;
    let mut resumed = resume_watch(&stack, Selection::Objective(growth.clone()), a3_version)
        .await
        .expect("nothing after the version was pruned");
    assert_eq!(resumed.next_status().await.0, v4);
    assert_eq!(resumed.next_status().await.0, v5);
    drop(resumed);
    let too_old =
        match resume_watch(&stack, Selection::Objective(growth.clone()), a3_version - 1).await {
            Ok(mut watcher) => watcher
                .next(Duration::from_secs(2))
                .await
                .expect("an answer")
                .expect_err("OUT_OF_RANGE"),
            Err(status) => status,
        };
    assert_error(&too_old, Code::OutOfRange, "RESOURCE_VERSION_TOO_OLD");
    let details = too_old.get_error_details();
    let metadata = &details.error_info().unwrap().metadata;
    assert_eq!(metadata["requestedVersion"], (a3_version - 1).to_string());
    assert_eq!(metadata["oldestVersion"], v4.to_string());

    stack.stop().await;
}

#[tokio::test]
async fn each_change_reaches_exactly_the_watches_of_its_key_result_objective_or_cycle_in_order() {
    let (stack, growth) = stack_with_objective().await;
    let q1 = format!("{TENANT}/cycles/q1-1997");
    let q2 = stack
        .create_cycle("q2-1997", "1997-04-01", "1997-06-30", "UTC")
        .await
        .name;
    let other = stack.create_objective("other", &q1).await.name;
    let later = stack.create_objective("later", &q2).await.name;
    let mut created = Vec::new();
    for (objective, id) in [
        (&growth, "a1"),
        (&growth, "a2"),
        (&other, "b1"),
        (&later, "c1"),
    ] {
        let key_result = stack
            .create_key_result(objective, id, manual_key_result("10", "20"))
            .await;
        created.push(key_result.name);
    }
    let [a1, a2, b1, c1] = created.try_into().expect("four key results");
    let settled = status_as_of(&stack, &c1, None, None).await.version;

    let selections = [
        ("a1", Selection::KeyResults(vec![a1.clone()])),
        (
            "a1 and b1",
            Selection::KeyResults(vec![a1.clone(), b1.clone()]),
        ),
        ("b1", Selection::KeyResults(vec![b1.clone()])),
        ("objective growth", Selection::Objective(growth.clone())),
        ("objective other", Selection::Objective(other.clone())),
        ("cycle q1", Selection::Cycle(q1.clone())),
        ("cycle q2", Selection::Cycle(q2.clone())),
    ];
    let mut watchers = Vec::new();
    for (label, selection) in selections {
        watchers.push((label, open_watch(&stack, selection, settled).await));
    }

    // Three check-ins in q1 (a1, b1, a2), then one in q2 (c1): changes arrive in version
    // order, so q2's watch receiving c1's first shows none of q1's reached it, and the other
    // watches staying quiet after it shows they passed over a later change too.
    let mut changes = Vec::new();
    for (key_result, key, measured) in [
        (&a1, "a1-1", "1997-01-20T00:00:00Z"),
        (&b1, "b1-1", "1997-01-20T00:00:00Z"),
        (&a2, "a2-1", "1997-01-20T00:00:00Z"),
        (&c1, "c1-1", "1997-04-20T00:00:00Z"),
    ] {
        record(&stack, key_result, check_in("12", measured, key)).await;
        let version = status_as_of(&stack, key_result, None, None).await.version;
        changes.push((key_result.clone(), version));
    }
    let [on_a1, on_b1, on_a2, on_c1] = [0, 1, 2, 3].map(|index| changes[index].clone());
    // Worked out from the selections: a watch gets the changes of the key results it names,
    // of its objective's key results, or of its cycle's, in the order they were made.
    let expected = [
        ("a1", vec![on_a1.clone()]),
        ("a1 and b1", vec![on_a1.clone(), on_b1.clone()]),
        ("b1", vec![on_b1.clone()]),
        ("objective growth", vec![on_a1.clone(), on_a2.clone()]),
        ("objective other", vec![on_b1.clone()]),
        ("cycle q1", vec![on_a1, on_b1, on_a2]),
        ("cycle q2", vec![on_c1]),
    ];
    for ((label, watcher), (expected_label, expected)) in watchers.iter_mut().zip(expected) {
        assert_eq!(*label, expected_label);
        let mut received = Vec::new();
        for _ in 0..expected.len() {
            let (version, status) = watcher.next_status().await;
            assert_eq!(status.version, version, "{label}");
            received.push((status.key_result, version));
        }
        assert_eq!(received, expected, "{label}");
        watcher.assert_quiet(label).await;
    }
    stack.stop().await;
}

#[tokio::test]
async fn stopping_the_service_ends_an_open_watch_with_unavailable() {
    let (stack, objective) = stack_with_objective().await;
    let kr = stack
        .create_key_result(&objective, "retention", manual_key_result("10", "20"))
        .await
        .name;
    record(&stack, &kr, check_in("12", "1997-01-20T00:00:00Z", "one")).await;
    let mut watcher = open_watch(&stack, Selection::KeyResults(vec![kr.clone()]), 1).await;
    assert_eq!(watcher.snapshot.len(), 1);

    let reader = tokio::spawn(async move {
        let message = watcher.next(Duration::from_secs(10)).await;
        (message, Instant::now())
    });
    let stopping = Instant::now();
    let (stopped, took, parked) = stack.stop_objectives().await;
    stopped.expect("the service stops cleanly with a watch open");
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    let (message, ended) = reader.await.unwrap();
    let status = message
        .expect("the watch ends within 10 s")
        .expect_err("the watch ends with an error");
    assert!(
        ended.duration_since(stopping) < Duration::from_secs(5),
        "the watch ended {:?} after the stop began",
        ended.duration_since(stopping)
    );
    assert_error(&status, Code::Unavailable, "SERVER_SHUTTING_DOWN");

    parked.stop().await;
}

#[tokio::test]
async fn a_restarted_service_shows_the_same_status_and_version() {
    let (stack, objective) = stack_with_objective().await;
    let kr = stack
        .create_key_result(&objective, "retention", manual_key_result("10", "20"))
        .await
        .name;
    record(&stack, &kr, check_in("16", "1997-02-01T00:00:00Z", "one")).await;
    // 16: progress (16 − 10) / 10 = 0.6, on track at mid cycle (0.6 ≥ 0.475).
    let before = status_as_of(&stack, &kr, Some(MID_CYCLE), None).await;
    assert_eq!(value_of(&before), dec("16"));
    assert!(before.version > 0);

    let (stopped, _, parked) = stack.stop_objectives().await;
    stopped.expect("the service stops cleanly");
    let stack = parked.start_objectives().await;

    let after = status_as_of(&stack, &kr, Some(MID_CYCLE), None).await;
    assert_eq!(value_of(&after), dec("16"));
    assert_eq!(after.version, before.version);
    assert_eq!(after.progress, before.progress);
    assert_eq!(after.health(), pb::Health::OnTrack);
    assert_eq!(after, before);

    stack.stop().await;
}

#[tokio::test]
async fn a_key_result_without_a_metric_created_later_arrives_in_its_objectives_watch() {
    let (stack, objective) = stack_with_objective().await;
    let first = stack
        .create_key_result(&objective, "first", manual_key_result("10", "20"))
        .await
        .name;
    record(
        &stack,
        &first,
        check_in("12", "1997-01-20T00:00:00Z", "one"),
    )
    .await;
    let settled = status_as_of(&stack, &first, None, None).await.version;
    let mut watcher = open_watch(&stack, Selection::Objective(objective.clone()), settled).await;
    assert_eq!(watcher.snapshot.len(), 1);

    // "Every key result of this objective, including ones created later": a new key result
    // has a status (no data yet) that the watcher must learn of.
    let later = stack
        .create_key_result(&objective, "later", manual_key_result("10", "20"))
        .await
        .name;
    let (version, status) = watcher.next_status().await;
    assert_eq!(status.key_result, later);
    assert_eq!(status.value, None);
    assert_eq!(status.health(), pb::Health::NoData);
    assert!(version > watcher.bookmark);

    stack.stop().await;
}

#[tokio::test]
async fn a_watch_resumes_without_loss_across_a_restart_of_the_service() {
    let (stack, objective) = stack_with_objective().await;
    let a = stack
        .create_key_result(&objective, "a", manual_key_result("10", "20"))
        .await
        .name;
    let b = stack
        .create_key_result(&objective, "b", manual_key_result("10", "20"))
        .await
        .name;
    record(&stack, &a, check_in("12", "1997-01-20T00:00:00Z", "a-1")).await;
    let settled = status_as_of(&stack, &a, None, None).await.version;
    let watcher = open_watch(&stack, Selection::Objective(objective.clone()), settled).await;
    let seen = watcher.bookmark;
    drop(watcher);

    // Two changes the client has not seen, then the service restarts.
    record(&stack, &a, check_in("13", "1997-02-01T00:00:00Z", "a-2")).await;
    record(&stack, &b, check_in("17", "1997-02-02T00:00:00Z", "b-1")).await;
    let (stopped, _, parked) = stack.stop_objectives().await;
    stopped.expect("the service stops cleanly");
    let stack = parked.start_objectives().await;

    let mut resumed = resume_watch(&stack, Selection::Objective(objective.clone()), seen)
        .await
        .expect("the watch resumes on the new service");
    let (first, status) = resumed.next_status().await;
    assert_eq!(
        (status.key_result.as_str(), value_of(&status)),
        (a.as_str(), dec("13"))
    );
    let (second, status) = resumed.next_status().await;
    assert_eq!(
        (status.key_result.as_str(), value_of(&status)),
        (b.as_str(), dec("17"))
    );
    assert!(seen < first && first < second);

    stack.stop().await;
}

#[tokio::test]
async fn resumed_changes_carry_the_latest_status_of_their_key_result() {
    let (stack, objective) = stack_with_objective().await;
    let kr = stack
        .create_key_result(&objective, "retention", manual_key_result("10", "20"))
        .await
        .name;
    record(&stack, &kr, check_in("12", "1997-01-20T00:00:00Z", "one")).await;
    let seen = status_as_of(&stack, &kr, None, None).await.version;
    // Two changes of the same key result: 13, then 14.
    record(&stack, &kr, check_in("13", "1997-02-01T00:00:00Z", "two")).await;
    record(&stack, &kr, check_in("14", "1997-02-02T00:00:00Z", "three")).await;
    let latest = status_as_of(&stack, &kr, None, None).await.version;

    let mut resumed = resume_watch(&stack, Selection::KeyResults(vec![kr.clone()]), seen)
        .await
        .expect("the watch resumes");
    let (first, first_status) = resumed.next_status().await;
    let (second, second_status) = resumed.next_status().await;
    // One message per change, each a resume point; like a Kubernetes watch, each says what the
    // key result is now (level-triggered), so a resumed client lands on the latest state.
    assert!(seen < first && first < second && second == latest);
    assert_eq!(
        (first_status.version, value_of(&first_status)),
        (latest, dec("14"))
    );
    assert_eq!(
        (second_status.version, value_of(&second_status)),
        (latest, dec("14"))
    );

    stack.stop().await;
}
