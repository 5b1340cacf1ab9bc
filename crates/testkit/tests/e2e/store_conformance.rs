//! The storage conformance suite: the same behaviour from SQLite and PostgreSQL.

use sealroom_store::{
    DelaySchedule, LinkPurpose, LinkRow, MessageRow, NewAuditEvent, NewMessage, ParticipantRow,
    SessionRow, Store, StoreError, ThreadRow, UserRow,
};
use sealroom_testkit::{Backend, TestDatabase};

both_backends!(
    migrates_a_fresh_database_and_reopens_it,
    refuses_a_newer_schema_without_touching_it,
    refuses_a_database_that_is_not_sealroms,
    email_addresses_are_unique,
    a_link_is_spent_once_even_under_races,
    totp_steps_only_move_forward,
    recovery_codes_are_single_use,
    sessions_rotate_and_end_with_a_reason,
    concurrent_audit_appends_keep_one_chain,
    failure_counters_count_and_clear,
    a_batch_of_messages_is_stored_whole_or_not_at_all_each_in_its_place,
);

fn user(id: &str, email: &str) -> UserRow {
    UserRow {
        id: id.into(),
        email: email.into(),
        display_name: "Test".into(),
        role: "nurse".into(),
        status: "active".into(),
        password_hash: None,
        password_locked: 0,
        one_session_only: 0,
        created_at: 1,
        updated_at: 1,
    }
}

async fn migrates_a_fresh_database_and_reopens_it(b: Backend) {
    let db = TestDatabase::new(b).await;
    let store = db.open().await;
    let latest = if b == Backend::Sqlite {
        sealroom_store::LATEST_SQLITE
    } else {
        sealroom_store::LATEST_POSTGRES
    };
    assert_eq!(store.schema_version().await.unwrap(), latest);
    store
        .insert_user(&user("u1", "a@example.org"))
        .await
        .unwrap();
    // A second instance opens the same database while the first is still connected (the
    // migration lock must not stay behind in the first one's pool).
    let again = tokio::time::timeout(std::time::Duration::from_secs(30), db.open())
        .await
        .expect("opening a database another instance holds open hung");
    store.close().await;
    assert_eq!(again.schema_version().await.unwrap(), latest);
    assert_eq!(
        again.count_users().await.unwrap(),
        1,
        "reopening keeps the data"
    );
}

