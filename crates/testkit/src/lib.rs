//! Test kit: starts the real Sealroom server on port 0 with a fresh database (a temporary SQLite
//! file, or a fresh PostgreSQL database that is dropped afterwards), real TLS with the
//! generated certificate, and a manual clock the test moves instead of sleeping.
//!
//! PostgreSQL is reached at `SEALROOM_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). If it cannot be reached, the PostgreSQL tests
//! fail: they are never skipped silently.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pdf;
mod s3;
mod sms;
mod smtp;

pub use pdf::pdf_pages;
pub use s3::S3Server;
pub use sms::{GatewayRequest, SmsGateway};
pub use smtp::SmtpSink;

use std::sync::Arc;

use sealroom_app::ManualClock;
use sealroom_domain::Timestamp;
use sealroom_server::config::{self, Config, Overrides, TlsMode};
use sealroom_server::serve::Running;
use sealroom_store::Store;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh PostgreSQL database, dropped when this is dropped.
pub struct PgDatabase {
    pub url: String,
    name: String,
    admin_url: String,
}

pub fn postgres_admin_url() -> String {
    std::env::var("SEALROOM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        let admin_url = postgres_admin_url();
        let admin = Store::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is required for this test and cannot be reached at {admin_url}: {e}. Start it (see README) or set SEALROOM_TEST_POSTGRES_URL.")
        });
        let name = format!("sealroom_test_{}", sealroom_crypto::token::new_id());
        admin
            .execute_raw(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        admin.close().await;
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        PgDatabase {
            url: url.to_string(),
            name,
            admin_url,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside async context: use a small runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = Store::connect(&admin_url).await {
                    let _ = admin
                        .execute_raw(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

/// A database for storage tests: a Store plus what keeps it alive.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("sealroom.db").display());
                TestDatabase {
                    url,
                    _dir: Some(dir),
                    _pg: None,
                }
            }
            Backend::Postgres => {
                let pg = PgDatabase::create().await;
                TestDatabase {
                    url: pg.url.clone(),
                    _dir: None,
                    _pg: Some(pg),
                }
            }
        }
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.url).await.unwrap()
    }
}

/// A running server and an HTTPS client that trusts its certificate and keeps cookies.
pub struct TestServer {
    pub base: String,
    pub running: Running,
    pub clock: Arc<ManualClock>,
    pub config: Config,
    pub client: reqwest::Client,
    pub cert_pem: Vec<u8>,
    pub setup_link: String,
    pub backend: Backend,
    _db: TestDatabase,
    _dir: tempfile::TempDir,
}

/// Options for a test server.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Extra `SEALROOM_…` settings, e.g. `("SEALROOM_SESSIONS__ONE_SESSION_PER_ACCOUNT", "true")`.
    pub env: Vec<(String, String)>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, Options::default()).await
    }

    pub async fn start_with(backend: Backend, options: Options) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::new(backend).await;
        let mut env: std::collections::BTreeMap<String, String> = options.env.into_iter().collect();
        env.insert("SEALROOM_DATABASE__URL".into(), db.url.clone());
        env.insert(
            "SEALROOM_ORGANIZATION__NAME".into(),
            "Saint Example Hospital".into(),
        );
        let overrides = Overrides {
            data_dir: Some(dir.path().to_owned()),
            config_file: None,
            listen: Some("127.0.0.1:0".into()),
            dev: false,
        };
        let mut config = config::load(&overrides, &env)
            .unwrap_or_else(|p| panic!("test configuration rejected: {p:?}"));
        assert_eq!(config.tls, TlsMode::SelfSigned);
        config.dev = true; // serves the panic probe; TLS stays on
        let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000)));
        let running = sealroom_server::serve::start(&config, clock.clone())
            .await
            .unwrap();
        let (cert_path, _) = sealroom_server::tls::self_signed_paths(dir.path());
        let cert_pem = std::fs::read(cert_path).unwrap();
        let base = format!("https://localhost:{}", running.local_addr.port());
        let client = Self::new_client(&cert_pem, running.local_addr);
        let setup_link = running
            .setup_link
            .clone()
            .expect("an empty database prints a set-up link");
        TestServer {
            base,
            running,
            clock,
            config,
            client,
            cert_pem,
            setup_link,
            backend,
            _db: db,
            _dir: dir,
        }
    }

    /// A fresh browser-like client (own cookie jar) for this server.
    pub fn browser(&self) -> reqwest::Client {
        Self::new_client(&self.cert_pem, self.running.local_addr)
    }

    fn new_client(cert_pem: &[u8], addr: std::net::SocketAddr) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(cert_pem).unwrap())
            .tls_built_in_root_certs(false)
            .resolve("localhost", addr)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            // A hung request fails its test instead of stalling the suite.
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn app(&self) -> &sealroom_app::App {
        &self.running.app
    }

    pub fn now(&self) -> u64 {
        self.running.app.now().as_seconds() as u64
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.running.jobs.abort();
        self.running.handle.shutdown();
    }
}

/// The value of `attr="…"` on the first element whose text contains `marker`.
pub fn attr_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let start = html.find(marker)?;
    let rest = &html[start..];
    let key = format!("{attr}=\"");
    let i = rest.find(&key)? + key.len();
    let j = rest[i..].find('"')?;
    Some(unescape(&rest[i..i + j]))
}

/// The text between `open` and the next `close`.
pub fn text_between(html: &str, open: &str, close: &str) -> Option<String> {
    let i = html.find(open)? + open.len();
    let j = html[i..].find(close)?;
    Some(unescape(&html[i..i + j]))
}

fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
}

/// The CSRF token of a page.
pub fn csrf_of(html: &str) -> String {
    attr_after(html, "name=\"csrf-token\"", "content").expect("page has a CSRF token")
}
