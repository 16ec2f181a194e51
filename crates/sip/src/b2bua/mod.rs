//! b2bua (being written).
