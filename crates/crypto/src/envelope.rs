//! Envelope encryption for documents: a random data key per document version, wrapped by a
//! per-patient key, itself wrapped by the master key; content encrypted as a stream of
//! 64 KiB segments so that gigabytes pass through in constant memory.
//!
//! The content construction is STREAM (Hoang, Reyhanitabar, Rogaway, Vizár, 2015) over
//! AES-256-GCM (ring's assembly implementation, which uses AES-NI and VAES where the
//! processor has them): each segment's 96-bit nonce is a random per-blob 7-byte prefix, a
//! 32-bit big-endian counter and a last-segment flag, the layout of RustCrypto's
//! `StreamBE32`. Reordering, dropping or repeating segments, truncating the blob or appending
//! to it, or moving segments between blobs all fail authentication. Every segment also
//! carries the blob's binding (document id and version) as associated data, so a whole blob
//! swapped between documents or versions fails too. Each data key encrypts one blob only, so
//! GCM's limits (2^32 segments of 64 KiB, 256 TiB) are far beyond a blob's size.
//!
//! Blob layout (content format 2): `SRB2` ‖ 7-byte nonce prefix ‖ segments, each `SEGMENT`
//! plaintext bytes + a 16-byte tag, the last one shorter or equal (empty only when the whole
//! content is empty). Format 1 (`SRB1`, XChaCha20-Poly1305 with a 19-byte prefix) was written
//! only by pre-release builds and is not read.
//!
//! Keys themselves (data keys under patient keys, patient keys under the master key) are
//! wrapped with XChaCha20-Poly1305 and a random 192-bit nonce.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

/// Plaintext bytes per segment.
pub const SEGMENT: usize = 64 * 1024;
/// Authentication tag bytes per segment.
pub const TAG: usize = 16;
const MAGIC: &[u8; 4] = b"SRB2";
/// The content format this build writes and reads (recorded with every stored version).
pub const CONTENT_FORMAT: u8 = 2;
/// Random per-blob part of each segment's 96-bit nonce (then a 32-bit counter and a flag).
const PREFIX: usize = 7;
/// Bytes before the first segment.
pub const HEADER: usize = MAGIC.len() + PREFIX;
const WRAP_VERSION: u8 = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    #[error("a key could not be unwrapped: wrong key, wrong owner or tampered data")]
    Unwrap,
    #[error("the stored content failed its integrity check: it was altered, truncated, reordered or belongs to another document")]
    Integrity,
    #[error("the stored content is not a Sealroom encrypted blob")]
    NotABlob,
    #[error("the content is too large for one blob")]
    TooLarge,
    #[error("the key was refused by the cipher")]
    BadKey,
}

/// A 256-bit symmetric key (a document's data key, a patient's key, or the master key),
/// wiped from memory when dropped and never printed.
pub struct SymmetricKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SymmetricKey(…)")
    }
}

impl SymmetricKey {
    pub fn generate() -> SymmetricKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        SymmetricKey(key)
    }

    /// From exactly 32 bytes (the master key file).
    pub fn from_bytes(bytes: &[u8]) -> Option<SymmetricKey> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(SymmetricKey(Zeroizing::new(array)))
    }

    pub(crate) fn from_seed(bytes: &[u8; 32]) -> SymmetricKey {
        SymmetricKey(Zeroizing::new(*bytes))
    }

    /// The key's bytes, to derive subkeys from (the secrets key, blind-index keys). Callers
    /// must not copy them anywhere that outlives the key.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_ref().into())
    }

    /// Wrap `key` under this key for `context` (e.g. `patient:<id>`), which must be given
    /// again to unwrap it: a wrapped key copied to another owner does not open.
    pub fn wrap(&self, key: &SymmetricKey, context: &str) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = wrap_aad(context);
        // Encryption of 32 bytes in memory with a valid key cannot fail.
        let ct = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: key.0.as_ref(),
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + 24 + ct.len());
        out.push(WRAP_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Unwrap a key wrapped by [`Self::wrap`] for the same `context`.
    pub fn unwrap(&self, wrapped: &[u8], context: &str) -> Result<SymmetricKey, EnvelopeError> {
        if wrapped.len() != 1 + 24 + 32 + TAG || wrapped[0] != WRAP_VERSION {
            return Err(EnvelopeError::Unwrap);
        }
        let (nonce, ct) = wrapped[1..].split_at(24);
        let aad = wrap_aad(context);
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
                .map_err(|_| EnvelopeError::Unwrap)?,
        );
        SymmetricKey::from_bytes(&plain).ok_or(EnvelopeError::Unwrap)
    }

    /// Encrypt small content (a message body, a subject, a file name) under this key for
    /// `context`, which must be given again to open it: the same sealing as
    /// [`crate::secret_box::SecretBox`], under this key. Large content goes through
    /// [`BlobEncryptor`] instead.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        // A 32-byte key is always accepted.
        crate::secret_box::SecretBox::new(self.0.as_ref())
            .map(|b| b.seal(plaintext, context))
            .unwrap_or_default()
    }

    /// Open content sealed by [`Self::seal`] for the same `context`.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, EnvelopeError> {
        crate::secret_box::SecretBox::new(self.0.as_ref())
            .map_err(|_| EnvelopeError::BadKey)?
            .open(sealed, context)
            .map_err(|_| EnvelopeError::Integrity)
    }

    /// Re-wrap a key from `old` to `new` (master key rotation: no content is re-encrypted).
    pub fn rewrap(
        old: &SymmetricKey,
        new: &SymmetricKey,
        wrapped: &[u8],
        context: &str,
    ) -> Result<Vec<u8>, EnvelopeError> {
        let key = old.unwrap(wrapped, context)?;
        Ok(new.wrap(&key, context))
    }
}

