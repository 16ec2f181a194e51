//! Test support (cargo feature `testing`): a throwaway PostgreSQL cluster and raw-SQL helpers.
//!
//! ```no_run
//! # async fn demo() {
//! use callrec_store::{testing, Store};
//! let cluster = testing::shared_cluster().expect("PostgreSQL for tests");
//! let url = cluster.create_database().expect("a fresh database");
//! let store = Store::open(&url).await.unwrap();
//! # let _ = store; }
//! ```
//!
//! [`PgCluster::start`] uses Debian's server binaries (`/usr/lib/postgresql/<version>/bin`,
//! package `postgresql`): it runs `initdb` in a temporary directory (as the `postgres` user
//! through `runuser` when running as root, since initdb refuses root), starts the server with
//! `pg_ctl` on a free port of 127.0.0.1 with its unix socket inside that directory, and waits
//! until it accepts connections (as root, the temporary directory's parents, `$TMPDIR` or
//! `/tmp`, must be traversable by `postgres`). No system-wide PostgreSQL service is used or needed. Dropping
//! the cluster stops it and removes the directory; a watchdog process does the same if the test
//! process dies first, which is also how the process-wide [`shared_cluster`] is cleaned up.
//!
//! **A server given from outside.** When the environment variable [`TEST_PG_URL_VAR`]
//! (`CALLREC_TEST_PG_URL`) holds a PostgreSQL URL (a superuser on a server that lets it create
//! databases; `tests/run.sh` starts one throwaway cluster for the whole run and sets it),
//! [`shared_cluster`] uses that server instead of starting one per test process: each test still
//! gets a database of its own from [`PgCluster::create_database`] (names carry the process id, so
//! test processes sharing the server do not collide). Without the variable, plain `cargo test`
//! starts its own cluster as described above. [`PgCluster::start`] always starts a cluster of its
//! own (tests that stop and start the server need one).
//!
//! When the binaries are missing, [`PgCluster::start`] fails with
//! [`HarnessError::NotInstalled`], whose message says to install `postgresql`: tests should
//! fail on it, not pass silently.

use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::backend::{Pool, RowExt};
use crate::{Result, Store};

const PG_ROOT: &str = "/usr/lib/postgresql";

/// The environment variable naming a PostgreSQL server for the tests (see the module docs).
pub const TEST_PG_URL_VAR: &str = "CALLREC_TEST_PG_URL";

/// Why a cluster could not be started.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// No `/usr/lib/postgresql/*/bin/initdb`.
    #[error(
        "PostgreSQL server binaries not found (no {PG_ROOT}/*/bin/initdb and pg_ctl): install the \
         Debian package `postgresql` (tests/run.sh does: \
         apt-get install -y postgresql)"
    )]
    NotInstalled,
    /// Running as root but there is no `postgres` user (the `postgresql` package creates it).
    #[error(
        "running as root but there is no `postgres` user to run initdb as: install `postgresql`"
    )]
    NoPostgresUser,
    /// A command failed.
    #[error("{what} failed: {detail}")]
    Command {
        /// The step (`initdb`, `pg_ctl start`, `createdb`, ...).
        what: String,
        /// Exit status and output, or the log.
        detail: String,
    },
    /// A file operation failed.
    #[error("{what}: {detail}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        detail: String,
    },
}

fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> HarnessError + '_ {
    move |e| HarnessError::Io {
        what: what.to_owned(),
        detail: e.to_string(),
    }
}

/// Extra settings for [`PgCluster::start_with`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ClusterOptions {
    /// Keep PostgreSQL's durability settings (`fsync`, `synchronous_commit`,
    /// `full_page_writes` on), for benchmarks. Default `false`: tests run faster without them.
    pub durable: bool,
}

impl ClusterOptions {
    /// Sets [`ClusterOptions::durable`].
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }
}

