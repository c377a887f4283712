//! UpdateObjective, UpdateKeyResult (update_mask, etag), soft Delete/Undelete of objectives and
//! key results (AIP-134, AIP-135, AIP-154, AIP-164) and ListObjectives' filter, with every
//! expected number worked out by hand.

use std::time::Duration;

use devokr_proto::{
    objectives::v1::{self as pb, watch_key_result_status_response::Event},
    prost_types::FieldMask,
};
use sqlx::PgPool;
use tonic::{Code, Status};

use crate::{
    check_ins::{
        MID_CYCLE, check_in, list_check_ins, manual_key_result, record, stack_with_objective,
        status_as_of, try_record, value_of,
    },
    fixture::{
        Stack, TENANT, assert_error, dec, fields, from_timestamp, percent_key_result, read,
        request_by, timestamp, violated_fields, violations, wire,
    },
    watch::{Selection, open_watch},
};

/// The caller of every change in these tests.
const ACTOR: &str = "bob";

pub(crate) fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|path| (*path).to_owned()).collect(),
    })
}

/// `(action, resource, change)` of the audit events about `prefix`, by [`ACTOR`], in order.
pub(crate) async fn audited(
    stack: &Stack,
    prefix: &str,
) -> Vec<(String, String, serde_json::Value)> {
    let pool = PgPool::connect(stack.database_url()).await.unwrap();
    let rows = sqlx::query_as(
        "select action, resource, change from objectives.audit_event
         where starts_with(resource, $1) and actor = $2 order by sequence",
    )
    .bind(prefix)
    .bind(ACTOR)
    .fetch_all(&pool)
    .await
    .expect("the audit log is read");
    pool.close().await;
    rows
}

pub(crate) async fn objective_status(stack: &Stack, objective: &str) -> pb::ObjectiveStatus {
    stack
        .client()
        .get_objective_status(pb::GetObjectiveStatusRequest {
            name: objective.into(),
            evaluation_time: Some(timestamp(MID_CYCLE)),
        })
        .await
        .expect("objective status answers")
        .into_inner()
}

pub(crate) async fn get_key_result(stack: &Stack, name: &str) -> pb::KeyResult {
    stack
        .client()
        .get_key_result(pb::GetKeyResultRequest { name: name.into() })
        .await
        .expect("key result is read")
        .into_inner()
}

pub(crate) async fn get_objective(stack: &Stack, name: &str) -> pb::Objective {
    stack
        .client()
        .get_objective(pb::GetObjectiveRequest { name: name.into() })
        .await
        .expect("objective is read")
        .into_inner()
}

pub(crate) async fn try_list_objectives(
    stack: &Stack,
    filter: &str,
    show_deleted: bool,
) -> Result<Vec<pb::Objective>, Status> {
    stack
        .client()
        .list_objectives(pb::ListObjectivesRequest {
            parent: TENANT.into(),
            page_size: 100,
            page_token: String::new(),
            filter: filter.into(),
            show_deleted,
        })
        .await
        .map(|response| response.into_inner().objectives)
}

pub(crate) async fn list_objectives(
    stack: &Stack,
    filter: &str,
    show_deleted: bool,
) -> Vec<String> {
    try_list_objectives(stack, filter, show_deleted)
        .await
        .unwrap_or_else(|status| panic!("objectives are listed with {filter:?}: {status:?}"))
        .into_iter()
        .map(|objective| objective.name)
        .collect()
}

