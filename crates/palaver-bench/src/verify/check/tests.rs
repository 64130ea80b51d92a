//! The checker can fail: a consistent fabricated log passes, and each kind of broken
//! guarantee planted in it is reported as such.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::verify::log::Ack;

const CHANNEL: i64 = 10;
const DM: i64 = 20;

fn ack(user: UserIx, n: u32, conversation: i64, id: i64, seq: i64, peer: Option<UserIx>) -> Ack {
    Ack {
        user,
        client_id: format!("c{n}"),
        conversation,
        id,
        seq,
        duplicate: false,
        peer,
        repeat_of_acked: false,
    }
}

fn d(id: i64, conversation: i64, seq: i64, via: Via) -> Delivery {
    Delivery {
        id,
        conversation,
        seq,
        via,
    }
}

/// Three users; a channel with three messages, a direct conversation of users 0 and 1 with
/// two. Everyone got everything live and again through sync; user 2 marked seq 2 read.
fn clean() -> Log {
    let acks = vec![
        ack(0, 1, CHANNEL, 101, 1, None),
        ack(1, 1, CHANNEL, 102, 2, None),
        ack(0, 2, DM, 103, 1, Some(1)),
        ack(2, 1, CHANNEL, 104, 3, None),
        ack(1, 2, DM, 105, 2, Some(0)),
    ];
    let channel = [(101, 1), (102, 2), (104, 3)];
    let dm = [(103, 1), (105, 2)];
    let mut deliveries = Vec::new();
    for user in 0..3 {
        let mut mine = Vec::new();
        for via in [Via::Live(0), Via::Sync(0)] {
            mine.extend(channel.iter().map(|&(id, s)| d(id, CHANNEL, s, via)));
            if user < 2 {
                mine.extend(dm.iter().map(|&(id, s)| d(id, DM, s, via)));
            }
        }
        deliveries.push(mine);
    }
    let row = |conversation, last_seq, last_read_seq| Dialog {
        conversation,
        last_seq,
        last_read_seq,
        unread: last_seq - last_read_seq,
    };
    Log {
        users: 3,
        channels: vec![CHANNEL],
        acks,
        deliveries,
        read_replies: vec![
            HashMap::new(),
            HashMap::new(),
            HashMap::from([(CHANNEL, 2)]),
        ],
        dialogs: vec![
            Some(vec![row(CHANNEL, 3, 1), row(DM, 2, 1)]),
            Some(vec![row(CHANNEL, 3, 2), row(DM, 2, 2)]),
            Some(vec![row(CHANNEL, 3, 3)]),
        ],
        history: HashMap::from([(CHANNEL, channel.to_vec()), (DM, dm.to_vec())]),
        unacked: Vec::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
    }
}

fn kinds(r: &Report) -> Vec<Kind> {
    r.violations.keys().copied().collect()
}

#[test]
fn a_consistent_log_passes() {
    let r = check(&clean());
    assert!(r.ok(), "{:#?}", r.violations);
    assert_eq!(r.messages, 5);
    // 3 channel messages x 3 members + 2 direct messages x 2 members
    assert_eq!(r.deliveries_checked, 13);
}

#[test]
fn a_message_a_member_never_got_is_missing() {
    let mut log = clean();
    log.deliveries[2].retain(|d| d.id != 104);
    let r = check(&log);
    assert_eq!(kinds(&r), [Kind::Missing]);
    assert_eq!(r.violations[&Kind::Missing].count, 1);
    assert!(r.violations[&Kind::Missing].examples[0].contains("user 2"));

    // One from the middle also leaves a gap in the live stream and in the sync chain.
    let mut log = clean();
    log.deliveries[2].retain(|d| d.id != 102);
    assert_eq!(
        kinds(&check(&log)),
        [Kind::Missing, Kind::LiveGap, Kind::SyncOrder]
    );
}

#[test]
fn two_messages_with_one_seq_are_caught_in_acks_and_deliveries() {
    let mut log = clean();
    log.acks[3].seq = 2; // message 104 acked with message 102's seq
    let r = check(&log);
    assert!(r.violations.contains_key(&Kind::DuplicateSeq), "{r:#?}");

    let mut log = clean();
    log.acks.remove(1); // seq 2 of the channel was never acknowledged
    let r = check(&log);
    assert!(r.violations.contains_key(&Kind::LogGap), "{r:#?}");

    let mut log = clean();
    // A message nobody acknowledged, delivered under an acknowledged one's seq.
    log.deliveries[1].push(d(999, CHANNEL, 3, Via::Live(1)));
    let r = check(&log);
    assert_eq!(kinds(&r), [Kind::DuplicateSeq]);
}

