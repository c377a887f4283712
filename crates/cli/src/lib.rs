//! The `devokr` command: the whole stack on one machine (`dev`), the CDNOW demo (`demo`),
//! and the pieces both are made of, which the end-to-end tests use too.

pub mod demo;
pub mod import;
pub mod report;
pub mod stack;
