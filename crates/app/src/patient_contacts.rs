//! Patients' contact details, and the notifications sent to them.
//!
//! Reception records an e-mail address or a mobile number while the patient is at the desk;
//! Sealroom sends a 6-digit code to it (by e-mail or SMS; valid 10 minutes, 5 tries), and it
//! counts as verified when the patient reads the code back. Only verified addresses are ever notified, and a notification
//! says only that something new is waiting and where to sign in: the templates take no
//! patient data at all, so they cannot leak it.

use rand::Rng;
use serde::Serialize;
use serde_json::json;

use sealroom_crypto::token::{digest, new_id};
use sealroom_domain::{AccessAction, AuditAction, DataCategory, Duration};
use sealroom_store::ContactRow;

use crate::accounts::Actor;
use crate::mail::templates;
use crate::{App, AppError};

/// How long a verification code works.
const CODE_MINUTES: i64 = 10;
/// Wrong codes after which the code stops working (a new one must be sent).
const CODE_TRIES: i64 = 5;

/// A contact as staff see it: the address masked.
#[derive(Debug, Clone, Serialize)]
pub struct ContactView {
    pub id: String,
    pub kind: String,
    /// `m•••@example.org`.
    pub address: String,
    pub verified: bool,
}

/// An address as staff see it: `m•••@example.org`, or `+32•••56` for a phone number.
pub(crate) fn masked(value: &str) -> String {
    match value.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => {
            let head: String = value.chars().take(3).collect();
            let tail: String = value
                .chars()
                .rev()
                .take(2)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("{head}•••{tail}")
        }
    }
}

fn code_digest(contact_id: &str, code: &str) -> String {
    digest(&format!("contact-code:{contact_id}:{}", code.trim()))
}

fn contact_owner(contact_id: &str) -> String {
    format!("patient_contact:{contact_id}")
}

impl App {
    /// Record a patient's e-mail address and send it a verification code (reception, with
    /// the patient at the desk). An administrative write on the patient, audited; the
    /// address is sealed and never logged.
    pub async fn add_patient_email(
        &self,
        actor: &Actor,
        patient_id: &str,
        email: &str,
    ) -> Result<ContactView, AppError> {
        let email = email.trim();
        if !crate::mail::is_mailbox(email) || email.contains('<') || !email.contains('@') {
            return Err(AppError::InvalidInput(
                "the e-mail address is not valid; write it as name@example.org".into(),
            ));
        }
        self.add_patient_contact(actor, patient_id, "email", email)
            .await
    }

    /// Record a patient's mobile number (international form, `+32470123456`) and send it a
    /// verification code by SMS. As for an e-mail address.
    pub async fn add_patient_phone(
        &self,
        actor: &Actor,
        patient_id: &str,
        phone: &str,
    ) -> Result<ContactView, AppError> {
        let phone: String = phone.chars().filter(|c| !c.is_whitespace()).collect();
        if !crate::sms::is_phone_number(&phone) {
            return Err(AppError::InvalidInput(
                "the phone number is not valid; write it in international form, such as +32470123456".into(),
            ));
        }
        self.add_patient_contact(actor, patient_id, "phone", &phone)
            .await
    }

    async fn add_patient_contact(
        &self,
        actor: &Actor,
        patient_id: &str,
        kind: &'static str,
        value: &str,
    ) -> Result<ContactView, AppError> {
        let id = new_id();
        self.require_patient_access(
            actor,
            patient_id,
            DataCategory::Administrative,
            AccessAction::Write,
            AuditAction::PatientContactAdded,
            json!({"contact": id, "kind": kind}),
        )
        .await?;
        let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
        let now = self.now();
        self.store()
            .insert_contact(&ContactRow {
                id: id.clone(),
                patient_id: patient_id.to_owned(),
                kind: kind.into(),
                value_sealed: self.secrets().seal(value.as_bytes(), &contact_owner(&id)),
                code_digest: Some(code_digest(&id, &code)),
                code_expires_at: Some(now.plus(Duration::minutes(CODE_MINUTES)).as_seconds()),
                code_attempts: 0,
                verified_at: None,
                verified_by: None,
                created_by: actor.name(),
                created_at: now.as_seconds(),
                removed_at: None,
                proxy_id: None,
            })
            .await?;
        let organization = &self.settings().organization_name;
        if kind == "phone" {
            self.send_sms_in_background(
                value.to_owned(),
                crate::sms::templates::verification_code(organization, &code, CODE_MINUTES),
                "contact verification",
            );
        } else {
            self.send_mail_in_background(
                templates::contact_verification_code(value, organization, &code, CODE_MINUTES),
                "contact verification",
            );
        }
        Ok(ContactView {
            id,
            kind: kind.into(),
            address: masked(value),
            verified: false,
        })
    }

