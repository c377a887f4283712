//! What every test needs: a fresh database and the real service on it, a gRPC client, and
//! small builders and assertions over the wire types.

use chrono::{DateTime, Utc};
use devokr_domain::metric_reference::{Ratio, UserEvent};
use devokr_metrics::{Config, SERVICE_NAME};
use devokr_platform::{
    server::{CommonArgs, InProcess},
    testing::{TestDatabase, start_service},
};
use devokr_proto::{
    metrics::v1::{self as pb, metric::Definition, metrics_service_client::MetricsServiceClient},
    prost_types,
};
use tonic::{Code, Status, transport::Channel};
use tonic_types::StatusExt;

/// The generated client, on a channel to the service under test.
pub(crate) type Client = MetricsServiceClient<Channel>;

/// The metrics service running in this process on its own empty database.
pub(crate) struct Service {
    pub(crate) client: Client,
    server: InProcess,
    // Dropped after the server has stopped, which drops the database.
    _database: TestDatabase,
}

impl Service {
    /// Creates a database, starts the service on it and waits until it reports SERVING.
    pub(crate) async fn start() -> Self {
        let database = TestDatabase::create().await.expect("a test database");
        let url = database.url().to_owned();
        let server = start_service(SERVICE_NAME, move |listener, shutdown| {
            let address = listener.local_addr().expect("the listener's address");
            devokr_metrics::run(
                Config {
                    common: CommonArgs::in_process(address, &url),
                },
                listener,
                shutdown,
            )
        })
        .await
        .expect("the metrics service starts and reports SERVING");
        let client = MetricsServiceClient::new(server.channel().expect("a channel"));
        Self {
            client,
            server,
            _database: database,
        }
    }

    /// The URL of the service's database, for tests that look behind the API.
    pub(crate) fn database_url(&self) -> &str {
        self._database.url()
    }

    /// Stops the service as SIGTERM would; it must drain and stop without error.
    pub(crate) async fn stop(self) {
        self.server.stop().await.expect("the service stops cleanly");
    }
}

/// An instant written in RFC 3339.
pub(crate) fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text:?} is not RFC 3339: {error}"))
        .with_timezone(&Utc)
}

/// The wire form of an instant written in RFC 3339.
pub(crate) fn ts(text: &str) -> prost_types::Timestamp {
    devokr_proto::convert::timestamp(at(text))
}

/// One event for the reference formulas.
pub(crate) fn event(user: &str, name: &str, when: &str) -> UserEvent {
    UserEvent {
        user_id: user.to_owned(),
        event_name: name.to_owned(),
        occurred_at: at(when),
    }
}

/// A wire event with every field set.
pub(crate) fn wire_event(user: &str, name: &str, when: &str, key: &str) -> pb::Event {
    pb::Event {
        user_id: user.to_owned(),
        event_name: name.to_owned(),
        occurred_time: Some(ts(when)),
        properties: None,
        idempotency_key: key.to_owned(),
    }
}

/// The wire form of `events`, with idempotency keys `{prefix}-{index}`.
pub(crate) fn to_wire(events: &[UserEvent], prefix: &str) -> Vec<pb::Event> {
    events
        .iter()
        .enumerate()
        .map(|(index, event)| pb::Event {
            user_id: event.user_id.clone(),
            event_name: event.event_name.clone(),
            occurred_time: Some(devokr_proto::convert::timestamp(event.occurred_at)),
            properties: None,
            idempotency_key: format!("{prefix}-{index}"),
        })
        .collect()
}

/// Ingests `events` into `tenant` in one call and checks that all of them were stored.
pub(crate) async fn ingest_all(client: &mut Client, tenant: &str, events: Vec<pb::Event>) {
    let count = events.len();
    let response = client
        .ingest_events(pb::IngestEventsRequest {
            parent: format!("tenants/{tenant}"),
            events,
        })
        .await
        .expect("IngestEvents succeeds")
        .into_inner();
    assert_eq!(
        (
            response.stored_count as usize,
            response.duplicate_count,
            response.rejected
        ),
        (count, 0, vec![]),
        "every event of the batch is stored"
    );
}

