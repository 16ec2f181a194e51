//! [`Registrar`]: the binding table, sans-IO. An address-of-record (realm, username) maps to
//! its contacts, each with an expiry and the peer the REGISTER came from.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::message::Uri;
use crate::transaction::Peer;

/// Registrar settings (from config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shortest expiry accepted; below it a REGISTER gets 423 with `Min-Expires` (default 60).
    pub min_expires: u32,
    /// Longest expiry granted; longer requests are shortened to it (default 3600).
    pub max_expires: u32,
    /// Expiry when the request gives none (default 3600, RFC 3261 §10.2.1.1 suggests it).
    pub default_expires: u32,
    /// Most contacts per address-of-record; a new one beyond replaces the one that expires
    /// first (default 10).
    pub max_contacts: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 10,
        }
    }
}

/// An address-of-record: a device's realm (lowercase) and SIP username.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aor {
    /// The realm, lowercase.
    pub realm: String,
    /// The username, as written.
    pub username: String,
}

impl Aor {
    /// An AOR (the realm is lowercased).
    pub fn new(realm: &str, username: &str) -> Aor {
        Aor {
            realm: realm.to_ascii_lowercase(),
            username: username.to_owned(),
        }
    }
}

/// One registered contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI (the Request-URI of requests to the device).
    pub contact: Uri,
    /// Where the REGISTER came from (the received address and transport). Requests go here
    /// when NAT is detected or forced, and always over a TCP registration's connection.
    pub source: Peer,
    /// Whether the REGISTER's top Via sent-by differed from `source` (address or port):
    /// `nat_uac_test` flags 2 and 16.
    pub via_differs: bool,
    /// When the binding ends.
    pub expires_at: Instant,
    /// The Call-ID of the REGISTER that made or last refreshed it.
    pub call_id: String,
    /// Its CSeq number.
    pub cseq: u32,
}

/// Where a REGISTER came from, as its bindings record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterSource {
    /// The received address and transport.
    pub peer: Peer,
    /// Whether the top Via's sent-by differed from `peer` (see [`Binding::via_differs`]).
    pub via_differs: bool,
}

impl From<Peer> for RegisterSource {
    /// A source with no Via evidence of NAT.
    fn from(peer: Peer) -> RegisterSource {
        RegisterSource {
            peer,
            via_differs: false,
        }
    }
}

/// Where requests to a binding go, decided by [`Binding::target`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatPolicy {
    /// Contact unless NAT is detected ([`Binding::nat_detected`]).
    Auto,
    /// Always the REGISTER's source.
    Always,
    /// Always the Contact (when it names an address we can send to).
    Never,
}

impl NatPolicy {
    /// Parses `auto`, `always` or `never` (the config's `[sip] nat`, a device's `sip.nat`).
    pub fn parse(s: &str) -> Option<NatPolicy> {
        match s {
            "auto" => Some(NatPolicy::Auto),
            "always" => Some(NatPolicy::Always),
            "never" => Some(NatPolicy::Never),
            _ => None,
        }
    }
}

impl Default for NatPolicy {
    /// `auto`.
    fn default() -> NatPolicy {
        NatPolicy::Auto
    }
}

impl Binding {
    /// `nat_uac_test` 19: the Via differed from the source, or the Contact names a private
    /// address while the source is public.
    pub fn nat_detected(&self) -> bool {
        self.via_differs
            || super::nat::contact_private_behind_public(&self.contact, self.source.addr)
    }

    /// Where requests to this binding go under `policy`. A TCP registration always reuses its
    /// connection (the source: phones behind TCP rarely accept connections, and RFC 5626
    /// flows work the same way). A Contact naming a host name or an unknown transport falls
    /// back to the source (the core resolves no names).
    pub fn target(&self, policy: NatPolicy) -> Peer {
        if self.source.transport == crate::transaction::Transport::Tcp {
            return self.source;
        }
        let use_contact = match policy {
            NatPolicy::Always => false,
            NatPolicy::Never => true,
            NatPolicy::Auto => !self.nat_detected(),
        };
        if use_contact {
            if let Some(p) = super::nat::contact_peer(&self.contact) {
                return p;
            }
        }
        self.source
    }

