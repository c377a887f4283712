//! Integration tests of the domain crate through its public API: property tests and the real
//! CDNOW file. Hand-worked golden cases live next to the code they check.

mod cdnow_real;
mod properties;
