//! Rollup key results: the sum or mean of child key results' values, recorded as a ROLLUP
//! check-in, audited and published at once whenever a child's value changes, with every
//! expected number worked out by hand in the comments.

use devokr_proto::objectives::v1 as pb;
use tonic::Code;

use crate::{
    check_ins::{
        audit_events, check_in, list_check_ins, manual_key_result, record, stack_with_objective,
        status_as_of, try_record, value_of,
    },
    fixture::{
        Stack, assert_error, assert_one_violation, dec, percent_key_result, read, timestamp,
    },
    watch::{Selection, open_watch},
};

/// A plain-number rollup key result from 0 to 500 of `children` (names).
fn rollup(aggregation: pb::RollupAggregation, children: &[&str]) -> pb::KeyResult {
    pb::KeyResult {
        rollup: Some(pb::Rollup {
            aggregation: aggregation.into(),
            key_results: children.iter().map(|child| (*child).to_owned()).collect(),
        }),
        ..manual_key_result("0", "500")
    }
}

/// The current value of a key result, which must have one.
async fn value(stack: &Stack, key_result: &str) -> devokr_domain::Decimal {
    value_of(&status_as_of(stack, key_result, None, None).await)
}

#[tokio::test]
async fn rollup_values_follow_check_ins_corrections_and_deletes_of_their_children() {
    let (stack, objective) = stack_with_objective().await;
    let k1 = stack
        .create_key_result(&objective, "k1", manual_key_result("0", "100"))
        .await
        .name;
    let k2 = stack
        .create_key_result(&objective, "k2", manual_key_result("0", "1000"))
        .await
        .name;
    record(&stack, &k1, check_in("30", "1997-01-10T00:00:00Z", "k1-a")).await;
    let k2_first = record(&stack, &k2, check_in("120", "1997-01-10T00:00:00Z", "k2-a")).await;

    // At creation: sum 30 + 120 = 150, mean 150 / 2 = 75.
    let total = stack
        .create_key_result(
            &objective,
            "total",
            rollup(pb::RollupAggregation::Sum, &[&k1, &k2]),
        )
        .await;
    assert_eq!(
        total.rollup,
        Some(pb::Rollup {
            aggregation: pb::RollupAggregation::Sum.into(),
            key_results: vec![k1.clone(), k2.clone()],
        })
    );
    let total = total.name;
    let mean = stack
        .create_key_result(
            &objective,
            "mean",
            rollup(pb::RollupAggregation::Mean, &[&k1, &k2]),
        )
        .await
        .name;
    assert_eq!(value(&stack, &total).await, dec("150"));
    assert_eq!(value(&stack, &mean).await, dec("75"));
    // A rollup of a rollup: the mean of total and k1 is (150 + 30) / 2 = 90.
    let upper = stack
        .create_key_result(
            &objective,
            "upper",
            rollup(pb::RollupAggregation::Mean, &[&total, &k1]),
        )
        .await
        .name;
    assert_eq!(value(&stack, &upper).await, dec("90"));
    let version = status_as_of(&stack, &total, None, None).await.version;
    let mut watcher = open_watch(&stack, Selection::KeyResults(vec![total.clone()]), version).await;

    // k1 checks in 50: sum 170, mean 85, upper (170 + 50) / 2 = 110, at once.
    record(&stack, &k1, check_in("50", "1997-01-20T00:00:00Z", "k1-b")).await;
    assert_eq!(value(&stack, &total).await, dec("170"));
    assert_eq!(value(&stack, &mean).await, dec("85"));
    assert_eq!(value(&stack, &upper).await, dec("110"));
    // Published through the outbox: the watcher of total hears of its new value.
    let (changed, status) = watcher.next_status().await;
    assert_eq!(value_of(&status), dec("170"));
    assert!(changed > version, "{changed} after {version}");

    // k2's 120 corrected to 100: sum 150, mean 75.
    record(
        &stack,
        &k2,
        pb::CheckIn {
            supersedes: k2_first.name.clone(),
            ..check_in("100", "1997-01-10T00:00:00Z", "k2-b")
        },
    )
    .await;
    assert_eq!(value(&stack, &total).await, dec("150"));
    assert_eq!(value(&stack, &mean).await, dec("75"));

    // k1 deleted drops out: sum 100, mean 100; restored: 150 and 75 again.
    let deleted = stack
        .client()
        .delete_key_result(pb::DeleteKeyResultRequest {
            name: k1.clone(),
            etag: String::new(),
        })
        .await;
    assert!(deleted.is_ok(), "{deleted:?}");
    assert_eq!(value(&stack, &total).await, dec("100"));
    assert_eq!(value(&stack, &mean).await, dec("100"));
    let restored = stack
        .client()
        .undelete_key_result(pb::UndeleteKeyResultRequest { name: k1.clone() })
        .await;
    assert!(restored.is_ok(), "{restored:?}");
    assert_eq!(value(&stack, &total).await, dec("150"));

    // Every value is a ROLLUP check-in by the service, audited as such.
    let recorded: Vec<_> = list_check_ins(&stack, &total)
        .await
        .into_iter()
        .map(|check_in| {
            assert_eq!(check_in.source, i32::from(pb::CheckInSource::Rollup));
            assert_eq!(check_in.author, "service:objectives");
            read(check_in.value.as_ref())
        })
        .collect();
    assert_eq!(
        recorded,
        ["150", "170", "150", "100", "150"].map(dec).to_vec()
    );
    let audited: Vec<_> = audit_events(&stack, &format!("{total}/checkIns/"))
        .await
        .into_iter()
        .map(|(actor, _, action, _, value)| (actor, action, value.unwrap_or_default()))
        .collect();
    assert_eq!(
        audited,
        ["150", "170", "150", "100", "150"]
            .map(|value| (
                "service:objectives".to_owned(),
                "RecomputeRollupValue".to_owned(),
                value.to_owned()
            ))
            .to_vec()
    );

    // Its value comes from its children only.
    let refused = try_record(
        &stack,
        &total,
        check_in("1", "1997-01-20T00:00:00Z", "by-hand"),
        "r1",
    )
    .await
    .unwrap_err();
    assert_error(&refused, Code::FailedPrecondition, "KEY_RESULT_IS_ROLLUP");

    stack.stop().await;
}

