//! The administrator's user list: create accounts (with an enrolment link), end sessions,
//! change roles, unlock.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use sealroom_app::sessions::CurrentSession;
use sealroom_app::{AppError, Client};
use sealroom_domain::Role;
use serde::Deserialize;

use super::actor;
use super::layout::{alert, csrf, notice, page, when};
use super::signin::CsrfOnly;
use crate::error::PageError;
use crate::extract::{ClientInfo, SignedIn, SignedInForm};
use crate::AppState;

async fn render(
    s: &AppState,
    me: &CurrentSession,
    client: Client,
    status: StatusCode,
    info: Option<maud::Markup>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let users = s.app.list_users(&actor(s, me, client)).await?;
    let body = html! {
        h1 { "Users" }
        @if let Some(i) = info { (i) }
        (alert(error))
        section {
            h2 { "Create an account" }
            p.hint { "The person receives nothing automatically: give them the enrolment link through a trusted channel. It works once and expires." }
            form #create-user method="post" action="/admin/users" {
                (csrf(me))
                label for="email" { "Work e-mail address" }
                input #email type="email" name="email" required;
                label for="display_name" { "Name" }
                input #display_name type="text" name="display_name" required;
                label for="role" { "Role" }
                select #role name="role" {
                    @for r in Role::ALL { option value=(r.as_str()) selected[r == Role::Clinician] { (r.label()) } }
                }
                button type="submit" { "Create account" }
            }
        }
        section {
            h2 { "Accounts" }
            table #users {
                thead { tr { th { "Name" } th { "E-mail" } th { "Role" } th { "Status" } th { "Actions" } } }
                tbody {
                    @for u in &users {
                        tr {
                            td { (u.display_name) }
                            td { (u.email) }
                            td {
                                form.inline method="post" action={ "/admin/users/" (u.id) "/role" } {
                                    (csrf(me))
                                    select name="role" aria-label={ "Role of " (u.email) } {
                                        @for r in Role::ALL { option value=(r.as_str()) selected[r.as_str() == u.role] { (r.label()) } }
                                    }
                                    button.secondary type="submit" { "Change" }
                                }
                            }
                            td { (u.status) @if u.password_locked { " (password locked)" } br; span.hint { "since " (when(u.created_at)) } }
                            td {
                                form.inline method="post" action={ "/admin/users/" (u.id) "/sessions/end" } {
                                    (csrf(me)) button.secondary type="submit" { "End sessions" }
                                }
                                @if u.password_locked {
                                    form.inline method="post" action={ "/admin/users/" (u.id) "/unlock" } {
                                        (csrf(me)) button.secondary type="submit" { "Unlock" }
                                    }
                                }
                                @if u.status == "enrolling" {
                                    form.inline method="post" action={ "/admin/users/" (u.id) "/enrolment-link" } {
                                        (csrf(me)) button.secondary type="submit" { "New enrolment link" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok((status, page("Users", Some(me), body)).into_response())
}

fn link_notice(label: &str, link: &str) -> maud::Markup {
    html! {
        div.notice role="status" {
            p { (label) }
            p { code #enrolment-link { (link) } }
        }
    }
}

pub async fn list(
    State(s): State<AppState>,
    SignedIn(me): SignedIn,
    ClientInfo(client): ClientInfo,
) -> Result<Response, PageError> {
    render(&s, &me, client, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    email: String,
    display_name: String,
    role: String,
}

async fn problem(
    s: &AppState,
    me: &CurrentSession,
    client: Client,
    e: AppError,
) -> Result<Response, PageError> {
    match e {
        AppError::Conflict(_)
        | AppError::InvalidInput(_)
        | AppError::Email(_)
        | AppError::Role(_)
        | AppError::NotFound => {
            let (status, _) = crate::error::classify(&e);
            render(s, me, client, status, None, Some(&e.to_string())).await
        }
        other => Err(PageError {
            error: other,
            return_to: Some("/admin/users".into()),
        }),
    }
}

pub async fn create(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    SignedInForm(me, f): SignedInForm<CreateForm>,
) -> Result<Response, PageError> {
    match s
        .app
        .create_user(
            &actor(&s, &me, client.clone()),
            &f.email,
            &f.display_name,
            &f.role,
        )
        .await
    {
        Ok(created) => {
            let info = link_notice(
                &format!(
                    "Account created for {}. Their enrolment link:",
                    created.user.email
                ),
                &created.enrolment_link,
            );
            render(&s, &me, client, StatusCode::OK, Some(info), None).await
        }
        Err(e) => problem(&s, &me, client, e).await,
    }
}

pub async fn end_sessions(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    SignedInForm(me, _): SignedInForm<CsrfOnly>,
) -> Result<Response, PageError> {
    match s
        .app
        .end_sessions_of(&actor(&s, &me, client.clone()), &id)
        .await
    {
        Ok(n) => {
            render(
                &s,
                &me,
                client,
                StatusCode::OK,
                Some(notice(Some(&format!("{n} session(s) ended.")))),
                None,
            )
            .await
        }
        Err(e) => problem(&s, &me, client, e).await,
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    role: String,
}

pub async fn change_role(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    SignedInForm(me, f): SignedInForm<RoleForm>,
) -> Result<Response, PageError> {
    match s
        .app
        .change_role(&actor(&s, &me, client.clone()), &id, &f.role)
        .await
    {
        Ok(()) => Ok(Redirect::to("/admin/users").into_response()),
        Err(e) => problem(&s, &me, client, e).await,
    }
}

pub async fn unlock(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    SignedInForm(me, _): SignedInForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let a = actor(&s, &me, client.clone());
    let email = s
        .app
        .list_users(&a)
        .await?
        .into_iter()
        .find(|u| u.id == id)
        .map(|u| u.email)
        .ok_or(AppError::NotFound)?;
    match s.app.unlock_account(&a, &email).await {
        Ok(()) => Ok(Redirect::to("/admin/users").into_response()),
        Err(e) => problem(&s, &me, client, e).await,
    }
}

pub async fn reissue_link(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    SignedInForm(me, _): SignedInForm<CsrfOnly>,
) -> Result<Response, PageError> {
    match s
        .app
        .reissue_enrolment_link(&actor(&s, &me, client.clone()), &id)
        .await
    {
        Ok(link) => {
            render(
                &s,
                &me,
                client,
                StatusCode::OK,
                Some(link_notice(
                    "New enrolment link (older links no longer work):",
                    &link,
                )),
                None,
            )
            .await
        }
        Err(e) => problem(&s, &me, client, e).await,
    }
}

crate::extract::csrf_forms!(CreateForm, RoleForm);
