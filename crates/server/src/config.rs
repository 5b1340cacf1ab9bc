//! Configuration: one TOML file plus `SEALROOM_<SECTION>__<KEY>` environment overrides, with
//! secrets readable from files. [`load`] returns every problem at once, each naming the key
//! and what is wrong, so `sealroom config check` and `sealroom serve` explain the same way.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

/// Keys allowed in each section. Anything else is reported as unknown.
const SCHEMA: &[(&str, &[&str])] = &[
    ("server", &["listen", "public_url"]),
    ("tls", &["mode", "cert_file", "key_file"]),
    ("proxy", &["trusted_addresses"]),
    ("database", &["url", "url_file"]),
    ("organization", &["name"]),
    ("secrets", &["master_key_file"]),
    (
        "passwords",
        &[
            "argon2_memory_kib",
            "argon2_iterations",
            "argon2_parallelism",
            "max_concurrent_hashes",
        ],
    ),
    (
        "sessions",
        &[
            "staff_idle_minutes",
            "staff_absolute_minutes",
            "admin_idle_minutes",
            "admin_absolute_minutes",
            "one_session_per_account",
        ],
    ),
    ("links", &["setup_link_minutes", "enrolment_link_hours"]),
    (
        "access",
        &["previous_care_days", "break_glass_hours", "custom_roles"],
    ),
    ("mail", &["smtp_url", "from", "allow_plaintext"]),
    (
        "documents",
        &[
            "max_upload_mb",
            "store",
            "directory",
            "default_retention_class",
            "upload_expiry_hours",
            "upload_idle_seconds",
            "s3_endpoint",
            "s3_bucket",
            "s3_region",
            "s3_access_key_id",
            "s3_secret_access_key_file",
            "s3_allow_http",
        ],
    ),
    ("retention", &["classes"]),
    (
        "patient_space",
        &[
            "release",
            "idle_minutes",
            "second_factors",
            "patients_may_revoke_proxies",
            "account_models",
            "notify_every_seconds",
        ],
    ),
    (
        "sms",
        &["gateway_url", "body", "content_type", "token_file"],
    ),
    (
        "messaging",
        &[
            "leak_rules",
            "read_receipts",
            "default_expiry_days",
            "notice_delay_minutes",
            "max_body_kib",
            "outside_verification",
            "outside_expiry_days",
        ],
    ),
    ("logging", &["level", "format"]),
];

