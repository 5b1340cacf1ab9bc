//! Access slips (patient space, accounts per test): reception checks the patient's identity,
//! then hands over a printed slip with the patient's record number, the test's reference, a
//! one-time activation secret and the patient space's address, and nothing about the test.
//!
//! Issuing is an administrative write on the patient, decided by policy and audited with the
//! identity document that was checked; issuing again voids the slip before. The secret is
//! shown once, in the answer that issues it, and stored as a digest. Redeeming checks
//! identifiers and secret together and answers the same way whichever was wrong; each wrong
//! secret counts against the slip, and the fifth voids it. A void or used slip never works
//! again: the patient asks at the desk for a new one.

use serde::Serialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use sealroom_crypto::slip;
use sealroom_crypto::token::new_id;
use sealroom_domain::{AccessAction, AuditAction, DataCategory};
use sealroom_store::{FailedAttempt, PatientAccountRow, SlipRow, StoreError};

use crate::accounts::Actor;
use crate::patient_space::{AccountModel, PatientProblem};
use crate::{App, AppError, Client};

/// Wrong secrets after which a slip is void.
pub const MAX_FAILED_ATTEMPTS: i64 = 5;

/// The identity document reception checked before handing a slip over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityCheck {
    Passport,
    IdentityCard,
    DrivingLicence,
    ResidencePermit,
    HealthInsuranceCard,
}

impl IdentityCheck {
    pub const ALL: [IdentityCheck; 5] = [
        IdentityCheck::Passport,
        IdentityCheck::IdentityCard,
        IdentityCheck::DrivingLicence,
        IdentityCheck::ResidencePermit,
        IdentityCheck::HealthInsuranceCard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IdentityCheck::Passport => "passport",
            IdentityCheck::IdentityCard => "identity_card",
            IdentityCheck::DrivingLicence => "driving_licence",
            IdentityCheck::ResidencePermit => "residence_permit",
            IdentityCheck::HealthInsuranceCard => "health_insurance_card",
        }
    }

    pub fn parse(s: &str) -> Result<IdentityCheck, AppError> {
        IdentityCheck::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                AppError::InvalidInput(format!(
                    "unknown identity document '{s}'; expected one of: {}",
                    IdentityCheck::ALL.map(|c| c.as_str()).join(", ")
                ))
            })
    }
}

/// A slip as issued: everything printed on it. The secret exists only here.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedSlip {
    pub slip_id: String,
    /// `per_test`, `per_patient` or `per_visit`: which space the slip opens.
    pub model: &'static str,
    /// The test (per test).
    pub test_id: Option<String>,
    /// The patient's record number, printed as the patient ID.
    pub patient_number: String,
    /// The test's short reference, printed as the test ID (per test).
    pub test_reference: Option<String>,
    /// The account's short reference, printed as the account ID (per patient, per visit).
    pub account_reference: Option<String>,
    /// The one-time activation secret, `XXXX-XXXX-XXXX-XXXX`.
    pub activation_secret: String,
    /// Where the patient activates the slip.
    pub patient_space_url: String,
    pub issued_at: i64,
    /// Whether it replaced an earlier slip, now void.
    pub replaced_earlier: bool,
}

impl IssuedSlip {
    /// The printed ID beside the patient ID, and what to call it.
    pub fn printed_reference(&self) -> (&'static str, &str) {
        match (&self.test_reference, &self.account_reference) {
            (Some(t), _) => ("Test ID", t),
            (None, Some(a)) => ("Account ID", a),
            (None, None) => ("Account ID", ""),
        }
    }
}

/// Days an invitation sent by e-mail or SMS can be used.
pub const INVITATION_DAYS: i64 = 14;

/// An invitation as sent: to whom (masked), never its code.
#[derive(Debug, Clone, Serialize)]
pub struct SentInvitation {
    pub slip_id: String,
    /// `email` or `sms`.
    pub channel: &'static str,
    /// The address or number, masked.
    pub to: String,
    /// The account ID the patient will sign in with.
    pub account_reference: String,
    pub valid_until: i64,
    /// Whether it voided an earlier slip or invitation.
    pub replaced_earlier: bool,
}

