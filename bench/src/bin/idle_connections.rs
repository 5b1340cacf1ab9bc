//! Idle live connections: opens N Server-Sent Events streams (`/api/v1/messages/events`, one
//! HTTPS connection each, HTTP/1.1) to a running server, waits until each has its first event,
//! holds them, and reads the server's resident memory from `/proc/<pid>/status` before and while
//! they are held. Target: 10 000 connections held with less than 512 MiB server memory.
//!
//! Usage: `idle_connections --url URL --cookie COOKIE --cert CERT.pem --pid SERVER_PID [--count N]`
//! (bench/run.sh starts `serve_fixture` and passes its figures).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

fn arg(name: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| panic!("missing {name}"))
}

/// (VmRSS, VmHWM) of a process, in MiB.
fn memory(pid: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (url, cookie, cert, pid) = (arg("--url"), arg("--cookie"), arg("--cert"), arg("--pid"));
    let count: usize = std::env::args()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "--count")
        .map_or(10_000, |w| w[1].parse().unwrap());
    let pem = std::fs::read(cert).unwrap();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let (before, _) = memory(&pid);
    let events = format!("{url}/api/v1/messages/events");
    let started = Instant::now();
    // A few clients, each with its own connection per request (HTTP/1.1, no pooling of
    // streaming responses): every stream is its own TCP and TLS connection.
    let mut held = Vec::with_capacity(count);
    let batch = 200;
    for chunk in (0..count).collect::<Vec<_>>().chunks(batch) {
        let mut opening = Vec::new();
        for _ in chunk {
            let client = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
                .http1_only()
                .resolve("localhost", loopback)
                .build()
                .unwrap();
            let (events, cookie) = (events.clone(), cookie.clone());
            opening.push(tokio::spawn(async move {
                let mut r = client
                    .get(events)
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                // The first event (the unread count) proves the stream is live.
                let first = r.chunk().await.unwrap().unwrap();
                assert!(String::from_utf8_lossy(&first).contains("event: unread"));
                (client, r)
            }));
        }
        for o in opening {
            held.push(o.await.unwrap());
        }
    }
    let opened_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss, hwm) = memory(&pid);
    println!(
        "{} live event streams opened in {:.1} s and held; server memory before {:.0} MiB, while held {:.0} MiB (peak {:.0} MiB); {:.1} KiB per connection (target < 512 MiB with 10 000: {})",
        held.len(),
        opened_in.as_secs_f64(),
        before,
        rss,
        hwm,
        (rss - before) * 1024.0 / held.len() as f64,
        if held.len() >= 10_000 && hwm < 512.0 { "MET" } else { "NOT MET" }
    );
    drop(held);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (after, _) = memory(&pid);
    println!("after closing them: {after:.0} MiB");
}
