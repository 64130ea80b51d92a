//! The account calls over HTTP (`/api/v1/signup`, `login`, `logout`) and a generic request.
//!
//! A deliberately tiny HTTP/1.1 client: one request per TCP connection (`Connection: close`),
//! JSON bodies framed by `Content-Length`, responses read to end of stream. That is all a test
//! or load client needs, and it keeps the build free of an HTTP client stack. `https` is not
//! supported.

use crate::error::{ClientError, Result};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one whole request may take, connect to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP response.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    /// Header names as sent by the server; look them up with [`Response::header`].
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON; a non-JSON body becomes a JSON string, an empty one `null`.
    pub body: Value,
    /// The body as text (lossy UTF-8).
    pub text: String,
}

impl Response {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).into_iter().next()
    }

    /// Every header with this name (case-insensitive), in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The whole `Set-Cookie` header that sets the cookie `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers_named("set-cookie")
            .into_iter()
            .find(|v| v.split_once('=').is_some_and(|(n, _)| n.trim() == name))
    }

    /// The value the response gives the cookie `name` (possibly empty when it clears it).
    pub fn cookie_value(&self, name: &str) -> Option<&str> {
        let set = self.set_cookie(name)?;
        let (_, rest) = set.split_once('=')?;
        Some(rest.split(';').next().unwrap_or_default().trim())
    }
}

struct Base {
    /// `host:port`, used both to connect and as the `Host` header.
    authority: String,
    /// Path prefix without a trailing `/` (usually empty).
    prefix: String,
}

fn parse_base(base: &str) -> Result<Base> {
    let rest = base
        .strip_prefix("http://")
        .ok_or_else(|| ClientError::Url(format!("{base}: only http:// is supported")))?;
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(ClientError::Url(format!("{base}: no host")));
    }
    let authority = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok(Base {
        authority,
        prefix: prefix.to_owned(),
    })
}

/// Sends one request and reads the whole response. `headers` are added verbatim; a JSON
/// `body` sets `Content-Type: application/json`.
pub async fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Response> {
    let base = parse_base(base)?;
    let body = match body {
        Some(v) => serde_json::to_vec(v)?,
        None => Vec::new(),
    };
    let mut head = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n",
        base.prefix, base.authority
    );
    if method != "GET" || !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");

    let exchange = async {
        let mut stream = TcpStream::connect(&base.authority).await?;
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.flush().await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, ClientError>(raw)
    };
    let raw = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| ClientError::Timeout)??;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Result<Response> {
    let bad = |what: &str| ClientError::Protocol(format!("bad HTTP response: {what}"));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad("no status code"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let rest = &raw[split + 4..];
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest).ok_or_else(|| bad("broken chunked body"))?
    } else if let Some(len) = find("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad Content-Length"))?;
        rest.get(..len)
            .ok_or_else(|| bad("body shorter than Content-Length"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(text.clone()))
    };
    Ok(Response {
        status,
        headers,
        body: json,
        text,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let size_field = std::str::from_utf8(&data[..eol]).ok()?;
        let size = usize::from_str_radix(size_field.split(';').next()?.trim(), 16).ok()?;
        data = &data[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// `POST path` with a JSON body and, optionally, `Authorization: Bearer <bearer>`.
pub async fn post_json(
    base: &str,
    path: &str,
    body: &Value,
    bearer: Option<&str>,
) -> Result<Response> {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| ("Authorization", a))
        .into_iter()
        .collect();
    request(base, "POST", path, &headers, Some(body)).await
}

/// `GET path`.
pub async fn get(base: &str, path: &str) -> Result<Response> {
    request(base, "GET", path, &[], None).await
}

/// `POST /api/v1/signup`.
pub async fn signup(
    base: &str,
    handle: &str,
    password: &str,
    display_name: Option<&str>,
) -> Result<Response> {
    let mut body = json!({ "handle": handle, "password": password });
    if let Some(d) = display_name {
        body["display_name"] = json!(d);
    }
    post_json(base, "/api/v1/signup", &body, None).await
}

/// `POST /api/v1/login`. A `login` containing `@` is sent as `email`, anything else as `handle`
/// (handles cannot contain `@`).
pub async fn login(base: &str, login: &str, password: &str) -> Result<Response> {
    let field = if login.contains('@') {
        "email"
    } else {
        "handle"
    };
    let body = json!({ field: login, "password": password });
    post_json(base, "/api/v1/login", &body, None).await
}

/// `POST /api/v1/logout` with the token as a Bearer header.
pub async fn logout(base: &str, token: &str) -> Result<Response> {
    post_json(base, "/api/v1/logout", &json!({}), Some(token)).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_length_and_chunked_bodies() {
        let r = parse_response(
            b"HTTP/1.1 201 Created\r\ncontent-length: 8\r\nSet-Cookie: palaver_token=abc; HttpOnly\r\n\r\n{\"a\":1}\nXX",
        )
        .unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.body, json!({"a": 1}));
        assert_eq!(r.cookie_value("palaver_token"), Some("abc"));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, json!("ok"));
        assert!(parse_base("https://x").is_err());
        assert_eq!(
            parse_base("http://127.0.0.1:9/").unwrap().authority,
            "127.0.0.1:9"
        );
    }
}
