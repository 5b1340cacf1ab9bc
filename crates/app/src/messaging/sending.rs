//! Sending: the leak check, encryption and signature of a message, receipts and live delivery;
//! recall and expiry, both by destroying keys.

use serde::Serialize;
use serde_json::json;

use sealroom_crypto::envelope::SymmetricKey;
use sealroom_crypto::signing::{MessageStatement, StaffSigningKey};
use sealroom_domain::leak_rules::{
    self, Draft, DraftRecipient, Finding, KnownRecipient, LeakLevel, LeakRule, RecipientKind,
    FREQUENT,
};
use sealroom_domain::{AccessAction, AuditAction, DataCategory};
use sealroom_store::{AuthorKeyRow, MessageRow, NewMessage, StoreError, ThreadRow};

use super::threads::Labels;
use super::{body_context, message_key_context, LiveEvent, Mailbox, Reader};
use crate::accounts::Actor;
use crate::keyring::author_signing_context;
use crate::{App, AppError};

/// What a message says and carries.
#[derive(Debug, Clone, Default)]
pub struct NewMessageBody {
    pub body: String,
    /// Attachments uploaded beforehand by the sender, in order.
    pub attachments: Vec<String>,
    /// The consent or legal basis for what goes to outside recipients.
    pub legal_basis: Option<String>,
    /// Expire after this many days (the organization's default otherwise).
    pub expires_in_days: Option<i64>,
    /// Warnings the sender has read and confirmed.
    pub confirmed: Vec<LeakRule>,
}

/// The thread a draft goes to, as the leak rules see it.
pub(crate) struct ThreadContext<'a> {
    pub(crate) thread_id: &'a str,
    pub(crate) subject: &'a str,
    /// Outside recipients already on it (new ones would see them).
    pub(crate) outside_on_thread: usize,
    /// The sender's recipient history, when the caller has read it already.
    pub(crate) history: Option<Vec<(String, i64)>>,
}

/// Signers' public keys looked up during one request: key id → (owner, public key).
#[derive(Default)]
pub(crate) struct SignerKeys(std::collections::HashMap<String, Option<(String, Vec<u8>)>>);

/// Where a message goes: its thread (new, with its first participants, or existing).
pub(crate) struct Delivery<'a> {
    pub(crate) thread: &'a ThreadRow,
    pub(crate) thread_key: &'a SymmetricKey,
    /// Set when the thread is new: stored with the message in one transaction.
    pub(crate) new_participants: Option<Vec<sealroom_store::ParticipantRow>>,
    /// Every current participant but the author.
    pub(crate) recipients: Vec<String>,
    /// Outside recipients invited with a new thread: stored with it, and told by their
    /// invitation rather than by a notice.
    pub(crate) invitations: Vec<sealroom_store::OutsideInvitationRow>,
    /// Outside recipients new to the organization, stored with their invitations.
    pub(crate) new_recipients: Vec<sealroom_store::OutsideRecipientRow>,
}

/// A sent message and what the leak check suggested.
#[derive(Debug, Clone, Serialize)]
pub struct SendOutcome {
    pub thread_id: String,
    pub message_id: String,
    pub sent_at: i64,
    pub expires_at: Option<i64>,
    /// Suggestions and confirmed warnings (errors and unconfirmed warnings stop the message).
    pub findings: Vec<Finding>,
    /// Outside recipients invited by this message, with the access codes to give them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outside: Vec<super::OutsideInvited>,
}

