//! The store's behaviour, the same suite on SQLite and on a real PostgreSQL server.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use callrec_store::{
    testing, Backend, DocKind, NewDocument, OpenOptions, PrivLevel, Recording, RecordingState,
    Store, StoreError, SCHEMA_VERSION,
};
use common::{TestDb, T0};
use serde_json::json;

on_both_backends!(
    documents_are_created_read_listed_replaced_and_deleted,
    a_stale_rev_is_a_conflict_and_changes_nothing,
    of_concurrent_replaces_with_the_same_rev_exactly_one_wins,
    ids_are_unique_per_kind_across_accounts_and_bad_input_is_refused,
    import_adds_only_missing_documents_and_is_idempotent,
    load_all_returns_every_live_document,
    change_seq_grows_on_every_document_write_and_is_seen_by_another_handle,
    a_schema_newer_than_the_binary_is_refused,
    reopening_keeps_the_data_and_the_schema_version,
    api_keys_and_logins_are_found_by_the_right_secret_only,
    secrets_are_never_stored_in_clear,
    tokens_expire_and_can_be_revoked,
    deleting_an_account_or_user_removes_its_credentials_and_tokens,
    cdr_pages_follow_next_start_key_within_the_created_range,
    cdrs_are_idempotent_kept_per_account_and_grouped_by_interaction,
    recordings_upsert_changes_state_and_accounts_are_kept_apart,
    bad_paging_arguments_are_refused,
    batched_cdrs_skip_repeats_and_a_user_pages_through_full_pages_of_its_own,
    batched_recording_upserts_keep_the_last_state_of_each,
    upgrading_from_schema_1_fills_the_cdr_owner_column,
);

fn doc_ids(docs: &[callrec_store::Document]) -> Vec<&str> {
    docs.iter().map(|d| d.id.as_str()).collect()
}

