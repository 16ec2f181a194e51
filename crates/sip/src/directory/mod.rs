//! directory (being written).
