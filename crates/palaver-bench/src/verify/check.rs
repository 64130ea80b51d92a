//! The checker: a pure function from what the simulated users saw (a [`Log`]) to the list of
//! broken delivery guarantees (a [`Report`]). No I/O, so tests can feed it fabricated logs.

use super::log::{Delivery, Dialog, Log, UserIx, Via};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

/// The kinds of violation, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// An acknowledged message a member never received.
    Missing,
    /// A received message that was never acknowledged, or not as acknowledged.
    Mismatch,
    /// Seq numbers of a conversation's acknowledged messages are not 1..=last.
    LogGap,
    /// Two different messages with the same (conversation, seq).
    DuplicateSeq,
    /// One client_id acknowledged as different messages, or a repeat not flagged duplicate.
    ClientId,
    /// Live messages of a conversation on one connection not in strictly increasing seq.
    LiveOrder,
    /// Live messages of a conversation on one connection skipped a seq.
    LiveGap,
    /// A token chain of `sync` repeated, skipped or reordered a conversation's messages.
    SyncOrder,
    /// `conversations.list` disagrees with the log and the read markers.
    Unread,
    /// The stored history disagrees with the acknowledged messages.
    Store,
    /// A send never acknowledged.
    Unacked,
    /// A call failed unexpectedly.
    Error,
    /// `sync` refused a token it had handed out, then accepted it moments later.
    SpuriousResync,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Missing => "missing",
            Kind::Mismatch => "mismatch",
            Kind::LogGap => "log_gap",
            Kind::DuplicateSeq => "duplicate_seq",
            Kind::ClientId => "client_id",
            Kind::LiveOrder => "live_order",
            Kind::LiveGap => "live_gap",
            Kind::SyncOrder => "sync_order",
            Kind::Unread => "unread",
            Kind::Store => "store",
            Kind::Unacked => "unacked",
            Kind::Error => "error",
            Kind::SpuriousResync => "spurious_resync",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How many examples of each kind a report keeps.
pub const EXAMPLES: usize = 10;

#[derive(Clone, Debug, Default)]
pub struct Found {
    pub count: u64,
    pub examples: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Distinct acknowledged messages.
    pub messages: usize,
    /// (member, acknowledged message) pairs checked for receipt.
    pub deliveries_checked: u64,
    /// Messages received in total (live, sync and history, before de-duplication).
    pub received: u64,
    pub violations: BTreeMap<Kind, Found>,
    /// Not violations of a delivery guarantee; reported, but they do not fail the run.
    pub warnings: BTreeMap<&'static str, Found>,
}

impl Report {
    pub fn total(&self) -> u64 {
        self.violations.values().map(|f| f.count).sum()
    }

    pub fn ok(&self) -> bool {
        self.total() == 0
    }

    fn add(&mut self, kind: Kind, example: impl FnOnce() -> String) {
        let found = self.violations.entry(kind).or_default();
        found.count += 1;
        if found.examples.len() < EXAMPLES {
            found.examples.push(example());
        }
    }
}

/// The acknowledged truth derived from the acks: each message once, by id.
struct Truth {
    /// id → (conversation, seq)
    by_id: HashMap<i64, (i64, i64)>,
    /// conversation → seq → id
    by_seq: HashMap<i64, BTreeMap<i64, i64>>,
    /// conversation → members
    members: HashMap<i64, BTreeSet<UserIx>>,
    /// (user, conversation) → the seq of the user's newest message there
    own_last: HashMap<(UserIx, i64), i64>,
}

