//! The `sealroom` binary as an operator uses it: configuration checks, refusal to start on bad
//! configuration or a newer database, and command-line tasks while the server runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sealroom");

fn sealroom(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("SEALROOM_DATABASE__URL")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A server process on port 0; the first lines of its output until the set-up link.
struct Server {
    child: Child,
    port: u16,
    setup_link: String,
}

impl Server {
    fn start(data_dir: &Path) -> Server {
        let mut child = Command::new(BIN)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut port, mut link) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        while port.is_none() || link.is_none() {
            assert!(Instant::now() < deadline, "server did not start");
            let line = lines.next().unwrap().unwrap();
            if let Some(rest) = line.split("listening on https://127.0.0.1:").nth(1) {
                port = Some(rest.trim().parse().unwrap());
            }
            if let Some(rest) = line.strip_prefix("set-up link: ") {
                link = Some(rest.to_owned());
            }
        }
        Server {
            child,
            port: port.unwrap(),
            setup_link: link.unwrap(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn config_check_explains_every_problem_and_serve_refuses_with_the_same() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sealroom.toml"),
        "[server]\nlisten = \"everywhere\"\ncolour = \"blue\"\n[tls]\nmode = \"proxy\"\n[passwords]\nargon2_iterations = 1\n",
    )
    .unwrap();
    let check = sealroom(dir.path(), &["config", "check"]);
    assert_eq!(check.status.code(), Some(2));
    let report = text(&check);
    for expected in [
        "server.colour: unknown key",
        "server.listen: 'everywhere' is not an address",
        "tls.mode: plain HTTP behind a proxy needs proxy.trusted_addresses",
        "passwords.argon2_iterations: must be at least 2",
    ] {
        assert!(
            report.contains(expected),
            "missing {expected:?} in:\n{report}"
        );
    }
    let serve = sealroom(dir.path(), &["serve"]);
    assert_eq!(serve.status.code(), Some(2));
    let refused = text(&serve);
    assert!(
        refused.contains(report.trim_end()),
        "serve explains differently:\n{refused}"
    );
    assert!(refused.contains("refuses to start"));
    assert!(
        !dir.path().join("sealroom.db").exists(),
        "nothing is created on a refused start"
    );
}

#[test]
fn a_key_file_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    std::fs::write(&key, "00".repeat(32)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let check = sealroom(dir.path(), &["config", "check"]);
    assert_eq!(check.status.code(), Some(2));
    assert!(
        text(&check).contains("is readable by other users"),
        "{}",
        text(&check)
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let check = sealroom(dir.path(), &["config", "check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert!(text(&check).contains("configuration OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_work_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    assert!(server
        .setup_link
        .starts_with(&format!("https://localhost:{}/setup?token=", server.port)));
    // Files the first start creates, private.
    use std::os::unix::fs::PermissionsExt;
    for f in ["master.key", "tls/localhost.key"] {
        let mode = std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let created = sealroom(
        dir.path(),
        &[
            "admin",
            "create-user",
            "--email",
            "nurse@example.org",
            "--role",
            "nurse",
        ],
    );
    assert!(created.status.success(), "{}", text(&created));
    let out = text(&created);
    // Links use the configured public address (server.public_url, or the configured listen port).
    assert!(
        out.contains("https://localhost:8443/enrol/accept?token="),
        "{out}"
    );
    let bad_role = sealroom(
        dir.path(),
        &[
            "admin",
            "create-user",
            "--email",
            "x@example.org",
            "--role",
            "king",
        ],
    );
    assert_eq!(bad_role.status.code(), Some(1));
    assert!(text(&bad_role).contains("unknown role 'king'"));

    let token_out = sealroom(
        dir.path(),
        &[
            "admin",
            "token",
            "create",
            "--service",
            "hr-sync",
            "--scopes",
            "users:read",
        ],
    );
    assert!(token_out.status.success(), "{}", text(&token_out));
    let secret = String::from_utf8_lossy(&token_out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    assert!(secret.starts_with("srk_"));
    let cert = std::fs::read(dir.path().join("tls/localhost.crt")).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).unwrap())
        .resolve(
            "localhost",
            format!("127.0.0.1:{}", server.port).parse().unwrap(),
        )
        .build()
        .unwrap();
    let users: serde_json::Value = client
        .get(format!("https://localhost:{}/api/v1/users", server.port))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        users[0]["email"], "nurse@example.org",
        "the running server sees what the command created"
    );
    let listed = text(&sealroom(dir.path(), &["admin", "token", "list"]));
    assert!(
        listed.contains("service:hr-sync") && !listed.contains(&secret),
        "{listed}"
    );

    let verify = sealroom(dir.path(), &["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    assert!(text(&verify).contains("audit chain intact"));
    drop(server);

    // Tamper with a record as someone with file access would, then verify again.
    let store = sealroom_store::Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("sealroom.db").display()
    ))
    .await
    .unwrap();
    store.execute_raw("DROP TRIGGER audit_events_no_update; UPDATE audit_events SET actor = 'user:nobody' WHERE seq = 2").await.unwrap();
    store.close().await;
    let verify = sealroom(dir.path(), &["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        text(&verify).contains("audit chain BROKEN at record 2"),
        "{}",
        text(&verify)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_a_newer_release_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sealroom.db").display());
    let store = sealroom_store::Store::open(&url).await.unwrap();
    store
        .execute_raw("INSERT INTO sealroom_schema (version, applied_at) VALUES (42, 0)")
        .await
        .unwrap();
    store.close().await;
    let out = sealroom(dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    let msg = text(&out);
    assert!(
        msg.contains("schema version 42, newer than this server knows"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_master_key_is_never_silently_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sealroom.db").display());
    let store = sealroom_store::Store::open(&url).await.unwrap();
    store
        .execute_raw("INSERT INTO users (id, email, display_name, role, status, password_locked, one_session_only, created_at, updated_at) VALUES ('u1', 'a@example.org', 'A', 'nurse', 'active', 0, 0, 1, 1)")
        .await
        .unwrap();
    store.close().await;
    let out = sealroom(dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("master key file"), "{}", text(&out));
    assert!(
        !dir.path().join("master.key").exists(),
        "a new key was generated over an existing database"
    );
}

#[test]
fn tasks_refuse_a_data_directory_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = sealroom(&dir.path().join("typo"), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("there is no database at"),
        "{}",
        text(&out)
    );
    assert!(!dir.path().join("typo").join("sealroom.db").exists());
}

#[test]
fn the_master_key_rotates_with_the_server_stopped_and_an_interrupted_rotation_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("master.key");
    let server = Server::start(dir.path());
    let first = std::fs::read_to_string(&key_file).unwrap();
    // While a server answers on the configured address, rotation is refused.
    let listen = format!("127.0.0.1:{}", server.port);
    let out = sealroom(dir.path(), &["--listen", &listen, "keys", "rotate-master"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("stop every Sealroom server"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), first);
    drop(server);

    let out = sealroom(dir.path(), &["keys", "rotate-master"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("master key rotated"), "{}", text(&out));
    let second = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(second, first);
    let retired: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("master.key.retired-"))
        .collect();
    assert_eq!(retired.len(), 1);
    assert_eq!(std::fs::read_to_string(&retired[0]).unwrap(), first);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The server starts with the new key; the rotation is in the (intact) audit chain.
    drop(Server::start(dir.path()));
    let out = sealroom(dir.path(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // The old key no longer opens the database.
    std::fs::write(&key_file, &first).unwrap();
    let out = sealroom(dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("does not open this database's keys"),
        "{}",
        text(&out)
    );
    std::fs::write(&key_file, &second).unwrap();

    // A rotation that committed but stopped before renaming the files (the old key still in
    // place, the new one beside it) is finished at start-up.
    let out = sealroom(dir.path(), &["keys", "rotate-master"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let third = std::fs::read_to_string(&key_file).unwrap();
    std::fs::write(dir.path().join("master.key.new"), &third).unwrap();
    std::fs::write(&key_file, &second).unwrap();
    drop(Server::start(dir.path()));
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), third);
    assert!(!dir.path().join("master.key.new").exists());
}

#[test]
fn retention_dry_run_lists_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    drop(Server::start(dir.path()));
    let out = sealroom(dir.path(), &["retention", "run", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(
            "dry run: 0 due, 0 would be shredded, 0 kept by legal hold; nothing was changed"
        ),
        "{}",
        text(&out)
    );
    let out = sealroom(dir.path(), &["retention", "run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("0 due: 0 shredded"), "{}", text(&out));
}
