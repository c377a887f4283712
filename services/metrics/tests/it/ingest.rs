//! IngestEvents: valid events are kept, invalid ones reported by index, replays add nothing.

use std::collections::BTreeMap;

use devokr_domain::metric_reference::activation_rate;
use devokr_proto::{metrics::v1 as pb, prost_types};

use crate::support::{
    Service, activation, assert_invalid, assert_value, at, create_metric, evaluate, event, ratio,
    wire_event,
};

const JAN: &str = "2026-01-01T00:00:00Z";
const FEB: &str = "2026-02-01T00:00:00Z";
const SEVEN_DAYS: i64 = 7 * 24 * 3600;

/// `(index, field)` of each rejected event, in order.
fn rejected_fields(response: &pb::IngestEventsResponse) -> Vec<(i32, &str)> {
    response
        .rejected
        .iter()
        .map(|rejected| (rejected.index, rejected.field.as_str()))
        .collect()
}

fn property(value: prost_types::value::Kind) -> prost_types::Value {
    prost_types::Value { kind: Some(value) }
}

fn properties(fields: &[(&str, prost_types::Value)]) -> prost_types::Struct {
    prost_types::Struct {
        fields: fields
            .iter()
            .map(|(key, value)| ((*key).to_owned(), value.clone()))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// The batch of the mixed-batch test: valid events at 0, 3 and 6.
fn mixed_batch() -> Vec<pb::Event> {
    use prost_types::value::Kind;
    let mut with_properties = wire_event("a", "purchase", "2026-01-08T10:00:00Z", "k6");
    with_properties.properties = Some(properties(&[
        ("dollar_value", property(Kind::NumberValue(12.5))),
        ("sku", property(Kind::StringValue("cd-1".into()))),
    ]));
    let mut no_time = wire_event("d", "purchase", JAN, "k4");
    no_time.occurred_time = None;
    vec![
        wire_event("a", "purchase", "2026-01-05T10:00:00Z", "k0"),
        wire_event("c", "Purchase", "2026-01-06T10:00:00Z", "k1"),
        wire_event("", "purchase", "2026-01-07T10:00:00Z", "k2"),
        wire_event("b", "purchase", "2026-01-06T09:00:00Z", "k3"),
        no_time,
        wire_event("e", "purchase", "2026-01-07T10:00:00Z", ""),
        with_properties,
        wire_event("f", "purchase", "2026-01-09T10:00:00Z", "   "),
    ]
}

#[tokio::test]
async fn a_mixed_batch_keeps_the_valid_events_and_reports_each_invalid_one() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    let request = pb::IngestEventsRequest {
        parent: "tenants/acme".into(),
        events: mixed_batch(),
    };

    let first = client
        .ingest_events(request.clone())
        .await
        .expect("a batch with some bad events is still accepted")
        .into_inner();
    assert_eq!((first.stored_count, first.duplicate_count), (3, 0));
    let expected_rejections = vec![
        (1, "events[1].event_name"),
        (2, "events[2].user_id"),
        (4, "events[4].occurred_time"),
        (5, "events[5].idempotency_key"),
        (7, "events[7].idempotency_key"),
    ];
    assert_eq!(rejected_fields(&first), expected_rejections);
    for rejected in &first.rejected {
        assert!(
            !rejected.reason.trim().is_empty(),
            "{rejected:?} has no reason"
        );
    }
    assert!(
        first.rejected[0].reason.contains("Purchase"),
        "the reason quotes the bad name: {:?}",
        first.rejected[0]
    );

    // Which events were stored, seen through a metric: repeat purchase within 7 days over
    // January. Stored: a Jan 5, b Jan 6, a Jan 8. Population {a, b}; a repeats after 3 days,
    // b never: 1 / 2. Had e's or f's purchase been stored, the population would be larger.
    let stored = [
        event("a", "purchase", "2026-01-05T10:00:00Z"),
        event("b", "purchase", "2026-01-06T09:00:00Z"),
        event("a", "purchase", "2026-01-08T10:00:00Z"),
    ];
    let by_hand = ratio(1, 2);
    let days7 = chrono::Duration::seconds(SEVEN_DAYS);
    assert_eq!(
        activation_rate(&stored, "purchase", "purchase", at(JAN), at(FEB), days7),
        by_hand
    );
    let metric = create_metric(
        &mut client,
        "acme",
        "repeat",
        activation("purchase", "purchase", SEVEN_DAYS),
    )
    .await;
    let value = evaluate(&mut client, &metric.name, JAN, FEB, "").await;
    assert_value(&value, by_hand, Some("0.5"));

    // The same batch again stores nothing: the three valid events are duplicates and the
    // invalid ones are reported again.
    let replay = client
        .ingest_events(request)
        .await
        .expect("a replay is accepted")
        .into_inner();
    assert_eq!((replay.stored_count, replay.duplicate_count), (0, 3));
    assert_eq!(rejected_fields(&replay), expected_rejections);

    // A known key with other content is still a duplicate: the first event under a key wins.
    let reused_key = client
        .ingest_events(pb::IngestEventsRequest {
            parent: "tenants/acme".into(),
            events: vec![wire_event("z", "purchase", "2026-01-20T00:00:00Z", "k3")],
        })
        .await
        .expect("accepted")
        .into_inner();
    assert_eq!(
        (reused_key.stored_count, reused_key.duplicate_count),
        (0, 1)
    );

    let value = evaluate(&mut client, &metric.name, JAN, FEB, "").await;
    assert_value(&value, by_hand, Some("0.5"));
    service.stop().await;
}

#[tokio::test]
async fn a_key_repeated_inside_a_batch_is_stored_once_and_keys_are_per_tenant() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    // x twice under one key (Jan 10 and Jan 12), y once. If both of x's were stored, x would
    // repeat within 7 days and be activated.
    let batch = vec![
        wire_event("x", "purchase", "2026-01-10T00:00:00Z", "dup"),
        wire_event("x", "purchase", "2026-01-12T00:00:00Z", "dup"),
        wire_event("y", "purchase", "2026-01-11T00:00:00Z", "y1"),
    ];
    let response = client
        .ingest_events(pb::IngestEventsRequest {
            parent: "tenants/acme".into(),
            events: batch.clone(),
        })
        .await
        .expect("accepted")
        .into_inner();
    assert_eq!(
        (
            response.stored_count,
            response.duplicate_count,
            response.rejected.len()
        ),
        (2, 1, 0)
    );

    // Keys are per tenant: the same batch in another tenant is new there (and its in-batch
    // duplicate is again stored once).
    let other = client
        .ingest_events(pb::IngestEventsRequest {
            parent: "tenants/other".into(),
            events: batch,
        })
        .await
        .expect("accepted")
        .into_inner();
    assert_eq!((other.stored_count, other.duplicate_count), (2, 1));

    // Population {x, y}, nobody repeats (x has one stored purchase): 0 / 2, value 0 (defined).
    let by_hand = ratio(0, 2);
    for tenant in ["acme", "other"] {
        let metric = create_metric(
            &mut client,
            tenant,
            "repeat",
            activation("purchase", "purchase", SEVEN_DAYS),
        )
        .await;
        let value = evaluate(&mut client, &metric.name, JAN, FEB, "UTC").await;
        assert_value(&value, by_hand, Some("0"));
    }
    service.stop().await;
}

