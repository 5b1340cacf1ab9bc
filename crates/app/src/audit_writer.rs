//! Group commit for the audit chain. Every append must be durable before the use case goes on
//! (the access is recorded before the data leaves), but one transaction per event caps the
//! rate at the disk's fsync rate. Callers therefore hand their events to one writer task,
//! which takes everything waiting (up to [`MAX_BATCH`]), appends it in one transaction, and
//! then answers every caller. Under load, many events share one fsync; alone, an event is
//! written at once.

use sealroom_crypto::audit_chain;
use sealroom_store::{AuditRow, NewAuditEvent, Store};
use tokio::sync::{mpsc, oneshot};

const MAX_BATCH: usize = 512;
const QUEUE: usize = 8192;

type Reply = oneshot::Sender<Result<(), String>>;

/// The handle use cases append through.
#[derive(Clone)]
pub(crate) struct AuditWriter {
    queue: Option<mpsc::Sender<(Vec<NewAuditEvent>, Reply)>>,
    store: Store,
}

impl AuditWriter {
    /// Start the writer task on the current tokio runtime (without one, appends are direct).
    pub(crate) fn start(store: Store) -> AuditWriter {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return AuditWriter { queue: None, store };
        };
        let (tx, mut rx) = mpsc::channel::<(Vec<NewAuditEvent>, Reply)>(QUEUE);
        let writer_store = store.clone();
        runtime.spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut events = first.0;
                let mut replies = vec![first.1];
                while events.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok((more, reply)) => {
                            events.extend(more);
                            replies.push(reply);
                        }
                        Err(_) => break,
                    }
                }
                let result = writer_store
                    .append_audit_batch(&events, link)
                    .await
                    .map_err(|e| e.to_string());
                for reply in replies {
                    let _ = reply.send(result.clone());
                }
            }
        });
        AuditWriter {
            queue: Some(tx),
            store,
        }
    }

    /// Append events (in order, contiguously) and return once they are committed.
    pub(crate) async fn append(&self, events: Vec<NewAuditEvent>) -> Result<(), String> {
        if events.is_empty() {
            return Ok(());
        }
        if let Some(queue) = &self.queue {
            let (reply, answer) = oneshot::channel();
            if queue.send((events, reply)).await.is_ok() {
                return answer
                    .await
                    .unwrap_or_else(|_| Err("the audit writer stopped".into()));
            }
            return Err("the audit writer stopped".into());
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
