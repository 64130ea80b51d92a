//! Presence aggregated over all of a user's connections: online from the first connection,
//! offline when the last one closes.

use crate::ids::UserId;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct PresenceTracker {
    connections: HashMap<UserId, u32>,
}

impl PresenceTracker {
    /// Records a new connection; true when the user just came online.
    pub fn connect(&mut self, user: UserId) -> bool {
        let n = self.connections.entry(user).or_insert(0);
        *n += 1;
        *n == 1
    }

    /// Records a closed connection; true when the user just went offline.
    pub fn disconnect(&mut self, user: UserId) -> bool {
        match self.connections.get_mut(&user) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                self.connections.remove(&user);
                true
            }
            None => false,
        }
    }

    pub fn is_online(&self, user: UserId) -> bool {
        self.connections.contains_key(&user)
    }

    pub fn online_count(&self) -> usize {
        self.connections.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_connections() {
        let mut p = PresenceTracker::default();
        let u = UserId(1);
        assert!(p.connect(u));
        assert!(!p.connect(u));
        assert!(!p.disconnect(u));
        assert!(p.is_online(u));
        assert!(p.disconnect(u));
        assert!(!p.is_online(u));
        assert!(!p.disconnect(u), "a stray disconnect is not a transition");
    }
}
