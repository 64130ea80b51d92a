//! Requests and replies: the seed's `JsonRpcParser` rules, and the typed calls.
//!
//! A request needs a truthy `jsonrpc`, `method` and `id`; anything else (a batch, `"id":0`, a
//! notification) is an invalid request answered with `"id":null`. `params` given as an array
//! are the positional arguments; any other truthy value is the single first argument.

use super::{is_name, truthy};
use serde::Serialize;
use serde_json::{Map, Value};

/// The error replies, with the seed's codes and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RpcError {
    Parse,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    /// Every other failure (the seed's catch-all `JsonRpcError`).
    Server,
}

impl RpcError {
    pub fn code(self) -> i64 {
        match self {
            Self::Parse => -32700,
            Self::InvalidRequest => -32600,
            Self::MethodNotFound => -32601,
            Self::InvalidParams => -32602,
            Self::Server => -32000,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::Parse => "Parse error",
            Self::InvalidRequest => "Invalid Request",
            Self::MethodNotFound => "Method not found",
            Self::InvalidParams => "Invalid params",
            Self::Server => "Server error",
        }
    }
}

/// A request that passed the envelope rules.
#[derive(Debug)]
pub struct Request {
    /// Echoed as given (a string stays a string, a number a number).
    pub id: Value,
    pub method: String,
    pub args: Vec<Value>,
}

/// Decodes a frame; `Err` is the error reply to send as is.
pub fn decode(text: &str) -> Result<Request, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|_| encode_error(&Value::Null, RpcError::Parse))?;
    let Value::Object(mut obj) = value else {
        return Err(encode_error(&Value::Null, RpcError::InvalidRequest));
    };
    let present = |obj: &Map<String, Value>, key: &str| obj.get(key).is_some_and(truthy);
    if !present(&obj, "jsonrpc") || !present(&obj, "method") || !present(&obj, "id") {
        return Err(encode_error(&Value::Null, RpcError::InvalidRequest));
    }
    let id = obj.remove("id").unwrap_or(Value::Null);
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        // The seed looks up `String(method)`, which names none of its methods.
        _ => String::new(),
    };
    let args = match obj.remove("params") {
        Some(p) if !truthy(&p) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(p) => vec![p],
        None => Vec::new(),
    };
    Ok(Request { id, method, args })
}

/// A success reply: `{"jsonrpc":"2.0","result":…,"id":…}`.
pub fn encode_result<T: Serialize>(id: &Value, result: &T) -> String {
    let result = serde_json::to_string(result).unwrap_or_else(|_| "null".into());
    format!(r#"{{"jsonrpc":"2.0","result":{result},"id":{id}}}"#)
}

/// A success reply whose result is already JSON text.
pub fn encode_raw_result(id: &Value, result_json: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","result":{result_json},"id":{id}}}"#)
}

/// An error reply: `{"jsonrpc":"2.0","error":{"code","message"},"id":…}`.
pub fn encode_error(id: &Value, e: RpcError) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","error":{{"code":{},"message":"{}"}},"id":{id}}}"#,
        e.code(),
        e.message()
    )
}

/// The seven methods with their arguments checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    GetSelfInfo,
    /// `""` (or, for `img`, a missing argument) leaves a field unchanged.
    SetSelfInfo {
        first_name: String,
        last_name: String,
        img: String,
    },
    SendMessageToUser {
        receiver: String,
        text: String,
    },
    /// Newest first, skipping `start`, up to `end - start` messages.
    GetMessagesWithUser {
        tag: String,
        start: u64,
        end: u64,
    },
    GetDialogsList {
        start: u64,
        end: u64,
    },
    /// The seed validates nothing here: a non-string sender just matches no one.
    MarkMessagesWithUserAsRead {
        sender: Option<String>,
    },
    FindUsersByTag {
        query: String,
    },
}

fn arg(args: &[Value], i: usize) -> Option<&Value> {
    args.get(i)
}

fn string(args: &[Value], i: usize) -> Result<String, RpcError> {
    match arg(args, i) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(RpcError::InvalidParams),
    }
}

/// An index argument: missing means the default; otherwise a non-negative integer.
fn index(args: &[Value], i: usize, default: u64) -> Result<u64, RpcError> {
    match arg(args, i) {
        None => Ok(default),
        Some(v) => v.as_u64().ok_or(RpcError::InvalidParams),
    }
}

