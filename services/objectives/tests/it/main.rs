//! Service tests of the objectives service: the real service (and a real metrics service)
//! over gRPC on real PostgreSQL, one fresh database per test.

mod cycles;
mod fixture;
mod resources;
mod serving;
mod status;
