//! upload (being written).
