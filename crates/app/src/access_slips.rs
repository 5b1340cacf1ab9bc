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
use sealroom_store::{FailedAttempt, SlipRow, StoreError};

use crate::accounts::Actor;
use crate::patient_space::PatientProblem;
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
    pub test_id: String,
    /// The patient's record number, printed as the patient ID.
    pub patient_number: String,
    /// The test's short reference, printed as the test ID.
    pub test_reference: String,
    /// The one-time activation secret, `XXXX-XXXX-XXXX-XXXX`.
    pub activation_secret: String,
    /// Where the patient activates the slip.
    pub patient_space_url: String,
    pub issued_at: i64,
    /// Whether it replaced an earlier slip, now void.
    pub replaced_earlier: bool,
}

/// A slip that was redeemed: whose and for which test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeemedSlip {
    pub patient_id: String,
    pub test_id: String,
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
    /// patient's identity document).
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
        let slip_id = new_id();
        self.require_patient_access(
            actor,
            &test.patient_id,
            DataCategory::Administrative,
            AccessAction::Write,
            AuditAction::AccessSlipIssued,
            json!({"test": test.id, "slip": slip_id, "identity_check": identity_check.as_str()}),
        )
        .await?;
        let patient = self
            .store()
            .patient(&test.patient_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let test_reference = self.test_reference(&test.id).await?;
        let secret = slip::generate_secret();
        let secret_digest = slip::secret_digest(&secret)
            .ok_or_else(|| AppError::internal("a generated secret did not parse"))?;
        let issued_at = self.now().as_seconds();
        let replaced = self
            .store()
            .issue_slip(&SlipRow {
                id: slip_id.clone(),
                test_id: test.id.clone(),
                patient_id: test.patient_id.clone(),
                secret_digest,
                state: "active".into(),
                failed_attempts: 0,
                void_reason: None,
                identity_check: identity_check.as_str().into(),
                issued_by: actor.name(),
                issued_at,
                ended_at: None,
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AppError::Conflict(
                    "another slip for this test was issued at the same moment; issue again".into(),
                ),
                e => e.into(),
            })?;
        Ok(IssuedSlip {
            slip_id,
            test_id: test.id,
            patient_number: patient.mrn,
            test_reference,
            activation_secret: secret,
            patient_space_url: self.patient_space_url(),
            issued_at,
            replaced_earlier: replaced > 0,
        })
    }

    /// The test's printed reference, given now if it has none.
    async fn test_reference(&self, test_id: &str) -> Result<String, AppError> {
        for _ in 0..3 {
            if let Some(reference) = self.store().test_reference(test_id).await? {
                return Ok(reference);
            }
            match self
                .store()
                .assign_test_reference(test_id, &slip::generate_reference())
                .await
            {
                // Taken by another test (one chance in 2^50 per test): draw again.
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::internal("no free test reference after 3 draws"))
    }

    /// Check a slip's patient ID, test ID and activation secret, and use it up. Every failure
    /// gets the same answer, except a slip that no longer works, which says to ask at the
    /// desk; each wrong attempt on a test's active slip counts toward voiding it.
    pub async fn redeem_access_slip(
        &self,
        client: &Client,
        patient_number: &str,
        test_reference: &str,
        secret: &str,
    ) -> Result<RedeemedSlip, AppError> {
        let wrong = || AppError::from(PatientProblem::SlipWrong);
        let Some(reference) = slip::canonical_reference(test_reference) else {
            return Err(wrong());
        };
        let Some(test) = self.store().test_by_reference(&reference).await? else {
            return Err(wrong());
        };
        let subject = format!("patient:{}", test.patient_id);
        let refused = |why: &'static str| {
            self.audit(
                "patient_space",
                AuditAction::AccessSlipRefused,
                &subject,
                "failure",
                client,
                json!({"test": test.id, "why": why}),
            )
        };
        let Some(slip) = self.store().active_slip(&test.id).await? else {
            refused("no active slip").await?;
            return Err(AppError::from(PatientProblem::SlipNoLonger));
        };
        let patient = self
            .store()
            .patient(&test.patient_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let typed_digest = slip::secret_digest(secret).unwrap_or_default();
        let secret_matches: bool = typed_digest
            .as_bytes()
            .ct_eq(slip.secret_digest.as_bytes())
            .into();
        let patient_matches = patient.mrn.trim() == patient_number.trim();
        let now = self.now().as_seconds();
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
                    AppError::from(PatientProblem::SlipNoLonger)
                }
                FailedAttempt::NotActive => {
                    refused("no active slip").await?;
                    AppError::from(PatientProblem::SlipNoLonger)
                }
            });
        }
        if !self.store().use_slip(&slip.id, now).await? {
            refused("no active slip").await?;
            return Err(AppError::from(PatientProblem::SlipNoLonger));
        }
        self.audit(
            "patient_space",
            AuditAction::AccessSlipRedeemed,
            &subject,
            "success",
            client,
            json!({"test": test.id, "slip": slip.id}),
        )
        .await?;
        Ok(RedeemedSlip {
            patient_id: test.patient_id,
            test_id: test.id,
        })
    }
}
