//! The WebSocket upgrade (RFC 6455 §4.2) and the socket a connection runs on.
//!
//! Reading frames (unmasking, fragments, UTF-8, size limits, control frames) is tungstenite's
//! job. Writing text frames is ours: a server's frames are never masked, so a frame is a 2–10
//! byte header and the payload, and the connection writes the frames queued for it straight
//! from their shared payloads, many in one vectored write, with no write buffer kept while idle
//! (tungstenite's grows to the largest burst and never shrinks). What tungstenite writes on
//! its own (the replies to a ping or a close) lands in [`Io::control`], and the connection
//! sends those bytes between its frames, never inside one.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::{Role, WebSocketConfig};

/// An upgraded connection, read through tungstenite.
pub type Socket = WebSocketStream<Io>;

/// Longest header of a server frame: 2 bytes, then a 64-bit length.
pub const MAX_HEADER: usize = 10;

/// The header of an unmasked, final frame with `opcode` and a payload of `len` bytes; returns
/// the buffer and how much of it is the header.
pub fn frame_header(opcode: u8, len: usize) -> ([u8; MAX_HEADER], usize) {
    let mut h = [0u8; MAX_HEADER];
    h[0] = 0x80 | opcode;
    if len < 126 {
        h[1] = len as u8;
        (h, 2)
    } else if len <= u16::MAX as usize {
        h[1] = 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        (h, 4)
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (h, 10)
    }
}

pub const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;

/// A whole close frame with `code` and `reason` (cut to the 123 bytes a control frame allows).
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = &reason.as_bytes()[..end];
    let (h, n) = frame_header(OP_CLOSE, 2 + reason.len());
    let mut out = Vec::with_capacity(n + 2 + reason.len());
    out.extend_from_slice(&h[..n]);
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason);
    out
}

/// The upgraded stream. Reads go to the socket; tungstenite's own writes are kept in `control`
/// for the connection to send at a frame boundary.
pub struct Io {
    inner: TokioIo<Upgraded>,
    pub control: Vec<u8>,
}

impl Io {
    /// Writes `bufs` to the socket itself (not through tungstenite).
    pub fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
}

impl Io {
    /// Writes the control bytes until none are left (then frees their buffer).
    pub fn poll_write_control(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.control.is_empty() {
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &self.control))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.control.drain(..n);
        }
        self.control = Vec::new();
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.control.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The connection sends `control` itself, at the next frame boundary.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A checked WebSocket upgrade request (the `WebSocketUpgrade` of axum, with our own socket).
pub struct WsUpgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
    config: WebSocketConfig,
}

/// Why an upgrade request was refused (the status and text axum's extractor uses).
pub struct Refused(StatusCode, &'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

fn header_has(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

impl<S: Send + Sync> FromRequestParts<S> for WsUpgrade {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Refused> {
        if parts.method != Method::GET {
            return Err(Refused(
                StatusCode::METHOD_NOT_ALLOWED,
                "Request method must be `GET`",
            ));
        }
        if !header_has(&parts.headers, header::CONNECTION, "upgrade") {
            return Err(Refused(
                StatusCode::BAD_REQUEST,
                "Connection header did not include 'upgrade'",
            ));
        }
        if !header_has(&parts.headers, header::UPGRADE, "websocket") {
            return Err(Refused(
                StatusCode::BAD_REQUEST,
                "`Upgrade` header did not include 'websocket'",
            ));
        }
        if parts.headers.get(header::SEC_WEBSOCKET_VERSION) != Some(&HeaderValue::from_static("13"))
        {
            return Err(Refused(
                StatusCode::BAD_REQUEST,
                "`Sec-WebSocket-Version` header did not include '13'",
            ));
        }
        let key = parts
            .headers
            .get(header::SEC_WEBSOCKET_KEY)
            .cloned()
            .ok_or(Refused(
                StatusCode::BAD_REQUEST,
                "`Sec-WebSocket-Key` header missing",
            ))?;
        let on_upgrade = parts.extensions.remove::<OnUpgrade>().ok_or(Refused(
            StatusCode::UPGRADE_REQUIRED,
            "WebSocket request couldn't be upgraded since no upgrade state was present",
        ))?;
        Ok(Self {
            key,
            on_upgrade,
            // tungstenite writes only pongs and close replies here, straight through.
            config: WebSocketConfig::default().write_buffer_size(0),
        })
    }
}

impl WsUpgrade {
    /// Messages (and frames) larger than `bytes` are refused by the reader (1009).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config = self
            .config
            .max_message_size(Some(bytes))
            .max_frame_size(Some(bytes));
        self
    }

    /// The reader's buffer, allocated per connection.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.config = self.config.read_buffer_size(bytes);
        self
    }

    /// Answers 101 and runs `callback` on the socket once the upgrade completes.
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let config = self.config;
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(upgraded) => upgraded,
                Err(e) => {
                    tracing::debug!(error = %e, "websocket upgrade failed");
                    return;
                }
            };
            let io = Io {
                inner: TokioIo::new(upgraded),
                control: Vec::new(),
            };
            // Wrapping the stream does no I/O and is ready at once; not awaiting it keeps its
            // state out of every connection's task.
            let Some(socket) =
                WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).now_or_never()
            else {
                tracing::warn!("websocket setup did not complete at once; connection dropped");
                return;
            };
            callback(socket).await;
        });
        let accept = tungstenite::handshake::derive_accept_key(self.key.as_bytes());
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, HeaderValue::from_static("upgrade"))
            .header(header::UPGRADE, HeaderValue::from_static("websocket"))
            .header(header::SEC_WEBSOCKET_ACCEPT, accept)
            .body(axum::body::Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_use_the_shortest_length_encoding() {
        assert_eq!(frame_header(OP_TEXT, 5).0[..2], [0x81, 5]);
        let (h, n) = frame_header(OP_TEXT, 126);
        assert_eq!(h[..n], [0x81, 126, 0, 126]);
        let (h, n) = frame_header(OP_TEXT, 65_536);
        assert_eq!(h[..n], [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn close_reasons_are_cut_at_a_character_boundary() {
        let long = "é".repeat(100); // 200 bytes
        let frame = close_frame(1000, &long);
        assert_eq!(frame[0], 0x88);
        let len = frame[1] as usize;
        assert!(len <= 125, "a control frame carries at most 125 bytes");
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
        assert_eq!(frame[2..4], 1000u16.to_be_bytes());
    }
}