async fn documents_are_created_read_listed_replaced_and_deleted(db: TestDb) {
    let s = db.open().await;
    let acct = s
        .create("a1", DocKind::Account, "a1", json!({"name": "Acme"}), T0)
        .await
        .unwrap();
    assert_eq!((acct.rev, acct.created, acct.modified), (1, T0, T0));
    let u = s
        .create(
            "a1",
            DocKind::User,
            "u2",
            json!({"_id": "u2", "_rev": "9-x", "username": "bob"}),
            T0 + 1,
        )
        .await
        .unwrap();
    assert_eq!(
        u.body,
        json!({"username": "bob"}),
        "_id and _rev are dropped"
    );
    s.create(
        "a1",
        DocKind::User,
        "u1",
        json!({"username": "amy"}),
        T0 + 2,
    )
    .await
    .unwrap();
    s.create("a1", DocKind::Device, "d1", json!({"name": "desk"}), T0 + 2)
        .await
        .unwrap();

    let got = s.get(DocKind::User, "u2").await.unwrap();
    assert_eq!(got, u);
    assert_eq!(got.account_id, "a1");
    assert_eq!(
        doc_ids(&s.list("a1", DocKind::User).await.unwrap()),
        ["u1", "u2"]
    );
    assert_eq!(
        doc_ids(&s.list("a1", DocKind::Account).await.unwrap()),
        ["a1"]
    );
    assert!(s.list("a2", DocKind::User).await.unwrap().is_empty());
    assert!(matches!(
        s.get_in_account("a2", DocKind::User, "u2").await,
        Err(StoreError::NotFound { what: "user", .. })
    ));
    assert_eq!(
        s.get_in_account("a1", DocKind::User, "u2").await.unwrap(),
        u
    );

    // PATCH: get, merge, replace with the rev read.
    let mut body = got.body.clone();
    body["first_name"] = json!("Bob");
    let r = s
        .replace(DocKind::User, "u2", Some(got.rev), body.clone(), T0 + 10)
        .await
        .unwrap();
    assert_eq!((r.rev, r.created, r.modified), (2, T0 + 1, T0 + 10));
    assert_eq!(r.account_id, "a1");
    assert_eq!(s.get(DocKind::User, "u2").await.unwrap().body, body);
    // Without expected_rev the write goes through whatever the revision.
    let r3 = s
        .replace(
            DocKind::User,
            "u2",
            None,
            json!({"username": "bob"}),
            T0 + 11,
        )
        .await
        .unwrap();
    assert_eq!(r3.rev, 3);

    let gone = s.delete(DocKind::User, "u2", Some(3)).await.unwrap();
    assert_eq!(gone.rev, 3);
    assert_eq!(gone.body, json!({"username": "bob"}));
    assert!(matches!(
        s.get(DocKind::User, "u2").await,
        Err(StoreError::NotFound { what: "user", ref id }) if id == "u2"
    ));
    assert!(matches!(
        s.delete(DocKind::User, "u2", None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.replace(DocKind::User, "u2", None, json!({}), T0).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(doc_ids(&s.list("a1", DocKind::User).await.unwrap()), ["u1"]);
    // A deleted id can be created again, from revision 1.
    let again = s
        .create("a1", DocKind::User, "u2", json!({}), T0 + 20)
        .await
        .unwrap();
    assert_eq!(again.rev, 1);
}

async fn a_stale_rev_is_a_conflict_and_changes_nothing(db: TestDb) {
    let s = db.open().await;
    s.create(
        "a1",
        DocKind::Callflow,
        "cf",
        json!({"numbers": ["100"]}),
        T0,
    )
    .await
    .unwrap();
    s.replace(
        DocKind::Callflow,
        "cf",
        Some(1),
        json!({"numbers": ["101"]}),
        T0 + 1,
    )
    .await
    .unwrap();
    let seq = s.change_seq().await.unwrap();

    let stale = s
        .replace(
            DocKind::Callflow,
            "cf",
            Some(1),
            json!({"numbers": ["999"]}),
            T0 + 2,
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { current_rev: 2 })),
        "{stale:?}"
    );
    let future = s.delete(DocKind::Callflow, "cf", Some(7)).await;
    assert!(
        matches!(future, Err(StoreError::Conflict { current_rev: 2 })),
        "{future:?}"
    );
    let doc = s.get(DocKind::Callflow, "cf").await.unwrap();
    assert_eq!((doc.rev, doc.modified), (2, T0 + 1));
    assert_eq!(doc.body, json!({"numbers": ["101"]}));
    assert_eq!(
        s.change_seq().await.unwrap(),
        seq,
        "a refused write is not a change"
    );
}

async fn of_concurrent_replaces_with_the_same_rev_exactly_one_wins(db: TestDb) {
    let s = db.open().await;
    s.create("a1", DocKind::Device, "d1", json!({"n": 0}), T0)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in 1..=8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.replace(DocKind::Device, "d1", Some(1), json!({"n": n}), T0 + n)
                .await
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(doc) => winners.push(doc),
            Err(StoreError::Conflict { current_rev }) => assert_eq!(current_rev, 2),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one replace wins");
    let now = s.get(DocKind::Device, "d1").await.unwrap();
    assert_eq!(now.rev, 2);
    assert_eq!(now.body, winners[0].body);
}

async fn ids_are_unique_per_kind_across_accounts_and_bad_input_is_refused(db: TestDb) {
    let s = db.open().await;
    s.create("a1", DocKind::User, "same", json!({}), T0)
        .await
        .unwrap();
    assert!(matches!(
        s.create("a2", DocKind::User, "same", json!({}), T0).await,
        Err(StoreError::AlreadyExists {
            kind: DocKind::User,
            ..
        })
    ));
    // Another kind may use the same id.
    s.create("a2", DocKind::Device, "same", json!({}), T0)
        .await
        .unwrap();
    assert!(matches!(
        s.create("a1", DocKind::User, "x", json!([1, 2]), T0).await,
        Err(StoreError::NotAnObject)
    ));
    assert!(matches!(
        s.replace(DocKind::User, "same", None, json!("text"), T0)
            .await,
        Err(StoreError::NotAnObject)
    ));
    assert!(matches!(
        s.create("a1", DocKind::Account, "a2", json!({}), T0).await,
        Err(StoreError::AccountIdMismatch { .. })
    ));
    assert!(matches!(
        s.create("a1", DocKind::User, "", json!({}), T0).await,
        Err(StoreError::EmptyId { what: "id" })
    ));
    assert!(matches!(
        s.create("", DocKind::User, "u", json!({}), T0).await,
        Err(StoreError::EmptyId { what: "account_id" })
    ));
    assert!(matches!(
        s.create("a1", DocKind::User, "u", json!({}), u64::MAX)
            .await,
        Err(StoreError::OutOfRange { field: "now", .. })
    ));
    assert!(matches!(
        s.replace(DocKind::User, "same", Some(u64::MAX), json!({}), T0)
            .await,
        Err(StoreError::OutOfRange {
            field: "expected_rev",
            ..
        })
    ));
    // Odd but valid strings are just data; NUL, which PostgreSQL cannot store in text, is
    // refused on both backends (inside a JSON body it is escaped and kept).
    let odd = "a'; DROP TABLE documents; --é\u{1F600}";
    s.create(
        "a1",
        DocKind::Resource,
        odd,
        json!({"k": odd, "nul": "x\u{0}y"}),
        T0,
    )
    .await
    .unwrap();
    assert_eq!(
        s.get(DocKind::Resource, odd).await.unwrap().body,
        json!({"k": odd, "nul": "x\u{0}y"})
    );
    assert!(matches!(
        s.create("a1", DocKind::Resource, "x\u{0}y", json!({}), T0)
            .await,
        Err(StoreError::NulCharacter { what: "id" })
    ));
    assert!(matches!(
        s.get(DocKind::Resource, "x\u{0}y").await,
        Err(StoreError::NulCharacter { what: "id" })
    ));
    assert!(matches!(
        s.set_user_login("a1", "u", "b\u{0}b", "abc").await,
        Err(StoreError::NulCharacter { what: "username" })
    ));
    assert_eq!(
        s.find_user_login(Some("a\u{0}"), "abc").await.unwrap(),
        None
    );
    let mut rec = recording("a1", "r", T0, RecordingState::Failed);
    rec.last_error = Some("bad\u{0}".into());
    assert!(matches!(
        s.upsert_recording(&rec).await,
        Err(StoreError::NulCharacter { what: "last_error" })
    ));
    assert!(matches!(
        s.list_cdrs("a1", 0, 1, 1, Some("1:a\u{0}")).await,
        Err(StoreError::InvalidStartKey { .. })
    ));
    // An account realm with a NUL is simply not a lookup key.
    s.create("a9", DocKind::Account, "a9", json!({"realm": "r\u{0}"}), T0)
        .await
        .unwrap();
}

async fn import_adds_only_missing_documents_and_is_idempotent(db: TestDb) {
    let s = db.open().await;
    s.create("a1", DocKind::User, "u1", json!({"username": "kept"}), T0)
        .await
        .unwrap();
    let docs = vec![
        NewDocument {
            kind: DocKind::Account,
            account_id: "a1".into(),
            id: "a1".into(),
            body: json!({"name": "Acme"}),
        },
        NewDocument {
            kind: DocKind::User,
            account_id: "a1".into(),
            id: "u1".into(),
            body: json!({"username": "imported"}),
        },
        NewDocument {
            kind: DocKind::Device,
            account_id: "a1".into(),
            id: "d1".into(),
            body: json!({}),
        },
        NewDocument {
            kind: DocKind::Device,
            account_id: "a1".into(),
            id: "d1".into(),
            body: json!({"dup": true}),
        },
    ];
    let seq = s.change_seq().await.unwrap();
    assert_eq!(s.import(docs.clone(), T0 + 5).await.unwrap(), 2);
    assert_eq!(s.change_seq().await.unwrap(), seq + 1);
    assert_eq!(s.import(docs, T0 + 6).await.unwrap(), 0);
    assert_eq!(
        s.change_seq().await.unwrap(),
        seq + 1,
        "nothing new, no change"
    );
    assert_eq!(
        s.get(DocKind::User, "u1").await.unwrap().body,
        json!({"username": "kept"}),
        "existing documents are left alone"
    );
    let d1 = s.get(DocKind::Device, "d1").await.unwrap();
    assert_eq!((d1.rev, d1.created, d1.body), (1, T0 + 5, json!({})));
    assert_eq!(s.import(Vec::new(), T0).await.unwrap(), 0);
    // One bad document refuses the whole import before anything is written.
    let bad = vec![
        NewDocument {
            kind: DocKind::Device,
            account_id: "a1".into(),
            id: "d2".into(),
            body: json!({}),
        },
        NewDocument {
            kind: DocKind::Device,
            account_id: "a1".into(),
            id: "d3".into(),
            body: json!(null),
        },
    ];
    assert!(matches!(
        s.import(bad, T0).await,
        Err(StoreError::NotAnObject)
    ));
    assert!(s.get(DocKind::Device, "d2").await.is_err());
}

async fn load_all_returns_every_live_document(db: TestDb) {
    let s = db.open().await;
    for a in ["a1", "a2"] {
        s.create(a, DocKind::Account, a, json!({"name": a}), T0)
            .await
            .unwrap();
        for k in [
            DocKind::User,
            DocKind::Device,
            DocKind::Callflow,
            DocKind::Resource,
            DocKind::Storage,
        ] {
            s.create(a, k, &format!("{a}-{k}"), json!({}), T0)
                .await
                .unwrap();
        }
    }
    s.delete(DocKind::Device, "a2-device", None).await.unwrap();
    let all = s.load_all().await.unwrap();
    assert_eq!(all.len(), 11);
    let keys: BTreeSet<(DocKind, String, String)> = all
        .into_iter()
        .map(|d| (d.kind, d.id, d.account_id))
        .collect();
    assert!(keys.contains(&(DocKind::Account, "a2".into(), "a2".into())));
    assert!(keys.contains(&(DocKind::Storage, "a1-storage".into(), "a1".into())));
    assert!(!keys.iter().any(|(_, id, _)| id == "a2-device"));
}

async fn change_seq_grows_on_every_document_write_and_is_seen_by_another_handle(db: TestDb) {
    let writer = db.open().await;
    let watcher = db.open().await;
    let mut last = watcher.change_seq().await.unwrap();
    assert_eq!(last, 0);
    let mut expect_bump = |seen: i64| {
        assert!(seen > last, "change_seq {seen} did not grow past {last}");
        last = seen;
    };
    writer
        .create("a1", DocKind::Account, "a1", json!({}), T0)
        .await
        .unwrap();
    expect_bump(watcher.change_seq().await.unwrap());
    writer
        .replace(DocKind::Account, "a1", Some(1), json!({"x": 1}), T0)
        .await
        .unwrap();
    expect_bump(watcher.change_seq().await.unwrap());
    writer
        .create("a1", DocKind::User, "u1", json!({}), T0)
        .await
        .unwrap();
    expect_bump(watcher.change_seq().await.unwrap());
    writer.delete(DocKind::User, "u1", None).await.unwrap();
    expect_bump(watcher.change_seq().await.unwrap());
    writer
        .import(
            vec![NewDocument {
                kind: DocKind::Device,
                account_id: "a1".into(),
                id: "d".into(),
                body: json!({}),
            }],
            T0,
        )
        .await
        .unwrap();
    expect_bump(watcher.change_seq().await.unwrap());
    // Not document writes: no change.
    writer.set_api_key("a1", "k").await.unwrap();
    writer
        .insert_cdr("a1", "c1", "i1", T0, &json!({}))
        .await
        .unwrap();
    assert_eq!(watcher.change_seq().await.unwrap(), last);
    // The other handle sees the documents too.
    assert_eq!(watcher.load_all().await.unwrap().len(), 2);
}

async fn a_schema_newer_than_the_binary_is_refused(db: TestDb) {
    let s = db.open().await;
    assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
    s.create("a1", DocKind::Account, "a1", json!({}), T0)
        .await
        .unwrap();
    testing::execute_sql(&s, "INSERT INTO callrec_schema (version) VALUES (999)")
        .await
        .unwrap();
    let refused = Store::open(&db.url).await;
    match refused {
        Err(StoreError::SchemaTooNew { found, known }) => {
            assert_eq!((found, known), (999, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let msg = StoreError::SchemaTooNew {
        found: 999,
        known: SCHEMA_VERSION,
    }
    .to_string();
    assert!(msg.contains("999") && msg.contains("newer"), "{msg}");
    // Nothing was changed by the refused open.
    assert_eq!(s.schema_version().await.unwrap(), 999);
    assert_eq!(s.get(DocKind::Account, "a1").await.unwrap().rev, 1);
}

async fn reopening_keeps_the_data_and_the_schema_version(db: TestDb) {
    let s = db.open().await;
    s.create("a1", DocKind::Account, "a1", json!({"name": "Acme"}), T0)
        .await
        .unwrap();
    s.close().await;
    let again = db.open().await;
    assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(
        again.get(DocKind::Account, "a1").await.unwrap().body,
        json!({"name": "Acme"})
    );
    assert_eq!(again.change_seq().await.unwrap(), 1);
}

const MD5_BOB: &str = "5f4dcc3b5aa765d61d8327deb882cf99";
const MD5_AMY: &str = "0d107d09f5bbe40cade3de5c71e9e9b7";

async fn api_keys_and_logins_are_found_by_the_right_secret_only(db: TestDb) {
    let s = db.open().await;
    s.create(
        "a1",
        DocKind::Account,
        "a1",
        json!({"name": "Acme Corp", "realm": "acme.sip.example"}),
        T0,
    )
    .await
    .unwrap();
    s.create("a2", DocKind::Account, "a2", json!({"name": "Other"}), T0)
        .await
        .unwrap();
    s.set_api_key("a1", "key-one").await.unwrap();
    s.set_api_key("a2", "key-two").await.unwrap();
    assert_eq!(
        s.account_for_api_key("key-one").await.unwrap().as_deref(),
        Some("a1")
    );
    assert_eq!(
        s.account_for_api_key("key-two").await.unwrap().as_deref(),
        Some("a2")
    );
    assert_eq!(s.account_for_api_key("key-One").await.unwrap(), None);
    assert_eq!(s.account_for_api_key("").await.unwrap(), None);
    // A new key replaces the old one.
    s.set_api_key("a1", "key-new").await.unwrap();
    assert_eq!(s.account_for_api_key("key-one").await.unwrap(), None);
    assert_eq!(
        s.account_for_api_key("key-new").await.unwrap().as_deref(),
        Some("a1")
    );
    assert!(s.delete_api_key("a1").await.unwrap());
    assert_eq!(s.account_for_api_key("key-new").await.unwrap(), None);
    assert!(!s.delete_api_key("a1").await.unwrap());

    s.set_user_login("a1", "u-bob", "bob", MD5_BOB)
        .await
        .unwrap();
    s.set_user_login("a2", "u-amy", "amy", MD5_AMY)
        .await
        .unwrap();
    let found = s
        .find_user_login(Some("a1"), MD5_BOB)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            found.account_id.as_str(),
            found.user_id.as_str(),
            found.username.as_str()
        ),
        ("a1", "u-bob", "bob")
    );
    // By account name (normalized like KAZOO), realm (any case), or no account at all.
    for account in [
        Some("acme corp"),
        Some("ACME-CORP"),
        Some("Acme.Sip.Example"),
        None,
    ] {
        let f = s.find_user_login(account, MD5_BOB).await.unwrap();
        assert_eq!(
            f.map(|l| l.user_id).as_deref(),
            Some("u-bob"),
            "{account:?}"
        );
    }
    // Upper-case hex is the same secret.
    assert!(s
        .find_user_login(Some("a1"), &MD5_BOB.to_uppercase())
        .await
        .unwrap()
        .is_some());
    // Wrong secret, wrong account, unknown account, empty secret.
    assert_eq!(s.find_user_login(Some("a1"), MD5_AMY).await.unwrap(), None);
    assert_eq!(
        s.find_user_login(Some("Other"), MD5_BOB).await.unwrap(),
        None
    );
    assert_eq!(
        s.find_user_login(Some("nobody"), MD5_BOB).await.unwrap(),
        None
    );
    assert_eq!(s.find_user_login(None, "").await.unwrap(), None);
    assert_eq!(
        s.find_user_login(Some("other"), MD5_AMY)
            .await
            .unwrap()
            .map(|l| l.account_id)
            .as_deref(),
        Some("a2")
    );
    // Renaming the account moves the name lookup with it.
    s.replace(
        DocKind::Account,
        "a1",
        None,
        json!({"name": "Renamed"}),
        T0 + 1,
    )
    .await
    .unwrap();
    assert_eq!(
        s.find_user_login(Some("Acme Corp"), MD5_BOB).await.unwrap(),
        None
    );
    assert!(s
        .find_user_login(Some("renamed"), MD5_BOB)
        .await
        .unwrap()
        .is_some());
    // Changing the password replaces the secret.
    s.set_user_login("a1", "u-bob", "bob", MD5_AMY)
        .await
        .unwrap();
    assert_eq!(s.find_user_login(Some("a1"), MD5_BOB).await.unwrap(), None);
    assert!(s
        .find_user_login(Some("a1"), MD5_AMY)
        .await
        .unwrap()
        .is_some());
    assert!(s.delete_user_login("a1", "u-bob").await.unwrap());
    assert_eq!(s.find_user_login(Some("a1"), MD5_AMY).await.unwrap(), None);
}

async fn secrets_are_never_stored_in_clear(db: TestDb) {
    let s = db.open().await;
    let api_key = "raw-api-key-6f1c0e2b9a";
    s.create("a1", DocKind::Account, "a1", json!({"name": "Acme"}), T0)
        .await
        .unwrap();
    s.set_api_key("a1", api_key).await.unwrap();
    s.set_user_login("a1", "u1", "bob", MD5_BOB).await.unwrap();
    let token = s
        .create_token("a1", Some("u1"), PrivLevel::Admin, T0 + 3600)
        .await
        .unwrap();
    assert_eq!(token.len(), 64);

    let rows = testing::dump_rows(&s).await.unwrap();
    assert!(rows.iter().any(|r| r.starts_with("api_keys:")), "{rows:?}");
    assert!(rows
        .iter()
        .any(|r| r.starts_with("user_logins:") && r.contains("bob")));
    assert!(rows.iter().any(|r| r.starts_with("auth_tokens:")));
    for secret in [api_key, MD5_BOB, token.as_str()] {
        assert!(
            !rows.iter().any(|r| r.contains(secret)),
            "{secret} is stored in clear: {rows:?}"
        );
    }
    if db.backend == Backend::Sqlite {
        let bytes = db.file_bytes();
        assert!(!bytes.is_empty());
        for secret in [api_key, MD5_BOB, token.as_str()] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} is in the SQLite files"
            );
        }
        // The check itself can see stored strings.
        assert!(bytes.windows(3).any(|w| w == b"bob"));
    }
}

