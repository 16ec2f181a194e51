//! The one source of random tokens in signalling: tags, branches, Call-IDs, nonce salts.
//!
//! By default every value comes from the operating system's generator (`rand::random`). A test
//! that wants reproducible messages seeds the generator of its own thread with
//! [`seed_this_thread`]; other threads are unaffected, so tests running in parallel do not
//! disturb each other.

use std::cell::RefCell;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

thread_local! {
    static SEEDED: RefCell<Option<StdRng>> = const { RefCell::new(None) };
}

/// Makes every token drawn on this thread from now on come from a generator seeded with
/// `seed` (tests only: the tokens are then predictable).
pub fn seed_this_thread(seed: u64) {
    SEEDED.with(|s| *s.borrow_mut() = Some(StdRng::seed_from_u64(seed)));
}

/// Back to the operating system's generator on this thread.
pub fn unseed_this_thread() {
    SEEDED.with(|s| *s.borrow_mut() = None);
}

/// A random `u64`.
pub fn random_u64() -> u64 {
    SEEDED.with(|s| match s.borrow_mut().as_mut() {
        Some(rng) => rng.random(),
        None => rand::random(),
    })
}

/// A random `u32`.
pub fn random_u32() -> u32 {
    (random_u64() >> 32) as u32
}

/// A random `u128`.
pub fn random_u128() -> u128 {
    (u128::from(random_u64()) << 64) | u128::from(random_u64())
}

/// 16 lowercase hex digits: a From/To tag.
pub fn tag() -> String {
    format!("{:016x}", random_u64())
}

/// 32 lowercase hex digits (128 bits): ids that must not collide (recordings, Call-IDs).
pub fn hex128() -> String {
    format!("{:032x}", random_u128())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_thread_repeats_its_tokens() {
        seed_this_thread(7);
        let first = (tag(), random_u32(), hex128());
        seed_this_thread(7);
        let again = (tag(), random_u32(), hex128());
        unseed_this_thread();
        assert_eq!(first, again);
        assert_eq!(first.0.len(), 16);
        assert_eq!(first.2.len(), 32);
    }

    #[test]
    fn unseeded_tokens_differ() {
        unseed_this_thread();
        assert_ne!(tag(), tag());
    }
}
