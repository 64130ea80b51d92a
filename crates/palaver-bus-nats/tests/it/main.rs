//! Integration tests of the NATS bus: the shared bus conformance suite, then NATS specifics.
//! They need a server: see [`env::nats_url`].

// Tests may unwrap (house style); the workspace lint only exempts `#[test]` bodies.
#![allow(clippy::unwrap_used)]

mod conformance;
mod env;
mod nats;
mod reconnect;

use palaver_bus_nats::NatsBus;
use std::sync::Arc;

/// A subject prefix of its own for each test, so tests running at once on one server do not
/// hear each other.
pub fn unique_prefix() -> String {
    format!("palaver_t_{:016x}", rand::random::<u64>())
}

/// `N` nodes sharing one fresh prefix on the server at `url`.
pub async fn nodes<const N: usize>(url: &str) -> [Arc<NatsBus>; N] {
    let prefix = unique_prefix();
    let mut nodes = Vec::new();
    for i in 0..N {
        let node = NatsBus::connect_with_prefix(url, &format!("node{i}"), &prefix)
            .await
            .unwrap();
        nodes.push(Arc::new(node));
    }
    nodes
        .try_into()
        .unwrap_or_else(|_| unreachable!("N nodes were made"))
}
