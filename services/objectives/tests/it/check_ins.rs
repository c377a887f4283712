//! CreateCheckIn and ListCheckIns on key results without a metric binding, the audit events
//! they write, and GetKeyResultStatus over their history (read_time), with every expected
//! number worked out by hand below.
//!
//! Also the helpers the watch, batch and restart tests share: a manual key result, check-ins
//! to record, and the status as of an instant.

use chrono::{DateTime, TimeDelta, Utc};
use devokr_proto::{objectives::v1 as pb, prost_types};
use sqlx::PgPool;
use tonic::{Code, Status};

use crate::fixture::{
    Stack, assert_error, dec, fields, from_timestamp, instant, read, request_by, timestamp,
    violated_fields, violations, wire,
};

/// The cycle: 1997-01-01 to 1997-03-31 in UTC, that is [1997-01-01T00:00Z, 1997-04-01T00:00Z),
/// 31 + 28 + 31 = 90 days. Every measurement of these tests is long before any read_time, so
/// read_time alone decides which check-ins are known.
pub(crate) const CYCLE_END: &str = "1997-04-01T00:00:00Z";
/// 31 + 14 = 45 of the 90 days elapsed: expected progress exactly 0.5, on day 46 of 90.
pub(crate) const MID_CYCLE: &str = "1997-02-15T00:00:00Z";

/// The caller every check-in of these tests is recorded by (`x-devokr-actor`).
pub(crate) const ACTOR: &str = "alice";

/// A stack with the 1997 Q1 cycle and objective `growth` in it; returns the objective's name.
pub(crate) async fn stack_with_objective() -> (Stack, String) {
    let stack = Stack::start().await;
    let cycle = stack
        .create_cycle("q1-1997", "1997-01-01", "1997-03-31", "UTC")
        .await;
    let objective = stack.create_objective("growth", &cycle.name).await;
    (stack, objective.name)
}

/// A plain-number key result from `baseline` to `target` that takes check-ins.
pub(crate) fn manual_key_result(baseline: &str, target: &str) -> pb::KeyResult {
    pb::KeyResult {
        display_name: format!("Move it from {baseline} to {target}"),
        baseline: Some(wire(baseline)),
        target: Some(wire(target)),
        unit: pb::Unit::Number.into(),
        direction: pb::Direction::Unspecified.into(),
        metric_binding: None,
        ..Default::default()
    }
}

/// A manual check-in of `value` measured at `measured` (RFC 3339), with `idempotency_key`.
pub(crate) fn check_in(value: &str, measured: &str, idempotency_key: &str) -> pb::CheckIn {
    pb::CheckIn {
        value: Some(wire(value)),
        measure_time: Some(timestamp(measured)),
        idempotency_key: idempotency_key.into(),
        ..Default::default()
    }
}

/// Records `check_in` on `key_result` as [`ACTOR`], with request id `request_id`.
pub(crate) async fn try_record(
    stack: &Stack,
    key_result: &str,
    check_in: pb::CheckIn,
    request_id: &str,
) -> Result<pb::CheckIn, Status> {
    let mut request = request_by(
        ACTOR,
        pb::CreateCheckInRequest {
            parent: key_result.into(),
            check_in: Some(check_in),
            allow_late: false,
        },
    );
    request
        .metadata_mut()
        .insert("x-request-id", request_id.parse().unwrap());
    stack
        .client()
        .create_check_in(request)
        .await
        .map(tonic::Response::into_inner)
}

/// Records `check_in`, which must be accepted, and waits a few milliseconds so that the next
/// one is recorded at a later instant.
pub(crate) async fn record(stack: &Stack, key_result: &str, check_in: pb::CheckIn) -> pb::CheckIn {
    let key = check_in.idempotency_key.clone();
    let recorded = try_record(stack, key_result, check_in, &format!("request-{key}"))
        .await
        .unwrap_or_else(|status| panic!("check-in {key:?} is recorded: {status:?}"));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    recorded
}

