//! Load generation: a closed loop (a fixed number of calls in flight, each sender calling
//! again as soon as its answer arrives) and an open loop (calls at planned instants, whatever
//! the server does), with latencies in HdrHistograms, in microseconds.
//!
//! The client shares the machine's cores with the servers, so it is kept lean: channels are
//! connected once and reused, request messages are built before the clock starts, each sender
//! keeps its own histogram (no shared state in the hot loop), and histograms are merged at the
//! end.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use devokr_proto::objectives::v1::{
    GetKeyResultStatusRequest, objectives_service_client::ObjectivesServiceClient,
};
use futures::{StreamExt, TryStreamExt, stream};
use hdrhistogram::Histogram;
use prost::bytes::{BufMut, Bytes};
use tokio::task::JoinSet;
use tonic::{
    Request, Status,
    client::Grpc,
    codec::{Codec, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
    transport::{Channel, Endpoint},
};
use tonic_prost::{ProstCodec, ProstDecoder};

use crate::stack::{CpuSample, CpuUse, ServiceProcess};

/// Longest one call may take before it fails the run (the client side of a deadline).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a load run may overrun its planned length before it is given up as hung.
const OVERRUN_LIMIT: Duration = Duration::from_secs(30);

/// `count` separate HTTP/2 connections to `url`, connected now.
pub(crate) async fn connect(url: &str, count: usize) -> anyhow::Result<Vec<Channel>> {
    let endpoint = Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(CALL_TIMEOUT)
        .tcp_nodelay(true);
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count {
        // Each `connect` opens its own connection; clones of one channel would share it.
        channels.push(
            endpoint
                .connect()
                .await
                .with_context(|| format!("cannot connect to {url}"))?,
        );
    }
    Ok(channels)
}

/// One sender of a load run: a client and what it asks for.
pub(crate) trait Call: Send + 'static {
    /// Makes one call. An error fails the run.
    fn call(&mut self) -> impl Future<Output = Result<(), Status>> + Send;
}

/// `senders` senders made by `make(channel, index)`, spread evenly over `channels`.
pub(crate) fn spread<C>(
    channels: &[Channel],
    senders: usize,
    make: impl Fn(Channel, usize) -> C,
) -> Vec<C> {
    (0..senders)
        .map(|index| make(channels[index % channels.len()].clone(), index))
        .collect()
}

/// The response of any method, read with every field skipped: the load generator shares
/// the cores with the server, so it receives each response in full and checks its gRPC
/// status, but does not spend time building the response's strings and messages. (The
/// warm-up reads every status in full and checks it.)
#[derive(Clone, Copy, PartialEq, prost::Message)]
struct Skipped {}

/// A request encoded before the clock starts; senders send its bytes as they are, so no
/// call spends the shared cores on copying and encoding its request.
#[derive(Debug, Clone)]
pub(crate) struct Encoded(Bytes);

impl Encoded {
    pub(crate) fn of(request: &impl prost::Message) -> Self {
        Self(request.encode_to_vec().into())
    }
}

/// Sends [`Encoded`] requests and reads any answer as [`Skipped`].
#[derive(Debug, Clone, Copy, Default)]
struct EncodedCodec;

impl Codec for EncodedCodec {
    type Encode = Encoded;
    type Decode = Skipped;
    type Encoder = Self;
    type Decoder = ProstDecoder<Skipped>;

    fn encoder(&mut self) -> Self::Encoder {
        Self
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<Skipped, Skipped>::default().decoder()
    }
}

impl Encoder for EncodedCodec {
    type Item = Encoded;
    type Error = Status;

    fn encode(&mut self, request: Encoded, buffer: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buffer.put_slice(&request.0);
        Ok(())
    }
}

/// Calls one unary method with a request chosen uniformly at random among prebuilt ones:
/// the same client code for every method measured.
pub(crate) struct Unary {
    grpc: Grpc<Channel>,
    path: PathAndQuery,
    requests: Arc<[Encoded]>,
    random: fastrand::Rng,
}

impl Unary {
    /// A sender of `requests` to `method` (`/package.Service/Method`) over `channel`; `seed`
    /// gives each sender its own sequence of choices.
    pub(crate) fn new(
        channel: Channel,
        method: &'static str,
        requests: Arc<[Encoded]>,
        seed: u64,
    ) -> Self {
        Self {
            grpc: Grpc::new(channel),
            path: PathAndQuery::from_static(method),
            requests,
            random: fastrand::Rng::with_seed(seed),
        }
    }
}