impl App {
    /// Run the leak rules over a draft. Errors block; warnings block until confirmed. Every
    /// outcome is audited (rule, level, outcome; never what matched). Returns the findings that
    /// let the message go (suggestions, confirmed warnings), or `AppError::LeakCheck`.
    pub(crate) async fn leak_check(
        &self,
        reader: &Reader,
        thread: ThreadContext<'_>,
        recipients: Vec<DraftRecipient>,
        patient_names: Vec<String>,
        message: &NewMessageBody,
    ) -> Result<Vec<Finding>, AppError> {
        let ThreadContext {
            thread_id,
            subject,
            outside_on_thread,
            history,
        } = thread;
        let history = self.known_recipients(reader, &recipients, history).await?;
        let draft = Draft {
            subject,
            notification_texts: Vec::new(),
            outside_on_thread,
            recipients,
            patient_names,
            has_attachments: !message.attachments.is_empty(),
            legal_basis: message.legal_basis.as_deref(),
            history: &history,
        };
        let findings = leak_rules::check(&draft, &self.settings().messaging.leak_levels);
        let outcome_of = |f: &Finding| match f.level {
            LeakLevel::Error => "blocked",
            LeakLevel::Warning if message.confirmed.contains(&f.rule) => "confirmed",
            LeakLevel::Warning => "awaiting_confirmation",
            _ => "suggested",
        };
        let stops = findings
            .iter()
            .any(|f| matches!(outcome_of(f), "blocked" | "awaiting_confirmation"));
        let audited: Vec<serde_json::Value> = findings
            .iter()
            .map(|f| json!({"rule": f.rule.as_str(), "level": f.level.as_str(), "outcome": outcome_of(f)}))
            .collect();
        let actor = &reader.actor;
        self.audit(
            &actor.name(),
            AuditAction::MessageLeakCheck,
            &format!("thread:{thread_id}"),
            if stops { "stopped" } else { "passed" },
            &actor.client,
            json!({"findings": audited}),
        )
        .await?;
        if stops {
            return Err(AppError::LeakCheck(findings));
        }
        Ok(findings)
    }

    /// Whom the sender has written to, with labels for the frequent ones.
    async fn known_recipients(
        &self,
        reader: &Reader,
        recipients: &[DraftRecipient],
        history: Option<Vec<(String, i64)>>,
    ) -> Result<Vec<KnownRecipient>, AppError> {
        let mut labels = Labels::default();
        let mut out = Vec::new();
        let history = match history {
            Some(h) => h,
            None => {
                self.store()
                    .recipient_history(&reader.own.address())
                    .await?
            }
        };
        // Names of frequent recipients matter only when someone new is written to.
        let someone_new = recipients
            .iter()
            .any(|r| !history.iter().any(|(a, _)| a == &r.address));
        for (address, messages) in history {
            let messages = u32::try_from(messages).unwrap_or(u32::MAX);
            let label = if someone_new && messages >= FREQUENT {
                self.label(&mut labels, &address).await?
            } else {
                String::new()
            };
            out.push(KnownRecipient {
                address,
                label,
                messages,
            });
        }
        Ok(out)
    }

    /// Send a message into a thread the actor takes part in (staff, or the patient space on
    /// its own patient's thread).
    pub async fn send_message(
        &self,
        actor: &Actor,
        thread_id: &str,
        message: NewMessageBody,
    ) -> Result<SendOutcome, AppError> {
        let reader = self.writer(actor).await?;
        self.check_message(&message)?;
        self.check_attachments(&reader, &message.attachments)
            .await?;
        let super::threads::OpenedThread {
            thread,
            key,
            participants,
            sent_before,
            ..
        } = self
            .open_thread(
                &reader,
                thread_id,
                AccessAction::Write,
                AuditAction::MessageComposed,
            )
            .await?;
        let own = reader.own.address();
        if !participants
            .iter()
            .any(|p| p.mailbox == own && p.removed_at.is_none())
        {
            // Read through a department: write as yourself, so join first.
            return Err(AppError::Conflict(
                "you read this thread through a department inbox; add yourself to reply as yourself".into(),
            ));
        }
        // Every current participant but the sender.
        let to: Vec<String> = participants
            .into_iter()
            .filter(|p| p.removed_at.is_none() && p.mailbox != own)
            .map(|p| p.mailbox)
            .collect();
        // The leak rules look at the sender's history only for recipients they have not
        // written to: when there are none, what the thread's query found is all they need.
        let known = if to.iter().all(|r| sent_before.iter().any(|(a, _)| a == r)) {
            sent_before
        } else {
            self.store().recipient_history(&own).await?
        };
        let mut labels = Labels::default();
        let mut recipients = Vec::new();
        for address in &to {
            let m = Mailbox::parse(address)?;
            // The rules look at the names of recipients the sender has not written to before.
            let label = if known.iter().any(|(a, _)| a == address) {
                String::new()
            } else {
                self.label(&mut labels, address).await?
            };
            recipients.push(DraftRecipient {
                label,
                address: address.clone(),
                kind: match m {
                    Mailbox::User(_) => RecipientKind::Staff,
                    Mailbox::Department(_) => RecipientKind::Department,
                    Mailbox::Patient(_) => RecipientKind::Patient,
                    Mailbox::Outside(_) => RecipientKind::Outside,
                },
                // Care was checked when each joined; the policy decides every read.
                has_care: None,
            });
        }
        let subject = self.open_subject(&thread, &key)?;
        let names = match &thread.patient_id {
            Some(p) => self.patient_names(p).await?,
            None => Vec::new(),
        };
        // The rules guard what the organization's people send. Patients and outside recipients
        // answer within a thread whose members staff chose, and could neither confirm a warning
        // (a first outside address: they have no history) nor give a legal basis for their own
        // files, so their replies are not checked.
        let findings = if !reader.is_staff() {
            Vec::new()
        } else {
            let context = ThreadContext {
                thread_id,
                subject: &subject,
                outside_on_thread: 0,
                history: Some(known),
            };
            self.leak_check(&reader, context, recipients, names, &message)
                .await?
        };
        let delivery = Delivery {
            thread: &thread,
            thread_key: &key,
            new_participants: None,
            recipients: to,
            invitations: Vec::new(),
            new_recipients: Vec::new(),
        };
        let mut outcome = self.store_message(&reader, delivery, message).await?;
        outcome.findings = findings;
        Ok(outcome)
    }

