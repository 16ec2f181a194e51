//! spool (being written).