async fn tokens_expire_and_can_be_revoked(db: TestDb) {
    let s = db.open().await;
    let t = s
        .create_token("a1", Some("u1"), PrivLevel::User, T0 + 100)
        .await
        .unwrap();
    let k = s
        .create_token("a1", None, PrivLevel::Admin, T0 + 100)
        .await
        .unwrap();
    assert_ne!(t, k);
    let info = s.check_token(&t, T0).await.unwrap().unwrap();
    assert_eq!(info.account_id, "a1");
    assert_eq!(info.user_id.as_deref(), Some("u1"));
    assert_eq!(info.priv_level, PrivLevel::User);
    assert_eq!(info.expires_at, T0 + 100);
    assert_eq!(
        s.check_token(&k, T0 + 99).await.unwrap().unwrap().user_id,
        None
    );
    assert_eq!(
        s.check_token(&t, T0 + 100).await.unwrap(),
        None,
        "expired at expires_at"
    );
    assert_eq!(s.check_token(&t, T0 + 5000).await.unwrap(), None);
    assert_eq!(s.check_token("not-a-token", T0).await.unwrap(), None);
    assert_eq!(s.check_token("", T0).await.unwrap(), None);

    assert!(s.delete_token(&k).await.unwrap());
    assert_eq!(s.check_token(&k, T0).await.unwrap(), None);
    let late = s
        .create_token("a1", None, PrivLevel::Admin, T0 + 10_000)
        .await
        .unwrap();
    let other = s
        .create_token("a2", None, PrivLevel::Admin, T0 + 10_000)
        .await
        .unwrap();
    assert_eq!(s.delete_expired_tokens(T0 + 100).await.unwrap(), 1);
    assert_eq!(s.delete_tokens_for_account("a1").await.unwrap(), 1);
    assert_eq!(s.check_token(&late, T0).await.unwrap(), None);
    assert!(s.check_token(&other, T0).await.unwrap().is_some());
}

