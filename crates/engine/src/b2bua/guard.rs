//! The source guard: hostile input from one address is dropped before the transaction layer
//! sees it, sans-IO (`now` is an argument).
//!
//! - **Rate limit of unknown sources** (like Kamailio's pike): a source address that is neither
//!   a carrier nor a device that authenticated within `trust_for` gets a token bucket of
//!   `rate` requests per second with `burst` on top; requests beyond it are dropped without an
//!   answer (an answer is what a flood wants) and counted.
//! - **Digest brute force**: `auth_failures` wrong credentials (a 403 to a REGISTER or an
//!   INVITE) from one address within `auth_failure_window` block that address for
//!   `auth_block`: its requests are dropped and counted. Carriers are never blocked.
//!
//! Only requests are checked; responses belong to transactions we started. Memory is bounded:
//! idle entries are pruned once a minute and at most `max_sources` addresses are tracked
//! (beyond that, new unknown addresses are limited as one shared bucket).
//!
//! It lives in the engine, not the socket driver, because whether a source is known
//! (registered device, carrier) and whether a password was wrong are the engine's knowledge.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use tracing::warn;

/// The guard's settings (`[security]` in the binary's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardConfig {
    /// Requests per second from one unknown source; 0 turns the limit off. Default 20.
    pub rate: u32,
    /// Bucket size (requests at once). Default 40.
    pub burst: u32,
    /// Wrong credentials within `auth_failure_window` that block a source; 0 turns blocking
    /// off. Default 10.
    pub auth_failures: u32,
    /// Default 60 s.
    pub auth_failure_window: Duration,
    /// How long a source stays blocked. Default 300 s.
    pub auth_block: Duration,
    /// How long a source that authenticated stays exempt from the rate limit (refreshed by
    /// each success: registrations refresh it). Default 1 h.
    pub trust_for: Duration,
    /// Most addresses tracked at once. Default 65536.
    pub max_sources: usize,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            rate: 20,
            burst: 40,
            auth_failures: 10,
            auth_failure_window: Duration::from_secs(60),
            auth_block: Duration::from_secs(300),
            trust_for: Duration::from_secs(3600),
            max_sources: 65_536,
        }
    }
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Handle it.
    Allow,
    /// Dropped: its unknown source exceeded the rate.
    RateLimited,
    /// Dropped: its source is blocked after wrong passwords.
    Blocked,
}

/// Counters since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GuardStats {
    /// Requests dropped by the rate limit.
    pub rate_limited: u64,
    /// Requests dropped because their source was blocked.
    pub blocked_requests: u64,
    /// Times a source was blocked.
    pub blocks: u64,
    /// Wrong credentials seen.
    pub auth_failures: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

/// The guard (see the module doc).
#[derive(Debug)]
pub struct SourceGuard {
    cfg: GuardConfig,
    buckets: HashMap<IpAddr, Bucket>,
    /// The shared bucket of sources beyond `max_sources`.
    overflow: Option<Bucket>,
    failures: HashMap<IpAddr, Failures>,
    blocked: HashMap<IpAddr, Instant>,
    trusted: HashMap<IpAddr, Instant>,
    stats: GuardStats,
    last_prune: Option<Instant>,
    last_log: Option<Instant>,
    logged: GuardStats,
}

const PRUNE_EVERY: Duration = Duration::from_secs(60);
const LOG_EVERY: Duration = Duration::from_secs(60);

