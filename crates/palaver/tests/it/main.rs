//! End-to-end tests: the real `palaver` binary on a fresh SQLite database, driven over real
//! sockets by `palaver-client`, asserting what a user of the protocol in `docs/protocol.md`
//! would check.

#![allow(clippy::unwrap_used)]

mod cluster_harness;
mod env;
mod harness;

mod accounts;
mod bad_input;
mod cluster;
mod cluster_faults;
mod delivery;
mod dialect_all;
mod dialect_channels;
mod dialect_chat_client;
mod dialect_chat_client_hook;
mod dialect_messenger;
mod dialect_path_rooms;
mod dialect_session_key;
mod dialogs;
mod durability;
mod messages;
mod migrate;
mod presence;
mod raw;
mod rooms;
mod websocket;
