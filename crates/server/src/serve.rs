//! Starting the server: open the database, build the application, bind, serve (TLS unless a
//! proxy or `--dev` is declared), print the one-time set-up link on an empty database.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use sealroom_app::blobs::{BlobSettings, S3Settings};
use sealroom_app::keyring::Keys;
use sealroom_app::mail::MailSettings;
use sealroom_app::{AccessSettings, App, Clock, DocumentSettings, Settings};
use sealroom_crypto::password_hash::HashCost;
use sealroom_domain::{Duration, SessionLimits};
use sealroom_store::Store;
use sealroom_web::WebConfig;

use crate::config::{Config, DocumentStoreConfig, TlsMode};

/// A server that is running.
pub struct Running {
    pub local_addr: SocketAddr,
    pub public_url: url::Url,
    pub setup_link: Option<String>,
    pub app: App,
    pub handle: axum_server::Handle,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The periodic jobs (scheduled-release notices); abort it when stopping.
    pub jobs: tokio::task::JoinHandle<()>,
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
        access: AccessSettings {
            previous_care_window: Duration::hours(24 * config.previous_care_days),
            break_glass_duration: Duration::hours(config.break_glass_hours),
            custom_roles: config.custom_roles.clone(),
        },
        mail: match &config.smtp_url {
            Some(url) => MailSettings::Smtp(url.clone()),
            None => MailSettings::Outbox(config.data_dir.join("outbox")),
        },
        mail_from: config.mail_from.clone(),
        documents: DocumentSettings {
            blobs: match &config.document_store {
                DocumentStoreConfig::Local(dir) => BlobSettings::Local(dir.clone()),
                DocumentStoreConfig::S3 {
                    endpoint,
                    bucket,
                    region,
                    access_key_id,
                    secret_access_key,
                    allow_http,
                } => BlobSettings::S3(S3Settings {
                    endpoint: endpoint.clone(),
                    bucket: bucket.clone(),
                    region: region.clone(),
                    access_key_id: access_key_id.clone(),
                    secret_access_key: secret_access_key.clone(),
                    allow_http: *allow_http,
                }),
            },
            staging_dir: config.data_dir.join("uploads"),
            max_upload_bytes: config.max_upload_bytes,
            retention_classes: config.retention_classes.clone(),
            default_retention_class: config.default_retention_class.clone(),
            upload_expiry: Duration::hours(config.upload_expiry_hours),
            upload_idle: std::time::Duration::from_secs(config.upload_idle_seconds),
        },
        release: sealroom_app::release::ReleaseSettings {
            rules: config.release_rules.clone(),
        },
        sms: match &config.sms_gateway {
            Some(g) => sealroom_app::sms::SmsSettings::Gateway(g.clone()),
            None => sealroom_app::sms::SmsSettings::Outbox(config.data_dir.join("sms-outbox")),
        },
        patient_space: config.patient_space.clone(),
        messaging: config.messaging.clone(),
    }
}

/// Open the database, then the master key. A new key is generated only for a database that
/// holds no account yet: with accounts, a missing key file is an error (a new key would make
/// every sealed secret, such as authenticator-app keys, unreadable).
async fn open_store_and_key(config: &Config, clock: &dyn Clock) -> anyhow::Result<(Store, Keys)> {
    crate::files::ensure_data_dir(&config.data_dir)?;
    let store = Store::open(&config.database_url)
        .await
        .context("the database cannot be used")?;
    if !config.master_key_file.exists()
        && store
            .count_users()
            .await
            .context("the database cannot be read")?
            > 0
    {
        store.close().await;
        return Err(anyhow!(
            "the master key file {} is missing, but the database holds accounts; restore the key from your backup \
             (secrets.master_key_file). A new key would make every authenticator app and pending passkey request unreadable",
            config.master_key_file.display()
        ));
    }
    crate::keys::finish_interrupted_rotation(&store, &config.master_key_file, clock.now()).await?;
    let key = crate::files::master_key(&config.master_key_file)?;
    let now = clock.now().as_seconds();
    match sealroom_app::keyring::open(&store, &key, now).await {
        Ok(keys) => Ok((store, keys)),
        Err(e) => {
            store.close().await;
            Err(anyhow!("{e}"))
        }
    }
}

/// Open the application (database, master key) without serving, for command-line tasks.
pub async fn open_app(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    // A task on a data directory that holds no database is almost always a wrong --data-dir:
    // say so instead of creating an empty one.
    if let Some(path) = config.database_url.strip_prefix("sqlite://") {
        if !std::path::Path::new(path).exists() {
            return Err(anyhow!(
                "there is no database at {path}; is --data-dir (now {}) right? Start the server once to create it",
                config.data_dir.display()
            ));
        }
    }
    let (store, key) = open_store_and_key(config, clock.as_ref()).await?;
    let bound: SocketAddr = config.listen.parse().context("server.listen")?;
    let url = public_url(config, bound).unwrap_or_else(|_| {
        url::Url::parse("https://localhost").unwrap_or_else(|_| unreachable_url())
    });
    let app = App::new(store, clock, settings(config, url), key).map_err(|e| anyhow!("{e}"))?;
    app.load_access_policy()
        .await
        .map_err(|e| anyhow!("cannot load the access policy: {e}"))?;
    Ok(app)
}

#[allow(clippy::expect_used)]
fn unreachable_url() -> url::Url {
    url::Url::parse("https://localhost/").expect("a constant URL parses")
}

/// Start serving. Returns once the listener is bound.
pub async fn start(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    let (store, key) = open_store_and_key(config, clock.as_ref()).await?;

    let listener = TcpListener::bind(&config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local_addr = listener.local_addr()?;
    let public_url = public_url(config, local_addr)?;
    let app = App::new(store, clock, settings(config, public_url.clone()), key)
        .map_err(|e| anyhow!("{e}"))?;
    app.load_access_policy()
        .await
        .map_err(|e| anyhow!("cannot load the access policy: {e}"))?;
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
    let jobs = tokio::spawn(periodic_jobs(app.clone()));
    Ok(Running {
        local_addr,
        public_url,
        setup_link,
        app,
        handle,
        task,
        jobs,
    })
}

/// Work done on a timer: tell patients about documents whose scheduled release has come,
/// expire messages, discard unsent attachments and unfinished uploads, and send batched
/// message notices. A
/// failure is logged (never with patient data) and retried at the next tick.
async fn periodic_jobs(app: App) {
    let mut tick = tokio::time::interval(app.settings().patient_space.notify_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match app.notify_due_releases().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(patients = n, "told patients about scheduled releases"),
            Err(e) => tracing::warn!(error = %e, "scheduled-release notices failed; retrying"),
        }
        match app.expire_messages().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(messages = n, "expired messages (keys destroyed)"),
            Err(e) => tracing::warn!(error = %e, "message expiry failed; retrying"),
        }
        match app.discard_unsent_attachments().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(attachments = n, "discarded attachments never sent"),
            Err(e) => tracing::warn!(error = %e, "discarding unsent attachments failed; retrying"),
        }
        match app.expire_uploads().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(uploads = n, "removed resumable uploads past their expiry"),
            Err(e) => tracing::warn!(error = %e, "removing expired uploads failed; retrying"),
        }
        match app.send_message_notices().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(mailboxes = n, "told absent recipients that messages wait"),
            Err(e) => tracing::warn!(error = %e, "message notices failed; retrying"),
        }
    }
}
