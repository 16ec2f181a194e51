//! Resolves the carriers' gateways given by host name, for the engine (which never does I/O).
//!
//! RFC 3263 as far as a gateway needs it: a name without a port is looked up as SRV
//! (`_sip._udp.<name>` or `_sip._tcp.<name>` by the gateway's transport), its targets in
//! priority order (higher weight first within a priority) each resolved to A/AAAA on the port
//! the record names; a name with a port, or without SRV records, is resolved to A/AAAA (port
//! 5060 when none is given). Every address found becomes one target, in that order, and the
//! engine fails over between them like between gateways.
//!
//! One task keeps every name of [`Directory::host_queries`] resolved: each answer goes to the
//! engine ([`Engine::handle_resolved`]) and is looked up again when its TTL runs out (held
//! between [`Refresh::min_ttl`] and [`Refresh::max_ttl`]). When a name has no records
//! (NXDOMAIN, no data) the engine gets an empty list and its gateway is skipped; when the
//! lookup fails (timeout, SERVFAIL, no server) the last answer is kept (a DNS outage does not
//! take a carrier away) and the lookup is retried with a doubling backoff. A call never waits
//! on DNS: a name not resolved yet is skipped by the engine.
//!
//! [`Directory::host_queries`]: callrec_kazoo::directory::Directory::host_queries
//! [`Engine::handle_resolved`]: callrec_engine::Engine::handle_resolved

use std::cmp::Reverse;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use callrec_kazoo::directory::HostQuery;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// What a name resolved to, for the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The name.
    pub query: HostQuery,
    /// Its addresses in the order to try them; empty: it has none.
    pub addrs: Vec<SocketAddr>,
}

/// How often names are looked up again.
#[derive(Debug, Clone, Copy)]
pub struct Refresh {
    /// Answers are kept at least this long (a TTL of 0 would mean a lookup per second).
    pub min_ttl: Duration,
    /// And at most this long.
    pub max_ttl: Duration,
    /// The first retry after a failed lookup or a name with no records; doubled each time.
    pub first_backoff: Duration,
    /// The longest wait between retries.
    pub max_backoff: Duration,
}