async fn refuses_a_newer_schema_without_touching_it(b: Backend) {
    let db = TestDatabase::new(b).await;
    let store = db.open().await;
    store
        .insert_user(&user("u1", "a@example.org"))
        .await
        .unwrap();
    store
        .execute_raw("INSERT INTO sealroom_schema (version, applied_at) VALUES (999, 0)")
        .await
        .unwrap();
    if b == Backend::Sqlite {
        // Move everything from the write-ahead log into the file, so its bytes are the database.
        store
            .execute_raw("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .unwrap();
    }
    store.close().await;
    let sqlite_file = db
        .url
        .strip_prefix("sqlite://")
        .map(std::path::PathBuf::from);
    let before = sqlite_file.as_ref().map(|p| std::fs::read(p).unwrap());
    match Store::open(&db.url).await {
        Err(StoreError::NewerSchema {
            found: 999,
            supported,
        }) => assert!(supported < 999),
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let message = Store::open(&db.url).await.unwrap_err().to_string();
    assert!(
        message.contains("newer than this server knows") && message.contains("left untouched"),
        "{message}"
    );
    if let (Some(p), Some(before)) = (sqlite_file, before) {
        let after = std::fs::read(&p).unwrap();
        let diff: Vec<usize> = (0..after.len().min(before.len()))
            .filter(|&i| after[i] != before[i])
            .take(20)
            .collect();
        assert_eq!(after.len(), before.len(), "the database file changed size");
        assert!(
            diff.is_empty(),
            "the database file was modified at bytes {diff:?}"
        );
    }
    let raw = Store::connect(&db.url).await.unwrap();
    assert_eq!(raw.schema_version().await.unwrap(), 999);
    assert_eq!(raw.count_users().await.unwrap(), 1);
}

async fn refuses_a_database_that_is_not_sealroms(b: Backend) {
    let db = TestDatabase::new(b).await;
    let raw = Store::connect(&db.url).await.unwrap();
    raw.execute_raw("CREATE TABLE patients (id BIGINT PRIMARY KEY)")
        .await
        .unwrap();
    raw.close().await;
    assert!(matches!(
        Store::open(&db.url).await,
        Err(StoreError::Foreign)
    ));
    if b == Backend::Sqlite {
        // A file that is not a database at all.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("garbage.db");
        std::fs::write(
            &path,
            b"this is not a database, it is a text file that happens to be long enough",
        )
        .unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = Store::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::CannotOpen(_)), "{err:?}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}

async fn email_addresses_are_unique(b: Backend) {
    let db = TestDatabase::new(b).await;
    let store = db.open().await;
    store
        .insert_user(&user("u1", "a@example.org"))
        .await
        .unwrap();
    let err = store
        .insert_user(&user("u2", "a@example.org"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        store
            .user_by_email("a@example.org")
            .await
            .unwrap()
            .unwrap()
            .id,
        "u1"
    );
}

async fn a_link_is_spent_once_even_under_races(b: Backend) {
    let db = TestDatabase::new(b).await;
    let store = db.open().await;
    store
        .insert_link(&LinkRow {
            digest: "d1".into(),
            purpose: "setup".into(),
            user_id: None,
            created_at: 100,
            expires_at: 200,
            used_at: None,
        })
        .await
        .unwrap();
    assert!(store
        .usable_link("d1", LinkPurpose::Setup, 150)
        .await
        .unwrap()
        .is_some());
    assert!(
        store
            .usable_link("d1", LinkPurpose::Enrolment, 150)
            .await
            .unwrap()
            .is_none(),
        "purpose is checked"
    );
    assert!(
        store
            .usable_link("d1", LinkPurpose::Setup, 200)
            .await
            .unwrap()
            .is_none(),
        "expired at expires_at"
    );
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = store.clone();
            tokio::spawn(async move {
                s.spend_link("d1", LinkPurpose::Setup, 150)
                    .await
                    .unwrap()
                    .is_some()
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1, "a link was spent more than once");
}

async fn totp_steps_only_move_forward(b: Backend) {
    let db = TestDatabase::new(b).await;
    let store = db.open().await;
    store
        .insert_user(&user("u1", "a@example.org"))
        .await
        .unwrap();
    assert!(store.put_pending_totp("u1", b"sealed", 1).await.unwrap());
    assert!(store.use_totp_step("u1", 100).await.unwrap());
    assert!(
        !store.use_totp_step("u1", 100).await.unwrap(),
        "same step twice"
    );
    assert!(!store.use_totp_step("u1", 99).await.unwrap(), "older step");
    assert!(store.use_totp_step("u1", 101).await.unwrap());
    assert!(
        !store.put_pending_totp("u1", b"other", 2).await.unwrap(),
        "a confirmed secret is never replaced"
    );
    assert_eq!(
        store.totp_for("u1").await.unwrap().unwrap().sealed_secret,
        b"sealed"
    );
}

async fn recovery_codes_are_single_use(b: Backend) {
    let db = TestDatabase::new(b).await;
    let store = db.open().await;
    store
        .insert_user(&user("u1", "a@example.org"))
        .await
        .unwrap();
    store
        .replace_recovery_codes("u1", &["c1".into(), "c2".into()])
        .await
        .unwrap();
    assert!(store.use_recovery_code("u1", "c1", 5).await.unwrap());
    assert!(!store.use_recovery_code("u1", "c1", 6).await.unwrap());
    assert_eq!(store.unused_recovery_codes("u1").await.unwrap(), 1);
    store
        .replace_recovery_codes("u1", &["c3".into()])
        .await
        .unwrap();
    assert!(
        !store.use_recovery_code("u1", "c2", 7).await.unwrap(),
        "old codes die when replaced"
    );
    assert_eq!(store.unused_recovery_codes("u1").await.unwrap(), 1);
}

async fn sessions_rotate_and_end_with_a_reason(b: Backend) {
    let db = TestDatabase::new(b).await;
    let store = db.open().await;
    store
        .insert_user(&user("u1", "a@example.org"))
        .await
        .unwrap();
    let session = |id: &str, digest: &str| SessionRow {
        id: id.into(),
        token_digest: digest.into(),
        user_id: "u1".into(),
        state: "awaiting_second_factor".into(),
        csrf_token: "c".into(),
        created_at: 10,
        last_seen_at: 10,
        stepped_up_at: None,
        client_address: "127.0.0.1".into(),
        user_agent: "t".into(),
        ceremony: None,
        ended_at: None,
        end_reason: None,
    };
    store.insert_session(&session("s1", "t1")).await.unwrap();
    store.insert_session(&session("s2", "t2")).await.unwrap();
    assert!(store
        .rotate_session("s1", "t1", "t1b", "c2", "passkey", Some(20))
        .await
        .unwrap());
    assert!(
        store.session_by_digest("t1").await.unwrap().is_none(),
        "the old token is gone"
    );
    let s1 = store.session_by_digest("t1b").await.unwrap().unwrap();
    assert_eq!((s1.state.as_str(), s1.stepped_up_at), ("passkey", Some(20)));
    store
        .set_session_ceremony("s1", Some(b"state"))
        .await
        .unwrap();
    assert_eq!(
        store.take_session_ceremony("s1").await.unwrap().as_deref(),
        Some(&b"state"[..])
    );
    assert_eq!(
        store.take_session_ceremony("s1").await.unwrap(),
        None,
        "a ceremony is taken once"
    );
    let ended = store
        .end_sessions_of_user("u1", Some("s1"), "ended_by_owner", 30)
        .await
        .unwrap();
    assert_eq!(ended, vec!["s2".to_string()]);
    let s2 = store.session_by_digest("t2").await.unwrap().unwrap();
    assert_eq!(s2.end_reason.as_deref(), Some("ended_by_owner"));
    assert_eq!(store.open_sessions_for("u1").await.unwrap().len(), 1);
    assert!(
        !store
            .rotate_session("s2", "t2", "t2b", "c3", "passkey", None)
            .await
            .unwrap(),
        "ended sessions cannot be revived"
    );
}

async fn concurrent_audit_appends_keep_one_chain(b: Backend) {
    let db = TestDatabase::new(b).await;
    let store = db.open().await;
    let link = |prev: &str, row: &sealroom_store::AuditRow| {
        let f = row.hashed_fields();
        let refs: Vec<&str> = f.iter().map(String::as_str).collect();
        sealroom_crypto::audit_chain::link(prev, &refs)
    };
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                let e = NewAuditEvent {
                    at: i,
                    actor: format!("user:{i}"),
                    action: "sign_in.failed".into(),
                    subject: "x".into(),
                    outcome: "failure".into(),
                    client_address: "127.0.0.1".into(),
                    details: "{}".into(),
                };
                s.append_audit(&e, link).await.unwrap()
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rows = store.audit_page(0, 100).await.unwrap();
    assert_eq!(rows.len(), 40);
    let mut prev = sealroom_crypto::audit_chain::GENESIS.to_owned();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, i as i64 + 1);
        assert_eq!(row.prev_hash, prev, "chain forked at {}", row.seq);
        assert_eq!(row.hash, link(&row.prev_hash, row));
        prev = row.hash.clone();
    }
    assert_eq!(store.audit_head().await.unwrap(), (40, prev));
}

async fn failure_counters_count_and_clear(b: Backend) {
    let db = TestDatabase::new(b).await;
    let store = db.open().await;
    // 2 free failures, then 10 s, 20 s, capped at 30 s.
    let schedule = DelaySchedule {
        free: 2,
        steps: vec![(3, 10), (4, 20)],
        max: 30,
    };
    let count = |now: i64, only_if_allowed: bool| {
        let (store, schedule) = (store.clone(), schedule.clone());
        async move {
            store
                .count_attempt("k", now, 0, &schedule, only_if_allowed)
                .await
                .unwrap()
        }
    };
    assert_eq!(count(100, true).await, Some(1));
    assert_eq!(count(100, true).await, Some(2));
    assert_eq!(
        count(100, true).await,
        Some(3),
        "the third attempt is counted and sets a 10 s delay"
    );
    assert_eq!(count(105, true).await, None, "refused during the delay");
    assert_eq!(
        store.failures("k").await.unwrap().unwrap().failures,
        3,
        "a refused attempt is not counted"
    );
    assert_eq!(count(110, true).await, Some(4));
    assert_eq!(
        store.failures("k").await.unwrap().unwrap().next_allowed_at,
        130
    );
    assert_eq!(
        count(111, false).await,
        Some(5),
        "counted regardless when asked"
    );
    assert_eq!(
        store.failures("k").await.unwrap().unwrap().next_allowed_at,
        141,
        "capped at 30 s"
    );
    store.uncount_attempt("k").await.unwrap();
    assert_eq!(store.failures("k").await.unwrap().unwrap().failures, 4);
    // A counter quiet since before `quiet_since` starts again from one.
    assert_eq!(
        store
            .count_attempt("k", 500, 400, &schedule, true)
            .await
            .unwrap(),
        Some(1)
    );
    store.clear_failures("k").await.unwrap();
    assert!(store.failures("k").await.unwrap().is_none());

    // A burst of simultaneous attempts cannot slip past: with no free attempts and a delay
    // after the first, exactly one of 30 concurrent attempts is let through.
    let strict = DelaySchedule {
        free: 0,
        steps: vec![],
        max: 60,
    };
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let (store, strict) = (store.clone(), strict.clone());
            tokio::spawn(async move {
                store
                    .count_attempt("burst", 1000, 0, &strict, true)
                    .await
                    .unwrap()
                    .is_some()
            })
        })
        .collect();
    let mut allowed = 0;
    for t in tasks {
        allowed += usize::from(t.await.unwrap());
    }
    assert_eq!(allowed, 1, "{allowed} simultaneous attempts got through");

    store
        .insert_user(&user("u1", "a@example.org"))
        .await
        .unwrap();
    assert!(!store.is_known_address("u1", "10.0.0.1").await.unwrap());
    store.remember_address("u1", "10.0.0.1", 7).await.unwrap();
    store.remember_address("u1", "10.0.0.1", 8).await.unwrap();
    assert!(store.is_known_address("u1", "10.0.0.1").await.unwrap());
}

/// A message from `user:a` to `user:b` (not connected) sent at `at`, opening `thread` when
/// `new_thread`.
fn message_to_b(id: &str, thread: &str, at: i64, new_thread: bool) -> NewMessage {
    let participant = |mailbox: &str| ParticipantRow {
        thread_id: thread.into(),
        mailbox: mailbox.into(),
        wrapped_thread_key: Some(vec![1; 8]),
        added_by: "user:a".into(),
        added_at: at,
        removed_at: None,
        removed_by: None,
    };
    NewMessage {
        thread: new_thread.then(|| {
            (
                ThreadRow {
                    id: thread.into(),
                    patient_id: None,
                    category: None,
                    subject_sealed: vec![2; 8],
                    created_by: "user:a".into(),
                    created_at: at,
                    last_message_at: at,
                },
                vec![participant("user:a"), participant("user:b")],
            )
        }),
        message: MessageRow {
            id: id.into(),
            thread_id: thread.into(),
            author: "user:a".into(),
            signer: "user:a".into(),
            body_sealed: Some(vec![3; 8]),
            wrapped_data_key: Some(vec![4; 8]),
            body_hash: vec![5; 32],
            signing_key_id: "key-a".into(),
            signature: vec![6; 64],
            sent_at: at,
            expires_at: None,
            legal_basis: None,
            destroyed_at: None,
            destroyed_reason: None,
            destroyed_by: None,
        },
        attachments: Vec::new(),
        recipients: vec!["user:b".into()],
        delivered_now: Vec::new(),
        waiting: vec!["user:b".into()],
        history_sender: Some("user:a".into()),
        new_recipients: Vec::new(),
        invitations: Vec::new(),
    }
}

/// What the batch test watches: each thread's messages in order and last activity, and the
/// sender's recipient history.
async fn messaging_state(
    store: &Store,
) -> (Vec<String>, Vec<String>, i64, i64, Vec<(String, i64)>) {
    let last = |t: Option<ThreadRow>| t.unwrap().last_message_at;
    (
        ids_in_order(store, "t1").await,
        ids_in_order(store, "t2").await,
        last(store.thread("t1").await.unwrap()),
        last(store.thread("t2").await.unwrap()),
        store.recipient_history("user:a").await.unwrap(),
    )
}

async fn ids_in_order(store: &Store, thread: &str) -> Vec<String> {
    store
        .messages_of(thread)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect()
}

/// The message writer's group commit: messages into two threads (one opened in the batch) in
/// one transaction, each thread's messages in the order given, receipts, history and notices
/// counted once per message; a batch with one bad message stores nothing.
async fn a_batch_of_messages_is_stored_whole_or_not_at_all_each_in_its_place(b: Backend) {
    let db = TestDatabase::new(b).await;
    let store = db.open().await;
    store
        .insert_messages(&[
            message_to_b("m1", "t1", 100, true),
            message_to_b("m2", "t1", 101, false),
            message_to_b("m3", "t2", 102, true),
            message_to_b("m4", "t2", 103, false),
            message_to_b("m5", "t1", 104, false),
        ])
        .await
        .unwrap();
    let stored = messaging_state(&store).await;
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        stored,
        (
            ids(&["m1", "m2", "m5"]),
            ids(&["m3", "m4"]),
            104,
            103,
            vec![("user:b".to_owned(), 5)]
        )
    );
    assert_eq!(store.receipts_of("t1").await.unwrap().len(), 3);

    // One message's attachment cannot be taken (there is no such upload): nothing changes.
    let mut bad = message_to_b("m7", "t1", 106, false);
    bad.attachments = vec![("no-such-upload".into(), vec![7; 8])];
    let refused = store
        .insert_messages(&[
            message_to_b("m6", "t1", 105, false),
            bad,
            message_to_b("m8", "t2", 107, false),
        ])
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(messaging_state(&store).await, stored);

    // Alone, the good ones go in after the others; a connected recipient has it delivered at
    // once; a message with an older time does not move the thread's last activity back.
    let mut delivered = message_to_b("m6", "t1", 105, false);
    delivered.delivered_now = vec!["user:b".into()];
    delivered.waiting.clear();
    store.insert_messages(&[delivered]).await.unwrap();
    assert_eq!(ids_in_order(&store, "t1").await, ["m1", "m2", "m5", "m6"]);
    let receipts = store.receipts_of("t1").await.unwrap();
    let of = |id: &str| {
        receipts
            .iter()
            .find(|r| r.message_id == id)
            .unwrap()
            .delivered_at
    };
    assert_eq!((of("m5"), of("m6")), (None, Some(105)));
    store
        .insert_messages(&[message_to_b("m9", "t2", 50, false)])
        .await
        .unwrap();
    assert_eq!(
        store.thread("t2").await.unwrap().unwrap().last_message_at,
        103
    );
    assert_eq!(ids_in_order(&store, "t2").await, ["m3", "m4", "m9"]);
    assert_eq!(
        store.recipient_history("user:a").await.unwrap(),
        [("user:b".to_owned(), 7)]
    );
    // One notice for the absent recipient, counting every message that waited, timed from the
    // first to wait (stored first, whatever time a later one carries).
    assert_eq!(
        store.take_message_notices(i64::MAX).await.unwrap(),
        [("user:b".to_owned(), 6, 100)]
    );
}
