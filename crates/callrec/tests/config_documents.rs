//! Documents: the example set loads, and errors name the file and line.

use std::path::PathBuf;

use callrec::documents::{reload, DocumentStore, DocumentsError, FileStore, ReloadError};

fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/documents")
}

#[test]
fn the_example_documents_load_each_with_a_type_and_an_id() {
    let docs = FileStore::new(example_dir()).load_all().unwrap();
    assert!(docs.len() >= 10, "{} documents", docs.len());
    let mut types = std::collections::BTreeMap::<String, usize>::new();
    for (origin, doc) in &docs {
        let t = doc["pvt_type"]
            .as_str()
            .unwrap_or_else(|| panic!("{origin}: no pvt_type"));
        assert!(doc["_id"].is_string(), "{origin}: no _id");
        *types.entry(t.to_owned()).or_default() += 1;
    }
    assert_eq!(types["account"], 1);
    assert_eq!(types["user"], 3, "users 1001, 1002 and the API admin");
    assert_eq!(types["device"], 2);
    assert_eq!(types["resource"], 1);
    assert_eq!(types["callflow"], 4);
    let account = &docs
        .iter()
        .find(|(_, d)| d["pvt_type"] == "account")
        .unwrap()
        .1;
    assert_eq!(
        account["call_recording"]["account"]["inbound"]["offnet"]["enabled"],
        true
    );
    assert_eq!(
        account["call_recording"]["account"]["outbound"]["offnet"]["format"],
        "wav"
    );
}

#[test]
fn nested_directories_are_read_and_origins_are_relative() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("accounts/demo")).unwrap();
    std::fs::write(
        dir.path().join("accounts/demo/a.json"),
        r#"{"_id":"a","pvt_type":"account"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.json"),
        r#"{"_id":"b","pvt_type":"user"}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a document").unwrap();
    std::fs::write(dir.path().join(".hidden.json"), "garbage").unwrap();
    let docs = FileStore::new(dir.path()).load_all().unwrap();
    let origins: Vec<_> = docs.iter().map(|(o, _)| o.as_str()).collect();
    assert_eq!(origins, ["accounts/demo/a.json", "b.json"]);
}

#[test]
fn invalid_json_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.json"),
        "{\n  \"_id\": \"x\",\n  oops\n}\n",
    )
    .unwrap();
    let err = FileStore::new(dir.path()).load_all().unwrap_err();
    assert!(
        matches!(err, DocumentsError::Json { line: 3, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("broken.json:3:"), "{msg}");
}

#[test]
fn duplicate_ids_and_non_objects_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.json"), r#"{"_id":"same"}"#).unwrap();
    std::fs::write(dir.path().join("b.json"), r#"{"_id":"same"}"#).unwrap();
    let err = FileStore::new(dir.path()).load_all().unwrap_err();
    assert!(matches!(err, DocumentsError::DuplicateId { .. }), "{err:?}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("list.json"), "[1,2]").unwrap();
    let err = FileStore::new(dir.path()).load_all().unwrap_err();
    assert!(matches!(err, DocumentsError::NotAnObject { .. }), "{err:?}");
}

#[test]
fn reload_applies_new_documents_and_keeps_the_old_state_on_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.json"), r#"{"_id":"a"}"#).unwrap();
    let store = FileStore::new(dir.path());
    let mut current: Vec<String> = Vec::new();
    let n = reload(&store, |docs| {
        current = docs.into_iter().map(|(o, _)| o).collect();
        Ok::<(), String>(())
    })
    .unwrap();
    assert_eq!(n, 1);
    assert_eq!(current, ["a.json"]);

    std::fs::write(dir.path().join("b.json"), "{ broken").unwrap();
    let res = reload(&store, |docs| {
        current = docs.into_iter().map(|(o, _)| o).collect();
        Ok::<(), String>(())
    });
    assert!(matches!(res, Err(ReloadError::Load(_))));
    assert_eq!(current, ["a.json"], "old state kept");

    std::fs::remove_file(dir.path().join("b.json")).unwrap();
    let res = reload(&store, |_| Err("validation failed".to_owned()));
    assert!(matches!(res, Err(ReloadError::Apply(ref e)) if e == "validation failed"));
}

#[test]
fn the_example_documents_build_a_directory_the_sip_crate_accepts() {
    use callrec_kazoo::directory::Directory;
    let docs = FileStore::new(example_dir()).load_all().unwrap();
    let dir = Directory::build(docs).expect("example documents are valid");
    let account = dir.single_account().expect("one account");
    assert_eq!(account.realm, "demo.callrec.local");
    for (ext, owner) in [("1001", "user-1001"), ("1002", "user-1002")] {
        let d = dir
            .device_by_sip("demo.callrec.local", ext)
            .unwrap_or_else(|| panic!("device {ext}"));
        assert_eq!(d.owner_id.as_deref(), Some(owner));
        assert_eq!(d.sip.password, format!("demo-{ext}"));
    }
    assert_eq!(dir.devices_of_user("user-1001").count(), 1);
    assert_eq!(dir.callflows().len(), 4);
    let carrier = dir
        .carrier_by_addr("127.0.0.2".parse().unwrap())
        .expect("carrier trusted by address");
    assert_eq!(carrier.id, "carrier");
    assert!(dir.carrier_by_addr("127.0.0.1".parse().unwrap()).is_none());
}
