//! Use cases of the metrics service, on typed models. Validation of wire input happens in
//! `grpc`; rules about metrics happen here; SQL happens in `store`.

use chrono::{DateTime, Duration, Utc};
use devokr_domain::{
    Tz,
    metric_reference::Ratio,
    names::{MetricName, TenantName},
};
use devokr_platform::{
    ServiceError, ServiceResult,
    outbox::{ChangeFeed, Subscription},
    paging::{Page, PageRequest},
    request::RequestId,
};
use serde::{Deserialize, Serialize};

use crate::store::{MetricsChange, MetricsStore};

/// How long a watch waits for the change feed to start (it reads its table once first).
const FEED_START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Largest batch one ingestion call accepts.
pub const MAX_EVENTS_PER_BATCH: usize = 10_000;

/// An event that passed validation, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub user_id: String,
    pub event_name: String,
    pub occurred_at: DateTime<Utc>,
    pub properties: serde_json::Value,
    pub idempotency_key: String,
}

/// An event of a batch that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEvent {
    pub index: usize,
    pub field: String,
    pub reason: String,
}

/// What an ingestion call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: Vec<RejectedEvent>,
}

/// How a metric is computed. Stored as JSON, so variants and fields are part of the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MetricDefinition {
    /// Users whose first start event falls in the window; activated when an activation event
    /// follows strictly after it and within `within_seconds`.
    ActivationRate {
        start_event: String,
        activation_event: String,
        within_seconds: i64,
    },
    /// Users whose first start event falls in the window; retained when a return event falls
    /// in the calendar month `months_after` months after the first one's.
    CalendarRetention {
        start_event: String,
        return_event: String,
        months_after: i32,
    },
}

impl MetricDefinition {
    /// The events the metric is computed from, in definition order (may repeat).
    pub fn event_names(&self) -> Vec<String> {
        match self {
            Self::ActivationRate {
                start_event,
                activation_event,
                ..
            } => vec![start_event.clone(), activation_event.clone()],
            Self::CalendarRetention {
                start_event,
                return_event,
                ..
            } => vec![start_event.clone(), return_event.clone()],
        }
    }
}

/// A stored metric definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    pub name: MetricName,
    pub display_name: String,
    pub definition: MetricDefinition,
    pub create_time: DateTime<Utc>,
    pub version: i64,
    /// Position in creation order, for pagination.
    pub seq: i64,
}

/// A metric to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMetric {
    pub name: MetricName,
    pub display_name: String,
    pub definition: MetricDefinition,
    pub request_id: Option<RequestId>,
}

/// The window and zone a metric is evaluated over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub time_zone: Tz,
}

/// A metric's value over a window, with its counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricValue {
    pub metric: MetricName,
    pub ratio: Ratio,
    pub evaluation: Evaluation,
    pub evaluate_time: DateTime<Utc>,
}

/// The metrics service's use cases.
#[derive(Debug, Clone)]
pub struct MetricsApp {
    store: MetricsStore,
    changes: ChangeFeed<MetricsChange>,
}

impl MetricsApp {
    /// The use cases on `store`; `changes` tails the store's outbox.
    pub fn new(store: MetricsStore, changes: ChangeFeed<MetricsChange>) -> Self {
        Self { store, changes }
    }

    /// Stores the valid events of a batch in one transaction; `rejected` were found invalid
    /// while reading the request and are reported back with the outcome.
    pub async fn ingest_events(
        &self,
        tenant: &TenantName,
        events: Vec<NewEvent>,
        rejected: Vec<RejectedEvent>,
    ) -> ServiceResult<IngestOutcome> {
        let valid = events.len() as u64;
        let stored = if events.is_empty() {
            0
        } else {
            self.store
                .insert_events(tenant, &events, Utc::now())
                .await?
        };
        if stored > 0 {
            self.changes.notify();
        }
        Ok(IngestOutcome {
            stored,
            duplicates: valid - stored,
            rejected,
        })
    }

    /// Defines a metric; a retry with the same request id returns the first result.
    pub async fn create_metric(&self, new: NewMetric) -> ServiceResult<Metric> {
        let (metric, created) = self.store.insert_metric(&new, Utc::now()).await?;
        if created {
            self.changes.notify();
        }
        Ok(metric)
    }

    /// The changes after version `after` (all tenants; `None`: from now on), in version order.
    pub async fn watch_changes(
        &self,
        after: Option<i64>,
    ) -> ServiceResult<Subscription<MetricsChange>> {
        tokio::time::timeout(FEED_START_TIMEOUT, self.changes.subscribe(after))
            .await
            .map_err(|_| {
                ServiceError::unavailable(
                    "change feed",
                    anyhow::anyhow!("it has not read its table yet; the database may be down"),
                )
            })?
            .map_err(ServiceError::from)
    }

    pub async fn get_metric(&self, name: &MetricName) -> ServiceResult<Metric> {
        self.store
            .metric(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                resource_type: "metric",
                name: name.to_string(),
            })
    }

    pub async fn list_metrics(
        &self,
        tenant: &TenantName,
        page: &PageRequest,
    ) -> ServiceResult<Page<Metric>> {
        let rows = self
            .store
            .metrics(tenant, page.after(), page.limit())
            .await?;
        Ok(page.page(rows, |metric| metric.seq))
    }

    /// Evaluates a metric over `[start, end)` in `time_zone`.
    pub async fn evaluate_metric(
        &self,
        name: &MetricName,
        evaluation: Evaluation,
    ) -> ServiceResult<MetricValue> {
        let metric = self.get_metric(name).await?;
        let tenant = name.tenant();
        let ratio = match &metric.definition {
            MetricDefinition::ActivationRate {
                start_event,
                activation_event,
                within_seconds,
            } => {
                // Validated on creation; a stored value out of range is a bug, not a panic.
                let within = Duration::try_seconds(*within_seconds).ok_or_else(|| {
                    ServiceError::Internal(anyhow::anyhow!(
                        "{name}: within of {within_seconds} seconds is out of range"
                    ))
                })?;
                self.store
                    .activation_rate(&tenant, start_event, activation_event, &evaluation, within)
                    .await?
            }
            MetricDefinition::CalendarRetention {
                start_event,
                return_event,
                months_after,
            } => {
                self.store
                    .calendar_retention(
                        &tenant,
                        start_event,
                        return_event,
                        &evaluation,
                        *months_after,
                    )
                    .await?
            }
        };
        Ok(MetricValue {
            metric: metric.name,
            ratio,
            evaluation,
            evaluate_time: Utc::now(),
        })
    }
}
