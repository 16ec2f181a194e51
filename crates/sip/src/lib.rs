//! callrec-sip (placeholder, see crate docs once implemented).
