//! The stream of `WatchMetricChanges`: the change feed's changes for one tenant (or all), a
//! heartbeat at the start and after every 10 s without a change, and UNAVAILABLE when the
//! server shuts down, so that a watch never holds up a graceful shutdown.

use std::{pin::Pin, sync::Arc};

use chrono::Utc;
use devokr_domain::names::TenantName;
use devokr_platform::{
    ServiceError,
    outbox::{Change, Subscription},
};
use devokr_proto::{convert::timestamp, metrics::v1 as pb};
use futures::{Stream, StreamExt};
use tokio::time::{Duration, Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::store::MetricsChange;

/// How long a watch stays silent before it sends a heartbeat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);

/// The response stream of `WatchMetricChanges`.
pub type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchMetricChangesResponse, Status>> + Send + 'static>>;

/// What a watch holds between messages.
struct Watch {
    changes: Subscription<MetricsChange>,
    /// The tenant id watched; `None` for every tenant.
    tenant: Option<String>,
    shutdown: CancellationToken,
    heartbeat: Pin<Box<Sleep>>,
    started: bool,
    ended: bool,
}

/// The messages of a watch of `tenant` (or every tenant) that follows `changes`.
pub(super) fn stream(
    changes: Subscription<MetricsChange>,
    tenant: Option<String>,
    shutdown: CancellationToken,
) -> WatchStream {
    let watch = Watch {
        changes,
        tenant,
        shutdown,
        heartbeat: Box::pin(tokio::time::sleep(HEARTBEAT_INTERVAL)),
        started: false,
        ended: false,
    };
    futures::stream::unfold(watch, |mut watch| async move {
        let message = watch.next_message().await?;
        Some((message, watch))
    })
    .boxed()
}

impl Watch {
    async fn next_message(&mut self) -> Option<Result<pb::WatchMetricChangesResponse, Status>> {
        if self.ended {
            return None;
        }
        if !self.started {
            // Tells the client the version it starts after, before any change.
            self.started = true;
            return Some(Ok(self.heartbeat_message()));
        }
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return self.end(ServiceError::ShuttingDown),
                item = self.changes.next() => match item {
                    // The feed stops only when the service shuts down.
                    None => return self.end(ServiceError::ShuttingDown),
                    Some(Err(error)) => return self.end(ServiceError::from(error)),
                    Some(Ok(change)) => {
                        if self.tenant.as_ref().is_some_and(|tenant| *tenant != change.tenant) {
                            continue;
                        }
                        self.heartbeat.as_mut().reset(Instant::now() + HEARTBEAT_INTERVAL);
                        return Some(Ok(change_message(&change)));
                    }
                },
                () = self.heartbeat.as_mut() => return Some(Ok(self.heartbeat_message())),
            }
        }
    }

    fn heartbeat_message(&mut self) -> pb::WatchMetricChangesResponse {
        self.heartbeat
            .as_mut()
            .reset(Instant::now() + HEARTBEAT_INTERVAL);
        pb::WatchMetricChangesResponse {
            version: self.changes.position(),
            change_time: Some(timestamp(Utc::now())),
            heartbeat: true,
            ..Default::default()
        }
    }

    fn end(
        &mut self,
        error: ServiceError,
    ) -> Option<Result<pb::WatchMetricChangesResponse, Status>> {
        self.ended = true;
        Some(Err(error.into()))
    }
}

fn change_message(change: &Arc<Change<MetricsChange>>) -> pb::WatchMetricChangesResponse {
    let tenant = TenantName {
        tenant: change.tenant.clone(),
    };
    pb::WatchMetricChangesResponse {
        version: change.version,
        created_metrics: change
            .payload
            .created_metrics
            .iter()
            .map(|metric| tenant.metric(metric.as_str()).to_string())
            .collect(),
        tenant: tenant.to_string(),
        event_names: change.payload.event_names.clone(),
        change_time: change.payload.change_time,
        heartbeat: false,
    }
}