impl Call for Unary {
    async fn call(&mut self) -> Result<(), Status> {
        self.grpc
            .ready()
            .await
            .map_err(|error| Status::unavailable(format!("the channel is not ready: {error}")))?;
        let request = self.requests[self.random.usize(..self.requests.len())].clone();
        self.grpc
            .unary(Request::new(request), self.path.clone(), EncodedCodec)
            .await
            .map(drop)
    }
}

/// The request for the current status of `name`.
pub(crate) fn status_request(name: &str) -> GetKeyResultStatusRequest {
    GetKeyResultStatusRequest {
        name: name.to_owned(),
        ..Default::default()
    }
}

/// Reads every key result once, `in_flight` at a time, checking each answer names the key
/// result asked for: the server then serves all of them from its index.
pub(crate) async fn warm_status_index(
    channels: &[Channel],
    requests: &[GetKeyResultStatusRequest],
    in_flight: usize,
) -> anyhow::Result<()> {
    stream::iter(requests.iter().enumerate())
        .map(|(index, request)| {
            let mut client = ObjectivesServiceClient::new(channels[index % channels.len()].clone());
            async move {
                let status = client
                    .get_key_result_status(request.clone())
                    .await
                    .with_context(|| format!("GetKeyResultStatus {}", request.name))?
                    .into_inner();
                anyhow::ensure!(
                    status.key_result == request.name,
                    "GetKeyResultStatus {} answered for {}",
                    request.name,
                    status.key_result
                );
                Ok(())
            }
        })
        .buffer_unordered(in_flight)
        .try_collect()
        .await
}

/// How long a load run lasts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Phase {
    /// Calls in this first part are made but not measured.
    pub(crate) warmup: Duration,
    /// The measured part.
    pub(crate) duration: Duration,
}

/// What a load run measured.
#[derive(Debug)]
pub(crate) struct LoadResult {
    /// Latency of every measured call, in microseconds.
    pub(crate) latency: Histogram<u64>,
    /// The measured part's length.
    pub(crate) duration: Duration,
    /// CPU time used during the measured part.
    pub(crate) cpu: CpuUse,
}

impl LoadResult {
    /// Runs of the same load as one: their calls, time and CPU added up.
    pub(crate) fn sum(runs: impl IntoIterator<Item = Self>) -> anyhow::Result<Self> {
        let mut runs = runs.into_iter();
        let mut total = runs.next().context("no load run to add up")?;
        for run in runs {
            total.latency.add(&run.latency)?;
            total.duration += run.duration;
            total.cpu += run.cpu;
        }
        Ok(total)
    }

    /// Measured calls per second.
    pub(crate) fn throughput(&self) -> f64 {
        self.latency.len() as f64 / self.duration.as_secs_f64()
    }

    /// The latency at `quantile` (0 to 1), in milliseconds.
    pub(crate) fn latency_ms(&self, quantile: f64) -> f64 {
        micros_to_ms(self.latency.value_at_quantile(quantile))
    }

    /// CPU time per measured call of the server and of the load generator, in microseconds.
    pub(crate) fn cpu_per_call_us(&self) -> (f64, f64) {
        let per_call = |cpu: Duration| cpu.as_secs_f64() * 1e6 / self.latency.len().max(1) as f64;
        (per_call(self.cpu.server), per_call(self.cpu.client))
    }

    /// Cores kept busy by everything but the server and the load generator.
    pub(crate) fn other_cores(&self) -> f64 {
        self.cpu.others().as_secs_f64() / self.duration.as_secs_f64()
    }

    /// One line for the progress log.
    pub(crate) fn summary(&self) -> String {
        let (server, client) = self.cpu_per_call_us();
        format!(
            "{:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} calls); CPU per call: \
             server {server:.1} µs, client {client:.1} µs; other processes {:.2} cores",
            self.throughput(),
            self.latency_ms(0.5),
            self.latency_ms(0.99),
            micros_to_ms(self.latency.max()),
            self.latency.len(),
            self.other_cores()
        )
    }
}

pub(crate) fn micros_to_ms(micros: u64) -> f64 {
    micros as f64 / 1_000.0
}

/// A histogram of microseconds from 1 µs to an hour, at 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Records `elapsed` in microseconds; values beyond the range are recorded as its maximum.
pub(crate) fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.max(1));
}

/// Runs every sender in a loop, one call in flight each, for the warm-up and then the
/// measured duration, against `server`. A call counts when it started inside the measured
/// part.
pub(crate) async fn closed_loop<C: Call>(
    server: &ServiceProcess,
    senders: Vec<C>,
    phase: Phase,
) -> anyhow::Result<LoadResult> {
    let measure_from = Instant::now() + phase.warmup;
    let end = measure_from + phase.duration;
    let (latency, cpu) = join_senders(
        server,
        senders,
        measure_from,
        end,
        |mut sender| async move {
            let mut latency = histogram();
            loop {
                let start = Instant::now();
                if start >= end {
                    return Ok([latency]);
                }
                sender.call().await?;
                if start >= measure_from {
                    record(&mut latency, start.elapsed());
                }
            }
        },
    )
    .await?;
    Ok(LoadResult {
        latency: latency.into_iter().next().unwrap_or_else(histogram),
        duration: phase.duration,
        cpu,
    })
}