/// Every check-in of `key_result`, in the order ListCheckIns returns them.
pub(crate) async fn list_check_ins(stack: &Stack, key_result: &str) -> Vec<pb::CheckIn> {
    stack
        .client()
        .list_check_ins(pb::ListCheckInsRequest {
            parent: key_result.into(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .expect("check-ins are listed")
        .into_inner()
        .check_ins
}

/// The status of `key_result` judged at `at`, as known at `read_time` (both optional).
pub(crate) async fn status_as_of(
    stack: &Stack,
    key_result: &str,
    at: Option<&str>,
    read_time: Option<DateTime<Utc>>,
) -> pb::KeyResultStatus {
    stack
        .client()
        .get_key_result_status(pb::GetKeyResultStatusRequest {
            name: key_result.into(),
            evaluation_time: at.map(timestamp),
            read_time: read_time.map(wire_instant),
        })
        .await
        .expect("status answers")
        .into_inner()
}

/// The value of a status, which must have one.
pub(crate) fn value_of(status: &pb::KeyResultStatus) -> devokr_domain::Decimal {
    read(status.value.as_ref().expect("a value").value.as_ref())
}

/// An instant on the wire.
pub(crate) fn wire_instant(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// The instant half way between two record times.
fn between(earlier: &pb::CheckIn, later: &pb::CheckIn) -> DateTime<Utc> {
    let (earlier, later) = (
        from_timestamp(earlier.record_time.as_ref()),
        from_timestamp(later.record_time.as_ref()),
    );
    assert!(earlier < later, "{earlier} is not before {later}");
    earlier + (later - earlier) / 2
}

/// The check-ins `record_history` records on a key result from 10 to 20, in recording order.
struct History {
    /// 12, measured on 20 January: progress (12 − 10) / 10 = 0.2.
    a: pb::CheckIn,
    /// 11.5, by author "bob", measured on 10 January, before A (a back-filled value):
    /// progress 0.15. Never the latest value, since A was measured later.
    b: pb::CheckIn,
    /// 16, measured on 1 February: progress 0.6.
    c: pb::CheckIn,
    /// 15, correcting C, measured when C was: progress (15 − 10) / 10 = 0.5.
    d: pb::CheckIn,
    /// 15 again, measured on 10 February with confidence 0.4: progress still 0.5.
    e: pb::CheckIn,
}

async fn record_history(stack: &Stack, key_result: &str) -> History {
    let a = record(
        stack,
        key_result,
        check_in("12", "1997-01-20T00:00:00Z", "a"),
    )
    .await;
    let b = record(
        stack,
        key_result,
        pb::CheckIn {
            author: "bob".into(),
            ..check_in("11.5", "1997-01-10T00:00:00Z", "b")
        },
    )
    .await;
    let c = record(
        stack,
        key_result,
        check_in("16", "1997-02-01T00:00:00Z", "c"),
    )
    .await;
    let d = record(
        stack,
        key_result,
        pb::CheckIn {
            supersedes: c.name.clone(),
            comment: "C was mistyped".into(),
            ..check_in("15", "1997-02-01T00:00:00Z", "d")
        },
    )
    .await;
    let e = record(
        stack,
        key_result,
        pb::CheckIn {
            confidence: Some(wire("0.4")),
            ..check_in("15", "1997-02-10T00:00:00Z", "e")
        },
    )
    .await;
    History { a, b, c, d, e }
}

/// The rows of the audit log about `resource_prefix`: actor, request id, action, resource and
/// the value the change recorded, in the order they were written.
pub(crate) async fn audit_events(
    stack: &Stack,
    resource_prefix: &str,
) -> Vec<(String, String, String, String, Option<String>)> {
    let pool = PgPool::connect(stack.database_url()).await.unwrap();
    let rows = sqlx::query_as(
        "select actor, request_id, action, resource, change->>'value'
         from objectives.audit_event where starts_with(resource, $1) order by sequence",
    )
    .bind(resource_prefix)
    .fetch_all(&pool)
    .await
    .expect("the audit log is read");
    pool.close().await;
    rows
}

#[tokio::test]
async fn check_ins_are_listed_in_recording_order_corrected_and_audited() {
    let (stack, objective) = stack_with_objective().await;
    let key_result = stack
        .create_key_result(&objective, "retention", manual_key_result("10", "20"))
        .await;
    let kr = key_result.name.as_str();
    assert_eq!(key_result.metric_binding, None);
    let History { a, b, c, d, e } = record_history(&stack, kr).await;

    // Each response names the check-in under its key result, by an id that grows.
    let ids: Vec<i64> = [&a, &b, &c, &d, &e]
        .iter()
        .map(|check_in| {
            let id = check_in
                .name
                .strip_prefix(&format!("{kr}/checkIns/"))
                .unwrap_or_else(|| panic!("{} is not under {kr}", check_in.name));
            id.parse().unwrap()
        })
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");

    // Listed in recording order (A, B, C, D, E), not in measurement order (B, A, C, D, E).
    let listed = list_check_ins(&stack, kr).await;
    let names: Vec<&str> = listed
        .iter()
        .map(|check_in| check_in.name.as_str())
        .collect();
    assert_eq!(names, [&a.name, &b.name, &c.name, &d.name, &e.name]);
    assert_eq!(
        listed,
        [a.clone(), b.clone(), c.clone(), d.clone(), e.clone()]
    );
    let values: Vec<_> = listed
        .iter()
        .map(|check_in| read(check_in.value.as_ref()))
        .collect();
    assert_eq!(
        values,
        [dec("12"), dec("11.5"), dec("16"), dec("15"), dec("15")]
    );
    for check_in in &listed {
        assert_eq!(check_in.source(), pb::CheckInSource::Manual, "{check_in:?}");
        assert!(!check_in.late);
    }
    // The author is the caller unless the check-in names one.
    let authors: Vec<&str> = listed
        .iter()
        .map(|check_in| check_in.author.as_str())
        .collect();
    assert_eq!(authors, [ACTOR, "bob", ACTOR, ACTOR, ACTOR]);
    assert_eq!(
        from_timestamp(b.measure_time.as_ref()),
        instant("1997-01-10T00:00:00Z")
    );
    assert_eq!(d.supersedes, c.name);
    assert_eq!(d.comment, "C was mistyped");
    assert_eq!(read(e.confidence.as_ref()), dec("0.4"));
    assert_eq!(a.confidence, None);

    // Now: the latest measurement in effect is E (15, confidence 0.4); C (16) was corrected.
    // Progress (15 − 10) / (20 − 10) = 5/10 = 0.5 exactly. At mid cycle 0.5 is expected and
    // on track needs 0.95 × 0.5 = 0.475: 0.5 is on track. E was measured on 10 February, 5
    // days before.
    let now = status_as_of(&stack, kr, Some(MID_CYCLE), None).await;
    assert_eq!(value_of(&now), dec("15"));
    let progress = now.progress.as_ref().expect("progress");
    assert_eq!(read(progress.raw.as_ref()), dec("0.5"));
    assert_eq!(read(progress.clamped.as_ref()), dec("0.5"));
    assert!(!progress.target_met && !progress.below_baseline && !progress.over_achieved);
    assert_eq!(read(now.expected_progress.as_ref()), dec("0.5"));
    assert_eq!(now.health(), pb::Health::OnTrack, "{}", now.explanation);
    assert_eq!(read(now.confidence.as_ref()), dec("0.4"));
    assert!(
        now.explanation.contains("confidence 0.4"),
        "{}",
        now.explanation
    );
    assert!(
        now.explanation.contains("last value 5 days ago"),
        "{}",
        now.explanation
    );
    assert_eq!(
        from_timestamp(now.last_value_time.as_ref()),
        instant("1997-02-10T00:00:00Z")
    );
    assert!(now.version > 0, "{now:?}");

    // Just before E was recorded: D (15, no confidence). The same value, progress and health:
    // the confidence of 0.4 is shown beside the health and does not lower it.
    let before_e = status_as_of(&stack, kr, Some(MID_CYCLE), Some(between(&d, &e))).await;
    assert_eq!(value_of(&before_e), dec("15"));
    assert_eq!(before_e.progress, now.progress);
    assert_eq!(before_e.health(), pb::Health::OnTrack);
    assert_eq!(before_e.confidence, None);
    assert!(
        !before_e.explanation.contains("confidence"),
        "{}",
        before_e.explanation
    );

    // The same idempotency key again, even with another value, records nothing: the first
    // check-in is returned, the list keeps its five, and C stays corrected.
    let again = try_record(
        &stack,
        kr,
        check_in("16", "1997-02-01T00:00:00Z", "c"),
        "retry",
    )
    .await
    .expect("a retry is accepted");
    assert_eq!(again, c);
    let mut different = check_in("19", "1997-03-01T00:00:00Z", "c");
    different.comment = "a second real check-in must not reuse a key".into();
    let again = try_record(&stack, kr, different, "retry-2")
        .await
        .expect("a retry is accepted");
    assert_eq!(again, c);
    assert_eq!(list_check_ins(&stack, kr).await.len(), 5);
    let after_retries = status_as_of(&stack, kr, Some(MID_CYCLE), None).await;
    assert_eq!(value_of(&after_retries), dec("15"));
    assert_eq!(after_retries.version, now.version);

    // Rejected, each naming its field; none of them is recorded.
    let bad_confidence = pb::CheckIn {
        confidence: Some(wire("1.5")),
        ..check_in("15", "1997-02-11T00:00:00Z", "bad-confidence")
    };
    let status = try_record(&stack, kr, bad_confidence, "x")
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), fields(&["check_in.confidence"]));
    // The cycle is half-open: its end instant is already outside it.
    let status = try_record(&stack, kr, check_in("15", CYCLE_END, "after-end"), "x")
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), fields(&["check_in.measure_time"]));
    let status = try_record(
        &stack,
        kr,
        check_in("15", "1998-01-01T00:00:00Z", "a-year-later"),
        "x",
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&status), fields(&["check_in.measure_time"]));
    let metric_source = pb::CheckIn {
        source: pb::CheckInSource::Metric.into(),
        ..check_in("15", "1997-02-11T00:00:00Z", "metric-source")
    };
    let status = try_record(&stack, kr, metric_source, "x")
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), fields(&["check_in.source"]));
    let unknown_supersedes = pb::CheckIn {
        supersedes: format!("{kr}/checkIns/999999"),
        ..check_in("15", "1997-02-11T00:00:00Z", "unknown-supersedes")
    };
    let status = try_record(&stack, kr, unknown_supersedes, "x")
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), fields(&["check_in.supersedes"]));
    let status = try_record(
        &stack,
        &format!("{objective}/keyResults/unknown"),
        check_in("15", "1997-02-11T00:00:00Z", "unknown"),
        "x",
    )
    .await
    .unwrap_err();
    assert_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND");
    assert!(
        status.message().contains("keyResults/unknown"),
        "{status:?}"
    );
    assert_eq!(list_check_ins(&stack, kr).await.len(), 5);
    let unchanged = status_as_of(&stack, kr, Some(MID_CYCLE), None).await;
    assert_eq!(unchanged.version, now.version);

    // One audit event per recorded check-in, by the caller, with its request id; none for the
    // retries and the rejected ones.
    let audited = audit_events(&stack, kr).await;
    let expected: Vec<(String, String, String, String, Option<String>)> = [
        (&a, "a", "12"),
        (&b, "b", "11.5"),
        (&c, "c", "16"),
        (&d, "d", "15"),
        (&e, "e", "15"),
    ]
    .iter()
    .map(|(check_in, key, value)| {
        (
            ACTOR.to_owned(),
            format!("request-{key}"),
            "CreateCheckIn".to_owned(),
            check_in.name.clone(),
            Some((*value).to_owned()),
        )
    })
    .collect();
    assert_eq!(audited, expected);

    stack.stop().await;
}