    /// Seconds left at `now` (rounded down, 0 when expired).
    pub fn expires_in(&self, now: Instant) -> u64 {
        self.expires_at.saturating_duration_since(now).as_secs()
    }
}

/// One Contact of a REGISTER, as the table needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactUpdate {
    /// `Contact: *` (valid only alone and with `Expires: 0`).
    All,
    /// A contact with its own `expires` parameter, if any.
    One {
        /// The URI.
        uri: Uri,
        /// Its `expires` parameter.
        expires: Option<u32>,
    },
}

/// A REGISTER the table refuses; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// `*` with other contacts or with an expiry other than 0 (RFC 3261 §10.3 step 6): 400.
    #[error("Contact * must be alone and with Expires: 0")]
    InvalidStar,
    /// An expiry above 0 and below the minimum (§10.3 step 7): 423 with `Min-Expires`.
    #[error("expiry below the minimum of {min_expires} s")]
    IntervalTooBrief {
        /// The minimum to put in `Min-Expires`.
        min_expires: u32,
    },
    /// Same Call-ID as an existing binding with a CSeq not higher (§10.3 step 7: the update
    /// is aborted): a reordered or replayed REGISTER. 500 is what the RFC leaves us.
    #[error("REGISTER out of order (CSeq not higher than the binding's)")]
    OutOfOrder,
}

/// Binding table of every address-of-record.
#[derive(Debug, Default)]
pub struct Registrar {
    cfg: RegistrarConfig,
    aors: HashMap<Aor, Vec<Binding>>,
    /// Not after the earliest expiry of any binding (a lower bound, exact after `expire`).
    next_expiry: Option<Instant>,
    /// REGISTERs refused with 403 (see `handle_register`).
    pub(super) refusals: u64,
    /// When the refusal summary was last logged.
    pub(super) last_refusal_log: Option<Instant>,
}

/// Contact URIs are the same binding when they match ignoring case (RFC 3261 §19.1.4 compares
/// most parts case-insensitively; comparing the whole text so is close and simple).
fn same_contact(a: &Uri, b: &Uri) -> bool {
    a.as_str().eq_ignore_ascii_case(b.as_str())
}

