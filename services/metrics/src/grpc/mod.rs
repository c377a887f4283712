//! The tonic handlers of the metrics service: read and validate the request, call the use
//! case, convert the result. Errors become statuses through `ServiceError`'s one mapping.

mod convert;
pub mod watch;

use devokr_domain::names::{MetricName, TenantName};
use devokr_platform::{ServiceError, paging::PageRequest};
use devokr_proto::metrics::v1::{self as pb, metrics_service_server::MetricsService};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::app::{MAX_EVENTS_PER_BATCH, MetricsApp};

/// Largest request message accepted: a full batch of events with modest properties.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The parent of `WatchMetricChanges` that watches every tenant.
pub const EVERY_TENANT: &str = "tenants/-";

/// The `MetricsService` implementation.
#[derive(Debug, Clone)]
pub struct MetricsGrpc {
    app: MetricsApp,
    /// The service's shutdown: watches end with UNAVAILABLE when it fires.
    shutdown: CancellationToken,
}

impl MetricsGrpc {
    pub fn new(app: MetricsApp, shutdown: CancellationToken) -> Self {
        Self { app, shutdown }
    }
}

fn tenant(field: &str, value: &str) -> Result<TenantName, ServiceError> {
    TenantName::parse(value).map_err(|error| ServiceError::invalid(field, error.to_string()))
}

fn metric_name(value: &str) -> Result<MetricName, ServiceError> {
    MetricName::parse(value).map_err(|error| ServiceError::invalid("name", error.to_string()))
}

#[tonic::async_trait]
impl MetricsService for MetricsGrpc {
    #[tracing::instrument(skip_all, fields(rpc = "IngestEvents", parent = %request.get_ref().parent, events = request.get_ref().events.len()))]
    async fn ingest_events(
        &self,
        request: Request<pb::IngestEventsRequest>,
    ) -> Result<Response<pb::IngestEventsResponse>, Status> {
        let request = request.into_inner();
        let tenant = tenant("parent", &request.parent)?;
        if request.events.len() > MAX_EVENTS_PER_BATCH {
            return Err(ServiceError::invalid(
                "events",
                format!(
                    "has {} events; at most {MAX_EVENTS_PER_BATCH} are accepted per call",
                    request.events.len()
                ),
            )
            .into());
        }
        let (events, rejected) = convert::events(request.events);
        let outcome = self.app.ingest_events(&tenant, events, rejected).await?;
        Ok(Response::new(convert::ingest_outcome(outcome)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "CreateMetric", parent = %request.get_ref().parent))]
    async fn create_metric(
        &self,
        request: Request<pb::CreateMetricRequest>,
    ) -> Result<Response<pb::Metric>, Status> {
        let new = convert::new_metric(request.into_inner())?;
        let metric = self.app.create_metric(new).await?;
        Ok(Response::new(convert::metric(metric)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "GetMetric", name = %request.get_ref().name))]
    async fn get_metric(
        &self,
        request: Request<pb::GetMetricRequest>,
    ) -> Result<Response<pb::Metric>, Status> {
        let name = metric_name(&request.get_ref().name)?;
        let metric = self.app.get_metric(&name).await?;
        Ok(Response::new(convert::metric(metric)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "ListMetrics", parent = %request.get_ref().parent))]
    async fn list_metrics(
        &self,
        request: Request<pb::ListMetricsRequest>,
    ) -> Result<Response<pb::ListMetricsResponse>, Status> {
        let request = request.into_inner();
        let tenant = tenant("parent", &request.parent)?;
        let page = PageRequest::new(
            format!("{tenant}/metrics"),
            request.page_size,
            &request.page_token,
        )
        .map_err(ServiceError::from)?;
        let page = self.app.list_metrics(&tenant, &page).await?;
        Ok(Response::new(pb::ListMetricsResponse {
            metrics: page.items.into_iter().map(convert::metric).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc = "EvaluateMetric", name = %request.get_ref().name))]
    async fn evaluate_metric(
        &self,
        request: Request<pb::EvaluateMetricRequest>,
    ) -> Result<Response<pb::MetricValue>, Status> {
        let request = request.into_inner();
        let name = metric_name(&request.name)?;
        let evaluation = convert::evaluation(&request)?;
        let value = self.app.evaluate_metric(&name, evaluation).await?;
        Ok(Response::new(convert::metric_value(value)))
    }

    #[tracing::instrument(skip_all, fields(rpc = "WatchMetricChanges", parent = %request.get_ref().parent, resume_version = request.get_ref().resume_version))]
    async fn watch_metric_changes(
        &self,
        request: Request<pb::WatchMetricChangesRequest>,
    ) -> Result<Response<watch::WatchStream>, Status> {
        let request = request.into_inner();
        let tenant = if request.parent == EVERY_TENANT {
            None
        } else {
            Some(tenant("parent", &request.parent)?.tenant)
        };
        let after = match request.resume_version {
            0 => None,
            version if version > 0 => Some(version),
            version => {
                return Err(ServiceError::invalid(
                    "resume_version",
                    format!("must not be negative, got {version}"),
                )
                .into());
            }
        };
        let changes = self.app.watch_changes(after).await?;
        Ok(Response::new(watch::stream(
            changes,
            tenant,
            self.shutdown.clone(),
        )))
    }
}
