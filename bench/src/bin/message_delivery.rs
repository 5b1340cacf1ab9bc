//! Send → delivered: one colleague, signed in as in the browser (session cookie and CSRF
//! header), sends secure messages through the HTTPS API at a fixed rate
//! (open loop: each message leaves at its scheduled time whatever the server's pace) into 20
//! threads with another colleague, whose inbox is connected to the live event stream. Latency
//! is from the moment a message leaves the client to the moment its `message` event reaches the
//! recipient's stream; a message whose event never arrives is lost. Target: p99 < 50 ms at
//! 1 000 messages per second for 60 seconds, nothing lost.
//!
//! Compared in the same run with what a user would otherwise use, e-mail: the same number of
//! messages at the same rate submitted over SMTP (one connection each, as mail clients do) to a
//! local SMTP server, latency from the start of the connection to its "250 OK" (accepted for
//! delivery; a mailbox would then still have to fetch it).
//!
//! Usage: `message_delivery [--rate N] [--seconds S] [--smtp HOST:PORT]`; the database is the
//! fixture's (SQLite) unless `SEALROOM_DATABASE__URL` names another.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sealroom_app::accounts::Actor;
use sealroom_app::messaging::{NewMessageBody, NewThread};
use sealroom_app::policy::Principal;
use sealroom_bench::{client_info, stats, Fixture};
use sealroom_domain::Role;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

const THREADS: usize = 20;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

