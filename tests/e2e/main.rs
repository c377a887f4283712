//! The demo flow through the three services over gRPC, on real PostgreSQL and the real CDNOW
//! purchases, checked against values computed straight from the file with the plain-Rust
//! reference formulas in `devokr_domain::metric_reference`.

mod demo;
