//! The documents as callrec uses them, in KAZOO's shapes. They are read from JSON by
//! [`Directory::build`](super::Directory::build), which checks them; fields that other crates
//! interpret (`call_recording`, `record_call`, callflow `data`) stay raw JSON.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

use super::cidr::Cidr;
use callrec_sip::auth::Algorithm;
use callrec_sip::registrar::NatPolicy;
use callrec_sip::transaction::Transport;

/// An account: `{_id, name, realm, call_recording?}`. `digest_algorithms` (ours) sets the
/// default for its devices.
#[derive(Debug, Clone)]
pub struct Account {
    /// `_id`.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `realm`: the SIP domain its devices register in (kept lowercase).
    pub realm: String,
    /// `call_recording`, raw.
    pub call_recording: Option<Value>,
    /// The account's `endpoint` defaults (KAZOO `endpoint.call_recording`...), raw.
    pub endpoint: Option<Value>,
    /// `digest_algorithms` (ours); None = MD5 only.
    pub digest_algorithms: Option<Vec<Algorithm>>,
    /// `enabled` (default true; KAZOO's `pvt_enabled: false` also disables). A disabled
    /// account's devices neither register, call nor are called, its callflows match nothing
    /// and its own resources take no calls.
    pub enabled: bool,
    /// The whole document as loaded, for the policy crate.
    pub raw: Value,
    /// Where it came from.
    pub source: String,
}

/// A caller id pair `{name, number}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerId {
    /// `name`.
    pub name: Option<String>,
    /// `number`.
    pub number: Option<String>,
}

/// `caller_id: {internal, external}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerIds {
    /// Shown to onnet callees.
    pub internal: Option<CallerId>,
    /// Shown to offnet callees.
    pub external: Option<CallerId>,
}

/// A user: `{_id, account_id?, first_name, last_name, caller_id?, call_recording?, record_call?}`.
#[derive(Debug, Clone)]
pub struct User {
    /// `_id`.
    pub id: String,
    /// The account (given, or the only one).
    pub account_id: Option<String>,
    /// `first_name`.
    pub first_name: String,
    /// `last_name`.
    pub last_name: String,
    /// `caller_id`.
    pub caller_id: CallerIds,
    /// `call_recording`, raw.
    pub call_recording: Option<Value>,
    /// `record_call` (legacy flag), raw.
    pub record_call: Option<Value>,
    /// `call_forward` as written (checked; its devices' own keys win over these).
    pub call_forward: CallForwardDoc,
    /// `enabled` (default true). A disabled user's devices neither call nor are called.
    pub enabled: bool,
    /// The whole document as loaded.
    pub raw: Value,
    /// Where it came from.
    pub source: String,
}

/// A device's SIP credentials `sip: {username, password, realm?}`.
#[derive(Clone)]
pub struct SipCredentials {
    /// `sip.username`.
    pub username: String,
    /// `sip.password`. Never logged (Debug prints `***`).
    pub password: String,
    /// The realm it registers in: `sip.realm`, else the account's realm (lowercase).
    pub realm: String,
}

impl std::fmt::Debug for SipCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipCredentials")
            .field("username", &self.username)
            .field("password", &"***")
            .field("realm", &self.realm)
            .finish()
    }
}

