//! A private, throwaway PostgreSQL cluster for local runs and tests when no `DATABASE_URL` is
//! given: `initdb` into a temporary folder, `postgres` on a free loopback port, and everything
//! removed again when it is dropped.
//!
//! PostgreSQL refuses to run as root, so as root the cluster belongs to an unprivileged system
//! user (`postgres`, else `nobody`). The server gets a parent-death signal, so it stops even
//! when this process is killed; folders such a death leaves behind are swept at the next start.

use std::{
    fs,
    io::Read,
    net::TcpListener as StdTcpListener,
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context, bail};
use nix::{
    errno::Errno,
    sys::signal::{Signal, kill},
    unistd::{Pid, User, chown, getuid},
};
use sqlx::{Connection, PgConnection};

const DIR_PREFIX: &str = "devokr-pg-";
const SUPERUSER: &str = "devokr";
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Holds the id of the process that owns a cluster folder.
const OWNER_FILE: &str = "owner.pid";

/// A running throwaway cluster. Dropping it stops the server and deletes its files.
#[derive(Debug)]
pub struct LocalPostgres {
    root: PathBuf,
    port: u16,
    pid: Pid,
    /// The thread that spawned the server and waits for it to exit (see `spawn_server`).
    keeper: Option<thread::JoinHandle<()>>,
}

/// Where the PostgreSQL server programs are.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    initdb: PathBuf,
    postgres: PathBuf,
}

impl PgBinaries {
    /// Finds `initdb` and `postgres`: in `PG_BIN_DIR` if set, then on `PATH`, then in the
    /// newest `/usr/lib/postgresql/*/bin` (where Debian and Ubuntu put them).
    pub fn find() -> anyhow::Result<Self> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(dir) = std::env::var_os("PG_BIN_DIR") {
            candidates.push(dir.into());
        }
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path));
        }
        let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                Some((version, entry.path().join("bin")))
            })
            .collect();
        versioned.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
        candidates.extend(versioned.into_iter().map(|(_, dir)| dir));
        Self::find_in(candidates)
    }

    fn find_in(candidates: Vec<PathBuf>) -> anyhow::Result<Self> {
        candidates
            .into_iter()
            .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
            .map(|dir| Self {
                initdb: dir.join("initdb"),
                postgres: dir.join("postgres"),
            })
            .context(
                "no PostgreSQL server programs found (initdb and postgres, looked in PG_BIN_DIR, \
                 on PATH and in /usr/lib/postgresql/*/bin): install the PostgreSQL server \
                 (for example `apt-get install postgresql`), or set DATABASE_URL to a database \
                 to use instead",
            )
    }
}

impl LocalPostgres {
    /// Creates and starts a fresh cluster.
    pub async fn start() -> anyhow::Result<Self> {
        let binaries = PgBinaries::find()?;
        tokio::task::spawn_blocking(move || Self::start_blocking(&binaries)).await?
    }

    /// Like [`Self::start`], for callers outside an async runtime.
    pub fn start_blocking(binaries: &PgBinaries) -> anyhow::Result<Self> {
        sweep_abandoned_clusters();
        let owner = cluster_owner()?;
        let root = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir()
            .context("cannot create a folder for the local PostgreSQL cluster")?
            .keep();
        // The sweep of other processes keys on this: a cluster whose owner lives is kept.
        let result = fs::write(root.join(OWNER_FILE), std::process::id().to_string())
            .context("cannot mark the local PostgreSQL folder as ours")
            .and_then(|()| Self::init_and_run(binaries, &root, owner.as_ref()));
        if result.is_err() {
            let _ = fs::remove_dir_all(&root);
        }
        result
    }