impl Registrar {
    /// An empty table.
    pub fn new(cfg: RegistrarConfig) -> Registrar {
        Registrar {
            cfg,
            aors: HashMap::new(),
            next_expiry: None,
            refusals: 0,
            last_refusal_log: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &RegistrarConfig {
        &self.cfg
    }

    /// Applies one REGISTER for `aor` received from `source` at `now` (a [`Peer`] when there
    /// is no Via evidence of NAT): `contacts` with the request's `Expires` header value. All-or-nothing: a refused request changes nothing.
    /// Returns the AOR's live bindings after the change. An empty `contacts` only queries.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        now: Instant,
        aor: &Aor,
        source: impl Into<RegisterSource>,
        call_id: &str,
        cseq: u32,
        contacts: &[ContactUpdate],
        header_expires: Option<u32>,
    ) -> Result<Vec<Binding>, RegisterError> {
        let source = source.into();
        // Check everything first (§10.3 steps 6 and 7).
        let star = contacts.iter().any(|c| matches!(c, ContactUpdate::All));
        if star && (contacts.len() != 1 || header_expires != Some(0)) {
            return Err(RegisterError::InvalidStar);
        }
        let asked = |expires: Option<u32>| {
            expires
                .or(header_expires)
                .unwrap_or(self.cfg.default_expires)
        };
        for c in contacts {
            if let ContactUpdate::One { expires, .. } = c {
                let e = asked(*expires);
                if e > 0 && e < self.cfg.min_expires {
                    return Err(RegisterError::IntervalTooBrief {
                        min_expires: self.cfg.min_expires,
                    });
                }
            }
        }
        let existing = self.aors.get(aor).map(Vec::as_slice).unwrap_or_default();
        for b in existing {
            let touched = star
                || contacts.iter().any(|c| match c {
                    ContactUpdate::One { uri, .. } => same_contact(uri, &b.contact),
                    ContactUpdate::All => false,
                });
            if touched && b.expires_at > now && b.call_id == call_id && cseq <= b.cseq {
                return Err(RegisterError::OutOfOrder);
            }
        }

        let list = self.aors.entry(aor.clone()).or_default();
        list.retain(|b| b.expires_at > now);
        if star {
            list.clear();
        }
        for c in contacts {
            let ContactUpdate::One { uri, expires } = c else {
                continue;
            };
            let granted = asked(*expires).min(self.cfg.max_expires);
            list.retain(|b| !same_contact(&b.contact, uri));
            if granted == 0 {
                continue;
            }
            if list.len() >= self.cfg.max_contacts.max(1) {
                if let Some(first) = list
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, b)| b.expires_at)
                    .map(|(i, _)| i)
                {
                    list.remove(first);
                }
            }
            list.push(Binding {
                contact: uri.clone(),
                source: source.peer,
                via_differs: source.via_differs,
                expires_at: now
                    .checked_add(Duration::from_secs(u64::from(granted)))
                    .unwrap_or(now),
                call_id: call_id.to_owned(),
                cseq,
            });
        }
        let out = list.clone();
        if list.is_empty() {
            self.aors.remove(aor);
        }
        // Keep `next_expiry` a lower bound without scanning every binding: a removed or
        // refreshed binding may leave it early, which costs one idle wake-up in `expire`.
        let earliest_new = out.iter().map(|b| b.expires_at).min();
        self.next_expiry = if self.aors.is_empty() {
            None
        } else {
            match (self.next_expiry, earliest_new) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        Ok(out)
    }

    fn recompute_next(&mut self) {
        self.next_expiry = self.aors.values().flatten().map(|b| b.expires_at).min();
    }

    /// The live bindings of `aor` at `now`, in registration order.
    pub fn bindings(&self, aor: &Aor, now: Instant) -> Vec<&Binding> {
        self.aors
            .get(aor)
            .into_iter()
            .flatten()
            .filter(|b| b.expires_at > now)
            .collect()
    }

    /// The live bindings of the device registering as `username` in `realm`.
    pub fn lookup(&self, realm: &str, username: &str, now: Instant) -> Vec<&Binding> {
        self.bindings(&Aor::new(realm, username), now)
    }

    /// After the credentials changed: drops the bindings of every AOR for which `keep` is
    /// false (deleted, renamed, moved to another realm or disabled users). Returns how many.
    pub fn retain_known(&mut self, keep: impl Fn(&Aor) -> bool) -> usize {
        let mut removed = 0;
        self.aors.retain(|aor, list| {
            let kept = keep(aor);
            if !kept {
                removed += list.len();
            }
            kept
        });
        if self.aors.is_empty() {
            self.next_expiry = None;
        }
        removed
    }

    /// When to call [`Registrar::expire`] next (for the driver's timer). Never after the next
    /// expiry; may be earlier after refreshes or removals (that wake-up then expires nothing
    /// and computes the exact next time).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_expiry
    }

    /// Removes the bindings expired at `now`; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        if self.next_expiry.is_none_or(|t| t > now) {
            return 0;
        }
        let mut removed = 0;
        self.aors.retain(|_, list| {
            let before = list.len();
            list.retain(|b| b.expires_at > now);
            removed += before - list.len();
            !list.is_empty()
        });
        self.recompute_next();
        removed
    }

    /// Number of bindings held (expired ones not yet removed included).
    pub fn len(&self) -> usize {
        self.aors.values().map(Vec::len).sum()
    }

    /// Whether no binding is held.
    pub fn is_empty(&self) -> bool {
        self.aors.is_empty()
    }

    /// Every AOR with bindings (for a status page).
    pub fn aors(&self) -> impl Iterator<Item = &Aor> + '_ {
        self.aors.keys()
    }
}
