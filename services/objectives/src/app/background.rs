//! What the objectives service does on its own: keep the status index and the tenant
//! settings in step with the outbox, keep metric-bound key results in step with the metrics
//! service, and tell watchers of health that changed with the clock.

use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use devokr_domain::names::TenantName;
use devokr_platform::{ServiceResult, server::Migrated};

use super::{ObjectivesApp, settings_tenant};
use crate::store::BoundKeyResult;

/// How often every metric-bound key result is re-read, so a missed change heals.
const RESYNC_INTERVAL: Duration = Duration::from_secs(300);

/// Starts the background tasks once the schema is migrated; they stop when `shutdown` fires.
/// Health is judged again every `rejudge_interval`.
pub fn spawn_background(
    app: &ObjectivesApp,
    shutdown: &CancellationToken,
    migrated: Migrated,
    rejudge_interval: Duration,
) {
    let (app, shutdown) = (app.clone(), shutdown.clone());
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = migrated.wait() => {}
        }
        tokio::spawn(follow_outbox(app.clone(), shutdown.clone()));
        tokio::spawn(rejudge_health(
            app.clone(),
            shutdown.clone(),
            rejudge_interval,
        ));
        tokio::spawn(resync_metrics(app.clone(), shutdown.clone()));
        tokio::spawn(watch_metrics_availability(app.clone(), shutdown.clone()));
        tokio::spawn(follow_metric_changes(app, shutdown));
    });
}

/// Re-reads a tenant's metric-bound key results whenever the metrics service reports new data
/// for it. Resumes after the last change seen; a version too old to resume from means
/// changes were missed, so every bound key result is re-read.
async fn follow_metric_changes(app: ObjectivesApp, shutdown: CancellationToken) {
    let mut resume_version = 0;
    loop {
        let watched = tokio::select! {
            () = shutdown.cancelled() => return,
            watched = app.metrics.watch_changes(resume_version) => watched,
        };
        let mut changes = match watched {
            Ok(changes) => changes,
            Err(error) => {
                tracing::debug!(%error, "cannot watch the metrics service's changes yet");
                if sleep_or_shutdown(Duration::from_secs(1), &shutdown).await {
                    return;
                }
                continue;
            }
        };
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                next = changes.message() => next,
            };
            match next {
                Ok(Some(change)) => {
                    resume_version = change.version;
                    if change.heartbeat {
                        continue;
                    }
                    match change.tenant.parse::<TenantName>() {
                        Ok(tenant) => {
                            for_each_bound(&app, Some(&tenant), &shutdown, refresh).await;
                        }
                        Err(error) => tracing::warn!(%error, "a metric change names no tenant"),
                    }
                }
                Ok(None) => break,
                Err(status) => {
                    if status.code() == tonic::Code::OutOfRange {
                        resume_version = 0;
                        for_each_bound(&app, None, &shutdown, refresh).await;
                    }
                    break;
                }
            }
        }
    }
}

/// How often the metrics service's health is checked.
const AVAILABILITY_INTERVAL: Duration = Duration::from_secs(1);

/// Marks every metric-bound key result stale, with the reason, as soon as the metrics service
/// stops answering, and re-reads them all when it answers again.
async fn watch_metrics_availability(app: ObjectivesApp, shutdown: CancellationToken) {
    let mut reachable = true;
    loop {
        if sleep_or_shutdown(AVAILABILITY_INTERVAL, &shutdown).await {
            return;
        }
        let answer = app.metrics.check_serving().await;
        match (reachable, answer) {
            (true, Err(error)) => {
                tracing::warn!(%error, "the metrics service is unreachable: bound key results are stale");
                reachable = false;
                let problem = format!("metric could not be read: {error}");
                for_each_bound(&app, None, &shutdown, |app, key_result| {
                    let problem = problem.clone();
                    async move {
                        if app
                            .store
                            .record_metric_problem(&key_result.name, &problem)
                            .await?
                        {
                            app.changed(&key_result.name).await?;
                        }
                        Ok(())
                    }
                })
                .await;
            }
            (false, Ok(())) => {
                tracing::info!("the metrics service answers again: re-reading bound key results");
                reachable = true;
                for_each_bound(&app, None, &shutdown, refresh).await;
            }
            (true, Ok(())) | (false, Err(_)) => {}
        }
    }
}

