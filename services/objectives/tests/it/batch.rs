//! BatchGetKeyResultStatus: one result per name, in order, each a status or the error the
//! name would have had alone; at most 1,000 names.

use devokr_proto::objectives::v1::{self as pb, key_result_status_result::Result as Item};

use crate::{
    check_ins::{MID_CYCLE, check_in, manual_key_result, record, stack_with_objective},
    fixture::{Stack, TENANT, dec, fields, read, timestamp, violated_fields},
};

async fn batch(
    stack: &Stack,
    names: Vec<String>,
) -> Result<Vec<pb::KeyResultStatusResult>, tonic::Status> {
    stack
        .client()
        .batch_get_key_result_status(pb::BatchGetKeyResultStatusRequest {
            parent: TENANT.into(),
            names,
            evaluation_time: Some(timestamp(MID_CYCLE)),
        })
        .await
        .map(|response| response.into_inner().results)
}

/// The item error of a result, which must be one.
fn item_error(result: &pb::KeyResultStatusResult) -> &pb::ItemError {
    match &result.result {
        Some(Item::Error(error)) => error,
        other => panic!("{}: expected an error, got {other:?}", result.name),
    }
}

#[tokio::test]
async fn a_batch_answers_each_name_in_order_with_a_status_or_an_item_error() {
    let (stack, objective) = stack_with_objective().await;
    let key_result = stack
        .create_key_result(&objective, "retention", manual_key_result("10", "20"))
        .await;
    // 14: progress (14 − 10) / (20 − 10) = 0.4, at mid cycle in [0.375, 0.475): at risk.
    record(
        &stack,
        &key_result.name,
        check_in("14", "1997-02-01T00:00:00Z", "one"),
    )
    .await;

    let existing = key_result.name.clone();
    let unknown = format!("{objective}/keyResults/unknown");
    let malformed = "tenants/acme/objectives/growth/keyResult/retention".to_owned();
    let foreign = "tenants/other/objectives/growth/keyResults/retention".to_owned();
    let results = batch(
        &stack,
        vec![
            existing.clone(),
            unknown.clone(),
            malformed.clone(),
            foreign.clone(),
            existing.clone(),
        ],
    )
    .await
    .expect("a batch with bad names is still answered");
    let names: Vec<&str> = results.iter().map(|result| result.name.as_str()).collect();
    assert_eq!(
        names,
        [&existing, &unknown, &malformed, &foreign, &existing]
    );

    for index in [0, 4] {
        let Some(Item::Status(status)) = &results[index].result else {
            panic!("{index}: expected a status, got {:?}", results[index]);
        };
        assert_eq!(status.key_result, existing);
        assert_eq!(
            read(status.value.as_ref().unwrap().value.as_ref()),
            dec("14")
        );
        assert_eq!(
            read(status.progress.as_ref().unwrap().raw.as_ref()),
            dec("0.4")
        );
        assert_eq!(
            status.health(),
            pb::Health::AtRisk,
            "{}",
            status.explanation
        );
    }

    // NOT_FOUND is code 5.
    let not_found = item_error(&results[1]);
    assert_eq!(not_found.code, 5, "{not_found:?}");
    assert_eq!(not_found.reason, "RESOURCE_NOT_FOUND");
    assert!(not_found.message.contains("unknown"), "{not_found:?}");
    // INVALID_ARGUMENT is code 3, for a name that does not parse and for another tenant's.
    for (index, what) in [(2, "malformed"), (3, "another tenant's")] {
        let invalid = item_error(&results[index]);
        assert_eq!(invalid.code, 3, "{what}: {invalid:?}");
        assert_eq!(invalid.reason, "INVALID_ARGUMENT", "{what}: {invalid:?}");
        assert!(!invalid.message.trim().is_empty(), "{what}");
    }
    assert!(
        item_error(&results[3]).message.contains("tenant"),
        "{:?}",
        results[3]
    );

    // 1,000 names are answered, one result each.
    let results = batch(&stack, vec![existing.clone(); 1_000])
        .await
        .expect("1,000 names are allowed");
    assert_eq!(results.len(), 1_000);
    assert!(
        results
            .iter()
            .all(|result| matches!(&result.result, Some(Item::Status(status)) if status.key_result == existing))
    );
    // 1,001 are refused as a whole, naming the field.
    let status = batch(&stack, vec![existing.clone(); 1_001])
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), fields(&["names"]));
    assert!(
        status.message().contains("1001") || status.message().contains("1,001"),
        "{status:?}"
    );

    stack.stop().await;
}
