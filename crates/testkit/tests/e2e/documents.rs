//! The clinical document store (issue 4): upload, correction, listing and download through
//! the real HTTPS API; encryption at rest (a planted marker appears nowhere on disk or in the
//! database); signatures and hashes checked on every read; tampering refused plainly and
//! alone; bad input; interrupted uploads leave nothing.

use std::path::{Path, PathBuf};

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use sealroom_testkit::{Backend, Options, TestServer};
use serde_json::{json, Value};

use crate::access::{get, hospital, patient_events, post, register, Hospital, Person};

both_backends!(
    documents_are_stored_encrypted_signed_and_read_through_policy,
    tampered_or_missing_content_is_refused_plainly_and_alone,
    bad_uploads_are_refused_clearly_and_leave_nothing_behind,
    legal_holds_erasure_by_two_people_and_retention_shred_for_good,
    rotating_the_master_key_rewraps_keys_and_leaves_documents_readable,
    resumable_uploads_survive_a_dropped_connection_and_stage_only_ciphertext,
    staff_pages_list_documents_with_their_signer_and_the_check,
);

const MARKER: &str = "MARKER-7f3a9c-Dupont-hemoglobin";

fn form(metadata: Value, filename: &str, media_type: &str, content: Vec<u8>) -> Form {
    Form::new()
        .part(
            "metadata",
            Part::text(metadata.to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "file",
            Part::bytes(content)
                .file_name(filename.to_owned())
                .mime_str(media_type)
                .unwrap(),
        )
}

async fn send_form(s: &TestServer, who: &Person, path: &str, form: Form) -> (StatusCode, Value) {
    let resp = s
        .client
        .post(s.url(path))
        .bearer_auth(&who.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub(crate) async fn upload(
    s: &TestServer,
    who: &Person,
    patient: &str,
    metadata: Value,
    filename: &str,
    content: Vec<u8>,
) -> Value {
    let (st, doc) = send_form(
        s,
        who,
        &format!("/api/v1/patients/{patient}/documents"),
        form(metadata, filename, "application/pdf", content),
    )
    .await;
    assert_eq!(st, 201, "{doc}");
    doc
}

async fn download(s: &TestServer, who: &Person, path: &str) -> reqwest::Response {
    s.client
        .get(s.url(path))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap()
}

/// A patient admitted to internal medicine, with a test for the laboratory.
pub(crate) async fn admitted_patient(s: &TestServer, h: &Hospital) -> (String, String) {
    let p = register(s, &h.reception, "Dupont", "Marie", "1961-03-14").await;
    let id = p["id"].as_str().unwrap().to_owned();
    let (st, _) = post(
        s,
        &h.reception,
        &format!("/api/v1/patients/{id}/admission"),
        json!({"department_id": h.im}),
    )
    .await;
    assert_eq!(st, 201);
    let (st, test) = post(
        s,
        &h.im_doctor,
        &format!("/api/v1/patients/{id}/tests"),
        json!({"laboratory_id": h.laboratory}),
    )
    .await;
    assert_eq!(st, 201, "{test}");
    (id, test["id"].as_str().unwrap().to_owned())
}

pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Every file the test server keeps: its data directory and, on SQLite, the database file
/// with its write-ahead log (which live in a directory of their own in tests).
pub(crate) fn stored_files(s: &TestServer) -> Vec<PathBuf> {
    let mut files = files_under(&s.config.data_dir);
    if let Some(db) = s.config.database_url.strip_prefix("sqlite://") {
        let db = PathBuf::from(db);
        assert!(db.exists(), "{}", db.display());
        files.extend(files_under(db.parent().unwrap()));
    }
    files
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every table row of the PostgreSQL database, as text, that contains `needle` in clear or
/// as hex (how bytea columns print).
async fn postgres_rows_containing(url: &str, needle: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let hex = hex::encode(needle);
    let mut found = 0;
    for t in tables {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM \"{t}\" r WHERE strpos(r::text, $1) > 0 OR strpos(r::text, $2) > 0"
        ))
        .bind(needle)
        .bind(&hex)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        found += n;
    }
    found
}

async fn documents_are_stored_encrypted_signed_and_read_through_policy(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let (patient, test) = admitted_patient(&s, &h).await;

    // The laboratory uploads the result of its test; 200 KiB spans several segments.
    let mut content = format!("%PDF-1.7 result {MARKER} ").into_bytes();
    content.extend((0..200 * 1024).map(|i| (i % 251) as u8));
    let doc = upload(
        &s,
        &h.lab,
        &patient,
        json!({"category": "results", "kind": "result", "title": format!("Blood count {MARKER}"), "test_id": test}),
        &format!("result-{MARKER}.pdf"),
        content.clone(),
    )
    .await;
    let doc_id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(doc["versions"][0]["version"], 1);
    assert_eq!(doc["versions"][0]["size"], content.len());
    assert_eq!(doc["versions"][0]["signature"]["status"], "verified");
    assert_eq!(
        doc["versions"][0]["signature"]["signer_id"],
        h.lab.id.as_str()
    );
    assert_eq!(doc["retention_class"], "standard");

    // The doctor caring for the patient reads it back, byte for byte, as an attachment.
    let resp = download(
        &s,
        &h.im_doctor,
        &format!("/api/v1/documents/{doc_id}/content"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"result-MARKER"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("sandbox"));
    assert_eq!(headers["x-sealroom-signature"], "verified");
    assert_eq!(headers["x-sealroom-signed-by"], h.lab.id.as_str());
    assert_eq!(resp.bytes().await.unwrap().as_ref(), content.as_slice());

    // A correction is a new version; the first stays readable.
    let corrected = b"%PDF-1.7 corrected result".to_vec();
    let (st, doc2) = send_form(
        &s,
        &h.lab,
        &format!("/api/v1/documents/{doc_id}/versions"),
        form(
            json!({"note": "Haemolysed sample, repeated"}),
            "result-v2.pdf",
            "application/pdf",
            corrected.clone(),
        ),
    )
    .await;
    assert_eq!(st, 201, "{doc2}");
    assert_eq!(doc2["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        doc2["versions"][1]["correction_note"],
        "Haemolysed sample, repeated"
    );
    let latest = download(
        &s,
        &h.im_doctor,
        &format!("/api/v1/documents/{doc_id}/content"),
    )
    .await;
    assert_eq!(latest.headers()["x-sealroom-version"], "2");
    assert_eq!(latest.bytes().await.unwrap().as_ref(), corrected.as_slice());
    let first = download(
        &s,
        &h.im_doctor,
        &format!("/api/v1/documents/{doc_id}/versions/1/content"),
    )
    .await;
    assert_eq!(first.bytes().await.unwrap().as_ref(), content.as_slice());

    // The list is filtered by policy: a sensitive category the nurse may not see is withheld.
    let (st, _) = send_form(
        &s,
        &h.im_doctor,
        &format!("/api/v1/patients/{patient}/documents"),
        form(
            json!({"category": "mental_health", "kind": "letter", "title": "Psychiatry letter"}),
            "letter.pdf",
            "application/pdf",
            b"letter".to_vec(),
        ),
    )
    .await;
    assert_eq!(st, 201);
    let (st, list) = get(
        &s,
        &h.im_doctor,
        &format!("/api/v1/patients/{patient}/documents"),
    )
    .await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(list["documents"].as_array().unwrap().len(), 2, "{list}");
    assert_eq!(
        list["documents"][1]["versions"][0]["signature"]["signer_name"],
        "Test Person"
    );
    assert_eq!(
        list["documents"][1]["versions"][0]["author_name"],
        "Test Person"
    );

    // Cardiology has no relation to the patient: nothing, not even existence, and audited.
    let (st, body) = get(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/patients/{patient}/documents"),
    )
    .await;
    assert_eq!(st, 404, "{body}");
    let resp = download(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/documents/{doc_id}/content"),
    )
    .await;
    assert_eq!(resp.status(), 404);
    assert!(!resp.text().await.unwrap().contains(MARKER));
    let (st, _) = get(&s, &h.cardio_doctor, &format!("/api/v1/documents/{doc_id}")).await;
    assert_eq!(st, 404);
    let (st, _) = send_form(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/patients/{patient}/documents"),
        form(
            json!({"category": "results", "kind": "result", "title": "x"}),
            "x.pdf",
            "application/pdf",
            b"x".to_vec(),
        ),
    )
    .await;
    assert_eq!(st, 404);
    let (st, _) = send_form(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/documents/{doc_id}/versions"),
        form(
            json!({"note": "corrected"}),
            "x.pdf",
            "application/pdf",
            b"x".to_vec(),
        ),
    )
    .await;
    assert_eq!(st, 404);
    let resp = download(
        &s,
        &h.cardio_doctor,
        &format!("/api/v1/documents/{doc_id}/versions/1/content"),
    )
    .await;
    assert_eq!(resp.status(), 404);

    let events = patient_events(&s, &patient).await;
    let by = |actor: &str, action: &str, outcome: &str| {
        events
            .iter()
            .filter(|(a, ac, o, _)| a == actor && ac == action && o == outcome)
            .count()
    };
    let lab = format!("user:{}", h.lab.id);
    let doctor = format!("user:{}", h.im_doctor.id);
    let cardio = format!("user:{}", h.cardio_doctor.id);
    assert_eq!(by(&lab, "document.upload_started", "granted"), 2);
    assert_eq!(by(&lab, "document.stored", "success"), 2);
    assert_eq!(by(&doctor, "document.read", "granted"), 3);
    assert!(
        by(&cardio, "patient.access_denied", "denied") >= 6,
        "{events:?}"
    );
    let read = events
        .iter()
        .find(|(a, ac, _, _)| *a == doctor && ac == "document.read")
        .unwrap();
    assert_eq!(read.3["purpose"], "TREAT");
    assert_eq!(read.3["document"], doc_id.as_str());

    // Only ciphertext was stored: the marker (in the content, title and file name) is
    // nowhere in the blob directory, the database files, or any database row.
    let marker = MARKER.as_bytes();
    let data_dir = s.config.data_dir.clone();
    let blobs = files_under(&data_dir.join("blobs"));
    assert!(blobs.len() >= 3, "{blobs:?}");
    for f in stored_files(&s) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !contains(&bytes, marker),
            "the marker is in {}",
            f.display()
        );
    }
    if b == Backend::Postgres {
        assert_eq!(
            postgres_rows_containing(&s.config.database_url, MARKER).await,
            0
        );
    }
}

/// The file holding a document's latest version.
async fn blob_of(s: &TestServer, d: &Value) -> PathBuf {
    let versions = s
        .app()
        .store()
        .versions(d["id"].as_str().unwrap())
        .await
        .unwrap();
    let key = versions.last().unwrap().blob_key.clone();
    files_under(&s.config.data_dir.join("blobs"))
        .into_iter()
        .find(|f| f.file_name().unwrap() == key.as_str())
        .unwrap()
}

/// Run `sql` (an UPDATE of `document_versions` with `$1` the document id) directly on the
/// database, as someone with database access would.
async fn alter_version(s: &TestServer, sql: &str, doc: &Value) {
    run_sql(s, sql, doc["id"].as_str().unwrap()).await;
}

/// Run `sql`, with `$1` bound to `id`, directly on the server's database.
pub(crate) async fn run_sql(s: &TestServer, sql: &str, id: &str) {
    use sqlx::Connection;
    let url = &s.config.database_url;
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sql).bind(id).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql).bind(id).execute(&mut conn).await.unwrap();
    }
}

