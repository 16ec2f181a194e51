//! The engine's documents come from the store (`callrec-store`): loading them as the directory
//! the calls are routed with, importing a folder of JSON documents, and watching the store for
//! changes (made through the API, by `callrec import`, or by another process sharing the
//! database) so that the next call uses them without a restart.
//!
//! Secrets never stay in documents: an account's `pvt_api_key` and a user's `password` are
//! hashed into the store's credential tables and removed from the document when it is saved.
//! (Device SIP passwords stay in device documents, as in KAZOO: digest authentication needs
//! them.)

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use callrec_kazoo::directory::Directory;
use callrec_kazoo::load::{build_directory, RawDocument};
use callrec_kazoo::recording::PolicyConfig;
use callrec_kazoo::storage::{parse_storage, StoragePlans};
use callrec_store::{DocKind, Document, Store, StoreError};
use md5::{Digest, Md5};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch, Notify};

use crate::documents::{DocumentStore, FileStore};

/// KAZOO's `pvt_type` of a store kind.
pub fn pvt_type(kind: DocKind) -> &'static str {
    match kind {
        DocKind::Account => "account",
        DocKind::User => "user",
        DocKind::Device => "device",
        DocKind::Callflow => "callflow",
        DocKind::Resource => "resource",
        DocKind::Storage => "storage",
    }
}

