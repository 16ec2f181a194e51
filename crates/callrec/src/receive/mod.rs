//! receive (being written).
