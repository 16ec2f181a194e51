//! Building the [`Directory`] from raw documents and checking every recording setting in them
//! with [`crate::recording`], so that a bad document is refused at start-up (or
//! at reload) with a message naming the document and the key.

use serde_json::Value;

use crate::directory::{Directory, DirectoryError, Flow, Module};
use crate::recording::{
    validate_callflow_action, validate_document, DocKind, PolicyConfig, ValidationReport,
};

/// One document as a source gave it: where it came from (a file path, a database id) and its
/// JSON.
pub type RawDocument = (String, Value);

/// Read access to the documents the recording policy needs (account, user and device JSON).
pub trait DocLookup {
    /// The account document with this id.
    fn account_doc(&self, id: &str) -> Option<&Value>;
    /// The user document with this id.
    fn user_doc(&self, id: &str) -> Option<&Value>;
    /// The device document with this id.
    fn device_doc(&self, id: &str) -> Option<&Value>;
    /// The id of the account a leg without an account belongs to (a single-account install:
    /// carrier legs and devices that omit `account_id`).
    fn default_account_id(&self) -> Option<&str>;
}

/// Why a document set was refused.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryLoadError {
    /// The signalling documents are inconsistent (names the document and key).
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// A recording setting is invalid (each line names the document and key).
    #[error("invalid recording settings:\n  {}", .0.join("\n  "))]
    Recording(Vec<String>),
}

/// Builds the directory and validates `call_recording` everywhere. Warnings (unknown keys) are
/// logged, not refused.
pub fn build_directory(
    docs: Vec<RawDocument>,
    policy: &PolicyConfig,
) -> Result<Directory, DirectoryLoadError> {
    let dir = Directory::build(docs)?;
    let mut errors = Vec::new();
    let mut check = |report: ValidationReport| {
        for w in &report.warnings {
            tracing::warn!(%w, "document warning");
        }
        errors.extend(report.errors.iter().map(ToString::to_string));
    };
    for a in dir.accounts() {
        check(validate_document(DocKind::Account, &a.id, &a.raw, policy));
    }
    for u in dir.users() {
        check(validate_document(DocKind::User, &u.id, &u.raw, policy));
    }
    for d in dir.devices() {
        check(validate_document(DocKind::Device, &d.id, &d.raw, policy));
    }
    for cf in dir.callflows() {
        walk_flow(&cf.flow, &mut |flow| match flow.module {
            Module::RecordCall => {
                check(validate_callflow_action(&cf.id, &flow.data, false, policy))
            }
            Module::RecordCaller => {
                check(validate_callflow_action(&cf.id, &flow.data, true, policy))
            }
            _ => {}
        });
    }
    if errors.is_empty() {
        Ok(dir)
    } else {
        Err(DirectoryLoadError::Recording(errors))
    }
}

fn walk_flow(flow: &Flow, f: &mut dyn FnMut(&Flow)) {
    f(flow);
    for child in flow.children.values() {
        walk_flow(child, f);
    }
}

impl DocLookup for Directory {
    fn account_doc(&self, id: &str) -> Option<&Value> {
        self.account(id).map(|a| &a.raw)
    }
    fn user_doc(&self, id: &str) -> Option<&Value> {
        self.user(id).map(|u| &u.raw)
    }
    fn device_doc(&self, id: &str) -> Option<&Value> {
        self.device(id).map(|d| &d.raw)
    }
    fn default_account_id(&self) -> Option<&str> {
        self.single_account().map(|a| a.id.as_str())
    }
}
