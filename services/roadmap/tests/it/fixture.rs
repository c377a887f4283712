//! Real metrics, objectives and roadmap services on one fresh database, the generated clients,
//! and a few key results in two tenants to link roadmap items to.

use std::net::SocketAddr;

use devokr_platform::{
    server::{CommonArgs, InProcess},
    testing::{TestDatabase, start_service},
};
use devokr_proto::{
    common::v1 as common,
    metrics::v1::{self as metrics_pb, metrics_service_client::MetricsServiceClient},
    objectives::v1::{self as objectives_pb, objectives_service_client::ObjectivesServiceClient},
    prost_types,
    roadmap::v1::{self as pb, roadmap_service_client::RoadmapServiceClient},
    tonic::transport::Channel,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The tenant the tests work in.
pub(crate) const TENANT: &str = "tenants/acme";
/// Another tenant, whose key results acme's items must not link to.
pub(crate) const OTHER_TENANT: &str = "tenants/globex";

/// The three services on one test database.
pub(crate) struct Stack {
    pub(crate) metrics: InProcess,
    /// `None` once a test has stopped it.
    pub(crate) objectives: Option<InProcess>,
    pub(crate) roadmap: InProcess,
    roadmap_client: RoadmapServiceClient<Channel>,
    // Dropped last: the services must stop before their database goes.
    database: TestDatabase,
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

impl Stack {
    /// Starts metrics, objectives (reading from metrics) and roadmap (checking links with
    /// objectives).
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
        let objectives_config = devokr_objectives::Config {
            common: CommonArgs::in_process(any_port(), database.url()),
            metrics_url: metrics.url(),
            rejudge_interval_secs: devokr_objectives::DEFAULT_REJUDGE_INTERVAL_SECS,
        };
        let objectives = start_service(devokr_objectives::SERVICE_NAME, |listener, shutdown| {
            devokr_objectives::run(objectives_config, listener, shutdown)
        })
        .await
        .expect("objectives service starts");
        let roadmap_config = devokr_roadmap::Config {
            common: CommonArgs::in_process(any_port(), database.url()),
            objectives_url: objectives.url(),
        };
        let roadmap = start_service(devokr_roadmap::SERVICE_NAME, |listener, shutdown| {
            devokr_roadmap::run(roadmap_config, listener, shutdown)
        })
        .await
        .expect("roadmap service starts");
        Self {
            roadmap_client: RoadmapServiceClient::new(roadmap.channel().unwrap()),
            metrics,
            objectives: Some(objectives),
            roadmap,
            database,
        }
    }

    /// A client of the roadmap service.
    pub(crate) fn client(&self) -> RoadmapServiceClient<Channel> {
        self.roadmap_client.clone()
    }

    /// Stops the objectives service, as an outage would.
    pub(crate) async fn stop_objectives(&mut self) {
        let objectives = self.objectives.take().expect("objectives is running");
        objectives.stop().await.expect("objectives stops cleanly");
    }

    /// Stops the services, then drops the database.
    pub(crate) async fn stop(self) {
        self.roadmap.stop().await.expect("roadmap stops cleanly");
        if let Some(objectives) = self.objectives {
            objectives.stop().await.expect("objectives stops cleanly");
        }
        self.metrics.stop().await.expect("metrics stops cleanly");
        drop(self.database);
    }

    /// Creates, in `tenant`, a metric, a cycle, objective `growth` and one key result per id;
    /// returns the key results' names in the order of `key_result_ids`.
    pub(crate) async fn create_key_results(
        &self,
        tenant: &str,
        key_result_ids: &[&str],
    ) -> Vec<String> {
        let metric = MetricsServiceClient::new(self.metrics.channel().unwrap())
            .create_metric(metrics_pb::CreateMetricRequest {
                parent: tenant.into(),
                metric_id: "activation".into(),
                metric: Some(metrics_pb::Metric {
                    display_name: "Activation".into(),
                    definition: Some(metrics_pb::metric::Definition::ActivationRate(
                        metrics_pb::ActivationRate {
                            start_event: "purchase".into(),
                            activation_event: "purchase".into(),
                            within: Some(prost_types::Duration {
                                seconds: 90 * 86_400,
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
        let objectives = self.objectives.as_ref().expect("objectives is running");
        let mut client = ObjectivesServiceClient::new(objectives.channel().unwrap());
        let date = |year, month, day| common::Date { year, month, day };
        let cycle = client
            .create_cycle(objectives_pb::CreateCycleRequest {
                parent: tenant.into(),
                cycle_id: "q1".into(),
                cycle: Some(objectives_pb::Cycle {
                    display_name: "2026-Q1".into(),
                    start_date: Some(date(2026, 1, 1)),
                    end_date: Some(date(2026, 3, 31)),
                    time_zone: "Europe/Berlin".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("cycle is created")
            .into_inner();
        let objective = client
            .create_objective(objectives_pb::CreateObjectiveRequest {
                parent: tenant.into(),
                objective_id: "growth".into(),
                objective: Some(objectives_pb::Objective {
                    display_name: "Customers come back".into(),
                    cycle: cycle.name,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .expect("objective is created")
            .into_inner();
        let mut names = Vec::new();
        for key_result_id in key_result_ids {
            let key_result = client
                .create_key_result(objectives_pb::CreateKeyResultRequest {
                    parent: objective.name.clone(),
                    key_result_id: (*key_result_id).into(),
                    key_result: Some(objectives_pb::KeyResult {
                        display_name: format!("Key result {key_result_id}"),
                        baseline: Some(common::Decimal { value: "30".into() }),
                        target: Some(common::Decimal { value: "45".into() }),
                        unit: objectives_pb::Unit::Percent.into(),
                        metric_binding: Some(objectives_pb::MetricBinding {
                            metric: metric.name.clone(),
                        }),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await
                .expect("key result is created")
                .into_inner();
            assert_eq!(
                key_result.name,
                format!("{tenant}/objectives/growth/keyResults/{key_result_id}")
            );
            names.push(key_result.name);
        }
        names
    }

    /// Every item of the tenant, read page by page with `page_size`.
    pub(crate) async fn list_all(&self, page_size: i32) -> Vec<pb::RoadmapItem> {
        let mut items = Vec::new();
        let mut page_token = String::new();
        for _ in 0..100 {
            let page = self
                .client()
                .list_roadmap_items(pb::ListRoadmapItemsRequest {
                    parent: TENANT.into(),
                    page_size,
                    page_token,
                })
                .await
                .expect("items are listed")
                .into_inner();
            items.extend(page.roadmap_items);
            if page.next_page_token.is_empty() {
                return items;
            }
            page_token = page.next_page_token;
        }
        panic!("pagination does not end");
    }
}

/// A request to create item `roadmap_item_id` linked to `key_results`.
pub(crate) fn create_request(
    roadmap_item_id: &str,
    key_results: &[&str],
) -> pb::CreateRoadmapItemRequest {
    pb::CreateRoadmapItemRequest {
        parent: TENANT.into(),
        roadmap_item_id: roadmap_item_id.into(),
        roadmap_item: Some(pb::RoadmapItem {
            display_name: format!("Build {roadmap_item_id}"),
            description: "Details".into(),
            key_results: key_results.iter().map(|name| (*name).to_owned()).collect(),
            ..Default::default()
        }),
        request_id: String::new(),
    }
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
