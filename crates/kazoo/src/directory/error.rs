//! Why a set of documents was refused. Every variant names the document (kind, `_id`, source)
//! and, where it applies, the key path inside it, so an operator can fix the file.

use std::fmt;

/// Names one document in messages: `device device-1001 (devices/1001.json)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocName {
    /// The document's `pvt_type` (`device`, `user`, ...), or `document` when it is unknown.
    pub kind: String,
    /// The document's `_id` (`?` when missing).
    pub id: String,
    /// Where it came from (a file name).
    pub source: String,
}

impl fmt::Display for DocName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.kind, self.id, self.source)
    }
}

/// A document set that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DirectoryError {
    /// The document is not a JSON object.
    #[error("{source_name}: the document is not a JSON object")]
    NotAnObject {
        /// Where it came from.
        source_name: String,
    },
    /// `_id` is missing, not a string, or empty.
    #[error("{source_name}: _id is missing")]
    MissingId {
        /// Where it came from.
        source_name: String,
    },
    /// `pvt_type` is not one we know (a missing one is [`DirectoryError::Missing`]).
    #[error("{doc}: pvt_type {found:?} is not one of account, user, device, callflow, resource")]
    UnknownType {
        /// The document.
        doc: Box<DocName>,
        /// What was found (JSON text when not a string).
        found: String,
    },
    /// Two documents have the same `_id`.
    #[error("{doc}: _id is also used by {other}")]
    DuplicateId {
        /// The later document.
        doc: Box<DocName>,
        /// The earlier one.
        other: Box<DocName>,
    },
    /// A required key is absent.
    #[error("{doc}: {path} is missing")]
    Missing {
        /// The document.
        doc: Box<DocName>,
        /// Dotted key path, e.g. `sip.password`.
        path: String,
    },
    /// A key has the wrong JSON type or a value we cannot use.
    #[error("{doc}: {path} must be {expected}")]
    Invalid {
        /// The document.
        doc: Box<DocName>,
        /// Dotted key path.
        path: String,
        /// What is expected there, e.g. `a string`, `a port number 1-65535`.
        expected: &'static str,
    },
    /// A reference (`owner_id`, `account_id`, a callflow's `data.id`) points to no document of
    /// the right kind.
    #[error("{doc}: {path} refers to {target_kind} {target:?}, which does not exist")]
    Dangling {
        /// The document.
        doc: Box<DocName>,
        /// Dotted key path.
        path: String,
        /// The kind of document expected.
        target_kind: &'static str,
        /// The id referred to.
        target: String,
    },
    /// Several accounts exist and the document does not say which it belongs to.
    #[error("{doc}: account_id is missing (required when there are several accounts)")]
    AccountRequired {
        /// The document.
        doc: Box<DocName>,
    },
    /// A device has no realm: neither `sip.realm` nor an account to inherit it from.
    #[error("{doc}: sip.realm is missing and no account gives one")]
    NoRealm {
        /// The device.
        doc: Box<DocName>,
    },
    /// Two devices share a SIP username in one realm.
    #[error("{doc}: sip.username {username:?} in realm {realm:?} is also used by {other}")]
    DuplicateUsername {
        /// The later device.
        doc: Box<DocName>,
        /// The realm.
        realm: String,
        /// The username.
        username: String,
        /// The earlier device.
        other: Box<DocName>,
    },
    /// Two callflows of one account claim the same number.
    #[error("{doc}: number {number:?} is also claimed by {other}")]
    DuplicateNumber {
        /// The later callflow.
        doc: Box<DocName>,
        /// The (normalised) number.
        number: String,
        /// The earlier callflow.
        other: Box<DocName>,
    },
    /// Two accounts' callflows claim the same DID (a number that looks like a telephone
    /// number: `+` and digits, or 7 digits or more). DIDs are unique system-wide, extensions
    /// per account.
    #[error("{doc}: number {number:?} is a DID already claimed by {other} (DIDs are unique across accounts)")]
    DuplicateDid {
        /// The later callflow.
        doc: Box<DocName>,
        /// The (normalised) number.
        number: String,
        /// The earlier callflow.
        other: Box<DocName>,
    },
    /// Two enabled devices authenticate by the same IP address (`sip.method: ip`).
    #[error("{doc}: sip.ip {ip} is also used by {other}")]
    DuplicateIp {
        /// The later device.
        doc: Box<DocName>,
        /// The address.
        ip: std::net::IpAddr,
        /// The earlier device.
        other: Box<DocName>,
    },
    /// A callflow node names a module we do not execute.
    #[error("{doc}: {path} names module {module:?}, which is not one of device, user, ring_group, resources, offnet, record_call, record_caller")]
    UnknownModule {
        /// The callflow.
        doc: Box<DocName>,
        /// Dotted key path of the `module` key.
        path: String,
        /// The name found.
        module: String,
    },
    /// A callflow pattern is not a valid regular expression.
    #[error("{doc}: {path} is not a valid regular expression: {error}")]
    BadRegex {
        /// The callflow.
        doc: Box<DocName>,
        /// Dotted key path, e.g. `patterns.0`.
        path: String,
        /// The regex crate's explanation.
        error: regex::Error,
    },
    /// An origination address is neither an IP address nor a CIDR block.
    #[error("{doc}: {path} value {value:?} is not an IP address or CIDR block")]
    BadCidr {
        /// The resource.
        doc: Box<DocName>,
        /// Dotted key path.
        path: String,
        /// The text found.
        value: String,
    },
}
