//! The security officer's page: open security alerts and the break-glass review list, where
//! each emergency opening is marked justified or not, with a comment.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use sealroom_app::sessions::CurrentSession;
use sealroom_app::{AppError, Client};
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
    info: Option<&str>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let who = actor(s, me, client);
    let alerts = s.app.open_alerts(&who).await?;
    let openings = s.app.break_glass_reviews(&who, false).await?;
    let body = html! {
        h1 { "Security review" }
        (notice(info))
        (alert(error))
        section {
            h2 { "Open alerts" }
            @if alerts.is_empty() { p #no-alerts { "No open alerts." } }
            @else {
                table #alerts {
                    thead { tr { th { "When" } th { "What" } th { "Reference" } th { "Action" } } }
                    tbody {
                        @for a in &alerts {
                            tr {
                                td { (when(a.created_at)) }
                                td { @if a.kind == "break_glass.opened" { "Emergency access opened" } @else { (a.kind) } }
                                td { code { (a.subject) } }
                                td {
                                    form.inline method="post" action={ "/security/alerts/" (a.id) "/acknowledge" } {
                                        (csrf(me)) button.secondary type="submit" { "Acknowledge" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Emergency (break-glass) openings" }
            @if openings.is_empty() { p { "No emergency access has been opened." } }
            @for b in &openings {
                article.opening id={ "opening-" (b.id) } {
                    h3 {
                        (b.user_name)
                        " opened patient " code { (b.mrn) } " at " (when(b.opened_at))
                    }
                    p { "Reason given: " q { (b.reason) } }
                    p.hint { "Expires " (when(b.expires_at)) "; used " (b.uses) " time(s)." }
                    @if b.review_state == "pending" {
                        form.review method="post" action={ "/security/break-glass/" (b.id) "/review" } {
                            (csrf(me))
                            fieldset {
                                legend { "Was it justified?" }
                                label { input type="radio" name="verdict" value="justified" required; " Justified" }
                                label { input type="radio" name="verdict" value="unjustified"; " Not justified" }
                            }
                            label for={ "comment-" (b.id) } { "Comment" }
                            textarea id={ "comment-" (b.id) } name="comment" required maxlength="2000" {}
                            button type="submit" { "Record the review" }
                        }
                    } @else {
                        p.verdict {
                            strong { @if b.review_state == "justified" { "Justified" } @else { "Not justified" } }
                            @if let Some(at) = b.reviewed_at { " · reviewed " (when(at)) }
                            @if let Some(c) = &b.review_comment { br; (c) }
                        }
                    }
                }
            }
        }
    };
    Ok((status, page("Security review", Some(me), body)).into_response())
}

async fn problem(
    s: &AppState,
    me: &CurrentSession,
    client: Client,
    e: AppError,
) -> Result<Response, PageError> {
    match e {
        AppError::InvalidInput(_) | AppError::Conflict(_) | AppError::NotFound => {
            let (status, _) = crate::error::classify(&e);
            render(s, me, client, status, None, Some(&e.to_string())).await
        }
        other => Err(PageError {
            error: other,
            return_to: Some("/security/review".into()),
        }),
    }
}

pub async fn show(
    State(s): State<AppState>,
    SignedIn(me): SignedIn,
    ClientInfo(client): ClientInfo,
) -> Result<Response, PageError> {
    render(&s, &me, client, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
pub struct ReviewForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    verdict: String,
    comment: String,
}

pub async fn review(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    SignedInForm(me, f): SignedInForm<ReviewForm>,
) -> Result<Response, PageError> {
    let justified = match f.verdict.as_str() {
        "justified" => true,
        "unjustified" => false,
        _ => {
            return problem(
                &s,
                &me,
                client,
                AppError::InvalidInput("choose justified or not justified".into()),
            )
            .await;
        }
    };
    match s
        .app
        .review_break_glass(&actor(&s, &me, client.clone()), &id, justified, &f.comment)
        .await
    {
        Ok(()) => {
            render(
                &s,
                &me,
                client,
                StatusCode::OK,
                Some("The review is recorded."),
                None,
            )
            .await
        }
        Err(e) => problem(&s, &me, client, e).await,
    }
}

pub async fn acknowledge(
    State(s): State<AppState>,
    ClientInfo(client): ClientInfo,
    Path(id): Path<String>,
    SignedInForm(me, _): SignedInForm<CsrfOnly>,
) -> Result<Response, PageError> {
    match s
        .app
        .acknowledge_alert(&actor(&s, &me, client.clone()), &id)
        .await
    {
        Ok(()) => {
            render(
                &s,
                &me,
                client,
                StatusCode::OK,
                Some("The alert is acknowledged."),
                None,
            )
            .await
        }
        Err(e) => problem(&s, &me, client, e).await,
    }
}

crate::extract::csrf_forms!(ReviewForm);
