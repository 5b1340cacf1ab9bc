//! A real S3-compatible server for the S3 blob-store tests: `s3s-fs` (from crates.io, installed
//! by `tools/s3-server.sh install`) serving a temporary directory on a loopback port. Each
//! bucket is a directory, so a test can look at exactly what reached the store.
//!
//! The binary is `SEALROOM_TEST_S3S_FS`, else `$S3S_ROOT/bin/s3s-fs`, else
//! `$CARGO_HOME/bin/s3s-fs`. If it is missing the test fails (never skips) and says how to
//! install it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ACCESS_KEY: &str = "s3test-access";
const SECRET_KEY: &str = "s3test-secret-key";

pub struct S3Server {
    child: Child,
    pub port: u16,
    /// The served root; `root/<bucket>` is the bucket.
    pub root: tempfile::TempDir,
    pub bucket: String,
    secret_file: PathBuf,
}

fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("SEALROOM_TEST_S3S_FS") {
        return PathBuf::from(p);
    }
    if let Ok(root) = std::env::var("S3S_ROOT") {
        return Path::new(&root).join("bin/s3s-fs");
    }
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(&std::env::var("HOME").unwrap_or_default()).join(".cargo"));
    cargo_home.join("bin/s3s-fs")
}

impl S3Server {
    pub fn start(bucket: &str) -> S3Server {
        let bin = binary();
        assert!(
            bin.exists(),
            "the S3 tests need s3s-fs at {}; install it with tools/s3-server.sh install",
            bin.display()
        );
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(bucket)).unwrap();
        let secret_file = root.path().join("s3-secret");
        std::fs::write(&secret_file, SECRET_KEY).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let data = root.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::rename(root.path().join(bucket), data.join(bucket)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "s3s-fs did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        S3Server {
            child,
            port,
            root,
            bucket: bucket.to_owned(),
            secret_file,
        }
    }

    /// The bucket's directory: every object the server stored is a file under it.
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.path().join("data").join(&self.bucket)
    }

    /// Settings that put a test server's documents in this bucket.
    pub fn env(&self) -> Vec<(String, String)> {
        let q = |s: &str| format!("\"{s}\"");
        vec![
            ("SEALROOM_DOCUMENTS__STORE".into(), q("s3")),
            (
                "SEALROOM_DOCUMENTS__S3_ENDPOINT".into(),
                q(&format!("http://127.0.0.1:{}", self.port)),
            ),
            ("SEALROOM_DOCUMENTS__S3_BUCKET".into(), q(&self.bucket)),
            ("SEALROOM_DOCUMENTS__S3_ACCESS_KEY_ID".into(), q(ACCESS_KEY)),
            (
                "SEALROOM_DOCUMENTS__S3_SECRET_ACCESS_KEY_FILE".into(),
                q(&self.secret_file.display().to_string()),
            ),
            ("SEALROOM_DOCUMENTS__S3_ALLOW_HTTP".into(), "true".into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
