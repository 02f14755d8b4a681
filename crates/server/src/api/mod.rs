//! HTTP: each module has its own router; they are merged here, with the OpenAPI document built
//! from the same route registrations.

pub mod auth;
pub mod catalog;
pub mod copyright;
pub mod extract;
pub mod fees;
pub mod files;
pub mod iso_endpoint;
pub mod lending;
pub mod letters;
pub mod libraries;
pub mod licences;
pub mod lookup;
pub mod mail;
pub mod meta;
pub mod outbox;
pub mod partners;
pub mod patrons;
pub mod peers;
pub mod reader_fees;
pub mod requests;
pub mod reset;
pub mod routing;
pub mod stats;
pub mod users;
pub mod views;

use axum::Router;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "librelay",
        description = "Interlibrary loan and document delivery. Every call but login takes `Authorization: Bearer TOKEN`. Errors are `{\"error\": {\"code\", \"message\"}}`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "auth", description = "Log in and out"),
        (name = "borrowing", description = "Requests of our readers, sent to partner libraries"),
        (name = "lending", description = "Requests partner libraries sent us"),
        (name = "admin", description = "Partners served elsewhere and how to reach them (peer profiles)"),
        (name = "catalog", description = "The union catalog: who holds what"),
        (name = "statistics", description = "Borrowing statistics from the request history, and partner evaluation"),
        (name = "fees", description = "Fee schedules, charges, monthly settlement and statements"),
        (name = "meta", description = "Health, metrics and this document"),
        (name = "letters", description = "Letters: templates, rules, preferences; background jobs")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// All routes, and the OpenAPI document describing them.
pub fn router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (api, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(requests::router())
        .merge(lending::router())
        .merge(patrons::router())
        .merge(users::router())
        .merge(libraries::router())
        .merge(catalog::router())
        .merge(lookup::router())
        .merge(outbox::router())
        .merge(peers::router())
        .merge(stats::router())
        .merge(routing::router())
        .merge(partners::router())
        .merge(fees::router())
        .merge(reader_fees::router())
        .merge(files::router())
        .merge(copyright::router())
        .merge(licences::router(state.config.max_file_bytes))
        .merge(meta::router())
        .merge(letters::router())
        .merge(mail::router())
        .merge(reset::router())
        .split_for_parts();
    let doc_json = std::sync::Arc::new(doc.clone());
    let app = api
        .merge(meta::pages(doc_json))
        .merge(iso_endpoint::router())
        .with_state(state);
    (app, doc)
}
