//! Objectives with levels, owners, stages and parents (alignment), their progress by driver
//! and health by mode, and ListObjectives' owner_team, stage and health filters, with every
//! expected number worked out by hand in the comments.
//!
//! Status is judged at MID_CYCLE of 1997 Q1 (45 of 90 days elapsed): expected progress 0.5, on
//! track from 0.5 × 0.95 = 0.475, at risk from 0.5 × 0.75 = 0.375. Every key result goes from
//! 0 to 100, so a value v has progress v / 100.

use devokr_proto::objectives::v1 as pb;
use tonic::Code;

use crate::{
    changes::{
        audited, delete_objective, get_objective, list_objectives, objective_status,
        try_list_objectives, undelete_objective, update_objective,
    },
    check_ins::{audit_events, check_in, manual_key_result, record},
    fixture::{
        Stack, TENANT, assert_error, assert_one_violation, dec, objective, read, violations, wire,
    },
};

/// A stack with the cycle 1997 Q1 (no objective yet); returns the cycle's name.
async fn stack_with_cycle() -> (Stack, String) {
    let stack = Stack::start().await;
    let cycle = stack
        .create_cycle("q1-1997", "1997-01-01", "1997-03-31", "UTC")
        .await;
    (stack, cycle.name)
}

/// The name of objective `id` of the test tenant.
fn name(id: &str) -> String {
    format!("{TENANT}/objectives/{id}")
}

/// An objective of `cycle` under `parents` (ids), with `weight` and `driver`.
fn aligned(
    cycle: &str,
    parents: &[&str],
    weight: &str,
    driver: pb::ProgressDriver,
) -> pb::Objective {
    pb::Objective {
        parents: parents.iter().map(|id| name(id)).collect(),
        weight: Some(wire(weight)),
        progress_driver: driver.into(),
        ..objective("aligned", cycle)
    }
}

async fn create(stack: &Stack, id: &str, objective: pb::Objective) -> pb::Objective {
    stack
        .try_create_objective(id, objective)
        .await
        .unwrap_or_else(|status| panic!("objective {id} is created: {status:?}"))
}

/// A key result from 0 to 100 under `objective` (a name) with one check-in of `value`,
/// measured before MID_CYCLE; returns its name.
async fn key_result_at(stack: &Stack, objective: &str, id: &str, value: &str) -> String {
    let key_result = stack
        .create_key_result(objective, id, manual_key_result("0", "100"))
        .await
        .name;
    check_in_value(stack, &key_result, value).await;
    key_result
}

async fn check_in_value(stack: &Stack, key_result: &str, value: &str) {
    record(
        stack,
        key_result,
        check_in(value, "1997-01-10T00:00:00Z", &format!("value-{value}")),
    )
    .await;
}

/// Sets the fields of `paths` of objective `id` to those of `values`.
async fn set(stack: &Stack, id: &str, paths: &[&str], values: pb::Objective) -> pb::Objective {
    update_objective(
        stack,
        pb::Objective {
            name: name(id),
            ..values
        },
        Some(paths),
    )
    .await
    .unwrap_or_else(|status| panic!("objective {id} is updated ({paths:?}): {status:?}"))
}

/// The progress of an objective's status, which must have one.
fn progress(status: &pb::ObjectiveStatus) -> devokr_domain::Decimal {
    read(status.progress.as_ref())
}

