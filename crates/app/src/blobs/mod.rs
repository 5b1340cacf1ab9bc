//! Where encrypted document content lives: a directory under the data directory (the
//! default) or an S3-compatible bucket. Only ciphertext is ever handed to a blob store.
//!
//! A blob is written once under a fresh key and never changed: a writer puts it in place only
//! when [`BlobWriter::commit`] is called (local: a temporary file, synced, then renamed; S3: a
//! multipart upload completed), and a writer dropped before that leaves nothing behind.

use std::io::{self, Read};
use std::path::PathBuf;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use sequential_file::SequentialFile;

mod sequential_file;

/// How much is read from a local blob at a time: below glibc's mmap threshold (pinned at
/// 128 KiB by the server), so that chunk buffers come from the heap and are reused.
const READ_CHUNK: usize = 96 * 1024;
/// Chunks read ahead of the reader.
const READ_AHEAD: usize = 8;
/// How much is read at a time to hash a local blob (one buffer, reused).
const HASH_CHUNK: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    #[error("the stored content is missing")]
    Missing,
    #[error("the blob store failed: {0}")]
    Io(String),
}

impl From<io::Error> for BlobError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::NotFound {
            BlobError::Missing
        } else {
            BlobError::Io(e.to_string())
        }
    }
}

/// Which blob store, from configuration.
#[derive(Debug, Clone)]
pub enum BlobSettings {
    /// A directory (created mode 700).
    Local(PathBuf),
    S3(S3Settings),
}

/// An S3-compatible bucket. The secret never appears in `Debug` output.
#[derive(Clone)]
pub struct S3Settings {
    /// `None` for AWS itself; otherwise the service's URL.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// A blob store.
#[derive(Debug, Clone)]
pub enum BlobStore {
    Local(LocalBlobs),
    S3(S3Blobs),
}

impl BlobStore {
    pub fn new(settings: &BlobSettings) -> Result<BlobStore, BlobError> {
        match settings {
            BlobSettings::Local(dir) => Ok(BlobStore::Local(LocalBlobs::new(dir.clone())?)),
            BlobSettings::S3(s3) => Ok(BlobStore::S3(S3Blobs::new(s3)?)),
        }
    }

    /// Start writing the blob `key`.
    pub async fn create(&self, key: &str) -> Result<BlobWriter, BlobError> {
        match self {
            BlobStore::Local(l) => l.create(key).await,
            BlobStore::S3(s) => s.create(key).await,
        }
    }

    /// The blob's bytes, in chunks.
    pub async fn read(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, io::Result<Bytes>>, BlobError> {
        match self {
            BlobStore::Local(l) => l.read(key).await,
            BlobStore::S3(s) => s.read(key).await,
        }
    }

    /// The blob's length and BLAKE3 hash. A local blob is read and hashed on one blocking
    /// thread into one reused buffer, not passed through the runtime chunk by chunk.
    pub async fn length_and_hash(&self, key: &str) -> Result<(u64, [u8; 32]), BlobError> {
        match self {
            BlobStore::Local(l) => {
                let mut file = std::fs::File::open(l.path(key)?)?;
                Ok(tokio::task::spawn_blocking(move || {
                    let mut hasher = blake3::Hasher::new();
                    let mut buf = vec![0u8; HASH_CHUNK];
                    let mut len = 0u64;
                    loop {
                        let n = file.read(&mut buf)?;
                        if n == 0 {
                            return Ok::<_, io::Error>((len, *hasher.finalize().as_bytes()));
                        }
                        len += n as u64;
                        hasher.update(&buf[..n]);
                    }
                })
                .await
                .map_err(io::Error::other)??)
            }
            BlobStore::S3(s) => Ok(crate::documents::hash_stream(s.read(key).await?).await?),
        }
    }

    /// Remove a blob; removing one that is not there is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self {
            BlobStore::Local(l) => l.delete(key).await,
            BlobStore::S3(s) => s.delete(key).await,
        }
    }

