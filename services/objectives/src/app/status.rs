//! Key-result status: computed from the stored check-ins and the cycle by the rules of
//! `devokr-domain`, at any evaluation instant and as known at any read instant.
//!
//! Reads are served from an in-memory index of each key result's inputs, so asking how a key
//! result is doing costs a map look-up and a little decimal arithmetic, not a database round
//! trip. The index follows the outbox: every change of a key result is written there in the
//! transaction of the change, and each replica reloads the key results it learns changed.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock, RwLock},
};

use chrono::{DateTime, Utc};
use devokr_domain::{
    calendar::CycleState,
    check_in::{CheckIn as ReplayCheckIn, effective_history},
    cycle::Cycle as CyclePeriod,
    health::{Assessment, Confidence, ExpectedCurve, HealthInputs, PaceBands, Reading, assess},
    names::{CycleName, KeyResultName},
    progress::Progress,
};
use prost::bytes::Bytes;
use rust_decimal::Decimal;
use tokio::sync::watch;

use super::{CheckIn, KeyResult, KeyResultStatus, KeyResultValue};

/// Everything a key result's status is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyResultState {
    pub key_result: KeyResult,
    pub cycle_name: CycleName,
    pub cycle: CyclePeriod,
    pub cycle_state: CycleState,
    /// All check-ins, in recording order (so in increasing id order).
    pub check_ins: Vec<CheckIn>,
    /// The outbox version of the last change of this key result (0 before any).
    pub version: i64,
    /// The expected-progress curve of the key result's definition.
    curve: ExpectedCurve,
    /// What everything known now gives, whatever the instant of judging: computed once, as
    /// reads of the current status are what other services do all the time.
    current: Evaluation,
    /// The encoded wire form of what the current status is at every instant, made by the
    /// gRPC layer on the first read: a read then encodes only what depends on the instant
    /// judged. (Cloning the bytes shares them.)
    pub current_wire: Derived<Bytes>,
}

/// Progress of a key result from the check-ins that count, before judging it at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Evaluation {
    /// Index in `check_ins` of the check-in that counts (the latest of the effective history).
    latest: Option<usize>,
    /// `Err`: the stored values do not fit the definition (the reason).
    progress: Result<Option<Progress>, String>,
    /// What the kind's progress is made of, in words (see `KeyResultKind::describe`).
    note: Option<String>,
}

/// A value derived from the rest of a state, made once on first use; it takes no part in
/// comparing states.
#[derive(Debug, Clone, Default)]
pub struct Derived<T>(OnceLock<T>);

impl<T> Derived<T> {
    pub fn get_or_init(&self, make: impl FnOnce() -> T) -> &T {
        self.0.get_or_init(make)
    }
}

impl<T> PartialEq for Derived<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Derived<T> {}

impl KeyResultState {
    pub fn new(
        key_result: KeyResult,
        cycle_name: CycleName,
        cycle: CyclePeriod,
        cycle_state: CycleState,
        check_ins: Vec<CheckIn>,
        version: i64,
    ) -> Self {
        let curve = key_result.definition.curve();
        let mut state = Self {
            key_result,
            cycle_name,
            cycle,
            cycle_state,
            check_ins,
            version,
            curve,
            current: Evaluation {
                latest: None,
                progress: Ok(None),
                note: None,
            },
            current_wire: Derived::default(),
        };
        state.current = state.evaluate(DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MAX_UTC);
        state
    }

