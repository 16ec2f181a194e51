//! Callflow matching and walking the matched flow into a [`Route`].

use super::{normalize_number, RecordData};
use crate::directory::{CallForward, Callflow, Device, Directory, Flow, Module, User};
use callrec_sip::transaction::Transport;

/// Where the call comes from, for choosing callflows and the no-match rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallSource<'a> {
    /// An authenticated device of `account_id` (None: documents without accounts).
    Onnet {
        /// The caller's account.
        account_id: Option<&'a str>,
    },
    /// A configured carrier. `account_id` is the resource's account, None for a global
    /// resource (then every account's callflows are searched).
    Offnet {
        /// The resource's account.
        account_id: Option<&'a str>,
    },
}

impl CallSource<'_> {
    fn account_id(&self) -> Option<&str> {
        match *self {
            CallSource::Onnet { account_id } | CallSource::Offnet { account_id } => account_id,
        }
    }
}

/// Routing settings (from config).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoutingPolicy {
    /// Let calls from a carrier be routed to the carriers again (PSTN → PSTN transit).
    /// Default false: such calls get [`Target::RelayRefused`].
    pub allow_offnet_to_offnet: bool,
}

/// How a callflow matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// The number is in `numbers`.
    Number,
    /// `patterns[index]` matched.
    Pattern(usize),
    /// The `no_match` callflow (onnet callers only).
    NoMatch,
}

/// A matched callflow.
#[derive(Debug, Clone, Copy)]
pub struct Match<'d> {
    /// The callflow.
    pub callflow: &'d Callflow,
    /// How it matched.
    pub kind: MatchKind,
}

/// A device to ring: its id and the address-of-record its bindings are under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRef {
    /// The device's `_id`.
    pub device_id: String,
    /// Its realm (lowercase).
    pub realm: String,
    /// Its SIP username.
    pub username: String,
    /// Its call forwarding for this call (None: none, or `direct_calls_only` and this call
    /// reached it through a ring group).
    pub forward: Option<CallForward>,
}

/// A carrier gateway to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRef {
    /// The resource's `_id`.
    pub resource_id: String,
    /// Host name or IP address.
    pub server: String,
    /// Port.
    pub port: u16,
    /// Whether the document gives the port (a host name without one is looked up by SRV).
    pub port_given: bool,
    /// UDP or TCP.
    pub transport: Transport,
}

impl GatewayRef {
    /// The name to resolve when `server` is a host name (None for an IP address).
    pub fn host_query(&self) -> Option<crate::directory::HostQuery> {
        crate::directory::HostQuery::for_server(
            &self.server,
            self.port_given.then_some(self.port),
            self.transport,
        )
    }
}

/// What the B2BUA does before reaching the target.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteAction {
    /// A `record_call` node: its `data`, as written.
    RecordCall(RecordData),
}

/// Where the call goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Ring these devices at once (their live registrations). `device` module: one device;
    /// `user` module: the user's enabled devices. Disabled devices are left out, so the list
    /// may be empty (the B2BUA answers 480).
    Devices {
        /// The devices.
        devices: Vec<DeviceRef>,
        /// The user called (`user` module) or the device's owner (`device` module).
        owner_user: Option<String>,
        /// The node's `data.timeout` (seconds to ring before giving up), if given.
        ring_timeout: Option<u64>,
    },
    /// Try these gateways in order (failover): enabled gateways of the enabled resources that
    /// serve the caller's account and whose `rules` (if any) match the number, lowest
    /// `weight_cost` first. May be empty (503).
    Carriers(Vec<GatewayRef>),
    /// Answer and record the caller only; the node's `data`.
    RecordCaller(RecordData),
    /// Nothing to call (404).
    NotFound,
    /// A carrier's call would go to a carrier again (403): no open relay.
    RelayRefused,
}

/// The outcome of routing one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The callflow used (None when none matched).
    pub callflow_id: Option<String>,
    /// The account of the call: the matched callflow's, else the caller's.
    pub account_id: Option<String>,
    /// The normalised number that was routed.
    pub number: String,
    /// Actions met before the target, in order.
    pub actions: Vec<RouteAction>,
    /// The target.
    pub target: Target,
}

/// Finds the callflow for `dialled` (normalised here): numbers, then patterns, then
/// `no_match` for onnet callers. Only the origin's account's callflows are searched (all when
/// the origin has no account).
pub fn match_callflow<'d>(
    dir: &'d Directory,
    origin: CallSource<'_>,
    dialled: &str,
) -> Option<Match<'d>> {
    let number = normalize_number(dialled);
    let account = origin.account_id();
    let ours = move |c: &&Callflow| {
        dir.account_enabled(c.account_id.as_deref())
            && match (account, c.account_id.as_deref()) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    };
    if !number.is_empty() && number != "no_match" {
        let mut claimed = dir.callflows_with_number(&number).filter(ours);
        if let Some(c) = claimed.next() {
            // Through a global resource, a number several accounts claim (an extension)
            // belongs to none of them: never cross accounts by load order.
            if claimed.next().is_some() {
                return None;
            }
            return Some(Match {
                callflow: c,
                kind: MatchKind::Number,
            });
        }
        for c in dir.callflows_with_patterns().filter(ours) {
            if let Some(i) = c.patterns.iter().position(|p| p.is_match(&number)) {
                return Some(Match {
                    callflow: c,
                    kind: MatchKind::Pattern(i),
                });
            }
        }
    }
    if matches!(origin, CallSource::Onnet { .. }) {
        if let Some(c) = dir.callflows_with_number("no_match").find(ours) {
            return Some(Match {
                callflow: c,
                kind: MatchKind::NoMatch,
            });
        }
    }
    None
}

