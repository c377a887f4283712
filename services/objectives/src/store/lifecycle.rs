//! Cycle states and closing scores, learnings, and reading the audit log.

use devokr_domain::{
    Decimal,
    calendar::{CycleState, ScoreBand},
    names::{CycleName, KeyResultName, TenantName},
};
use devokr_platform::{
    ServiceError, ServiceResult,
    db::{check_retry, classify},
};
use serde_json::json;
use sqlx::{Row, postgres::PgRow};

use super::{
    ObjectivesStore,
    check_ins::{audit, publish},
    cycle_from_row,
};
use crate::app::{Actor, AuditEvent, Cycle, HypothesisOutcome, Learning, NewLearning};

/// A key result's closing score and its colour in the tenant's bands, with the reason when a
/// person set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosingScore {
    pub key_result: KeyResultName,
    pub score: Option<Decimal>,
    pub band: Option<ScoreBand>,
    pub override_reason: String,
}

impl ObjectivesStore {
    /// Moves a cycle from `from` to `to` if its version is still `version` (any when
    /// `None`); scores its key results when given; audits and publishes, in one transaction.
    pub async fn change_cycle_state(
        &self,
        name: &CycleName,
        version: Option<i64>,
        from: CycleState,
        to: CycleState,
        scores: &[ClosingScore],
        actor: &Actor,
    ) -> ServiceResult<Cycle> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let updated = sqlx::query(select_cycle_returning!(
            "update objectives.cycle set state = $3, version = version + 1
             where tenant = $1 and cycle_id = $2 and state = $4
               and ($5::bigint is null or version = $5)"
        ))
        .bind(&name.tenant)
        .bind(&name.cycle)
        .bind(to.label())
        .bind(from.label())
        .bind(version)
        .fetch_optional(&mut *transaction)
        .await
        .map_err(classify)?;
        let Some(row) = updated else {
            return Err(ServiceError::Aborted(format!(
                "cycle {name} changed since it was read (its etag or state differs); read it again"
            )));
        };
        for score in scores {
            sqlx::query(
                "update objectives.key_result set score = $4, score_override_reason = $5,
                     version = version + 1
                 where tenant = $1 and objective_id = $2 and key_result_id = $3",
            )
            .bind(&score.key_result.tenant)
            .bind(&score.key_result.objective)
            .bind(&score.key_result.key_result)
            .bind(score.score)
            .bind(&score.override_reason)
            .execute(&mut *transaction)
            .await
            .map_err(classify)?;
            publish(&mut transaction, &score.key_result, false).await?;
        }
        audit(
            &mut transaction,
            actor,
            &name.tenant(),
            match to {
                CycleState::Active => "ActivateCycle",
                CycleState::Closed => "CloseCycle",
                CycleState::Planning => "ReopenCycle",
            },
            &name.to_string(),
            json!({
                "from": from.label(),
                "to": to.label(),
                "scores": scores.iter().map(|score| json!({
                    "keyResult": score.key_result.to_string(),
                    "score": score.score.map(|value| value.to_string()),
                    "band": score.band.map(band_text),
                    "overrideReason": score.override_reason,
                })).collect::<Vec<_>>(),
            }),
        )
        .await?;
        transaction.commit().await.map_err(classify)?;
        cycle_from_row(&row, "")
    }

    /// Records a learning; with a request id already used, returns the one it created.
    pub async fn insert_learning(
        &self,
        tenant: &TenantName,
        new: &NewLearning,
        actor: &Actor,
    ) -> ServiceResult<Learning> {
        let mut transaction = self.pool.begin().await.map_err(classify)?;
        let inserted = sqlx::query(
            "insert into objectives.learning
                 (tenant, subject, text, hypothesis, author, request_id, request_digest)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (tenant, request_id) do nothing
             returning learning_id, subject, text, hypothesis, author, create_time",
        )
        .bind(&tenant.tenant)
        .bind(&new.subject)
        .bind(&new.text)
        .bind(hypothesis_text(new.hypothesis))
        .bind(&new.author)
        .bind(new.request_id.map(|request| request.id))
        .bind(new.request_id.map(|request| request.digest.to_vec()))
        .fetch_optional(&mut *transaction)
        .await
        .map_err(classify)?;
        let Some(row) = inserted else {
            // Only a request id used before keeps a new row out.
            drop(transaction);
            if let Some(request) = &new.request_id {
                check_retry(&self.pool, "objectives.learning", &tenant.tenant, request).await?;
            }
            let row = sqlx::query(
                "select learning_id, subject, text, hypothesis, author, create_time
                 from objectives.learning where tenant = $1 and request_id = $2",
            )
            .bind(&tenant.tenant)
            .bind(new.request_id.map(|request| request.id))
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
            return learning_from_row(&row);
        };
        let learning = learning_from_row(&row)?;
        audit(
            &mut transaction,
            actor,
            tenant,
            "CreateLearning",
            &format!("{}/learnings/{}", learning.subject, learning.id),
            json!({ "text": learning.text, "hypothesis": hypothesis_text(learning.hypothesis) }),
        )
        .await?;
        transaction.commit().await.map_err(classify)?;
        Ok(learning)
    }

    /// Learnings about `subject` after `after`, at most `limit`.
    pub async fn learnings(
        &self,
        tenant: &TenantName,
        subject: &str,
        after: i64,
        limit: i64,
    ) -> ServiceResult<Vec<Learning>> {
        sqlx::query(
            "select learning_id, subject, text, hypothesis, author, create_time
             from objectives.learning
             where tenant = $1 and subject = $2 and learning_id > $3
             order by learning_id limit $4",
        )
        .bind(&tenant.tenant)
        .bind(subject)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .iter()
        .map(learning_from_row)
        .collect()
    }

    /// Audit events of a tenant about `resource` and what is under it (all when empty).
    pub async fn audit_events(
        &self,
        tenant: &TenantName,
        resource: &str,
        after: i64,
        limit: i64,
    ) -> ServiceResult<Vec<AuditEvent>> {
        sqlx::query(
            "select sequence, time, actor, request_id, action, resource, change::text as change
             from objectives.audit_event
             where tenant = $1 and sequence > $2
               and ($3 = '' or resource = $3 or resource like $5)
             order by sequence limit $4",
        )
        .bind(&tenant.tenant)
        .bind(after)
        .bind(resource)
        .bind(limit)
        .bind(format!("{}/%", like_literal(resource)))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .iter()
        .map(|row| {
            super::read(|| {
                Ok(AuditEvent {
                    sequence: row.try_get("sequence")?,
                    time: row.try_get("time")?,
                    actor: row.try_get("actor")?,
                    request_id: row.try_get("request_id")?,
                    action: row.try_get("action")?,
                    resource: row.try_get("resource")?,
                    change: row.try_get("change")?,
                })
            })
        })
        .collect()
    }
}