    /// Check the code the patient read back; the address is verified when it matches.
    pub async fn verify_patient_contact(
        &self,
        actor: &Actor,
        patient_id: &str,
        contact_id: &str,
        code: &str,
    ) -> Result<ContactView, AppError> {
        let contact = self
            .store()
            .contact(contact_id)
            .await?
            .filter(|c| c.patient_id == patient_id && c.removed_at.is_none())
            .ok_or(AppError::NotFound)?;
        self.require_patient_access(
            actor,
            patient_id,
            DataCategory::Administrative,
            AccessAction::Write,
            AuditAction::PatientContactVerified,
            json!({"contact": contact.id}),
        )
        .await?;
        let address = self.contact_address(&contact)?;
        if contact.verified_at.is_some() {
            return Ok(ContactView {
                id: contact.id,
                kind: contact.kind,
                address: masked(&address),
                verified: true,
            });
        }
        let now = self.now().as_seconds();
        let expired = contact.code_expires_at.is_none_or(|t| now >= t);
        // Every check takes a try first, the right code included, so that parallel guesses
        // cannot get more than CODE_TRIES.
        let tries = if expired {
            None
        } else {
            self.store()
                .take_contact_code_try(&contact.id, CODE_TRIES)
                .await?
        };
        let Some(tries) = tries else {
            return Err(AppError::InvalidInput(
                "this code no longer works (it expired, or was mistyped 5 times); record the address again to send a new one".into(),
            ));
        };
        let matches =
            contact.code_digest.as_deref() == Some(code_digest(&contact.id, code).as_str());
        if !matches {
            return Err(AppError::InvalidInput(format!(
                "the code is not right ({} of {CODE_TRIES} tries left)",
                (CODE_TRIES - tries).max(0)
            )));
        }
        self.store()
            .verify_contact(&contact.id, now, &actor.name())
            .await?;
        Ok(ContactView {
            id: contact.id,
            kind: contact.kind,
            address: masked(&address),
            verified: true,
        })
    }

    pub(crate) fn contact_address(&self, c: &ContactRow) -> Result<String, AppError> {
        let bytes = self
            .secrets()
            .open(&c.value_sealed, &contact_owner(&c.id))
            .map_err(AppError::internal)?;
        String::from_utf8(bytes).map_err(AppError::internal)
    }

    /// Tell the patient, at each verified address, that how they sign in changed (a slip
    /// reprinted for a space already in use, a new password or second factor, a restart), so
    /// a change they did not make — by someone at the desk or anyone else — does not go
    /// unnoticed.
    pub(crate) async fn notify_sign_in_change(
        &self,
        patient_id: &str,
        what: &'static str,
    ) -> Result<(), AppError> {
        let organization = self.settings().organization_name.clone();
        let space = self.patient_space_url();
        self.notify_patient(
            patient_id,
            what,
            |to| templates::sign_in_changed(to, &organization, &space),
            crate::sms::templates::sign_in_changed(&organization),
        )
        .await
    }

    /// Tell the patient, at each verified address, that something new is waiting. Sending
    /// happens in the background; the audit log records that it was sent and how many, never
    /// where to or what about.
    pub(crate) async fn notify_new_document(&self, patient_id: &str) -> Result<(), AppError> {
        let organization = self.settings().organization_name.clone();
        let space = self.patient_space_url();
        self.notify_patient(
            patient_id,
            "new_document",
            |to| templates::patient_new_document(to, &organization, &space),
            crate::sms::templates::new_document(&organization, &space),
        )
        .await
    }

    /// Send one message to each of the patient's own verified contacts (never a proxy's): the
    /// e-mail `mail` builds for an address, or the text `sms`; audited as `patient.notified`
    /// with `about` and the counts, never an address. The templates take no patient data.
    pub(crate) async fn notify_patient(
        &self,
        patient_id: &str,
        about: &'static str,
        mail: impl Fn(&str) -> crate::mail::OutgoingMail,
        sms: String,
    ) -> Result<(), AppError> {
        let (mut emails, mut texts) = (0, 0);
        for c in self.store().verified_contacts(patient_id).await? {
            let address = self.contact_address(&c)?;
            if c.kind == "phone" {
                self.send_sms_in_background(address, sms.clone(), "patient notification");
                texts += 1;
            } else {
                self.send_mail_in_background(mail(&address), "patient notification");
                emails += 1;
            }
        }
        self.audit(
            "patient_space",
            AuditAction::PatientNotified,
            &format!("patient:{patient_id}"),
            if emails + texts > 0 {
                "success"
            } else {
                "no_contact"
            },
            &crate::Client::default(),
            json!({"email": emails, "sms": texts, "about": about}),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked_and_codes_bound_to_their_contact() {
        assert_eq!(masked("marie.dupont@example.org"), "m•••@example.org");
        assert_eq!(masked("+32470123456"), "+32•••56");
        assert_ne!(code_digest("a", "123456"), code_digest("b", "123456"));
        assert_eq!(code_digest("a", " 123456 "), code_digest("a", "123456"));
    }
}