/// An activation-rate metric definition.
pub(crate) fn activation(
    start_event: &str,
    activation_event: &str,
    within_seconds: i64,
) -> pb::Metric {
    pb::Metric {
        display_name: format!("{activation_event} after {start_event}"),
        definition: Some(Definition::ActivationRate(pb::ActivationRate {
            start_event: start_event.to_owned(),
            activation_event: activation_event.to_owned(),
            within: Some(prost_types::Duration {
                seconds: within_seconds,
                nanos: 0,
            }),
        })),
        ..Default::default()
    }
}

/// A calendar-retention metric definition.
pub(crate) fn retention(start_event: &str, return_event: &str, months_after: i32) -> pb::Metric {
    pb::Metric {
        display_name: format!("{return_event} in month {months_after} after {start_event}"),
        definition: Some(Definition::CalendarRetention(pb::CalendarRetention {
            start_event: start_event.to_owned(),
            return_event: return_event.to_owned(),
            months_after,
        })),
        ..Default::default()
    }
}

/// Creates `metric` as `tenants/{tenant}/metrics/{metric_id}` and returns it.
pub(crate) async fn create_metric(
    client: &mut Client,
    tenant: &str,
    metric_id: &str,
    metric: pb::Metric,
) -> pb::Metric {
    client
        .create_metric(pb::CreateMetricRequest {
            parent: format!("tenants/{tenant}"),
            metric_id: metric_id.to_owned(),
            metric: Some(metric),
            request_id: String::new(),
        })
        .await
        .unwrap_or_else(|status| panic!("CreateMetric {metric_id} failed: {status:?}"))
        .into_inner()
}

/// Evaluates metric `name` over `[start, end)` in `time_zone`.
pub(crate) async fn evaluate(
    client: &mut Client,
    name: &str,
    start: &str,
    end: &str,
    time_zone: &str,
) -> pb::MetricValue {
    client
        .evaluate_metric(pb::EvaluateMetricRequest {
            name: name.to_owned(),
            start_time: Some(ts(start)),
            end_time: Some(ts(end)),
            time_zone: time_zone.to_owned(),
        })
        .await
        .unwrap_or_else(|status| panic!("EvaluateMetric {name} failed: {status:?}"))
        .into_inner()
}

/// Checks a value's counts against `expected` and its value against `expected_value` (the
/// decimal text, or `None` for "undefined").
pub(crate) fn assert_value(value: &pb::MetricValue, expected: Ratio, expected_value: Option<&str>) {
    assert_eq!(
        (value.numerator, value.denominator),
        (expected.numerator as i64, expected.denominator as i64),
        "numerator and denominator of {}",
        value.metric
    );
    assert_eq!(
        value.value.as_ref().map(|decimal| decimal.value.as_str()),
        expected_value,
        "value of {}",
        value.metric
    );
}

/// A ratio, briefly.
pub(crate) fn ratio(numerator: u64, denominator: u64) -> Ratio {
    Ratio {
        numerator,
        denominator,
    }
}

/// Checks that `status` has `code` and a `google.rpc.ErrorInfo` with `reason` in DevOKR's
/// domain, as every error must.
pub(crate) fn assert_error(status: &Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "ErrorInfo.reason of {status:?}");
    assert_eq!(info.domain, "devokr.dev", "ErrorInfo.domain of {status:?}");
}

/// Checks that `status` is INVALID_ARGUMENT with an ErrorInfo and a BadRequest whose field
/// violations name exactly `fields` (in any order), each with a description.
pub(crate) fn assert_invalid(status: &Status, fields: &[&str]) {
    assert_error(status, Code::InvalidArgument, "INVALID_ARGUMENT");
    let details = status.get_error_details();
    let bad_request = details
        .bad_request()
        .unwrap_or_else(|| panic!("no BadRequest in {status:?}"));
    let mut named: Vec<&str> = bad_request
        .field_violations
        .iter()
        .map(|violation| violation.field.as_str())
        .collect();
    named.sort_unstable();
    let mut expected = fields.to_vec();
    expected.sort_unstable();
    assert_eq!(named, expected, "fields named by {status:?}");
    for violation in &bad_request.field_violations {
        assert!(
            !violation.description.trim().is_empty(),
            "violation of {} has no description",
            violation.field
        );
    }
}
