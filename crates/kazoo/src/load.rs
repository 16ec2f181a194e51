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

/// One refused field, in the shape KAZOO's API reports it:
/// `{"data": {<path>: {<rule>: {"message": <message>}}}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path inside the document (`call_recording.inbound.offnet.url`), or the document
    /// itself (`""`) when the problem is not one field.
    pub path: String,
    /// KAZOO's validation rule name: `required`, `type`, `enum`, `format`, `minimum`,
    /// `maximum`, `unique`, `invalid`.
    pub rule: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

fn policy_field_error(root: &str, e: &crate::recording::PolicyError) -> FieldError {
    use crate::recording::PolicyError as P;
    let rule = match e {
        P::NotOneOf { .. } => "enum",
        P::WrongType { .. } => "type",
        P::NotHttpUrl { .. } => "format",
        P::BelowMinimum { .. } => "minimum",
        P::TooLarge { .. } => "maximum",
    };
    let full = e.path();
    let path = full
        .strip_prefix(root)
        .map(|p| p.trim_start_matches('.'))
        .unwrap_or(full)
        .to_owned();
    let message = e.to_string();
    let message = message
        .strip_prefix(&format!("{full}: "))
        .unwrap_or(&message)
        .to_owned();
    FieldError {
        path,
        rule,
        message,
    }
}

fn directory_field_error(e: &DirectoryError) -> FieldError {
    let (path, rule) = match e {
        DirectoryError::Missing { path, .. } => (path.clone(), "required"),
        DirectoryError::Invalid { path, .. } => (path.clone(), "type"),
        DirectoryError::Dangling { path, .. } => (path.clone(), "invalid"),
        DirectoryError::UnknownModule { path, .. } => (path.clone(), "enum"),
        DirectoryError::BadRegex { path, .. } | DirectoryError::BadCidr { path, .. } => {
            (path.clone(), "format")
        }
        DirectoryError::AccountRequired { .. } => ("account_id".to_owned(), "required"),
        DirectoryError::NoRealm { .. } => ("sip.realm".to_owned(), "required"),
        DirectoryError::DuplicateUsername { .. } => ("sip.username".to_owned(), "unique"),
        DirectoryError::DuplicateNumber { .. } | DirectoryError::DuplicateDid { .. } => {
            ("numbers".to_owned(), "unique")
        }
        DirectoryError::DuplicateIp { .. } => ("sip.ip".to_owned(), "unique"),
        DirectoryError::DuplicateId { .. } => ("id".to_owned(), "unique"),
        DirectoryError::UnknownType { .. } => ("pvt_type".to_owned(), "enum"),
        DirectoryError::NotAnObject { .. } | DirectoryError::MissingId { .. } => {
            (String::new(), "type")
        }
    };
    FieldError {
        path,
        rule,
        message: e.to_string(),
    }
}

/// Checks a document as the API is about to save it: its recording settings (KAZOO's rules,
/// errors by path) and the directory's rules for the whole set with this document in it (a
/// device needs `sip.password`, a number may be claimed once, ...). `doc` carries `_id` and
/// `pvt_type`; `others` are the documents saved now (a document with the same `_id` is
/// replaced). Returns the warnings (unknown keys: kept, as KAZOO keeps them) or every error.
pub fn check_document(
    doc: &Value,
    others: &[RawDocument],
    policy: &PolicyConfig,
) -> Result<Vec<String>, Vec<FieldError>> {
    let id = doc.get("_id").and_then(Value::as_str).unwrap_or_default();
    let kind = doc
        .get("pvt_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let recording_kind = match kind {
        "account" => Some(DocKind::Account),
        "user" => Some(DocKind::User),
        "device" => Some(DocKind::Device),
        _ => None,
    };
    if let Some(k) = recording_kind {
        let report = validate_document(k, id, doc, policy);
        let root = format!("{k} {id}");
        errors.extend(report.errors.iter().map(|e| policy_field_error(&root, e)));
        warnings.extend(report.warnings.iter().map(ToString::to_string));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut set: Vec<RawDocument> = others
        .iter()
        .filter(|(_, d)| d.get("_id").and_then(Value::as_str) != Some(id))
        .cloned()
        .collect();
    set.push((format!("{kind} {id}"), doc.clone()));
    match Directory::build(set) {
        Ok(dir) => {
            // Callflow actions carry recording settings too.
            if kind == "callflow" {
                if let Some(cf) = dir.callflows().iter().find(|c| c.id == id) {
                    walk_flow(&cf.flow, &mut |flow| {
                        let caller = match flow.module {
                            Module::RecordCall => false,
                            Module::RecordCaller => true,
                            _ => return,
                        };
                        let report = validate_callflow_action(id, &flow.data, caller, policy);
                        let root = format!("{} {id}", DocKind::Callflow);
                        errors.extend(report.errors.iter().map(|e| policy_field_error(&root, e)));
                    });
                }
            }
            if errors.is_empty() {
                Ok(warnings)
            } else {
                Err(errors)
            }
        }
        Err(e) => Err(vec![directory_field_error(&e)]),
    }
}
