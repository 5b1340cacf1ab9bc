//! FHIR R4 at /fhir/R4: every resource the server emits is kept and validated at the end
//! against the official R4 definitions by an independent validator (tools/fhir, the R4 JSON
//! schema); reads and writes go through policy and audit; bad resources get an
//! OperationOutcome naming the element.

use std::path::{Path, PathBuf};

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use sealroom_testkit::{Backend, TestServer};
use serde_json::{json, Value};

use crate::access::{hospital, patient_events, post, register, Person};

both_backends!(fhir_r4_reads_writes_and_searches_through_policy_and_validates);

/// Every resource the server sent, written to a directory for the validator.
struct Emitted {
    dir: tempfile::TempDir,
    n: usize,
}

impl Emitted {
    fn keep(&mut self, what: &str, v: &Value) {
        self.n += 1;
        let path = self.dir.path().join(format!("{:03}-{what}.json", self.n));
        std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    }
}

fn validator() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("tools/fhir/validate.mjs");
    assert!(
        root.join("tools/fhir/node_modules").exists(),
        "the FHIR validator's modules are missing; run tools/fhir-deps.sh"
    );
    script
}

/// Run the independent validator over `dir`; its output and whether everything passed.
fn validate(dir: &Path) -> (bool, String) {
    let out = std::process::Command::new("node")
        .arg(validator())
        .arg(dir)
        .output()
        .expect("node must be installed to validate FHIR resources");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn fhir(
    s: &TestServer,
    who: Option<&Person>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut r = s.client.request(method, s.url(path));
    if let Some(p) = who {
        r = r.bearer_auth(&p.token);
    }
    if let Some(b) = body {
        r = r
            .header("content-type", "application/fhir+json")
            .body(b.to_string());
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    )
}

fn observation(patient: &str, category: &str, code: &str, when: &str, value: f64) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": "Hemoglobin [Mass/volume] in Blood"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "g/dL", "system": "http://unitsofmeasure.org", "code": "g/dL"},
    })
}

