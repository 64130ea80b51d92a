//! Integration tests of the SQLite store: the shared conformance suite, then SQLite specifics.

// Tests may unwrap (house style); the workspace lint only exempts `#[test]` bodies.
#![allow(clippy::unwrap_used)]

mod conformance;
mod sqlite;
