//! registrar (being written).
