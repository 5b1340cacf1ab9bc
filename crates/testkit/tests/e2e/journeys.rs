//! Shared steps: set-up, enrolment with TOTP, sign-in. They drive the real pages over HTTPS.

use reqwest::{Client, Response, StatusCode};
use sealroom_app::accounts::Actor;
use sealroom_app::policy::Principal;
use sealroom_app::Client as AppClient;
use sealroom_crypto::totp::TotpSecret;
use sealroom_domain::Duration;
use sealroom_testkit::{attr_after, csrf_of, text_between, TestServer};

/// A person enrolled through the pages, with what they know and hold.
pub struct Staff {
    pub client: Client,
    pub email: String,
    pub password: String,
    pub totp: TotpSecret,
    pub recovery_codes: Vec<String>,
}

pub fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

pub async fn get_page(c: &Client, s: &TestServer, path: &str) -> (StatusCode, String) {
    let r = c.get(s.url(path)).send().await.unwrap();
    let status = r.status();
    (status, r.text().await.unwrap())
}

pub async fn post_form(c: &Client, s: &TestServer, path: &str, form: &[(&str, &str)]) -> Response {
    c.post(s.url(path)).form(form).send().await.unwrap()
}

/// Enrol the person whose enrolment session `client` holds: password, TOTP, recovery codes.
pub async fn enrol_with_totp(s: &TestServer, client: Client, email: &str, password: &str) -> Staff {
    let (status, page) = get_page(&client, s, "/enrol").await;
    assert_eq!(status, 200, "{page}");
    let csrf = csrf_of(&page);
    let r = post_form(
        &client,
        s,
        "/enrol/password",
        &[
            ("_csrf", &csrf),
            ("password", password),
            ("password_confirm", password),
        ],
    )
    .await;
    assert_eq!(
        r.status(),
        303,
        "password refused: {}",
        r.text().await.unwrap()
    );
    let (_, page) = get_page(&client, s, "/enrol/totp").await;
    let secret_b32 =
        text_between(&page, "<code id=\"totp-secret\">", "</code>").expect("secret shown");
    let uri = text_between(&page, "<code id=\"totp-uri\">", "</code>").unwrap();
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains(&secret_b32),
        "{uri}"
    );
    assert!(page.contains("id=\"totp-qr\" src=\"data:image/svg+xml;base64,"));
    let totp = TotpSecret::from_bytes(
        data_encoding::BASE32_NOPAD
            .decode(secret_b32.as_bytes())
            .unwrap(),
    );
    let r = post_form(
        &client,
        s,
        "/enrol/totp",
        &[("_csrf", &csrf), ("code", &totp.code_at(s.now()))],
    )
    .await;
    assert_eq!(location(&r), "/enrol/recovery-codes");
    let (status, page) = get_page(&client, s, "/enrol/recovery-codes").await;
    assert_eq!(status, 200);
    let list = text_between(&page, "<ul id=\"recovery-codes\">", "</ul>").unwrap();
    let recovery_codes: Vec<String> = list
        .split("<code>")
        .skip(1)
        .map(|c| c.split("</code>").next().unwrap().to_owned())
        .collect();
    assert_eq!(recovery_codes.len(), 10);
    // Enrolment signs the session in; the code of this step is spent.
    s.clock.advance(Duration::seconds(30));
    Staff {
        client,
        email: email.to_owned(),
        password: password.to_owned(),
        totp,
        recovery_codes,
    }
}

pub const ADMIN_PASSWORD: &str = "correct horse battery staple violet 1987";
pub const STAFF_PASSWORD: &str = "quiet lantern harbour 7203 mosaic";

/// First administrator, through the printed set-up link.
pub async fn set_up_admin(s: &TestServer) -> Staff {
    let client = s.browser();
    let path = s.setup_link.trim_start_matches(&s.base).to_owned();
    let (status, page) = get_page(&client, s, &path).await;
    assert_eq!(status, 200);
    let token = attr_after(&page, "name=\"token\"", "value").unwrap();
    let r = post_form(
        &client,
        s,
        "/setup",
        &[
            ("token", &token),
            ("email", "ada@example.org"),
            ("display_name", "Ada Admin"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/enrol");
    enrol_with_totp(s, client, "ada@example.org", ADMIN_PASSWORD).await
}

pub fn operator() -> Actor {
    Actor {
        principal: Principal::Operator,
        stepped_up: true,
        client: AppClient {
            address: "local".into(),
            user_agent: "test".into(),
        },
    }
}

/// A staff member created by the operator and enrolled through the pages.
pub async fn enrolled_staff(s: &TestServer, email: &str, role: &str) -> Staff {
    let created = s
        .app()
        .create_user(&operator(), email, "Test Person", role)
        .await
        .unwrap();
    let client = s.browser();
    let path = created
        .enrolment_link
        .trim_start_matches(&s.base)
        .to_owned();
    let (status, page) = get_page(&client, s, &path).await;
    assert_eq!(status, 200, "{page}");
    let token = attr_after(&page, "name=\"token\"", "value").unwrap();
    let r = post_form(&client, s, "/enrol/accept", &[("token", &token)]).await;
    assert_eq!(location(&r), "/enrol");
    enrol_with_totp(s, client, email, STAFF_PASSWORD).await
}

/// Sign out through the page.
pub async fn sign_out(s: &TestServer, staff: &Staff) {
    let (_, page) = get_page(&staff.client, s, "/me/security").await;
    let r = post_form(&staff.client, s, "/signout", &[("_csrf", &csrf_of(&page))]).await;
    assert_eq!(location(&r), "/signin");
}

/// Password step; returns the response (303 to the second factor on success).
pub async fn password_step(s: &TestServer, c: &Client, email: &str, password: &str) -> Response {
    post_form(c, s, "/signin", &[("email", email), ("password", password)]).await
}

/// Full sign-in with password and the current TOTP code; asserts success.
pub async fn sign_in(s: &TestServer, staff: &Staff) {
    let r = password_step(s, &staff.client, &staff.email, &staff.password).await;
    assert_eq!(location(&r), "/signin/second-factor");
    let (_, page) = get_page(&staff.client, s, "/signin/second-factor").await;
    let r = post_form(
        &staff.client,
        s,
        "/signin/second-factor",
        &[
            ("_csrf", &csrf_of(&page)),
            ("code", &staff.totp.code_at(s.now())),
        ],
    )
    .await;
    assert_eq!(location(&r), "/me/security", "second factor refused");
    s.clock.advance(Duration::seconds(30));
}
