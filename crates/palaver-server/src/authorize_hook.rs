//! The client side of the chat-client authorize hook: POSTs an `authorize` request's data to
//! the configured HTTP endpoint and reads who it names (the contract is in
//! `palaver_proto::authorize_hook`). One short-lived HTTP/1.1 connection per question, bounded
//! by a timeout; the data is never logged (it may hold a password).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use palaver_proto::authorize_hook::{self, Answer, MAX_ANSWER_BYTES};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;

/// A configured hook.
#[derive(Debug)]
pub struct AuthorizeHook {
    uri: hyper::Uri,
    host: String,
    port: u16,
    timeout: Duration,
}

impl AuthorizeHook {
    /// Checks `url` (`http://host[:port]/path`); the error names the setting.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        let bad = |why: &str| format!("setting `dialects.chat_client_authorize_hook` {why}");
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| bad(&format!("is not a URL: {e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad(
                "must be an http:// URL (put a TLS proxy in front of an https endpoint)",
            ));
        }
        let host = uri.host().ok_or_else(|| bad("has no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(80);
        Ok(Self {
            uri,
            host,
            port,
            timeout,
        })
    }

    /// Asks the hook who `data` names. `Err` is for the log: the hook could not be asked, or
    /// answered outside its contract.
    pub async fn ask(&self, data: &Value) -> Result<Answer, String> {
        tokio::time::timeout(self.timeout, self.call(data))
            .await
            .map_err(|_| format!("the hook gave no answer within {:?}", self.timeout))?
    }

    async fn call(&self, data: &Value) -> Result<Answer, String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot connect to the hook: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("HTTP handshake with the hook failed: {e}"))?;
        // Drives the connection; it ends when the answer is read or `sender` is dropped.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "authorize hook connection");
            }
        });
        let authority = self
            .uri
            .authority()
            .map_or(self.host.clone(), |a| a.to_string());
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let request = hyper::Request::post(path)
            .header(HOST, authority)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("palaver/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(data.to_string())))
            .map_err(|e| format!("cannot build the hook request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("the hook request failed: {e}"))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| format!("cannot read the hook's answer: {e}"))?
            .to_bytes();
        authorize_hook::answer(status, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_with_a_host() {
        let t = Duration::from_secs(1);
        let hook = AuthorizeHook::new("http://127.0.0.1:9000/auth?x=1", t).unwrap();
        assert_eq!((hook.host.as_str(), hook.port), ("127.0.0.1", 9000));
        assert_eq!(
            AuthorizeHook::new("http://auth.internal/", t).unwrap().port,
            80
        );
        assert_eq!(
            AuthorizeHook::new("http://[::1]:81/", t).unwrap().host,
            "::1"
        );
        for bad in ["https://auth.example/", "auth.example", "", "http:///path"] {
            let e = AuthorizeHook::new(bad, t).unwrap_err();
            assert!(e.contains("chat_client_authorize_hook"), "{bad}: {e}");
        }
    }
}
