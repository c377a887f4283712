//! WatchKeyResultStatus: the current statuses of the watched key results, a bookmark, then
//! every change, from the outbox in version order. A client resumes after the last version it
//! saw; one whose version is too old is told so and starts over.
//!
//! A watch is a stream with no task of its own, so ten thousand of them cost little memory.
//! One router follows the change feed and hands each change only to the watches of its key
//! result, objective or cycle, so a change costs what its watchers cost, not what every watch
//! costs. Each change is answered from the status index once the index has applied it, so a
//! watcher never sees a status older than the change it is told about.

use std::{collections::HashSet, pin::Pin, sync::Arc};

use chrono::Utc;
use devokr_domain::names::{CycleName, KeyResultName, ObjectiveName, TenantName};
use devokr_platform::{ServiceError, fanout::Fanout, outbox::Change, request::parse_field};
use devokr_proto::objectives::v1::{self as pb, watch_key_result_status_response::Event};
use futures::{Stream, StreamExt, stream};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::convert;
use crate::{app::ObjectivesApp, store::KeyResultChanged};

/// The response stream of a watch.
pub(super) type StatusStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchKeyResultStatusResponse, Status>> + Send>>;

/// The routes of the changes to the watches.
pub(super) type Watches = Fanout<WatchKey, KeyResultChanged>;

/// What a watch can follow, and what a change is routed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum WatchKey {
    KeyResult(String),
    Objective(String),
    Cycle(String),
}

/// Starts routing the changes of `app`'s feed to watches.
pub(super) fn start_routing(app: &ObjectivesApp) -> Watches {
    Fanout::start(app.feed().clone(), keys_of)
}

/// A change concerns its key result, that key result's objective and its cycle.
fn keys_of(change: &KeyResultChanged) -> Vec<WatchKey> {
    let mut keys = Vec::with_capacity(3);
    if let Some((objective, _)) = change.key_result.split_once("/keyResults/") {
        keys.push(WatchKey::Objective(objective.to_owned()));
    }
    keys.push(WatchKey::KeyResult(change.key_result.clone()));
    keys.push(WatchKey::Cycle(change.cycle.clone()));
    keys
}

/// Which key results a watch follows.
#[derive(Debug, Clone)]
enum Selection {
    KeyResults(HashSet<String>),
    Objective(String),
    Cycle(String),
}

impl Selection {
    fn read(
        request: &pb::WatchKeyResultStatusRequest,
        tenant: &TenantName,
    ) -> Result<Self, ServiceError> {
        let chosen = [
            !request.key_results.is_empty(),
            !request.objective.is_empty(),
            !request.cycle.is_empty(),
        ];
        if chosen.iter().filter(|&&set| set).count() != 1 {
            return Err(ServiceError::invalid(
                "key_results",
                "set exactly one of key_results, objective and cycle",
            ));
        }
        let same_tenant = |field: String, of: &str| {
            if of == tenant.tenant {
                Ok(())
            } else {
                Err(ServiceError::invalid(
                    field,
                    format!("belongs to another tenant than {tenant}"),
                ))
            }
        };
        if !request.objective.is_empty() {
            let objective: ObjectiveName = parse_field("objective", &request.objective)?;
            same_tenant("objective".into(), &objective.tenant)?;
            return Ok(Self::Objective(objective.to_string()));
        }
        if !request.cycle.is_empty() {
            let cycle: CycleName = parse_field("cycle", &request.cycle)?;
            same_tenant("cycle".into(), &cycle.tenant)?;
            return Ok(Self::Cycle(cycle.to_string()));
        }
        let mut names = HashSet::new();
        for (index, name) in request.key_results.iter().enumerate() {
            let field = format!("key_results[{index}]");
            let key_result: KeyResultName = parse_field(&field, name)?;
            same_tenant(field, &key_result.tenant)?;
            names.insert(key_result.to_string());
        }
        Ok(Self::KeyResults(names))
    }

    fn keys(&self) -> Vec<WatchKey> {
        match self {
            Self::KeyResults(names) => names.iter().cloned().map(WatchKey::KeyResult).collect(),
            Self::Objective(objective) => vec![WatchKey::Objective(objective.clone())],
            Self::Cycle(cycle) => vec![WatchKey::Cycle(cycle.clone())],
        }
    }
}

