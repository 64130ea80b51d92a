//! The newest messages of the conversations read lately, so that the page a client opens a
//! conversation with is served without reading the store.
//!
//! A stored message never changes and seqs are gap-free from 1, so a cached message is never
//! stale. What the cache must be sure of is that it holds *every* message of the range it is
//! asked for; the caller gives that range from the conversation's `last_seq` as it just read
//! it from the store, and the cache answers only when its run of consecutive seqs covers it.
//! Which runs it keeps is up to it: the newest `depth` messages of at most `capacity`
//! conversations, the least recently used dropped first. What it holds of each message is the
//! caller's choice (`T`), for example the message with its encoding for a protocol.

use crate::{ConversationId, Message};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// The seqs a history page holds, `lo..=hi`, given the conversation's `last_seq` and the
/// page's bounds (`before`: seqs below it, newest first; `after`: seqs above it, oldest
/// first; neither: the newest) and the most it holds. `None` when the page is empty.
pub fn page_range(
    last_seq: i64,
    before: Option<i64>,
    after: Option<i64>,
    count: u32,
) -> Option<(i64, i64)> {
    if count == 0 {
        return None;
    }
    let count = i64::from(count);
    let (lo, hi) = match after {
        Some(after) => {
            let lo = after.max(0).saturating_add(1);
            (lo, last_seq.min(lo.saturating_add(count - 1)))
        }
        None => {
            let hi = last_seq.min(before.unwrap_or(i64::MAX).saturating_sub(1));
            (hi.saturating_sub(count - 1).max(1), hi)
        }
    };
    (lo <= hi).then_some((lo, hi))
}

/// What [`RecentMessages::range`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<T = Message> {
    /// Every message of the range, oldest first.
    Hit(Vec<Arc<T>>),
    /// The cache holds the start of the range and ends at seq `after`: fetch the messages
    /// after it up to the range's end, give them to [`RecentMessages::remember`], and ask
    /// again.
    Behind { after: i64 },
    /// Read the range from the store.
    Miss,
}

/// The newest messages of recently read conversations.
#[derive(Debug)]
pub struct RecentMessages<T = Message> {
    capacity: usize,
    depth: usize,
    tails: HashMap<ConversationId, Tail<T>>,
    clock: u64,
}

/// Messages with consecutive seqs, oldest first, never empty.
#[derive(Debug)]
struct Tail<T> {
    messages: VecDeque<Arc<T>>,
    used: u64,
}

/// The message a cached item holds.
fn message<T: AsRef<Message>>(item: &Arc<T>) -> &Message {
    T::as_ref(item)
}

impl<T: AsRef<Message>> Tail<T> {
    fn first(&self) -> i64 {
        self.messages.front().map_or(0, |m| message(m).seq)
    }

    fn last(&self) -> i64 {
        self.messages.back().map_or(0, |m| message(m).seq)
    }
}

impl AsRef<Message> for Message {
    fn as_ref(&self) -> &Message {
        self
    }
}

impl<T: AsRef<Message>> RecentMessages<T> {
    /// Keeps up to `depth` messages for each of up to `capacity` conversations; either being
    /// 0 keeps nothing.
    pub fn new(capacity: usize, depth: usize) -> Self {
        Self {
            capacity,
            depth,
            tails: HashMap::new(),
            clock: 0,
        }
    }

    /// The messages of `conversation` with seqs `lo..=hi`, if the cache holds them all.
    pub fn range(&mut self, conversation: ConversationId, lo: i64, hi: i64) -> Lookup<T> {
        let span = hi.saturating_sub(lo).saturating_add(1);
        if lo < 1 || span < 1 || span > self.depth as i64 {
            return Lookup::Miss;
        }
        self.clock += 1;
        let Some(tail) = self.tails.get_mut(&conversation) else {
            return Lookup::Miss;
        };
        tail.used = self.clock;
        let (first, last) = (tail.first(), tail.last());
        if lo < first {
            return Lookup::Miss;
        }
        if hi > last {
            // Extending the tail to `hi` keeps `lo`: the tail is trimmed to `depth` from the
            // front, and the range is no longer than that.
            return if hi - last <= self.depth as i64 {
                Lookup::Behind { after: last }
            } else {
                Lookup::Miss
            };
        }
        let start = (lo - first) as usize;
        let end = (hi - first) as usize;
        Lookup::Hit(tail.messages.range(start..=end).cloned().collect())
    }