#[tokio::test]
async fn rollups_of_another_unit_tenant_itself_or_unknown_children_are_refused() {
    let (stack, objective) = stack_with_objective().await;
    let k1 = stack
        .create_key_result(&objective, "k1", manual_key_result("0", "100"))
        .await
        .name;
    let percent = stack
        .create_key_result(
            &objective,
            "percent",
            pb::KeyResult {
                unit: pb::Unit::Percent.into(),
                ..manual_key_result("0", "100")
            },
        )
        .await
        .name;
    let itself = format!("{objective}/keyResults/selfish");
    for (key_result, field, says) in [
        (
            rollup(pb::RollupAggregation::Sum, &[&k1, &percent]),
            "key_result.rollup.key_results",
            "is measured in percent, not in number",
        ),
        (
            rollup(pb::RollupAggregation::Sum, &[&k1, &itself]),
            "key_result.rollup.key_results",
            "itself",
        ),
        (
            rollup(
                pb::RollupAggregation::Sum,
                &["tenants/other/objectives/growth/keyResults/k1"],
            ),
            "key_result.rollup.key_results",
            "another tenant",
        ),
        (
            rollup(
                pb::RollupAggregation::Sum,
                &[&format!("{objective}/keyResults/nope")],
            ),
            "key_result.rollup.key_results",
            "does not exist",
        ),
        (
            rollup(pb::RollupAggregation::Sum, &[&k1, &k1]),
            "key_result.rollup.key_results",
            "listed twice",
        ),
        (
            rollup(pb::RollupAggregation::Sum, &[]),
            "key_result.rollup.key_results",
            "give 1 to 100",
        ),
        (
            rollup(pb::RollupAggregation::Unspecified, &[&k1]),
            "key_result.rollup.aggregation",
            "is required",
        ),
        (
            pb::KeyResult {
                rollup: rollup(pb::RollupAggregation::Sum, &[&k1]).rollup,
                ..percent_key_result("0", "100", "tenants/acme/metrics/activation")
            },
            "key_result.rollup",
            "not from a metric binding",
        ),
    ] {
        let status = stack
            .try_create_key_result(&objective, "selfish", key_result)
            .await
            .unwrap_err();
        assert_one_violation(&status, field, says);
    }
    // Nothing was created.
    let missing = stack
        .client()
        .get_key_result(pb::GetKeyResultRequest { name: itself })
        .await
        .unwrap_err();
    assert_error(&missing, Code::NotFound, "RESOURCE_NOT_FOUND");

    stack.stop().await;
}

