//! The results, with the targets of the issue: an aligned table for people, or one JSON
//! object for tools.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    load::{LoadResult, OpenLoopResult, Phase, micros_to_ms},
    machine::{NAP, Steadiness},
    seed::Seeded,
    watch::{WatchResult, mib},
};

/// GetKeyResultStatus throughput at least this share of Noop's, at the same concurrency.
const RATIO_TARGET: f64 = 0.8;
/// GetKeyResultStatus p99 at half its maximum throughput at most this, in milliseconds.
const OPEN_LOOP_P99_TARGET_MS: f64 = 1.0;
/// p99 of the delay from a change to each of its watchers at most this, in milliseconds.
const DELAY_P99_TARGET_MS: f64 = 200.0;
/// Server memory per watch stream at most this: 10 KB, counted as 10,000 bytes (the
/// stricter reading).
const BYTES_PER_STREAM_TARGET: f64 = 10_000.0;

/// How the load runs were set up.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) concurrency: usize,
    pub(crate) connections: usize,
    /// Rounds the closed loops alternate in, sharing `phase.duration`.
    pub(crate) rounds: usize,
    /// The warm-up of every round but the first, which has `phase.warmup`.
    pub(crate) round_warmup: Duration,
    pub(crate) phase: Phase,
}

/// Everything one run measured.
#[derive(Debug)]
pub(crate) struct Results {
    pub(crate) settings: Settings,
    pub(crate) seeded: Seeded,
    /// How steadily the machine ran a thread before the load runs.
    pub(crate) machine: Steadiness,
    /// The closed loops' rounds added up.
    pub(crate) noop: LoadResult,
    pub(crate) status: LoadResult,
    /// The throughput ratio of each round.
    pub(crate) round_ratios: Vec<f64>,
    pub(crate) open: OpenLoopResult,
    /// Noop at the open loop's rate: what the stack alone gives there.
    pub(crate) open_noop: OpenLoopResult,
    pub(crate) watch: WatchResult,
}

impl Results {
    fn ratio(&self) -> f64 {
        self.status.throughput() / self.noop.throughput()
    }

