//! GetTenantSettings and UpdateTenantSettings, and the settings at work: pace bands in every
//! status, score bands in CloseCycle, the week start in history, the time zone of "today".

use std::time::{Duration, Instant};

use devokr_proto::{
    objectives::v1::{self as pb, objectives_service_client::ObjectivesServiceClient},
    tonic::transport::Channel,
};
use tonic::{Code, Status};

use crate::changes::{get_key_result, mask};
use crate::check_ins::{check_in, manual_key_result, record, stack_with_objective, status_as_of};
use crate::fixture::{
    Stack, TENANT, assert_error, dec, fields, from_timestamp, read, request_by, timestamp,
    violated_fields, wire,
};

pub(crate) const SETTINGS: &str = "tenants/acme/settings";

pub(crate) async fn get_settings(stack: &Stack) -> pb::TenantSettings {
    stack
        .client()
        .get_tenant_settings(pb::GetTenantSettingsRequest {
            name: SETTINGS.into(),
        })
        .await
        .expect("settings are read")
        .into_inner()
}

/// Updates the fields named by `paths` to the values in `settings`, as alice.
pub(crate) async fn update_settings(
    stack: &Stack,
    settings: pb::TenantSettings,
    paths: &[&str],
) -> Result<pb::TenantSettings, Status> {
    let request = request_by(
        "alice",
        pb::UpdateTenantSettingsRequest {
            settings: Some(pb::TenantSettings {
                name: SETTINGS.into(),
                ..settings
            }),
            update_mask: mask(paths),
        },
    );
    stack
        .client()
        .update_tenant_settings(request)
        .await
        .map(tonic::Response::into_inner)
}

/// Sets the on-track ratio, whatever the etag.
pub(crate) async fn set_on_track_ratio(stack: &Stack, ratio: &str) {
    update_settings(
        stack,
        pb::TenantSettings {
            on_track_ratio: Some(wire(ratio)),
            ..Default::default()
        },
        &["on_track_ratio"],
    )
    .await
    .expect("the on-track ratio is set");
}

