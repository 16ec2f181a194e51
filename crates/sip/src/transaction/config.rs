//! Timer base values (RFC 3261 §17.1.1.1 and Table 4).

use std::time::Duration;

/// RFC 3261 timer base values (defaults T1 500 ms, T2 4 s, T4 5 s); from config.
///
/// Derived values: Timers B, F, H, J, L, M are 64*T1; Timer D is 64*T1 but at least 32 s
/// (UDP); Timers I and K are T4 (UDP). Over TCP, D, I, J and K are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// Round-trip time estimate: the first retransmission interval (default 500 ms).
    pub t1: Duration,
    /// Largest retransmission interval for non-INVITE requests and INVITE responses
    /// (default 4 s).
    pub t2: Duration,
    /// How long a message may stay in the network (default 5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> TimerConfig {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64*T1: timers B, F, H, J, L and M.
    pub fn timeout(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// Timer D for unreliable transports: 64*T1, at least 32 s (§17.1.1.2).
    pub fn timer_d(&self) -> Duration {
        self.timeout().max(Duration::from_secs(32))
    }
}
