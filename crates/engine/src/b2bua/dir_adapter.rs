//! The core's calls into the directory, digest authentication, the registrar and routing:
//! who sent an INVITE (carrier by source address, device by digest — anyone else is
//! challenged or refused), what the dialled number routes to (as B-leg targets with
//! addresses: a device's registered Contact, sent to the Contact's address unless NAT is
//! detected or forced (then to the peer it registered from, see `Binding::target`), a gateway
//! as `sip:<number>@<gateway>`), and REGISTER.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tracing::debug;

use callrec_kazoo::directory::{CallForward, CallerId, Device, Directory, ResolvedHosts};
use callrec_kazoo::routing::{
    self, CallSource, GatewayRef, RecordData, RouteAction, RoutingPolicy, Target,
};
use callrec_sip::auth::{
    check_request, forbidden, AuthOutcome, ChallengeKind, DigestAuth, DigestConfig,
};
use callrec_sip::message::{Message, Uri};
use callrec_sip::registrar::{handle_register, NatPolicy, Registrar, RegistrarConfig};
use callrec_sip::transaction::{Peer, Transport};

use super::call::BTarget;
use super::guard::{GuardConfig, SourceGuard, Verdict};
use callrec_kazoo::tags::{Network, ResourceType};

/// How often remembered nonce counters are pruned.
const AUTH_PRUNE_EVERY: Duration = Duration::from_secs(60);

/// State the core keeps for admission: the digest authenticator, the registrar, routing
/// settings.
#[derive(Debug)]
pub(crate) struct Admission {
    digest_cfg: DigestConfig,
    /// Made on first use, with that `now` as its epoch (the core reads no clock).
    auth: Option<DigestAuth>,
    last_prune: Option<Instant>,
    pub(crate) registrar: Registrar,
    pub(crate) routing: RoutingPolicy,
    /// Where requests to devices go when their document does not say.
    nat: NatPolicy,
    /// Rate limit of unknown sources, brute-force blocking.
    pub(crate) guard: SourceGuard,
    /// What the driver resolved the gateways' host names to.
    pub(crate) hosts: ResolvedHosts,
    /// Cluster mode: the edge proxies trusted to say who calls (`X-AUTH-*`). Empty: a single
    /// node that registers and challenges devices itself.
    pub(crate) edge: Vec<SocketAddr>,
}

impl Admission {
    /// Empty state with these settings.
    pub(crate) fn new(
        digest: DigestConfig,
        registrar: RegistrarConfig,
        routing: RoutingPolicy,
        nat: NatPolicy,
        guard: GuardConfig,
    ) -> Admission {
        Admission {
            digest_cfg: digest,
            auth: None,
            last_prune: None,
            registrar: Registrar::new(registrar),
            routing,
            nat,
            guard: SourceGuard::new(guard),
            hosts: ResolvedHosts::default(),
            edge: Vec::new(),
        }
    }

    /// Whether this node runs behind an edge proxy (cluster mode).
    pub(crate) fn behind_edge(&self) -> bool {
        !self.edge.is_empty()
    }

    /// Whether `from` is one of the edge proxies: its address and port over UDP; its address
    /// over TCP (a proxy's outgoing connections come from any port).
    pub(crate) fn is_edge(&self, from: Peer) -> bool {
        self.edge.iter().any(|e| {
            e.ip() == from.addr.ip()
                && (from.transport == Transport::Tcp || e.port() == from.addr.port())
        })
    }

    fn auth(&mut self, now: Instant) -> &mut DigestAuth {
        let cfg = self.digest_cfg;
        self.auth.get_or_insert_with(|| DigestAuth::new(cfg, now))
    }

    /// When bindings next expire.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.registrar.poll_timeout()
    }

    /// Drops expired bindings and, once a minute, old nonce counters.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.registrar.expire(now);
        if self
            .last_prune
            .is_none_or(|t| now.saturating_duration_since(t) >= AUTH_PRUNE_EVERY)
        {
            self.last_prune = Some(now);
            if let Some(a) = self.auth.as_mut() {
                a.expire(now);
            }
        }
    }
}

/// Whether a message from `from` may reach the transaction layer (requests only: the source
/// guard's rate limit and brute-force block; carriers are never held back).
pub(crate) fn admit_source(
    adm: &mut Admission,
    dir: &Directory,
    now: Instant,
    from: Peer,
    msg: &Message,
) -> bool {
    if !msg.is_request() {
        return true;
    }
    let ip = from.addr.ip();
    // The edge carries every phone's calls: never rate-limited.
    let carrier = dir.carrier_by_addr(ip).is_some() || adm.is_edge(from);
    adm.guard.check(now, ip, carrier) == Verdict::Allow
}

