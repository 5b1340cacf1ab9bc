//! Session check cost per authenticated request, in process.
//!
//! Compares, in the same run: Sealroom's `check_session` (cached lookup + limits), the same
//! lookup done naively against SQLite on every request (what a straightforward implementation
//! does), and the whole router answering `/api/v1/me` with a cookie versus `/healthz`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use axum::body::Body;
use sealroom_bench::{client_info, stats, Fixture};
use tower::ServiceExt;

const N: usize = 20_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let f = Fixture::start().await;
    let app = f.running.app.clone();
    let c = client_info();
    for _ in 0..1000 {
        app.check_session(&f.session_token, &c).await.unwrap();
    }
    let mut ours = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        let s = app.check_session(&f.session_token, &c).await.unwrap();
        ours.push(t.elapsed());
        std::hint::black_box(s);
    }
    let digest = sealroom_crypto::token::digest(&f.session_token);
    let mut naive = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        let row = app
            .store()
            .session_by_digest(&digest)
            .await
            .unwrap()
            .unwrap();
        let user = app.store().user_by_id(&row.user_id).await.unwrap().unwrap();
        naive.push(t.elapsed());
        std::hint::black_box((row, user));
    }
    let web = sealroom_web::WebConfig {
        hsts: true,
        public_origin: f.base.clone(),
        trusted_proxies: vec![],
        panic_probe: false,
    };
    let router = sealroom_web::router(app.clone(), web);
    let request = |path: &str, cookie: bool| {
        let mut b = axum::http::Request::builder().uri(path);
        if cookie {
            b = b.header("cookie", f.cookie());
        }
        b.body(Body::empty()).unwrap()
    };
    let measure = |path: &str, cookie: bool| {
        let router = router.clone();
        let reqs: Vec<_> = (0..N).map(|_| request(path, cookie)).collect();
        async move {
            let mut v: Vec<Duration> = Vec::with_capacity(N);
            for r in reqs {
                let t = Instant::now();
                let resp = router.clone().oneshot(r).await.unwrap();
                assert!(resp.status().is_success());
                v.push(t.elapsed());
            }
            stats(v)
        }
    };
    let me = measure("/api/v1/me", true).await;
    let health = measure("/healthz", false).await;
    let ours = stats(ours);
    let naive = stats(naive);
    println!("session check (Sealroom check_session, cached):  {ours}");
    println!("naive SQLite session+user lookup per request:    {naive}");
    println!(
        "  ratio naive/ours (median): {:.1}x",
        naive.median.as_secs_f64() / ours.median.as_secs_f64()
    );
    println!("router GET /api/v1/me with session cookie:       {me}");
    println!("router GET /healthz (no authentication):         {health}");
    println!(
        "  authentication + handler overhead (median): {:.1?}",
        me.median.saturating_sub(health.median)
    );
    println!(
        "target: session check median < 20 µs -> {}",
        if ours.median < Duration::from_micros(20) {
            "MET"
        } else {
            "NOT MET"
        }
    );
}
