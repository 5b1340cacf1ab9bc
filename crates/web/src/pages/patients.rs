//! Staff pages for care: the patients admitted to my departments, and a patient's documents
//! with who signed each version, whether the signature verified, and whether the patient can
//! see it yet (with a button to release it). Every view and action goes through the access
//! policy and the audit log, like the API.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use sealroom_app::documents::DocumentView;
use serde::Deserialize;

use super::actor;
use super::layout::{csrf, notice, page, when};
use crate::error::PageError;
use crate::extract::{ClientInfo, SignedIn, SignedInForm};
use crate::AppState;

/// `GET /patients`: patients admitted now to departments where I hold an assignment.
pub async fn mine(
    State(s): State<AppState>,
    SignedIn(me): SignedIn,
    ClientInfo(client): ClientInfo,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    let patients = s.app.my_patients(&who).await?;
    let body = html! {
        h1 { "My patients" }
        @if patients.is_empty() {
            p #no-patients { "No patient is admitted to your departments now." }
        } @else {
            table #patients {
                thead { tr { th { "Patient" } th { "Born" } th { "Number" } th { "Admitted" } th { "Documents" } } }
                tbody {
                    @for p in &patients {
                        tr {
                            td { (p.identity.family_name) ", " (p.identity.given_names) }
                            td { (p.identity.birth_date) }
                            td { code { (p.identity.mrn) } }
                            td { (when(p.admitted_at)) }
                            td { a href={ "/patients/" (p.identity.id) "/documents" } { "Documents" } }
                        }
                    }
                }
            }
        }
    };
    Ok((StatusCode::OK, page("My patients", Some(&me), body)).into_response())
}

/// `GET /patients/{id}/documents`: the documents I may see, newest last, each version with
/// its signer and the signature check.
pub async fn documents(
    State(s): State<AppState>,
    SignedIn(me): SignedIn,
    ClientInfo(client): ClientInfo,
    Path(patient_id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<DocumentsQuery>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    let list = s.app.documents(&who, &patient_id, &[]).await?;
    let body = html! {
        h1 { "Documents" }
        (notice(q.released.is_some().then_some("Released: the patient can now see this document in the patient space.")))
        p { "Patient " code { (patient_id) } ". " a href="/patients" { "Back to my patients" } }
        @if !list.withheld_categories.is_empty() {
            p.hint #withheld {
                "Not shown, because your access does not include them: "
                @for (i, c) in list.withheld_categories.iter().enumerate() {
                    @if i > 0 { ", " } (c.as_str().replace('_', " "))
                }
                "."
            }
        }
        @if list.documents.is_empty() {
            p #no-documents { "No document you may see." }
        } @else {
            table #documents {
                thead { tr { th { "Title" } th { "Kind" } th { "Category" } th { "Version" } th { "Stored" } th { "Signed by" } th { "Signature" } th { "File" } th { "Patient space" } } }
                tbody {
                    @for d in &list.documents {
                        @if d.shredded_at.is_some() {
                            tr.shredded {
                                td colspan="9" { "Destroyed on " (when(d.shredded_at.unwrap_or_default())) " — only the record that it existed remains." }
                            }
                        }
                        @for v in &d.versions {
                            tr {
                                td { (d.title.as_deref().unwrap_or("")) }
                                td { (d.kind) }
                                td { (d.category.as_str().replace('_', " ")) }
                                td { (v.version) @if let Some(n) = &v.correction_note { br; small { "Correction: " (n) } } }
                                td { (when(v.created_at)) }
                                td { (v.signature.signer_name) }
                                td {
                                    @if v.signature.status == "verified" {
                                        span.verified { "✓ Verified" }
                                    } @else if v.signature.status == "unsupported_format" {
                                        "Stored by a pre-release build; not readable by this version"
                                    } @else {
                                        strong.alert { "✗ Does not verify — do not rely on this document" }
                                    }
                                }
                                td {
                                    a href={ "/api/v1/documents/" (d.id) "/versions/" (v.version) "/content" } download {
                                        "Download " (v.filename)
                                    }
                                    " (" (size(v.size)) ")"
                                }
                                td {
                                    @if Some(v.version) == d.versions.last().map(|l| l.version) {
                                        (release_cell(&me, &patient_id, d))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok((StatusCode::OK, page("Documents", Some(&me), body)).into_response())
}

#[derive(Deserialize)]
pub struct DocumentsQuery {
    released: Option<String>,
}

/// Whether the patient sees the document, and a button to release it when they do not.
fn release_cell(
    me: &sealroom_app::sessions::CurrentSession,
    patient_id: &str,
    d: &DocumentView,
) -> Markup {
    let r = &d.release;
    html! {
        @match r.state {
            "released" => { "Visible since " (when(r.at.unwrap_or_default())) }
            "scheduled" => { "Visible from " (when(r.at.unwrap_or_default())) br; }
            _ => { "Waiting for review" br; }
        }
        @if r.state != "released" {
            form.inline method="post" action={ "/patients/" (patient_id) "/documents/" (d.id) "/release" } {
                (csrf(me))
                button type="submit" { "Release to patient" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ReleaseForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}
crate::extract::csrf_forms!(ReleaseForm);

/// `POST /patients/{id}/documents/{doc}/release`: make a document visible to the patient now.
pub async fn release(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path((_, document_id)): Path<(String, String)>,
    SignedInForm(me, _form): SignedInForm<ReleaseForm>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    let released = s.app.release_document(&who, &document_id).await?;
    Ok(Redirect::to(&format!(
        "/patients/{}/documents?released=1",
        released.patient_id
    ))
    .into_response())
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.0} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}
