//! callrec-engine: the call engine, sans-IO (no sockets, no clock reads, no async runtime).
//!
//! | module | what |
//! | --- | --- |
//! | [`b2bua`] | the B2BUA core: admission, routing to B legs, forking, in-dialog requests, CDR facts |
//! | [`media_plan`] | the B2BUA's media seam: relay ports, each call's media session, open/close as commands |
//! | [`coordinator`] | the recording coordinator: which recordings a call gets, when they start and stop |
//! | [`upload_target`] | the one place a finished recording's upload URL and file name are built (at finish and at crash recovery) |
//! | [`cdr_record`] | a leg's CDR as KAZOO-shaped JSON |
//! | [`wall_clock`] | `now` → Unix time, from one anchor |
//! | [`engine`] | [`Engine`]: the whole call engine, `handle_*(now, ..)` in, `poll_*()` out |
pub mod b2bua;
pub mod cdr_record;
pub mod coordinator;
pub mod engine;
pub mod media_plan;
pub mod upload_target;
pub mod wall_clock;

pub use engine::{
    Command, Engine, EngineConfig, EngineStats, FinishedRecording, MediaEvent, RecordedAudio,
    RecorderStart, SpoolEntry, SpoolRefusal,
};
pub use media_plan::MediaCommand;
pub use upload_target::Disposition;
