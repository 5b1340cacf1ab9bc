//! The hash that chains audit records: each record's hash covers the previous record's hash
//! and every field of the record, length-prefixed so no two field lists collide.

use sha2::{Digest, Sha256};

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Hash of a record given its predecessor's hash (hex) and its fields in a fixed order.
pub fn link(prev_hash_hex: &str, fields: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"sealroom-audit-v1");
    for f in std::iter::once(prev_hash_hex).chain(fields.iter().copied()) {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_and_the_predecessor_matter() {
        let a = link(GENESIS, &["1", "sign_in.failed", "u1"]);
        assert_ne!(a, link(GENESIS, &["1", "sign_in.failed", "u2"]));
        assert_ne!(a, link(&a, &["1", "sign_in.failed", "u1"]));
        // Length prefixes: moving a boundary changes the hash.
        assert_ne!(link(GENESIS, &["ab", "c"]), link(GENESIS, &["a", "bc"]));
    }
}
