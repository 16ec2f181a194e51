//! Gateways given by host name: what must be resolved (RFC 3263: SRV when no port is given,
//! else A/AAAA) and the addresses the driver resolved them to.
//!
//! The directory is pure and never resolves anything: it lists the [`HostQuery`]s of its
//! gateways ([`Directory::host_queries`]); the binary resolves them and hands the answers to
//! the engine, which keeps them in [`ResolvedHosts`] and turns a named gateway into one
//! target per resolved address, in order (so the addresses fail over like gateways). A name
//! with no answer yet is skipped: a call never waits on DNS.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use callrec_sip::transaction::Transport;

use super::Directory;

/// One name to resolve for a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostQuery {
    /// The host name, lowercase, without a trailing dot.
    pub name: String,
    /// The gateway's transport (picks `_sip._udp` or `_sip._tcp`).
    pub transport: Transport,
    /// The gateway's `port` when the document gives one: A/AAAA only. None: SRV first
    /// (`_sip._udp.<name>` / `_sip._tcp.<name>`), else A/AAAA on 5060.
    pub port: Option<u16>,
}

impl HostQuery {
    /// The query for a gateway's `server`, or None when `server` is an IP address.
    pub fn for_server(server: &str, port: Option<u16>, transport: Transport) -> Option<HostQuery> {
        if server.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
            return None;
        }
        Some(HostQuery {
            name: server.trim_end_matches('.').to_ascii_lowercase(),
            transport,
            port,
        })
    }

    /// The SRV name to ask first (`_sip._udp.<name>.`), None when a port was given.
    pub fn srv_name(&self) -> Option<String> {
        self.port.map_or_else(
            || {
                let proto = match self.transport {
                    Transport::Tcp => "tcp",
                    _ => "udp",
                };
                Some(format!("_sip._{proto}.{}.", self.name))
            },
            |_| None,
        )
    }

    /// The port of A/AAAA answers when no SRV record names one.
    pub fn default_port(&self) -> u16 {
        self.port.unwrap_or(5060)
    }
}

/// Whether `s` is a DNS host name (labels of letters, digits, `-` and `_`, 1-63 characters,
/// 253 at most in all, a trailing dot allowed).
pub fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The addresses each host name resolved to, in the order to try them (SRV priority, then
/// weight, then the order of the A/AAAA answers).
#[derive(Debug, Clone, Default)]
pub struct ResolvedHosts {
    map: HashMap<HostQuery, Vec<SocketAddr>>,
}

impl ResolvedHosts {
    /// Records an answer (an empty list: the name has no addresses; its gateway is skipped).
    pub fn set(&mut self, query: HostQuery, addrs: Vec<SocketAddr>) {
        self.map.insert(query, addrs);
    }

    /// Forgets a name (no longer in any gateway).
    pub fn remove(&mut self, query: &HostQuery) {
        self.map.remove(query);
    }

    /// The addresses of a name; empty when it is not resolved (yet) or has none.
    pub fn get(&self, query: &HostQuery) -> &[SocketAddr] {
        self.map.get(query).map_or(&[], Vec::as_slice)
    }

    /// Keeps only the names `keep` returns true for.
    pub fn retain(&mut self, mut keep: impl FnMut(&HostQuery) -> bool) {
        self.map.retain(|q, _| keep(q));
    }

    /// How many names have an answer.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no name has an answer.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl Directory {
    /// The host names of the gateways of enabled resources (enabled gateways only), each once,
    /// in resource and gateway order: what the driver keeps resolved.
    pub fn host_queries(&self) -> Vec<HostQuery> {
        let mut out: Vec<HostQuery> = Vec::new();
        for r in self.resources().iter().filter(|r| r.enabled) {
            for g in r.gateways.iter().filter(|g| g.enabled) {
                if let Some(q) = g.host_query() {
                    if !out.contains(&q) {
                        out.push(q);
                    }
                }
            }
        }
        out
    }
}
