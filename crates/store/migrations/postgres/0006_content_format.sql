-- Document content format 2: AES-256-GCM STREAM segments, hashed with BLAKE3 (format 1,
-- XChaCha20-Poly1305 hashed with SHA-256, was written only by pre-release builds). The hash
-- column is named for what it holds whatever the format; the format says how to read it.
ALTER TABLE document_versions RENAME COLUMN ciphertext_sha256 TO ciphertext_hash;
ALTER TABLE document_versions ADD COLUMN content_format BIGINT NOT NULL DEFAULT 1;
