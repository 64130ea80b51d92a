//! One simulated user. It keeps one connection, sends to channels and direct conversations
//! with a `client_id` each, moves its read marker now and then, drops its connection at random
//! and comes back (catching up with `sync`), and resends whatever was not acknowledged, with
//! the same `client_id`, until it is. Everything it sees is recorded for the checker.

use super::conn::Fail;
use super::log::{Ack, Delivery, Dialog, UserIx};
use palaver_client::Client;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// How many direct conversations each user starts (with random others).
const DM_PEERS: usize = 2;
/// The pause after a call the server may answer next time (-32013, -32603).
const TRANSIENT_PAUSE: Duration = Duration::from_millis(100);
/// How many times the final catch-up is attempted.
const FINAL_ATTEMPTS: usize = 5;

/// The probabilities that shape a user's behaviour, per step.
#[derive(Clone, Debug)]
pub struct Plan {
    pub disconnect: f64,
    pub dm: f64,
    pub read: f64,
    pub sync: f64,
    pub repeat: f64,
    /// The pause between two new messages of one user, if the run is rate-limited.
    pub send_interval: Option<Duration>,
}

/// Counters every user adds to; read by the progress line and the summary.
#[derive(Debug, Default)]
pub struct Stats {
    pub acked: AtomicU64,
    pub retried: AtomicU64,
    /// ... of which the first attempt had been stored (`duplicate: true`).
    pub retried_stored: AtomicU64,
    pub repeats: AtomicU64,
    pub reads: AtomicU64,
    pub connects: AtomicU64,
    /// Connections dropped on purpose.
    pub disconnects: AtomicU64,
    /// ... of which with a send in flight.
    pub in_flight_drops: AtomicU64,
    /// Connections lost (closed by the server, broken, timed out).
    pub losses: AtomicU64,
    pub catch_ups: AtomicU64,
    /// Catch-ups that got `resync_required` and started over.
    pub resyncs: AtomicU64,
    /// `resync_required` for a token accepted when asked again.
    pub spurious_resyncs: AtomicU64,
    pub transient: AtomicU64,
}

/// What all users share.
#[derive(Debug)]
pub struct Shared {
    /// The `/ws` URL of every node; one unless the run is against a cluster.
    pub ws_urls: Vec<String>,
    pub handles: Vec<String>,
    /// `(conversation id, name)` of the run's channels.
    pub channels: Vec<(i64, String)>,
    /// How long a user keeps trying to reconnect before giving up.
    pub outage: Duration,
    pub plan: Plan,
    pub stats: Stats,
}

/// A send not yet acknowledged.
#[derive(Clone, Debug)]
struct Outgoing {
    client_id: String,
    to: String,
    peer: Option<UserIx>,
    text: String,
    /// A resend, on purpose, of a message already acknowledged.
    repeat: bool,
    attempts: u32,
}

