//! When a recording starts: now, at answer or at bridge, and whether that moment has passed.

use serde::{Deserialize, Serialize};

use crate::recording::params::RecordingParams;

/// The moment a planned recording starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartTrigger {
    /// Start as soon as the rule applies.
    Now,
    /// Start when the recorded leg is answered (`record_on_answer`).
    Answer,
    /// Start when the recorded leg is bridged to its peer (`record_on_bridge`).
    Bridge,
}

/// What has already happened to a leg, for [`StartTrigger::is_satisfied`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegState {
    /// The leg has been answered (200 OK sent or received).
    pub answered: bool,
    /// The leg has been bridged to another leg (media flows between them).
    pub bridged: bool,
}

impl StartTrigger {
    /// The trigger a parameters object asks for. When both `record_on_answer` and
    /// `record_on_bridge` are set, the earlier moment (answer) wins.
    pub fn from_params(p: &RecordingParams) -> StartTrigger {
        if p.record_on_answer {
            StartTrigger::Answer
        } else if p.record_on_bridge {
            StartTrigger::Bridge
        } else {
            StartTrigger::Now
        }
    }

    /// True when the moment has already passed for a leg in `state`, so the recording starts
    /// at once instead of waiting for an event that will not come again (KAZOO waits forever).
    /// A bridged leg counts as answered.
    pub fn is_satisfied(self, state: LegState) -> bool {
        match self {
            StartTrigger::Now => true,
            StartTrigger::Answer => state.answered || state.bridged,
            StartTrigger::Bridge => state.bridged,
        }
    }
}
