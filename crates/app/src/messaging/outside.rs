//! Outside recipients: people without an account, added to a thread by e-mail address.
//!
//! They receive an e-mail saying only that a secure message is waiting, with a link. The link
//! carries a 256-bit reference that finds their invitation and grants nothing by itself: to
//! open the thread they verify with the method the sender (or the organization) chose — a code
//! sent by SMS to a number the sender entered, an access code the sender gave them another way,
//! or a code sent to the address itself where the organization allows it. The method that
//! worked is remembered per address and offered first the next time anyone writes to them.
//!
//! A verified session opens exactly one thread (the invitation's): its messages since they were
//! added, its attachments, and a reply form with files. On a thread about a patient, every read
//! is decided by the Cedar policy (an `OutsideRecipient` in the `addressee` relation, for the
//! thread's category) and audited on the patient.

use serde::{Deserialize, Serialize};
use serde_json::json;

use sealroom_crypto::{slip, token};
use sealroom_domain::leak_rules::{DraftRecipient, RecipientKind};
use sealroom_domain::{
    AccessAction, AuditAction, Capacity, CapacitySource, DataCategory, Duration, Relation,
    Timestamp,
};
use sealroom_store::{OutsideInvitationRow, OutsideRecipientRow, OutsideSessionRow};

use super::Mailbox;
use crate::accounts::Actor;
use crate::mail::templates;
use crate::policy::Principal;
use crate::{App, AppError, Client};

/// A sent code works this long.
const CODE_MINUTES: i64 = 10;
/// Wrong codes before an invitation locks (the sender sends it again to unlock).
const TRIES: i64 = 5;
/// Codes sent per invitation before it must be sent again, and the least gap between two.
const CODES_PER_INVITATION: i64 = 5;
const CODE_GAP_SECONDS: i64 = 30;
/// A verified session ends after this long idle, or this long in all.
const IDLE_MINUTES: i64 = 15;
const SESSION_HOURS: i64 = 2;
/// A session waiting for verification ends after this long.
const PENDING_MINUTES: i64 = 30;

/// How an outside recipient proves who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyMethod {
    /// A code sent by SMS to a number the sender entered.
    Sms,
    /// A code the sender gave them another way (by phone, in person), shown to the sender once.
    AccessCode,
    /// A code sent to the address itself (only where the organization allows it: it proves no
    /// more than access to the mailbox the link went to).
    Email,
}

