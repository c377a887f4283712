//! Tenant settings: read on every status, so each replica keeps them in memory, and reloads a
//! tenant's when the outbox says they changed (on any replica).

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use chrono::Utc;
use devokr_domain::{Decimal, calendar::ScoreBands, health::PaceBands, names::TenantName};
use devokr_platform::{ServiceError, ServiceResult};
use devokr_proto::convert::FieldViolation;

use super::{Actor, ObjectivesApp, TenantSettings, TenantSettingsUpdate};

/// The settings of the tenants this replica has served, by tenant id.
#[derive(Debug, Clone, Default)]
pub(super) struct SettingsCache {
    tenants: Arc<RwLock<HashMap<String, Arc<TenantSettings>>>>,
}

impl SettingsCache {
    fn get(&self, tenant: &str) -> Option<Arc<TenantSettings>> {
        self.tenants
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(tenant)
            .cloned()
    }

    /// Stores freshly loaded settings, unless newer ones are there already (a load that
    /// raced with a change must not bring the old settings back).
    fn put(&self, settings: TenantSettings) -> Arc<TenantSettings> {
        let settings = Arc::new(settings);
        let mut tenants = self
            .tenants
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = tenants
            .entry(settings.tenant.tenant.clone())
            .or_insert_with(|| Arc::clone(&settings));
        if entry.version <= settings.version {
            *entry = Arc::clone(&settings);
        }
        Arc::clone(entry)
    }

    /// Forgets everything, for example after missing changes; settings reload on demand.
    fn clear(&self) {
        self.tenants
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }
}

impl ObjectivesApp {
    /// The settings of tenant `tenant` (an id), from memory or loaded.
    pub(crate) async fn settings(&self, tenant: &str) -> ServiceResult<Arc<TenantSettings>> {
        if let Some(settings) = self.settings.get(tenant) {
            return Ok(settings);
        }
        self.reload_settings(&TenantName {
            tenant: tenant.to_owned(),
        })
        .await
    }

    /// Loads a tenant's settings from the database into memory.
    pub(crate) async fn reload_settings(
        &self,
        tenant: &TenantName,
    ) -> ServiceResult<Arc<TenantSettings>> {
        let stored = self
            .store
            .tenant_settings(tenant)
            .await?
            .unwrap_or_else(|| TenantSettings::defaults(tenant.clone()));
        Ok(self.settings.put(stored))
    }

    /// Forgets every tenant's settings (they reload on demand).
    pub(crate) fn forget_settings(&self) {
        self.settings.clear();
    }

    /// A tenant's settings: the defaults until it changes them.
    pub async fn tenant_settings(&self, tenant: &TenantName) -> ServiceResult<TenantSettings> {
        Ok(TenantSettings::clone(
            &*self.settings(&tenant.tenant).await?,
        ))
    }

    /// Changes the settings `update` sets, if its etag still matches. Watchers of the
    /// tenant's key results hear of every health the new pace bands change.
    pub async fn update_tenant_settings(
        &self,
        update: TenantSettingsUpdate,
        actor: &Actor,
    ) -> ServiceResult<TenantSettings> {
        let tenant = update.tenant.clone();
        let current = self
            .store
            .tenant_settings(&tenant)
            .await?
            .unwrap_or_else(|| TenantSettings::defaults(tenant.clone()));
        let stale = || {
            ServiceError::Aborted(format!(
                "{tenant}/settings changed since they were read; read them again"
            ))
        };
        if update
            .version
            .is_some_and(|expected| expected != current.version)
        {
            return Err(stale());
        }
        let merged = merge(&current, update)?;
        let verdicts = self
            .judge_tenant(&tenant, &current.pace, &merged.pace, Utc::now())
            .await?;
        // The version read above: a change in between makes this one ABORTED, not lost.
        let (stored, published) = self
            .store
            .update_tenant_settings(&merged, current.version, actor, &verdicts)
            .await?
            .ok_or_else(stale)?;
        let stored = self.settings.put(stored);
        for key_result in &published {
            self.loaded(key_result).await?;
        }
        self.feed.notify();
        Ok(TenantSettings::clone(&stored))
    }
}

/// `current` with the values `update` sets, checked together: the at-risk ratio below the
/// on-track one, the yellow score below the green one. The bad field is the one the update
/// set (the on-track ratio, or the green score, when it set both or neither).
fn merge(
    current: &TenantSettings,
    update: TenantSettingsUpdate,
) -> Result<TenantSettings, ServiceError> {
    let on_track = update.on_track_ratio.unwrap_or(current.pace.on_track_ratio);
    let at_risk = update.at_risk_ratio.unwrap_or(current.pace.at_risk_ratio);
    let yellow = update
        .score_yellow_from
        .unwrap_or(current.scores.red_below());
    let green = update
        .score_green_from
        .unwrap_or(current.scores.yellow_below());
    let mut violations = Vec::new();
    let pace = if at_risk < on_track {
        PaceBands::new(on_track, at_risk).ok()
    } else {
        None
    };
    if pace.is_none() {
        violations.push(out_of_order(
            Bound {
                field: "settings.at_risk_ratio",
                called: "at-risk ratio",
                value: at_risk,
                updated: update.at_risk_ratio.is_some(),
            },
            Bound {
                field: "settings.on_track_ratio",
                called: "on-track ratio",
                value: on_track,
                updated: update.on_track_ratio.is_some(),
            },
        ));
    }
    let scores = if yellow < green {
        ScoreBands::new(yellow, green).ok()
    } else {
        None
    };
    if scores.is_none() {
        violations.push(out_of_order(
            Bound {
                field: "settings.score_yellow_from",
                called: "yellow score",
                value: yellow,
                updated: update.score_yellow_from.is_some(),
            },
            Bound {
                field: "settings.score_green_from",
                called: "green score",
                value: green,
                updated: update.score_green_from.is_some(),
            },
        ));
    }
    match (pace, scores) {
        (Some(pace), Some(scores)) => Ok(TenantSettings {
            tenant: current.tenant.clone(),
            time_zone: update.time_zone.unwrap_or(current.time_zone),
            week_start: update.week_start.unwrap_or(current.week_start),
            pace,
            scores,
            version: current.version + 1,
        }),
        _ => Err(ServiceError::InvalidArgument(violations)),
    }
}

/// One of two settings that bound each other, as merged: its field, its name for people,
/// its value, and whether the update set it.
struct Bound {
    field: &'static str,
    called: &'static str,
    value: Decimal,
    updated: bool,
}

/// The violation of `lower` and `upper` out of order: of the lower one when the update set
/// only it, otherwise of the upper one.
fn out_of_order(lower: Bound, upper: Bound) -> FieldViolation {
    if lower.updated && !upper.updated {
        FieldViolation::new(
            lower.field,
            format!(
                "must be below the {}, {}; got {}",
                upper.called, upper.value, lower.value
            ),
        )
    } else {
        FieldViolation::new(
            upper.field,
            format!(
                "must be above the {}, {}; got {}",
                lower.called, lower.value, upper.value
            ),
        )
    }
}