async fn deleting_an_account_or_user_removes_its_credentials_and_tokens(db: TestDb) {
    let s = db.open().await;
    s.create("a1", DocKind::Account, "a1", json!({}), T0)
        .await
        .unwrap();
    s.create("a1", DocKind::User, "u1", json!({}), T0)
        .await
        .unwrap();
    s.create("a1", DocKind::User, "u2", json!({}), T0)
        .await
        .unwrap();
    s.set_user_login("a1", "u1", "one", MD5_BOB).await.unwrap();
    s.set_user_login("a1", "u2", "two", MD5_AMY).await.unwrap();
    let t1 = s
        .create_token("a1", Some("u1"), PrivLevel::User, T0 + 99)
        .await
        .unwrap();
    let t2 = s
        .create_token("a1", Some("u2"), PrivLevel::User, T0 + 99)
        .await
        .unwrap();
    s.set_api_key("a1", "key").await.unwrap();

    s.delete(DocKind::User, "u1", None).await.unwrap();
    assert_eq!(s.find_user_login(Some("a1"), MD5_BOB).await.unwrap(), None);
    assert_eq!(s.check_token(&t1, T0).await.unwrap(), None);
    assert!(s.check_token(&t2, T0).await.unwrap().is_some());

    s.delete(DocKind::Account, "a1", None).await.unwrap();
    assert_eq!(s.find_user_login(None, MD5_AMY).await.unwrap(), None);
    assert_eq!(s.check_token(&t2, T0).await.unwrap(), None);
    assert_eq!(s.account_for_api_key("key").await.unwrap(), None);
}