impl SourceGuard {
    /// A guard with nothing tracked.
    pub fn new(cfg: GuardConfig) -> SourceGuard {
        SourceGuard {
            cfg,
            buckets: HashMap::new(),
            overflow: None,
            failures: HashMap::new(),
            blocked: HashMap::new(),
            trusted: HashMap::new(),
            stats: GuardStats::default(),
            last_prune: None,
            last_log: None,
            logged: GuardStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> GuardStats {
        self.stats
    }

    /// Decides one request from `ip` at `now`; `carrier` when the address is a configured
    /// carrier's (never limited or blocked).
    pub fn check(&mut self, now: Instant, ip: IpAddr, carrier: bool) -> Verdict {
        self.prune(now);
        if carrier {
            return Verdict::Allow;
        }
        if let Some(until) = self.blocked.get(&ip) {
            if *until > now {
                self.stats.blocked_requests += 1;
                self.log(now);
                return Verdict::Blocked;
            }
            self.blocked.remove(&ip);
        }
        if self.cfg.rate == 0 || self.trusted.get(&ip).is_some_and(|t| *t > now) {
            return Verdict::Allow;
        }
        let (rate, burst) = (f64::from(self.cfg.rate), f64::from(self.cfg.burst.max(1)));
        let tracked = self.buckets.len() < self.cfg.max_sources || self.buckets.contains_key(&ip);
        let fresh = Bucket {
            tokens: burst,
            at: now,
        };
        let bucket = if tracked {
            self.buckets.entry(ip).or_insert(fresh)
        } else {
            self.overflow.get_or_insert(fresh)
        };
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Verdict::Allow
        } else {
            self.stats.rate_limited += 1;
            self.log(now);
            Verdict::RateLimited
        }
    }

    /// Wrong credentials from `ip` (a 403 after digest). Returns whether `ip` is now blocked.
    pub fn note_auth_failure(&mut self, now: Instant, ip: IpAddr) -> bool {
        self.stats.auth_failures += 1;
        if self.cfg.auth_failures == 0 {
            return false;
        }
        let window = self.cfg.auth_failure_window;
        let f = self.failures.entry(ip).or_insert(Failures {
            count: 0,
            since: now,
        });
        if now.saturating_duration_since(f.since) > window {
            *f = Failures {
                count: 0,
                since: now,
            };
        }
        f.count += 1;
        if f.count < self.cfg.auth_failures {
            return false;
        }
        self.failures.remove(&ip);
        self.trusted.remove(&ip);
        self.blocked.insert(ip, now + self.cfg.auth_block);
        self.stats.blocks += 1;
        warn!(
            blocked_for_s = self.cfg.auth_block.as_secs(),
            blocks = self.stats.blocks,
            "a source address sent too many wrong passwords and is blocked"
        );
        true
    }

    /// `ip` authenticated: exempt from the rate limit for `trust_for`, failures forgotten.
    pub fn note_auth_success(&mut self, now: Instant, ip: IpAddr) {
        self.failures.remove(&ip);
        self.buckets.remove(&ip);
        if self.trusted.len() < self.cfg.max_sources || self.trusted.contains_key(&ip) {
            self.trusted.insert(ip, now + self.cfg.trust_for);
        }
    }

    fn prune(&mut self, now: Instant) {
        if self
            .last_prune
            .is_some_and(|t| now.saturating_duration_since(t) < PRUNE_EVERY)
        {
            return;
        }
        self.last_prune = Some(now);
        let refill = if self.cfg.rate == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(f64::from(self.cfg.burst.max(1)) / f64::from(self.cfg.rate))
        };
        // A bucket that has refilled is the same as no bucket.
        self.buckets
            .retain(|_, b| now.saturating_duration_since(b.at) < refill);
        if self
            .overflow
            .is_some_and(|b| now.saturating_duration_since(b.at) >= refill)
        {
            self.overflow = None;
        }
        let window = self.cfg.auth_failure_window;
        self.failures
            .retain(|_, f| now.saturating_duration_since(f.since) <= window);
        self.blocked.retain(|_, until| *until > now);
        self.trusted.retain(|_, until| *until > now);
    }