    /// Check what a message says and carries before anything is checked for leaks or stored:
    /// not empty, not too long, a valid expiry and legal basis, at most so many attachments.
    pub(crate) fn check_message(&self, message: &NewMessageBody) -> Result<(), AppError> {
        let body = message.body.trim_end();
        if body.trim().is_empty() && message.attachments.is_empty() {
            return Err(AppError::InvalidInput("the message is empty".into()));
        }
        let max = self.settings().messaging.max_body_bytes;
        if body.len() > max {
            return Err(AppError::TooLarge(format!(
                "the message is longer than {} KiB; send long text as an attachment",
                max / 1024
            )));
        }
        self.expiry(message.expires_in_days, self.now())?;
        if let Some(b) = &message.legal_basis {
            if !super::LEGAL_BASES.contains(&b.as_str()) {
                return Err(AppError::InvalidInput(format!(
                    "legal_basis must be one of {}",
                    super::LEGAL_BASES.join(", ")
                )));
            }
        }
        if message.attachments.len() > super::attachments::MAX_ATTACHMENTS {
            return Err(AppError::InvalidInput(format!(
                "a message carries at most {} attachments",
                super::attachments::MAX_ATTACHMENTS
            )));
        }
        Ok(())
    }

    /// Encrypt, sign and store a message (with its thread, when new), then deliver it: live to
    /// connected recipients, by a batched e-mail notice to the others. The message was checked
    /// by [`App::check_message`] and the leak rules.
    pub(crate) async fn store_message(
        &self,
        reader: &Reader,
        delivery: Delivery<'_>,
        message: NewMessageBody,
    ) -> Result<SendOutcome, AppError> {
        let Delivery {
            thread,
            thread_key,
            new_participants,
            recipients,
            invitations,
            new_recipients,
        } = delivery;
        let mut message = message;
        if message.expires_in_days.is_none() && recipients.iter().any(|r| r.starts_with("outside:"))
        {
            message.expires_in_days = self.settings().messaging.outside_expiry_days;
        }
        let actor = &reader.actor;
        let own = reader.own.address();
        let own = own.as_str();
        self.check_message(&message)?;
        let body = message.body.trim_end().to_owned();
        let now = self.now();
        let expires_at = self.expiry(message.expires_in_days, now)?;
        let message_id = sealroom_crypto::token::new_id();
        let data_key = SymmetricKey::generate();
        let body_sealed = data_key.seal(body.as_bytes(), &body_context(&message_id));
        let wrapped_data_key = thread_key.wrap(&data_key, &message_key_context(&message_id));
        let (attachments, hashes) = self
            .take_attachments(reader, &message.attachments, thread_key)
            .await?;
        let (signing_key_id, signing_key) = self.author_signing_key(reader).await?;
        let statement = MessageStatement {
            message: message_id.clone(),
            thread: thread.id.clone(),
            author: own.to_owned(),
            signer: actor.name(),
            body_hash: *blake3::hash(&body_sealed).as_bytes(),
            attachment_hashes: hashes,
            signed_at: now.as_seconds(),
        };
        let signature = signing_key.sign_message(&statement).to_vec();

        let live = self.live();
        let invited: Vec<String> = invitations
            .iter()
            .map(|i| Mailbox::Outside(i.recipient_id.clone()).address())
            .collect();
        let (delivered_now, waiting): (Vec<String>, Vec<String>) = recipients
            .iter()
            .filter(|m| !invited.contains(m))
            .cloned()
            .partition(|m| live.is_connected(m));
        let row = MessageRow {
            id: message_id.clone(),
            thread_id: thread.id.clone(),
            author: own.to_owned(),
            signer: actor.name(),
            body_sealed: Some(body_sealed),
            wrapped_data_key: Some(wrapped_data_key),
            body_hash: statement.body_hash.to_vec(),
            signing_key_id,
            signature,
            sent_at: now.as_seconds(),
            expires_at,
            legal_basis: message.legal_basis.clone(),
            destroyed_at: None,
            destroyed_reason: None,
            destroyed_by: None,
        };
        let attachment_count = attachments.len();
        let is_new = new_participants.is_some();
        let stored = NewMessage {
            thread: new_participants.map(|p| (thread.clone(), p)),
            message: row,
            attachments,
            recipients: recipients.clone(),
            delivered_now,
            waiting,
            history_sender: reader.is_staff().then(|| own.to_owned()),
            invitations,
            new_recipients,
        };
        let event = LiveEvent {
            kind: "message",
            thread: thread.id.clone(),
            message: message_id.clone(),
            sent_at: now.as_seconds(),
        };
        let (author, client) = (actor.name(), actor.client.clone());
        let subject = format!("thread:{}", thread.id);
        let details = json!({
                "message": message_id,
                "patient": thread.patient_id,
                "recipients": recipients.len(),
                "attachments": attachment_count,
                "expires_at": expires_at,
                "legal_basis": message.legal_basis,
                "new_thread": is_new,
        });
        // Stored, delivered and audited in a task of its own: once handed to the writer, the
        // message is stored even if the sender goes away (the request dropped), and then it
        // must still reach the recipients and the audit log.
        let app = self.clone();
        let delivered = tokio::spawn(async move {
            match app.message_writer().insert(stored).await {
                Err(StoreError::Conflict(_)) => {
                    return Err(AppError::Conflict(
                        "an attachment was already sent with another message; upload it again"
                            .into(),
                    ))
                }
                other => other?,
            }
            app.live().publish(&recipients, &event);
            app.audit(
                &author,
                AuditAction::MessageSent,
                &subject,
                "success",
                &client,
                details,
            )
            .await
        });
        delivered
            .await
            .map_err(|e| AppError::internal(format!("storing a message failed: {e}")))??;
        Ok(SendOutcome {
            thread_id: thread.id.clone(),
            message_id,
            sent_at: now.as_seconds(),
            expires_at,
            findings: Vec::new(),
            outside: Vec::new(),
        })
    }

