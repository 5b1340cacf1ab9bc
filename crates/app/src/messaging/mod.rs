//! Secure messaging: encrypted, signed conversations among staff, department inboxes and the
//! patient space, checked for leaks before anything leaves, recallable, expiring, with receipts
//! and live delivery.
//!
//! ```text
//! master key ── mailbox key (one per participant address)
//!                 └── thread key (one per thread, wrapped for each current participant)
//!                       ├── subject
//!                       ├── message data key (one per message) ── body
//!                       └── attachment data key (one per file) ── streamed blob, file name
//! ```
//!
//! Removing a participant deletes their wrapped thread key; recalling or expiring a message
//! deletes its data key and sealed body (and its attachments' keys and blobs). Every message is
//! signed by its author; readers see whether the signature verified.
//!
//! Who may read is decided twice: the reader must hold the thread key through one of their
//! mailboxes (their own, a department they are assigned to, or the patient space), and, on a
//! thread linked to a patient, the Cedar policy must let them read the thread's data category
//! for that patient now. Both refusals look like "not found". Every read of a patient thread is
//! audited on the patient, every other read on the thread.

pub(crate) mod attachments;
mod filing;
mod live;
mod notices;
mod outside;
mod sending;
mod threads;
mod writer;

pub use attachments::{AttachmentContent, AttachmentUpload, UploadedAttachment};
pub use filing::FileInto;
pub use live::{LiveEvent, LiveHub, LiveSubscription};
pub use outside::{
    IssuedOutsideSession, OutsideAddressee, OutsideInvited, OutsideSession, VerificationView,
    VerifyMethod,
};
pub use sending::{NewMessageBody, SendOutcome};
pub use threads::{
    AttachmentView, MessageView, NewThread, ParticipantView, ReceiptView, ThreadFilter,
    ThreadSummary, ThreadView,
};
pub(crate) use writer::MessageWriter;

use sealroom_crypto::envelope::SymmetricKey;
use sealroom_domain::leak_rules::LeakLevels;
use sealroom_domain::{DataCategory, Duration, Timestamp};
use serde::Serialize;

use crate::accounts::Actor;
use crate::keyring::mailbox_context;
use crate::policy::Principal;
use crate::{App, AppError};

/// Settings of messaging, per organization.
#[derive(Debug, Clone)]
pub struct MessagingSettings {
    /// The level of each leak-prevention rule.
    pub leak_levels: LeakLevels,
    /// Whether senders see when their messages were read (delivery is always shown).
    pub read_receipts: bool,
    /// Messages expire after this many days unless the sender chooses otherwise (None: never).
    pub default_expiry_days: Option<i64>,
    /// How long a recipient who is not connected waits before the e-mail notice, so that
    /// several messages make one notice.
    pub notice_delay: Duration,
    /// The largest message body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How outside recipients may verify (SMS and access code by default; a code by e-mail
    /// only where the organization allows it).
    pub outside_methods: Vec<VerifyMethod>,
    /// Messages on a thread with outside recipients expire after this many days unless the
    /// sender chooses otherwise.
    pub outside_expiry_days: Option<i64>,
}

impl Default for MessagingSettings {
    fn default() -> Self {
        MessagingSettings {
            leak_levels: LeakLevels::default(),
            read_receipts: true,
            default_expiry_days: None,
            notice_delay: Duration::minutes(5),
            max_body_bytes: 64 * 1024,
            outside_methods: vec![VerifyMethod::Sms, VerifyMethod::AccessCode],
            outside_expiry_days: Some(30),
        }
    }
}

/// A participant address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mailbox {
    /// A staff member.
    User(String),
    /// A department's shared inbox, read by its current members.
    Department(String),
    /// The patient space: the patient's own account and approved proxies.
    Patient(String),
    /// Someone outside the organization, by e-mail address (see [`outside`]).
    Outside(String),
}