/// (id, created) of the CDRs an account holds, for the paging test.
fn cdr_rows() -> Vec<(String, u64)> {
    // Pairs share a `created` second so ties are broken by id.
    (0..25)
        .map(|i| (format!("cdr-{i:02}"), T0 + i / 2))
        .collect()
}

async fn cdr_pages_follow_next_start_key_within_the_created_range(db: TestDb) {
    let s = db.open().await;
    for (id, created) in cdr_rows() {
        let body = json!({"id": id, "call_id": format!("call-{id}")});
        assert!(s
            .insert_cdr("a1", &id, &format!("i-{created}"), created, &body)
            .await
            .unwrap());
    }
    // Another account's CDRs in the same range never show up.
    for i in 0..5 {
        s.insert_cdr("a2", &format!("cdr-{i:02}"), "x", T0 + 3, &json!({}))
            .await
            .unwrap();
    }
    let (from, to) = (T0 + 2, T0 + 9);
    let mut expected: Vec<(String, u64)> = cdr_rows()
        .into_iter()
        .filter(|(_, c)| (from..=to).contains(c))
        .collect();
    expected.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    assert_eq!(expected.len(), 16);

    let mut seen = Vec::new();
    let mut key: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = s
            .list_cdrs("a1", from, to, 5, key.as_deref())
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 5);
        for c in &page.items {
            assert_eq!(c.account_id, "a1");
            assert_eq!(c.body["id"], json!(c.id));
            seen.push((c.id.clone(), c.created));
        }
        if pages == 1 {
            // A CDR arriving while the client pages (newer than the first page) neither repeats
            // nor hides any row of the later pages.
            s.insert_cdr("a1", "cdr-late", "late", to, &json!({}))
                .await
                .unwrap();
        }
        match page.next_start_key {
            Some(k) => key = Some(k),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 4);
    assert_eq!(seen, expected);

    // The same key gives the same page again.
    let first = s.list_cdrs("a1", from, to, 5, None).await.unwrap();
    let k = first.next_start_key.clone().unwrap();
    let a = s.list_cdrs("a1", from, to, 5, Some(&k)).await.unwrap();
    let b = s.list_cdrs("a1", from, to, 5, Some(&k)).await.unwrap();
    assert_eq!(a, b);
    // An empty range is an empty last page.
    let none = s
        .list_cdrs("a1", T0 + 100, T0 + 200, 5, None)
        .await
        .unwrap();
    assert!(none.items.is_empty() && none.next_start_key.is_none());
    // Huge bounds are clamped, not refused.
    let all = s.list_cdrs("a1", 0, u64::MAX, 1000, None).await.unwrap();
    assert_eq!(all.items.len(), 26);
}