/// A stored document as KAZOO shows it: its body with `_id`, `_rev` (`<rev>-<id prefix>`),
/// `pvt_type` and, except for accounts, `account_id`.
pub fn kazoo_json(doc: &Document) -> Value {
    let mut body = match &doc.body {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    body.insert("id".into(), Value::String(doc.id.clone()));
    body.insert("_id".into(), Value::String(doc.id.clone()));
    body.insert("_rev".into(), Value::String(revision(doc.rev)));
    body.insert("pvt_type".into(), Value::String(pvt_type(doc.kind).into()));
    if doc.kind != DocKind::Account {
        body.insert("account_id".into(), Value::String(doc.account_id.clone()));
    }
    Value::Object(body)
}

/// KAZOO-style revision string for a store revision number.
pub fn revision(rev: u64) -> String {
    format!(
        "{rev}-{:032x}",
        u128::from(rev).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    )
}

/// The revision number in a KAZOO revision string (`"3-abc..."` → 3).
pub fn parse_revision(rev: &str) -> Option<u64> {
    rev.split('-').next()?.parse().ok()
}

/// Every stored document as the directory reads them.
pub async fn load_raw(store: &Store) -> Result<Vec<RawDocument>, StoreError> {
    Ok(raw_documents(&store.load_all().await?))
}

fn raw_documents(docs: &[Document]) -> Vec<RawDocument> {
    docs.iter()
        .filter(|d| d.kind != DocKind::Storage)
        .map(|d| (format!("{} {}", pvt_type(d.kind), d.id), kazoo_json(d)))
        .collect()
}

/// `md5("username:password")` in hex: KAZOO's user_auth credentials.
pub fn md5_credentials(username: &str, password: &str) -> String {
    hex::encode(Md5::digest(format!("{username}:{password}").as_bytes()))
}

/// Secrets taken out of a document before it is saved: they are stored hashed, never in the
/// document.
#[derive(Debug, Default)]
pub struct Secrets {
    api_key: Option<String>,
    password: Option<String>,
}

impl Secrets {
    /// Removes an account's `pvt_api_key` (or `api_key`) and a user's `password` from `body`.
    pub fn take(kind: DocKind, body: &mut Map<String, Value>) -> Secrets {
        let mut s = Secrets::default();
        match kind {
            DocKind::Account => {
                let key = body
                    .remove("pvt_api_key")
                    .or_else(|| body.remove("api_key"));
                if let Some(Value::String(k)) = key {
                    s.api_key = Some(k);
                }
            }
            DocKind::User => {
                if let Some(Value::String(p)) = body.remove("password") {
                    s.password = Some(p);
                }
            }
            _ => {}
        }
        s
    }

    /// Stores them hashed: the API key for the account, the password as KAZOO's
    /// md5("username:password") login of the user (`username` from `body`, else its id).
    pub async fn save(
        self,
        store: &Store,
        account_id: &str,
        id: &str,
        body: &Value,
    ) -> Result<(), StoreError> {
        if let Some(key) = self.api_key {
            store.set_api_key(account_id, &key).await?;
        }
        if let Some(password) = self.password {
            let username = body
                .get("username")
                .and_then(Value::as_str)
                .unwrap_or(id)
                .to_owned();
            store
                .set_user_login(
                    account_id,
                    id,
                    &username,
                    &md5_credentials(&username, &password),
                )
                .await?;
        }
        Ok(())
    }
}

/// Imports the JSON documents of `dir` (one per file, as `check-config` reads them): those
/// whose `_id` is not stored yet are created, with their secrets hashed; stored ones are left
/// alone. Returns how many were new.
pub async fn import_dir(store: &Store, dir: &Path, now: u64) -> anyhow::Result<usize> {
    let files = FileStore::new(dir);
    let docs = files
        .load_all()
        .context("cannot read the documents to import")?;
    let single_account = {
        let mut accounts = docs
            .iter()
            .filter(|(_, d)| d.get("pvt_type").and_then(Value::as_str) == Some("account"));
        match (accounts.next(), accounts.next()) {
            (Some((_, a)), None) => a.get("_id").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        }
    };
    let mut created = 0;
    // Accounts first: the others name them.
    let mut ordered: Vec<&RawDocument> = docs.iter().collect();
    ordered.sort_by_key(|(_, d)| d.get("pvt_type").and_then(Value::as_str) != Some("account"));
    for (name, doc) in ordered {
        let kind: DocKind = doc
            .get("pvt_type")
            .and_then(Value::as_str)
            .and_then(|t| t.parse().ok())
            .with_context(|| format!("{name}: pvt_type is missing or unknown"))?;
        let id = doc
            .get("_id")
            .and_then(Value::as_str)
            .with_context(|| format!("{name}: _id is missing"))?
            .to_owned();
        let account_id = if kind == DocKind::Account {
            id.clone()
        } else {
            doc.get("account_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| single_account.clone())
                .with_context(|| format!("{name}: account_id is missing"))?
        };
        match store.get(kind, &id).await {
            Ok(_) => continue,
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e).with_context(|| format!("{name}: cannot read the store")),
        }
        let mut body = doc.as_object().cloned().unwrap_or_default();
        for k in ["_id", "_rev", "id"] {
            body.remove(k);
        }
        let secrets = Secrets::take(kind, &mut body);
        let body = Value::Object(body);
        store
            .create(&account_id, kind, &id, body.clone(), now)
            .await
            .with_context(|| format!("{name}: cannot be stored"))?;
        secrets
            .save(store, &account_id, &id, &body)
            .await
            .with_context(|| format!("{name}: cannot store its credentials"))?;
        created += 1;
    }
    Ok(created)
}

/// The documents in use and the change they reflect.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated directory.
    pub directory: Arc<Directory>,
    /// The raw documents it was built from (the API checks changes against them).
    pub documents: Arc<Vec<RawDocument>>,
    /// The store's change sequence when they were read.
    pub change_seq: i64,
    /// Every account's storage plan (its `storage` document).
    pub storage: Arc<StoragePlans>,
}

/// The accounts' storage plans from the stored `storage` documents. The API refuses an
/// invalid one; one that does not parse anyway (written by other means) is logged by field
/// and left out: that account's recordings are then kept locally.
pub fn storage_plans(docs: &[Document]) -> StoragePlans {
    let mut plans = StoragePlans::new();
    for d in docs.iter().filter(|d| d.kind == DocKind::Storage) {
        match parse_storage(&d.body) {
            Ok(doc) => plans.insert(d.account_id.clone(), doc),
            Err(errors) => {
                let fields: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{} ({})", e.path, e.rule))
                    .collect();
                tracing::error!(
                    account = %d.account_id,
                    fields = %fields.join(", "),
                    "storage document refused; the account's recordings are kept locally"
                );
            }
        }
    }
    plans
}