#[tokio::test]
async fn settings_are_the_defaults_until_updated_with_a_mask_and_an_etag() {
    let stack = Stack::start().await;
    let defaults = get_settings(&stack).await;
    assert_eq!(defaults.name, SETTINGS);
    assert_eq!(defaults.time_zone, "UTC");
    assert_eq!(defaults.week_start(), pb::WeekStart::Monday);
    // UpRaise's pace bands and Doerr's score bands (see the proto's documented defaults).
    assert_eq!(read(defaults.on_track_ratio.as_ref()), dec("0.95"));
    assert_eq!(read(defaults.at_risk_ratio.as_ref()), dec("0.75"));
    assert_eq!(read(defaults.score_yellow_from.as_ref()), dec("0.4"));
    assert_eq!(read(defaults.score_green_from.as_ref()), dec("0.7"));
    assert!(!defaults.etag.is_empty());

    // Only the masked field changes, though others are sent.
    let updated = update_settings(
        &stack,
        pb::TenantSettings {
            on_track_ratio: Some(wire("0.9")),
            at_risk_ratio: Some(wire("0.5")),
            time_zone: "Pacific/Auckland".into(),
            etag: defaults.etag.clone(),
            ..Default::default()
        },
        &["on_track_ratio", "time_zone", "etag"],
    )
    .await
    .unwrap();
    assert_eq!(read(updated.on_track_ratio.as_ref()), dec("0.9"));
    assert_eq!(read(updated.at_risk_ratio.as_ref()), dec("0.75"));
    assert_eq!(updated.time_zone, "Pacific/Auckland");
    assert_eq!(updated.week_start(), pb::WeekStart::Monday);
    assert_ne!(updated.etag, defaults.etag);
    assert_eq!(get_settings(&stack).await, updated);

    // The etag of the defaults is stale now: ABORTED, and nothing changes.
    let stale = update_settings(
        &stack,
        pb::TenantSettings {
            week_start: pb::WeekStart::Sunday.into(),
            etag: defaults.etag.clone(),
            ..Default::default()
        },
        &["week_start"],
    )
    .await
    .unwrap_err();
    assert_error(&stale, Code::Aborted, "CONCURRENT_CHANGE");
    assert_eq!(get_settings(&stack).await, updated);

    // Every bad value is named, and nothing changes.
    let invalid = update_settings(
        &stack,
        pb::TenantSettings {
            time_zone: "Mars/Olympus_Mons".into(),
            week_start: 7,
            on_track_ratio: Some(wire("1.5")),
            at_risk_ratio: Some(wire("0")),
            score_yellow_from: Some(wire("-0.1")),
            score_green_from: Some(wire("1.01")),
            ..Default::default()
        },
        &[
            "time_zone",
            "week_start",
            "on_track_ratio",
            "at_risk_ratio",
            "score_yellow_from",
            "score_green_from",
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(
        violated_fields(&invalid),
        fields(&[
            "settings.time_zone",
            "settings.week_start",
            "settings.on_track_ratio",
            "settings.at_risk_ratio",
            "settings.score_yellow_from",
            "settings.score_green_from",
        ])
    );
    // Each value is fine alone but not with the stored ones: at risk from 0.9 × expected is
    // not below on track from 0.9 ×; a green score from 0.3 is below yellow from 0.4.
    let crossed = update_settings(
        &stack,
        pb::TenantSettings {
            at_risk_ratio: Some(wire("0.9")),
            score_green_from: Some(wire("0.3")),
            ..Default::default()
        },
        &["at_risk_ratio", "score_green_from"],
    )
    .await
    .unwrap_err();
    assert_eq!(
        violated_fields(&crossed),
        fields(&["settings.at_risk_ratio", "settings.score_green_from"])
    );
    let unknown_field = update_settings(&stack, pb::TenantSettings::default(), &["colour"])
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&unknown_field), fields(&["update_mask"]));
    let bad_name = stack
        .client()
        .get_tenant_settings(pb::GetTenantSettingsRequest {
            name: TENANT.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad_name), fields(&["name"]));
    assert_eq!(get_settings(&stack).await, updated);

    // One change, audited with its caller.
    let audit = stack.audit_events(SETTINGS).await;
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|(action, actor, _)| (action.as_str(), actor.as_str()))
        .collect();
    assert_eq!(actions, [("UpdateTenantSettings", "alice")]);

    stack.stop().await;
}

/// The cycle of the pace tests: 1997-01-01 to 1997-04-10 in UTC, 31 + 28 + 31 + 10 = 100 days.
/// At 1997-02-25T00:00Z, 31 + 24 = 55 days have passed: expected progress 0.55.
const DAY_55: &str = "1997-02-25T00:00:00Z";

/// A stack with the hundred-day cycle, objective `growth` in it and key result `half` from 0
/// to 100 at 50 since 1 February: progress (50 − 0) / (100 − 0) = 0.5, against 0.55 expected
/// on [`DAY_55`]. Returns the objective and the key result.
async fn stack_half_way() -> (Stack, pb::Objective, pb::KeyResult) {
    let stack = Stack::start().await;
    let cycle = stack
        .create_cycle("hundred-days", "1997-01-01", "1997-04-10", "UTC")
        .await;
    let objective = stack.create_objective("growth", &cycle.name).await;
    let key_result = stack
        .create_key_result(&objective.name, "half", manual_key_result("0", "100"))
        .await;
    record(
        &stack,
        &key_result.name,
        check_in("50", "1997-02-01T00:00:00Z", "half-way"),
    )
    .await;
    (stack, objective, key_result)
}

