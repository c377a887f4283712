//! The rule that ties the roadmap to outcomes: an item that moves no key result is not planned.

/// Where a roadmap item stands, as far as its links decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanningState {
    /// Linked to at least one key result: it may be scheduled.
    Planned,
    /// Not planned, with the reason a person reads.
    Deferred {
        /// Why.
        reason: String,
    },
}

/// The reason an item with no key-result link is deferred.
pub const NO_KEY_RESULT_REASON: &str =
    "linked to no key result: link it to the key result it should move to plan it";

/// The state of an item with `linked_key_results` links.
pub fn planning_state(linked_key_results: usize) -> PlanningState {
    if linked_key_results == 0 {
        PlanningState::Deferred {
            reason: NO_KEY_RESULT_REASON.to_owned(),
        }
    } else {
        PlanningState::Planned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_with_no_key_result_is_deferred_with_the_reason() {
        assert_eq!(
            planning_state(0),
            PlanningState::Deferred {
                reason: NO_KEY_RESULT_REASON.to_owned()
            }
        );
        assert!(NO_KEY_RESULT_REASON.starts_with("linked to no key result"));
        assert_eq!(planning_state(1), PlanningState::Planned);
        assert_eq!(planning_state(3), PlanningState::Planned);
    }
}
