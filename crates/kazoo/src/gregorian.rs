//! KAZOO counts time in gregorian seconds: seconds since 0000-01-01 (Erlang's `calendar`
//! epoch). CDR timestamps, the upload query's `start` and the first half of interaction ids use
//! it.

/// Seconds between 0000-01-01 and 1970-01-01.
pub const UNIX_EPOCH_GREGORIAN_SECONDS: u64 = 62_167_219_200;

/// Unix seconds → gregorian seconds.
pub fn from_unix(unix_secs: u64) -> u64 {
    unix_secs.saturating_add(UNIX_EPOCH_GREGORIAN_SECONDS)
}

/// Gregorian seconds → Unix seconds (0 for times before 1970).
pub fn to_unix(gregorian_secs: u64) -> u64 {
    gregorian_secs.saturating_sub(UNIX_EPOCH_GREGORIAN_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unix_epoch_is_kazoos_62167219200() {
        assert_eq!(from_unix(0), 62_167_219_200);
        assert_eq!(to_unix(from_unix(1_700_000_000)), 1_700_000_000);
        assert_eq!(to_unix(5), 0);
    }
}
