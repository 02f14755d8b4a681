//! ISO 18626 (interlibrary loan) messages: the model, reading and writing, for both the 2017
//! schema (v1.2) and the 2021 schema (2021-2). Pure: no I/O, no clock, no logging.
//!
//! ```
//! let xml = br#"<ISO18626Message xmlns="http://illtransactions.org/2013/iso18626"
//!     xmlns:ill="http://illtransactions.org/2013/iso18626" ill:version="2021-2">
//!   <requestingAgencyMessage>
//!     <header>
//!       <supplyingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>NL-0001</agencyIdValue></supplyingAgencyId>
//!       <requestingAgencyId><agencyIdType>ISIL</agencyIdType><agencyIdValue>NL-0002</agencyIdValue></requestingAgencyId>
//!       <timestamp>2026-11-23T10:00:00Z</timestamp>
//!       <requestingAgencyRequestId>r-1</requestingAgencyRequestId>
//!     </header>
//!     <action>Received</action>
//!   </requestingAgencyMessage>
//! </ISO18626Message>"#;
//! let (message, version) = iso18626::parse(xml).unwrap();
//! assert_eq!(version, iso18626::Version::V2021);
//! assert_eq!(message.kind(), "requestingAgencyMessage");
//! let again = iso18626::write(&message, version);
//! assert_eq!(iso18626::parse(again.as_bytes()).unwrap().0, message);
//! ```
#![forbid(unsafe_code)]

mod error;
mod model;
mod read;
mod tree;
mod write;

pub use error::ParseError;
pub use model::*;
pub use read::{Sniffed, parse, sniff};
pub use write::write;
