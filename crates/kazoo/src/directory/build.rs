//! [`Directory::build`]: reading and checking a set of documents.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use regex::Regex;
use serde_json::{Map, Value};

use super::cidr::Cidr;
use super::documents::{
    Account, CallForwardDoc, CallerId, CallerIds, Callflow, Device, Flow, Gateway, Module,
    Resource, SipCredentials, User,
};
use super::error::{DirectoryError, DocName};
use super::fields::Fields;
use super::hosts::is_host_name;
use super::Directory;
use crate::routing::{is_did, normalize_number};
use callrec_sip::auth::Algorithm;
use callrec_sip::registrar::NatPolicy;
use callrec_sip::transaction::Transport;

/// The KAZOO `pvt_type`s we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Account,
    User,
    Device,
    Callflow,
    Resource,
}

fn kind_of(s: &str) -> Option<Kind> {
    Some(match s {
        "account" => Kind::Account,
        "user" => Kind::User,
        "device" => Kind::Device,
        "callflow" => Kind::Callflow,
        "resource" => Kind::Resource,
        _ => return None,
    })
}

impl Directory {
    /// Reads and checks `docs` (`(source, document)` pairs, e.g. file name and its JSON). The
    /// order of resources (after `weight_cost`) is the order given. Any problem refuses the
    /// whole set, naming the document and key: a reload that fails keeps the old directory.
    pub fn build(docs: Vec<(String, Value)>) -> Result<Directory, DirectoryError> {
        let mut seen: HashMap<String, DocName> = HashMap::new();
        let mut by_kind: Vec<(Kind, DocName, Map<String, Value>)> = Vec::new();
        for (source, doc) in docs {
            let Value::Object(obj) = doc else {
                return Err(DirectoryError::NotAnObject {
                    source_name: source,
                });
            };
            let id = match obj.get("_id") {
                Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                _ => {
                    return Err(DirectoryError::MissingId {
                        source_name: source,
                    })
                }
            };
            let pvt = obj.get("pvt_type").and_then(Value::as_str);
            let Some(kind) = pvt.and_then(kind_of) else {
                let doc = Box::new(DocName {
                    kind: "document".into(),
                    id,
                    source,
                });
                return Err(match obj.get("pvt_type") {
                    None | Some(Value::Null) => DirectoryError::Missing {
                        doc,
                        path: "pvt_type".into(),
                    },
                    Some(Value::String(s)) => DirectoryError::UnknownType {
                        doc,
                        found: s.clone(),
                    },
                    Some(other) => DirectoryError::UnknownType {
                        doc,
                        found: other.to_string(),
                    },
                });
            };
            let name = DocName {
                kind: pvt.unwrap_or_default().to_owned(),
                id: id.clone(),
                source,
            };
            if let Some(other) = seen.get(&id) {
                return Err(DirectoryError::DuplicateId {
                    doc: Box::new(name),
                    other: Box::new(other.clone()),
                });
            }
            seen.insert(id, name.clone());
            by_kind.push((kind, name, obj));
        }

        let mut dir = Directory::default();
        let docs_of = |k: Kind| {
            by_kind
                .iter()
                .filter(move |(kind, _, _)| *kind == k)
                .map(|(_, name, v)| (name, v))
        };
        for (name, v) in docs_of(Kind::Account) {
            let f = fields(name, v);
            let account = read_account(&f)?;
            dir.account_index
                .insert(account.id.clone(), dir.accounts.len());
            dir.accounts.push(account);
        }
        let single_account = match dir.accounts.as_slice() {
            [only] => Some(only.id.clone()),
            _ => None,
        };
        let account_for = |f: &Fields<'_>, dir: &Directory, required: bool| match f
            .opt_str("account_id")?
        {
            Some(id) if dir.account_index.contains_key(&id) => Ok(Some(id)),
            Some(id) => Err(DirectoryError::Dangling {
                doc: Box::new(f.name.clone()),
                path: "account_id".into(),
                target_kind: "account",
                target: id,
            }),
            None if single_account.is_some() => Ok(single_account.clone()),
            None if required && dir.accounts.len() > 1 => Err(DirectoryError::AccountRequired {
                doc: Box::new(f.name.clone()),
            }),
            None => Ok(None),
        };
        for (name, v) in docs_of(Kind::User) {
            let f = fields(name, v);
            let account_id = account_for(&f, &dir, true)?;
            let user = read_user(&f, account_id)?;
            dir.user_index.insert(user.id.clone(), dir.users.len());
            dir.users.push(user);
        }
        let mut device_names: HashMap<(String, String), DocName> = HashMap::new();
        for (name, v) in docs_of(Kind::Device) {
            let f = fields(name, v);
            let account_id = account_for(&f, &dir, true)?;
            let device = read_device(&f, account_id, &dir)?;
            let key = (device.sip.realm.clone(), device.sip.username.clone());
            if let Some(other) = device_names.get(&key) {
                return Err(DirectoryError::DuplicateUsername {
                    doc: Box::new(f.name.clone()),
                    realm: key.0,
                    username: key.1,
                    other: Box::new(other.clone()),
                });
            }
            device_names.insert(key.clone(), f.name.clone());
            let index = dir.devices.len();
            if let (Some(addr), true) = (device.ip_auth, device.enabled) {
                if let Some(other) = dir
                    .ip_index
                    .get(&addr.ip())
                    .and_then(|i| dir.devices.get(*i))
                {
                    return Err(DirectoryError::DuplicateIp {
                        doc: Box::new(f.name.clone()),
                        ip: addr.ip(),
                        other: Box::new(DocName {
                            kind: "device".into(),
                            id: other.id.clone(),
                            source: other.source.clone(),
                        }),
                    });
                }
                dir.ip_index.insert(addr.ip(), index);
            }
            dir.device_index.insert(device.id.clone(), index);
            dir.sip_index.insert(key, index);
            if let Some(owner) = &device.owner_id {
                dir.user_devices
                    .entry(owner.clone())
                    .or_default()
                    .push(index);
            }
            dir.devices.push(device);
        }
        let mut resources = Vec::new();
        for (name, v) in docs_of(Kind::Resource) {
            let f = fields(name, v);
            let account_id = account_for(&f, &dir, false)?;
            // A resource without account_id is global even when there is one account.
            let account_id = if f.opt_str("account_id")?.is_some() {
                account_id
            } else {
                None
            };
            resources.push(read_resource(&f, account_id)?);
        }
        // Stable: equal weights keep load order.
        resources.sort_by_key(|r| r.weight_cost);
        dir.resources = resources;

        let mut numbers: HashMap<(Option<String>, String), DocName> = HashMap::new();
        let mut dids: HashMap<String, (Option<String>, DocName)> = HashMap::new();
        for (name, v) in docs_of(Kind::Callflow) {
            let f = fields(name, v);
            let account_id = account_for(&f, &dir, true)?;
            let cf = read_callflow(&f, account_id, &dir)?;
            for n in &cf.numbers {
                let key = (cf.account_id.clone(), n.clone());
                if let Some(other) = numbers.get(&key) {
                    return Err(DirectoryError::DuplicateNumber {
                        doc: Box::new(f.name.clone()),
                        number: n.clone(),
                        other: Box::new(other.clone()),
                    });
                }
                numbers.insert(key, f.name.clone());
                if is_did(n) {
                    match dids.get(n) {
                        Some((acc, other)) if *acc != cf.account_id => {
                            return Err(DirectoryError::DuplicateDid {
                                doc: Box::new(f.name.clone()),
                                number: n.clone(),
                                other: Box::new(other.clone()),
                            });
                        }
                        _ => {
                            dids.insert(n.clone(), (cf.account_id.clone(), f.name.clone()));
                        }
                    }
                }
            }
            let index = dir.callflows.len();
            for n in &cf.numbers {
                dir.number_index.entry(n.clone()).or_default().push(index);
            }
            if !cf.patterns.is_empty() {
                dir.pattern_callflows.push(index);
            }
            dir.callflows.push(cf);
        }
        Ok(dir)
    }
}