#[tokio::test]
async fn child_objectives_roll_up_by_weight_and_a_child_change_shows_at_once() {
    let (stack, cycle) = stack_with_cycle().await;
    let company = create(
        &stack,
        "company",
        aligned(&cycle, &[], "1", pb::ProgressDriver::ChildObjectives),
    )
    .await;
    assert_eq!(company.level, i32::from(pb::ObjectiveLevel::Team));
    assert_eq!(company.stage, i32::from(pb::ObjectiveStage::Active));
    create(
        &stack,
        "a",
        aligned(&cycle, &["company"], "1", pb::ProgressDriver::KeyResults),
    )
    .await;
    create(
        &stack,
        "b",
        aligned(&cycle, &["company"], "3", pb::ProgressDriver::KeyResults),
    )
    .await;
    let a_value = key_result_at(&stack, &name("a"), "k", "20").await;
    key_result_at(&stack, &name("b"), "k", "80").await;

    // (0.2 × 1 + 0.8 × 3) / (1 + 3) = 2.6 / 4 = 0.65.
    let status = objective_status(&stack, &company.name).await;
    assert_eq!(progress(&status), dec("0.65"));
    assert_eq!(
        status.progress_driver,
        i32::from(pb::ProgressDriver::ChildObjectives)
    );
    assert_eq!(status.health_mode, i32::from(pb::HealthMode::Worst));
    let children: Vec<_> = status
        .child_objectives
        .iter()
        .map(|child| {
            (
                child.objective.clone(),
                read(child.weight.as_ref()),
                read(child.progress.as_ref()),
                child.health,
            )
        })
        .collect();
    // a: 0.2 is below 0.375, off track; b: 0.8 is at least 0.475, on track.
    assert_eq!(
        children,
        [
            (
                name("a"),
                dec("1"),
                dec("0.2"),
                i32::from(pb::Health::OffTrack)
            ),
            (
                name("b"),
                dec("3"),
                dec("0.8"),
                i32::from(pb::Health::OnTrack)
            ),
        ]
    );
    // Worst of the children: a, off track.
    assert_eq!(status.health, i32::from(pb::Health::OffTrack));
    assert_eq!(
        status.explanation,
        "worst child objective is off track at progress 0.20 (2 of 2 child objectives have data)"
    );

    // A new value of a's key result: (0.6 + 2.4) / 4 = 0.75, at once.
    check_in_value(&stack, &a_value, "60").await;
    assert_eq!(
        progress(&objective_status(&stack, &company.name).await),
        dec("0.75")
    );

    // b closed drops out: 0.6 alone; active again, back to 0.75.
    let closed = pb::Objective {
        stage: pb::ObjectiveStage::Closed.into(),
        ..Default::default()
    };
    set(&stack, "b", &["stage"], closed).await;
    let status = objective_status(&stack, &company.name).await;
    assert_eq!(progress(&status), dec("0.6"));
    assert_eq!(status.child_objectives.len(), 1);
    let draft = pb::Objective {
        stage: pb::ObjectiveStage::Draft.into(),
        ..Default::default()
    };
    set(&stack, "b", &["stage"], draft).await;
    assert_eq!(
        progress(&objective_status(&stack, &company.name).await),
        dec("0.6")
    );
    let active = pb::Objective {
        stage: pb::ObjectiveStage::Active.into(),
        ..Default::default()
    };
    set(&stack, "b", &["stage"], active).await;
    assert_eq!(
        progress(&objective_status(&stack, &company.name).await),
        dec("0.75")
    );

    // a deleted drops out: 0.8 alone; undeleted, back to 0.75.
    delete_objective(&stack, &name("a"), "").await.unwrap();
    assert_eq!(
        progress(&objective_status(&stack, &company.name).await),
        dec("0.8")
    );
    undelete_objective(&stack, &name("a")).await.unwrap();
    assert_eq!(
        progress(&objective_status(&stack, &company.name).await),
        dec("0.75")
    );

    // b's weight changed to 1: (0.6 + 0.8) / 2 = 0.7.
    let weight_one = pb::Objective {
        weight: Some(wire("1")),
        ..Default::default()
    };
    set(&stack, "b", &["weight"], weight_one).await;
    assert_eq!(
        progress(&objective_status(&stack, &company.name).await),
        dec("0.7")
    );

    // Every weight zero: progress is undefined and the explanation says why; health still
    // follows the worst child (a at 0.6 and b at 0.8 are both on track).
    for id in ["a", "b"] {
        let zero = pb::Objective {
            weight: Some(wire("0")),
            ..Default::default()
        };
        set(&stack, id, &["weight"], zero).await;
    }
    let status = objective_status(&stack, &company.name).await;
    assert_eq!(status.progress, None);
    assert_eq!(status.health, i32::from(pb::Health::OnTrack));
    assert!(
        status
            .explanation
            .contains("progress undefined: all weights are zero"),
        "{}",
        status.explanation
    );

    // Grandchildren roll up through their parent: c (value 40) under a, a driven by its
    // children only and weighted 1 again, so a = 0.4 and company = (0.4 × 1 + 0.8 × 0) / 1.
    create(
        &stack,
        "c",
        aligned(&cycle, &["a"], "1", pb::ProgressDriver::KeyResults),
    )
    .await;
    key_result_at(&stack, &name("c"), "k", "40").await;
    let a_by_children = pb::Objective {
        weight: Some(wire("1")),
        progress_driver: pb::ProgressDriver::ChildObjectives.into(),
        ..Default::default()
    };
    set(&stack, "a", &["weight", "progress_driver"], a_by_children).await;
    assert_eq!(
        progress(&objective_status(&stack, &company.name).await),
        dec("0.4")
    );

    stack.stop().await;
}

