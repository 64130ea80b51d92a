//! The `path-rooms` dialect (seed 004, TylerCorkill/ws-chat-server): the URL path names the
//! channel, guests claim a nickname with `identity`, heartbeats flow both ways every second.
//!
//! Frames are written by hand to keep the seed's key order.

use palaver_core::{Event, EventBody};
use serde::Deserialize;
use serde_json::Value;

/// Handles of guest accounts start with this; real handles cannot (they start with a letter
/// or digit). The rest encodes the nickname reversibly (see `guest_handle`).
pub const GUEST_PREFIX: &str = "_g.";
/// The account unidentified guests send as; shown as `"user": ""`.
pub const ANONYMOUS_HANDLE: &str = "_guest";

/// A client frame. Anything else is ignored, as the seed did.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Heartbeat,
    Identity(String),
    Message(String),
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: Option<String>,
    user: Option<Value>,
    text: Option<Value>,
}

/// Decodes a client frame; `None` for anything the dialect ignores (bad JSON included).
pub fn decode(text: &str) -> Option<Incoming> {
    let raw: Raw = serde_json::from_str(text).ok()?;
    match raw.kind.as_deref()? {
        "heartbeat" => Some(Incoming::Heartbeat),
        // A missing or non-string name is a claim that fails.
        "identity" => match raw.user {
            Some(Value::String(s)) => Some(Incoming::Identity(s)),
            _ => Some(Incoming::Identity(String::new())),
        },
        "message" => match raw.text? {
            Value::String(s) => Some(Incoming::Message(s)),
            n @ Value::Number(_) => Some(Incoming::Message(n.to_string())),
            _ => None,
        },
        _ => None,
    }
}

fn quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

pub fn connection_frame(channel: &str) -> String {
    format!(r#"{{"type":"connection","id":{}}}"#, quote(channel))
}

pub fn heartbeat_frame(authenticated: bool) -> String {
    format!(r#"{{"authenticated":{authenticated},"type":"heartbeat"}}"#)
}

pub fn identity_frame(success: bool) -> String {
    format!(r#"{{"success":{success},"type":"identity"}}"#)
}

fn is_plain(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')
}

/// The handle of a nickname's guest account: `_g.` then the nickname with every character
/// outside `[a-z0-9_.-]` written as `~` and its UTF-8 bytes in hex, so it round-trips exactly.
pub fn guest_handle(nickname: &str) -> String {
    let mut h = String::from(GUEST_PREFIX);
    for c in nickname.chars() {
        if is_plain(c) {
            h.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                h.push_str(&format!("~{b:02x}"));
            }
        }
    }
    h
}

/// The name shown for a sender: a guest's nickname, `""` for the anonymous guest, or a
/// Palaver user's handle.
pub fn display_name(handle: &str) -> String {
    if handle == ANONYMOUS_HANDLE {
        return String::new();
    }
    let Some(rest) = handle.strip_prefix(GUEST_PREFIX) else {
        return handle.to_owned();
    };
    let mut bytes = Vec::with_capacity(rest.len());
    let mut it = rest.bytes();
    while let Some(b) = it.next() {
        if b == b'~' {
            let hex: Vec<u8> = it.by_ref().take(2).collect();
            let byte = std::str::from_utf8(&hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            bytes.push(byte.unwrap_or(b'?'));
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The frame for a core event: only messages, to everyone in the channel.
pub fn encode_event(event: &Event) -> Option<String> {
    let EventBody::Message(m) = &event.body else {
        return None;
    };
    Some(format!(
        r#"{{"type":"message","text":{},"timestamp":{},"user":{}}}"#,
        quote(&m.text),
        m.ts,
        quote(&display_name(&m.sender_handle))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_ignores() {
        assert_eq!(decode(r#"{"type":"heartbeat"}"#), Some(Incoming::Heartbeat));
        assert_eq!(
            decode(r#"{"type":"identity","user":"fishing_beast_5000"}"#),
            Some(Incoming::Identity("fishing_beast_5000".into()))
        );
        assert_eq!(
            decode(r#"{"type":"message","text":5}"#),
            Some(Incoming::Message("5".into()))
        );
        for ignored in [
            "{",
            "[]",
            r#"{"type":"dance"}"#,
            r#"{"type":"message"}"#,
            "null",
        ] {
            assert_eq!(decode(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn nicknames_round_trip_through_guest_handles() {
        for nick in ["fishing_beast_5000", "Bob Smith", "Ünï~x", "a\"b"] {
            let h = guest_handle(nick);
            assert!(h.chars().all(|c| c.is_ascii_graphic()), "{h}");
            assert_eq!(display_name(&h), nick);
        }
        assert_eq!(display_name(ANONYMOUS_HANDLE), "");
        assert_eq!(display_name("alice"), "alice");
    }

    #[test]
    fn frames_keep_the_seed_key_order() {
        assert_eq!(
            heartbeat_frame(true),
            r#"{"authenticated":true,"type":"heartbeat"}"#
        );
        assert_eq!(
            identity_frame(false),
            r#"{"success":false,"type":"identity"}"#
        );
        assert_eq!(
            connection_frame("fishing"),
            r#"{"type":"connection","id":"fishing"}"#
        );
    }
}
