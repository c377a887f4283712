//! Watch fan-out: many concurrent `WatchKeyResultStatus` streams, the server's memory per
//! stream, and how long a change takes to reach every stream that watches it.
//!
//! Stream `s` watches key result `s mod n`, so with 10,000 streams over 5,000 key results each
//! key result has two watchers. Once every stream has its bookmark (the current status has
//! been sent, changes follow), check-ins are recorded on distinct key results at a steady
//! pace, and every watcher of a changed key result must receive exactly one status change.

use std::{
    collections::HashSet,
    convert::Infallible,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use devokr_proto::{
    common::v1::Decimal,
    objectives::v1::{
        self as pb, objectives_service_client::ObjectivesServiceClient,
        watch_key_result_status_response::Event,
    },
};
use hdrhistogram::Histogram;
use tokio::{
    sync::{Semaphore, mpsc},
    task::JoinSet,
};
use tonic::{Status, transport::Channel};

use crate::{
    load::{connect, histogram, record},
    seed::TENANT,
    stack::{CpuSample, CpuUse, ServiceProcess},
};

/// How many streams may be opening (waiting for their bookmark) at once: a client that
/// opens 10,000 at a stroke would only queue them on the server's database pool.
const OPENING_AT_ONCE: usize = 500;
/// How long all streams together may take to get their bookmarks.
const OPEN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long after the last change returned the deliveries may still arrive.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// What to do.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) streams: usize,
    pub(crate) connections: usize,
    pub(crate) changes: usize,
    pub(crate) change_rate: f64,
}

/// What the watch run measured.
#[derive(Debug)]
pub(crate) struct WatchResult {
    pub(crate) plan: Plan,
    /// From the first call until the last stream had its bookmark.
    pub(crate) open_time: Duration,
    /// The server's resident memory before the streams were opened, in bytes.
    pub(crate) resident_before: u64,
    /// The same once every stream had its bookmark.
    pub(crate) resident_after: u64,
    /// Deliveries owed: for each changed key result, one per stream watching it.
    pub(crate) expected: usize,
    /// Deliveries of an owed change, counted once per stream.
    pub(crate) received: usize,
    /// Status messages no change explains: on a key result that was not changed, or a
    /// second one on the same stream.
    pub(crate) unexpected: usize,
    /// Delivery delay from the start of the CreateCheckIn call, in microseconds.
    pub(crate) delay_from_call: Histogram<u64>,
    /// Delivery delay from the moment CreateCheckIn returned, in microseconds (a delivery
    /// that arrived first counts as 0).
    pub(crate) delay_from_return: Histogram<u64>,
    /// Deliveries that arrived before their CreateCheckIn call had returned.
    pub(crate) before_return: usize,
    /// A few streams that never received the change they were owed.
    pub(crate) missing_examples: Vec<String>,
    /// From the first change until the last delivery (or the delivery timeout).
    pub(crate) change_time: Duration,
    /// CPU time used meanwhile: what fanning the changes out cost the server.
    pub(crate) change_cpu: CpuUse,
}

impl WatchResult {
    /// Cores the server kept busy while the changes were made and delivered.
    pub(crate) fn server_cores_while_changing(&self) -> f64 {
        self.change_cpu.server.as_secs_f64() / self.change_time.as_secs_f64()
    }

    /// Server CPU time per change, in milliseconds: the write, and the fan-out to streams.
    pub(crate) fn server_cpu_per_change_ms(&self) -> f64 {
        self.change_cpu.server.as_secs_f64() * 1e3 / self.plan.changes as f64
    }

    /// Deliveries owed and never received.
    pub(crate) fn missing(&self) -> usize {
        self.expected - self.received
    }

    /// The growth of the server's memory per open stream, in bytes.
    pub(crate) fn bytes_per_stream(&self) -> f64 {
        self.resident_after.saturating_sub(self.resident_before) as f64 / self.plan.streams as f64
    }
}

/// A status change received by stream `stream`, watching key result `key_result`.
#[derive(Debug)]
struct Delivery {
    stream: usize,
    key_result: usize,
    received: Instant,
}

/// One CreateCheckIn on key result `key_result`: when the call started and when it returned.
#[derive(Debug, Clone, Copy)]
struct Commit {
    started: Instant,
    returned: Instant,
}

