//! The command line: `serve`, `config check`, `admin …`, `audit verify`. Every command takes
//! the same `--data-dir` and configuration, and works while the server runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use sealroom_app::accounts::Actor;
use sealroom_app::policy::Principal;
use sealroom_app::tokens::TokenOwner;
use sealroom_app::{Client, SystemClock};

use crate::config::{self, Config, Overrides};

#[derive(Parser, Debug)]
#[command(
    name = "sealroom",
    version,
    about = "Sealroom: a closed room for health data"
)]
pub struct Cli {
    /// Directory holding the database, keys and certificate.
    #[arg(long, global = true, env = "SEALROOM_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Configuration file (default: <data-dir>/sealroom.toml if present).
    #[arg(long, global = true, env = "SEALROOM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address and port to listen on (overrides server.listen).
    #[arg(long, global = true, env = "SEALROOM_LISTEN")]
    pub listen: Option<String>,
    /// Development mode: plain HTTP on a loopback address. Never in production.
    #[arg(long, global = true, env = "SEALROOM_DEV")]
    pub dev: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Configuration tasks.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Administration tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Audit log tasks.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Key management.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Retention of documents.
    #[command(subcommand)]
    Retention(RetentionCommand),
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Generate a new master key and re-wrap every key under it, without re-encrypting any
    /// data. Stop the server first; the old key file is kept as master.key.retired-<time>.
    RotateMaster,
}

#[derive(Subcommand, Debug)]
pub enum RetentionCommand {
    /// Shred every document whose retention has ended and that no legal hold keeps.
    Run {
        /// Only list what would go, and why.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Check the configuration and explain every problem.
    Check,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify the whole hash chain; names the first broken record.
    Verify,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a staff account and print its enrolment link.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
        /// The person's name (defaults to the part of the e-mail before @).
        #[arg(long)]
        name: Option<String>,
    },
    /// Print a new set-up link while the database has no account.
    SetupLink,
    /// Lift the password lock after too many failed sign-ins.
    Unlock {
        #[arg(long)]
        email: String,
    },
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token (printed once).
    Create(TokenCreate),
    /// List tokens.
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

#[derive(Args, Debug)]
pub struct TokenCreate {
    /// The token acts for this staff member, within their role.
    #[arg(long, conflicts_with = "service", required_unless_present = "service")]
    pub user: Option<String>,
    /// The token belongs to an integration.
    #[arg(long)]
    pub service: Option<String>,
    /// Scopes, comma separated: me:read, users:read, users:write, tokens:write, audit:read,
    /// organization:read, organization:write, security:review, patients:read, patients:write,
    /// records:write, scim (provisioning by the HR system).
    #[arg(long, alias = "scope", value_delimiter = ',', required = true)]
    pub scopes: Vec<String>,
    /// Validity in days (1 to 366).
    #[arg(long, default_value_t = 90)]
    pub days: i64,
    /// A label.
    #[arg(long, default_value = "")]
    pub name: String,
}

impl Cli {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            data_dir: Some(self.data_dir.clone()),
            config_file: self.config.clone(),
            listen: self.listen.clone(),
            dev: self.dev,
        }
    }
}

/// Load the configuration or print every problem.
pub fn load_config(cli: &Cli) -> Result<Config, String> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    config::load(&cli.overrides(), &env).map_err(|problems| {
        let mut out = String::from("The configuration has problems:\n");
        for p in problems {
            out.push_str(&format!("  - {p}\n"));
        }
        out
    })
}

fn operator() -> Actor {
    Actor {
        principal: Principal::Operator,
        stepped_up: true,
        client: Client {
            address: "local".into(),
            user_agent: "sealroom-cli".into(),
        },
    }
}

