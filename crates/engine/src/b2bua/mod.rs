//! The B2BUA core: the Transaction User on top of [`callrec_sip::transaction`]. It admits INVITEs
//! (carriers by source address, devices by digest), routes them with [`callrec_kazoo::routing`],
//! runs each call as an A leg (server dialog) bridged to B legs (client dialogs with their
//! own Call-ID, tags, Via and CSeq — nothing of the A leg leaks to a B leg), passes every
//! SDP through a [`MediaSeam`], and reports the recording lifecycle and CDR facts to the
//! engine as [`CallEvent`]s. Sans-IO: no sockets, no clock reads.
//!
//! The engine's loop:
//! ```ignore
//! let mut core = Core::new(CoreConfig { .. }, directory);
//! // after every input to the transaction layer, for each event drained from it:
//! core.handle_tx_event(now, ev, &mut txl, &mut media);
//! // when core.poll_timeout() is due:
//! core.handle_timeout(now, &mut txl, &mut media);
//! // then drain: txl.poll_transmit(), txl.poll_event() (back into the core), core.poll_event()
//! // engine-initiated ends (media timeout, record_caller finished):
//! core.hangup(now, call, HangupCause::MediaTimeout, &mut txl, &mut media);
//! core.set_directory(new_directory); // reload without dropping calls
//! ```
//!
//! | file | what |
//! | --- | --- |
//! | `core.rs` | [`Core`]: dispatch of transaction events, OPTIONS, errors, loop detection |
//! | `admission.rs` | INVITE admission (carrier / device auth / refusal), routing, call start |
//! | `dir_adapter.rs` | the calls into directory, auth, registrar and routing; admission state |
//! | `call.rs` | one call: B legs, forking, fail-over, answer, CANCEL, BYE, timers |
//! | `in_dialog.rs` | re-INVITE / UPDATE / INFO relayed between legs, hold detection |
//! | `leg.rs` | one leg's dialog state and in-dialog request building |
//! | `index.rs` | transaction/dialog lookup tables |
//! | `events.rs` | [`CallEvent`], [`LegInfo`] |
//! | `media_seam.rs` | [`MediaSeam`], [`PassthroughMedia`] |
//! | `hold.rs` | hold detection from SDP |
//! | `config.rs` | [`CoreConfig`] |
//!
//! Logging: each call has one `call` span (fields `call`, `call_id`); leg ids are event
//! fields. Numbers and addresses are logged at debug level only; digest secrets never.

mod admission;
mod call;
mod config;
mod core;
mod dir_adapter;
mod events;
mod guard;
mod hold;
mod ids;
mod in_dialog;
mod index;
mod leg;
mod media_seam;

pub use self::core::Core;
pub use callrec_kazoo::cdr::{CdrFacts, EndUserDirection, HangupCause};
pub use callrec_kazoo::tags::{interaction_id, CallDirection, LegTags, Network, ResourceType};
pub use config::{Advertised, CoreConfig};
pub use events::{CallEvent, LegInfo};
pub use guard::{GuardConfig, GuardStats, SourceGuard, Verdict};
pub use hold::sdp_is_hold;
pub use ids::{CallRef, LegId};
pub use media_seam::{MediaSeam, MediaSeamError, PassthroughMedia};
