//! Use cases of the objectives service, on typed models. Wire input is validated in `grpc`;
//! OKR rules come from `devokr-domain`; SQL is in `store`; other services are in `peers`.

use chrono::{DateTime, Utc};
use devokr_domain::{
    Decimal,
    cycle::Cycle as CyclePeriod,
    health::{Assessment, Health, PaceBands, Reading, assess_key_result, assess_objective},
    names::{CycleName, KeyResultName, MetricName, ObjectiveName, TenantName},
    progress::{MetricTarget, Progress, weighted_mean},
};
use devokr_platform::{
    ServiceError, ServiceResult,
    client::PeerError,
    paging::{Page, PageRequest},
};
use uuid::Uuid;

use crate::{peers::MetricsClient, store::ObjectivesStore};

/// What a key result's numbers mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// 45 means 45 %; a rate metric (0 to 1) is shown times 100.
    Percent,
    /// A plain number.
    Number,
}

impl Unit {
    /// A metric's ratio expressed in this unit.
    pub fn from_ratio(self, ratio: Decimal) -> Decimal {
        match self {
            Self::Percent => (ratio * Decimal::ONE_HUNDRED).normalize(),
            Self::Number => ratio,
        }
    }
}

/// A stored cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub name: CycleName,
    pub display_name: String,
    pub period: CyclePeriod,
    pub create_time: DateTime<Utc>,
    pub version: i64,
    pub seq: i64,
}

/// A cycle to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCycle {
    pub name: CycleName,
    pub display_name: String,
    pub period: CyclePeriod,
    pub request_id: Option<Uuid>,
}

/// A stored objective.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objective {
    pub name: ObjectiveName,
    pub display_name: String,
    pub description: String,
    pub cycle: CycleName,
    pub create_time: DateTime<Utc>,
    pub version: i64,
    pub seq: i64,
}

/// An objective to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewObjective {
    pub name: ObjectiveName,
    pub display_name: String,
    pub description: String,
    pub cycle: CycleName,
    pub request_id: Option<Uuid>,
}

/// A stored key result, bound to a metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyResult {
    pub name: KeyResultName,
    pub display_name: String,
    pub target: MetricTarget,
    pub unit: Unit,
    pub metric: MetricName,
    pub weight: Decimal,
    pub create_time: DateTime<Utc>,
    pub version: i64,
    pub seq: i64,
}

/// A key result to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKeyResult {
    pub name: KeyResultName,
    pub display_name: String,
    pub target: MetricTarget,
    pub unit: Unit,
    pub metric: MetricName,
    pub weight: Decimal,
    pub request_id: Option<Uuid>,
}

/// A key result's current value, in its unit, with the counts behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyResultValue {
    /// `None` when undefined (the metric's population is empty).
    pub value: Option<Decimal>,
    pub numerator: i64,
    pub denominator: i64,
    pub evaluate_time: Option<DateTime<Utc>>,
}

/// How a key result is doing at `evaluation_time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyResultStatus {
    pub key_result: KeyResult,
    /// `None` when the value could not be read.
    pub value: Option<KeyResultValue>,
    pub progress: Option<Progress>,
    pub assessment: Assessment,
    pub evaluation_time: DateTime<Utc>,
}

/// How an objective is doing at `evaluation_time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectiveStatus {
    pub objective: ObjectiveName,
    /// Weighted mean of the clamped progress of the key results that have a value.
    pub progress: Option<Decimal>,
    pub health: Health,
    pub explanation: String,
    pub key_results: Vec<KeyResultStatus>,
    pub evaluation_time: DateTime<Utc>,
}

/// The objectives service's use cases.
#[derive(Debug, Clone)]
pub struct ObjectivesApp {
    store: ObjectivesStore,
    metrics: MetricsClient,
    pace: PaceBands,
}

impl ObjectivesApp {
    pub fn new(store: ObjectivesStore, metrics: MetricsClient) -> Self {
        Self {
            store,
            metrics,
            pace: PaceBands::default(),
        }
    }

    pub async fn create_cycle(&self, new: NewCycle) -> ServiceResult<Cycle> {
        self.store.insert_cycle(&new).await
    }

    pub async fn get_cycle(&self, name: &CycleName) -> ServiceResult<Cycle> {
        self.store
            .cycle(name)
            .await?
            .ok_or_else(|| not_found("cycle", name))
    }

    pub async fn list_cycles(
        &self,
        tenant: &TenantName,
        page: &PageRequest,
    ) -> ServiceResult<Page<Cycle>> {
        let rows = self
            .store
            .cycles(tenant, page.after(), page.limit())
            .await?;
        Ok(page.page(rows, |row| row.seq))
    }

    /// Creates an objective in an existing cycle of the same tenant.
    pub async fn create_objective(&self, new: NewObjective) -> ServiceResult<Objective> {
        if self.store.cycle(&new.cycle).await?.is_none() {
            return Err(ServiceError::invalid(
                "objective.cycle",
                format!("cycle {:?} does not exist", new.cycle.to_string()),
            ));
        }
        self.store.insert_objective(&new).await
    }

    pub async fn get_objective(&self, name: &ObjectiveName) -> ServiceResult<Objective> {
        self.store
            .objective(name)
            .await?
            .ok_or_else(|| not_found("objective", name))
    }

    pub async fn list_objectives(
        &self,
        tenant: &TenantName,
        page: &PageRequest,
    ) -> ServiceResult<Page<Objective>> {
        let rows = self
            .store
            .objectives(tenant, page.after(), page.limit())
            .await?;
        Ok(page.page(rows, |row| row.seq))
    }

