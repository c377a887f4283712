//! The real CDNOW purchases of the customers who first bought in 1997-Q1, ingested through the
//! API and evaluated by the service, against the reference formulas on the same purchases.

use std::io::Read;

use chrono::Duration;
use devokr_domain::{
    Tz,
    cdnow::{self, purchase_events},
    metric_reference::{activation_rate, calendar_retention},
};
use devokr_proto::{metrics::v1 as pb, prost_types};

use crate::support::{Service, activation, assert_value, at, create_metric, evaluate, retention};

const CDNOW_GZ: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/cdnow/CDNOW_master.txt.gz"
);
const Q1_START: &str = "1997-01-01T00:00:00Z";
const Q2_START: &str = "1997-04-01T00:00:00Z";
const BATCH: usize = 5_000;

fn read_purchases() -> Vec<cdnow::Purchase> {
    let file = std::fs::File::open(CDNOW_GZ).unwrap_or_else(|error| panic!("{CDNOW_GZ}: {error}"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .expect("the vendored file is gzip-compressed UTF-8");
    let (purchases, errors) = cdnow::parse(&text);
    assert_eq!(errors, vec![], "the vendored file has no bad rows");
    // Published facts of the data set (data/cdnow/README.md).
    assert_eq!(purchases.len(), 69_659);
    purchases
}

fn to_wire(purchase: &cdnow::Purchase) -> pb::Event {
    use prost_types::value::Kind;
    let value = |kind: Kind| prost_types::Value { kind: Some(kind) };
    pb::Event {
        user_id: purchase.customer_id.clone(),
        event_name: cdnow::PURCHASE_EVENT.to_owned(),
        occurred_time: Some(devokr_proto::convert::timestamp(purchase.occurred_at())),
        properties: Some(prost_types::Struct {
            fields: [
                (
                    "number_of_cds".to_owned(),
                    value(Kind::NumberValue(f64::from(purchase.number_of_cds))),
                ),
                (
                    "dollar_value".to_owned(),
                    value(Kind::StringValue(purchase.dollar_value.to_string())),
                ),
            ]
            .into_iter()
            .collect(),
        }),
        idempotency_key: purchase.idempotency_key.clone(),
    }
}

#[tokio::test]
async fn cdnow_q1_cohort_matches_the_reference() {
    let purchases = read_purchases();
    let service = Service::start().await;
    let mut client = service.client.clone();

    let mut stored = 0;
    for batch in purchases.chunks(BATCH) {
        let response = client
            .ingest_events(pb::IngestEventsRequest {
                parent: "tenants/cdnow".into(),
                events: batch.iter().map(to_wire).collect(),
            })
            .await
            .expect("IngestEvents")
            .into_inner();
        assert_eq!((response.duplicate_count, response.rejected.len()), (0, 0));
        stored += response.stored_count;
    }
    assert_eq!(stored, 69_659);
    // Replaying a batch adds nothing.
    let replay = client
        .ingest_events(pb::IngestEventsRequest {
            parent: "tenants/cdnow".into(),
            events: purchases[..BATCH].iter().map(to_wire).collect(),
        })
        .await
        .expect("IngestEvents")
        .into_inner();
    assert_eq!((replay.stored_count, replay.duplicate_count), (0, 5_000));

    let events = purchase_events(&purchases);
    let (from, to) = (at(Q1_START), at(Q2_START));

    let repeat = create_metric(
        &mut client,
        "cdnow",
        "repeat-90d",
        activation("purchase", "purchase", 90 * 86_400),
    )
    .await;
    let expected = activation_rate(
        &events,
        "purchase",
        "purchase",
        from,
        to,
        Duration::days(90),
    );
    // Every one of the 23,570 customers first bought in Q1 1997 (the published facts).
    assert_eq!(expected.denominator, 23_570);
    assert!(0 < expected.numerator && expected.numerator < expected.denominator);
    let value = evaluate(&mut client, &repeat.name, Q1_START, Q2_START, "").await;
    let text = expected.value().map(|value| value.to_string());
    assert_value(&value, expected, text.as_deref());

    let month_1 = create_metric(
        &mut client,
        "cdnow",
        "month-1",
        retention("purchase", "purchase", 1),
    )
    .await;
    let new_york: Tz = "America/New_York".parse().expect("a zone");
    for zone in [Tz::UTC, new_york] {
        let expected = calendar_retention(&events, "purchase", "purchase", from, to, zone, 1);
        assert_eq!(expected.denominator, 23_570);
        assert!(0 < expected.numerator && expected.numerator < expected.denominator);
        let value = evaluate(&mut client, &month_1.name, Q1_START, Q2_START, zone.name()).await;
        let text = expected.value().map(|value| value.to_string());
        assert_value(&value, expected, text.as_deref());
    }
    service.stop().await;
}
