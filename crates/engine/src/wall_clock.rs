//! The engine's one wall clock: the monotonic `now` every input carries, mapped onto Unix time
//! by an anchor taken once (at start-up in the binary, fixed in tests). Library code never
//! reads the system clock.

use std::time::Instant;

/// Maps the monotonic clock onto wall-clock milliseconds (taken once at start-up, so CDR
/// times of one run are consistent with each other).
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    /// `None`: a stopped clock (every instant is `base_unix_ms`).
    base: Option<Instant>,
    base_unix_ms: u64,
}

impl WallClock {
    /// `base` and `base_unix_ms` name the same moment.
    pub fn new(base: Instant, base_unix_ms: u64) -> Self {
        WallClock {
            base: Some(base),
            base_unix_ms,
        }
    }

    /// A clock that always says `unix_ms` (tests, defaults).
    pub fn stopped(unix_ms: u64) -> Self {
        WallClock {
            base: None,
            base_unix_ms: unix_ms,
        }
    }

    /// Unix milliseconds of `t`.
    pub fn unix_ms(&self, t: Instant) -> u64 {
        let Some(base) = self.base else {
            return self.base_unix_ms;
        };
        if t >= base {
            self.base_unix_ms
                .saturating_add(t.duration_since(base).as_millis() as u64)
        } else {
            self.base_unix_ms
                .saturating_sub(base.duration_since(t).as_millis() as u64)
        }
    }

    /// Unix seconds of `t`.
    pub fn unix_secs(&self, t: Instant) -> u64 {
        self.unix_ms(t) / 1000
    }
}
