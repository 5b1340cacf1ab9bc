//! A real SMTP server for tests: Python's aiosmtpd on loopback, keeping every message it
//! receives in a maildir. Sealroom's mail goes to it over SMTP exactly as it would to the
//! organization's relay.
//!
//! The Python with aiosmtpd is `TEST_PYTHON`, else `target/py/bin/python` as made by
//! `tools/python-deps.sh`. Without it the test fails and says how to get it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join("target/py/bin/python")
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let python = python();
        assert!(
            python.exists(),
            "no Python with aiosmtpd at {}: run tools/python-deps.sh (or set TEST_PYTHON)",
            python.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start aiosmtpd with {}: {e}", python.display()));
        let sink = SmtpSink { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start listening"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sink
    }

    /// The `mail.smtp_url` that reaches this sink.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, raw, with quoted-printable soft breaks and escapes
    /// undone so that links can be read.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.path().join("maildir").join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(e.path()) {
                    out.push(decode_quoted_printable(&text));
                }
            }
        }
        out
    }

    /// Every message received so far, decoded by Python's `email` package (not by the
    /// library that wrote it): (recipient, subject, body text).
    pub fn decoded_messages(&self) -> Vec<(String, String, String)> {
        let mut paths = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.dir.path().join("maildir").join(sub)) {
                paths.extend(entries.flatten().map(|e| e.path()));
            }
        }
        let script = "import email, json, sys\n\
                      from email import policy\n\
                      out = []\n\
                      for path in sys.argv[1:]:\n\
                      \x20   with open(path, 'rb') as f:\n\
                      \x20       m = email.message_from_binary_file(f, policy=policy.default)\n\
                      \x20   out.append([str(m['to']), str(m['subject']), m.get_body(('plain',)).get_content()])\n\
                      print(json.dumps(out))";
        let out = Command::new(python())
            .arg("-c")
            .arg(script)
            .args(&paths)
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "the messages could not be decoded: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("decoded messages as JSON")
    }

    /// Wait (at most 10 s) for a message for which `pick` is true.
    pub async fn wait_for(&self, pick: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| pick(m)) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no such message arrived; received: {:#?}",
                self.messages()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Undo quoted-printable soft line breaks and `=XX` escapes, if the message is so encoded.
fn decode_quoted_printable(text: &str) -> String {
    if !text
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: quoted-printable")
    {
        return text.to_owned();
    }
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
