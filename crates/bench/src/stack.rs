//! The processes under test: PostgreSQL (a throwaway local cluster unless a URL is given),
//! the metrics and objectives services from their release binaries, and the do-nothing
//! server from this binary. Each service is a process of its own, as in production, so its
//! memory can be read from `/proc/<pid>/status` and it does not share a runtime with the
//! load generator.

use std::{
    net::{SocketAddr, TcpListener as StdTcpListener},
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use devokr_platform::local_postgres::LocalPostgres;
use devokr_proto::{
    bench::v1::noop_service_server, metrics::v1::metrics_service_server,
    objectives::v1::objectives_service_server,
};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use tokio::process::{Child, Command};

/// How long a service may take to report SERVING (it migrates its schema first).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a service may take to drain and exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The running processes. Stop them with [`Stack::stop`]; dropping kills them.
#[derive(Debug)]
pub(crate) struct Stack {
    pub(crate) objectives: ServiceProcess,
    pub(crate) noop: ServiceProcess,
    metrics: ServiceProcess,
    local_postgres: Option<LocalPostgres>,
}

impl Stack {
    /// Starts the database (unless `database_url` is given), then metrics, objectives and
    /// the noop server, and waits until each reports SERVING.
    pub(crate) async fn start(database_url: Option<String>) -> anyhow::Result<Self> {
        let binaries = binaries_dir()?;
        let (database_url, local_postgres) = match database_url {
            Some(url) => (url, None),
            None => {
                eprintln!("starting a throwaway PostgreSQL cluster");
                let cluster = LocalPostgres::start().await?;
                let url = cluster.create_database("devokr_bench").await?;
                (url, Some(cluster))
            }
        };

        eprintln!("starting the metrics, objectives and noop servers as separate processes");
        let metrics = ServiceProcess::spawn(
            metrics_service_server::SERVICE_NAME,
            Command::new(binaries.join("devokr-metrics")).env("DATABASE_URL", &database_url),
        )?;
        let objectives = ServiceProcess::spawn(
            objectives_service_server::SERVICE_NAME,
            Command::new(binaries.join("devokr-objectives"))
                .env("DATABASE_URL", &database_url)
                .env("OBJECTIVES_METRICS_URL", &metrics.url),
        )?;
        let noop = ServiceProcess::spawn(
            noop_service_server::SERVICE_NAME,
            Command::new(std::env::current_exe()?).arg("serve-noop"),
        )?;
        let mut stack = Self {
            objectives,
            noop,
            metrics,
            local_postgres,
        };
        for service in [&mut stack.metrics, &mut stack.objectives, &mut stack.noop] {
            service.wait_until_serving().await?;
        }
        Ok(stack)
    }

    /// Stops the servers (SIGTERM, then waits for them to drain), then the local database.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        eprintln!("stopping the servers");
        let stopped = [
            self.objectives.stop().await,
            self.noop.stop().await,
            self.metrics.stop().await,
        ];
        if let Some(cluster) = self.local_postgres {
            // Dropping the cluster waits for PostgreSQL to exit: not on a runtime thread.
            tokio::task::spawn_blocking(move || drop(cluster)).await?;
        }
        stopped.into_iter().collect()
    }
}

/// Where the service binaries are: next to this one, as `cargo build --release` puts them.
fn binaries_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot tell where this program is")?;
    let dir = exe
        .parent()
        .context("this program's path has no folder")?
        .to_owned();
    for binary in ["devokr-metrics", "devokr-objectives"] {
        if !dir.join(binary).is_file() {
            bail!(
                "{} is missing: build the services next to the benchmark with \
                 `cargo build --release -p devokr-bench -p devokr-objectives -p devokr-metrics`",
                dir.join(binary).display()
            );
        }
    }
    Ok(dir)
}

/// A server running as a child process, listening on a free loopback port.
#[derive(Debug)]
pub(crate) struct ServiceProcess {
    /// The gRPC service it serves, as health checks name it.
    name: &'static str,
    /// The URL clients use.
    pub(crate) url: String,
    pid: Pid,
    child: Child,
}

