//! Update, soft delete and undelete of objectives and key results (AIP-134, AIP-135, AIP-164).

use devokr_domain::names::{KeyResultName, ObjectiveName};
use devokr_platform::{ServiceError, ServiceResult};
use serde_json::json;

use super::{
    Actor, Alignment, Definition, KeyResult, KeyResultUpdate, Objective, ObjectiveUpdate,
    ObjectivesApp, deleted, not_found, open_cycle,
};
use crate::store::{BoundKeyResult, KeyResultValues, ObjectiveValues, definition_json};

/// A stale etag: the resource changed since the caller read it.
fn stale(resource_type: &str, name: &impl ToString, expected: i64, now: i64) -> ServiceError {
    ServiceError::Aborted(format!(
        "{resource_type} {} changed since it was read (its etag is now \"{now}\", not \
         \"{expected}\"); read it again",
        name.to_string()
    ))
}

impl ObjectivesApp {
    /// Reads the metric of a bound key result again: a restored key result missed the
    /// refreshes made while it was deleted.
    pub(super) async fn refresh_if_bound(&self, name: &KeyResultName) -> ServiceResult<()> {
        let state = self.state(name).await?;
        if let Some(bound) = BoundKeyResult::of(&state.key_result, state.cycle) {
            self.refresh(&bound).await?;
        }
        Ok(())
    }

    /// Changes the fields of an objective that `update` sets, if its etag still matches.
    pub async fn update_objective(
        &self,
        update: ObjectiveUpdate,
        actor: &Actor,
    ) -> ServiceResult<Objective> {
        let current = self.get_objective(&update.name).await?;
        if current.delete_time.is_some() {
            return Err(deleted("OBJECTIVE_DELETED", "objective", &update.name));
        }
        if let Some(expected) = update.version
            && expected != current.version
        {
            return Err(stale("objective", &update.name, expected, current.version));
        }
        let fields: Vec<&str> = [
            ("display_name", update.display_name.is_some()),
            ("description", update.description.is_some()),
            ("level", update.level.is_some()),
            ("owner_team", update.owner_team.is_some()),
            ("stage", update.stage.is_some()),
            ("parents", update.parents.is_some()),
            ("progress_driver", update.progress_driver.is_some()),
            ("health_mode", update.health_mode.is_some()),
            ("weight", update.weight.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, set)| set.then_some(field))
        .collect();
        let was = current.alignment;
        let values = ObjectiveValues {
            display_name: update.display_name.unwrap_or(current.display_name),
            description: update.description.unwrap_or(current.description),
            alignment: Alignment {
                level: update.level.unwrap_or(was.level),
                owner_team: update.owner_team.unwrap_or(was.owner_team),
                stage: update.stage.unwrap_or(was.stage),
                parents: update.parents.unwrap_or(was.parents),
                progress_driver: update.progress_driver.unwrap_or(was.progress_driver),
                health_mode: update.health_mode.unwrap_or(was.health_mode),
                weight: update.weight.unwrap_or(was.weight),
            },
        };
        // The version read above: a change in between makes this one ABORTED, not lost.
        self.store
            .update_objective(&update.name, current.version, &values, &fields, actor)
            .await
    }

    /// Soft-deletes an objective and its key results; watchers hear of each removal.
    pub async fn delete_objective(
        &self,
        name: &ObjectiveName,
        version: Option<i64>,
        actor: &Actor,
    ) -> ServiceResult<Objective> {
        let (objective, removed) = self.store.delete_objective(name, version, actor).await?;
        for key_result in &removed {
            self.changed(key_result).await?;
        }
        Ok(objective)
    }

    /// Restores a soft-deleted objective with the key results deleted with it.
    pub async fn undelete_objective(
        &self,
        name: &ObjectiveName,
        actor: &Actor,
    ) -> ServiceResult<Objective> {
        let (objective, restored) = self.store.undelete_objective(name, actor).await?;
        for key_result in &restored {
            self.changed(key_result).await?;
            self.refresh_if_bound(key_result).await?;
        }
        Ok(objective)
    }

