//! The data set, created through the objectives API as a client would: tenant `bench`, one
//! cycle covering now (the current quarter in UTC), objectives with key results that take
//! check-ins (no metric binding), and a history of check-ins on each key result, with values
//! on varied paces between baseline and target so the statuses span every health.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use devokr_proto::{
    common::v1::Decimal,
    convert::{instant, timestamp},
    objectives::v1::{self as pb, objectives_service_client::ObjectivesServiceClient},
};
use futures::{StreamExt, stream};
use tonic::transport::Channel;

/// The tenant everything is created in.
pub(crate) const TENANT: &str = "tenants/bench";
/// Calls in flight while seeding: enough to keep the service and PostgreSQL busy on two
/// cores, few enough not to queue on the service's database pool.
const IN_FLIGHT: usize = 32;
/// Pace of each key result as a share of the cycle's expected pace, in percent, cycling:
/// off track, at risk, on track, on track, ahead.
const PACES: [i64; 5] = [40, 70, 95, 100, 120];

/// How much to create.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) objectives: usize,
    pub(crate) key_results_per_objective: usize,
    pub(crate) check_ins_per_key_result: usize,
}

/// What was created.
#[derive(Debug)]
pub(crate) struct Seeded {
    pub(crate) shape: Shape,
    /// The names of the key results, in creation order.
    pub(crate) key_results: Vec<String>,
    pub(crate) elapsed: Duration,
}

impl Seeded {
    pub(crate) fn check_ins(&self) -> usize {
        self.key_results.len() * self.shape.check_ins_per_key_result
    }
}