impl Default for Refresh {
    fn default() -> Self {
        Refresh {
            min_ttl: Duration::from_secs(1),
            max_ttl: Duration::from_secs(3600),
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// How one lookup ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Addresses, valid until the TTL runs out.
    Answer {
        addrs: Vec<SocketAddr>,
        valid_until: Instant,
    },
    /// The name has no records (NXDOMAIN or no data).
    NoRecords,
    /// The lookup failed (timeout, server failure, no server): the last answer stands.
    Failed(String),
}

#[derive(Debug, Clone)]
struct Entry {
    /// When to look the name up next (None: a lookup is running).
    due: Option<Instant>,
    /// Lookups that failed or found nothing in a row.
    failures: u32,
}

/// When each name is looked up: pure, driven by the task with the clock's `now`.
#[derive(Debug, Default)]
pub struct Schedule {
    refresh: Refresh,
    entries: HashMap<HostQuery, Entry>,
}

impl Schedule {
    /// An empty schedule.
    pub fn new(refresh: Refresh) -> Schedule {
        Schedule {
            refresh,
            entries: HashMap::new(),
        }
    }

    /// The names to keep resolved: new ones are due now, ones no longer listed are dropped
    /// (their running lookups are ignored when they end).
    pub fn set_queries(&mut self, now: Instant, queries: &[HostQuery]) {
        self.entries.retain(|q, _| queries.contains(q));
        for q in queries {
            self.entries.entry(q.clone()).or_insert(Entry {
                due: Some(now),
                failures: 0,
            });
        }
    }

    /// The names due at `now`; they count as being looked up until [`Schedule::done`].
    pub fn take_due(&mut self, now: Instant) -> Vec<HostQuery> {
        let mut out = Vec::new();
        for (q, e) in &mut self.entries {
            if e.due.is_some_and(|d| d <= now) {
                e.due = None;
                out.push(q.clone());
            }
        }
        out
    }

    /// When the next name is due (None: none is waiting).
    pub fn next_due(&self) -> Option<Instant> {
        self.entries.values().filter_map(|e| e.due).min()
    }

    /// A lookup ended at `now`: schedules the next one and says what the engine should be
    /// told (None: nothing, the name is no longer wanted or the last answer stands).
    pub fn done(&mut self, now: Instant, query: &HostQuery, outcome: Outcome) -> Option<Resolved> {
        let refresh = self.refresh;
        let e = self.entries.get_mut(query)?;
        let backoff = |failures: u32| {
            refresh
                .first_backoff
                .saturating_mul(1u32 << failures.min(16))
                .min(refresh.max_backoff)
        };
        match outcome {
            Outcome::Answer { addrs, valid_until } => {
                e.failures = 0;
                let ttl = valid_until
                    .saturating_duration_since(now)
                    .clamp(refresh.min_ttl, refresh.max_ttl);
                e.due = Some(now + ttl);
                Some(Resolved {
                    query: query.clone(),
                    addrs,
                })
            }
            Outcome::NoRecords => {
                e.due = Some(now + backoff(e.failures));
                e.failures = e.failures.saturating_add(1);
                Some(Resolved {
                    query: query.clone(),
                    addrs: Vec::new(),
                })
            }
            Outcome::Failed(_) => {
                e.due = Some(now + backoff(e.failures));
                e.failures = e.failures.saturating_add(1);
                None
            }
        }
    }
}

/// The running resolver: give it the directory's names when they change; dropping it stops
/// the task.
pub struct ResolverHandle {
    queries: watch::Sender<Vec<HostQuery>>,
    task: tokio::task::JoinHandle<()>,
}

impl ResolverHandle {
    /// The names to keep resolved from now on (a new directory).
    pub fn set_queries(&self, queries: Vec<HostQuery>) {
        self.queries.send_if_modified(|q| {
            let changed = *q != queries;
            *q = queries;
            changed
        });
    }
}

impl Drop for ResolverHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The resolver of `[dns] servers` (UDP and TCP to each), or of the system's configuration
/// (`/etc/resolv.conf`) when the list is empty.
pub fn build_resolver(servers: &[SocketAddr]) -> anyhow::Result<TokioResolver> {
    let mut builder = if servers.is_empty() {
        TokioResolver::builder_tokio().map_err(|e| {
            anyhow::anyhow!("cannot read the system's DNS configuration ({e}); set [dns] servers")
        })?
    } else {
        let config = ResolverConfig::from_name_servers(
            servers
                .iter()
                .map(|s| {
                    let mut ns = NameServerConfig::udp_and_tcp(s.ip());
                    ns.connections = vec![ConnectionConfig::udp(), ConnectionConfig::tcp()];
                    for c in &mut ns.connections {
                        c.port = s.port();
                    }
                    ns
                })
                .collect(),
        );
        TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    // The schedule decides when to ask again; a cache would only hide changes.
    opts.cache_size = 0;
    Ok(builder.build()?)
}

/// Starts the task that keeps `queries` resolved and sends each answer to `out`.
pub fn spawn(
    resolver: Option<TokioResolver>,
    refresh: Refresh,
    queries: Vec<HostQuery>,
    out: mpsc::UnboundedSender<Resolved>,
) -> ResolverHandle {
    let (tx, rx) = watch::channel(queries);
    let task = tokio::spawn(run(resolver, refresh, rx, out));
    ResolverHandle { queries: tx, task }
}

async fn run(
    resolver: Option<TokioResolver>,
    refresh: Refresh,
    mut queries: watch::Receiver<Vec<HostQuery>>,
    out: mpsc::UnboundedSender<Resolved>,
) {
    let mut schedule = Schedule::new(refresh);
    let first = queries.borrow_and_update().clone();
    schedule.set_queries(Instant::now(), &first);
    let mut running: JoinSet<(HostQuery, Outcome)> = JoinSet::new();
    // What the engine was last told, per name: only changes are sent (and logged at info).
    let mut told: HashMap<HostQuery, Vec<SocketAddr>> = HashMap::new();
    loop {
        let now = Instant::now();
        for q in schedule.take_due(now) {
            let resolver = resolver.clone();
            running.spawn(async move {
                let outcome = match &resolver {
                    Some(r) => lookup(r, &q).await,
                    None => Outcome::Failed("no DNS configuration".to_owned()),
                };
                (q, outcome)
            });
        }
        let next = schedule.next_due();
        let sleep = async {
            match next {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = queries.changed() => {
                if changed.is_err() {
                    break;
                }
                let list = queries.borrow_and_update().clone();
                schedule.set_queries(Instant::now(), &list);
                told.retain(|q, _| list.contains(q));
            }
            Some(done) = running.join_next() => {
                let Ok((q, outcome)) = done else { continue };
                match &outcome {
                    Outcome::Answer { addrs, .. } => {
                        tracing::debug!(gateway = %q.name, ?addrs, "gateway host name looked up");
                    }
                    Outcome::NoRecords => {
                        tracing::warn!(gateway = %q.name, "gateway host name has no address: skipped until it has one");
                    }
                    Outcome::Failed(e) => {
                        tracing::warn!(gateway = %q.name, error = %e, "gateway host name lookup failed; the last answer stands, retrying");
                    }
                }
                let Some(r) = schedule.done(Instant::now(), &q, outcome) else { continue };
                if told.get(&r.query) == Some(&r.addrs) {
                    continue;
                }
                tracing::info!(gateway = %r.query.name, addresses = r.addrs.len(), "gateway host name resolved");
                told.insert(r.query.clone(), r.addrs.clone());
                if out.send(r).is_err() {
                    break;
                }
            }
            _ = sleep => {}
        }
    }
}

/// Looks `q` up (SRV first when no port is given, then A/AAAA).
pub async fn lookup(resolver: &TokioResolver, q: &HostQuery) -> Outcome {
    if let Some(srv_name) = q.srv_name() {
        match resolver.srv_lookup(srv_name.as_str()).await {
            Ok(srv) => {
                let mut records: Vec<_> = srv
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::SRV(s) => Some(s.clone()),
                        _ => None,
                    })
                    // A target of "." says the service is not offered there.
                    .filter(|s| !s.target.is_root())
                    .collect();
                if records.is_empty() {
                    return Outcome::NoRecords;
                }
                records.sort_by_key(|s| (s.priority, Reverse(s.weight)));
                let mut addrs = Vec::new();
                let mut valid_until = srv.valid_until();
                let mut failure = None;
                for s in &records {
                    match resolver.lookup_ip(s.target.clone()).await {
                        Ok(ips) => {
                            valid_until = valid_until.min(ips.valid_until());
                            for ip in ips.iter() {
                                let a = SocketAddr::new(ip, s.port);
                                if !addrs.contains(&a) {
                                    addrs.push(a);
                                }
                            }
                        }
                        Err(e) if e.is_no_records_found() => {}
                        Err(e) => failure = Some(e.to_string()),
                    }
                }
                return match (addrs.is_empty(), failure) {
                    (false, _) => Outcome::Answer { addrs, valid_until },
                    (true, Some(e)) => Outcome::Failed(e),
                    (true, None) => Outcome::NoRecords,
                };
            }
            Err(e) if e.is_no_records_found() => {}
            Err(e) => return Outcome::Failed(e.to_string()),
        }
    }
    match resolver.lookup_ip(format!("{}.", q.name)).await {
        Ok(ips) => {
            let port = q.default_port();
            let addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(ip, port)).collect();
            if addrs.is_empty() {
                Outcome::NoRecords
            } else {
                Outcome::Answer {
                    addrs,
                    valid_until: ips.valid_until(),
                }
            }
        }
        Err(e) if e.is_no_records_found() => Outcome::NoRecords,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callrec_sip::transaction::Transport;

    fn q(name: &str) -> HostQuery {
        HostQuery {
            name: name.into(),
            transport: Transport::Udp,
            port: None,
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_new_name_is_due_at_once_and_looked_up_again_when_its_ttl_runs_out() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Refresh::default());
        s.set_queries(t0, &[q("a.example")]);
        assert_eq!(s.take_due(t0), vec![q("a.example")]);
        assert_eq!(s.next_due(), None, "running: not due again");
        assert!(s.take_due(t0 + secs(100)).is_empty());
        let r = s.done(
            t0,
            &q("a.example"),
            Outcome::Answer {
                addrs: vec![addr("192.0.2.1:5060")],
                valid_until: t0 + secs(30),
            },
        );
        assert_eq!(
            r,
            Some(Resolved {
                query: q("a.example"),
                addrs: vec![addr("192.0.2.1:5060")]
            })
        );
        assert_eq!(s.next_due(), Some(t0 + secs(30)));
        assert!(s.take_due(t0 + secs(29)).is_empty());
        assert_eq!(s.take_due(t0 + secs(30)), vec![q("a.example")]);
    }

    #[test]
    fn ttls_are_held_between_the_minimum_and_the_maximum() {
        let t0 = Instant::now();
        let refresh = Refresh::default();
        let mut s = Schedule::new(refresh);
        s.set_queries(t0, &[q("zero.example"), q("long.example")]);
        s.take_due(t0);
        let answer = |valid_until| Outcome::Answer {
            addrs: vec![addr("192.0.2.1:5060")],
            valid_until,
        };
        s.done(t0, &q("zero.example"), answer(t0));
        s.done(t0, &q("long.example"), answer(t0 + secs(86_400 * 7)));
        assert_eq!(s.next_due(), Some(t0 + refresh.min_ttl));
        assert_eq!(s.take_due(t0 + refresh.min_ttl), vec![q("zero.example")]);
        assert_eq!(s.next_due(), Some(t0 + refresh.max_ttl));
    }

    #[test]
    fn a_failed_lookup_keeps_the_last_answer_and_retries_with_a_doubling_backoff() {
        let t0 = Instant::now();
        let refresh = Refresh::default();
        let mut s = Schedule::new(refresh);
        s.set_queries(t0, &[q("a.example")]);
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..9 {
            assert_eq!(s.take_due(now), vec![q("a.example")]);
            let told = s.done(now, &q("a.example"), Outcome::Failed("timeout".into()));
            assert_eq!(told, None, "the engine keeps what it had");
            let next = s.next_due().unwrap();
            waits.push((next - now).as_secs());
            now = next;
        }
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        // An answer resets the backoff.
        s.take_due(now);
        s.done(
            now,
            &q("a.example"),
            Outcome::Answer {
                addrs: vec![addr("192.0.2.1:5060")],
                valid_until: now + secs(300),
            },
        );
        let now = now + secs(300);
        s.take_due(now);
        s.done(now, &q("a.example"), Outcome::Failed("timeout".into()));
        assert_eq!(s.next_due(), Some(now + secs(1)));
    }

    #[test]
    fn a_name_without_records_empties_its_addresses_and_is_retried() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Refresh::default());
        s.set_queries(t0, &[q("gone.example")]);
        s.take_due(t0);
        let told = s.done(t0, &q("gone.example"), Outcome::NoRecords);
        assert_eq!(
            told,
            Some(Resolved {
                query: q("gone.example"),
                addrs: Vec::new()
            })
        );
        assert_eq!(s.next_due(), Some(t0 + secs(1)));
    }

    #[test]
    fn names_no_longer_listed_are_dropped_and_their_late_answers_ignored() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Refresh::default());
        s.set_queries(t0, &[q("a.example"), q("b.example")]);
        let mut due = s.take_due(t0);
        due.sort_by(|x, y| x.name.cmp(&y.name));
        assert_eq!(due, vec![q("a.example"), q("b.example")]);
        s.set_queries(t0, &[q("b.example"), q("c.example")]);
        let late = s.done(
            t0,
            &q("a.example"),
            Outcome::Answer {
                addrs: vec![addr("192.0.2.1:5060")],
                valid_until: t0 + secs(60),
            },
        );
        assert_eq!(late, None);
        // b is still running (not due again), c is new.
        assert_eq!(s.take_due(t0), vec![q("c.example")]);
    }
}
