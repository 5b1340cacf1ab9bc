//! Messages are stored by group commit: every send hands its message to one writer task, which
//! stores everything waiting in one transaction. On SQLite this replaces a queue of
//! transactions that each wait (and sleep) for the one write lock, and one fsync per message,
//! with one transaction and one fsync for all that arrived meanwhile.

use sealroom_store::{NewMessage, Store, StoreError};

use crate::group_commit::GroupCommit;

/// Messages one transaction takes at most.
const MAX_BATCH: usize = 256;

/// Where sends store their messages.
#[derive(Clone)]
pub(crate) struct MessageWriter {
    /// None without a runtime: messages are then stored directly.
    writer: Option<GroupCommit<NewMessage, StoreError>>,
    store: Store,
}

impl MessageWriter {
    pub(crate) fn start(store: Store) -> MessageWriter {
        let writer_store = store.clone();
        let writer = GroupCommit::start(MAX_BATCH, move |batch: Vec<NewMessage>| {
            let store = writer_store.clone();
            async move { store_batch(&store, batch).await }
        });
        MessageWriter { writer, store }
    }

    /// Store a message with everything that comes with it; returns once it is committed.
    pub(crate) async fn insert(&self, message: NewMessage) -> Result<(), StoreError> {
        match &self.writer {
            Some(writer) => writer
                .submit(message)
                .await
                .unwrap_or(Err(StoreError::WriterStopped("message writer"))),
            None => {
                self.store
                    .insert_messages(std::slice::from_ref(&message))
                    .await
            }
        }
    }
}

/// One transaction for the batch. If one of its messages conflicts (an attachment already sent
/// with another), the batch was rolled back whole, and each message is stored again on its own
/// so that the conflict is that message's alone. Any other failure (the database unreachable,
/// a statement refused) is every message's: retrying one by one would only wait longer, and
/// after a lost answer to COMMIT could report stored messages as failed.
async fn store_batch(store: &Store, batch: Vec<NewMessage>) -> Vec<Result<(), StoreError>> {
    let err = match store.insert_messages(&batch).await {
        Ok(()) => return batch.iter().map(|_| Ok(())).collect(),
        Err(e) => e,
    };
    if batch.len() == 1 {
        return vec![Err(err)];
    }
    if !matches!(err, StoreError::Conflict(_)) {
        tracing::error!(error = %err, messages = batch.len(), "a batch of messages could not be stored");
        let reason = err.to_string();
        return batch
            .iter()
            .map(|_| Err(StoreError::BatchFailed(reason.clone())))
            .collect();
    }
    let mut results = Vec::with_capacity(batch.len());
    for message in &batch {
        results.push(store.insert_messages(std::slice::from_ref(message)).await);
    }
    results
}
