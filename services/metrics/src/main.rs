//! The metrics service binary; see the library for what it does.

fn main() -> std::process::ExitCode {
    devokr_platform::server::main(devokr_metrics::run)
}
