//! Roadmap items: planned when linked to a key result, deferred when not; links checked with
//! the objectives service, each bad one named by its index; retries, reads and pages.

use std::time::{Duration, Instant};

use devokr_proto::roadmap::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::fixture::{OTHER_TENANT, Stack, TENANT, assert_error, create_request, violations};

const REQUEST_A: &str = "0b3d6a52-8c1e-4f57-9a3b-2f6c1e0d7a11";
const REQUEST_B: &str = "6f1c2e9d-3a4b-4c5d-8e7f-1a2b3c4d5e6f";

#[tokio::test]
async fn a_linked_item_is_planned_and_an_unlinked_one_deferred() {
    let stack = Stack::start().await;
    let key_results = stack
        .create_key_results(TENANT, &["activation", "retention"])
        .await;
    let (activation, retention) = (key_results[0].as_str(), key_results[1].as_str());
    let mut client = stack.client();

    // Linked in an order that is not the key results' creation order.
    let planned = client
        .create_roadmap_item(create_request("recommendations", &[retention, activation]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(planned.name, "tenants/acme/roadmapItems/recommendations");
    assert_eq!(planned.display_name, "Build recommendations");
    assert_eq!(planned.state(), pb::RoadmapItemState::Planned);
    assert_eq!(planned.deferral_reason, "");
    assert_eq!(planned.key_results, [retention, activation]);
    assert!(planned.create_time.is_some());
    assert!(!planned.etag.is_empty());

    let deferred = client
        .create_roadmap_item(create_request("logo", &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deferred.state(), pb::RoadmapItemState::Deferred);
    assert!(deferred.key_results.is_empty());
    assert!(
        deferred.deferral_reason.contains("linked to no key result"),
        "{}",
        deferred.deferral_reason
    );

    // Both read back as created, links in the given order.
    for item in [&planned, &deferred] {
        let read = client
            .get_roadmap_item(pb::GetRoadmapItemRequest {
                name: item.name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(&read, item);
    }
    assert_eq!(stack.list_all(0).await, [planned, deferred]);

    stack.stop().await;
}

#[tokio::test]
async fn a_bad_link_is_named_by_its_index_and_nothing_is_stored() {
    let stack = Stack::start().await;
    let key_results = stack
        .create_key_results(TENANT, &["activation", "retention"])
        .await;
    let (activation, retention) = (key_results[0].as_str(), key_results[1].as_str());
    // globex's key result exists, so only the tenant check can refuse it.
    let theirs = stack
        .create_key_results(OTHER_TENANT, &["activation"])
        .await;
    let mut client = stack.client();
    let missing = "tenants/acme/objectives/growth/keyResults/missing";
    let missing_objective = "tenants/acme/objectives/nope/keyResults/activation";

    // (what is wrong, links, fields named, a word each description must use)
    let cases: [(&str, Vec<&str>, Vec<&str>, &str); 5] = [
        (
            "a key result that does not exist",
            vec![activation, missing],
            vec!["roadmap_item.key_results[1]"],
            "does not exist",
        ),
        (
            "two that do not exist",
            vec![missing, activation, missing_objective],
            vec!["roadmap_item.key_results[0]", "roadmap_item.key_results[2]"],
            "does not exist",
        ),
        (
            "a malformed name",
            vec!["keyResults/activation", retention],
            vec!["roadmap_item.key_results[0]"],
            "keyResults/activation",
        ),
        (
            "the same key result twice",
            vec![activation, retention, activation],
            vec!["roadmap_item.key_results[2]"],
            "second time",
        ),
        (
            "another tenant's key result",
            vec![activation, theirs[0].as_str()],
            vec!["roadmap_item.key_results[1]"],
            "tenant",
        ),
    ];
    for (what, links, fields, word) in cases {
        let status = client
            .create_roadmap_item(create_request("bad-links", &links))
            .await
            .expect_err(what);
        let found = violations(&status);
        let found_fields: Vec<&str> = found.iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(found_fields, fields, "{what}");
        for (_, description) in &found {
            assert!(description.contains(word), "{what}: {description}");
        }
    }

    // None of them was stored, not even in part.
    assert!(stack.list_all(0).await.is_empty());
    let status = client
        .get_roadmap_item(pb::GetRoadmapItemRequest {
            name: "tenants/acme/roadmapItems/bad-links".into(),
        })
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND");

    // With the links fixed, the same item is created.
    let item = client
        .create_roadmap_item(create_request("bad-links", &[activation, retention]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(item.state(), pb::RoadmapItemState::Planned);

    stack.stop().await;
}

#[tokio::test]
async fn without_objectives_a_linked_item_is_unavailable_and_an_unlinked_one_still_works() {
    let mut stack = Stack::start().await;
    let key_results = stack.create_key_results(TENANT, &["activation"]).await;
    stack.stop_objectives().await;
    let mut client = stack.client();

    let started = Instant::now();
    let status = client
        .create_roadmap_item(create_request(
            "recommendations",
            &[key_results[0].as_str()],
        ))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_error(&status, Code::Unavailable, "DEPENDENCY_UNAVAILABLE");
    let retry = status
        .get_error_details()
        .retry_info()
        .cloned()
        .expect("RetryInfo");
    assert!(
        retry
            .retry_delay
            .is_some_and(|delay| delay > Duration::ZERO),
        "{retry:?}"
    );
    assert!(stack.list_all(0).await.is_empty(), "nothing is stored");

    // No link, no call to the objectives service: the item is created, deferred.
    let deferred = client
        .create_roadmap_item(create_request("logo", &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deferred.state(), pb::RoadmapItemState::Deferred);
    let names: Vec<String> = stack
        .list_all(0)
        .await
        .into_iter()
        .map(|item| item.name)
        .collect();
    assert_eq!(names, ["tenants/acme/roadmapItems/logo"]);

    stack.stop().await;
}

#[tokio::test]
async fn request_id_makes_creates_safe_to_retry() {
    let stack = Stack::start().await;
    let key_results = stack.create_key_results(TENANT, &["activation"]).await;
    let mut client = stack.client();

    // The server chooses the id, so a retry that created again would make a second item.
    let retried_request = || {
        let mut request = create_request("", &[key_results[0].as_str()]);
        request.request_id = REQUEST_A.into();
        request
    };
    let first = client
        .create_roadmap_item(retried_request())
        .await
        .unwrap()
        .into_inner();
    let again = client
        .create_roadmap_item(retried_request())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, first);
    assert!(
        first.name.starts_with("tenants/acme/roadmapItems/"),
        "{}",
        first.name
    );
    assert_eq!(first.key_results, [key_results[0].as_str()]);
    let read = client
        .get_roadmap_item(pb::GetRoadmapItemRequest {
            name: first.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, first);
    assert_eq!(stack.list_all(0).await, std::slice::from_ref(&first));

    // The same request id with another request is refused, and creates nothing.
    let mut reused = create_request("", &[key_results[0].as_str()]);
    reused.request_id = REQUEST_A.into();
    reused.roadmap_item.as_mut().unwrap().display_name = "Another item".into();
    let status = client.create_roadmap_item(reused).await.unwrap_err();
    let said = violations(&status);
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(said[0].0, "request_id");
    assert!(said[0].1.contains(REQUEST_A), "{said:?}");
    assert_eq!(stack.list_all(0).await, [first]);

    // An id already taken by another request (or by none) already exists, and the item
    // that has it keeps its links.
    let mut original = create_request("logo", &[]);
    original.request_id = REQUEST_B.into();
    let logo = client
        .create_roadmap_item(original)
        .await
        .unwrap()
        .into_inner();
    for request_id in ["9e8d7c6b-5a49-4837-a625-14f3e2d1c0b9", ""] {
        let mut conflicting = create_request("logo", &[key_results[0].as_str()]);
        conflicting.request_id = request_id.into();
        let status = client.create_roadmap_item(conflicting).await.unwrap_err();
        assert_error(&status, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");
        let resource = status.get_error_details().resource_info().cloned().unwrap();
        assert_eq!(resource.resource_name, "tenants/acme/roadmapItems/logo");
    }
    let read = client
        .get_roadmap_item(pb::GetRoadmapItemRequest {
            name: logo.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, logo);
    assert!(read.key_results.is_empty());
    assert_eq!(stack.list_all(0).await.len(), 2);

    stack.stop().await;
}

#[tokio::test]
async fn reading_and_listing() {
    let stack = Stack::start().await;
    let mut client = stack.client();

    let status = client
        .get_roadmap_item(pb::GetRoadmapItemRequest {
            name: "tenants/acme/roadmapItems/nope".into(),
        })
        .await
        .unwrap_err();
    assert_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND");
    let resource = status.get_error_details().resource_info().cloned().unwrap();
    assert_eq!(resource.resource_name, "tenants/acme/roadmapItems/nope");
    let status = client
        .get_roadmap_item(pb::GetRoadmapItemRequest {
            name: "roadmapItems/nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&status)[0].0, "name");

    // Created in an order that is neither alphabetical nor its reverse.
    let ids = ["delta", "alpha", "echo", "charlie", "bravo"];
    for id in ids {
        client
            .create_roadmap_item(create_request(id, &[]))
            .await
            .unwrap();
    }
    let mut page_sizes = Vec::new();
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_roadmap_items(pb::ListRoadmapItemsRequest {
                parent: TENANT.into(),
                page_size: 2,
                page_token: page_token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        page_sizes.push(page.roadmap_items.len());
        seen.extend(page.roadmap_items.into_iter().map(|item| item.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
        assert!(page_sizes.len() < 10, "pagination does not end");
    }
    assert_eq!(page_sizes, [2, 2, 1]);
    let expected: Vec<String> = ids
        .iter()
        .map(|id| format!("tenants/acme/roadmapItems/{id}"))
        .collect();
    assert_eq!(seen, expected);

    let status = client
        .list_roadmap_items(pb::ListRoadmapItemsRequest {
            parent: TENANT.into(),
            page_size: -2,
            page_token: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&status)[0].0, "page_size");
    // A token is bound to its list: another tenant's list refuses it.
    let first_page = client
        .list_roadmap_items(pb::ListRoadmapItemsRequest {
            parent: TENANT.into(),
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let status = client
        .list_roadmap_items(pb::ListRoadmapItemsRequest {
            parent: OTHER_TENANT.into(),
            page_size: 2,
            page_token: first_page.next_page_token,
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&status)[0].0, "page_token");

    stack.stop().await;
}
