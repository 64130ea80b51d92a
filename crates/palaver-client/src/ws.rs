//! The WebSocket side: a JSON-RPC 2.0 connection to `/ws`.
//!
//! One reader task per connection pushes every received frame into an unbounded channel, so
//! the socket is drained even while the caller is busy elsewhere (a client that stops reading
//! would otherwise be closed by the server as too slow). Everything else runs in the caller's
//! task: each receiving method takes the first frame it is interested in, first from the frames
//! set aside earlier and then from the channel, and sets aside, in arrival order, every frame
//! it is not interested in. So nothing is lost: notifications that arrive while a call waits
//! for its response stay available to [`Client::next_notification`], and so on.
//!
//! Pings and pongs are answered by tungstenite and are not shown to the caller.

use crate::error::{ClientError, CloseInfo, Result};
use futures_util::SinkExt;
use futures_util::stream::{SplitSink, StreamExt};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The default time [`Client::call`] waits for its response.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A frame as received, for tests that look at the wire itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawFrame {
    Text(String),
    Binary(Vec<u8>),
    /// A close frame; `None` when it carried no code.
    Close(Option<CloseInfo>),
    /// The stream ended without (further) frames: TCP closed, or a transport error (its text).
    Ended(Option<String>),
}

/// A server-to-client notification: a JSON-RPC request without an `id`.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub method: String,
    pub params: Value,
}

/// A received frame with its JSON parsed once.
#[derive(Debug)]
struct Incoming {
    raw: RawFrame,
    json: Option<Value>,
}

impl Incoming {
    fn new(raw: RawFrame) -> Self {
        let json = match &raw {
            RawFrame::Text(t) => serde_json::from_str(t).ok(),
            _ => None,
        };
        Self { raw, json }
    }

    fn notification(&self) -> Option<Notification> {
        let obj = self.json.as_ref()?.as_object()?;
        if obj.contains_key("id") {
            return None;
        }
        Some(Notification {
            method: obj.get("method")?.as_str()?.to_owned(),
            params: obj.get("params").cloned().unwrap_or(Value::Null),
        })
    }

    fn is_reply(&self) -> bool {
        matches!(self.raw, RawFrame::Text(_)) && self.notification().is_none()
    }

    fn is_response_to(&self, id: u64) -> bool {
        self.json
            .as_ref()
            .and_then(|v| v.get("id"))
            .is_some_and(|v| v.as_u64() == Some(id))
    }

    fn terminal(&self) -> Option<Option<CloseInfo>> {
        match &self.raw {
            RawFrame::Close(info) => Some(info.clone()),
            RawFrame::Ended(_) => Some(None),
            _ => None,
        }
    }
}

/// A connection to `/ws`. Methods take `&mut self`: one caller drives a connection.
pub struct Client {
    sink: SplitSink<Stream, Message>,
    incoming: mpsc::UnboundedReceiver<RawFrame>,
    reader: JoinHandle<()>,
    /// Frames received but not yet taken, in arrival order.
    pending: VecDeque<Incoming>,
    /// The reader task has finished and its channel is drained.
    ended: bool,
    next_id: u64,
    call_timeout: Duration,
}

impl Drop for Client {
    fn drop(&mut self) {
        // Dropping the reader half together with the sink closes the socket.
        self.reader.abort();
    }
}

fn with_query_token(ws_url: &str, token: &str) -> String {
    let sep = if ws_url.contains('?') { '&' } else { '?' };
    format!("{ws_url}{sep}token={token}")
}

impl Client {
    /// Connects without credentials; call `auth` (or [`Client::authenticate`]) next.
    pub async fn connect(ws_url: &str) -> Result<Self> {
        Self::connect_with_headers(ws_url, &[]).await
    }

    /// Connects with the token on the URL (`?token=`).
    pub async fn connect_with_token(ws_url: &str, token: &str) -> Result<Self> {
        Self::connect_with_headers(&with_query_token(ws_url, token), &[]).await
    }

