//! Rollup key results: a value that is the sum or mean of child key results' values, recorded
//! as a 'rollup' check-in (audited and published like any value change) whenever a child's
//! value changes on this replica: a check-in, a correction, a metric refresh, a delete.

use std::collections::VecDeque;

use devokr_domain::{
    calendar::CycleState,
    names::KeyResultName,
    rollup::{RollupAggregation, rollup_value},
};
use devokr_platform::{ServiceError, ServiceResult};

use super::{KindChoice, NewKeyResult, ObjectivesApp, Rollup};
use crate::store::RollupWrite;

/// How often a recomputation starts over when children keep changing under it; the last
/// change's own recomputation records the final value anyway.
const MAX_ROLLUP_ATTEMPTS: usize = 5;

impl ObjectivesApp {
    /// Checks the children of a rollup key result to create: live key results in its unit,
    /// never itself. A key result gets its children only when it is created, and children
    /// exist before it, so rollups cannot form a loop.
    pub(super) async fn check_rollup(
        &self,
        new: &NewKeyResult,
        rollup: &Rollup,
    ) -> ServiceResult<()> {
        if new.spec.kind != KindChoice::Metric {
            return Err(ServiceError::invalid(
                "key_result.kind",
                format!(
                    "a rollup key result is of kind METRIC, not {}: its value is the {} of its children",
                    new.spec.kind.label(),
                    match rollup.aggregation {
                        RollupAggregation::Sum => "sum",
                        RollupAggregation::Average => "mean",
                    }
                ),
            ));
        }
        let field = "key_result.rollup.key_results";
        for child in &rollup.children {
            if *child == new.name {
                return Err(ServiceError::invalid(
                    field,
                    format!(
                        "{child} is the rollup key result itself; a key result cannot roll up itself"
                    ),
                ));
            }
            let problem = match self.store.key_result(child).await? {
                None => "does not exist".to_owned(),
                Some((found, _)) if found.delete_time.is_some() => {
                    "is deleted; undelete it first".to_owned()
                }
                Some((found, _)) if found.definition.unit != new.spec.unit => format!(
                    "is measured in {}, not in {} like the rollup; roll up only key results of one unit",
                    found.definition.unit, new.spec.unit
                ),
                Some(_) => continue,
            };
            return Err(ServiceError::invalid(field, format!("{child} {problem}")));
        }
        Ok(())
    }

    /// After `changed` got a new value: records the new value of every rollup above it, and
    /// of the rollups above those, in turn.
    pub(super) async fn roll_up_from(&self, changed: &KeyResultName) -> ServiceResult<()> {
        let mut queue: VecDeque<KeyResultName> = self.store.rollups_of(changed).await?.into();
        while let Some(rollup) = queue.pop_front() {
            if self.recompute_rollup(&rollup).await? {
                self.loaded(&rollup).await?;
                queue.extend(self.store.rollups_of(&rollup).await?);
            }
        }
        Ok(())
    }

    /// Computes a rollup's value from its live children as stored now and records it when it
    /// changed, measured when the latest of the values it sums or averages was measured (or
    /// with its own latest value, when a child's change is older or no measurement at all,
    /// such as a delete, so that each value counts after the ones before); true when a new
    /// value was recorded. No child with a value leaves the last value in place,
    /// and a rollup whose cycle is closed keeps the value it was scored with.
    pub(super) async fn recompute_rollup(&self, name: &KeyResultName) -> ServiceResult<bool> {
        for _ in 0..MAX_ROLLUP_ATTEMPTS {
            let Some(state) = self.store.key_result_state(name).await? else {
                return Ok(false);
            };
            let Some(rollup) = &state.key_result.rollup else {
                return Ok(false);
            };
            if state.key_result.delete_time.is_some() || state.cycle_state == CycleState::Closed {
                return Ok(false);
            }
            let mut inputs = Vec::with_capacity(rollup.children.len());
            let mut values = Vec::with_capacity(rollup.children.len());
            let mut measured_at = state
                .check_ins
                .iter()
                .map(|check_in| check_in.measure_time)
                .max();
            for child in &rollup.children {
                let Some(child_state) = self.store.key_result_state(child).await? else {
                    continue;
                };
                inputs.push((child.clone(), child_state.version));
                if child_state.key_result.delete_time.is_none() {
                    let latest = child_state.current_check_in();
                    let value = latest.and_then(|check_in| check_in.value);
                    if value.is_some() {
                        measured_at = measured_at.max(latest.map(|check_in| check_in.measure_time));
                    }
                    values.push((child_state.key_result.definition.unit, value));
                }
            }
            let value = rollup_value(
                &values,
                &state.key_result.definition.unit,
                rollup.aggregation,
            )
            .map_err(|error| {
                ServiceError::Internal(anyhow::anyhow!("rollup {name} cannot be computed: {error}"))
            })?;
            let (Some(value), Some(measured_at)) = (value, measured_at) else {
                return Ok(false);
            };
            match self
                .store
                .record_rollup_value(name, value, measured_at, &inputs)
                .await?
            {
                RollupWrite::Recorded => return Ok(true),
                RollupWrite::Unchanged => return Ok(false),
                RollupWrite::InputsChanged => {}
            }
        }
        tracing::warn!(rollup = %name, "children kept changing; their own changes recompute it");
        Ok(false)
    }
}
