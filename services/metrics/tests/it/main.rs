//! Service tests of the metrics service: the real service, started in this process on a fresh
//! PostgreSQL database per test, called through the generated gRPC client.
//!
//! Expected values are worked out by hand in the comments and, where the data is larger, with
//! the plain-Rust reference formulas of `devokr_domain::metric_reference` on the same events;
//! never copied from the service's own output.

mod api;
mod bad_input;
mod binary;

mod cdnow;
mod evaluate;
mod ingest;
mod support;
mod watch;