/// Re-reads one bound key result.
async fn refresh(app: ObjectivesApp, key_result: BoundKeyResult) -> ServiceResult<()> {
    app.refresh(&key_result).await
}

/// Runs `action` on every metric-bound key result (of `tenant`, or of all), logging
/// failures, until shutdown.
async fn for_each_bound<F, Fut>(
    app: &ObjectivesApp,
    tenant: Option<&TenantName>,
    shutdown: &CancellationToken,
    action: F,
) where
    F: Fn(ObjectivesApp, BoundKeyResult) -> Fut,
    Fut: std::future::Future<Output = ServiceResult<()>>,
{
    let bound = match app.store.bound_key_results(tenant).await {
        Ok(bound) => bound,
        Err(error) => {
            tracing::warn!(%error, "cannot list the metric-bound key results");
            return;
        }
    };
    for key_result in bound {
        if shutdown.is_cancelled() {
            return;
        }
        let name = key_result.name.clone();
        if let Err(error) = action(app.clone(), key_result).await {
            tracing::warn!(%error, key_result = %name, "cannot update a bound key result");
        }
    }
}

/// Applies every change of the outbox to the index, in version order, so reads and watchers
/// on this replica see changes made on any replica.
async fn follow_outbox(app: ObjectivesApp, shutdown: CancellationToken) {
    loop {
        let subscribed = tokio::select! {
            () = shutdown.cancelled() => return,
            subscribed = app.feed().subscribe(None) => subscribed,
        };
        let changes = match subscribed {
            Ok(changes) => changes,
            Err(error) => {
                tracing::warn!(%error, "cannot follow the outbox yet");
                if sleep_or_shutdown(Duration::from_secs(1), &shutdown).await {
                    return;
                }
                continue;
            }
        };
        // Changes made before this subscription are loaded on demand, fresh: the index
        // and the settings start over, and count everything up to here as applied.
        app.index().clear();
        app.forget_settings();
        app.index().applied(changes.position());
        let mut changes = std::pin::pin!(changes);
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                next = changes.next() => next,
            };
            match next {
                Some(Ok(change)) if !change.payload.tenant_settings.is_empty() => {
                    match settings_tenant(&change.payload.tenant_settings) {
                        Ok(tenant) => {
                            if let Err(error) = app.reload_settings(&tenant).await {
                                tracing::warn!(%error, %tenant, "cannot reload changed settings");
                                app.forget_settings();
                            }
                        }
                        Err(error) => {
                            tracing::error!(%error, "the outbox names no tenant settings")
                        }
                    }
                    app.index().applied(change.version);
                }
                Some(Ok(change)) => {
                    match change.payload.key_result.parse() {
                        Ok(name) => {
                            // The replica that made the change has loaded it already.
                            let loaded = app
                                .index()
                                .get(&change.payload.key_result)
                                .is_some_and(|state| state.version >= change.version);
                            if loaded {
                                app.index().applied(change.version);
                                continue;
                            }
                            if let Err(error) = app.reload(&name).await {
                                tracing::warn!(%error, key_result = %name, "cannot reload a changed key result");
                                app.index().remove(&name);
                            }
                        }
                        Err(error) => tracing::error!(%error, "the outbox names no key result"),
                    }
                    app.index().applied(change.version);
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "lost the outbox; starting over");
                    break;
                }
                None => return,
            }
        }
    }
}

/// Publishes, every `interval`, the statuses whose health changed with the clock alone.
async fn rejudge_health(app: ObjectivesApp, shutdown: CancellationToken, interval: Duration) {
    loop {
        if sleep_or_shutdown(interval, &shutdown).await {
            return;
        }
        match app.rejudge().await {
            Ok(0) => {}
            Ok(published) => tracing::debug!(published, "health changed with the clock"),
            Err(error) => tracing::warn!(%error, "cannot judge health again"),
        }
    }
}

/// Re-reads every metric-bound key result at start and now and then.
async fn resync_metrics(app: ObjectivesApp, shutdown: CancellationToken) {
    // At start too: data may have changed while no replica was watching.
    loop {
        for_each_bound(&app, None, &shutdown, refresh).await;
        if sleep_or_shutdown(RESYNC_INTERVAL, &shutdown).await {
            return;
        }
    }
}

/// Sleeps; true when shutdown came first.
async fn sleep_or_shutdown(duration: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(duration) => false,
    }
}
