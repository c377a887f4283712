//! Use cases of the objectives service, on typed models. Wire input is validated in `grpc`;
//! OKR rules come from `devokr-domain`; SQL is in `store`; other services are in `peers`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use devokr_domain::{
    calendar::CycleState,
    check_in::late_check_in,
    health::PaceBands,
    names::{CycleName, KeyResultName, ObjectiveName, TenantName},
};
use devokr_platform::{
    ServiceError, ServiceResult,
    client::PeerError,
    outbox::ChangeFeed,
    paging::{Page, PageRequest},
    request::parse_field,
};

use crate::{
    peers::MetricsClient,
    store::{BoundKeyResult, KeyResultChanged, MetricReading, ObjectivesStore},
};

mod alignment;
mod background;
mod carry_over;
mod changes;
mod clock;
mod definition;
mod lifecycle;
mod model;
mod rollups;
mod settings;
mod status;
pub use background::spawn_background;
pub use definition::{Definition, KeyResultSpec, KindChoice};
pub use lifecycle::{HistoryBucket, HistoryPoint, LearningSubject};
pub use model::*;
use settings::SettingsCache;
pub use status::{KeyResultState, StatusIndex};

/// The objectives service's use cases.
#[derive(Debug, Clone)]
pub struct ObjectivesApp {
    store: ObjectivesStore,
    metrics: MetricsClient,
    settings: SettingsCache,
    index: StatusIndex,
    feed: ChangeFeed<KeyResultChanged>,
}

impl ObjectivesApp {
    /// The use cases on `store`, with `feed` tailing its outbox.
    pub fn new(
        store: ObjectivesStore,
        metrics: MetricsClient,
        feed: ChangeFeed<KeyResultChanged>,
    ) -> Self {
        Self {
            store,
            metrics,
            settings: SettingsCache::default(),
            index: StatusIndex::default(),
            feed,
        }
    }

    /// The change feed of key-result statuses.
    pub fn feed(&self) -> &ChangeFeed<KeyResultChanged> {
        &self.feed
    }

    /// The index of key-result states.
    pub fn index(&self) -> &StatusIndex {
        &self.index
    }

