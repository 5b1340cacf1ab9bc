//! Threads: starting one (with its first message), adding and removing participants, the
//! inbox with search, and reading a thread.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::json;

use sealroom_crypto::envelope::SymmetricKey;
use sealroom_crypto::signing::MessageStatement;
use sealroom_domain::leak_rules::{DraftRecipient, RecipientKind};
use sealroom_domain::{AccessAction, AuditAction, DataCategory};
use sealroom_store::{MessageRow, ParticipantRow, ReceiptRow, ThreadRow, UserStatus};

use super::sending::NewMessageBody;
use super::sending::{Delivery, SignerKeys, ThreadContext};
use super::{body_context, message_key_context, subject_context, Mailbox, Reader, SendOutcome};
use crate::accounts::Actor;
use crate::{App, AppError};

/// A new thread and its first message.
#[derive(Debug, Clone)]
pub struct NewThread {
    pub subject: String,
    /// The patient the conversation is about, if any.
    pub patient_id: Option<String>,
    /// The data category of a patient thread (clinical notes when not given).
    pub category: Option<DataCategory>,
    /// Participant addresses besides the sender.
    pub participants: Vec<String>,
    /// People outside the organization, by e-mail address.
    pub outside: Vec<super::OutsideAddressee>,
    pub message: NewMessageBody,
}

/// How the inbox is searched; every filter is optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ThreadFilter {
    /// A participant address on the thread.
    pub participant: Option<String>,
    pub patient: Option<String>,
    /// Last activity from (inclusive) and to (exclusive), Unix seconds.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Words in the subject (case-insensitive).
    pub subject: Option<String>,
}

/// A thread in the inbox.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadSummary {
    pub id: String,
    pub subject: String,
    pub patient_id: Option<String>,
    pub category: Option<DataCategory>,
    pub last_message_at: i64,
    pub participants: Vec<ParticipantView>,
    pub unread: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParticipantView {
    pub address: String,
    pub label: String,
    /// `staff`, `department` or `patient`.
    pub kind: &'static str,
    pub added_at: i64,
}

/// A thread as its reader sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadView {
    pub id: String,
    pub subject: String,
    pub patient_id: Option<String>,
    pub category: Option<DataCategory>,
    pub created_at: i64,
    pub participants: Vec<ParticipantView>,
    pub messages: Vec<MessageView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub id: String,
    /// The author's participant address and name.
    pub author: String,
    pub author_label: String,
    /// Who typed it, when that is not the author (a proxy writing in the patient space).
    pub signer: String,
    pub sent_at: i64,
    /// `readable`, `recalled` or `expired`.
    pub state: &'static str,
    /// None once recalled or expired.
    pub body: Option<String>,
    pub attachments: Vec<AttachmentView>,
    /// `verified`, or `invalid`: the signature does not match what is stored (shown loudly).
    /// None once the content is destroyed.
    pub signature: Option<&'static str>,
    pub expires_at: Option<i64>,
    /// For the sender's own messages: delivered and read per recipient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipts: Option<Vec<ReceiptView>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttachmentView {
    pub id: String,
    pub filename: String,
    pub media_type: String,
    pub size: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReceiptView {
    pub recipient: String,
    pub label: String,
    pub delivered_at: Option<i64>,
    /// Absent when the organization has switched read receipts off.
    pub read_at: Option<i64>,
}

fn kind_of(m: &Mailbox) -> &'static str {
    match m {
        Mailbox::User(_) => "staff",
        Mailbox::Department(_) => "department",
        Mailbox::Patient(_) => "patient",
        Mailbox::Outside(_) => "outside",
    }
}