fn range(args: &[Value], first: usize, end: u64) -> Result<(u64, u64), RpcError> {
    let start = index(args, first, 0)?;
    let end = index(args, first + 1, end)?;
    if start >= end {
        return Err(RpcError::InvalidParams);
    }
    Ok((start, end))
}

/// Types the arguments of `method`.
pub fn parse_call(method: &str, args: &[Value]) -> Result<Call, RpcError> {
    Ok(match method {
        "getSelfInfo" => Call::GetSelfInfo,
        "setSelfInfo" => {
            let first_name = string(args, 0)?;
            let last_name = string(args, 1)?;
            let img = match arg(args, 2) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(RpcError::InvalidParams),
            };
            let bad = |n: &str| !n.is_empty() && !is_name(n);
            if bad(&first_name) || bad(&last_name) {
                return Err(RpcError::InvalidParams);
            }
            Call::SetSelfInfo {
                first_name,
                last_name,
                img,
            }
        }
        "sendMessageToUser" => {
            let receiver = string(args, 0)?;
            let text = string(args, 1)?;
            Call::SendMessageToUser { receiver, text }
        }
        "getMessagesWithUser" => {
            let tag = string(args, 0)?;
            if tag.is_empty() {
                return Err(RpcError::InvalidParams);
            }
            let (start, end) = range(args, 1, 100)?;
            Call::GetMessagesWithUser { tag, start, end }
        }
        "getDialogsList" => {
            let (start, end) = range(args, 0, 30)?;
            Call::GetDialogsList { start, end }
        }
        "markMessagesWithUserAsRead" => Call::MarkMessagesWithUserAsRead {
            sender: string(args, 0).ok(),
        },
        "findUsersByTag" => Call::FindUsersByTag {
            query: string(args, 0)?,
        },
        _ => return Err(RpcError::MethodNotFound),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_rules() {
        let bad = |t: &str| decode(t).unwrap_err();
        assert_eq!(
            bad("{"),
            r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#
        );
        let invalid =
            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}"#;
        assert_eq!(
            bad(r#"[{"jsonrpc":"2.0","method":"getSelfInfo","id":1}]"#),
            invalid
        );
        assert_eq!(
            bad(r#"{"jsonrpc":"2.0","method":"getSelfInfo","id":0}"#),
            invalid
        );
        assert_eq!(bad(r#"{"jsonrpc":"2.0","method":"getSelfInfo"}"#), invalid);
        assert_eq!(bad(r#"{"method":"getSelfInfo","id":"1"}"#), invalid);
        assert_eq!(bad("null"), invalid);
        let r = decode(r#"{"jsonrpc":"2.0","method":"x","params":["a",1],"id":"7"}"#).unwrap();
        assert_eq!((r.id, r.args), (json!("7"), vec![json!("a"), json!(1)]));
        let r = decode(r#"{"jsonrpc":2,"method":"x","params":{"a":1},"id":3}"#).unwrap();
        assert_eq!(r.args, vec![json!({"a":1})]);
        assert_eq!(
            encode_result(&json!(3), &json!({"status":"OK"})),
            r#"{"jsonrpc":"2.0","result":{"status":"OK"},"id":3}"#
        );
    }

    #[test]
    fn calls() {
        let p = |m: &str, a: Value| parse_call(m, a.as_array().unwrap());
        assert_eq!(p("nope", json!([])), Err(RpcError::MethodNotFound));
        assert_eq!(p("constructor", json!([])), Err(RpcError::MethodNotFound));
        assert!(matches!(
            p("setSelfInfo", json!(["", "Ivanov"])),
            Ok(Call::SetSelfInfo { .. })
        ));
        assert_eq!(
            p("setSelfInfo", json!(["123", "Ivanov"])),
            Err(RpcError::InvalidParams)
        );
        assert_eq!(
            p("setSelfInfo", json!(["Ivan"])),
            Err(RpcError::InvalidParams)
        );
        assert_eq!(
            p("getMessagesWithUser", json!(["@a"])),
            Ok(Call::GetMessagesWithUser {
                tag: "@a".into(),
                start: 0,
                end: 100
            })
        );
        assert_eq!(
            p("getMessagesWithUser", json!(["@a", 5, 5])),
            Err(RpcError::InvalidParams)
        );
        assert_eq!(
            p("getDialogsList", json!(["0"])),
            Err(RpcError::InvalidParams)
        );
        assert_eq!(
            p("markMessagesWithUserAsRead", json!([1])),
            Ok(Call::MarkMessagesWithUserAsRead { sender: None })
        );
    }
}
