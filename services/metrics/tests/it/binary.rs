//! The `devokr-metrics` binary as an operator runs it: configured from the environment,
//! SERVING once its database is migrated, and exiting 0 after SIGTERM.

use std::{
    net::TcpListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use devokr_platform::{client::wait_until_serving, testing::TestDatabase};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

#[tokio::test]
async fn the_binary_serves_and_exits_cleanly_on_sigterm() {
    let database = TestDatabase::create().await.expect("a test database");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_devokr-metrics"))
        .env("DATABASE_URL", database.url())
        .env("GRPC_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("SHUTDOWN_TIMEOUT_SECS", "5")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");

    let channel = devokr_platform::client::lazy_channel(&format!("http://127.0.0.1:{port}"))
        .expect("a channel");
    wait_until_serving(
        channel,
        devokr_metrics::SERVICE_NAME,
        Duration::from_secs(30),
    )
    .await
    .expect("the binary reports SERVING");

    let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid"));
    kill(pid, Signal::SIGTERM).expect("SIGTERM delivered");
    let started = Instant::now();
    let status = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("waited")
        .expect("the binary's exit");
    assert!(status.status.success(), "exit status {:?}", status.status);
    assert!(started.elapsed() < Duration::from_secs(5));
    // Logs are structured JSON lines on stderr, one of them saying it stopped.
    let logs = String::from_utf8(status.stderr).expect("utf-8 logs");
    assert!(
        logs.lines()
            .any(|line| line.starts_with('{') && line.contains("\"stopped\"")),
        "{logs}"
    );
}

#[test]
fn a_missing_database_url_is_a_usage_error_that_names_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_devokr-metrics"))
        .env_remove("DATABASE_URL")
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("--database-url"), "{message}");
}
