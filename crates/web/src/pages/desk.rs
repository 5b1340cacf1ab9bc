//! The reception desk: find or register a patient, admit them, record and verify their contact
//! details, and hand over an access slip after checking an identity document. The desk never
//! sees a result, a message or a credential: its view is administrative data only, and a slip's
//! activation code exists only on the printed page it returns.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use sealroom_app::access_slips::IdentityCheck;
use sealroom_app::patients::{NewPatient, PatientQuery, Registration};
use sealroom_app::AppError;
use sealroom_domain::AdministrativeSex;
use serde::Deserialize;

use super::actor;
use super::layout::{alert, csrf, notice, page, when};
use crate::error::PageError;
use crate::extract::{csrf_forms, ClientInfo, SignedIn, SignedInForm};
use crate::AppState;

/// `GET /desk`: find a patient by record number, or register one.
pub async fn home(SignedIn(me): SignedIn) -> Result<Response, PageError> {
    let body = desk_home(&me, "", None, None);
    Ok((StatusCode::OK, page("Reception desk", Some(&me), body)).into_response())
}

#[derive(Deserialize)]
pub struct SearchForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    mrn: String,
}

/// `POST /desk/search`: the number is posted, never put in a URL (where proxies and browser
/// history would keep it).
pub async fn search(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    SignedInForm(me, f): SignedInForm<SearchForm>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    let mrn = f.mrn.trim();
    let (found, error) = match s
        .app
        .search_patients(&who, PatientQuery::Mrn(mrn.into()))
        .await
    {
        Ok(list) => (Some(list), None),
        Err(e @ (AppError::InvalidInput(_) | AppError::NotFound)) => (None, Some(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    let body = desk_home(&me, mrn, found.as_deref(), error.as_deref());
    Ok((StatusCode::OK, page("Reception desk", Some(&me), body)).into_response())
}

fn desk_home(
    me: &sealroom_app::sessions::CurrentSession,
    mrn: &str,
    found: Option<&[sealroom_app::patients::PatientIdentity]>,
    error: Option<&str>,
) -> Markup {
    html! {
        h1 { "Reception desk" }
        section aria-labelledby="find-heading" {
            h2 #find-heading { "Find a patient" }
            (alert(error))
            form #find method="post" action="/desk/search" {
                (csrf(me))
                label for="mrn" { "Patient number" }
                input #mrn type="text" name="mrn" required value=(mrn);
                button type="submit" { "Find" }
            }
            @if let Some(list) = found {
                @if list.is_empty() { p #not-found { "No patient with this number." } }
                ul #found {
                    @for p in list {
                        li { a href={"/desk/patients/" (p.id)} { (p.family_name) ", " (p.given_names) " (" (p.birth_date) ")" } }
                    }
                }
            }
        }
        (register_form(me, None))
    }
}

fn register_form(me: &sealroom_app::sessions::CurrentSession, error: Option<&str>) -> Markup {
    html! {
        section aria-labelledby="register-heading" {
            h2 #register-heading { "Register a patient" }
            (alert(error))
            form #register method="post" action="/desk/patients" {
                (csrf(me))
                label for="family_name" { "Family name" }
                input #family_name type="text" name="family_name" required;
                label for="given_names" { "Given names" }
                input #given_names type="text" name="given_names" required;
                label for="birth_date" { "Birth date (YYYY-MM-DD)" }
                input #birth_date type="text" name="birth_date" required placeholder="1961-03-14";
                label for="sex" { "Administrative sex" }
                select #sex name="sex" {
                    option value="female" { "female" }
                    option value="male" { "male" }
                    option value="other" { "other" }
                    option value="unknown" { "unknown" }
                }
                label { input type="checkbox" name="register_anyway" value="true"; " Register even if a patient with this name and birth date exists" }
                button #register-submit type="submit" { "Register" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    family_name: String,
    given_names: String,
    birth_date: String,
    sex: String,
    #[serde(default)]
    register_anyway: Option<String>,
}

#[derive(Deserialize)]
pub struct SlipForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    identity_check: String,
}

#[derive(Deserialize)]
pub struct ContactForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    address: String,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    code: String,
}

#[derive(Deserialize)]
pub struct AdmissionForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    department_id: String,
}

