//! Master-key rotation on disk: `sealroom keys rotate-master`.
//!
//! The new key is written beside the old one (`master.key.new`), every key under the master is
//! re-wrapped in one database transaction, then the old file is kept as
//! `master.key.retired-<time>` and the new one takes its name. A crash at any point leaves a
//! state that start-up (or the next rotation) finishes: before the transaction commits the
//! database still opens with the old key, after it with `master.key.new`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use sealroom_app::keyring;
use sealroom_app::Clock;
use sealroom_domain::Timestamp;
use sealroom_store::Store;

use crate::config::Config;

/// What a rotation did, for the operator.
pub struct Rotated {
    pub rotation: keyring::Rotation,
    pub retired: PathBuf,
}

/// `master.key.new`, beside the key file.
pub fn pending_path(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

fn retired_path(key_file: &Path, at: Timestamp) -> PathBuf {
    let stamp: String = at
        .date_and_minute()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let mut name = key_file.as_os_str().to_owned();
    name.push(format!(".retired-{stamp}"));
    let mut path = PathBuf::from(name);
    let mut n = 1;
    while path.exists() {
        n += 1;
        let mut name = key_file.as_os_str().to_owned();
        name.push(format!(".retired-{stamp}-{n}"));
        path = PathBuf::from(name);
    }
    path
}

/// Put the rotated key in place: the old file is kept as retired, the new one takes its name.
pub fn promote(key_file: &Path, at: Timestamp) -> anyhow::Result<PathBuf> {
    let retired = retired_path(key_file, at);
    std::fs::rename(key_file, &retired)
        .with_context(|| format!("cannot move {} aside", key_file.display()))?;
    std::fs::rename(pending_path(key_file), key_file)
        .with_context(|| format!("cannot put the new key at {}", key_file.display()))?;
    if let Some(dir) = key_file.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(retired)
}

/// Re-wrap every key under a newly generated master key. The server must be stopped: a
/// running server still holds the old key and would wrap new keys with it.
pub async fn rotate_master(config: &Config, clock: &dyn Clock) -> anyhow::Result<Rotated> {
    if let Ok(addr) = config.listen.parse::<std::net::SocketAddr>() {
        let probe = if addr.ip().is_unspecified() {
            std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()))
        } else {
            addr
        };
        if addr.port() != 0
            && tokio::time::timeout(
                std::time::Duration::from_secs(1),
                tokio::net::TcpStream::connect(probe),
            )
            .await
            .is_ok_and(|c| c.is_ok())
        {
            return Err(anyhow!(
                "a server is answering on {probe}; stop every Sealroom server using this database before rotating the master key"
            ));
        }
    }
    let key_file = &config.master_key_file;
    if !key_file.exists() {
        return Err(anyhow!(
            "there is no master key at {}; nothing to rotate",
            key_file.display()
        ));
    }
    let store = Store::open(&config.database_url)
        .await
        .context("the database cannot be used")?;
    let result = rotate_with(&store, key_file, clock).await;
    store.close().await;
    result
}

async fn rotate_with(store: &Store, key_file: &Path, clock: &dyn Clock) -> anyhow::Result<Rotated> {
    let now = clock.now();
    let old = crate::files::master_key(key_file)?;
    let pending = pending_path(key_file);
    if pending.exists() {
        // An earlier rotation stopped midway: finish it if its transaction committed,
        // otherwise discard its unused key.
        let earlier = crate::files::master_key(&pending)?;
        if keyring::open(store, &earlier, now.as_seconds())
            .await
            .is_ok()
            && keyring::open(store, &old, now.as_seconds()).await.is_err()
        {
            let retired = promote(key_file, now)?;
            return Err(anyhow!(
                "an earlier rotation had re-wrapped the keys but not renamed the files; it is now finished \
                 (the old key is kept as {}). Run the command again to rotate once more",
                retired.display()
            ));
        }
        std::fs::remove_file(&pending)
            .with_context(|| format!("cannot remove the unused {}", pending.display()))?;
    }
    keyring::open(store, &old, now.as_seconds())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let new = zeroize::Zeroizing::new(sealroom_crypto::secret_box::SecretBox::generate_key());
    crate::files::write_private(
        &pending,
        zeroize::Zeroizing::new(hex::encode(new.as_slice())).as_bytes(),
    )?;
    let rotation = match keyring::rotate_master(store, &old, new.as_slice(), now.as_seconds()).await
    {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&pending);
            return Err(anyhow!("{e}"));
        }
    };
    let retired = promote(key_file, now)?;
    Ok(Rotated { rotation, retired })
}

/// At start-up: when the key file no longer opens the database but a pending rotation's key
/// does, the rotation committed and only the rename is missing; finish it.
pub async fn finish_interrupted_rotation(
    store: &Store,
    key_file: &Path,
    now: Timestamp,
) -> anyhow::Result<bool> {
    let pending = pending_path(key_file);
    if !pending.exists() || !key_file.exists() {
        return Ok(false);
    }
    let current = crate::files::master_key(key_file)?;
    if keyring::open(store, &current, now.as_seconds())
        .await
        .is_ok()
    {
        return Ok(false);
    }
    let new = crate::files::master_key(&pending)?;
    if keyring::open(store, &new, now.as_seconds()).await.is_err() {
        return Ok(false);
    }
    let retired = promote(key_file, now)?;
    tracing::warn!(retired = %retired.display(), "finished an interrupted master-key rotation: the new key is now in place");
    Ok(true)
}