    /// Move a finished local file (a completed resumable upload) into the store as `key`:
    /// renamed when the store is a directory on the same file system, copied otherwise.
    pub async fn put_file(&self, key: &str, file: &std::path::Path) -> Result<(), BlobError> {
        if let BlobStore::Local(l) = self {
            if l.rename_in(key, file).await.is_ok() {
                return Ok(());
            }
        }
        let mut source = tokio::fs::File::open(file).await?;
        let mut writer = self.create(key).await?;
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut source, &mut buf).await?;
            if n == 0 {
                break;
            }
            writer.write(&buf[..n]).await?;
        }
        writer.commit().await?;
        tokio::fs::remove_file(file).await?;
        Ok(())
    }
}

/// Blobs as objects in an S3-compatible bucket, written as multipart uploads of
/// [`S3_PART`] parts (at most a few parts in memory at once).
#[derive(Debug, Clone)]
pub struct S3Blobs {
    store: std::sync::Arc<object_store::aws::AmazonS3>,
}

/// Bytes per multipart part (S3's minimum is 5 MiB).
const S3_PART: usize = 8 * 1024 * 1024;
/// Parts uploading at once; bounds a writer's memory to about this many parts.
const S3_PARTS_IN_FLIGHT: usize = 2;

fn s3_error(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::Missing,
        other => BlobError::Io(other.to_string()),
    }
}

impl S3Blobs {
    pub fn new(s: &S3Settings) -> Result<S3Blobs, BlobError> {
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&s.bucket)
            .with_region(&s.region)
            .with_access_key_id(&s.access_key_id)
            .with_secret_access_key(&s.secret_access_key)
            .with_allow_http(s.allow_http);
        if let Some(endpoint) = &s.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let store = builder.build().map_err(s3_error)?;
        Ok(S3Blobs {
            store: std::sync::Arc::new(store),
        })
    }

    fn path(key: &str) -> Result<object_store::path::Path, BlobError> {
        let key = checked(key)?;
        Ok(object_store::path::Path::from(format!(
            "blobs/{}/{key}",
            &key[..2]
        )))
    }

    async fn create(&self, key: &str) -> Result<BlobWriter, BlobError> {
        use object_store::ObjectStoreExt;
        let upload = self
            .store
            .put_multipart(&Self::path(key)?)
            .await
            .map_err(s3_error)?;
        Ok(BlobWriter {
            inner: Some(Writer::S3(
                object_store::WriteMultipart::new_with_chunk_size(upload, S3_PART),
            )),
        })
    }

    async fn read(&self, key: &str) -> Result<BoxStream<'static, io::Result<Bytes>>, BlobError> {
        use object_store::ObjectStoreExt;
        let got = self.store.get(&Self::path(key)?).await.map_err(s3_error)?;
        Ok(got
            .into_stream()
            .map(|r| r.map_err(|e| io::Error::other(e.to_string())))
            .boxed())
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        use object_store::ObjectStoreExt;
        match self.store.delete(&Self::path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(s3_error(e)),
        }
    }
}

/// Blobs as files under a directory, spread over 256 subdirectories.
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    dir: PathBuf,
}

/// A key must be a plain name: no separators, no dots, so it can never leave the directory.
fn checked(key: &str) -> Result<&str, BlobError> {
    if key.len() >= 4
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(key)
    } else {
        Err(BlobError::Io("invalid blob key".into()))
    }
}

