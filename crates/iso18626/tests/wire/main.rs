//! The crate's one test binary: samples, schema validation, bad input and properties.
// Helpers outside #[test] functions may fail loudly too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod properties;
mod samples;
mod schema;
mod schema_2021;
mod support;
