//! Starting the server: open the database, build the application, bind, serve (TLS unless a
//! proxy or `--dev` is declared), print the one-time set-up link on an empty database.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use sealroom_app::{App, Clock, Settings};
use sealroom_crypto::password_hash::HashCost;
use sealroom_domain::{Duration, SessionLimits};
use sealroom_store::Store;
use sealroom_web::WebConfig;

use crate::config::{Config, TlsMode};

/// A server that is running.
pub struct Running {
    pub local_addr: SocketAddr,
    pub public_url: url::Url,
    pub setup_link: Option<String>,
    pub app: App,
    pub handle: axum_server::Handle,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The URL people use, derived from the configuration and the bound address.
pub fn public_url(config: &Config, bound: SocketAddr) -> anyhow::Result<url::Url> {
    if let Some(u) = &config.public_url {
        return Ok(u.clone());
    }
    let scheme = match config.tls {
        TlsMode::DevPlain => "http",
        TlsMode::Proxy => return Err(anyhow!("server.public_url: behind a proxy, set the address people use, such as https://sealroom.example.org")),
        _ => "https",
    };
    let host = if bound.ip().is_loopback() || bound.ip().is_unspecified() {
        "localhost".to_owned()
    } else {
        bound.ip().to_string()
    };
    url::Url::parse(&format!("{scheme}://{host}:{}", bound.port()))
        .context("cannot build the public URL")
}

/// Settings for the use cases from the configuration.
pub fn settings(config: &Config, public_url: url::Url) -> Settings {
    Settings {
        organization_name: config.organization_name.clone(),
        public_url,
        hash_cost: HashCost {
            memory_kib: config.argon2_memory_kib,
            iterations: config.argon2_iterations,
            parallelism: config.argon2_parallelism,
        },
        max_concurrent_hashes: config.max_concurrent_hashes,
        staff_limits: SessionLimits {
            idle: Duration::minutes(config.staff_idle_minutes),
            absolute: Duration::minutes(config.staff_absolute_minutes),
        },
        admin_limits: SessionLimits {
            idle: Duration::minutes(config.admin_idle_minutes),
            absolute: Duration::minutes(config.admin_absolute_minutes),
        },
        one_session_per_account: config.one_session_per_account,
        setup_link_validity: Duration::minutes(config.setup_link_minutes),
        enrolment_link_validity: Duration::hours(config.enrolment_link_hours),
    }
}

/// Open the application (database, master key) without serving, for command-line tasks.
pub async fn open_app(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    crate::files::ensure_data_dir(&config.data_dir)?;
    let key = crate::files::master_key(&config.master_key_file)?;
    let store = Store::open(&config.database_url)
        .await
        .context("the database cannot be used")?;
    let bound: SocketAddr = config.listen.parse().context("server.listen")?;
    let url = public_url(config, bound).unwrap_or_else(|_| {
        url::Url::parse("https://localhost").unwrap_or_else(|_| unreachable_url())
    });
    App::new(store, clock, settings(config, url), &key).map_err(|e| anyhow!("{e}"))
}

#[allow(clippy::expect_used)]
fn unreachable_url() -> url::Url {
    url::Url::parse("https://localhost/").expect("a constant URL parses")
}

/// Start serving. Returns once the listener is bound.
pub async fn start(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    crate::files::ensure_data_dir(&config.data_dir)?;
    let key = crate::files::master_key(&config.master_key_file)?;
    let store = Store::open(&config.database_url)
        .await
        .context("the database cannot be used")?;

    let listener = TcpListener::bind(&config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local_addr = listener.local_addr()?;
    let public_url = public_url(config, local_addr)?;
    let app = App::new(store, clock, settings(config, public_url.clone()), &key)
        .map_err(|e| anyhow!("{e}"))?;
    let setup_link = app
        .issue_setup_link_if_empty()
        .await
        .map_err(|e| anyhow!("cannot issue the set-up link: {e}"))?;

    let web = WebConfig {
        hsts: !matches!(config.tls, TlsMode::DevPlain),
        public_origin: public_url.origin().ascii_serialization(),
        trusted_proxies: config.trusted_proxies.clone(),
        panic_probe: config.dev,
    };
    let service =
        sealroom_web::router(app.clone(), web).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let task = match &config.tls {
        TlsMode::DevPlain | TlsMode::Proxy => {
            let server = axum_server::from_tcp(listener).handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
        TlsMode::SelfSigned | TlsMode::Files { .. } => {
            let (cert, key) = match &config.tls {
                TlsMode::Files { cert, key } => (cert.clone(), key.clone()),
                _ => crate::tls::ensure_self_signed(&config.data_dir)?,
            };
            let rustls = crate::tls::server_config(&cert, &key)?;
            let server = axum_server::from_tcp_rustls(
                listener,
                axum_server::tls_rustls::RustlsConfig::from_config(rustls),
            )
            .handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
    };
    Ok(Running {
        local_addr,
        public_url,
        setup_link,
        app,
        handle,
        task,
    })
}
