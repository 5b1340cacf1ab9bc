//! `sealroom`: the server and its command-line tasks.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use sealroom_app::SystemClock;
use sealroom_server::cli::{self, Cli, Command, ConfigCommand};
use sealroom_server::config::{Config, TlsMode};

fn init_logging(config: Option<&Config>) {
    let level = std::env::var("SEALROOM_LOG")
        .ok()
        .or_else(|| config.map(|c| c.log_level.clone()))
        .unwrap_or_else(|| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{level},sqlx=warn,hyper=warn,webauthn_rs_core=warn"
    ))
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    if config.is_some_and(|c| c.log_json) {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    sealroom_server::tune_allocator();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(run()),
        Err(e) => {
            eprintln!("sealroom cannot start: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli::load_config(&cli) {
        Ok(c) => c,
        Err(report) => {
            eprint!("{report}");
            if !matches!(cli.command, Command::Config(ConfigCommand::Check)) {
                eprintln!("sealroom refuses to start until these are fixed.");
            }
            return ExitCode::from(2);
        }
    };
    init_logging(Some(&config));
    match &cli.command {
        Command::Config(ConfigCommand::Check) => {
            println!("configuration OK");
            println!("  data directory: {}", config.data_dir.display());
            println!(
                "  database: {}",
                if config.database_url.starts_with("sqlite:") {
                    "SQLite (embedded)"
                } else {
                    "PostgreSQL"
                }
            );
            println!(
                "  listen: {} ({})",
                config.listen,
                match config.tls {
                    TlsMode::SelfSigned => "HTTPS, self-signed certificate for localhost",
                    TlsMode::Files { .. } => "HTTPS, operator's certificate",
                    TlsMode::Proxy => "plain HTTP behind a declared TLS proxy",
                    TlsMode::DevPlain => "plain HTTP, development only",
                }
            );
            ExitCode::SUCCESS
        }
        Command::Serve => match serve(&config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sealroom cannot start: {e:#}");
                ExitCode::from(1)
            }
        },
        _ => match cli::run_task(&cli, &config).await {
            Ok(0) => ExitCode::SUCCESS,
            Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    let running = sealroom_server::serve::start(config, Arc::new(SystemClock)).await?;
    let scheme = if matches!(config.tls, TlsMode::DevPlain | TlsMode::Proxy) {
        "http"
    } else {
        "https"
    };
    println!(
        "sealroom {} listening on {scheme}://{}",
        env!("CARGO_PKG_VERSION"),
        running.local_addr
    );
    println!("open {}", running.public_url);
    if matches!(config.tls, TlsMode::SelfSigned) {
        let (cert, _) = sealroom_server::tls::self_signed_paths(&config.data_dir);
        println!(
            "self-signed certificate (tell your browser or client to trust it): {}",
            cert.display()
        );
    }
    if matches!(config.tls, TlsMode::DevPlain) {
        println!(
            "DEVELOPMENT MODE: plain HTTP on a loopback address; never use --dev in production"
        );
    }
    if let Some(link) = &running.setup_link {
        println!("no account exists yet; create the first administrator with this one-time set-up link (valid {} minutes):", config.setup_link_minutes);
        println!("set-up link: {link}");
    }
    let handle = running.handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        handle.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    running.task.await??;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
