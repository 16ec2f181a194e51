//! The RFC 3261 / RFC 6026 transaction timers as a small table per transaction; the next
//! wake-up is the earliest armed timer (as in quinn-proto's `connection/timer.rs`).

use std::time::Instant;

/// A transaction timer (RFC 3261 §17 Table 4, plus L and M from RFC 6026).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE client: request retransmission (UDP), T1 doubling.
    A,
    /// INVITE client: transaction timeout in Calling, 64*T1.
    B,
    /// INVITE client: wait time for response retransmissions in Completed.
    D,
    /// Non-INVITE client: request retransmission (UDP), T1 doubling up to T2.
    E,
    /// Non-INVITE client: transaction timeout, 64*T1.
    F,
    /// INVITE server: final response retransmission (UDP), T1 doubling up to T2.
    G,
    /// INVITE server: wait for ACK, 64*T1.
    H,
    /// INVITE server: wait for ACK retransmissions in Confirmed, T4.
    I,
    /// Non-INVITE server: wait for request retransmissions in Completed, 64*T1.
    J,
    /// Non-INVITE client: wait for response retransmissions in Completed, T4.
    K,
    /// INVITE server (RFC 6026): wait for INVITE retransmissions in Accepted, 64*T1.
    L,
    /// INVITE client (RFC 6026): wait for 2xx retransmissions in Accepted, 64*T1.
    M,
}

impl Timer {
    const ALL: [Timer; 12] = [
        Timer::A,
        Timer::B,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::G,
        Timer::H,
        Timer::I,
        Timer::J,
        Timer::K,
        Timer::L,
        Timer::M,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// The armed deadlines of one transaction.
#[derive(Clone, Debug, Default)]
pub(crate) struct TimerTable {
    data: [Option<Instant>; 12],
}

impl TimerTable {
    /// Arms `timer` to fire at `at` (replacing an earlier deadline).
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        if let Some(slot) = self.data.get_mut(timer.index()) {
            *slot = Some(at);
        }
    }

    /// Disarms `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        if let Some(slot) = self.data.get_mut(timer.index()) {
            *slot = None;
        }
    }

    /// Disarms every timer.
    pub(crate) fn stop_all(&mut self) {
        self.data = [None; 12];
    }

    /// The deadline of `timer`, if armed.
    #[cfg(test)]
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.data.get(timer.index()).copied().flatten()
    }

    /// The earliest armed deadline.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.data.iter().filter_map(|t| *t).min()
    }

    /// The earliest timer due at `now` (deadline <= now), disarmed as it is returned.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let (timer, _) = Timer::ALL
            .iter()
            .zip(self.data.iter())
            .filter_map(|(t, d)| d.filter(|d| *d <= now).map(|d| (*t, d)))
            .min_by_key(|(t, d)| (*d, *t))?;
        self.stop(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn next_timeout_is_the_earliest_armed_timer() {
        let base = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next_timeout(), None);
        t.set(Timer::B, base + Duration::from_secs(32));
        t.set(Timer::A, base + Duration::from_millis(500));
        assert_eq!(t.next_timeout(), Some(base + Duration::from_millis(500)));
        t.stop(Timer::A);
        assert_eq!(t.next_timeout(), Some(base + Duration::from_secs(32)));
        assert_eq!(t.get(Timer::A), None);
    }

    #[test]
    fn pop_expired_returns_due_timers_earliest_first_and_disarms_them() {
        let base = Instant::now();
        let mut t = TimerTable::default();
        t.set(Timer::H, base + Duration::from_secs(2));
        t.set(Timer::G, base + Duration::from_secs(1));
        t.set(Timer::L, base + Duration::from_secs(9));
        assert_eq!(t.pop_expired(base), None);
        let now = base + Duration::from_secs(3);
        assert_eq!(t.pop_expired(now), Some(Timer::G));
        assert_eq!(t.pop_expired(now), Some(Timer::H));
        assert_eq!(t.pop_expired(now), None);
        assert_eq!(t.next_timeout(), Some(base + Duration::from_secs(9)));
        t.stop_all();
        assert_eq!(t.next_timeout(), None);
    }
}
