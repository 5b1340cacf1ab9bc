//! Outgoing SMS through the organization's SMS gateway: one HTTP POST per message, to a
//! configured URL, with a configured body template (most gateways take JSON or a form), and
//! optionally a bearer token read from a file. Without a gateway, each message becomes a file
//! in an outbox directory (development). What a message may say is fixed by the templates in
//! [`crate::mail::templates`]'s patient functions: none takes patient data.

use std::path::PathBuf;
use std::time::Duration as StdDuration;

use crate::AppError;

/// Where SMS go, resolved from configuration.
#[derive(Debug, Clone)]
pub enum SmsSettings {
    /// Each message becomes a file in this directory.
    Outbox(PathBuf),
    Gateway(GatewaySettings),
}

#[derive(Clone)]
pub struct GatewaySettings {
    pub url: url::Url,
    /// The request body, with `{to}` and `{message}` replaced (escaped for JSON when the
    /// content type is JSON, percent-encoded for a form).
    pub body: String,
    pub content_type: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub token: Option<String>,
}

impl std::fmt::Debug for GatewaySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewaySettings")
            .field("url", &self.url.as_str())
            .field("content_type", &self.content_type)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

/// Why an SMS could not be sent. Says nothing of its content or number.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("the SMS gateway refused or failed: {0}")]
    Gateway(String),
    #[error("the SMS outbox could not be written: {0}")]
    Outbox(String),
}

/// Sends SMS. Cheap to clone.
#[derive(Clone)]
pub struct SmsSender {
    settings: SmsSettings,
    client: reqwest::Client,
}

/// The body for one message: `template` with `{to}` and `{message}` filled in.
fn fill(template: &str, content_type: &str, to: &str, message: &str) -> String {
    let escape = |v: &str| -> String {
        if content_type.contains("json") {
            let quoted = serde_json::Value::String(v.to_owned()).to_string();
            quoted[1..quoted.len() - 1].to_owned()
        } else if content_type.contains("x-www-form-urlencoded") {
            url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
        } else {
            v.to_owned()
        }
    };
    template
        .replace("{to}", &escape(to))
        .replace("{message}", &escape(message))
}

impl SmsSender {
    pub fn new(settings: &SmsSettings) -> Result<SmsSender, AppError> {
        let client = reqwest::Client::builder()
            .timeout(StdDuration::from_secs(15))
            .build()
            .map_err(|e| AppError::Config(format!("the SMS client cannot start: {e}")))?;
        Ok(SmsSender {
            settings: settings.clone(),
            client,
        })
    }

    /// Send one message to `to` (E.164, e.g. `+32470123456`) now.
    pub async fn send(&self, to: &str, message: &str) -> Result<(), SmsError> {
        match &self.settings {
            SmsSettings::Gateway(g) => {
                let mut request = self
                    .client
                    .post(g.url.clone())
                    .header(reqwest::header::CONTENT_TYPE, &g.content_type)
                    .body(fill(&g.body, &g.content_type, to, message));
                if let Some(token) = &g.token {
                    request = request.bearer_auth(token);
                }
                let response = request
                    .send()
                    .await
                    .map_err(|e| SmsError::Gateway(e.without_url().to_string()))?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(SmsError::Gateway(format!(
                        "it answered {}",
                        response.status()
                    )))
                }
            }
            SmsSettings::Outbox(dir) => {
                let err = |e: std::io::Error| SmsError::Outbox(e.to_string());
                tokio::fs::create_dir_all(dir).await.map_err(err)?;
                // Written under a temporary name, then renamed: whoever collects the outbox
                // never sees half a message.
                let name = sealroom_crypto::token::new_id();
                let partial = dir.join(format!(".{name}.partial"));
                let mut options = tokio::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                options.mode(0o600);
                let mut file = options.open(&partial).await.map_err(err)?;
                let text = format!("To: {to}\n\n{message}\n");
                tokio::io::AsyncWriteExt::write_all(&mut file, text.as_bytes())
                    .await
                    .map_err(err)?;
                drop(file);
                tokio::fs::rename(&partial, dir.join(format!("{name}.sms")))
                    .await
                    .map_err(err)
            }
        }
    }
}