/// A running throwaway PostgreSQL cluster. Stopped and deleted on drop.
#[derive(Debug)]
pub struct PgCluster {
    dir: Option<tempfile::TempDir>,
    bin: PathBuf,
    runuser: Option<PathBuf>,
    port: u16,
    watchdog: Option<Child>,
    next_db: AtomicU32,
    durable: bool,
    /// A server started by someone else ([`TEST_PG_URL_VAR`]): its URL, for `createdb`.
    external: Option<String>,
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` and `pg_ctl`.
pub fn find_binaries() -> Result<PathBuf, HarnessError> {
    let mut best: Option<(u32, PathBuf)> = None;
    for entry in fs::read_dir(PG_ROOT).map_err(|_| HarnessError::NotInstalled)? {
        let Ok(entry) = entry else { continue };
        let Some(version) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.split('.').next()?.parse::<u32>().ok())
        else {
            continue;
        };
        let bin = entry.path().join("bin");
        if bin.join("initdb").is_file()
            && bin.join("pg_ctl").is_file()
            && best.as_ref().is_none_or(|(v, _)| version > *v)
        {
            best = Some((version, bin));
        }
    }
    best.map(|(_, bin)| bin).ok_or(HarnessError::NotInstalled)
}

fn running_as_root() -> bool {
    // /proc/self is owned by the process's effective uid.
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The uid and gid of the `postgres` user, from /etc/passwd.
fn postgres_ids() -> Result<(u32, u32), HarnessError> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(io_err("reading /etc/passwd"))?;
    passwd
        .lines()
        .find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.len() > 3 && f[0] == "postgres")
                .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
                .flatten()
        })
        .ok_or(HarnessError::NoPostgresUser)
}

fn find_runuser() -> Result<PathBuf, HarnessError> {
    ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| HarnessError::Command {
            what: "finding runuser".into(),
            detail: "runuser (util-linux) is needed to run initdb as postgres when root".into(),
        })
}

fn free_port() -> Result<u16, HarnessError> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io_err("finding a free port"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(io_err("finding a free port"))
}

fn describe(output: &Output) -> String {
    format!(
        "{}; stdout: {}; stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    )
}

/// Makes a path readable by `postgres`: the directory's owner becomes postgres.
fn chown_recursive(path: &Path, uid: u32, gid: u32) -> Result<(), HarnessError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io_err("chown to postgres"))?;
    if path.is_dir() {
        for entry in fs::read_dir(path).map_err(io_err("listing the cluster directory"))? {
            let entry = entry.map_err(io_err("listing the cluster directory"))?;
            chown_recursive(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

impl PgCluster {
    /// Starts a cluster with default [`ClusterOptions`] (fsync off).
    pub fn start() -> Result<PgCluster, HarnessError> {
        PgCluster::start_with(&ClusterOptions::default())
    }

    /// Starts a cluster: initdb, pg_ctl start on a free port, wait until it accepts
    /// connections. Takes one to a few seconds.
    pub fn start_with(options: &ClusterOptions) -> Result<PgCluster, HarnessError> {
        let bin = find_binaries()?;
        let root = running_as_root();
        let runuser = if root { Some(find_runuser()?) } else { None };
        let dir = tempfile::Builder::new()
            .prefix("callrec-pg-")
            .tempdir()
            .map_err(io_err("creating the cluster directory"))?;
        if root {
            let (uid, gid) = postgres_ids()?;
            chown_recursive(dir.path(), uid, gid)?;
        }
        let mut cluster = PgCluster {
            dir: Some(dir),
            bin,
            runuser,
            port: 0,
            watchdog: None,
            next_db: AtomicU32::new(0),
            durable: options.durable,
            external: None,
        };
        let data = cluster.data_dir();
        let out = cluster
            .pg_command("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .map_err(io_err("running initdb"))?;
        if !out.status.success() {
            return Err(HarnessError::Command {
                what: "initdb".into(),
                detail: describe(&out),
            });
        }
        cluster.spawn_watchdog()?;
        // A port found free may be taken before the server binds it: try a few.
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            match cluster.pg_ctl_start(port, options) {
                Ok(()) => {
                    cluster.port = port;
                    cluster.wait_accepting(Duration::from_secs(30))?;
                    return Ok(cluster);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(HarnessError::Command {
            what: "pg_ctl start".into(),
            detail: "no attempt made".into(),
        }))
    }

    /// The server at `url` (`postgres://user@host:port/db`, a user allowed to create
    /// databases), started by someone else: nothing is started, stopped or removed, and
    /// [`stop_server`](Self::stop_server)/[`start_server`](Self::start_server) are not
    /// available. Fails when the client binaries are missing or the server does not answer.
    pub fn external(url: &str) -> Result<PgCluster, HarnessError> {
        let bin = find_binaries()?;
        let port = url
            .rsplit_once('@')
            .map_or(url, |(_, rest)| rest)
            .split('/')
            .next()
            .and_then(|host_port| host_port.rsplit_once(':'))
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(5432);
        let cluster = PgCluster {
            dir: None,
            bin,
            runuser: None,
            port,
            watchdog: None,
            next_db: AtomicU32::new(0),
            durable: true,
            external: Some(url.to_owned()),
        };
        let out = Command::new(cluster.bin.join("pg_isready"))
            .arg("-d")
            .arg(url)
            .stdin(Stdio::null())
            .output()
            .map_err(io_err("running pg_isready"))?;
        if !out.status.success() {
            return Err(HarnessError::Command {
                what: format!("pg_isready on {TEST_PG_URL_VAR}"),
                detail: describe(&out),
            });
        }
        Ok(cluster)
    }

