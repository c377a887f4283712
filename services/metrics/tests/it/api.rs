//! CreateMetric, GetMetric and ListMetrics: round trips, idempotency, errors and pages.

use chrono::{Duration, Utc};
use devokr_proto::{
    metrics::v1::{self as pb, metric::Definition},
    prost_types,
};
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{
    Client, Service, activation, assert_error, assert_invalid, create_metric, retention,
};

fn create_request(
    tenant: &str,
    metric_id: &str,
    metric: pb::Metric,
    request_id: &str,
) -> pb::CreateMetricRequest {
    pb::CreateMetricRequest {
        parent: format!("tenants/{tenant}"),
        metric_id: metric_id.to_owned(),
        metric: Some(metric),
        request_id: request_id.to_owned(),
    }
}

async fn get(client: &mut Client, name: &str) -> pb::Metric {
    client
        .get_metric(pb::GetMetricRequest {
            name: name.to_owned(),
        })
        .await
        .unwrap_or_else(|status| panic!("GetMetric {name}: {status:?}"))
        .into_inner()
}

async fn list(
    client: &mut Client,
    tenant: &str,
    page_size: i32,
    page_token: &str,
) -> pb::ListMetricsResponse {
    client
        .list_metrics(pb::ListMetricsRequest {
            parent: format!("tenants/{tenant}"),
            page_size,
            page_token: page_token.to_owned(),
        })
        .await
        .unwrap_or_else(|status| panic!("ListMetrics {tenant}: {status:?}"))
        .into_inner()
}

fn names(metrics: &[pb::Metric]) -> Vec<&str> {
    metrics.iter().map(|metric| metric.name.as_str()).collect()
}

#[tokio::test]
async fn both_definitions_round_trip_through_create_get_and_list() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    let before = Utc::now() - Duration::seconds(5);

    let mut repeat = activation("purchase", "purchase", 7 * 24 * 3600);
    repeat.display_name = "Repeat purchase within 7 days".into();
    // Output-only fields sent by the caller are ignored.
    repeat.name = "tenants/someone-else/metrics/other".into();
    repeat.etag = "\"99\"".into();
    let created = client
        .create_metric(create_request(
            "acme",
            "repeat-purchase",
            repeat,
            &uuid::Uuid::new_v4().to_string(),
        ))
        .await
        .expect("CreateMetric")
        .into_inner();
    assert_eq!(created.name, "tenants/acme/metrics/repeat-purchase");
    assert_eq!(created.display_name, "Repeat purchase within 7 days");
    assert_eq!(
        created.definition,
        Some(Definition::ActivationRate(pb::ActivationRate {
            start_event: "purchase".into(),
            activation_event: "purchase".into(),
            within: Some(prost_types::Duration {
                seconds: 604_800,
                nanos: 0
            }),
        }))
    );
    assert!(
        !created.etag.is_empty() && created.etag != "\"99\"",
        "etag {:?}",
        created.etag
    );
    let create_time = created.create_time.expect("create_time is set");
    let after = Utc::now() + Duration::seconds(5);
    assert!(
        (before.timestamp()..=after.timestamp()).contains(&create_time.seconds),
        "create_time {create_time:?} is now"
    );

    let mut monthly = retention("signup", "login", 1);
    monthly.display_name = "Month-1 retention".into();
    let retained = create_metric(&mut client, "acme", "month-1-retention", monthly).await;
    assert_eq!(retained.name, "tenants/acme/metrics/month-1-retention");
    assert_eq!(retained.display_name, "Month-1 retention");
    assert_eq!(
        retained.definition,
        Some(Definition::CalendarRetention(pb::CalendarRetention {
            start_event: "signup".into(),
            return_event: "login".into(),
            months_after: 1,
        }))
    );

    assert_eq!(get(&mut client, &created.name).await, created);
    assert_eq!(get(&mut client, &retained.name).await, retained);
    let listed = list(&mut client, "acme", 0, "").await;
    assert_eq!(listed.metrics, vec![created, retained]);
    assert_eq!(listed.next_page_token, "");
    service.stop().await;
}

