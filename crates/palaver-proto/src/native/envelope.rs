//! The JSON-RPC 2.0 envelope: requests, notifications, batches, responses.

use super::errors::RpcError;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// One decoded request. `id: None` means a notification (no response is sent).
#[derive(Debug)]
pub struct Request {
    pub id: Option<Value>,
    pub method: String,
    pub params: Option<Value>,
}

/// What one text frame holds.
#[derive(Debug)]
pub enum Incoming {
    Single(Result<Request, (Value, RpcError)>),
    /// Each element is a request or the error response it earned (with the id to answer).
    Batch(Vec<Result<Request, (Value, RpcError)>>),
}

/// Decodes a frame. `Err` is a response to send as is (parse error or invalid batch).
pub fn decode(text: &str, max_batch: usize) -> Result<Incoming, String> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return Err(encode_error(&Value::Null, &RpcError::parse_error())),
    };
    match value {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(encode_error(
                    &Value::Null,
                    &RpcError::invalid_request("empty batch"),
                ));
            }
            if items.len() > max_batch {
                return Err(encode_error(
                    &Value::Null,
                    &RpcError::invalid_request(format!("batch larger than {max_batch}")),
                ));
            }
            Ok(Incoming::Batch(items.into_iter().map(request).collect()))
        }
        other => Ok(Incoming::Single(request(other))),
    }
}

fn request(value: Value) -> Result<Request, (Value, RpcError)> {
    let Value::Object(mut obj) = value else {
        return Err((Value::Null, RpcError::invalid_request("expected an object")));
    };
    // The id is echoed even when the rest is invalid, if it is a legal id.
    let id = match obj.remove("id") {
        None => None,
        Some(id @ (Value::Null | Value::String(_) | Value::Number(_))) => Some(id),
        Some(_) => {
            return Err((
                Value::Null,
                RpcError::invalid_request("id must be a string, number or null"),
            ));
        }
    };
    let err_id = id.clone().unwrap_or(Value::Null);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((err_id, RpcError::invalid_request("jsonrpc must be \"2.0\"")));
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        _ => return Err((err_id, RpcError::invalid_request("method must be a string"))),
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => None,
        Some(p @ (Value::Object(_) | Value::Array(_))) => Some(p),
        Some(_) => {
            return Err((
                err_id,
                RpcError::invalid_request("params must be an object or array"),
            ));
        }
    };
    Ok(Request { id, method, params })
}

/// Encodes a success response whose result is already JSON text.
pub fn encode_result(id: &Value, result: &RawValue) -> String {
    let id = id.to_string();
    let result = result.get();
    let mut out = String::with_capacity(id.len() + result.len() + 32);
    out.push_str(r#"{"id":"#);
    out.push_str(&id);
    out.push_str(r#","jsonrpc":"2.0","result":"#);
    out.push_str(result);
    out.push('}');
    out
}

/// Encodes an error response.
pub fn encode_error(id: &Value, error: &RpcError) -> String {
    let mut err = Map::with_capacity(3);
    err.insert("code".into(), Value::from(error.code));
    err.insert("message".into(), Value::String(error.message.clone()));
    if let Some(code) = error.data_code {
        err.insert("data".into(), serde_json::json!({ "code": code }));
    }
    let mut obj = Map::with_capacity(3);
    obj.insert("jsonrpc".into(), Value::String("2.0".into()));
    obj.insert("error".into(), Value::Object(err));
    obj.insert("id".into(), id.clone());
    Value::Object(obj).to_string()
}

/// Joins already-encoded responses into one batch response frame.
pub fn encode_batch(responses: &[String]) -> String {
    let mut out = String::with_capacity(responses.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
    out.push('[');
    for (i, r) in responses.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r);
    }
    out.push(']');
    out
}

/// Encodes a server notification whose params are already JSON.
pub fn encode_notification_raw(method: &str, params: &RawValue) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":{},"params":{}}}"#,
        Value::String(method.into()),
        params.get()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(text: &str) -> Result<Request, (Value, RpcError)> {
        match decode(text, 10) {
            Ok(Incoming::Single(r)) => r,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn spec_examples() {
        let r = single(r#"{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1}"#).unwrap();
        assert_eq!(r.method, "subtract");
        assert_eq!(r.id, Some(Value::from(1)));
        let n = single(r#"{"jsonrpc":"2.0","method":"update","params":[1,2]}"#).unwrap();
        assert!(n.id.is_none());
        let parse = decode(
            r#"{"jsonrpc":"2.0","method":"foobar,"params":"bar","baz]"#,
            10,
        );
        assert!(parse.unwrap_err().contains("-32700"));
        let (id, e) = single(r#"{"jsonrpc":"2.0","method":1,"params":"bar"}"#).unwrap_err();
        assert_eq!((id, e.code), (Value::Null, -32600));
        assert!(decode("[]", 10).unwrap_err().contains("-32600"));
        match decode("[1,2,3]", 10) {
            Ok(Incoming::Batch(items)) => assert!(items.iter().all(|i| i.is_err())),
            other => panic!("unexpected {other:?}"),
        }
        assert!(decode("[1,2,3]", 2).unwrap_err().contains("-32600"));
        let (id, e) = single(r#"{"jsonrpc":"1.0","method":"x","id":"a"}"#).unwrap_err();
        assert_eq!((id, e.code), (Value::from("a"), -32600));
    }

    #[test]
    fn deep_nesting_is_a_parse_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(decode(&deep, 10).unwrap_err().contains("-32700"));
    }

    #[test]
    fn encodes_responses() {
        let ok = encode_result(&Value::from(1), &crate::native::to_result("pong"));
        assert_eq!(ok, r#"{"id":1,"jsonrpc":"2.0","result":"pong"}"#);
        let err = encode_error(&Value::Null, &RpcError::method_not_found("x"));
        let v: Value = serde_json::from_str(&err).unwrap();
        assert_eq!(v["error"]["code"], -32601);
    }
}
