//! Bad input to EvaluateMetric is INVALID_ARGUMENT naming the field, and never takes the
//! service down: a good call still works afterwards.

use devokr_proto::{metrics::v1 as pb, prost_types};

use crate::support::{
    Service, activation, assert_invalid, assert_value, create_metric, evaluate, event, ingest_all,
    ratio, to_wire, ts,
};

const JAN: &str = "2026-01-01T00:00:00Z";
const FEB: &str = "2026-02-01T00:00:00Z";
const NAME: &str = "tenants/acme/metrics/repeat";

fn request(
    name: &str,
    start: Option<prost_types::Timestamp>,
    end: Option<prost_types::Timestamp>,
    time_zone: &str,
) -> pb::EvaluateMetricRequest {
    pb::EvaluateMetricRequest {
        name: name.into(),
        start_time: start,
        end_time: end,
        time_zone: time_zone.into(),
    }
}

fn raw(seconds: i64, nanos: i32) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos })
}

#[tokio::test]
async fn bad_evaluation_requests_are_invalid_argument_naming_the_field() {
    let service = Service::start().await;
    let mut client = service.client.clone();
    // a bought Jan 5 and Jan 6: 1 / 1 over January.
    let events = [
        event("a", "purchase", "2026-01-05T00:00:00Z"),
        event("a", "purchase", "2026-01-06T00:00:00Z"),
    ];
    ingest_all(&mut client, "acme", to_wire(&events, "k")).await;
    create_metric(
        &mut client,
        "acme",
        "repeat",
        activation("purchase", "purchase", 86_400 * 7),
    )
    .await;

    let (jan, feb) = (Some(ts(JAN)), Some(ts(FEB)));
    let cases = [
        (request(NAME, feb, jan, ""), vec!["end_time"]),
        (request(NAME, jan, jan, ""), vec!["end_time"]),
        (request(NAME, None, feb, ""), vec!["start_time"]),
        (request(NAME, jan, None, ""), vec!["end_time"]),
        (
            request(NAME, None, None, ""),
            vec!["start_time", "end_time"],
        ),
        (request(NAME, jan, feb, "Mars/Olympus"), vec!["time_zone"]),
        (request(NAME, jan, feb, "+05:00"), vec!["time_zone"]),
        (
            request(NAME, None, feb, "Mars/Olympus"),
            vec!["start_time", "time_zone"],
        ),
        (
            request(NAME, raw(1_767_225_600, -1), feb, ""),
            vec!["start_time"],
        ),
        (
            request(NAME, jan, raw(1_769_904_000, 1_000_000_000), ""),
            vec!["end_time"],
        ),
        // Outside the range of protobuf Timestamps (years 1 to 9999), which PostgreSQL cannot
        // hold either at the low end.
        (
            request(NAME, raw(-314_622_811_440, 0), feb, ""),
            vec!["start_time"],
        ),
        (
            request(NAME, jan, raw(253_402_300_800, 0), ""),
            vec!["end_time"],
        ),
        (request("", jan, feb, ""), vec!["name"]),
        (request("repeat", jan, feb, ""), vec!["name"]),
        (request("metrics/repeat", jan, feb, ""), vec!["name"]),
        (request("tenants/acme/metrics", jan, feb, ""), vec!["name"]),
        (
            request("tenants/acme/metrics/Repeat", jan, feb, ""),
            vec!["name"],
        ),
        (
            request("tenants/acme/metrics/repeat/extra", jan, feb, ""),
            vec!["name"],
        ),
        (
            request("tenants//metrics/repeat", jan, feb, ""),
            vec!["name"],
        ),
    ];
    for (request, fields) in cases {
        let status = client
            .evaluate_metric(request.clone())
            .await
            .expect_err(&format!("{request:?} is invalid"));
        assert_invalid(&status, &fields);
    }

    // The widest window Timestamps allow is fine.
    let widest = client
        .evaluate_metric(request(
            NAME,
            raw(-62_135_596_800, 0),
            raw(253_402_300_799, 999_999_999),
            "",
        ))
        .await
        .expect("the widest window")
        .into_inner();
    assert_value(&widest, ratio(1, 1), Some("1"));
    // And the service still answers as before.
    let value = evaluate(&mut client, NAME, JAN, FEB, "").await;
    assert_value(&value, ratio(1, 1), Some("1"));
    service.stop().await;
}
