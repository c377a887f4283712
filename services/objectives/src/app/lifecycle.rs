//! The cycle's life (planning → active → closed, scored at close), what was learned, the
//! audit log, and a key result's history for charts.

use chrono::{DateTime, Utc};
use devokr_domain::{
    calendar::{
        CycleState, Granularity, ScoreError, ScoreOverride, bucket_range, current_cycle, today,
    },
    cycle::Cycle as CyclePeriod,
    names::{CycleName, KeyResultName, ObjectiveName, TenantName},
    progress::Progress,
};
use devokr_platform::{
    ServiceError, ServiceResult,
    paging::{Page, PageRequest},
};

use super::{Actor, AuditEvent, Cycle, Learning, NewLearning, ObjectivesApp, ScoreOverrideFor};
use crate::store::ClosingScore;

/// Most points one history answers.
const MAX_HISTORY_POINTS: usize = 1_000;

/// The status of a key result at the end of one calendar bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPoint {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub value: Option<devokr_domain::Decimal>,
    pub progress: Option<Progress>,
    pub health: devokr_domain::health::Health,
}

/// The size of the buckets of a key result's history. Weeks start on the tenant's first day
/// of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryBucket {
    Day,
    Week,
    Month,
}

/// What a learning is about: an objective or a key result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LearningSubject {
    Objective(ObjectiveName),
    KeyResult(KeyResultName),
}

impl LearningSubject {
    fn tenant(&self) -> TenantName {
        match self {
            Self::Objective(objective) => objective.tenant(),
            Self::KeyResult(key_result) => key_result.tenant(),
        }
    }
}

impl std::fmt::Display for LearningSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Objective(objective) => objective.fmt(f),
            Self::KeyResult(key_result) => key_result.fmt(f),
        }
    }
}

impl ObjectivesApp {
    /// Starts a planned cycle.
    pub async fn activate_cycle(
        &self,
        name: &CycleName,
        version: Option<i64>,
        actor: &Actor,
    ) -> ServiceResult<Cycle> {
        let cycle = self.get_cycle(name).await?;
        transition(&cycle, CycleState::Active)?;
        self.store
            .change_cycle_state(name, version, cycle.state, CycleState::Active, &[], actor)
            .await
    }

    /// Closes an active cycle: scores every key result of its objectives from its progress
    /// at the cycle's end with the tenant's score bands, unless a person overrode it with a
    /// reason.
    pub async fn close_cycle(
        &self,
        name: &CycleName,
        version: Option<i64>,
        overrides: Vec<ScoreOverrideFor>,
        actor: &Actor,
    ) -> ServiceResult<Cycle> {
        let cycle = self.get_cycle(name).await?;
        transition(&cycle, CycleState::Closed)?;
        let key_results = self.store.key_result_names_of_cycle(name).await?;
        for (index, score_override) in overrides.iter().enumerate() {
            if let Some(first) = overrides[..index]
                .iter()
                .position(|earlier| earlier.key_result == score_override.key_result)
            {
                return Err(ServiceError::invalid(
                    format!("overrides[{index}].key_result"),
                    format!(
                        "{} has an override already (overrides[{first}]); give each key result one",
                        score_override.key_result
                    ),
                ));
            }
            if !key_results.contains(&score_override.key_result) {
                return Err(ServiceError::invalid(
                    format!("overrides[{index}].key_result"),
                    format!(
                        "{} is not a key result of {name}",
                        score_override.key_result
                    ),
                ));
            }
        }
        let bands = self.settings(&name.tenant).await?.scores;
        let mut scores = Vec::with_capacity(key_results.len());
        for key_result in key_results {
            let manual = overrides
                .iter()
                .position(|score_override| score_override.key_result == key_result);
            let score = match manual {
                Some(index) => {
                    let chosen = &overrides[index];
                    let valid = ScoreOverride::new(chosen.score, chosen.reason.clone()).map_err(
                        |error| {
                            let field = match error {
                                ScoreError::MissingReason => "reason",
                                ScoreError::OutOfRange { .. }
                                | ScoreError::TooPrecise { .. }
                                | ScoreError::BandsOutOfOrder { .. } => "score",
                            };
                            ServiceError::invalid(
                                format!("overrides[{index}].{field}"),
                                error.to_string(),
                            )
                        },
                    )?;
                    ClosingScore {
                        key_result,
                        score: Some(valid.score()),
                        band: Some(valid.apply(&bands).band),
                        override_reason: valid.reason().to_owned(),
                    }
                }
                None => {
                    let status = self
                        .key_result_status(&key_result, Some(cycle.period.end_time()), None)
                        .await?;
                    let progress = status.progress.map(|progress| progress.clamped);
                    let score = devokr_domain::calendar::score_at_close(progress, &bands);
                    ClosingScore {
                        key_result,
                        score: score.map(|score| score.value),
                        band: score.map(|score| score.band),
                        override_reason: String::new(),
                    }
                }
            };
            scores.push(score);
        }
        let closed = self
            .store
            .change_cycle_state(
                name,
                version,
                cycle.state,
                CycleState::Closed,
                &scores,
                actor,
            )
            .await?;
        for score in &scores {
            self.loaded(&score.key_result).await?;
        }
        Ok(closed)
    }