/// A device (phone): `{_id, owner_id?, name, sip, caller_id?, call_recording?, record_call?,
/// enabled?, digest_algorithms?}`. Its Debug output leaves out the password and `raw`.
#[derive(Clone)]
pub struct Device {
    /// `_id`.
    pub id: String,
    /// The account (given, or the only one).
    pub account_id: Option<String>,
    /// `owner_id`: the user it belongs to (checked to exist).
    pub owner_id: Option<String>,
    /// `name`.
    pub name: String,
    /// `sip`.
    pub sip: SipCredentials,
    /// `sip.nat` (`auto`, `always`, `never`): how requests reach it; `None` follows the
    /// configured default.
    pub nat: Option<NatPolicy>,
    /// `caller_id`.
    pub caller_id: CallerIds,
    /// `call_recording`, raw.
    pub call_recording: Option<Value>,
    /// `record_call` (legacy flag), raw.
    pub record_call: Option<Value>,
    /// `enabled` (default true). A disabled device cannot register, call or be called.
    pub enabled: bool,
    /// `call_forward` as written on the device (its keys win over its owner's).
    pub call_forward: CallForwardDoc,
    /// `sip.method: "ip"`: the device is known by its source address `sip.ip` (and calls to
    /// it go to `sip.ip`:`sip.port`, port default 5060), not by digest credentials.
    pub ip_auth: Option<std::net::SocketAddr>,
    /// The algorithms offered in its challenges: its own `digest_algorithms`, else its
    /// account's, else `[MD5]`. Never empty.
    pub digest_algorithms: Vec<Algorithm>,
    /// The whole document as loaded (it holds `sip.password`: never log it).
    pub raw: Value,
    /// Where it came from.
    pub source: String,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("owner_id", &self.owner_id)
            .field("name", &self.name)
            .field("sip", &self.sip)
            .field("nat", &self.nat)
            .field("caller_id", &self.caller_id)
            .field("call_recording", &self.call_recording)
            .field("record_call", &self.record_call)
            .field("enabled", &self.enabled)
            .field("call_forward", &self.call_forward)
            .field("ip_auth", &self.ip_auth)
            .field("digest_algorithms", &self.digest_algorithms)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// A callflow module we execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Module {
    /// `device`: ring one device (`data.id`).
    Device,
    /// `user`: ring all devices of a user (`data.id`) at once.
    User,
    /// `resources` (or KAZOO's older `offnet`): send to carriers, gateways in order.
    Resources,
    /// `record_call`: start (or stop) recording, then continue with child `_`.
    RecordCall,
    /// `record_caller`: answer and record the caller only.
    RecordCaller,
    /// `ring_group`: ring `data.endpoints` (`[{id, endpoint_type: device|user}]`) at once.
    /// Calls reaching a device this way are not direct calls (`direct_calls_only`).
    RingGroup,
}

impl Module {
    /// Parses a module name.
    pub fn from_name(name: &str) -> Option<Module> {
        Some(match name {
            "device" => Module::Device,
            "user" => Module::User,
            "resources" | "offnet" => Module::Resources,
            "record_call" => Module::RecordCall,
            "record_caller" => Module::RecordCaller,
            "ring_group" => Module::RingGroup,
            _ => return None,
        })
    }
}

/// A node of a callflow tree: `{module, data, children: {"_": ...}}`.
#[derive(Debug, Clone)]
pub struct Flow {
    /// `module`.
    pub module: Module,
    /// `data`, raw (`{}` when absent).
    pub data: Value,
    /// `children` by key (`_` is the default branch).
    pub children: BTreeMap<String, Flow>,
}

/// A callflow: `{_id, numbers[], patterns[], flow}`.
#[derive(Debug, Clone)]
pub struct Callflow {
    /// `_id`.
    pub id: String,
    /// The account (given, or the only one).
    pub account_id: Option<String>,
    /// `numbers`, normalised by [`crate::routing::normalize_number`] (`no_match` kept as is).
    pub numbers: Vec<String>,
    /// `patterns`, compiled, in order.
    pub patterns: Vec<Regex>,
    /// `flow`.
    pub flow: Flow,
    /// Where it came from.
    pub source: String,
}

/// One gateway of a resource: `{server, port?, transport?, enabled?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    /// `server`: host name or IP address to send to.
    pub server: String,
    /// `port` (default 5060).
    pub port: u16,
    /// Whether the document gives `port`: a host name without one is looked up by SRV first
    /// (RFC 3263).
    pub port_given: bool,
    /// `transport`: `udp` (default) or `tcp`.
    pub transport: Transport,
    /// `enabled` (default true).
    pub enabled: bool,
}

