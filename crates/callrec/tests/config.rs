//! Configuration: defaults, the example file, and errors that name the key.

use std::path::PathBuf;

use callrec::config::{Channels, Config, ConfigError};

fn example_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/callrec.toml")
}

#[test]
fn an_empty_file_gives_the_documented_defaults() {
    let cfg = Config::from_toml_str("").expect("empty config is valid");
    assert_eq!(cfg, Config::default());
    assert_eq!(cfg.sip.listen, vec!["127.0.0.1:5060".parse().unwrap()]);
    assert_eq!((cfg.media.port_min, cfg.media.port_max), (20000, 30000));
    assert_eq!(cfg.media.media_timeout_s, 60);
    assert!(!cfg.media.media_timeout_on_hold);
    assert_eq!(cfg.media.channels, Channels::Stereo);
    assert_eq!(cfg.recording.default_format, "mp3");
    assert_eq!(cfg.recording.max_time_limit_s, 10800);
    assert_eq!(cfg.upload.initial_backoff_s, 5);
    assert_eq!(cfg.upload.max_backoff_s, 600);
    assert_eq!(cfg.upload.give_up_after_s, 86400);
    assert_eq!(cfg.upload.max_redirects, 10);
    assert_eq!(cfg.auth.algorithms, vec!["md5".to_owned()]);
    assert_eq!(cfg.paths.data_dir, PathBuf::from("./data"));
}

#[test]
fn the_example_file_is_valid_and_states_exactly_the_defaults() {
    let cfg = Config::load(&example_path()).expect("example config is valid");
    assert_eq!(cfg, Config::default());
    assert_eq!(Config::embedded_default(), cfg);
}

#[test]
fn every_key_of_the_defaults_appears_in_the_example_file() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    for (section, keys) in [
        (
            "sip",
            &[
                "listen",
                "udp",
                "tcp",
                "t1_ms",
                "t2_ms",
                "t4_ms",
                "user_agent",
                "no_answer_timeout_s",
            ][..],
        ),
        ("auth", &["nonce_lifetime_s", "algorithms"]),
        (
            "media",
            &[
                "relay_ip",
                "port_min",
                "port_max",
                "media_timeout_s",
                "media_timeout_on_hold",
                "channels",
            ],
        ),
        (
            "recording",
            &[
                "default_format",
                "max_time_limit_s",
                "keep_after_upload",
                "min_free_mb",
            ],
        ),
        (
            "upload",
            &[
                "initial_backoff_s",
                "max_backoff_s",
                "give_up_after_s",
                "concurrency",
                "request_timeout_s",
                "max_redirects",
            ],
        ),
        ("paths", &["data_dir", "documents_dir"]),
        ("log", &["level"]),
        ("dns", &["servers"]),
        ("cluster", &["node_id", "edge"]),
    ] {
        let t = table[section].as_table().unwrap();
        for k in keys {
            assert!(t.contains_key(*k), "{section}.{k} missing from the example");
        }
        // Every key is commented: the line before each `key =` line is a comment or another key
        // of the same commented group.
        for k in keys {
            let pos = text.find(&format!("\n{k} = ")).unwrap();
            let before = &text[..pos];
            let prev_line = before.lines().last().unwrap_or("");
            assert!(
                prev_line.starts_with('#') || prev_line.contains(" = "),
                "{section}.{k} is not commented"
            );
        }
    }
}

#[test]
fn bad_values_are_refused_with_the_key_named() {
    // (toml, text the error must contain)
    let table: &[(&str, &str)] = &[
        (
            "[media]\nport_min = 30000\nport_max = 20000",
            "media.port_min (30000) must be below media.port_max (20000)",
        ),
        ("[sip]\nlisten = []", "sip.listen"),
        ("[sip]\nlisten = [\"not an address\"]", "listen"),
        ("[sip]\nudp = false\ntcp = false", "sip.udp"),
        ("[sip]\nt1_ms = 0", "sip.t1_ms"),
        ("[sip]\nt1_ms = 500\nt2_ms = 100", "sip.t2_ms"),
        ("[sip]\nt4_ms = 0", "sip.t4_ms"),
        ("[sip]\nuser_agent = \"\"", "sip.user_agent"),
        ("[sip]\nno_answer_timeout_s = 0", "sip.no_answer_timeout_s"),
        ("[auth]\nnonce_lifetime_s = 0", "auth.nonce_lifetime_s"),
        ("[auth]\nalgorithms = [\"sha-1\"]", "auth.algorithms"),
        ("[auth]\nalgorithms = []", "auth.algorithms"),
        ("[media]\nrelay_ip = \"0.0.0.0\"", "media.relay_ip"),
        ("[media]\nport_min = 0", "media.port_min"),
        (
            "[media]\nport_min = 20000\nport_max = 20001",
            "media.port_max",
        ),
        ("[media]\nmedia_timeout_s = 0", "media.media_timeout_s"),
        ("[media]\nchannels = \"quad\"", "channels"),
        (
            "[recording]\ndefault_format = \"ogg\"",
            "recording.default_format",
        ),
        (
            "[recording]\nmax_time_limit_s = 2",
            "recording.max_time_limit_s",
        ),
        (
            "[recording]\nfsync_interval_ms = 50",
            "recording.fsync_interval_ms",
        ),
        (
            "[upload]\ninitial_backoff_s = 0",
            "upload.initial_backoff_s",
        ),
        (
            "[upload]\ninitial_backoff_s = 10\nmax_backoff_s = 5",
            "upload.max_backoff_s",
        ),
        ("[upload]\ngive_up_after_s = 0", "upload.give_up_after_s"),
        ("[upload]\nconcurrency = 0", "upload.concurrency"),
        (
            "[upload]\nrequest_timeout_s = 0",
            "upload.request_timeout_s",
        ),
        ("[upload]\nmax_redirects = 1000", "upload.max_redirects"),
        ("[paths]\ndata_dir = \"\"", "paths.data_dir"),
        ("[paths]\ndocuments_dir = \"\"", "paths.documents_dir"),
        ("[log]\nlevel = \"\"", "log.level"),
        ("[log]\nlevel = \"callrec=notalevel\"", "log.level"),
        ("[upload]\nconcurrency = \"four\"", "concurrency"),
        ("[dns]\nservers = [\"ns.example\"]", "dns.servers"),
        ("[dns]\nservers = [\"127.0.0.1:0\"]", "dns.servers"),
        ("[dns]\nservers = \"127.0.0.1\"", "servers"),
        ("[cluster]\nnode_id = \"node a\"", "cluster.node_id"),
        ("[cluster]\nnode_id = \"\"\nedge = [\"127.0.0.1\"]", "cluster.node_id"),
        ("[cluster]\nnode_id = \"n\"\nedge = [\"kamailio\"]", "cluster.edge"),
        ("[cluster]\nnode_id = \"n\"\nedge = [\"0.0.0.0:5060\"]", "cluster.edge"),
        (
            "[cluster.storage]\nendpoint = \"s3.local:9000\"\nbucket = \"b\"\naccess_key = \"k\"\nsecret_key = \"s\"",
            "cluster.storage.endpoint",
        ),
        (
            "[cluster.storage]\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"\"\naccess_key = \"k\"\nsecret_key = \"s\"",
            "cluster.storage.bucket",
        ),
        (
            "[cluster.storage]\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"b\"\naccess_key = \"k\"\nsecret_key = \"\"",
            "cluster.storage.secret_key",
        ),
        ("[cluster.storage]\nbucket = \"b\"", "access_key"),
    ];
    for (text, key) in table {
        let err = Config::from_toml_str(text).expect_err(text).to_string();
        assert!(
            err.contains(key),
            "error for {text:?} does not name {key:?}: {err}"
        );
    }
}