#[tokio::test]
async fn driver_both_counts_key_results_and_children_and_health_is_worst_or_weighted() {
    let (stack, cycle) = stack_with_cycle().await;
    let parent = create(
        &stack,
        "parent",
        aligned(&cycle, &[], "1", pb::ProgressDriver::Both),
    )
    .await;
    // Its own key result (weight 1) at 0.4, and a child objective (weight 2) at 0.7.
    key_result_at(&stack, &parent.name, "own", "40").await;
    create(
        &stack,
        "child",
        aligned(&cycle, &["parent"], "2", pb::ProgressDriver::KeyResults),
    )
    .await;
    key_result_at(&stack, &name("child"), "k", "70").await;

    // (0.4 × 1 + 0.7 × 2) / 3 = 1.8 / 3 = 0.6.
    let status = objective_status(&stack, &parent.name).await;
    assert_eq!(progress(&status), dec("0.6"));
    assert_eq!(status.progress_driver, i32::from(pb::ProgressDriver::Both));
    assert_eq!(status.key_results.len(), 1);
    assert_eq!(status.child_objectives.len(), 1);
    // Worst: the key result at 0.4 is at risk (0.375 <= 0.4 < 0.475), the child on track.
    assert_eq!(status.health, i32::from(pb::Health::AtRisk));
    assert_eq!(
        status.explanation,
        "worst child is at risk at progress 0.40 (2 of 2 children have data)"
    );

    // Weighted: 0.6 against 0.5 expected is on track.
    let weighted = pb::Objective {
        health_mode: pb::HealthMode::Weighted.into(),
        ..Default::default()
    };
    set(&stack, "parent", &["health_mode"], weighted).await;
    let status = objective_status(&stack, &parent.name).await;
    assert_eq!(status.health, i32::from(pb::Health::OnTrack));
    assert_eq!(status.health_mode, i32::from(pb::HealthMode::Weighted));
    assert_eq!(
        status.explanation,
        "progress 0.60 against 0.50 expected at day 46 of 90; weighted mean of 2 of 2 children with data"
    );

    // Key results only: 0.4 at risk, judged weighted too; no child objectives shown.
    let by_key_results = pb::Objective {
        progress_driver: pb::ProgressDriver::KeyResults.into(),
        ..Default::default()
    };
    set(&stack, "parent", &["progress_driver"], by_key_results).await;
    let status = objective_status(&stack, &parent.name).await;
    assert_eq!(progress(&status), dec("0.4"));
    assert_eq!(status.health, i32::from(pb::Health::AtRisk));
    assert!(status.child_objectives.is_empty());

    stack.stop().await;
}

