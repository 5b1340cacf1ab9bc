//! Sealroom's use cases: one function per thing a person does (set up the server, create a
//! colleague's account, enrol a factor, sign in, step up, end a session, issue an API token).
//!
//! Each use case decides who may do it (through [`policy::authorize`], deny by default), makes
//! the change through the store, and appends an audit event. This crate knows nothing of HTTP:
//! the web layer turns requests into calls here, and responses from what comes back.
//! Time comes from the [`clock::Clock`] held by [`App`], so tests move time instead of sleeping.

pub mod access_policy;
pub mod access_reviews;
pub mod access_slips;
pub mod accounts;
pub mod audit;
pub mod audit_export;
mod audit_writer;
pub mod blobs;
pub mod clock;
pub mod desk;
pub mod documents;
pub mod enrolment;
pub mod error;
pub mod factors;
pub mod fhir;
pub mod grants;
mod group_commit;
pub mod keyring;
pub mod mail;
pub mod messaging;
pub mod organization;
pub mod passkeys;
pub mod passwords;
pub mod patient_access;
pub mod patient_contacts;
pub mod patient_space;
pub mod patients;
pub mod policy;
pub mod policy_versions;
pub mod release;
pub mod retention;
pub mod scim;
pub mod sessions;
pub mod setup;
pub mod sign_in;
pub mod sms;
pub mod throttle;
pub mod tokens;
pub mod uploads;

use std::sync::Arc;

use sealroom_crypto::password_hash::HashCost;
use sealroom_crypto::secret_box::SecretBox;
use sealroom_domain::{Duration, Role, SessionLimits};
use sealroom_store::Store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::AppError;

/// Where a request came from, for throttling and audit. Never holds personal data.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub address: String,
    pub user_agent: String,
}

/// Settings the use cases need, resolved from configuration by the server.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Shown in pages and authenticator apps; a context word for passwords.
    pub organization_name: String,
    /// The externally visible base URL, e.g. `https://sealroom.example.org`.
    pub public_url: url::Url,
    pub hash_cost: HashCost,
    /// How many argon2 hashes may run at once (each on a blocking thread).
    pub max_concurrent_hashes: usize,
    /// Session limits for staff roles, overriding the defaults where set.
    pub staff_limits: SessionLimits,
    pub admin_limits: SessionLimits,
    /// When set, a new sign-in ends the account's older sessions.
    pub one_session_per_account: bool,
    pub setup_link_validity: Duration,
    pub enrolment_link_validity: Duration,
    pub access: AccessSettings,
    /// Where mail goes.
    pub mail: mail::MailSettings,
    /// The sender of every message, e.g. `Sealroom <no-reply@hospital.example>`.
    pub mail_from: String,
    pub documents: DocumentSettings,
    /// When documents reach the patient space, per category.
    pub release: release::ReleaseSettings,
    /// Where SMS go.
    pub sms: sms::SmsSettings,
    /// Patient sessions and the second factors patients may choose.
    pub patient_space: patient_space::PatientSpaceSettings,
    /// Leak-prevention levels, receipts, expiry and notices of secure messaging.
    pub messaging: messaging::MessagingSettings,
}

/// Settings of the document store.
#[derive(Debug, Clone)]
pub struct DocumentSettings {
    pub blobs: blobs::BlobSettings,
    /// Where resumable uploads stage their ciphertext until complete.
    pub staging_dir: std::path::PathBuf,
    /// The largest file accepted.
    pub max_upload_bytes: u64,
    /// Retention classes: name → days kept after the document is created.
    pub retention_classes: std::collections::BTreeMap<String, i64>,
    /// The class of a document uploaded without one.
    pub default_retention_class: String,
    /// How long an unfinished resumable upload is kept.
    pub upload_expiry: Duration,
    /// How long an upload may send nothing before it is abandoned.
    pub upload_idle: std::time::Duration,
}

/// Settings of need-to-know access.
#[derive(Debug, Clone)]
pub struct AccessSettings {
    /// How long a department keeps read access after a patient is transferred or discharged.
    pub previous_care_window: Duration,
    /// How long a break-glass opening lasts.
    pub break_glass_duration: Duration,
    /// Roles beyond the built-in ones (validated by the configuration).
    pub custom_roles: Vec<String>,
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessSettings {
            previous_care_window: Duration::hours(24 * 30),
            break_glass_duration: Duration::hours(4),
            custom_roles: Vec::new(),
        }
    }
}

impl Settings {
    pub fn limits_for(&self, role: Role) -> SessionLimits {
        match role {
            Role::Administrator | Role::SecurityOfficer => self.admin_limits,
            _ => self.staff_limits,
        }
    }
}

/// Everything a use case needs, shared by all requests.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    settings: Settings,
    passwords: passwords::PasswordWorkers,
    secrets: SecretBox,
    keys: keyring::Keys,
    blobs: blobs::BlobStore,
    passkeys: passkeys::PasskeyCeremonies,
    sessions: sessions::SessionCache,
    policy: policy_versions::PolicyHolder,
    audit: audit_writer::AuditWriter,
    /// Key for blind indexes (exact lookup of sealed identifiers), derived from the master key.
    blind_index: hmac::Hmac<sha2::Sha256>,
    mailer: mail::Mailer,
    sms: sms::SmsSender,
    /// Live connections for message delivery.
    live: messaging::LiveHub,
    messages: messaging::MessageWriter,
}

