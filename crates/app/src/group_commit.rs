//! Group commit. Some writes must be durable before the use case goes on (an audit event before
//! the data leaves, a message before the sender is told it was sent), but one transaction per
//! write caps the rate at the disk's fsync rate and, on SQLite, has every writer wait for the
//! one write lock. Callers therefore hand their writes to one writer task, which takes
//! everything waiting (up to a limit), commits it together, and then answers each caller with
//! its own result. Under load, many writes share one transaction; alone, a write is committed
//! at once.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use tokio::sync::{mpsc, oneshot};

/// Writes waiting beyond this make callers wait before they can hand theirs over.
const QUEUE: usize = 8192;

type Reply<E> = oneshot::Sender<Result<(), E>>;

/// The handle callers submit through; cheap to clone.
pub(crate) struct GroupCommit<T, E> {
    queue: mpsc::Sender<(T, Reply<E>)>,
}

impl<T, E> Clone for GroupCommit<T, E> {
    fn clone(&self) -> Self {
        GroupCommit {
            queue: self.queue.clone(),
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> GroupCommit<T, E> {
    /// Start the writer task on the current tokio runtime; None without one (callers then
    /// write directly). `commit` gets up to `max_batch` writes, in the order they were handed
    /// over, and returns one result per write, in the same order.
    pub(crate) fn start<F, Fut>(max_batch: usize, commit: F) -> Option<GroupCommit<T, E>>
    where
        F: Fn(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<Result<(), E>>> + Send,
    {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (tx, mut rx) = mpsc::channel::<(T, Reply<E>)>(QUEUE);
        runtime.spawn(async move {
            let mut waiting = Vec::with_capacity(max_batch);
            // Waits for the first write, then takes whatever else is already queued.
            while rx.recv_many(&mut waiting, max_batch).await > 0 {
                let (batch, replies): (Vec<T>, Vec<Reply<E>>) = waiting.drain(..).unzip();
                // A panic in one batch must not stop the writer for everyone after it: its
                // callers get no answer (an error to them), and the next batch goes on.
                let results = match AssertUnwindSafe(commit(batch)).catch_unwind().await {
                    Ok(results) => results,
                    Err(_) => {
                        tracing::error!("a group commit panicked; its writes were not confirmed");
                        continue;
                    }
                };
                if results.len() != replies.len() {
                    tracing::error!(
                        results = results.len(),
                        writes = replies.len(),
                        "a group commit answered for a different number of writes; none confirmed"
                    );
                    continue;
                }
                for (reply, result) in replies.into_iter().zip(results) {
                    // A caller that gave up waiting no longer needs its answer.
                    let _ = reply.send(result);
                }
            }
        });
        Some(GroupCommit { queue: tx })
    }

    /// Hand a write over and wait until it is committed (or failed). None if no answer came:
    /// the writer task has stopped (the runtime is shutting down) or its batch failed
    /// unexpectedly (a panic), so the write may or may not be stored.
    pub(crate) async fn submit(&self, write: T) -> Option<Result<(), E>> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((write, reply)).await.ok()?;
        answer.await.ok()
    }
}
