//! The demo: the CDNOW purchases go into the metrics service, then an objective with two
//! key results bound to metrics, and a roadmap tied to those key results, all through the
//! services' gRPC APIs. The report is built from what the services answer.

use std::time::Instant;

use devokr_domain::names::{KeyResultName, MetricName, ObjectiveName, TenantName};
use devokr_platform::client::lazy_channel;
use devokr_proto::{
    common::v1::{Date, Decimal},
    metrics::v1::{
        self as metrics_pb, metric::Definition, metrics_service_client::MetricsServiceClient,
    },
    objectives::v1::{self as objectives_pb, objectives_service_client::ObjectivesServiceClient},
    prost_types,
    roadmap::v1::{self as roadmap_pb, roadmap_service_client::RoadmapServiceClient},
    tonic::transport::Channel,
};
use uuid::Uuid;

use crate::{
    import::{ImportSummary, import_cdnow},
    report::{CycleReport, ObjectiveReport, Report, RoadmapItemReport},
    stack::{Addresses, service_url},
};

/// The tenant the demo writes to.
pub const TENANT: &str = "cdnow";

/// Clients of the three services.
#[derive(Debug, Clone)]
pub struct Clients {
    pub metrics: MetricsServiceClient<Channel>,
    pub objectives: ObjectivesServiceClient<Channel>,
    pub roadmap: RoadmapServiceClient<Channel>,
}

impl Clients {
    /// Clients of the services listening at `addresses`.
    pub fn connect(addresses: &Addresses) -> anyhow::Result<Self> {
        let channel = |address| lazy_channel(&service_url(address));
        Ok(Self {
            // An ingestion batch is larger than gRPC's default 4 MiB message limit allows for.
            metrics: MetricsServiceClient::new(channel(addresses.metrics)?)
                .max_encoding_message_size(devokr_metrics::grpc::MAX_MESSAGE_BYTES),
            objectives: ObjectivesServiceClient::new(channel(addresses.objectives)?),
            roadmap: RoadmapServiceClient::new(channel(addresses.roadmap)?),
        })
    }
}

/// Slow steps the demo reports as it goes.
pub trait Progress {
    /// A new step starts.
    fn step(&self, what: &str);
    /// `done` of `total` purchases are imported.
    fn imported(&self, done: usize, total: usize);
}

/// One key result of the demo objective.
struct KeyResultPlan {
    id: &'static str,
    display_name: &'static str,
    metric_id: &'static str,
    baseline: &'static str,
    target: &'static str,
}

const KEY_RESULTS: [KeyResultPlan; 2] = [
    KeyResultPlan {
        id: "activation",
        display_name: "Increase the 90-day activation rate from 30% to 45%",
        metric_id: "activation_90d",
        baseline: "30",
        target: "45",
    },
    KeyResultPlan {
        id: "retention",
        display_name: "Raise month-1 retention of new customers from 10% to 20%",
        metric_id: "retention_m1",
        baseline: "10",
        target: "20",
    },
];

/// Roadmap items and the key results (ids of `KEY_RESULTS`) they should move.
const ROADMAP: [(&str, &str, &[&str]); 3] = [
    (
        "recommend-next-cd",
        "Recommend a next CD right after the first purchase",
        &["activation"],
    ),
    (
        "welcome-back-email",
        "Welcome-back email three weeks after the first order",
        &["retention"],
    ),
    ("redesign-logo", "Redesign the logo", &[]),
];

const CYCLE_ID: &str = "q1-1997";
const OBJECTIVE_ID: &str = "discover-value";

/// A request id derived from what the request creates, so running the demo again against
/// the same database returns the resources of the first run instead of failing.
fn request_id(resource: &str) -> String {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("devokr-demo:{resource}").as_bytes(),
    )
    .to_string()
}

fn decimal(value: &str) -> Option<Decimal> {
    Some(Decimal {
        value: value.to_owned(),
    })
}