fn wrap_aad(context: &str) -> Vec<u8> {
    let mut v = b"sealroom-key-v1:".to_vec();
    v.extend_from_slice(context.as_bytes());
    v
}

/// What a blob belongs to; bound into every segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub document: String,
    pub version: u32,
}

impl Binding {
    fn aad(&self) -> Vec<u8> {
        format!("sealroom-blob-v2:{}:{}", self.document, self.version).into_bytes()
    }
}

/// AES-256-GCM under a document version's data key, with STREAM nonces.
struct SegmentCipher {
    key: LessSafeKey,
    prefix: [u8; PREFIX],
    aad: Vec<u8>,
}

impl SegmentCipher {
    fn new(key: &SymmetricKey, binding: &Binding) -> Result<Self, EnvelopeError> {
        // ring refuses only a key of the wrong length, which a SymmetricKey never is.
        let key =
            UnboundKey::new(&AES_256_GCM, key.0.as_ref()).map_err(|_| EnvelopeError::BadKey)?;
        Ok(SegmentCipher {
            key: LessSafeKey::new(key),
            prefix: [0; PREFIX],
            aad: binding.aad(),
        })
    }

    fn with_prefix(mut self, prefix: &[u8]) -> Result<Self, EnvelopeError> {
        self.prefix = prefix.try_into().map_err(|_| EnvelopeError::NotABlob)?;
        Ok(self)
    }