#[test]
fn dns_servers_take_an_address_with_or_without_a_port() {
    let cfg =
        Config::from_toml_str("[dns]\nservers = [\"127.0.0.1:5353\", \"::1\", \"192.0.2.53\"]")
            .expect("valid [dns]");
    assert_eq!(
        cfg.dns.server_addrs(),
        vec![
            "127.0.0.1:5353".parse().unwrap(),
            "[::1]:53".parse().unwrap(),
            "192.0.2.53:53".parse().unwrap()
        ]
    );
    assert!(Config::default().dns.server_addrs().is_empty());
}

#[test]
fn a_cluster_node_reads_its_edge_id_and_bucket_and_never_shows_the_secret() {
    let cfg = Config::from_toml_str(
        "[cluster]\nnode_id = \"node-a.1\"\nedge = [\"127.0.0.1\", \"127.0.0.5:5070\"]\n\
         [cluster.storage]\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"recordings\"\n\
         access_key = \"AKID\"\nsecret_key = \"very-secret\"",
    )
    .expect("valid [cluster]");
    assert_eq!(cfg.cluster.node_id().as_deref(), Some("node-a.1"));
    assert_eq!(
        cfg.cluster.edge_addrs(),
        vec![
            "127.0.0.1:5060".parse().unwrap(),
            "127.0.0.5:5070".parse().unwrap()
        ]
    );
    let s3 = cfg.cluster.storage_settings().expect("bucket");
    assert_eq!(s3.endpoint().as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(
        (s3.bucket.as_str(), s3.region.as_str()),
        ("recordings", "us-east-1")
    );
    let shown = format!("{cfg:?} {s3:?}");
    assert!(!shown.contains("very-secret"), "secret masked: {shown}");
    // node_id alone: a single node that names itself.
    let cfg = Config::from_toml_str("[cluster]\nnode_id = \"solo\"").expect("valid");
    assert!(cfg.cluster.edge_addrs().is_empty());
    assert_eq!(cfg.cluster.node_id().as_deref(), Some("solo"));
    assert_eq!(Config::default().cluster.node_id(), None);
}

#[test]
fn unknown_keys_and_sections_are_refused_and_named() {
    for (text, name) in [
        ("[sip]\nlisen = [\"127.0.0.1:5060\"]", "lisen"),
        ("[medias]\nport_min = 1", "medias"),
        ("[upload]\nretries = 3", "retries"),
        ("top_level = 1", "top_level"),
    ] {
        let err = Config::from_toml_str(text).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err:?}");
        assert!(err.to_string().contains(name), "{text:?}: {err}");
    }
}

#[test]
fn a_missing_file_is_reported_with_its_path() {
    let err = Config::load(std::path::Path::new("/nonexistent/callrec.toml")).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/callrec.toml"),
        "{err}"
    );
}

#[test]
fn check_config_exits_zero_for_the_example_and_one_for_a_bad_file() {
    let bin = env!("CARGO_BIN_EXE_callrec");
    // Relative paths in the example (documents_dir) are relative to the repository root.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ok = std::process::Command::new(bin)
        .current_dir(&root)
        .args(["check-config", "--config"])
        .arg(example_path())
        .output()
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("documents ok (1 accounts, 2 devices"),
        "{ok:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[media]\nport_min = 30000\nport_max = 20000\n").unwrap();
    let out = std::process::Command::new(bin)
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("media.port_min"), "{stderr}");
}
