//! What each kind of server expects on the wire: the URL to connect to, what a connection
//! does to become a member of the room, how a load message is framed, and the keep-alives a
//! client must answer. One workload runs unchanged against Palaver and every peer.

use super::wire::{self, Ws};
use anyhow::{Context, Result, bail};
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};

/// The protocol spoken to the server.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// Palaver's JSON-RPC at `/ws?token=…`; members join `#room` and send `messages.send`.
    Native,
    /// Palaver's `path-rooms` dialect: `/compat/path-rooms/<room>`, `{"type":"message",…}`.
    PathRooms,
    /// A broadcast peer: the payload is the frame, every received frame counts.
    Raw,
    /// socket.io 4 (Engine.IO framing `42["m",…]`).
    Sio,
    /// NATS over WebSocket (text protocol: `CONNECT`, `SUB room 1`, `PUB room n`).
    Nats,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Native => "native",
            Proto::PathRooms => "path-rooms",
            Proto::Raw => "raw",
            Proto::Sio => "sio",
            Proto::Nats => "nats",
        }
    }
}

/// Where to connect: `--url` taken apart.
#[derive(Clone, Debug)]
pub struct Target {
    pub proto: Proto,
    /// `http://host:port` (for the native account API).
    pub base: String,
    pub host: String,
    pub addr: SocketAddr,
    /// The URL's path without a trailing `/` (may be empty).
    pub prefix: String,
}

