//! `decide`: which legs of a call are recorded, from when, with which settings and label.

use crate::recording::config::PolicyConfig;
use crate::recording::metadata::LegDirection;
use crate::recording::origin::Origin;
use crate::recording::resolved::ResolvedSettings;
use crate::recording::table::{Direction, Network, RecordingTable};
use crate::recording::trigger::{LegState, StartTrigger};

/// Which leg of the call a recording belongs to (and whose CDR carries it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordedLeg {
    /// The caller's side: the leg that sent callrec the INVITE (`call_direction` inbound).
    A,
    /// The callee's side: a leg callrec sent an INVITE on (`call_direction` outbound).
    B,
}

impl RecordedLeg {
    /// The CDR `call_direction` of this leg (A = inbound, B = outbound).
    pub fn direction(self) -> LegDirection {
        match self {
            RecordedLeg::A => LegDirection::Inbound,
            RecordedLeg::B => LegDirection::Outbound,
        }
    }
}

/// One onnet endpoint taking part in a call, with its merged settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointFacts {
    /// The device id.
    pub endpoint_id: String,
    /// The owning user's id, if the device has an owner.
    pub owner_id: Option<String>,
    /// Merged settings: [`RecordingTable::for_endpoint`].
    pub recording: RecordingTable,
}

/// What is known about a call when it is routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFacts {
    /// `offnet` when the call came from a carrier, else `onnet`.
    pub from: Network,
    /// `offnet` when the dialled number routes to a carrier, else `onnet`.
    pub to: Network,
    /// The calling endpoint; only consulted when `from` is onnet.
    pub caller: Option<EndpointFacts>,
    /// The endpoints rung (one B leg each): onnet devices, or a device whose call forwarding
    /// sends its B leg to a carrier (then `to` is offnet and the forwarding endpoint's rules
    /// apply as the callee's). Carrier legs that are no endpoint's are not listed.
    pub callees: Vec<EndpointFacts>,
    /// Account rules: [`RecordingTable::for_account`].
    pub account: RecordingTable,
}

/// One recording to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The leg recorded.
    pub leg: RecordedLeg,
    /// Why (the origin label).
    pub origin: Origin,
    /// When it starts; see [`StartTrigger::is_satisfied`] for legs already past that moment.
    pub trigger: StartTrigger,
    /// Settings with defaults applied.
    pub settings: ResolvedSettings,
    /// The endpoint whose rule this is (None for account rules).
    pub endpoint_id: Option<String>,
    /// The owner of that endpoint (None for account rules or unowned devices).
    pub owner_id: Option<String>,
}

impl Plan {
    /// True when the recording should start at once for a leg in `state` (its trigger has
    /// already happened, or it is [`StartTrigger::Now`]).
    pub fn starts_now(&self, state: LegState) -> bool {
        self.trigger.is_satisfied(state)
    }
}

/// Decides every recording of a call. The result holds, in order:
///
/// 1. at most one account recording, on the A leg: `account.inbound.<from>` if enabled, else
///    `account.outbound.<to>` if enabled; trigger from its `record_on_*` flags;
/// 2. the caller's `outbound.<to>` when the caller is onnet, on the A leg, trigger from its flags;
/// 3. each callee's `inbound.<from>`, on that callee's B leg, starting at its answer (or at
///    bridge if `record_on_bridge` alone is set). A callee is an onnet device, or the device
///    whose call forwarding sent the B leg to a carrier (offnet -> offnet: the forwarding
///    user's rules as the endpoint's).
///
/// These are independent, so an internal call can yield three recordings.
pub fn decide(facts: &CallFacts, config: &PolicyConfig) -> Vec<Plan> {
    let mut plans = Vec::new();

    let inbound = facts.account.get(Direction::Inbound, facts.from);
    let outbound = facts.account.get(Direction::Outbound, facts.to);
    let account_rule = if inbound.enabled {
        Some((
            inbound,
            Origin::AccountInbound {
                from: facts.from.into(),
            },
        ))
    } else if outbound.enabled {
        Some((
            outbound,
            Origin::AccountOutbound {
                to: facts.to.into(),
            },
        ))
    } else {
        None
    };
    if let Some((params, origin)) = account_rule {
        plans.push(Plan {
            leg: RecordedLeg::A,
            origin,
            trigger: StartTrigger::from_params(params),
            settings: ResolvedSettings::resolve(params, config),
            endpoint_id: None,
            owner_id: None,
        });
    }

    if facts.from == Network::Onnet {
        if let Some(caller) = &facts.caller {
            let params = caller.recording.get(Direction::Outbound, facts.to);
            if params.enabled {
                plans.push(Plan {
                    leg: RecordedLeg::A,
                    origin: Origin::EndpointOutbound {
                        to: facts.to.into(),
                    },
                    trigger: StartTrigger::from_params(params),
                    settings: ResolvedSettings::resolve(params, config),
                    endpoint_id: Some(caller.endpoint_id.clone()),
                    owner_id: caller.owner_id.clone(),
                });
            }
        }
    }

    {
        for callee in &facts.callees {
            let params = callee.recording.get(Direction::Inbound, facts.from);
            if params.enabled {
                let trigger = if params.record_on_bridge && !params.record_on_answer {
                    StartTrigger::Bridge
                } else {
                    StartTrigger::Answer
                };
                plans.push(Plan {
                    leg: RecordedLeg::B,
                    origin: Origin::EndpointInbound {
                        from: facts.from.into(),
                    },
                    trigger,
                    settings: ResolvedSettings::resolve(params, config),
                    endpoint_id: Some(callee.endpoint_id.clone()),
                    owner_id: callee.owner_id.clone(),
                });
            }
        }
    }
    plans
}