    fn path(&self) -> &Path {
        // `dir` is only taken in Drop.
        self.dir
            .as_ref()
            .map_or(Path::new("/nonexistent"), |d| d.path())
    }

    fn data_dir(&self) -> PathBuf {
        self.path().join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.path().join("postgres.log")
    }

    /// A command for one of the server binaries, as `postgres` when we are root.
    fn pg_command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        let mut cmd = match &self.runuser {
            Some(runuser) => {
                let mut c = Command::new(runuser);
                c.args(["-u", "postgres", "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.stdin(Stdio::null()).current_dir(self.path());
        cmd
    }

    fn pg_ctl_start(&self, port: u16, options: &ClusterOptions) -> Result<(), HarnessError> {
        let mut server = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.path().display()
        );
        if !options.durable {
            server.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        // The server's output goes to the log file, so no pipe of ours stays open.
        let out = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_file())
            .args(["-w", "-t", "60", "-o", &server, "start"])
            .output()
            .map_err(io_err("running pg_ctl start"))?;
        if out.status.success() {
            return Ok(());
        }
        let log = fs::read_to_string(self.log_file()).unwrap_or_default();
        // A failed start may leave a half-started server behind.
        self.stop();
        Err(HarnessError::Command {
            what: "pg_ctl start".into(),
            detail: format!("{}; log: {}", describe(&out), log.trim()),
        })
    }

    fn wait_accepting(&self, limit: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + limit;
        loop {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                let out = self
                    .client_command("pg_isready")
                    .output()
                    .map_err(io_err("running pg_isready"))?;
                if out.status.success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(HarnessError::Command {
                    what: "waiting for PostgreSQL".into(),
                    detail: fs::read_to_string(self.log_file()).unwrap_or_default(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A client binary talking TCP to this cluster as the `postgres` superuser (to an external
    /// server: through its URL as the maintenance database).
    fn client_command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        if let Some(url) = &self.external {
            cmd.arg(format!("--maintenance-db={url}"))
                .stdin(Stdio::null());
            return cmd;
        }
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
        ])
        .stdin(Stdio::null());
        cmd
    }

    /// A shell that stops the cluster and removes its directory once this process is gone.
    fn spawn_watchdog(&mut self) -> Result<(), HarnessError> {
        let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
        let pg_ctl = match &self.runuser {
            Some(r) => format!(
                "{} -u postgres -- {}",
                quote(r),
                quote(&self.bin.join("pg_ctl"))
            ),
            None => quote(&self.bin.join("pg_ctl")),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             {pg_ctl} -D {data} -m immediate -w stop; rm -rf {dir}",
            pid = std::process::id(),
            data = quote(&self.data_dir()),
            dir = quote(self.path()),
        );
        let child = Command::new("/bin/sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io_err("starting the cluster watchdog"))?;
        self.watchdog = Some(child);
        Ok(())
    }

    fn stop(&self) {
        if self.external.is_some() {
            return;
        }
        let _ = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Stops the server (as a crash would: `-m immediate`), keeping its data: tests of a
    /// database outage. Does nothing to an [external](Self::external) server. [`start_server`](Self::start_server) brings it back on the same port.
    pub fn stop_server(&self) {
        self.stop();
    }

    /// Starts the server again after [`stop_server`](Self::stop_server) and waits until it
    /// accepts connections.
    pub fn start_server(&self) -> Result<(), HarnessError> {
        if self.external.is_some() {
            return Err(HarnessError::Command {
                what: "pg_ctl start".into(),
                detail: format!("the server of {TEST_PG_URL_VAR} is not ours to start"),
            });
        }
        self.pg_ctl_start(self.port, &ClusterOptions::default().durable(self.durable))?;
        self.wait_accepting(Duration::from_secs(30))
    }

    /// The TCP port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` on this cluster (as the `postgres` superuser, no password;
    /// on an external server, its URL with the database replaced).
    pub fn url(&self, name: &str) -> String {
        match &self.external {
            Some(url) => {
                let (base, query) = match url.split_once('?') {
                    Some((b, q)) => (b, format!("?{q}")),
                    None => (url.as_str(), String::new()),
                };
                let scheme_end = base.find("://").map_or(0, |i| i + 3);
                let server = match base[scheme_end..].find('/') {
                    Some(i) => &base[..scheme_end + i],
                    None => base,
                };
                format!("{server}/{name}{query}")
            }
            None => format!("postgres://postgres@127.0.0.1:{}/{name}", self.port),
        }
    }

    /// Creates a new, empty database with a unique name (within this process and, on an
    /// external server, between processes) and returns its URL.
    pub fn create_database(&self) -> Result<String, HarnessError> {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        match self.external {
            Some(_) => {
                self.create_database_named(&format!("callrec_test_{}_{n}", std::process::id()))
            }
            None => self.create_database_named(&format!("callrec_test_{n}")),
        }
    }

    /// Creates database `name` (letters, digits, `_`) and returns its URL.
    pub fn create_database_named(&self, name: &str) -> Result<String, HarnessError> {
        let out = self
            .client_command("createdb")
            .arg(name)
            .output()
            .map_err(io_err("running createdb"))?;
        if !out.status.success() {
            return Err(HarnessError::Command {
                what: format!("createdb {name}"),
                detail: describe(&out),
            });
        }
        Ok(self.url(name))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        self.stop();
        // TempDir removes the directory (root may remove postgres's files).
        drop(self.dir.take());
    }
}

/// One cluster for the whole test process: the server named by [`TEST_PG_URL_VAR`] when it is
/// set, else one started on first use. A started one is never dropped: its watchdog stops it
/// and removes its directory when the process exits. Give each test its own database with
/// [`PgCluster::create_database`].
pub fn shared_cluster() -> Result<&'static PgCluster, HarnessError> {
    static SHARED: OnceLock<Result<PgCluster, HarnessError>> = OnceLock::new();
    SHARED
        .get_or_init(|| match std::env::var(TEST_PG_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => PgCluster::external(url.trim()),
            _ => PgCluster::start(),
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Runs one raw SQL statement on the store's database (e.g. to tamper with it in a test).
pub async fn execute_sql(store: &Store, sql: &str) -> Result<u64> {
    with_pool!(&store.pool, |p, is_pg| {
        Ok(sqlx::query(sql).execute(p).await?.rows_affected())
    })
}

/// Every row of every table of the store's database, one string per row (`table: values`), to
/// check that no secret is stored in clear.
pub async fn dump_rows(store: &Store) -> Result<Vec<String>> {
    let mut out = Vec::new();
    match &store.pool {
        Pool::Sqlite(p) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            )
            .fetch_all(p)
            .await?;
            for t in tables {
                let cols: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                        .bind(&t)
                        .fetch_all(p)
                        .await?;
                let expr = cols
                    .iter()
                    .map(|c| format!("quote(\"{c}\")"))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                for row in sqlx::query(&format!("SELECT {expr} FROM \"{t}\""))
                    .fetch_all(p)
                    .await?
                {
                    out.push(format!("{t}: {}", row.text(0)?));
                }
            }
        }
        Pool::Postgres(p) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() ORDER BY 1",
            )
            .fetch_all(p)
            .await?;
            for t in tables {
                for row in sqlx::query(&format!("SELECT t::text FROM \"{t}\" t"))
                    .fetch_all(p)
                    .await?
                {
                    out.push(format!("{t}: {}", row.text(0)?));
                }
            }
        }
    }
    Ok(out)
}
