//! Benchmark fixture: a real server (release build, SQLite, TLS) with one enrolled,
//! signed-in staff member, and small statistics helpers. Used by the programs in `src/bin/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use sealroom_app::accounts::Actor;
use sealroom_app::policy::Principal;
use sealroom_app::{Client, SystemClock};
use sealroom_crypto::totp::TotpSecret;
use sealroom_server::config::{self, Config, Overrides};
use sealroom_server::serve::Running;

pub const PASSWORD: &str = "quiet lantern harbour 7203 mosaic";

pub struct Fixture {
    pub running: Running,
    pub config: Config,
    pub base: String,
    pub cert_pem: Vec<u8>,
    /// A signed-in session token (cookie value).
    pub session_token: String,
    pub email: String,
    pub totp: TotpSecret,
    _dir: tempfile::TempDir,
}

pub fn client_info() -> Client {
    Client {
        address: "127.0.0.1".into(),
        user_agent: "bench".into(),
    }
}

/// Create and fully enrol a clinician (password + TOTP); returns a signed-in session token.
pub async fn enrol(app: &sealroom_app::App, email: &str) -> (String, TotpSecret) {
    let operator = Actor {
        principal: Principal::Operator,
        stepped_up: true,
        client: client_info(),
    };
    let created = app
        .create_user(&operator, email, "Bench Person", "clinician")
        .await
        .unwrap();
    let link_token = created
        .enrolment_link
        .split("token=")
        .nth(1)
        .unwrap()
        .to_owned();
    let c = client_info();
    let issued = app.accept_enrolment(&link_token, &c).await.unwrap();
    let me = app.check_session(&issued.token, &c).await.unwrap();
    app.set_initial_password(&me, PASSWORD, PASSWORD, &c)
        .await
        .unwrap();
    let t = app.start_totp_enrolment(&me).await.unwrap();
    let totp = TotpSecret::from_bytes(
        data_encoding::BASE32_NOPAD
            .decode(t.secret_base32.as_bytes())
            .unwrap(),
    );
    app.confirm_totp(&me, &totp.code_at(app.now().as_seconds() as u64), &c)
        .await
        .unwrap();
    let (session_token, _codes) = app.finish_enrolment(&me, &c).await.unwrap();
    (session_token, totp)
}

impl Fixture {
    pub async fn start() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let overrides = Overrides {
            data_dir: Some(dir.path().to_owned()),
            config_file: None,
            listen: Some("127.0.0.1:0".into()),
            dev: false,
        };
        let env = std::env::vars()
            .filter(|(k, _)| k.starts_with("SEALROOM_"))
            .collect();
        let config = config::load(&overrides, &env).unwrap_or_else(|p| panic!("{p:?}"));
        let running = sealroom_server::serve::start(&config, Arc::new(SystemClock))
            .await
            .unwrap();
        let email = "bench@example.org".to_owned();
        let (session_token, totp) = enrol(&running.app, &email).await;
        let (cert, _) = sealroom_server::tls::self_signed_paths(dir.path());
        let cert_pem = std::fs::read(cert).unwrap();
        let base = format!("https://localhost:{}", running.local_addr.port());
        Fixture {
            running,
            config,
            base,
            cert_pem,
            session_token,
            email,
            totp,
            _dir: dir,
        }
    }

    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&self.cert_pem).unwrap())
            .resolve("localhost", self.running.local_addr)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64)
            .build()
            .unwrap()
    }

    pub fn cookie(&self) -> String {
        format!("__Host-sealroom={}", self.session_token)
    }
}

/// Median, 99th percentile and mean of durations.
pub struct Stats {
    pub n: usize,
    pub median: Duration,
    pub p99: Duration,
    pub mean: Duration,
}

/// What this process has spent so far: CPU time (user + system, all threads, also those that
/// ended) and context switches (voluntary + involuntary), from `getrusage`.
#[derive(Debug, Clone, Copy)]
pub struct Spent {
    pub cpu: Duration,
    pub switches: i64,
}

#[allow(unsafe_code)] // one libc call, no safe wrapper in the tree
pub fn spent() -> Spent {
    // SAFETY: getrusage only writes into the struct we pass, which is zeroed and owned here.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Spent {
        cpu: tv(u.ru_utime) + tv(u.ru_stime),
        switches: u.ru_nvcsw + u.ru_nivcsw,
    }
}

pub fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let n = samples.len();
    let pick = |q: f64| samples[((n as f64 - 1.0) * q).round() as usize];
    let mean = samples.iter().sum::<Duration>() / n as u32;
    Stats {
        n,
        median: pick(0.5),
        p99: pick(0.99),
        mean,
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n={} median={:.1?} p99={:.1?} mean={:.1?}",
            self.n, self.median, self.p99, self.mean
        )
    }
}