async fn cdrs_are_idempotent_kept_per_account_and_grouped_by_interaction(db: TestDb) {
    let s = db.open().await;
    let body = json!({"call_direction": "inbound"});
    assert!(s
        .insert_cdr("a1", "leg-b", "int-1", T0 + 2, &body)
        .await
        .unwrap());
    assert!(s
        .insert_cdr("a1", "leg-a", "int-1", T0, &body)
        .await
        .unwrap());
    assert!(s
        .insert_cdr("a1", "leg-c", "int-2", T0 + 1, &body)
        .await
        .unwrap());
    assert!(
        !s.insert_cdr("a1", "leg-a", "int-1", T0 + 50, &json!({"changed": true}))
            .await
            .unwrap(),
        "a repeated insert changes nothing"
    );
    assert_eq!(s.get_cdr("a1", "leg-a").await.unwrap().body, body);
    assert_eq!(s.get_cdr("a1", "leg-a").await.unwrap().created, T0);
    let legs = s.cdr_legs("a1", "int-1").await.unwrap();
    assert_eq!(
        legs.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["leg-a", "leg-b"]
    );

    // Account a2 sees none of a1's rows, even by id or interaction.
    assert!(matches!(
        s.get_cdr("a2", "leg-a").await,
        Err(StoreError::NotFound { what: "cdr", .. })
    ));
    assert!(s.cdr_legs("a2", "int-1").await.unwrap().is_empty());
    assert!(s
        .list_cdrs("a2", 0, u64::MAX, 10, None)
        .await
        .unwrap()
        .items
        .is_empty());
    // The same CDR id in another account is another row.
    assert!(s
        .insert_cdr("a2", "leg-a", "int-9", T0, &json!({"a2": true}))
        .await
        .unwrap());
    assert_eq!(
        s.get_cdr("a2", "leg-a").await.unwrap().body,
        json!({"a2": true})
    );
    assert_eq!(s.get_cdr("a1", "leg-a").await.unwrap().body, body);
    assert!(matches!(
        s.insert_cdr("a1", "bad", "i", T0, &json!([1])).await,
        Err(StoreError::NotAnObject)
    ));
}

fn recording(account: &str, id: &str, created: u64, state: RecordingState) -> Recording {
    Recording {
        id: id.into(),
        account_id: account.into(),
        call_id: format!("call-{id}"),
        interaction_id: format!("int-{id}"),
        state,
        last_error: None,
        created,
        body: json!({"format": "mp3", "duration_ms": 1000}),
    }
}

async fn recordings_upsert_changes_state_and_accounts_are_kept_apart(db: TestDb) {
    let s = db.open().await;
    let mut r = recording("a1", "r1", T0, RecordingState::Recording);
    s.upsert_recording(&r).await.unwrap();
    assert_eq!(s.get_recording("a1", "r1").await.unwrap(), r);

    r.state = RecordingState::Failed;
    r.last_error = Some("HTTP 503".into());
    r.body["url"] = json!("https://store.example/r1.mp3");
    r.created = T0 + 999; // ignored: created is kept from the first upsert
    s.upsert_recording(&r).await.unwrap();
    let got = s.get_recording("a1", "r1").await.unwrap();
    assert_eq!(got.state, RecordingState::Failed);
    assert_eq!(got.last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(got.body["url"], json!("https://store.example/r1.mp3"));
    assert_eq!(got.created, T0);

    r.state = RecordingState::Stored;
    r.last_error = None;
    s.upsert_recording(&r).await.unwrap();
    assert_eq!(
        s.get_recording("a1", "r1").await.unwrap().state,
        RecordingState::Stored
    );
    assert_eq!(s.get_recording("a1", "r1").await.unwrap().last_error, None);

    for i in 2..=6 {
        s.upsert_recording(&recording(
            "a1",
            &format!("r{i}"),
            T0 + i,
            RecordingState::Finished,
        ))
        .await
        .unwrap();
    }
    // a2 has its own r1, and cannot see a1's.
    s.upsert_recording(&recording("a2", "r1", T0, RecordingState::Local))
        .await
        .unwrap();
    assert_eq!(
        s.get_recording("a2", "r1").await.unwrap().state,
        RecordingState::Local
    );
    assert_eq!(
        s.get_recording("a1", "r1").await.unwrap().state,
        RecordingState::Stored
    );
    assert!(matches!(
        s.get_recording("a2", "r2").await,
        Err(StoreError::NotFound {
            what: "recording",
            ..
        })
    ));
    assert!(matches!(
        s.delete_recording("a2", "r2").await,
        Err(StoreError::NotFound { .. })
    ));
    let a2 = s.list_recordings("a2", 10, None).await.unwrap();
    assert_eq!(a2.items.len(), 1);

    let p1 = s.list_recordings("a1", 4, None).await.unwrap();
    let ids: Vec<&str> = p1.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r6", "r5", "r4", "r3"]);
    let p2 = s
        .list_recordings("a1", 4, p1.next_start_key.as_deref())
        .await
        .unwrap();
    let ids: Vec<&str> = p2.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r2", "r1"]);
    assert_eq!(p2.next_start_key, None);
    // by start time: r2..=r4 of a1 (bounds inclusive), newest first, capped at `max`
    let span = s
        .recordings_created_between("a1", T0 + 2, T0 + 4, 10)
        .await
        .unwrap();
    let ids: Vec<&str> = span.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r4", "r3", "r2"]);
    let capped = s
        .recordings_created_between("a1", T0, T0 + 6, 2)
        .await
        .unwrap();
    assert_eq!(capped.len(), 2);
    assert!(s
        .recordings_created_between("a2", T0 + 1, T0 + 6, 10)
        .await
        .unwrap()
        .is_empty());

    s.delete_recording("a1", "r1").await.unwrap();
    assert!(s.get_recording("a1", "r1").await.is_err());
    assert!(
        s.get_recording("a2", "r1").await.is_ok(),
        "a2's r1 is untouched"
    );
}

async fn bad_paging_arguments_are_refused(db: TestDb) {
    let s = db.open().await;
    assert!(matches!(
        s.list_cdrs("a1", 0, u64::MAX, 0, None).await,
        Err(StoreError::InvalidPageSize)
    ));
    for key in ["", "nonsense", "-5:x", "1e9:x"] {
        assert!(
            matches!(
                s.list_cdrs("a1", 0, u64::MAX, 10, Some(key)).await,
                Err(StoreError::InvalidStartKey { .. })
            ),
            "{key:?}"
        );
        assert!(matches!(
            s.list_recordings("a1", 10, Some(key)).await,
            Err(StoreError::InvalidStartKey { .. })
        ));
    }
}

// ---- Opening: URLs and unreachable servers (not per backend) ----

fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn an_unreachable_postgres_url_is_refused_with_a_clear_error() {
    let port = unused_port();
    let url = format!("postgres://callrec:hunter2@127.0.0.1:{port}/callrec");
    let opts = OpenOptions::default().connect_timeout(Duration::from_secs(5));
    let err = Store::open_with(&url, &opts).await.unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    let msg = format!("store.url: {err}");
    assert!(
        msg.starts_with(&format!(
            "store.url: cannot open the database at postgres://callrec:***@127.0.0.1:{port}/callrec: "
        )),
        "{msg}"
    );
    eprintln!("{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(
        msg.to_lowercase().contains("refused"),
        "the cause is named: {msg}"
    );
}

#[tokio::test]
async fn a_postgres_database_that_does_not_exist_is_refused() {
    let cluster = testing::shared_cluster().unwrap_or_else(|e| panic!("{e}"));
    let err = Store::open(&cluster.url("no_such_db")).await.unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("no_such_db"), "{err}");
}

