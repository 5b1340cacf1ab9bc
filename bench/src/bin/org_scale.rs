//! A synthetic organization at hospital-group scale, and the queries staff run against it.
//!
//! ```text
//! org_scale generate --data-dir DIR [--db URL] [--departments 50] [--staff 5000]
//!                    [--patients 1000000] [--episodes 5000000] [--inpatients 2500]
//! org_scale measure  --data-dir DIR [--db URL]
//! ```
//! `generate` builds the data set (deterministic from the row numbers, so anyone can rebuild
//! it): departments (45 care units, 3 laboratories, 2 administration), staff with one
//! assignment each, patients sealed and indexed exactly as registration does, and care
//! episodes (all closed except one open episode for each of `--inpatients` patients).
//! `measure` then times, through the application (policy, decryption and audit included):
//! "my patients" for clinicians, patient search by identifier and by name + birth date, and
//! sustained audit appends (group commit) against one-transaction-per-event appends, then
//! verifies the whole audit chain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use sealroom_app::accounts::Actor;
use sealroom_app::patients::PatientQuery;
use sealroom_app::policy::Principal;
use sealroom_app::{App, SystemClock};
use sealroom_bench::{client_info, stats};
use sealroom_domain::{AdministrativeSex, AuditAction, Demographics, OrganizationPatientId, Role};
use sealroom_server::config::{self, Overrides};

const FAMILIES: [&str; 40] = [
    "Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters",
    "Dubois", "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Leroy",
    "Moreau", "Simon", "Popescu", "Ionescu", "Popa", "Dumitru", "Stan", "Stoica", "Gheorghe",
    "Rusu", "Munteanu", "Matei", "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson",
    "Johnson", "Davies", "Robinson", "Wright",
];
const GIVEN: [&str; 20] = [
    "Anna", "Marie", "Elena", "Sophie", "Laura", "Emma", "Ioana", "Julie", "Sarah", "Lucia", "Jan",
    "Luc", "Andrei", "Pierre", "Thomas", "David", "Mihai", "Pieter", "James", "Paul",
];

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

/// Patient number i's demographics: 40 × 20 names × ~36 500 birth dates.
fn demographics_of(i: u64) -> Demographics {
    let family = FAMILIES[(i % 40) as usize];
    let given = GIVEN[((i / 40) % 20) as usize];
    let day = (i.wrapping_mul(2_654_435_761) % 36_500) as i64; // 1925..2025
    let birth = sealroom_domain::Timestamp(-1_420_070_400 + day * 86_400).date();
    let sex = if (i / 40) % 20 < 10 {
        AdministrativeSex::Female
    } else {
        AdministrativeSex::Male
    };
    Demographics::new(family, given, &birth, sex, "2100-01-01").unwrap()
}

async fn open(args: &[String]) -> (App, sealroom_server::serve::Running) {
    let data_dir = std::path::PathBuf::from(arg(args, "--data-dir", "bench/data/org"));
    std::fs::create_dir_all(&data_dir).unwrap();
    let overrides = Overrides {
        data_dir: Some(data_dir.clone()),
        config_file: None,
        listen: Some("127.0.0.1:0".into()),
        dev: false,
    };
    let mut env: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let db = arg(args, "--db", "");
    if !db.is_empty() {
        env.insert("SEALROOM_DATABASE__URL".into(), db);
    }
    let config = config::load(&overrides, &env).unwrap_or_else(|p| panic!("{p:?}"));
    let running = sealroom_server::serve::start(&config, Arc::new(SystemClock))
        .await
        .unwrap();
    (running.app.clone(), running)
}

fn operator() -> Actor {
    Actor {
        principal: Principal::Operator,
        stepped_up: true,
        client: client_info(),
    }
}

/// Run `sql` with `rows` multi-row VALUES groups of `width` placeholders, binding `values`.
async fn insert_rows(app: &App, table_and_columns: &str, width: usize, rows: &[Vec<Value>]) {
    if rows.is_empty() {
        return;
    }
    let mut sql = format!("INSERT INTO {table_and_columns} VALUES ");
    let mut n = 1;
    for (r, _) in rows.iter().enumerate() {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${n}"));
            n += 1;
        }
        sql.push(')');
    }
    app.store()
        .execute_bulk(&sql, rows.iter().flatten().cloned().collect())
        .await
        .unwrap();
}

