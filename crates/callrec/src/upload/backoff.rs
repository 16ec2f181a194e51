//! Retry delays: exponential backoff with jitter, as a pure function of the attempt number and a
//! random source (tests pass a seeded RNG).

use std::time::Duration;

use rand::Rng;

/// The delay before retrying after failed attempt number `attempt` (1 = the first attempt failed).
///
/// The base doubles from `initial` (`initial * 2^(attempt-1)`), capped at `max`; the result is
/// "equal jitter": half the base plus a uniform random part up to the other half, so retries of
/// many recordings after an outage spread out while the delay still grows.
pub fn backoff_delay<R: Rng + ?Sized>(
    attempt: u32,
    initial: Duration,
    max: Duration,
    rng: &mut R,
) -> Duration {
    let exp = attempt.saturating_sub(1).min(31);
    let base = initial
        .checked_mul(1u32 << exp)
        .unwrap_or(max)
        .min(max)
        .max(Duration::from_millis(1));
    let half = base / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    let extra = if jitter_ms == 0 {
        0
    } else {
        rng.random_range(0..=jitter_ms)
    };
    (base - half) + Duration::from_millis(extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const INITIAL: Duration = Duration::from_secs(5);
    const MAX: Duration = Duration::from_secs(600);

    #[test]
    fn delays_double_within_jitter_bounds_and_cap_at_max() {
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..=40u32 {
            let base = INITIAL
                .checked_mul(1u32 << (attempt - 1).min(31))
                .unwrap_or(MAX)
                .min(MAX);
            let d = backoff_delay(attempt, INITIAL, MAX, &mut rng);
            assert!(
                d >= base / 2 && d <= base,
                "attempt {attempt}: {d:?} vs base {base:?}"
            );
        }
        // From attempt 8 on (5 s * 2^7 = 640 s) the base is capped at 10 minutes.
        let d = backoff_delay(30, INITIAL, MAX, &mut rng);
        assert!(d >= MAX / 2 && d <= MAX);
    }

    #[test]
    fn same_seed_gives_same_delays_and_different_seeds_spread_them() {
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (1..=10)
                .map(|a| backoff_delay(a, INITIAL, MAX, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn attempt_zero_and_huge_attempts_do_not_overflow() {
        let mut rng = StdRng::seed_from_u64(3);
        assert!(backoff_delay(0, INITIAL, MAX, &mut rng) <= INITIAL);
        assert!(backoff_delay(u32::MAX, INITIAL, MAX, &mut rng) <= MAX);
    }
}