fn band_text(band: ScoreBand) -> &'static str {
    match band {
        ScoreBand::Red => "red",
        ScoreBand::Yellow => "yellow",
        ScoreBand::Green => "green",
    }
}

fn hypothesis_text(outcome: HypothesisOutcome) -> &'static str {
    match outcome {
        HypothesisOutcome::Unspecified => "unspecified",
        HypothesisOutcome::Held => "held",
        HypothesisOutcome::Rejected => "rejected",
        HypothesisOutcome::Inconclusive => "inconclusive",
    }
}

fn learning_from_row(row: &PgRow) -> ServiceResult<Learning> {
    super::read(|| {
        let hypothesis = match row.try_get::<&str, _>("hypothesis")? {
            "unspecified" => HypothesisOutcome::Unspecified,
            "held" => HypothesisOutcome::Held,
            "rejected" => HypothesisOutcome::Rejected,
            "inconclusive" => HypothesisOutcome::Inconclusive,
            other => anyhow::bail!("unknown hypothesis outcome {other:?}"),
        };
        Ok(Learning {
            subject: row.try_get("subject")?,
            id: row.try_get("learning_id")?,
            text: row.try_get("text")?,
            hypothesis,
            author: row.try_get("author")?,
            create_time: row.try_get("create_time")?,
        })
    })
}

/// `text` as a LIKE pattern that matches just itself: ids may hold `_`, which LIKE would
/// otherwise read as any character.
fn like_literal(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern
}