/// What an open-loop run measured.
#[derive(Debug)]
pub(crate) struct OpenLoopResult {
    /// Latency from each call's planned instant (see [`open_loop`]), and the achieved rate.
    pub(crate) load: LoadResult,
    /// The rate asked for, in calls per second.
    pub(crate) planned_rate: f64,
    /// How late the timers woke idle senders after their planned instant, in microseconds:
    /// the precision of the schedule itself.
    pub(crate) wake_up_lag: Histogram<u64>,
}

/// Calls at a fixed `rate`: call k is planned at k / rate seconds after the start, whatever
/// the server does. The planned calls are dealt round-robin to `senders`; a sender still busy
/// with its previous call at a call's planned instant makes it late.
///
/// Latency is measured from the planned instant whenever a sender was still busy then, so
/// a slow answer is charged to every call it held up (no coordinated omission). A sender that
/// was idle sleeps until the planned instant, and its clock starts when it wakes: tokio's
/// timers have a 1 ms resolution, and charging that lag to the server would drown the figure
/// being measured. The lag is reported separately.
pub(crate) async fn open_loop<C: Call>(
    server: &ServiceProcess,
    senders: Vec<C>,
    rate: f64,
    phase: Phase,
) -> anyhow::Result<OpenLoopResult> {
    let start = Instant::now();
    let measure_from = start + phase.warmup;
    let end = measure_from + phase.duration;
    let stride = senders.len();
    let senders: Vec<(usize, C)> = senders.into_iter().enumerate().collect();
    let (histograms, cpu) = join_senders(
        server,
        senders,
        measure_from,
        end,
        |(first, mut sender)| async move {
            let mut latency = histogram();
            let mut lag = histogram();
            for slot in (first..).step_by(stride) {
                let planned = start + Duration::from_secs_f64(slot as f64 / rate);
                if planned >= end {
                    break;
                }
                let call_start = if Instant::now() < planned {
                    tokio::time::sleep_until(planned.into()).await;
                    let woke = Instant::now();
                    record(&mut lag, woke - planned);
                    woke
                } else {
                    planned
                };
                sender.call().await?;
                if planned >= measure_from {
                    record(&mut latency, call_start.elapsed());
                }
            }
            Ok([latency, lag])
        },
    )
    .await?;
    let mut histograms = histograms.into_iter();
    let latency = histograms.next().unwrap_or_else(histogram);
    let wake_up_lag = histograms.next().unwrap_or_else(histogram);
    Ok(OpenLoopResult {
        load: LoadResult {
            latency,
            duration: phase.duration,
            cpu,
        },
        planned_rate: rate,
        wake_up_lag,
    })
}

/// Runs `run` for each sender as a task, fails on the first failed call, and merges what the
/// tasks return, position by position. Meanwhile samples the CPU time used from
/// `measure_from` to `end`.
async fn join_senders<S, F, H>(
    server: &ServiceProcess,
    senders: Vec<S>,
    measure_from: Instant,
    end: Instant,
    run: impl Fn(S) -> F,
) -> anyhow::Result<(Vec<Histogram<u64>>, CpuUse)>
where
    F: Future<Output = Result<H, Status>> + Send + 'static,
    H: IntoIterator<Item = Histogram<u64>> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    for sender in senders {
        tasks.spawn(run(sender));
    }
    let cpu = async {
        tokio::time::sleep_until(measure_from.into()).await;
        let first = CpuSample::take(server)?;
        tokio::time::sleep_until(end.into()).await;
        anyhow::Ok(CpuSample::take(server)?.since(&first))
    };
    let joined = async {
        let mut merged: Vec<Histogram<u64>> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let histograms = joined?.context("a call failed")?;
            for (position, histogram) in histograms.into_iter().enumerate() {
                match merged.get_mut(position) {
                    Some(total) => total.add(&histogram)?,
                    None => merged.push(histogram),
                }
            }
        }
        anyhow::Ok(merged)
    };
    let limit = end.saturating_duration_since(Instant::now()) + OVERRUN_LIMIT;
    match tokio::time::timeout(limit, async { tokio::try_join!(joined, cpu) }).await {
        Ok(result) => result,
        Err(_) => anyhow::bail!("the load run did not finish within {limit:?}: a call hangs"),
    }
}