#[tokio::test]
async fn objective_fields_round_trip_and_parents_are_validated_without_loops() {
    let (stack, cycle) = stack_with_cycle().await;
    let a = create(
        &stack,
        "a",
        pb::Objective {
            level: pb::ObjectiveLevel::Company.into(),
            owner_team: "leadership".into(),
            stage: pb::ObjectiveStage::Draft.into(),
            health_mode: pb::HealthMode::Weighted.into(),
            ..aligned(&cycle, &[], "2.5", pb::ProgressDriver::Both)
        },
    )
    .await;
    assert_eq!(a.level, i32::from(pb::ObjectiveLevel::Company));
    assert_eq!(a.owner_team, "leadership");
    assert_eq!(a.stage, i32::from(pb::ObjectiveStage::Draft));
    assert_eq!(a.progress_driver, i32::from(pb::ProgressDriver::Both));
    assert_eq!(a.health_mode, i32::from(pb::HealthMode::Weighted));
    assert_eq!(read(a.weight.as_ref()), dec("2.5"));
    assert_eq!(get_objective(&stack, &a.name).await, a);
    let b = create(
        &stack,
        "b",
        aligned(&cycle, &["a"], "1", pb::ProgressDriver::KeyResults),
    )
    .await;
    assert_eq!(b.parents, [name("a")]);
    // Absent weight is 1, absent level team.
    let c = create(
        &stack,
        "c",
        pb::Objective {
            parents: vec![name("b")],
            ..objective("c", &cycle)
        },
    )
    .await;
    assert_eq!(c.parents, [name("b")]);
    assert_eq!(read(c.weight.as_ref()), dec("1"));
    assert_eq!(c.level, i32::from(pb::ObjectiveLevel::Team));

    // a under c closes the loop a → c → b → a.
    let loop_update = update_objective(
        &stack,
        pb::Objective {
            name: a.name.clone(),
            parents: vec![name("c")],
            ..Default::default()
        },
        Some(&["parents"]),
    )
    .await
    .unwrap_err();
    let said = violations(&loop_update);
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(said[0].0, "objective.parents");
    assert!(
        said[0].1.contains(&format!(
            "{} → {} → {} → {}",
            name("a"),
            name("c"),
            name("b"),
            name("a")
        )),
        "{}",
        said[0].1
    );
    // a under itself.
    let itself = update_objective(
        &stack,
        pb::Objective {
            name: a.name.clone(),
            parents: vec![name("a")],
            ..Default::default()
        },
        Some(&["parents"]),
    )
    .await
    .unwrap_err();
    assert_eq!(violations(&itself)[0].0, "objective.parents");
    // Refused changes changed nothing.
    assert_eq!(get_objective(&stack, &a.name).await, a);

    // Unknown, deleted, foreign, repeated parents; a bad weight, level and stage.
    delete_objective(&stack, &b.name, "").await.unwrap();
    for (bad, field, says) in [
        (
            pb::Objective {
                parents: vec![name("nope")],
                ..objective("d", &cycle)
            },
            "objective.parents",
            "does not exist",
        ),
        (
            pb::Objective {
                parents: vec![name("b")],
                ..objective("d", &cycle)
            },
            "objective.parents",
            "is deleted",
        ),
        (
            pb::Objective {
                parents: vec!["tenants/other/objectives/a".into()],
                ..objective("d", &cycle)
            },
            "objective.parents",
            "another tenant",
        ),
        (
            pb::Objective {
                parents: vec![name("a"), name("a")],
                ..objective("d", &cycle)
            },
            "objective.parents",
            "listed twice",
        ),
        (
            pb::Objective {
                weight: Some(wire("1000.5")),
                ..objective("d", &cycle)
            },
            "objective.weight",
            "from 0 to 1000",
        ),
        (
            pb::Objective {
                level: 9,
                ..objective("d", &cycle)
            },
            "objective.level",
            "is not a level",
        ),
        (
            pb::Objective {
                stage: 9,
                ..objective("d", &cycle)
            },
            "objective.stage",
            "is not a stage",
        ),
    ] {
        let status = stack.try_create_objective("d", bad).await.unwrap_err();
        assert_one_violation(&status, field, says);
    }
    let missing = stack
        .client()
        .get_objective(pb::GetObjectiveRequest { name: name("d") })
        .await
        .unwrap_err();
    assert_error(&missing, Code::NotFound, "RESOURCE_NOT_FOUND");
    // Creates are audited; refused ones leave no trace.
    let actions = |events: Vec<(String, String, String, String, Option<String>)>| {
        events
            .into_iter()
            .map(|(_, _, action, _, _)| action)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        actions(audit_events(&stack, &name("a")).await),
        ["CreateObjective"]
    );
    assert!(actions(audit_events(&stack, &name("d")).await).is_empty());

    // A deleted parent keeps its link and does not block other changes; re-parenting c
    // under a and o is allowed (no loop), in the order given, and audited with its fields.
    create(&stack, "o", objective("o", &cycle)).await;
    let renamed = set(
        &stack,
        "c",
        &["owner_team", "level"],
        pb::Objective {
            owner_team: "growth".into(),
            level: pb::ObjectiveLevel::Individual.into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(renamed.parents, [name("b")]);
    assert_eq!(renamed.owner_team, "growth");
    assert_eq!(renamed.level, i32::from(pb::ObjectiveLevel::Individual));
    let moved = set(
        &stack,
        "c",
        &["parents"],
        pb::Objective {
            parents: vec![name("a"), name("o")],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(moved.parents, [name("a"), name("o")]);
    assert_ne!(moved.etag, renamed.etag);
    let changes: Vec<serde_json::Value> = audited(&stack, &c.name)
        .await
        .into_iter()
        .map(|(action, _, change)| {
            assert_eq!(action, "UpdateObjective");
            serde_json::json!([change["fields"], change["parents"]])
        })
        .collect();
    assert_eq!(
        changes,
        [
            serde_json::json!([["level", "owner_team"], [name("b")]]),
            serde_json::json!([["parents"], [name("a"), name("o")]]),
        ]
    );

    stack.stop().await;
}

#[tokio::test]
async fn of_two_concurrent_links_that_close_a_loop_exactly_one_is_made() {
    let (stack, cycle) = stack_with_cycle().await;
    // Pairs (a_i, b_i), linked a_i under b_i and b_i under a_i all at the same time: each
    // link alone is fine, both make a loop. Many pairs make overlapping transactions likely.
    const PAIRS: usize = 10;
    for pair in 0..PAIRS {
        for side in ["a", "b"] {
            let id = format!("{side}{pair}");
            create(&stack, &id, objective(&id, &cycle)).await;
        }
    }
    let link = |child: String, parent: String| {
        update_objective(
            &stack,
            pb::Objective {
                name: name(&child),
                parents: vec![name(&parent)],
                ..Default::default()
            },
            Some(&["parents"]),
        )
    };
    let links = (0..PAIRS).flat_map(|pair| {
        [
            link(format!("a{pair}"), format!("b{pair}")),
            link(format!("b{pair}"), format!("a{pair}")),
        ]
    });
    let results = futures::future::join_all(links).await;
    for (pair, results) in results.chunks(2).enumerate() {
        let refused = match results {
            [Ok(_), Err(refused)] | [Err(refused), Ok(_)] => refused,
            other => panic!("pair {pair}: exactly one link is made: {other:?}"),
        };
        let said = violations(refused);
        assert_eq!(said[0].0, "objective.parents");
        assert!(said[0].1.contains("its own ancestor"), "{said:?}");
        let a = get_objective(&stack, &name(&format!("a{pair}")))
            .await
            .parents;
        let b = get_objective(&stack, &name(&format!("b{pair}")))
            .await
            .parents;
        assert_eq!(a.len() + b.len(), 1, "pair {pair}: {a:?} {b:?}");
    }

    stack.stop().await;
}

/// Every page of ListObjectives with `filter`, `page_size` at a time, running `between` after
/// the first page; returns the names in order.
async fn list_in_pages(
    stack: &Stack,
    filter: &str,
    page_size: i32,
    between: impl AsyncFnOnce(),
) -> Vec<String> {
    let mut names = Vec::new();
    let mut page_token = String::new();
    let mut between = Some(between);
    loop {
        let page = stack
            .client()
            .list_objectives(pb::ListObjectivesRequest {
                parent: TENANT.into(),
                page_size,
                page_token,
                filter: filter.into(),
                show_deleted: false,
            })
            .await
            .unwrap_or_else(|status| panic!("objectives are listed with {filter:?}: {status:?}"))
            .into_inner();
        assert!(page.objectives.len() <= page_size as usize);
        names.extend(page.objectives.into_iter().map(|objective| objective.name));
        if let Some(between) = between.take() {
            between().await;
        }
        if page.next_page_token.is_empty() {
            return names;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test]
async fn list_objectives_filters_by_owner_team_stage_and_health_across_pages() {
    let (stack, cycle) = stack_with_cycle().await;
    // 1997 Q1 ended long ago, so judged now a key result below its target has missed it
    // and one at its target has achieved it; an objective without key results has no data.
    for (id, team, stage, value) in [
        ("o1", "growth", pb::ObjectiveStage::Active, Some("20")),
        ("o2", "growth", pb::ObjectiveStage::Active, Some("100")),
        ("o3", "other", pb::ObjectiveStage::Active, Some("30")),
        ("o4", "growth", pb::ObjectiveStage::Draft, Some("40")),
        ("o5", "growth", pb::ObjectiveStage::Active, None),
        ("o6", "growth", pb::ObjectiveStage::Active, Some("50")),
    ] {
        let objective = create(
            &stack,
            id,
            pb::Objective {
                owner_team: team.into(),
                stage: stage.into(),
                ..objective(id, &cycle)
            },
        )
        .await;
        if let Some(value) = value {
            key_result_at(&stack, &objective.name, "k", value).await;
        }
    }
    let names = |ids: &[&str]| ids.iter().map(|id| name(id)).collect::<Vec<_>>();

    assert_eq!(
        list_objectives(&stack, "owner_team = \"growth\"", false).await,
        names(&["o1", "o2", "o4", "o5", "o6"])
    );
    assert_eq!(
        list_objectives(&stack, "stage = DRAFT", false).await,
        names(&["o4"])
    );
    assert_eq!(
        list_objectives(&stack, "stage = \"OBJECTIVE_STAGE_ACTIVE\"", false).await,
        names(&["o1", "o2", "o3", "o5", "o6"])
    );
    assert_eq!(
        list_objectives(&stack, "health = NO_DATA", false).await,
        names(&["o5"])
    );
    assert_eq!(
        list_objectives(&stack, "health = ACHIEVED", false).await,
        names(&["o2"])
    );
    assert_eq!(
        list_objectives(
            &stack,
            &format!(
                "owner_team = \"growth\" AND stage = ACTIVE AND health = MISSED AND cycle = \"{cycle}\""
            ),
            false
        )
        .await,
        names(&["o1", "o6"])
    );

    // One missed objective per page, and one created after the first page: it is listed
    // after the others, none is skipped or repeated.
    let filter = "health = MISSED";
    let listed = list_in_pages(&stack, filter, 1, async || {
        let late = create(&stack, "o7", objective("o7", &cycle)).await;
        key_result_at(&stack, &late.name, "k", "10").await;
    })
    .await;
    assert_eq!(listed, names(&["o1", "o3", "o4", "o6", "o7"]));
    assert_eq!(
        list_in_pages(&stack, filter, 2, async || {}).await,
        names(&["o1", "o3", "o4", "o6", "o7"])
    );

    for (filter, says) in [
        ("stage = OPEN", "is not a stage"),
        ("health = \"GREAT\"", "is not a health"),
        ("health = AT RISK", "must be one of its values"),
        ("owner_team = growth", "double-quoted"),
        ("level = TEAM", "is not a field"),
        ("stage = DRAFT AND stage = ACTIVE", "two different stages"),
    ] {
        let status = try_list_objectives(&stack, filter, false)
            .await
            .unwrap_err();
        let said = violations(&status);
        assert_eq!(said.len(), 1, "{filter:?}: {said:?}");
        assert_eq!(said[0].0, "filter");
        assert!(said[0].1.contains(says), "{filter:?}: {said:?}");
    }

    stack.stop().await;
}