/// Who is calling.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// A configured carrier (by source address).
    Carrier {
        resource_id: String,
        account_id: Option<String>,
    },
    /// An authenticated device.
    Device {
        device_id: String,
        account_id: Option<String>,
        owner_id: Option<String>,
        /// Caller id for calls to devices and to carriers.
        internal: CallerId,
        external: CallerId,
    },
}

/// Let in, or answer with this response (challenge, 403).
pub(crate) enum Decision {
    Admit(Caller),
    Reply(Message),
}

/// The routing outcome as the call needs it.
pub(crate) struct Plan {
    pub(crate) records: Vec<RecordData>,
    pub(crate) target: PlanTarget,
    /// The call's account (the matched callflow's, else the caller's).
    pub(crate) account_id: Option<String>,
    /// Failover call forwarding, started when the devices do not answer.
    pub(crate) on_no_answer: Vec<BTarget>,
    /// The callflow node's `timeout`: how long devices ring.
    pub(crate) ring_timeout: Option<Duration>,
}

/// Where the call goes, with addresses resolved.
pub(crate) enum PlanTarget {
    /// Ring all at once; empty: nobody registered (480).
    Devices(Vec<BTarget>),
    /// Gateways in fail-over order; empty: none usable (503).
    Carriers(Vec<BTarget>),
    /// callrec answers and records the caller.
    RecordCaller(RecordData),
    /// Nothing matched (404).
    NotFound,
    /// PSTN to PSTN refused (403).
    Refused,
}

/// REGISTER: digest with 401 challenges, then the registrar's bindings.
pub(crate) fn register(
    adm: &mut Admission,
    dir: &Directory,
    now: Instant,
    from: Peer,
    req: &Message,
) -> Message {
    if adm.behind_edge() {
        // The edge takes every REGISTER; a node behind it keeps no registrations.
        debug!("REGISTER refused behind the edge");
        return forbidden(req);
    }
    let cfg = adm.digest_cfg;
    let Admission {
        auth,
        registrar,
        guard,
        ..
    } = adm;
    let auth = auth.get_or_insert_with(|| DigestAuth::new(cfg, now));
    let resp = handle_register(registrar, dir, auth, now, from, req);
    match resp.status() {
        Some(200) => guard.note_auth_success(now, from.addr.ip()),
        // Wrong credentials, unknown or disabled device, someone else's address.
        Some(403) => {
            guard.note_auth_failure(now, from.addr.ip());
        }
        _ => {}
    }
    resp
}

/// An INVITE outside a dialog: carrier by address, else device by digest (407), else 403.
pub(crate) fn admit(
    adm: &mut Admission,
    dir: &Directory,
    now: Instant,
    from: Peer,
    req: &Message,
) -> Decision {
    if adm.behind_edge() {
        return admit_behind_edge(adm, dir, from, req);
    }
    // Documents may omit account_id when there is a single account (a global carrier, a
    // device of the only account): the call then belongs to that account, so its rules apply.
    let default_account = || dir.single_account().map(|a| a.id.clone());
    if let Some(res) = dir.carrier_by_addr(from.addr.ip()) {
        return Decision::Admit(Caller::Carrier {
            resource_id: res.id.clone(),
            account_id: res.account_id.clone().or_else(default_account),
        });
    }
    // A device known by its address (`sip.method: ip`) is not challenged.
    let by_ip = dir.device_by_ip(from.addr.ip()).map(|d| d.id.clone());
    let outcome = match by_ip {
        Some(id) => AuthOutcome::Authorized {
            id,
            realm: String::new(),
            username: String::new(),
        },
        None => check_request(adm.auth(now), dir, now, req, ChallengeKind::Proxy),
    };
    match outcome {
        AuthOutcome::Authorized { id: device_id, .. } => {
            adm.guard.note_auth_success(now, from.addr.ip());
            let Some(dev) = dir.device(&device_id).filter(|d| dir.device_active(d)) else {
                return Decision::Reply(forbidden(req));
            };
            Decision::Admit(device_caller(dir, dev))
        }
        AuthOutcome::Challenge(resp) => Decision::Reply(*resp),
        AuthOutcome::Forbidden(why) => {
            adm.guard.note_auth_failure(now, from.addr.ip());
            debug!(?why, "INVITE refused");
            Decision::Reply(forbidden(req))
        }
    }
}

