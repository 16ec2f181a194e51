//! One database per test, on SQLite (a temp dir) or on the shared throwaway PostgreSQL cluster.

#![allow(dead_code)]

use callrec_store::{testing, Backend, Store};

/// A fresh, empty database and how to open it.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    /// For SQLite: the directory holding the file, removed at the end of the test.
    pub dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        TestDb {
            url: format!("sqlite://{}/callrec.db", dir.path().display()),
            backend: Backend::Sqlite,
            dir: Some(dir),
        }
    }

    /// Fails the test (does not skip it) when PostgreSQL is not installed.
    pub fn postgres() -> TestDb {
        let cluster = testing::shared_cluster()
            .unwrap_or_else(|e| panic!("cannot run the PostgreSQL tests: {e}"));
        let url = cluster
            .create_database()
            .unwrap_or_else(|e| panic!("creating a test database: {e}"));
        TestDb {
            url,
            backend: Backend::Postgres,
            dir: None,
        }
    }

    /// Opens a new handle (a new connection pool) on the database.
    pub async fn open(&self) -> Store {
        let store = Store::open(&self.url)
            .await
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.url));
        assert_eq!(store.backend(), self.backend);
        store
    }

    /// The SQLite database's bytes on disk (main file, WAL and shared memory), empty for
    /// PostgreSQL.
    pub fn file_bytes(&self) -> Vec<u8> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        let mut all = Vec::new();
        for name in ["callrec.db", "callrec.db-wal", "callrec.db-shm"] {
            if let Ok(b) = std::fs::read(dir.path().join(name)) {
                all.extend(b);
            }
        }
        all
    }
}

/// Runs each named `async fn(TestDb)` once on SQLite and once on PostgreSQL, as
/// `sqlite::<name>` and `postgres::<name>`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::TestDb::sqlite()).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::TestDb::postgres()).await
                }
            )*
        }
    };
}

/// A gregorian timestamp to start from (2025).
pub const T0: u64 = 63_900_000_000;