/// Opens the streams, reads the server's memory, makes the changes and collects deliveries.
pub(crate) async fn run(
    objectives: &ServiceProcess,
    key_results: &[String],
    plan: &Plan,
) -> anyhow::Result<WatchResult> {
    let channels = connect(&objectives.url, plan.connections).await?;
    let resident_before = objectives.resident_bytes()?;
    eprintln!(
        "watch: opening {} WatchKeyResultStatus streams over {} connections (server RSS {:.1} MiB)",
        plan.streams,
        plan.connections,
        mib(resident_before)
    );

    let (bookmarked, mut bookmarks) = mpsc::unbounded_channel::<()>();
    let (delivered, mut deliveries) = mpsc::unbounded_channel::<Delivery>();
    let opening = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let mut watchers = vec![0_usize; key_results.len()];
    let mut streams = JoinSet::new();
    let opened = Instant::now();
    for stream in 0..plan.streams {
        let key_result = stream % key_results.len();
        watchers[key_result] += 1;
        let watch = Watch {
            client: ObjectivesServiceClient::new(channels[stream % channels.len()].clone()),
            request: pb::WatchKeyResultStatusRequest {
                parent: TENANT.to_owned(),
                key_results: vec![key_results[key_result].clone()],
                ..Default::default()
            },
            stream,
            key_result,
        };
        streams.spawn(watch.run(Arc::clone(&opening), bookmarked.clone(), delivered.clone()));
    }
    drop(bookmarked);

    let deadline = tokio::time::sleep(OPEN_TIMEOUT);
    tokio::pin!(deadline);
    let mut ready = 0;
    while ready < plan.streams {
        tokio::select! {
            Some(()) = bookmarks.recv() => {
                ready += 1;
                if ready % 2_000 == 0 {
                    eprintln!("  {ready} streams have their bookmark after {:.1} s", opened.elapsed().as_secs_f64());
                }
            }
            Some(ended) = streams.join_next() => return Err(stream_ended(ended)),
            () = &mut deadline => bail!(
                "only {ready} of {} watch streams had their bookmark after {OPEN_TIMEOUT:?}",
                plan.streams
            ),
        }
    }
    let open_time = opened.elapsed();
    let resident_after = objectives.resident_bytes()?;
    eprintln!(
        "  all {} streams open in {:.1} s; server RSS {:.1} MiB",
        plan.streams,
        open_time.as_secs_f64(),
        mib(resident_after)
    );

    let changed = changed_key_results(key_results.len(), plan.changes);
    eprintln!(
        "watch: recording a check-in on {} distinct key results at {} per second",
        changed.len(),
        plan.change_rate
    );
    let changing = Instant::now();
    let cpu_before = CpuSample::take(objectives)?;
    let commits = make_changes(&channels, key_results, &changed, plan.change_rate).await?;
    let expected: usize = changed.iter().map(|&key_result| watchers[key_result]).sum();

    // Deliveries arrive while the changes are made; collect them all, then wait for the late
    // ones until every owed delivery is in or the timeout passes.
    let mut result = WatchResult {
        plan: *plan,
        open_time,
        resident_before,
        resident_after,
        expected,
        received: 0,
        unexpected: 0,
        delay_from_call: histogram(),
        delay_from_return: histogram(),
        before_return: 0,
        missing_examples: Vec::new(),
        change_time: Duration::ZERO,
        change_cpu: CpuUse::default(),
    };
    let mut served = HashSet::new();
    let deadline = tokio::time::sleep(DELIVERY_TIMEOUT);
    tokio::pin!(deadline);
    while result.received < expected {
        let delivery = tokio::select! {
            Some(delivery) = deliveries.recv() => delivery,
            Some(ended) = streams.join_next() => return Err(stream_ended(ended)),
            () = &mut deadline => break,
        };
        let commit = commits[delivery.key_result];
        match commit {
            Some(commit) if served.insert(delivery.stream) => {
                result.received += 1;
                record(
                    &mut result.delay_from_call,
                    delivery.received - commit.started,
                );
                record(
                    &mut result.delay_from_return,
                    delivery.received.saturating_duration_since(commit.returned),
                );
                if delivery.received < commit.returned {
                    result.before_return += 1;
                }
            }
            _ => result.unexpected += 1,
        }
    }
    result.change_time = changing.elapsed();
    result.change_cpu = CpuSample::take(objectives)?.since(&cpu_before);
    // Anything else already queued is unexpected: every owed delivery is in, or time is up.
    while let Ok(delivery) = deliveries.try_recv() {
        if commits[delivery.key_result].is_none() || served.contains(&delivery.stream) {
            result.unexpected += 1;
        }
    }
    result.missing_examples = (0..plan.streams)
        .filter(|stream| commits[stream % key_results.len()].is_some() && !served.contains(stream))
        .take(5)
        .map(|stream| {
            format!(
                "stream {stream} on {}",
                key_results[stream % key_results.len()]
            )
        })
        .collect();
    if let Some(ended) = streams.try_join_next() {
        return Err(stream_ended(ended));
    }
    eprintln!(
        "  {} of {} deliveries received; the server used {:.2} cores meanwhile ({:.1} ms of CPU per change); closing the streams",
        result.received,
        expected,
        result.server_cores_while_changing(),
        result.server_cpu_per_change_ms()
    );
    streams.shutdown().await;
    Ok(result)
}

