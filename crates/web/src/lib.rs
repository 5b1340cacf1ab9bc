//! Sealroom's HTTP face: server-rendered pages, the JSON API under `/api/v1` with its OpenAPI
//! document, WebAuthn ceremony endpoints, health probes, and the middleware every request
//! passes through (request id and panic containment, security headers, origin and CSRF checks,
//! body limits, sessions).
//!
//! Handlers translate HTTP into calls on [`sealroom_app::App`] and back; they hold no business
//! rule. Nothing here logs a request body, a cookie, a token or a form field.

pub mod api;
mod context;
mod error;
mod extract;
mod fhir;
mod health;
mod limits;
mod outside;
mod pages;
mod patient;
mod scim;
mod security;
mod slip_pdf;
mod webauthn;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use ipnet::IpNet;
use sealroom_app::App;

/// Largest request body accepted (forms, JSON, WebAuthn answers).
pub const BODY_LIMIT: usize = 64 * 1024;

/// How the web layer is exposed.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Send HSTS: true when the browser reaches us over HTTPS (directly or via a proxy).
    pub hsts: bool,
    /// The origin browsers use, e.g. `https://localhost:8443`; unsafe requests from any other
    /// origin are refused.
    pub public_origin: String,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Serve `/__panic_probe`, which panics on purpose (development and tests only).
    pub panic_probe: bool,
}

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub config: Arc<WebConfig>,
}

/// The whole HTTP application.
pub fn router(app: App, config: WebConfig) -> Router {
    let state = AppState {
        app,
        config: Arc::new(config),
    };
    Router::new()
        .merge(pages::routes())
        .merge(patient::routes())
        .merge(outside::routes())
        .merge(webauthn::routes())
        .nest("/api", api::routes())
        .nest("/scim/v2", scim::routes())
        .nest("/fhir/R4", fhir::routes())
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/assets/app.css", get(pages::assets::css))
        .route("/assets/app.js", get(pages::assets::js))
        .route("/assets/icon.svg", get(pages::assets::icon))
        .route("/favicon.ico", get(pages::assets::icon))
        .route(
            "/__panic_probe",
            post(health::panic_probe).get(health::panic_probe),
        )
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(limits::limit_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::check_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::headers,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            context::request_context,
        ))
        .with_state(state)
}
