//! Sign-in load: while 50 password sign-ins hash concurrently, how slow do other requests get?
//! Also: do unknown user, wrong password and locked account answer in similar time?
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use sealroom_bench::{stats, Fixture, PASSWORD};

async fn probe_until(
    client: reqwest::Client,
    url: String,
    cookie: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<Duration> {
    let mut v = Vec::new();
    while !*stop.borrow() {
        let t = Instant::now();
        let r = client
            .get(&url)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        r.bytes().await.unwrap();
        v.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    v
}

fn main() {
    // 50 different people from 50 different addresses: the fixture declares loopback a trusted
    // proxy and each sign-in carries its own X-Forwarded-For.
    std::env::set_var("SEALROOM_PROXY__TRUSTED_ADDRESSES", "[\"127.0.0.1\"]");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

async fn run() {
    let f = Fixture::start().await;
    for i in 0..50 {
        sealroom_bench::enrol(&f.running.app, &format!("person{i}@example.org")).await;
    }
    let client = f.client();
    let me = format!("{}/api/v1/me", f.base);
    println!(
        "max concurrent argon2 hashes: {} (configured), cores: {}",
        f.config.max_concurrent_hashes,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // Baseline: the probe alone for 2 seconds.
    let (tx, rx) = tokio::sync::watch::channel(false);
    let probe = tokio::spawn(probe_until(client.clone(), me.clone(), f.cookie(), rx));
    tokio::time::sleep(Duration::from_secs(2)).await;
    tx.send(true).unwrap();
    let idle = stats(probe.await.unwrap());

    // 50 concurrent sign-ins (correct password: each runs one argon2 verification).
    let (tx, rx) = tokio::sync::watch::channel(false);
    let probe = tokio::spawn(probe_until(client.clone(), me.clone(), f.cookie(), rx));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let signins: Vec<_> = (0..50)
        .map(|i| {
            let (client, url, email) = (
                f.client(),
                format!("{}/signin", f.base),
                format!("person{i}@example.org"),
            );
            tokio::spawn(async move {
                let t = Instant::now();
                let r = client
                    .post(url)
                    .header("x-forwarded-for", format!("198.51.100.{}", i + 1))
                    .form(&[("email", email.as_str()), ("password", PASSWORD)])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 303, "sign-in refused");
                t.elapsed()
            })
        })
        .collect();
    let mut signin_times = Vec::new();
    for s in signins {
        signin_times.push(s.await.unwrap());
    }
    let burst = started.elapsed();
    tx.send(true).unwrap();
    let loaded = stats(probe.await.unwrap());
    let signin = stats(signin_times);
    println!("other requests (GET /api/v1/me), idle:              {idle}");
    println!("other requests during 50 concurrent sign-ins:       {loaded}");
    println!(
        "the 50 sign-ins (each waits for a hashing slot):    {signin}; burst took {burst:.2?}"
    );
    println!(
        "target: p99 of other requests < 50 ms under load -> {}",
        if loaded.p99 < Duration::from_millis(50) {
            "MET"
        } else {
            "NOT MET"
        }
    );

    // Same answer, similar time: 30 attempts each, alternating, from this address.
    let c = f.client();
    let url = format!("{}/signin", f.base);
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for i in 0..30 {
        for (list, email, pw) in [
            (
                &mut unknown,
                format!("nobody{i}@example.org"),
                "a wrong password 1",
            ),
            (&mut wrong, f.email.clone(), "a wrong password 2"),
        ] {
            let t = Instant::now();
            let r = c
                .post(&url)
                .form(&[("email", email.as_str()), ("password", pw)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401);
            r.bytes().await.unwrap();
            list.push(t.elapsed());
        }
    }
    let (unknown, wrong) = (stats(unknown), stats(wrong));
    println!("failed sign-in, unknown user:   {unknown}");
    println!("failed sign-in, wrong password: {wrong}");
    println!(
        "  ratio of medians wrong/unknown: {:.2}",
        wrong.median.as_secs_f64() / unknown.median.as_secs_f64()
    );
}
