//! The WebSocket upgrade (RFC 6455 §4.2) and the socket a connection runs on.
//!
//! Both directions are ours, so that an idle connection holds no buffer. Writing: a server's
//! frames are never masked, so a [`Frame`] (a 2–10 byte header and the payload) is the same
//! bytes for every recipient; it is built once and the connection writes the frames queued
//! for it where they are, one slice each, many in one vectored write. Reading (`read`): bytes
//! are read into a buffer on the stack, and only an incomplete frame is kept on the heap. The
//! reader's own replies (pongs, the close reply) land in [`Io::control`], and the connection
//! sends those bytes between its frames, never inside one.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

#[cfg(test)]
mod autobahn;
pub mod read;

use read::Reader;
pub use read::{Incoming, ReadError};

/// Bytes read at a time into the stack when no frame is incomplete.
const STACK_READ: usize = 4096;

/// An upgraded connection: the stream and the state of reading it.
pub struct Socket {
    io: Io,
    reader: Reader,
}

impl Socket {
    pub fn get_mut(&mut self) -> &mut Io {
        &mut self.io
    }

    pub fn get_ref(&self) -> &Io {
        &self.io
    }

    /// The client sent a close frame (and it was answered): no frame may follow ours.
    pub fn peer_closed(&self) -> bool {
        self.reader.done && self.reader.close_sent
    }

    /// Queues our close frame (sent by the connection with its control bytes); the client's
    /// close is then not answered again.
    pub fn queue_close(&mut self, code: u16, reason: &str) {
        if !self.reader.close_sent {
            self.reader.close_sent = true;
            self.io
                .control
                .extend_from_slice(&close_frame(code, reason));
        }
    }

    /// The next message or control frame; `None` once the client closed or went away.
    pub fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Incoming, ReadError>>> {
        loop {
            match self.reader.next(&mut self.io.control) {
                Ok(Some(m)) => return Poll::Ready(Some(Ok(m))),
                Err(e) => return Poll::Ready(Some(Err(e))),
                Ok(None) if self.reader.done => return Poll::Ready(None),
                Ok(None) => {}
            }
            let read = if self.reader.is_empty() {
                // Between frames: read on the stack, keep only what is not handled at once.
                let mut stack = [MaybeUninit::<u8>::uninit(); STACK_READ];
                let mut buf = ReadBuf::uninit(&mut stack);
                let read = self.io.poll_read(cx, &mut buf);
                if matches!(read, Poll::Ready(Ok(()))) {
                    self.reader.push(buf.filled());
                }
                read.map_ok(|()| buf.filled().len())
            } else {
                let mut buf = ReadBuf::new(self.reader.spare());
                let read = self.io.poll_read(cx, &mut buf);
                let n = buf.filled().len();
                self.reader.filled(n);
                read.map_ok(|()| n)
            };
            match std::task::ready!(read) {
                Ok(0) => {
                    self.reader.done = true;
                    return Poll::Ready(None);
                }
                Ok(_) => {}
                Err(e) => {
                    self.reader.done = true;
                    return Poll::Ready(Some(Err(ReadError::Io(e))));
                }
            }
        }
    }

    /// The next message or control frame (see `poll_message`).
    pub async fn next(&mut self) -> Option<Result<Incoming, ReadError>> {
        std::future::poll_fn(|cx| self.poll_message(cx)).await
    }
}

/// Longest header of a server frame: 2 bytes, then a 64-bit length.
pub const MAX_HEADER: usize = 10;

/// A whole server text frame, header and payload, as it goes on the wire. A server's frames
/// are never masked, so the bytes are the same for every recipient: an event is framed once,
/// shared by every connection it goes to (a clone shares the bytes), and written as one slice.
#[derive(Clone, Debug)]
pub struct Frame(bytes::Bytes);

impl Frame {
    /// The text frame carrying `text`.
    pub fn text(text: &str) -> Self {
        let (h, n) = frame_header(OP_TEXT, text.len());
        let mut bytes = Vec::with_capacity(n + text.len());
        bytes.extend_from_slice(&h[..n]);
        bytes.extend_from_slice(text.as_bytes());
        Self(bytes.into())
    }

    /// The frame's bytes, header first.
    pub fn wire(&self) -> &[u8] {
        &self.0
    }

