//! Group commit for the audit chain. Every append must be durable before the use case goes on
//! (the access is recorded before the data leaves); callers hand their events to one writer
//! task ([`GroupCommit`]), which appends everything waiting in one transaction. One caller's
//! events stay contiguous and in order.

use sealroom_crypto::audit_chain;
use sealroom_store::{AuditRow, NewAuditEvent, Store};

use crate::group_commit::GroupCommit;

/// Callers whose events one transaction takes at most.
const MAX_BATCH: usize = 512;

/// The handle use cases append through.
#[derive(Clone)]
pub(crate) struct AuditWriter {
    /// None without a runtime: appends are then direct.
    writer: Option<GroupCommit<Vec<NewAuditEvent>, String>>,
    store: Store,
}

impl AuditWriter {
    /// Start the writer task on the current tokio runtime (without one, appends are direct).
    pub(crate) fn start(store: Store) -> AuditWriter {
        let writer_store = store.clone();
        let writer = GroupCommit::start(MAX_BATCH, move |batch: Vec<Vec<NewAuditEvent>>| {
            let store = writer_store.clone();
            async move {
                let callers = batch.len();
                let events: Vec<NewAuditEvent> = batch.into_iter().flatten().collect();
                // The chain is one sequence: the batch is appended, or not, as a whole.
                let result = store
                    .append_audit_batch(&events, link)
                    .await
                    .map_err(|e| e.to_string());
                vec![result; callers]
            }
        });
        AuditWriter { writer, store }
    }

    /// Append events (in order, contiguously) and return once they are committed.
    pub(crate) async fn append(&self, events: Vec<NewAuditEvent>) -> Result<(), String> {
        if events.is_empty() {
            return Ok(());
        }
        if let Some(writer) = &self.writer {
            return writer
                .submit(events)
                .await
                .unwrap_or_else(|| Err("the audit writer stopped".into()));
        }
        self.store
            .append_audit_batch(&events, link)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The chain hash of a row given its predecessor's hash.
pub fn link(prev: &str, row: &AuditRow) -> String {
    let fields = row.hashed_fields();
    let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
    audit_chain::link(prev, &refs)
}