/// Someone to add to a thread: an address of the organization, or someone outside.
enum NewParticipant<'a> {
    Address(&'a str),
    Outside(&'a super::OutsideAddressee),
}

/// Labels looked up once per request.
#[derive(Default)]
pub(crate) struct Labels(HashMap<String, String>);

/// A thread the reader may open, with its key and every participant it has had.
pub(crate) struct OpenedThread {
    pub(crate) thread: ThreadRow,
    pub(crate) key: SymmetricKey,
    pub(crate) participants: Vec<ParticipantRow>,
    /// (participant, messages) for participants the reader has written to before.
    pub(crate) sent_before: Vec<(String, i64)>,
}

impl App {
    pub(crate) async fn label(
        &self,
        labels: &mut Labels,
        address: &str,
    ) -> Result<String, AppError> {
        if let Some(l) = labels.0.get(address) {
            return Ok(l.clone());
        }
        let label = match Mailbox::parse(address)? {
            Mailbox::User(id) => self
                .store()
                .user_by_id(&id)
                .await?
                .map_or_else(|| "a former colleague".to_owned(), |u| u.display_name),
            Mailbox::Department(id) => self
                .store()
                .department(&id)
                .await?
                .map_or_else(|| "a former department".to_owned(), |d| d.name),
            Mailbox::Patient(_) => "the patient (patient space)".to_owned(),
            Mailbox::Outside(id) => self
                .outside_email(&id)
                .await?
                .unwrap_or_else(|| "a former outside recipient".to_owned()),
        };
        labels.0.insert(address.to_owned(), label.clone());
        Ok(label)
    }

    async fn participant_views(
        &self,
        participants: &[ParticipantRow],
        labels: &mut Labels,
    ) -> Result<Vec<ParticipantView>, AppError> {
        let mut out = Vec::new();
        for p in participants.iter().filter(|p| p.removed_at.is_none()) {
            let m = Mailbox::parse(&p.mailbox)?;
            out.push(ParticipantView {
                label: self.label(labels, &p.mailbox).await?,
                address: p.mailbox.clone(),
                kind: kind_of(&m),
                added_at: p.added_at,
            });
        }
        Ok(out)
    }

    /// Check a participant to be added: they exist, a patient space only on its own patient's
    /// thread; and say for the leak check whether they have a care relationship with the
    /// thread's patient.
    pub(crate) async fn draft_recipient(
        &self,
        address: &str,
        patient: Option<(&str, DataCategory)>,
        labels: &mut Labels,
    ) -> Result<DraftRecipient, AppError> {
        let mailbox = Mailbox::parse(address)?;
        let unknown = || AppError::InvalidInput(format!("no such participant: {address}"));
        let now = self.now().as_seconds();
        let (kind, has_care) =
            match &mailbox {
                Mailbox::User(id) => {
                    let user = self.store().user_by_id(id).await?.ok_or_else(unknown)?;
                    if UserStatus::parse(&user.status) != Some(UserStatus::Active) {
                        return Err(AppError::InvalidInput(format!(
                            "{address} is not an active colleague"
                        )));
                    }
                    let care = match patient {
                        Some((p, category)) => Some(
                            !self
                                .decide_patient_access(id, p, &[category], AccessAction::Read)
                                .await?
                                .permitted
                                .is_empty(),
                        ),
                        None => None,
                    };
                    (RecipientKind::Staff, care)
                }
                Mailbox::Department(id) => {
                    self.store().department(id).await?.ok_or_else(unknown)?;
                    let care = match patient {
                        Some((p, _)) => Some(
                            self.store()
                                .episodes_of(p)
                                .await?
                                .iter()
                                .any(|e| &e.department_id == id && e.ended_at.is_none())
                                || self.store().tests_of(p).await?.iter().any(|t| {
                                    &t.laboratory_department_id == id
                                        && t.closed_at.is_none_or(|c| c > now)
                                }),
                        ),
                        None => None,
                    };
                    (RecipientKind::Department, care)
                }
                Mailbox::Patient(id) => {
                    if patient.map(|(p, _)| p) != Some(id.as_str()) {
                        return Err(AppError::InvalidInput(
                            "a patient space joins only a thread linked to that patient".into(),
                        ));
                    }
                    (RecipientKind::Patient, None)
                }
                Mailbox::Outside(_) => return Err(AppError::InvalidInput(
                    "name someone outside by e-mail address, with how they verify (\"outside\")"
                        .into(),
                )),
            };
        Ok(DraftRecipient {
            label: self.label(labels, address).await?,
            address: mailbox.address(),
            kind,
            has_care,
        })
    }

    /// Start a thread with its first message. The message is checked, then the leak rules run
    /// over the subject, every participant and the message, and only then is anything stored:
    /// the thread, its participants and the first message in one transaction.
    pub async fn start_thread(
        &self,
        actor: &Actor,
        new: NewThread,
    ) -> Result<SendOutcome, AppError> {
        let reader = self.writer(actor).await?;
        let Mailbox::User(_) = &reader.own else {
            return Err(AppError::Forbidden);
        };
        let subject = new.subject.trim().to_owned();
        if subject.is_empty()
            || subject.chars().count() > 200
            || subject.chars().any(char::is_control)
        {
            return Err(AppError::InvalidInput(
                "the subject is required: at most 200 characters, on one line".into(),
            ));
        }
        self.check_message(&new.message)?;
        self.check_attachments(&reader, &new.message.attachments)
            .await?;
        let category = new.category.unwrap_or(DataCategory::ClinicalNotes);
        let thread_id = sealroom_crypto::token::new_id();
        if let Some(p) = &new.patient_id {
            // Writing to colleagues about a patient is a write of that category.
            self.require_patient_access(
                actor,
                p,
                category,
                AccessAction::Write,
                AuditAction::MessageComposed,
                json!({"thread": thread_id}),
            )
            .await?;
        }
        let mut labels = Labels::default();
        let own = reader.own.address();
        let mut recipients = Vec::new();
        let mut addresses: Vec<String> = Vec::new();
        for a in &new.participants {
            let r = self
                .draft_recipient(
                    a,
                    new.patient_id.as_deref().map(|p| (p, category)),
                    &mut labels,
                )
                .await?;
            if r.address != own && !addresses.contains(&r.address) {
                addresses.push(r.address.clone());
                recipients.push(r);
            }
        }
        let mut planned = Vec::new();
        for a in &new.outside {
            let p = self
                .plan_outside(a, new.patient_id.as_deref().map(|p| (p, category)))
                .await?;
            if !planned.iter().any(|q: &super::outside::PlannedOutside| {
                q.recipient.address_index == p.recipient.address_index
            }) {
                recipients.push(p.draft.clone());
                planned.push(p);
            }
        }
        if recipients.is_empty() {
            return Err(AppError::InvalidInput(
                "name at least one participant besides yourself".into(),
            ));
        }
        let patient_names = match &new.patient_id {
            Some(p) => self.patient_names(p).await?,
            None => Vec::new(),
        };
        let findings = self
            .leak_check(
                &reader,
                ThreadContext {
                    thread_id: &thread_id,
                    subject: &subject,
                    outside_on_thread: 0,
                    history: None,
                },
                recipients,
                patient_names,
                &new.message,
            )
            .await?;

        let mut invitations = Vec::new();
        for p in planned {
            let i = self.invite_outside(p, &thread_id, actor).await?;
            addresses.push(i.invited.address.clone());
            invitations.push(i);
        }
        let now = self.now().as_seconds();
        let thread_key = SymmetricKey::generate();
        let mut participants = Vec::new();
        for address in std::iter::once(own.clone()).chain(addresses.iter().cloned()) {
            participants.push(ParticipantRow {
                wrapped_thread_key: Some(
                    self.wrap_thread_key(&thread_id, &thread_key, &address)
                        .await?,
                ),
                thread_id: thread_id.clone(),
                mailbox: address,
                added_by: actor.name(),
                added_at: now,
                removed_at: None,
                removed_by: None,
            });
        }
        let thread = ThreadRow {
            id: thread_id.clone(),
            patient_id: new.patient_id.clone(),
            category: new
                .patient_id
                .as_ref()
                .map(|_| category.as_str().to_owned()),
            subject_sealed: thread_key.seal(subject.as_bytes(), &subject_context(&thread_id)),
            created_by: actor.name(),
            created_at: now,
            last_message_at: now,
        };
        let delivery = Delivery {
            thread: &thread,
            thread_key: &thread_key,
            new_participants: Some(participants),
            recipients: addresses.clone(),
            invitations: invitations.iter().map(|i| i.row.clone()).collect(),
            new_recipients: invitations
                .iter()
                .filter_map(|i| i.new_recipient.clone())
                .collect(),
        };
        let mut outcome = self.store_message(&reader, delivery, new.message).await?;
        for i in &invitations {
            self.send_outside_invitation(i, actor).await?;
        }
        outcome.outside = invitations.into_iter().map(|i| i.invited).collect();
        self.audit(
            &actor.name(),
            AuditAction::ThreadStarted,
            &format!("thread:{thread_id}"),
            "success",
            &actor.client,
            json!({"patient": thread.patient_id, "participants": addresses}),
        )
        .await?;
        outcome.findings = findings;
        Ok(outcome)
    }

    /// A patient's family and given names, for the leak check (never shown or logged).
    pub(crate) async fn patient_names(&self, patient_id: &str) -> Result<Vec<String>, AppError> {
        let Some(row) = self.store().patient(patient_id).await? else {
            return Ok(Vec::new());
        };
        let identity = self.identity(&row)?;
        Ok(vec![identity.family_name, identity.given_names])
    }

    /// Add a participant to a thread: they receive the thread key and so read its history
    /// (a patient space only what is sent from then on). Any current staff participant may add
    /// a colleague or department; only the thread's starter may add the patient space. The leak
    /// checks for the new participant run first (a colleague without a care relationship with
    /// the thread's patient is refused by default).
    pub async fn add_participant(
        &self,
        actor: &Actor,
        thread_id: &str,
        address: &str,
        confirmed: &[sealroom_domain::leak_rules::LeakRule],
    ) -> Result<ThreadView, AppError> {
        self.add_to_thread(
            actor,
            thread_id,
            NewParticipant::Address(address),
            confirmed,
        )
        .await
        .map(|(view, _)| view)
    }

    /// Add someone outside the organization by e-mail address: as [`App::add_participant`],
    /// then they are sent the link to the thread (they see what is sent from now on). Returns
    /// the access code to give them, for that method.
    pub async fn add_outside_participant(
        &self,
        actor: &Actor,
        thread_id: &str,
        addressee: &super::OutsideAddressee,
        confirmed: &[sealroom_domain::leak_rules::LeakRule],
    ) -> Result<(ThreadView, super::OutsideInvited), AppError> {
        let (view, invited) = self
            .add_to_thread(
                actor,
                thread_id,
                NewParticipant::Outside(addressee),
                confirmed,
            )
            .await?;
        let invited =
            invited.ok_or_else(|| AppError::internal("an outside recipient was not invited"))?;
        Ok((view, invited))
    }

    async fn add_to_thread(
        &self,
        actor: &Actor,
        thread_id: &str,
        who: NewParticipant<'_>,
        confirmed: &[sealroom_domain::leak_rules::LeakRule],
    ) -> Result<(ThreadView, Option<super::OutsideInvited>), AppError> {
        let reader = self.writer(actor).await?;
        if !reader.is_staff() {
            return Err(AppError::Forbidden);
        }
        let OpenedThread {
            thread,
            key,
            participants,
            ..
        } = self
            .open_thread(
                &reader,
                thread_id,
                AccessAction::Write,
                AuditAction::ParticipantAdded,
            )
            .await?;
        let patient = self.thread_patient(&thread)?;
        let mut labels = Labels::default();
        let (r, planned) = match who {
            NewParticipant::Address(address) => (
                self.draft_recipient(address, patient, &mut labels).await?,
                None,
            ),
            NewParticipant::Outside(a) => {
                let p = self.plan_outside(a, patient).await?;
                (p.draft.clone(), Some(p))
            }
        };
        if r.kind == RecipientKind::Patient && thread.created_by != actor.name() {
            return Err(AppError::Forbidden);
        }
        if participants
            .iter()
            .any(|p| p.mailbox == r.address && p.removed_at.is_none())
        {
            return Err(AppError::Conflict(format!(
                "{} is already on this thread",
                r.label
            )));
        }
        let names = match patient {
            Some((p, _)) => self.patient_names(p).await?,
            None => Vec::new(),
        };
        let probe = NewMessageBody {
            confirmed: confirmed.to_vec(),
            ..NewMessageBody::default()
        };
        let subject = self.open_subject(&thread, &key)?;
        let outside_on_thread = participants
            .iter()
            .filter(|p| p.removed_at.is_none() && p.mailbox.starts_with("outside:"))
            .count();
        self.leak_check(
            &reader,
            ThreadContext {
                thread_id,
                subject: &subject,
                outside_on_thread,
                history: None,
            },
            vec![r.clone()],
            names,
            &probe,
        )
        .await?;
        let invitation = match planned {
            Some(p) => Some(self.invite_outside(p, thread_id, actor).await?),
            None => None,
        };
        let address = invitation
            .as_ref()
            .map_or_else(|| r.address.clone(), |i| i.invited.address.clone());
        let participant = ParticipantRow {
            thread_id: thread_id.to_owned(),
            wrapped_thread_key: Some(self.wrap_thread_key(thread_id, &key, &address).await?),
            mailbox: address.clone(),
            added_by: actor.name(),
            added_at: self.now().as_seconds(),
            removed_at: None,
            removed_by: None,
        };
        match &invitation {
            // Someone outside: their place, their invitation (and their address, when new)
            // in one transaction.
            Some(i) => {
                self.store()
                    .add_outside_participant(i.new_recipient.as_ref(), &participant, &i.row)
                    .await?;
                self.send_outside_invitation(i, actor).await?;
            }
            None => self.store().add_participant(&participant).await?,
        }
        self.audit(
            &actor.name(),
            AuditAction::ParticipantAdded,
            &format!("thread:{thread_id}"),
            "success",
            &actor.client,
            json!({"participant": address}),
        )
        .await?;
        Ok((
            self.thread(actor, thread_id).await?,
            invitation.map(|i| i.invited),
        ))
    }

    /// Remove a participant: their copy of the thread key is destroyed, so nothing of the
    /// thread opens for them any more. The thread's starter may remove anyone; anyone may
    /// remove themselves (leave).
    pub async fn remove_participant(
        &self,
        actor: &Actor,
        thread_id: &str,
        address: &str,
    ) -> Result<(), AppError> {
        let reader = self.writer(actor).await?;
        let OpenedThread { thread, .. } = self
            .open_thread(
                &reader,
                thread_id,
                AccessAction::Read,
                AuditAction::ParticipantRemoved,
            )
            .await?;
        let target = Mailbox::parse(address)?.address();
        let leaving = target == reader.own.address();
        if !leaving && thread.created_by != actor.name() {
            return Err(AppError::Forbidden);
        }
        let now = self.now().as_seconds();
        if !self
            .store()
            .remove_participant(thread_id, &target, &actor.name(), now)
            .await?
        {
            return Err(AppError::NotFound);
        }
        if let Mailbox::Outside(id) = Mailbox::parse(&target)? {
            // Their link and any session they hold stop working with the key.
            self.store()
                .revoke_outside_invitation(&id, thread_id, now)
                .await?;
        }
        self.audit(
            &actor.name(),
            AuditAction::ParticipantRemoved,
            &format!("thread:{thread_id}"),
            "success",
            &actor.client,
            json!({"participant": target, "key": "destroyed"}),
        )
        .await
    }

    fn thread_patient<'t>(
        &self,
        thread: &'t ThreadRow,
    ) -> Result<Option<(&'t str, DataCategory)>, AppError> {
        match &thread.patient_id {
            Some(p) => Ok(Some((
                p,
                Self::thread_category(thread.category.as_deref())?,
            ))),
            None => Ok(None),
        }
    }

    pub(crate) fn open_subject(
        &self,
        thread: &ThreadRow,
        key: &SymmetricKey,
    ) -> Result<String, AppError> {
        let bytes = key
            .open(&thread.subject_sealed, &subject_context(&thread.id))
            .map_err(|_| {
                AppError::Integrity("the thread's subject failed its integrity check".into())
            })?;
        String::from_utf8(bytes).map_err(AppError::internal)
    }

    /// Open a thread for the reader: they hold its key through one of their mailboxes, and on
    /// a patient thread the policy lets staff `action` (read, or write to send) its category
    /// now, and a patient space account read it (audited as `audit` on the patient). Anything else is `NotFound`, audited as a refusal on the thread.
    pub(crate) async fn open_thread(
        &self,
        reader: &Reader,
        thread_id: &str,
        action: AccessAction,
        audit: AuditAction,
    ) -> Result<OpenedThread, AppError> {
        let actor = &reader.actor;
        // An outside recipient's session opens only the thread it was verified for.
        let in_scope = match &actor.principal {
            crate::policy::Principal::OutsideRecipient {
                thread_id: scope, ..
            } => scope == thread_id,
            _ => true,
        };
        let found = if in_scope {
            self.store()
                .thread_for_reader(thread_id, &reader.addresses())
                .await?
        } else {
            None
        };
        let opened = match &found {
            Some(f) => {
                let mut keys = super::MailboxKeys::default();
                keys.open_wrapped(self, &f.mailbox_keys)?;
                self.open_thread_key(thread_id, reader, &f.participants, &mut keys)
                    .await?
            }
            None => None,
        };
        let (Some(found), Some((key, _))) = (found, opened) else {
            self.audit(
                &actor.name(),
                AuditAction::MessageAccessDenied,
                &format!("thread:{thread_id}"),
                "denied",
                &actor.client,
                json!({"reason": "not_a_participant"}),
            )
            .await?;
            return Err(AppError::NotFound);
        };
        let sealroom_store::ThreadForReader {
            thread,
            participants,
            sent_before,
            ..
        } = found;
        if let Some((patient, category)) = self.thread_patient(&thread)? {
            let details = json!({"thread": thread_id});
            if reader.is_staff() {
                match self
                    .require_patient_access(actor, patient, category, action, audit, details)
                    .await
                {
                    Ok(_) => {}
                    Err(AppError::Forbidden) => return Err(AppError::NotFound),
                    Err(e) => return Err(e),
                }
            } else if let Mailbox::Outside(recipient_id) = &reader.own {
                let own = reader.own.address();
                let added_at = participants
                    .iter()
                    .find(|p| p.mailbox == own && p.removed_at.is_none())
                    .map_or(i64::MAX, |p| p.added_at);
                if !self
                    .outside_may_read_thread(
                        actor,
                        (recipient_id, added_at),
                        patient,
                        category,
                        audit,
                        details,
                    )
                    .await?
                {
                    return Err(AppError::NotFound);
                }
            } else if !self
                .patient_may_read_thread(actor, category, audit, details)
                .await?
            {
                return Err(AppError::NotFound);
            }
        }
        Ok(OpenedThread {
            thread,
            key,
            participants,
            sent_before,
        })
    }

    /// Read a thread: every message the reader may still open, with signatures checked, and
    /// receipts on their own messages. Opening it marks it read for the reader's mailboxes.
    pub async fn thread(&self, actor: &Actor, thread_id: &str) -> Result<ThreadView, AppError> {
        let reader = self.reader(actor).await?;
        let OpenedThread {
            thread,
            key,
            participants,
            ..
        } = self
            .open_thread(
                &reader,
                thread_id,
                AccessAction::Read,
                AuditAction::MessageRead,
            )
            .await?;
        let subject = self.open_subject(&thread, &key)?;
        let mut labels = Labels::default();
        let participant_views = self.participant_views(&participants, &mut labels).await?;
        let since = self.visible_since(&reader, &participants);
        let mut all = self.store().messages_of(thread_id).await?;
        if self.expire_due(&all).await? {
            all = self.store().messages_of(thread_id).await?;
        }
        let rows: Vec<MessageRow> = all.into_iter().filter(|m| m.sent_at >= since).collect();
        let attachments = self.store().attachments_of(thread_id).await?;
        let receipts = self.store().receipts_of(thread_id).await?;
        let own = reader.own.address();
        let mut messages = Vec::new();
        let mut signers = SignerKeys::default();
        for m in &rows {
            let mine = m.author == own && m.signer == actor.name();
            let mut view = self
                .message_view(m, &key, &attachments, &mut labels, &mut signers)
                .await?;
            if mine {
                view.receipts = Some(self.receipt_views(m, &receipts, &mut labels).await?);
            }
            messages.push(view);
        }
        // Only what was shown is marked read: a message arriving meanwhile stays unread.
        let now = self.now().as_seconds();
        let shown: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
        let mut newly_read = 0;
        for mailbox in reader.addresses() {
            if participants
                .iter()
                .any(|p| p.mailbox == mailbox && p.removed_at.is_none())
            {
                newly_read += self
                    .store()
                    .mark_read(&shown, &mailbox, &actor.name(), now)
                    .await?;
            }
        }
        if thread.patient_id.is_none() {
            self.audit(
                &actor.name(),
                AuditAction::MessageRead,
                &format!("thread:{thread_id}"),
                "granted",
                &actor.client,
                json!({"messages": messages.len(), "newly_read": newly_read}),
            )
            .await?;
        }
        Ok(ThreadView {
            id: thread.id,
            subject,
            category: thread
                .patient_id
                .as_ref()
                .map(|_| Self::thread_category(thread.category.as_deref()))
                .transpose()?,
            patient_id: thread.patient_id,
            created_at: thread.created_at,
            participants: participant_views,
            messages,
        })
    }

    /// From when a reader sees a thread's messages: staff see its whole history; the patient
    /// space only what was sent after it joined (internal messages before stay internal).
    pub(crate) fn visible_since(&self, reader: &Reader, participants: &[ParticipantRow]) -> i64 {
        if reader.is_staff() {
            return i64::MIN;
        }
        let own = reader.own.address();
        participants
            .iter()
            .find(|p| p.mailbox == own && p.removed_at.is_none())
            .map_or(i64::MAX, |p| p.added_at)
    }

    async fn receipt_views(
        &self,
        m: &MessageRow,
        receipts: &[ReceiptRow],
        labels: &mut Labels,
    ) -> Result<Vec<ReceiptView>, AppError> {
        let show_read = self.settings().messaging.read_receipts;
        let mut out = Vec::new();
        for r in receipts.iter().filter(|r| r.message_id == m.id) {
            out.push(ReceiptView {
                label: self.label(labels, &r.mailbox).await?,
                recipient: r.mailbox.clone(),
                delivered_at: r.delivered_at,
                read_at: r.read_at.filter(|_| show_read),
            });
        }
        Ok(out)
    }

    async fn message_view(
        &self,
        m: &MessageRow,
        thread_key: &SymmetricKey,
        attachments: &[sealroom_store::AttachmentRow],
        labels: &mut Labels,
        signers: &mut SignerKeys,
    ) -> Result<MessageView, AppError> {
        let author_label = self.label(labels, &m.author).await?;
        let signer = if m.signer.starts_with("user:") || m.signer.starts_with("outside:") {
            m.signer.clone()
        } else {
            // A patient space account: the patient's own or a proxy's (named in the audit).
            "patient space account".to_owned()
        };
        let mut view = MessageView {
            id: m.id.clone(),
            author: m.author.clone(),
            author_label,
            signer,
            sent_at: m.sent_at,
            state: match m.destroyed_reason.as_deref() {
                Some("recalled") => "recalled",
                Some(_) => "expired",
                None => "readable",
            },
            body: None,
            attachments: Vec::new(),
            signature: None,
            expires_at: m.expires_at,
            receipts: None,
        };
        let (Some(sealed), Some(wrapped)) = (&m.body_sealed, &m.wrapped_data_key) else {
            return Ok(view);
        };
        let data_key = thread_key
            .unwrap(wrapped, &message_key_context(&m.id))
            .map_err(|_| AppError::Integrity("a message key failed its integrity check".into()))?;
        let body = data_key
            .open(sealed, &body_context(&m.id))
            .map_err(|_| AppError::Integrity("a message failed its integrity check".into()))?;
        view.body = Some(String::from_utf8(body).map_err(AppError::internal)?);
        let mine: Vec<&sealroom_store::AttachmentRow> = attachments
            .iter()
            .filter(|a| a.message_id.as_deref() == Some(&m.id))
            .collect();
        let mut hashes = Vec::new();
        for a in &mine {
            hashes.push(
                a.ciphertext_hash
                    .as_slice()
                    .try_into()
                    .map_err(AppError::internal)?,
            );
            view.attachments.push(AttachmentView {
                id: a.id.clone(),
                filename: self.attachment_filename(a, thread_key)?,
                media_type: a.media_type.clone(),
                size: a.size,
            });
        }
        let statement = MessageStatement {
            message: m.id.clone(),
            thread: m.thread_id.clone(),
            author: m.author.clone(),
            signer: m.signer.clone(),
            body_hash: *blake3::hash(sealed).as_bytes(),
            attachment_hashes: hashes,
            signed_at: m.sent_at,
        };
        view.signature = Some(
            if self.message_signature_holds(m, &statement, signers).await? {
                "verified"
            } else {
                "invalid"
            },
        );
        Ok(view)
    }

    /// The inbox: threads the actor takes part in (directly, through a department or the
    /// patient space), newest first, filtered, with unread counts. Patient threads appear only
    /// while the policy lets the reader read them; each listed one is audited on its patient.
    pub async fn threads(
        &self,
        actor: &Actor,
        filter: &ThreadFilter,
    ) -> Result<Vec<ThreadSummary>, AppError> {
        let reader = self.reader(actor).await?;
        let addresses = reader.addresses();
        let rows = self
            .store()
            .threads_of(
                &addresses,
                filter.patient.as_deref(),
                filter.from,
                filter.to,
            )
            .await?;
        let unread: BTreeMap<String, i64> = self
            .store()
            .unread_by_thread(&addresses)
            .await?
            .into_iter()
            .map(|(thread, count, _, _)| (thread, count))
            .collect();
        let wanted_words: Vec<String> = filter
            .subject
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        let mut decided: HashMap<(String, DataCategory), bool> = HashMap::new();
        let mut listed = Vec::new();
        let mut labels = Labels::default();
        let mut out = Vec::new();
        let ids: Vec<String> = rows.iter().map(|t| t.id.clone()).collect();
        let mut participants_of: HashMap<String, Vec<ParticipantRow>> = HashMap::new();
        for p in self.store().participants_of_threads(&ids).await? {
            participants_of
                .entry(p.thread_id.clone())
                .or_default()
                .push(p);
        }
        let mut keys = super::MailboxKeys::default();
        for t in rows {
            let participants = participants_of.remove(&t.id).unwrap_or_default();
            if let Some(p) = &filter.participant {
                if !participants
                    .iter()
                    .any(|x| &x.mailbox == p && x.removed_at.is_none())
                {
                    continue;
                }
            }
            if let Some((patient, category)) = self.thread_patient(&t)? {
                let key = (patient.to_owned(), category);
                let permitted = match decided.get(&key) {
                    Some(p) => *p,
                    None => {
                        let p = self
                            .may_list_patient_thread(&reader, patient, category, &mut listed)
                            .await?;
                        decided.insert(key, p);
                        p
                    }
                };
                if !permitted {
                    continue;
                }
            }
            let Some((key, _)) = self
                .open_thread_key(&t.id, &reader, &participants, &mut keys)
                .await?
            else {
                continue;
            };
            let subject = self.open_subject(&t, &key)?;
            let lower = subject.to_lowercase();
            if !wanted_words.iter().all(|w| lower.contains(w.as_str())) {
                continue;
            }
            out.push(ThreadSummary {
                unread: unread.get(&t.id).copied().unwrap_or(0),
                participants: self.participant_views(&participants, &mut labels).await?,
                category: t
                    .patient_id
                    .as_ref()
                    .map(|_| Self::thread_category(t.category.as_deref()))
                    .transpose()?,
                id: t.id,
                subject,
                patient_id: t.patient_id,
                last_message_at: t.last_message_at,
            });
        }
        if !listed.is_empty() {
            self.audit_patients_listed(actor, &listed, "inbox").await?;
        }
        for mailbox in &addresses {
            self.store().clear_message_notice(mailbox).await?;
        }
        Ok(out)
    }

    /// Unread messages for the actor, in total and per thread: counted only on threads the
    /// actor may read now (a patient thread whose care relationship has ended counts nothing).
    /// No content, and no audit (nothing about a patient is shown).
    pub async fn unread(&self, actor: &Actor) -> Result<super::Unread, AppError> {
        let reader = self.reader(actor).await?;
        let mut threads = BTreeMap::new();
        let mut decided: HashMap<(String, DataCategory), bool> = HashMap::new();
        for (thread_id, count, patient, category) in
            self.store().unread_by_thread(&reader.addresses()).await?
        {
            if let Some(patient) = patient {
                let category = Self::thread_category(category.as_deref())?;
                let key = (patient, category);
                let permitted = match decided.get(&key) {
                    Some(p) => *p,
                    None => {
                        let p = match &reader.own {
                            Mailbox::User(user_id) => !self
                                .decide_patient_access(
                                    user_id,
                                    &key.0,
                                    &[category],
                                    AccessAction::Read,
                                )
                                .await?
                                .permitted
                                .is_empty(),
                            Mailbox::Outside(_) => false,
                            _ => self.patient_may_count(actor, category).await?,
                        };
                        decided.insert(key, p);
                        p
                    }
                };
                if !permitted {
                    continue;
                }
            }
            threads.insert(thread_id, count);
        }
        Ok(super::Unread {
            total: threads.values().sum(),
            threads,
        })
    }

    /// The mailboxes a live connection of the actor listens to, checked again by the stream
    /// every little while: a leaver, a patient space account that closed or cannot hold
    /// messages, gets an error and the stream ends.
    pub async fn live_mailboxes(&self, actor: &Actor) -> Result<Vec<String>, AppError> {
        if let crate::policy::Principal::PatientAccount { .. } = &actor.principal {
            if self.messaging_account(actor, None).await?.is_none() {
                return Err(AppError::NotFound);
            }
        }
        Ok(self.reader(actor).await?.addresses())
    }
}