fn fields<'a>(name: &DocName, obj: &'a Map<String, Value>) -> Fields<'a> {
    Fields {
        name: name.clone(),
        obj,
    }
}

fn read_algorithms(f: &Fields<'_>) -> Result<Option<Vec<Algorithm>>, DirectoryError> {
    let Some(names) = f.opt_strs("digest_algorithms")? else {
        return Ok(None);
    };
    let mut algs = Vec::new();
    for n in names {
        let a: Algorithm = n.parse().map_err(|_| {
            f.invalid(
                "digest_algorithms",
                "a list of \"md5\", \"md5-sess\", \"sha-256\", \"sha-256-sess\"",
            )
        })?;
        if !algs.contains(&a) {
            algs.push(a);
        }
    }
    if algs.is_empty() {
        return Err(f.invalid("digest_algorithms", "a non-empty list of algorithms"));
    }
    Ok(Some(algs))
}

fn read_account(f: &Fields<'_>) -> Result<Account, DirectoryError> {
    Ok(Account {
        id: f.name.id.clone(),
        name: f.str_or("name", &f.name.id)?,
        realm: f.req_str("realm")?.trim().to_ascii_lowercase(),
        call_recording: f.raw("call_recording"),
        endpoint: f.raw("endpoint"),
        digest_algorithms: read_algorithms(f)?,
        enabled: f.bool_or("enabled", true)? && f.bool_or("pvt_enabled", true)?,
        raw: Value::Object(f.obj.clone()),
        source: f.name.source.clone(),
    })
}

