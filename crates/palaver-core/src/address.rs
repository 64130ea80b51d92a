//! Parsing of the addresses clients write: `#room`, `@handle`, or a numeric conversation id.

use crate::error::CoreError;
use crate::ids::ConversationId;
use crate::validate;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `#name`: a channel or group, by its (normalised) name.
    Room(String),
    /// `@handle`: the direct-message conversation with that user.
    User(String),
    /// A conversation id.
    Conversation(ConversationId),
}

impl Target {
    /// Parses an address. Names are normalised to lower case.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let s = s.trim();
        if let Some(name) = s.strip_prefix('#') {
            return Ok(Self::Room(validate::room_name(name)?));
        }
        if let Some(handle) = s.strip_prefix('@') {
            return Ok(Self::User(validate::handle(handle)?));
        }
        match s.parse::<i64>() {
            Ok(id) if id > 0 => Ok(Self::Conversation(ConversationId(id))),
            _ => Err(CoreError::invalid(
                "expected `#room`, `@handle` or a conversation id",
            )),
        }
    }

    /// Parses an address that must name a room (`#name` or an id).
    pub fn parse_room(s: &str) -> Result<Self, CoreError> {
        match Self::parse(s)? {
            Self::User(_) => Err(CoreError::invalid("expected `#room` or a room id")),
            t => Ok(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(Target::parse("#Main").unwrap(), Target::Room("main".into()));
        assert_eq!(
            Target::parse("@Alice").unwrap(),
            Target::User("alice".into())
        );
        assert_eq!(
            Target::parse("42").unwrap(),
            Target::Conversation(ConversationId(42))
        );
        assert!(Target::parse("main").is_err());
        assert!(Target::parse("-1").is_err());
        assert!(Target::parse("#").is_err());
        assert!(Target::parse_room("@bob").is_err());
    }
}