    /// Progress from the check-ins that count at `as_of` among those measured by
    /// `measured_by`: the domain's replay of corrections and late records, then the kind's rule.
    fn evaluate(&self, as_of: DateTime<Utc>, measured_by: DateTime<Utc>) -> Evaluation {
        // The domain needs a value per check-in: an undefined metric reading (empty
        // population) stands in as zero and is found again by its sequence number.
        let replayable: Vec<ReplayCheckIn> = self
            .check_ins
            .iter()
            .filter(|check_in| check_in.measure_time <= measured_by)
            .map(|check_in| ReplayCheckIn {
                value: check_in.value.unwrap_or_default(),
                measured_at: check_in.measure_time,
                recorded_at: check_in.record_time,
                supersedes: check_in.supersedes.and_then(|id| u64::try_from(id).ok()),
                sequence: u64::try_from(check_in.id).unwrap_or_default(),
            })
            .collect();
        let effective: Vec<usize> = effective_history(&replayable, as_of)
            .into_iter()
            .filter_map(|replayed| {
                let id = i64::try_from(replayed.sequence).ok()?;
                self.check_ins
                    .binary_search_by_key(&id, |check_in| check_in.id)
                    .ok()
            })
            .collect();
        let latest = effective.last().copied();
        let definition = &self.key_result.definition;
        // An undefined latest reading (empty population) leaves nothing to judge now.
        if latest.is_some_and(|index| self.check_ins[index].value.is_none()) {
            return Evaluation {
                latest,
                progress: Ok(None),
                note: None,
            };
        }
        let history: Vec<Decimal> = effective
            .iter()
            .filter_map(|&index| self.check_ins[index].value)
            .collect();
        let progress = definition
            .kind
            .progress(&history)
            .map_err(|error| error.to_string());
        let note = definition.kind.describe(&history, &definition.unit);
        Evaluation {
            latest,
            progress,
            note,
        }
    }

    /// The status judged at `at`, from the check-ins known at `read_time` (all when `None`).
    pub fn status(
        &self,
        at: DateTime<Utc>,
        read_time: Option<DateTime<Utc>>,
        pace: &PaceBands,
    ) -> KeyResultStatus {
        self.status_from(at, read_time, None, pace)
    }

    /// The status at `at` from what is known now of the values measured up to `at`: the
    /// history a chart shows, with later corrections applied.
    pub fn status_measured_by(&self, at: DateTime<Utc>, pace: &PaceBands) -> KeyResultStatus {
        self.status_from(at, None, Some(at), pace)
    }

    /// The check-in that counts now, if any: where the current value comes from.
    pub fn current_check_in(&self) -> Option<&CheckIn> {
        self.current.latest.map(|index| &self.check_ins[index])
    }

    /// The assessment of the current status at `at`: what a read of the current status
    /// computes afresh, the rest of its status being the same at every instant.
    pub fn current_assessment(&self, at: DateTime<Utc>, pace: &PaceBands) -> Assessment {
        self.judge(&self.current, at, None, pace).assessment
    }

    fn status_from(
        &self,
        at: DateTime<Utc>,
        read_time: Option<DateTime<Utc>>,
        measured_by: Option<DateTime<Utc>>,
        pace: &PaceBands,
    ) -> KeyResultStatus {
        let replayed;
        let evaluation = match (read_time, measured_by) {
            (None, None) => &self.current,
            _ => {
                replayed = self.evaluate(
                    read_time.unwrap_or(DateTime::<Utc>::MAX_UTC),
                    measured_by.unwrap_or(DateTime::<Utc>::MAX_UTC),
                );
                &replayed
            }
        };
        let judged = self.judge(evaluation, at, read_time, pace);
        let latest = judged.latest;
        KeyResultStatus {
            key_result: self.key_result.clone(),
            cycle: self.cycle_name.clone(),
            value: latest.map(|check_in| KeyResultValue {
                value: check_in.value,
                numerator: check_in.numerator.unwrap_or_default(),
                denominator: check_in.denominator.unwrap_or_default(),
                evaluate_time: Some(check_in.measure_time),
            }),
            progress: judged.progress,
            assessment: judged.assessment,
            evaluation_time: at,
            confidence: latest.and_then(|check_in| check_in.confidence),
            last_value_time: latest.map(|check_in| check_in.measure_time),
            data_problem: judged.data_problem,
            version: self.version,
        }
    }

