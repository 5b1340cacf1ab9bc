//! Writing and verifying the hash-chained audit log.

use sealroom_crypto::audit_chain;
use sealroom_domain::AuditAction;
use sealroom_store::NewAuditEvent;
use serde_json::Value;

use crate::{App, AppError, Client};

/// The outcome of `sealroom audit verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Records checked.
    pub checked: i64,
    /// The first record that does not fit the chain, and why.
    pub first_broken: Option<(i64, String)>,
}

impl App {
    /// Append an audit event. `actor` and `subject` are identifiers (`user:<id>`,
    /// `service:<name>`, `cli`, `session:<id>`); `details` must hold no secret or personal data.
    pub async fn audit(
        &self,
        actor: &str,
        action: AuditAction,
        subject: &str,
        outcome: &str,
        client: &Client,
        details: Value,
    ) -> Result<(), AppError> {
        let event = NewAuditEvent {
            at: self.now().as_seconds(),
            actor: actor.to_owned(),
            action: action.as_str().to_owned(),
            subject: subject.to_owned(),
            outcome: outcome.to_owned(),
            client_address: client.address.clone(),
            details: details.to_string(),
        };
        self.audit_writer()
            .append(vec![event])
            .await
            .map_err(AppError::Internal)
    }

    /// Append several events in one transaction (a list of patients read at once).
    pub(crate) async fn audit_batch(&self, events: &[NewAuditEvent]) -> Result<(), AppError> {
        if events.is_empty() {
            return Ok(());
        }
        self.audit_writer()
            .append(events.to_vec())
            .await
            .map_err(AppError::Internal)
    }

    /// Check every record against its predecessor and its own hash, and the chain head
    /// against the last record; name the first record that does not fit.
    pub async fn verify_audit_chain(&self) -> Result<ChainReport, AppError> {
        let mut prev_hash = audit_chain::GENESIS.to_owned();
        let mut expected_seq = 1;
        let mut checked = 0;
        loop {
            let page = self.store().audit_page(expected_seq - 1, 1000).await?;
            if page.is_empty() {
                break;
            }
            for row in page {
                let problem = if row.seq != expected_seq {
                    Some(format!(
                        "record {expected_seq} is missing (found {} next)",
                        row.seq
                    ))
                } else if row.prev_hash != prev_hash {
                    Some("its link to the previous record does not match".to_owned())
                } else if link(&row.prev_hash, &row) != row.hash {
                    Some("its content does not match its hash (the record was altered)".to_owned())
                } else {
                    None
                };
                if let Some(p) = problem {
                    return Ok(ChainReport {
                        checked,
                        first_broken: Some((expected_seq, p)),
                    });
                }
                checked += 1;
                prev_hash = row.hash;
                expected_seq += 1;
            }
        }
        let (head_seq, head_hash) = self.store().audit_head().await?;
        if head_seq != checked || head_hash != prev_hash {
            return Ok(ChainReport {
                checked,
                first_broken: Some((checked + 1, format!("the chain head records {head_seq} events but only {checked} are present (records were removed from the end)"))),
            });
        }
        Ok(ChainReport {
            checked,
            first_broken: None,
        })
    }
}

/// The chain hash of a record given its predecessor's hash.
pub use crate::audit_writer::link;