fn truth(log: &Log, report: &mut Report) -> Truth {
    let mut by_id: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut by_seq: HashMap<i64, BTreeMap<i64, i64>> = HashMap::new();
    let mut by_client: HashMap<(UserIx, &str), (i64, i64, i64)> = HashMap::new();
    let mut members: HashMap<i64, BTreeSet<UserIx>> = HashMap::new();
    let mut own_last: HashMap<(UserIx, i64), i64> = HashMap::new();
    let everyone: BTreeSet<UserIx> = (0..log.users).collect();
    for &c in &log.channels {
        members.insert(c, everyone.clone());
    }
    for a in &log.acks {
        let own = own_last.entry((a.user, a.conversation)).or_default();
        *own = (*own).max(a.seq);
        let this = (a.id, a.conversation, a.seq);
        match by_client.insert((a.user, a.client_id.as_str()), this) {
            Some(before) if before != this => report.add(Kind::ClientId, || {
                format!(
                    "user {} client_id {}: acked as id/conv/seq {before:?}, later as {this:?}",
                    a.user, a.client_id
                )
            }),
            _ => {}
        }
        if a.repeat_of_acked && !a.duplicate {
            report.add(Kind::ClientId, || {
                format!(
                    "user {} client_id {}: resent after its ack but not flagged duplicate",
                    a.user, a.client_id
                )
            });
        }
        match by_id.insert(a.id, (a.conversation, a.seq)) {
            Some(before) if before != (a.conversation, a.seq) => report.add(Kind::Mismatch, || {
                format!(
                    "message {} acked as conv/seq {before:?} and as {:?}",
                    a.id,
                    (a.conversation, a.seq)
                )
            }),
            _ => {}
        }
        let seqs = by_seq.entry(a.conversation).or_default();
        match seqs.insert(a.seq, a.id) {
            Some(other) if other != a.id => report.add(Kind::DuplicateSeq, || {
                format!(
                    "conversation {} seq {}: acked as message {other} and as {}",
                    a.conversation, a.seq, a.id
                )
            }),
            _ => {}
        }
        if let Some(peer) = a.peer {
            let pair: BTreeSet<UserIx> = [a.user, peer].into();
            let entry = members
                .entry(a.conversation)
                .or_insert_with(|| pair.clone());
            if *entry != pair {
                report.add(Kind::Mismatch, || {
                    format!(
                        "direct conversation {} acked for users {pair:?} and {entry:?}",
                        a.conversation
                    )
                });
            }
        }
    }
    for (conv, seqs) in &by_seq {
        let n = seqs.len() as i64;
        if seqs.keys().next_back().copied().unwrap_or(0) != n {
            let missing: Vec<i64> = (1..=n.max(*seqs.keys().next_back().unwrap_or(&0)))
                .filter(|s| !seqs.contains_key(s))
                .take(5)
                .collect();
            report.add(Kind::LogGap, || {
                format!("conversation {conv}: no acked message has seq {missing:?}")
            });
        }
    }
    report.messages = by_id.len();
    Truth {
        by_id,
        by_seq,
        members,
        own_last,
    }
}

/// Checks `log` against every delivery guarantee; see `docs/delivery.md`.
pub fn check(log: &Log) -> Report {
    let mut report = Report::default();
    let t = truth(log, &mut report);
    for (user, deliveries) in log.deliveries.iter().enumerate() {
        check_user(&t, user, deliveries, &mut report);
    }
    check_dialogs(log, &t, &mut report);
    check_history(log, &t, &mut report);
    for (user, client_id) in &log.unacked {
        report.add(Kind::Unacked, || {
            format!("user {user} client_id {client_id}: never acknowledged")
        });
    }
    for e in &log.errors {
        report.add(Kind::Error, || e.clone());
    }
    for (kind, e) in &log.warnings {
        // A valid token must never be refused: that one is a violation, not a warning.
        if *kind == Kind::SpuriousResync.name() {
            report.add(Kind::SpuriousResync, || e.clone());
            continue;
        }
        let found = report.warnings.entry(kind).or_default();
        found.count += 1;
        if found.examples.len() < EXAMPLES {
            found.examples.push(e.clone());
        }
    }
    report
}