impl VerifyMethod {
    pub const ALL: [VerifyMethod; 3] = [
        VerifyMethod::Sms,
        VerifyMethod::AccessCode,
        VerifyMethod::Email,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VerifyMethod::Sms => "sms",
            VerifyMethod::AccessCode => "access_code",
            VerifyMethod::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<VerifyMethod> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Someone outside to write to, as the sender names them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OutsideAddressee {
    pub email: String,
    /// `sms`, `access_code` or `email`; when absent, the method remembered for the address.
    pub verify: Option<String>,
    /// For `sms`: the mobile number, in international form (the remembered one when absent).
    pub phone: Option<String>,
}

/// An outside recipient invited, as the sender is told (once).
#[derive(Debug, Clone, Serialize)]
pub struct OutsideInvited {
    /// Their participant address (`outside:<id>`).
    pub address: String,
    pub email: String,
    pub method: VerifyMethod,
    /// Whether the method is the one remembered for the address.
    pub remembered: bool,
    /// For `access_code`: the code to give them another way. Shown only now, never stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_code: Option<String>,
}

/// An outside recipient checked and ready to be invited: found by address or new.
#[derive(Debug, Clone)]
pub(crate) struct PlannedOutside {
    pub(crate) recipient: OutsideRecipientRow,
    pub(crate) email: String,
    pub(crate) method: VerifyMethod,
    pub(crate) phone: Option<String>,
    pub(crate) remembered: bool,
    pub(crate) draft: DraftRecipient,
    /// Not known yet: stored with the invitation.
    pub(crate) is_new: bool,
}

/// An invitation made, with what goes out once: the link's reference and the access code.
pub(crate) struct Invitation {
    /// The recipient, stored with the invitation when new to the organization.
    pub(crate) new_recipient: Option<OutsideRecipientRow>,
    pub(crate) row: OutsideInvitationRow,
    pub(crate) reference: String,
    pub(crate) invited: OutsideInvited,
}

/// A valid outside session, as handlers see it.
#[derive(Debug, Clone)]
pub struct OutsideSession {
    pub digest: String,
    pub csrf_token: String,
    pub verified: bool,
    pub client: Client,
    pub(crate) invitation: OutsideInvitationRow,
}

impl OutsideSession {
    /// The recipient as the rest of messaging sees them; only a verified session acts.
    pub fn actor(&self) -> Result<Actor, AppError> {
        if !self.verified {
            return Err(AppError::Unauthenticated);
        }
        Ok(Actor {
            principal: Principal::OutsideRecipient {
                recipient_id: self.invitation.recipient_id.clone(),
                thread_id: self.invitation.thread_id.clone(),
            },
            stepped_up: false,
            client: self.client.clone(),
        })
    }

    pub fn thread_id(&self) -> &str {
        &self.invitation.thread_id
    }
}

/// A session token to set as a cookie (shown once).
pub struct IssuedOutsideSession {
    pub token: String,
    pub csrf_token: String,
}

/// What the verification page shows.
#[derive(Debug, Clone, Serialize)]
pub struct VerificationView {
    pub method: VerifyMethod,
    /// Where a code goes (masked), for SMS and e-mail.
    pub to: Option<String>,
    /// Wrong codes so far have locked the invitation.
    pub locked: bool,
}

fn address_owner(recipient_id: &str) -> String {
    format!("outside_recipient:{recipient_id}:address")
}

fn phone_owner(owner: &str) -> String {
    format!("outside:{owner}:phone")
}

fn canonical_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn code_digest(invitation_id: &str, code: &str) -> String {
    let typed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    token::digest(&format!("outside-code:{invitation_id}:{typed}"))
}

fn access_code_digest(invitation_id: &str, typed: &str) -> Option<String> {
    let canonical = slip::normalise(typed)?;
    Some(token::digest(&format!(
        "outside-access-code:{invitation_id}:{canonical}"
    )))
}

impl App {
    /// Check someone outside to write to: a valid address, a method the organization allows
    /// (the remembered one when none is named), a number for SMS; on a patient thread, whether
    /// the policy would let an outside recipient read the thread's category (for the leak
    /// check's care rule). Nothing is stored.
    pub(crate) async fn plan_outside(
        &self,
        a: &OutsideAddressee,
        patient: Option<(&str, DataCategory)>,
    ) -> Result<PlannedOutside, AppError> {
        let email = canonical_email(&a.email);
        if !crate::mail::is_mailbox(&email) {
            return Err(AppError::InvalidInput(
                "an outside recipient's e-mail address is not valid".into(),
            ));
        }
        let index = self.blind_index("outside-address", &email);
        let known = self.store().outside_recipient_by_index(&index).await?;
        let remembered = known
            .as_ref()
            .and_then(|r| r.remembered_method.as_deref())
            .and_then(VerifyMethod::parse);
        let (method, from_memory) = match a.verify.as_deref().map(str::trim) {
            Some(m) if !m.is_empty() => (
                VerifyMethod::parse(m).ok_or_else(|| {
                    AppError::InvalidInput(
                        "verify must be \"sms\", \"access_code\" or \"email\"".into(),
                    )
                })?,
                false,
            ),
            _ => match remembered {
                Some(m) => (m, true),
                None => {
                    return Err(AppError::InvalidInput(format!(
                        "say how {} proves who they are: verify = \"sms\" (with their mobile \
                         number) or \"access_code\"",
                        crate::patient_contacts::masked(&email)
                    )))
                }
            },
        };
        let allowed = &self.settings().messaging.outside_methods;
        if !allowed.contains(&method) {
            let names: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
            return Err(AppError::InvalidInput(format!(
                "this organization lets outside recipients verify by {} only",
                names.join(" or ")
            )));
        }
        let phone = match method {
            VerifyMethod::Sms => {
                let typed: Option<String> = a
                    .phone
                    .as_deref()
                    .map(|p| p.chars().filter(|c| !c.is_whitespace()).collect())
                    .filter(|p: &String| !p.is_empty());
                let phone = match (typed, &known) {
                    (Some(p), _) => p,
                    (None, Some(r)) if r.remembered_method.as_deref() == Some("sms") => {
                        match &r.phone_sealed {
                            Some(sealed) => String::from_utf8(
                                self.secrets()
                                    .open(sealed, &phone_owner(&r.id))
                                    .map_err(AppError::internal)?,
                            )
                            .map_err(AppError::internal)?,
                            None => String::new(),
                        }
                    }
                    _ => String::new(),
                };
                if !crate::sms::is_phone_number(&phone) {
                    return Err(AppError::InvalidInput(
                        "for an SMS code, give the recipient's mobile number in international \
                         form, such as +32470123456"
                            .into(),
                    ));
                }
                Some(phone)
            }
            _ => None,
        };
        let now = self.now().as_seconds();
        let is_new = known.is_none();
        let recipient = match known {
            Some(r) => r,
            None => {
                let id = token::new_id();
                OutsideRecipientRow {
                    address_sealed: self.secrets().seal(email.as_bytes(), &address_owner(&id)),
                    id,
                    address_index: index,
                    remembered_method: None,
                    phone_sealed: None,
                    created_at: now,
                    last_verified_at: None,
                }
            }
        };
        let has_care = match patient {
            Some((p, category)) => Some(
                self.decide_outside(&recipient.id, p, category, now)
                    .await?
                    .is_permit(),
            ),
            None => None,
        };
        Ok(PlannedOutside {
            draft: DraftRecipient {
                label: email.clone(),
                address: Mailbox::Outside(recipient.id.clone()).address(),
                kind: RecipientKind::Outside,
                has_care,
            },
            recipient,
            email,
            method,
            phone,
            remembered: from_memory,
            is_new,
        })
    }

    /// The policy's decision on an outside recipient reading `category` of a patient while on
    /// a thread.
    async fn decide_outside(
        &self,
        recipient_id: &str,
        patient_id: &str,
        category: DataCategory,
        since: i64,
    ) -> Result<crate::access_policy::AccessDecision, AppError> {
        self.refresh_access_policy().await?;
        let capacity = Capacity {
            role: "outside".into(),
            relation: Relation::Addressee,
            valid_from: Timestamp(since),
            valid_until: None,
            granted_categories: vec![category],
            granted_actions: vec![AccessAction::Read],
            source: CapacitySource::OutsideRecipient(recipient_id.to_owned()),
        };
        Ok(self.policy_engine().decide_for_outside(
            recipient_id,
            patient_id,
            &capacity,
            category,
            AccessAction::Read,
            self.now(),
        ))
    }

    /// Store the recipient (if new) and make their invitation to `thread_id`; the invitation
    /// row is stored by the caller (with a new thread, in its transaction).
    pub(crate) async fn invite_outside(
        &self,
        planned: PlannedOutside,
        thread_id: &str,
        actor: &Actor,
    ) -> Result<Invitation, AppError> {
        let recipient = planned.recipient;
        // Someone added again to a thread keeps their invitation's id (sessions refer to it),
        // so the number and access code are sealed and hashed for that id.
        let id = match self
            .store()
            .outside_invitation_to(&recipient.id, thread_id)
            .await?
        {
            Some(old) => old.id,
            None => token::new_id(),
        };
        let reference = token::issue("").secret;
        let access_code = (planned.method == VerifyMethod::AccessCode).then(slip::generate_secret);
        let row = OutsideInvitationRow {
            reference_digest: token::digest(&reference),
            recipient_id: recipient.id.clone(),
            thread_id: thread_id.to_owned(),
            method: planned.method.as_str().to_owned(),
            phone_sealed: planned
                .phone
                .as_ref()
                .map(|p| self.secrets().seal(p.as_bytes(), &phone_owner(&id))),
            access_code_digest: access_code
                .as_deref()
                .and_then(|c| access_code_digest(&id, c)),
            code_digest: None,
            code_expires_at: None,
            codes_sent: 0,
            last_code_at: None,
            failures: 0,
            created_by: actor.name(),
            created_at: self.now().as_seconds(),
            revoked_at: None,
            id,
        };
        Ok(Invitation {
            new_recipient: planned.is_new.then(|| recipient.clone()),
            invited: OutsideInvited {
                address: Mailbox::Outside(recipient.id.clone()).address(),
                email: planned.email,
                method: planned.method,
                remembered: planned.remembered,
                access_code,
            },
            row,
            reference,
        })
    }

    /// After the invitation is stored: the e-mail that a secure message waits (nothing about
    /// it), and the audit event.
    pub(crate) async fn send_outside_invitation(
        &self,
        invitation: &Invitation,
        actor: &Actor,
    ) -> Result<(), AppError> {
        let organization = self.settings().organization_name.clone();
        let link = self.link(&format!("/outside/m/{}", invitation.reference));
        self.send_mail_in_background(
            templates::outside_message_waiting(&invitation.invited.email, &organization, &link),
            "outside recipient invitation",
        );
        self.audit(
            &actor.name(),
            AuditAction::OutsideInvited,
            &format!("thread:{}", invitation.row.thread_id),
            "success",
            &actor.client,
            json!({
                "participant": invitation.invited.address,
                "method": invitation.invited.method.as_str(),
                "remembered": invitation.invited.remembered,
            }),
        )
        .await
    }

    /// A fresh link for an invitation (the notice of new messages carries it; the older link
    /// stops working).
    pub(crate) async fn renew_outside_link(
        &self,
        invitation: &OutsideInvitationRow,
    ) -> Result<String, AppError> {
        let reference = token::issue("").secret;
        self.store()
            .renew_outside_reference(&invitation.id, &token::digest(&reference))
            .await?;
        Ok(self.link(&format!("/outside/m/{reference}")))
    }

    /// An outside recipient's address, for labels and notices.
    pub(crate) async fn outside_email(
        &self,
        recipient_id: &str,
    ) -> Result<Option<String>, AppError> {
        let Some(r) = self.store().outside_recipient(recipient_id).await? else {
            return Ok(None);
        };
        let bytes = self
            .secrets()
            .open(&r.address_sealed, &address_owner(&r.id))
            .map_err(AppError::internal)?;
        Ok(Some(String::from_utf8(bytes).map_err(AppError::internal)?))
    }

    /// Open a link: a pending session for its invitation, to be verified. A link that finds
    /// nothing, or whose recipient was removed from the thread, is refused (audited).
    pub async fn open_outside_link(
        &self,
        reference: &str,
        client: &Client,
    ) -> Result<IssuedOutsideSession, AppError> {
        let invitation = self
            .store()
            .outside_invitation_by_reference(&token::digest(reference.trim()))
            .await?;
        let live = match &invitation {
            Some(i) if i.revoked_at.is_none() => self.outside_on_thread(i).await?,
            _ => false,
        };
        let Some(invitation) = invitation.filter(|_| live) else {
            self.audit(
                "outside:unknown",
                AuditAction::OutsideLinkRefused,
                "outside_link",
                "denied",
                client,
                json!({"reason": "unknown_or_revoked"}),
            )
            .await?;
            return Err(AppError::NotFound);
        };
        let now = self.now().as_seconds();
        let issued = token::issue("");
        let csrf_token = token::issue("").secret;
        self.store()
            .insert_outside_session(&OutsideSessionRow {
                digest: issued.digest,
                invitation_id: invitation.id.clone(),
                csrf_token: csrf_token.clone(),
                created_at: now,
                last_seen_at: now,
                verified_at: None,
                ended_at: None,
            })
            .await?;
        self.audit(
            &format!("outside:{}", invitation.recipient_id),
            AuditAction::OutsideLinkOpened,
            &format!("thread:{}", invitation.thread_id),
            "success",
            client,
            json!({"method": invitation.method}),
        )
        .await?;
        Ok(IssuedOutsideSession {
            token: issued.secret,
            csrf_token,
        })
    }

    async fn outside_on_thread(&self, i: &OutsideInvitationRow) -> Result<bool, AppError> {
        let address = Mailbox::Outside(i.recipient_id.clone()).address();
        Ok(self
            .store()
            .participants(&i.thread_id)
            .await?
            .iter()
            .any(|p| p.mailbox == address && p.removed_at.is_none()))
    }

    /// The session a cookie names, if it is still valid: not ended, not idle too long, not too
    /// old, its invitation not revoked and its recipient still on the thread.
    pub async fn check_outside_session(
        &self,
        token: &str,
        client: &Client,
    ) -> Result<OutsideSession, AppError> {
        let digest = token::digest(token);
        let row = self
            .store()
            .outside_session(&digest)
            .await?
            .filter(|s| s.ended_at.is_none())
            .ok_or(AppError::Unauthenticated)?;
        let now = self.now().as_seconds();
        let expired = match row.verified_at {
            Some(_) => {
                now - row.last_seen_at >= Duration::minutes(IDLE_MINUTES).as_seconds()
                    || now - row.created_at >= Duration::hours(SESSION_HOURS).as_seconds()
            }
            None => now - row.created_at >= Duration::minutes(PENDING_MINUTES).as_seconds(),
        };
        let invitation = self.store().outside_invitation(&row.invitation_id).await?;
        let valid = match &invitation {
            Some(i) if !expired && i.revoked_at.is_none() => self.outside_on_thread(i).await?,
            _ => false,
        };
        let Some(invitation) = invitation.filter(|_| valid) else {
            self.store().end_outside_session(&digest, now).await?;
            return Err(AppError::Unauthenticated);
        };
        self.store().touch_outside_session(&digest, now).await?;
        Ok(OutsideSession {
            digest,
            csrf_token: row.csrf_token,
            verified: row.verified_at.is_some(),
            client: client.clone(),
            invitation,
        })
    }

    /// What the verification page says: the method and where a code goes (masked).
    pub async fn outside_verification(
        &self,
        session: &OutsideSession,
    ) -> Result<VerificationView, AppError> {
        let i = &session.invitation;
        let method = VerifyMethod::parse(&i.method)
            .ok_or_else(|| AppError::internal("an invitation has an unknown method"))?;
        let to = match method {
            VerifyMethod::Sms => Some(crate::patient_contacts::masked(&self.invitation_phone(i)?)),
            VerifyMethod::Email => self
                .outside_email(&i.recipient_id)
                .await?
                .map(|e| crate::patient_contacts::masked(&e)),
            VerifyMethod::AccessCode => None,
        };
        Ok(VerificationView {
            method,
            to,
            locked: i.failures >= TRIES,
        })
    }

    fn invitation_phone(&self, i: &OutsideInvitationRow) -> Result<String, AppError> {
        let sealed = i
            .phone_sealed
            .as_ref()
            .ok_or_else(|| AppError::internal("an SMS invitation has no number"))?;
        String::from_utf8(
            self.secrets()
                .open(sealed, &phone_owner(&i.id))
                .map_err(AppError::internal)?,
        )
        .map_err(AppError::internal)
    }

    /// Send a code for a pending session (SMS or e-mail invitations): 6 digits, 10 minutes,
    /// at most 5 per invitation, 30 seconds apart.
    pub async fn send_outside_code(&self, session: &OutsideSession) -> Result<String, AppError> {
        let i = &session.invitation;
        let method = VerifyMethod::parse(&i.method)
            .ok_or_else(|| AppError::internal("an invitation has an unknown method"))?;
        if i.failures >= TRIES {
            return Err(locked());
        }
        let to =
            match method {
                VerifyMethod::Sms => self.invitation_phone(i)?,
                VerifyMethod::Email => self
                    .outside_email(&i.recipient_id)
                    .await?
                    .ok_or_else(|| AppError::internal("an invitation's recipient is gone"))?,
                VerifyMethod::AccessCode => return Err(AppError::InvalidInput(
                    "this message opens with the access code the sender gave you; no code is sent"
                        .into(),
                )),
            };
        let code = format!(
            "{:06}",
            rand::Rng::gen_range(&mut rand::rngs::OsRng, 0..1_000_000u32)
        );
        let now = self.now();
        if !self
            .store()
            .set_outside_code(
                &i.id,
                &code_digest(&i.id, &code),
                now.plus(Duration::minutes(CODE_MINUTES)).as_seconds(),
                now.as_seconds(),
                CODES_PER_INVITATION,
                CODE_GAP_SECONDS,
            )
            .await?
        {
            return Err(AppError::Conflict(format!(
                "a code was sent less than {CODE_GAP_SECONDS} seconds ago, or {CODES_PER_INVITATION} \
                 codes were sent already; wait a little, or ask the sender to send the message again"
            )));
        }
        let organization = &self.settings().organization_name;
        match method {
            VerifyMethod::Sms => self.send_sms_in_background(
                to.clone(),
                crate::sms::templates::outside_code(organization, &code, CODE_MINUTES),
                "outside recipient code",
            ),
            _ => self.send_mail_in_background(
                templates::outside_code(&to, organization, &code, CODE_MINUTES),
                "outside recipient code",
            ),
        }
        self.audit(
            &format!("outside:{}", i.recipient_id),
            AuditAction::OutsideCodeSent,
            &format!("thread:{}", i.thread_id),
            "success",
            &session.client,
            json!({"method": method.as_str()}),
        )
        .await?;
        Ok(crate::patient_contacts::masked(&to))
    }

    /// Check the code (or access code) of a pending session. Right: the session is replaced by
    /// a verified one (a new token) and the method is remembered for the address. Wrong: one
    /// of five tries is spent; the fifth locks the invitation.
    pub async fn verify_outside(
        &self,
        session: &OutsideSession,
        code: &str,
    ) -> Result<IssuedOutsideSession, AppError> {
        let i = &session.invitation;
        let actor = format!("outside:{}", i.recipient_id);
        if i.failures >= TRIES {
            return Err(locked());
        }
        let now = self.now().as_seconds();
        // Taken in one statement that checks again the lock, the expiry and the digest, so
        // that guesses sent in parallel cannot slip past the count.
        let right = match VerifyMethod::parse(&i.method) {
            Some(VerifyMethod::AccessCode) => match access_code_digest(&i.id, code) {
                Some(d) => {
                    self.store()
                        .take_outside_verification(&i.id, &d, true, now, TRIES)
                        .await?
                }
                None => false,
            },
            Some(_) => {
                self.store()
                    .take_outside_verification(&i.id, &code_digest(&i.id, code), false, now, TRIES)
                    .await?
            }
            None => false,
        };
        if !right {
            let failures = self.store().take_outside_try(&i.id, TRIES).await?;
            self.audit(
                &actor,
                AuditAction::OutsideVerificationFailed,
                &format!("thread:{}", i.thread_id),
                "denied",
                &session.client,
                json!({"method": i.method, "failures": failures}),
            )
            .await?;
            return Err(match failures {
                Some(f) if f < TRIES => AppError::InvalidInput(format!(
                    "that code is not right, or no longer valid ({} {} left)",
                    TRIES - f,
                    if TRIES - f == 1 { "try" } else { "tries" }
                )),
                _ => locked(),
            });
        }
        let phone = match i.method.as_str() {
            "sms" => Some(self.invitation_phone(i)?),
            _ => None,
        };
        let phone_sealed = phone.as_ref().map(|p| {
            self.secrets()
                .seal(p.as_bytes(), &phone_owner(&i.recipient_id))
        });
        self.store()
            .remember_outside_method(&i.recipient_id, &i.method, phone_sealed.as_deref(), now)
            .await?;
        let issued = token::issue("");
        let csrf_token = token::issue("").secret;
        if !self
            .store()
            .verify_outside_session(
                &session.digest,
                &OutsideSessionRow {
                    digest: issued.digest,
                    invitation_id: i.id.clone(),
                    csrf_token: csrf_token.clone(),
                    created_at: now,
                    last_seen_at: now,
                    verified_at: Some(now),
                    ended_at: None,
                },
            )
            .await?
        {
            return Err(AppError::Unauthenticated);
        }
        self.audit(
            &actor,
            AuditAction::OutsideVerified,
            &format!("thread:{}", i.thread_id),
            "success",
            &session.client,
            json!({"method": i.method}),
        )
        .await?;
        Ok(IssuedOutsideSession {
            token: issued.secret,
            csrf_token,
        })
    }

    pub async fn outside_sign_out(&self, session: &OutsideSession) -> Result<(), AppError> {
        self.store()
            .end_outside_session(&session.digest, self.now().as_seconds())
            .await?;
        Ok(())
    }

    /// On a patient thread, whether an outside recipient may read it now: the policy decides
    /// (addressee of the thread since they were added, for its category), audited on the
    /// patient either way.
    pub(crate) async fn outside_may_read_thread(
        &self,
        actor: &Actor,
        (recipient_id, added_at): (&str, i64),
        patient_id: &str,
        category: DataCategory,
        audit: AuditAction,
        details: serde_json::Value,
    ) -> Result<bool, AppError> {
        let decision = self
            .decide_outside(recipient_id, patient_id, category, added_at)
            .await?;
        let subject = format!("patient:{patient_id}");
        let mut event = match &decision {
            crate::access_policy::AccessDecision::Permit { policy, source, .. } => json!({
                "categories": [category.as_str()],
                "purpose": "TREAT",
                "reasons": [{"policy": policy, "via": source.to_string()}],
            }),
            crate::access_policy::AccessDecision::Deny { forbidden_by } => json!({
                "categories": [category.as_str()],
                "action": "read",
                "forbidden_by": forbidden_by,
            }),
        };
        if let (Some(e), serde_json::Value::Object(mut d)) = (event.as_object_mut(), details) {
            e.append(&mut d);
        }
        let permitted = decision.is_permit();
        self.audit(
            &actor.name(),
            if permitted {
                audit
            } else {
                AuditAction::MessageAccessDenied
            },
            &subject,
            if permitted { "granted" } else { "denied" },
            &actor.client,
            event,
        )
        .await?;
        Ok(permitted)
    }
}

/// What a verified outside recipient does: read their thread, download its files, reply.
impl App {
    pub async fn outside_thread(
        &self,
        session: &OutsideSession,
    ) -> Result<super::ThreadView, AppError> {
        self.thread(&session.actor()?, session.thread_id()).await
    }

    pub async fn outside_attachment(
        &self,
        session: &OutsideSession,
        attachment_id: &str,
    ) -> Result<super::AttachmentContent, AppError> {
        self.attachment_content(&session.actor()?, attachment_id)
            .await
    }

    pub async fn outside_reply(
        &self,
        session: &OutsideSession,
        message: super::NewMessageBody,
    ) -> Result<super::SendOutcome, AppError> {
        let message = super::NewMessageBody {
            body: message.body,
            attachments: message.attachments,
            ..super::NewMessageBody::default()
        };
        self.send_message(&session.actor()?, session.thread_id(), message)
            .await
    }
}

fn locked() -> AppError {
    AppError::Conflict(
        "too many wrong codes: this message is locked; ask the sender to send it to you again"
            .into(),
    )
}