    /// The signing key of whoever writes: a staff member's own (made on first use, shared with
    /// documents), or a patient space account's author key.
    async fn author_signing_key(
        &self,
        reader: &Reader,
    ) -> Result<(String, StaffSigningKey), AppError> {
        let actor = &reader.actor;
        if let crate::policy::Principal::Staff { user_id, .. } = &actor.principal {
            return match &reader.signing_key {
                Some(k) => Ok((k.id.clone(), self.open_signing_key(&k.id, &k.wrapped)?)),
                None => self.signing_key_of(user_id).await,
            };
        }
        let author = actor.name();
        let master = &self.keys().master;
        for _ in 0..2 {
            if let Some(row) = self.store().author_key(&author).await? {
                let key = StaffSigningKey::unwrap(
                    master,
                    &row.wrapped_private,
                    &author_signing_context(&row.id),
                )
                .map_err(AppError::internal)?;
                return Ok((row.id, key));
            }
            let key = StaffSigningKey::generate();
            let id = sealroom_crypto::token::new_id();
            self.store()
                .insert_author_key(&AuthorKeyRow {
                    wrapped_private: key.wrap(master, &author_signing_context(&id)),
                    public_key: key.public_key().to_vec(),
                    id,
                    author: author.clone(),
                    created_at: self.now().as_seconds(),
                })
                .await?;
        }
        Err(AppError::internal(
            "the author's signing key could not be created",
        ))
    }