/// The caller a device is (its account: the document's, else the only account's; caller ids:
/// the device's over its owner's).
fn device_caller(dir: &Directory, dev: &Device) -> Caller {
    let owner = dev.owner_id.as_deref().and_then(|o| dir.user(o));
    let pick = |d: &Option<CallerId>, u: Option<&Option<CallerId>>| CallerId {
        name: d
            .as_ref()
            .and_then(|c| c.name.clone())
            .or_else(|| u.and_then(|u| u.as_ref()).and_then(|c| c.name.clone())),
        number: d
            .as_ref()
            .and_then(|c| c.number.clone())
            .or_else(|| u.and_then(|u| u.as_ref()).and_then(|c| c.number.clone())),
    };
    Caller::Device {
        device_id: dev.id.clone(),
        account_id: dev
            .account_id
            .clone()
            .or_else(|| dir.single_account().map(|a| a.id.clone())),
        owner_id: dev.owner_id.clone(),
        internal: pick(
            &dev.caller_id.internal,
            owner.map(|u| &u.caller_id.internal),
        ),
        external: pick(
            &dev.caller_id.external,
            owner.map(|u| &u.caller_id.external),
        ),
    }
}

/// The edge's identity headers (KAZOO's `X-AUTH-*` style): set by the edge proxy, trusted
/// only on requests from an edge address.
const X_AUTH_DEVICE: &str = "X-AUTH-Device-ID";
const X_AUTH_ACCOUNT: &str = "X-AUTH-Account-ID";
const X_AUTH_IP: &str = "X-AUTH-IP";

