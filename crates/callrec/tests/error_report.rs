//! Start-up errors through the real binary: each cause stated once, naming the file or key.

use std::process::Command;

fn check_config(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_callrec"))
        .arg("check-config")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run callrec");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn occurrences(text: &str, what: &str) -> usize {
    text.matches(what).count()
}

#[test]
fn started_from_a_directory_without_config_names_the_documents_directory_and_the_cause_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ok, err) = check_config(dir.path(), &[]);
    assert!(!ok, "refused: {err}");
    assert!(err.contains("config/documents"), "{err}");
    let cause = std::io::Error::from(std::io::ErrorKind::NotFound).to_string();
    assert_eq!(
        occurrences(&err, "os error 2"),
        1,
        "the cause ({cause}) is stated once: {err}"
    );
}

#[test]
fn a_missing_config_file_is_named_with_its_cause_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ok, err) = check_config(dir.path(), &["--config", "missing.toml"]);
    assert!(!ok);
    assert!(err.contains("missing.toml"), "{err}");
    assert_eq!(occurrences(&err, "os error 2"), 1, "{err}");
}

#[test]
fn a_bad_nat_value_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("c.toml"), "[sip]\nnat = \"sometimes\"\n").expect("write");
    let (ok, err) = check_config(dir.path(), &["--config", "c.toml"]);
    assert!(!ok);
    assert!(err.contains("sip.nat"), "{err}");
}