    /// A warning with the counts, at most once a minute and only when something was dropped.
    fn log(&mut self, now: Instant) {
        if self
            .last_log
            .is_some_and(|t| now.saturating_duration_since(t) < LOG_EVERY)
        {
            return;
        }
        self.last_log = Some(now);
        let s = self.stats;
        warn!(
            rate_limited = s.rate_limited,
            blocked_requests = s.blocked_requests,
            new_rate_limited = s.rate_limited - self.logged.rate_limited,
            new_blocked = s.blocked_requests - self.logged.blocked_requests,
            "requests dropped by the source guard so far"
        );
        self.logged = s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn guard() -> (SourceGuard, Instant) {
        let cfg = GuardConfig {
            rate: 2,
            burst: 4,
            auth_failures: 3,
            ..GuardConfig::default()
        };
        (SourceGuard::new(cfg), Instant::now())
    }

    #[test]
    fn an_unknown_source_gets_its_burst_then_the_rate_and_the_excess_is_counted() {
        let (mut g, t0) = guard();
        let a = ip("192.0.2.50");
        let verdicts: Vec<Verdict> = (0..6).map(|_| g.check(t0, a, false)).collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Allow).count(), 4);
        assert_eq!(g.stats().rate_limited, 2);
        // Half a second later: one more token (2 per second).
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(g.check(t1, a, false), Verdict::Allow);
        assert_eq!(g.check(t1, a, false), Verdict::RateLimited);
        // Another source is not affected.
        assert_eq!(g.check(t1, ip("192.0.2.51"), false), Verdict::Allow);
    }

    #[test]
    fn carriers_and_authenticated_sources_are_not_limited() {
        let (mut g, t0) = guard();
        let phone = ip("192.0.2.60");
        g.note_auth_success(t0, phone);
        for _ in 0..100 {
            assert_eq!(g.check(t0, phone, false), Verdict::Allow);
            assert_eq!(g.check(t0, ip("203.0.113.10"), true), Verdict::Allow);
        }
        // Trust ends after an hour without a new success.
        let later = t0 + Duration::from_secs(3601);
        let verdicts: Vec<Verdict> = (0..10).map(|_| g.check(later, phone, false)).collect();
        assert!(verdicts.contains(&Verdict::RateLimited));
    }

    #[test]
    fn wrong_passwords_block_the_source_for_a_while() {
        let (mut g, t0) = guard();
        let attacker = ip("192.0.2.70");
        assert!(!g.note_auth_failure(t0, attacker));
        assert!(!g.note_auth_failure(t0, attacker));
        assert!(g.note_auth_failure(t0, attacker));
        assert_eq!(g.check(t0, attacker, false), Verdict::Blocked);
        assert_eq!(g.stats().blocks, 1);
        assert_eq!(g.stats().blocked_requests, 1);
        // A carrier at that address is never blocked.
        assert_eq!(g.check(t0, attacker, true), Verdict::Allow);
        // After the block: allowed again.
        let after = t0 + Duration::from_secs(301);
        assert_eq!(g.check(after, attacker, false), Verdict::Allow);
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_block() {
        let (mut g, t0) = guard();
        let a = ip("192.0.2.80");
        for i in 0..10u64 {
            assert!(!g.note_auth_failure(t0 + Duration::from_secs(61 * i), a));
        }
        assert_eq!(g.stats().blocks, 0);
    }

    #[test]
    fn a_success_forgets_earlier_failures() {
        let (mut g, t0) = guard();
        let a = ip("192.0.2.90");
        g.note_auth_failure(t0, a);
        g.note_auth_failure(t0, a);
        g.note_auth_success(t0, a);
        assert!(!g.note_auth_failure(t0, a));
        assert!(!g.note_auth_failure(t0, a));
    }

    #[test]
    fn sources_beyond_the_tracking_limit_share_one_bucket() {
        let cfg = GuardConfig {
            rate: 1,
            burst: 1,
            max_sources: 2,
            ..GuardConfig::default()
        };
        let mut g = SourceGuard::new(cfg);
        let t0 = Instant::now();
        assert_eq!(g.check(t0, ip("192.0.2.1"), false), Verdict::Allow);
        assert_eq!(g.check(t0, ip("192.0.2.2"), false), Verdict::Allow);
        assert_eq!(g.check(t0, ip("192.0.2.3"), false), Verdict::Allow);
        assert_eq!(g.check(t0, ip("192.0.2.4"), false), Verdict::RateLimited);
    }
}
