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
//! Accounts: an onnet caller's number is looked up in its own account's callflows only
//! (extensions repeat across accounts); a carrier's call through an account's own resource in
//! that account's; a call through a global resource in every account's, and the call then
//! belongs to the account of the callflow it matched ([`Route::account_id`]). A number claimed
//! by several accounts (an extension) is not reachable through a global resource. Disabled
//! accounts' callflows match nothing.
//!
//! Call forwarding: each device of a [`Target::Devices`] carries its
//! [`CallForward`](crate::directory::CallForward) in effect (device over user), or None when
//! `direct_calls_only` excludes this call (the device was reached through a `ring_group`).
//! The forward number goes to the carriers of the device's account ([`carriers_for`]); that
//! is the account's decision, so the no-open-relay rule does not apply to it.
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

pub use normalize::{is_did, normalize_number};
pub use route::{
    carriers_for, match_callflow, route, CallSource, DeviceRef, GatewayRef, Match, MatchKind,
    Route, RouteAction, RoutingPolicy, Target,
};

/// The `data` of a `record_call` / `record_caller` callflow node, passed through unchanged
/// (the policy crate interprets it).
pub type RecordData = serde_json::Value;
