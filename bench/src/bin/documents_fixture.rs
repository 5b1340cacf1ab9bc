//! Serves the benchmark fixture for the document store (bench/documents.sh): a clinician with
//! an API token, caring for an admitted patient, so that curl can upload and download through
//! the real HTTPS API. The server runs in this process, so this process's VmHWM is the server's
//! peak memory. Prints URL, PORT, TOKEN, PATIENT, CERT and PID, then READY; stops on SIGINT.

use anyhow::{bail, Context, Result};
use reqwest::Method;
use sealroom_app::accounts::Actor;
use sealroom_app::policy::Principal;
use sealroom_app::tokens::TokenOwner;
use sealroom_bench::{client_info, Fixture};
use sealroom_store::UserStatus;
use serde_json::{json, Value};

/// The upload limit the benchmark needs: its largest file is 4 GiB.
const MAX_UPLOAD_MB: &str = "8192";

const SCOPES: &[&str] = &["organization:write", "patients:read", "patients:write"];

fn main() -> Result<()> {
    sealroom_server::tune_allocator();
    // Set before any thread exists; an operator's own setting wins.
    if std::env::var_os("SEALROOM_DOCUMENTS__MAX_UPLOAD_MB").is_none() {
        std::env::set_var("SEALROOM_DOCUMENTS__MAX_UPLOAD_MB", MAX_UPLOAD_MB);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

async fn serve() -> Result<()> {
    let f = Fixture::start().await;
    if f.config.max_upload_bytes < 4 * 1024 * 1024 * 1024 + 1024 * 1024 {
        bail!(
            "documents.max_upload_mb is {} MiB; the benchmark uploads 4 GiB",
            f.config.max_upload_bytes / (1024 * 1024)
        );
    }
    let api = Api {
        client: f.client(),
        base: f.base.clone(),
    };
    let (clinician, patient) = clinician_caring_for_a_patient(&f, &api).await?;
    let (cert, _) = sealroom_server::tls::self_signed_paths(&f.config.data_dir);
    println!("URL={}", f.base);
    println!("PORT={}", f.running.local_addr.port());
    println!("TOKEN={clinician}");
    println!("PATIENT={patient}");
    println!("CERT={}", cert.display());
    println!("PID={}", std::process::id());
    println!("READY");
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}

/// An active staff account with an API token, created by the operator (sign-in is not what
/// this benchmark measures).
async fn staff_token(f: &Fixture, email: &str, account_role: &str) -> Result<(String, String)> {
    let app = &f.running.app;
    let operator = Actor {
        principal: Principal::Operator,
        stepped_up: true,
        client: client_info(),
    };
    let created = app
        .create_user(&operator, email, "Bench Person", account_role)
        .await?;
    app.store()
        .set_user_status(&created.user.id, UserStatus::Active, app.now().as_seconds())
        .await?;
    let scopes: Vec<String> = SCOPES.iter().map(|s| s.to_string()).collect();
    let token = app
        .create_api_token(&operator, TokenOwner::User { email }, "bench", &scopes, 1)
        .await?
        .secret;
    Ok((created.user.id, token))
}

/// A care department with a clinician, and a patient registered at the desk and admitted
/// there: the clinician has current care, so policy `clinician-current-care` lets them write
/// results. Returns the clinician's token and the patient's id.
async fn clinician_caring_for_a_patient(f: &Fixture, api: &Api) -> Result<(String, String)> {
    let (_, admin) = staff_token(f, "bench-admin@example.org", "administrator").await?;
    let (desk_id, desk) = staff_token(f, "bench-desk@example.org", "reception").await?;
    let (doctor_id, doctor) = staff_token(f, "bench-doctor@example.org", "clinician").await?;
    let ward = api
        .post(
            &admin,
            "/api/v1/departments",
            json!({"name": "Radiology ward", "kind": "care"}),
        )
        .await?;
    let ward = id_of(&ward)?;
    let office = api
        .post(
            &admin,
            "/api/v1/departments",
            json!({"name": "Admissions", "kind": "administration"}),
        )
        .await?;
    let office = id_of(&office)?;
    for (who, dept, role) in [
        (&desk_id, &office, "reception"),
        (&doctor_id, &ward, "clinician"),
    ] {
        api.post(
            &admin,
            &format!("/api/v1/users/{who}/assignments"),
            json!({"department_id": dept, "role": role}),
        )
        .await?;
    }
    let patient = api
        .post(
            &desk,
            "/api/v1/patients",
            json!({"family_name": "Bench", "given_names": "Imaging", "birth_date": "1970-01-01", "sex": "female"}),
        )
        .await?;
    let patient = id_of(&patient)?;
    api.post(
        &desk,
        &format!("/api/v1/patients/{patient}/admission"),
        json!({"department_id": ward}),
    )
    .await?;
    Ok((doctor, patient))
}

fn id_of(v: &Value) -> Result<String> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no id in {v}"))
}

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn post(&self, token: &str, path: &str, body: Value) -> Result<Value> {
        let resp = self
            .client
            .request(Method::POST, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("POST {path}: {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }
}