async fn tampered_or_missing_content_is_refused_plainly_and_alone(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let (patient, _) = admitted_patient(&s, &h).await;
    let meta = json!({"category": "results", "kind": "report", "title": "Report"});
    let a = upload(
        &s,
        &h.im_doctor,
        &patient,
        meta.clone(),
        "a.pdf",
        vec![1u8; 150_000],
    )
    .await;
    let b_doc = upload(
        &s,
        &h.im_doctor,
        &patient,
        meta.clone(),
        "b.pdf",
        vec![2u8; 150_000],
    )
    .await;
    let c = upload(
        &s,
        &h.im_doctor,
        &patient,
        meta.clone(),
        "c.pdf",
        vec![3u8; 1000],
    )
    .await;
    let path = |d: &Value| format!("/api/v1/documents/{}/content", d["id"].as_str().unwrap());

    // One flipped bit in A's stored copy: refused plainly, audited, alerted; B unaffected.
    let file_a = blob_of(&s, &a).await;
    let mut bytes = std::fs::read(&file_a).unwrap();
    bytes[40_000] ^= 0x01;
    std::fs::write(&file_a, &bytes).unwrap();
    let resp = download(&s, &h.im_doctor, &path(&a)).await;
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "integrity_check_failed");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("failed its integrity check"),
        "{body}"
    );
    let ok = download(&s, &h.im_doctor, &path(&b_doc)).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.bytes().await.unwrap().len(), 150_000);

    // B's blob put in C's place: the hash no longer matches C's signed hash.
    std::fs::copy(blob_of(&s, &b_doc).await, blob_of(&s, &c).await).unwrap();
    let resp = download(&s, &h.im_doctor, &path(&c)).await;
    assert_eq!(resp.status(), 500);

    // The database record altered (the size): the signature no longer verifies, and the
    // listing says so.
    alter_version(
        &s,
        "UPDATE document_versions SET size = size + 1 WHERE document_id = $1",
        &b_doc,
    )
    .await;
    let resp = download(&s, &h.im_doctor, &path(&b_doc)).await;
    assert_eq!(resp.status(), 500);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("signature does not verify"));
    let (_, one) = get(
        &s,
        &h.im_doctor,
        &format!("/api/v1/documents/{}", b_doc["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(one["versions"][0]["signature"]["status"], "invalid");

    // A version recorded in the pre-release content format: refused with a plain message,
    // and not reported as tampering.
    alter_version(
        &s,
        "UPDATE document_versions SET content_format = 1 WHERE document_id = $1",
        &c,
    )
    .await;
    let resp = download(&s, &h.im_doctor, &path(&c)).await;
    assert_eq!(resp.status(), 503);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("pre-release build in content format 1"));
    let (_, listed) = get(
        &s,
        &h.im_doctor,
        &format!("/api/v1/documents/{}", c["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        listed["versions"][0]["signature"]["status"],
        "unsupported_format"
    );

    // A blob gone missing.
    std::fs::remove_file(blob_of(&s, &a).await).unwrap();
    let resp = download(&s, &h.im_doctor, &path(&a)).await;
    assert_eq!(resp.status(), 500);
    assert!(resp.text().await.unwrap().contains("missing"));

    let events = patient_events(&s, &patient).await;
    let failures: Vec<&Value> = events
        .iter()
        .filter(|(_, action, outcome, _)| {
            action == "document.integrity_failed" && outcome == "blocked"
        })
        .map(|e| &e.3)
        .collect();
    assert_eq!(failures.len(), 4, "{failures:?}");
    let alerts = s.app().store().open_alerts(100).await.unwrap();
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a.kind == "document.integrity_failed")
            .count(),
        4
    );
}

async fn bad_uploads_are_refused_clearly_and_leave_nothing_behind(b: Backend) {
    let s = TestServer::start_with(
        b,
        Options {
            env: vec![
                ("SEALROOM_DOCUMENTS__MAX_UPLOAD_MB".into(), "1".into()),
                ("SEALROOM_DOCUMENTS__UPLOAD_IDLE_SECONDS".into(), "2".into()),
            ],
        },
    )
    .await;
    let h = hospital(&s).await;
    let (patient, _) = admitted_patient(&s, &h).await;
    let url = format!("/api/v1/patients/{patient}/documents");
    let good = json!({"category": "results", "kind": "report", "title": "Report"});

    let cases = [
        (
            json!({"category": "x-rays", "kind": "report", "title": "R"}),
            "category",
        ),
        (
            json!({"category": "results", "kind": "memo", "title": "R"}),
            "kind must be one of",
        ),
        (
            json!({"category": "results", "kind": "report", "title": ""}),
            "title",
        ),
        (
            json!({"category": "results", "kind": "report", "title": "R", "retention_class": "forever"}),
            "standard",
        ),
        (
            json!({"category": "results", "kind": "report", "title": "R", "test_id": "nope"}),
            "test",
        ),
        (
            json!({"category": "results", "kind": "report", "title": "R", "colour": "red"}),
            "colour",
        ),
    ];
    for (meta, says) in cases {
        let (st, body) = send_form(
            &s,
            &h.im_doctor,
            &url,
            form(meta.clone(), "r.pdf", "application/pdf", b"x".to_vec()),
        )
        .await;
        assert_eq!(st, 400, "{meta}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{meta}: {body}"
        );
    }
    // The file before its metadata, and no file at all.
    let swapped = Form::new()
        .part("file", Part::bytes(b"x".to_vec()).file_name("r.pdf"))
        .part("metadata", Part::text(good.to_string()));
    let (st, body) = send_form(&s, &h.im_doctor, &url, swapped).await;
    assert_eq!(st, 400);
    assert!(
        body["message"].as_str().unwrap().contains("metadata"),
        "{body}"
    );
    let only_meta = Form::new().part("metadata", Part::text(good.to_string()));
    let (st, body) = send_form(&s, &h.im_doctor, &url, only_meta).await;
    assert_eq!(st, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("file"), "{body}");

    // Over the limit (1 MiB): refused with 413, nothing stored.
    let (st, body) = send_form(
        &s,
        &h.im_doctor,
        &url,
        form(
            good.clone(),
            "big.bin",
            "application/octet-stream",
            vec![0u8; 1_200_000],
        ),
    )
    .await;
    assert_eq!(st, 413, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("1 MiB"),
        "{body}"
    );

    // An upload cut off halfway: the client's body fails after 600 KB, sent slowly enough
    // that the server has begun storing it.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
        Ok(bytes::Bytes::from(vec![7u8; 300_000])),
        Ok(bytes::Bytes::from(vec![7u8; 300_000])),
        Err(std::io::Error::other("the connection dropped")),
    ];
    let slow = futures_util::StreamExt::then(futures_util::stream::iter(chunks), |c| async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        c
    });
    let body = reqwest::Body::wrap_stream(slow);
    let cut = Form::new()
        .part("metadata", Part::text(good.to_string()))
        .part("file", Part::stream(body).file_name("cut.pdf"));
    let sent = s
        .client
        .post(s.url(&url))
        .bearer_auth(&h.im_doctor.token)
        .multipart(cut)
        .send()
        .await;
    assert!(sent.is_err() || sent.unwrap().status() == 400);

    // Nothing was kept: no document, no blob, no partial file, and the attempts are audited.
    let mut left = Vec::new();
    for _ in 0..50 {
        left = files_under(&s.config.data_dir.join("blobs"));
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(left.is_empty(), "{left:?}");
    let (_, list) = get(
        &s,
        &h.im_doctor,
        &format!("/api/v1/patients/{patient}/documents"),
    )
    .await;
    assert_eq!(list["documents"], json!([]));
    // Every upload that got as far as starting and was not stored is audited as abandoned.
    // (A connection cut before the server began the upload leaves neither event.)
    let count = |events: &[(String, String, String, Value)], action: &str| {
        events.iter().filter(|(_, a, _, _)| a == action).count()
    };
    let mut events = Vec::new();
    for _ in 0..100 {
        events = patient_events(&s, &patient).await;
        if count(&events, "document.upload_started") == count(&events, "document.upload_abandoned")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(count(&events, "document.stored"), 0);
    let whys: Vec<&str> = events
        .iter()
        .filter(|(_, a, _, _)| a == "document.upload_abandoned")
        .map(|(_, _, _, d)| d["why"].as_str().unwrap())
        .collect();
    assert!(
        whys.contains(&"the file is larger than the limit of 1 MiB"),
        "{whys:?}"
    );
    assert!(whys.contains(&"the upload was interrupted"), "{whys:?}");
    assert!(
        whys.contains(&"the test is not one of this patient's"),
        "{whys:?}"
    );
    assert_eq!(
        count(&events, "document.upload_started"),
        count(&events, "document.upload_abandoned"),
        "{events:?}"
    );
}

async fn call_json(
    s: &TestServer,
    who: &Person,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    crate::access::call(s, who, method, path, body).await
}

fn operator() -> sealroom_app::accounts::Actor {
    sealroom_app::accounts::Actor {
        principal: sealroom_app::policy::Principal::Operator,
        stepped_up: true,
        client: sealroom_app::Client {
            address: "local".into(),
            user_agent: "test".into(),
        },
    }
}

async fn legal_holds_erasure_by_two_people_and_retention_shred_for_good(b: Backend) {
    use reqwest::Method;
    let s = TestServer::start_with(
        b,
        Options {
            env: vec![(
                "SEALROOM_RETENTION__CLASSES".into(),
                "{ standard = 7300, short = 30 }".into(),
            )],
        },
    )
    .await;
    let h = hospital(&s).await;
    let (patient, _) = admitted_patient(&s, &h).await;
    let short = |title: &str| json!({"category": "results", "kind": "report", "title": title, "retention_class": "short"});
    let a = upload(
        &s,
        &h.im_doctor,
        &patient,
        short(&format!("A {MARKER}")),
        "a.pdf",
        MARKER.as_bytes().to_vec(),
    )
    .await;
    let held = upload(
        &s,
        &h.im_doctor,
        &patient,
        short("B"),
        "b.pdf",
        b"B".to_vec(),
    )
    .await;
    let wrong = upload(
        &s,
        &h.im_doctor,
        &patient,
        json!({"category": "results", "kind": "letter", "title": "C"}),
        "c.pdf",
        b"C".to_vec(),
    )
    .await;
    let signed_by_leaver = upload(
        &s,
        &h.lab,
        &patient,
        json!({"category": "results", "kind": "result", "title": "D"}),
        "d.pdf",
        b"D".to_vec(),
    )
    .await;
    let id = |d: &Value| d["id"].as_str().unwrap().to_owned();
    let (a, held, wrong, signed_by_leaver) = (id(&a), id(&held), id(&wrong), id(&signed_by_leaver));
    let blobs = s.config.data_dir.join("blobs");
    assert_eq!(files_under(&blobs).len(), 4);

    // Records are managed by administrators and security officers only.
    let hold_path = format!("/api/v1/documents/{held}/legal-hold");
    let reason = json!({"reason": format!("Litigation {MARKER}")});
    let (st, _) = call_json(
        &s,
        &h.im_doctor,
        Method::PUT,
        &hold_path,
        Some(reason.clone()),
    )
    .await;
    assert_eq!(st, 403);
    let (st, body) = call_json(
        &s,
        &h.officer,
        Method::PUT,
        &hold_path,
        Some(json!({"reason": " "})),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    let (st, _) = call_json(
        &s,
        &h.officer,
        Method::PUT,
        &hold_path,
        Some(reason.clone()),
    )
    .await;
    assert_eq!(st, 204);
    let (st, body) = call_json(&s, &h.officer, Method::PUT, &hold_path, Some(reason)).await;
    assert_eq!(st, 409, "{body}");
    let (st, body) = post(
        &s,
        &h.officer,
        &format!("/api/v1/documents/{held}/erasure-requests"),
        json!({"legal_basis": "court-order", "reason": "x"}),
    )
    .await;
    assert_eq!(st, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("legal hold"),
        "{body}"
    );

    // Erasure: asked by one person, refused to the same person, approved by another.
    let erase_path = format!("/api/v1/documents/{wrong}/erasure-requests");
    let (st, body) = post(
        &s,
        &h.officer,
        &erase_path,
        json!({"legal_basis": "oops", "reason": "x"}),
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        body["message"].as_str().unwrap().contains("filed-in-error"),
        "{body}"
    );
    let (st, req) = post(
        &s,
        &h.officer,
        &erase_path,
        json!({"legal_basis": "filed-in-error", "reason": format!("Wrong patient {MARKER}")}),
    )
    .await;
    assert_eq!(st, 201, "{req}");
    assert_eq!(req["state"], "pending");
    let rid = req["id"].as_str().unwrap().to_owned();
    let (st, body) = post(
        &s,
        &h.officer,
        &format!("/api/v1/erasure-requests/{rid}/approval"),
        json!({}),
    )
    .await;
    assert_eq!(st, 409);
    assert!(
        body["message"].as_str().unwrap().contains("second person"),
        "{body}"
    );
    let (st, _) = post(
        &s,
        &h.im_doctor,
        &format!("/api/v1/erasure-requests/{rid}/approval"),
        json!({}),
    )
    .await;
    assert_eq!(st, 403);
    let (st, pending) = get(&s, &h.admin, "/api/v1/erasure-requests").await;
    assert_eq!(st, 200);
    assert_eq!(pending[0]["id"], rid.as_str());
    assert!(pending[0]["reason"]
        .as_str()
        .unwrap()
        .contains("Wrong patient"));
    assert_eq!(
        download(
            &s,
            &h.im_doctor,
            &format!("/api/v1/documents/{wrong}/content")
        )
        .await
        .status(),
        200
    );
    let (st, decided) = post(
        &s,
        &h.admin,
        &format!("/api/v1/erasure-requests/{rid}/approval"),
        json!({}),
    )
    .await;
    assert_eq!(st, 200, "{decided}");
    assert_eq!(decided["state"], "approved");
    let (st, body) = post(
        &s,
        &h.admin,
        &format!("/api/v1/erasure-requests/{rid}/approval"),
        json!({}),
    )
    .await;
    assert_eq!(st, 409, "{body}");
    let r = download(
        &s,
        &h.im_doctor,
        &format!("/api/v1/documents/{wrong}/content"),
    )
    .await;
    assert_eq!(r.status(), 410);
    assert!(r.text().await.unwrap().contains("approved erasure"));
    let (st, shown) = get(&s, &h.im_doctor, &format!("/api/v1/documents/{wrong}")).await;
    assert_eq!(st, 200);
    assert_eq!(shown["title"], Value::Null);
    assert_eq!(shown["versions"], json!([]));
    assert!(shown["shredded_at"].is_i64());
    assert_eq!(
        files_under(&blobs).len(),
        3,
        "the erased document's blob is removed"
    );
    let versions = s.app().store().versions(&wrong).await.unwrap();
    assert!(
        versions.iter().all(|v| v.wrapped_data_key.is_none()),
        "the data keys are destroyed"
    );

    // End of retention: 31 days on, the dry run lists and changes nothing.
    s.clock.advance(sealroom_domain::Duration::hours(24 * 31));
    let dry = s.app().run_retention(&operator(), true).await.unwrap();
    let mut due: Vec<(String, &str)> = dry
        .due
        .iter()
        .map(|d| (d.document_id.clone(), d.action))
        .collect();
    due.sort();
    let mut want = vec![(a.clone(), "shred"), (held.clone(), "held")];
    want.sort();
    assert_eq!(due, want);
    assert_eq!(dry.shredded, 0);
    assert_eq!(
        download(&s, &h.im_doctor, &format!("/api/v1/documents/{a}/content"))
            .await
            .status(),
        200
    );
    let run = s.app().run_retention(&operator(), false).await.unwrap();
    assert_eq!((run.shredded, run.held, run.blobs_left), (1, 1, 0));
    let r = download(&s, &h.im_doctor, &format!("/api/v1/documents/{a}/content")).await;
    assert_eq!(r.status(), 410);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("end of its retention period"));
    assert_eq!(
        download(
            &s,
            &h.im_doctor,
            &format!("/api/v1/documents/{held}/content")
        )
        .await
        .status(),
        200
    );
    // Released, the held document goes at the next run.
    let (st, _) = call_json(&s, &h.admin, Method::DELETE, &hold_path, None).await;
    assert_eq!(st, 204);
    let run = s.app().run_retention(&operator(), false).await.unwrap();
    assert_eq!((run.shredded, run.held), (1, 0));
    assert_eq!(
        files_under(&blobs).len(),
        1,
        "only the document kept for 20 years remains"
    );

    // A leaver's signing key is retired: what they signed still verifies, they sign no more.
    let (st, _) = post(
        &s,
        &h.admin,
        &format!("/api/v1/users/{}/offboarding", h.lab.id),
        json!({}),
    )
    .await;
    assert!(st.is_success(), "{st}");
    assert!(s
        .app()
        .store()
        .current_signing_key(&h.lab.id)
        .await
        .unwrap()
        .is_none());
    let r = download(
        &s,
        &h.im_doctor,
        &format!("/api/v1/documents/{signed_by_leaver}/content"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-sealroom-signature"], "verified");

    // The audit log keeps the facts, never the content or the reasons given.
    let events = patient_events(&s, &patient).await;
    let shredded: Vec<&Value> = events
        .iter()
        .filter(|e| e.1 == "document.shredded")
        .map(|e| &e.3)
        .collect();
    assert_eq!(shredded.len(), 3);
    assert!(shredded
        .iter()
        .any(|d| d["reason"] == format!("erasure:{rid}")));
    assert_eq!(
        shredded
            .iter()
            .filter(|d| d["reason"] == "retention:short")
            .count(),
        2
    );
    for action in [
        "document.legal_hold_set",
        "document.legal_hold_released",
        "document.erasure_requested",
        "document.erasure_decided",
    ] {
        assert!(events.iter().any(|e| e.1 == action), "{action}");
    }
    let all = s
        .app()
        .store()
        .audit_of_subject(&format!("patient:{patient}"), 0, 10_000)
        .await
        .unwrap();
    for e in &all {
        assert!(!format!("{e:?}").contains("MARKER"), "{e:?}");
    }
}

async fn rotating_the_master_key_rewraps_keys_and_leaves_documents_readable(b: Backend) {
    use futures_util::StreamExt;
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let (patient, _) = admitted_patient(&s, &h).await;
    let content = vec![42u8; 150_000];
    let doc = upload(
        &s,
        &h.im_doctor,
        &patient,
        json!({"category": "results", "kind": "report", "title": "Before rotation"}),
        "r.pdf",
        content.clone(),
    )
    .await;
    let doc_id = doc["id"].as_str().unwrap().to_owned();
    let key_file = s.config.master_key_file.clone();
    let old_key = std::fs::read_to_string(&key_file).unwrap();

    let done = sealroom_server::keys::rotate_master(&s.config, s.clock.as_ref())
        .await
        .unwrap();
    assert_eq!(done.rotation.roots, 1);
    assert_eq!(done.rotation.patient_keys, 1);
    assert_eq!(done.rotation.signing_keys, 1);
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(std::fs::read_to_string(&done.retired).unwrap(), old_key);
    assert!(!sealroom_server::keys::pending_path(&key_file).exists());

    // The old key no longer opens the database; the new one opens every key, and the document
    // (never re-encrypted) reads and verifies.
    let old = hex::decode(old_key.trim()).unwrap();
    assert!(
        sealroom_app::keyring::open(s.app().store(), &old, s.now() as i64)
            .await
            .is_err()
    );
    let app = sealroom_server::serve::open_app(&s.config, s.clock.clone())
        .await
        .unwrap();
    let doctor = sealroom_app::accounts::Actor {
        principal: sealroom_app::policy::Principal::Staff {
            user_id: h.im_doctor.id.clone(),
            role: sealroom_domain::Role::Clinician,
            scopes: None,
        },
        stepped_up: false,
        client: sealroom_app::Client {
            address: "127.0.0.1".into(),
            user_agent: "test".into(),
        },
    };
    let d = app.download_document(&doctor, &doc_id, None).await.unwrap();
    assert_eq!(d.version.signature.status, "verified");
    let mut read = Vec::new();
    let mut body = d.body;
    while let Some(chunk) = body.next().await {
        read.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(read, content);
    // New documents after the rotation are wrapped under the new key as well.
    let mut up = app
        .start_document(
            &doctor,
            sealroom_app::documents::NewDocument {
                patient_id: patient.clone(),
                category: sealroom_domain::DataCategory::Results,
                kind: sealroom_app::documents::DocumentKind::Report,
                title: "After rotation".into(),
                file: sealroom_app::documents::FileDescription {
                    filename: "after.pdf".into(),
                    media_type: "application/pdf".into(),
                    declared_size: None,
                },
                retention_class: None,
                episode_id: None,
                test_id: None,
                author_id: None,
            },
        )
        .await
        .unwrap();
    up.write(b"after").await.unwrap();
    let after = up.finish().await.unwrap();
    assert_eq!(after.versions[0].signature.status, "verified");
}

/// The S3 store against a real S3 server (s3s-fs) on loopback. The database backend does not
/// matter to the blob store, so this runs on SQLite only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_in_an_s3_bucket_are_ciphertext_only_and_checked_on_every_read() {
    let s3 = sealroom_testkit::S3Server::start("sealroom-documents");
    let s = TestServer::start_with(Backend::Sqlite, Options { env: s3.env() }).await;
    let h = hospital(&s).await;
    let (patient, _) = admitted_patient(&s, &h).await;
    // 300 KB: several segments; the marker repeats through the content.
    let content: Vec<u8> = MARKER
        .as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(300_000)
        .collect();
    let doc = upload(
        &s,
        &h.im_doctor,
        &patient,
        json!({"category": "results", "kind": "image", "title": format!("Scan {MARKER}")}),
        &format!("scan-{MARKER}.dcm"),
        content.clone(),
    )
    .await;
    let doc_id = doc["id"].as_str().unwrap().to_owned();
    let other = upload(
        &s,
        &h.im_doctor,
        &patient,
        json!({"category": "results", "kind": "report", "title": "Other"}),
        "other.pdf",
        b"other".to_vec(),
    )
    .await;

    // Read back through the bucket, byte for byte, verified.
    let resp = download(
        &s,
        &h.im_doctor,
        &format!("/api/v1/documents/{doc_id}/content"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-sealroom-signature"], "verified");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), content.as_slice());

    // Only ciphertext reached the bucket, and nothing landed in the local blob directory.
    let objects = files_under(&s3.bucket_dir());
    assert!(objects.len() >= 2, "{objects:?}");
    for f in &objects {
        let bytes = std::fs::read(f).unwrap();
        assert!(!contains(&bytes, MARKER.as_bytes()), "{}", f.display());
    }
    assert!(files_under(&s.config.data_dir.join("blobs")).is_empty());
    for f in stored_files(&s) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!contains(&bytes, MARKER.as_bytes()), "{}", f.display());
    }

    // An object altered in the bucket is refused plainly; the other document still reads.
    let blob_key = s.app().store().versions(&doc_id).await.unwrap()[0]
        .blob_key
        .clone();
    let object = objects
        .iter()
        .find(|p| p.to_string_lossy().ends_with(&blob_key))
        .unwrap_or_else(|| panic!("no object for {blob_key} in {objects:?}"))
        .clone();
    let mut bytes = std::fs::read(&object).unwrap();
    bytes[100_000] ^= 1;
    std::fs::write(&object, &bytes).unwrap();
    let resp = download(
        &s,
        &h.im_doctor,
        &format!("/api/v1/documents/{doc_id}/content"),
    )
    .await;
    assert_eq!(resp.status(), 500);
    assert!(resp.text().await.unwrap().contains("altered or damaged"));
    let resp = download(
        &s,
        &h.im_doctor,
        &format!(
            "/api/v1/documents/{}/content",
            other["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"other");

    // Erased: the object leaves the bucket.
    let (st, req) = post(
        &s,
        &h.officer,
        &format!("/api/v1/documents/{doc_id}/erasure-requests"),
        json!({"legal_basis": "filed-in-error", "reason": "Wrong patient"}),
    )
    .await;
    assert_eq!(st, 201, "{req}");
    let (st, _) = post(
        &s,
        &h.admin,
        &format!(
            "/api/v1/erasure-requests/{}/approval",
            req["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!(st, 200);
    assert!(!object.exists(), "the erased object is still in the bucket");
    assert_eq!(files_under(&s3.bucket_dir()).len(), objects.len() - 1);
}

pub(crate) async fn tus(
    s: &TestServer,
    who: &Person,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    s.client
        .request(method, s.url(path))
        .bearer_auth(&who.token)
        .header("tus-resumable", "1.0.0")
}

pub(crate) fn tus_metadata(pairs: &[(&str, &str)]) -> String {
    use data_encoding::BASE64;
    pairs
        .iter()
        .map(|(k, v)| format!("{k} {}", BASE64.encode(v.as_bytes())))
        .collect::<Vec<_>>()
        .join(",")
}

/// `PATCH` content to a tus upload from `offset`.
pub(crate) async fn tus_patch(
    s: &TestServer,
    who: &Person,
    location: &str,
    offset: usize,
    body: reqwest::Body,
) -> reqwest::Result<reqwest::Response> {
    tus(s, who, reqwest::Method::PATCH, location)
        .await
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", offset.to_string())
        .body(body)
        .send()
        .await
}

/// Send `sent` to a tus upload from `offset` in two slow pieces, then break the connection;
/// wait (up to 5 s) until the server holds `expect` bytes. Returns what it holds last.
pub(crate) async fn patch_then_drop(
    s: &TestServer,
    who: &Person,
    location: &str,
    offset: usize,
    sent: &[u8],
    expect: u64,
) -> u64 {
    let half = sent.len() / 2;
    let pieces: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
        Ok(bytes::Bytes::copy_from_slice(&sent[..half])),
        Ok(bytes::Bytes::copy_from_slice(&sent[half..])),
        Err(std::io::Error::other("the connection dropped")),
    ];
    let slow = futures_util::StreamExt::then(futures_util::stream::iter(pieces), |c| async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        c
    });
    let _ = tus_patch(s, who, location, offset, reqwest::Body::wrap_stream(slow)).await;
    let mut held = 0;
    for _ in 0..50 {
        held = offset_of(s, who, location).await.headers()["upload-offset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        if held == expect {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    held
}

pub(crate) async fn offset_of(s: &TestServer, who: &Person, location: &str) -> reqwest::Response {
    tus(s, who, reqwest::Method::HEAD, location)
        .await
        .send()
        .await
        .unwrap()
}

async fn resumable_uploads_survive_a_dropped_connection_and_stage_only_ciphertext(b: Backend) {
    use reqwest::Method;
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let (patient, _) = admitted_patient(&s, &h).await;
    let content: Vec<u8> = MARKER
        .as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(1_000_000)
        .collect();
    let length = content.len().to_string();
    let meta = tus_metadata(&[
        ("patient_id", &patient),
        ("category", "imaging"),
        ("kind", "image"),
        ("title", &format!("CT {MARKER}")),
        ("filename", "ct.dcm"),
        ("filetype", "application/dicom"),
    ]);

    // Discovery, and the protocol version is required.
    let r = s
        .client
        .request(Method::OPTIONS, s.url("/api/v1/uploads"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["tus-version"], "1.0.0");
    assert!(r.headers()["tus-extension"]
        .to_str()
        .unwrap()
        .contains("creation"));
    let r = s
        .client
        .post(s.url("/api/v1/uploads"))
        .bearer_auth(&h.im_doctor.token)
        .header("upload-length", &length)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);

    // Someone with no relation to the patient cannot even start one (and it is audited).
    let r = tus(&s, &h.cardio_doctor, Method::POST, "/api/v1/uploads")
        .await
        .header("upload-length", &length)
        .header("upload-metadata", &meta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let r = tus(&s, &h.im_doctor, Method::POST, "/api/v1/uploads")
        .await
        .header("upload-length", &length)
        .header("upload-metadata", &meta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let doc_id = r.headers()["x-sealroom-document"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(r.headers().contains_key("upload-expires"));
    let r = offset_of(&s, &h.im_doctor, &location).await;
    assert_eq!(r.headers()["upload-offset"], "0");
    assert_eq!(r.headers()["upload-length"], length.as_str());
    assert_eq!(
        offset_of(&s, &h.cardio_doctor, &location).await.status(),
        404
    );

    // 300 000 bytes: four whole segments (262 144 bytes) count; the rest is sent again.
    let patch =
        |offset: usize, body: reqwest::Body| tus_patch(&s, &h.im_doctor, &location, offset, body);
    let r = patch(0, content[..300_000].to_vec().into()).await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["upload-offset"], "262144");
    let r = patch(0, content[..10].to_vec().into()).await.unwrap();
    assert_eq!(r.status(), 409, "a wrong offset is refused");

    // The connection drops after 200 000 more bytes: three more whole segments are kept.
    let held = patch_then_drop(
        &s,
        &h.im_doctor,
        &location,
        262_144,
        &content[262_144..462_144],
        458_752,
    )
    .await;
    assert_eq!(held, 458_752);

    // What is staged is ciphertext only.
    let staging = s.config.data_dir.join("uploads");
    let staged = files_under(&staging);
    assert_eq!(staged.len(), 1);
    assert!(!contains(
        &std::fs::read(&staged[0]).unwrap(),
        MARKER.as_bytes()
    ));

    // The server stopped before it recorded the last two segments it had written (a crash, a
    // failed fsync): they are on disk but unacknowledged, and the client resends from where
    // the server says it stands. Different bytes there would reuse those segments' nonces
    // with other plaintext: refused, and the staged file is left as it was.
    let upload_id = location.rsplit('/').next().unwrap().to_owned();
    run_sql(
        &s,
        "UPDATE uploads SET segments = 5 WHERE id = $1",
        &upload_id,
    )
    .await;
    let before = std::fs::read(&staged[0]).unwrap();
    let mut changed = content[327_680..470_000].to_vec();
    changed[100] ^= 0xff;
    let r = patch(327_680, changed.into()).await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("differs from what was sent"));
    assert_eq!(std::fs::read(&staged[0]).unwrap(), before);
    // The same bytes again are accepted, and the upload stands where it did.
    let r = patch(327_680, content[327_680..470_000].to_vec().into())
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{:?}", r.text().await);
    assert_eq!(r.headers()["upload-offset"], "458752");

    // More than announced is refused; then the rest completes the document.
    let mut too_much = content[458_752..].to_vec();
    too_much.extend_from_slice(b"extra");
    let r = patch(458_752, too_much.into()).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = offset_of(&s, &h.im_doctor, &location).await;
    let offset: usize = r.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let r = patch(offset, content[offset..].to_vec().into())
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{:?}", r.text().await);
    assert_eq!(r.headers()["upload-offset"], length.as_str());
    assert_eq!(r.headers()["x-sealroom-document"], doc_id.as_str());
    assert!(files_under(&staging).is_empty());
    assert_eq!(offset_of(&s, &h.im_doctor, &location).await.status(), 404);
    let r = download(
        &s,
        &h.im_doctor,
        &format!("/api/v1/documents/{doc_id}/content"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-sealroom-signature"], "verified");
    assert_eq!(r.headers()["content-type"], "application/dicom");
    assert_eq!(r.bytes().await.unwrap().as_ref(), content.as_slice());
    for f in stored_files(&s) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!contains(&bytes, MARKER.as_bytes()), "{}", f.display());
    }

    // Cancelled and expired uploads leave nothing, and say why in the audit log.
    let create = || async {
        let r = tus(&s, &h.im_doctor, Method::POST, "/api/v1/uploads")
            .await
            .header("upload-length", "1000")
            .header("upload-metadata", &meta)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.headers()["location"].to_str().unwrap().to_owned()
    };
    let cancelled = create().await;
    let r = tus(&s, &h.im_doctor, Method::DELETE, &cancelled)
        .await
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(offset_of(&s, &h.im_doctor, &cancelled).await.status(), 404);
    let expiring = create().await;
    s.clock.advance(sealroom_domain::Duration::hours(25));
    assert_eq!(offset_of(&s, &h.im_doctor, &expiring).await.status(), 404);
    assert!(files_under(&staging).is_empty());
    let whys: Vec<String> = patient_events(&s, &patient)
        .await
        .into_iter()
        .filter(|e| e.1 == "document.upload_abandoned")
        .map(|e| e.3["why"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        whys.contains(&"cancelled by the uploader".to_owned()),
        "{whys:?}"
    );
    assert!(
        whys.contains(&"the upload expired before it was complete".to_owned()),
        "{whys:?}"
    );
}

async fn staff_pages_list_documents_with_their_signer_and_the_check(b: Backend) {
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let (patient, _) = admitted_patient(&s, &h).await;
    let doc = upload(
        &s,
        &h.lab,
        &patient,
        json!({"category": "results", "kind": "result", "title": "Full blood count"}),
        "fbc.pdf",
        b"%PDF-1.7 fbc".to_vec(),
    )
    .await;
    let letter = upload(
        &s,
        &h.im_doctor,
        &patient,
        json!({"category": "mental_health", "kind": "letter", "title": "Psychiatry letter"}),
        "psy.pdf",
        b"%PDF-1.7 psy".to_vec(),
    )
    .await;
    let doc_id = doc["id"].as_str().unwrap().to_owned();

    // A nurse of the department, signed in through the pages.
    let nurse = crate::journeys::enrolled_staff(&s, "ward-nurse@example.org", "nurse").await;
    let nurse_id = s
        .app()
        .store()
        .user_by_email("ward-nurse@example.org")
        .await
        .unwrap()
        .unwrap()
        .id;
    let (st, a) = post(
        &s,
        &h.admin,
        &format!("/api/v1/users/{nurse_id}/assignments"),
        json!({"department_id": h.im, "role": "nurse"}),
    )
    .await;
    assert_eq!(st, 201, "{a}");
    let (st, page) = crate::journeys::get_page(&nurse.client, &s, "/patients").await;
    assert_eq!(st, 200, "{page}");
    assert!(
        page.contains("Dupont") && page.contains(&format!("/patients/{patient}/documents")),
        "{page}"
    );
    assert!(
        page.contains("href=\"/patients\""),
        "the menu links the page"
    );

    let (st, page) =
        crate::journeys::get_page(&nurse.client, &s, &format!("/patients/{patient}/documents"))
            .await;
    assert_eq!(st, 200, "{page}");
    assert!(
        page.contains("Full blood count") && page.contains("Psychiatry letter"),
        "{page}"
    );
    assert_eq!(page.matches("✓ Verified").count(), 2, "{page}");
    assert!(
        page.contains("<td>Test Person</td>"),
        "the signer is named: {page}"
    );
    assert!(!page.contains("id=\"withheld\""), "{page}");
    let link = format!("/api/v1/documents/{doc_id}/versions/1/content");
    assert!(page.contains(&link), "{page}");
    // The link downloads with the browser session, as an attachment.
    let r = nurse.client.get(s.url(&link)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"%PDF-1.7 fbc");

    // Neither document is in the patient space yet; the nurse releases the blood count from
    // the page. A post without the page's form token changes nothing.
    assert_eq!(page.matches("Waiting for review").count(), 2, "{page}");
    let release = |d: &str| format!("/patients/{patient}/documents/{d}/release");
    assert!(page.contains(&release(&doc_id)), "{page}");
    let letter_id = letter["id"].as_str().unwrap().to_owned();
    let r = crate::journeys::post_form(
        &nurse.client,
        &s,
        &release(&letter_id),
        &[("_csrf", "forged")],
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = crate::journeys::post_form(
        &nurse.client,
        &s,
        &release(&doc_id),
        &[("_csrf", &sealroom_testkit::csrf_of(&page))],
    )
    .await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let (st, page) = crate::journeys::get_page(
        &nurse.client,
        &s,
        &format!("/patients/{patient}/documents?released=1"),
    )
    .await;
    assert_eq!(st, 200);
    assert!(page.contains("the patient can now see"), "{page}");
    assert_eq!(page.matches("Waiting for review").count(), 1, "{page}");
    assert_eq!(page.matches("Visible since").count(), 1, "{page}");
    let visible: Vec<String> = s
        .app()
        .released_documents(&patient)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(visible, vec![doc_id.clone()]);

    // The laboratory sees the results of its test, and is told what is withheld.
    let tech = crate::journeys::enrolled_staff(&s, "tech@example.org", "laboratory").await;
    let tech_id = s
        .app()
        .store()
        .user_by_email("tech@example.org")
        .await
        .unwrap()
        .unwrap()
        .id;
    let (st, a) = post(
        &s,
        &h.admin,
        &format!("/api/v1/users/{tech_id}/assignments"),
        json!({"department_id": h.laboratory, "role": "laboratory"}),
    )
    .await;
    assert_eq!(st, 201, "{a}");
    let (st, page) =
        crate::journeys::get_page(&tech.client, &s, &format!("/patients/{patient}/documents"))
            .await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("Full blood count"), "{page}");
    assert!(!page.contains("Psychiatry letter"), "{page}");
    assert!(
        page.contains("id=\"withheld\"") && page.contains("mental health"),
        "{page}"
    );

    // Someone with no relation to the patient sees nothing, not even that it exists.
    let outsider = crate::journeys::enrolled_staff(&s, "other@example.org", "clinician").await;
    let (st, page) = crate::journeys::get_page(
        &outsider.client,
        &s,
        &format!("/patients/{patient}/documents"),
    )
    .await;
    assert_eq!(st, 404);
    assert!(!page.contains("Full blood count"));
    let (_, page) = crate::journeys::get_page(&outsider.client, &s, "/patients").await;
    assert!(
        page.contains("No patient is admitted to your departments now."),
        "{page}"
    );
}