#[tokio::test]
async fn status_as_of_a_read_time_answers_from_the_history_then_known() {
    let (stack, objective) = stack_with_objective().await;
    let key_result = stack
        .create_key_result(&objective, "retention", manual_key_result("10", "20"))
        .await;
    let kr = key_result.name.as_str();
    let History { a, b, c, d, e } = record_history(&stack, kr).await;

    // Before A was recorded nothing was known.
    let first_recorded = from_timestamp(a.record_time.as_ref());
    let before_a = status_as_of(
        &stack,
        kr,
        Some(MID_CYCLE),
        Some(first_recorded - TimeDelta::milliseconds(1)),
    )
    .await;
    assert_eq!(before_a.value, None);
    assert_eq!(before_a.progress, None);
    assert_eq!(before_a.health(), pb::Health::NoData);

    // Between A and B: only A (12), progress (12 − 10) / 10 = 0.2.
    let after_a = status_as_of(&stack, kr, Some(MID_CYCLE), Some(between(&a, &b))).await;
    assert_eq!(value_of(&after_a), dec("12"));
    assert_eq!(
        read(after_a.progress.as_ref().unwrap().raw.as_ref()),
        dec("0.2")
    );
    // At mid cycle 0.2 is below 0.75 × 0.5 = 0.375: off track.
    assert_eq!(
        after_a.health(),
        pb::Health::OffTrack,
        "{}",
        after_a.explanation
    );
    assert_eq!(
        from_timestamp(after_a.last_value_time.as_ref()),
        instant("1997-01-20T00:00:00Z")
    );

    // Between B and C: A and B are known; B was measured before A, so A is still the value.
    let after_b = status_as_of(&stack, kr, Some(MID_CYCLE), Some(between(&b, &c))).await;
    assert_eq!(value_of(&after_b), dec("12"));

    // Between C and its correction D: C (16), progress 0.6, and C as it was, uncorrected.
    let before_correction = status_as_of(&stack, kr, Some(MID_CYCLE), Some(between(&c, &d))).await;
    assert_eq!(value_of(&before_correction), dec("16"));
    assert_eq!(
        read(before_correction.progress.as_ref().unwrap().raw.as_ref()),
        dec("0.6")
    );
    assert_eq!(before_correction.health(), pb::Health::OnTrack);

    // Between D and E: the correction (15), progress 0.5, no confidence yet.
    let after_correction = status_as_of(&stack, kr, Some(MID_CYCLE), Some(between(&d, &e))).await;
    assert_eq!(value_of(&after_correction), dec("15"));
    assert_eq!(
        read(after_correction.progress.as_ref().unwrap().raw.as_ref()),
        dec("0.5")
    );
    assert_eq!(after_correction.confidence, None);

    // At E's record time exactly, E is known (recorded at or before read_time).
    let at_e = status_as_of(
        &stack,
        kr,
        Some(MID_CYCLE),
        Some(from_timestamp(e.record_time.as_ref())),
    )
    .await;
    assert_eq!(read(at_e.confidence.as_ref()), dec("0.4"));

    // Without a read time: everything, the newest, E (15, confidence 0.4).
    let newest = status_as_of(&stack, kr, Some(MID_CYCLE), None).await;
    assert_eq!(value_of(&newest), dec("15"));
    assert_eq!(read(newest.confidence.as_ref()), dec("0.4"));
    assert_eq!(
        from_timestamp(newest.last_value_time.as_ref()),
        instant("1997-02-10T00:00:00Z")
    );

    stack.stop().await;
}