impl ServiceProcess {
    /// Starts `command` configured by environment, as a deployment would: listening on a free
    /// port, logging warnings and errors only (to this process's stderr).
    fn spawn(name: &'static str, command: &mut Command) -> anyhow::Result<Self> {
        let address = free_address()?;
        let child = command
            .env("GRPC_LISTEN_ADDR", address.to_string())
            .env("LOG_FILTER", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // A benchmark that fails half-way must not leave servers behind.
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start the server of {name}"))?;
        let pid = child
            .id()
            .context("the server exited at once")
            .and_then(|pid| Ok(Pid::from_raw(i32::try_from(pid)?)))?;
        Ok(Self {
            name,
            url: format!("http://{address}"),
            pid,
            child,
        })
    }

    async fn wait_until_serving(&mut self) -> anyhow::Result<()> {
        let channel = devokr_platform::client::lazy_channel(&self.url)?;
        tokio::select! {
            ready = devokr_platform::client::wait_until_serving(channel, self.name, START_TIMEOUT) => ready,
            exited = self.child.wait() => bail!("the server of {} exited while starting: {}", self.name, exited?),
        }
    }

    /// The server's resident memory, in bytes.
    pub(crate) fn resident_bytes(&self) -> anyhow::Result<u64> {
        let status = self.proc_file("status")?;
        let kilobytes = field(&status, "VmRSS:")
            .and_then(|value| value.strip_suffix(" kB"))
            .and_then(|value| value.trim().parse::<u64>().ok())
            .context("/proc status has no VmRSS line")?;
        Ok(kilobytes * 1024)
    }

    /// Fails unless the server may open at least `needed` files (sockets count).
    pub(crate) fn check_open_file_limit(&self, needed: usize) -> anyhow::Result<()> {
        let limits = self.proc_file("limits")?;
        let soft = field(&limits, "Max open files")
            .and_then(|value| value.split_whitespace().next())
            .context("/proc limits has no open files line")?;
        if soft != "unlimited" && soft.parse::<usize>()? < needed {
            bail!(
                "the {} server may open only {soft} files, and needs about {needed}: raise `ulimit -n`",
                self.name
            );
        }
        Ok(())
    }

    fn proc_file(&self, file: &str) -> anyhow::Result<String> {
        read_proc(&Path::new(&self.pid.to_string()).join(file))
    }

    /// SIGTERM, then waits for the graceful drain; kills it if that takes too long.
    async fn stop(mut self) -> anyhow::Result<()> {
        kill(self.pid, Signal::SIGTERM)?;
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(exited) => {
                let status = exited?;
                if !status.success() {
                    bail!(
                        "the {} server exited with {status} after SIGTERM",
                        self.name
                    );
                }
            }
            Err(_) => {
                self.child.kill().await?;
                bail!(
                    "the {} server did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed it",
                    self.name
                );
            }
        }
        Ok(())
    }
}

/// CPU time used so far by a server, by this process (the load generator) and by the whole
/// machine. Differences of two samples tell who used the cores during a load run; on two
/// shared cores that is what decides the throughputs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuSample {
    server: Duration,
    client: Duration,
    machine: Duration,
}

impl CpuSample {
    pub(crate) fn take(server: &ServiceProcess) -> anyhow::Result<Self> {
        Ok(Self {
            server: process_cpu(&server.proc_file("stat")?)?,
            client: process_cpu(&read_proc(Path::new("self/stat"))?)?,
            machine: machine_cpu(&read_proc(Path::new("stat"))?)?,
        })
    }

    /// What was used from `earlier` to this sample.
    pub(crate) fn since(&self, earlier: &Self) -> CpuUse {
        CpuUse {
            server: self.server.saturating_sub(earlier.server),
            client: self.client.saturating_sub(earlier.client),
            machine: self.machine.saturating_sub(earlier.machine),
        }
    }
}

/// CPU time used during a load run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuUse {
    /// By the server under load.
    pub(crate) server: Duration,
    /// By the load generator.
    pub(crate) client: Duration,
    /// By every process of the machine together.
    pub(crate) machine: Duration,
}

impl std::ops::AddAssign for CpuUse {
    fn add_assign(&mut self, other: Self) {
        self.server += other.server;
        self.client += other.client;
        self.machine += other.machine;
    }
}

impl CpuUse {
    /// By everything else: PostgreSQL, the idle servers, and other work on the machine that
    /// perturbs the run.
    pub(crate) fn others(&self) -> Duration {
        self.machine.saturating_sub(self.server + self.client)
    }
}

/// The length of one clock tick of `/proc` CPU times.
fn clock_tick() -> anyhow::Result<Duration> {
    let ticks_per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?
        .context("the system has no clock tick")?;
    Ok(Duration::from_secs(1) / u32::try_from(ticks_per_second)?)
}

/// User plus system time from a `/proc/<pid>/stat` line (fields 14 and 15, counted after
/// the command name, which may hold spaces).
fn process_cpu(stat: &str) -> anyhow::Result<Duration> {
    let after_name = stat.rsplit_once(')').context("malformed /proc stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u32 = [11, 12]
        .iter()
        .map(|&index| {
            fields
                .get(index)
                .context("short /proc stat")?
                .parse::<u32>()
                .map_err(anyhow::Error::from)
        })
        .sum::<anyhow::Result<u32>>()?;
    Ok(clock_tick()? * ticks)
}

/// Busy time of all cores together from `/proc/stat`'s first line: every column but idle and
/// iowait (guest time is already counted in user).
fn machine_cpu(stat: &str) -> anyhow::Result<Duration> {
    let columns: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .context("/proc/stat has no cpu line")?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let busy: u64 = columns
        .iter()
        .take(8)
        .enumerate()
        .filter(|(index, _)| !matches!(index, 3 | 4))
        .map(|(_, ticks)| ticks)
        .sum();
    Ok(clock_tick()? * u32::try_from(busy)?)
}

fn read_proc(path: &Path) -> anyhow::Result<String> {
    let path = Path::new("/proc").join(path);
    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
}

/// The rest of the line that starts with `label` in a `/proc` file.
fn field<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(label))
        .map(str::trim)
}

/// A free loopback address. The port is released before the server binds it; another
/// process taking it in between would make the server fail to start, loudly.
fn free_address() -> anyhow::Result<SocketAddr> {
    Ok(StdTcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Lets this process open as many files as the hard limit allows: every connection of the
/// load generator is a file.
pub(crate) fn raise_open_file_limit() -> anyhow::Result<()> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(())
}
