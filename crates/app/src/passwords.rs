//! argon2id hashing on a bounded pool of blocking threads, so sign-in bursts never stall the
//! async executor and at most `max_concurrent` hashes compete for the CPU.

use std::sync::Arc;

use sealroom_crypto::password_hash::{HashCost, PasswordHasherArgon2};
use tokio::sync::Semaphore;

use crate::AppError;

pub struct PasswordWorkers {
    hasher: PasswordHasherArgon2,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the account does not exist, so an
    /// unknown e-mail costs the same time as a wrong password.
    decoy: String,
}

impl PasswordWorkers {
    pub fn new(cost: HashCost, max_concurrent: usize) -> Result<Self, AppError> {
        let hasher =
            PasswordHasherArgon2::new(cost).map_err(|e| AppError::Config(e.to_string()))?;
        let decoy = hasher
            .hash(&sealroom_crypto::token::new_id())
            .map_err(AppError::internal)?;
        Ok(PasswordWorkers {
            hasher,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            decoy,
        })
    }

    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)
    }

    /// Verify `password` against `phc`, or against the decoy when there is no stored hash.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, AppError> {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        let hasher = self.hasher.clone();
        let (phc, real) = match phc {
            Some(p) => (p, true),
            None => (self.decoy.clone(), false),
        };
        let ok = tokio::task::spawn_blocking(move || hasher.verify(&password, &phc))
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)?;
        Ok(ok && real)
    }
}
