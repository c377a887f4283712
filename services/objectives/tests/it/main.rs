//! Service tests of the objectives service: the real service (and a real metrics service)
//! over gRPC on real PostgreSQL, one fresh database per test.

mod alignment;
mod batch;
mod carry_over;
mod changes;
mod check_ins;
mod clock;
mod cycles;
mod fixture;
mod guards;
mod kinds;
mod lifecycle;
mod metric_refresh;
mod resources;
mod rollups;
mod serving;
mod settings;
mod status;
mod watch;