    /// Whether a message's signature holds: made by the key recorded, which belongs to the
    /// signer, over what is stored. Public keys are looked up once per request (`signers`).
    pub(crate) async fn message_signature_holds(
        &self,
        m: &MessageRow,
        statement: &MessageStatement,
        signers: &mut SignerKeys,
    ) -> Result<bool, AppError> {
        if !signers.0.contains_key(&m.signing_key_id) {
            // (owner, public key) of a staff or an author key.
            let found = match self.store().signing_key(&m.signing_key_id).await? {
                Some(k) => Some((format!("user:{}", k.user_id), k.public_key)),
                None => self
                    .store()
                    .author_key_by_id(&m.signing_key_id)
                    .await?
                    .map(|k| (k.author, k.public_key)),
            };
            signers.0.insert(m.signing_key_id.clone(), found);
        }
        let Some(Some((owner, public_key))) = signers.0.get(&m.signing_key_id) else {
            return Ok(false);
        };
        Ok(*owner == m.signer
            && m.body_hash.as_slice() == statement.body_hash
            && statement.verify(public_key, &m.signature).is_ok())
    }

    /// Recall a message: only its signer may. Its keys and content are destroyed, so those
    /// who have not read it never will and those who have cannot open it again.
    pub async fn recall_message(&self, actor: &Actor, message_id: &str) -> Result<(), AppError> {
        let reader = self.writer(actor).await?;
        let Some(m) = self.store().message(message_id).await? else {
            self.audit(
                &actor.name(),
                AuditAction::MessageAccessDenied,
                &format!("message:{message_id}"),
                "denied",
                &actor.client,
                json!({"reason": "no_such_message", "action": "recall"}),
            )
            .await?;
            return Err(AppError::NotFound);
        };
        // Only a reader of the thread learns anything about the message.
        self.open_thread(
            &reader,
            &m.thread_id,
            AccessAction::Read,
            AuditAction::MessageRecalled,
        )
        .await?;
        if m.signer != actor.name() {
            return Err(AppError::Forbidden);
        }
        let read_by = self
            .store()
            .receipts_of(&m.thread_id)
            .await?
            .iter()
            .filter(|r| r.message_id == m.id && r.read_at.is_some())
            .count();
        if !self.destroy_message(&m, "recalled", &actor.name()).await? {
            return Err(AppError::Gone(
                "this message was already recalled or has expired".into(),
            ));
        }
        self.audit(
            &actor.name(),
            AuditAction::MessageRecalled,
            &format!("thread:{}", m.thread_id),
            "success",
            &actor.client,
            json!({"message": m.id, "had_been_read_by": read_by, "keys": "destroyed"}),
        )
        .await
    }

    /// Destroy a message's keys, content and attachment blobs. False if already destroyed.
    async fn destroy_message(
        &self,
        m: &MessageRow,
        reason: &'static str,
        by: &str,
    ) -> Result<bool, AppError> {
        let Some(blobs) = self
            .store()
            .destroy_message(&m.id, reason, by, self.now().as_seconds())
            .await?
        else {
            return Ok(false);
        };
        for b in blobs {
            // The key is gone already; a blob left behind is unreadable noise, logged by id.
            if let Err(e) = self.blobs().delete(&b).await {
                tracing::warn!(blob = %b, error = %e, "an attachment blob could not be deleted");
            }
        }
        let recipients: Vec<String> = self
            .store()
            .participants(&m.thread_id)
            .await?
            .into_iter()
            .filter(|p| p.removed_at.is_none())
            .map(|p| p.mailbox)
            .collect();
        self.live().publish(
            &recipients,
            &LiveEvent {
                kind: reason,
                thread: m.thread_id.clone(),
                message: m.id.clone(),
                sent_at: m.sent_at,
            },
        );
        Ok(true)
    }