    /// Creates a cycle, inside its parent cycle when it has one.
    pub async fn create_cycle(&self, new: NewCycle) -> ServiceResult<Cycle> {
        if let Some(parent) = &new.parent {
            let Some(found) = self.store.cycle(parent).await? else {
                return Err(ServiceError::invalid(
                    "cycle.parent",
                    format!("cycle {parent} does not exist"),
                ));
            };
            if !found.period.holds(&new.period) {
                return Err(ServiceError::invalid(
                    "cycle.parent",
                    format!(
                        "cycle {parent} [{}, {}) does not hold this cycle [{}, {}); a cycle lies inside its parent",
                        found.period.start_time(),
                        found.period.end_time(),
                        new.period.start_time(),
                        new.period.end_time()
                    ),
                ));
            }
        }
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

    /// Creates an objective in an existing cycle of the same tenant, under live parents.
    pub async fn create_objective(
        &self,
        new: NewObjective,
        actor: &Actor,
    ) -> ServiceResult<Objective> {
        let Some(cycle) = self.store.cycle(&new.cycle).await? else {
            return Err(ServiceError::invalid(
                "objective.cycle",
                format!("cycle {:?} does not exist", new.cycle.to_string()),
            ));
        };
        open_cycle(&cycle, "create objectives")?;
        self.store.insert_objective(&new, actor).await
    }

    pub async fn get_objective(&self, name: &ObjectiveName) -> ServiceResult<Objective> {
        self.store
            .objective(name)
            .await?
            .ok_or_else(|| not_found("objective", name))
    }

    /// Creates a key result under an existing objective, bound to a metric that the metrics
    /// service knows.
    pub async fn create_key_result(&self, new: NewKeyResult) -> ServiceResult<KeyResult> {
        // A retry returns the first result even while the metrics service is away.
        if let Some(request) = &new.request_id
            && let Some(created) = self
                .store
                .key_result_by_request_id(&new.name.tenant(), request)
                .await?
        {
            return Ok(created);
        }
        let objective = self.get_objective(&new.name.objective()).await?;
        if objective.delete_time.is_some() {
            return Err(deleted("OBJECTIVE_DELETED", "objective", &objective.name));
        }
        // Interim targets must lie inside the objective's cycle.
        let cycle = self.get_cycle(&objective.cycle).await?;
        open_cycle(&cycle, "create key results")?;
        let definition = Definition::check(&new.spec, &cycle.period)?;
        let check = match &new.metric {
            Some(metric) => self.metrics.check_metric(metric).await,
            None => Ok(()),
        };
        match check {
            Ok(()) => {}
            Err(PeerError::NotFound(_)) => {
                return Err(ServiceError::invalid(
                    "key_result.metric_binding.metric",
                    format!(
                        "metric {:?} does not exist in the metrics service",
                        new.metric
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    ),
                ));
            }
            Err(error) => return Err(error.into()),
        }
        if let Some(rollup) = &new.rollup {
            self.check_rollup(&new, rollup).await?;
        }
        let created = self.store.insert_key_result(&new, &definition).await?;
        // A rollup shows its children's value from the start. Nothing rolls up a key result
        // just created (children exist before their rollups), so loading it is enough.
        if created.rollup.is_some() {
            self.recompute_rollup(&created.name).await?;
        }
        self.loaded(&created.name).await?;
        // A bound key result shows its value from the start.
        if let Some(bound) = BoundKeyResult::of(&created, cycle.period) {
            self.refresh(&bound).await?;
        }
        Ok(created)
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

    /// How a key result is doing, judged at `at` (now when `None`) from what was known at
    /// `read_time` (everything when `None`), with its tenant's pace bands.
    pub async fn key_result_status(
        &self,
        name: &KeyResultName,
        at: Option<DateTime<Utc>>,
        read_time: Option<DateTime<Utc>>,
    ) -> ServiceResult<KeyResultStatus> {
        let state = self.state(name).await?;
        let pace = self.pace_of(&name.tenant).await?;
        Ok(state.status(at.unwrap_or_else(Utc::now), read_time, &pace))
    }

    /// The pace bands a tenant's key results are judged with.
    pub async fn pace_of(&self, tenant: &str) -> ServiceResult<PaceBands> {
        Ok(self.settings(tenant).await?.pace)
    }

    /// The inputs of the status of the key result named `name` in a request's `field`. The
    /// index holds every name it knows as the service writes it, so a read of a known key
    /// result is a look-up of the text as it came; other text is parsed (a bad name is
    /// INVALID_ARGUMENT) and loaded.
    pub(crate) async fn state_named(
        &self,
        field: &str,
        name: &str,
    ) -> ServiceResult<Arc<KeyResultState>> {
        if let Some(state) = self.index.get(name) {
            return Ok(state);
        }
        self.state(&parse_field(field, name)?).await
    }

    /// The inputs of a key result's status: from the index, or loaded into it.
    pub(crate) async fn state(&self, name: &KeyResultName) -> ServiceResult<Arc<KeyResultState>> {
        if let Some(state) = self.index.get(&name.to_string()) {
            return Ok(state);
        }
        self.reload(name)
            .await?
            .ok_or_else(|| not_found("key result", name))
    }

    /// Loads a key result's state from the database into the index.
    pub(crate) async fn reload(
        &self,
        name: &KeyResultName,
    ) -> ServiceResult<Option<Arc<KeyResultState>>> {
        match self.store.key_result_state(name).await? {
            Some(state) => Ok(Some(self.index.put(state))),
            None => {
                self.index.remove(name);
                Ok(None)
            }
        }
    }

    /// Reads a bound key result's metric over its cycle and records the reading (a new
    /// check-in when the value changed), or the reason it could not be read. A metric that
    /// cannot be read makes the status stale, with the reason; it never reads as zero.
    pub(crate) async fn refresh(&self, bound: &BoundKeyResult) -> ServiceResult<()> {
        let reading = self
            .metrics
            .evaluate(
                &bound.metric,
                bound.cycle.start_time(),
                bound.cycle.end_time(),
                bound.cycle.time_zone(),
            )
            .await;
        let changed = match reading {
            Ok(reading) => {
                let reading = MetricReading {
                    value: reading
                        .ratio
                        .map(|ratio| value_of_ratio(&bound.unit, ratio)),
                    numerator: reading.numerator,
                    denominator: reading.denominator,
                };
                self.store
                    .record_metric_reading(&bound.name, &reading)
                    .await?
            }
            Err(error) => {
                tracing::warn!(key_result = %bound.name, %error, "metric could not be read");
                self.store
                    .record_metric_problem(
                        &bound.name,
                        &format!("metric could not be read: {error}"),
                    )
                    .await?
            }
        };
        if changed {
            self.changed(&bound.name).await
        } else {
            // Another refresh of the key result (on a metric's change event, say, while this
            // one runs at its creation) may have recorded the same reading a moment ago and
            // not reloaded it yet; reloading shows this call's caller what is committed.
            self.reload(&bound.name).await.map(drop)
        }
    }

    /// After this replica changed a key result's value or definition: [`Self::loaded`], then
    /// bring the rollup key results above it up to date.
    pub(crate) async fn changed(&self, name: &KeyResultName) -> ServiceResult<()> {
        self.loaded(name).await?;
        self.roll_up_from(name).await
    }

    /// After this replica published a key result's status: reload it at once (reads see
    /// their own writes) and wake the outbox tailer (watchers hear of it without waiting for
    /// a poll). Enough when its value did not change (health judged again, a score), as no
    /// rollup above it can change then.
    pub(crate) async fn loaded(&self, name: &KeyResultName) -> ServiceResult<()> {
        self.reload(name).await?;
        self.feed.notify();
        Ok(())
    }

    /// Records a check-in after checking it against the key result and its cycle.
    pub async fn create_check_in(&self, new: NewCheckIn, actor: &Actor) -> ServiceResult<CheckIn> {
        let state = self.state(&new.key_result).await?;
        // A retry is answered with what was recorded, whatever happened since (the cycle
        // closed, the key result was deleted).
        if let Some(recorded) = state
            .check_ins
            .iter()
            .find(|check_in| check_in.idempotency_key == new.idempotency_key)
        {
            return Ok(recorded.clone());
        }
        if state.key_result.delete_time.is_some() {
            return Err(deleted("KEY_RESULT_DELETED", "key result", &new.key_result));
        }
        if let Some(metric) = &state.key_result.metric {
            return Err(ServiceError::FailedPrecondition {
                reason: "KEY_RESULT_BOUND_TO_METRIC",
                subject: new.key_result.to_string(),
                description: format!(
                    "{} takes its values from the metric {metric}; check-ins go to key results without a metric binding",
                    new.key_result
                ),
            });
        }
        if state.key_result.rollup.is_some() {
            return Err(ServiceError::FailedPrecondition {
                reason: "KEY_RESULT_IS_ROLLUP",
                subject: new.key_result.to_string(),
                description: format!(
                    "{} takes its values from its child key results; check in on them instead",
                    new.key_result
                ),
            });
        }
        if let Some(value) = new.value
            && let Err(reason) = state.key_result.definition.check_value(value)
        {
            return Err(ServiceError::invalid("check_in.value", reason));
        }
        if let Some(supersedes) = new.supersedes
            && !state
                .check_ins
                .iter()
                .any(|check_in| check_in.id == supersedes)
        {
            return Err(ServiceError::invalid(
                "check_in.supersedes",
                format!("{}/checkIns/{supersedes} does not exist", new.key_result),
            ));
        }
        let measure_time = new.measure_time.unwrap_or_else(Utc::now);
        if let Err(error) = late_check_in(
            measure_time,
            &state.cycle,
            state.cycle_state,
            new.allow_late,
        ) {
            return Err(ServiceError::invalid(
                "check_in.measure_time",
                error.to_string(),
            ));
        }
        // Accepted into a closed cycle only with allow_late: marked, and audited as such.
        let late = state.cycle_state == CycleState::Closed;
        let check_in = self
            .store
            .insert_check_in(&new, measure_time, late, actor)
            .await?;
        self.changed(&new.key_result).await?;
        Ok(check_in)
    }

    /// The key results of an objective.
    pub async fn key_result_names_of_objective(
        &self,
        objective: &ObjectiveName,
    ) -> ServiceResult<Vec<KeyResultName>> {
        self.get_objective(objective).await?;
        self.store.key_result_names_of_objective(objective).await
    }

    /// The key results of a cycle's objectives.
    pub async fn key_result_names_of_cycle(
        &self,
        cycle: &CycleName,
    ) -> ServiceResult<Vec<KeyResultName>> {
        self.get_cycle(cycle).await?;
        self.store.key_result_names_of_cycle(cycle).await
    }

    /// The check-ins of a key result, in recording order.
    pub async fn list_check_ins(
        &self,
        key_result: &KeyResultName,
        page: &PageRequest,
    ) -> ServiceResult<Page<CheckIn>> {
        self.state(key_result).await?;
        let rows = self
            .store
            .check_ins(key_result, page.after(), page.limit())
            .await?;
        Ok(page.page(rows, |check_in| check_in.id))
    }
}

/// A change refused because the resource it names is soft-deleted.
/// Refuses `doing` (what the caller tried, as "create objectives") in `cycle` once it is
/// closed: its key results keep the definitions they were scored on.
pub(super) fn open_cycle(cycle: &Cycle, doing: &str) -> ServiceResult<()> {
    match cycle.state {
        CycleState::Planning | CycleState::Active => Ok(()),
        CycleState::Closed => Err(ServiceError::FailedPrecondition {
            reason: "CYCLE_CLOSED",
            subject: cycle.name.to_string(),
            description: format!(
                "cycle {} is closed and keeps what it was scored on; {doing} in a cycle that is planning or active",
                cycle.name
            ),
        }),
    }
}

pub(super) fn deleted(
    reason: &'static str,
    resource_type: &str,
    name: &impl ToString,
) -> ServiceError {
    let name = name.to_string();
    ServiceError::FailedPrecondition {
        reason,
        description: format!("{resource_type} {name} is deleted; undelete it first"),
        subject: name,
    }
}

pub(super) fn not_found(resource_type: &'static str, name: &impl ToString) -> ServiceError {
    ServiceError::NotFound {
        resource_type,
        name: name.to_string(),
    }
}
