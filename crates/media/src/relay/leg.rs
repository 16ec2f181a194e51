//! The two legs of a relayed call.

/// A leg of the call: `A` is the caller's side (the INVITE callrec received), `B` the callee's.
/// In stereo recordings A is the left channel and B the right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// Caller side.
    A,
    /// Callee side.
    B,
}

impl Leg {
    /// The other leg.
    pub fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }

    /// 0 for A, 1 for B (array index).
    pub fn index(self) -> usize {
        match self {
            Leg::A => 0,
            Leg::B => 1,
        }
    }

    /// `"a"` or `"b"`, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Leg::A => "a",
            Leg::B => "b",
        }
    }
}