#[tokio::test]
async fn the_tenants_pace_bands_judge_every_status() {
    let (stack, objective, key_result) = stack_half_way().await;

    // With on track from 0.9 × 0.55 = 0.495, progress 0.5 is on track; from 0.95 × 0.55 =
    // 0.5225 it is not, and at risk from 0.75 × 0.55 = 0.4125 it is at risk.
    for (on_track_ratio, health) in [("0.9", pb::Health::OnTrack), ("0.95", pb::Health::AtRisk)] {
        set_on_track_ratio(&stack, on_track_ratio).await;
        let status = status_as_of(&stack, &key_result.name, Some(DAY_55), None).await;
        assert_eq!(read(status.expected_progress.as_ref()), dec("0.55"));
        assert_eq!(status.health(), health, "{}", status.explanation);

        let batch = stack
            .client()
            .batch_get_key_result_status(pb::BatchGetKeyResultStatusRequest {
                parent: TENANT.into(),
                names: vec![key_result.name.clone()],
                evaluation_time: Some(timestamp(DAY_55)),
            })
            .await
            .unwrap()
            .into_inner();
        match &batch.results[0].result {
            Some(pb::key_result_status_result::Result::Status(status)) => {
                assert_eq!(status.health(), health);
            }
            other => panic!("{other:?}"),
        }

        // The objective is as healthy as its one key result.
        let objective_status = stack
            .client()
            .get_objective_status(pb::GetObjectiveStatusRequest {
                name: objective.name.clone(),
                evaluation_time: Some(timestamp(DAY_55)),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(objective_status.health(), health);

        // Day 55 of the history is judged at its last instant, expected 0.55 less 1 µs of
        // 100 days: still 0.5 against 0.495 (on track) or 0.5225 (at risk).
        let history = stack
            .client()
            .list_key_result_history(pb::ListKeyResultHistoryRequest {
                name: key_result.name.clone(),
                granularity: pb::Granularity::Day.into(),
                start_time: Some(timestamp("1997-02-24T00:00:00Z")),
                end_time: Some(timestamp(DAY_55)),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(history.points.len(), 1);
        assert_eq!(history.points[0].health(), health);
    }

    stack.stop().await;
}

/// The status of `key_result` on [`DAY_55`] from `client`, asked again every 20 ms until
/// `wanted` holds of it; after 2 s the test fails, saying `missed`.
async fn status_at_day_55_once(
    client: &mut ObjectivesServiceClient<Channel>,
    key_result: &str,
    wanted: impl Fn(&pb::KeyResultStatus) -> bool,
    missed: &str,
) -> pb::KeyResultStatus {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let status = client
            .get_key_result_status(pb::GetKeyResultStatusRequest {
                name: key_result.into(),
                evaluation_time: Some(timestamp(DAY_55)),
                read_time: None,
            })
            .await
            .unwrap()
            .into_inner();
        if wanted(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{missed}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_replica_judges_with_the_settings_changed_on_another() {
    let (stack, _, key_result) = stack_half_way().await;
    let (replica, mut replica_client) = stack.start_replica().await;
    // The replica follows the outbox a few milliseconds behind: wait for the check-in.
    let checked_in = status_as_of(&stack, &key_result.name, None, None)
        .await
        .version;
    let status = status_at_day_55_once(
        &mut replica_client,
        &key_result.name,
        |status| status.version >= checked_in,
        "the replica missed the check-in",
    )
    .await;
    // The replica judges with the defaults (0.95: at risk, as worked out above)...
    assert_eq!(
        status.health(),
        pb::Health::AtRisk,
        "{}",
        status.explanation
    );
    // ...and with 0.9 (on track) soon after another replica changed them.
    set_on_track_ratio(&stack, "0.9").await;
    status_at_day_55_once(
        &mut replica_client,
        &key_result.name,
        |status| status.health() == pb::Health::OnTrack,
        "the replica still judges with the old pace bands",
    )
    .await;
    replica.stop().await.expect("the replica stops cleanly");
    stack.stop().await;
}

/// The week buckets of 1997-01-01 (a Wednesday) to 1997-01-20.
async fn week_starts(stack: &Stack, key_result: &str) -> Vec<String> {
    stack
        .client()
        .list_key_result_history(pb::ListKeyResultHistoryRequest {
            name: key_result.into(),
            granularity: pb::Granularity::Week.into(),
            start_time: Some(timestamp("1997-01-01T00:00:00Z")),
            end_time: Some(timestamp("1997-01-20T00:00:00Z")),
        })
        .await
        .unwrap()
        .into_inner()
        .points
        .iter()
        .map(|point| {
            from_timestamp(point.start_time.as_ref())
                .date_naive()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn history_weeks_start_on_the_tenants_first_day_of_the_week() {
    let (stack, objective) = stack_with_objective().await;
    let key_result = stack
        .create_key_result(&objective, "weekly", manual_key_result("0", "10"))
        .await;
    // Monday weeks: Mondays 6 and 13 January 1997 start weeks (the first bucket is cut at
    // the start of the range).
    assert_eq!(
        week_starts(&stack, &key_result.name).await,
        ["1997-01-01", "1997-01-06", "1997-01-13"]
    );
    update_settings(
        &stack,
        pb::TenantSettings {
            week_start: pb::WeekStart::Sunday.into(),
            ..Default::default()
        },
        &["week_start"],
    )
    .await
    .unwrap();
    // Sunday weeks: Sundays 5, 12 and 19 January.
    assert_eq!(
        week_starts(&stack, &key_result.name).await,
        ["1997-01-01", "1997-01-05", "1997-01-12", "1997-01-19"]
    );
    stack.stop().await;
}

#[tokio::test]
async fn close_cycle_colours_scores_with_the_tenants_bands() {
    let (stack, objective) = stack_with_objective().await;
    let cycle = format!("{TENANT}/cycles/q1-1997");
    let key_result = stack
        .create_key_result(&objective, "most", manual_key_result("0", "100"))
        .await;
    // Progress 0.64 scores 0.6: yellow in the default bands (green from 0.7), green from 0.6.
    record(
        &stack,
        &key_result.name,
        check_in("64", "1997-02-01T00:00:00Z", "most"),
    )
    .await;
    update_settings(
        &stack,
        pb::TenantSettings {
            score_yellow_from: Some(wire("0.3")),
            score_green_from: Some(wire("0.6")),
            ..Default::default()
        },
        &["score_yellow_from", "score_green_from"],
    )
    .await
    .unwrap();
    stack.activate_and_close_cycle(&cycle).await;
    let scored = get_key_result(&stack, &key_result.name).await;
    assert_eq!(read(scored.score.as_ref()), dec("0.6"));
    let (_, _, change) = stack
        .audit_events(&cycle)
        .await
        .into_iter()
        .find(|(action, _, _)| action == "CloseCycle")
        .expect("the close is audited");
    assert_eq!(change["scores"][0]["score"], "0.6");
    assert_eq!(change["scores"][0]["band"], "green");
    stack.stop().await;
}

#[tokio::test]
async fn the_current_cycle_is_the_one_holding_today_in_the_tenants_time_zone() {
    let stack = Stack::start().await;
    let now = chrono::Utc::now();
    // Today in UTC and today on the other side of the date line differ all day long:
    // Pacific/Kiritimati is UTC+14, Pacific/Pago_Pago UTC−11 (neither has DST).
    let ahead = now
        .with_timezone(&chrono_tz::Pacific::Kiritimati)
        .date_naive();
    let behind = now
        .with_timezone(&chrono_tz::Pacific::Pago_Pago)
        .date_naive();
    assert_ne!(ahead, behind);
    // One-day cycles, stored in UTC: one for each of the two dates.
    for (id, date) in [("ahead", ahead), ("behind", behind)] {
        stack
            .create_cycle(id, &date.to_string(), &date.to_string(), "UTC")
            .await;
    }
    for (time_zone, expected) in [
        ("Pacific/Kiritimati", "ahead"),
        ("Pacific/Pago_Pago", "behind"),
    ] {
        update_settings(
            &stack,
            pb::TenantSettings {
                time_zone: time_zone.into(),
                ..Default::default()
            },
            &["time_zone"],
        )
        .await
        .unwrap();
        let current = stack
            .client()
            .get_current_cycle(pb::GetCurrentCycleRequest {
                parent: TENANT.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            current.name,
            format!("{TENANT}/cycles/{expected}"),
            "{time_zone}"
        );
    }
    let none = stack
        .client()
        .get_current_cycle(pb::GetCurrentCycleRequest {
            parent: "tenants/nobody".into(),
        })
        .await
        .unwrap_err();
    assert_error(&none, Code::FailedPrecondition, "NO_CURRENT_CYCLE");
    assert!(
        none.message()
            .contains("no cycle of tenants/nobody includes today"),
        "{none:?}"
    );
    stack.stop().await;
}