#[tokio::test]
async fn an_sqlite_file_is_created_but_not_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callrec.db");
    // A plain path works as well as sqlite://.
    let s = Store::open(path.to_str().unwrap()).await.unwrap();
    assert!(path.exists());
    assert_eq!(s.backend(), Backend::Sqlite);
    s.close().await;
    let missing = dir.path().join("no/such/dir/callrec.db");
    let err = Store::open(&format!("sqlite://{}", missing.display()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

#[tokio::test]
async fn unknown_url_schemes_are_refused() {
    for url in ["mysql://db/callrec", "", "sqlite://"] {
        let err = Store::open(url).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidUrl { .. }),
            "{url}: {err:?}"
        );
    }
}

#[tokio::test]
async fn postgres_announces_each_change_with_notify() {
    let db = TestDb::postgres();
    let s = db.open().await;
    let mut listener = sqlx::postgres::PgListener::connect(&db.url).await.unwrap();
    listener.listen("callrec_changes").await.unwrap();
    s.create("a1", DocKind::Account, "a1", json!({}), T0)
        .await
        .unwrap();
    s.replace(DocKind::Account, "a1", Some(1), json!({"x": 1}), T0)
        .await
        .unwrap();
    for expected in ["1", "2"] {
        let n = tokio::time::timeout(Duration::from_secs(5), listener.recv())
            .await
            .expect("a notification within 5 s")
            .unwrap();
        assert_eq!(n.payload(), expected);
    }
    assert_eq!(s.change_seq().await.unwrap(), 2);
}

#[tokio::test]
async fn an_in_memory_sqlite_store_works_for_other_crates_tests() {
    let s = Store::open("sqlite::memory:").await.unwrap();
    s.create("a1", DocKind::Account, "a1", json!({}), T0)
        .await
        .unwrap();
    let s2 = s.clone();
    assert_eq!(s2.get(DocKind::Account, "a1").await.unwrap().rev, 1);
    assert_eq!(s2.change_seq().await.unwrap(), 1);
}

#[test]
fn without_postgresql_installed_the_harness_says_to_install_it() {
    let msg = testing::HarnessError::NotInstalled.to_string();
    assert!(
        msg.contains("install") && msg.contains("`postgresql`"),
        "{msg}"
    );
}

