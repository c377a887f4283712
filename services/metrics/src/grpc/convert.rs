//! Wire ↔ model conversions of the metrics service. Reading a request validates it and names
//! every bad field.

use devokr_domain::{
    cycle::parse_time_zone,
    names::{TenantName, validate_resource_id},
};
use devokr_platform::{
    ServiceError,
    request::{self, NUL_PROBLEM, Violations, required_text},
};
use devokr_proto::{
    convert::{FieldViolation, instant, optional_instant, timestamp},
    metrics::v1::{self as pb, metric::Definition},
    prost_types,
};

use crate::app::{
    Evaluation, IngestOutcome, Metric, MetricDefinition, MetricValue, NewEvent, NewMetric,
    RejectedEvent,
};

const MAX_ID_CHARS: usize = 200;
const MAX_EVENT_NAME_CHARS: usize = 100;
/// Longest `within` of an activation rate: ten years of 366 days, like the 120 months that
/// bound `months_after`. Longer ones cannot be added to an instant in PostgreSQL (or chrono).
const MAX_WITHIN_SECONDS: i64 = 10 * 366 * 24 * 3600;

/// Splits a batch into valid events and rejected ones (by index, with the first problem).
pub(super) fn events(batch: Vec<pb::Event>) -> (Vec<NewEvent>, Vec<RejectedEvent>) {
    let mut valid = Vec::with_capacity(batch.len());
    let mut rejected = Vec::new();
    for (index, event) in batch.into_iter().enumerate() {
        match new_event(index, event) {
            Ok(event) => valid.push(event),
            Err(violation) => rejected.push(RejectedEvent {
                index,
                field: violation.field,
                reason: violation.description,
            }),
        }
    }
    (valid, rejected)
}

fn new_event(index: usize, event: pb::Event) -> Result<NewEvent, FieldViolation> {
    let field = |name: &str| format!("events[{index}].{name}");
    let user_id = required_text(&field("user_id"), &event.user_id, MAX_ID_CHARS)?;
    let idempotency_key = required_text(
        &field("idempotency_key"),
        &event.idempotency_key,
        MAX_ID_CHARS,
    )?;
    let event_name = request::required_text(
        &field("event_name"),
        &event.event_name,
        MAX_EVENT_NAME_CHARS,
    )?;
    if !is_snake_case(&event_name) {
        return Err(FieldViolation::new(
            field("event_name"),
            format!(
                "{event_name:?} is not lower snake case (like \"purchase\" or \"task_completed\")"
            ),
        ));
    }
    let occurred_at = instant(&field("occurred_time"), event.occurred_time.as_ref())?;
    let properties = event
        .properties
        .map(struct_to_json)
        .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new()));
    if has_nul(&properties) {
        return Err(FieldViolation::new(field("properties"), NUL_PROBLEM));
    }
    Ok(NewEvent {
        user_id,
        event_name,
        occurred_at,
        properties,
        idempotency_key,
    })
}

fn is_snake_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Whether a key or a string anywhere in `value` holds a NUL character, which `jsonb` cannot.
fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(values) => values.iter().any(has_nul),
        serde_json::Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || has_nul(value)),
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {
            false
        }
    }
}

fn struct_to_json(value: prost_types::Struct) -> serde_json::Value {
    serde_json::Value::Object(
        value
            .fields
            .into_iter()
            .map(|(key, value)| (key, value_to_json(value)))
            .collect(),
    )
}

fn value_to_json(value: prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind;
    match value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::NumberValue(number)) => serde_json::Number::from_f64(number)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Some(Kind::StringValue(text)) => serde_json::Value::String(text),
        Some(Kind::BoolValue(flag)) => serde_json::Value::Bool(flag),
        Some(Kind::StructValue(inner)) => struct_to_json(inner),
        Some(Kind::ListValue(list)) => {
            serde_json::Value::Array(list.values.into_iter().map(value_to_json).collect())
        }
    }
}

pub(super) fn ingest_outcome(outcome: IngestOutcome) -> pb::IngestEventsResponse {
    pb::IngestEventsResponse {
        stored_count: saturating_i32(outcome.stored),
        duplicate_count: saturating_i32(outcome.duplicates),
        rejected: outcome
            .rejected
            .into_iter()
            .map(|rejected| pb::RejectedEvent {
                index: saturating_i32(rejected.index as u64),
                field: rejected.field,
                reason: rejected.reason,
            })
            .collect(),
    }
}