/// `call_forward`: an object of booleans and a `number` (a string of at most 35 characters,
/// KAZOO's limit), normalised like dialled numbers.
fn read_call_forward(f: &Fields<'_>) -> Result<CallForwardDoc, DirectoryError> {
    match f.get("call_forward") {
        None => return Ok(CallForwardDoc::default()),
        Some(Value::Object(_)) => {}
        Some(_) => return Err(f.invalid("call_forward", "an object")),
    }
    let flag = |key: &str| -> Result<Option<bool>, DirectoryError> {
        let path = format!("call_forward.{key}");
        match f.get(&path) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(f.invalid(&path, "true or false")),
        }
    };
    let number = match f.opt_str("call_forward.number")? {
        Some(n) if n.chars().count() > 35 => {
            return Err(f.invalid("call_forward.number", "a number of at most 35 characters"))
        }
        Some(n) => Some(normalize_number(&n)).filter(|n| !n.is_empty()),
        None => None,
    };
    let _ = flag("ignore_early_media")?;
    Ok(CallForwardDoc {
        enabled: flag("enabled")?,
        number,
        keep_caller_id: flag("keep_caller_id")?,
        substitute: flag("substitute")?,
        direct_calls_only: flag("direct_calls_only")?,
        failover: flag("failover")?,
        require_keypress: flag("require_keypress")?,
    })
}

fn read_caller_ids(f: &Fields<'_>) -> Result<CallerIds, DirectoryError> {
    let one = |which: &str| -> Result<Option<CallerId>, DirectoryError> {
        let base = format!("caller_id.{which}");
        match f.get(&base) {
            None => Ok(None),
            Some(Value::Object(_)) => Ok(Some(CallerId {
                name: f.opt_str(&format!("{base}.name"))?,
                number: f.opt_str(&format!("{base}.number"))?,
            })),
            Some(_) => Err(f.invalid(&base, "an object {name, number}")),
        }
    };
    match f.get("caller_id") {
        None => Ok(CallerIds::default()),
        Some(Value::Object(_)) => Ok(CallerIds {
            internal: one("internal")?,
            external: one("external")?,
        }),
        Some(_) => Err(f.invalid("caller_id", "an object {internal, external}")),
    }
}

fn read_user(f: &Fields<'_>, account_id: Option<String>) -> Result<User, DirectoryError> {
    Ok(User {
        id: f.name.id.clone(),
        account_id,
        first_name: f.str_or("first_name", "")?,
        last_name: f.str_or("last_name", "")?,
        caller_id: read_caller_ids(f)?,
        call_recording: f.raw("call_recording"),
        record_call: f.raw("record_call"),
        call_forward: read_call_forward(f)?,
        enabled: f.bool_or("enabled", true)?,
        raw: Value::Object(f.obj.clone()),
        source: f.name.source.clone(),
    })
}

