//! Clients of the services the objectives service depends on.

use std::time::Duration;

use chrono::{DateTime, Utc};
use devokr_domain::{Decimal, Tz, names::MetricName};
use devokr_platform::client::PeerError;
use devokr_proto::{
    convert::{optional_decimal, optional_instant, timestamp},
    metrics::v1::{
        EvaluateMetricRequest, GetMetricRequest, WatchMetricChangesRequest,
        WatchMetricChangesResponse, metrics_service_client::MetricsServiceClient,
    },
    tonic::transport::Channel,
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const METRICS: &str = "metrics service";

/// The metrics service's gRPC name, as its health checks know it.
fn devokr_metrics_service_name() -> &'static str {
    "devokr.metrics.v1.MetricsService"
}

/// A metric's value as the metrics service computed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricReading {
    /// numerator / denominator, a ratio from 0 to 1; `None` for an empty population.
    pub ratio: Option<Decimal>,
    pub numerator: i64,
    pub denominator: i64,
    pub evaluate_time: Option<DateTime<Utc>>,
}

/// The metrics service, over gRPC.
#[derive(Debug, Clone)]
pub struct MetricsClient {
    client: MetricsServiceClient<Channel>,
    health: HealthClient<Channel>,
}

/// How long a health check of the metrics service may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

impl MetricsClient {
    pub fn new(channel: Channel) -> Self {
        Self {
            client: MetricsServiceClient::new(channel.clone()),
            health: HealthClient::new(channel),
        }
    }

    /// Whether the metrics service answers and reports SERVING.
    pub async fn check_serving(&self) -> Result<(), PeerError> {
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: devokr_metrics_service_name().to_owned(),
        });
        request.set_timeout(HEALTH_TIMEOUT);
        let answer = self
            .health
            .clone()
            .check(request)
            .await
            .map_err(|status| PeerError::from_status(METRICS, status))?;
        match answer.get_ref().status() {
            ServingStatus::Serving => Ok(()),
            other => Err(PeerError::Unreachable {
                service: METRICS,
                message: format!("it reports {}", other.as_str_name()),
            }),
        }
    }

    /// Follows the metrics service's changes of every tenant, after `resume_version`
    /// (0: from now on).
    pub async fn watch_changes(
        &self,
        resume_version: i64,
    ) -> Result<tonic::Streaming<WatchMetricChangesResponse>, PeerError> {
        self.client
            .clone()
            .watch_metric_changes(WatchMetricChangesRequest {
                parent: "tenants/-".to_owned(),
                resume_version,
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| PeerError::from_status(METRICS, status))
    }

    /// Checks that `metric` exists.
    pub async fn check_metric(&self, metric: &MetricName) -> Result<(), PeerError> {
        self.client
            .clone()
            .get_metric(GetMetricRequest {
                name: metric.to_string(),
            })
            .await
            .map(drop)
            .map_err(|status| PeerError::from_status(METRICS, status))
    }

    /// Evaluates `metric` over `[start, end)`, counting calendar periods in `time_zone`.
    pub async fn evaluate(
        &self,
        metric: &MetricName,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        time_zone: Tz,
    ) -> Result<MetricReading, PeerError> {
        let value = self
            .client
            .clone()
            .evaluate_metric(EvaluateMetricRequest {
                name: metric.to_string(),
                start_time: Some(timestamp(start)),
                end_time: Some(timestamp(end)),
                time_zone: time_zone.name().to_owned(),
            })
            .await
            .map_err(|status| PeerError::from_status(METRICS, status))?
            .into_inner();
        let malformed = |violation: devokr_proto::convert::FieldViolation| PeerError::Failed {
            service: METRICS,
            code: tonic::Code::Internal,
            message: format!("malformed metric value: {violation}"),
        };
        Ok(MetricReading {
            ratio: optional_decimal("value", value.value.as_ref()).map_err(malformed)?,
            numerator: value.numerator,
            denominator: value.denominator,
            evaluate_time: optional_instant("evaluate_time", value.evaluate_time.as_ref())
                .map_err(malformed)?,
        })
    }
}
