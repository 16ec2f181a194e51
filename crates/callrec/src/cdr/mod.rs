//! cdr (being written).