fn read_device(
    f: &Fields<'_>,
    account_id: Option<String>,
    dir: &Directory,
) -> Result<Device, DirectoryError> {
    let owner_id = f.opt_str("owner_id")?;
    if let Some(owner) = &owner_id {
        if !dir.user_index.contains_key(owner) {
            return Err(DirectoryError::Dangling {
                doc: Box::new(f.name.clone()),
                path: "owner_id".into(),
                target_kind: "user",
                target: owner.clone(),
            });
        }
    }
    match f.get("sip") {
        None => return Err(f.missing("sip")),
        Some(Value::Object(_)) => {}
        Some(_) => return Err(f.invalid("sip", "an object {username, password, realm?}")),
    }
    let ip_auth = match f.opt_str("sip.method")?.as_deref() {
        None | Some("password") => None,
        Some("ip") => {
            let ip = f.req_str("sip.ip")?;
            let ip: IpAddr = ip
                .trim()
                .trim_matches(['[', ']'])
                .parse()
                .map_err(|_| f.invalid("sip.ip", "an IP address"))?;
            let port = match f.get("sip.port") {
                None => 5060,
                Some(Value::Number(n)) => n
                    .as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p != 0)
                    .ok_or_else(|| f.invalid("sip.port", "a port number 1-65535"))?,
                Some(_) => return Err(f.invalid("sip.port", "a port number 1-65535")),
            };
            Some(std::net::SocketAddr::new(ip, port))
        }
        Some(_) => return Err(f.invalid("sip.method", "\"password\" or \"ip\"")),
    };
    let username = match (ip_auth, f.opt_str("sip.username")?) {
        (Some(_), None) => f.name.id.clone(),
        _ => f.req_str("sip.username")?,
    };
    if username
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b == b'@' || b == b':')
    {
        return Err(f.invalid("sip.username", "a SIP user name without spaces, '@' or ':'"));
    }
    // A device known by its address has no password: digest never authenticates it.
    let password = match ip_auth {
        Some(_) => String::new(),
        None => f.req_str("sip.password")?,
    };
    let account = account_id.as_ref().and_then(|id| dir.account(id));
    let realm = match f.opt_str("sip.realm")? {
        Some(r) if !r.trim().is_empty() => r.trim().to_ascii_lowercase(),
        Some(_) => return Err(f.invalid("sip.realm", "a non-empty string")),
        None => match account {
            Some(a) => a.realm.clone(),
            None => {
                return Err(DirectoryError::NoRealm {
                    doc: Box::new(f.name.clone()),
                })
            }
        },
    };
    let nat = match f.opt_str("sip.nat")? {
        None => None,
        Some(v) => Some(
            NatPolicy::parse(&v)
                .ok_or_else(|| f.invalid("sip.nat", "one of \"auto\", \"always\", \"never\""))?,
        ),
    };
    let digest_algorithms = match read_algorithms(f)? {
        Some(a) => a,
        None => account
            .and_then(|a| a.digest_algorithms.clone())
            .unwrap_or_else(|| vec![Algorithm::Md5]),
    };
    Ok(Device {
        id: f.name.id.clone(),
        account_id,
        owner_id,
        name: f.str_or("name", &f.name.id)?,
        sip: SipCredentials {
            username,
            password,
            realm,
        },
        nat,
        caller_id: read_caller_ids(f)?,
        call_recording: f.raw("call_recording"),
        record_call: f.raw("record_call"),
        enabled: f.bool_or("enabled", true)?,
        call_forward: read_call_forward(f)?,
        ip_auth,
        digest_algorithms,
        raw: Value::Object(f.obj.clone()),
        source: f.name.source.clone(),
    })
}

