//! documents (being written).
