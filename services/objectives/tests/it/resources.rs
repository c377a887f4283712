//! Creating, reading and listing cycles, objectives and key results: request_id retries,
//! duplicates, missing resources, cross-checks with the metrics service, pagination.

use devokr_proto::objectives::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::fixture::{
    Stack, TENANT, assert_error, assert_one_violation, cycle, dec, objective, percent_key_result,
    read, violations,
};

const REQUEST_A: &str = "0b3d6a52-8c1e-4f57-9a3b-2f6c1e0d7a11";
const REQUEST_B: &str = "6f1c2e9d-3a4b-4c5d-8e7f-1a2b3c4d5e6f";
const REQUEST_C: &str = "9e8d7c6b-5a49-4837-a625-14f3e2d1c0b9";

#[tokio::test]
async fn request_id_makes_creates_safe_to_retry() {
    let stack = Stack::start().await;
    let metric = stack
        .create_activation_metric("activation", "purchase", "purchase", 90)
        .await;
    let mut client = stack.client();

    // The server chooses the ids (cycle_id, objective_id and key_result_id are empty), so a
    // retry that created again would create a second resource under a new random id.
    let create_cycle = || pb::CreateCycleRequest {
        parent: TENANT.into(),
        cycle_id: String::new(),
        cycle: Some(cycle("1997-Q1", "1997-01-01", "1997-03-31", "UTC")),
        request_id: REQUEST_A.into(),
    };
    let first = client
        .create_cycle(create_cycle())
        .await
        .unwrap()
        .into_inner();
    let retried = client
        .create_cycle(create_cycle())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, first);
    assert!(
        first.name.starts_with("tenants/acme/cycles/"),
        "{}",
        first.name
    );
    // A server-chosen id is a name that reads back.
    let read_back = client
        .get_cycle(pb::GetCycleRequest {
            name: first.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read_back, first);
    let cycles = client
        .list_cycles(pb::ListCyclesRequest {
            parent: TENANT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cycles;
    assert_eq!(cycles.len(), 1);

    let create_objective = || pb::CreateObjectiveRequest {
        parent: TENANT.into(),
        objective_id: String::new(),
        objective: Some(objective("Customers come back", &first.name)),
        request_id: REQUEST_B.into(),
    };
    let objective = client
        .create_objective(create_objective())
        .await
        .unwrap()
        .into_inner();
    let retried = client
        .create_objective(create_objective())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, objective);
    let objectives = client
        .list_objectives(pb::ListObjectivesRequest {
            parent: TENANT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .objectives;
    assert_eq!(objectives, std::slice::from_ref(&objective));

    let create_key_result = || pb::CreateKeyResultRequest {
        parent: objective.name.clone(),
        key_result_id: String::new(),
        key_result: Some(percent_key_result("30", "45", &metric)),
        request_id: REQUEST_C.into(),
    };
    let key_result = client
        .create_key_result(create_key_result())
        .await
        .unwrap()
        .into_inner();
    let retried = client
        .create_key_result(create_key_result())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, key_result);
    assert!(
        key_result
            .name
            .starts_with(&format!("{}/keyResults/", objective.name))
    );
    assert_eq!(read(key_result.baseline.as_ref()), dec("30"));
    assert_eq!(read(key_result.target.as_ref()), dec("45"));
    // Direction derived from the values; weight defaults to 1.
    assert_eq!(key_result.direction(), pb::Direction::Increase);
    assert_eq!(read(key_result.weight.as_ref()), dec("1"));
    let key_results = client
        .list_key_results(pb::ListKeyResultsRequest {
            parent: objective.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .key_results;
    assert_eq!(key_results, [key_result]);

    stack.stop().await;
}

#[tokio::test]
async fn an_id_taken_by_another_request_already_exists() {
    let stack = Stack::start().await;
    let metric = stack
        .create_activation_metric("activation", "purchase", "purchase", 90)
        .await;
    let mut client = stack.client();

    let cycle_request = |request_id: &str| pb::CreateCycleRequest {
        parent: TENANT.into(),
        cycle_id: "q1".into(),
        cycle: Some(cycle("1997-Q1", "1997-01-01", "1997-03-31", "UTC")),
        request_id: request_id.into(),
    };
    let cycle = client
        .create_cycle(cycle_request(REQUEST_A))
        .await
        .unwrap()
        .into_inner();
    // The same request_id with the same id is a retry; another request_id is a conflict.
    assert_eq!(
        client
            .create_cycle(cycle_request(REQUEST_A))
            .await
            .unwrap()
            .into_inner(),
        cycle
    );
    for other in [REQUEST_B, ""] {
        let status = client.create_cycle(cycle_request(other)).await.unwrap_err();
        assert_error(&status, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");
        let resource = status.get_error_details().resource_info().cloned().unwrap();
        assert_eq!(resource.resource_name, "tenants/acme/cycles/q1");
    }

    let objective_request = |request_id: &str| pb::CreateObjectiveRequest {
        parent: TENANT.into(),
        objective_id: "growth".into(),
        objective: Some(objective("Grow", &cycle.name)),
        request_id: request_id.into(),
    };
    let objective = client
        .create_objective(objective_request(REQUEST_A))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(objective.name, "tenants/acme/objectives/growth");
    let status = client
        .create_objective(objective_request(REQUEST_B))
        .await
        .unwrap_err();
    assert_error(&status, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");

    let key_result_request = |request_id: &str| pb::CreateKeyResultRequest {
        parent: objective.name.clone(),
        key_result_id: "activation".into(),
        key_result: Some(percent_key_result("30", "45", &metric)),
        request_id: request_id.into(),
    };
    let key_result = client
        .create_key_result(key_result_request(REQUEST_A))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        key_result.name,
        "tenants/acme/objectives/growth/keyResults/activation"
    );
    let status = client
        .create_key_result(key_result_request(REQUEST_B))
        .await
        .unwrap_err();
    assert_error(&status, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");

    // A request_id that is not a UUID is bad input, not a key.
    let status = client
        .create_cycle(cycle_request("retry-1"))
        .await
        .unwrap_err();
    assert_eq!(violations(&status)[0].0, "request_id");

    stack.stop().await;
}

/// AIP-155: a request id names one request. Sent again with anything else (another body,
/// another parent, another method), it is refused and nothing is created, where answering
/// with the first request's resource would hand the caller a resource it did not ask for.
#[tokio::test]
async fn a_request_id_sent_with_a_different_request_is_refused() {
    const REUSED: &str = "was used before for a different request";
    let stack = Stack::start().await;
    let metric = stack
        .create_activation_metric("activation", "purchase", "purchase", 90)
        .await;
    let mut client = stack.client();

    let create_cycle = |display_name: &str, request_id: &str| pb::CreateCycleRequest {
        parent: TENANT.into(),
        cycle_id: String::new(),
        cycle: Some(cycle(display_name, "1997-01-01", "1997-03-31", "UTC")),
        request_id: request_id.into(),
    };
    let q1 = client
        .create_cycle(create_cycle("1997-Q1", REQUEST_A))
        .await
        .unwrap()
        .into_inner();
    let status = client
        .create_cycle(create_cycle("1997 first quarter", REQUEST_A))
        .await
        .unwrap_err();
    assert_one_violation(&status, "request_id", REUSED);
    let q2 = client
        .create_cycle(pb::CreateCycleRequest {
            cycle: Some(cycle("1997-Q2", "1997-04-01", "1997-06-30", "UTC")),
            ..create_cycle("", REQUEST_B)
        })
        .await
        .unwrap()
        .into_inner();

    let create_objective = |display_name: &str| pb::CreateObjectiveRequest {
        parent: TENANT.into(),
        objective_id: String::new(),
        objective: Some(objective(display_name, &q1.name)),
        request_id: REQUEST_A.into(),
    };
    let grow = client
        .create_objective(create_objective("Grow"))
        .await
        .unwrap()
        .into_inner();
    let status = client
        .create_objective(create_objective("Retain"))
        .await
        .unwrap_err();
    assert_one_violation(&status, "request_id", REUSED);
    // A carry-over writes objectives too, but it is another request than the create.
    let status = client
        .carry_over_objective(pb::CarryOverObjectiveRequest {
            name: grow.name.clone(),
            cycle: q2.name.clone(),
            objective_id: String::new(),
            request_id: REQUEST_A.into(),
        })
        .await
        .unwrap_err();
    assert_one_violation(&status, "request_id", REUSED);
    let retain = client
        .create_objective(pb::CreateObjectiveRequest {
            request_id: REQUEST_B.into(),
            ..create_objective("Retain")
        })
        .await
        .unwrap()
        .into_inner();

    let create_key_result = |parent: &str| pb::CreateKeyResultRequest {
        parent: parent.into(),
        key_result_id: String::new(),
        key_result: Some(percent_key_result("30", "45", &metric)),
        request_id: REQUEST_C.into(),
    };
    let key_result = client
        .create_key_result(create_key_result(&grow.name))
        .await
        .unwrap()
        .into_inner();
    let status = client
        .create_key_result(create_key_result(&retain.name))
        .await
        .unwrap_err();
    assert_one_violation(&status, "request_id", REUSED);

    let create_learning = |parent: &str| pb::CreateLearningRequest {
        parent: parent.into(),
        learning: Some(pb::Learning {
            text: "Onboarding emails moved activation.".into(),
            ..Default::default()
        }),
        request_id: REQUEST_C.into(),
    };
    client
        .create_learning(create_learning(&grow.name))
        .await
        .unwrap();
    let status = client
        .create_learning(create_learning(&retain.name))
        .await
        .unwrap_err();
    assert_one_violation(&status, "request_id", REUSED);

    // Nothing was created by the refused requests, and the first ones still retry.
    let cycles = client
        .list_cycles(pb::ListCyclesRequest {
            parent: TENANT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cycles;
    assert_eq!(cycles, [q1.clone(), q2]);
    let objectives = client
        .list_objectives(pb::ListObjectivesRequest {
            parent: TENANT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .objectives;
    assert_eq!(objectives, [grow.clone(), retain.clone()]);
    let retain_key_results = client
        .list_key_results(pb::ListKeyResultsRequest {
            parent: retain.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .key_results;
    assert!(retain_key_results.is_empty(), "{retain_key_results:?}");
    let learnings = client
        .list_learnings(pb::ListLearningsRequest {
            parent: retain.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .learnings;
    assert!(learnings.is_empty(), "{learnings:?}");
    let retried = client
        .create_cycle(create_cycle("1997-Q1", REQUEST_A))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, q1);
    let retried = client
        .create_key_result(create_key_result(&grow.name))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried.name, key_result.name);

    stack.stop().await;
}

#[tokio::test]
async fn reading_what_does_not_exist_is_not_found() {
    let stack = Stack::start().await;
    let mut client = stack.client();

    let check = |result: Result<tonic::Response<()>, tonic::Status>, name: &str| {
        let status = result.unwrap_err();
        assert_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND");
        let resource = status.get_error_details().resource_info().cloned().unwrap();
        assert_eq!(resource.resource_name, name);
    };
    let name = "tenants/acme/cycles/nope";
    let result = client
        .get_cycle(pb::GetCycleRequest { name: name.into() })
        .await;
    check(result.map(|response| response.map(drop)), name);
    let name = "tenants/acme/objectives/nope";
    let result = client
        .get_objective(pb::GetObjectiveRequest { name: name.into() })
        .await;
    check(result.map(|response| response.map(drop)), name);
    let name = "tenants/acme/objectives/nope/keyResults/nope";
    let result = client
        .get_key_result(pb::GetKeyResultRequest { name: name.into() })
        .await;
    check(result.map(|response| response.map(drop)), name);
    let result = client
        .get_key_result_status(pb::GetKeyResultStatusRequest {
            name: name.into(),
            evaluation_time: None,
            read_time: None,
        })
        .await;
    check(result.map(|response| response.map(drop)), name);

    // A malformed name is bad input, not a missing resource.
    let status = client
        .get_cycle(pb::GetCycleRequest {
            name: "cycles/q1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&status)[0].0, "name");

    stack.stop().await;
}

#[tokio::test]
async fn references_are_checked_where_they_live() {
    let stack = Stack::start().await;
    let metric = stack
        .create_activation_metric("activation", "purchase", "purchase", 90)
        .await;
    let cycle = stack
        .create_cycle("q1", "1997-01-01", "1997-03-31", "UTC")
        .await;
    let objective = stack.create_objective("growth", &cycle.name).await;
    // An objective in a cycle that does not exist.
    let status = stack
        .try_create_objective(
            "orphan",
            crate::fixture::objective("Orphan", "tenants/acme/cycles/q9"),
        )
        .await
        .unwrap_err();
    assert_one_violation(&status, "objective.cycle", "q9");

    // An objective in another tenant's cycle (which exists).
    stack
        .client()
        .create_cycle(pb::CreateCycleRequest {
            parent: "tenants/globex".into(),
            cycle_id: "q1".into(),
            cycle: Some(crate::fixture::cycle(
                "1997-Q1",
                "1997-01-01",
                "1997-03-31",
                "UTC",
            )),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let status = stack
        .try_create_objective(
            "borrowed",
            crate::fixture::objective("Borrowed", "tenants/globex/cycles/q1"),
        )
        .await
        .unwrap_err();
    assert_one_violation(&status, "objective.cycle", "belongs to another tenant");

    let create = |key_result_id: &'static str, key_result: pb::KeyResult| {
        stack.try_create_key_result(&objective.name, key_result_id, key_result)
    };

    // A metric the metrics service does not know.
    let status = create(
        "unknown-metric",
        percent_key_result("30", "45", "tenants/acme/metrics/nope"),
    )
    .await
    .unwrap_err();
    assert_one_violation(
        &status,
        "key_result.metric_binding.metric",
        "tenants/acme/metrics/nope",
    );

    // Baseline equal to target: progress cannot be measured; a threshold is what fits.
    let status = create("flat", percent_key_result("30", "30.0", &metric))
        .await
        .unwrap_err();
    assert_one_violation(&status, "key_result.target", "threshold");

    // A declared direction that contradicts the values (45 above 30 is an increase).
    let mut contradicting = percent_key_result("30", "45", &metric);
    contradicting.direction = pb::Direction::Decrease.into();
    let status = create("contradicting", contradicting).await.unwrap_err();
    let found = violations(&status);
    assert_eq!(found.len(), 1);
    assert!(
        ["key_result.direction", "key_result.target"].contains(&found[0].0.as_str()),
        "{found:?}"
    );
    assert!(found[0].1.contains("direction"), "{found:?}");

    // Weights go from 0 to 1,000.
    for weight in ["-1", "1000.5"] {
        let mut heavy = percent_key_result("30", "45", &metric);
        heavy.weight = Some(crate::fixture::wire(weight));
        let status = create("heavy", heavy).await.unwrap_err();
        assert_one_violation(&status, "key_result.weight", "must be from 0 to 1000");
    }

    // The same direction declared explicitly, and a decreasing key result, are fine.
    let mut declared = percent_key_result("30", "45", &metric);
    declared.direction = pb::Direction::Increase.into();
    create("declared", declared).await.unwrap();
    let decreasing = create("decreasing", percent_key_result("40", "20", &metric))
        .await
        .unwrap();
    assert_eq!(decreasing.direction(), pb::Direction::Decrease);

    // None of the rejected key results was stored.
    assert_eq!(
        stack.key_result_names(&objective.name).await,
        [
            "tenants/acme/objectives/growth/keyResults/declared",
            "tenants/acme/objectives/growth/keyResults/decreasing",
        ]
    );

    stack.stop().await;
}

#[tokio::test]
async fn objectives_are_listed_page_by_page_in_creation_order() {
    let stack = Stack::start().await;
    let cycle = stack
        .create_cycle("q1", "1997-01-01", "1997-03-31", "UTC")
        .await;
    // Created in an order that is neither alphabetical nor its reverse.
    let ids = ["delta", "alpha", "echo", "charlie", "bravo"];
    for id in ids {
        stack.create_objective(id, &cycle.name).await;
    }
    let mut client = stack.client();

    let mut seen = Vec::new();
    let mut page_sizes = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_objectives(pb::ListObjectivesRequest {
                parent: TENANT.into(),
                page_size: 2,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        page_sizes.push(page.objectives.len());
        seen.extend(page.objectives.into_iter().map(|objective| objective.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
        assert!(page_sizes.len() < 10, "pagination does not end");
    }
    assert_eq!(page_sizes, [2, 2, 1]);
    let expected: Vec<String> = ids
        .iter()
        .map(|id| format!("tenants/acme/objectives/{id}"))
        .collect();
    assert_eq!(seen, expected);

    // Page size 0 means the default (50), so one page holds all five.
    let all = client
        .list_objectives(pb::ListObjectivesRequest {
            parent: TENANT.into(),
            page_size: 0,
            page_token: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.objectives.len(), 5);
    assert!(all.next_page_token.is_empty());

    // A negative page size is bad input, and so is a token that this list did not issue.
    let status = client
        .list_objectives(pb::ListObjectivesRequest {
            parent: TENANT.into(),
            page_size: -1,
            page_token: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&status)[0].0, "page_size");
    let status = client
        .list_objectives(pb::ListObjectivesRequest {
            parent: TENANT.into(),
            page_size: 2,
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&status)[0].0, "page_token");

    // Another tenant sees none of them.
    let other = client
        .list_objectives(pb::ListObjectivesRequest {
            parent: "tenants/globex".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(other.objectives.is_empty());

    stack.stop().await;
}