    /// Changes the fields of a key result that `update` sets, if its etag still matches; the
    /// whole definition is checked again as on creation. Marking a milestone done is such an
    /// update (of `milestones`): audited and published like every change of progress.
    pub async fn update_key_result(
        &self,
        update: KeyResultUpdate,
        actor: &Actor,
    ) -> ServiceResult<KeyResult> {
        let (current, cycle) = self
            .store
            .key_result(&update.name)
            .await?
            .ok_or_else(|| not_found("key result", &update.name))?;
        if current.delete_time.is_some() {
            return Err(deleted("KEY_RESULT_DELETED", "key result", &update.name));
        }
        let objective = self.get_objective(&update.name.objective()).await?;
        open_cycle(
            &self.get_cycle(&objective.cycle).await?,
            "change key results",
        )?;
        if let Some(expected) = update.version
            && expected != current.version
        {
            return Err(stale("key result", &update.name, expected, current.version));
        }
        let mut spec = current.definition.spec(current.metric.is_some());
        let mut fields = Vec::new();
        let mut changed = |field: &'static str, set: bool| {
            if set {
                fields.push(field);
            }
            set
        };
        if changed("baseline", update.baseline.is_some()) {
            spec.baseline = update.baseline;
        }
        if changed("target", update.target.is_some()) {
            spec.target = update.target;
        }
        changed("direction", update.direction.is_some());
        // Unless the update sets it, the direction follows the (new) baseline and target.
        spec.direction = update.direction.flatten();
        if let Some(commit) = update.commit {
            changed("commit", true);
            spec.commit = commit;
        }
        if let Some(stretch) = update.stretch {
            changed("stretch", true);
            spec.stretch = stretch;
        }
        if let Some(threshold) = update.threshold {
            changed("threshold", true);
            spec.threshold = Some(threshold);
        }
        if let Some(milestones) = update.milestones {
            changed("milestones", true);
            spec.milestones = milestones;
        }
        if let Some(cadence) = update.update_cadence {
            changed("update_cadence", true);
            spec.update_cadence = cadence;
        }
        if let Some(grace) = update.stale_grace {
            changed("stale_grace", true);
            spec.stale_grace = grace;
        }
        if let Some(interim_targets) = update.interim_targets {
            changed("interim_targets", true);
            spec.interim_targets = interim_targets;
        }
        changed("display_name", update.display_name.is_some());
        changed("weight", update.weight.is_some());
        let definition = Definition::check(&spec, &cycle)?;
        let values = KeyResultValues {
            display_name: update.display_name.unwrap_or(current.display_name),
            definition,
            weight: update.weight.unwrap_or(current.weight),
        };
        let change = json!({
            "fields": fields,
            "displayName": values.display_name,
            "definition": definition_json(&values.definition)?,
            "weight": values.weight.to_string(),
        });
        let updated = self
            .store
            .update_key_result(&update.name, current.version, &values, change, actor)
            .await?;
        self.changed(&update.name).await?;
        Ok(updated)
    }

    /// Soft-deletes a key result; watchers hear of its removal.
    pub async fn delete_key_result(
        &self,
        name: &KeyResultName,
        version: Option<i64>,
        actor: &Actor,
    ) -> ServiceResult<KeyResult> {
        let key_result = self.store.delete_key_result(name, version, actor).await?;
        self.changed(name).await?;
        Ok(key_result)
    }

    /// Restores a soft-deleted key result of a live objective.
    pub async fn undelete_key_result(
        &self,
        name: &KeyResultName,
        actor: &Actor,
    ) -> ServiceResult<KeyResult> {
        let key_result = self.store.undelete_key_result(name, actor).await?;
        self.changed(name).await?;
        self.refresh_if_bound(name).await?;
        Ok(key_result)
    }
}