/// Routes a call to `dialled` (see the module documentation for the rules).
pub fn route(
    dir: &Directory,
    origin: CallSource<'_>,
    dialled: &str,
    policy: &RoutingPolicy,
) -> Route {
    let number = normalize_number(dialled);
    let mut out = Route {
        callflow_id: None,
        account_id: origin.account_id().map(str::to_owned),
        number,
        actions: Vec::new(),
        target: Target::NotFound,
    };
    match match_callflow(dir, origin, dialled) {
        Some(m) => {
            out.callflow_id = Some(m.callflow.id.clone());
            if m.callflow.account_id.is_some() {
                out.account_id = m.callflow.account_id.clone();
            }
            let account = out.account_id.clone();
            let mut node: Option<&Flow> = Some(&m.callflow.flow);
            // The tree is finite (checked depth), so this ends.
            while let Some(flow) = node {
                node = None;
                out.target = match flow.module {
                    Module::RecordCall => {
                        out.actions.push(RouteAction::RecordCall(flow.data.clone()));
                        node = flow.children.get("_");
                        Target::NotFound
                    }
                    Module::RecordCaller => Target::RecordCaller(flow.data.clone()),
                    Module::Device => device_target(dir, &flow.data),
                    Module::User => user_target(dir, &flow.data),
                    Module::RingGroup => ring_group_target(dir, &flow.data),
                    Module::Resources => carriers(dir, account.as_deref(), &out.number),
                };
            }
        }
        None => {
            if matches!(origin, CallSource::Onnet { .. })
                && dir.resources().iter().any(|r| r.enabled)
            {
                out.target = carriers(dir, origin.account_id(), &out.number);
            }
        }
    }
    if matches!(origin, CallSource::Offnet { .. })
        && matches!(out.target, Target::Carriers(_))
        && !policy.allow_offnet_to_offnet
    {
        out.target = Target::RelayRefused;
    }
    out
}

fn data_id(data: &RecordData) -> Option<&str> {
    data.get("id").and_then(|v| v.as_str())
}

fn ring_timeout(data: &RecordData) -> Option<u64> {
    data.get("timeout")
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()))
        .filter(|t| *t > 0)
}

/// A device to ring, if it is active; `direct` says the callflow named it or its owner.
fn device_ref(dir: &Directory, d: &Device, direct: bool) -> Option<DeviceRef> {
    dir.device_active(d).then(|| DeviceRef {
        device_id: d.id.clone(),
        realm: d.sip.realm.clone(),
        username: d.sip.username.clone(),
        forward: dir
            .call_forward(d)
            .filter(|f| direct || !f.direct_calls_only),
    })
}

fn user_devices(dir: &Directory, user: &User, direct: bool) -> Vec<DeviceRef> {
    if !dir.user_active(user) {
        return Vec::new();
    }
    dir.devices_of_user(&user.id)
        .filter_map(|d| device_ref(dir, d, direct))
        .collect()
}

fn device_target(dir: &Directory, data: &RecordData) -> Target {
    let Some(device) = data_id(data).and_then(|id| dir.device(id)) else {
        return Target::NotFound;
    };
    Target::Devices {
        devices: device_ref(dir, device, true).into_iter().collect(),
        owner_user: device.owner_id.clone(),
        ring_timeout: ring_timeout(data),
    }
}

fn user_target(dir: &Directory, data: &RecordData) -> Target {
    let Some(user) = data_id(data).and_then(|id| dir.user(id)) else {
        return Target::NotFound;
    };
    Target::Devices {
        devices: user_devices(dir, user, true),
        owner_user: Some(user.id.clone()),
        ring_timeout: ring_timeout(data),
    }
}

fn ring_group_target(dir: &Directory, data: &RecordData) -> Target {
    let mut devices: Vec<DeviceRef> = Vec::new();
    let endpoints = data
        .get("endpoints")
        .and_then(|e| e.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    for e in endpoints {
        let Some(id) = data_id(e) else { continue };
        let found = match e.get("endpoint_type").and_then(|t| t.as_str()) {
            Some("user") => dir
                .user(id)
                .map(|u| user_devices(dir, u, false))
                .unwrap_or_default(),
            _ => dir
                .device(id)
                .and_then(|d| device_ref(dir, d, false))
                .into_iter()
                .collect(),
        };
        for d in found {
            if !devices.iter().any(|x| x.device_id == d.device_id) {
                devices.push(d);
            }
        }
    }
    Target::Devices {
        devices,
        owner_user: None,
        ring_timeout: ring_timeout(data),
    }
}

fn carriers(dir: &Directory, account_id: Option<&str>, number: &str) -> Target {
    Target::Carriers(carriers_for(dir, account_id, number))
}

/// The gateways that take `number` (normalised) for `account_id`, in fail-over order: the
/// enabled gateways of the enabled resources that are global or that account's own (an
/// account's resources serve only it; a disabled account's serve nobody), whose `rules` (if
/// any) match the number, lowest `weight_cost` first.
pub fn carriers_for(dir: &Directory, account_id: Option<&str>, number: &str) -> Vec<GatewayRef> {
    dir.resources()
        .iter()
        .filter(|r| r.enabled && dir.account_enabled(r.account_id.as_deref()))
        .filter(|r| r.rules.is_empty() || r.rules.iter().any(|re| re.is_match(number)))
        .filter(|r| match (r.account_id.as_deref(), account_id) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        })
        .flat_map(|r| {
            r.gateways.iter().filter(|g| g.enabled).map(|g| GatewayRef {
                resource_id: r.id.clone(),
                server: g.server.clone(),
                port: g.port,
                port_given: g.port_given,
                transport: g.transport,
            })
        })
        .collect()
}
