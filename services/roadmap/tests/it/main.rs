//! Service tests of the roadmap service: the real service, with real objectives and metrics
//! services behind it, over gRPC on real PostgreSQL, one fresh database per test.

mod fixture;
mod items;
