//! The media direction attribute (RFC 4566 section 6, RFC 3264 section 5.1).

/// Direction of a media stream as its sender declares it. The default when no attribute is
/// present is `SendRecv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// `a=sendrecv` (or no attribute).
    #[default]
    SendRecv,
    /// `a=sendonly`: the sender puts the peer on hold.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// Parses an attribute name (`sendrecv`, `sendonly`, `recvonly`, `inactive`).
    pub fn from_attribute(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Self::SendRecv),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::RecvOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }

    /// The attribute name of this direction.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// Whether this direction means a hold (anything but `sendrecv`).
    pub fn is_hold(self) -> bool {
        self != Self::SendRecv
    }
}