/// Environment variables read by the command line itself, not configuration keys.
const CLI_ENV: &[&str] = &[
    "SEALROOM_DATA_DIR",
    "SEALROOM_CONFIG",
    "SEALROOM_LISTEN",
    "SEALROOM_DEV",
    "SEALROOM_LOG",
];

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ServerSection {
    pub listen: Option<String>,
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct TlsSection {
    /// `self-signed` (default), `files`, or `proxy` (plain HTTP behind a TLS-terminating proxy).
    pub mode: Option<String>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ProxySection {
    pub trusted_addresses: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct DatabaseSection {
    pub url: Option<String>,
    pub url_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct OrganizationSection {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct SecretsSection {
    pub master_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct PasswordsSection {
    pub argon2_memory_kib: Option<u32>,
    pub argon2_iterations: Option<u32>,
    pub argon2_parallelism: Option<u32>,
    pub max_concurrent_hashes: Option<usize>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct SessionsSection {
    pub staff_idle_minutes: Option<i64>,
    pub staff_absolute_minutes: Option<i64>,
    pub admin_idle_minutes: Option<i64>,
    pub admin_absolute_minutes: Option<i64>,
    pub one_session_per_account: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct LinksSection {
    pub setup_link_minutes: Option<i64>,
    pub enrolment_link_hours: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct LoggingSection {
    pub level: Option<String>,
    pub format: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct AccessSection {
    pub previous_care_days: Option<i64>,
    pub break_glass_hours: Option<i64>,
    pub custom_roles: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct MailSection {
    pub smtp_url: Option<String>,
    pub from: Option<String>,
    pub allow_plaintext: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct DocumentsSection {
    pub max_upload_mb: Option<u64>,
    pub store: Option<String>,
    pub directory: Option<PathBuf>,
    pub default_retention_class: Option<String>,
    pub upload_expiry_hours: Option<i64>,
    pub upload_idle_seconds: Option<u64>,
    pub s3_endpoint: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_region: Option<String>,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key_file: Option<PathBuf>,
    pub s3_allow_http: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct SmsSection {
    pub gateway_url: Option<String>,
    pub body: Option<String>,
    pub content_type: Option<String>,
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct PatientSpaceSection {
    /// Data category → when its documents reach the patient space.
    pub release: Option<BTreeMap<String, String>>,
    /// A signed-in patient session ends after this many minutes without a request.
    pub idle_minutes: Option<i64>,
    /// The second factors patients may choose: any of "totp", "sms", "email", "passkey".
    pub second_factors: Option<Vec<String>>,
    /// Whether patients may end their proxies' access themselves.
    pub patients_may_revoke_proxies: Option<bool>,
    /// Department name → "per_test", "per_patient" or "per_visit".
    pub account_models: Option<BTreeMap<String, String>>,
    /// How often scheduled releases are checked for patients to tell (seconds, 1 to 3600).
    pub notify_every_seconds: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct MessagingSection {
    /// Leak-prevention rule → "off", "suggestion", "warning" or "error".
    pub leak_rules: Option<BTreeMap<String, String>>,
    /// Whether senders see when their messages were read.
    pub read_receipts: Option<bool>,
    /// Messages expire after this many days unless the sender chooses (none by default).
    pub default_expiry_days: Option<i64>,
    /// How long to wait before telling an absent recipient by e-mail (batching), in minutes.
    pub notice_delay_minutes: Option<i64>,
    /// The largest message body, in KiB.
    pub max_body_kib: Option<usize>,
    /// How outside recipients may verify: any of "sms", "access_code", "email".
    pub outside_verification: Option<Vec<String>>,
    /// Messages on threads with outside recipients expire after this many days (0: never).
    pub outside_expiry_days: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct RetentionSection {
    /// Class name → days kept after a document is created.
    pub classes: Option<BTreeMap<String, i64>>,
}

/// Where document content is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentStoreConfig {
    Local(PathBuf),
    S3 {
        endpoint: Option<String>,
        bucket: String,
        region: String,
        access_key_id: String,
        secret_access_key: String,
        allow_http: bool,
    },
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
struct FileConfig {
    server: ServerSection,
    tls: TlsSection,
    proxy: ProxySection,
    database: DatabaseSection,
    organization: OrganizationSection,
    secrets: SecretsSection,
    passwords: PasswordsSection,
    sessions: SessionsSection,
    links: LinksSection,
    access: AccessSection,
    mail: MailSection,
    documents: DocumentsSection,
    retention: RetentionSection,
    patient_space: PatientSpaceSection,
    sms: SmsSection,
    messaging: MessagingSection,
    logging: LoggingSection,
}

/// How TLS is provided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// A certificate generated for localhost on first start, kept in the data directory.
    SelfSigned,
    /// The operator's certificate and key.
    Files { cert: PathBuf, key: PathBuf },
    /// Plain HTTP behind a TLS-terminating reverse proxy.
    Proxy,
    /// Plain HTTP for development on this machine (`--dev`).
    DevPlain,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: String,
    pub public_url: Option<url::Url>,
    pub tls: TlsMode,
    pub trusted_proxies: Vec<IpNet>,
    pub database_url: String,
    pub organization_name: String,
    pub master_key_file: PathBuf,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub max_concurrent_hashes: usize,
    pub staff_idle_minutes: i64,
    pub staff_absolute_minutes: i64,
    pub admin_idle_minutes: i64,
    pub admin_absolute_minutes: i64,
    pub one_session_per_account: bool,
    pub setup_link_minutes: i64,
    pub enrolment_link_hours: i64,
    /// How long a department keeps read access after a patient leaves it.
    pub previous_care_days: i64,
    /// How long a break-glass opening lasts.
    pub break_glass_hours: i64,
    /// Roles beyond the built-in ones; the policy grants them nothing until it names them.
    pub custom_roles: Vec<String>,
    /// The SMTP relay (lettre URL); without one, mail goes to `outbox/` in the data directory.
    pub smtp_url: Option<String>,
    /// The sender of every message.
    pub mail_from: String,
    pub document_store: DocumentStoreConfig,
    pub max_upload_bytes: u64,
    pub retention_classes: BTreeMap<String, i64>,
    pub default_retention_class: String,
    /// When documents reach the patient space, per category (others wait for a clinician).
    pub release_rules: BTreeMap<sealroom_domain::DataCategory, sealroom_app::release::ReleaseRule>,
    /// The SMS gateway; without one, SMS go to `sms-outbox/` in the data directory.
    pub sms_gateway: Option<sealroom_app::sms::GatewaySettings>,
    /// Patient session idle limit and the second factors patients may choose.
    pub patient_space: sealroom_app::patient_space::PatientSpaceSettings,
    /// Leak-prevention levels, receipts, expiry and notices of secure messaging.
    pub messaging: sealroom_app::messaging::MessagingSettings,
    pub upload_expiry_hours: i64,
    /// How long an upload may send nothing before the server gives up on it.
    pub upload_idle_seconds: u64,
    pub log_level: String,
    pub log_json: bool,
    pub dev: bool,
    /// Where the configuration file was read from, if any.
    pub file: Option<PathBuf>,
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key (`database.url`), environment variable or file concerned.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// What the command line says before the configuration is read.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub dev: bool,
}

fn problem(key: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        key: key.into(),
        message: message.into(),
    }
}

/// Read and check the configuration. `env` is the process environment (passed in for tests).
pub fn load(overrides: &Overrides, env: &BTreeMap<String, String>) -> Result<Config, Vec<Problem>> {
    let mut problems = Vec::new();
    let data_dir = overrides
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("data"));
    let file = overrides.config_file.clone().or_else(|| {
        let default = data_dir.join("sealroom.toml");
        default.exists().then_some(default)
    });

    let mut table = toml::Table::new();
    if let Some(path) = &file {
        match std::fs::read_to_string(path) {
            Ok(text) => match text.parse::<toml::Table>() {
                Ok(t) => table = t,
                Err(e) => problems.push(problem(
                    path.display().to_string(),
                    format!("is not valid TOML: {}", e.message()),
                )),
            },
            Err(e) => problems.push(problem(
                path.display().to_string(),
                format!("cannot be read: {e}"),
            )),
        }
    }
    apply_env(&mut table, env, &mut problems);
    check_keys(&table, &mut problems);

    let raw: FileConfig = match toml::Value::Table(table).try_into() {
        Ok(c) => c,
        Err(e) => {
            problems.push(problem("configuration", e.to_string().trim().to_owned()));
            return Err(problems);
        }
    };
    let config = resolve(raw, overrides, data_dir, file, &mut problems);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

fn apply_env(table: &mut toml::Table, env: &BTreeMap<String, String>, problems: &mut Vec<Problem>) {
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("SEALROOM_") else {
            continue;
        };
        if CLI_ENV.contains(&name.as_str()) || rest.starts_with("TEST_") {
            continue;
        }
        let Some((section, key)) = rest.split_once("__") else {
            problems.push(problem(name, "is not a Sealroom setting; configuration variables look like SEALROOM_DATABASE__URL (section, two underscores, key)"));
            continue;
        };
        let (section, key) = (section.to_lowercase(), key.to_lowercase());
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"));
        let value = parsed.unwrap_or_else(|| toml::Value::String(value.clone()));
        let entry = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match entry {
            toml::Value::Table(t) => {
                t.insert(key, value);
            }
            _ => problems.push(problem(name, format!("'{section}' is not a section"))),
        }
    }
}

fn check_keys(table: &toml::Table, problems: &mut Vec<Problem>) {
    for (section, value) in table {
        let Some((_, keys)) = SCHEMA.iter().find(|(s, _)| s == section) else {
            let known: Vec<&str> = SCHEMA.iter().map(|(s, _)| *s).collect();
            problems.push(problem(
                section,
                format!("unknown section; known sections: {}", known.join(", ")),
            ));
            continue;
        };
        let toml::Value::Table(t) = value else {
            problems.push(problem(section, "must be a section ([name]), not a value"));
            continue;
        };
        for key in t.keys() {
            if !keys.contains(&key.as_str()) {
                problems.push(problem(
                    format!("{section}.{key}"),
                    format!(
                        "unknown key; known keys in [{section}]: {}",
                        keys.join(", ")
                    ),
                ));
            }
        }
    }
}

fn relative_to(data_dir: &Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        data_dir.join(p)
    }
}

fn resolve(
    raw: FileConfig,
    o: &Overrides,
    data_dir: PathBuf,
    file: Option<PathBuf>,
    problems: &mut Vec<Problem>,
) -> Config {
    let dev = o.dev;
    let listen = o
        .listen
        .clone()
        .or(raw.server.listen)
        .unwrap_or_else(|| "127.0.0.1:8443".to_owned());
    if listen.parse::<SocketAddr>().is_err() {
        problems.push(problem(
            "server.listen",
            format!("'{listen}' is not an address and port such as 127.0.0.1:8443 or [::]:8443"),
        ));
    }
    let public_url = raw
        .server
        .public_url
        .as_deref()
        .and_then(|u| match url::Url::parse(u) {
            Ok(url) if url.scheme() == "https" || url.scheme() == "http" => Some(url),
            _ => {
                problems.push(problem(
                    "server.public_url",
                    format!("'{u}' is not an http(s) URL such as https://sealroom.example.org"),
                ));
                None
            }
        });

    let mut trusted_proxies = Vec::new();
    for a in &raw.proxy.trusted_addresses {
        match a
            .parse::<IpNet>()
            .or_else(|_| a.parse::<std::net::IpAddr>().map(IpNet::from))
        {
            Ok(n) => trusted_proxies.push(n),
            Err(_) => problems.push(problem(
                "proxy.trusted_addresses",
                format!("'{a}' is not an address or network such as 10.0.0.5 or 10.0.0.0/24"),
            )),
        }
    }

    let tls = match (dev, raw.tls.mode.as_deref()) {
        (true, None) => TlsMode::DevPlain,
        (_, None | Some("self-signed")) => TlsMode::SelfSigned,
        (_, Some("files")) => match (raw.tls.cert_file.clone(), raw.tls.key_file.clone()) {
            (Some(c), Some(k)) => TlsMode::Files {
                cert: relative_to(&data_dir, c),
                key: relative_to(&data_dir, k),
            },
            _ => {
                problems.push(problem(
                    "tls.mode",
                    "'files' needs tls.cert_file and tls.key_file",
                ));
                TlsMode::SelfSigned
            }
        },
        (_, Some("proxy")) => {
            if trusted_proxies.is_empty() {
                problems.push(problem("tls.mode", "plain HTTP behind a proxy needs proxy.trusted_addresses, the addresses of the TLS-terminating proxy; without a declared proxy Sealroom only serves HTTPS (or plain HTTP with --dev on this machine)"));
            }
            TlsMode::Proxy
        }
        (_, Some(other)) => {
            problems.push(problem(
                "tls.mode",
                format!("'{other}' is not one of: self-signed, files, proxy"),
            ));
            TlsMode::SelfSigned
        }
    };
    if let (TlsMode::DevPlain, Ok(addr)) = (&tls, listen.parse::<SocketAddr>()) {
        if !addr.ip().is_loopback() {
            problems.push(problem(
                "server.listen",
                "--dev serves plain HTTP and only listens on a loopback address such as 127.0.0.1",
            ));
        }
    }
    if let TlsMode::Files { cert, key } = &tls {
        for (k, p) in [("tls.cert_file", cert), ("tls.key_file", key)] {
            if !p.exists() {
                problems.push(problem(k, format!("{} does not exist", p.display())));
            }
        }
        check_private(key, "tls.key_file", problems);
    }

    let database_url = match (raw.database.url, raw.database.url_file) {
        (Some(_), Some(_)) => {
            problems.push(problem(
                "database.url",
                "set either database.url or database.url_file, not both",
            ));
            String::new()
        }
        (Some(u), None) => u,
        (None, Some(f)) => {
            let f = relative_to(&data_dir, f);
            check_private(&f, "database.url_file", problems);
            match std::fs::read_to_string(&f) {
                Ok(s) => s.trim().to_owned(),
                Err(e) => {
                    problems.push(problem(
                        "database.url_file",
                        format!("{} cannot be read: {e}", f.display()),
                    ));
                    String::new()
                }
            }
        }
        (None, None) => format!("sqlite://{}", data_dir.join("sealroom.db").display()),
    };
    if !database_url.is_empty()
        && !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| database_url.starts_with(p))
    {
        problems.push(problem(
            "database.url",
            "must start with sqlite:// or postgres://",
        ));
    }

    let master_key_file = relative_to(
        &data_dir,
        raw.secrets
            .master_key_file
            .unwrap_or_else(|| PathBuf::from("master.key")),
    );
    if master_key_file.exists() {
        check_private(&master_key_file, "secrets.master_key_file", problems);
    }

    let p = raw.passwords;
    let memory = p.argon2_memory_kib.unwrap_or(19 * 1024);
    let iterations = p.argon2_iterations.unwrap_or(2);
    if memory < 19 * 1024 {
        problems.push(problem(
            "passwords.argon2_memory_kib",
            "must be at least 19456 (19 MiB, the OWASP minimum for argon2id)",
        ));
    }
    if iterations < 2 {
        problems.push(problem("passwords.argon2_iterations", "must be at least 2"));
    }
    let parallelism = p.argon2_parallelism.unwrap_or(1);
    if !(1..=16).contains(&parallelism) {
        problems.push(problem(
            "passwords.argon2_parallelism",
            "must be between 1 and 16",
        ));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let max_hashes = p
        .max_concurrent_hashes
        .unwrap_or(cores.saturating_sub(1).max(1));
    if max_hashes == 0 {
        problems.push(problem(
            "passwords.max_concurrent_hashes",
            "must be at least 1",
        ));
    }

    let s = raw.sessions;
    let minutes = |v: Option<i64>, default: i64, key: &str, problems: &mut Vec<Problem>| {
        let v = v.unwrap_or(default);
        if !(1..=7 * 24 * 60).contains(&v) {
            problems.push(problem(key, "must be between 1 minute and 7 days (10080)"));
        }
        v
    };
    let staff_idle = minutes(
        s.staff_idle_minutes,
        15,
        "sessions.staff_idle_minutes",
        problems,
    );
    let staff_abs = minutes(
        s.staff_absolute_minutes,
        12 * 60,
        "sessions.staff_absolute_minutes",
        problems,
    );
    let admin_idle = minutes(
        s.admin_idle_minutes,
        15,
        "sessions.admin_idle_minutes",
        problems,
    );
    let admin_abs = minutes(
        s.admin_absolute_minutes,
        8 * 60,
        "sessions.admin_absolute_minutes",
        problems,
    );
    let setup_minutes = raw.links.setup_link_minutes.unwrap_or(60);
    if !(1..=24 * 60).contains(&setup_minutes) {
        problems.push(problem(
            "links.setup_link_minutes",
            "must be between 1 and 1440",
        ));
    }
    let enrol_hours = raw.links.enrolment_link_hours.unwrap_or(72);
    if !(1..=14 * 24).contains(&enrol_hours) {
        problems.push(problem(
            "links.enrolment_link_hours",
            "must be between 1 and 336 (14 days)",
        ));
    }

    let previous_care_days = raw.access.previous_care_days.unwrap_or(30);
    if !(0..=3650).contains(&previous_care_days) {
        problems.push(problem(
            "access.previous_care_days",
            "must be between 0 and 3650",
        ));
    }
    let break_glass_hours = raw.access.break_glass_hours.unwrap_or(4);
    if !(1..=72).contains(&break_glass_hours) {
        problems.push(problem(
            "access.break_glass_hours",
            "must be between 1 and 72",
        ));
    }
    for r in &raw.access.custom_roles {
        if let Err(e) = sealroom_domain::role::check_custom_role(r) {
            problems.push(problem("access.custom_roles", e));
        }
    }

    let smtp_url = raw.mail.smtp_url.filter(|u| !u.trim().is_empty());
    if let Some(u) = &smtp_url {
        match url::Url::parse(u) {
            Ok(parsed) if parsed.scheme() == "smtps" => {}
            Ok(parsed) if parsed.scheme() == "smtp" => {
                let tls = parsed
                    .query_pairs()
                    .any(|(k, v)| k == "tls" && (v == "required" || v == "opportunistic"));
                let loopback = match parsed.host() {
                    Some(url::Host::Ipv4(a)) => a.is_loopback(),
                    Some(url::Host::Ipv6(a)) => a.is_loopback(),
                    // smtp: is not a "special" URL scheme, so addresses arrive as text.
                    Some(url::Host::Domain(d)) => {
                        d == "localhost"
                            || d.parse::<std::net::IpAddr>()
                                .is_ok_and(|ip| ip.is_loopback())
                    }
                    None => false,
                };
                if !tls && !loopback && !raw.mail.allow_plaintext.unwrap_or(false) {
                    problems.push(problem(
                        "mail.smtp_url",
                        "sends without TLS to a host that is not this machine; use smtps://, add ?tls=required, or set mail.allow_plaintext = true",
                    ));
                }
            }
            _ => problems.push(problem(
                "mail.smtp_url",
                "must be an smtp:// or smtps:// URL, e.g. smtps://relay.example.org:465",
            )),
        }
    }
    let mail_from = raw
        .mail
        .from
        .unwrap_or_else(|| "Sealroom <sealroom@localhost>".into());
    if !sealroom_app::mail::is_mailbox(&mail_from) {
        problems.push(problem(
            "mail.from",
            "must be a mailbox such as \"Sealroom <no-reply@hospital.example>\"",
        ));
    }

    let documents = resolve_documents(&raw.documents, &data_dir, problems);
    let retention_classes = raw
        .retention
        .classes
        .clone()
        .unwrap_or_else(|| BTreeMap::from([("standard".to_owned(), 7300)]));
    for (name, days) in &retention_classes {
        if name.is_empty()
            || name.len() > 40
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            problems.push(problem(
                "retention.classes",
                format!(
                    "\"{name}\" is not a valid class name (letters, digits, - and _, at most 40)"
                ),
            ));
        }
        if !(1..=365 * 200).contains(days) {
            problems.push(problem(
                format!("retention.classes.{name}"),
                "must be a number of days between 1 and 73000",
            ));
        }
    }
    // Never guess among several classes: a wrong guess would shred documents early.
    let default_retention_class = raw.documents.default_retention_class.clone().or_else(|| {
        if retention_classes.len() == 1 {
            retention_classes.keys().next().cloned()
        } else {
            retention_classes
                .contains_key("standard")
                .then(|| "standard".to_owned())
        }
    });
    let default_retention_class = match default_retention_class {
        Some(c) => c,
        None => {
            problems.push(problem(
                "documents.default_retention_class",
                "must be set when [retention] defines several classes and none is named \"standard\"",
            ));
            String::new()
        }
    };
    if !default_retention_class.is_empty()
        && !retention_classes.contains_key(&default_retention_class)
    {
        problems.push(problem(
            "documents.default_retention_class",
            format!(
                "\"{default_retention_class}\" is not one of the classes in [retention] classes"
            ),
        ));
    }

    let mut release_rules = BTreeMap::new();
    for (category, rule) in raw.patient_space.release.clone().unwrap_or_default() {
        let key = format!("patient_space.release.{category}");
        match (
            sealroom_domain::DataCategory::parse(&category),
            sealroom_app::release::ReleaseRule::parse(&rule),
        ) {
            (Ok(c), Ok(r)) => {
                release_rules.insert(c, r);
            }
            (Err(e), _) => problems.push(problem(key, e.to_string())),
            (_, Err(e)) => problems.push(problem(key, e)),
        }
    }

    let sms_gateway = resolve_sms(&raw.sms, &data_dir, problems);
    let patient_space = resolve_patient_space(&raw.patient_space, problems);
    let messaging = resolve_messaging(&raw.messaging, problems);

    let log_level = raw.logging.level.unwrap_or_else(|| "info".into());
    if !["error", "warn", "info", "debug", "trace"].contains(&log_level.as_str()) {
        problems.push(problem(
            "logging.level",
            "must be one of: error, warn, info, debug, trace",
        ));
    }
    let log_json = match raw.logging.format.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(_) => {
            problems.push(problem("logging.format", "must be text or json"));
            false
        }
    };
    let organization_name = raw.organization.name.unwrap_or_else(|| "Sealroom".into());
    if organization_name.trim().is_empty() || organization_name.len() > 120 {
        problems.push(problem(
            "organization.name",
            "must have 1 to 120 characters",
        ));
    }

    Config {
        data_dir,
        listen,
        public_url,
        tls,
        trusted_proxies,
        database_url,
        organization_name,
        master_key_file,
        argon2_memory_kib: memory,
        argon2_iterations: iterations,
        argon2_parallelism: parallelism,
        max_concurrent_hashes: max_hashes,
        staff_idle_minutes: staff_idle,
        staff_absolute_minutes: staff_abs,
        admin_idle_minutes: admin_idle,
        admin_absolute_minutes: admin_abs,
        one_session_per_account: s.one_session_per_account.unwrap_or(false),
        setup_link_minutes: setup_minutes,
        enrolment_link_hours: enrol_hours,
        previous_care_days,
        break_glass_hours,
        custom_roles: raw.access.custom_roles,
        smtp_url,
        mail_from,
        document_store: documents.0,
        max_upload_bytes: documents.1,
        retention_classes,
        default_retention_class,
        release_rules,
        sms_gateway,
        patient_space,
        messaging,
        upload_expiry_hours: documents.2,
        upload_idle_seconds: documents.3,
        log_level,
        log_json,
        dev,
        file,
    }
}

/// Messaging: each leak rule's level, read receipts, the default expiry (1 to 3650 days), the
/// notice delay (1 to 1440 minutes) and the body limit (1 to 1024 KiB).
fn resolve_messaging(
    raw: &MessagingSection,
    problems: &mut Vec<Problem>,
) -> sealroom_app::messaging::MessagingSettings {
    use sealroom_domain::leak_rules::{LeakLevel, LeakRule};
    let mut settings = sealroom_app::messaging::MessagingSettings::default();
    for (rule, level) in raw.leak_rules.clone().unwrap_or_default() {
        let key = format!("messaging.leak_rules.{rule}");
        let Some(r) = LeakRule::parse(&rule) else {
            let known: Vec<&str> = LeakRule::ALL.iter().map(|r| r.as_str()).collect();
            problems.push(problem(
                key,
                format!(
                    "not a leak-prevention rule; use one of {}",
                    known.join(", ")
                ),
            ));
            continue;
        };
        match LeakLevel::parse(&level) {
            Some(l) => settings.leak_levels.set(r, l),
            None => problems.push(problem(
                key,
                format!("\"{level}\" is not a level; use \"off\", \"suggestion\", \"warning\" or \"error\""),
            )),
        }
    }
    if let Some(r) = raw.read_receipts {
        settings.read_receipts = r;
    }
    if let Some(d) = raw.default_expiry_days {
        if (1..=3650).contains(&d) {
            settings.default_expiry_days = Some(d);
        } else {
            problems.push(problem(
                "messaging.default_expiry_days",
                format!("{d} is out of range; use 1 to 3650 days"),
            ));
        }
    }
    if let Some(m) = raw.notice_delay_minutes {
        if (1..=1440).contains(&m) {
            settings.notice_delay = sealroom_domain::Duration::minutes(m);
        } else {
            problems.push(problem(
                "messaging.notice_delay_minutes",
                format!("{m} is out of range; use 1 to 1440 minutes"),
            ));
        }
    }
    if let Some(k) = raw.max_body_kib {
        if (1..=1024).contains(&k) {
            settings.max_body_bytes = k * 1024;
        } else {
            problems.push(problem(
                "messaging.max_body_kib",
                format!("{k} is out of range; use 1 to 1024 KiB"),
            ));
        }
    }
    if let Some(methods) = &raw.outside_verification {
        use sealroom_app::messaging::VerifyMethod;
        let mut chosen = Vec::new();
        for m in methods {
            match VerifyMethod::parse(m) {
                Some(v) if !chosen.contains(&v) => chosen.push(v),
                Some(_) => {}
                None => problems.push(problem(
                    "messaging.outside_verification",
                    format!("\"{m}\" is not a method; use \"sms\", \"access_code\" or \"email\""),
                )),
            }
        }
        if chosen.is_empty() {
            problems.push(problem(
                "messaging.outside_verification",
                "name at least one method, or outside recipients cannot open anything",
            ));
        } else {
            settings.outside_methods = chosen;
        }
    }
    match raw.outside_expiry_days {
        Some(0) => settings.outside_expiry_days = None,
        Some(d) if (1..=3650).contains(&d) => settings.outside_expiry_days = Some(d),
        Some(d) => problems.push(problem(
            "messaging.outside_expiry_days",
            format!("{d} is out of range; use 1 to 3650 days, or 0 for never"),
        )),
        None => {}
    }
    settings
}

/// The patient space's session idle limit (1 to 60 minutes; 10 by default) and the second
/// factors patients may choose (all by default; at least one).
fn resolve_patient_space(
    raw: &PatientSpaceSection,
    problems: &mut Vec<Problem>,
) -> sealroom_app::patient_space::PatientSpaceSettings {
    use sealroom_app::patient_space::{PatientSpaceSettings, SecondFactor};
    let mut settings = PatientSpaceSettings::default();
    if let Some(n) = raw.notify_every_seconds {
        if (1..=3600).contains(&n) {
            settings.notify_every = std::time::Duration::from_secs(n);
        } else {
            problems.push(problem(
                "patient_space.notify_every_seconds",
                format!("{n} is out of range; use 1 to 3600 seconds"),
            ));
        }
    }
    if let Some(may) = raw.patients_may_revoke_proxies {
        settings.patients_may_revoke_proxies = may;
    }
    for (department, model) in raw.account_models.clone().unwrap_or_default() {
        match sealroom_app::patient_space::AccountModel::parse(&model) {
            Some(m) => {
                settings.account_models.insert(department, m);
            }
            None => problems.push(problem(
                format!("patient_space.account_models.{department}"),
                format!("\"{model}\" is not an account model; use \"per_test\", \"per_patient\" or \"per_visit\""),
            )),
        }
    }
    if let Some(m) = raw.idle_minutes {
        if (1..=60).contains(&m) {
            settings.idle = sealroom_domain::Duration::minutes(m);
        } else {
            problems.push(problem(
                "patient_space.idle_minutes",
                format!("{m} is out of range; use 1 to 60 minutes"),
            ));
        }
    }
    if let Some(names) = &raw.second_factors {
        let mut factors = Vec::new();
        for n in names {
            match SecondFactor::parse(n) {
                Some(f) if !factors.contains(&f) => factors.push(f),
                Some(_) => {}
                None => problems.push(problem(
                    "patient_space.second_factors",
                    format!("\"{n}\" is not a second factor; use \"totp\", \"sms\", \"email\" or \"passkey\""),
                )),
            }
        }
        if factors.is_empty() && problems.is_empty() {
            problems.push(problem(
                "patient_space.second_factors",
                "at least one second factor must stay on, or no patient could sign in",
            ));
        }
        settings.factors = factors;
    }
    settings
}

/// The SMS gateway: an https URL (plain http only to this machine), the body template with
/// `{to}` and `{message}`, its content type, and an optional bearer token from a private file.
fn resolve_sms(
    s: &SmsSection,
    data_dir: &Path,
    problems: &mut Vec<Problem>,
) -> Option<sealroom_app::sms::GatewaySettings> {
    let url = s.gateway_url.as_deref().filter(|u| !u.trim().is_empty())?;
    let url = match url::Url::parse(url) {
        Ok(u) if u.scheme() == "https" => u,
        Ok(u)
            if u.scheme() == "http"
                && matches!(u.host(), Some(url::Host::Ipv4(a)) if a.is_loopback()) =>
        {
            u
        }
        _ => {
            problems.push(problem(
                "sms.gateway_url",
                "must be an https:// URL (plain http only to 127.0.0.1)",
            ));
            return None;
        }
    };
    let content_type = s
        .content_type
        .clone()
        .unwrap_or_else(|| "application/json".into());
    let body = s
        .body
        .clone()
        .unwrap_or_else(|| r#"{"to": "{to}", "text": "{message}"}"#.into());
    if !body.contains("{to}") || !body.contains("{message}") {
        problems.push(problem("sms.body", "must contain both {to} and {message}"));
    }
    let token = match &s.token_file {
        Some(path) => {
            let path = relative_to(data_dir, path.clone());
            check_private(&path, "sms.token_file", problems);
            match std::fs::read_to_string(&path) {
                Ok(t) => Some(t.trim().to_owned()),
                Err(e) => {
                    problems.push(problem("sms.token_file", format!("cannot be read: {e}")));
                    None
                }
            }
        }
        None => None,
    };
    Some(sealroom_app::sms::GatewaySettings {
        url,
        body,
        content_type,
        token,
    })
}

/// The document store, the upload limit and the resumable-upload expiry.
fn resolve_documents(
    d: &DocumentsSection,
    data_dir: &Path,
    problems: &mut Vec<Problem>,
) -> (DocumentStoreConfig, u64, i64, u64) {
    let max_mb = d.max_upload_mb.unwrap_or(8192);
    if !(1..=1024 * 1024).contains(&max_mb) {
        problems.push(problem(
            "documents.max_upload_mb",
            "must be between 1 and 1048576 (1 TiB)",
        ));
    }
    let expiry = d.upload_expiry_hours.unwrap_or(24);
    if !(1..=24 * 30).contains(&expiry) {
        problems.push(problem(
            "documents.upload_expiry_hours",
            "must be between 1 and 720 (30 days)",
        ));
    }
    let idle = d.upload_idle_seconds.unwrap_or(60);
    if !(1..=3600).contains(&idle) {
        problems.push(problem(
            "documents.upload_idle_seconds",
            "must be between 1 and 3600 (one hour)",
        ));
    }
    let store = match d.store.as_deref().unwrap_or("local") {
        "local" => DocumentStoreConfig::Local(relative_to(
            data_dir,
            d.directory
                .clone()
                .unwrap_or_else(|| PathBuf::from("blobs")),
        )),
        "s3" => {
            let mut need = |key: &str, v: &Option<String>| {
                let v = v.clone().filter(|s| !s.trim().is_empty());
                if v.is_none() {
                    problems.push(problem(
                        format!("documents.{key}"),
                        "is required when documents.store = \"s3\"",
                    ));
                }
                v.unwrap_or_default()
            };
            let bucket = need("s3_bucket", &d.s3_bucket);
            let access_key_id = need("s3_access_key_id", &d.s3_access_key_id);
            let secret_access_key = match &d.s3_secret_access_key_file {
                Some(path) => {
                    let path = relative_to(data_dir, path.clone());
                    check_private(&path, "documents.s3_secret_access_key_file", problems);
                    match std::fs::read_to_string(&path) {
                        Ok(s) => s.trim().to_owned(),
                        Err(e) => {
                            problems.push(problem(
                                "documents.s3_secret_access_key_file",
                                format!("cannot be read: {e}"),
                            ));
                            String::new()
                        }
                    }
                }
                None => {
                    problems.push(problem(
                        "documents.s3_secret_access_key_file",
                        "is required when documents.store = \"s3\" (the secret is kept in a file, never in the configuration)",
                    ));
                    String::new()
                }
            };
            let endpoint = d.s3_endpoint.clone().filter(|s| !s.trim().is_empty());
            let allow_http = d.s3_allow_http.unwrap_or(false);
            if let Some(e) = &endpoint {
                match url::Url::parse(e) {
                    Ok(u) if u.scheme() == "https" => {}
                    Ok(u) if u.scheme() == "http" && allow_http => {}
                    Ok(u) if u.scheme() == "http" => problems.push(problem(
                        "documents.s3_endpoint",
                        "is plain http; use https, or set documents.s3_allow_http = true for a store on this machine or a private network",
                    )),
                    _ => problems.push(problem(
                        "documents.s3_endpoint",
                        "must be an http(s) URL such as https://s3.example.org",
                    )),
                }
            }
            DocumentStoreConfig::S3 {
                endpoint,
                bucket,
                region: d.s3_region.clone().unwrap_or_else(|| "us-east-1".into()),
                access_key_id,
                secret_access_key,
                allow_http,
            }
        }
        _ => {
            problems.push(problem("documents.store", "must be local or s3"));
            DocumentStoreConfig::Local(data_dir.join("blobs"))
        }
    };
    (store, max_mb.saturating_mul(1024 * 1024), expiry, idle)
}

/// A secret file must not be readable or writable by group or others.
#[cfg(unix)]
pub fn check_private(path: &Path, key: &str, problems: &mut Vec<Problem>) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            problems.push(problem(
                key,
                format!(
                    "{} is readable by other users (mode {mode:o}); run: chmod 600 {}",
                    path.display(),
                    path.display()
                ),
            ));
        }
    }
}

#[cfg(not(unix))]
pub fn check_private(_: &Path, _: &str, _: &mut Vec<Problem>) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(
        toml_text: &str,
        env: &[(&str, &str)],
        dev: bool,
    ) -> (Result<Config, Vec<Problem>>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sealroom.toml");
        std::fs::write(&file, toml_text).unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let o = Overrides {
            data_dir: Some(dir.path().to_owned()),
            config_file: Some(file),
            listen: None,
            dev,
        };
        (load(&o, &env), dir)
    }

    fn keys(r: &Result<Config, Vec<Problem>>) -> Vec<String> {
        r.as_ref()
            .err()
            .map(|p| p.iter().map(|p| p.key.clone()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn defaults_are_secure() {
        let (r, dir) = load_with("", &[], false);
        let c = r.unwrap();
        assert_eq!(c.tls, TlsMode::SelfSigned);
        assert_eq!(c.listen, "127.0.0.1:8443");
        assert!(c.database_url.starts_with("sqlite://"));
        assert!(c.database_url.contains(dir.path().to_str().unwrap()));
        assert_eq!(
            (
                c.argon2_memory_kib,
                c.argon2_iterations,
                c.argon2_parallelism
            ),
            (19456, 2, 1)
        );
        assert_eq!((c.staff_idle_minutes, c.staff_absolute_minutes), (15, 720));
    }

    #[test]
    fn every_unknown_key_and_bad_value_is_reported_at_once() {
        let (r, _d) = load_with("[server]\nlisten = \"nowhere\"\nport = 1\n[databse]\nurl = \"x\"\n[passwords]\nargon2_memory_kib = 1024\n", &[], false);
        let k = keys(&r);
        assert!(k.contains(&"server.port".to_string()), "{k:?}");
        assert!(k.contains(&"databse".to_string()), "{k:?}");
        assert!(k.contains(&"server.listen".to_string()), "{k:?}");
        assert!(
            k.contains(&"passwords.argon2_memory_kib".to_string()),
            "{k:?}"
        );
    }

    #[test]
    fn release_rules_are_read_per_category_and_bad_ones_named() {
        use sealroom_app::release::ReleaseRule;
        use sealroom_domain::DataCategory;
        let (r, _d) = load_with(
            "[patient_space]\nrelease = { results = \"after 3 days\", administrative = \"immediately\", imaging = \"after_review\" }\n",
            &[],
            false,
        );
        let c = r.unwrap();
        assert_eq!(
            c.release_rules.get(&DataCategory::Results),
            Some(&ReleaseRule::AfterDays(3))
        );
        assert_eq!(
            c.release_rules.get(&DataCategory::Administrative),
            Some(&ReleaseRule::Immediately)
        );
        assert_eq!(c.release_rules.get(&DataCategory::Genetics), None);
        let (r, _d) = load_with(
            "[patient_space]\nrelease = { results = \"tomorrow\", lab = \"immediately\", imaging = \"after 400 days\" }\n",
            &[],
            false,
        );
        let k = keys(&r);
        for key in ["results", "lab", "imaging"] {
            assert!(k.contains(&format!("patient_space.release.{key}")), "{k:?}");
        }
        let message = format!("{:?}", r.err());
        assert!(message.contains("after N days"), "{message}");
    }

    #[test]
    fn the_sms_gateway_needs_https_and_both_placeholders() {
        let (r, _d) = load_with("", &[], false);
        assert!(r.unwrap().sms_gateway.is_none(), "no gateway: the outbox");
        let (r, _d) = load_with(
            "[sms]\ngateway_url = \"https://sms.example.org/send\"\n",
            &[],
            false,
        );
        let g = r.unwrap().sms_gateway.unwrap();
        assert_eq!(g.content_type, "application/json");
        assert!(g.body.contains("{to}") && g.body.contains("{message}"));
        let (r, _d) = load_with(
            "[sms]\ngateway_url = \"http://sms.example.org/send\"\nbody = \"to={to}\"\n",
            &[],
            false,
        );
        let k = keys(&r);
        assert!(k.contains(&"sms.gateway_url".to_string()), "{k:?}");
        let (r, _d) = load_with(
            "[sms]\ngateway_url = \"http://127.0.0.1:9/send\"\nbody = \"to={to}\"\n",
            &[],
            false,
        );
        assert_eq!(keys(&r), vec!["sms.body".to_string()]);
    }

    #[test]
    fn plain_http_needs_a_declared_proxy() {
        let (r, _d) = load_with("[tls]\nmode = \"proxy\"\n", &[], false);
        let p = r.unwrap_err();
        assert_eq!(p[0].key, "tls.mode");
        assert!(p[0].message.contains("trusted_addresses"));
        let (r, _d) = load_with(
            "[tls]\nmode = \"proxy\"\n[proxy]\ntrusted_addresses = [\"10.0.0.5\"]\n",
            &[],
            false,
        );
        assert_eq!(r.unwrap().tls, TlsMode::Proxy);
    }

    #[test]
    fn dev_is_plain_http_on_loopback_only() {
        let (r, _d) = load_with("", &[], true);
        assert_eq!(r.unwrap().tls, TlsMode::DevPlain);
        let (r, _d) = load_with("[server]\nlisten = \"0.0.0.0:8080\"\n", &[], true);
        assert_eq!(keys(&r), vec!["server.listen".to_string()]);
    }

    #[test]
    fn environment_overrides_the_file() {
        let (r, _d) = load_with(
            "[database]\nurl = \"sqlite://a.db\"\n",
            &[
                ("SEALROOM_DATABASE__URL", "postgres://db/sealroom"),
                ("SEALROOM_SESSIONS__STAFF_IDLE_MINUTES", "10"),
            ],
            false,
        );
        let c = r.unwrap();
        assert_eq!(c.database_url, "postgres://db/sealroom");
        assert_eq!(c.staff_idle_minutes, 10);
        let (r, _d) = load_with("", &[("SEALROOM_DATABASE_URL", "x")], false);
        assert_eq!(keys(&r), vec!["SEALROOM_DATABASE_URL".to_string()]);
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_readable_by_others_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("master.key");
        std::fs::write(&key, [0u8; 32]).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = Overrides {
            data_dir: Some(dir.path().to_owned()),
            ..Default::default()
        };
        let p = load(&o, &BTreeMap::new()).unwrap_err();
        assert_eq!(p[0].key, "secrets.master_key_file");
        assert!(p[0].message.contains("chmod 600"));
        let url_file = dir.path().join("db-url");
        std::fs::write(&url_file, "postgres://u:secret@db/s\n").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let env = BTreeMap::from([(
            "SEALROOM_DATABASE__URL_FILE".to_string(),
            url_file.display().to_string(),
        )]);
        assert_eq!(
            load(&o, &env).unwrap().database_url,
            "postgres://u:secret@db/s"
        );
    }
}
