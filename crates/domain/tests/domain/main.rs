//! Integration tests of the domain crate through its public API: hand-worked golden cases of
//! the key-result kinds, units, rollups, the health engine, the calendar and check-in replay,
//! property tests, and the real CDNOW file. Golden cases of the older modules live next to their
//! code.

mod calendar;
mod cdnow_real;
mod check_ins;
mod health_engine;
mod key_results;
mod properties;
mod properties_engine;
mod rollups;
mod support;
mod units;