fn check_user(t: &Truth, user: UserIx, deliveries: &[Delivery], report: &mut Report) {
    // conversation → ids received (after client-side de-duplication by id)
    let mut got: HashMap<i64, HashSet<i64>> = HashMap::new();
    let mut live_last: HashMap<(u32, i64), i64> = HashMap::new();
    let mut sync_last: HashMap<(u32, i64), i64> = HashMap::new();
    let mut sync_seen: HashSet<(u32, i64)> = HashSet::new();
    for d in deliveries {
        report.received += 1;
        match t.by_id.get(&d.id) {
            Some(&(c, s)) if (c, s) == (d.conversation, d.seq) => {}
            Some(&acked) => report.add(Kind::Mismatch, || {
                format!(
                    "user {user} got message {} as conv/seq {:?}, acked as {acked:?}",
                    d.id,
                    (d.conversation, d.seq)
                )
            }),
            None => {
                if let Some(other) = t.by_seq.get(&d.conversation).and_then(|m| m.get(&d.seq)) {
                    report.add(Kind::DuplicateSeq, || {
                        format!(
                            "user {user} got message {} as conv {} seq {}, which is acked message {other}",
                            d.id, d.conversation, d.seq
                        )
                    });
                } else {
                    report.add(Kind::Mismatch, || {
                        format!(
                            "user {user} got message {} (conv {} seq {}) that was never acked",
                            d.id, d.conversation, d.seq
                        )
                    });
                }
            }
        }
        got.entry(d.conversation).or_default().insert(d.id);
        match d.via {
            Via::Live(conn) => {
                if let Some(&prev) = live_last.get(&(conn, d.conversation)) {
                    if d.seq <= prev {
                        report.add(Kind::LiveOrder, || {
                            format!(
                                "user {user} connection {conn} conv {}: seq {} after {prev}",
                                d.conversation, d.seq
                            )
                        });
                    } else if d.seq != prev + 1 {
                        report.add(Kind::LiveGap, || {
                            format!(
                                "user {user} connection {conn} conv {}: seq {} right after {prev}",
                                d.conversation, d.seq
                            )
                        });
                    }
                }
                live_last.insert((conn, d.conversation), d.seq);
            }
            Via::Sync(chain) => {
                if !sync_seen.insert((chain, d.id)) {
                    report.add(Kind::SyncOrder, || {
                        format!(
                            "user {user} sync chain {chain}: message {} returned twice",
                            d.id
                        )
                    });
                    continue;
                }
                // Chain 0 began before any message, so it must start at seq 1.
                let prev = sync_last
                    .get(&(chain, d.conversation))
                    .copied()
                    .or((chain == 0).then_some(0));
                if let Some(prev) = prev
                    && d.seq != prev + 1
                {
                    report.add(Kind::SyncOrder, || {
                        format!(
                            "user {user} sync chain {chain} conv {}: seq {} after {prev}",
                            d.conversation, d.seq
                        )
                    });
                }
                sync_last.insert((chain, d.conversation), d.seq);
            }
            Via::History => {}
        }
    }
    for (conv, members) in &t.members {
        if !members.contains(&user) {
            continue;
        }
        let Some(seqs) = t.by_seq.get(conv) else {
            continue;
        };
        let received = got.get(conv);
        for (&seq, &id) in seqs {
            report.deliveries_checked += 1;
            if !received.is_some_and(|r| r.contains(&id)) {
                report.add(Kind::Missing, || {
                    format!("user {user} never received message {id} (conv {conv} seq {seq})")
                });
            }
        }
    }
    for (conv, ids) in &got {
        let member = t.members.get(conv).is_some_and(|m| m.contains(&user));
        if !member {
            report.add(Kind::Mismatch, || {
                format!(
                    "user {user} received {} message(s) of conv {conv}, which it is not in",
                    ids.len()
                )
            });
        }
    }
}

/// The read marker the log implies: the highest `messages.read` reply or own message.
fn expected_marker(log: &Log, t: &Truth, user: UserIx, conv: i64) -> i64 {
    let read = log
        .read_replies
        .get(user)
        .and_then(|m| m.get(&conv))
        .copied()
        .unwrap_or(0);
    let own = t.own_last.get(&(user, conv)).copied().unwrap_or(0);
    read.max(own)
}

fn check_dialogs(log: &Log, t: &Truth, report: &mut Report) {
    for (user, dialogs) in log.dialogs.iter().enumerate() {
        let Some(dialogs) = dialogs else { continue };
        let listed: HashMap<i64, &Dialog> = dialogs.iter().map(|d| (d.conversation, d)).collect();
        for (conv, members) in &t.members {
            if !members.contains(&user) {
                continue;
            }
            let last = t
                .by_seq
                .get(conv)
                .and_then(|m| m.keys().next_back().copied())
                .unwrap_or(0);
            let Some(d) = listed.get(conv) else {
                report.add(Kind::Unread, || {
                    format!("user {user}: conversation {conv} missing from conversations.list")
                });
                continue;
            };
            let marker = expected_marker(log, t, user, *conv);
            let want = (last, marker, (last - marker).max(0));
            let have = (d.last_seq, d.last_read_seq, d.unread);
            if want != have {
                report.add(Kind::Unread, || {
                    format!(
                        "user {user} conv {conv}: (last_seq, last_read_seq, unread) is {have:?}, the log says {want:?}"
                    )
                });
            }
        }
    }
}

fn check_history(log: &Log, t: &Truth, report: &mut Report) {
    for (conv, seqs) in &t.by_seq {
        let Some(stored) = log.history.get(conv) else {
            report.add(Kind::Store, || {
                format!("conversation {conv}: history was not read")
            });
            continue;
        };
        let stored_ids: HashMap<i64, i64> = stored.iter().map(|&(id, seq)| (id, seq)).collect();
        for (&seq, &id) in seqs {
            if stored_ids.get(&id) != Some(&seq) {
                report.add(Kind::Store, || {
                    format!(
                        "conversation {conv}: acked message {id} (seq {seq}) not in history as such"
                    )
                });
            }
        }
        let in_order = stored
            .iter()
            .enumerate()
            .all(|(i, &(_, seq))| seq == i as i64 + 1);
        if !in_order {
            report.add(Kind::Store, || {
                format!(
                    "conversation {conv}: history seqs are not 1..={}",
                    stored.len()
                )
            });
        }
        for &(id, seq) in stored {
            if !t.by_id.contains_key(&id) {
                report.add(Kind::Store, || {
                    format!("conversation {conv}: stored message {id} (seq {seq}) was never acked")
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
