//! callrec-policy (placeholder, see crate docs once implemented).
