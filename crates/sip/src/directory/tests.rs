//! Unit tests of document checking and lookups.