    /// Creates a key result under an existing objective, bound to a metric that the metrics
    /// service knows.
    pub async fn create_key_result(&self, new: NewKeyResult) -> ServiceResult<KeyResult> {
        // A retry returns the first result even while the metrics service is away.
        if let Some(request_id) = new.request_id
            && let Some(created) = self
                .store
                .key_result_by_request_id(&new.name.tenant(), request_id)
                .await?
        {
            return Ok(created);
        }
        let objective = new.name.objective();
        self.get_objective(&objective).await?;
        match self.metrics.check_metric(&new.metric).await {
            Ok(()) => {}
            Err(PeerError::NotFound(_)) => {
                return Err(ServiceError::invalid(
                    "key_result.metric_binding.metric",
                    format!(
                        "metric {:?} does not exist in the metrics service",
                        new.metric.to_string()
                    ),
                ));
            }
            Err(error) => return Err(error.into()),
        }
        self.store.insert_key_result(&new).await
    }

    pub async fn get_key_result(&self, name: &KeyResultName) -> ServiceResult<KeyResult> {
        self.store
            .key_result(name)
            .await?
            .map(|(key_result, _)| key_result)
            .ok_or_else(|| not_found("key result", name))
    }

    pub async fn list_key_results(
        &self,
        objective: &ObjectiveName,
        page: &PageRequest,
    ) -> ServiceResult<Page<KeyResult>> {
        self.get_objective(objective).await?;
        let rows = self
            .store
            .key_results(objective, page.after(), page.limit())
            .await?;
        Ok(page.page(rows, |row| row.seq))
    }

    /// How a key result is doing at `at` (now when `None`).
    pub async fn key_result_status(
        &self,
        name: &KeyResultName,
        at: Option<DateTime<Utc>>,
    ) -> ServiceResult<KeyResultStatus> {
        let (key_result, cycle) = self
            .store
            .key_result(name)
            .await?
            .ok_or_else(|| not_found("key result", name))?;
        Ok(self
            .evaluate(key_result, &cycle, at.unwrap_or_else(Utc::now))
            .await)
    }

    /// How an objective and each of its key results are doing at `at` (now when `None`).
    pub async fn objective_status(
        &self,
        name: &ObjectiveName,
        at: Option<DateTime<Utc>>,
    ) -> ServiceResult<ObjectiveStatus> {
        let objective = self.get_objective(name).await?;
        let cycle = self.get_cycle(&objective.cycle).await?;
        let key_results = self.store.all_key_results(name).await?;
        let at = at.unwrap_or_else(Utc::now);
        let statuses = futures::future::join_all(
            key_results
                .into_iter()
                .map(|key_result| self.evaluate(key_result, &cycle.period, at)),
        )
        .await;

        let weighted: Vec<(Decimal, Decimal)> = statuses
            .iter()
            .filter_map(|status| {
                let progress = status.progress.as_ref()?;
                Some((status.key_result.weight, progress.clamped))
            })
            .collect();
        let progress =
            weighted_mean(&weighted).map_err(|error| ServiceError::FailedPrecondition {
                reason: "KEY_RESULT_WEIGHTS_ALL_ZERO",
                subject: name.to_string(),
                description: format!("objective progress cannot be computed: {error}"),
            })?;
        let children: Vec<(Health, Option<Decimal>)> = statuses
            .iter()
            .map(|status| {
                (
                    status.assessment.health,
                    status.progress.as_ref().map(|progress| progress.clamped),
                )
            })
            .collect();
        let assessment = assess_objective(&children, &cycle.period, at);
        Ok(ObjectiveStatus {
            objective: objective.name,
            progress,
            health: assessment.health,
            explanation: assessment.explanation,
            key_results: statuses,
            evaluation_time: at,
        })
    }

    /// Reads the key result's metric over its cycle and judges it. A metric that cannot be
    /// read makes the status stale, with the reason; it never reads as zero.
    async fn evaluate(
        &self,
        key_result: KeyResult,
        cycle: &CyclePeriod,
        at: DateTime<Utc>,
    ) -> KeyResultStatus {
        let reading = self
            .metrics
            .evaluate(
                &key_result.metric,
                cycle.start_time(),
                cycle.end_time(),
                cycle.time_zone(),
            )
            .await;
        let (value, domain_reading, progress) = match reading {
            Ok(reading) => {
                let value = reading.ratio.map(|ratio| key_result.unit.from_ratio(ratio));
                let progress = value.map(|value| key_result.target.progress(value));
                let domain_reading = match &progress {
                    Some(progress) => Reading::Value(*progress),
                    None => Reading::Undefined,
                };
                let value = KeyResultValue {
                    value,
                    numerator: reading.numerator,
                    denominator: reading.denominator,
                    evaluate_time: reading.evaluate_time,
                };
                (Some(value), domain_reading, progress)
            }
            Err(error) => {
                tracing::warn!(key_result = %key_result.name, %error, "metric could not be read");
                (None, Reading::Unavailable(error.to_string()), None)
            }
        };
        let assessment = assess_key_result(&domain_reading, cycle, at, &self.pace);
        KeyResultStatus {
            key_result,
            value,
            progress,
            assessment,
            evaluation_time: at,
        }
    }
}

fn not_found(resource_type: &'static str, name: &impl ToString) -> ServiceError {
    ServiceError::NotFound {
        resource_type,
        name: name.to_string(),
    }
}
