//! The connection side of a simulated user: connecting with backoff, calls that classify their
//! failures, catching up with `sync` (and starting over after `resync_required`), and turning
//! every `message` seen, live or replayed, into a [`Delivery`].

use super::log::{Delivery, Via};
use super::user::Sim;
use palaver_client::{Client, ClientError};
use rand::Rng;
use serde_json::{Value, json};
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// The largest `sync` page the server allows by default.
const SYNC_PAGE: u32 = 500;
/// The largest `messages.history` page the server allows by default.
const HISTORY_PAGE: u32 = 200;
/// How long to wait before asking again with a token `sync` refused.
const RESYNC_RECHECK: Duration = Duration::from_millis(100);
/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The first and the largest pause between two connection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Why a call failed.
#[derive(Debug)]
pub enum Fail {
    /// The connection is gone (closed, timed out, broken); it has been dropped. Retry after
    /// reconnecting.
    Conn,
    /// `resync_required` (-32010).
    Resync,
    /// The server may succeed if asked again (-32013 unavailable, -32603 internal).
    Transient(ClientError),
    /// A refusal that asking again will not change, or a user that gave up.
    Fatal(String),
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Conn => f.write_str("the connection was lost"),
            Fail::Resync => f.write_str("resync required"),
            Fail::Transient(e) => write!(f, "{e}"),
            Fail::Fatal(e) => f.write_str(e),
        }
    }
}

