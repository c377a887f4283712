//! Carrying an objective into another cycle: its definition and its live key results, never
//! their check-ins, scores or learnings (the Learn step keeps those with the old cycle).

use devokr_domain::names::KeyResultName;
use devokr_platform::{ServiceError, ServiceResult};

use super::{
    Actor, CarryOver, Definition, NewKeyResult, NewObjective, Objective, ObjectivesApp, deleted,
    open_cycle,
};

impl ObjectivesApp {
    /// Copies an objective and its live key results into another open cycle of the tenant.
    /// A retry with the same request id returns the first copy. Metric-bound key results stay
    /// bound and read their metric over the new cycle at once.
    pub async fn carry_over_objective(
        &self,
        carry: CarryOver,
        actor: &Actor,
    ) -> ServiceResult<Objective> {
        if let Some(request) = &carry.request_id
            && let Some(created) = self
                .store
                .objective_by_request_id(&carry.name.tenant(), request)
                .await?
        {
            return Ok(created);
        }
        let source = self.get_objective(&carry.source).await?;
        if source.delete_time.is_some() {
            return Err(deleted("OBJECTIVE_DELETED", "objective", &carry.source));
        }
        let Some(cycle) = self.store.cycle(&carry.cycle).await? else {
            return Err(ServiceError::invalid(
                "cycle",
                format!("cycle {:?} does not exist", carry.cycle.to_string()),
            ));
        };
        if source.cycle == carry.cycle {
            return Err(ServiceError::FailedPrecondition {
                reason: "SAME_CYCLE",
                subject: carry.cycle.to_string(),
                description: format!(
                    "objective {} is in cycle {} already; carry it into another cycle",
                    carry.source, carry.cycle
                ),
            });
        }
        open_cycle(&cycle, "carry objectives")?;
        let mut objective = NewObjective::carried_over(
            &source,
            carry.name.clone(),
            carry.cycle.clone(),
            carry.request_id,
        );
        // A parent deleted since keeps its link to the source, but gains no new child.
        let mut live_parents = Vec::with_capacity(objective.alignment.parents.len());
        for parent in objective.alignment.parents {
            if let Some(found) = self.store.objective(&parent).await?
                && found.delete_time.is_none()
            {
                live_parents.push(parent);
            }
        }
        objective.alignment.parents = live_parents;
        let from = self.get_cycle(&source.cycle).await?.period;
        let sources = self.store.all_key_results(&carry.source).await?;
        let carried: Vec<KeyResultName> = sources.iter().map(|kr| kr.name.clone()).collect();
        // Each copy is checked as CreateKeyResult would check it, against the new cycle.
        let key_results = sources
            .iter()
            .map(|key_result| {
                let new = NewKeyResult::carried_over(
                    key_result,
                    &carry.name,
                    &carried,
                    &from,
                    &cycle.period,
                );
                let definition = Definition::check(&new.spec, &cycle.period)?;
                Ok((new, definition))
            })
            .collect::<ServiceResult<Vec<_>>>()?;
        let (created, copied) = self
            .store
            .insert_carried_over(&objective, &key_results, &carry.source, actor)
            .await?;
        for key_result in &copied {
            self.changed(key_result).await?;
            self.refresh_if_bound(key_result).await?;
        }
        Ok(created)
    }
}
