//! The cycle's life (planning → active → closed, scored at close), late check-ins into a
//! closed cycle, learnings, the audit log and a key result's daily history.

use devokr_proto::objectives::v1 as pb;
use tonic::{Code, Status};

use crate::changes::update_key_result;
use crate::check_ins::manual_key_result;
use crate::fixture::{
    Stack, TENANT, assert_error, dec, read, request_by, timestamp, violations, wire,
};

async fn check_in(
    stack: &Stack,
    key_result: &str,
    value: &str,
    at: &str,
    key: &str,
    allow_late: bool,
) -> Result<pb::CheckIn, tonic::Status> {
    let request = request_by(
        "alice",
        pb::CreateCheckInRequest {
            parent: key_result.into(),
            check_in: Some(pb::CheckIn {
                value: Some(wire(value)),
                measure_time: Some(timestamp(at)),
                idempotency_key: key.into(),
                ..Default::default()
            }),
            allow_late,
        },
    );
    stack
        .client()
        .create_check_in(request)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_cycle_is_activated_closed_and_scored_and_late_check_ins_are_flagged() {
    let stack = Stack::start().await;
    let cycle = stack
        .create_cycle("q1", "2026-01-01", "2026-03-31", "UTC")
        .await;
    assert_eq!(cycle.state(), pb::CycleState::Planning);
    let objective = stack.create_objective("grow", &cycle.name).await;
    let reached = stack
        .create_key_result(&objective.name, "reached", manual_key_result("10", "20"))
        .await;
    let partial = stack
        .create_key_result(&objective.name, "partial", manual_key_result("0", "100"))
        .await;
    let overridden = stack
        .create_key_result(&objective.name, "overridden", manual_key_result("0", "10"))
        .await;
    check_in(
        &stack,
        &reached.name,
        "20",
        "2026-02-01T00:00:00Z",
        "r1",
        false,
    )
    .await
    .unwrap();
    // (64 − 0) / (100 − 0) = 0.64, scored 0.6 (rounded to one decimal).
    let p1 = || {
        check_in(
            &stack,
            &partial.name,
            "64",
            "2026-02-01T00:00:00Z",
            "p1",
            false,
        )
    };
    let first_p1 = p1().await.unwrap();

    // Closing a planned cycle skips a state: refused.
    let refused = stack
        .client()
        .close_cycle(pb::CloseCycleRequest {
            name: cycle.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_error(&refused, Code::FailedPrecondition, "CYCLE_STATE");

    let active = stack
        .client()
        .activate_cycle(pb::ActivateCycleRequest {
            name: cycle.name.clone(),
            etag: cycle.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(active.state(), pb::CycleState::Active);
    assert_ne!(active.etag, cycle.etag);

    // A stale etag changes nothing.
    let stale = stack
        .client()
        .close_cycle(pb::CloseCycleRequest {
            name: cycle.name.clone(),
            etag: cycle.etag.clone(),
            overrides: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_error(&stale, Code::Aborted, "CONCURRENT_CHANGE");

    // An override needs a reason and a score from 0 to 1, and a key result has at most one;
    // each refusal names the field and leaves the cycle open.
    let score_override = |score: &str, reason: &str| pb::ScoreOverride {
        key_result: overridden.name.clone(),
        score: Some(wire(score)),
        reason: reason.into(),
    };
    for (overrides, field) in [
        (vec![score_override("0.3", "")], "overrides[0].reason"),
        (vec![score_override("1.5", "why")], "overrides[0].score"),
        (
            vec![
                score_override("0.3", "why"),
                score_override("0.9", "why not"),
            ],
            "overrides[1].key_result",
        ),
    ] {
        let refused = stack
            .client()
            .close_cycle(pb::CloseCycleRequest {
                name: cycle.name.clone(),
                etag: active.etag.clone(),
                overrides,
            })
            .await
            .unwrap_err();
        let said = violations(&refused);
        assert_eq!(said.len(), 1, "{said:?}");
        assert_eq!(said[0].0, field, "{said:?}");
    }

    let closed = stack
        .client()
        .close_cycle(pb::CloseCycleRequest {
            name: cycle.name.clone(),
            etag: active.etag.clone(),
            overrides: vec![pb::ScoreOverride {
                key_result: overridden.name.clone(),
                score: Some(wire("0.3")),
                reason: "the launch slipped to Q2 for legal review".into(),
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.state(), pb::CycleState::Closed);

    let score = |name: &str| {
        let client = stack.client();
        let name = name.to_owned();
        async move {
            client
                .clone()
                .get_key_result(pb::GetKeyResultRequest { name })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let reached = score(&reached.name).await;
    assert_eq!(read(reached.score.as_ref()), dec("1"));
    assert!(reached.score_override_reason.is_empty());
    let partial = score(&partial.name).await;
    assert_eq!(read(partial.score.as_ref()), dec("0.6"));
    let overridden_now = score(&overridden.name).await;
    assert_eq!(read(overridden_now.score.as_ref()), dec("0.3"));
    assert_eq!(
        overridden_now.score_override_reason,
        "the launch slipped to Q2 for legal review"
    );

    // A retry of a check-in recorded before the close is answered as recorded.
    assert_eq!(p1().await.unwrap(), first_p1);

    // The closed cycle keeps what it was scored on: no new objectives or key results, no
    // changed definitions.
    let closed_cycle = |status: Status| {
        assert_error(&status, Code::FailedPrecondition, "CYCLE_CLOSED");
        assert!(status.message().contains("is closed"), "{status:?}");
    };
    closed_cycle(
        stack
            .try_create_objective("late", crate::fixture::objective("late", &cycle.name))
            .await
            .unwrap_err(),
    );
    closed_cycle(
        stack
            .try_create_key_result(&objective.name, "late", manual_key_result("0", "1"))
            .await
            .unwrap_err(),
    );
    let mut raised = partial.clone();
    raised.target = Some(wire("50"));
    closed_cycle(
        update_key_result(&stack, raised, Some(&["target"]))
            .await
            .unwrap_err(),
    );
    let partial_now = stack
        .client()
        .get_key_result(pb::GetKeyResultRequest {
            name: partial.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read(partial_now.target.as_ref()), dec("100"));

    // A check-in measured in the closed cycle needs allow_late, and is then marked late.
    let refused = check_in(
        &stack,
        &partial.name,
        "70",
        "2026-03-15T00:00:00Z",
        "p2",
        false,
    )
    .await
    .unwrap_err();
    assert_error(&refused, Code::InvalidArgument, "INVALID_ARGUMENT");
    let late = check_in(
        &stack,
        &partial.name,
        "70",
        "2026-03-15T00:00:00Z",
        "p2",
        true,
    )
    .await
    .unwrap();
    assert!(late.late);

    // Every change is in the audit log, with who made it.
    let events = stack
        .client()
        .list_audit_events(pb::ListAuditEventsRequest {
            parent: TENANT.into(),
            resource: partial.name.clone(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|event| (event.action.as_str(), event.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [("CreateCheckIn", "alice"), ("CreateLateCheckIn", "alice")]
    );
    let cycle_events = stack
        .client()
        .list_audit_events(pb::ListAuditEventsRequest {
            parent: TENANT.into(),
            resource: cycle.name.clone(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let actions: Vec<&str> = cycle_events
        .iter()
        .map(|event| event.action.as_str())
        .collect();
    assert_eq!(actions, ["ActivateCycle", "CloseCycle"]);
    assert!(
        cycle_events[1].change.contains("legal review"),
        "{}",
        cycle_events[1].change
    );

    stack.stop().await;
}

/// A resource's audit log holds it and what is under it, matched by name, never by pattern:
/// `_` in an id is a character, not LIKE's wildcard.
#[tokio::test]
async fn an_audit_log_holds_its_resource_and_nothing_named_like_it() {
    let stack = Stack::start().await;
    let cycle = stack
        .create_cycle("q1", "1997-01-01", "1997-03-31", "UTC")
        .await;
    for objective_id in ["a_1", "ab1", "a_10"] {
        stack.create_objective(objective_id, &cycle.name).await;
    }
    let audited = |resource: &'static str| {
        let stack = &stack;
        async move {
            stack
                .audit_events(resource)
                .await
                .into_iter()
                .map(|(action, _, change)| format!("{action} {}", change["displayName"]))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        audited("tenants/acme/objectives/a_1").await,
        [r#"CreateObjective "a_1""#]
    );
    assert!(audited("tenants/acme/objectives/%").await.is_empty());
    assert!(audited("tenants/acme/objectives/a%").await.is_empty());
    let everything = audited("").await;
    for objective_id in ["a_1", "ab1", "a_10"] {
        let created = format!(r#"CreateObjective "{objective_id}""#);
        assert!(everything.contains(&created), "{everything:?}");
    }

    stack.stop().await;
}

#[tokio::test]
async fn learnings_are_recorded_on_key_results_and_objectives() {
    let stack = Stack::start().await;
    let cycle = stack
        .create_cycle("q1", "2026-01-01", "2026-03-31", "UTC")
        .await;
    let objective = stack.create_objective("grow", &cycle.name).await;
    let key_result = stack
        .create_key_result(&objective.name, "activation", manual_key_result("10", "20"))
        .await;
    let request_id = "0b6f1d6e-3c7a-4a55-9a55-3c2f0f0e9a11";
    let create = || pb::CreateLearningRequest {
        parent: key_result.name.clone(),
        learning: Some(pb::Learning {
            text: "Onboarding emails moved activation; in-app tips did not.".into(),
            hypothesis: pb::HypothesisOutcome::Held.into(),
            ..Default::default()
        }),
        request_id: request_id.into(),
    };
    let first = stack
        .client()
        .create_learning(create())
        .await
        .unwrap()
        .into_inner();
    let again = stack
        .client()
        .create_learning(create())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again);
    assert!(
        first
            .name
            .starts_with(&format!("{}/learnings/", key_result.name))
    );
    assert_eq!(first.hypothesis(), pb::HypothesisOutcome::Held);

    stack
        .client()
        .create_learning(pb::CreateLearningRequest {
            parent: objective.name.clone(),
            learning: Some(pb::Learning {
                text: "Set the activation baseline from data, not a guess.".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let listed = stack
        .client()
        .list_learnings(pb::ListLearningsRequest {
            parent: key_result.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .learnings;
    assert_eq!(listed, [first]);

    let unknown_outcome = stack
        .client()
        .create_learning(pb::CreateLearningRequest {
            parent: objective.name.clone(),
            learning: Some(pb::Learning {
                text: "x".into(),
                hypothesis: 99,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&unknown_outcome)[0].0, "learning.hypothesis");

    let missing = stack
        .client()
        .create_learning(pb::CreateLearningRequest {
            parent: format!("{TENANT}/objectives/nope"),
            learning: Some(pb::Learning {
                text: "x".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_error(&missing, Code::NotFound, "RESOURCE_NOT_FOUND");
    stack.stop().await;
}

#[tokio::test]
async fn history_replays_the_value_day_by_day() {
    let stack = Stack::start().await;
    let cycle = stack
        .create_cycle("w", "2026-01-01", "2026-01-05", "UTC")
        .await;
    let objective = stack.create_objective("grow", &cycle.name).await;
    let key_result = stack
        .create_key_result(&objective.name, "k", manual_key_result("0", "10"))
        .await;
    check_in(
        &stack,
        &key_result.name,
        "2",
        "2026-01-02T12:00:00Z",
        "a",
        false,
    )
    .await
    .unwrap();
    check_in(
        &stack,
        &key_result.name,
        "5",
        "2026-01-04T08:00:00Z",
        "b",
        false,
    )
    .await
    .unwrap();

    let points = stack
        .client()
        .list_key_result_history(pb::ListKeyResultHistoryRequest {
            name: key_result.name.clone(),
            granularity: pb::Granularity::Day.into(),
            start_time: None,
            end_time: None,
        })
        .await
        .unwrap()
        .into_inner()
        .points;
    // Five days; no value on day 1, 2 from day 2 (measured at noon), 5 from day 4.
    let values: Vec<Option<String>> = points
        .iter()
        .map(|point| point.value.as_ref().map(|value| value.value.clone()))
        .collect();
    assert_eq!(
        values,
        [
            None,
            Some("2".into()),
            Some("2".into()),
            Some("5".into()),
            Some("5".into())
        ]
    );
    // Progress on day 4: (5 − 0) / (10 − 0) = 0.5.
    let progress = points[3].progress.as_ref().unwrap();
    assert_eq!(read(progress.raw.as_ref()), dec("0.5"));
    assert_eq!(points[0].health(), pb::Health::NoData);

    // A granularity this service does not know is named, not read as days.
    let unknown = stack
        .client()
        .list_key_result_history(pb::ListKeyResultHistoryRequest {
            name: key_result.name.clone(),
            granularity: 99,
            start_time: None,
            end_time: None,
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&unknown)[0].0, "granularity");
    stack.stop().await;
}