    /// Judges `evaluation` at `at`, as known at `read_time` (now when `None`).
    fn judge(
        &self,
        evaluation: &Evaluation,
        at: DateTime<Utc>,
        read_time: Option<DateTime<Utc>>,
        pace: &PaceBands,
    ) -> Judged<'_> {
        let latest = evaluation.latest.map(|index| &self.check_ins[index]);
        let progress = evaluation.progress.as_ref().ok().copied().flatten();
        // A problem reading the metric is about now; an as-of read answers from history.
        let data_problem = match (read_time, &evaluation.progress) {
            (_, Err(reason)) => Some(reason.clone()),
            (None, Ok(_)) => self.key_result.metric_problem.clone(),
            (Some(_), Ok(_)) => None,
        };
        let reading = match (&data_problem, progress) {
            (Some(problem), _) => Reading::Unavailable(problem.clone()),
            (None, Some(progress)) => Reading::Value(progress),
            // A reading without a value is a metric whose population is empty.
            (None, None) if latest.is_some() => Reading::Undefined,
            (None, None) => Reading::NoValue,
        };
        let confidence = latest.and_then(|check_in| check_in.confidence);
        let mut assessment = assess(
            &HealthInputs {
                reading: &reading,
                cycle: &self.cycle,
                at,
                curve: &self.curve,
                last_value_at: latest.map(|check_in| check_in.measure_time),
                freshness: self.key_result.definition.freshness,
                confidence: confidence.and_then(|value| Confidence::new(value).ok()),
            },
            pace,
        );
        if let Some(note) = &evaluation.note {
            assessment.explanation = format!("{note}; {}", assessment.explanation);
        }
        Judged {
            latest,
            progress,
            data_problem,
            assessment,
        }
    }
}

/// A judged evaluation: the check-in that counts, its progress, why the value is missing when
/// it is, and the health.
struct Judged<'a> {
    latest: Option<&'a CheckIn>,
    progress: Option<Progress>,
    data_problem: Option<String>,
    assessment: Assessment,
}

/// The in-memory index of key-result states, shared by every call of a replica.
///
/// Keyed by each name's text, so a read looks a request's name up as it came, without parsing
/// it or building a name.
#[derive(Debug, Clone)]
pub struct StatusIndex {
    states: Arc<RwLock<HashMap<Box<str>, Arc<KeyResultState>>>>,
    /// The highest outbox version whose change the index has applied.
    applied: Arc<watch::Sender<i64>>,
}

impl Default for StatusIndex {
    fn default() -> Self {
        Self {
            states: Arc::default(),
            applied: Arc::new(watch::channel(0).0),
        }
    }
}

impl StatusIndex {
    /// The state of the key result whose name is `name` in canonical form (as the service
    /// writes names); `None` for any other text.
    pub fn get(&self, name: &str) -> Option<Arc<KeyResultState>> {
        self.read().get(name).cloned()
    }

    /// Stores a freshly loaded state, unless the index already holds a newer one.
    pub fn put(&self, state: KeyResultState) -> Arc<KeyResultState> {
        let state = Arc::new(state);
        let mut states = self
            .states
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = states
            .entry(state.key_result.name.to_string().into_boxed_str())
            .or_insert_with(|| Arc::clone(&state));
        if entry.version <= state.version {
            *entry = Arc::clone(&state);
        }
        Arc::clone(entry)
    }

    pub fn remove(&self, name: &KeyResultName) {
        self.states
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(name.to_string().as_str());
    }

    /// Forgets everything, for example after missing changes; states reload on demand.
    pub fn clear(&self) {
        self.states
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }

    /// Records that the change with `version` has been applied.
    pub fn applied(&self, version: i64) {
        self.applied.send_if_modified(|applied| {
            let newer = version > *applied;
            if newer {
                *applied = version;
            }
            newer
        });
    }

    /// Waits until the change with `version` has been applied.
    pub async fn wait_applied(&self, version: i64) {
        let mut applied = self.applied.subscribe();
        // The sender lives as long as the index, so this only ends when the version arrives.
        let _ = applied.wait_for(|applied| *applied >= version).await;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Box<str>, Arc<KeyResultState>>> {
        self.states
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
