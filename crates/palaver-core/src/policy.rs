//! Who may do what to a conversation. Pure decisions over the facts the caller looked up.

use crate::error::CoreError;
use crate::ids::UserId;
use crate::model::{Conversation, ConversationKind};

fn label(c: &Conversation) -> String {
    match &c.name {
        Some(n) => format!("#{n}"),
        None => format!("conversation {}", c.id),
    }
}

/// Reading history, sending and marking read all need membership.
pub fn require_member(c: &Conversation, is_member: bool) -> Result<(), CoreError> {
    if is_member {
        return Ok(());
    }
    Err(match c.kind {
        ConversationKind::Channel => {
            CoreError::forbidden(format!("not a member of {}; join it first", label(c)))
        }
        // Private conversations do not admit they exist to strangers.
        ConversationKind::Group | ConversationKind::Dm => {
            CoreError::not_found("no such conversation")
        }
    })
}

/// Anyone may join a channel; groups are joined only by the owner adding you.
pub fn may_join(c: &Conversation) -> Result<(), CoreError> {
    match c.kind {
        ConversationKind::Channel => Ok(()),
        ConversationKind::Group | ConversationKind::Dm => Err(CoreError::not_found("no such room")),
    }
}

pub fn may_leave(c: &Conversation, is_member: bool) -> Result<(), CoreError> {
    if c.kind == ConversationKind::Dm {
        return Err(CoreError::invalid("direct conversations cannot be left"));
    }
    require_member(c, is_member)
}

/// Only a room's owner may destroy it or add members to it. A private group does not admit
/// it exists to someone outside it.
pub fn require_owner(
    c: &Conversation,
    actor: UserId,
    is_member: bool,
    action: &str,
) -> Result<(), CoreError> {
    if c.kind == ConversationKind::Dm {
        return Err(CoreError::invalid(format!(
            "direct conversations cannot be {action}"
        )));
    }
    if c.owner == Some(actor) {
        return Ok(());
    }
    if c.kind == ConversationKind::Group && !is_member {
        return Err(CoreError::not_found("no such room"));
    }
    Err(CoreError::forbidden(format!(
        "only the owner of {} may do that",
        label(c)
    )))
}

/// A read marker moves forward only, and never past the newest message.
pub fn clamp_read_seq(current: i64, requested: i64, last_seq: i64) -> Option<i64> {
    let target = requested.min(last_seq);
    (target > current).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::ids::ConversationId;

    fn conv(kind: ConversationKind) -> Conversation {
        Conversation {
            id: ConversationId(1),
            kind,
            name: Some("r".into()),
            topic: None,
            owner: Some(UserId(1)),
            created_at: 0,
            last_seq: 5,
        }
    }

    #[test]
    fn membership_rules() {
        let ch = conv(ConversationKind::Channel);
        let gr = conv(ConversationKind::Group);
        assert!(may_join(&ch).is_ok());
        assert_eq!(may_join(&gr).unwrap_err().kind, ErrorKind::NotFound);
        assert_eq!(
            require_member(&ch, false).unwrap_err().kind,
            ErrorKind::Forbidden
        );
        assert_eq!(
            require_member(&gr, false).unwrap_err().kind,
            ErrorKind::NotFound
        );
        assert!(require_owner(&gr, UserId(1), true, "destroyed").is_ok());
        assert_eq!(
            require_owner(&gr, UserId(2), true, "destroyed")
                .unwrap_err()
                .kind,
            ErrorKind::Forbidden
        );
        assert_eq!(
            require_owner(&gr, UserId(3), false, "destroyed")
                .unwrap_err()
                .kind,
            ErrorKind::NotFound,
            "strangers do not learn a group exists"
        );
        assert!(require_owner(&conv(ConversationKind::Dm), UserId(1), true, "destroyed").is_err());
    }

    #[test]
    fn read_markers_only_move_forward() {
        assert_eq!(clamp_read_seq(2, 4, 5), Some(4));
        assert_eq!(clamp_read_seq(2, 9, 5), Some(5));
        assert_eq!(clamp_read_seq(4, 3, 5), None);
        assert_eq!(clamp_read_seq(5, 5, 5), None);
    }
}
