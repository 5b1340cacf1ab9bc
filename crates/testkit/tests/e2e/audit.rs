//! The hash-chained audit log: every sign-in and account event lands in it, verification names
//! the first broken record, and nothing secret is in it.

use sealroom_testkit::{Backend, TestServer};

use crate::journeys::*;

both_backends!(audit_chain_records_events_and_detects_tampering);

async fn audit_chain_records_events_and_detects_tampering(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = set_up_admin(&s).await;
    sign_out(&s, &admin).await;
    password_step(&s, &s.browser(), &admin.email, "a wrong password here").await;
    sign_in(&s, &admin).await;
    let report = s.app().verify_audit_chain().await.unwrap();
    assert_eq!(report.first_broken, None);
    let events = s.app().store().audit_page(0, 1000).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    for expected in [
        "setup.completed",
        "enrolment.started",
        "password.set",
        "factor.added",
        "recovery_codes.generated",
        "sign_in.succeeded",
        "session.ended",
        "sign_in.failed",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} not audited: {actions:?}"
        );
    }
    let everything: String = events
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {}",
                e.actor, e.subject, e.details, e.client_address
            )
        })
        .collect();
    assert!(!everything.contains(&admin.password) && !everything.contains("a wrong password"));
    assert!(!everything.contains(&admin.totp.base32()));
    assert!(admin
        .recovery_codes
        .iter()
        .all(|c| !everything.contains(c.as_str())));
    assert_eq!(report.checked, events.len() as i64);

    // The table refuses changes; an attacker with database access must first remove the guard.
    let store = s.app().store();
    assert!(
        store
            .execute_raw("UPDATE audit_events SET outcome = 'x' WHERE seq = 3")
            .await
            .is_err(),
        "audit rows can be changed"
    );
    let drop_guard = match b {
        Backend::Sqlite => {
            "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;"
        }
        Backend::Postgres => "DROP TRIGGER audit_events_no_change ON audit_events;",
    };
    store.execute_raw(drop_guard).await.unwrap();
    let original = events[4].outcome.clone();
    store
        .execute_raw("UPDATE audit_events SET outcome = 'tampered' WHERE seq = 5")
        .await
        .unwrap();
    let report = s.app().verify_audit_chain().await.unwrap();
    let (seq, why) = report.first_broken.expect("tampering detected");
    assert_eq!(seq, 5, "{why}");
    assert!(why.contains("altered"), "{why}");
    assert_eq!(report.checked, 4);

    // Put it back: intact again. Then remove the newest records: detected too.
    store
        .execute_raw(&format!(
            "UPDATE audit_events SET outcome = '{original}' WHERE seq = 5"
        ))
        .await
        .unwrap();
    assert_eq!(
        s.app().verify_audit_chain().await.unwrap().first_broken,
        None
    );
    let total = events.len();
    store
        .execute_raw(&format!(
            "DELETE FROM audit_events WHERE seq > {}",
            total - 2
        ))
        .await
        .unwrap();
    let report = s.app().verify_audit_chain().await.unwrap();
    let (_, why) = report.first_broken.expect("truncation detected");
    assert!(why.contains("removed from the end"), "{why}");
}