    /// The innermost cycle of the tenant whose days include today in the tenant's time
    /// zone (whatever zone the cycle's own instants are in).
    pub async fn current_cycle(&self, tenant: &TenantName) -> ServiceResult<Cycle> {
        let time_zone = self.settings(&tenant.tenant).await?.time_zone;
        let cycles = self.store.cycles(tenant, 0, i64::MAX).await?;
        // Each cycle's days read in the tenant's zone: such a cycle holds now exactly when
        // its days include today there.
        let periods = cycles
            .iter()
            .map(|cycle| {
                CyclePeriod::new(
                    cycle.period.start_date(),
                    cycle.period.end_date(),
                    time_zone,
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| ServiceError::Internal(anyhow::Error::new(error)))?;
        let now = Utc::now();
        let current = current_cycle(&periods, now).and_then(|period| {
            let index = periods.iter().position(|candidate| candidate == period)?;
            cycles.get(index).cloned()
        });
        current.ok_or_else(|| ServiceError::FailedPrecondition {
            reason: "NO_CURRENT_CYCLE",
            subject: tenant.to_string(),
            description: format!(
                "no cycle of {tenant} includes today, {} in {}; create one that does",
                today(now, time_zone),
                time_zone.name()
            ),
        })
    }

    /// Records what was learned on an objective or key result that exists.
    pub async fn create_learning(
        &self,
        subject: &LearningSubject,
        mut new: NewLearning,
        actor: &Actor,
    ) -> ServiceResult<Learning> {
        self.check_subject(subject).await?;
        if new.author.is_empty() {
            new.author.clone_from(&actor.name);
        }
        self.store
            .insert_learning(&subject.tenant(), &new, actor)
            .await
    }

    /// The learnings about an objective or key result.
    pub async fn list_learnings(
        &self,
        subject: &LearningSubject,
        page: &PageRequest,
    ) -> ServiceResult<Page<Learning>> {
        self.check_subject(subject).await?;
        let rows = self
            .store
            .learnings(
                &subject.tenant(),
                &subject.to_string(),
                page.after(),
                page.limit(),
            )
            .await?;
        Ok(page.page(rows, |learning| learning.id))
    }

    async fn check_subject(&self, subject: &LearningSubject) -> ServiceResult<()> {
        match subject {
            LearningSubject::Objective(objective) => self.get_objective(objective).await.map(drop),
            LearningSubject::KeyResult(key_result) => self.state(key_result).await.map(drop),
        }
    }

    /// The audit log of a tenant, about `resource` and what is under it (all when empty).
    pub async fn list_audit_events(
        &self,
        tenant: &TenantName,
        resource: &str,
        page: &PageRequest,
    ) -> ServiceResult<Page<AuditEvent>> {
        let rows = self
            .store
            .audit_events(tenant, resource, page.after(), page.limit())
            .await?;
        Ok(page.page(rows, |event| event.sequence))
    }

    /// A key result's status at the end of each calendar bucket between `start` and `end`
    /// (by default its cycle up to now): replayed from the check-ins measured by then, judged
    /// with the tenant's pace bands.
    pub async fn key_result_history(
        &self,
        name: &KeyResultName,
        bucket: HistoryBucket,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> ServiceResult<Vec<HistoryPoint>> {
        let state = self.state(name).await?;
        let settings = self.settings(&name.tenant).await?;
        let granularity = match bucket {
            HistoryBucket::Day => Granularity::Day,
            HistoryBucket::Week => Granularity::Week(settings.week_start),
            HistoryBucket::Month => Granularity::Month,
        };
        let start = start.unwrap_or_else(|| state.cycle.start_time());
        let end = end.unwrap_or_else(|| state.cycle.end_time().min(Utc::now()));
        if end <= start {
            return Err(ServiceError::invalid(
                "end_time",
                format!("{end} is not after start_time {start}"),
            ));
        }
        let time_zone = state.cycle.time_zone();
        let mut points = Vec::new();
        let mut bucket = bucket_range(start, granularity, time_zone);
        while bucket.0 < end {
            if points.len() == MAX_HISTORY_POINTS {
                return Err(ServiceError::invalid(
                    "granularity",
                    format!(
                        "gives more than {MAX_HISTORY_POINTS} points; choose a coarser one or a shorter range"
                    ),
                ));
            }
            // Just before the bucket ends, from the values measured by then.
            let at = bucket.1.min(end) - chrono::Duration::microseconds(1);
            let status = state.status_measured_by(at, &settings.pace);
            points.push(HistoryPoint {
                start: bucket.0.max(start),
                end: bucket.1.min(end),
                value: status.value.and_then(|value| value.value),
                progress: status.progress,
                health: status.assessment.health,
            });
            bucket = bucket_range(bucket.1, granularity, time_zone);
        }
        Ok(points)
    }
}

fn transition(cycle: &Cycle, to: CycleState) -> ServiceResult<()> {
    cycle
        .state
        .transition(to)
        .map(drop)
        .map_err(|error| ServiceError::FailedPrecondition {
            reason: "CYCLE_STATE",
            subject: cycle.name.to_string(),
            description: error.to_string(),
        })
}
