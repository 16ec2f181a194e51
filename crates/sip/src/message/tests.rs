//! Unit tests of the message layer.
