//! Pure domain types and maths of DevOKR, shared by every service.
//!
//! Nothing here does I/O, spawns tasks or talks to a database: every function takes its inputs
//! (including "now") as arguments, so the services, their SQL and their tests can all be checked
//! against the same definitions. Values are `rust_decimal::Decimal`, never floats.

pub mod calendar;
pub mod cdnow;
pub mod check_in;
pub mod cycle;
pub mod decimal;
pub mod health;
pub mod key_result;
pub mod metric_reference;
pub mod names;
pub mod progress;
pub mod roadmap;
pub mod rollup;
pub mod units;

pub use chrono_tz::Tz;
pub use rust_decimal::Decimal;
