//! The authorize hook's contract (docs/dialects.md, section `chat-client`, "The authorize
//! hook"). The seed server let its operator plug an `authorize(data, cb)` callback in; Palaver
//! calls an HTTP endpoint instead: it POSTs the `authorize` request's `data` as JSON, and the
//! endpoint answers with the user it names.
//!
//! - `200` with a JSON object that has a `handle`: that Palaver user (created on first use,
//!   without a password). `display_name` (or `name`) sets the name of a user it creates.
//! - `200` with `null` or `false`, `401`, `403` or `404`: not authorized (`authorizationFailed`,
//!   the socket stays open, as in the seed).
//! - anything else (another status, a body that is not such JSON, no answer in time): the hook
//!   is broken; the client gets `authorizationUnavailable` and the operator a log line.
//!
//! This module is the pure half: reading the answer. The HTTP call is the server's.

use palaver_core::validate;
use serde_json::{Map, Value};

/// The reply error when the hook could not be asked or answered nonsense.
pub const AUTHORIZATION_UNAVAILABLE: &str = "authorizationUnavailable";

/// Largest answer body read from the hook.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What the hook said.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The data names this user.
    User {
        /// Validated and lower-cased.
        handle: String,
        /// For a user created on first use.
        display_name: Option<String>,
        /// The object as the hook sent it, echoed to the client (the seed echoes the user
        /// its callback returned) under Palaver's own fields.
        object: Map<String, Value>,
    },
    /// The data names nobody.
    Denied,
}

/// Reads the hook's answer; `Err` says what is wrong with it, for the log.
pub fn answer(status: u16, body: &[u8]) -> Result<Answer, String> {
    match status {
        200 => {}
        401 | 403 | 404 => return Ok(Answer::Denied),
        other => return Err(format!("the hook answered with status {other}")),
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the hook's answer is not JSON: {e}"))?;
    let object = match value {
        Value::Null | Value::Bool(false) => return Ok(Answer::Denied),
        Value::Object(o) => o,
        _ => return Err("the hook's answer is neither an object nor null/false".into()),
    };
    let handle = object
        .get("handle")
        .and_then(Value::as_str)
        .ok_or("the hook's answer has no string `handle`")?;
    let handle =
        validate::handle(handle).map_err(|e| format!("the hook's `handle` is invalid: {e}"))?;
    let display_name = ["display_name", "name"]
        .iter()
        .find_map(|k| object.get(*k).and_then(Value::as_str))
        .and_then(|n| validate::display_name(n).ok());
    Ok(Answer::User {
        handle,
        display_name,
        object,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn a_user_object_names_a_handle() {
        let a = answer(
            200,
            &body(json!({"handle": "Alice", "name": "Alice A", "_id": "u1"})),
        );
        let Ok(Answer::User {
            handle,
            display_name,
            object,
        }) = a
        else {
            panic!("{a:?}");
        };
        assert_eq!(handle, "alice");
        assert_eq!(display_name.as_deref(), Some("Alice A"));
        assert_eq!(object["_id"], "u1");
    }

    #[test]
    fn refusals() {
        for (status, b) in [
            (200, body(json!(null))),
            (200, body(json!(false))),
            (401, Vec::new()),
            (403, b"no".to_vec()),
            (404, Vec::new()),
        ] {
            assert_eq!(answer(status, &b), Ok(Answer::Denied), "{status}");
        }
    }

    #[test]
    fn broken_answers_are_errors() {
        for (status, b) in [
            (500, body(json!({"handle": "alice"}))),
            (200, b"not json".to_vec()),
            (200, body(json!("alice"))),
            (200, body(json!({"name": "no handle"}))),
            (200, body(json!({"handle": "no spaces allowed"}))),
            (302, Vec::new()),
        ] {
            assert!(answer(status, &b).is_err(), "{status} {b:?}");
        }
    }
}