impl Gateway {
    /// The name to resolve when `server` is a host name (None for an IP address).
    pub fn host_query(&self) -> Option<super::HostQuery> {
        super::HostQuery::for_server(
            &self.server,
            self.port_given.then_some(self.port),
            self.transport,
        )
    }
}

/// A carrier: `{_id, name, gateways[], origination_cidrs?, account_id?, enabled?,
/// weight_cost?, rules?}`.
#[derive(Debug, Clone)]
pub struct Resource {
    /// `_id`.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `account_id`, if the resource belongs to one account (else global).
    pub account_id: Option<String>,
    /// `gateways`, in order (failover order).
    pub gateways: Vec<Gateway>,
    /// Source addresses trusted as this carrier's originations: `origination_cidrs` (ours),
    /// default the gateways' servers that are IP addresses (host names are not trusted as
    /// origination: give their addresses in `origination_cidrs`).
    pub origination: Vec<Cidr>,
    /// `enabled` (default true). A disabled resource neither takes nor originates calls.
    pub enabled: bool,
    /// `weight_cost` (default 50): resources are tried lowest first, ties in load order.
    pub weight_cost: i64,
    /// `rules` (KAZOO): regexes on the normalised number; when any are given the resource
    /// takes only numbers matching one of them.
    pub rules: Vec<Regex>,
    /// Where it came from.
    pub source: String,
}

/// `call_forward` keys as one document wrote them (None = not written there). KAZOO:
/// `{enabled, number, keep_caller_id, substitute, direct_calls_only, failover,
/// require_keypress, ignore_early_media}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallForwardDoc {
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `number` (normalised).
    pub number: Option<String>,
    /// `keep_caller_id`.
    pub keep_caller_id: Option<bool>,
    /// `substitute`.
    pub substitute: Option<bool>,
    /// `direct_calls_only`.
    pub direct_calls_only: Option<bool>,
    /// `failover`.
    pub failover: Option<bool>,
    /// `require_keypress`.
    pub require_keypress: Option<bool>,
}

impl CallForwardDoc {
    /// `self`'s keys over `base`'s (a device over its owner).
    pub fn over(&self, base: &CallForwardDoc) -> CallForwardDoc {
        CallForwardDoc {
            enabled: self.enabled.or(base.enabled),
            number: self.number.clone().or_else(|| base.number.clone()),
            keep_caller_id: self.keep_caller_id.or(base.keep_caller_id),
            substitute: self.substitute.or(base.substitute),
            direct_calls_only: self.direct_calls_only.or(base.direct_calls_only),
            failover: self.failover.or(base.failover),
            require_keypress: self.require_keypress.or(base.require_keypress),
        }
    }

    /// The forwarding in effect, with KAZOO's defaults (`keep_caller_id` true, `substitute`
    /// true, `direct_calls_only` false, `failover` false): None unless `enabled` is true and
    /// a `number` is given.
    pub fn effective(&self) -> Option<CallForward> {
        if self.enabled != Some(true) {
            return None;
        }
        let number = self.number.clone().filter(|n| !n.is_empty())?;
        Some(CallForward {
            number,
            keep_caller_id: self.keep_caller_id.unwrap_or(true),
            substitute: self.substitute.unwrap_or(true),
            direct_calls_only: self.direct_calls_only.unwrap_or(false),
            failover: self.failover.unwrap_or(false),
        })
    }
}

/// Call forwarding in effect for one device (see [`CallForwardDoc::effective`]).
/// `require_keypress` is not implemented: forwarded calls connect without asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallForward {
    /// The number to forward to (normalised); it is routed to the carriers.
    pub number: String,
    /// Present the original caller's id on the forwarded leg (else the device's external id).
    pub keep_caller_id: bool,
    /// Forward instead of ringing the device (else ring both at once).
    pub substitute: bool,
    /// Forward only calls that named this device or its owner in the callflow (not calls
    /// reaching it through a ring group).
    pub direct_calls_only: bool,
    /// Forward only when the device is not registered or does not answer.
    pub failover: bool,
}