#[tokio::test]
async fn a_batch_holds_at_most_10000_events() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    let batch = |len: usize| pb::IngestEventsRequest {
        parent: "tenants/acme".into(),
        events: (0..len)
            .map(|i| {
                wire_event(
                    &format!("u{}", i % 97),
                    "page_view",
                    "2026-01-02T00:00:00Z",
                    &format!("e-{i}"),
                )
            })
            .collect(),
    };

    let status = client
        .ingest_events(batch(10_001))
        .await
        .expect_err("10,001 events are too many");
    assert_invalid(&status, &["events"]);

    // Exactly 10,000 are accepted, and all are new: the refused batch, whose first 10,000
    // keys are the same, stored nothing.
    let response = client
        .ingest_events(batch(10_000))
        .await
        .expect("10,000 events are accepted")
        .into_inner();
    assert_eq!(
        (response.stored_count, response.duplicate_count),
        (10_000, 0)
    );
    service.stop().await;
}

#[tokio::test]
async fn a_bad_parent_is_invalid_argument_naming_parent() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    for parent in [
        "",
        "acme",
        "tenants/",
        "tenants/Acme",
        "tenant/acme",
        "tenants/acme/metrics/m",
    ] {
        let status = client
            .ingest_events(pb::IngestEventsRequest {
                parent: parent.into(),
                events: vec![wire_event("a", "purchase", JAN, "k")],
            })
            .await
            .expect_err(parent);
        assert_invalid(&status, &["parent"]);
    }
    // Nothing of those calls reached any tenant: the key is still new for acme.
    let response = client
        .ingest_events(pb::IngestEventsRequest {
            parent: "tenants/acme".into(),
            events: vec![wire_event("a", "purchase", JAN, "k")],
        })
        .await
        .expect("accepted")
        .into_inner();
    assert_eq!((response.stored_count, response.duplicate_count), (1, 0));
    service.stop().await;
}