pub struct Sim {
    pub ix: UserIx,
    pub(super) shared: Arc<Shared>,
    pub(super) token: String,
    pub(super) client: Option<Client>,
    pub(super) sync_token: String,
    /// Connections opened so far; the current one is number `conn_no`.
    pub(super) conn_no: u32,
    /// Token chains so far (a `resync_required` starts a new one).
    pub(super) chain: u32,
    pub(super) rng: StdRng,
    /// The highest seq seen per conversation (for choosing what to mark read).
    pub(super) seen: BTreeMap<i64, i64>,
    pub deliveries: Vec<Delivery>,
    pub acks: Vec<Ack>,
    pub read_replies: HashMap<i64, i64>,
    pub dialogs: Option<Vec<Dialog>>,
    pub history: HashMap<i64, Vec<(i64, i64)>>,
    pub unacked: Vec<(UserIx, String)>,
    pub errors: Vec<String>,
    pub warnings: Vec<(&'static str, String)>,
    fresh_left: usize,
    fresh_sent: usize,
    outbox: VecDeque<Outgoing>,
    acked_sends: Vec<Outgoing>,
    pending_read: Option<(i64, i64)>,
    dm_peers: Vec<UserIx>,
}

impl Sim {
    /// A user with its first connection, already caught up to `sync_token`.
    pub fn new(
        ix: UserIx,
        shared: Arc<Shared>,
        token: String,
        client: Client,
        sync_token: String,
        messages: usize,
        seed: u64,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ (ix as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let users = shared.handles.len();
        let mut dm_peers = Vec::new();
        while users > 1 && dm_peers.len() < DM_PEERS.min(users - 1) {
            let p = rng.random_range(0..users);
            if p != ix && !dm_peers.contains(&p) {
                dm_peers.push(p);
            }
        }
        Self {
            ix,
            shared,
            token,
            client: Some(client),
            sync_token,
            conn_no: 0,
            chain: 0,
            rng,
            seen: BTreeMap::new(),
            deliveries: Vec::new(),
            acks: Vec::new(),
            read_replies: HashMap::new(),
            dialogs: None,
            history: HashMap::new(),
            unacked: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            fresh_left: messages,
            fresh_sent: 0,
            outbox: VecDeque::new(),
            acked_sends: Vec::new(),
            pending_read: None,
            dm_peers,
        }
    }

    /// Sends all of this user's messages (and gets them acknowledged), or gives up at
    /// `deadline` or when the server stays unreachable.
    pub async fn run(mut self, deadline: Instant) -> Self {
        let mut next_send = Instant::now();
        while self.fresh_left > 0 || !self.outbox.is_empty() || self.pending_read.is_some() {
            if Instant::now() > deadline {
                self.errors
                    .push(format!("user {}: the run's deadline passed", self.ix));
                break;
            }
            match self.step(&mut next_send).await {
                Ok(()) | Err(Fail::Conn) => {}
                Err(Fail::Transient(_) | Fail::Resync) => {
                    self.shared.stats.transient.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(TRANSIENT_PAUSE).await;
                }
                Err(Fail::Fatal(e)) => {
                    self.errors.push(e);
                    break;
                }
            }
        }
        for o in self.outbox.drain(..).filter(|o| !o.repeat) {
            self.unacked.push((self.ix, o.client_id));
        }
        if self.fresh_left > 0 {
            self.errors.push(format!(
                "user {}: stopped with {} message(s) never sent",
                self.ix, self.fresh_left
            ));
        }
        self
    }

    async fn step(&mut self, next_send: &mut Instant) -> Result<(), Fail> {
        self.ensure_connected().await?;
        if let Some((conv, seq)) = self.pending_read {
            self.read(conv, seq).await?;
        }
        let plan = self.shared.plan.clone();
        if self.rng.random_bool(plan.disconnect) {
            // Half the time the connection goes down with a send in flight, whose reply is
            // then never seen: the resend after reconnecting must not store it twice.
            if self.rng.random_bool(0.5) {
                self.send_and_drop(&plan).await;
            }
            self.drop_connection();
            self.shared
                .stats
                .disconnects
                .fetch_add(1, Ordering::Relaxed);
            let pause = self.rng.random_range(0..50);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            return Ok(());
        }
        if self.rng.random_bool(plan.sync) {
            self.catch_up().await?;
        }
        if self.rng.random_bool(plan.read)
            && let Some((conv, seq)) = self.pick_read()
        {
            self.pending_read = Some((conv, seq));
            self.read(conv, seq).await?;
        }
        if self.outbox.is_empty() {
            self.next_message(&plan);
        }
        let Some(first_attempt) = self.outbox.front().map(|o| o.attempts == 0) else {
            return Ok(());
        };
        if let Some(interval) = plan.send_interval
            && first_attempt
        {
            tokio::time::sleep_until(*next_send).await;
            *next_send = Instant::now().max(*next_send) + interval;
        }
        self.send_front().await
    }

    /// Queues a new message, or now and then a repeat of one already acknowledged.
    fn next_message(&mut self, plan: &Plan) {
        if self.fresh_left == 0 {
            return;
        }
        if !self.acked_sends.is_empty() && self.rng.random_bool(plan.repeat) {
            let i = self.rng.random_range(0..self.acked_sends.len());
            let mut o = self.acked_sends[i].clone();
            o.repeat = true;
            o.attempts = 0;
            self.outbox.push_back(o);
            return;
        }
        self.fresh_left -= 1;
        self.fresh_sent += 1;
        let (to, peer) = if !self.dm_peers.is_empty() && self.rng.random_bool(plan.dm) {
            let p = self.dm_peers[self.rng.random_range(0..self.dm_peers.len())];
            (format!("@{}", self.shared.handles[p]), Some(p))
        } else {
            let c = self.rng.random_range(0..self.shared.channels.len());
            (format!("#{}", self.shared.channels[c].1), None)
        };
        let n = self.fresh_sent;
        self.outbox.push_back(Outgoing {
            client_id: format!("m{n}-{:08x}", self.rng.random::<u32>()),
            to,
            peer,
            text: format!("message {n} of {}", self.shared.handles[self.ix]),
            repeat: false,
            attempts: 0,
        });
    }

    /// Writes the next send on the socket without waiting for its reply.
    async fn send_and_drop(&mut self, plan: &Plan) {
        if self.outbox.is_empty() {
            self.next_message(plan);
        }
        let (Some(o), Some(client)) = (self.outbox.front_mut(), self.client.as_mut()) else {
            return;
        };
        o.attempts += 1;
        let request = json!({
            "jsonrpc": "2.0",
            "id": "in-flight",
            "method": "messages.send",
            "params": { "to": o.to, "text": o.text, "client_id": o.client_id },
        });
        let _ = client.send_raw_text(&request.to_string()).await;
        self.shared
            .stats
            .in_flight_drops
            .fetch_add(1, Ordering::Relaxed);
    }

    async fn send_front(&mut self) -> Result<(), Fail> {
        let Some(o) = self.outbox.front().cloned() else {
            return Ok(());
        };
        let params = json!({ "to": o.to, "text": o.text, "client_id": o.client_id });
        match self.call("messages.send", params).await {
            Ok(r) => {
                self.outbox.pop_front();
                let field = |k: &str| r.get(k).and_then(Value::as_i64);
                let (Some(id), Some(conversation), Some(seq), Some(duplicate)) = (
                    field("id"),
                    field("conversation"),
                    field("seq"),
                    r.get("duplicate").and_then(Value::as_bool),
                ) else {
                    self.errors
                        .push(format!("messages.send: a malformed result: {r}"));
                    return Ok(());
                };
                self.acks.push(Ack {
                    user: self.ix,
                    client_id: o.client_id.clone(),
                    conversation,
                    id,
                    seq,
                    duplicate,
                    peer: o.peer,
                    repeat_of_acked: o.repeat,
                });
                let seen = self.seen.entry(conversation).or_default();
                *seen = (*seen).max(seq);
                let stats = &self.shared.stats;
                if o.attempts > 0 {
                    stats.retried.fetch_add(1, Ordering::Relaxed);
                    if duplicate && !o.repeat {
                        stats.retried_stored.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if o.repeat {
                    stats.repeats.fetch_add(1, Ordering::Relaxed);
                } else {
                    stats.acked.fetch_add(1, Ordering::Relaxed);
                    self.acked_sends.push(o);
                }
                Ok(())
            }
            Err(Fail::Fatal(e)) => {
                self.outbox.pop_front();
                self.errors.push(format!("user {}: {e}", self.ix));
                Ok(())
            }
            Err(e) => {
                if let Some(front) = self.outbox.front_mut() {
                    front.attempts += 1;
                }
                Err(e)
            }
        }
    }

    /// A conversation this user has seen messages in, and a seq in it that exists.
    fn pick_read(&mut self) -> Option<(i64, i64)> {
        if self.seen.is_empty() {
            return None;
        }
        let i = self.rng.random_range(0..self.seen.len());
        let (&conv, &max) = self.seen.iter().nth(i)?;
        Some((conv, self.rng.random_range(1..=max.max(1))))
    }

    /// `messages.read`; a call whose reply was lost stays pending and is asked again after
    /// reconnecting, so the marker the server holds is always one a reply reported.
    async fn read(&mut self, conv: i64, seq: i64) -> Result<(), Fail> {
        match self
            .call("messages.read", json!({ "conversation": conv, "seq": seq }))
            .await
        {
            Ok(r) => {
                self.pending_read = None;
                self.shared.stats.reads.fetch_add(1, Ordering::Relaxed);
                match r.get("last_read_seq").and_then(Value::as_i64) {
                    Some(marker) => {
                        let m = self.read_replies.entry(conv).or_default();
                        *m = (*m).max(marker);
                    }
                    None => self
                        .errors
                        .push(format!("messages.read: a malformed result: {r}")),
                }
                Ok(())
            }
            Err(Fail::Fatal(e)) => {
                self.pending_read = None;
                self.errors.push(format!("user {}: {e}", self.ix));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// After every user has finished sending: a last catch-up, the dialog list, and the
    /// stored history of the conversations this user is asked to read back.
    pub async fn finish(mut self) -> Self {
        for attempt in 1..=FINAL_ATTEMPTS {
            match self.final_round().await {
                Ok(()) => break,
                Err(Fail::Fatal(e)) => {
                    self.errors.push(e);
                    break;
                }
                Err(e) if attempt == FINAL_ATTEMPTS => self
                    .errors
                    .push(format!("user {}: the final catch-up failed: {e}", self.ix)),
                Err(_) => tokio::time::sleep(TRANSIENT_PAUSE).await,
            }
        }
        self.take_notifications();
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
        self
    }

    async fn final_round(&mut self) -> Result<(), Fail> {
        if self.client.is_some() {
            self.catch_up().await?;
        } else {
            self.ensure_connected().await?;
        }
        let list = self.call("conversations.list", Value::Null).await?;
        let rows = list.as_array().cloned().unwrap_or_default();
        let mut dialogs = Vec::new();
        let mut to_read = Vec::new();
        let me = self.shared.handles[self.ix].clone();
        for row in &rows {
            let c = &row["conversation"];
            let (Some(conversation), Some(last_seq), Some(last_read_seq), Some(unread)) = (
                c["id"].as_i64(),
                c["last_seq"].as_i64(),
                row["last_read_seq"].as_i64(),
                row["unread"].as_i64(),
            ) else {
                return Err(Fail::Fatal(format!(
                    "conversations.list: a malformed row: {row}"
                )));
            };
            dialogs.push(Dialog {
                conversation,
                last_seq,
                last_read_seq,
                unread,
            });
            // Each conversation's history is read back once: a direct one by the member
            // with the smaller handle, the channels by user 0.
            let mine = match row["peer"]["handle"].as_str() {
                Some(peer) => me.as_str() < peer,
                None => {
                    self.ix == 0
                        && self
                            .shared
                            .channels
                            .iter()
                            .any(|(id, _)| *id == conversation)
                }
            };
            if mine {
                to_read.push(conversation);
            }
        }
        for conv in to_read {
            let h = self.history(conv).await?;
            self.history.insert(conv, h);
        }
        self.dialogs = Some(dialogs);
        Ok(())
    }
}