/// A slip that was redeemed: whose, and which space it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeemedSlip {
    pub patient_id: String,
    /// The test, for a per-test slip.
    pub test_id: Option<String>,
    /// The account, for a per-patient or per-visit slip.
    pub account_id: Option<String>,
}

/// What a slip is issued for.
enum SlipTarget {
    Test { id: String, reference: String },
    Account { id: String, reference: String },
}

impl App {
    /// The patient space's sign-in address, printed on slips and in notifications.
    pub fn patient_space_url(&self) -> String {
        format!(
            "{}/patient",
            self.settings().public_url.as_str().trim_end_matches('/')
        )
    }

    /// Issue a slip for a test, voiding the one before (reception, after checking the
    /// patient's identity document). The test's laboratory decides the space it opens (see
    /// `[patient_space] account_models`): the test's own (per test, the default for
    /// laboratories) or the patient's lasting one (per patient).
    pub async fn issue_access_slip(
        &self,
        actor: &Actor,
        test_id: &str,
        identity_check: IdentityCheck,
    ) -> Result<IssuedSlip, AppError> {
        let test = self
            .store()
            .test_row(test_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let model = self
            .model_of_department(&test.laboratory_department_id)
            .await?;
        // Decided and audited before anything is written (an account opened, a reference
        // given): someone the policy refuses leaves no trace but the refusal.
        let slip_id = new_id();
        self.check_slip_issuer(
            actor,
            &test.patient_id,
            &slip_id,
            model,
            identity_check.as_str(),
            json!({"test": test.id}),
        )
        .await?;
        let target = match model {
            AccountModel::PerTest => SlipTarget::Test {
                reference: self.test_reference(&test.id).await?,
                id: test.id.clone(),
            },
            AccountModel::PerPatient => {
                let a = self
                    .ensure_account(&test.patient_id, AccountModel::PerPatient, None)
                    .await?;
                SlipTarget::Account {
                    id: a.id,
                    reference: a.reference.unwrap_or_default(),
                }
            }
            AccountModel::PerVisit => {
                return Err(AppError::InvalidInput(
                    "this laboratory is configured for spaces per visit, which only admissions have; issue the slip for the admission, or set the laboratory to per_test or per_patient".into(),
                ))
            }
        };
        self.issue_slip_for(
            actor,
            &test.patient_id,
            slip_id,
            model,
            target,
            identity_check.as_str(),
        )
        .await
    }

    /// Issue a slip for an admission (reception, after the identity check). The department
    /// decides the space: that stay's own (per visit) or the patient's lasting one (per
    /// patient, the default for care departments).
    pub async fn issue_episode_slip(
        &self,
        actor: &Actor,
        episode_id: &str,
        identity_check: IdentityCheck,
    ) -> Result<IssuedSlip, AppError> {
        let episode = self
            .store()
            .episode(episode_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let model = self.model_of_department(&episode.department_id).await?;
        let slip_id = new_id();
        self.check_slip_issuer(
            actor,
            &episode.patient_id,
            &slip_id,
            model,
            identity_check.as_str(),
            json!({"episode": episode.id}),
        )
        .await?;
        let account =
            match model {
                AccountModel::PerTest => return Err(AppError::InvalidInput(
                    "this department gives patients a space per test; issue the slip for the test"
                        .into(),
                )),
                AccountModel::PerPatient => {
                    self.ensure_account(&episode.patient_id, AccountModel::PerPatient, None)
                        .await?
                }
                AccountModel::PerVisit => {
                    self.ensure_account(
                        &episode.patient_id,
                        AccountModel::PerVisit,
                        Some(&episode.id),
                    )
                    .await?
                }
            };
        let target = SlipTarget::Account {
            id: account.id,
            reference: account.reference.unwrap_or_default(),
        };
        self.issue_slip_for(
            actor,
            &episode.patient_id,
            slip_id,
            model,
            target,
            identity_check.as_str(),
        )
        .await
    }

    /// Send an invitation to the patient's lasting space (per patient) to one of their
    /// contacts verified at the desk: the e-mail or SMS carries the account ID, a one-time
    /// activation code and the space's address, and nothing about the patient (not even the
    /// patient ID, which the activation then does without). It works once, for [`INVITATION_DAYS`] days, and voids any slip or
    /// invitation before it; the patient then sets a password and a second factor as with a
    /// slip. The verified contact stands in for the identity check.
    pub async fn send_patient_invitation(
        &self,
        actor: &Actor,
        patient_id: &str,
        contact_id: &str,
    ) -> Result<SentInvitation, AppError> {
        // Decided and audited before anything about the patient is looked at.
        let slip_id = new_id();
        self.check_slip_issuer(
            actor,
            patient_id,
            &slip_id,
            AccountModel::PerPatient,
            "invitation",
            json!({"contact": contact_id}),
        )
        .await?;
        let contact = self
            .store()
            .contacts_of(patient_id)
            .await?
            .into_iter()
            .find(|c| c.id == contact_id)
            .ok_or(AppError::NotFound)?;
        if contact.verified_at.is_none() {
            return Err(AppError::InvalidInput(
                "an invitation goes only to an address or number verified at the desk; verify it first".into(),
            ));
        }
        // A space in use is never handed over by message: whoever holds one mailbox or phone
        // would take it. Its owner recovers a forgotten password online (two contacts), or
        // gets a printed slip after an identity check.
        if self
            .store()
            .per_patient_account(patient_id)
            .await?
            .is_some_and(|a| a.status == "active")
        {
            return Err(AppError::Conflict(
                "this patient's space is already in use, so no invitation is sent: a forgotten password is recovered online from the sign-in page, or print a slip after checking an identity document".into(),
            ));
        }
        let address = self.contact_address(&contact)?;
        let channel = if contact.kind == "phone" {
            "sms"
        } else {
            "email"
        };
        let identified_by = format!("invitation_{channel}");
        let account = self
            .ensure_account(patient_id, AccountModel::PerPatient, None)
            .await?;
        let target = SlipTarget::Account {
            id: account.id,
            reference: account.reference.unwrap_or_default(),
        };
        let slip = self
            .issue_slip_for(
                actor,
                patient_id,
                slip_id,
                AccountModel::PerPatient,
                target,
                &identified_by,
            )
            .await?;
        let reference = slip.printed_reference().1.to_owned();
        let organization = self.settings().organization_name.clone();
        if channel == "sms" {
            let text = crate::sms::templates::patient_invitation(
                &organization,
                &reference,
                &slip.activation_secret,
                &slip.patient_space_url,
                INVITATION_DAYS,
            );
            self.send_sms_in_background(address.clone(), text, "patient space invitation");
        } else {
            let mail = crate::mail::templates::patient_invitation(
                &address,
                &organization,
                &reference,
                &slip.activation_secret,
                &slip.patient_space_url,
                INVITATION_DAYS,
            );
            self.send_mail_in_background(mail, "patient space invitation");
        }
        Ok(SentInvitation {
            slip_id: slip.slip_id,
            channel,
            to: crate::patient_contacts::masked(&address),
            account_reference: reference,
            valid_until: slip.issued_at + INVITATION_DAYS * 86_400,
            replaced_earlier: slip.replaced_earlier,
        })
    }

    /// The policy decision (an administrative write on the patient) and its audit, with the
    /// identity document checked.
    async fn check_slip_issuer(
        &self,
        actor: &Actor,
        patient_id: &str,
        slip_id: &str,
        model: AccountModel,
        identified_by: &str,
        mut details: serde_json::Value,
    ) -> Result<(), AppError> {
        if let Some(d) = details.as_object_mut() {
            d.insert("slip".into(), json!(slip_id));
            d.insert("model".into(), json!(model.as_str()));
            d.insert("identity_check".into(), json!(identified_by));
        }
        self.require_patient_access(
            actor,
            patient_id,
            DataCategory::Administrative,
            AccessAction::Write,
            AuditAction::AccessSlipIssued,
            details,
        )
        .await?;
        Ok(())
    }

    async fn issue_slip_for(
        &self,
        actor: &Actor,
        patient_id: &str,
        slip_id: String,
        model: AccountModel,
        target: SlipTarget,
        identified_by: &str,
    ) -> Result<IssuedSlip, AppError> {
        let patient = self
            .store()
            .patient(patient_id)
            .await?
            .ok_or(AppError::NotFound)?;
        // A slip for a space already in use can take it over: its owner hears of it.
        let in_use = match &target {
            SlipTarget::Test { id, .. } => self.store().patient_account_for_test(id).await?,
            SlipTarget::Account { id, .. } => self.store().patient_account(id).await?,
        }
        .is_some_and(|a| a.status == "active");
        if in_use {
            self.notify_sign_in_change(patient_id, "slip_reissued")
                .await?;
        }
        let secret = slip::generate_secret();
        let secret_digest = slip::secret_digest(&secret)
            .ok_or_else(|| AppError::internal("a generated secret did not parse"))?;
        let issued_at = self.now().as_seconds();
        let (test_id, account_id, test_reference, account_reference) = match target {
            SlipTarget::Test { id, reference } => (Some(id), None, Some(reference), None),
            SlipTarget::Account { id, reference } => (None, Some(id), None, Some(reference)),
        };
        let replaced = self
            .store()
            .issue_slip(&SlipRow {
                id: slip_id.clone(),
                test_id: test_id.clone(),
                account_id,
                patient_id: patient_id.to_owned(),
                secret_digest,
                state: "active".into(),
                failed_attempts: 0,
                void_reason: None,
                identity_check: identified_by.into(),
                issued_by: actor.name(),
                issued_at,
                ended_at: None,
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AppError::Conflict(
                    "another slip for this space was issued at the same moment; issue again".into(),
                ),
                e => e.into(),
            })?;
        Ok(IssuedSlip {
            slip_id,
            model: model.as_str(),
            test_id,
            patient_number: patient.mrn,
            test_reference,
            account_reference,
            activation_secret: secret,
            patient_space_url: self.patient_space_url(),
            issued_at,
            replaced_earlier: replaced > 0,
        })
    }

    /// The model a department gives patients: as configured by its name, else per test for a
    /// laboratory and per patient for the others.
    async fn model_of_department(&self, department_id: &str) -> Result<AccountModel, AppError> {
        let d = self
            .store()
            .department(department_id)
            .await?
            .ok_or_else(|| AppError::internal("a test or stay names no department"))?;
        Ok(
            match self.settings().patient_space.account_models.get(&d.name) {
                Some(m) => *m,
                None if d.kind == "laboratory" => AccountModel::PerTest,
                None => AccountModel::PerPatient,
            },
        )
    }

    /// The per-patient or per-visit account, opened now (waiting for activation) if it does
    /// not exist yet, with its own printed reference.
    async fn ensure_account(
        &self,
        patient_id: &str,
        model: AccountModel,
        episode_id: Option<&str>,
    ) -> Result<PatientAccountRow, AppError> {
        for _ in 0..3 {
            let existing = match episode_id {
                Some(e) => self.store().patient_account_for_episode(e).await?,
                None => self.store().per_patient_account(patient_id).await?,
            };
            if let Some(a) = existing {
                if a.status == "closed" {
                    return Err(AppError::InvalidInput(
                        "this space is closed (the stay's retention has ended); there is nothing to print a slip for".into(),
                    ));
                }
                return Ok(a);
            }
            let row = PatientAccountRow {
                episode_id: episode_id.map(str::to_owned),
                reference: Some(self.free_reference().await?),
                ..crate::patient_space::new_account(
                    patient_id,
                    model.as_str(),
                    self.now().as_seconds(),
                )
            };
            match self.store().insert_patient_account(&row).await {
                Ok(()) => return Ok(row),
                // Opened at the same moment, or the reference was taken: look again.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict(
            "the patient space could not be opened; issue again".into(),
        ))
    }

    /// A new printed reference that no test, account or proxy invitation holds: the sign-in
    /// and activation forms look a reference up in all three, so it must name one thing.
    pub(crate) async fn free_reference(&self) -> Result<String, AppError> {
        for _ in 0..5 {
            let r = slip::generate_reference();
            let store = self.store();
            if store.test_by_reference(&r).await?.is_none()
                && store.patient_account_by_reference(&r).await?.is_none()
                && store.proxy_by_invitation(&r).await?.is_none()
            {
                return Ok(r);
            }
        }
        Err(AppError::internal("no free reference after 5 draws"))
    }

    /// The test's printed reference, given now if it has none.
    async fn test_reference(&self, test_id: &str) -> Result<String, AppError> {
        for _ in 0..3 {
            if let Some(reference) = self.store().test_reference(test_id).await? {
                return Ok(reference);
            }
            match self
                .store()
                .assign_test_reference(test_id, &self.free_reference().await?)
                .await
            {
                // Taken by another test (one chance in 2^50 per test): draw again.
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::internal("no free test reference after 3 draws"))
    }

    /// Check a slip's patient ID, reference (test ID or account ID) and activation secret,
    /// and use it up. Every failure gets the same answer, except a slip that no longer works,
    /// which says to ask at the desk; each wrong attempt on an active slip counts toward
    /// voiding it.
    pub async fn redeem_access_slip(
        &self,
        client: &Client,
        patient_number: &str,
        reference: &str,
        secret: &str,
    ) -> Result<RedeemedSlip, AppError> {
        let wrong = || AppError::from(PatientProblem::SlipWrong);
        let Some(reference) = slip::canonical_reference(reference) else {
            return Err(wrong());
        };
        let (patient_id, slip, space) =
            if let Some(test) = self.store().test_by_reference(&reference).await? {
                let slip = self.store().active_slip(&test.id).await?;
                (test.patient_id, slip, json!({"test": test.id}))
            } else if let Some(account) = self
                .store()
                .patient_account_by_reference(&reference)
                .await?
                .filter(|a| a.model == "per_patient" || a.model == "per_visit")
            {
                let slip = self.store().active_account_slip(&account.id).await?;
                (account.patient_id, slip, json!({"account": account.id}))
            } else {
                return Err(wrong());
            };
        let subject = format!("patient:{patient_id}");
        let refused = |why: &'static str| {
            let mut details = space.clone();
            if let Some(d) = details.as_object_mut() {
                d.insert("why".into(), json!(why));
            }
            self.audit(
                "patient_space",
                AuditAction::AccessSlipRefused,
                &subject,
                "failure",
                client,
                details,
            )
        };
        let Some(slip) = slip else {
            refused("no active slip").await?;
            return Err(PatientProblem::SlipNoLonger.into());
        };
        let now = self.now().as_seconds();
        if slip.identity_check.starts_with("invitation_")
            && now > slip.issued_at + INVITATION_DAYS * 86_400
        {
            self.store().void_slip(&slip.id, "expired", now).await?;
            refused("the invitation expired").await?;
            return Err(PatientProblem::SlipNoLonger.into());
        }
        let patient = self
            .store()
            .patient(&patient_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let typed_digest = slip::secret_digest(secret).unwrap_or_default();
        let secret_matches: bool = typed_digest
            .as_bytes()
            .ct_eq(slip.secret_digest.as_bytes())
            .into();
        // An invitation carries no patient ID (the patient learns it once in): its field stays
        // empty. A printed slip's patient ID must match.
        let invitation = slip.identity_check.starts_with("invitation_");
        let patient_matches = patient.mrn.trim() == patient_number.trim()
            || (invitation && patient_number.trim().is_empty());
        if !(secret_matches && patient_matches) {
            let counted = self
                .store()
                .slip_failed_attempt(&slip.id, MAX_FAILED_ATTEMPTS, now)
                .await?;
            return Err(match counted {
                FailedAttempt::Counted(_) => {
                    refused("wrong patient ID or activation code").await?;
                    wrong()
                }
                FailedAttempt::Voided => {
                    refused("too many wrong attempts: the slip is void").await?;
                    PatientProblem::SlipNoLonger.into()
                }
                FailedAttempt::NotActive => {
                    refused("no active slip").await?;
                    PatientProblem::SlipNoLonger.into()
                }
            });
        }
        if !self.store().use_slip(&slip.id, now).await? {
            refused("no active slip").await?;
            return Err(PatientProblem::SlipNoLonger.into());
        }
        let mut details = space.clone();
        if let Some(d) = details.as_object_mut() {
            d.insert("slip".into(), json!(slip.id));
        }
        self.audit(
            "patient_space",
            AuditAction::AccessSlipRedeemed,
            &subject,
            "success",
            client,
            details,
        )
        .await?;
        Ok(RedeemedSlip {
            patient_id,
            test_id: slip.test_id,
            account_id: slip.account_id,
        })
    }
}
