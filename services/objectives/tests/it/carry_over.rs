//! CarryOverObjective: the definition and live key results go into the new cycle, never the
//! check-ins, scores or learnings; a retry with the same request id returns the first copy;
//! the same cycle and a closed cycle are refused.

use chrono::Duration as Days;
use devokr_domain::metric_reference::{Ratio, activation_rate};
use devokr_proto::objectives::v1 as pb;
use tonic::{Code, Status};

use crate::{
    changes::{get_objective, list_objectives},
    check_ins::{check_in, list_check_ins, manual_key_result, record, status_as_of, value_of},
    fixture::{
        TENANT, assert_error, dec, fields, instant, percent_key_result, reference_events,
        request_by, violated_fields,
    },
    kinds::interim,
    metric_refresh::{FIRST_EVENTS, ingest, stack_with_metric},
};

/// Q2 data: u6 buys on 10 April and again on 1 May (21 days later: activated), u7 once. The
/// Q2 population is u6 and u7 (u1 to u4 first bought in Q1): 1 of 2, 50 %.
const Q2_EVENTS: &[(&str, &str, &str)] = &[
    ("u6", "purchase", "1997-04-10T10:00:00Z"),
    ("u6", "purchase", "1997-05-01T10:00:00Z"),
    ("u7", "purchase", "1997-04-15T10:00:00Z"),
];

