//! A real metrics service and a real objectives service on a fresh database, the generated
//! clients to call them, and small builders for the resources most tests need.

use std::{
    collections::BTreeSet,
    net::SocketAddr,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use devokr_domain::{Decimal, decimal::parse_decimal, metric_reference::UserEvent};
use devokr_platform::{
    server::{CommonArgs, InProcess},
    testing::{TestDatabase, start_service},
};
use devokr_proto::{
    common::v1 as common,
    metrics::v1::{self as metrics_pb, metrics_service_client::MetricsServiceClient},
    objectives::v1::{self as pb, objectives_service_client::ObjectivesServiceClient},
    prost_types,
    tonic::transport::Channel,
};
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

/// The tenant every test works in.
pub(crate) const TENANT: &str = "tenants/acme";

/// How often the service judges health again: short, so tests of health that changes with
/// the clock wait little.
pub(crate) const REJUDGE_INTERVAL_SECS: f64 = 0.5;

/// The metrics and objectives services on one test database.
pub(crate) struct Stack {
    /// `None` once a test has stopped it.
    pub(crate) metrics: Option<InProcess>,
    pub(crate) objectives: InProcess,
    pub(crate) objectives_client: ObjectivesServiceClient<Channel>,
    metrics_client: MetricsServiceClient<Channel>,
    // Dropped last: the services must stop before their database goes.
    database: TestDatabase,
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

impl Stack {
    /// Starts metrics, then objectives reading its values from it.
    pub(crate) async fn start() -> Self {
        let database = TestDatabase::create().await.expect("test database");
        let metrics_config = devokr_metrics::Config {
            common: CommonArgs::in_process(any_port(), database.url()),
        };
        let metrics = start_service(devokr_metrics::SERVICE_NAME, |listener, shutdown| {
            devokr_metrics::run(metrics_config, listener, shutdown)
        })
        .await
        .expect("metrics service starts");
        let objectives = start_objectives(database.url(), &metrics.url()).await;
        Self {
            metrics_client: MetricsServiceClient::new(metrics.channel().unwrap()),
            objectives_client: ObjectivesServiceClient::new(objectives.channel().unwrap()),
            metrics: Some(metrics),
            objectives,
            database,
        }
    }

    /// A client of the objectives service.
    pub(crate) fn client(&self) -> ObjectivesServiceClient<Channel> {
        self.objectives_client.clone()
    }

    /// Starts another replica of the objectives service on the same database and metrics
    /// service, with a client of it; stop it before the stack.
    pub(crate) async fn start_replica(&self) -> (InProcess, ObjectivesServiceClient<Channel>) {
        let metrics = self.metrics.as_ref().expect("metrics is running");
        let replica = start_objectives(self.database.url(), &metrics.url()).await;
        let client = ObjectivesServiceClient::new(replica.channel().unwrap());
        (replica, client)
    }

    /// Stops the metrics service, as an outage would.
    pub(crate) async fn stop_metrics(&mut self) {
        let metrics = self.metrics.take().expect("metrics is running");
        metrics.stop().await.expect("metrics stops cleanly");
    }

    /// The URL of the test's database, to read what no RPC shows yet (the audit log) and to
    /// change the outbox by hand.
    pub(crate) fn database_url(&self) -> &str {
        self.database.url()
    }

    /// A client of the metrics service.
    pub(crate) fn metrics_client(&self) -> MetricsServiceClient<Channel> {
        self.metrics_client.clone()
    }

    /// Stops the objectives service as SIGTERM would and returns what the stop returned, how
    /// long it took, and the rest of the stack (to start a new objectives service on).
    pub(crate) async fn stop_objectives(self) -> (anyhow::Result<()>, Duration, Parked) {
        let stopping = Instant::now();
        let stopped = self.objectives.stop().await;
        let took = stopping.elapsed();
        let parked = Parked {
            metrics: self.metrics,
            metrics_client: self.metrics_client,
            database: self.database,
        };
        (stopped, took, parked)
    }

    /// Stops both services, then drops the database.
    pub(crate) async fn stop(self) {
        self.objectives
            .stop()
            .await
            .expect("objectives stops cleanly");
        if let Some(metrics) = self.metrics {
            metrics.stop().await.expect("metrics stops cleanly");
        }
        drop(self.database);
    }

    /// Stores `events` (user, event name, RFC 3339 instant) in the metrics service and checks
    /// that every one was stored.
    pub(crate) async fn ingest(&self, events: &[(&str, &str, &str)]) {
        let request = metrics_pb::IngestEventsRequest {
            parent: TENANT.into(),
            events: events
                .iter()
                .enumerate()
                .map(|(index, (user, name, occurred))| metrics_pb::Event {
                    user_id: (*user).into(),
                    event_name: (*name).into(),
                    occurred_time: Some(timestamp(occurred)),
                    properties: None,
                    idempotency_key: format!("event-{index}"),
                })
                .collect(),
        };
        let response = self
            .metrics_client
            .clone()
            .ingest_events(request)
            .await
            .expect("events are ingested")
            .into_inner();
        assert!(response.rejected.is_empty(), "{:?}", response.rejected);
        assert_eq!(response.stored_count as usize, events.len());
    }

    /// Defines an activation-rate metric in the metrics service and returns its name.
    pub(crate) async fn create_activation_metric(
        &self,
        metric_id: &str,
        start_event: &str,
        activation_event: &str,
        within_days: i64,
    ) -> String {
        let metric = self
            .metrics_client
            .clone()
            .create_metric(metrics_pb::CreateMetricRequest {
                parent: TENANT.into(),
                metric_id: metric_id.into(),
                metric: Some(metrics_pb::Metric {
                    display_name: format!("Activation ({metric_id})"),
                    definition: Some(metrics_pb::metric::Definition::ActivationRate(
                        metrics_pb::ActivationRate {
                            start_event: start_event.into(),
                            activation_event: activation_event.into(),
                            within: Some(prost_types::Duration {
                                seconds: within_days * 86_400,
                                nanos: 0,
                            }),
                        },
                    )),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("metric is created")
            .into_inner();
        assert_eq!(metric.name, format!("{TENANT}/metrics/{metric_id}"));
        metric.name
    }

    /// Creates a cycle from `start` to `end` (inclusive, `YYYY-MM-DD`) in `time_zone`.
    pub(crate) async fn create_cycle(
        &self,
        cycle_id: &str,
        start: &str,
        end: &str,
        time_zone: &str,
    ) -> pb::Cycle {
        self.client()
            .create_cycle(pb::CreateCycleRequest {
                parent: TENANT.into(),
                cycle_id: cycle_id.into(),
                cycle: Some(cycle(cycle_id, start, end, time_zone)),
                request_id: String::new(),
            })
            .await
            .expect("cycle is created")
            .into_inner()
    }

    /// Creates an objective in `cycle` (a cycle name).
    pub(crate) async fn create_objective(&self, objective_id: &str, cycle: &str) -> pb::Objective {
        self.try_create_objective(objective_id, objective(objective_id, cycle))
            .await
            .expect("objective is created")
    }

    /// Creates `objective` with id `objective_id`, or says why not.
    pub(crate) async fn try_create_objective(
        &self,
        objective_id: &str,
        objective: pb::Objective,
    ) -> Result<pb::Objective, Status> {
        self.client()
            .create_objective(pb::CreateObjectiveRequest {
                parent: TENANT.into(),
                objective_id: objective_id.into(),
                objective: Some(objective),
                request_id: String::new(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Creates `key_result` under `objective` (an objective name).
    pub(crate) async fn create_key_result(
        &self,
        objective: &str,
        key_result_id: &str,
        key_result: pb::KeyResult,
    ) -> pb::KeyResult {
        self.try_create_key_result(objective, key_result_id, key_result)
            .await
            .expect("key result is created")
    }

    /// Creates `key_result` under `objective` as `key_result_id`, or says why not.
    pub(crate) async fn try_create_key_result(
        &self,
        objective: &str,
        key_result_id: &str,
        key_result: pb::KeyResult,
    ) -> Result<pb::KeyResult, Status> {
        self.client()
            .create_key_result(pb::CreateKeyResultRequest {
                parent: objective.into(),
                key_result_id: key_result_id.into(),
                key_result: Some(key_result),
                request_id: String::new(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// The names of the live key results of `objective`, in creation order.
    pub(crate) async fn key_result_names(&self, objective: &str) -> Vec<String> {
        self.client()
            .list_key_results(pb::ListKeyResultsRequest {
                parent: objective.into(),
                page_size: 100,
                page_token: String::new(),
            })
            .await
            .expect("key results are listed")
            .into_inner()
            .key_results
            .into_iter()
            .map(|key_result| key_result.name)
            .collect()
    }

    /// Activates `cycle` (a cycle name), then closes it with no score overrides.
    pub(crate) async fn activate_and_close_cycle(&self, cycle: &str) {
        let active = self
            .client()
            .activate_cycle(pb::ActivateCycleRequest {
                name: cycle.into(),
                etag: String::new(),
            })
            .await
            .expect("cycle is activated")
            .into_inner();
        self.client()
            .close_cycle(pb::CloseCycleRequest {
                name: cycle.into(),
                etag: active.etag,
                overrides: Vec::new(),
            })
            .await
            .expect("cycle is closed");
    }

    /// The (action, actor, change) of the audit events about `resource`, as ListAuditEvents
    /// answers them.
    pub(crate) async fn audit_events(
        &self,
        resource: &str,
    ) -> Vec<(String, String, serde_json::Value)> {
        self.client()
            .list_audit_events(pb::ListAuditEventsRequest {
                parent: TENANT.into(),
                resource: resource.into(),
                ..Default::default()
            })
            .await
            .expect("audit events are listed")
            .into_inner()
            .events
            .into_iter()
            .map(|event| {
                (
                    event.action,
                    event.actor,
                    serde_json::from_str(&event.change).expect("a change is JSON"),
                )
            })
            .collect()
    }
}

/// Starts an objectives service on `database_url` that reads metrics from `metrics_url`.
async fn start_objectives(database_url: &str, metrics_url: &str) -> InProcess {
    let config = devokr_objectives::Config {
        common: CommonArgs::in_process(any_port(), database_url),
        metrics_url: metrics_url.to_owned(),
        rejudge_interval_secs: REJUDGE_INTERVAL_SECS,
    };
    start_service(devokr_objectives::SERVICE_NAME, |listener, shutdown| {
        devokr_objectives::run(config, listener, shutdown)
    })
    .await
    .expect("objectives service starts")
}

/// A stack whose objectives service was stopped: metrics and the database are still there.
pub(crate) struct Parked {
    metrics: Option<InProcess>,
    metrics_client: MetricsServiceClient<Channel>,
    // Dropped last.
    database: TestDatabase,
}

impl Parked {
    /// Starts a new objectives service on the same database (and metrics service).
    pub(crate) async fn start_objectives(self) -> Stack {
        let metrics = self.metrics.as_ref().expect("metrics is running");
        let objectives = start_objectives(self.database.url(), &metrics.url()).await;
        Stack {
            objectives_client: ObjectivesServiceClient::new(objectives.channel().unwrap()),
            objectives,
            metrics: self.metrics,
            metrics_client: self.metrics_client,
            database: self.database,
        }
    }

    /// A client of the metrics service.
    pub(crate) fn metrics_client(&self) -> MetricsServiceClient<Channel> {
        self.metrics_client.clone()
    }

    /// Stops the metrics service, then drops the database.
    pub(crate) async fn stop(self) {
        if let Some(metrics) = self.metrics {
            metrics.stop().await.expect("metrics stops cleanly");
        }
        drop(self.database);
    }
}

/// A cycle to create.
pub(crate) fn cycle(display_name: &str, start: &str, end: &str, time_zone: &str) -> pb::Cycle {
    pb::Cycle {
        display_name: display_name.into(),
        start_date: Some(date(start)),
        end_date: Some(date(end)),
        time_zone: time_zone.into(),
        ..Default::default()
    }
}

/// An objective to create.
pub(crate) fn objective(display_name: &str, cycle: &str) -> pb::Objective {
    pb::Objective {
        display_name: display_name.into(),
        description: String::new(),
        cycle: cycle.into(),
        ..Default::default()
    }
}

/// A percent key result from `baseline` to `target` bound to `metric`.
pub(crate) fn percent_key_result(baseline: &str, target: &str, metric: &str) -> pb::KeyResult {
    pb::KeyResult {
        display_name: format!("Move {metric} from {baseline} % to {target} %"),
        baseline: Some(wire(baseline)),
        target: Some(wire(target)),
        unit: pb::Unit::Percent.into(),
        direction: pb::Direction::Unspecified.into(),
        metric_binding: Some(pb::MetricBinding {
            metric: metric.into(),
        }),
        ..Default::default()
    }
}

/// `YYYY-MM-DD` as a wire date, taken apart without validating (tests send bad dates too).
pub(crate) fn date(text: &str) -> common::Date {
    let parts: Vec<i32> = text.split('-').map(|part| part.parse().unwrap()).collect();
    common::Date {
        year: parts[0],
        month: parts[1],
        day: parts[2],
    }
}

/// An RFC 3339 instant.
pub(crate) fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// An RFC 3339 instant on the wire.
pub(crate) fn timestamp(text: &str) -> prost_types::Timestamp {
    let at = instant(text);
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// A wire timestamp as an instant.
pub(crate) fn from_timestamp(timestamp: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    let timestamp = timestamp.expect("timestamp is set");
    DateTime::from_timestamp(timestamp.seconds, timestamp.nanos as u32).unwrap()
}

/// Decimal text.
pub(crate) fn dec(text: &str) -> Decimal {
    parse_decimal(text).unwrap()
}

/// Decimal text on the wire.
pub(crate) fn wire(text: &str) -> common::Decimal {
    common::Decimal { value: text.into() }
}

/// A wire decimal that must be set.
pub(crate) fn read(decimal: Option<&common::Decimal>) -> Decimal {
    dec(&decimal.expect("decimal is set").value)
}

/// The events of `rows` in the reference implementation's form.
pub(crate) fn reference_events(rows: &[(&str, &str, &str)]) -> Vec<UserEvent> {
    rows.iter()
        .map(|(user, name, occurred)| UserEvent {
            user_id: (*user).into(),
            event_name: (*name).into(),
            occurred_at: instant(occurred),
        })
        .collect()
}

/// Checks the code and that the status carries a devokr `ErrorInfo` with `reason`.
pub(crate) fn assert_error(status: &Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "{status:?}");
    assert_eq!(info.domain, "devokr.dev", "{status:?}");
}

/// The `(field, description)` of every BadRequest violation of an INVALID_ARGUMENT status
/// (checked to carry its ErrorInfo).
/// A request of `message` made by `caller` (its `x-devokr-actor`).
pub(crate) fn request_by<T>(caller: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("x-devokr-actor", caller.parse().unwrap());
    request
}

/// Asserts that `status` names exactly one bad field, `field`, and that it says `says`.
pub(crate) fn assert_one_violation(status: &Status, field: &str, says: &str) {
    let said = violations(status);
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(said[0].0, field, "{said:?}");
    assert!(said[0].1.contains(says), "{said:?} does not say {says:?}");
}

pub(crate) fn violations(status: &Status) -> Vec<(String, String)> {
    assert_error(status, Code::InvalidArgument, "INVALID_ARGUMENT");
    status
        .get_error_details()
        .bad_request()
        .unwrap_or_else(|| panic!("no BadRequest in {status:?}"))
        .field_violations
        .iter()
        .map(|violation| (violation.field.clone(), violation.description.clone()))
        .collect()
}

/// The fields named by the violations of an INVALID_ARGUMENT status.
pub(crate) fn violated_fields(status: &Status) -> BTreeSet<String> {
    violations(status)
        .into_iter()
        .map(|(field, _)| field)
        .collect()
}

/// The fields, as a set, for comparing with [`violated_fields`].
pub(crate) fn fields(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}
