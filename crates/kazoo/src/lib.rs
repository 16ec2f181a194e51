//! callrec-kazoo: the KAZOO domain, pure (no I/O, no clock, no async runtime).
//!
//! This crate is the only code that reads KAZOO documents. Everything KAZOO-shaped lives here:
//!
//! | module | what |
//! | --- | --- |
//! | [`directory`] | accounts, users, devices, callflows, resources: checked, indexed, looked up; the digest [`Credentials`](callrec_sip::auth::Credentials) store |
//! | [`routing`] | dialled number → callflow → targets |
//! | [`recording`] | `call_recording` documents: validation with path-named errors, precedence, the seed's matrix, `record_call`/`record_caller`, recording metadata and the upload URL |
//! | [`load`] | raw documents → a validated [`Directory`](directory::Directory) (refused with every error named) |
//! | [`tags`] | a leg's CDR vocabulary: call direction, network, resource type, ids; interaction ids |
//! | [`cdr`] | CDR facts, hangup causes, the end user's direction |
//! | [`storage`] | the account's storage document (S3 handlers, the call recording plan): validation by field, object keys, masked secrets |
//! | [`gregorian`] | KAZOO's clock: seconds since 0000-01-01 |
//!
//! The recording policy was its own crate; it is a module here because it reads the same
//! documents (`call_recording` on accounts, users, devices and callflow actions) and its
//! validation must run wherever documents are saved: one crate, one reading of the documents.

pub mod cdr;
pub mod directory;
pub mod gregorian;
pub mod load;
pub mod recording;
pub mod routing;
pub mod storage;
pub mod tags;
