//! Handles for calls and legs, shared with the engine and the media seam.

/// One call (an A leg and its B legs) inside a [`Core`](super::Core). Never reused while the
/// core lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallRef(pub u64);

/// One leg of a call. `LegId::A` (0) is the leg that sent us the INVITE; B legs are numbered
/// from 1 in the order we created them (forks and carrier fail-over each get a new leg).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u32);

impl LegId {
    /// The A leg (inbound, the caller).
    pub const A: LegId = LegId(0);

    /// Whether this is the A leg.
    pub fn is_a(self) -> bool {
        self == LegId::A
    }
}

impl std::fmt::Display for CallRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}", self.0)
    }
}

impl std::fmt::Display for LegId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_a() {
            f.write_str("A")
        } else {
            write!(f, "B{}", self.0)
        }
    }
}
