//! The in-process bus passes the bus conformance suite (the single-node cases).

use palaver_bus::{LocalBus, testkit};
use std::sync::Arc;

#[tokio::test]
async fn local_bus_delivers_to_self_in_order() {
    testkit::delivers_to_self_in_order(Arc::new(LocalBus::new())).await;
}

#[tokio::test]
async fn local_bus_carries_a_message_unchanged() {
    let bus: Arc<LocalBus> = Arc::new(LocalBus::new());
    testkit::carries_a_message_unchanged(bus.clone(), bus).await;
}