use sealroom_store::BulkValue as Value;

async fn generate(args: &[String]) {
    let departments: usize = arg(args, "--departments", "50").parse().unwrap();
    let staff: usize = arg(args, "--staff", "5000").parse().unwrap();
    let patients: u64 = arg(args, "--patients", "1000000").parse().unwrap();
    let episodes: u64 = arg(args, "--episodes", "5000000").parse().unwrap();
    let inpatients: u64 = arg(args, "--inpatients", "2500").parse().unwrap();
    let (app, running) = open(args).await;
    let started = Instant::now();
    let now = app.now().as_seconds();

    // Departments: 45 care units, 3 laboratories, 2 administration (scaled to --departments).
    let mut dept_ids = Vec::new();
    for d in 0..departments {
        let kind = if d < departments * 9 / 10 {
            "care"
        } else if d < departments * 96 / 100 {
            "laboratory"
        } else {
            "administration"
        };
        let dept = app
            .create_department(&operator(), &format!("Department {d:03}"), kind)
            .await
            .unwrap();
        dept_ids.push((dept.id, kind));
    }
    let care: Vec<&String> = dept_ids
        .iter()
        .filter(|d| d.1 == "care")
        .map(|d| &d.0)
        .collect();

    // Staff, each with one assignment: clinicians and nurses in care units, laboratory staff
    // in laboratories, reception in administration.
    let mut rows = Vec::new();
    let mut assignment_rows = Vec::new();
    for s in 0..staff {
        let (dept, kind) = &dept_ids[s % departments];
        let role = match *kind {
            "care" if s % 3 == 0 => "clinician",
            "care" => "nurse",
            "laboratory" => "laboratory",
            _ => "reception",
        };
        let id = format!("staff{s:06}");
        rows.push(vec![
            Value::Text(id.clone()),
            Value::Text(format!("staff{s}@bench.example")),
            Value::Text(format!("Staff {s}")),
            Value::Text(role.into()),
            Value::Text("active".into()),
            Value::Null,
            Value::Int(0),
            Value::Int(0),
            Value::Int(now),
            Value::Int(now),
        ]);
        assignment_rows.push(vec![
            Value::Text(format!("asg{s:06}")),
            Value::Text(id),
            Value::Text(dept.clone()),
            Value::Text(role.into()),
            Value::Int(now - 86_400),
            Value::NullInt,
            Value::Int(0),
            Value::Int(1),
            Value::Text("bench".into()),
            Value::Int(now),
        ]);
        if rows.len() == 500 {
            insert_rows(&app, "users (id, email, display_name, role, status, password_hash, password_locked, one_session_only, created_at, updated_at)", 10, &rows).await;
            insert_rows(&app, "assignments (id, user_id, department_id, role, valid_from, valid_until, temporary, confirmed, created_by, created_at)", 10, &assignment_rows).await;
            rows.clear();
            assignment_rows.clear();
        }
    }
    insert_rows(&app, "users (id, email, display_name, role, status, password_hash, password_locked, one_session_only, created_at, updated_at)", 10, &rows).await;
    insert_rows(&app, "assignments (id, user_id, department_id, role, valid_from, valid_until, temporary, confirmed, created_by, created_at)", 10, &assignment_rows).await;
    println!(
        "departments {departments}, staff {staff}: {:.1?}",
        started.elapsed()
    );

    // Patients, sealed and indexed like registration; episodes in care units.
    let mut patient_ids: Vec<String> = Vec::with_capacity(patients as usize);
    let mut batch = Vec::new();
    let t = Instant::now();
    for i in 0..patients {
        let mrn = OrganizationPatientId::from_number(i).unwrap();
        let p = app
            .prepare_patient_import(&mrn, &demographics_of(i), None, "bench")
            .unwrap();
        patient_ids.push(p.id.clone());
        batch.push(vec![
            Value::Text(p.id),
            Value::Text(p.mrn),
            Value::Bytes(p.demographics_sealed),
            Value::Text(p.name_birth_index),
            Value::NullBytes,
            Value::Null,
            Value::Text(p.created_by),
            Value::Int(p.created_at),
        ]);
        if batch.len() == 1000 {
            insert_rows(&app, "patients (id, mrn, demographics_sealed, name_birth_index, national_id_sealed, national_id_index, created_by, created_at)", 8, &batch).await;
            batch.clear();
        }
    }
    insert_rows(&app, "patients (id, mrn, demographics_sealed, name_birth_index, national_id_sealed, national_id_index, created_by, created_at)", 8, &batch).await;
    println!("patients {patients}: {:.1?}", t.elapsed());

    let t = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let per_patient = episodes / patients.max(1);
    let mut written = 0u64;
    let mut batch = Vec::new();
    for (i, pid) in patient_ids.iter().enumerate() {
        let extra = u64::from((i as u64) < episodes % patients.max(1));
        let count = per_patient + extra;
        let open = (i as u64) < inpatients;
        for e in 0..count {
            let dept = care[rng.gen_range(0..care.len())];
            let last = e + 1 == count;
            let admitted = if open && last {
                now - rng.gen_range(0..10 * 86_400)
            } else {
                now - 5 * 365 * 86_400 + (e as i64) * 200 * 86_400 + rng.gen_range(0..86_400)
            };
            let ended = if open && last {
                Value::NullInt
            } else {
                Value::Int(admitted + 3 * 86_400)
            };
            batch.push(vec![
                Value::Text(format!("ep{i:07}x{e}")),
                Value::Text(pid.clone()),
                Value::Text(dept.clone()),
                Value::Int(admitted),
                Value::Text("bench".into()),
                ended,
                Value::Text("discharge".into()),
                Value::Text("bench".into()),
            ]);
            written += 1;
            if batch.len() == 1000 {
                insert_rows(&app, "care_episodes (id, patient_id, department_id, admitted_at, admitted_by, ended_at, end_reason, ended_by)", 8, &batch).await;
                batch.clear();
            }
        }
    }
    insert_rows(&app, "care_episodes (id, patient_id, department_id, admitted_at, admitted_by, ended_at, end_reason, ended_by)", 8, &batch).await;
    println!(
        "episodes {written} ({inpatients} open): {:.1?}",
        t.elapsed()
    );
    app.store().analyze().await.unwrap();
    println!("generated in {:.1?}", started.elapsed());
    running.handle.shutdown();
}

