//! TLS: the operator's certificate, or a self-signed one for localhost, 127.0.0.1 and ::1
//! generated on first start and kept in the data directory (so clients can be told to trust
//! it). rustls with TLS 1.3 only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Paths of the generated certificate and key inside the data directory.
pub fn self_signed_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    (
        data_dir.join("tls").join("localhost.crt"),
        data_dir.join("tls").join("localhost.key"),
    )
}

/// Create the self-signed certificate if it does not exist yet; return its paths.
pub fn ensure_self_signed(data_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (cert_path, key_path) = self_signed_paths(data_dir);
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    let dir = cert_path
        .parent()
        .ok_or_else(|| anyhow!("bad certificate path"))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let generated = rcgen::generate_simple_self_signed(names)
        .context("cannot generate a self-signed certificate")?;
    crate::files::write_private(&key_path, generated.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, generated.cert.pem())
        .with_context(|| format!("cannot write {}", cert_path.display()))?;
    tracing::info!(certificate = %cert_path.display(), "generated a self-signed TLS certificate for localhost");
    Ok((cert_path, key_path))
}

/// A rustls server configuration (TLS 1.3, ALPN h2 and http/1.1) from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).with_context(|| format!("cannot open {}", cert.display()))?,
    ))
    .collect::<Result<_, _>>()
    .with_context(|| format!("{} is not a PEM certificate", cert.display()))?;
    if certs.is_empty() {
        return Err(anyhow!("{} holds no certificate", cert.display()));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).with_context(|| format!("cannot open {}", key.display()))?,
    ))
    .with_context(|| format!("{} is not a PEM private key", key.display()))?
    .ok_or_else(|| anyhow!("{} holds no private key", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .context("TLS 1.3 is not available")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("the certificate and key do not match or are not supported")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