impl Mailbox {
    pub fn parse(s: &str) -> Result<Mailbox, AppError> {
        let bad = || {
            AppError::InvalidInput(
                "a participant is \"user:<id>\", \"department:<id>\", \"patient:<id>\" or \"outside:<id>\" (name someone new outside by e-mail address under \"outside\")".into(),
            )
        };
        let (kind, id) = s.split_once(':').ok_or_else(bad)?;
        if id.is_empty()
            || id.len() > 64
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(bad());
        }
        match kind {
            "user" => Ok(Mailbox::User(id.to_owned())),
            "department" => Ok(Mailbox::Department(id.to_owned())),
            "patient" => Ok(Mailbox::Patient(id.to_owned())),
            "outside" => Ok(Mailbox::Outside(id.to_owned())),
            _ => Err(bad()),
        }
    }

    pub fn address(&self) -> String {
        match self {
            Mailbox::User(id) => format!("user:{id}"),
            Mailbox::Department(id) => format!("department:{id}"),
            Mailbox::Patient(id) => format!("patient:{id}"),
            Mailbox::Outside(id) => format!("outside:{id}"),
        }
    }
}

/// Mailbox keys opened during one request.
#[derive(Default)]
pub(crate) struct MailboxKeys(std::collections::HashMap<String, SymmetricKey>);

impl MailboxKeys {
    /// Keep keys the caller has already read (wrapped), so that `get` need not read them.
    pub(crate) fn open_wrapped(
        &mut self,
        app: &App,
        wrapped: &[(String, Vec<u8>)],
    ) -> Result<(), AppError> {
        for (mailbox, w) in wrapped {
            let key = app.unwrap_mailbox_key(mailbox, w)?;
            self.0.insert(mailbox.clone(), key);
        }
        Ok(())
    }

    async fn get(&mut self, app: &App, mailbox: &str) -> Result<&SymmetricKey, AppError> {
        if !self.0.contains_key(mailbox) {
            let key = app.mailbox_key(mailbox).await?;
            self.0.insert(mailbox.to_owned(), key);
        }
        self.0
            .get(mailbox)
            .ok_or_else(|| AppError::internal("a mailbox key vanished from the request's cache"))
    }
}

/// Who is reading or writing, and through which mailboxes.
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    pub(crate) actor: Actor,
    /// The mailbox they write as.
    pub(crate) own: Mailbox,
    /// Every mailbox they read through (their own first).
    pub(crate) mailboxes: Vec<Mailbox>,
    /// A staff member's current signing key (id, wrapped), read with who they are so that a
    /// send need not read it again; None for others, or before their first signature.
    pub(crate) signing_key: Option<WrappedSigningKey>,
}

/// A signing key's id and its private half wrapped under the master key. Printed by id only:
/// a debug line must not carry key material, even wrapped.
#[derive(Clone)]
pub(crate) struct WrappedSigningKey {
    pub(crate) id: String,
    pub(crate) wrapped: Vec<u8>,
}

impl std::fmt::Debug for WrappedSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedSigningKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Reader {
    pub(crate) fn addresses(&self) -> Vec<String> {
        self.mailboxes.iter().map(Mailbox::address).collect()
    }

    pub(crate) fn is_staff(&self) -> bool {
        matches!(self.own, Mailbox::User(_))
    }
}

/// The recorded ground for sending to an outside recipient (kept as a code: free text could
/// carry clinical detail into the audit log).
pub const LEGAL_BASES: [&str; 4] = [
    "patient_consent",
    "continuity_of_care",
    "legal_obligation",
    "vital_interest",
];

/// Unread messages, in total and per thread.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Unread {
    pub total: i64,
    pub threads: std::collections::BTreeMap<String, i64>,
}

fn thread_key_context(thread_id: &str) -> String {
    format!("thread:{thread_id}")
}

fn subject_context(thread_id: &str) -> String {
    format!("thread-subject:{thread_id}")
}

fn message_key_context(message_id: &str) -> String {
    format!("message:{message_id}")
}

fn body_context(message_id: &str) -> String {
    format!("message-body:{message_id}")
}