#[tokio::test]
async fn a_rollup_value_is_measured_when_its_children_were_and_freezes_with_its_cycle() {
    let (stack, objective) = stack_with_objective().await;
    let k1 = stack
        .create_key_result(&objective, "k1", manual_key_result("0", "100"))
        .await
        .name;
    record(&stack, &k1, check_in("30", "1997-01-10T00:00:00Z", "k1-a")).await;
    record(&stack, &k1, check_in("60", "1997-02-10T00:00:00Z", "k1-b")).await;
    let sum = stack
        .create_key_result(
            &objective,
            "sum",
            rollup(pb::RollupAggregation::Sum, &[&k1]),
        )
        .await
        .name;
    // 60, measured when its latest input was: 10 February 1997, inside the cycle.
    let recorded = list_check_ins(&stack, &sum).await;
    let [rolled] = &recorded[..] else {
        panic!("one rollup check-in: {recorded:?}");
    };
    assert_eq!(read(rolled.value.as_ref()), dec("60"));
    assert_eq!(rolled.measure_time, Some(timestamp("1997-02-10T00:00:00Z")));
    // So the monthly history has it from February on.
    let points = stack
        .client()
        .list_key_result_history(pb::ListKeyResultHistoryRequest {
            name: sum.clone(),
            granularity: pb::Granularity::Month.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .points;
    let values: Vec<Option<devokr_domain::Decimal>> = points
        .iter()
        .map(|point| point.value.as_ref().map(|value| read(Some(value))))
        .collect();
    assert_eq!(values, [None, Some(dec("60")), Some(dec("60"))]);

    // A rollup whose cycle is closed keeps the value it was scored with, even when a child of
    // another cycle moves on.
    let q2 = stack
        .create_cycle("q2-1997", "1997-04-01", "1997-06-30", "UTC")
        .await;
    let later = stack.create_objective("later", &q2.name).await;
    let k2 = stack
        .create_key_result(&later.name, "k2", manual_key_result("0", "1000"))
        .await
        .name;
    record(&stack, &k2, check_in("10", "1997-04-10T00:00:00Z", "k2-a")).await;
    let frozen = stack
        .create_key_result(
            &objective,
            "frozen",
            rollup(pb::RollupAggregation::Sum, &[&k2]),
        )
        .await
        .name;
    assert_eq!(value(&stack, &frozen).await, dec("10"));
    stack
        .activate_and_close_cycle(&format!("{}/cycles/q1-1997", crate::fixture::TENANT))
        .await;
    record(&stack, &k2, check_in("400", "1997-04-20T00:00:00Z", "k2-b")).await;
    assert_eq!(value(&stack, &k2).await, dec("400"));
    assert_eq!(value(&stack, &frozen).await, dec("10"));
    assert_eq!(list_check_ins(&stack, &frozen).await.len(), 1);

    stack.stop().await;
}