#[tokio::test]
async fn a_percent_key_result_takes_check_ins_to_the_last_instant_of_its_cycle() {
    let (stack, objective) = stack_with_objective().await;
    let key_result = stack
        .create_key_result(
            &objective,
            "activation",
            pb::KeyResult {
                unit: pb::Unit::Percent.into(),
                ..manual_key_result("10", "20")
            },
        )
        .await;
    let kr = key_result.name.as_str();
    // The last microsecond of the cycle is inside it.
    let last = record(
        &stack,
        kr,
        check_in("17.5", "1997-03-31T23:59:59.999999Z", "last"),
    )
    .await;
    assert_eq!(
        from_timestamp(last.measure_time.as_ref()),
        instant("1997-03-31T23:59:59.999999Z")
    );
    // A value in percent is taken as typed: 17.5 %, progress (17.5 − 10) / 10 = 0.75.
    let status = status_as_of(&stack, kr, Some(MID_CYCLE), None).await;
    assert_eq!(status.unit(), pb::Unit::Percent);
    assert_eq!(value_of(&status), dec("17.5"));
    assert_eq!(
        read(status.progress.as_ref().unwrap().raw.as_ref()),
        dec("0.75")
    );
    // Judged at the end, 0.75 is short of the target: missed.
    let at_end = status_as_of(&stack, kr, Some(CYCLE_END), None).await;
    assert_eq!(
        at_end.health(),
        pb::Health::Missed,
        "{}",
        at_end.explanation
    );
    // A check-in with no measure time is measured now, long after this 1997 cycle.
    let status = try_record(
        &stack,
        kr,
        pb::CheckIn {
            measure_time: None,
            ..check_in("18", "1997-01-01T00:00:00Z", "now")
        },
        "x",
    )
    .await
    .unwrap_err();
    let described = violations(&status);
    assert_eq!(described.len(), 1, "{described:?}");
    assert_eq!(described[0].0, "check_in.measure_time");
    assert_eq!(list_check_ins(&stack, kr).await.len(), 1);

    stack.stop().await;
}
