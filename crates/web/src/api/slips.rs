//! Access slips: reception issues one for a test after checking the patient's identity. The
//! answer carries the one-time activation secret, so it is the only time it is shown: as JSON,
//! as the page to print (`Accept: text/html`) or as a one-page PDF (`Accept: application/pdf`).
//! Nothing about the test is on it.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, Markup, DOCTYPE};
use sealroom_app::access_slips::{IdentityCheck, IssuedSlip};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson};
use crate::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlipBody {
    /// The identity document checked: passport, identity_card, driving_licence,
    /// residence_permit or health_insurance_card.
    pub identity_check: String,
}

#[utoipa::path(post, path = "/api/v1/tests/{id}/slips", tag = "patient space", request_body = SlipBody,
    params(("id" = String, Path, description = "Test id")),
    responses((status = 201, description = "The slip, with its one-time activation secret (JSON; the print view with Accept: text/html; a PDF with Accept: application/pdf); any earlier slip for the test is void"),
        (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn issue(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(test_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SlipBody>,
) -> Result<Response, ApiError> {
    let check = IdentityCheck::parse(&body.identity_check)?;
    let slip = s
        .app
        .issue_access_slip(&caller.actor, &test_id, check)
        .await?;
    Ok(respond(&s, &headers, slip))
}

#[utoipa::path(post, path = "/api/v1/episodes/{id}/slips", tag = "patient space", request_body = SlipBody,
    params(("id" = String, Path, description = "Care episode (admission) id")),
    responses((status = 201, description = "The slip for the patient's lasting space or for this stay's (as the department is configured), with its one-time activation secret; formats as for tests"),
        (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn issue_for_episode(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(episode_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SlipBody>,
) -> Result<Response, ApiError> {
    let check = IdentityCheck::parse(&body.identity_check)?;
    let slip = s
        .app
        .issue_episode_slip(&caller.actor, &episode_id, check)
        .await?;
    Ok(respond(&s, &headers, slip))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationBody {
    /// The contact (e-mail address or mobile number) to send it to; it must have been
    /// verified at the desk.
    pub contact_id: String,
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/invitations", tag = "patient space", request_body = InvitationBody,
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 201, description = "An invitation to the patient's lasting space went to the verified contact (the answer names it masked and never carries the code); any earlier slip or invitation for that space is void", body = Object),
        (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn invite(
    State(s): State<AppState>,
    caller: ApiCaller,
    Path(patient_id): Path<String>,
    ApiJson(body): ApiJson<InvitationBody>,
) -> Result<Response, ApiError> {
    let sent = s
        .app
        .send_patient_invitation(&caller.actor, &patient_id, &body.contact_id)
        .await?;
    Ok((StatusCode::CREATED, Json(sent)).into_response())
}

/// The slip as JSON, the print view or the PDF, as asked.
fn respond(s: &AppState, headers: &HeaderMap, slip: IssuedSlip) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let organization = &s.app.settings().organization_name;
    if accept.contains("application/pdf") {
        (
            StatusCode::CREATED,
            [
                (header::CONTENT_TYPE, "application/pdf"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"access-slip.pdf\"",
                ),
            ],
            crate::slip_pdf::render(organization, &slip),
        )
            .into_response()
    } else if accept.contains("text/html") {
        (StatusCode::CREATED, print_view(organization, &slip)).into_response()
    } else {
        (StatusCode::CREATED, Json(slip)).into_response()
    }
}

/// The slip as a page to print: large, plain, one column; the secret in a monospace font.
pub fn print_view(organization: &str, slip: &IssuedSlip) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { "Access slip · " (organization) }
                link rel="stylesheet" href="/assets/app.css";
            }
            body.slip {
                main {
                    h1 { "Your results, online" }
                    p { (organization) " will put your results in your secure patient space. Keep this slip to yourself: with it, someone else could open your space before you." }
                    dl.slip-fields {
                        dt { "Patient ID" } dd.code { (slip.patient_number) }
                        dt { (slip.printed_reference().0) } dd.code { (slip.printed_reference().1) }
                        dt { "Activation code" } dd.code.secret { (slip.activation_secret) }
                        dt { "Address" } dd.code { (slip.patient_space_url) }
                    }
                    h2 { "How to start" }
                    ol {
                        li { "Go to the address above." }
                        li { "Enter your patient ID, the test ID and the activation code. Capitals, spaces and dashes do not matter." }
                        li { "Choose how you will prove it is you next time: a password, a passkey, or a code sent to your phone or e-mail." }
                    }
                    p { "The activation code works once. After 5 wrong codes this slip stops working: ask at the desk for a new one, with an identity document. Nobody from " (organization) " will ever ask you for this code." }
                }
            }
        }
    }
}
