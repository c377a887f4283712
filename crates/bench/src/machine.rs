//! How steadily this machine runs a thread when nothing else is running: the floor under
//! every latency measured on it. A virtual machine's cores can be taken away by its host
//! for milliseconds; a call in flight then waits, whatever the server does.

use std::{
    thread,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

use crate::load::{histogram, record};

/// A gap between two readings of the clock longer than this means the thread was stopped.
const STALL: Duration = Duration::from_micros(100);
/// What the sleeping thread asks for each time.
pub(crate) const NAP: Duration = Duration::from_micros(200);

/// What one measurement of the machine at rest found.
#[derive(Debug)]
pub(crate) struct Steadiness {
    /// How long each spinning thread ran.
    pub(crate) spun: Duration,
    /// Threads that spun at once: one per core.
    pub(crate) threads: usize,
    /// Every stop of a spinning thread longer than [`STALL`], in microseconds.
    pub(crate) stalls: Histogram<u64>,
    /// The spinning threads' stops added up.
    pub(crate) stopped: Duration,
    /// How much later than asked a thread sleeping [`NAP`] woke, in microseconds.
    pub(crate) nap_overshoot: Histogram<u64>,
}

impl Steadiness {
    /// Stops longer than 1 ms, per second of one thread's running.
    pub(crate) fn stalls_over_1ms_per_second(&self) -> f64 {
        over_1ms(&self.stalls) as f64 / self.thread_seconds()
    }

    /// The share of naps the sleeping thread woke from over 1 ms late.
    pub(crate) fn naps_over_1ms_late(&self) -> f64 {
        over_1ms(&self.nap_overshoot) as f64 / self.nap_overshoot.len().max(1) as f64
    }

    /// The share of its time a spinning thread was stopped.
    pub(crate) fn stopped_share(&self) -> f64 {
        self.stopped.as_secs_f64() / self.thread_seconds()
    }

    /// The spinning threads' running time added up, in seconds.
    fn thread_seconds(&self) -> f64 {
        self.spun.as_secs_f64() * self.threads as f64
    }
}

/// Values in `histogram` (microseconds) over 1 ms.
fn over_1ms(histogram: &Histogram<u64>) -> u64 {
    histogram.count_between(1_001, histogram.max().max(1_001))
}

/// Spins one thread per core for `spin`, then sleeps [`NAP`] after [`NAP`] for `nap`,
/// recording when the threads were not running.
pub(crate) fn measure(spin: Duration, nap: Duration) -> anyhow::Result<Steadiness> {
    let threads = thread::available_parallelism().map_or(1, usize::from);
    let spun: Vec<(Histogram<u64>, Duration)> = thread::scope(|scope| {
        let spinners: Vec<_> = (0..threads)
            .map(|_| scope.spawn(move || spin_for(spin)))
            .collect();
        spinners
            .into_iter()
            .map(|spinner| {
                spinner
                    .join()
                    .map_err(|_| anyhow::anyhow!("a spinning thread panicked"))
            })
            .collect::<anyhow::Result<_>>()
    })?;
    let mut stalls = histogram();
    let mut stopped = Duration::ZERO;
    for (found, stopped_for) in spun {
        stalls.add(&found)?;
        stopped += stopped_for;
    }
    let mut nap_overshoot = histogram();
    let end = Instant::now() + nap;
    while Instant::now() < end {
        let asleep = Instant::now();
        thread::sleep(NAP);
        record(&mut nap_overshoot, asleep.elapsed().saturating_sub(NAP));
    }
    Ok(Steadiness {
        spun: spin,
        threads,
        stalls,
        stopped,
        nap_overshoot,
    })
}

/// Reads the clock for `length`; returns the gaps longer than [`STALL`] and their sum.
fn spin_for(length: Duration) -> (Histogram<u64>, Duration) {
    let mut stalls = histogram();
    let mut stopped = Duration::ZERO;
    let start = Instant::now();
    let mut last = start;
    while last - start < length {
        let now = Instant::now();
        let gap = now - last;
        if gap > STALL {
            record(&mut stalls, gap);
            stopped += gap;
        }
        last = now;
    }
    (stalls, stopped)
}