    /// Takes messages of `conversation` read from the store, oldest first. A run that
    /// continues or overlaps the cached one extends it; a newer run that does not replaces
    /// it; an older one, or one with a gap, is ignored.
    pub fn remember(&mut self, conversation: ConversationId, messages: &[Arc<T>]) {
        if self.capacity == 0 || self.depth == 0 || messages.is_empty() {
            return;
        }
        let m = |i: usize| message(&messages[i]);
        let consecutive = (1..messages.len())
            .all(|i| m(i).seq == m(i - 1).seq + 1 && m(i).conversation == conversation);
        if !consecutive || m(0).conversation != conversation {
            return;
        }
        self.clock += 1;
        let newest = m(messages.len() - 1).seq;
        let skip = messages.len().saturating_sub(self.depth);
        let messages = &messages[skip..];
        if let Some(tail) = self.tails.get_mut(&conversation) {
            tail.used = self.clock;
            let last = tail.last();
            if newest <= last {
                return;
            }
            if message(&messages[0]).seq > last + 1 {
                tail.messages.clear();
            }
            let last = tail.last();
            tail.messages
                .extend(messages.iter().filter(|m| message(m).seq > last).cloned());
            let excess = tail.messages.len().saturating_sub(self.depth);
            tail.messages.drain(..excess);
            return;
        }
        if self.tails.len() >= self.capacity {
            self.evict();
        }
        self.tails.insert(
            conversation,
            Tail {
                messages: messages.iter().cloned().collect(),
                used: self.clock,
            },
        );
    }

    /// Conversations held.
    pub fn len(&self) -> usize {
        self.tails.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tails.is_empty()
    }