fn saturating_i32(value: u64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

pub(super) fn new_metric(request: pb::CreateMetricRequest) -> Result<NewMetric, ServiceError> {
    let mut violations = Violations::default();
    let tenant = violations.check(
        TenantName::parse(&request.parent)
            .map_err(|error| FieldViolation::new("parent", error.to_string())),
    );
    let metric_id = violations.check(if request.metric_id.is_empty() {
        Err(FieldViolation::required("metric_id"))
    } else {
        validate_resource_id(&request.metric_id)
            .map(|()| request.metric_id.clone())
            .map_err(|error| FieldViolation::new("metric_id", error.to_string()))
    });
    let request_id = violations.check(request::request_id(&request.request_id, &request));
    let metric = request.metric.unwrap_or_default();
    let display_name = violations.check(required_text(
        "metric.display_name",
        &metric.display_name,
        300,
    ));
    let definition = definition(metric.definition, &mut violations);
    violations.finish(|| {
        Some(NewMetric {
            name: tenant?.metric(metric_id?),
            display_name: display_name?,
            definition: definition?,
            request_id: request_id?,
        })
    })
}

/// Reads a metric's definition into `violations`, naming every bad field of it.
fn definition(
    definition: Option<Definition>,
    violations: &mut Violations,
) -> Option<MetricDefinition> {
    match definition {
        None => {
            violations.add(FieldViolation::new(
                "metric.definition",
                "is required: set activation_rate or calendar_retention",
            ));
            None
        }
        Some(Definition::ActivationRate(activation)) => {
            let start_event = event_name(
                violations,
                "metric.activation_rate.start_event",
                &activation.start_event,
            );
            let activation_event = event_name(
                violations,
                "metric.activation_rate.activation_event",
                &activation.activation_event,
            );
            let within = violations.check(
                activation
                    .within
                    .as_ref()
                    .and_then(|within| {
                        (within.seconds > 0 && within.nanos == 0).then_some(within.seconds)
                    })
                    .ok_or_else(|| {
                        FieldViolation::new(
                            "metric.activation_rate.within",
                            "must be a positive whole number of seconds",
                        )
                    })
                    .and_then(|seconds| {
                        if seconds <= MAX_WITHIN_SECONDS {
                            Ok(seconds)
                        } else {
                            Err(FieldViolation::new(
                                "metric.activation_rate.within",
                                format!(
                                    "is {seconds} seconds; at most {MAX_WITHIN_SECONDS} (3660 days) are allowed"
                                ),
                            ))
                        }
                    }),
            );
            Some(MetricDefinition::ActivationRate {
                start_event: start_event?,
                activation_event: activation_event?,
                within_seconds: within?,
            })
        }
        Some(Definition::CalendarRetention(retention)) => {
            let start_event = event_name(
                violations,
                "metric.calendar_retention.start_event",
                &retention.start_event,
            );
            let return_event = event_name(
                violations,
                "metric.calendar_retention.return_event",
                &retention.return_event,
            );
            let months_after = violations.check(if (1..=120).contains(&retention.months_after) {
                Ok(retention.months_after)
            } else {
                Err(FieldViolation::new(
                    "metric.calendar_retention.months_after",
                    format!("must be from 1 to 120, got {}", retention.months_after),
                ))
            });
            Some(MetricDefinition::CalendarRetention {
                start_event: start_event?,
                return_event: return_event?,
                months_after: months_after?,
            })
        }
    }
}

/// Reads an event name of a definition: required, lower snake case.
fn event_name(violations: &mut Violations, field: &str, value: &str) -> Option<String> {
    violations.check(
        required_text(field, value, MAX_EVENT_NAME_CHARS).and_then(|name| {
            if is_snake_case(&name) {
                Ok(name)
            } else {
                Err(FieldViolation::new(
                    field,
                    format!("{name:?} is not lower snake case"),
                ))
            }
        }),
    )
}

pub(super) fn metric(metric: Metric) -> pb::Metric {
    let definition = match metric.definition {
        MetricDefinition::ActivationRate {
            start_event,
            activation_event,
            within_seconds,
        } => Definition::ActivationRate(pb::ActivationRate {
            start_event,
            activation_event,
            within: Some(prost_types::Duration {
                seconds: within_seconds,
                nanos: 0,
            }),
        }),
        MetricDefinition::CalendarRetention {
            start_event,
            return_event,
            months_after,
        } => Definition::CalendarRetention(pb::CalendarRetention {
            start_event,
            return_event,
            months_after,
        }),
    };
    pb::Metric {
        name: metric.name.to_string(),
        display_name: metric.display_name,
        definition: Some(definition),
        create_time: Some(timestamp(metric.create_time)),
        etag: request::etag(metric.version),
    }
}

pub(super) fn evaluation(request: &pb::EvaluateMetricRequest) -> Result<Evaluation, ServiceError> {
    let start = instant("start_time", request.start_time.as_ref());
    let end = optional_instant("end_time", request.end_time.as_ref())
        .and_then(|end| end.ok_or_else(|| FieldViolation::required("end_time")));
    let time_zone = parse_time_zone(&request.time_zone)
        .map_err(|error| FieldViolation::new("time_zone", error.to_string()));
    match (start, end, time_zone) {
        (Ok(start), Ok(end), Ok(time_zone)) if start < end => Ok(Evaluation {
            start,
            end,
            time_zone,
        }),
        (Ok(start), Ok(end), Ok(_)) => Err(ServiceError::invalid(
            "end_time",
            format!("{end} is not after start_time {start}"),
        )),
        (start, end, time_zone) => Err(ServiceError::InvalidArgument(
            [start.err(), end.err(), time_zone.err()]
                .into_iter()
                .flatten()
                .collect(),
        )),
    }
}

pub(super) fn metric_value(value: MetricValue) -> pb::MetricValue {
    pb::MetricValue {
        metric: value.metric.to_string(),
        value: value.ratio.value().map(Into::into),
        numerator: saturating_i64(value.ratio.numerator),
        denominator: saturating_i64(value.ratio.denominator),
        start_time: Some(timestamp(value.evaluation.start)),
        end_time: Some(timestamp(value.evaluation.end)),
        time_zone: value.evaluation.time_zone.name().to_owned(),
        evaluate_time: Some(timestamp(value.evaluate_time)),
    }
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
