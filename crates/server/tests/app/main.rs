//! The one integration-test binary: a module per feature, all starting the real app through
//! `TestApp` on port 0 with a fresh store (SQLite always; PostgreSQL where `TEST_POSTGRES_URL`
//! is set).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_contract;
mod available;
mod catalog;
mod copyright;
mod cover;
mod delivery;
mod email_partner;
mod federation;
mod fees;
mod helpers;
mod holdings;
mod iso_2021;
mod iso_endpoint;
mod lending_desk;
mod letters;
mod lifecycle;
mod local_days;
mod lookup;
mod matrix;
mod notices;
mod queue_counts;
mod queue_facets;
mod reader_fees;
mod routing;
mod stats;
mod store_contract;
mod web;
mod web_admin;
