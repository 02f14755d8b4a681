//! librelay's domain: identifiers, citations, people, libraries, the two request state machines,
//! the lender rota and calendar rules. Pure Rust, no I/O: everything here is unit- and
//! property-tested, and every other layer asks this crate what is allowed.
#![forbid(unsafe_code)]

pub mod calendar;
pub mod citation;
pub mod copyright;
pub mod duplicate;
pub mod fees;
pub mod geo;
pub mod ident;
pub mod kbart;
pub mod library;
pub mod machine;
pub mod money;
pub mod partner;
pub mod peer;
pub mod people;
pub mod reader_fees;
pub mod requester;
pub mod retry;
pub mod rota;
pub mod routing;
pub mod stats;
pub mod supplier;

pub use machine::{Actor, Refusal};

#[cfg(test)]
mod sim;