async fn run() {
    let rate: u64 = arg("--rate").map_or(1000, |s| s.parse().unwrap());
    let seconds: u64 = arg("--seconds").map_or(60, |s| s.parse().unwrap());
    let total = rate * seconds;
    let f = Fixture::start().await;
    let app = &f.running.app;
    let backend = if f.config.database_url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let (recipient_session, _) = sealroom_bench::enrol(app, "recipient@example.org").await;
    let sender_id = app
        .store()
        .user_by_email(&f.email)
        .await
        .unwrap()
        .unwrap()
        .id;
    let recipient_id = app
        .store()
        .user_by_email("recipient@example.org")
        .await
        .unwrap()
        .unwrap()
        .id;
    let sender = Actor {
        principal: Principal::Staff {
            user_id: sender_id,
            role: Role::Clinician,
            scopes: None,
        },
        stepped_up: false,
        client: client_info(),
    };
    let mut threads = Vec::new();
    for i in 0..THREADS {
        let t = app
            .start_thread(
                &sender,
                NewThread {
                    subject: format!("Ward round {i}"),
                    patient_id: None,
                    category: None,
                    participants: vec![format!("user:{recipient_id}")],
                    outside: Vec::new(),
                    message: NewMessageBody {
                        body: "Start".into(),
                        ..NewMessageBody::default()
                    },
                },
            )
            .await
            .unwrap();
        threads.push(t.thread_id);
    }
    let sender_csrf = app
        .check_session(&f.session_token, &client_info())
        .await
        .unwrap()
        .csrf_token;
    let sender_cookie = f.cookie();
    let recipient_cookie = format!("__Host-sealroom={recipient_session}");

    // The recipient's live stream: arrival time per message id.
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut stream = f
        .client()
        .get(format!("{}/api/v1/messages/events", f.base))
        .header("cookie", &recipient_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let reader = {
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = stream.chunk().await {
                let now = Instant::now();
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    if !block.contains("event: message") {
                        continue;
                    }
                    if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                        let v: serde_json::Value = serde_json::from_str(data).unwrap();
                        let id = v["message"].as_str().unwrap().to_owned();
                        arrivals.lock().await.insert(id, now);
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Open loop: message i leaves at start + i / rate.
    let client = f.client();
    let url = |t: &str| format!("{}/api/v1/threads/{t}/messages", f.base);
    let before = sealroom_bench::spent();
    let start = Instant::now();
    let mut sends = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_nanos(i * 1_000_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        let (client, url, cookie, csrf) = (
            client.clone(),
            url(&threads[i as usize % THREADS]),
            sender_cookie.clone(),
            sender_csrf.clone(),
        );
        sends.push(tokio::spawn(async move {
            let left = Instant::now();
            let r = client
                .post(url)
                .header("cookie", cookie)
                .header("x-csrf-token", csrf)
                .json(&serde_json::json!({"body": format!("Bed {i} is free")}))
                .send()
                .await;
            match r {
                Ok(r) if r.status() == 201 => {
                    let v: serde_json::Value = r.json().await.unwrap();
                    Some((
                        v["message_id"].as_str().unwrap().to_owned(),
                        left,
                        left.elapsed(),
                    ))
                }
                _ => None,
            }
        }));
    }
    let offered = start.elapsed();
    let mut sent = Vec::new();
    let mut failed = 0;
    for s in sends {
        match s.await.unwrap() {
            Some(x) => sent.push(x),
            None => failed += 1,
        }
    }
    let after = sealroom_bench::spent();
    tokio::time::sleep(Duration::from_secs(2)).await;
    reader.abort();
    let arrivals = arrivals.lock().await;
    let mut latencies = Vec::new();
    let mut answers = Vec::new();
    let mut lost = 0;
    for (id, left, answered) in &sent {
        answers.push(*answered);
        match arrivals.get(id) {
            Some(at) => latencies.push(at.saturating_duration_since(*left)),
            None => lost += 1,
        }
    }
    let d = stats(latencies.clone());
    let a = stats(answers);
    println!(
        "{backend}: {total} messages offered at {rate}/s over {:.1} s; sent {}, refused or failed {failed}, lost {lost}",
        offered.as_secs_f64(),
        sent.len()
    );
    println!(
        "  send → delivered to the connected recipient: median {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 < 50 ms, nothing lost: {})",
        ms(d.median),
        ms(d.p99),
        ms(*latencies.iter().max().unwrap()),
        if ms(d.p99) < 50.0 && lost == 0 && failed == 0 { "MET" } else { "NOT MET" }
    );
    println!(
        "  the sender's answer (201): median {:.1} ms, p99 {:.1} ms",
        ms(a.median),
        ms(a.p99)
    );
    // Client and server share the process and its 2 cores: this is what one message costs both.
    println!(
        "  CPU per message (client and server together): {:.2} ms, context switches per message: {:.0}",
        ms(after.cpu - before.cpu) / total as f64,
        (after.switches - before.switches) as f64 / total as f64
    );
    if let Some(smtp) = arg("--smtp") {
        let e = smtp_baseline(&smtp, rate, total).await;
        println!(
            "  e-mail, SMTP submission to a local server at the same rate: median {:.1} ms, p99 {:.1} ms ({} of {total} accepted); ratio Sealroom/e-mail: median {:.2}, p99 {:.2}",
            ms(e.1.median),
            ms(e.1.p99),
            e.0,
            ms(d.median) / ms(e.1.median),
            ms(d.p99) / ms(e.1.p99)
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One SMTP transaction per message, as a mail client submits it; latency to the "250" after
/// the message data.
async fn smtp_baseline(addr: &str, rate: u64, total: u64) -> (usize, sealroom_bench::Stats) {
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_nanos(i * 1_000_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        let addr = addr.to_owned();
        tasks.push(tokio::spawn(async move {
            smtp_send(&addr, i, Instant::now()).await.ok()
        }));
    }
    let mut v = Vec::new();
    for t in tasks {
        if let Some(d) = t.await.unwrap() {
            v.push(d);
        }
    }
    (v.len(), stats(v))
}

async fn smtp_send(addr: &str, i: u64, left: Instant) -> std::io::Result<Duration> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    async fn reply(
        r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
        line: &mut String,
    ) -> std::io::Result<()> {
        loop {
            line.clear();
            r.read_line(line).await?;
            if line.len() < 4 {
                return Err(std::io::Error::other("short SMTP reply"));
            }
            if line.as_bytes()[3] == b' ' {
                return if line.starts_with('2') || line.starts_with('3') {
                    Ok(())
                } else {
                    Err(std::io::Error::other(line.clone()))
                };
            }
        }
    }
    reply(&mut r, &mut line).await?;
    for cmd in [
        "EHLO bench.example.org\r\n".to_owned(),
        "MAIL FROM:<sender@example.org>\r\n".to_owned(),
        "RCPT TO:<recipient@example.org>\r\n".to_owned(),
        "DATA\r\n".to_owned(),
        format!("Subject: Ward round\r\n\r\nBed {i} is free\r\n.\r\n"),
    ] {
        w.write_all(cmd.as_bytes()).await?;
        reply(&mut r, &mut line).await?;
    }
    let accepted = left.elapsed();
    w.write_all(b"QUIT\r\n").await?;
    Ok(accepted)
}
