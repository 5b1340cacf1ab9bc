//! The page frame: plain HTML, one stylesheet, one script, no inline script or style.

use maud::{html, Markup, DOCTYPE};
use sealroom_app::sessions::CurrentSession;

pub fn page(title: &str, session: Option<&CurrentSession>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(s) = session { meta name="csrf-token" content=(s.csrf_token); }
                title { (title) " · Sealroom" }
                link rel="icon" href="/assets/icon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "Sealroom" }
                    @if let Some(s) = session.filter(|s| s.is_signed_in()) {
                        nav aria-label="Main" {
                            @if s.user.role.is_clinical() { a href="/patients" { "My patients" } }
                            @if !s.user.role.is_administrator() && s.user.role != sealroom_domain::Role::SecurityOfficer { a href="/messages" { "Messages" } }
                            @if s.user.role == sealroom_domain::Role::Reception { a href="/desk" { "Reception desk" } }
                            a href="/me/security" { "My security" }
                            @if s.user.role.is_administrator() { a href="/admin/users" { "Users" } }
                            @if s.user.role == sealroom_domain::Role::SecurityOfficer { a href="/security/review" { "Security review" } }
                            form #signout method="post" action="/signout" {
                                input type="hidden" name="_csrf" value=(s.csrf_token);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A form's hidden CSRF field.
pub fn csrf(session: &CurrentSession) -> Markup {
    html! { input type="hidden" name="_csrf" value=(session.csrf_token); }
}

/// An error or notice for screen readers and eyes alike.
pub fn alert(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message { p.alert role="alert" { (m) } }
    }
}

pub fn notice(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message { p.notice role="status" { (m) } }
    }
}

/// Format a Unix time for people (UTC).
pub fn when(unix: i64) -> String {
    format!("{} UTC", sealroom_domain::Timestamp(unix).date_and_minute())
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_times() {
        assert_eq!(super::when(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::when(1_795_000_000), "2026-11-18 11:06 UTC");
    }
}