impl App {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        settings: Settings,
        keys: keyring::Keys,
    ) -> Result<App, AppError> {
        // Everything small is sealed under, and every derived key comes from, the secrets
        // root; the master key only wraps keys.
        let root: &[u8] = keys.root.expose();
        let secrets = SecretBox::new(root).map_err(|e| AppError::Config(e.to_string()))?;
        let blobs = blobs::BlobStore::new(&settings.documents.blobs)
            .map_err(|e| AppError::Config(format!("the document store cannot be opened: {e}")))?;
        let passwords =
            passwords::PasswordWorkers::new(settings.hash_cost, settings.max_concurrent_hashes)?;
        let passkeys = passkeys::PasskeyCeremonies::new(&settings, root)?;
        let mailer = mail::Mailer::new(&settings.mail, &settings.mail_from)?;
        let sms = sms::SmsSender::new(&settings.sms)?;
        let audit = audit_writer::AuditWriter::start(store.clone());
        let messages = messaging::MessageWriter::start(store.clone());
        let policy = access_policy::PolicyEngine::default_policy()
            .map_err(|e| AppError::Config(format!("the access policy is not valid: {e}")))?;
        let blind_index = {
            use hmac::Mac;
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&crypto_blind_index_key(root))
                .map_err(|e| AppError::Config(e.to_string()))?
        };
        Ok(App {
            inner: Arc::new(Inner {
                store,
                clock,
                settings,
                passwords,
                secrets,
                keys,
                blobs,
                passkeys,
                sessions: sessions::SessionCache::default(),
                policy: policy_versions::PolicyHolder::new(policy),
                audit,
                blind_index,
                mailer,
                sms,
                live: messaging::LiveHub::default(),
                messages,
            }),
        })
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn now(&self) -> sealroom_domain::Timestamp {
        self.inner.clock.now()
    }

    pub(crate) fn secrets(&self) -> &SecretBox {
        &self.inner.secrets
    }

    pub(crate) fn keys(&self) -> &keyring::Keys {
        &self.inner.keys
    }

    pub(crate) fn blobs(&self) -> &blobs::BlobStore {
        &self.inner.blobs
    }

    pub(crate) fn passwords(&self) -> &passwords::PasswordWorkers {
        &self.inner.passwords
    }

    pub(crate) fn ceremonies(&self) -> &passkeys::PasskeyCeremonies {
        &self.inner.passkeys
    }

    pub(crate) fn session_cache(&self) -> &sessions::SessionCache {
        &self.inner.sessions
    }

    /// The validated access policy in force.
    pub fn policy_engine(&self) -> Arc<access_policy::PolicyEngine> {
        self.inner.policy.engine()
    }

    /// Send a message without holding up the caller; a failure is logged (by purpose only,
    /// never content or address) and does not undo what the caller did.
    pub(crate) fn send_mail_in_background(&self, mail: mail::OutgoingMail, purpose: &'static str) {
        let mailer = self.inner.mailer.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.send(&mail).await {
                tracing::warn!(purpose, error = %e, "a message could not be sent");
            }
        });
    }

    /// Send an SMS without holding up the caller; a failure is logged (by purpose only, never
    /// the number or the text).
    pub(crate) fn send_sms_in_background(&self, to: String, text: String, purpose: &'static str) {
        let sms = self.inner.sms.clone();
        tokio::spawn(async move {
            if let Err(e) = sms.send(&to, &text).await {
                tracing::warn!(purpose, error = %e, "an SMS could not be sent");
            }
        });
    }

    /// Who is connected for live message delivery.
    pub fn live(&self) -> &messaging::LiveHub {
        &self.inner.live
    }

    pub(crate) fn message_writer(&self) -> &messaging::MessageWriter {
        &self.inner.messages
    }

    pub(crate) fn audit_writer(&self) -> &audit_writer::AuditWriter {
        &self.inner.audit
    }

    pub(crate) fn policy_holder(&self) -> &policy_versions::PolicyHolder {
        &self.inner.policy
    }

    /// A keyed blind index of `value` under `purpose` (HMAC-SHA-256, hex): equal inputs give
    /// equal indexes, but without the master key the index reveals nothing and cannot be
    /// brute-forced from the small space of national numbers or birth dates.
    pub(crate) fn blind_index(&self, purpose: &str, value: &str) -> String {
        use hmac::Mac;
        let mut mac = self.inner.blind_index.clone();
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Build a link under the public URL.
    pub fn link(&self, path_and_query: &str) -> String {
        let base = self
            .inner
            .settings
            .public_url
            .as_str()
            .trim_end_matches('/');
        format!("{base}{path_and_query}")
    }
}

/// Derive the blind-index key from the master key (HMAC with a fixed label), so the master key
/// itself is never used for two purposes.
fn crypto_blind_index_key(master_key: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut out = [0u8; 32];
    if let Ok(mut mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(master_key) {
        mac.update(b"sealroom blind index key v1");
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}