/// Whether `number` is an international phone number: `+`, then 8 to 15 digits.
pub fn is_phone_number(number: &str) -> bool {
    number
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit()))
}

/// The only SMS Sealroom sends to patients. Each takes exactly what it may say.
pub mod templates {
    /// The code that verifies a patient's phone number at the desk.
    pub fn verification_code(organization: &str, code: &str, valid_minutes: i64) -> String {
        format!(
            "{organization}: your code is {code} ({valid_minutes} min). / Votre code : {code} ({valid_minutes} min)."
        )
    }

    /// A patient space sign-in code. Says what it is for, so a code nobody asked for is noticed.
    pub fn sign_in_code(organization: &str, code: &str, valid_minutes: i64) -> String {
        format!(
            "{organization}: your sign-in code is {code} ({valid_minutes} min). Never give it to anyone. / Votre code de connexion : {code} ({valid_minutes} min). Ne le donnez à personne."
        )
    }

    /// A proxy's invitation: the reference and code they open their account with.
    pub fn proxy_invitation(organization: &str, reference: &str, code: &str, url: &str) -> String {
        format!(
            "{organization}: you were given access to a patient space. Open it at {url} with reference {reference} and code {code}. / Accès à un espace patient : {url}, référence {reference}, code {code}."
        )
    }

    /// The code that opens a secure message for someone outside the organization.
    pub fn outside_code(organization: &str, code: &str, valid_minutes: i64) -> String {
        format!(
            "{organization}: your code to open a secure message is {code} ({valid_minutes} min). Never give it to anyone."
        )
    }

    /// A patient's invitation: the account ID and one-time code, nothing about them.
    pub fn patient_invitation(
        organization: &str,
        account: &str,
        code: &str,
        url: &str,
        valid_days: i64,
    ) -> String {
        format!(
            "{organization}: your patient space / votre espace patient: {url}/activate \
             account ID / ID de compte {account}, code {code} ({valid_days} days / jours, \
             once / une fois; patient ID: leave empty / ID patient : laisser vide)."
        )
    }

    /// The patient is told someone was given access (never who).
    pub fn proxy_added(organization: &str, patient_space: &str) -> String {
        format!(
            "{organization}: someone was given access to your patient space; sign in to see who / quelqu'un a reçu accès à votre espace patient : {patient_space}"
        )
    }

    /// How the patient signs in changed.
    pub fn sign_in_changed(organization: &str) -> String {
        format!(
            "{organization}: how you sign in to your patient space changed. Not you? Call us at once. / Votre connexion à l'espace patient a changé. Pas vous ? Appelez-nous."
        )
    }

    /// Something new is waiting in the patient space.
    pub fn new_message(organization: &str, messages: &str) -> String {
        format!(
            "{organization}: a secure message from your care team / un message de votre équipe soignante : {messages}"
        )
    }

    pub fn new_document(organization: &str, patient_space: &str) -> String {
        format!(
            "{organization}: something new is waiting in your patient space / du nouveau vous attend : {patient_space}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_escaped_for_their_content_type() {
        let t = r#"{"to":"{to}","text":"{message}"}"#;
        assert_eq!(
            fill(t, "application/json", "+32470", "a \"quote\"\nline"),
            r#"{"to":"+32470","text":"a \"quote\"\nline"}"#
        );
        assert_eq!(
            fill(
                "to={to}&text={message}",
                "application/x-www-form-urlencoded",
                "+32 470",
                "a&b=c"
            ),
            "to=%2B32+470&text=a%26b%3Dc"
        );
    }

    #[test]
    fn phone_numbers_are_international() {
        assert!(is_phone_number("+32470123456"));
        assert!(!is_phone_number("0470123456"));
        assert!(!is_phone_number("+32 470 12 34 56"));
        assert!(!is_phone_number("+1234"));
    }
}