/// Admission behind an edge proxy (cluster mode): nobody is challenged. From an edge address,
/// `X-AUTH-Device-ID` (with `X-AUTH-Account-ID`, which must be the device's account) names
/// the calling device; `X-AUTH-IP` alone names the source the edge saw, recognised as a
/// carrier (or a device known by its address) as a direct source would be; neither is
/// refused. From anyone else `X-AUTH-*` is ignored: only carriers by source address get in.
fn admit_behind_edge(adm: &Admission, dir: &Directory, from: Peer, req: &Message) -> Decision {
    let default_account = || dir.single_account().map(|a| a.id.clone());
    let carrier = |ip: IpAddr| {
        dir.carrier_by_addr(ip).map(|res| Caller::Carrier {
            resource_id: res.id.clone(),
            account_id: res.account_id.clone().or_else(default_account),
        })
    };
    if !adm.is_edge(from) {
        return match carrier(from.addr.ip()) {
            Some(c) => Decision::Admit(c),
            None => {
                debug!("INVITE from a source that is neither the edge nor a carrier refused");
                Decision::Reply(forbidden(req))
            }
        };
    }
    let value = |name: &str| {
        req.header(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if let Some(device_id) = value(X_AUTH_DEVICE) {
        let Some(dev) = dir.device(&device_id).filter(|d| dir.device_active(d)) else {
            debug!("edge named an unknown or disabled device: refused");
            return Decision::Reply(forbidden(req));
        };
        let caller = device_caller(dir, dev);
        if let (Some(claimed), Caller::Device { account_id, .. }) = (value(X_AUTH_ACCOUNT), &caller)
        {
            if account_id.as_deref() != Some(claimed.as_str()) {
                debug!("edge named a device of another account: refused");
                return Decision::Reply(forbidden(req));
            }
        }
        return Decision::Admit(caller);
    }
    if let Some(ip) =
        value(X_AUTH_IP).and_then(|v| v.trim_matches(['[', ']']).parse::<IpAddr>().ok())
    {
        if let Some(c) = carrier(ip) {
            return Decision::Admit(c);
        }
        if let Some(dev) = dir.device_by_ip(ip).filter(|d| dir.device_active(d)) {
            return Decision::Admit(device_caller(dir, dev));
        }
        debug!("edge relayed a source that is no carrier: refused");
        return Decision::Reply(forbidden(req));
    }
    debug!("INVITE from the edge without X-AUTH headers refused");
    Decision::Reply(forbidden(req))
}

/// Routes `number` for `caller` and turns the target into B-leg targets.
pub(crate) fn plan(
    adm: &Admission,
    dir: &Directory,
    now: Instant,
    caller: &Caller,
    number: &str,
) -> Plan {
    let origin = match caller {
        Caller::Carrier { account_id, .. } => CallSource::Offnet {
            account_id: account_id.as_deref(),
        },
        Caller::Device { account_id, .. } => CallSource::Onnet {
            account_id: account_id.as_deref(),
        },
    };
    let route = routing::route(dir, origin, number, &adm.routing);
    let records = route
        .actions
        .into_iter()
        .map(|a| match a {
            RouteAction::RecordCall(d) => d,
        })
        .collect();
    let caller_device = match caller {
        Caller::Device { device_id, .. } => Some(device_id.as_str()),
        Caller::Carrier { .. } => None,
    };
    let mut on_no_answer: Vec<BTarget> = Vec::new();
    let mut ring_timeout = None;
    let target = match route.target {
        Target::Devices {
            devices,
            owner_user,
            ring_timeout: timeout,
        } => {
            ring_timeout = timeout.map(Duration::from_secs);
            let mut out = Vec::new();
            let mut forwarded: Vec<String> = Vec::new();
            for d in devices {
                if Some(d.device_id.as_str()) == caller_device {
                    continue;
                }
                let device = dir.device(&d.device_id);
                let owner = device
                    .and_then(|x| x.owner_id.clone())
                    .or_else(|| owner_user.clone());
                let nat = device.and_then(|x| x.nat).unwrap_or(adm.nat);
                let via_edge = adm
                    .edge
                    .first()
                    .filter(|_| device.is_none_or(|x| x.ip_auth.is_none()));
                let mut ringing: Vec<BTarget> = match via_edge {
                    Some(edge) => edge_device_target(*edge, &d.username, &d.realm, &route.number)
                        .map(|t| BTarget {
                            owner_id: owner.clone(),
                            authorizing_id: Some(d.device_id.clone()),
                            ..t
                        })
                        .into_iter()
                        .collect(),
                    None => adm
                        .registrar
                        .lookup(&d.realm, &d.username, now)
                        .into_iter()
                        .map(|b| BTarget {
                            request_uri: b.contact.clone(),
                            peer: b.target(nat),
                            to_uri: format!("sip:{}@{}", route.number, d.realm),
                            network: Network::Onnet,
                            resource_type: None,
                            owner_id: owner.clone(),
                            authorizing_id: Some(d.device_id.clone()),
                            caller_id: None,
                            failover: Vec::new(),
                        })
                        .collect(),
                };
                if ringing.is_empty() {
                    // A device known by its address is called there when it has not registered.
                    if let Some(t) = device.and_then(|x| ip_device_target(x, &route.number)) {
                        ringing.push(BTarget {
                            owner_id: owner.clone(),
                            ..t
                        });
                    }
                }
                let forward = match (&d.forward, device) {
                    (Some(f), Some(dev)) if !forwarded.contains(&f.number) => {
                        forwarded.push(f.number.clone());
                        forward_target(dir, &adm.hosts, dev, owner.clone(), f)
                    }
                    _ => None,
                };
                match (forward, &d.forward) {
                    (Some(fwd), Some(f)) if f.failover => {
                        if ringing.is_empty() {
                            debug!("device not registered: failover forward");
                            out.push(fwd);
                        } else {
                            on_no_answer.push(fwd);
                        }
                        out.extend(ringing);
                    }
                    (Some(fwd), Some(f)) => {
                        if !f.substitute {
                            out.extend(ringing);
                        }
                        out.push(fwd);
                    }
                    _ => out.extend(ringing),
                }
            }
            PlanTarget::Devices(out)
        }
        Target::Carriers(gws) => PlanTarget::Carriers(
            gws.iter()
                .flat_map(|g| gateway_targets(g, &route.number, &adm.hosts))
                .collect(),
        ),
        Target::RecordCaller(d) => PlanTarget::RecordCaller(d),
        Target::NotFound => PlanTarget::NotFound,
        Target::RelayRefused => PlanTarget::Refused,
    };
    Plan {
        records,
        target,
        account_id: route.account_id,
        on_no_answer,
        ring_timeout,
    }
}

/// A carrier gateway as B-leg targets for `number`: one for an IP address; for a host name,
/// one per address the driver resolved it to, in order (they fail over like gateways), none
/// while it is not resolved (a call never waits on DNS). The Request-URI keeps the name
/// (RFC 3263), with the port only when the document gives one.
fn gateway_targets(g: &GatewayRef, number: &str, hosts: &ResolvedHosts) -> Vec<BTarget> {
    let tp = match g.transport {
        Transport::Udp => "",
        Transport::Tcp => ";transport=tcp",
    };
    let (host, addrs) = match g.host_query() {
        None => {
            let Ok(ip) = g.server.trim_matches(['[', ']']).parse::<IpAddr>() else {
                return Vec::new();
            };
            let host = match ip {
                IpAddr::V4(_) => ip.to_string(),
                IpAddr::V6(_) => format!("[{ip}]"),
            };
            (
                format!("{host}:{}", g.port),
                vec![SocketAddr::new(ip, g.port)],
            )
        }
        Some(q) => {
            let addrs = hosts.get(&q).to_vec();
            if addrs.is_empty() {
                debug!(
                    gateway = %q.name,
                    "gateway host name not resolved (yet): skipped"
                );
            }
            let host = match q.port {
                Some(port) => format!("{}:{port}", q.name),
                None => q.name.clone(),
            };
            (host, addrs)
        }
    };
    let Ok(uri) = Uri::parse(&format!("sip:{number}@{host}{tp}")) else {
        return Vec::new();
    };
    addrs
        .into_iter()
        .map(|addr| BTarget {
            request_uri: uri.clone(),
            peer: Peer {
                transport: g.transport,
                addr,
            },
            to_uri: format!("sip:{number}@{host}"),
            network: Network::Offnet,
            resource_type: Some(ResourceType::OffnetTermination),
            owner_id: None,
            authorizing_id: Some(g.resource_id.clone()),
            caller_id: None,
            failover: Vec::new(),
        })
        .collect()
}

/// A device behind the edge proxy (cluster mode): `sip:<sip.username>@<realm>` sent to the
/// edge, which looks the phone up in its location table (a 404/480 from it fails the leg).
fn edge_device_target(
    edge: SocketAddr,
    username: &str,
    realm: &str,
    number: &str,
) -> Option<BTarget> {
    let uri = Uri::parse(&format!("sip:{username}@{realm}")).ok()?;
    Some(BTarget {
        request_uri: uri,
        peer: Peer {
            transport: Transport::Udp,
            addr: edge,
        },
        to_uri: format!("sip:{number}@{realm}"),
        network: Network::Onnet,
        resource_type: None,
        owner_id: None,
        authorizing_id: None,
        caller_id: None,
        failover: Vec::new(),
    })
}

/// A device known by its address (`sip.method: ip`): `sip:<number>@<sip.ip>:<sip.port>`.
fn ip_device_target(d: &Device, number: &str) -> Option<BTarget> {
    let addr = d.ip_auth?;
    let host = match addr.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let uri = Uri::parse(&format!("sip:{number}@{host}:{}", addr.port())).ok()?;
    Some(BTarget {
        request_uri: uri,
        peer: Peer {
            transport: Transport::Udp,
            addr,
        },
        to_uri: format!("sip:{number}@{}", d.sip.realm),
        network: Network::Onnet,
        resource_type: None,
        owner_id: d.owner_id.clone(),
        authorizing_id: Some(d.id.clone()),
        caller_id: None,
        failover: Vec::new(),
    })
}

/// The forward of device `dev` to `f.number` through its account's carriers: the first
/// gateway, the others as its fail-over. Tagged as a carrier leg (`offnet-termination`) that
/// belongs to the forwarding device and its owner (whose recording rules then apply as the
/// callee's). None when no carrier takes the number.
fn forward_target(
    dir: &Directory,
    hosts: &ResolvedHosts,
    dev: &Device,
    owner: Option<String>,
    f: &CallForward,
) -> Option<BTarget> {
    let mut gws = routing::carriers_for(dir, dev.account_id.as_deref(), &f.number)
        .iter()
        .flat_map(|g| gateway_targets(g, &f.number, hosts))
        .map(|t| BTarget {
            owner_id: owner.clone(),
            authorizing_id: Some(dev.id.clone()),
            caller_id: (!f.keep_caller_id).then(|| {
                let user = dev.owner_id.as_deref().and_then(|o| dir.user(o));
                let ext = |d: Option<&CallerId>| d.cloned().unwrap_or_default();
                let d = ext(dev.caller_id.external.as_ref());
                let u = ext(user.and_then(|u| u.caller_id.external.as_ref()));
                (d.name.or(u.name), d.number.or(u.number))
            }),
            ..t
        })
        .collect::<VecDeque<_>>();
    let mut first = gws.pop_front()?;
    first.failover = gws.into();
    Some(first)
}