#[tokio::test]
async fn request_id_makes_create_idempotent_and_a_taken_id_is_already_exists() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    let request_id = uuid::Uuid::new_v4().to_string();
    let request = create_request(
        "acme",
        "repeat",
        activation("purchase", "purchase", 86_400),
        &request_id,
    );

    let first = client
        .create_metric(request.clone())
        .await
        .expect("first create")
        .into_inner();
    let retry = client
        .create_metric(request.clone())
        .await
        .expect("retried create")
        .into_inner();
    assert_eq!(
        retry, first,
        "a retry returns the metric the first call created"
    );
    assert_eq!(
        names(&list(&mut client, "acme", 0, "").await.metrics),
        ["tenants/acme/metrics/repeat"]
    );

    // The same request id with another request is refused, and creates nothing.
    let status = client
        .create_metric(create_request(
            "acme",
            "another",
            activation("purchase", "purchase", 86_400),
            &request_id,
        ))
        .await
        .expect_err("the request id belongs to another request");
    assert_invalid(&status, &["request_id"]);
    assert_eq!(list(&mut client, "acme", 0, "").await.metrics.len(), 1);

    // Same metric id, another request: ALREADY_EXISTS, naming the resource.
    let mut other = activation("signup", "activated", 3_600);
    other.display_name = "something else".into();
    for other_request_id in [uuid::Uuid::new_v4().to_string(), String::new()] {
        let status = client
            .create_metric(create_request(
                "acme",
                "repeat",
                other.clone(),
                &other_request_id,
            ))
            .await
            .expect_err("the id is taken");
        assert_error(&status, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");
        let resource = status
            .get_error_details()
            .resource_info()
            .cloned()
            .expect("ResourceInfo");
        assert_eq!(resource.resource_name, "tenants/acme/metrics/repeat");
    }
    assert_eq!(
        get(&mut client, "tenants/acme/metrics/repeat").await,
        first,
        "unchanged"
    );
    assert_eq!(list(&mut client, "acme", 0, "").await.metrics.len(), 1);

    // The same request id in another tenant does not return acme's metric.
    let elsewhere = client
        .create_metric(create_request(
            "globex",
            "repeat",
            activation("purchase", "purchase", 86_400),
            &request_id,
        ))
        .await
        .expect("create in another tenant")
        .into_inner();
    assert_eq!(elsewhere.name, "tenants/globex/metrics/repeat");
    service.stop().await;
}

#[tokio::test]
async fn create_validation_names_every_bad_field_with_bad_request_details() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    let good = || activation("purchase", "purchase", 86_400);
    let with_definition = |definition: Definition| pb::Metric {
        display_name: "m".into(),
        definition: Some(definition),
        ..Default::default()
    };
    let activation_def = |start: &str, act: &str, within: Option<(i64, i32)>| {
        with_definition(Definition::ActivationRate(pb::ActivationRate {
            start_event: start.into(),
            activation_event: act.into(),
            within: within.map(|(seconds, nanos)| prost_types::Duration { seconds, nanos }),
        }))
    };
    let mut no_display_name = good();
    no_display_name.display_name = "   ".into();
    let mut long_display_name = good();
    long_display_name.display_name = "d".repeat(301);
    let mut nul_display_name = good();
    nul_display_name.display_name = "a\0b".into();

    let cases: Vec<(pb::CreateMetricRequest, Vec<&str>)> = vec![
        (
            pb::CreateMetricRequest::default(),
            vec![
                "parent",
                "metric_id",
                "metric.display_name",
                "metric.definition",
            ],
        ),
        (
            pb::CreateMetricRequest {
                parent: "acme".into(),
                metric_id: "Repeat".into(),
                metric: Some(no_display_name),
                request_id: "retry-1".into(),
            },
            vec!["parent", "metric_id", "metric.display_name", "request_id"],
        ),
        (
            create_request("acme", "1abc", good(), ""),
            vec!["metric_id"],
        ),
        (
            create_request("acme", "abc-", good(), ""),
            vec!["metric_id"],
        ),
        (
            create_request("acme", &"m".repeat(64), good(), ""),
            vec!["metric_id"],
        ),
        (
            create_request("acme", "m", long_display_name, ""),
            vec!["metric.display_name"],
        ),
        (
            create_request("acme", "m", nul_display_name, ""),
            vec!["metric.display_name"],
        ),
        (
            create_request(
                "acme",
                "m",
                activation_def("purchase", "purchase", None),
                "",
            ),
            vec!["metric.activation_rate.within"],
        ),
        (
            create_request(
                "acme",
                "m",
                activation_def("purchase", "purchase", Some((0, 0))),
                "",
            ),
            vec!["metric.activation_rate.within"],
        ),
        (
            create_request(
                "acme",
                "m",
                activation_def("purchase", "purchase", Some((-60, 0))),
                "",
            ),
            vec!["metric.activation_rate.within"],
        ),
        (
            create_request(
                "acme",
                "m",
                activation_def("purchase", "purchase", Some((1, 500_000_000))),
                "",
            ),
            vec!["metric.activation_rate.within"],
        ),
        // Longer than any window anyone measures activation over; PostgreSQL could not even
        // add it to an instant.
        (
            create_request(
                "acme",
                "m",
                activation_def("purchase", "purchase", Some((i64::MAX, 0))),
                "",
            ),
            vec!["metric.activation_rate.within"],
        ),
        // Every bad field of the definition is named, not only the first.
        (
            create_request(
                "acme",
                "m",
                activation_def("Purchase", "", Some((0, 0))),
                "",
            ),
            vec![
                "metric.activation_rate.within",
                "metric.activation_rate.start_event",
                "metric.activation_rate.activation_event",
            ],
        ),
        (
            create_request(
                "acme",
                "m",
                with_definition(Definition::CalendarRetention(pb::CalendarRetention {
                    start_event: "signup".into(),
                    return_event: "login".into(),
                    months_after: 0,
                })),
                "",
            ),
            vec!["metric.calendar_retention.months_after"],
        ),
        (
            create_request(
                "acme",
                "m",
                with_definition(Definition::CalendarRetention(pb::CalendarRetention {
                    start_event: "".into(),
                    return_event: "Login".into(),
                    months_after: 121,
                })),
                "",
            ),
            vec![
                "metric.calendar_retention.months_after",
                "metric.calendar_retention.start_event",
                "metric.calendar_retention.return_event",
            ],
        ),
    ];
    for (request, fields) in cases {
        let status = client
            .create_metric(request.clone())
            .await
            .expect_err(&format!("{request:?} is invalid"));
        assert_invalid(&status, &fields);
    }
    // None of them created anything.
    assert_eq!(list(&mut client, "acme", 0, "").await.metrics, vec![]);
    service.stop().await;
}