/// Starts a watch.
pub(super) async fn watch(
    app: &ObjectivesApp,
    watches: &Watches,
    request: pb::WatchKeyResultStatusRequest,
    shutdown: &CancellationToken,
) -> Result<StatusStream, Status> {
    let tenant: TenantName = parse_field("parent", &request.parent).map_err(ServiceError::from)?;
    let selection = Selection::read(&request, &tenant)?;
    if request.resume_version < 0 {
        return Err(ServiceError::invalid("resume_version", "must not be negative").into());
    }
    let resume = (request.resume_version > 0).then_some(request.resume_version);
    if let Some(version) = resume
        && version > app.feed().version()
    {
        return Err(ServiceError::invalid(
            "resume_version",
            format!(
                "{version} is ahead of the newest version, {}; resume from a version this service sent",
                app.feed().version()
            ),
        )
        .into());
    }

    // Subscribe first, then read the current statuses: a change in between is sent twice
    // rather than lost.
    let changes = watches
        .subscribe(selection.keys(), resume)
        .await
        .map_err(ServiceError::from)?;
    let start = changes.start();
    // Read also when resuming, which sends no snapshot: a missing objective or cycle is
    // NOT_FOUND either way.
    let watched = watched_key_results(app, &selection).await?;
    let snapshot = match resume {
        Some(_) => Vec::new(),
        None => snapshot(app, watched).await?,
    };
    let initial = stream::iter(
        snapshot
            .into_iter()
            .map(Ok)
            .chain(resume.is_none().then(|| {
                Ok(pb::WatchKeyResultStatusResponse {
                    event: Some(Event::Bookmark(pb::Bookmark { version: start })),
                    version: start,
                })
            })),
    );

    let app = app.clone();
    let live = changes.then(move |change| {
        let app = app.clone();
        async move {
            match change {
                Ok(change) => answer(&app, &change).await,
                Err(error) => Err(Status::from(ServiceError::from(error))),
            }
        }
    });
    // Once the server shuts down the stream ends with UNAVAILABLE, so the client reconnects
    // (to another replica) and resumes; graceful shutdown is never held up by a watch.
    let ended = shutdown.clone().cancelled_owned();
    let stream = initial
        .chain(live.take_until(ended))
        .chain(stream::once(async {
            Err(Status::from(ServiceError::ShuttingDown))
        }));
    Ok(Box::pin(stream))
}

/// The key results a selection holds now.
async fn watched_key_results(
    app: &ObjectivesApp,
    selection: &Selection,
) -> Result<Vec<KeyResultName>, Status> {
    Ok(match selection {
        Selection::KeyResults(names) => names
            .iter()
            .map(|name| parse_field("key_results", name).map_err(ServiceError::from))
            .collect::<Result<_, _>>()?,
        Selection::Objective(objective) => {
            app.key_result_names_of_objective(
                &parse_field("objective", objective).map_err(ServiceError::from)?,
            )
            .await?
        }
        Selection::Cycle(cycle) => {
            app.key_result_names_of_cycle(&parse_field("cycle", cycle).map_err(ServiceError::from)?)
                .await?
        }
    })
}

/// The current status of each of `names`.
async fn snapshot(
    app: &ObjectivesApp,
    names: Vec<KeyResultName>,
) -> Result<Vec<pb::WatchKeyResultStatusResponse>, Status> {
    let now = Utc::now();
    let mut statuses = Vec::with_capacity(names.len());
    for name in names {
        let status = app.key_result_status(&name, Some(now), None).await?;
        statuses.push(pb::WatchKeyResultStatusResponse {
            version: status.version,
            event: Some(Event::Status(convert::key_result_status(status))),
        });
    }
    Ok(statuses)
}

/// The message for one change: the key result's status once the index has applied it.
async fn answer(
    app: &ObjectivesApp,
    change: &Arc<Change<KeyResultChanged>>,
) -> Result<pb::WatchKeyResultStatusResponse, Status> {
    let event = if change.payload.removed {
        Event::RemovedKeyResult(change.payload.key_result.clone())
    } else {
        app.index().wait_applied(change.version).await;
        let name: KeyResultName =
            parse_field("key_result", &change.payload.key_result).map_err(ServiceError::from)?;
        // Level-triggered, as Kubernetes watches are: the key result's status now, which
        // includes this change (and any later one, whose message then repeats it).
        Event::Status(convert::key_result_status(
            app.key_result_status(&name, None, None).await?,
        ))
    };
    Ok(pb::WatchKeyResultStatusResponse {
        event: Some(event),
        version: change.version,
    })
}