impl Sim {
    /// Calls `method` on the current connection, then takes the notifications that arrived.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, Fail> {
        let Some(client) = self.client.as_mut() else {
            return Err(Fail::Conn);
        };
        let result = client.call(method, params).await;
        self.take_notifications();
        match result {
            Ok(v) => Ok(v),
            Err(e @ ClientError::Rpc { .. }) => match e.rpc_code() {
                Some(-32010) => Err(Fail::Resync),
                Some(-32013 | -32603) => Err(Fail::Transient(e)),
                _ => Err(Fail::Fatal(format!("{method}: {e}"))),
            },
            Err(_) => {
                self.drop_connection();
                self.shared.stats.losses.fetch_add(1, Ordering::Relaxed);
                Err(Fail::Conn)
            }
        }
    }

    /// Records every `message` notification received so far on this connection.
    pub fn take_notifications(&mut self) {
        let Some(client) = self.client.as_mut() else {
            return;
        };
        let via = Via::Live(self.conn_no);
        for n in client.drain_notifications() {
            if n.method == "message" {
                self.record(&n.params, via);
            }
        }
    }

    /// Records one message (a notification's params or a sync event).
    pub fn record(&mut self, m: &Value, via: Via) {
        let field = |k: &str| m.get(k).and_then(Value::as_i64);
        let (Some(id), Some(conversation), Some(seq)) =
            (field("id"), field("conversation"), field("seq"))
        else {
            self.errors.push(format!(
                "user {}: a message without id/conversation/seq: {m}",
                self.ix
            ));
            return;
        };
        self.deliveries.push(Delivery {
            id,
            conversation,
            seq,
            via,
        });
        let seen = self.seen.entry(conversation).or_default();
        *seen = (*seen).max(seq);
    }

    /// Forgets the connection (what it received so far has been recorded).
    pub fn drop_connection(&mut self) {
        self.take_notifications();
        self.client = None;
    }

    /// Makes sure there is a connection that has caught up. Retries with backoff (and jitter)
    /// while the server is unreachable, for up to `outage` without a successful connect.
    pub async fn ensure_connected(&mut self) -> Result<(), Fail> {
        if self.client.is_some() {
            return Ok(());
        }
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            // Against a cluster, any node will do: a node that is down is just tried again
            // with the next attempt's pick. (One URL draws nothing, so single-server runs
            // make the same choices for a seed as before.)
            let urls = &self.shared.ws_urls;
            let url = match urls.len() {
                0 | 1 => urls.first().cloned().unwrap_or_default(),
                n => urls[self.rng.random_range(0..n)].clone(),
            };
            let connecting = Client::connect_with_token(&url, &self.token);
            match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
                Ok(Ok(client)) => {
                    self.client = Some(client);
                    self.conn_no += 1;
                    self.shared.stats.connects.fetch_add(1, Ordering::Relaxed);
                    match self.catch_up().await {
                        Ok(()) => return Ok(()),
                        Err(Fail::Conn | Fail::Transient(_)) => self.drop_connection(),
                        Err(e) => return Err(e),
                    }
                }
                Ok(Err(ClientError::Rejected { status, .. })) if status != 503 => {
                    return Err(Fail::Fatal(format!(
                        "user {}: the upgrade was refused with HTTP {status}",
                        self.ix
                    )));
                }
                Ok(Err(_)) | Err(_) => {}
            }
            if started.elapsed() > self.shared.outage {
                return Err(Fail::Fatal(format!(
                    "user {}: no connection for {:?}",
                    self.ix, self.shared.outage
                )));
            }
            let cap = BACKOFF_MIN
                .saturating_mul(1 << attempt.min(10))
                .min(BACKOFF_MAX);
            let pause = self.rng.random_range(cap / 2..=cap);
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    /// `sync {since}` page by page until `has_more` is false; after `resync_required`, starts
    /// over as a client without local data would.
    pub async fn catch_up(&mut self) -> Result<(), Fail> {
        self.shared.stats.catch_ups.fetch_add(1, Ordering::Relaxed);
        let mut refused = false;
        loop {
            let params = json!({ "since": self.sync_token, "limit": SYNC_PAGE });
            let page = match self.call("sync", params).await {
                Ok(page) => page,
                // A token the server handed out cannot become valid later if it really was
                // unknown or too old: ask once more before starting over, and if it is then
                // accepted, the refusal was wrong (a `spurious_resync` violation).
                Err(Fail::Resync) if !refused => {
                    refused = true;
                    tokio::time::sleep(RESYNC_RECHECK).await;
                    continue;
                }
                Err(Fail::Resync) => return self.resync().await,
                Err(e) => return Err(e),
            };
            if std::mem::take(&mut refused) {
                self.shared
                    .stats
                    .spurious_resyncs
                    .fetch_add(1, Ordering::Relaxed);
                self.warnings.push((
                    "spurious_resync",
                    format!(
                        "user {}: sync refused token {} with resync_required, then accepted it {RESYNC_RECHECK:?} later",
                        self.ix, self.sync_token
                    ),
                ));
            }
            self.apply_sync_page(&page)?;
            if !page["has_more"].as_bool().unwrap_or(false) {
                return Ok(());
            }
        }
    }

    fn apply_sync_page(&mut self, page: &Value) -> Result<(), Fail> {
        let (Some(events), Some(next)) = (page["events"].as_array(), page["next"].as_str()) else {
            return Err(Fail::Fatal(format!("sync: a malformed page: {page}")));
        };
        let via = Via::Sync(self.chain);
        for e in events {
            if e["type"] == "message" {
                self.record(e, via);
            }
        }
        // The token moves only after the page is applied, as the protocol asks.
        self.sync_token = next.to_owned();
        Ok(())
    }

    /// Starts over after `resync_required`: a fresh token first, then every conversation's
    /// history (whatever comes twice is de-duplicated by the checker, as by a client).
    async fn resync(&mut self) -> Result<(), Fail> {
        self.shared.stats.resyncs.fetch_add(1, Ordering::Relaxed);
        let first = self.call("sync", json!({})).await?;
        let Some(token) = first["next"].as_str() else {
            return Err(Fail::Fatal(format!("sync {{}}: no token in {first}")));
        };
        self.sync_token = token.to_owned();
        self.chain += 1;
        let list = self.call("conversations.list", Value::Null).await?;
        let ids: Vec<i64> = list
            .as_array()
            .map(|rows| {
                rows.iter()
                    .filter_map(|r| r["conversation"]["id"].as_i64())
                    .collect()
            })
            .unwrap_or_default();
        for conv in ids {
            for (id, seq) in self.history(conv).await? {
                self.deliveries.push(Delivery {
                    id,
                    conversation: conv,
                    seq,
                    via: Via::History,
                });
            }
        }
        Ok(())
    }

    /// A conversation's whole history, oldest first, as `(id, seq)`.
    pub async fn history(&mut self, conv: i64) -> Result<Vec<(i64, i64)>, Fail> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let params = json!({ "conversation": conv, "after_seq": after, "limit": HISTORY_PAGE });
            let page = self.call("messages.history", params).await?;
            let messages = page["messages"].as_array().cloned().unwrap_or_default();
            let before = after;
            for m in &messages {
                if let (Some(id), Some(seq)) = (m["id"].as_i64(), m["seq"].as_i64()) {
                    out.push((id, seq));
                    after = seq;
                }
            }
            // Stop on a page that does not move forward, so a broken server cannot loop us.
            if after <= before || !page["has_more"].as_bool().unwrap_or(false) {
                return Ok(out);
            }
        }
    }
}
