//! The recording policy: who gets recorded, from when, with which settings, under which label.
//!
//! Pure: no I/O, no async runtime, no clock. Documents come in as `serde_json::Value`
//! (KAZOO's shapes), times come in as arguments, ids come from a caller-supplied generator.
//!
//! # The model
//!
//! **Documents.** A parameters object ([`RecordingParams`]: `enabled`, `format`,
//! `record_min_sec`, `record_on_answer`, `record_on_bridge`, `record_sample_rate`, `time_limit`,
//! `url`, `method`) sits in a direction/network nesting
//! `call_recording = {inbound|outbound|any: {onnet|offnet|any: params}}`. An account document
//! carries `call_recording.account` (account rules) and `call_recording.endpoint` (default for
//! its endpoints); user and device documents carry `call_recording` directly and may carry the
//! legacy `record_call: true` ("everything on").
//!
//! **Merging** ([`RecordingTable::for_endpoint`]). Each document is expanded on its own
//! ([`expand`]): `any` is the default for both siblings, the specific key deep-merged over it.
//! Legacy `record_call: true` is the base of its own document, under its `call_recording`.
//! Then account `endpoint` < user < device are deep-merged, right side winning ([`merge()`]);
//! `{}` (at any depth) is "not configured" and overrides nothing, and a malformed scalar never
//! erases an object below it (this keeps the merge associative). A cell nobody configured is
//! `{"enabled": false}`. `enabled` counts only when `true` (absent = off, as KAZOO's `is_true`).
//!
//! **Deciding** ([`decide()`]). `from` is offnet when the call came from a carrier, `to` is
//! offnet when it routes to one. Account rule (at most one, on the A leg):
//! `inbound.<from>` if enabled, else `outbound.<to>`. Endpoint rules from the endpoint's own
//! point of view: the onnet caller's `outbound.<to>` (A leg) and each onnet callee's
//! `inbound.<from>` (its B leg, from its answer). They are independent: up to three recordings
//! on one internal call. Choices where the spec is silent:
//! - the seed's "if inbound isn't configured" means "isn't enabled" (a present but disabled
//!   inbound cell does not block the outbound rule);
//! - account recordings are on the A leg (it exists for the whole call, IVR included);
//! - `record_on_answer` and `record_on_bridge` both set → answer (the earlier moment);
//! - a callee's recording starts at its answer even without `record_on_answer` (a B leg has
//!   no media before), at bridge if only `record_on_bridge` is set;
//! - a leg past its trigger starts at once: [`StartTrigger::is_satisfied`].
//!
//! **Resolution** ([`ResolvedSettings`], [`PolicyConfig`]). Format default `mp3`
//! (configurable), anything but `mp3`/`wav` → the default; sample rate `None` = the codec's
//! rate; `time_limit` default 3600, clamped to `5..=10800` (maximum configurable); method
//! default `put`; a `url` that is not http(s) is ignored by the lenient reader.
//!
//! **Validation** ([`validate_document`], [`validate_callflow_action`]). Strict: errors
//! ([`PolicyError`]) name the path (`user 8a1f.call_recording.inbound.offnet.format: "ogg" is
//! not one of mp3, wav`); unknown keys are *warnings* ([`PolicyWarning::UnknownKey`]) in the
//! [`ValidationReport`], never dropped silently. Deciding never fails: the lenient readers treat
//! wrongly typed values as absent, so run validation when documents are saved or loaded.
//!
//! **Callflow actions.** [`RecordCallStack`] (`record_call`: start pushes, exactly `"stop"`
//! pops the newest; origin `callflow : <label>`) and [`RecordCaller`] (`record_caller`).
//!
//! **Upload.** [`RecordingMetadata`] (the spool's JSON sidecar) → [`upload_request`]
//! (KAZOO-compatible URL, `audio/mpeg` / `audio/wav`). The query's `start` is in gregorian
//! seconds as KAZOO sends it ([`RecordingMetadata::start_gregorian_secs`]); the sidecar stores
//! Unix seconds.

pub mod config;
pub mod decide;
pub mod error;
pub mod format;
pub mod merge;
pub mod metadata;
pub mod origin;
pub mod params;
pub mod record_call;
pub mod record_caller;
pub mod resolved;
pub mod table;
pub mod trigger;
pub mod upload;
pub mod validate;

pub use config::{PolicyConfig, MIN_TIME_LIMIT_SECS};
pub use decide::{decide, CallFacts, EndpointFacts, Plan, RecordedLeg};
pub use error::{PolicyError, PolicyWarning};
pub use format::{Format, Method};
pub use merge::merge;
pub use metadata::{
    DiscardReason, LegDirection, RecordingMetadata, StoredObject, UploadState, UrlStyle,
};
pub use origin::{NetworkLabel, Origin};
pub use params::{is_http_url, RecordingParams};
pub use record_call::{hex_id, is_plain_file_name, CallflowRecording, RecordCallStack, StackEvent};
pub use record_caller::RecordCaller;
pub use resolved::ResolvedSettings;
pub use table::{endpoint_document, expand, Direction, Network, RecordingTable};
pub use trigger::{LegState, StartTrigger};
pub use upload::{
    encode_component, record_caller_url, upload_file_name, upload_request, upload_url,
    UploadRequest,
};
pub use validate::{validate_callflow_action, validate_document, DocKind, ValidationReport};