    /// Segment `position`'s nonce: prefix ‖ 32-bit big-endian counter ‖ last-segment flag.
    fn nonce(&self, position: u32, last: bool) -> Nonce {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..PREFIX].copy_from_slice(&self.prefix);
        nonce[PREFIX..PREFIX + 4].copy_from_slice(&position.to_be_bytes());
        nonce[NONCE_LEN - 1] = u8::from(last);
        Nonce::assume_unique_for_key(nonce)
    }

    /// Encrypt `plaintext` as segment `position` and append it, with its tag, to `out`.
    fn seal(
        &self,
        position: u32,
        last: bool,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EnvelopeError> {
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                self.nonce(position, last),
                Aad::from(&self.aad),
                &mut out[start..],
            )
            .map_err(|_| EnvelopeError::TooLarge)?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Authenticate and decrypt `segment` (ciphertext ‖ tag) as segment `position`, appending
    /// the plaintext to `out`; on failure `out` is left as it was.
    fn open(
        &self,
        position: u32,
        last: bool,
        segment: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EnvelopeError> {
        let start = out.len();
        out.extend_from_slice(segment);
        match self.key.open_in_place(
            self.nonce(position, last),
            Aad::from(&self.aad),
            &mut out[start..],
        ) {
            Ok(plain) => {
                let len = plain.len();
                out.truncate(start + len);
                Ok(())
            }
            Err(_) => {
                out.truncate(start);
                Err(EnvelopeError::Integrity)
            }
        }
    }
}

/// Encrypts content fed in pieces of any size; holds at most one segment of plaintext.
///
/// A full segment is encrypted only once more content follows (the last segment carries the
/// last-segment flag), so after any call, exactly [`Self::segments_written`] × [`SEGMENT`]
/// plaintext bytes are committed to the ciphertext returned so far. A resumable upload
/// relies on this: it keeps the committed ciphertext and the header, drops the uncommitted
/// remainder, and continues later with [`Self::resume`].
pub struct BlobEncryptor {
    cipher: SegmentCipher,
    position: u32,
    pending: Zeroizing<Vec<u8>>,
    header: [u8; HEADER],
    header_sent: bool,
}

impl BlobEncryptor {
    pub fn new(key: &SymmetricKey, binding: &Binding) -> Result<BlobEncryptor, EnvelopeError> {
        let mut header = [0u8; HEADER];
        header[..MAGIC.len()].copy_from_slice(MAGIC);
        rand::rngs::OsRng.fill_bytes(&mut header[MAGIC.len()..]);
        Self::at(key, binding, header, 0, false)
    }

    /// Continue a blob that starts with `header` and already holds `segments` full segments.
    pub fn resume(
        key: &SymmetricKey,
        binding: &Binding,
        header: &[u8],
        segments: u32,
    ) -> Result<BlobEncryptor, EnvelopeError> {
        let header: [u8; HEADER] = header.try_into().map_err(|_| EnvelopeError::NotABlob)?;
        if &header[..MAGIC.len()] != MAGIC {
            return Err(EnvelopeError::NotABlob);
        }
        Self::at(key, binding, header, segments, true)
    }

    fn at(
        key: &SymmetricKey,
        binding: &Binding,
        header: [u8; HEADER],
        position: u32,
        header_sent: bool,
    ) -> Result<BlobEncryptor, EnvelopeError> {
        Ok(BlobEncryptor {
            cipher: SegmentCipher::new(key, binding)?.with_prefix(&header[MAGIC.len()..])?,
            position,
            pending: Zeroizing::new(Vec::with_capacity(SEGMENT)),
            header,
            header_sent,
        })
    }

    /// The blob's first [`HEADER`] bytes (magic and nonce prefix).
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// Full segments encrypted so far.
    pub fn segments_written(&self) -> u32 {
        self.position
    }

    fn start_output(&mut self, capacity: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(capacity + HEADER);
        self.put_header(&mut out);
        out
    }

    fn put_header(&mut self, out: &mut Vec<u8>) {
        if !self.header_sent {
            out.extend_from_slice(&self.header);
            self.header_sent = true;
        }
    }

    /// Feed plaintext; returns the ciphertext ready so far (the header first). Whole
    /// segments are encrypted straight from `plaintext`; only a remainder is held back.
    pub fn update(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        let mut out = Vec::new();
        self.update_into(plaintext, &mut out)?;
        Ok(out)
    }

    /// [`Self::update`], appending the ciphertext to `out`: a caller streaming a large file
    /// reuses one buffer instead of allocating (and the allocator mapping and unmapping) one
    /// per piece.
    pub fn update_into(
        &mut self,
        mut plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EnvelopeError> {
        let ready = (self.pending.len() + plaintext.len()).saturating_sub(1) / SEGMENT;
        out.reserve(ready * (SEGMENT + TAG) + HEADER);
        self.put_header(out);
        while !plaintext.is_empty() {
            if self.pending.len() == SEGMENT {
                // More content follows, so the held segment is not the last.
                let position = advance(&mut self.position)?;
                self.cipher.seal(position, false, &self.pending, out)?;
                self.pending.clear();
            } else if self.pending.is_empty() && plaintext.len() > SEGMENT {
                let (segment, rest) = plaintext.split_at(SEGMENT);
                let position = advance(&mut self.position)?;
                self.cipher.seal(position, false, segment, out)?;
                plaintext = rest;
            } else {
                let take = (SEGMENT - self.pending.len()).min(plaintext.len());
                self.pending.extend_from_slice(&plaintext[..take]);
                plaintext = &plaintext[take..];
            }
        }
        Ok(())
    }

    /// Encrypt what remains as the last segment.
    pub fn finish(mut self) -> Result<Vec<u8>, EnvelopeError> {
        let mut out = self.start_output(self.pending.len() + TAG);
        self.cipher
            .seal(self.position, true, &self.pending, &mut out)?;
        Ok(out)
    }
}

/// Decrypts a blob fed in pieces of any size; plaintext is released one authenticated
/// segment at a time, and [`Self::finish`] fails unless the blob ended where it should.
pub struct BlobDecryptor {
    cipher: SegmentCipher,
    /// Whether the header has been read (and the cipher given its nonce prefix).
    started: bool,
    position: u32,
    pending: Vec<u8>,
}

/// A segment as stored: ciphertext and tag.
const STORED_SEGMENT: usize = SEGMENT + TAG;

impl BlobDecryptor {
    pub fn new(key: &SymmetricKey, binding: &Binding) -> Result<BlobDecryptor, EnvelopeError> {
        Ok(BlobDecryptor {
            cipher: SegmentCipher::new(key, binding)?,
            started: false,
            position: 0,
            pending: Vec::with_capacity(STORED_SEGMENT),
        })
    }

    /// Take header bytes from `ciphertext`; true once the whole header is in.
    fn read_header(&mut self, ciphertext: &mut &[u8]) -> Result<bool, EnvelopeError> {
        let take = (HEADER - self.pending.len()).min(ciphertext.len());
        self.pending.extend_from_slice(&ciphertext[..take]);
        *ciphertext = &ciphertext[take..];
        let magic = self.pending.len().min(MAGIC.len());
        if self.pending[..magic] != MAGIC[..magic] {
            return Err(EnvelopeError::NotABlob);
        }
        if self.pending.len() < HEADER {
            return Ok(false);
        }
        self.cipher.prefix = self.pending[MAGIC.len()..HEADER]
            .try_into()
            .map_err(|_| EnvelopeError::NotABlob)?;
        self.pending.clear();
        self.started = true;
        Ok(true)
    }

    /// Feed ciphertext; returns the plaintext of every segment authenticated so far. Whole
    /// segments are opened straight from `ciphertext`; only a remainder is held back.
    pub fn update(&mut self, mut ciphertext: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        if !self.started && !self.read_header(&mut ciphertext)? {
            return Ok(Vec::new());
        }
        let ready = (self.pending.len() + ciphertext.len()).saturating_sub(1) / STORED_SEGMENT;
        // Each segment is opened in place at the end of `out`, tag included.
        let mut out = Vec::with_capacity(ready * SEGMENT + TAG);
        while !ciphertext.is_empty() {
            if self.pending.len() == STORED_SEGMENT {
                // More ciphertext follows, so the held segment is not the last.
                let position = advance(&mut self.position)?;
                self.cipher.open(position, false, &self.pending, &mut out)?;
                self.pending.clear();
            } else if self.pending.is_empty() && ciphertext.len() > STORED_SEGMENT {
                let (segment, rest) = ciphertext.split_at(STORED_SEGMENT);
                let position = advance(&mut self.position)?;
                self.cipher.open(position, false, segment, &mut out)?;
                ciphertext = rest;
            } else {
                let take = (STORED_SEGMENT - self.pending.len()).min(ciphertext.len());
                self.pending.extend_from_slice(&ciphertext[..take]);
                ciphertext = &ciphertext[take..];
            }
        }
        Ok(out)
    }

    /// Authenticate the last segment; fails if the blob was cut or extended.
    pub fn finish(self) -> Result<Vec<u8>, EnvelopeError> {
        if !self.started {
            return Err(EnvelopeError::NotABlob);
        }
        if self.pending.len() < TAG {
            return Err(EnvelopeError::Integrity);
        }
        let mut out = Vec::with_capacity(self.pending.len());
        self.cipher
            .open(self.position, true, &self.pending, &mut out)?;
        Ok(out)
    }
}

/// The position of the next segment, counting it as taken.
fn advance(position: &mut u32) -> Result<u32, EnvelopeError> {
    let current = *position;
    *position = current.checked_add(1).ok_or(EnvelopeError::TooLarge)?;
    Ok(current)
}

/// The ciphertext length for `plaintext_len` bytes (for Content-Length and quotas).
pub fn blob_len(plaintext_len: u64) -> u64 {
    let segment = SEGMENT as u64;
    let segments = plaintext_len.div_ceil(segment).max(1);
    HEADER as u64 + plaintext_len + segments * TAG as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn binding(doc: &str, version: u32) -> Binding {
        Binding {
            document: doc.into(),
            version,
        }
    }

    fn encrypt(key: &SymmetricKey, b: &Binding, data: &[u8], piece: usize) -> Vec<u8> {
        let mut e = BlobEncryptor::new(key, b).unwrap();
        let mut out = Vec::new();
        for chunk in data.chunks(piece.max(1)) {
            out.extend(e.update(chunk).unwrap());
        }
        out.extend(e.finish().unwrap());
        out
    }

    #[test]
    fn sealed_content_opens_only_with_its_key_and_context() {
        let key = SymmetricKey::generate();
        let sealed = key.seal(b"Biopsy results attached", "message:m1");
        assert_eq!(
            key.open(&sealed, "message:m1").unwrap(),
            b"Biopsy results attached"
        );
        assert_eq!(
            key.open(&sealed, "message:m2"),
            Err(EnvelopeError::Integrity)
        );
        assert_eq!(
            SymmetricKey::generate().open(&sealed, "message:m1"),
            Err(EnvelopeError::Integrity)
        );
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            key.open(&flipped, "message:m1"),
            Err(EnvelopeError::Integrity)
        );
        assert_eq!(
            key.open(&sealed[..10], "message:m1"),
            Err(EnvelopeError::Integrity)
        );
        // Two seals of the same text differ (fresh nonce).
        assert_ne!(sealed, key.seal(b"Biopsy results attached", "message:m1"));
    }

    fn decrypt(
        key: &SymmetricKey,
        b: &Binding,
        blob: &[u8],
        piece: usize,
    ) -> Result<Vec<u8>, EnvelopeError> {
        let mut d = BlobDecryptor::new(key, b)?;
        let mut out = Vec::new();
        for chunk in blob.chunks(piece.max(1)) {
            out.extend(d.update(chunk)?);
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    #[test]
    fn round_trips_at_every_segment_boundary() {
        let key = SymmetricKey::generate();
        let b = binding("doc-1", 1);
        for len in [
            0,
            1,
            SEGMENT - 1,
            SEGMENT,
            SEGMENT + 1,
            3 * SEGMENT,
            3 * SEGMENT + 17,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            for piece in [1000, SEGMENT, 7 * SEGMENT] {
                let blob = encrypt(&key, &b, &data, piece);
                assert_eq!(blob.len() as u64, blob_len(len as u64), "len {len}");
                assert_eq!(decrypt(&key, &b, &blob, 4096).unwrap(), data, "len {len}");
            }
        }
    }

    #[test]
    fn an_interrupted_encryption_resumes_from_its_committed_segments() {
        let key = SymmetricKey::generate();
        let b = binding("doc-1", 1);
        let data: Vec<u8> = (0..5 * SEGMENT + 333).map(|i| (i % 253) as u8).collect();
        for cut in [
            0,
            10,
            SEGMENT,
            SEGMENT + 1,
            3 * SEGMENT + 7,
            5 * SEGMENT + 300,
        ] {
            let mut first = BlobEncryptor::new(&key, &b).unwrap();
            let mut blob = first.update(&data[..cut]).unwrap();
            let header = first.header().to_vec();
            let committed = first.segments_written();
            // The connection drops: only whole segments survive.
            blob.truncate(HEADER + committed as usize * (SEGMENT + TAG));
            drop(first);
            let mut second = BlobEncryptor::resume(&key, &b, &header, committed).unwrap();
            blob.extend(
                second
                    .update(&data[committed as usize * SEGMENT..])
                    .unwrap(),
            );
            blob.extend(second.finish().unwrap());
            assert_eq!(decrypt(&key, &b, &blob, 5000).unwrap(), data, "cut {cut}");
        }
        assert_eq!(
            BlobEncryptor::resume(&key, &b, b"XXXX", 0).err(),
            Some(EnvelopeError::NotABlob)
        );
    }

    #[test]
    fn tampering_of_any_kind_is_detected() {
        let key = SymmetricKey::generate();
        let b = binding("doc-1", 1);
        let data = vec![7u8; 3 * SEGMENT + 100];
        let blob = encrypt(&key, &b, &data, SEGMENT);
        let seg = SEGMENT + TAG;
        let body = &blob[HEADER..];

        // Truncated at a segment boundary (the last-segment flag is missing).
        assert_eq!(
            decrypt(&key, &b, &blob[..HEADER + 2 * seg], 9999),
            Err(EnvelopeError::Integrity)
        );
        // Truncated inside a segment, and extended.
        assert_eq!(
            decrypt(&key, &b, &blob[..blob.len() - 1], 9999),
            Err(EnvelopeError::Integrity)
        );
        let mut longer = blob.clone();
        longer.extend_from_slice(&[0u8; 20]);
        assert_eq!(
            decrypt(&key, &b, &longer, 9999),
            Err(EnvelopeError::Integrity)
        );
        // Two segments swapped.
        let mut swapped = blob[..HEADER].to_vec();
        swapped.extend_from_slice(&body[seg..2 * seg]);
        swapped.extend_from_slice(&body[..seg]);
        swapped.extend_from_slice(&body[2 * seg..]);
        assert_eq!(
            decrypt(&key, &b, &swapped, 9999),
            Err(EnvelopeError::Integrity)
        );
        // One bit flipped.
        let mut flipped = blob.clone();
        flipped[HEADER + 5] ^= 1;
        assert_eq!(
            decrypt(&key, &b, &flipped, 9999),
            Err(EnvelopeError::Integrity)
        );
        // A segment from another blob under the same key (other nonce prefix).
        let other = encrypt(&key, &b, &data, SEGMENT);
        let mut mixed = blob[..HEADER + seg].to_vec();
        mixed.extend_from_slice(&other[HEADER + seg..]);
        assert_eq!(
            decrypt(&key, &b, &mixed, 9999),
            Err(EnvelopeError::Integrity)
        );
        // The whole blob presented as another document, or another version.
        assert_eq!(
            decrypt(&key, &binding("doc-2", 1), &blob, 9999),
            Err(EnvelopeError::Integrity)
        );
        assert_eq!(
            decrypt(&key, &binding("doc-1", 2), &blob, 9999),
            Err(EnvelopeError::Integrity)
        );
        // The wrong key, and something that is not a blob.
        assert_eq!(
            decrypt(&SymmetricKey::generate(), &b, &blob, 9999),
            Err(EnvelopeError::Integrity)
        );
        assert_eq!(
            decrypt(&key, &b, b"%PDF-1.7 not encrypted at all", 9999),
            Err(EnvelopeError::NotABlob)
        );
        assert_eq!(
            decrypt(&key, &b, b"SRB", 9999),
            Err(EnvelopeError::NotABlob)
        );
        // Content format 1 (pre-release) is not read as format 2.
        let mut format1 = blob.clone();
        format1[..4].copy_from_slice(b"SRB1");
        assert_eq!(
            decrypt(&key, &b, &format1, 9999),
            Err(EnvelopeError::NotABlob)
        );
    }

    #[test]
    fn keys_wrap_for_one_owner_and_rewrap_without_touching_content() {
        let master = SymmetricKey::generate();
        let patient = SymmetricKey::generate();
        let data_key = SymmetricKey::generate();
        let wrapped_patient = master.wrap(&patient, "patient:p1");
        let wrapped_data = patient.wrap(&data_key, "document:d1:1");
        let blob = encrypt(&data_key, &binding("d1", 1), b"result: normal", 4);

        assert!(
            master.unwrap(&wrapped_patient, "patient:p2").is_err(),
            "bound to its owner"
        );
        assert!(SymmetricKey::generate()
            .unwrap(&wrapped_patient, "patient:p1")
            .is_err());
        let mut tampered = wrapped_patient.clone();
        tampered[30] ^= 1;
        assert!(master.unwrap(&tampered, "patient:p1").is_err());

        // Rotate the master key: only the patient key's wrapping changes.
        let new_master = SymmetricKey::generate();
        let rewrapped =
            SymmetricKey::rewrap(&master, &new_master, &wrapped_patient, "patient:p1").unwrap();
        assert!(master.unwrap(&rewrapped, "patient:p1").is_err());
        let patient_again = new_master.unwrap(&rewrapped, "patient:p1").unwrap();
        let data_key_again = patient_again
            .unwrap(&wrapped_data, "document:d1:1")
            .unwrap();
        assert_eq!(
            decrypt(&data_key_again, &binding("d1", 1), &blob, 7).unwrap(),
            b"result: normal"
        );
        assert_eq!(format!("{data_key_again:?}"), "SymmetricKey(…)");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_content_in_any_pieces_round_trips(len in 0usize..(3 * SEGMENT), enc_piece in 1usize..(2 * SEGMENT), dec_piece in 1usize..(2 * SEGMENT), seed: u8) {
            let key = SymmetricKey::generate();
            let b = binding("doc", 3);
            let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
            let blob = encrypt(&key, &b, &data, enc_piece);
            prop_assert_eq!(blob.len() as u64, blob_len(len as u64));
            prop_assert_eq!(decrypt(&key, &b, &blob, dec_piece).unwrap(), data);
        }

        #[test]
        fn any_single_byte_change_is_detected(len in 1usize..(2 * SEGMENT + 10), at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let key = SymmetricKey::generate();
            let b = binding("doc", 1);
            let data = vec![0x5au8; len];
            let mut blob = encrypt(&key, &b, &data, SEGMENT);
            let i = at.index(blob.len());
            blob[i] ^= 1 << bit;
            prop_assert!(decrypt(&key, &b, &blob, 5000).is_err());
        }
    }
}