    fn init_and_run(
        binaries: &PgBinaries,
        root: &Path,
        owner: Option<&User>,
    ) -> anyhow::Result<Self> {
        let data = root.join("data");
        if let Some(user) = owner {
            chown(root, Some(user.uid), Some(user.gid))
                .with_context(|| format!("cannot hand {} to user {}", root.display(), user.name))?;
            // The unprivileged owner must be able to reach the folder.
            fs::set_permissions(root, fs::Permissions::from_mode(0o700))?;
        }

        let mut initdb = Command::new(&binaries.initdb);
        initdb
            .arg("--pgdata")
            .arg(&data)
            .args(["--username", SUPERUSER, "--auth=trust", "--encoding=UTF8"])
            .args(["--locale=C", "--no-sync"]);
        run_as(&mut initdb, owner);
        let output = initdb
            .output()
            .with_context(|| format!("cannot run {}", binaries.initdb.display()))?;
        if !output.status.success() {
            bail!(
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }

        // A port freed just now can be taken by someone else before the server binds it;
        // try a few.
        let mut last_error = None;
        for _ in 0..3 {
            let port = free_port()?;
            match spawn_server(binaries, root, &data, port, owner) {
                Ok((pid, keeper)) => {
                    let cluster = Self {
                        root: root.to_owned(),
                        port,
                        pid,
                        keeper: Some(keeper),
                    };
                    match cluster.wait_until_accepting() {
                        Ok(()) => return Ok(cluster),
                        Err(error) => last_error = Some(error),
                    }
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("postgres did not start")))
    }

    fn wait_until_accepting(&self) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let attempt = runtime.block_on(PgConnection::connect(&self.url("postgres")));
            match attempt {
                Ok(connection) => {
                    let _ = runtime.block_on(connection.close());
                    return Ok(());
                }
                Err(error) => {
                    if self.keeper.as_ref().is_some_and(|k| k.is_finished())
                        || Instant::now() > deadline
                    {
                        bail!(
                            "postgres did not accept connections on port {}: {error}; its log:\n{}",
                            self.port,
                            self.log_tail()
                        );
                    }
                    thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn log_tail(&self) -> String {
        let mut log = String::new();
        let _ = fs::File::open(self.root.join("postgres.log"))
            .and_then(|mut f| f.read_to_string(&mut log));
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The URL of `database` on this cluster, as its superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub async fn create_database(&self, database: &str) -> anyhow::Result<String> {
        let mut admin = PgConnection::connect(&self.url("postgres")).await?;
        let statement = format!("CREATE DATABASE \"{}\"", database.replace('"', "\"\""));
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut admin)
            .await
            .with_context(|| format!("cannot create database {database}"))?;
        admin.close().await?;
        Ok(self.url(database))
    }

    /// The port the server listens on (loopback only).
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's "fast shutdown": end sessions, write a checkpoint, exit.
        let _ = kill(self.pid, Signal::SIGINT);
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
        if let Err(error) = fs::remove_dir_all(&self.root) {
            tracing::warn!(%error, path = %self.root.display(), "cannot remove the local PostgreSQL folder");
        }
    }
}

/// As root, the user the cluster runs as; otherwise nobody else (`None`).
fn cluster_owner() -> anyhow::Result<Option<User>> {
    if !getuid().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Some(user) = User::from_name(name)? {
            return Ok(Some(user));
        }
    }
    bail!(
        "running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as"
    )
}

fn run_as(command: &mut Command, owner: Option<&User>) {
    if let Some(user) = owner {
        // std also drops the supplementary groups when root switches uid.
        command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        command.env("HOME", &user.dir);
    }
}

/// Starts `postgres` from a dedicated thread that lives until the server exits. The server's
/// parent-death signal fires when the thread that spawned it ends, so spawning from a
/// short-lived thread (a test's, or a blocking-pool thread) would stop it too early.
fn spawn_server(
    binaries: &PgBinaries,
    root: &Path,
    data: &Path,
    port: u16,
    owner: Option<&User>,
) -> anyhow::Result<(Pid, thread::JoinHandle<()>)> {
    let log = fs::File::create(root.join("postgres.log"))?;
    if let Some(user) = owner {
        chown(&root.join("postgres.log"), Some(user.uid), Some(user.gid))?;
    }
    let mut command = Command::new(&binaries.postgres);
    command
        .arg("-D")
        .arg(data)
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(root)
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args(["-c", "max_connections=300"])
        // Throwaway data: durability is not worth the disk flushes.
        .args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    run_as(&mut command, owner);
    // SAFETY: the closure runs in the forked child before exec and only makes the
    // async-signal-safe prctl(2) system call. std runs it after switching uid/gid, which
    // matters because changing credentials clears the parent-death signal.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGINT).map_err(std::io::Error::from)
        });
    }

    let (spawned_tx, spawned_rx) = mpsc::channel::<std::io::Result<u32>>();
    let keeper = thread::Builder::new()
        .name("local-postgres".into())
        .spawn(move || {
            let child: std::io::Result<Child> = command.spawn();
            match child {
                Ok(mut child) => {
                    let _ = spawned_tx.send(Ok(child.id()));
                    let _ = child.wait();
                }
                Err(error) => {
                    let _ = spawned_tx.send(Err(error));
                }
            }
        })?;
    let pid = spawned_rx
        .recv()?
        .with_context(|| format!("cannot run {}", binaries.postgres.display()))?;
    let pid = Pid::from_raw(i32::try_from(pid)?);
    Ok((pid, keeper))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(StdTcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Removes the folders of clusters whose owning process is gone (it was killed before it could
/// clean up; its server stopped with it, by the parent-death signal). A folder with no owner
/// recorded yet is left alone while it is young, since another process is creating it now.
fn sweep_abandoned_clusters() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(DIR_PREFIX));
        if !is_ours {
            continue;
        }
        let path = entry.path();
        let abandoned = match owner_pid(&path) {
            Some(pid) => matches!(kill(pid, None), Err(Errno::ESRCH)),
            None => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| SystemTime::now().duration_since(modified).ok())
                .is_some_and(|age| age > Duration::from_secs(600)),
        };
        if abandoned {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

fn owner_pid(root: &Path) -> Option<Pid> {
    let owner = fs::read_to_string(root.join(OWNER_FILE)).ok()?;
    Some(Pid::from_raw(owner.trim().parse::<i32>().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_say_what_to_install_or_set() {
        let empty = tempfile::tempdir().expect("temporary folder");
        let error = PgBinaries::find_in(vec![empty.path().to_owned()]).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("apt-get install postgresql"), "{message}");
        assert!(message.contains("DATABASE_URL"), "{message}");
    }

    #[test]
    fn binaries_are_found_in_a_folder_that_has_both() {
        let folder = tempfile::tempdir().expect("temporary folder");
        fs::write(folder.path().join("initdb"), "").expect("initdb");
        assert!(PgBinaries::find_in(vec![folder.path().to_owned()]).is_err());
        fs::write(folder.path().join("postgres"), "").expect("postgres");
        let found = PgBinaries::find_in(vec![folder.path().to_owned()]).expect("found");
        assert_eq!(found.postgres, folder.path().join("postgres"));
    }

    #[tokio::test]
    async fn a_cluster_serves_and_is_gone_after_drop() {
        let cluster = LocalPostgres::start().await.expect("local cluster");
        let url = cluster.create_database("scratch").await.expect("database");
        let mut connection = PgConnection::connect(&url).await.expect("connect");
        let (answer,): (i32,) = sqlx::query_as("select 6 * 7")
            .fetch_one(&mut connection)
            .await
            .expect("query");
        assert_eq!(answer, 42);
        connection.close().await.expect("close");

        let root = cluster.root.clone();
        assert!(root.join("data/postmaster.pid").is_file());
        tokio::task::spawn_blocking(move || drop(cluster))
            .await
            .expect("drop");
        assert!(!root.exists(), "{} is left behind", root.display());
        assert!(PgConnection::connect(&url).await.is_err());
    }
}
