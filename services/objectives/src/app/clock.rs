//! Health that changes with the clock: as time passes a key result's health moves on with no
//! new value (on track → at risk as the expected pace rises; missed once the cycle ends), and
//! new pace bands judge it again. Watchers hear of it as of any change: the status is
//! published through the outbox, in a transaction that first checks that the key result is
//! still at the version judged, so with several replicas one of them publishes it.

use chrono::{DateTime, Utc};
use devokr_domain::{health::PaceBands, names::TenantName};
use devokr_platform::ServiceResult;

use super::ObjectivesApp;
use crate::store::{HealthVerdict, PublishedHealth};

/// Most statuses published in one transaction.
const BATCH: usize = 200;

impl ObjectivesApp {
    /// The health watchers were told of `published` (judged with `told_pace` when it was not
    /// recorded) and its health at `now` with `now_pace`. `None` while a change of the key
    /// result is on its way: that change tells watchers its status.
    async fn judge(
        &self,
        published: &PublishedHealth,
        told_pace: &PaceBands,
        now_pace: &PaceBands,
        now: DateTime<Utc>,
    ) -> ServiceResult<Option<HealthVerdict>> {
        let mut state = self.state(&published.name).await?;
        if state.version < published.version {
            match self.reload(&published.name).await? {
                Some(reloaded) => state = reloaded,
                None => return Ok(None),
            }
        }
        if state.version != published.version {
            return Ok(None);
        }
        let told = match published.health {
            Some(health) => health,
            None => state.current_assessment(published.time, told_pace).health,
        };
        Ok(Some(HealthVerdict {
            name: published.name.clone(),
            version: published.version,
            told,
            now: state.current_assessment(now, now_pace).health,
        }))
    }

    /// What replacing a tenant's `old` pace bands by `new` ones does at `now`: the key
    /// results whose health changes, and those whose told health is recorded now, as judged
    /// with the bands it was told with.
    pub(crate) async fn judge_tenant(
        &self,
        tenant: &TenantName,
        old: &PaceBands,
        new: &PaceBands,
        now: DateTime<Utc>,
    ) -> ServiceResult<Vec<HealthVerdict>> {
        let mut verdicts = Vec::new();
        for published in self.store.published_health(Some(tenant)).await? {
            if let Some(verdict) = self.judge(&published, old, new, now).await?
                && (verdict.changed() || published.health.is_none())
            {
                verdicts.push(verdict);
            }
        }
        Ok(verdicts)
    }

    /// Publishes the status of every key result whose health changed with the clock since
    /// watchers were last told, in batches; returns how many were published.
    pub(crate) async fn rejudge(&self) -> ServiceResult<usize> {
        let now = Utc::now();
        let mut changed = Vec::new();
        for published in self.store.published_health(None).await? {
            let pace = self.settings(&published.name.tenant).await?.pace;
            if let Some(verdict) = self.judge(&published, &pace, &pace, now).await?
                && verdict.changed()
            {
                changed.push(verdict);
            }
        }
        let mut count = 0;
        for batch in changed.chunks(BATCH) {
            let published = self.store.publish_health(batch).await?;
            count += published.len();
            for key_result in &published {
                self.loaded(key_result).await?;
            }
        }
        Ok(count)
    }
}