/// Creates the data set over `channels`, `IN_FLIGHT` calls at a time.
pub(crate) async fn seed(channels: &[Channel], shape: &Shape) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let client =
        |index: usize| ObjectivesServiceClient::new(channels[index % channels.len()].clone());
    let now = Utc::now();
    let cycle = create_cycle(client(0), now).await?;
    let cycle_start = instant("start_time", cycle.start_time.as_ref())?;
    eprintln!(
        "seeding tenant {TENANT}: cycle {} ({}), {} objectives, {} key results, {} check-ins each",
        cycle.name,
        cycle.display_name,
        shape.objectives,
        shape.objectives * shape.key_results_per_objective,
        shape.check_ins_per_key_result
    );

    let objectives: Vec<String> = stream::iter(0..shape.objectives)
        .map(|index| create_objective(client(index), &cycle.name, index))
        .buffered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    eprintln!(
        "  {} objectives after {:.1} s",
        objectives.len(),
        started.elapsed().as_secs_f64()
    );

    let history = History {
        cycle_start,
        now,
        cycle_length: instant("end_time", cycle.end_time.as_ref())? - cycle_start,
        check_ins: shape.check_ins_per_key_result,
    };
    let total = shape.objectives * shape.key_results_per_objective;
    let mut created = stream::iter(0..total)
        .map(|index| {
            let objective = &objectives[index / shape.key_results_per_objective];
            create_key_result_with_history(client(index), objective, index, &history)
        })
        .buffered(IN_FLIGHT);
    let mut key_results = Vec::with_capacity(total);
    while let Some(name) = created.next().await {
        key_results.push(name?);
        if key_results.len() % 1_000 == 0 {
            eprintln!(
                "  {} key results with their check-ins after {:.1} s",
                key_results.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    let elapsed = started.elapsed();
    eprintln!("seeded in {:.1} s", elapsed.as_secs_f64());
    Ok(Seeded {
        shape: *shape,
        key_results,
        elapsed,
    })
}

/// The quarter of `now`, in UTC: now is inside it, so check-ins measured now are accepted.
async fn create_cycle(
    mut client: ObjectivesServiceClient<Channel>,
    now: DateTime<Utc>,
) -> anyhow::Result<pb::Cycle> {
    let quarter = now.month0() / 3;
    let start = NaiveDate::from_ymd_opt(now.year(), quarter * 3 + 1, 1).context("quarter start")?;
    let end = start
        .checked_add_months(chrono::Months::new(3))
        .and_then(|next| next.pred_opt())
        .context("quarter end")?;
    let cycle = client
        .create_cycle(pb::CreateCycleRequest {
            parent: TENANT.to_owned(),
            // The server picks the id, so runs against a reused database do not collide.
            cycle_id: String::new(),
            cycle: Some(pb::Cycle {
                display_name: format!("{}-Q{}", now.year(), quarter + 1),
                start_date: Some(start.into()),
                end_date: Some(end.into()),
                time_zone: "UTC".to_owned(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .context("CreateCycle")?;
    Ok(cycle.into_inner())
}

async fn create_objective(
    mut client: ObjectivesServiceClient<Channel>,
    cycle: &str,
    index: usize,
) -> anyhow::Result<String> {
    let objective = client
        .create_objective(pb::CreateObjectiveRequest {
            parent: TENANT.to_owned(),
            objective_id: String::new(),
            objective: Some(pb::Objective {
                display_name: format!("Objective {index}: customers reach value faster"),
                description: "Seeded by devokr-bench.".to_owned(),
                cycle: cycle.to_owned(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .with_context(|| format!("CreateObjective {index}"))?;
    Ok(objective.into_inner().name)
}

/// Where check-ins fall: spread evenly over the part of the cycle that has passed.
struct History {
    cycle_start: DateTime<Utc>,
    now: DateTime<Utc>,
    cycle_length: chrono::TimeDelta,
    check_ins: usize,
}

/// Baseline and target of key result `index`, in tenths: three in four increase, one in
/// four decrease; each moves by a different amount.
fn baseline_and_target(index: usize) -> (i64, i64) {
    let spread = (index % 50) as i64;
    if index % 4 == 3 {
        let baseline = 500 + spread * 10;
        (baseline, baseline - 150 - (index % 5) as i64 * 20)
    } else {
        let baseline = 200 + spread * 10;
        (baseline, baseline + 100 + (index % 7) as i64 * 50)
    }
}

/// Creates key result `index` under `objective` and records its history, one check-in
/// after the other; returns its name.
async fn create_key_result_with_history(
    mut client: ObjectivesServiceClient<Channel>,
    objective: &str,
    index: usize,
    history: &History,
) -> anyhow::Result<String> {
    let (baseline, target) = baseline_and_target(index);
    let unit = if index.is_multiple_of(2) {
        pb::Unit::Percent
    } else {
        pb::Unit::Number
    };
    let key_result = client
        .create_key_result(pb::CreateKeyResultRequest {
            parent: objective.to_owned(),
            key_result_id: String::new(),
            key_result: Some(pb::KeyResult {
                display_name: format!("Key result {index}: activation rate"),
                baseline: Some(decimal(baseline)),
                target: Some(decimal(target)),
                unit: unit.into(),
                // No metric binding: the key result takes check-ins.
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .with_context(|| format!("CreateKeyResult {index}"))?
        .into_inner();

    let pace = PACES[index % PACES.len()];
    let elapsed = history.now - history.cycle_start;
    let cycle_ms = history.cycle_length.num_milliseconds().max(1);
    for check_in in 0..history.check_ins {
        let measured = history.cycle_start
            + elapsed * i32::try_from(check_in + 1)? / i32::try_from(history.check_ins + 1)?;
        // The value the key result's pace gives at that instant, in whole tenths.
        let since_start_ms = (measured - history.cycle_start).num_milliseconds();
        let value = baseline + (target - baseline) * pace * since_start_ms / (100 * cycle_ms);
        let confidence = (check_in.is_multiple_of(2)).then(|| Decimal {
            value: if index.is_multiple_of(3) {
                "0.6"
            } else {
                "0.8"
            }
            .to_owned(),
        });
        client
            .create_check_in(pb::CreateCheckInRequest {
                parent: key_result.name.clone(),
                check_in: Some(pb::CheckIn {
                    value: Some(decimal(value)),
                    measure_time: Some(timestamp(measured)),
                    comment: "weekly update".to_owned(),
                    confidence,
                    idempotency_key: format!("seed-{check_in}"),
                    ..Default::default()
                }),
                allow_late: false,
            })
            .await
            .with_context(|| format!("CreateCheckIn {check_in} on {}", key_result.name))?;
    }
    Ok(key_result.name)
}

/// A decimal from a whole number of tenths, for example -15 → "-1.5".
fn decimal(tenths: i64) -> Decimal {
    let sign = if tenths < 0 { "-" } else { "" };
    let magnitude = tenths.unsigned_abs();
    Decimal {
        value: format!("{sign}{}.{}", magnitude / 10, magnitude % 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenths_print_as_decimals() {
        assert_eq!(decimal(0).value, "0.0");
        assert_eq!(decimal(15).value, "1.5");
        assert_eq!(decimal(-15).value, "-1.5");
        assert_eq!(decimal(-5).value, "-0.5");
    }

    #[test]
    fn key_results_move_one_way_or_the_other() {
        for index in 0..200 {
            let (baseline, target) = baseline_and_target(index);
            assert_ne!(baseline, target);
            assert_eq!(target < baseline, index % 4 == 3, "{index}");
        }
    }
}
