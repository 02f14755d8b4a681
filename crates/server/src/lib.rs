//! librelay's server: the JSON API with its OpenAPI document, the ISO 18626 endpoint, the home
//! page, the web pages for readers and staff, and the background jobs (outbox delivery, deadline sweeps), all started by `App`.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod admin;
pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod cover;
pub mod demo;
pub mod drive;
pub mod error;
pub mod files;
pub mod files_s3;
pub mod flow;
pub mod i18n;
pub mod inbound;
pub mod jobs;
pub mod letters;
pub mod licences;
pub mod lookup;
pub mod mime;
pub mod partner_mail;
pub mod partners;
pub mod reset;
pub mod settle;
pub mod slips;
pub mod state;
pub mod traffic;
pub mod waiters;
pub mod web;

pub use app::App;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use state::AppState;
