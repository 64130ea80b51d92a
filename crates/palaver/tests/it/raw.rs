//! A raw WebSocket for the dialect tests: JSON (or plain) text frames in and out, close codes.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct RawWs {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What the next frame was.
#[derive(Debug)]
pub enum Next {
    Text(String),
    Close(Option<(u16, String)>),
    /// The stream ended (or failed) without a close frame.
    Ended,
    /// Nothing arrived in time.
    Quiet,
}

impl RawWs {
    /// Connects to `url` with extra request headers; panics on refusal.
    pub async fn connect(url: &str, headers: &[(&str, &str)]) -> Self {
        Self::try_connect(url, headers)
            .await
            .expect("websocket upgrade")
    }

    /// Connects, or returns the HTTP status of the refusal.
    pub async fn try_connect(url: &str, headers: &[(&str, &str)]) -> Result<Self, u16> {
        let mut request = url.into_client_request().expect("request");
        for (k, v) in headers {
            request
                .headers_mut()
                .insert(axum_header_name(k), v.parse().expect("header value"));
        }
        match tokio_tungstenite::connect_async_with_config(request, None, true).await {
            Ok((ws, _)) => Ok(Self { ws }),
            Err(Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("connect {url}: {e}"),
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// Sends several text frames with one flush, so that they arrive back to back.
    pub async fn send_all(&mut self, texts: &[String]) {
        for text in texts {
            self.ws
                .feed(Message::text(text.as_str()))
                .await
                .expect("feed");
        }
        self.ws.flush().await.expect("flush");
    }

    pub async fn send_json(&mut self, v: &Value) {
        self.send_text(&v.to_string()).await;
    }

    /// The next text, close or end within `wait` (pings and pongs skipped).
    pub async fn next(&mut self, wait: Duration) -> Next {
        loop {
            match tokio::time::timeout(wait, self.ws.next()).await {
                Err(_) => return Next::Quiet,
                Ok(None) | Ok(Some(Err(_))) => return Next::Ended,
                Ok(Some(Ok(Message::Text(t)))) => return Next::Text(t.to_string()),
                Ok(Some(Ok(Message::Close(f)))) => {
                    return Next::Close(f.map(|f| (u16::from(f.code), f.reason.to_string())));
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// The next frame, which must be JSON text.
    pub async fn json(&mut self, wait: Duration) -> Value {
        match self.next(wait).await {
            Next::Text(t) => serde_json::from_str(&t).unwrap_or_else(|_| panic!("not JSON: {t}")),
            other => panic!("expected a JSON frame, got {other:?}"),
        }
    }

    /// The first JSON frame satisfying `pred`, skipping others.
    pub async fn json_where(&mut self, wait: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let v = self.json(left).await;
            if pred(&v) {
                return v;
            }
        }
    }

    /// Asserts no frame satisfying `pred` arrives for a short while.
    pub async fn quiet_where(&mut self, wait: Duration, pred: impl Fn(&Value) -> bool) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Quiet => return,
                Next::Text(t) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    assert!(!pred(&v), "unexpected frame {t}");
                }
                other => panic!("connection ended while waiting: {other:?}"),
            }
        }
    }
}

fn axum_header_name(k: &str) -> tokio_tungstenite::tungstenite::http::HeaderName {
    k.parse().expect("header name")
}
