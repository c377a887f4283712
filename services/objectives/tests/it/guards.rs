//! Requests the service refuses rather than half-serve: fields of another kind, check-ins on a
//! key result that follows a metric, and watch versions it never sent.

use devokr_proto::objectives::v1 as pb;
use tonic::Code;

use crate::{
    check_ins::{check_in, manual_key_result},
    fixture::{Stack, TENANT, assert_error, fields, percent_key_result, violated_fields},
};

#[tokio::test]
async fn refuses_what_it_does_not_serve() {
    let stack = Stack::start().await;
    let cycle = stack
        .create_cycle("q1", "1997-01-01", "1997-03-31", "UTC")
        .await;
    let objective = stack.create_objective("grow", &cycle.name).await;

    // A manual-percent key result with a metric's baseline and target is refused, not stored
    // with fields it would ignore.
    let mut manual_percent = manual_key_result("0", "100");
    manual_percent.kind = pb::KeyResultKind::ManualPercent.into();
    manual_percent.unit = pb::Unit::Unspecified.into();
    let refused = stack
        .client()
        .create_key_result(pb::CreateKeyResultRequest {
            parent: objective.name.clone(),
            key_result_id: "percent".into(),
            key_result: Some(manual_percent),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&refused),
        fields(&["key_result.baseline", "key_result.target"])
    );

    // A key result that follows a metric takes no manual check-ins.
    let metric = stack
        .create_activation_metric("activation", "purchase", "purchase", 90)
        .await;
    let bound = stack
        .create_key_result(
            &objective.name,
            "bound",
            percent_key_result("30", "45", &metric),
        )
        .await;
    let refused = stack
        .client()
        .create_check_in(pb::CreateCheckInRequest {
            parent: bound.name.clone(),
            check_in: Some(check_in("40", "1997-02-01T00:00:00Z", "manual")),
            allow_late: false,
        })
        .await
        .unwrap_err();
    assert_error(
        &refused,
        Code::FailedPrecondition,
        "KEY_RESULT_BOUND_TO_METRIC",
    );

    // Watch versions the service never sent.
    for (resume_version, problem) in [(-5, "must not be negative"), (1 << 62, "ahead of")] {
        let refused = stack
            .client()
            .watch_key_result_status(pb::WatchKeyResultStatusRequest {
                parent: TENANT.into(),
                objective: objective.name.clone(),
                resume_version,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&refused), fields(&["resume_version"]));
        assert!(refused.message().contains(problem), "{}", refused.message());
    }
    // An objective that does not exist is not found, whether the watch starts or resumes.
    for resume_version in [0, 1] {
        let refused = stack
            .client()
            .watch_key_result_status(pb::WatchKeyResultStatusRequest {
                parent: TENANT.into(),
                objective: format!("{TENANT}/objectives/missing"),
                resume_version,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_error(&refused, Code::NotFound, "RESOURCE_NOT_FOUND");
    }
    stack.stop().await;
}