fn expression(oo: &Value) -> String {
    assert_eq!(oo["resourceType"], "OperationOutcome", "{oo}");
    oo["issue"][0]["expression"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn fhir_r4_reads_writes_and_searches_through_policy_and_validates(b: Backend) {
    use reqwest::Method;
    let s = TestServer::start(b).await;
    let h = hospital(&s).await;
    let p = register(&s, &h.reception, "Lefebvre", "Anne Claire", "1975-06-02").await;
    let patient = p["id"].as_str().unwrap().to_owned();
    let (st, _) = post(
        &s,
        &h.reception,
        &format!("/api/v1/patients/{patient}/admission"),
        json!({"department_id": h.im}),
    )
    .await;
    assert_eq!(st, 201);
    let mut emitted = Emitted {
        dir: tempfile::tempdir().unwrap(),
        n: 0,
    };
    let doctor = Some(&h.im_doctor);
    let stranger = Some(&h.cardio_doctor);

    // The CapabilityStatement is public.
    let (st, cs, headers) = fhir(&s, None, Method::GET, "/fhir/R4/metadata", None).await;
    assert_eq!(st, 200);
    assert_eq!(headers["content-type"], "application/fhir+json");
    assert_eq!(cs["fhirVersion"], "4.0.1");
    emitted.keep("capability", &cs);

    // Patient: read and search by the organization's number, through policy.
    let (st, pat, _) = fhir(
        &s,
        doctor,
        Method::GET,
        &format!("/fhir/R4/Patient/{patient}"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{pat}");
    assert_eq!(pat["name"][0]["family"], "Lefebvre");
    assert_eq!(pat["name"][0]["given"], json!(["Anne", "Claire"]));
    assert_eq!(pat["birthDate"], "1975-06-02");
    emitted.keep("patient", &pat);
    let system = pat["identifier"][0]["system"].as_str().unwrap().to_owned();
    let mrn = pat["identifier"][0]["value"].as_str().unwrap().to_owned();
    let (st, found, _) = fhir(
        &s,
        doctor,
        Method::GET,
        &format!("/fhir/R4/Patient?identifier={}|{mrn}", urlencode(&system)),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(found["total"], 1);
    assert_eq!(found["entry"][0]["resource"]["id"], patient.as_str());
    emitted.keep("patient-search", &found);
    let (st, oo, _) = fhir(
        &s,
        doctor,
        Method::GET,
        "/fhir/R4/Patient?identifier=urn:oid:1.2.3|x",
        None,
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(expression(&oo), "identifier");
    emitted.keep("outcome-identifier", &oo);
    let (st, oo, _) = fhir(
        &s,
        stranger,
        Method::GET,
        &format!("/fhir/R4/Patient/{patient}"),
        None,
    )
    .await;
    assert_eq!(st, 404);
    emitted.keep("outcome-not-found", &oo);
    let (st, oo, _) = fhir(
        &s,
        None,
        Method::GET,
        &format!("/fhir/R4/Patient/{patient}"),
        None,
    )
    .await;
    assert_eq!(st, 401);
    assert_eq!(oo["issue"][0]["code"], "login");

    // Observations and a report: created, validated, stored.
    let (st, hb, headers) = fhir(
        &s,
        doctor,
        Method::POST,
        "/fhir/R4/Observation",
        Some(observation(
            &patient,
            "laboratory",
            "718-7",
            "2026-11-20T08:00:00+01:00",
            13.2,
        )),
    )
    .await;
    assert_eq!(st, 201, "{hb}");
    let hb_id = hb["id"].as_str().unwrap().to_owned();
    assert!(headers["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("/fhir/R4/Observation/{hb_id}/_history/1")));
    assert_eq!(hb["meta"]["versionId"], "1");
    emitted.keep("observation", &hb);
    let (st, img, _) = fhir(
        &s,
        doctor,
        Method::POST,
        "/fhir/R4/Observation",
        Some(observation(
            &patient,
            "imaging",
            "24627-2",
            "2026-10-01",
            1.0,
        )),
    )
    .await;
    assert_eq!(st, 201, "{img}");
    emitted.keep("observation-imaging", &img);
    let report = json!({
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "58410-2", "display": "CBC panel"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "effectiveDateTime": "2026-11-20",
        "issued": "2026-11-20T10:30:00Z",
        "result": [{"reference": format!("Observation/{hb_id}")}],
        "conclusion": "Normal blood count.",
    });
    let (st, dr, _) = fhir(
        &s,
        doctor,
        Method::POST,
        "/fhir/R4/DiagnosticReport",
        Some(report.clone()),
    )
    .await;
    assert_eq!(st, 201, "{dr}");
    emitted.keep("report", &dr);

    // Bad resources: an OperationOutcome naming the element; nothing stored.
    let mut missing_status = observation(&patient, "laboratory", "718-7", "2026-11-20", 1.0);
    missing_status.as_object_mut().unwrap().remove("status");
    let mut bogus_status = observation(&patient, "laboratory", "718-7", "2026-11-20", 1.0);
    bogus_status["status"] = json!("done");
    let mut unknown = observation(&patient, "laboratory", "718-7", "2026-11-20", 1.0);
    unknown["colour"] = json!("red");
    let mut bad_date = observation(&patient, "laboratory", "718-7", "2026-11-20", 1.0);
    bad_date["effectiveDateTime"] = json!("20/11/2026");
    let mut no_subject = observation(&patient, "laboratory", "718-7", "2026-11-20", 1.0);
    no_subject.as_object_mut().unwrap().remove("subject");
    let mut bad_value = observation(&patient, "laboratory", "718-7", "2026-11-20", 1.0);
    bad_value["valueQuantity"]["value"] = json!("high");
    let mut foreign_result = report.clone();
    foreign_result["result"] = json!([{"reference": "Observation/nope"}]);
    let cases = [
        ("Observation", missing_status, "Observation.status"),
        ("Observation", bogus_status, "Observation.status"),
        ("Observation", unknown, "Observation.colour"),
        ("Observation", bad_date, "Observation.effectiveDateTime"),
        ("Observation", no_subject, "Observation.subject"),
        ("Observation", bad_value, "Observation.valueQuantity.value"),
        (
            "DiagnosticReport",
            foreign_result,
            "DiagnosticReport.result[0]",
        ),
        ("Observation", report.clone(), "Observation.resourceType"),
    ];
    for (t, body, element) in cases {
        let (st, oo, _) = fhir(
            &s,
            doctor,
            Method::POST,
            &format!("/fhir/R4/{t}"),
            Some(body),
        )
        .await;
        assert_eq!(st, 400, "{element}: {oo}");
        assert_eq!(expression(&oo), element, "{oo}");
        assert!(oo["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .starts_with(element));
        emitted.keep("outcome-invalid", &oo);
    }
    let r = s
        .client
        .post(s.url("/fhir/R4/Observation"))
        .bearer_auth(&h.im_doctor.token)
        .header("content-type", "application/fhir+json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A clinician with no relation to the patient cannot write to the record either.
    let (st, oo, _) = fhir(
        &s,
        stranger,
        Method::POST,
        "/fhir/R4/Observation",
        Some(observation(
            &patient,
            "laboratory",
            "718-7",
            "2026-11-21",
            9.0,
        )),
    )
    .await;
    assert_eq!(st, 404, "{oo}");

    // Reads and searches, filtered by policy.
    let (st, again, _) = fhir(
        &s,
        doctor,
        Method::GET,
        &format!("/fhir/R4/Observation/{hb_id}"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(again, hb);
    let (st, _, _) = fhir(
        &s,
        stranger,
        Method::GET,
        &format!("/fhir/R4/Observation/{hb_id}"),
        None,
    )
    .await;
    assert_eq!(st, 404);
    let search = |q: String| {
        let s = &s;
        async move {
            let (st, b, _) = fhir(s, doctor, Method::GET, &format!("/fhir/R4/{q}"), None).await;
            assert_eq!(st, 200, "{q}: {b}");
            b
        }
    };
    let all = search(format!("Observation?patient={patient}")).await;
    assert_eq!(all["total"], 2);
    emitted.keep("observation-search", &all);
    let lab = search(format!(
        "Observation?subject=Patient/{patient}&category=laboratory"
    ))
    .await;
    assert_eq!(lab["total"], 1);
    assert_eq!(lab["entry"][0]["resource"]["id"], hb_id.as_str());
    let lab = search(format!(
        "Observation?patient={patient}&category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
    ))
    .await;
    assert_eq!(lab["total"], 1);
    // Codes match exactly: LIKE's wildcards in a code are plain characters.
    let none = search(format!("Observation?patient={patient}&category=lab%25")).await;
    assert_eq!(none["total"], 0);
    let none = search(format!("Observation?patient={patient}&category=laborator_")).await;
    assert_eq!(none["total"], 0);
    let november = search(format!("Observation?patient={patient}&date=ge2026-11-01")).await;
    assert_eq!(november["total"], 1);
    let october = search(format!("Observation?patient={patient}&date=2026-10")).await;
    assert_eq!(october["total"], 1);
    assert_eq!(october["entry"][0]["resource"]["id"], img["id"]);
    let none = search(format!("Observation?patient={patient}&date=lt2026-01-01")).await;
    assert_eq!(none["total"], 0);
    emitted.keep("empty-search", &none);
    let reports = search(format!("DiagnosticReport?patient={patient}&category=LAB")).await;
    assert_eq!(reports["total"], 1);
    emitted.keep("report-search", &reports);
    for (q, element) in [
        (
            format!("Observation?patient={patient}&date=yesterday"),
            "date",
        ),
        ("Observation?category=laboratory".to_owned(), "patient"),
        (
            format!("Observation?patient={patient}&colour=red"),
            "colour",
        ),
    ] {
        let (st, oo, _) = fhir(&s, doctor, Method::GET, &format!("/fhir/R4/{q}"), None).await;
        assert_eq!(st, 400, "{q}: {oo}");
        assert_eq!(expression(&oo), element);
    }
    let (st, oo, _) = fhir(
        &s,
        stranger,
        Method::GET,
        &format!("/fhir/R4/Observation?patient={patient}"),
        None,
    )
    .await;
    assert_eq!(st, 404, "{oo}");
    let (st, oo, _) = fhir(&s, doctor, Method::GET, "/fhir/R4/Medication/1", None).await;
    assert_eq!(st, 404);
    assert_eq!(oo["resourceType"], "OperationOutcome");

    // Documents as DocumentReference, their content as Binary.
    let content = b"%PDF-1.7 discharge letter".to_vec();
    let form = Form::new()
        .part(
            "metadata",
            Part::text(json!({"category": "clinical_notes", "kind": "letter", "title": "Discharge letter"}).to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "file",
            Part::bytes(content.clone())
                .file_name("letter.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let r = s
        .client
        .post(s.url(&format!("/api/v1/patients/{patient}/documents")))
        .bearer_auth(&h.im_doctor.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let doc: Value = r.json().await.unwrap();
    let doc_id = doc["id"].as_str().unwrap().to_owned();
    let refs = search(format!("DocumentReference?patient={patient}")).await;
    assert_eq!(refs["total"], 1);
    let dref = &refs["entry"][0]["resource"];
    assert_eq!(dref["id"], doc_id.as_str());
    assert_eq!(
        dref["content"][0]["attachment"]["url"],
        format!("Binary/{doc_id}")
    );
    assert_eq!(dref["description"], "Discharge letter");
    emitted.keep("document-search", &refs);
    let (st, one, _) = fhir(
        &s,
        doctor,
        Method::GET,
        &format!("/fhir/R4/DocumentReference/{doc_id}"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    emitted.keep("document", &one);
    let raw = s
        .client
        .get(s.url(&format!("/fhir/R4/Binary/{doc_id}")))
        .bearer_auth(&h.im_doctor.token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    assert!(raw.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(raw.bytes().await.unwrap().as_ref(), content.as_slice());
    let bin = s
        .client
        .get(s.url(&format!("/fhir/R4/Binary/{doc_id}")))
        .bearer_auth(&h.im_doctor.token)
        .header("accept", "application/fhir+json")
        .send()
        .await
        .unwrap();
    assert_eq!(bin.status(), 200);
    let bin: Value = bin.json().await.unwrap();
    assert_eq!(
        data_encoding::BASE64
            .decode(bin["data"].as_str().unwrap().as_bytes())
            .unwrap(),
        content
    );
    emitted.keep("binary", &bin);
    let (st, _, _) = fhir(
        &s,
        stranger,
        Method::GET,
        &format!("/fhir/R4/Binary/{doc_id}"),
        None,
    )
    .await;
    assert_eq!(st, 404);

    // Audited: what was created, read and searched, and the refusals.
    let events = patient_events(&s, &patient).await;
    let count = |action: &str, outcome: &str| {
        events
            .iter()
            .filter(|e| e.1 == action && e.2 == outcome)
            .count()
    };
    assert_eq!(count("fhir.created", "granted"), 3);
    assert!(count("fhir.read", "granted") >= 1);
    assert!(count("fhir.searched", "granted") >= 6);
    let cardio = format!("user:{}", h.cardio_doctor.id);
    assert!(
        events
            .iter()
            .filter(|e| e.0 == cardio && e.1 == "patient.access_denied")
            .count()
            >= 5
    );

    // Every resource the server emitted is valid FHIR R4 to an independent validator, which
    // does refuse an invalid one.
    assert!(emitted.n >= 20);
    let (ok, report) = validate(emitted.dir.path());
    assert!(ok, "{report}");
    let bad = tempfile::tempdir().unwrap();
    let mut invalid = hb.clone();
    invalid["status"] = json!("done");
    std::fs::write(bad.path().join("bad.json"), invalid.to_string()).unwrap();
    let (ok, report) = validate(bad.path());
    assert!(!ok, "the validator accepted an invalid status: {report}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
