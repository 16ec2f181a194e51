//! Lookup tables from transaction ids and dialog ids to calls and legs, and the context
//! passed to a call's handlers (split borrows of the core).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use callrec_sip::message::Method;
use callrec_sip::transaction::{ClientTxId, ServerTxId, TransactionLayer};

use super::config::CoreConfig;
use super::events::CallEvent;
use super::ids::{CallRef, LegId};
use super::media_seam::MediaSeam;

/// What a server transaction of ours is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerRole {
    /// The A leg's initial INVITE.
    Invite { call: CallRef },
    /// An in-dialog request from `from`, relayed to the other leg; answered when it answers.
    Relay { call: CallRef, from: LegId },
}

/// What a client transaction of ours is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientRole {
    /// A B leg's initial INVITE.
    Invite { call: CallRef, leg: LegId },
    /// An in-dialog request relayed to `to` on behalf of server transaction `server` from `from`.
    Relay {
        call: CallRef,
        to: LegId,
        from: LegId,
        server: ServerTxId,
        method: Method,
        /// Whether the relayed request carried an SDP offer.
        had_offer: bool,
    },
    /// A BYE we sent to end `leg`.
    Bye { call: CallRef, leg: LegId },
}

/// The core's lookup tables.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) server: HashMap<ServerTxId, ServerRole>,
    pub(crate) client: HashMap<ClientTxId, ClientRole>,
    /// (Call-ID, our tag) → leg. Our tag is the To tag of requests the peer sends us.
    pub(crate) dialogs: HashMap<(String, String), (CallRef, LegId)>,
    /// Branches of the INVITEs we sent on B legs (loop detection).
    pub(crate) branches: HashMap<String, (CallRef, LegId)>,
    /// Every key filed for a call.
    per_call: HashMap<CallRef, Vec<Key>>,
}

/// A key of one of the tables, remembered per call so a finished call is forgotten exactly.
#[derive(Debug)]
enum Key {
    Server(ServerTxId),
    Client(ClientTxId),
    Dialog((String, String)),
    Branch(String),
}

impl Index {
    /// Entries in all tables.
    pub(crate) fn len(&self) -> usize {
        self.server.len()
            + self.client.len()
            + self.dialogs.len()
            + self.branches.len()
            + self.per_call.len()
    }

    fn note(&mut self, call: CallRef, key: Key) {
        self.per_call.entry(call).or_default().push(key);
    }

    /// Files a server transaction of `call`.
    pub(crate) fn add_server(&mut self, call: CallRef, tx: ServerTxId, role: ServerRole) {
        self.server.insert(tx, role);
        self.note(call, Key::Server(tx));
    }

    /// Files a client transaction of `call`.
    pub(crate) fn add_client(&mut self, call: CallRef, tx: ClientTxId, role: ClientRole) {
        self.client.insert(tx, role);
        self.note(call, Key::Client(tx));
    }

    /// Files a dialog (Call-ID, our tag) of `call`.
    pub(crate) fn add_dialog(&mut self, call: CallRef, key: (String, String), leg: LegId) {
        self.dialogs.insert(key.clone(), (call, leg));
        self.note(call, Key::Dialog(key));
    }

    /// Files the branch of a B leg's INVITE.
    pub(crate) fn add_branch(&mut self, call: CallRef, branch: String, leg: LegId) {
        self.branches.insert(branch.clone(), (call, leg));
        self.note(call, Key::Branch(branch));
    }

    /// Forgets everything that points at `call`.
    pub(crate) fn forget_call(&mut self, call: CallRef) {
        for key in self.per_call.remove(&call).unwrap_or_default() {
            match key {
                Key::Server(k) => {
                    self.server.remove(&k);
                }
                Key::Client(k) => {
                    self.client.remove(&k);
                }
                Key::Dialog(k) => {
                    self.dialogs.remove(&k);
                }
                Key::Branch(k) => {
                    self.branches.remove(&k);
                }
            }
        }
    }
}

/// Everything a call's handlers may touch besides the call itself.
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    pub(crate) cfg: &'a CoreConfig,
    pub(crate) index: &'a mut Index,
    pub(crate) events: &'a mut VecDeque<CallEvent>,
    pub(crate) txl: &'a mut TransactionLayer,
    pub(crate) media: &'a mut dyn MediaSeam,
}
