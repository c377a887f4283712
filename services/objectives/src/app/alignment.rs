//! Objectives through their alignment: progress by driver and health by mode, with child
//! objectives computed recursively on read, so a change of a child shows in its parents at
//! once; and ListObjectives, whose health filter needs those computed statuses.

use chrono::{DateTime, Utc};
use devokr_domain::{
    health::{Health, ObjectiveChild, assess_objective_of, children_progress},
    names::{ObjectiveName, TenantName},
};
use devokr_platform::{
    ServiceResult,
    paging::{Page, PageRequest},
};
use futures::future::BoxFuture;

use super::{
    ChildObjectiveStatus, Objective, ObjectiveFilter, ObjectiveStage, ObjectiveStatus,
    ObjectivesApp, deleted,
};

impl ObjectivesApp {
    /// Objectives of a tenant that `filter` selects, a page at a time. Health is computed, not
    /// stored: the scan goes on by creation order past objectives of another health until the
    /// page is full or the objectives end, so page tokens stay positions in that order.
    pub async fn list_objectives(
        &self,
        tenant: &TenantName,
        filter: &ObjectiveFilter,
        page: &PageRequest,
    ) -> ServiceResult<Page<Objective>> {
        let Some(health) = filter.health else {
            let rows = self
                .store
                .objectives(tenant, filter, page.after(), page.limit())
                .await?;
            return Ok(page.page(rows, |row| row.seq));
        };
        let wanted = usize::try_from(page.limit()).unwrap_or(usize::MAX);
        let now = Utc::now();
        let mut matched = Vec::new();
        let mut after = page.after();
        loop {
            let rows = self
                .store
                .objectives(tenant, filter, after, page.limit())
                .await?;
            let ended = rows.len() < wanted;
            for row in rows {
                after = row.seq;
                let status = self.status_of(row.clone(), now, Vec::new()).await?;
                if status.health == health {
                    matched.push(row);
                    if matched.len() == wanted {
                        return Ok(page.page(matched, |row| row.seq));
                    }
                }
            }
            if ended {
                return Ok(page.page(matched, |row| row.seq));
            }
        }
    }

    /// How an objective, its key results and its counted child objectives are doing at `at`
    /// (now when `None`).
    pub async fn objective_status(
        &self,
        name: &ObjectiveName,
        at: Option<DateTime<Utc>>,
    ) -> ServiceResult<ObjectiveStatus> {
        let objective = self.get_objective(name).await?;
        // Its key results went with it: a status would only say "no data".
        if objective.delete_time.is_some() {
            return Err(deleted("OBJECTIVE_DELETED", "objective", name));
        }
        self.status_of(objective, at.unwrap_or_else(Utc::now), Vec::new())
            .await
    }

    /// The status of `objective` at `at`. `above` holds the objectives this one is reached
    /// from: writes keep alignment free of loops, and this guard keeps a read finite anyway.
    fn status_of(
        &self,
        objective: Objective,
        at: DateTime<Utc>,
        above: Vec<ObjectiveName>,
    ) -> BoxFuture<'_, ServiceResult<ObjectiveStatus>> {
        Box::pin(async move {
            let cycle = self.get_cycle(&objective.cycle).await?;
            let settings = self.settings(&objective.name.tenant).await?;
            let mut key_results = Vec::new();
            for key_result in self
                .store
                .key_result_names_of_objective(&objective.name)
                .await?
            {
                key_results.push(self.key_result_status(&key_result, Some(at), None).await?);
            }
            let alignment = &objective.alignment;
            let driver = alignment.progress_driver;
            let mut child_objectives = Vec::new();
            if driver.uses_child_objectives() {
                let mut above = above;
                above.push(objective.name.clone());
                // Draft and closed children drop out, as do deleted ones (not listed).
                for child in self.store.child_objectives(&objective.name).await? {
                    if child.alignment.stage != ObjectiveStage::Active
                        || above.contains(&child.name)
                    {
                        continue;
                    }
                    let weight = child.alignment.weight;
                    let status = self.status_of(child, at, above.clone()).await?;
                    child_objectives.push(ChildObjectiveStatus {
                        objective: status.objective,
                        weight,
                        progress: status.progress,
                        health: status.health,
                        explanation: status.explanation,
                    });
                }
            }
            let from_key_results = key_results
                .iter()
                .filter(|_| driver.uses_key_results())
                .map(|status| ObjectiveChild {
                    health: status.assessment.health,
                    clamped: status.progress.as_ref().map(|progress| progress.clamped),
                    weight: status.key_result.weight,
                });
            let from_objectives = child_objectives.iter().map(|child| ObjectiveChild {
                health: child.health,
                clamped: child.progress,
                weight: child.weight,
            });
            let counted: Vec<ObjectiveChild> = from_key_results.chain(from_objectives).collect();
            let assessment = assess_objective_of(
                &counted,
                driver,
                alignment.health_mode,
                &cycle.period,
                at,
                &settings.pace,
            );
            // Bad weights (all zero) leave progress undefined and say so; health judged from
            // the children's own health still stands.
            let (progress, health, explanation) = match (children_progress(&counted), assessment) {
                (Ok(progress), Ok(assessment)) => {
                    (progress, assessment.health, assessment.explanation)
                }
                (Err(error), Ok(assessment)) => (
                    None,
                    assessment.health,
                    format!("{}; progress undefined: {error}", assessment.explanation),
                ),
                (_, Err(error)) => (None, Health::NoData, format!("progress undefined: {error}")),
            };
            Ok(ObjectiveStatus {
                objective: objective.name,
                progress,
                health,
                explanation,
                key_results,
                evaluation_time: at,
                progress_driver: driver,
                health_mode: alignment.health_mode,
                child_objectives,
            })
        })
    }
}