impl App {
    /// The mailboxes an actor reads through: a staff member's own and those of the departments
    /// they are assigned to now (confirmed); a patient space account's patient space.
    pub(crate) async fn reader(&self, actor: &Actor) -> Result<Reader, AppError> {
        match &actor.principal {
            Principal::Staff { user_id, .. } => {
                crate::patient_access::staff_id(actor, false)?;
                // A leaver's token or stream must not keep reading. Status and department
                // inboxes come in one query: every read and send starts here.
                let now = self.now().as_seconds();
                let Some(member) = self.store().staff_member(user_id, now).await? else {
                    return Err(AppError::Unauthenticated);
                };
                if sealroom_store::UserStatus::parse(&member.status)
                    != Some(sealroom_store::UserStatus::Active)
                {
                    return Err(AppError::Unauthenticated);
                }
                let mut mailboxes = vec![Mailbox::User(user_id.clone())];
                mailboxes.extend(member.departments.into_iter().map(Mailbox::Department));
                Ok(Reader {
                    actor: actor.clone(),
                    own: Mailbox::User(user_id.clone()),
                    mailboxes,
                    signing_key: member
                        .signing_key
                        .map(|(id, wrapped)| WrappedSigningKey { id, wrapped }),
                })
            }
            Principal::PatientAccount { patient_id, .. } => Ok(Reader {
                actor: actor.clone(),
                own: Mailbox::Patient(patient_id.clone()),
                mailboxes: vec![Mailbox::Patient(patient_id.clone())],
                signing_key: None,
            }),
            Principal::OutsideRecipient { recipient_id, .. } => Ok(Reader {
                actor: actor.clone(),
                own: Mailbox::Outside(recipient_id.clone()),
                mailboxes: vec![Mailbox::Outside(recipient_id.clone())],
                signing_key: None,
            }),
            _ => Err(AppError::Forbidden),
        }
    }

    /// The actor's patient space account if its space holds messages: the patient's lasting
    /// one or a proxy's. A space per test or per stay does not: `None`, and when `refused`
    /// names what it asked for, the refusal is audited on the patient.
    pub(crate) async fn messaging_account(
        &self,
        actor: &Actor,
        refused: Option<&str>,
    ) -> Result<Option<sealroom_store::PatientAccountRow>, AppError> {
        let account = self.active_account(actor).await?;
        if matches!(account.model.as_str(), "per_patient" | "proxy") {
            return Ok(Some(account));
        }
        if let Some(view) = refused {
            self.audit(
                &actor.name(),
                sealroom_domain::AuditAction::PatientSpaceDenied,
                &format!("patient:{}", account.patient_id),
                "denied",
                &actor.client,
                serde_json::json!({"view": view, "reason": "account_model", "model": account.model}),
            )
            .await?;
        }
        Ok(None)
    }

    /// Like [`App::reader`], for what changes something (sending, recalling, adding or removing
    /// people, uploading): an API token then needs the write scope.
    pub(crate) async fn writer(&self, actor: &Actor) -> Result<Reader, AppError> {
        if let Principal::Staff { .. } = &actor.principal {
            crate::patient_access::staff_id(actor, true)?;
        }
        self.reader(actor).await
    }

    /// A mailbox's key, made on first use.
    async fn mailbox_key(&self, mailbox: &str) -> Result<SymmetricKey, AppError> {
        let wrapped = match self.store().mailbox_key(mailbox).await? {
            Some(w) => w,
            None => {
                let fresh = self
                    .keys()
                    .master
                    .wrap(&SymmetricKey::generate(), &mailbox_context(mailbox));
                self.store()
                    .insert_mailbox_key(mailbox, &fresh, self.now().as_seconds())
                    .await?
            }
        };
        self.unwrap_mailbox_key(mailbox, &wrapped)
    }

    fn unwrap_mailbox_key(&self, mailbox: &str, wrapped: &[u8]) -> Result<SymmetricKey, AppError> {
        self.keys()
            .master
            .unwrap(wrapped, &mailbox_context(mailbox))
            .map_err(AppError::internal)
    }

    /// The thread key wrapped for `mailbox`.
    async fn wrap_thread_key(
        &self,
        thread_id: &str,
        key: &SymmetricKey,
        mailbox: &str,
    ) -> Result<Vec<u8>, AppError> {
        Ok(self
            .mailbox_key(mailbox)
            .await?
            .wrap(key, &thread_key_context(thread_id)))
    }

