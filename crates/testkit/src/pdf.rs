//! Reading PDFs the server makes with an independent parser: Python's pypdf (installed by
//! `tools/python-deps.sh` with the other Python tools). Without it the test fails and says
//! how to get it.

use std::io::Write;
use std::process::{Command, Stdio};

/// Each page's text, as pypdf extracts it; panics (failing the test) on anything that is not
/// a well-formed PDF.
pub fn pdf_pages(pdf: &[u8]) -> Vec<String> {
    let python = crate::smtp::python();
    assert!(
        python.exists(),
        "{} is missing: run tools/python-deps.sh (it installs pypdf)",
        python.display()
    );
    let script = "import io, json, sys, pypdf\n\
                  r = pypdf.PdfReader(io.BytesIO(sys.stdin.buffer.read()), strict=True)\n\
                  print(json.dumps([p.extract_text() for p in r.pages]))";
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} did not start: {e}", python.display()));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(pdf)
            .unwrap_or_else(|e| panic!("pypdf's input: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("pypdf did not finish: {e}"));
    assert!(
        out.status.success(),
        "pypdf refused the PDF: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("pypdf's output: {e}"))
}