fn read_resource(f: &Fields<'_>, account_id: Option<String>) -> Result<Resource, DirectoryError> {
    let Some(gws) = f.get("gateways") else {
        return Err(f.missing("gateways"));
    };
    let Some(gws) = gws.as_array() else {
        return Err(f.invalid("gateways", "an array of gateways"));
    };
    let mut gateways = Vec::new();
    for (i, g) in gws.iter().enumerate() {
        let base = format!("gateways.{i}");
        let Some(obj) = g.as_object() else {
            return Err(f.invalid(&base, "an object {server, port?, transport?, enabled?}"));
        };
        let gf = Fields {
            name: f.name.clone(),
            obj,
        };
        let server = gf
            .req_str("server")
            .map_err(|e| rebase(e, &base))?
            .trim()
            .to_owned();
        if server.trim_matches(['[', ']']).parse::<IpAddr>().is_err() && !is_host_name(&server) {
            return Err(f.invalid(&format!("{base}.server"), "an IP address or a host name"));
        }
        let port_given = gf.get("port").is_some();
        let port = match gf.get("port") {
            None => 5060,
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0)
                .ok_or_else(|| f.invalid(&format!("{base}.port"), "a port number 1-65535"))?,
            Some(Value::String(s)) => s
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| f.invalid(&format!("{base}.port"), "a port number 1-65535"))?,
            Some(_) => return Err(f.invalid(&format!("{base}.port"), "a port number 1-65535")),
        };
        let transport = match gf
            .opt_str("transport")
            .map_err(|e| rebase(e, &base))?
            .map(|t| t.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("udp") => Transport::Udp,
            Some("tcp") => Transport::Tcp,
            Some(_) => return Err(f.invalid(&format!("{base}.transport"), "\"udp\" or \"tcp\"")),
        };
        let enabled = gf.bool_or("enabled", true).map_err(|e| rebase(e, &base))?;
        gateways.push(Gateway {
            server,
            port,
            port_given,
            transport,
            enabled,
        });
    }
    let origination = match f.opt_strs("origination_cidrs")? {
        Some(list) => {
            let mut out = Vec::new();
            for (i, s) in list.iter().enumerate() {
                out.push(s.parse::<Cidr>().map_err(|_| DirectoryError::BadCidr {
                    doc: Box::new(f.name.clone()),
                    path: format!("origination_cidrs.{i}"),
                    value: s.clone(),
                })?);
            }
            out
        }
        None => gateways
            .iter()
            .filter_map(|g| {
                let host = g.server.trim_start_matches('[').trim_end_matches(']');
                host.parse::<IpAddr>()
                    .ok()
                    .and_then(|ip| Cidr::new(ip, if ip.is_ipv4() { 32 } else { 128 }))
            })
            .collect(),
    };
    let weight_cost = match f.get("weight_cost") {
        None => 50,
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| f.invalid("weight_cost", "an integer"))?,
        Some(_) => return Err(f.invalid("weight_cost", "an integer")),
    };
    Ok(Resource {
        id: f.name.id.clone(),
        name: f.str_or("name", &f.name.id)?,
        account_id,
        gateways,
        origination,
        enabled: f.bool_or("enabled", true)?,
        weight_cost,
        rules: read_regexes(f, "rules")?,
        source: f.name.source.clone(),
    })
}

/// An optional array of regular expressions at `key`.
fn read_regexes(f: &Fields<'_>, key: &str) -> Result<Vec<Regex>, DirectoryError> {
    let mut out = Vec::new();
    for (i, p) in f.opt_strs(key)?.unwrap_or_default().iter().enumerate() {
        out.push(Regex::new(p).map_err(|error| DirectoryError::BadRegex {
            doc: Box::new(f.name.clone()),
            path: format!("{key}.{i}"),
            error,
        })?);
    }
    Ok(out)
}

/// Prefixes the key path of a field error read from a nested object.
fn rebase(e: DirectoryError, base: &str) -> DirectoryError {
    match e {
        DirectoryError::Missing { doc, path } => DirectoryError::Missing {
            doc,
            path: format!("{base}.{path}"),
        },
        DirectoryError::Invalid {
            doc,
            path,
            expected,
        } => DirectoryError::Invalid {
            doc,
            path: format!("{base}.{path}"),
            expected,
        },
        other => other,
    }
}

fn read_callflow(
    f: &Fields<'_>,
    account_id: Option<String>,
    dir: &Directory,
) -> Result<Callflow, DirectoryError> {
    let numbers = f
        .opt_strs("numbers")?
        .unwrap_or_default()
        .into_iter()
        .map(|n| {
            if n == "no_match" {
                n
            } else {
                normalize_number(&n)
            }
        })
        .filter(|n| !n.is_empty())
        .collect::<Vec<_>>();
    let patterns = read_regexes(f, "patterns")?;
    let Some(flow) = f.get("flow") else {
        return Err(f.missing("flow"));
    };
    let flow = read_flow(f, flow, "flow", dir, 0)?;
    Ok(Callflow {
        id: f.name.id.clone(),
        account_id,
        numbers,
        patterns,
        flow,
        source: f.name.source.clone(),
    })
}

