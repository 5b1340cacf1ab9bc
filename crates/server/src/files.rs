//! Files in the data directory: private ones are created with mode 600.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use zeroize::Zeroizing;

/// Write a file only its owner can read.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.sync_all().ok();
    Ok(())
}

/// Create the data directory (mode 700) if it does not exist.
pub fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Read the 32-byte master key, creating it on first start. Wiped from memory when dropped.
pub fn master_key(path: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    if !path.exists() {
        let key = Zeroizing::new(sealroom_crypto::secret_box::SecretBox::generate_key());
        write_private(path, Zeroizing::new(hex::encode(key.as_slice())).as_bytes())?;
        tracing::info!(file = %path.display(), "generated the master key; back it up apart from the database");
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the master key {}", path.display()))?,
    );
    let key = hex::decode(text.trim())
        .map(Zeroizing::new)
        .with_context(|| format!("{} must hold 64 hexadecimal characters", path.display()))?;
    if key.len() != 32 {
        anyhow::bail!(
            "{} must hold 64 hexadecimal characters (a 256-bit key)",
            path.display()
        );
    }
    Ok(key)
}
