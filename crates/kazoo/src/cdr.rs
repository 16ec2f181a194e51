//! The signalling half of a leg's CDR: what callrec's signalling knows when a leg ends. The
//! engine adds recording fields and wall-clock timestamps, and writes the record.

use std::time::{Duration, Instant};

use super::tags::{CallDirection, Network, ResourceType};

/// Why a leg ended, in KAZOO/FreeSWITCH hangup-cause names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HangupCause {
    /// A party hung up after answer (BYE), or callrec answered and ended normally.
    NormalClearing,
    /// The caller cancelled before answer (CANCEL, 487).
    OriginatorCancel,
    /// The callee was busy (486, 600).
    UserBusy,
    /// Nobody answered before the no-answer timeout.
    NoAnswer,
    /// The callee's side gave up (480).
    NoUserResponse,
    /// The callee has no registered device.
    UserNotRegistered,
    /// Another fork answered first; this leg was cancelled.
    LoseRace,
    /// The number routes nowhere (404 from routing, 485, 604).
    NoRouteDestination,
    /// The callee said the number does not exist (404).
    UnallocatedNumber,
    /// Refused (401, 402, 403, 407, 603), or the caller failed authentication.
    CallRejected,
    /// No final response in time (408, 504, Timer B).
    RecoveryOnTimerExpire,
    /// A temporary failure (400, 481, 500, 503, all gateways failed).
    NormalTemporaryFailure,
    /// 405.
    ServiceUnavailable,
    /// 406, 415, 501.
    ServiceNotImplemented,
    /// 488, 606, or SDP the media side refused.
    IncompatibleDestination,
    /// 484.
    InvalidNumberFormat,
    /// 502.
    NetworkOutOfOrder,
    /// 482, 483 (loops, too many hops).
    ExchangeRoutingError,
    /// 410.
    NumberChanged,
    /// 413, 414, 416, 420, 421, 423, 505, 513.
    Interworking,
    /// The engine saw no media for too long.
    MediaTimeout,
    /// A time limit (record_caller `time_limit`) ended the call.
    AllottedTimeout,
    /// The engine or an operator ended the call.
    ManagerRequest,
    /// Anything else.
    NormalUnspecified,
}

impl HangupCause {
    /// The KAZOO name (`NORMAL_CLEARING`, `USER_BUSY`...).
    pub fn as_str(self) -> &'static str {
        use HangupCause::*;
        match self {
            NormalClearing => "NORMAL_CLEARING",
            OriginatorCancel => "ORIGINATOR_CANCEL",
            UserBusy => "USER_BUSY",
            NoAnswer => "NO_ANSWER",
            NoUserResponse => "NO_USER_RESPONSE",
            UserNotRegistered => "USER_NOT_REGISTERED",
            LoseRace => "LOSE_RACE",
            NoRouteDestination => "NO_ROUTE_DESTINATION",
            UnallocatedNumber => "UNALLOCATED_NUMBER",
            CallRejected => "CALL_REJECTED",
            RecoveryOnTimerExpire => "RECOVERY_ON_TIMER_EXPIRE",
            NormalTemporaryFailure => "NORMAL_TEMPORARY_FAILURE",
            ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ServiceNotImplemented => "SERVICE_NOT_IMPLEMENTED",
            IncompatibleDestination => "INCOMPATIBLE_DESTINATION",
            InvalidNumberFormat => "INVALID_NUMBER_FORMAT",
            NetworkOutOfOrder => "NETWORK_OUT_OF_ORDER",
            ExchangeRoutingError => "EXCHANGE_ROUTING_ERROR",
            NumberChanged => "NUMBER_CHANGED",
            Interworking => "INTERWORKING",
            MediaTimeout => "MEDIA_TIMEOUT",
            AllottedTimeout => "ALLOTTED_TIMEOUT",
            ManagerRequest => "MANAGER_REQUEST",
            NormalUnspecified => "NORMAL_UNSPECIFIED",
        }
    }

    /// The cause for a final SIP status received on (or sent to) a leg (mod_sofia's table).
    pub fn from_sip_status(status: u16) -> HangupCause {
        use HangupCause::*;
        match status {
            200..=299 => NormalClearing,
            401 | 402 | 403 | 407 | 603 => CallRejected,
            404 => UnallocatedNumber,
            485 | 604 => NoRouteDestination,
            408 | 504 => RecoveryOnTimerExpire,
            410 => NumberChanged,
            413 | 414 | 416 | 420 | 421 | 423 | 505 | 513 => Interworking,
            480 => NoUserResponse,
            400 | 481 | 500 | 503 => NormalTemporaryFailure,
            486 | 600 => UserBusy,
            484 => InvalidNumberFormat,
            488 | 606 => IncompatibleDestination,
            502 => NetworkOutOfOrder,
            405 => ServiceUnavailable,
            406 | 415 | 501 => ServiceNotImplemented,
            482 | 483 => ExchangeRoutingError,
            487 => OriginatorCancel,
            _ => NormalUnspecified,
        }
    }

    /// The final status sent to a caller whose call ends for this cause before answer.
    pub fn sip_status(self) -> (u16, &'static str) {
        use HangupCause::*;
        match self {
            UserBusy => (486, "Busy Here"),
            NoAnswer | NoUserResponse | UserNotRegistered | LoseRace => {
                (480, "Temporarily Unavailable")
            }
            OriginatorCancel => (487, "Request Terminated"),
            NoRouteDestination | UnallocatedNumber => (404, "Not Found"),
            CallRejected => (403, "Forbidden"),
            RecoveryOnTimerExpire => (408, "Request Timeout"),
            IncompatibleDestination => (488, "Not Acceptable Here"),
            InvalidNumberFormat => (484, "Address Incomplete"),
            ExchangeRoutingError => (483, "Too Many Hops"),
            NumberChanged => (410, "Gone"),
            ServiceNotImplemented => (501, "Not Implemented"),
            NetworkOutOfOrder => (502, "Bad Gateway"),
            NormalClearing
            | MediaTimeout
            | AllottedTimeout
            | ManagerRequest
            | NormalTemporaryFailure
            | ServiceUnavailable
            | Interworking
            | NormalUnspecified => (503, "Service Unavailable"),
        }
    }
}