#[derive(Deserialize)]
pub struct InvitationForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

#[derive(Deserialize)]
pub struct TestForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    laboratory_id: String,
}

csrf_forms!(
    RegisterForm,
    SlipForm,
    ContactForm,
    CodeForm,
    AdmissionForm,
    TestForm,
    InvitationForm,
    SearchForm
);

/// `POST /desk/patients`: register, then the patient's desk page.
pub async fn register(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    SignedInForm(me, f): SignedInForm<RegisterForm>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    let sex = match f.sex.as_str() {
        "female" => AdministrativeSex::Female,
        "male" => AdministrativeSex::Male,
        "other" => AdministrativeSex::Other,
        _ => AdministrativeSex::Unknown,
    };
    let result = s
        .app
        .register_patient(
            &who,
            NewPatient {
                family_name: f.family_name,
                given_names: f.given_names,
                birth_date: f.birth_date,
                sex,
                national_id: None,
                register_anyway: f.register_anyway.is_some(),
            },
        )
        .await;
    let error = match result {
        Ok(Registration::Registered(p)) => {
            return Ok(Redirect::to(&format!("/desk/patients/{}?registered=1", p.id)).into_response())
        }
        Ok(Registration::PossibleDuplicates(list)) => format!(
            "{} patient(s) with this name and birth date already exist (numbers: {}). Check them first; to register anyway, tick the box.",
            list.len(),
            list.iter().map(|d| d.identity.mrn.as_str()).collect::<Vec<_>>().join(", ")
        ),
        Err(e @ AppError::InvalidInput(_)) => e.to_string(),
        Err(e) => return Err(e.into()),
    };
    let body = html! { h1 { "Reception desk" } (register_form(&me, Some(&error))) };
    Ok((
        StatusCode::BAD_REQUEST,
        page("Reception desk", Some(&me), body),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct PatientQueryParams {
    registered: Option<String>,
    contact: Option<String>,
    verified: Option<String>,
    test: Option<String>,
    invited: Option<String>,
}

/// `GET /desk/patients/{id}`: identity, stays, tests, contacts, and the slip forms.
pub async fn patient(
    State(s): State<AppState>,
    SignedIn(me): SignedIn,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    Query(q): Query<PatientQueryParams>,
) -> Result<Response, PageError> {
    let info = if q.registered.is_some() {
        Some("Registered.")
    } else if q.contact.is_some() {
        Some("A code was sent to the address or number: ask the patient to read it back.")
    } else if q.verified.is_some() {
        Some("Verified: the patient will be told there when something new is waiting.")
    } else if q.test.is_some() {
        Some("The test is registered: print its access slip below.")
    } else if q.invited.is_some() {
        Some("The invitation is on its way to the verified address or number (a failure to send is logged for the operator). It works once, for 14 days, and voids any slip printed before; the patient types the account ID and the code it carries.")
    } else {
        None
    };
    patient_page(&s, &me, actor(&s, &me, client), &id, info, None).await
}

/// The patient's desk page, with a notice or an error (shown here, never carried in a URL).
async fn patient_page(
    s: &AppState,
    me: &sealroom_app::sessions::CurrentSession,
    who: sealroom_app::accounts::Actor,
    id: &str,
    info: Option<&str>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let v = s.app.desk_view(&who, id).await?;
    let departments = s.app.list_departments(&who).await.unwrap_or_default();
    let admitted = v.stays.iter().any(|st| st.ended_at.is_none());
    let p = &v.patient.identity;
    let body = html! {
        h1 #patient-name { (p.family_name) ", " (p.given_names) }
        (notice(info))
        (alert(error))
        p { "Born " (p.birth_date) " · patient number " code #patient-number { (p.mrn) } }
        section aria-labelledby="stays-heading" {
            h2 #stays-heading { "Stays" }
            @if v.stays.is_empty() { p { "No stay." } }
            ul #stays {
                @for st in &v.stays {
                    li {
                        (st.department) ", admitted " (when(st.admitted_at))
                        @if let Some(end) = st.ended_at { ", left " (when(end)) }
                        form.slip method="post" action={"/desk/episodes/" (st.id) "/slip"} {
                            (csrf(me))
                            label for={"identity-" (st.id)} { "Identity document checked" }
                            select id={"identity-" (st.id)} name="identity_check" required {
                                option value="" { "Choose…" }
                                @for c in IdentityCheck::ALL { option value=(c.as_str()) { (c.as_str().replace('_', " ")) } }
                            }
                            button type="submit" { "Print an access slip" }
                        }
                    }
                }
            }
            @if !admitted {
                form #admit method="post" action={"/desk/patients/" (p.id) "/admission"} {
                    (csrf(me))
                    label for="department_id" { "Admit to" }
                    select #department_id name="department_id" required {
                        @for d in departments.iter().filter(|d| d.kind == "care") { option value=(d.id) { (d.name) } }
                    }
                    button type="submit" { "Admit" }
                }
            }
        }
        section aria-labelledby="tests-heading" {
            h2 #tests-heading { "Tests" }
            @if v.tests.is_empty() { p { "No test." } }
            ul #tests {
                @for t in &v.tests {
                    li {
                        (t.laboratory) ", ordered " (when(t.created_at))
                        @if let Some(r) = &t.reference { " · test ID " code { (r) } }
                        form.slip method="post" action={"/desk/tests/" (t.id) "/slip"} {
                            (csrf(me))
                            label for={"identity-" (t.id)} { "Identity document checked" }
                            select id={"identity-" (t.id)} name="identity_check" required {
                                option value="" { "Choose…" }
                                @for c in IdentityCheck::ALL { option value=(c.as_str()) { (c.as_str().replace('_', " ")) } }
                            }
                            button type="submit" { "Print an access slip" }
                        }
                    }
                }
            }
            form #register-test method="post" action={"/desk/patients/" (p.id) "/tests"} {
                (csrf(me))
                label for="laboratory_id" { "Register a test for" }
                select #laboratory_id name="laboratory_id" required {
                    @for d in departments.iter().filter(|d| d.kind == "laboratory") { option value=(d.id) { (d.name) } }
                }
                button type="submit" { "Register the test" }
            }
            p.hint { "Printing a new slip voids the one before. The activation code is shown only on the printed slip; hand it to the patient and keep no copy." }
        }
        section aria-labelledby="contacts-heading" {
            h2 #contacts-heading { "Contact details" }
            ul #contacts {
                @for c in &v.contacts {
                    li {
                        (c.address) " — " @if c.verified { "verified" } @else { "not verified" }
                        @if c.verified {
                            form.inline method="post" action={"/desk/patients/" (p.id) "/contacts/" (c.id) "/invitation"} {
                                (csrf(me))
                                button type="submit" { "Send a patient space invitation" }
                            }
                        }
                        @if !c.verified {
                            form.inline method="post" action={"/desk/patients/" (p.id) "/contacts/" (c.id) "/verification"} {
                                (csrf(me))
                                label for={"code-" (c.id)} { "Code the patient reads back" }
                                input id={"code-" (c.id)} type="text" name="code" inputmode="numeric" required;
                                button type="submit" { "Verify" }
                            }
                        }
                    }
                }
            }
            form #add-contact method="post" action={"/desk/patients/" (p.id) "/contacts"} {
                (csrf(me))
                label for="address" { "E-mail address or mobile number (+32470123456)" }
                input #address type="text" name="address" required autocomplete="off";
                button type="submit" { "Send a verification code" }
            }
        }
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, page("Reception desk", Some(me), body)).into_response())
}