    /// Expire every message whose time has come (the periodic job). Returns how many.
    pub async fn expire_messages(&self) -> Result<usize, AppError> {
        let now = self.now().as_seconds();
        let mut done = 0;
        loop {
            let due = self.store().expired_messages(now, 500).await?;
            if due.is_empty() {
                return Ok(done);
            }
            for id in due {
                if let Some(m) = self.store().message(&id).await? {
                    if self.destroy_message(&m, "expired", "expiry").await? {
                        self.audit_expiry(&m).await?;
                        done += 1;
                    }
                }
            }
        }
    }

    /// Expire what is due in one thread before it is shown (the job may not have run yet).
    pub(crate) async fn expire_due_in(&self, thread_id: &str) -> Result<(), AppError> {
        let rows = self.store().messages_of(thread_id).await?;
        self.expire_due(&rows).await.map(|_| ())
    }

    /// Expire what is due among `rows`; true if anything was.
    pub(crate) async fn expire_due(&self, rows: &[MessageRow]) -> Result<bool, AppError> {
        let now = self.now().as_seconds();
        let mut any = false;
        for m in rows {
            if m.destroyed_at.is_none()
                && m.expires_at.is_some_and(|e| e <= now)
                && self.destroy_message(m, "expired", "expiry").await?
            {
                self.audit_expiry(m).await?;
                any = true;
            }
        }
        Ok(any)
    }

    async fn audit_expiry(&self, m: &MessageRow) -> Result<(), AppError> {
        self.audit(
            "messaging",
            AuditAction::MessageExpired,
            &format!("thread:{}", m.thread_id),
            "success",
            &crate::Client::default(),
            json!({"message": m.id, "expires_at": m.expires_at, "keys": "destroyed"}),
        )
        .await
    }

    /// On a patient thread, whether a patient space account may read the thread's category:
    /// the patient's own lasting account or an approved proxy, as the policy decides (audited).
    pub(crate) async fn patient_may_read_thread(
        &self,
        actor: &Actor,
        category: DataCategory,
        audit: AuditAction,
        details: serde_json::Value,
    ) -> Result<bool, AppError> {
        let Some(account) = self.messaging_account(actor, Some("messages")).await? else {
            return Ok(false);
        };
        Ok(!self
            .decide_for_account(actor, &account, &[category], audit, details)
            .await?
            .is_empty())
    }

    /// For the inbox: whether the reader may see a patient thread of this category; a staff
    /// member's permit is collected for one "listed" audit event per patient.
    pub(crate) async fn may_list_patient_thread(
        &self,
        reader: &Reader,
        patient_id: &str,
        category: DataCategory,
        listed: &mut Vec<(String, crate::patient_access::AccessReason)>,
    ) -> Result<bool, AppError> {
        match &reader.own {
            Mailbox::User(user_id) => {
                let outcome = self
                    .decide_patient_access(user_id, patient_id, &[category], AccessAction::Read)
                    .await?;
                Ok(match outcome.permitted.into_iter().next() {
                    Some(reason) => {
                        listed.push((patient_id.to_owned(), reason));
                        true
                    }
                    None => false,
                })
            }
            // An outside recipient's session opens one thread and lists none.
            Mailbox::Outside(_) => Ok(false),
            _ => {
                self.patient_may_read_thread(
                    &reader.actor,
                    category,
                    AuditAction::PatientSpaceRead,
                    json!({"view": "messages"}),
                )
                .await
            }
        }
    }
}

impl App {
    /// Whether a patient space account's counts include a patient thread of this category: the
    /// same decision as reading it, without an audit event (only a number is shown).
    pub(crate) async fn patient_may_count(
        &self,
        actor: &Actor,
        category: DataCategory,
    ) -> Result<bool, AppError> {
        let Some(account) = self.messaging_account(actor, None).await? else {
            return Ok(false);
        };
        self.refresh_access_policy().await?;
        let capacity = self.capacity_of(&account).await?;
        Ok(self
            .policy_engine()
            .decide_for_account(
                &account.id,
                &account.patient_id,
                &capacity,
                category,
                AccessAction::Read,
                self.now(),
            )
            .is_permit())
    }
}