impl std::fmt::Display for HangupCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The end user's view of the call, computed from the networks of its A leg and its B side
/// (behaviour.md "CDRs": what UIs struggle to derive from `call_direction` and `resource_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndUserDirection {
    /// offnet → onnet: a call in from the PSTN to a device.
    Inbound,
    /// onnet → offnet: a device calling the PSTN.
    Outbound,
    /// onnet → onnet: device to device (or to callrec itself).
    Internal,
    /// offnet → offnet: a PSTN call sent back out to the PSTN.
    Forwarded,
}

impl EndUserDirection {
    /// From the caller's network (A leg) and the callee's network (B legs, or onnet when callrec
    /// answers itself).
    pub fn from_networks(from: Network, to: Network) -> EndUserDirection {
        match (from, to) {
            (Network::Offnet, Network::Onnet) => EndUserDirection::Inbound,
            (Network::Onnet, Network::Offnet) => EndUserDirection::Outbound,
            (Network::Onnet, Network::Onnet) => EndUserDirection::Internal,
            (Network::Offnet, Network::Offnet) => EndUserDirection::Forwarded,
        }
    }

    /// `inbound` / `outbound` / `internal` / `forwarded`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndUserDirection::Inbound => "inbound",
            EndUserDirection::Outbound => "outbound",
            EndUserDirection::Internal => "internal",
            EndUserDirection::Forwarded => "forwarded",
        }
    }
}

/// The signalling facts of one leg's CDR, delivered by the B2BUA when the leg ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdrFacts {
    /// This leg's own Call-ID.
    pub call_id: String,
    /// The Call-ID of the A leg (KAZOO's `other_leg_call_id` on B legs; the same on A).
    pub a_leg_call_id: String,
    /// Shared by all legs of the interaction.
    pub interaction_id: String,
    /// inbound (A) / outbound (B).
    pub call_direction: CallDirection,
    /// The network of this leg's far end.
    pub network: Network,
    /// The From URI of this leg (as sent or received).
    pub from_uri: String,
    /// The To URI of this leg.
    pub to_uri: String,
    /// The Request-URI of this leg's INVITE.
    pub request_uri: String,
    /// Caller id name and number presented on this leg.
    pub caller_id_name: Option<String>,
    /// Caller id number.
    pub caller_id_number: Option<String>,
    /// The dialled number.
    pub callee_number: Option<String>,
    /// When the INVITE was received or sent.
    pub created: Instant,
    /// When the leg was answered (2xx sent or received), if it was.
    pub answered: Option<Instant>,
    /// When the leg ended.
    pub ended: Instant,
    /// `ended - created` (KAZOO `duration_seconds`).
    pub duration: Duration,
    /// `ended - answered`, zero when never answered (KAZOO `billing_seconds`).
    pub billing: Duration,
    /// `answered - created` (or `ended - created` when never answered) (KAZOO `ringing_seconds`).
    pub ringing: Duration,
    /// Why the leg ended.
    pub hangup_cause: HangupCause,
    /// The final SIP status of the leg's INVITE, or of the BYE that ended it (`sip:486`).
    pub hangup_code: Option<u16>,
    /// custom_channel_vars.account_id.
    pub account_id: Option<String>,
    /// custom_channel_vars.owner_id.
    pub owner_id: Option<String>,
    /// custom_channel_vars.authorizing_id.
    pub authorizing_id: Option<String>,
    /// custom_channel_vars.resource_type.
    pub resource_type: Option<ResourceType>,
    /// The end user's direction computed from all legs.
    pub end_user_direction: EndUserDirection,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_user_direction_follows_the_networks_of_both_sides() {
        use EndUserDirection::*;
        use Network::*;
        let table = [
            (Offnet, Onnet, Inbound),
            (Onnet, Offnet, Outbound),
            (Onnet, Onnet, Internal),
            (Offnet, Offnet, Forwarded),
        ];
        for (from, to, want) in table {
            assert_eq!(EndUserDirection::from_networks(from, to), want);
        }
    }

    #[test]
    fn sip_statuses_map_to_kazoo_hangup_causes() {
        assert_eq!(HangupCause::from_sip_status(486).as_str(), "USER_BUSY");
        assert_eq!(
            HangupCause::from_sip_status(487).as_str(),
            "ORIGINATOR_CANCEL"
        );
        assert_eq!(
            HangupCause::from_sip_status(404).as_str(),
            "UNALLOCATED_NUMBER"
        );
        assert_eq!(
            HangupCause::from_sip_status(503).as_str(),
            "NORMAL_TEMPORARY_FAILURE"
        );
        assert_eq!(
            HangupCause::from_sip_status(200).as_str(),
            "NORMAL_CLEARING"
        );
        assert_eq!(HangupCause::NoAnswer.sip_status().0, 480);
    }
}
