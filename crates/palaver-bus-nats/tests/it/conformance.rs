//! Runs the backend-agnostic `Bus` conformance suite against `NatsBus` nodes.

use palaver_bus::testkit;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_to_self_in_order() {
    let Some(url) = crate::env::nats_url() else {
        return;
    };
    let [node] = crate::nodes(&url).await;
    testkit::delivers_to_self_in_order(node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_in_order_to_interested_nodes() {
    let Some(url) = crate::env::nats_url() else {
        return;
    };
    let [a, b] = crate::nodes(&url).await;
    testkit::delivers_in_order_to_interested_nodes(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_once_per_node_and_only_on_interest() {
    let Some(url) = crate::env::nats_url() else {
        return;
    };
    let [a, b, c] = crate::nodes(&url).await;
    testkit::delivers_once_per_node_and_only_on_interest(a, b, c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carries_a_message_unchanged() {
    let Some(url) = crate::env::nats_url() else {
        return;
    };
    let [a, b] = crate::nodes(&url).await;
    testkit::carries_a_message_unchanged(a, b).await;
}