impl Target {
    pub fn parse(url: &str, proto: Proto) -> Result<Self> {
        let rest = ["http://", "ws://"]
            .iter()
            .find_map(|s| url.strip_prefix(s))
            .with_context(|| format!("--url {url}: expected http:// or ws://"))?;
        let (host, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let addr = host
            .to_socket_addrs()
            .with_context(|| format!("--url {url}: bad host:port"))?
            .find(SocketAddr::is_ipv4)
            .with_context(|| format!("--url {url}: no IPv4 address"))?;
        Ok(Self {
            proto,
            base: format!("http://{host}{prefix}"),
            host: host.to_owned(),
            addr,
            prefix: prefix.to_owned(),
        })
    }

    /// The request target of a connection to `room` (native: with its token).
    pub fn path(&self, room: &str, token: Option<&str>) -> String {
        match self.proto {
            Proto::Native => format!("{}/ws?token={}", self.prefix, token.unwrap_or_default()),
            Proto::PathRooms => {
                if self.prefix.ends_with("/compat/path-rooms") {
                    format!("{}/{room}", self.prefix)
                } else {
                    format!("{}/compat/path-rooms/{room}", self.prefix)
                }
            }
            Proto::Sio => format!("{}/socket.io/?EIO=4&transport=websocket", self.prefix),
            Proto::Raw | Proto::Nats => {
                if self.prefix.is_empty() {
                    "/".to_owned()
                } else {
                    self.prefix.clone()
                }
            }
        }
    }

    /// Connects, upgrades and does what makes the connection a member of `room`; returns once
    /// the server has confirmed it (native: the `rooms.join` reply; path-rooms: the
    /// `connection` frame; socket.io: the `40` answer; NATS: the `PONG` after `SUB`). Raw peers
    /// register on upgrade, so the upgrade is the confirmation.
    pub async fn join(
        &self,
        src: Option<Ipv4Addr>,
        room: &str,
        token: Option<&str>,
        chunk: usize,
    ) -> Result<(Ws, Option<i64>)> {
        let stream = wire::tcp(self.addr, src).await?;
        let mut ws = Ws::handshake(stream, &self.host, &self.path(room, token), chunk).await?;
        let mut conversation = None;
        match self.proto {
            Proto::Native => {
                // No room: a `ping`, whose reply also means live delivery has started.
                let call = if room.is_empty() {
                    r#"{"jsonrpc":"2.0","method":"ping","id":"join"}"#.to_owned()
                } else {
                    format!(
                        r##"{{"jsonrpc":"2.0","method":"rooms.join","params":{{"room":"#{room}"}},"id":"join"}}"##
                    )
                };
                ws.queue_text(call.as_bytes());
                let f = ws.recv_containing(br#""id":"join""#).await?;
                if memchr::memmem::find(ws.payload(&f), b"\"error\"").is_some() {
                    bail!(
                        "rooms.join #{room}: {}",
                        String::from_utf8_lossy(ws.payload(&f))
                    );
                }
                conversation = serde_json::from_slice::<serde_json::Value>(ws.payload(&f))
                    .ok()
                    .and_then(|v| v["result"]["id"].as_i64());
            }
            Proto::PathRooms => {
                ws.recv_containing(br#""type":"connection""#).await?;
            }
            Proto::Sio => {
                ws.recv_containing(b"0{").await?;
                ws.queue_text(b"40");
                ws.recv_containing(b"40").await?;
            }
            Proto::Nats => {
                ws.recv_containing(b"INFO").await?;
                ws.queue_text(
                    b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB room 1\r\nPING\r\n",
                );
                ws.recv_containing(b"PONG").await?;
            }
            Proto::Raw => {}
        }
        Ok((ws, conversation))
    }

    /// Appends the frame body that publishes `payload` to the room (`id` numbers native calls).
    pub fn message(&self, room_to: &str, payload: &[u8], id: u64, out: &mut Vec<u8>) {
        use std::io::Write;
        match self.proto {
            Proto::Native => {
                let _ = write!(
                    out,
                    r#"{{"jsonrpc":"2.0","method":"messages.send","params":{{"to":{room_to},"text":""#
                );
                out.extend_from_slice(payload);
                let _ = write!(out, r#""}},"id":{id}}}"#);
            }
            Proto::PathRooms => {
                out.extend_from_slice(br#"{"type":"message","text":""#);
                out.extend_from_slice(payload);
                out.extend_from_slice(br#""}"#);
            }
            Proto::Raw => out.extend_from_slice(payload),
            Proto::Sio => {
                out.extend_from_slice(br#"42["m",""#);
                out.extend_from_slice(payload);
                out.extend_from_slice(br#""]"#);
            }
            Proto::Nats => {
                let _ = write!(out, "PUB room {}\r\n", payload.len());
                out.extend_from_slice(payload);
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    /// The answer to an application-level keep-alive in `frame`, if it is one (socket.io ping
    /// `2`, NATS `PING`). WebSocket pings are answered by [`Ws`].
    pub fn keepalive(&self, frame: &[u8]) -> Option<&'static [u8]> {
        match self.proto {
            Proto::Sio if frame == b"2" => Some(b"3"),
            Proto::Nats if memchr::memmem::find(frame, b"PING\r\n").is_some() => Some(b"PONG\r\n"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_and_message_framing() {
        let t = Target::parse("http://127.0.0.1:8080", Proto::PathRooms).unwrap();
        assert_eq!(t.path("fishing", None), "/compat/path-rooms/fishing");
        let t = Target::parse("ws://127.0.0.1:6000/compat/path-rooms/", Proto::PathRooms).unwrap();
        assert_eq!(t.path("x1", None), "/compat/path-rooms/x1");
        let t = Target::parse("ws://127.0.0.1:9003", Proto::Sio).unwrap();
        assert_eq!(t.path("r", None), "/socket.io/?EIO=4&transport=websocket");
        let mut out = Vec::new();
        t.message("", b"hi", 0, &mut out);
        assert_eq!(out, br#"42["m","hi"]"#);
        let t = Target::parse("http://127.0.0.1:8080", Proto::Native).unwrap();
        assert_eq!(t.path("r", Some("tok")), "/ws?token=tok");
        out.clear();
        t.message("7", b"hi", 3, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"jsonrpc":"2.0","method":"messages.send","params":{"to":7,"text":"hi"},"id":3}"#
        );
        let t = Target::parse("ws://127.0.0.1:9005", Proto::Nats).unwrap();
        let mut out = Vec::new();
        t.message("", b"abc", 0, &mut out);
        assert_eq!(out, b"PUB room 3\r\nabc\r\n");
    }
}