/// Values a protobuf message can carry but PostgreSQL cannot store (a NUL character, an instant
/// outside years 1 to 9999) are bad events like any other: reported by index, and the rest of
/// the batch is still stored.
#[tokio::test]
async fn unstorable_values_are_rejected_by_index_without_losing_the_batch() {
    use prost_types::value::Kind;
    let service = Service::start().await;
    let mut client = service.client.clone();
    let timestamp = |seconds: i64, nanos: i32| Some(prost_types::Timestamp { seconds, nanos });
    let mut events = vec![wire_event("a", "purchase", "2026-01-05T00:00:00Z", "ok-0")];
    // 1: 8000 BC, before PostgreSQL's earliest timestamp (4713 BC).
    let mut ancient = wire_event("b", "purchase", JAN, "k1");
    ancient.occurred_time = timestamp(-314_622_811_440, 0);
    events.push(ancient);
    // 2: nanos out of range.
    let mut bad_nanos = wire_event("b", "purchase", JAN, "k2");
    bad_nanos.occurred_time = timestamp(1_767_225_600, 1_000_000_000);
    events.push(bad_nanos);
    // 3 and 4: NUL characters, which PostgreSQL text cannot hold.
    events.push(wire_event("c\0d", "purchase", JAN, "k3"));
    events.push(wire_event("c", "purchase", JAN, "k\0-4"));
    // 5: a NUL inside a property value, which jsonb cannot hold.
    let mut nul_property = wire_event("c", "purchase", JAN, "k5");
    nul_property.properties = Some(properties(&[(
        "note",
        property(Kind::StringValue("a\0b".into())),
    )]));
    events.push(nul_property);
    // 6: year 10000, after the last protobuf Timestamp (9999-12-31T23:59:59Z).
    let mut far_future = wire_event("b", "purchase", JAN, "k6");
    far_future.occurred_time = timestamp(253_402_300_800, 0);
    events.push(far_future);
    // 7 and 8: over the length limits (200 and 100 characters).
    events.push(wire_event(&"u".repeat(201), "purchase", JAN, "k7"));
    events.push(wire_event("c", &"p".repeat(101), JAN, "k8"));
    // 9: valid, with nested properties, a list and a null.
    let mut nested = wire_event("a", "purchase", "2026-01-06T00:00:00Z", "ok-9");
    nested.properties = Some(properties(&[
        (
            "cart",
            property(Kind::StructValue(properties(&[(
                "items",
                property(Kind::ListValue(prost_types::ListValue {
                    values: vec![
                        property(Kind::StringValue("x".into())),
                        property(Kind::BoolValue(true)),
                    ],
                })),
            )]))),
        ),
        ("coupon", property(Kind::NullValue(0))),
    ]));
    events.push(nested);

    let response = client
        .ingest_events(pb::IngestEventsRequest {
            parent: "tenants/acme".into(),
            events,
        })
        .await
        .expect("a batch with unstorable values is still accepted")
        .into_inner();
    assert_eq!(
        rejected_fields(&response),
        vec![
            (1, "events[1].occurred_time"),
            (2, "events[2].occurred_time"),
            (3, "events[3].user_id"),
            (4, "events[4].idempotency_key"),
            (5, "events[5].properties"),
            (6, "events[6].occurred_time"),
            (7, "events[7].user_id"),
            (8, "events[8].event_name"),
        ]
    );
    assert_eq!((response.stored_count, response.duplicate_count), (2, 0));

    // a bought on Jan 5 and again on Jan 6: activated, alone in the population.
    let metric = create_metric(
        &mut client,
        "acme",
        "repeat",
        activation("purchase", "purchase", SEVEN_DAYS),
    )
    .await;
    let value = evaluate(&mut client, &metric.name, JAN, FEB, "").await;
    assert_value(&value, ratio(1, 1), Some("1"));
    service.stop().await;
}
