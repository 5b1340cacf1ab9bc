//! argon2id password hashing (RFC 9106) with configurable cost.

use argon2::password_hash::SaltString;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use rand::rngs::OsRng;

/// argon2id cost. The defaults are OWASP's minimum recommendation: 19 MiB, 2 passes, 1 lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        HashCost {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    #[error("argon2 parameters are invalid: {0}")]
    Params(String),
    #[error("the stored password hash cannot be read")]
    Corrupt,
}

/// Hashes and verifies passwords with one set of parameters.
#[derive(Clone)]
pub struct PasswordHasherArgon2 {
    params: Params,
}

impl PasswordHasherArgon2 {
    pub fn new(cost: HashCost) -> Result<Self, HashError> {
        if cost.memory_kib < 19 * 1024 || cost.iterations < 2 {
            return Err(HashError::Params(
                "memory must be at least 19456 KiB and iterations at least 2 (OWASP minimum)"
                    .into(),
            ));
        }
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| HashError::Params(e.to_string()))?;
        Ok(Self { params })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hash a (normalised) password into a PHC string. CPU- and memory-heavy: never call it on
    /// an async executor thread.
    pub fn hash(&self, password: &str) -> Result<String, HashError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError::Params(e.to_string()))
    }

    /// Verify a password against a stored PHC string, using the parameters stored in it.
    pub fn verify(&self, password: &str, phc: &str) -> Result<bool, HashError> {
        let parsed = PasswordHash::new(phc).map_err(|_| HashError::Corrupt)?;
        Ok(self
            .argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_with_argon2id_and_verifies() {
        let h = PasswordHasherArgon2::new(HashCost::default()).unwrap();
        let phc = h.hash("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h.verify("correct horse battery staple", &phc).unwrap());
        assert!(!h.verify("correct horse battery stapler", &phc).unwrap());
        assert!(h.verify("x", "not a hash").is_err());
    }

    #[test]
    fn refuses_weak_parameters() {
        assert!(PasswordHasherArgon2::new(HashCost {
            memory_kib: 4096,
            iterations: 2,
            parallelism: 1
        })
        .is_err());
    }
}
