//! The key hierarchy under the master key, and its rotation.
//!
//! ```text
//! master key (file or environment secret; never in the database)
//! ├── secrets root ── seals small personal data; derives the blind-index and ceremony keys
//! ├── patient key (one per patient) ── wraps the data key of each document version
//! ├── mailbox key (one per messaging participant) ── wraps thread keys, which wrap the
//! │   data key of each message and attachment
//! ├── staff signing key (one per person) ── signs document versions and messages
//! └── author signing key (one per patient space account that writes) ── signs its messages
//! ```
//!
//! Rotating the master key re-wraps the keys directly under it, in one transaction, and
//! re-encrypts no data. A database that predates the keyring keeps its first master key's bytes
//! as its secrets root (that is what sealed its data), recorded as `first-master-key`.

use sealroom_crypto::envelope::SymmetricKey;
use sealroom_store::{Store, StoreError, WrappedKey};

use crate::AppError;

const ROOT_CONTEXT: &str = "secrets-root";

/// The master key and the secrets root it opens, both wiped from memory when dropped.
pub struct Keys {
    pub(crate) master: SymmetricKey,
    pub(crate) root: SymmetricKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(…)")
    }
}

fn master_from(bytes: &[u8]) -> Result<SymmetricKey, AppError> {
    SymmetricKey::from_bytes(bytes).ok_or_else(|| {
        AppError::Config("the master key must be 32 bytes (64 hexadecimal characters)".into())
    })
}

/// Open the keyring with `master`, creating it on a database that has none.
pub async fn open(store: &Store, master: &[u8], now: i64) -> Result<Keys, AppError> {
    let master = master_from(master)?;
    if let Some(row) = store.keyring().await? {
        let root = master.unwrap(&row.wrapped_root, ROOT_CONTEXT).map_err(|_| {
            AppError::Config(
                "the master key does not open this database's keys: it is not the key this database was \
                 created or last rotated with. Restore the right key file (or finish an interrupted rotation)"
                    .into(),
            )
        })?;
        return Ok(Keys { master, root });
    }
    // Sealed data may already exist under the master key itself: keep it as the root.
    let (root, origin) = if store.count_users().await? > 0 {
        (master_from(master.expose())?, "first-master-key")
    } else {
        (SymmetricKey::generate(), "generated")
    };
    match store
        .insert_keyring(&master.wrap(&root, ROOT_CONTEXT), origin, now)
        .await
    {
        Ok(()) => Ok(Keys { master, root }),
        // Another instance created it first: use theirs.
        Err(StoreError::Conflict(_)) => Box::pin(open(store, master.expose(), now)).await,
        Err(e) => Err(e.into()),
    }
}

/// What a rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rotation {
    pub roots: usize,
    pub patient_keys: usize,
    pub signing_keys: usize,
    pub mailbox_keys: usize,
}

/// Re-wrap every key under `old` to `new` in one transaction. Nothing is written unless every
/// key opened with `old`.
pub async fn rotate_master(
    store: &Store,
    old: &[u8],
    new: &[u8],
    now: i64,
) -> Result<Rotation, AppError> {
    let old = master_from(old)?;
    let new = master_from(new)?;
    if old.expose() == new.expose() {
        return Err(AppError::InvalidInput(
            "the new master key is the same as the old one".into(),
        ));
    }
    let keys = store.master_wrapped_keys().await?;
    let mut rotation = Rotation::default();
    let mut rewrapped = Vec::with_capacity(keys.len());
    for k in keys {
        let context = context_of(&k);
        let wrapped = SymmetricKey::rewrap(&old, &new, &k.wrapped, &context).map_err(|_| {
            AppError::Config(format!(
                "a key ({}) does not open with the current master key; nothing was changed",
                context
            ))
        })?;
        match k.kind {
            sealroom_store::WrappedKind::Root => rotation.roots += 1,
            sealroom_store::WrappedKind::Patient => rotation.patient_keys += 1,
            sealroom_store::WrappedKind::Signing | sealroom_store::WrappedKind::AuthorSigning => {
                rotation.signing_keys += 1
            }
            sealroom_store::WrappedKind::Mailbox => rotation.mailbox_keys += 1,
        }
        rewrapped.push(WrappedKey { wrapped, ..k });
    }
    store.replace_master_wrapped_keys(&rewrapped, now).await?;
    Ok(rotation)
}

fn context_of(k: &WrappedKey) -> String {
    match k.kind {
        sealroom_store::WrappedKind::Root => ROOT_CONTEXT.to_owned(),
        sealroom_store::WrappedKind::Patient => patient_context(&k.id),
        sealroom_store::WrappedKind::Signing => signing_context(&k.id),
        sealroom_store::WrappedKind::Mailbox => mailbox_context(&k.id),
        sealroom_store::WrappedKind::AuthorSigning => author_signing_context(&k.id),
    }
}

pub(crate) fn patient_context(patient_id: &str) -> String {
    format!("patient:{patient_id}")
}

pub(crate) fn signing_context(key_id: &str) -> String {
    format!("signing:{key_id}")
}

pub(crate) fn mailbox_context(mailbox: &str) -> String {
    format!("mailbox:{mailbox}")
}

pub(crate) fn author_signing_context(key_id: &str) -> String {
    format!("author-signing:{key_id}")
}

pub(crate) fn data_key_context(document_id: &str, version: u32) -> String {
    format!("document:{document_id}:{version}")
}
