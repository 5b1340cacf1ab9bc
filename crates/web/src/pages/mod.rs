//! Server-rendered pages. Element ids and field names are part of the browser-test contract
//! (`e2e/tests/staff-signin.test.mjs`).

pub mod admin;
pub mod assets;
pub mod desk;
pub mod enrol;
pub mod layout;
pub mod messages;
pub mod patients;
pub mod review;
pub mod security;
pub mod signin;

use axum::handler::Handler;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::extract::{set_cookie, SESSION_COOKIE};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(signin::home))
        .route("/setup", get(enrol::setup_form).post(enrol::setup_submit))
        .route(
            "/enrol/accept",
            get(enrol::accept_form).post(enrol::accept_submit),
        )
        .route("/enrol", get(enrol::password_form))
        .route("/enrol/password", post(enrol::password_submit))
        .route("/enrol/factor", get(enrol::factor_choice))
        .route(
            "/enrol/totp",
            get(enrol::totp_form).post(enrol::totp_submit),
        )
        .route("/enrol/recovery-codes", get(enrol::recovery_codes))
        .route("/signin", get(signin::form).post(signin::submit))
        .route(
            "/signin/second-factor",
            get(signin::second_factor_form).post(signin::totp_submit),
        )
        .route("/signin/recovery-code", post(signin::recovery_submit))
        .route("/signout", post(signin::sign_out))
        .route("/me/security", get(security::overview))
        .route(
            "/me/step-up",
            get(security::step_up_form).post(security::step_up_submit),
        )
        .route("/me/password", post(security::change_password))
        .route(
            "/me/totp",
            get(security::totp_form).post(security::totp_submit),
        )
        .route("/me/totp/remove", post(security::remove_totp))
        .route("/me/passkeys/{id}/remove", post(security::remove_passkey))
        .route(
            "/me/recovery-codes",
            post(security::regenerate_recovery_codes),
        )
        .route("/me/sessions/{id}/end", post(security::end_session))
        .route(
            "/me/sessions/end-others",
            post(security::end_other_sessions),
        )
        .route("/desk", get(desk::home))
        .route("/desk/search", post(desk::search))
        .route("/desk/patients", post(desk::register))
        .route("/desk/patients/{id}", get(desk::patient))
        .route("/desk/patients/{id}/admission", post(desk::admit))
        .route("/desk/patients/{id}/tests", post(desk::register_test))
        .route(
            "/desk/patients/{id}/contacts/{contact}/invitation",
            post(desk::invite),
        )
        .route("/desk/patients/{id}/contacts", post(desk::add_contact))
        .route(
            "/desk/patients/{id}/contacts/{contact}/verification",
            post(desk::verify_contact),
        )
        .route("/desk/tests/{id}/slip", post(desk::test_slip))
        .route("/desk/episodes/{id}/slip", post(desk::episode_slip))
        .route("/patients", get(patients::mine))
        .route("/patients/{id}/documents", get(patients::documents))
        .route(
            "/patients/{id}/documents/{document}/release",
            post(patients::release),
        )
        .route(
            "/messages",
            get(messages::inbox)
                .post(messages::compose.layer(axum::extract::DefaultBodyLimit::disable())),
        )
        .route("/messages/search", post(messages::search))
        .route("/messages/{id}", get(messages::thread))
        .route(
            "/messages/{id}/messages",
            post(messages::reply.layer(axum::extract::DefaultBodyLimit::disable())),
        )
        .route(
            "/messages/{thread}/recall/{message}",
            post(messages::recall),
        )
        .route(
            "/messages/{thread}/attachments/{attachment}/file",
            post(messages::file_attachment),
        )
        .route("/security/review", get(review::show))
        .route(
            "/security/alerts/{id}/acknowledge",
            post(review::acknowledge),
        )
        .route("/security/break-glass/{id}/review", post(review::review))
        .route("/admin/users", get(admin::list).post(admin::create))
        .route("/admin/users/{id}/sessions/end", post(admin::end_sessions))
        .route("/admin/users/{id}/role", post(admin::change_role))
        .route("/admin/users/{id}/unlock", post(admin::unlock))
        .route(
            "/admin/users/{id}/enrolment-link",
            post(admin::reissue_link),
        )
}

/// The signed-in person as the use cases see them, with their step-up freshness.
pub fn actor(
    s: &AppState,
    me: &sealroom_app::sessions::CurrentSession,
    client: sealroom_app::Client,
) -> sealroom_app::accounts::Actor {
    sealroom_app::accounts::Actor {
        principal: me.principal(),
        stepped_up: me.stepped_up(s.app.now()),
        client,
    }
}

/// Redirect after a POST, setting a new session cookie.
pub fn redirect_with_session(to: &str, token: &str) -> Response {
    (
        [(SET_COOKIE, set_cookie(SESSION_COOKIE, token, None))],
        Redirect::to(to),
    )
        .into_response()
}