    /// Drops the least recently used conversation (a scan: it runs only when a conversation
    /// not held is read from the store, next to which it is cheap).
    fn evict(&mut self) {
        let oldest = self
            .tails
            .iter()
            .min_by_key(|(_, t)| t.used)
            .map(|(id, _)| *id);
        if let Some(id) = oldest {
            self.tails.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MessageId, UserId};

    const C: ConversationId = ConversationId(7);

    fn msg(conversation: ConversationId, seq: i64) -> Arc<Message> {
        Arc::new(Message {
            id: MessageId(1000 + seq),
            conversation,
            seq,
            sender: UserId(1),
            sender_handle: "ann".into(),
            text: format!("m{seq}"),
            ts: seq,
            client_id: None,
        })
    }

    fn run(conversation: ConversationId, seqs: std::ops::RangeInclusive<i64>) -> Vec<Arc<Message>> {
        seqs.map(|s| msg(conversation, s)).collect()
    }

    fn seqs(found: Lookup) -> Vec<i64> {
        match found {
            Lookup::Hit(v) => v.iter().map(|m| m.seq).collect(),
            other => panic!("expected a hit, got {other:?}"),
        }
    }

    #[test]
    fn the_page_range_matches_the_stores_bounds() {
        // The newest page, and one that reaches the first message.
        assert_eq!(page_range(100, None, None, 51), Some((50, 100)));
        assert_eq!(page_range(30, None, None, 51), Some((1, 30)));
        // Before a seq: seqs below it.
        assert_eq!(page_range(100, Some(60), None, 51), Some((9, 59)));
        assert_eq!(page_range(100, Some(500), None, 3), Some((98, 100)));
        // After a seq: seqs above it, never past the last.
        assert_eq!(page_range(100, None, Some(10), 51), Some((11, 61)));
        assert_eq!(page_range(100, None, Some(90), 51), Some((91, 100)));
        // Empty pages.
        assert_eq!(page_range(0, None, None, 51), None);
        assert_eq!(page_range(100, Some(1), None, 51), None);
        assert_eq!(page_range(100, None, Some(100), 51), None);
        assert_eq!(page_range(100, None, Some(i64::MAX), 51), None);
        assert_eq!(page_range(100, Some(i64::MIN), None, 51), None);
        assert_eq!(page_range(100, None, None, 0), None);
    }

    #[test]
    fn a_remembered_run_answers_ranges_inside_it_only() {
        let mut cache = RecentMessages::new(10, 64);
        assert_eq!(cache.range(C, 1, 10), Lookup::Miss);
        cache.remember(C, &run(C, 50..=100));
        assert_eq!(
            seqs(cache.range(C, 50, 100)),
            (50..=100).collect::<Vec<_>>()
        );
        assert_eq!(seqs(cache.range(C, 60, 61)), vec![60, 61]);
        // Older than the run: from the store.
        assert_eq!(cache.range(C, 49, 60), Lookup::Miss);
        // Newer: fetch what follows the run.
        assert_eq!(cache.range(C, 60, 103), Lookup::Behind { after: 100 });
        // Another conversation is not this one.
        assert_eq!(cache.range(ConversationId(8), 60, 61), Lookup::Miss);
    }

    #[test]
    fn the_run_grows_at_its_end_and_keeps_depth_messages() {
        let mut cache = RecentMessages::new(10, 8);
        cache.remember(C, &run(C, 1..=5));
        cache.remember(C, &run(C, 4..=9));
        assert_eq!(seqs(cache.range(C, 2, 9)), (2..=9).collect::<Vec<_>>());
        assert_eq!(cache.range(C, 1, 3), Lookup::Miss, "trimmed to 8 messages");
        // A newer run with a gap replaces it; an older one changes nothing.
        cache.remember(C, &run(C, 20..=22));
        assert_eq!(cache.range(C, 9, 9), Lookup::Miss);
        cache.remember(C, &run(C, 3..=6));
        assert_eq!(seqs(cache.range(C, 20, 22)), vec![20, 21, 22]);
        // A range longer than the depth is never served.
        assert_eq!(cache.range(C, 1, 9), Lookup::Miss);
        // A run longer than the depth that overlaps the cached one keeps its newest part,
        // which no longer touches the cached one.
        cache.remember(C, &run(C, 21..=40));
        assert_eq!(seqs(cache.range(C, 33, 40)), (33..=40).collect::<Vec<_>>());
        assert_eq!(cache.range(C, 22, 23), Lookup::Miss);
    }

    #[test]
    fn runs_with_a_gap_or_of_another_conversation_are_refused() {
        let mut cache = RecentMessages::new(10, 64);
        let mut gap = run(C, 1..=3);
        gap.push(msg(C, 5));
        cache.remember(C, &gap);
        assert!(cache.is_empty());
        cache.remember(C, &run(ConversationId(8), 1..=3));
        assert!(cache.is_empty());
    }

    #[test]
    fn behind_only_when_the_missing_part_fits() {
        let mut cache = RecentMessages::new(10, 8);
        cache.remember(C, &run(C, 1..=8));
        assert_eq!(cache.range(C, 5, 12), Lookup::Behind { after: 8 });
        cache.remember(C, &run(C, 9..=12));
        assert_eq!(seqs(cache.range(C, 5, 12)), (5..=12).collect::<Vec<_>>());
        // The range starts before the run: nothing to extend.
        assert_eq!(cache.range(C, 4, 11), Lookup::Miss);
    }

    #[test]
    fn the_least_recently_used_conversation_goes_first() {
        let mut cache = RecentMessages::new(2, 8);
        let (a, b, c) = (ConversationId(1), ConversationId(2), ConversationId(3));
        cache.remember(a, &run(a, 1..=2));
        cache.remember(b, &run(b, 1..=2));
        assert!(matches!(cache.range(a, 1, 2), Lookup::Hit(_)));
        cache.remember(c, &run(c, 1..=2));
        assert_eq!(cache.len(), 2);
        assert!(matches!(cache.range(a, 1, 2), Lookup::Hit(_)));
        assert_eq!(
            cache.range(b, 1, 2),
            Lookup::Miss,
            "b was used least lately"
        );
        assert!(matches!(cache.range(c, 1, 2), Lookup::Hit(_)));
    }

    #[test]
    fn zero_capacity_or_depth_keeps_nothing() {
        for (capacity, depth) in [(0, 8), (8, 0)] {
            let mut cache = RecentMessages::new(capacity, depth);
            cache.remember(C, &run(C, 1..=3));
            assert_eq!(cache.range(C, 1, 3), Lookup::Miss);
            assert!(cache.is_empty());
        }
    }
}
