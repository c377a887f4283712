//! The demo: the CDNOW purchases go into the metrics service, then an objective with two
//! key results bound to metrics, a second objective whose key results of other kinds take
//! weekly check-ins computed from the same purchases, and a roadmap tied to the key results,
//! all through the services' gRPC APIs. The report is built from what the services answer.

use std::time::Instant;

use chrono::TimeDelta;
use devokr_domain::{
    calendar::WeekStart,
    cdnow::{self, WeekOfOrders},
    cycle::Cycle as CyclePeriod,
    decimal::round_for_display,
    names::{KeyResultName, MetricName, ObjectiveName, TenantName},
};
use devokr_platform::client::lazy_channel;
use devokr_proto::{
    common::v1::{Date, Decimal},
    convert::{date, timestamp},
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
    report::{CycleReport, HistoryReport, ObjectiveReport, Report, RoadmapItemReport},
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
const SPEND_OBJECTIVE_ID: &str = "grow-spend";
/// The key result of the spend objective whose history the report charts.
const REVENUE_ID: &str = "q1-revenue";
const ORDER_VALUE_ID: &str = "order-value";
const EXPERIMENT_ID: &str = "next-cd-experiment";

/// The spend objective's key results, of other kinds than the metric-bound ones: their values
/// are check-ins the demo computes week by week from the purchases, as an import would.
fn spend_key_results() -> [(&'static str, objectives_pb::KeyResult); 3] {
    let usd = |key_result: objectives_pb::KeyResult| objectives_pb::KeyResult {
        unit: objectives_pb::Unit::Currency.into(),
        currency_code: "USD".into(),
        ..key_result
    };
    [
        (
            REVENUE_ID,
            usd(objectives_pb::KeyResult {
                display_name: "Take $1.2M from new customers in the quarter".into(),
                kind: objectives_pb::KeyResultKind::Metric.into(),
                baseline: decimal("0"),
                target: decimal("1200000"),
                commit: decimal("1000000"),
                ..Default::default()
            }),
        ),
        (
            ORDER_VALUE_ID,
            usd(objectives_pb::KeyResult {
                display_name: "Keep the average order at $33 or more, week by week".into(),
                kind: objectives_pb::KeyResultKind::Threshold.into(),
                threshold: Some(objectives_pb::Threshold {
                    comparison: objectives_pb::Comparison::AtLeast.into(),
                    low: decimal("33"),
                    high: None,
                    scoring: objectives_pb::ThresholdScoring::ShareOfCheckIns.into(),
                }),
                ..Default::default()
            }),
        ),
        (
            EXPERIMENT_ID,
            objectives_pb::KeyResult {
                display_name: "Run the next-CD recommendation experiment".into(),
                kind: objectives_pb::KeyResultKind::Milestones.into(),
                unit: objectives_pb::Unit::Number.into(),
                milestones: [
                    ("Design the experiment", "1", true),
                    ("Ship it to 10% of new customers", "2", true),
                    ("Read out the result", "1", false),
                ]
                .into_iter()
                .map(|(title, weight, done)| objectives_pb::Milestone {
                    title: title.into(),
                    weight: decimal(weight),
                    done,
                })
                .collect(),
                ..Default::default()
            },
        ),
    ]
}

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
    let (purchases, row_errors) = cdnow::parse(cdnow_text);

    progress.step("importing the CDNOW purchases into the metrics service");
    let import_started = Instant::now();
    let import: ImportSummary = import_cdnow(
        metrics.clone(),
        &tenant,
        &purchases,
        &row_errors,
        |done, total| progress.imported(done, total),
    )
    .await?;
    let import_seconds = import_started.elapsed().as_secs_f64();

    progress.step("defining metrics, the 1997-Q1 objectives and the roadmap");
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

    let period = CyclePeriod::new(
        date("cycle.start_date", cycle.start_date.as_ref())?,
        date("cycle.end_date", cycle.end_date.as_ref())?,
        devokr_domain::cycle::parse_time_zone(&cycle.time_zone)?,
    )?;
    let weeks = cdnow::weekly_orders(&purchases, &period, WeekStart::Monday);
    let spend_objective =
        create_spend_objective(&mut objectives, &tenant, &cycle.name, &weeks).await?;

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
    let mut objective_reports = Vec::new();
    let mut all_key_results = Vec::new();
    for name in [&objective_name, &spend_objective] {
        let (report, key_results) =
            objective_report(&mut objectives, name, evaluation_time).await?;
        objective_reports.push(report);
        all_key_results.extend(key_results);
    }
    let revenue = spend_objective.key_result(REVENUE_ID).to_string();
    let history = objectives
        .list_key_result_history(objectives_pb::ListKeyResultHistoryRequest {
            name: revenue.clone(),
            granularity: objectives_pb::Granularity::Week.into(),
            start_time: None,
            end_time: None,
        })
        .await?
        .into_inner();
    let roadmap_items = all_roadmap_items(&mut roadmap, &tenant).await?;

    Ok(Report {
        tenant: TENANT.to_owned(),
        cycle: CycleReport::from_cycle(&cycle)?,
        import: (import, import_seconds).into(),
        objectives: objective_reports,
        history: HistoryReport::new(&revenue, history.points, &all_key_results)?,
        roadmap: roadmap_items
            .into_iter()
            .map(|item| RoadmapItemReport::from_item(item, &all_key_results))
            .collect(),
    })
}

/// The spend objective with its key results, and one check-in per week of the cycle for the
/// key results that take check-ins: revenue so far and the week's average order. Each
/// check-in is keyed by its week, so running the demo again records none twice.
async fn create_spend_objective(
    objectives: &mut ObjectivesServiceClient<Channel>,
    tenant: &TenantName,
    cycle: &str,
    weeks: &[WeekOfOrders],
) -> anyhow::Result<ObjectiveName> {
    let objective_name = tenant.objective(SPEND_OBJECTIVE_ID);
    objectives
        .create_objective(objectives_pb::CreateObjectiveRequest {
            parent: tenant.to_string(),
            objective_id: SPEND_OBJECTIVE_ID.into(),
            objective: Some(objectives_pb::Objective {
                display_name: "Grow what new customers spend".into(),
                cycle: cycle.to_owned(),
                ..Default::default()
            }),
            request_id: request_id(&objective_name.to_string()),
        })
        .await?;
    for (id, key_result) in spend_key_results() {
        let name = objective_name.key_result(id);
        objectives
            .create_key_result(objectives_pb::CreateKeyResultRequest {
                parent: objective_name.to_string(),
                key_result_id: id.into(),
                key_result: Some(key_result),
                request_id: request_id(&name.to_string()),
            })
            .await?;
    }

    let mut revenue_so_far = devokr_domain::Decimal::ZERO;
    for week in weeks {
        revenue_so_far += week.revenue;
        // The week's figures are complete at its last second, which keeps each check-in in
        // the week (and the cycle) it describes.
        let measure_time = Some(timestamp(week.end - TimeDelta::seconds(1)));
        let week_key = format!("week-{}", week.start.format("%Y-%m-%d"));
        let mut check_ins = vec![(REVENUE_ID, revenue_so_far)];
        if let Some(average) = week.average_order_value() {
            check_ins.push((ORDER_VALUE_ID, round_for_display(average, 2)));
        }
        for (id, value) in check_ins {
            objectives
                .create_check_in(objectives_pb::CreateCheckInRequest {
                    parent: objective_name.key_result(id).to_string(),
                    check_in: Some(objectives_pb::CheckIn {
                        value: Some(value.into()),
                        measure_time,
                        source: objectives_pb::CheckInSource::Import.into(),
                        author: "devokr-demo".into(),
                        comment: format!(
                            "CDNOW week of {}: {} orders",
                            week.start.format("%Y-%m-%d"),
                            week.orders
                        ),
                        idempotency_key: week_key.clone(),
                        ..Default::default()
                    }),
                    allow_late: false,
                })
                .await?;
        }
    }
    Ok(objective_name)
}

/// How an objective is doing at `evaluation_time`, with its key results' definitions.
async fn objective_report(
    objectives: &mut ObjectivesServiceClient<Channel>,
    name: &ObjectiveName,
    evaluation_time: Option<prost_types::Timestamp>,
) -> anyhow::Result<(ObjectiveReport, Vec<objectives_pb::KeyResult>)> {
    let status = objectives
        .get_objective_status(objectives_pb::GetObjectiveStatusRequest {
            name: name.to_string(),
            evaluation_time,
        })
        .await?
        .into_inner();
    let key_results = objectives
        .list_key_results(objectives_pb::ListKeyResultsRequest {
            parent: name.to_string(),
            page_size: 1_000,
            page_token: String::new(),
        })
        .await?
        .into_inner()
        .key_results;
    let objective = objectives
        .get_objective(objectives_pb::GetObjectiveRequest {
            name: name.to_string(),
        })
        .await?
        .into_inner();
    let report = ObjectiveReport::from_status(&objective, status, &key_results)?;
    Ok((report, key_results))
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
