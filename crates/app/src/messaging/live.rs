//! Live delivery: who is connected now, by mailbox, and a queue per connection.
//!
//! A connection (a staff inbox or the patient space open in a browser) subscribes to its
//! mailboxes; a sent message is pushed to every connection of every recipient mailbox. An event
//! names the thread and message only; the connection then reads what it may through the usual
//! decision. A connection whose queue is full misses events rather than slowing senders (its
//! next event carries fresh unread counts). The hub is per server process: several servers
//! behind a load balancer would need a shared bus (PostgreSQL LISTEN/NOTIFY), not built yet.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::mpsc;

/// What a connection is told.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LiveEvent {
    /// `message` (a new message), `recalled` or `expired`.
    pub kind: &'static str,
    pub thread: String,
    pub message: String,
    /// When it was sent (Unix seconds), to measure delivery.
    pub sent_at: i64,
}

/// How many events may wait for a slow connection.
const QUEUE: usize = 4096;

type Connections = HashMap<String, Vec<(u64, mpsc::Sender<LiveEvent>)>>;

/// The connections of this server, by mailbox address.
#[derive(Debug, Default, Clone)]
pub struct LiveHub {
    inner: Arc<HubInner>,
}

#[derive(Debug, Default)]
struct HubInner {
    connections: Mutex<Connections>,
    next: AtomicU64,
}

/// One connection's events; dropping it disconnects.
#[derive(Debug)]
pub struct LiveSubscription {
    pub events: mpsc::Receiver<LiveEvent>,
    pub mailboxes: Vec<String>,
    id: u64,
    hub: LiveHub,
}

impl Drop for LiveSubscription {
    fn drop(&mut self) {
        let mut connections = self.hub.lock();
        for m in &self.mailboxes {
            if let Some(list) = connections.get_mut(m) {
                list.retain(|(id, _)| *id != self.id);
                if list.is_empty() {
                    connections.remove(m);
                }
            }
        }
    }
}

impl LiveHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Connections> {
        // A panic while holding the lock leaves plain data behind; carry on with it.
        self.inner
            .connections
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Connect to `mailboxes`.
    pub fn subscribe(&self, mailboxes: Vec<String>) -> LiveSubscription {
        let (tx, rx) = mpsc::channel(QUEUE);
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let mut connections = self.lock();
        for m in &mailboxes {
            connections
                .entry(m.clone())
                .or_default()
                .push((id, tx.clone()));
        }
        drop(connections);
        LiveSubscription {
            events: rx,
            mailboxes,
            id,
            hub: self.clone(),
        }
    }

    /// Whether any connection listens to `mailbox` now.
    pub fn is_connected(&self, mailbox: &str) -> bool {
        self.lock().contains_key(mailbox)
    }

    /// Push `event` to every connection of `mailboxes` (each connection once).
    pub fn publish(&self, mailboxes: &[String], event: &LiveEvent) {
        let connections = self.lock();
        let mut told = Vec::new();
        for m in mailboxes {
            for (id, tx) in connections.get(m).into_iter().flatten() {
                if !told.contains(id) {
                    told.push(*id);
                    let _ = tx.try_send(event.clone());
                }
            }
        }
    }

    /// How many connections are open (for health and benchmarks).
    pub fn connections(&self) -> usize {
        let mut ids: Vec<u64> = self.lock().values().flatten().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: &str) -> LiveEvent {
        LiveEvent {
            kind: "message",
            thread: "t".into(),
            message: n.into(),
            sent_at: 0,
        }
    }

    #[tokio::test]
    async fn events_reach_each_connection_of_a_recipient_once_and_stop_at_disconnect() {
        let hub = LiveHub::default();
        let mut a = hub.subscribe(vec!["user:a".into(), "department:d".into()]);
        let mut b = hub.subscribe(vec!["department:d".into()]);
        assert!(hub.is_connected("department:d") && !hub.is_connected("user:b"));
        hub.publish(&["user:a".into(), "department:d".into()], &event("m1"));
        assert_eq!(a.events.recv().await.unwrap().message, "m1");
        assert_eq!(b.events.recv().await.unwrap().message, "m1");
        assert!(
            a.events.try_recv().is_err(),
            "told once though two mailboxes matched"
        );
        assert_eq!(hub.connections(), 2);
        drop(b);
        assert_eq!(hub.connections(), 1);
        drop(a);
        assert!(!hub.is_connected("department:d") && !hub.is_connected("user:a"));
    }
}
