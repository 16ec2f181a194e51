//! Leg tags: what each leg is, in KAZOO's CDR vocabulary (call_direction, resource_type,
//! account/owner/authorizing ids, interaction id, caller id), fixed when the leg starts.

/// A leg's direction from callrec's point of view (a CDR's `call_direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallDirection {
    /// The peer sent callrec the INVITE (the A leg).
    Inbound,
    /// callrec sent the INVITE (a B leg).
    Outbound,
}

impl CallDirection {
    /// `inbound` / `outbound`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallDirection::Inbound => "inbound",
            CallDirection::Outbound => "outbound",
        }
    }
}

/// Whether a leg's far end is one of our devices or the outside world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    /// A device registered with callrec (or callrec itself answering).
    Onnet,
    /// A carrier / trunk.
    Offnet,
}

impl Network {
    /// `onnet` / `offnet` (also the key of `call_recording` documents and the word in
    /// recording origin labels).
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Onnet => "onnet",
            Network::Offnet => "offnet",
        }
    }

    /// The `call_recording` document key: the same as [`as_str`](Self::as_str).
    pub fn key(self) -> &'static str {
        self.as_str()
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// KAZOO's `resource_type` custom channel var; absent on legs to or from devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// An A leg that came from a carrier.
    OffnetOrigination,
    /// A B leg sent to a carrier.
    OffnetTermination,
}

impl ResourceType {
    /// `offnet-origination` / `offnet-termination`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::OffnetOrigination => "offnet-origination",
            ResourceType::OffnetTermination => "offnet-termination",
        }
    }
}

/// Everything known about a leg when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegTags {
    /// inbound (A) or outbound (B).
    pub call_direction: CallDirection,
    /// Network of the far end of this leg.
    pub network: Network,
    /// Set on carrier legs only.
    pub resource_type: Option<ResourceType>,
    /// The account the call belongs to, when known.
    pub account_id: Option<String>,
    /// The user owning the device at the far end of this leg (A: the caller's, B: the callee's).
    pub owner_id: Option<String>,
    /// The device at the far end of this leg (A: the authenticated caller device).
    pub authorizing_id: Option<String>,
    /// Shared by all legs of the interaction: `<gregorian seconds>-<8 hex>`.
    pub interaction_id: String,
    /// Caller id name presented on this leg.
    pub caller_id_name: Option<String>,
    /// Caller id number presented on this leg.
    pub caller_id_number: Option<String>,
    /// The called number (dialled digits).
    pub callee_number: Option<String>,
}

/// A KAZOO-form interaction id from a wall clock in gregorian seconds and a random value.
pub fn interaction_id(gregorian_seconds: u64, random: u32) -> String {
    format!("{gregorian_seconds}-{random:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interaction_id_has_kazoo_form() {
        assert_eq!(interaction_id(63_900_000_000, 0xab), "63900000000-000000ab");
    }
}