#[test]
fn out_of_order_and_repeated_live_deliveries_are_caught() {
    let mut log = clean();
    // User 0's live stream: 1, 3, 2 on one connection.
    log.deliveries[0].swap(1, 2);
    let r = check(&log);
    assert!(r.violations.contains_key(&Kind::LiveOrder), "{r:#?}");
    assert!(r.violations.contains_key(&Kind::LiveGap), "{r:#?}");

    let mut log = clean();
    log.deliveries[0].insert(1, d(101, CHANNEL, 1, Via::Live(0)));
    assert_eq!(kinds(&check(&log)), [Kind::LiveOrder]);

    // On different connections the same message twice is fine (de-duplicated by id).
    let mut log = clean();
    log.deliveries[0].push(d(104, CHANNEL, 3, Via::Live(1)));
    assert!(check(&log).ok());
}

#[test]
fn a_sync_chain_that_repeats_or_skips_is_caught() {
    let mut log = clean();
    log.deliveries[1].push(d(101, CHANNEL, 1, Via::Sync(0)));
    assert_eq!(kinds(&check(&log)), [Kind::SyncOrder]);

    let mut log = clean();
    log.deliveries[1].retain(|x| !(x.via == Via::Sync(0) && x.id == 101));
    // Still received live, so nothing is missing, but the chain began at seq 2.
    assert_eq!(kinds(&check(&log)), [Kind::SyncOrder]);
}

#[test]
fn one_client_id_with_two_results_is_caught() {
    let mut log = clean();
    let mut again = log.acks[0].clone();
    again.repeat_of_acked = true;
    again.duplicate = true;
    log.acks.push(again.clone());
    assert!(check(&log).ok(), "a faithful duplicate is fine");

    again.duplicate = false;
    log.acks.push(again);
    assert_eq!(kinds(&check(&log)), [Kind::ClientId]);

    let mut log = clean();
    let mut other = log.acks[0].clone();
    other.id = 104;
    other.seq = 3;
    log.acks.push(other);
    assert!(check(&log).violations.contains_key(&Kind::ClientId));
}

#[test]
fn wrong_unread_counts_and_a_missing_dialog_are_caught() {
    let mut log = clean();
    if let Some(rows) = log.dialogs[2].as_mut() {
        rows[0].unread = 1;
    }
    assert_eq!(kinds(&check(&log)), [Kind::Unread]);

    let mut log = clean();
    if let Some(rows) = log.dialogs[1].as_mut() {
        rows.retain(|r| r.conversation != DM);
    }
    assert_eq!(kinds(&check(&log)), [Kind::Unread]);

    // A reply of messages.read the server forgot.
    let mut log = clean();
    log.read_replies[0].insert(CHANNEL, 3);
    assert_eq!(kinds(&check(&log)), [Kind::Unread]);
}

#[test]
fn history_that_lost_or_invented_a_message_is_caught() {
    let mut log = clean();
    log.history.insert(CHANNEL, vec![(101, 1), (102, 2)]);
    assert_eq!(kinds(&check(&log)), [Kind::Store]);

    let mut log = clean();
    log.history.insert(DM, vec![(103, 1), (105, 2), (106, 3)]);
    assert_eq!(kinds(&check(&log)), [Kind::Store]);
}

#[test]
fn unacknowledged_sends_and_errors_fail_the_run() {
    let mut log = clean();
    log.unacked.push((1, "c9".into()));
    log.errors.push("user 1: rooms.join refused".into());
    assert_eq!(kinds(&check(&log)), [Kind::Unacked, Kind::Error]);
}

#[test]
fn a_refused_valid_token_fails_the_run_and_other_warnings_do_not() {
    let mut log = clean();
    log.warnings.push(("spurious_resync", "user 1: ...".into()));
    assert_eq!(kinds(&check(&log)), [Kind::SpuriousResync]);

    let mut log = clean();
    log.warnings.push(("slow_reconnect", "user 2: ...".into()));
    let r = check(&log);
    assert!(r.ok());
    assert_eq!(r.warnings["slow_reconnect"].count, 1);
}

#[test]
fn a_message_outside_ones_conversations_is_caught() {
    let mut log = clean();
    log.deliveries[2].push(d(103, DM, 1, Via::Live(0)));
    assert_eq!(kinds(&check(&log)), [Kind::Mismatch]);
}
