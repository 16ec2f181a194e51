//! The relay port pool: even RTP ports (RTCP = RTP + 1) from a configured range.

use std::collections::{HashSet, VecDeque};

use super::error::PortPoolError;

/// An RTP/RTCP port pair: `rtp` is even, RTCP is `rtp + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortPair {
    /// Even RTP port.
    pub rtp: u16,
}

impl PortPair {
    /// The RTCP port (`rtp + 1`).
    pub fn rtcp(self) -> u16 {
        self.rtp.wrapping_add(1)
    }
}

/// Hands out port pairs from a range, never the same pair twice while it is in use. Released
/// pairs go to the back of the queue, so a port is reused as late as possible (stray packets of
/// an ended call do not reach the next one).
#[derive(Debug)]
pub struct PortPool {
    free: VecDeque<u16>,
    in_use: HashSet<u16>,
}

impl PortPool {
    /// A pool over `min..=max`; every even port `p` with `p + 1 <= max` is one pair.
    pub fn new(min: u16, max: u16) -> Result<Self, PortPoolError> {
        let first = min
            .checked_add(min % 2)
            .ok_or(PortPoolError::EmptyRange { min, max })?;
        let mut free = VecDeque::new();
        let mut port = first;
        while port < max {
            free.push_back(port);
            match port.checked_add(2) {
                Some(next) => port = next,
                None => break,
            }
        }
        if free.is_empty() {
            return Err(PortPoolError::EmptyRange { min, max });
        }
        Ok(PortPool {
            free,
            in_use: HashSet::new(),
        })
    }

    /// Takes a free pair.
    pub fn allocate(&mut self) -> Result<PortPair, PortPoolError> {
        let rtp = self.free.pop_front().ok_or(PortPoolError::Exhausted)?;
        self.in_use.insert(rtp);
        Ok(PortPair { rtp })
    }

    /// Returns a pair to the pool. Returns `false` (and changes nothing) if it was not allocated.
    pub fn release(&mut self, pair: PortPair) -> bool {
        if self.in_use.remove(&pair.rtp) {
            self.free.push_back(pair.rtp);
            true
        } else {
            false
        }
    }

    /// Pairs currently free.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Pairs currently allocated.
    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }
}