/// Run a non-serve command; returns the process exit code.
pub async fn run_task(cli: &Cli, config: &Config) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Serve | Command::Config(_) => Ok(0),
        Command::Audit(AuditCommand::Verify) => {
            let app = crate::serve::open_app(config, Arc::new(SystemClock)).await?;
            let report = app
                .verify_audit_chain()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            match report.first_broken {
                None => {
                    println!("audit chain intact: {} records verified", report.checked);
                    Ok(0)
                }
                Some((seq, why)) => {
                    println!(
                        "audit chain BROKEN at record {seq}: {why} ({} records before it verified)",
                        report.checked
                    );
                    Ok(1)
                }
            }
        }
        Command::Keys(KeysCommand::RotateMaster) => {
            let clock = SystemClock;
            let done = crate::keys::rotate_master(config, &clock).await?;
            let app = crate::serve::open_app(config, Arc::new(SystemClock)).await?;
            app.audit(
                "cli",
                sealroom_domain::AuditAction::MasterKeyRotated,
                "keyring",
                "success",
                &operator().client,
                serde_json::json!({
                    "patient_keys": done.rotation.patient_keys,
                    "signing_keys": done.rotation.signing_keys,
                }),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            app.store().close().await;
            println!(
                "master key rotated: re-wrapped the secrets root, {} patient keys and {} signing keys; no data was re-encrypted",
                done.rotation.patient_keys, done.rotation.signing_keys
            );
            println!(
                "the new key is at {}; the old one is kept at {} — back up the new key now, and destroy the old one once no backup needs it",
                config.master_key_file.display(),
                done.retired.display()
            );
            Ok(0)
        }
        Command::Retention(RetentionCommand::Run { dry_run }) => {
            let app = crate::serve::open_app(config, Arc::new(SystemClock)).await?;
            let report = app
                .run_retention(&operator(), *dry_run)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            app.store().close().await;
            for d in &report.due {
                let why = match d.action {
                    "held" => "kept: under legal hold".to_owned(),
                    _ if *dry_run => "would be shredded".to_owned(),
                    _ => "shredded".to_owned(),
                };
                println!(
                    "document {} (patient {}): retention class {} ended {} — {why}",
                    d.document_id,
                    d.patient_id,
                    d.retention_class,
                    sealroom_domain::Timestamp(d.retain_until).date()
                );
            }
            if *dry_run {
                println!(
                    "dry run: {} due, {} would be shredded, {} kept by legal hold; nothing was changed",
                    report.due.len(),
                    report.due.len() - report.held,
                    report.held
                );
            } else {
                println!(
                    "{} due: {} shredded, {} kept by legal hold{}",
                    report.due.len(),
                    report.shredded,
                    report.held,
                    if report.blobs_left > 0 {
                        format!("; {} blobs could not be removed (their keys are destroyed); run again to retry", report.blobs_left)
                    } else {
                        String::new()
                    }
                );
            }
            Ok(0)
        }
        Command::Admin(cmd) => {
            let app = crate::serve::open_app(config, Arc::new(SystemClock)).await?;
            let actor = operator();
            let fail = |e: sealroom_app::AppError| anyhow::anyhow!("{e}");
            match cmd {
                AdminCommand::CreateUser { email, role, name } => {
                    let name = name
                        .clone()
                        .unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_owned());
                    let created = app
                        .create_user(&actor, email, &name, role)
                        .await
                        .map_err(fail)?;
                    println!(
                        "created {} ({}); enrolment link (single use, expires in {} hours):",
                        created.user.email, created.user.role, config.enrolment_link_hours
                    );
                    println!("{}", created.enrolment_link);
                }
                AdminCommand::SetupLink => {
                    match app.issue_setup_link_if_empty().await.map_err(fail)? {
                        Some(link) => println!("set-up link: {link}"),
                        None => {
                            eprintln!("the server already has accounts; create more with `sealroom admin create-user`");
                            return Ok(1);
                        }
                    }
                }
                AdminCommand::Unlock { email } => {
                    app.unlock_account(&actor, email).await.map_err(fail)?;
                    println!("unlocked password sign-in for {email}");
                }
                AdminCommand::Token(TokenCommand::Create(t)) => {
                    let owner = match (&t.user, &t.service) {
                        (Some(u), _) => TokenOwner::User { email: u },
                        (None, Some(s)) => TokenOwner::Service { name: s },
                        (None, None) => {
                            return Err(anyhow::anyhow!("give --user EMAIL or --service NAME"))
                        }
                    };
                    let created = app
                        .create_api_token(&actor, owner, &t.name, &t.scopes, t.days)
                        .await
                        .map_err(fail)?;
                    println!(
                        "token {} for {} with scopes {}; expires at {} (Unix time). Shown once:",
                        created.summary.id,
                        created.summary.owner,
                        created.summary.scopes.join(","),
                        created.summary.expires_at
                    );
                    println!("{}", created.secret);
                }
                AdminCommand::Token(TokenCommand::List) => {
                    for t in app.list_api_tokens(&actor).await.map_err(fail)? {
                        let state = if t.revoked { "revoked" } else { "active" };
                        println!(
                            "{}\t{}\t{}\t{}\texpires {}\t{}",
                            t.id,
                            t.owner,
                            t.name,
                            t.scopes.join(","),
                            t.expires_at,
                            state
                        );
                    }
                }
                AdminCommand::Token(TokenCommand::Revoke { id }) => {
                    app.revoke_api_token(&actor, id).await.map_err(fail)?;
                    println!("revoked {id}");
                }
            }
            Ok(0)
        }
    }
}
