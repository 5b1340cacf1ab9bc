//! The JSON API under `/api/v1`, and its OpenAPI document at `/api/openapi.json`, generated
//! from the handler annotations below (utoipa).
//!
//! Callers authenticate with `Authorization: Bearer <token>` (API tokens) or a signed-in
//! browser session plus `X-CSRF-Token` on state-changing requests. Every handler decides
//! through the policy decision point in `sealroom_app::policy`.

mod audit;
pub(crate) mod documents;
mod me;
pub(crate) mod messages;
mod organization;
mod patients;
mod policies;
mod proxies;
mod records;
mod security;
pub(crate) mod slips;
mod tokens;
mod uploads;
mod users;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/v1/me", get(me::me))
        .route("/v1/me/sessions", get(me::sessions))
        .route("/v1/me/sessions/{id}", delete(me::end_session))
        .route("/v1/users", get(users::list).post(users::create))
        .route("/v1/users/{id}/sessions", delete(users::end_sessions))
        .route("/v1/tokens", get(tokens::list))
        .route("/v1/tokens/{id}", delete(tokens::revoke))
        .route("/v1/audit/verification", get(audit::verify))
        .route("/v1/audit/events", get(audit::export))
        .route("/v1/policies", get(policies::list).post(policies::propose))
        .route("/v1/policies/{version}/approval", post(policies::approve))
        .route("/v1/policies/{version}/rejection", post(policies::reject))
        .route(
            "/v1/departments",
            get(organization::list_departments).post(organization::create_department),
        )
        .route(
            "/v1/users/{id}/assignments",
            get(organization::list_assignments).post(organization::assign),
        )
        .route("/v1/users/{id}/offboarding", post(organization::offboard))
        .route(
            "/v1/departments/{id}/access-report",
            get(organization::access_report),
        )
        .route(
            "/v1/departments/{id}/access-reviews",
            post(organization::start_review),
        )
        .route("/v1/access-reviews/{id}", get(organization::review))
        .route(
            "/v1/access-reviews/{id}/items/{assignment_id}",
            post(organization::attest),
        )
        .route("/v1/assignments/{id}", delete(organization::end))
        .route(
            "/v1/assignments/{id}/confirmation",
            post(organization::confirm),
        )
        .route("/v1/patients", post(patients::register))
        .route("/v1/patients/.search", post(patients::search))
        .route(
            "/v1/patients/{id}/documents",
            get(documents::list).post(documents::upload.layer(DefaultBodyLimit::disable())),
        )
        .route("/v1/documents/{id}", get(documents::show))
        .route("/v1/documents/{id}/release", post(documents::release))
        .route(
            "/v1/documents/{id}/legal-hold",
            put(records::hold).delete(records::release),
        )
        .route(
            "/v1/documents/{id}/erasure-requests",
            post(records::request_erasure),
        )
        .route(
            "/v1/uploads",
            post(uploads::create).options(uploads::options),
        )
        .route(
            "/v1/uploads/{id}",
            axum::routing::head(uploads::head)
                .patch(uploads::patch.layer(DefaultBodyLimit::disable()))
                .delete(uploads::delete),
        )
        .route("/v1/erasure-requests", get(records::pending))
        .route("/v1/erasure-requests/{id}/approval", post(records::approve))
        .route("/v1/erasure-requests/{id}/rejection", post(records::reject))
        .route(
            "/v1/documents/{id}/versions",
            post(documents::correct.layer(DefaultBodyLimit::disable())),
        )
        .route("/v1/documents/{id}/content", get(documents::content))
        .route(
            "/v1/documents/{id}/versions/{version}/content",
            get(documents::version_content),
        )
        .route("/v1/patients/mine", get(patients::mine))
        .route("/v1/patients/{id}", get(patients::show))
        .route("/v1/patients/{id}/admission", post(patients::admit))
        .route("/v1/patients/{id}/transfer", post(patients::transfer))
        .route("/v1/patients/{id}/discharge", post(patients::discharge))
        .route("/v1/patients/{id}/tests", post(patients::order_test))
        .route(
            "/v1/patients/{id}/test-registrations",
            post(patients::register_test),
        )
        .route("/v1/tests/{id}/slips", post(slips::issue))
        .route("/v1/episodes/{id}/slips", post(slips::issue_for_episode))
        .route("/v1/patients/{id}/invitations", post(slips::invite))
        .route("/v1/patients/{id}/contacts", post(patients::add_contact))
        .route(
            "/v1/patients/{id}/proxies",
            get(proxies::list).post(proxies::propose),
        )
        .route("/v1/proxies/{id}/approval", post(proxies::approve))
        .route("/v1/proxies/{id}/rejection", post(proxies::reject))
        .route("/v1/proxies/{id}/revocation", post(proxies::revoke))
        .route(
            "/v1/patients/{id}/contacts/{contact}/verification",
            post(patients::verify_contact),
        )
        .route(
            "/v1/patients/{id}/records",
            get(patients::records).post(patients::add_record),
        )
        .route(
            "/v1/patients/{id}/grants",
            get(patients::grants).post(patients::create_grant),
        )
        .route(
            "/v1/patients/{id}/access-history",
            get(patients::access_history),
        )
        .route("/v1/grants", get(patients::my_grants))
        .route("/v1/grants/{id}", delete(patients::revoke_grant))
        .route(
            "/v1/break-glass",
            get(security::reviews).post(security::open),
        )
        .route("/v1/break-glass/{id}/review", post(security::review))
        .route("/v1/alerts", get(security::alerts))
        .route("/v1/threads", get(messages::list).post(messages::start))
        .route("/v1/threads/.search", post(messages::search))
        .route("/v1/threads/{id}", get(messages::show))
        .route("/v1/threads/{id}/messages", post(messages::send))
        .route(
            "/v1/threads/{id}/participants",
            post(messages::add_participant),
        )
        .route(
            "/v1/threads/{id}/participants/{participant}",
            delete(messages::remove_participant),
        )
        .route("/v1/messages/{id}/recall", post(messages::recall))
        .route("/v1/messages/unread", get(messages::unread))
        .route("/v1/messages/events", get(messages::events))
        .route(
            "/v1/attachments",
            post(messages::upload.layer(DefaultBodyLimit::disable())),
        )
        .route(
            "/v1/attachments/{id}/content",
            get(messages::attachment_content),
        )
        .route("/v1/attachments/{id}/file", post(messages::file_attachment))
        .route(
            "/v1/alerts/{id}/acknowledgement",
            post(security::acknowledge),
        )
}