#[test]
fn the_harness_removes_its_cluster_on_drop() {
    let cluster = testing::PgCluster::start().unwrap_or_else(|e| panic!("{e}"));
    let port = cluster.port();
    let url = cluster.create_database().unwrap();
    assert!(url.starts_with(&format!("postgres://postgres@127.0.0.1:{port}/")));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(cluster);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

/// A CDR body owned by `owner` (or by nobody), as the engine writes them.
fn owned_cdr(id: &str, created: u64, owner: Option<&str>) -> callrec_store::Cdr {
    let mut ccv = json!({"account_id": "a1"});
    if let Some(o) = owner {
        ccv["owner_id"] = json!(o);
    }
    callrec_store::Cdr {
        account_id: "a1".into(),
        id: id.into(),
        interaction_id: format!("int-{id}"),
        created,
        body: json!({"call_id": id, "custom_channel_vars": ccv}),
    }
}

async fn batched_cdrs_skip_repeats_and_a_user_pages_through_full_pages_of_its_own(db: TestDb) {
    let s = db.open().await;
    // More rows than one multi-row INSERT takes; every third leg is u1's, some nobody's.
    let owner = |i: usize| match i % 3 {
        0 => Some("u1"),
        1 => Some("u2"),
        _ => None,
    };
    let mut batch: Vec<_> = (0..300)
        .map(|i| owned_cdr(&format!("cdr-{i:03}"), T0 + i as u64, owner(i)))
        .collect();
    // A repeat inside the batch and one already stored are skipped.
    s.insert_cdrs(&batch[..1]).await.unwrap();
    batch.push(owned_cdr("cdr-005", T0, Some("u2")));
    assert_eq!(s.insert_cdrs(&batch).await.unwrap(), 299);
    assert_eq!(s.insert_cdrs(&[]).await.unwrap(), 0);
    assert_eq!(
        s.get_cdr("a1", "cdr-005").await.unwrap().created,
        T0 + 5,
        "the first row of a repeated id is kept"
    );
    // An invalid row refuses the whole batch.
    let mut bad = vec![owned_cdr("new-1", T0, None), owned_cdr("new-2", T0, None)];
    bad[1].body = json!([1]);
    assert!(matches!(
        s.insert_cdrs(&bad).await,
        Err(StoreError::NotAnObject)
    ));
    assert!(s.get_cdr("a1", "new-1").await.is_err());

    // Bodies given as text (in another account): a chunk of 3 or 5 rows is padded to 4 or 8
    // with repeats of its last row, which count as nothing new.
    let texts: Vec<(String, String)> = (0..5)
        .map(|i| {
            let id = format!("t-{i}");
            let body = json!({"call_id": id, "custom_channel_vars": {"owner_id": "u9"}});
            (id, body.to_string())
        })
        .collect();
    fn text((id, body): &(String, String)) -> callrec_store::CdrText<'_, &str> {
        callrec_store::CdrText {
            account_id: "a2",
            id,
            interaction_id: "int-t",
            owner_id: Some("u9"),
            created: T0,
            body: body.as_str(),
        }
    }
    let rows: Vec<_> = texts.iter().map(text).collect();
    assert_eq!(s.insert_cdr_texts(&rows[..3]).await.unwrap(), 3);
    assert_eq!(s.insert_cdr_texts(&rows).await.unwrap(), 2);
    assert_eq!(
        s.get_cdr("a2", "t-4").await.unwrap().body,
        serde_json::from_str::<serde_json::Value>(&texts[4].1).unwrap()
    );
    let owned = s
        .list_owned_cdrs("a2", Some("u9"), 0, u64::MAX, 100, None)
        .await
        .unwrap();
    assert_eq!(owned.items.len(), 5);
    let mut bad = text(&texts[0]);
    bad.id = "t-bad";
    bad.body = "[1]";
    assert!(matches!(
        s.insert_cdr_texts(&[bad]).await,
        Err(StoreError::NotAnObject)
    ));

    let all = s.list_cdrs("a1", 0, u64::MAX, 1000, None).await.unwrap();
    assert_eq!(all.items.len(), 300);

    // u1 owns 100 legs among 300: pages of 7 are full but the last, newest first, u1's only.
    let mut key: Option<String> = None;
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let page = s
            .list_owned_cdrs("a1", Some("u1"), 0, u64::MAX, 7, key.as_deref())
            .await
            .unwrap();
        sizes.push(page.items.len());
        for c in &page.items {
            assert_eq!(c.body["custom_channel_vars"]["owner_id"], json!("u1"));
            seen.push(c.created);
        }
        match page.next_start_key {
            Some(k) => key = Some(k),
            None => break,
        }
    }
    assert_eq!(seen.len(), 100);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert_eq!(sizes.len(), 15);
    assert!(sizes[..14].iter().all(|&n| n == 7), "{sizes:?}");
    assert_eq!(sizes[14], 2);
    // The range applies too, and an unknown user has none.
    let ranged = s
        .list_owned_cdrs("a1", Some("u2"), T0 + 10, T0 + 19, 100, None)
        .await
        .unwrap();
    // u2's legs are i % 3 == 1: 10, 13, 16 and 19.
    assert_eq!(ranged.items.len(), 4);
    assert!(s
        .list_owned_cdrs("a1", Some("nobody"), 0, u64::MAX, 10, None)
        .await
        .unwrap()
        .items
        .is_empty());
}

async fn batched_recording_upserts_keep_the_last_state_of_each(db: TestDb) {
    let s = db.open().await;
    let mut rows = Vec::new();
    for i in 0..100u64 {
        rows.push(recording(
            "a1",
            &format!("r{i}"),
            T0 + i,
            RecordingState::Recording,
        ));
    }
    // r7 finishes within the same batch; its later row wins, its first `created` stays.
    let mut done = recording("a1", "r7", T0 + 500, RecordingState::Local);
    done.last_error = Some("kept".into());
    rows.push(done);
    s.upsert_recordings(&rows).await.unwrap();
    let r7 = s.get_recording("a1", "r7").await.unwrap();
    assert_eq!(r7.state, RecordingState::Local);
    assert_eq!(r7.last_error.as_deref(), Some("kept"));
    assert_eq!(r7.created, T0 + 7);
    assert_eq!(
        s.get_recording("a1", "r99").await.unwrap().state,
        RecordingState::Recording
    );
    let all = s.list_recordings("a1", 1000, None).await.unwrap();
    assert_eq!(all.items.len(), 100);
}

async fn upgrading_from_schema_1_fills_the_cdr_owner_column(db: TestDb) {
    let s = db.open().await;
    s.insert_cdrs(&[
        owned_cdr("mine", T0, Some("u1")),
        owned_cdr("other", T0 + 1, Some("u2")),
        owned_cdr("none", T0 + 2, None),
    ])
    .await
    .unwrap();
    // Back to schema 1 as an older binary left it: no owner column, no index.
    for sql in [
        "DROP INDEX cdrs_by_owner",
        "ALTER TABLE cdrs DROP COLUMN owner_id",
        "DELETE FROM callrec_schema WHERE version >= 2",
    ] {
        testing::execute_sql(&s, sql).await.unwrap();
    }
    s.close().await;
    let s = db.open().await;
    assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
    let mine = s
        .list_owned_cdrs("a1", Some("u1"), 0, u64::MAX, 10, None)
        .await
        .unwrap();
    assert_eq!(
        mine.items.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["mine"]
    );
}