/// `changes` distinct key results spread evenly over `count`.
fn changed_key_results(count: usize, changes: usize) -> Vec<usize> {
    (0..changes)
        .map(|change| change * count / changes)
        .collect()
}

/// Records one check-in on each of `changed` at `rate` per second, each call on its own task
/// so a slow call does not hold up the pace; returns when each call started and returned, by
/// key result.
async fn make_changes(
    channels: &[Channel],
    key_results: &[String],
    changed: &[usize],
    rate: f64,
) -> anyhow::Result<Vec<Option<Commit>>> {
    let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut calls = JoinSet::new();
    for (index, &key_result) in changed.iter().enumerate() {
        pace.tick().await;
        let mut client = ObjectivesServiceClient::new(channels[index % channels.len()].clone());
        let request = pb::CreateCheckInRequest {
            parent: key_results[key_result].clone(),
            check_in: Some(pb::CheckIn {
                value: Some(Decimal {
                    value: format!("{}.5", 40 + index % 20),
                }),
                comment: "changed by devokr-bench".to_owned(),
                idempotency_key: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            }),
            allow_late: false,
        };
        calls.spawn(async move {
            let started = Instant::now();
            client
                .create_check_in(request)
                .await
                .with_context(|| format!("CreateCheckIn on key result {key_result}"))?;
            anyhow::Ok((
                key_result,
                Commit {
                    started,
                    returned: Instant::now(),
                },
            ))
        });
    }
    let mut commits = vec![None; key_results.len()];
    while let Some(call) = calls.join_next().await {
        let (key_result, commit) = call??;
        commits[key_result] = Some(commit);
    }
    Ok(commits)
}

/// One watch stream.
struct Watch {
    client: ObjectivesServiceClient<Channel>,
    request: pb::WatchKeyResultStatusRequest,
    stream: usize,
    key_result: usize,
}

impl Watch {
    /// Opens the stream (holding an `opening` permit until its bookmark), says when the
    /// bookmark came, then reports every status change. Returns only when the stream fails
    /// or ends, which it must not do while the benchmark watches.
    async fn run(
        mut self,
        opening: Arc<Semaphore>,
        bookmarked: mpsc::UnboundedSender<()>,
        delivered: mpsc::UnboundedSender<Delivery>,
    ) -> Result<Infallible, Status> {
        let permit = opening
            .acquire_owned()
            .await
            .map_err(|_| Status::cancelled("the benchmark is closing"))?;
        let mut stream = self
            .client
            .watch_key_result_status(self.request)
            .await?
            .into_inner();
        let mut permit = Some(permit);
        while let Some(message) = stream.message().await? {
            let received = Instant::now();
            match message.event {
                Some(Event::Bookmark(_)) if permit.is_some() => {
                    permit = None;
                    // The receiver goes only when the benchmark stops listening.
                    let _ = bookmarked.send(());
                }
                // Before the bookmark: the current status.
                Some(Event::Status(_)) if permit.is_some() => {}
                Some(Event::Status(_)) => {
                    let _ = delivered.send(Delivery {
                        stream: self.stream,
                        key_result: self.key_result,
                        received,
                    });
                }
                Some(Event::RemovedKeyResult(name)) => {
                    return Err(Status::internal(format!("{name} was reported removed")));
                }
                Some(Event::Bookmark(_)) | None => {}
            }
        }
        Err(Status::aborted("the server ended the watch"))
    }
}

fn stream_ended(
    ended: Result<Result<Infallible, Status>, tokio::task::JoinError>,
) -> anyhow::Error {
    match ended {
        Ok(Ok(never)) => match never {},
        Ok(Err(status)) => anyhow::anyhow!("a watch stream failed: {status}"),
        Err(error) => anyhow::anyhow!("a watch stream's task failed: {error}"),
    }
}

pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