    /// Open the thread key through one of the reader's mailboxes, if any of them is a current
    /// participant. Returns the key and the mailbox that opened it. Mailbox keys are opened
    /// once per request (`keys`), however many threads are opened with them.
    async fn open_thread_key(
        &self,
        thread_id: &str,
        reader: &Reader,
        participants: &[sealroom_store::ParticipantRow],
        keys: &mut MailboxKeys,
    ) -> Result<Option<(SymmetricKey, String)>, AppError> {
        for mailbox in reader.addresses() {
            let Some(wrapped) = participants
                .iter()
                .find(|p| p.mailbox == mailbox)
                .and_then(|p| p.wrapped_thread_key.as_ref())
            else {
                continue;
            };
            let key = keys
                .get(self, &mailbox)
                .await?
                .unwrap(wrapped, &thread_key_context(thread_id))
                .map_err(AppError::internal)?;
            return Ok(Some((key, mailbox)));
        }
        Ok(None)
    }

    /// A thread's data category, as stored.
    fn thread_category(category: Option<&str>) -> Result<DataCategory, AppError> {
        DataCategory::parse(category.unwrap_or("clinical_notes")).map_err(AppError::internal)
    }

    /// When a message sent now expires: the sender's choice (1 to 3650 days) or the default.
    fn expiry(&self, days: Option<i64>, now: Timestamp) -> Result<Option<i64>, AppError> {
        let days = match days {
            Some(d) if !(1..=3650).contains(&d) => {
                return Err(AppError::InvalidInput(
                    "expires_in_days must be between 1 and 3650".into(),
                ))
            }
            Some(d) => Some(d),
            None => self.settings().messaging.default_expiry_days,
        };
        Ok(days.map(|d| now.as_seconds() + d * 86_400))
    }
}

/// The patient space's side of messaging: the patient's (or proxy's) threads with the care
/// team, read and answered through the same decisions as staff.
impl App {
    pub async fn patient_threads(
        &self,
        session: &crate::patient_space::PatientSession,
    ) -> Result<Vec<ThreadSummary>, AppError> {
        self.threads(&session.actor()?, &ThreadFilter::default())
            .await
    }

    pub async fn patient_thread(
        &self,
        session: &crate::patient_space::PatientSession,
        thread_id: &str,
    ) -> Result<ThreadView, AppError> {
        self.thread(&session.actor()?, thread_id).await
    }

    pub async fn patient_attachment(
        &self,
        session: &crate::patient_space::PatientSession,
        attachment_id: &str,
    ) -> Result<AttachmentContent, AppError> {
        self.attachment_content(&session.actor()?, attachment_id)
            .await
    }

    /// A reply from the patient space, with attachments the account uploaded for it.
    pub async fn patient_reply(
        &self,
        session: &crate::patient_space::PatientSession,
        thread_id: &str,
        body: String,
        attachments: Vec<String>,
    ) -> Result<SendOutcome, AppError> {
        let message = NewMessageBody {
            body,
            attachments,
            ..NewMessageBody::default()
        };
        self.send_message(&session.actor()?, thread_id, message)
            .await
    }

    /// The patient space's live connection: who it acts as and the mailboxes it listens to
    /// (lasting accounts and proxies only).
    pub async fn patient_live(
        &self,
        session: &crate::patient_space::PatientSession,
    ) -> Result<(Actor, Vec<String>), AppError> {
        let actor = session.actor()?;
        let mailboxes = self.live_mailboxes(&actor).await?;
        Ok((actor, mailboxes))
    }

    /// Colleagues and departments a staff member may write to: every active account and every
    /// department, by name (the organization's internal directory).
    pub async fn messaging_directory(
        &self,
        actor: &Actor,
    ) -> Result<Vec<(String, String)>, AppError> {
        let reader = self.reader(actor).await?;
        if !reader.is_staff() {
            return Err(AppError::Forbidden);
        }
        let own = reader.own.address();
        let mut out = Vec::new();
        for u in self.store().list_users().await? {
            if sealroom_store::UserStatus::parse(&u.status)
                == Some(sealroom_store::UserStatus::Active)
                && format!("user:{}", u.id) != own
            {
                out.push((format!("user:{}", u.id), u.display_name));
            }
        }
        for d in self.store().list_departments().await? {
            out.push((
                format!("department:{}", d.id),
                format!("{} (inbox)", d.name),
            ));
        }
        Ok(out)
    }
}
