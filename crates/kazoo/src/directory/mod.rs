//! The documents the signalling needs, in KAZOO's JSON shapes: accounts, users, devices (phones
//! that register), callflows (dialled number → what to do) and resources (carriers).
//!
//! [`Directory::build`] reads a set of documents (each with `_id` and `pvt_type`), checks them
//! and indexes them; every refusal names the document and the key
//! (`device device-1001 (devices/1001.json): sip.password is missing`). A directory is
//! immutable: a reload builds a new one and swaps it in. With a single account, documents may
//! omit `account_id`.
//!
//! Our extensions to KAZOO's shapes: `digest_algorithms` on accounts and devices (default
//! `["md5"]`), `origination_cidrs` on resources (default: the gateways' IP addresses), `sip.nat`
//! on devices (`auto`, `always`, `never`: how requests reach the device; default the config's `[sip] nat`).
//!
//! A gateway's `server` is an IP address or a host name; host names are resolved by the
//! binary, not here (see [`HostQuery`]).

mod build;
mod cidr;
mod credentials;
mod documents;
mod error;
mod fields;
mod hosts;

use std::collections::HashMap;
use std::net::IpAddr;

pub use cidr::{Cidr, CidrParseError};
pub use documents::{
    Account, CallForward, CallForwardDoc, CallerId, CallerIds, Callflow, Device, Flow, Gateway,
    Module, Resource, SipCredentials, User,
};
pub use error::{DirectoryError, DocName};
pub use hosts::{is_host_name, HostQuery, ResolvedHosts};

/// Checked, indexed documents. Cheap lookups; build a new one to change anything.
#[derive(Debug, Default, Clone)]
pub struct Directory {
    accounts: Vec<Account>,
    account_index: HashMap<String, usize>,
    users: Vec<User>,
    user_index: HashMap<String, usize>,
    devices: Vec<Device>,
    device_index: HashMap<String, usize>,
    /// (realm lowercase, username) → device.
    sip_index: HashMap<(String, String), usize>,
    /// Source address → the enabled device authenticated by it (`sip.method: ip`).
    ip_index: HashMap<IpAddr, usize>,
    /// user id → its devices, in load order.
    user_devices: HashMap<String, Vec<usize>>,
    callflows: Vec<Callflow>,
    /// normalised number (or `no_match`) → callflows claiming it (one per account at most).
    number_index: HashMap<String, Vec<usize>>,
    /// Callflows with patterns, in load order.
    pattern_callflows: Vec<usize>,
    /// Sorted by `weight_cost`, then load order.
    resources: Vec<Resource>,
}

impl Directory {
    /// All accounts, in load order.
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// The account with `_id` `id`.
    pub fn account(&self, id: &str) -> Option<&Account> {
        self.account_index
            .get(id)
            .and_then(|i| self.accounts.get(*i))
    }

    /// The account whose realm is `realm` (case-insensitive).
    pub fn account_by_realm(&self, realm: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.realm.eq_ignore_ascii_case(realm))
    }

    /// The only account, when there is exactly one.
    pub fn single_account(&self) -> Option<&Account> {
        match self.accounts.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// The user with `_id` `id`.
    pub fn user(&self, id: &str) -> Option<&User> {
        self.user_index.get(id).and_then(|i| self.users.get(*i))
    }

    /// All users, in load order.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// The device with `_id` `id`.
    pub fn device(&self, id: &str) -> Option<&Device> {
        self.device_index.get(id).and_then(|i| self.devices.get(*i))
    }

    /// All devices, in load order.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// The device registering as `username` in `realm` (realm case-insensitive, username
    /// exact), enabled or not.
    pub fn device_by_sip(&self, realm: &str, username: &str) -> Option<&Device> {
        self.sip_index
            .get(&(realm.to_ascii_lowercase(), username.to_owned()))
            .and_then(|i| self.devices.get(*i))
    }

    /// The devices whose `owner_id` is `user_id`, in load order (enabled or not).
    pub fn devices_of_user(&self, user_id: &str) -> impl Iterator<Item = &Device> + '_ {
        self.user_devices
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|i| self.devices.get(*i))
    }

    /// All callflows, in load order.
    pub fn callflows(&self) -> &[Callflow] {
        &self.callflows
    }

    /// The callflow with `_id` `id`.
    pub fn callflow(&self, id: &str) -> Option<&Callflow> {
        self.callflows.iter().find(|c| c.id == id)
    }

    /// The callflows whose `numbers` contain `number` (already normalised, or `no_match`):
    /// at most one per account, in load order.
    pub fn callflows_with_number<'a>(
        &'a self,
        number: &str,
    ) -> impl Iterator<Item = &'a Callflow> + 'a {
        self.number_index
            .get(number)
            .into_iter()
            .flatten()
            .filter_map(|i| self.callflows.get(*i))
    }

    /// The callflows that have `patterns`, in load order.
    pub fn callflows_with_patterns(&self) -> impl Iterator<Item = &Callflow> + '_ {
        self.pattern_callflows
            .iter()
            .filter_map(|i| self.callflows.get(*i))
    }

    /// Whether the account `id` is enabled (`None`, no account: true; an unknown id: false).
    pub fn account_enabled(&self, id: Option<&str>) -> bool {
        match id {
            None => true,
            Some(id) => self.account(id).is_some_and(|a| a.enabled),
        }
    }

    /// Whether a device may register, call and be called: it, its owner and its account are
    /// all enabled.
    pub fn device_active(&self, d: &Device) -> bool {
        d.enabled
            && self.account_enabled(d.account_id.as_deref())
            && d.owner_id
                .as_deref()
                .is_none_or(|o| self.user(o).is_some_and(|u| u.enabled))
    }

    /// Whether a user's devices may be called: it and its account are enabled.
    pub fn user_active(&self, u: &User) -> bool {
        u.enabled && self.account_enabled(u.account_id.as_deref())
    }

    /// The active device authenticated by source address `ip` (`sip.method: ip`).
    pub fn device_by_ip(&self, ip: IpAddr) -> Option<&Device> {
        self.ip_index
            .get(&ip)
            .and_then(|i| self.devices.get(*i))
            .filter(|d| self.device_active(d))
    }

    /// The call forwarding in effect for a device: its `call_forward` keys over its owner's
    /// (device overrides user), KAZOO's defaults for the rest.
    pub fn call_forward(&self, d: &Device) -> Option<CallForward> {
        let user = d
            .owner_id
            .as_deref()
            .and_then(|o| self.user(o))
            .map(|u| u.call_forward.clone())
            .unwrap_or_default();
        d.call_forward.over(&user).effective()
    }

    /// All resources, lowest `weight_cost` first, ties in load order (enabled or not).
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// The enabled carrier whose origination addresses contain `ip` (the source address of a
    /// request), first in resource order. A request from here is an offnet origination.
    pub fn carrier_by_addr(&self, ip: IpAddr) -> Option<&Resource> {
        self.resources
            .iter()
            .filter(|r| r.enabled && self.account_enabled(r.account_id.as_deref()))
            .find(|r| r.origination.iter().any(|c| c.contains(ip)))
    }
}