    /// Connects with extra upgrade headers, e.g. `Authorization` or `Cookie`.
    /// A refused upgrade is [`ClientError::Rejected`] with its HTTP status.
    pub async fn connect_with_headers(ws_url: &str, headers: &[(&str, &str)]) -> Result<Self> {
        let mut request = ws_url.into_client_request()?;
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| ClientError::Url(format!("header name {name:?}: {e}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| ClientError::Url(format!("header value for {name}: {e}")))?;
            request.headers_mut().append(name, value);
        }
        let (stream, _response) =
            match tokio_tungstenite::connect_async_with_config(request, None, true).await {
                Ok(ok) => ok,
                Err(tungstenite::Error::Http(response)) => {
                    return Err(ClientError::Rejected {
                        status: response.status().as_u16(),
                        body: response
                            .body()
                            .as_ref()
                            .map(|b| String::from_utf8_lossy(b).into_owned()),
                    });
                }
                Err(e) => return Err(e.into()),
            };
        let (sink, mut source) = stream.split();
        let (tx, incoming) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            loop {
                let frame = match source.next().await {
                    Some(Ok(Message::Text(t))) => RawFrame::Text(t.as_str().to_owned()),
                    Some(Ok(Message::Binary(b))) => RawFrame::Binary(b.to_vec()),
                    Some(Ok(Message::Close(c))) => RawFrame::Close(c.map(|c| CloseInfo {
                        code: u16::from(c.code),
                        reason: c.reason.as_str().to_owned(),
                    })),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Err(e)) => {
                        let _ = tx.send(RawFrame::Ended(Some(e.to_string())));
                        return;
                    }
                    None => {
                        let _ = tx.send(RawFrame::Ended(None));
                        return;
                    }
                };
                if tx.send(frame).is_err() {
                    return;
                }
            }
        });
        Ok(Self {
            sink,
            incoming,
            reader,
            pending: VecDeque::new(),
            ended: false,
            next_id: 1,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        })
    }

    /// Sets how long [`Client::call`] waits for its response.
    pub fn set_call_timeout(&mut self, timeout: Duration) {
        self.call_timeout = timeout;
    }

    /// Calls `method` and waits for its response. A JSON-RPC error is [`ClientError::Rpc`].
    /// `params` of `null` are left out of the request.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let mut request = json!({ "jsonrpc": "2.0", "id": id, "method": method });
        if !params.is_null() {
            request["params"] = params;
        }
        self.send_raw_text(&request.to_string()).await?;
        let timeout = self.call_timeout;
        let reply = self.take(timeout, |i| i.is_response_to(id)).await?;
        let Some(Value::Object(mut obj)) = reply.json else {
            return Err(ClientError::Protocol(
                "a response that is not an object".into(),
            ));
        };
        if let Some(error) = obj.remove("error") {
            return Err(rpc_error(&error));
        }
        obj.remove("result").ok_or_else(|| {
            ClientError::Protocol(format!("response {id} has neither result nor error"))
        })
    }

    /// `auth {token}`; returns the signed-in user.
    pub async fn authenticate(&mut self, token: &str) -> Result<Value> {
        let result = self.call("auth", json!({ "token": token })).await?;
        Ok(result.get("user").cloned().unwrap_or(result))
    }

    /// Sends a JSON-RPC notification (no `id`, so no response).
    pub async fn notify(&mut self, method: &str, params: Value) -> Result<()> {
        let mut request = json!({ "jsonrpc": "2.0", "method": method });
        if !params.is_null() {
            request["params"] = params;
        }
        self.send_raw_text(&request.to_string()).await
    }

    /// The oldest notification not yet taken, waiting up to `timeout` for one.
    pub async fn next_notification(&mut self, timeout: Duration) -> Result<Notification> {
        let found = self.take(timeout, |i| i.notification().is_some()).await?;
        found
            .notification()
            .ok_or_else(|| ClientError::Protocol("lost a notification".into()))
    }

    /// The oldest notification named `method`. Notifications with other names that arrive
    /// meanwhile are kept (not discarded) for later calls.
    pub async fn notification_named(
        &mut self,
        method: &str,
        timeout: Duration,
    ) -> Result<Notification> {
        let found = self
            .take(timeout, |i| {
                i.notification().is_some_and(|n| n.method == method)
            })
            .await?;
        found
            .notification()
            .ok_or_else(|| ClientError::Protocol("lost a notification".into()))
    }

    /// The oldest notification named `method` whose params satisfy `pred`; others are kept.
    pub async fn notification_where(
        &mut self,
        method: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Notification> {
        let found = self
            .take(timeout, |i| {
                i.notification()
                    .is_some_and(|n| n.method == method && pred(&n.params))
            })
            .await?;
        found
            .notification()
            .ok_or_else(|| ClientError::Protocol("lost a notification".into()))
    }

    /// Takes and returns every notification received so far, without waiting.
    pub fn drain_notifications(&mut self) -> Vec<Notification> {
        while let Ok(frame) = self.incoming.try_recv() {
            self.pending.push_back(Incoming::new(frame));
        }
        let mut out = Vec::new();
        self.pending.retain(|i| match i.notification() {
            Some(n) => {
                out.push(n);
                false
            }
            None => true,
        });
        out
    }

    /// The oldest text frame that is not a notification (a response, a batch array, or an
    /// error for an unparseable request), parsed as JSON. For requests sent with
    /// [`Client::send_raw_text`].
    pub async fn recv_reply(&mut self, timeout: Duration) -> Result<Value> {
        let found = self.take(timeout, Incoming::is_reply).await?;
        match (found.json, found.raw) {
            (Some(v), _) => Ok(v),
            (None, RawFrame::Text(t)) => Err(ClientError::Protocol(format!("not JSON: {t:?}"))),
            (None, other) => Err(ClientError::Protocol(format!("not text: {other:?}"))),
        }
    }

    /// The oldest frame not yet taken, whatever it is (pings and pongs excepted).
    pub async fn recv_raw(&mut self, timeout: Duration) -> Result<RawFrame> {
        Ok(self.take(timeout, |_| true).await?.raw)
    }

    /// Waits until the server closes the connection; returns its close frame, `None` when the
    /// stream ended without one. Frames before it are kept.
    pub async fn recv_close(&mut self, timeout: Duration) -> Result<Option<CloseInfo>> {
        let found = self.take(timeout, |i| i.terminal().is_some()).await?;
        Ok(found.terminal().flatten())
    }

    /// Sends one text frame as is.
    pub async fn send_raw_text(&mut self, text: &str) -> Result<()> {
        self.sink.send(Message::text(text.to_owned())).await?;
        Ok(())
    }

    /// Sends one binary frame.
    pub async fn send_binary(&mut self, data: &[u8]) -> Result<()> {
        self.sink.send(Message::binary(data.to_vec())).await?;
        Ok(())
    }

    /// Closes with 1000 and waits (briefly) for the server's close, so that the server has
    /// seen the connection end when this returns.
    pub async fn close(mut self) -> Result<()> {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        // The server may have closed first; then there is nothing left to say.
        let _ = self.sink.send(Message::Close(Some(frame))).await;
        let _ = self.recv_close(Duration::from_secs(5)).await;
        Ok(())
    }

    /// Takes the first frame satisfying `want`: first from the set-aside frames, then from the
    /// channel, setting aside the others. The end of the connection, unless wanted, is an error
    /// (and stays set aside for [`Client::recv_close`]).
    async fn take(
        &mut self,
        timeout: Duration,
        want: impl Fn(&Incoming) -> bool,
    ) -> Result<Incoming> {
        if let Some(pos) = self.pending.iter().position(&want)
            && let Some(found) = self.pending.remove(pos)
        {
            return Ok(found);
        }
        if let Some(info) = self.pending.iter().find_map(Incoming::terminal) {
            return Err(ClientError::Closed(info));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let next = if self.ended {
                Incoming::new(RawFrame::Ended(None))
            } else {
                match tokio::time::timeout_at(deadline, self.incoming.recv()).await {
                    Err(_) => return Err(ClientError::Timeout),
                    Ok(Some(frame)) => Incoming::new(frame),
                    Ok(None) => {
                        self.ended = true;
                        Incoming::new(RawFrame::Ended(None))
                    }
                }
            };
            if want(&next) {
                return Ok(next);
            }
            let terminal = next.terminal();
            if !self.ended || terminal.is_none() {
                self.pending.push_back(next);
            }
            if let Some(info) = terminal {
                return Err(ClientError::Closed(info));
            }
        }
    }
}

fn rpc_error(error: &Value) -> ClientError {
    ClientError::Rpc {
        code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
        message: error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        data: error.get("data").cloned(),
    }
}