async fn delete_key_result(stack: &Stack, name: &str, etag: &str) -> Result<pb::KeyResult, Status> {
    stack
        .client()
        .delete_key_result(request_by(
            ACTOR,
            pb::DeleteKeyResultRequest {
                name: name.into(),
                etag: etag.into(),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn undelete_key_result(stack: &Stack, name: &str) -> Result<pb::KeyResult, Status> {
    stack
        .client()
        .undelete_key_result(request_by(
            ACTOR,
            pb::UndeleteKeyResultRequest { name: name.into() },
        ))
        .await
        .map(tonic::Response::into_inner)
}

pub(crate) async fn delete_objective(
    stack: &Stack,
    name: &str,
    etag: &str,
) -> Result<pb::Objective, Status> {
    stack
        .client()
        .delete_objective(request_by(
            ACTOR,
            pb::DeleteObjectiveRequest {
                name: name.into(),
                etag: etag.into(),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

pub(crate) async fn undelete_objective(stack: &Stack, name: &str) -> Result<pb::Objective, Status> {
    stack
        .client()
        .undelete_objective(request_by(
            ACTOR,
            pb::UndeleteObjectiveRequest { name: name.into() },
        ))
        .await
        .map(tonic::Response::into_inner)
}

pub(crate) async fn update_key_result(
    stack: &Stack,
    key_result: pb::KeyResult,
    paths: Option<&[&str]>,
) -> Result<pb::KeyResult, Status> {
    stack
        .client()
        .update_key_result(request_by(
            ACTOR,
            pb::UpdateKeyResultRequest {
                key_result: Some(key_result),
                update_mask: paths.and_then(mask),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

pub(crate) async fn update_objective(
    stack: &Stack,
    objective: pb::Objective,
    paths: Option<&[&str]>,
) -> Result<pb::Objective, Status> {
    stack
        .client()
        .update_objective(request_by(
            ACTOR,
            pb::UpdateObjectiveRequest {
                objective: Some(objective),
                update_mask: paths.and_then(mask),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// A plain-number key result from 0 to 100 with `weight`.
pub(crate) fn weighted(weight: &str) -> pb::KeyResult {
    pb::KeyResult {
        weight: Some(wire(weight)),
        ..manual_key_result("0", "100")
    }
}

/// Objective `growth` with `a` (weight 1, value 50 of 0 → 100: progress 1/2) and `b`
/// (weight 3, value 25: progress 1/4).
async fn two_weighted_key_results() -> (Stack, String, pb::KeyResult, pb::KeyResult) {
    let (stack, objective) = stack_with_objective().await;
    let a = stack
        .create_key_result(&objective, "a", weighted("1"))
        .await;
    let b = stack
        .create_key_result(&objective, "b", weighted("3"))
        .await;
    record(
        &stack,
        &a.name,
        check_in("50", "1997-02-01T00:00:00Z", "a1"),
    )
    .await;
    record(
        &stack,
        &b.name,
        check_in("25", "1997-02-01T00:00:00Z", "b1"),
    )
    .await;
    (stack, objective, a, b)
}

#[tokio::test]
async fn deleting_a_key_result_takes_it_out_of_its_objectives_progress_until_undeleted() {
    let (stack, objective, a, b) = two_weighted_key_results().await;

    // (1 × 1/2 + 3 × 1/4) / (1 + 3) = 1.25 / 4 = 0.3125. At MID_CYCLE 0.5 is expected: a is
    // on track (0.5 / 0.5 = 1), b off track (0.25 / 0.5 = 0.5 < 0.75), so the worst is off track.
    let before = objective_status(&stack, &objective).await;
    assert_eq!(read(before.progress.as_ref()), dec("0.3125"));
    assert_eq!(before.health(), pb::Health::OffTrack);
    assert_eq!(before.key_results.len(), 2);

    // A stale etag changes nothing.
    let stale = delete_key_result(&stack, &b.name, "\"999\"")
        .await
        .unwrap_err();
    assert_error(&stale, Code::Aborted, "CONCURRENT_CHANGE");
    let unchanged = get_key_result(&stack, &b.name).await;
    assert_eq!(unchanged.delete_time, None);
    assert_eq!(unchanged.etag, b.etag);
    assert_eq!(
        stack.key_result_names(&objective).await,
        [a.name.as_str(), b.name.as_str()]
    );

    let deleted = delete_key_result(&stack, &b.name, &b.etag).await.unwrap();
    assert!(deleted.delete_time.is_some());
    assert_ne!(deleted.etag, b.etag);
    // Only a counts now: 1 × 1/2 / 1 = 0.5, on track.
    let after = objective_status(&stack, &objective).await;
    assert_eq!(read(after.progress.as_ref()), dec("0.5"));
    assert_eq!(after.health(), pb::Health::OnTrack);
    let statuses: Vec<&str> = after
        .key_results
        .iter()
        .map(|status| status.key_result.as_str())
        .collect();
    assert_eq!(statuses, [a.name.as_str()]);

    // Get still shows it (AIP-164), List does not.
    let got = get_key_result(&stack, &b.name).await;
    assert_eq!(got.delete_time, deleted.delete_time);
    assert_eq!(got.etag, deleted.etag);
    assert_eq!(stack.key_result_names(&objective).await, [a.name.as_str()]);

    // Deleting it again: NOT_FOUND; undeleting a live one: ALREADY_EXISTS.
    let again = delete_key_result(&stack, &b.name, "").await.unwrap_err();
    assert_error(&again, Code::NotFound, "RESOURCE_NOT_FOUND");
    let live = undelete_key_result(&stack, &a.name).await.unwrap_err();
    assert_error(&live, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");
    let missing = delete_key_result(&stack, &format!("{objective}/keyResults/zz"), "")
        .await
        .unwrap_err();
    assert_error(&missing, Code::NotFound, "RESOURCE_NOT_FOUND");

    let restored = undelete_key_result(&stack, &b.name).await.unwrap();
    assert_eq!(restored.delete_time, None);
    assert_ne!(restored.etag, deleted.etag);
    let back = objective_status(&stack, &objective).await;
    assert_eq!(read(back.progress.as_ref()), dec("0.3125"));
    assert_eq!(back.health(), pb::Health::OffTrack);
    assert_eq!(
        stack.key_result_names(&objective).await,
        [a.name.as_str(), b.name.as_str()]
    );

    let actions: Vec<(String, String)> = audited(&stack, &b.name)
        .await
        .into_iter()
        .map(|(action, resource, _)| (action, resource))
        .collect();
    assert_eq!(
        actions,
        [
            ("DeleteKeyResult".to_owned(), b.name.clone()),
            ("UndeleteKeyResult".to_owned(), b.name.clone()),
        ]
    );

    stack.stop().await;
}

#[tokio::test]
async fn deleting_an_objective_deletes_its_key_results_and_tells_its_watchers() {
    let (stack, objective, a, b) = two_weighted_key_results().await;
    let cycle = get_objective(&stack, &objective).await.cycle;
    let other = stack.create_objective("other", &cycle).await;
    // b is deleted on its own first: undeleting the objective must not bring it back.
    let b_deleted = delete_key_result(&stack, &b.name, "").await.unwrap();
    let settled = crate::check_ins::status_as_of(&stack, &b.name, None, None)
        .await
        .version;
    let mut watcher = open_watch(&stack, Selection::Objective(objective.clone()), settled).await;
    let snapshot: Vec<&str> = watcher
        .snapshot
        .iter()
        .map(|status| status.key_result.as_str())
        .collect();
    assert_eq!(
        snapshot,
        [a.name.as_str()],
        "a deleted key result is not watched"
    );

    let growth = get_objective(&stack, &objective).await;
    let stale = delete_objective(&stack, &objective, "\"999\"")
        .await
        .unwrap_err();
    assert_error(&stale, Code::Aborted, "CONCURRENT_CHANGE");
    assert_eq!(get_objective(&stack, &objective).await.delete_time, None);
    assert_eq!(get_key_result(&stack, &a.name).await.delete_time, None);
    watcher.assert_quiet("after a refused delete").await;

    let deleted = delete_objective(&stack, &objective, &growth.etag)
        .await
        .unwrap();
    assert!(deleted.delete_time.is_some());
    assert_ne!(deleted.etag, growth.etag);
    let message = watcher
        .next(Duration::from_secs(2))
        .await
        .expect("the removal within 2 s")
        .expect("a removal, not an error");
    assert_eq!(message.event, Some(Event::RemovedKeyResult(a.name.clone())));
    assert!(message.version > watcher.bookmark);

    // Its key result went with it, at the same instant; Get shows both, List neither.
    let a_deleted = get_key_result(&stack, &a.name).await;
    assert_eq!(a_deleted.delete_time, deleted.delete_time);
    assert_eq!(
        get_objective(&stack, &objective).await.delete_time,
        deleted.delete_time
    );
    assert_eq!(
        stack.key_result_names(&objective).await,
        Vec::<String>::new()
    );
    assert_eq!(
        list_objectives(&stack, "", false).await,
        [other.name.as_str()]
    );
    assert_eq!(
        list_objectives(&stack, "", true).await,
        [objective.as_str(), other.name.as_str()]
    );

    // Deleted: again is NOT_FOUND; nothing can be added or undeleted under it.
    let again = delete_objective(&stack, &objective, "").await.unwrap_err();
    assert_error(&again, Code::NotFound, "RESOURCE_NOT_FOUND");
    let orphan = undelete_key_result(&stack, &a.name).await.unwrap_err();
    assert_error(&orphan, Code::FailedPrecondition, "OBJECTIVE_DELETED");
    let create = stack
        .client()
        .create_key_result(pb::CreateKeyResultRequest {
            parent: objective.clone(),
            key_result_id: "c".into(),
            key_result: Some(weighted("1")),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_error(&create, Code::FailedPrecondition, "OBJECTIVE_DELETED");
    let status = stack
        .client()
        .get_objective_status(pb::GetObjectiveStatusRequest {
            name: objective.clone(),
            evaluation_time: Some(timestamp(MID_CYCLE)),
        })
        .await
        .unwrap_err();
    assert_error(&status, Code::FailedPrecondition, "OBJECTIVE_DELETED");

    let restored = undelete_objective(&stack, &objective).await.unwrap();
    assert_eq!(restored.delete_time, None);
    let (_, status) = watcher.next_status().await;
    assert_eq!(status.key_result, a.name);
    // a came back with it; b, deleted before on its own, did not.
    assert_eq!(stack.key_result_names(&objective).await, [a.name.as_str()]);
    assert_eq!(
        get_key_result(&stack, &b.name).await.delete_time,
        b_deleted.delete_time
    );
    assert_eq!(
        read(objective_status(&stack, &objective).await.progress.as_ref()),
        dec("0.5")
    );
    let live = undelete_objective(&stack, &objective).await.unwrap_err();
    assert_error(&live, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");
    assert_eq!(
        list_objectives(&stack, "", false).await,
        [objective.as_str(), other.name.as_str()]
    );

    let actions: Vec<(String, String)> = audited(&stack, &objective)
        .await
        .into_iter()
        .map(|(action, resource, _)| (action, resource))
        .collect();
    assert_eq!(
        actions,
        [
            ("DeleteKeyResult".to_owned(), b.name.clone()),
            ("DeleteKeyResult".to_owned(), a.name.clone()),
            ("DeleteObjective".to_owned(), objective.clone()),
            ("UndeleteKeyResult".to_owned(), a.name.clone()),
            ("UndeleteObjective".to_owned(), objective.clone()),
        ]
    );

    stack.stop().await;
}

#[tokio::test]
async fn update_key_result_changes_the_masked_fields_and_the_progress() {
    let (stack, objective, a, b) = two_weighted_key_results().await;
    let version_before = crate::check_ins::status_as_of(&stack, &a.name, None, None)
        .await
        .version;

    // Target 100 → 200 with the mask: a's value 50 is now 50 / 200 = 1/4 of the way; the
    // display name sent along is not in the mask and stays.
    let updated = update_key_result(
        &stack,
        pb::KeyResult {
            name: a.name.clone(),
            etag: a.etag.clone(),
            target: Some(wire("200")),
            display_name: "ignored".into(),
            ..Default::default()
        },
        Some(&["target"]),
    )
    .await
    .unwrap();
    assert_eq!(read(updated.target.as_ref()), dec("200"));
    assert_eq!(read(updated.baseline.as_ref()), dec("0"));
    assert_eq!(updated.display_name, a.display_name);
    assert_ne!(updated.etag, a.etag);
    assert!(
        from_timestamp(updated.update_time.as_ref()) > from_timestamp(a.update_time.as_ref()),
        "{updated:?}"
    );
    let status = crate::check_ins::status_as_of(&stack, &a.name, Some(MID_CYCLE), None).await;
    assert_eq!(
        read(status.progress.as_ref().unwrap().clamped.as_ref()),
        dec("0.25")
    );
    assert!(status.version > version_before, "the change is published");
    // (1 × 1/4 + 3 × 1/4) / 4 = 0.25.
    assert_eq!(
        read(objective_status(&stack, &objective).await.progress.as_ref()),
        dec("0.25")
    );

    // The old etag is stale now: ABORTED, and nothing changes.
    let stale = update_key_result(
        &stack,
        pb::KeyResult {
            name: a.name.clone(),
            etag: a.etag.clone(),
            target: Some(wire("400")),
            ..Default::default()
        },
        Some(&["target"]),
    )
    .await
    .unwrap_err();
    assert_error(&stale, Code::Aborted, "CONCURRENT_CHANGE");
    assert_eq!(
        read(get_key_result(&stack, &a.name).await.target.as_ref()),
        dec("200")
    );

    // Without a mask: the populated fields (display name and weight) change, the rest stays.
    let renamed = update_key_result(
        &stack,
        pb::KeyResult {
            name: b.name.clone(),
            display_name: "Renamed".into(),
            weight: Some(wire("1")),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(renamed.display_name, "Renamed");
    assert_eq!(read(renamed.weight.as_ref()), dec("1"));
    assert_eq!(read(renamed.target.as_ref()), dec("100"));
    // a (1/4, weight 1) and b (1/4, weight 1): 0.25. Now b's target 100 → 50: b is 25 / 50 =
    // 1/2, so (1/4 + 1/2) / 2 = 0.375.
    update_key_result(
        &stack,
        pb::KeyResult {
            name: b.name.clone(),
            target: Some(wire("50")),
            ..Default::default()
        },
        Some(&["target"]),
    )
    .await
    .unwrap();
    assert_eq!(
        read(objective_status(&stack, &objective).await.progress.as_ref()),
        dec("0.375")
    );
    // Baseline and target swapped: the direction follows them unless the mask sets it.
    let decreasing = update_key_result(
        &stack,
        pb::KeyResult {
            name: b.name.clone(),
            baseline: Some(wire("50")),
            target: Some(wire("0")),
            ..Default::default()
        },
        Some(&["baseline", "target"]),
    )
    .await
    .unwrap();
    assert_eq!(decreasing.direction(), pb::Direction::Decrease);

    // Rejected masks and values, each naming its field; none changes anything.
    let current = get_key_result(&stack, &b.name).await;
    for (paths, field) in [
        (&["name"][..], "update_mask"),
        (&["etag"][..], "update_mask"),
        (&["create_time"][..], "update_mask"),
        (&["unit"][..], "update_mask"),
        (&["metric_binding"][..], "update_mask"),
        (&["bogus"][..], "update_mask"),
        (&["weight"][..], "key_result.weight"),
    ] {
        let status = update_key_result(
            &stack,
            pb::KeyResult {
                name: b.name.clone(),
                weight: Some(wire("1001")),
                ..Default::default()
            },
            Some(paths),
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), fields(&[field]), "{paths:?}");
    }
    let equal = update_key_result(
        &stack,
        pb::KeyResult {
            name: b.name.clone(),
            target: Some(wire("50")),
            ..Default::default()
        },
        Some(&["target"]),
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&equal), fields(&["key_result.target"]));
    let contradicting = update_key_result(
        &stack,
        pb::KeyResult {
            name: b.name.clone(),
            direction: pb::Direction::Increase.into(),
            ..Default::default()
        },
        Some(&["direction"]),
    )
    .await
    .unwrap_err();
    assert_eq!(
        violated_fields(&contradicting),
        fields(&["key_result.direction"])
    );
    let nothing = update_key_result(
        &stack,
        pb::KeyResult {
            name: b.name.clone(),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&nothing), fields(&["update_mask"]));
    assert_eq!(get_key_result(&stack, &b.name).await, current);

    // A deleted key result is not updated.
    delete_key_result(&stack, &b.name, "").await.unwrap();
    let gone = update_key_result(
        &stack,
        pb::KeyResult {
            name: b.name.clone(),
            display_name: "Again".into(),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap_err();
    assert_error(&gone, Code::FailedPrecondition, "KEY_RESULT_DELETED");

    let updates: Vec<serde_json::Value> = audited(&stack, &b.name)
        .await
        .into_iter()
        .filter(|(action, _, _)| action == "UpdateKeyResult")
        .map(|(_, _, change)| change["fields"].clone())
        .collect();
    assert_eq!(
        updates,
        [
            serde_json::json!(["display_name", "weight"]),
            serde_json::json!(["target"]),
            serde_json::json!(["baseline", "target"]),
        ]
    );

    stack.stop().await;
}

#[tokio::test]
async fn of_two_concurrent_updates_with_the_same_etag_exactly_one_succeeds() {
    let (stack, objective) = stack_with_objective().await;
    let created = stack
        .create_key_result(&objective, "a", manual_key_result("0", "100"))
        .await;
    let mut etag = created.etag.clone();
    for round in 0..5 {
        let update = |name: &str| pb::KeyResult {
            name: created.name.clone(),
            etag: etag.clone(),
            display_name: format!("{name} {round}"),
            ..Default::default()
        };
        let (first, second) = tokio::join!(
            update_key_result(&stack, update("first"), Some(&["display_name"])),
            update_key_result(&stack, update("second"), Some(&["display_name"])),
        );
        let (winner, loser) = match (first, second) {
            (Ok(winner), Err(loser)) | (Err(loser), Ok(winner)) => (winner, loser),
            other => panic!("round {round}: expected one success, got {other:?}"),
        };
        assert_error(&loser, Code::Aborted, "CONCURRENT_CHANGE");
        let stored = get_key_result(&stack, &created.name).await;
        assert_eq!(stored.display_name, winner.display_name);
        assert_eq!(stored.etag, winner.etag);
        // One version further per round: the loser changed nothing.
        assert_eq!(stored.etag, format!("\"{}\"", round + 2));
        etag = stored.etag;
    }
    stack.stop().await;
}

#[tokio::test]
async fn update_objective_changes_the_masked_fields_and_checks_the_etag() {
    let (stack, objective) = stack_with_objective().await;
    let growth = get_objective(&stack, &objective).await;

    let renamed = update_objective(
        &stack,
        pb::Objective {
            name: objective.clone(),
            etag: growth.etag.clone(),
            display_name: "Grow".into(),
            description: "ignored".into(),
            ..Default::default()
        },
        Some(&["display_name"]),
    )
    .await
    .unwrap();
    assert_eq!(renamed.display_name, "Grow");
    assert_eq!(renamed.description, "");
    assert_ne!(renamed.etag, growth.etag);
    assert!(
        from_timestamp(renamed.update_time.as_ref()) > from_timestamp(growth.update_time.as_ref())
    );

    // No mask: the populated description; and an empty display name under the mask is
    // rejected as on creation.
    let described = update_objective(
        &stack,
        pb::Objective {
            name: objective.clone(),
            description: "Because".into(),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(described.display_name, "Grow");
    assert_eq!(described.description, "Because");

    let stale = update_objective(
        &stack,
        pb::Objective {
            name: objective.clone(),
            etag: renamed.etag.clone(),
            display_name: "Late".into(),
            ..Default::default()
        },
        Some(&["display_name"]),
    )
    .await
    .unwrap_err();
    assert_error(&stale, Code::Aborted, "CONCURRENT_CHANGE");
    for (paths, field) in [
        (&["cycle"][..], "update_mask"),
        (&["delete_time"][..], "update_mask"),
        (&["title"][..], "update_mask"),
        (&["display_name"][..], "objective.display_name"),
    ] {
        let status = update_objective(
            &stack,
            pb::Objective {
                name: objective.clone(),
                ..Default::default()
            },
            Some(paths),
        )
        .await
        .unwrap_err();
        assert_eq!(violated_fields(&status), fields(&[field]), "{paths:?}");
    }
    // A field fixed at creation says what to do instead.
    let moved = update_objective(
        &stack,
        pb::Objective {
            name: objective.clone(),
            ..Default::default()
        },
        Some(&["cycle"]),
    )
    .await
    .unwrap_err();
    assert!(
        violations(&moved)[0].1.contains("CarryOverObjective"),
        "{moved:?}"
    );
    assert_eq!(get_objective(&stack, &objective).await, described);

    let changes: Vec<serde_json::Value> = audited(&stack, &objective)
        .await
        .into_iter()
        .map(|(_, _, change)| change["fields"].clone())
        .collect();
    assert_eq!(
        changes,
        [
            serde_json::json!(["display_name"]),
            serde_json::json!(["description"])
        ]
    );

    stack.stop().await;
}

#[tokio::test]
async fn list_objectives_filters_by_cycle_with_bound_values_only() {
    let stack = Stack::start().await;
    let q1 = stack
        .create_cycle("q1", "1997-01-01", "1997-03-31", "UTC")
        .await
        .name;
    let q2 = stack
        .create_cycle("q2", "1997-04-01", "1997-06-30", "UTC")
        .await
        .name;
    let a = stack.create_objective("a", &q1).await.name;
    let b = stack.create_objective("b", &q2).await.name;
    let c = stack.create_objective("c", &q1).await.name;

    assert_eq!(
        list_objectives(&stack, &format!("cycle = \"{q1}\""), false).await,
        [a.as_str(), c.as_str()]
    );
    assert_eq!(
        list_objectives(&stack, &format!("cycle=\"{q2}\""), false).await,
        [b.as_str()]
    );
    assert_eq!(
        list_objectives(
            &stack,
            &format!("cycle = \"{q1}\" AND cycle = \"{q1}\""),
            false
        )
        .await,
        [a.as_str(), c.as_str()]
    );
    assert_eq!(
        list_objectives(&stack, "", false).await,
        [a.as_str(), b.as_str(), c.as_str()]
    );
    // A cycle without objectives, and one that does not exist: nothing.
    assert_eq!(
        list_objectives(&stack, &format!("cycle = \"{TENANT}/cycles/q3\""), false).await,
        Vec::<String>::new()
    );
    // With a deleted objective: hidden unless show_deleted, filter or not.
    delete_objective(&stack, &a, "").await.unwrap();
    assert_eq!(
        list_objectives(&stack, &format!("cycle = \"{q1}\""), false).await,
        [c.as_str()]
    );
    assert_eq!(
        list_objectives(&stack, &format!("cycle = \"{q1}\""), true).await,
        [a.as_str(), c.as_str()]
    );

    for (filter, says) in [
        ("owner = \"x\"".to_owned(), "\"owner\""),
        ("owner_team = x".to_owned(), "double-quoted"),
        (
            format!("cycle \"{q1}\""),
            "is not a `field = \"value\"` term",
        ),
        (format!("cycle = {q1}"), "double-quoted"),
        (
            format!("AND cycle = \"{q1}\""),
            "is not a `field = \"value\"` term",
        ),
        (
            format!("cycle = \"{q1}\" AND"),
            "is not a `field = \"value\"` term",
        ),
        ("stage != \"ACTIVE\"".to_owned(), "uses `!=`; only `=`"),
        ("cycle = \"q1\"".to_owned(), "is not a cycle name"),
        // An injection attempt is never SQL: it is not a cycle name.
        (
            "cycle = \"tenants/acme/cycles/x' or '1'='1\"".to_owned(),
            "is not a cycle name",
        ),
        (
            "cycle = \"tenants/other/cycles/q1\"".to_owned(),
            "another tenant",
        ),
        (
            format!("cycle = \"{q1}\" AND cycle = \"{q2}\""),
            "two different cycles",
        ),
    ] {
        let status = try_list_objectives(&stack, &filter, false)
            .await
            .unwrap_err();
        let violations = crate::fixture::violations(&status);
        assert_eq!(violations.len(), 1, "{filter:?}: {violations:?}");
        assert_eq!(violations[0].0, "filter", "{filter:?}");
        assert!(
            violations[0].1.contains(says),
            "{filter:?}: {:?} does not say {says:?}",
            violations[0].1
        );
    }

    stack.stop().await;
}

#[tokio::test]
async fn a_deleted_bound_key_result_is_not_refreshed_until_it_is_undeleted() {
    // The activation metric over 1997 Q1 is 1 of 4 = 25 % at first.
    let (stack, metric, objective) = crate::metric_refresh::stack_with_metric().await;
    // Created first, so each refresh pass reaches it before `live`.
    let gone = stack
        .create_key_result(&objective, "gone", percent_key_result("20", "60", &metric))
        .await
        .name;
    let live = stack
        .create_key_result(&objective, "live", percent_key_result("20", "60", &metric))
        .await
        .name;
    assert_eq!(
        value_of(&status_as_of(&stack, &gone, None, None).await),
        dec("25")
    );
    delete_key_result(&stack, &gone, "").await.unwrap();
    assert_eq!(list_check_ins(&stack, &gone).await.len(), 1);
    let refused = try_record(
        &stack,
        &gone,
        check_in("30", "1997-02-01T00:00:00Z", "manual"),
        "r1",
    )
    .await
    .unwrap_err();
    assert_error(&refused, Code::FailedPrecondition, "KEY_RESULT_DELETED");

    // u2 comes back within 90 days and u5 joins: 2 (u1, u2) of 5 = 40 %.
    crate::metric_refresh::ingest(
        stack.metrics_client(),
        "later",
        &[
            ("u2", "purchase", "1997-03-10T10:00:00Z"),
            ("u5", "purchase", "1997-03-20T10:00:00Z"),
        ],
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while value_of(&status_as_of(&stack, &live, None, None).await) != dec("40") {
        assert!(
            std::time::Instant::now() < deadline,
            "live not refreshed in 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The pass that refreshed `live` skipped `gone`.
    assert_eq!(
        value_of(&status_as_of(&stack, &gone, None, None).await),
        dec("25")
    );
    assert_eq!(list_check_ins(&stack, &gone).await.len(), 1);

    // Restored, it catches up at once.
    undelete_key_result(&stack, &gone).await.unwrap();
    assert_eq!(
        value_of(&status_as_of(&stack, &gone, None, None).await),
        dec("40")
    );
    assert_eq!(list_check_ins(&stack, &gone).await.len(), 2);

    stack.stop().await;
}
