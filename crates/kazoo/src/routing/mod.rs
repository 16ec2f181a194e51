//! Routing: the dialled number → the caller's account's callflow → what the B2BUA does.
//!
//! Matching ([`match_callflow`]): the [normalised](normalize_number) number against the
//! callflows' `numbers` (exact), then their `patterns` in load order (first match wins), then
//! the callflow whose numbers contain `no_match` — the last only for onnet callers.
//!
//! Walking ([`route`]): from the matched callflow's `flow`, `record_call` nodes become
//! [`RouteAction::RecordCall`] and the walk continues with child `_`; the first `device`,
//! `user`, `resources`/`offnet` or `record_caller` node is the [`Target`]. Children of the
//! target node (KAZOO's failover branches, e.g. to voicemail) are not followed.
//!
//! Rules:
//! - no callflow matches: an onnet caller goes to the carriers (KAZOO's `no_match` → global
//!   resources) when any enabled resource exists, else [`Target::NotFound`]; an offnet caller
//!   gets [`Target::NotFound`] (404).
//! - no open relay: a call from a carrier whose route ends at the carriers again (PSTN → PSTN)
//!   gets [`Target::RelayRefused`] (403) unless [`RoutingPolicy::allow_offnet_to_offnet`] is set.
//!   Calls from anyone else never reach [`route`]: the B2BUA admits only authenticated devices
//!   and configured carriers.

mod normalize;
mod route;

pub use normalize::normalize_number;
pub use route::{
    match_callflow, route, CallSource, DeviceRef, GatewayRef, Match, MatchKind, Route, RouteAction,
    RoutingPolicy, Target,
};

/// The `data` of a `record_call` / `record_caller` callflow node, passed through unchanged
/// (the policy crate interprets it).
pub type RecordData = serde_json::Value;