async fn carry_over(
    stack: &crate::fixture::Stack,
    objective: &str,
    cycle: &str,
    request_id: &str,
) -> Result<pb::Objective, Status> {
    let request = request_by(
        "alice",
        pb::CarryOverObjectiveRequest {
            name: objective.into(),
            cycle: cycle.into(),
            objective_id: String::new(),
            request_id: request_id.into(),
        },
    );
    stack
        .client()
        .carry_over_objective(request)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn carrying_over_copies_the_definition_not_the_check_ins_and_is_idempotent() {
    let all: Vec<_> = FIRST_EVENTS.iter().chain(Q2_EVENTS).copied().collect();
    assert_eq!(
        activation_rate(
            &reference_events(&all),
            "purchase",
            "purchase",
            instant("1997-04-01T00:00:00Z"),
            instant("1997-07-01T00:00:00Z"),
            Days::days(90),
        ),
        Ratio {
            numerator: 1,
            denominator: 2
        }
    );
    let (stack, metric, objective) = stack_with_metric().await;
    ingest(stack.metrics_client(), "q2", Q2_EVENTS).await;
    let manual = stack
        .create_key_result(&objective, "manual", manual_key_result("0", "10"))
        .await;
    record(
        &stack,
        &manual.name,
        check_in("7", "1997-02-01T00:00:00Z", "seven"),
    )
    .await;
    let bound = stack
        .create_key_result(
            &objective,
            "activation",
            percent_key_result("20", "60", &metric),
        )
        .await;
    // 40 % expected half-way through Q1 (90 days): 15 February, day 45.
    let mut phased = manual_key_result("0", "10");
    phased.interim_targets = vec![interim("1997-02-15T00:00:00Z", "0.4")];
    stack.create_key_result(&objective, "phased", phased).await;
    let dropped = stack
        .create_key_result(&objective, "dropped", manual_key_result("0", "1"))
        .await;
    stack
        .client()
        .delete_key_result(pb::DeleteKeyResultRequest {
            name: dropped.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let q1 = format!("{TENANT}/cycles/q1-1997");
    let q2 = stack
        .create_cycle("q2-1997", "1997-04-01", "1997-06-30", "UTC")
        .await;
    let source = get_objective(&stack, &objective).await;

    let request_id = "6f1c2a0e-8d4b-4c1e-9a57-0b8f3d2e4c11";
    let copy = carry_over(&stack, &objective, &q2.name, request_id)
        .await
        .unwrap();
    assert_ne!(copy.name, objective);
    assert_eq!(copy.cycle, q2.name);
    assert_eq!(copy.display_name, source.display_name);
    assert_eq!(copy.description, source.description);
    // A retry returns the first copy and copies nothing more.
    let retried = carry_over(&stack, &objective, &q2.name, request_id)
        .await
        .unwrap();
    assert_eq!(retried.name, copy.name);
    assert_eq!(
        list_objectives(&stack, &format!("cycle = \"{}\"", q2.name), false)
            .await
            .len(),
        1
    );

    // The live key results, with the same definitions; not the deleted one.
    let copied = stack
        .client()
        .list_key_results(pb::ListKeyResultsRequest {
            parent: copy.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .key_results;
    let ids: Vec<&str> = copied
        .iter()
        .map(|key_result| key_result.name.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(ids, ["manual", "activation", "phased"]);
    // Half-way through Q2 (91 days) is 45.5 days after 1 April: 16 May, 12:00.
    assert_eq!(
        copied[2].interim_targets,
        [interim("1997-05-16T12:00:00Z", "0.4")]
    );
    for (copied, original) in copied.iter().zip([&manual, &bound]) {
        let id = original.name.rsplit('/').next().unwrap();
        assert_eq!(copied.name, format!("{}/keyResults/{id}", copy.name));
        assert_eq!(copied.display_name, original.display_name);
        assert_eq!(copied.baseline, original.baseline);
        assert_eq!(copied.target, original.target);
        assert_eq!(copied.unit, original.unit);
        assert_eq!(copied.direction, original.direction);
        assert_eq!(copied.metric_binding, original.metric_binding);
        assert_eq!(copied.weight, original.weight);
        assert_eq!(copied.score, None);
    }

    // The manual key result starts with no check-in and no value.
    let manual_copy = &copied[0].name;
    assert!(list_check_ins(&stack, manual_copy).await.is_empty());
    let manual_status = status_as_of(&stack, manual_copy, None, None).await;
    assert_eq!(manual_status.value, None);
    assert_eq!(manual_status.health(), pb::Health::NoData);
    assert_eq!(manual_status.explanation, "no value yet: no check-in");
    // The bound one reads its metric over Q2: 1 of 2 activated, 50 % (Q1 read 25 %).
    let bound_status = status_as_of(&stack, &copied[1].name, None, None).await;
    assert_eq!(value_of(&bound_status), dec("50"));
    let value = bound_status.value.as_ref().unwrap();
    assert_eq!((value.numerator, value.denominator), (1, 2));
    let original_status = status_as_of(&stack, &bound.name, None, None).await;
    assert_eq!(value_of(&original_status), dec("25"));
    // The original keeps its check-in.
    assert_eq!(list_check_ins(&stack, &manual.name).await.len(), 1);

    // Audited once, with the caller.
    let carried: Vec<_> = stack
        .audit_events(&copy.name)
        .await
        .into_iter()
        .filter(|(action, _, _)| action == "CarryOverObjective")
        .collect();
    assert_eq!(carried.len(), 1);
    assert_eq!(carried[0].1, "alice");
    assert_eq!(carried[0].2["from"], objective.as_str());

    // Into its own cycle, or into a closed one: refused, saying why.
    let same = carry_over(&stack, &objective, &q1, "").await.unwrap_err();
    assert_error(&same, Code::FailedPrecondition, "SAME_CYCLE");
    let q3 = stack
        .create_cycle("q3-1997", "1997-07-01", "1997-09-30", "UTC")
        .await;
    stack.activate_and_close_cycle(&q3.name).await;
    let closed = carry_over(&stack, &objective, &q3.name, "")
        .await
        .unwrap_err();
    assert_error(&closed, Code::FailedPrecondition, "CYCLE_CLOSED");
    let invalid = carry_over(&stack, &objective, "tenants/other/cycles/q2-1997", "retry")
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&invalid), fields(&["cycle", "request_id"]));

    stack.stop().await;
}

#[tokio::test]
async fn a_carried_rollup_drops_its_deleted_children_and_the_copy_its_deleted_parents() {
    let stack = crate::fixture::Stack::start().await;
    let q1 = stack
        .create_cycle("q1-1997", "1997-01-01", "1997-03-31", "UTC")
        .await;
    let q2 = stack
        .create_cycle("q2-1997", "1997-04-01", "1997-06-30", "UTC")
        .await;
    let kept_parent = stack.create_objective("company", &q1.name).await.name;
    let gone_parent = stack.create_objective("old-company", &q1.name).await.name;
    let source = stack
        .try_create_objective(
            "team",
            pb::Objective {
                parents: vec![kept_parent.clone(), gone_parent.clone()],
                ..crate::fixture::objective("Team objective", &q1.name)
            },
        )
        .await
        .unwrap()
        .name;
    let kept = stack
        .create_key_result(&source, "kept", manual_key_result("0", "10"))
        .await
        .name;
    let gone = stack
        .create_key_result(&source, "gone", manual_key_result("0", "10"))
        .await
        .name;
    stack
        .create_key_result(
            &source,
            "total",
            pb::KeyResult {
                rollup: Some(pb::Rollup {
                    aggregation: pb::RollupAggregation::Sum.into(),
                    key_results: vec![kept.clone(), gone.clone()],
                }),
                ..manual_key_result("0", "20")
            },
        )
        .await;
    let client = stack.client();
    client
        .clone()
        .delete_key_result(pb::DeleteKeyResultRequest {
            name: gone,
            etag: String::new(),
        })
        .await
        .unwrap();
    client
        .clone()
        .delete_objective(pb::DeleteObjectiveRequest {
            name: gone_parent,
            etag: String::new(),
        })
        .await
        .unwrap();

    let copy = carry_over(&stack, &source, &q2.name, "")
        .await
        .unwrap_or_else(|status| panic!("carried: {status:?}"));
    // The deleted parent gains no new child; the live one does.
    assert_eq!(copy.parents, [kept_parent]);
    // The copy of the rollup rolls up the copy of its live child only.
    let names = stack.key_result_names(&copy.name).await;
    assert_eq!(
        names,
        [
            format!("{}/keyResults/kept", copy.name),
            format!("{}/keyResults/total", copy.name)
        ]
    );
    let total = crate::changes::get_key_result(&stack, &names[1]).await;
    assert_eq!(
        total.rollup.map(|rollup| rollup.key_results),
        Some(vec![names[0].clone()])
    );

    stack.stop().await;
}
