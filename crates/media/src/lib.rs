//! callrec-media (placeholder, see crate docs once implemented).
