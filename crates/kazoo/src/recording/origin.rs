//! The origin label of a recording (stored in its metadata and CDR, as KAZOO's `origin`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::recording::table::Network;

/// Why a recording was started. [`fmt::Display`] gives KAZOO's label text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Account rule `inbound.<from>`: `inbound from <from> to account`.
    AccountInbound {
        /// Network the call came from.
        from: NetworkLabel,
    },
    /// Account rule `outbound.<to>`: `outbound to <to> from account`.
    AccountOutbound {
        /// Network the call goes to.
        to: NetworkLabel,
    },
    /// Caller endpoint's `outbound.<to>`: `outbound to <to> from endpoint`.
    EndpointOutbound {
        /// Network the call goes to.
        to: NetworkLabel,
    },
    /// Callee endpoint's `inbound.<from>`: `inbound from <from> to endpoint`.
    EndpointInbound {
        /// Network the call came from.
        from: NetworkLabel,
    },
    /// `record_call` callflow action: `callflow : <label>`, or `callflow` without a label.
    Callflow {
        /// The action's `label`, if any.
        label: Option<String>,
    },
    /// `record_caller` callflow action: `record_caller`.
    RecordCaller,
}

/// Serializable copy of [`Network`] used inside [`Origin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkLabel {
    /// `onnet`.
    Onnet,
    /// `offnet`.
    Offnet,
}

impl From<Network> for NetworkLabel {
    fn from(n: Network) -> Self {
        match n {
            Network::Onnet => NetworkLabel::Onnet,
            Network::Offnet => NetworkLabel::Offnet,
        }
    }
}

impl fmt::Display for NetworkLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkLabel::Onnet => "onnet",
            NetworkLabel::Offnet => "offnet",
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::AccountInbound { from } => write!(f, "inbound from {from} to account"),
            Origin::AccountOutbound { to } => write!(f, "outbound to {to} from account"),
            Origin::EndpointOutbound { to } => write!(f, "outbound to {to} from endpoint"),
            Origin::EndpointInbound { from } => write!(f, "inbound from {from} to endpoint"),
            Origin::Callflow { label: Some(l) } => write!(f, "callflow : {l}"),
            Origin::Callflow { label: None } => f.write_str("callflow"),
            Origin::RecordCaller => f.write_str("record_caller"),
        }
    }
}