impl LocalBlobs {
    pub fn new(dir: PathBuf) -> Result<LocalBlobs, BlobError> {
        std::fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(LocalBlobs { dir })
    }

    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        let key = checked(key)?;
        Ok(self.dir.join(&key[..2]).join(key))
    }

    async fn create(&self, key: &str) -> Result<BlobWriter, BlobError> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let partial = path.with_extension("partial");
        let file = SequentialFile::create_new(&partial).await?;
        Ok(BlobWriter {
            inner: Some(Writer::Local(LocalWriter {
                file,
                partial,
                path,
            })),
        })
    }

    /// One blocking thread reads the file from start to end and hands its chunks over a short
    /// queue (a read per chunk through the runtime's blocking pool costs a thread hand-off
    /// each time). Chunks stay below glibc's mmap threshold, so freed ones are reused rather
    /// than mapped, faulted in and unmapped again.
    async fn read(&self, key: &str) -> Result<BoxStream<'static, io::Result<Bytes>>, BlobError> {
        let mut file = std::fs::File::open(self.path(key)?)?;
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(READ_AHEAD);
        tokio::task::spawn_blocking(move || loop {
            let mut chunk = Vec::with_capacity(READ_CHUNK);
            match file
                .by_ref()
                .take(READ_CHUNK as u64)
                .read_to_end(&mut chunk)
            {
                Ok(0) => return,
                Ok(_) => {
                    // The reader went away (the download was cancelled): stop.
                    if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        });
        Ok(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        })
        .boxed())
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Rename `file` into place (fails across file systems).
    async fn rename_in(&self, key: &str, file: &std::path::Path) -> Result<(), BlobError> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::rename(file, &path).await?;
        sync_dir(&path).await;
        Ok(())
    }
}

/// Make a rename durable by syncing the directory that holds it (best effort).
async fn sync_dir(path: &std::path::Path) {
    if let Some(parent) = path.parent() {
        if let Ok(d) = tokio::fs::File::open(parent).await {
            let _ = d.sync_all().await;
        }
    }
}

struct LocalWriter {
    file: SequentialFile,
    partial: PathBuf,
    path: PathBuf,
}

enum Writer {
    Local(LocalWriter),
    S3(object_store::WriteMultipart),
}

/// A blob being written. Dropped without [`Self::commit`], it leaves nothing behind (an
/// unfinished S3 multipart upload is aborted).
pub struct BlobWriter {
    inner: Option<Writer>,
}

fn committed() -> BlobError {
    BlobError::Io("the blob was already committed".into())
}

impl BlobWriter {
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), BlobError> {
        match self.inner.as_mut() {
            Some(Writer::Local(w)) => Ok(w.file.write_all(bytes).await?),
            Some(Writer::S3(w)) => {
                w.wait_for_capacity(S3_PARTS_IN_FLIGHT)
                    .await
                    .map_err(s3_error)?;
                w.write(bytes);
                Ok(())
            }
            None => Err(committed()),
        }
    }

    /// Make the blob durable and visible under its key.
    pub async fn commit(mut self) -> Result<(), BlobError> {
        match self.inner.take() {
            Some(Writer::Local(w)) => {
                let result = async {
                    w.file.finish().await?;
                    tokio::fs::rename(&w.partial, &w.path).await?;
                    sync_dir(&w.path).await;
                    Ok::<(), io::Error>(())
                }
                .await;
                if result.is_err() {
                    let _ = tokio::fs::remove_file(&w.partial).await;
                }
                Ok(result?)
            }
            Some(Writer::S3(w)) => w.finish().await.map(|_| ()).map_err(s3_error),
            None => Err(committed()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        match self.inner.take() {
            Some(Writer::Local(w)) => {
                let _ = std::fs::remove_file(&w.partial);
            }
            Some(Writer::S3(w)) => {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move {
                        let _ = w.abort().await;
                    });
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_blob_appears_only_when_committed_and_never_when_dropped() {
        let dir = std::env::temp_dir().join(format!("sealroom-blobs-{}", std::process::id()));
        let store = BlobStore::new(&BlobSettings::Local(dir.clone())).unwrap();
        let mut w = store.create("abcdef01").await.unwrap();
        w.write(b"one").await.unwrap();
        drop(w);
        assert!(matches!(
            store.read("abcdef01").await.err(),
            Some(BlobError::Missing)
        ));
        let leftovers = std::fs::read_dir(dir.join("ab")).unwrap().count();
        assert_eq!(leftovers, 0, "a dropped writer leaves no partial file");

        let mut w = store.create("abcdef01").await.unwrap();
        w.write(b"two").await.unwrap();
        w.commit().await.unwrap();
        let mut s = store.read("abcdef01").await.unwrap();
        assert_eq!(&s.next().await.unwrap().unwrap()[..], b"two");
        store.delete("abcdef01").await.unwrap();
        store.delete("abcdef01").await.unwrap();
        assert!(store.create("../etc").await.is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
