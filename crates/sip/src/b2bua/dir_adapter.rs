//! The core's calls into the directory and routing, plus the private digest and registrar
//! adapters ([`super::digest`], [`super::bindings`]): who sent an INVITE (carrier by source
//! address, device by digest — anyone else is challenged or refused), what the dialled
//! number routes to (as B-leg targets with addresses), and REGISTER.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use tracing::debug;

use crate::auth::Algorithm;
use crate::directory::{CallerId, Device, Directory};
use crate::message::{Message, Uri};
use crate::routing::{self, Origin, RecordData, RouteAction, RoutingPolicy, Target};
use crate::transaction::{Peer, Transport};

use super::bindings::Bindings;
use super::call::BTarget;
use super::digest::{self, Nonces};
use super::tags::{Network, ResourceType};

/// State the core keeps for admission: nonces issued, registrations, routing settings.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    pub(crate) nonces: Nonces,
    pub(crate) bindings: Bindings,
    pub(crate) routing: RoutingPolicy,
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

fn host_of(uri: &Uri) -> String {
    uri.host().to_ascii_lowercase()
}

/// The realm to challenge a request from `host` in, and the algorithms to offer.
fn realm_for(dir: &Directory, host: &str, username: Option<&str>) -> (String, Vec<Algorithm>) {
    let realm = dir
        .account_by_realm(host)
        .or_else(|| dir.single_account())
        .map_or_else(|| host.to_owned(), |a| a.realm.clone());
    let algorithms = username
        .and_then(|u| dir.device_by_sip(&realm, u))
        .map(|d| d.digest_algorithms.clone())
        .or_else(|| {
            dir.account_by_realm(&realm)
                .and_then(|a| a.digest_algorithms.clone())
        })
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| vec![Algorithm::Md5]);
    (realm, algorithms)
}

/// Outcome of checking credentials.
enum Auth<'d> {
    Ok(&'d Device),
    Stale,
    Missing,
    Bad,
}

fn authenticate<'d>(
    adm: &Admission,
    dir: &'d Directory,
    now: Instant,
    req: &Message,
    proxy: bool,
) -> Auth<'d> {
    let creds = digest::credentials(req, proxy);
    if creds.is_empty() {
        return Auth::Missing;
    }
    let method = req
        .method()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    for c in &creds {
        let (Some(realm), Some(user)) = (c.get("realm"), c.get("username")) else {
            continue;
        };
        let Some(dev) = dir.device_by_sip(realm, user) else {
            continue;
        };
        if !dev.enabled {
            return Auth::Bad;
        }
        if !digest::verify(c, &method, user, realm, &dev.sip.password) {
            return Auth::Bad;
        }
        if !c.get("nonce").is_some_and(|n| adm.nonces.is_fresh(n, now)) {
            return Auth::Stale;
        }
        return Auth::Ok(dev);
    }
    Auth::Bad
}

fn forbidden(req: &Message) -> Message {
    let tag = super::leg::random_token();
    Message::response_to(req, 403, "Forbidden", Some(&tag))
}

/// REGISTER: authenticate the device (401 challenge), then update its bindings.
pub(crate) fn register(
    adm: &mut Admission,
    dir: &Directory,
    now: Instant,
    from: Peer,
    req: &Message,
) -> Message {
    let Ok(to) = req.to() else {
        return forbidden(req);
    };
    match authenticate(adm, dir, now, req, false) {
        Auth::Ok(dev) => {
            if to.uri.user() != Some(dev.sip.username.as_str()) {
                debug!("REGISTER for another user's address refused");
                return forbidden(req);
            }
            let id = dev.id.clone();
            adm.bindings.register(&id, now, from, req)
        }
        Auth::Bad => forbidden(req),
        a @ (Auth::Missing | Auth::Stale) => {
            let (realm, algs) = realm_for(dir, &host_of(&to.uri), to.uri.user());
            let nonce = adm.nonces.issue(now);
            digest::challenge(req, &realm, &algs, &nonce, false, matches!(a, Auth::Stale))
        }
    }
}

