//! Loading the KAZOO-shaped JSON documents (accounts, users, devices, resources, callflows).
//!
//! A [`DocumentStore`] returns every document as raw JSON with the place it came from; turning
//! them into `callrec_kazoo::directory::Directory` and validating `call_recording` with the policy
//! crate is the engine's job. [`FileStore`] reads every `*.json` file under a directory
//! (recursively, in sorted path order, one document per file; hidden files and directories are
//! skipped). A persistent store with an HTTP API can later implement the same trait.
//!
//! Reload (on SIGHUP): the engine calls [`DocumentStore::load_all`] again and swaps in the new
//! directory only if everything loaded and validated; on error it keeps the old one and logs.
//! [`reload`] packages that pattern.

use std::path::{Path, PathBuf};

/// Why documents could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DocumentsError {
    /// The documents directory or one of its entries could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not valid JSON.
    #[error("{path}:{line}:{column}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A file's top level is not a JSON object.
    #[error("{path}: a document must be a JSON object")]
    NotAnObject {
        /// The file.
        path: PathBuf,
    },
    /// Two files carry the same `_id`.
    #[error("duplicate document _id {id:?} in {first} and {second}")]
    DuplicateId {
        /// The id.
        id: String,
        /// The first file with it.
        first: String,
        /// The second file with it.
        second: String,
    },
}

/// One loaded document: where it came from (a path relative to the store's root, with `/`
/// separators) and its JSON.
pub use callrec_kazoo::load::RawDocument;

/// A source of documents.
pub trait DocumentStore: Send + Sync {
    /// Loads every document (sorted by origin). Called at start-up and on reload.
    fn load_all(&self) -> Result<Vec<RawDocument>, DocumentsError>;
}

/// Documents as `*.json` files under a directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    /// A store reading from `root` (e.g. `paths.documents_dir`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn collect(&self, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DocumentsError> {
        let read_err = |source| DocumentsError::Read {
            path: dir.to_owned(),
            source,
        };
        for entry in std::fs::read_dir(dir).map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let kind = entry.file_type().map_err(|source| DocumentsError::Read {
                path: path.clone(),
                source,
            })?;
            if kind.is_dir() {
                self.collect(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
        Ok(())
    }
}

impl DocumentStore for FileStore {
    fn load_all(&self) -> Result<Vec<RawDocument>, DocumentsError> {
        let mut files = Vec::new();
        self.collect(&self.root, &mut files)?;
        files.sort();
        let mut docs = Vec::with_capacity(files.len());
        let mut ids: std::collections::HashMap<String, String> = Default::default();
        for path in files {
            let text = std::fs::read(&path).map_err(|source| DocumentsError::Read {
                path: path.clone(),
                source,
            })?;
            let value: serde_json::Value =
                serde_json::from_slice(&text).map_err(|source| DocumentsError::Json {
                    path: path.clone(),
                    line: source.line(),
                    column: source.column(),
                    source,
                })?;
            if !value.is_object() {
                return Err(DocumentsError::NotAnObject { path });
            }
            let rel = path
                .strip_prefix(&self.root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            if let Some(id) = value.get("_id").and_then(|v| v.as_str()) {
                if let Some(first) = ids.insert(id.to_owned(), rel.clone()) {
                    return Err(DocumentsError::DuplicateId {
                        id: id.to_owned(),
                        first,
                        second: rel,
                    });
                }
            }
            docs.push((rel, value));
        }
        Ok(docs)
    }
}

/// Reloads documents and hands them to `apply` (which builds and validates the directory and
/// swaps it in, returning its own error if the new set is refused). On any error the caller's
/// current state is untouched and the error is returned for logging.
pub fn reload<E, F>(store: &dyn DocumentStore, apply: F) -> Result<usize, ReloadError<E>>
where
    F: FnOnce(Vec<RawDocument>) -> Result<(), E>,
{
    let docs = store.load_all().map_err(ReloadError::Load)?;
    let n = docs.len();
    apply(docs).map_err(ReloadError::Apply)?;
    Ok(n)
}

/// Why a reload was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError<E> {
    /// The documents could not be read.
    #[error(transparent)]
    Load(DocumentsError),
    /// The engine refused the new documents (validation).
    #[error("documents refused: {0}")]
    Apply(E),
}
