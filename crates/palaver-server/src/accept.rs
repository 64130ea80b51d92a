//! The HTTP/1.1 server loop: accepts TCP connections and serves each with hyper.
//!
//! `axum::serve` would do, but it serves through hyper-util's HTTP-version detection, which
//! wraps the stream in a private type: an upgraded WebSocket could then not be taken back as
//! the plain `TcpStream` it is. Here hyper serves the `TcpStream` itself, so the WebSocket
//! upgrade gets it back (`ws::WsUpgrade`) and a connection's events can be written to it
//! without waking its task (see `conn::Outbox`).

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets every
/// HTTP connection finish the request in flight, and returns when all have ended (upgraded
/// WebSockets are no longer HTTP connections: they end on their own).
pub async fn serve_http(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()>) {
    let conns = TaskTracker::new();
    let stopping = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Chat frames are small and latency-bound: never let Nagle hold one back.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(app.clone());
        let stop = stopping.clone();
        conns.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(conn);
            let served = tokio::select! {
                served = conn.as_mut() => served,
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = served {
                tracing::trace!(error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    stopping.cancel();
    conns.close();
    conns.wait().await;
}

/// A failed `accept`: a client that gave up is no news; anything else (out of descriptors,
/// say) is logged, and accepting waits a second, as hyper's own server loop did.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