fn staff_actor(id: &str, role: Role) -> Actor {
    Actor {
        principal: Principal::Staff {
            user_id: id.into(),
            role,
            scopes: None,
        },
        stepped_up: false,
        client: client_info(),
    }
}

fn report(name: &str, samples: Vec<Duration>, target_ms: f64) {
    let s = stats(samples);
    println!(
        "{name}: n={} median {:.2} ms, p99 {:.2} ms (target p99 < {target_ms} ms: {})",
        s.n,
        s.median.as_secs_f64() * 1e3,
        s.p99.as_secs_f64() * 1e3,
        if s.p99.as_secs_f64() * 1e3 < target_ms {
            "MET"
        } else {
            "NOT MET"
        }
    );
}

async fn measure(args: &[String]) {
    let (app, running) = open(args).await;
    let staff: HashMap<String, String> = app
        .store()
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.id.starts_with("staff"))
        .map(|u| (u.id, u.role))
        .collect();
    let clinicians: Vec<&String> = staff
        .iter()
        .filter(|(_, r)| *r == "clinician")
        .map(|(id, _)| id)
        .collect();
    let reception: Vec<&String> = staff
        .iter()
        .filter(|(_, r)| *r == "reception")
        .map(|(id, _)| id)
        .collect();
    let patients: u64 = app.store().count_patients().await.unwrap() as u64;
    println!("data set: {} staff, {patients} patients", staff.len());
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);

    // Settle (see `Store::settle`), then one untimed pass over the same kinds of request so
    // that the timed ones find the indexes in memory, as on a server that has been running.
    let t = Instant::now();
    app.store().settle().await.unwrap();
    let desk = staff_actor(reception[0], Role::Reception);
    for i in 0..50u64 {
        let who = staff_actor(
            clinicians[(i as usize * 7) % clinicians.len()],
            Role::Clinician,
        );
        app.my_patients(&who).await.unwrap();
        let n = (i * 19_997) % patients;
        let mrn = OrganizationPatientId::from_number(n).unwrap();
        app.search_patients(&desk, PatientQuery::Mrn(mrn.as_str().into()))
            .await
            .unwrap();
    }
    println!("settled and warmed up in {:.1?} (untimed)", t.elapsed());

    let mut mine = Vec::new();
    let mut listed = 0usize;
    for _ in 0..300 {
        let who = staff_actor(
            clinicians[rng.gen_range(0..clinicians.len())],
            Role::Clinician,
        );
        let t = Instant::now();
        let list = app.my_patients(&who).await.unwrap();
        mine.push(t.elapsed());
        listed += list.len();
    }
    println!(
        "my patients lists returned {:.1} patients on average (each audited)",
        listed as f64 / 300.0
    );
    report("my patients", mine, 20.0);

    let mut by_mrn = Vec::new();
    let mut by_name = Vec::new();
    for _ in 0..500 {
        let i = rng.gen_range(0..patients);
        let mrn = OrganizationPatientId::from_number(i).unwrap();
        let t = Instant::now();
        let found = app
            .search_patients(&desk, PatientQuery::Mrn(mrn.as_str().into()))
            .await
            .unwrap();
        by_mrn.push(t.elapsed());
        assert_eq!(found.len(), 1);
        let d = demographics_of(i);
        let t = Instant::now();
        let found = app
            .search_patients(
                &desk,
                PatientQuery::NameAndBirthDate {
                    family_name: d.family_name().into(),
                    birth_date: d.birth_date().into(),
                    given_names: Some(d.given_names().into()),
                },
            )
            .await
            .unwrap();
        by_name.push(t.elapsed());
        assert!(!found.is_empty());
    }
    report("patient search by identifier", by_mrn, 20.0);
    report(
        "patient search by family name + birth date + given name",
        by_name,
        20.0,
    );

    // Sustained audit appends: 64 writers for 10 s through the group-committing writer, then
    // the same with one transaction per event.
    for (label, grouped) in [
        ("group commit (Sealroom)", true),
        ("one transaction per event", false),
    ] {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut tasks = Vec::new();
        for w in 0..64 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                let c = client_info();
                while Instant::now() < deadline {
                    if grouped {
                        app.audit(
                            &format!("user:staff{w:06}"),
                            AuditAction::PatientRead,
                            "patient:bench",
                            "granted",
                            &c,
                            serde_json::json!({"categories": ["results"], "purpose": "TREAT"}),
                        )
                        .await
                        .unwrap();
                    } else {
                        let event = sealroom_store::NewAuditEvent {
                            at: app.now().as_seconds(),
                            actor: format!("user:staff{w:06}"),
                            action: AuditAction::PatientRead.as_str().into(),
                            subject: "patient:bench".into(),
                            outcome: "granted".into(),
                            client_address: c.address.clone(),
                            details:
                                serde_json::json!({"categories": ["results"], "purpose": "TREAT"})
                                    .to_string(),
                        };
                        app.store()
                            .append_audit(&event, sealroom_app::audit::link)
                            .await
                            .unwrap();
                    }
                    n += 1;
                }
                n
            }));
        }
        let started = Instant::now();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        let rate = total as f64 / started.elapsed().as_secs_f64();
        println!(
            "audit appends, 64 writers, 10 s, {label}: {total} events, {rate:.0} events/s{}",
            if grouped {
                if rate >= 20_000.0 {
                    " (target ≥ 20 000/s: MET)"
                } else {
                    " (target ≥ 20 000/s: NOT MET)"
                }
            } else {
                ""
            }
        );
    }
    let t = Instant::now();
    let chain = app.verify_audit_chain().await.unwrap();
    println!(
        "audit chain: {} records checked in {:.1?}, intact: {}",
        chain.checked,
        t.elapsed(),
        chain.first_broken.is_none()
    );
    running.handle.shutdown();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("generate") => generate(&args).await,
        Some("measure") => measure(&args).await,
        _ => {
            eprintln!("usage: org_scale generate|measure --data-dir DIR [--db URL] [sizes…]");
            std::process::exit(2);
        }
    }
}