/// Runs the demo on the CDNOW file `cdnow_text` and returns the report.
pub async fn run(
    clients: &Clients,
    cdnow_text: &str,
    progress: &impl Progress,
) -> anyhow::Result<Report> {
    let tenant = TenantName::new(TENANT)?;
    let mut metrics = clients.metrics.clone();
    let mut objectives = clients.objectives.clone();
    let mut roadmap = clients.roadmap.clone();

    progress.step("importing the CDNOW purchases into the metrics service");
    let import_started = Instant::now();
    let import: ImportSummary =
        import_cdnow(metrics.clone(), &tenant, cdnow_text, |done, total| {
            progress.imported(done, total)
        })
        .await?;
    let import_seconds = import_started.elapsed().as_secs_f64();

    progress.step("defining metrics, the 1997-Q1 objective and the roadmap");
    let definitions = [
        (
            "activation_90d",
            "90-day activation rate",
            Definition::ActivationRate(metrics_pb::ActivationRate {
                start_event: "purchase".into(),
                activation_event: "purchase".into(),
                within: Some(prost_types::Duration {
                    seconds: 90 * 86_400,
                    nanos: 0,
                }),
            }),
        ),
        (
            "retention_m1",
            "Month-1 retention",
            Definition::CalendarRetention(metrics_pb::CalendarRetention {
                start_event: "purchase".into(),
                return_event: "purchase".into(),
                months_after: 1,
            }),
        ),
    ];
    for (metric_id, display_name, definition) in definitions {
        metrics
            .create_metric(metrics_pb::CreateMetricRequest {
                parent: tenant.to_string(),
                metric_id: metric_id.into(),
                metric: Some(metrics_pb::Metric {
                    display_name: display_name.into(),
                    definition: Some(definition),
                    ..Default::default()
                }),
                request_id: request_id(&tenant.metric(metric_id).to_string()),
            })
            .await?;
    }

    let cycle = objectives
        .create_cycle(objectives_pb::CreateCycleRequest {
            parent: tenant.to_string(),
            cycle_id: CYCLE_ID.into(),
            cycle: Some(objectives_pb::Cycle {
                display_name: "1997-Q1".into(),
                start_date: Some(Date {
                    year: 1997,
                    month: 1,
                    day: 1,
                }),
                end_date: Some(Date {
                    year: 1997,
                    month: 3,
                    day: 31,
                }),
                time_zone: "UTC".into(),
                ..Default::default()
            }),
            request_id: request_id(&tenant.cycle(CYCLE_ID).to_string()),
        })
        .await?
        .into_inner();

    let objective_name: ObjectiveName = tenant.objective(OBJECTIVE_ID);
    objectives
        .create_objective(objectives_pb::CreateObjectiveRequest {
            parent: tenant.to_string(),
            objective_id: OBJECTIVE_ID.into(),
            objective: Some(objectives_pb::Objective {
                display_name: "Enable customers to discover the value of the product".into(),
                cycle: cycle.name.clone(),
                ..Default::default()
            }),
            request_id: request_id(&objective_name.to_string()),
        })
        .await?;

    for plan in &KEY_RESULTS {
        let name: KeyResultName = objective_name.key_result(plan.id);
        let metric: MetricName = tenant.metric(plan.metric_id);
        objectives
            .create_key_result(objectives_pb::CreateKeyResultRequest {
                parent: objective_name.to_string(),
                key_result_id: plan.id.into(),
                key_result: Some(objectives_pb::KeyResult {
                    display_name: plan.display_name.into(),
                    baseline: decimal(plan.baseline),
                    target: decimal(plan.target),
                    unit: objectives_pb::Unit::Percent.into(),
                    metric_binding: Some(objectives_pb::MetricBinding {
                        metric: metric.to_string(),
                    }),
                    ..Default::default()
                }),
                request_id: request_id(&name.to_string()),
            })
            .await?;
    }

    for (id, display_name, links) in ROADMAP {
        let name = tenant.roadmap_item(id);
        roadmap
            .create_roadmap_item(roadmap_pb::CreateRoadmapItemRequest {
                parent: tenant.to_string(),
                roadmap_item_id: id.into(),
                roadmap_item: Some(roadmap_pb::RoadmapItem {
                    display_name: display_name.into(),
                    key_results: links
                        .iter()
                        .map(|link| objective_name.key_result(*link).to_string())
                        .collect(),
                    ..Default::default()
                }),
                request_id: request_id(&name.to_string()),
            })
            .await?;
    }

    progress.step("reading the status the services computed");
    // Judged as of the cycle's end: a key result below target then counts as missed.
    let evaluation_time = cycle.end_time;
    let status = objectives
        .get_objective_status(objectives_pb::GetObjectiveStatusRequest {
            name: objective_name.to_string(),
            evaluation_time,
        })
        .await?
        .into_inner();
    let key_results = objectives
        .list_key_results(objectives_pb::ListKeyResultsRequest {
            parent: objective_name.to_string(),
            page_size: 1_000,
            page_token: String::new(),
        })
        .await?
        .into_inner()
        .key_results;
    let objective = objectives
        .get_objective(objectives_pb::GetObjectiveRequest {
            name: objective_name.to_string(),
        })
        .await?
        .into_inner();
    let roadmap_items = all_roadmap_items(&mut roadmap, &tenant).await?;

    Ok(Report::new(
        TENANT,
        CycleReport::from_cycle(&cycle)?,
        import,
        import_seconds,
        ObjectiveReport::from_status(&objective, status, &key_results)?,
        roadmap_items
            .into_iter()
            .map(|item| RoadmapItemReport::from_item(item, &key_results))
            .collect(),
    ))
}

async fn all_roadmap_items(
    roadmap: &mut RoadmapServiceClient<Channel>,
    tenant: &TenantName,
) -> anyhow::Result<Vec<roadmap_pb::RoadmapItem>> {
    let mut items = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = roadmap
            .list_roadmap_items(roadmap_pb::ListRoadmapItemsRequest {
                parent: tenant.to_string(),
                page_size: 100,
                page_token,
            })
            .await?
            .into_inner();
        items.extend(page.roadmap_items);
        if page.next_page_token.is_empty() {
            return Ok(items);
        }
        page_token = page.next_page_token;
    }
}