/// Reads and validates every document.
pub async fn load(store: &Store, policy: &PolicyConfig) -> anyhow::Result<Loaded> {
    let change_seq = store.change_seq().await.context("cannot read the store")?;
    let all = store.load_all().await.context("cannot read the store")?;
    let documents = raw_documents(&all);
    let directory = build_directory(documents.clone(), policy).context("documents refused")?;
    Ok(Loaded {
        directory: Arc::new(directory),
        documents: Arc::new(documents),
        change_seq,
        storage: Arc::new(storage_plans(&all)),
    })
}

/// Shared between the watcher, the server loop and the API: the documents in use, a way to
/// ask for a reload now, and the change sequence the engine runs on.
#[derive(Debug, Clone)]
pub struct DocumentsHandle {
    current: watch::Receiver<Loaded>,
    poke: Arc<Notify>,
    applied: watch::Receiver<i64>,
}

impl DocumentsHandle {
    /// The documents loaded last (validated).
    pub fn current(&self) -> Loaded {
        self.current.borrow().clone()
    }

    /// The change sequence of the documents the engine runs on.
    pub fn applied(&self) -> i64 {
        *self.applied.borrow()
    }

    /// Asks the watcher to look at the store now.
    pub fn reload_now(&self) {
        self.poke.notify_one();
    }

    /// Waits (at most `limit`) until the engine runs on documents at least as new as
    /// `change_seq`. Returns whether it does.
    pub async fn wait_applied(&self, change_seq: i64, limit: Duration) -> bool {
        self.poke.notify_one();
        let mut applied = self.applied.clone();
        tokio::time::timeout(limit, applied.wait_for(|s| *s >= change_seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// The watcher's side: where new documents go and where the engine says it applied them.
pub struct Watcher {
    /// New validated documents for the engine.
    pub updates: mpsc::UnboundedReceiver<Loaded>,
    /// The engine reports the change sequence it runs on.
    pub applied: watch::Sender<i64>,
}

/// Starts the watcher: every `interval` (or at once when poked) it compares the store's change
/// sequence with the last one read; on a change it loads and validates the documents and
/// sends them. A set that does not validate is logged and skipped (the engine keeps the last
/// good one); a store that cannot be read is retried (calls go on with the last documents).
pub fn spawn_watcher(
    store: Store,
    policy: PolicyConfig,
    first: Loaded,
    interval: Duration,
) -> (DocumentsHandle, Watcher) {
    let (current_tx, current_rx) = watch::channel(first.clone());
    let (applied_tx, applied_rx) = watch::channel(first.change_seq);
    let (updates_tx, updates_rx) = mpsc::unbounded_channel();
    let poke = Arc::new(Notify::new());
    let handle = DocumentsHandle {
        current: current_rx,
        poke: poke.clone(),
        applied: applied_rx,
    };
    tokio::spawn(async move {
        let mut seen = first.change_seq;
        let mut store_down = false;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = poke.notified() => {}
            }
            if updates_tx.is_closed() {
                break;
            }
            let seq = match store.change_seq().await {
                Ok(s) => {
                    if store_down {
                        tracing::info!("store reachable again");
                        store_down = false;
                    }
                    s
                }
                Err(e) => {
                    if !store_down {
                        tracing::warn!(error = %e, "store unreachable; calls use the last documents read");
                        store_down = true;
                    }
                    continue;
                }
            };
            if seq == seen {
                continue;
            }
            match load(&store, &policy).await {
                Ok(loaded) => {
                    seen = loaded.change_seq;
                    let _ = current_tx.send(loaded.clone());
                    let _ = updates_tx.send(loaded);
                }
                Err(e) => {
                    seen = seq;
                    tracing::error!(
                        error = format!("{e:#}"),
                        "documents changed but refused; keeping the old ones"
                    );
                }
            }
        }
    });
    (
        handle,
        Watcher {
            updates: updates_rx,
            applied: applied_tx,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_credentials_are_kazoos_md5_of_username_colon_password() {
        // echo -n "admin:demo-admin" | md5sum
        assert_eq!(
            md5_credentials("admin", "demo-admin"),
            "6df09546b19990efb8417d4f651cf576"
        );
    }

    #[test]
    fn revisions_round_trip() {
        assert_eq!(parse_revision(&revision(7)), Some(7));
        assert_eq!(parse_revision("x-1"), None);
    }
}