/// `POST /desk/tests/{id}/slip`: the printable slip for a test.
pub async fn test_slip(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path(test_id): Path<String>,
    SignedInForm(me, f): SignedInForm<SlipForm>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    let check = IdentityCheck::parse(&f.identity_check)?;
    let slip = s.app.issue_access_slip(&who, &test_id, check).await?;
    Ok(printable(&s, &slip))
}

/// `POST /desk/episodes/{id}/slip`: the printable slip for a stay (the patient's lasting space
/// or the stay's own, as the department is configured).
pub async fn episode_slip(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path(episode_id): Path<String>,
    SignedInForm(me, f): SignedInForm<SlipForm>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    let check = IdentityCheck::parse(&f.identity_check)?;
    let slip = s.app.issue_episode_slip(&who, &episode_id, check).await?;
    Ok(printable(&s, &slip))
}

fn printable(s: &AppState, slip: &sealroom_app::access_slips::IssuedSlip) -> Response {
    (
        StatusCode::OK,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        crate::api::slips::print_view(&s.app.settings().organization_name, slip),
    )
        .into_response()
}

/// `POST /desk/patients/{id}/contacts`: record an address or number; a code goes to it.
pub async fn add_contact(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    SignedInForm(me, f): SignedInForm<ContactForm>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    let address = f.address.trim();
    let added = if address.contains('@') {
        s.app.add_patient_email(&who, &id, address).await
    } else {
        s.app.add_patient_phone(&who, &id, address).await
    };
    match added {
        Ok(_) => Ok(Redirect::to(&format!("/desk/patients/{id}?contact=1")).into_response()),
        Err(e @ AppError::InvalidInput(_)) => {
            patient_page(&s, &me, who, &id, None, Some(&e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /desk/patients/{id}/contacts/{contact}/verification`: the code the patient read back.
pub async fn verify_contact(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path((id, contact)): Path<(String, String)>,
    SignedInForm(me, f): SignedInForm<CodeForm>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    match s
        .app
        .verify_patient_contact(&who, &id, &contact, &f.code)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/desk/patients/{id}?verified=1")).into_response()),
        Err(e @ AppError::InvalidInput(_)) => {
            patient_page(&s, &me, who, &id, None, Some(&e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /desk/patients/{id}/tests`: register a test the patient came for (a laboratory's
/// request form); its slip is printed from the list.
pub async fn register_test(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    SignedInForm(me, f): SignedInForm<TestForm>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    match s.app.register_test(&who, &id, &f.laboratory_id).await {
        Ok(_) => Ok(Redirect::to(&format!("/desk/patients/{id}?test=1")).into_response()),
        Err(e @ AppError::InvalidInput(_)) => {
            patient_page(&s, &me, who, &id, None, Some(&e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /desk/patients/{id}/contacts/{contact}/invitation`: invite the patient to their
/// lasting space at a verified address or number (the code goes there, never to the desk).
pub async fn invite(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path((id, contact)): Path<(String, String)>,
    SignedInForm(me, _f): SignedInForm<InvitationForm>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    match s.app.send_patient_invitation(&who, &id, &contact).await {
        Ok(_) => Ok(Redirect::to(&format!("/desk/patients/{id}?invited=1")).into_response()),
        Err(e @ (AppError::InvalidInput(_) | AppError::Conflict(_))) => {
            patient_page(&s, &me, who, &id, None, Some(&e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /desk/patients/{id}/admission`.
pub async fn admit(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    SignedInForm(me, f): SignedInForm<AdmissionForm>,
) -> Result<Response, PageError> {
    let who = actor(&s, &me, client);
    match s.app.admit_patient(&who, &id, &f.department_id).await {
        Ok(_) => Ok(Redirect::to(&format!("/desk/patients/{id}")).into_response()),
        Err(e @ (AppError::InvalidInput(_) | AppError::Conflict(_))) => {
            patient_page(&s, &me, who, &id, None, Some(&e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}