#[tokio::test]
async fn unknown_metrics_are_not_found_and_malformed_names_invalid() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    create_metric(
        &mut client,
        "acme",
        "repeat",
        activation("purchase", "purchase", 86_400),
    )
    .await;

    // Unknown, and acme's metric seen from another tenant.
    for name in ["tenants/acme/metrics/nope", "tenants/globex/metrics/repeat"] {
        let status = client
            .get_metric(pb::GetMetricRequest { name: name.into() })
            .await
            .expect_err(name);
        assert_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND");
        let resource = status
            .get_error_details()
            .resource_info()
            .cloned()
            .expect("ResourceInfo");
        assert_eq!(resource.resource_name, name);

        let status = client
            .evaluate_metric(pb::EvaluateMetricRequest {
                name: name.into(),
                start_time: Some(crate::support::ts("2026-01-01T00:00:00Z")),
                end_time: Some(crate::support::ts("2026-02-01T00:00:00Z")),
                time_zone: String::new(),
            })
            .await
            .expect_err(name);
        assert_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND");
    }

    for name in [
        "",
        "repeat",
        "tenants/acme/metrics",
        "tenants/acme/metrics/Repeat",
        "tenants/acme/objectives/repeat",
    ] {
        let status = client
            .get_metric(pb::GetMetricRequest { name: name.into() })
            .await
            .expect_err(name);
        assert_invalid(&status, &["name"]);
    }
    service.stop().await;
}

#[tokio::test]
async fn list_pages_visit_every_metric_once_in_creation_order() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    // Five acme metrics, created in a deliberately non-alphabetical order, with two of
    // globex's created in between.
    let acme_ids = ["m-echo", "m-alpha", "m-delta", "m-charlie", "m-bravo"];
    for (i, id) in acme_ids.iter().enumerate() {
        create_metric(
            &mut client,
            "acme",
            id,
            activation("purchase", "purchase", 86_400),
        )
        .await;
        if i == 1 || i == 3 {
            create_metric(
                &mut client,
                "globex",
                &format!("g{i}"),
                retention("signup", "login", 1),
            )
            .await;
        }
    }
    let expected: Vec<String> = acme_ids
        .iter()
        .map(|id| format!("tenants/acme/metrics/{id}"))
        .collect();

    let mut seen = Vec::new();
    let mut page_lengths = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(&mut client, "acme", 2, &token).await;
        page_lengths.push(page.metrics.len());
        seen.extend(page.metrics.iter().map(|metric| metric.name.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        assert!(page_lengths.len() < 10, "paging does not end");
        token = page.next_page_token;
    }
    assert_eq!(page_lengths, [2, 2, 1]);
    assert_eq!(seen, expected);

    // A page exactly as long as the rest is the last one; sizes above 1,000 are read as 1,000.
    for page_size in [5, 0, 5_000] {
        let page = list(&mut client, "acme", page_size, "").await;
        assert_eq!(names(&page.metrics), expected, "page_size {page_size}");
        assert_eq!(page.next_page_token, "", "page_size {page_size}");
    }
    let first_four = list(&mut client, "acme", 4, "").await;
    assert_eq!(names(&first_four.metrics), expected[..4]);
    let rest = list(&mut client, "acme", 4, &first_four.next_page_token).await;
    assert_eq!(
        (names(&rest.metrics), rest.next_page_token.as_str()),
        (vec![expected[4].as_str()], "")
    );

    let globex = list(&mut client, "globex", 1, "").await;
    assert_eq!(names(&globex.metrics), ["tenants/globex/metrics/g1"]);
    assert!(!globex.next_page_token.is_empty());
    assert_eq!(
        list(&mut client, "initech", 0, "").await,
        pb::ListMetricsResponse::default()
    );

    let bad = |parent: &str, page_size: i32, page_token: &str| pb::ListMetricsRequest {
        parent: parent.into(),
        page_size,
        page_token: page_token.into(),
    };
    let cases = [
        (
            bad("tenants/acme", 2, &globex.next_page_token),
            vec!["page_token"],
        ),
        (bad("tenants/acme", 2, "not-a-token"), vec!["page_token"]),
        (bad("tenants/acme", -1, ""), vec!["page_size"]),
        (bad("acme", 2, ""), vec!["parent"]),
    ];
    for (request, fields) in cases {
        let status = client
            .list_metrics(request.clone())
            .await
            .expect_err(&format!("{request:?}"));
        assert_invalid(&status, &fields);
    }
    service.stop().await;
}