/// Deeper trees than this are refused (they would only be mistakes or attacks on the stack).
const MAX_FLOW_DEPTH: usize = 32;

fn read_flow(
    f: &Fields<'_>,
    v: &Value,
    path: &str,
    dir: &Directory,
    depth: usize,
) -> Result<Flow, DirectoryError> {
    if depth > MAX_FLOW_DEPTH {
        return Err(f.invalid(path, "a callflow node nested at most 32 deep"));
    }
    let Some(obj) = v.as_object() else {
        return Err(f.invalid(path, "an object {module, data, children}"));
    };
    let module_path = format!("{path}.module");
    let module_name = match obj.get("module") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(f.invalid(&module_path, "a string")),
        None => return Err(f.missing(&module_path)),
    };
    let Some(module) = Module::from_name(&module_name) else {
        return Err(DirectoryError::UnknownModule {
            doc: Box::new(f.name.clone()),
            path: module_path,
            module: module_name,
        });
    };
    let data = match obj.get("data") {
        None | Some(Value::Null) => Value::Object(serde_json::Map::new()),
        Some(d @ Value::Object(_)) => d.clone(),
        Some(_) => return Err(f.invalid(&format!("{path}.data"), "an object")),
    };
    let id_path = format!("{path}.data.id");
    let referenced = |kind: &'static str, exists: &dyn Fn(&str) -> bool| match data.get("id") {
        Some(Value::String(id)) if exists(id) => Ok(()),
        Some(Value::String(id)) => Err(DirectoryError::Dangling {
            doc: Box::new(f.name.clone()),
            path: id_path.clone(),
            target_kind: kind,
            target: id.clone(),
        }),
        Some(_) => Err(f.invalid(&id_path, "a string")),
        None => Err(f.missing(&id_path)),
    };
    match module {
        Module::Device => referenced("device", &|id| dir.device(id).is_some())?,
        Module::User => referenced("user", &|id| dir.user(id).is_some())?,
        Module::RingGroup => read_ring_group(f, &data, path, dir)?,
        Module::Resources | Module::RecordCall | Module::RecordCaller => {}
    }
    let mut children = BTreeMap::new();
    match obj.get("children") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, child) in map {
                // KAZOO writes `{}` for "no child".
                if child.as_object().is_some_and(|o| o.is_empty()) {
                    continue;
                }
                let child_path = format!("{path}.children.{key}");
                children.insert(
                    key.clone(),
                    read_flow(f, child, &child_path, dir, depth + 1)?,
                );
            }
        }
        Some(_) => return Err(f.invalid(&format!("{path}.children"), "an object")),
    }
    Ok(Flow {
        module,
        data,
        children,
    })
}

/// `ring_group` data: `endpoints` is a non-empty array of `{id, endpoint_type}` naming
/// existing devices or users (`endpoint_type` default `device`).
fn read_ring_group(
    f: &Fields<'_>,
    data: &Value,
    path: &str,
    dir: &Directory,
) -> Result<(), DirectoryError> {
    let ep_path = format!("{path}.data.endpoints");
    let Some(list) = data.get("endpoints") else {
        return Err(f.missing(&ep_path));
    };
    let Some(list) = list.as_array().filter(|l| !l.is_empty()) else {
        return Err(f.invalid(&ep_path, "a non-empty array of {id, endpoint_type}"));
    };
    for (i, e) in list.iter().enumerate() {
        let id_path = format!("{ep_path}.{i}.id");
        let Some(id) = e.get("id").and_then(Value::as_str) else {
            return Err(f.missing(&id_path));
        };
        let kind = e
            .get("endpoint_type")
            .and_then(Value::as_str)
            .unwrap_or("device");
        let (target_kind, exists) = match kind {
            "device" => ("device", dir.device(id).is_some()),
            "user" => ("user", dir.user(id).is_some()),
            _ => {
                return Err(f.invalid(
                    &format!("{ep_path}.{i}.endpoint_type"),
                    "\"device\" or \"user\"",
                ))
            }
        };
        if !exists {
            return Err(DirectoryError::Dangling {
                doc: Box::new(f.name.clone()),
                path: id_path,
                target_kind,
                target: id.to_owned(),
            });
        }
    }
    Ok(())
}