/// An INVITE outside a dialog: carrier by address, else device by digest (407), else 403.
pub(crate) fn admit(
    adm: &mut Admission,
    dir: &Directory,
    now: Instant,
    from: Peer,
    req: &Message,
) -> Decision {
    if let Some(res) = dir.carrier_by_addr(from.addr.ip()) {
        return Decision::Admit(Caller::Carrier {
            resource_id: res.id.clone(),
            account_id: res.account_id.clone(),
        });
    }
    match authenticate(adm, dir, now, req, true) {
        Auth::Ok(dev) => {
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
            Decision::Admit(Caller::Device {
                device_id: dev.id.clone(),
                account_id: dev.account_id.clone(),
                owner_id: dev.owner_id.clone(),
                internal: pick(
                    &dev.caller_id.internal,
                    owner.map(|u| &u.caller_id.internal),
                ),
                external: pick(
                    &dev.caller_id.external,
                    owner.map(|u| &u.caller_id.external),
                ),
            })
        }
        Auth::Bad => Decision::Reply(forbidden(req)),
        a @ (Auth::Missing | Auth::Stale) => {
            let Ok(f) = req.from() else {
                return Decision::Reply(forbidden(req));
            };
            let (realm, algs) = realm_for(dir, &host_of(&f.uri), f.uri.user());
            let nonce = adm.nonces.issue(now);
            Decision::Reply(digest::challenge(
                req,
                &realm,
                &algs,
                &nonce,
                true,
                matches!(a, Auth::Stale),
            ))
        }
    }
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
        Caller::Carrier { account_id, .. } => Origin::Offnet {
            account_id: account_id.as_deref(),
        },
        Caller::Device { account_id, .. } => Origin::Onnet {
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
    let target = match route.target {
        Target::Devices {
            devices,
            owner_user,
        } => {
            let mut out = Vec::new();
            for d in devices {
                if Some(d.device_id.as_str()) == caller_device {
                    continue;
                }
                let owner = dir
                    .device(&d.device_id)
                    .and_then(|x| x.owner_id.clone())
                    .or_else(|| owner_user.clone());
                for b in adm.bindings.live(&d.device_id, now) {
                    out.push(BTarget {
                        request_uri: b.contact.clone(),
                        peer: b.peer,
                        to_uri: format!("sip:{}@{}", route.number, d.realm),
                        network: Network::Onnet,
                        resource_type: None,
                        owner_id: owner.clone(),
                        authorizing_id: Some(d.device_id.clone()),
                    });
                }
            }
            PlanTarget::Devices(out)
        }
        Target::Carriers(gws) => {
            let mut out = Vec::new();
            for g in gws {
                let Ok(ip) = g.server.trim_matches(['[', ']']).parse::<IpAddr>() else {
                    debug!("gateway given by host name skipped (the core does not resolve names)");
                    continue;
                };
                let addr = SocketAddr::new(ip, g.port);
                let host = match ip {
                    IpAddr::V4(_) => ip.to_string(),
                    IpAddr::V6(_) => format!("[{ip}]"),
                };
                let tp = match g.transport {
                    Transport::Udp => "",
                    Transport::Tcp => ";transport=tcp",
                };
                let text = format!("sip:{}@{host}:{}{tp}", route.number, g.port);
                let Ok(uri) = Uri::parse(&text) else { continue };
                out.push(BTarget {
                    request_uri: uri,
                    peer: Peer {
                        transport: g.transport,
                        addr,
                    },
                    to_uri: format!("sip:{}@{host}:{}", route.number, g.port),
                    network: Network::Offnet,
                    resource_type: Some(ResourceType::OffnetTermination),
                    owner_id: None,
                    authorizing_id: Some(g.resource_id.clone()),
                });
            }
            PlanTarget::Carriers(out)
        }
        Target::RecordCaller(d) => PlanTarget::RecordCaller(d),
        Target::NotFound => PlanTarget::NotFound,
        Target::RelayRefused => PlanTarget::Refused,
    };
    Plan { records, target }
}
