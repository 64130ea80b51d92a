//! Integration tests of the PostgreSQL store: the shared conformance suite, then PostgreSQL
//! specifics. They need a server: see [`env::postgres_url`].

// Tests may unwrap (house style); the workspace lint only exempts `#[test]` bodies.
#![allow(clippy::unwrap_used)]

mod conformance;
mod env;
mod migrate;
mod postgres;
