//! The patient space's page frame: a skip link, the organization's name, the language switch,
//! and (signed in) the places a patient goes plus "sign out". One script, for passkeys and
//! live message updates; every page works without it.

use maud::{html, Markup, DOCTYPE};
use sealroom_app::patient_space::PatientSession;

use super::i18n::Lang;

pub fn page(
    lang: Lang,
    title: &str,
    session: Option<&PatientSession>,
    here: &str,
    body: Markup,
) -> Markup {
    let signed_in = session.filter(|s| s.is_signed_in());
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (lang.t("space-name")) }
                @if let Some(s) = session { meta name="csrf-token" content=(s.csrf_token); }
                link rel="icon" href="/assets/icon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/assets/app.css";
                // Only for passkeys; every page works without it.
                script src="/assets/app.js" defer {}
            }
            body.patient {
                header.top {
                    a.skip href="#main" { (lang.t("skip-to-content")) }
                    a.brand href="/patient" { (lang.t("space-name")) }
                    nav.languages aria-label=(lang.t("language-switch")) {
                        @for other in Lang::ALL {
                            @if other == lang {
                                span aria-current="true" lang=(other.code()) { (other.name()) }
                            } @else {
                                a #{"lang-" (other.code())} lang=(other.code()) hreflang=(other.code())
                                    href={"/patient/language/" (other.code()) "?back=" (here)} { (other.name()) }
                            }
                        }
                    }
                }
                @if let Some(s) = signed_in {
                    nav.places aria-label=(lang.t("nav-label")) {
                        a #nav-documents href="/patient/documents" aria-current=[(here.starts_with("/patient/documents")).then_some("page")] { (lang.t("nav-documents")) }
                        a #nav-messages href="/patient/messages" aria-current=[(here.starts_with("/patient/messages")).then_some("page")] { (lang.t("nav-messages")) }
                        @if s.account.proxy_id.is_none() {
                            a #nav-history href="/patient/history" aria-current=[(here == "/patient/history").then_some("page")] { (lang.t("nav-history")) }
                        }
                        a #nav-account href="/patient/account" aria-current=[(here == "/patient/account").then_some("page")] { (lang.t("nav-account")) }
                        form.inline method="post" action="/patient/sign-out" {
                            (csrf(s))
                            button #sign-out.secondary type="submit" { (lang.t("sign-out")) }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
                footer.patient-footer {
                    p { (lang.t("footer-never-ask")) }
                }
            }
        }
    }
}

/// A form's hidden CSRF field.
pub fn csrf(session: &PatientSession) -> Markup {
    html! { input type="hidden" name="_csrf" value=(session.csrf_token); }
}

/// An error, announced to screen readers.
pub fn alert(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message { p #form-error.alert role="alert" { (m) } }
    }
}

pub fn notice(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message { p.notice role="status" { (m) } }
    }
}

/// A date and time for people, in UTC, in the patient's language's order.
pub fn when(lang: Lang, unix: i64) -> String {
    let t = sealroom_domain::Timestamp(unix).date_and_minute();
    match lang {
        Lang::En => format!("{t} UTC"),
        Lang::Fr => format!("{} UTC", t.replacen(' ', " à ", 1)),
    }
}

/// A file size for people.
pub fn size(lang: Lang, bytes: u64) -> String {
    let (value, unit) = if bytes >= 1 << 20 {
        (bytes as f64 / f64::from(1u32 << 20), "MB")
    } else {
        (bytes as f64 / 1024.0, "kB")
    };
    let text = format!("{value:.1} {unit}");
    match lang {
        Lang::En => text,
        Lang::Fr => text
            .replace('.', ",")
            .replace("MB", "Mo")
            .replace("kB", "ko"),
    }
}