    /// The text it carries (`Frame::text` is its only constructor, so it is UTF-8).
    pub fn payload(&self) -> Option<&str> {
        let header = match self.0.get(1) {
            Some(126) => 4,
            Some(127) => 10,
            _ => 2,
        };
        std::str::from_utf8(self.0.get(header..)?).ok()
    }
}

impl From<String> for Frame {
    fn from(text: String) -> Self {
        Self::text(&text)
    }
}

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

pub use read::{OP_CLOSE, OP_PING, OP_TEXT};

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

/// The upgraded stream, and the control frames (pings, pongs, closes) waiting to be sent at
/// the next frame boundary.
pub struct Io {
    inner: Stream,
    pub control: Vec<u8>,
}

/// What a connection reads and writes.
enum Stream {
    /// A plain TCP connection, shared with the connection's [`Outbox`](crate::conn::Outbox)
    /// so that events can be written to it without waking the connection's task.
    Tcp(Arc<TcpStream>),
    /// Any other upgraded stream (kept for transports that are not plain TCP).
    Upgraded(TokioIo<Upgraded>),
}

impl Io {
    /// The TCP stream, when the connection runs on one (see [`Stream::Tcp`]).
    pub fn tcp(&self) -> Option<Arc<TcpStream>> {
        match &self.inner {
            Stream::Tcp(tcp) => Some(tcp.clone()),
            Stream::Upgraded(_) => None,
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Stream::Tcp(tcp) => loop {
                std::task::ready!(tcp.poll_read_ready(cx))?;
                match tcp.try_read(buf.initialize_unfilled()) {
                    Ok(n) => {
                        buf.advance(n);
                        return Poll::Ready(Ok(()));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
            },
            Stream::Upgraded(up) => Pin::new(up).poll_read(cx, buf),
        }
    }

    /// Writes `bufs` to the socket itself (not through tungstenite).
    pub fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write_vectored(cx, bufs)
    }

    /// Writes the control bytes until none are left (then frees their buffer).
    pub fn poll_write_control(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.control.is_empty() {
            let written = self
                .inner
                .poll_write_vectored(cx, &[io::IoSlice::new(&self.control)]);
            let n = std::task::ready!(written)?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.control.drain(..n);
        }
        self.control = Vec::new();
        Poll::Ready(Ok(()))
    }
}

impl Stream {
    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self {
            Stream::Tcp(tcp) => loop {
                std::task::ready!(tcp.poll_write_ready(cx))?;
                match tcp.try_write_vectored(bufs) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    done => return Poll::Ready(done),
                }
            },
            Stream::Upgraded(up) => Pin::new(up).poll_write_vectored(cx, bufs),
        }
    }
}

/// A checked WebSocket upgrade request (the `WebSocketUpgrade` of axum, with our own socket).
pub struct WsUpgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
    max_message: usize,
    read_chunk: usize,
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
            max_message: 64 << 20,
            read_chunk: 1024,
        })
    }
}

impl WsUpgrade {
    /// Messages (and frames) larger than `bytes` are refused by the reader (1009).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// Bytes read at a time while a frame is incomplete.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_chunk = bytes;
        self
    }

    /// Answers 101 and runs `callback` on the socket once the upgrade completes.
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let reader = Reader::new(self.max_message, self.read_chunk);
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(upgraded) => upgraded,
                Err(e) => {
                    tracing::debug!(error = %e, "websocket upgrade failed");
                    return;
                }
            };
            let mut reader = reader;
            let inner = match upgraded.downcast::<TokioIo<TcpStream>>() {
                Ok(parts) => {
                    // Bytes the client sent right after its request are read already.
                    reader.push(&parts.read_buf);
                    Stream::Tcp(Arc::new(parts.io.into_inner()))
                }
                Err(upgraded) => Stream::Upgraded(TokioIo::new(upgraded)),
            };
            let socket = Socket {
                io: Io {
                    inner,
                    control: Vec::new(),
                },
                reader,
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
    fn frames_carry_their_header_and_give_back_their_text() {
        for len in [0, 125, 126, 65_535, 65_536] {
            let text = "é".repeat(len / 2) + &"x".repeat(len % 2);
            let frame = Frame::text(&text);
            let (h, n) = frame_header(OP_TEXT, text.len());
            assert_eq!(frame.wire()[..n], h[..n]);
            assert_eq!(frame.wire().len(), n + text.len());
            assert_eq!(frame.payload(), Some(text.as_str()));
        }
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