    fn delay_p99_ms(&self) -> f64 {
        micros_to_ms(self.watch.delay_from_call.value_at_quantile(0.99))
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The lowest, median and highest of `values`.
fn spread(values: &[f64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match (sorted.first(), sorted.last()) {
        (Some(lowest), Some(highest)) => format!(
            "{lowest:.2} / {:.2} / {highest:.2}",
            (sorted[(sorted.len() - 1) / 2] + sorted[sorted.len() / 2]) / 2.0
        ),
        _ => "none".to_owned(),
    }
}

/// One line of the table.
struct Row {
    figure: String,
    value: String,
    target: &'static str,
    verdict: &'static str,
}

fn row(figure: impl Into<String>, value: impl Into<String>) -> Row {
    Row {
        figure: figure.into(),
        value: value.into(),
        target: "",
        verdict: "",
    }
}

fn judged(
    figure: impl Into<String>,
    value: impl Into<String>,
    target: &'static str,
    met: bool,
) -> Row {
    Row {
        figure: figure.into(),
        value: value.into(),
        target,
        verdict: if met { "met" } else { "MISSED" },
    }
}

/// The results as an aligned table followed by notes on the method.
pub(crate) fn table(results: &Results, run_time: Duration) -> String {
    let Results {
        settings,
        seeded,
        machine,
        noop,
        status,
        round_ratios,
        open,
        open_noop,
        watch,
    } = results;
    let latency = |load: &LoadResult| {
        format!(
            "{:.3} / {:.3} ms",
            load.latency_ms(0.5),
            load.latency_ms(0.99)
        )
    };
    let delays = |histogram: &hdrhistogram::Histogram<u64>| {
        format!(
            "{:.1} / {:.1} / {:.1} ms",
            micros_to_ms(histogram.value_at_quantile(0.5)),
            micros_to_ms(histogram.value_at_quantile(0.99)),
            micros_to_ms(histogram.max())
        )
    };
    let cpu = |load: &LoadResult| {
        let (server, client) = load.cpu_per_call_us();
        format!("{server:.1} / {client:.1} µs")
    };
    let load_setup = format!("C={}, {} conns", settings.concurrency, settings.connections);
    let rows = [
        row(
            "seed: objectives / key results / check-ins",
            format!(
                "{} / {} / {}",
                seeded.shape.objectives,
                seeded.key_results.len(),
                seeded.check_ins()
            ),
        ),
        row(
            "seed: time",
            format!("{:.1} s", seeded.elapsed.as_secs_f64()),
        ),
        row(
            "machine at rest: thread stops over 1 ms / stopped",
            format!(
                "{:.1} per s / {:.2} %",
                machine.stalls_over_1ms_per_second(),
                machine.stopped_share() * 100.0
            ),
        ),
        row(
            "machine at rest: longest stop",
            format!("{:.1} ms", micros_to_ms(machine.stalls.max())),
        ),
        row(
            format!(
                "machine at rest: {} µs sleep overshoot p50 / p99",
                NAP.as_micros()
            ),
            format!(
                "{:.3} / {:.3} ms",
                micros_to_ms(machine.nap_overshoot.value_at_quantile(0.5)),
                micros_to_ms(machine.nap_overshoot.value_at_quantile(0.99))
            ),
        ),
        row(
            format!("Noop ({load_setup}): throughput"),
            format!("{:.0} req/s", noop.throughput()),
        ),
        row("Noop: latency p50 / p99", latency(noop)),
        row("Noop: CPU per call, server / client", cpu(noop)),
        row(
            format!("GetKeyResultStatus ({load_setup}): throughput"),
            format!("{:.0} req/s", status.throughput()),
        ),
        row("GetKeyResultStatus: latency p50 / p99", latency(status)),
        row(
            "GetKeyResultStatus: CPU per call, server / client",
            cpu(status),
        ),
        judged(
            "throughput ratio status / noop",
            format!("{:.2}", results.ratio()),
            ">= 0.80",
            results.ratio() >= RATIO_TARGET,
        ),
        row(
            "throughput ratio by round: lowest / median / highest",
            spread(round_ratios),
        ),
        row(
            "open loop: planned / achieved rate",
            format!(
                "{:.0} / {:.0} req/s",
                open.planned_rate,
                open.load.throughput()
            ),
        ),
        row(
            "open loop: latency p50",
            format!("{:.3} ms", open.load.latency_ms(0.5)),
        ),
        judged(
            "open loop: latency p99",
            format!("{:.3} ms", open.load.latency_ms(0.99)),
            "<= 1 ms",
            open.load.latency_ms(0.99) <= OPEN_LOOP_P99_TARGET_MS,
        ),
        row("open loop: CPU per call, server / client", cpu(&open.load)),
        row(
            "open loop Noop, same rate (control): p50 / p99",
            latency(&open_noop.load),
        ),
        row(
            "other processes' cores: 4 runs above",
            [noop, status, &open.load, &open_noop.load]
                .map(|load| format!("{:.2}", load.other_cores()))
                .join(" / "),
        ),
        row(
            "watch: streams / connections",
            format!("{} / {}", watch.plan.streams, watch.plan.connections),
        ),
        row(
            "watch: time to open all (bookmarks in)",
            format!("{:.1} s", watch.open_time.as_secs_f64()),
        ),
        row(
            "watch: server RSS before / after opening",
            format!(
                "{:.1} / {:.1} MiB",
                mib(watch.resident_before),
                mib(watch.resident_after)
            ),
        ),
        judged(
            "watch: server memory per stream",
            format!("{:.0} B", watch.bytes_per_stream()),
            "<= 10 KB",
            watch.bytes_per_stream() <= BYTES_PER_STREAM_TARGET,
        ),
        row(
            "watch: changes (distinct key results) at rate",
            format!("{} at {}/s", watch.plan.changes, watch.plan.change_rate),
        ),
        Row {
            verdict: if watch.missing() == 0 {
                "all"
            } else {
                "MISSING"
            },
            target: "all",
            ..row(
                "watch: deliveries expected / received",
                format!("{} / {}", watch.expected, watch.received),
            )
        },
        row(
            "watch: unexpected status messages",
            watch.unexpected.to_string(),
        ),
        judged(
            "watch: delay p50 / p99 / max (from call start)",
            delays(&watch.delay_from_call),
            "p99 <= 200 ms",
            results.delay_p99_ms() <= DELAY_P99_TARGET_MS,
        ),
        row(
            "watch: delay p50 / p99 / max (from call return)",
            delays(&watch.delay_from_return),
        ),
        row("run time", format!("{:.0} s", run_time.as_secs_f64())),
    ];

    let width = |column: fn(&Row) -> &str, title: &str| {
        rows.iter()
            .map(|row| column(row).chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or_default()
    };
    let widths = [
        width(|row| &row.figure, "figure"),
        width(|row| &row.value, "value"),
        width(|row| row.target, "target"),
    ];
    let line = |cells: [&str; 4]| {
        format!(
            "{:<w0$}  {:>w1$}  {:<w2$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
        .trim_end()
        .to_owned()
            + "\n"
    };
    let mut out = line(["figure", "value", "target", "result"]);
    out += &line([
        &"-".repeat(widths[0]),
        &"-".repeat(widths[1]),
        &"-".repeat(widths[2]),
        "------",
    ]);
    for row in &rows {
        out += &line([&row.figure, &row.value, row.target, row.verdict]);
    }
    out += "\n";
    for note in notes(results) {
        out += &format!("- {note}\n");
    }
    out
}

/// Cores that other processes may keep busy during a load run before its figures are
/// flagged as perturbed.
const QUIET_OTHER_CORES: f64 = 0.2;

/// How to read the figures.
fn notes(results: &Results) -> Vec<String> {
    let busiest = [
        &results.noop,
        &results.status,
        &results.open.load,
        &results.open_noop.load,
    ]
    .map(LoadResult::other_cores)
    .into_iter()
    .fold(0.0, f64::max);
    let Settings {
        concurrency,
        connections,
        rounds,
        round_warmup,
        phase,
    } = &results.settings;
    let machine = &results.machine;
    let watch = &results.watch;
    vec![
        format!(
            "The load generator, the servers and PostgreSQL share this machine's {} cores, so \
             throughputs are lower and latencies higher than on a dedicated server.",
            cores()
        ),
        format!(
            "Closed loop: {concurrency} calls in flight over {connections} HTTP/2 connections; \
             Noop and GetKeyResultStatus alternate in {rounds} rounds each (ABBA order, so a \
             drift of the machine's speed weighs on both alike), each round {:?} measured \
             after a warm-up ({:?} in the first round of each, {round_warmup:?} in the others). \
             Noop is served by a separate process with the services' server setup \
             (devokr_platform::server::serve).",
            phase.duration / u32::try_from(*rounds).unwrap_or(u32::MAX),
            phase.warmup,
        ),
        format!(
            "Machine at rest, before the load runs: a thread spinning on each of the {} cores \
             for {:?} was stopped {:.1} times a second for over 1 ms (the host taking the \
             virtual core away), and a thread sleeping {} µs woke over 1 ms late in {:.1} % of \
             its naps. A call in flight during such a stop waits for it, so no server can give \
             a p99 under these stops on this machine; the open loop's Noop control shows what \
             they cost at the load's rate.",
            machine.threads,
            machine.spun,
            machine.stalls_over_1ms_per_second(),
            NAP.as_micros(),
            100.0 * machine.naps_over_1ms_late()
        ),
        format!(
            "Open loop: calls at fixed planned instants by at most {concurrency} senders; \
             latency runs from the planned instant when the sender was still busy (no \
             coordinated omission), else from the timer's wake-up (tokio timers have 1 ms \
             resolution), whose lag after the planned instant is apart: p99 {:.3} ms.",
            micros_to_ms(results.open.wake_up_lag.value_at_quantile(0.99))
        ),
        format!(
            "Watch delay is judged from the start of each CreateCheckIn call (includes the \
             write and its commit: an upper bound). From the call's return it understates by \
             the response's trip; {} of {} deliveries arrived before their call returned.",
            watch.before_return, watch.received
        ),
        "Memory per stream: growth of the objectives process's VmRSS from before opening the \
         streams to when all had their bookmark, divided by the streams; 1 KB = 1,000 bytes."
            .to_owned(),
    ]
    .into_iter()
    .chain((busiest > QUIET_OTHER_CORES).then(|| {
        format!(
            "PERTURBED: other processes kept up to {busiest:.2} cores busy during a load run \
             (PostgreSQL and the idle servers take about 0.1): the throughputs and latencies \
             are not comparable; rerun on a quiet machine."
        )
    }))
    .chain((!watch.missing_examples.is_empty()).then(|| {
        format!(
            "MISSING DELIVERIES ({}), for example: {}",
            watch.missing(),
            watch.missing_examples.join("; ")
        )
    }))
    .collect()
}

/// The results as one JSON object; times in milliseconds, rates per second.
pub(crate) fn json(results: &Results, run_time: Duration) -> Value {
    let Results {
        settings,
        seeded,
        machine,
        noop,
        status,
        round_ratios,
        open,
        open_noop,
        watch,
    } = results;
    let load = |load: &LoadResult| {
        let (server_cpu, client_cpu) = load.cpu_per_call_us();
        json!({
            "throughput": load.throughput(),
            "calls": load.latency.len(),
            "p50_ms": load.latency_ms(0.5),
            "p99_ms": load.latency_ms(0.99),
            "max_ms": micros_to_ms(load.latency.max()),
            "server_cpu_per_call_us": server_cpu,
            "client_cpu_per_call_us": client_cpu,
            "other_processes_cores": load.other_cores(),
        })
    };
    let delays = |histogram: &hdrhistogram::Histogram<u64>| {
        json!({
            "p50_ms": micros_to_ms(histogram.value_at_quantile(0.5)),
            "p99_ms": micros_to_ms(histogram.value_at_quantile(0.99)),
            "max_ms": micros_to_ms(histogram.max()),
        })
    };
    json!({
        "machine": {
            "cores": cores(),
            "shared_by_client_servers_and_database": true,
            "at_rest": {
                "spinning_threads": machine.threads,
                "spin_s": machine.spun.as_secs_f64(),
                "stops_over_1ms_per_s": machine.stalls_over_1ms_per_second(),
                "stopped_share": machine.stopped_share(),
                "longest_stop_ms": micros_to_ms(machine.stalls.max()),
                "nap_us": NAP.as_micros(),
                "nap_overshoot_p50_ms": micros_to_ms(machine.nap_overshoot.value_at_quantile(0.5)),
                "nap_overshoot_p99_ms": micros_to_ms(machine.nap_overshoot.value_at_quantile(0.99)),
                "naps_over_1ms_late_share": machine.naps_over_1ms_late(),
            },
        },
        "settings": {
            "concurrency": settings.concurrency,
            "connections": settings.connections,
            "rounds": settings.rounds,
            "round_warmup_s": settings.round_warmup.as_secs_f64(),
            "warmup_s": settings.phase.warmup.as_secs_f64(),
            "duration_s": settings.phase.duration.as_secs_f64(),
        },
        "seed": {
            "objectives": seeded.shape.objectives,
            "key_results": seeded.key_results.len(),
            "check_ins": seeded.check_ins(),
            "seconds": seeded.elapsed.as_secs_f64(),
        },
        "noop": load(noop),
        "get_key_result_status": load(status),
        "ratio": {
            "value": results.ratio(),
            "by_round": round_ratios,
            "target_min": RATIO_TARGET,
            "met": results.ratio() >= RATIO_TARGET,
        },
        "open_loop_noop_control": load(&open_noop.load),
        "open_loop": {
            "planned_rate": open.planned_rate,
            "achieved": load(&open.load),
            "timer_wake_up_lag_p99_ms": micros_to_ms(open.wake_up_lag.value_at_quantile(0.99)),
            "target_p99_max_ms": OPEN_LOOP_P99_TARGET_MS,
            "met": open.load.latency_ms(0.99) <= OPEN_LOOP_P99_TARGET_MS,
        },
        "watch": {
            "streams": watch.plan.streams,
            "connections": watch.plan.connections,
            "open_seconds": watch.open_time.as_secs_f64(),
            "rss_before_bytes": watch.resident_before,
            "rss_after_bytes": watch.resident_after,
            "bytes_per_stream": watch.bytes_per_stream(),
            "bytes_per_stream_target_max": BYTES_PER_STREAM_TARGET,
            "memory_met": watch.bytes_per_stream() <= BYTES_PER_STREAM_TARGET,
            "changes": watch.plan.changes,
            "change_rate": watch.plan.change_rate,
            "deliveries_expected": watch.expected,
            "deliveries_received": watch.received,
            "deliveries_missing": watch.missing(),
            "unexpected_messages": watch.unexpected,
            "delivered_before_call_returned": watch.before_return,
            "server_cores_while_changing": watch.server_cores_while_changing(),
            "server_cpu_per_change_ms": watch.server_cpu_per_change_ms(),
            "delay_from_call_start": delays(&watch.delay_from_call),
            "delay_from_call_return": delays(&watch.delay_from_return),
            "delay_p99_target_max_ms": DELAY_P99_TARGET_MS,
            "delay_met": results.delay_p99_ms() <= DELAY_P99_TARGET_MS,
        },
        "run_seconds": run_time.as_secs_f64(),
    })
}