/// An error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `invalid_json`, `forbidden`, `step_up_required`.
    pub error: String,
    /// What was wrong, for people.
    pub message: String,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Sealroom API", description = "Staff accounts, sessions, API tokens, departments and assignments, patients with need-to-know access, grants, break-glass, and audit of a Sealroom server."),
    paths(me::me, me::sessions, me::end_session, users::list, users::create, users::end_sessions, tokens::list, tokens::revoke, audit::verify, audit::export,
        policies::list, policies::propose, policies::approve, policies::reject,
        organization::list_departments, organization::create_department, organization::list_assignments, organization::assign,
        organization::confirm, organization::end, organization::offboard,
        organization::access_report, organization::start_review, organization::review, organization::attest,
        patients::register, patients::search, patients::mine, patients::show, patients::admit, patients::transfer, patients::discharge,
        patients::order_test, patients::register_test, slips::issue, slips::issue_for_episode, slips::invite, patients::add_contact, proxies::propose, proxies::list, proxies::approve, proxies::reject, proxies::revoke, patients::verify_contact, patients::records, patients::add_record,
        documents::upload, documents::correct, documents::list, documents::show, documents::release, documents::content, documents::version_content,
        records::hold, records::release, records::request_erasure, records::pending, records::approve, records::reject, patients::grants, patients::create_grant, patients::my_grants,
        patients::revoke_grant, patients::access_history,
        security::open, security::reviews, security::review, security::alerts, security::acknowledge,
        messages::start, messages::list, messages::search, messages::show, messages::send, messages::add_participant, messages::remove_participant,
        messages::recall, messages::unread, messages::upload, messages::attachment_content, messages::file_attachment, messages::events),
    components(schemas(ErrorBody, me::Me, me::SessionInfo, users::User, users::NewUser, users::CreatedUser, users::Ended, tokens::Token, audit::Verification,
        organization::NewDepartment, organization::NewAssignmentBody, organization::AttestationBody, patients::NationalIdBody, patients::NewPatientBody, patients::SearchBody,
        patients::DepartmentBody, patients::TestBody, patients::RecordBody, patients::GrantBody, security::BreakGlassBody, security::ReviewBody, policies::ProposalBody,
        documents::NewDocumentBody, documents::CorrectionBody, slips::SlipBody, slips::InvitationBody, patients::ContactBody, patients::VerificationBody, records::LegalHoldBody, records::ErasureBody,
        messages::MessageBody, messages::NewThreadBody, messages::ParticipantBody, messages::SearchBody)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
