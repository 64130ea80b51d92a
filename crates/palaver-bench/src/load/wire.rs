//! A minimal WebSocket client for the load generator: TCP from a chosen 127.x.y.z source
//! address, the HTTP upgrade, and frames parsed in place from one read buffer.
//!
//! Why not tokio-tungstenite here: a receiver must cost less than the server it measures
//! (perf-notes §3: the generator co-limits at ~100 k unbatched deliveries/s). Parsing frames in
//! place costs no allocation per frame, and one `read` drains every frame the kernel holds.
//! Client frames carry the mask bit with an all-zero key (valid framing; the server still
//! unmasks, so its cost is unchanged). Pings are answered with pongs; fragmented messages are
//! handed out fragment by fragment (the servers measured here do not fragment small frames).

use anyhow::{Context, Result, bail};
use nix::sys::socket::{setsockopt, sockopt};
use std::net::{Ipv4Addr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpSocket, TcpStream};

const OP_TEXT: u8 = 1;
const OP_BINARY: u8 = 2;
const OP_CONT: u8 = 0;
const OP_CLOSE: u8 = 8;
const OP_PING: u8 = 9;
const OP_PONG: u8 = 10;

/// The `index`-th of `spread` loopback source addresses (127.1.0.1, 127.1.0.2, …): every
/// source address has its own 28 k ephemeral ports (perf-notes §2.2). `None` when `spread` is 0.
pub fn source_ip(index: usize, spread: usize) -> Option<Ipv4Addr> {
    if spread == 0 {
        return None;
    }
    let k = index % spread;
    let a = 1 + (k / 62_500) % 254;
    let b = (k / 250) % 250;
    let c = k % 250 + 1;
    Some(Ipv4Addr::new(127, a as u8, b as u8, c as u8))
}

/// A data frame (text, binary or continuation): where its payload sits in the read buffer.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    start: usize,
    end: usize,
}

/// One client connection.
pub struct Ws {
    stream: TcpStream,
    rbuf: Vec<u8>,
    /// Parsed up to here; `rbuf[pos..]` is not parsed yet.
    pos: usize,
    wbuf: Vec<u8>,
    /// How much `fill` asks the kernel for at once.
    chunk: usize,
}

/// Opens a TCP connection to `addr` from `src` (port chosen at connect time:
/// `IP_BIND_ADDRESS_NO_PORT`, so binding costs nothing and connects stay O(1)).
pub async fn tcp(addr: SocketAddr, src: Option<Ipv4Addr>) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4().context("socket")?;
    if let Some(ip) = src {
        setsockopt(&socket, sockopt::IpBindAddressNoPort, &true)
            .context("IP_BIND_ADDRESS_NO_PORT")?;
        socket
            .bind(SocketAddr::new(ip.into(), 0))
            .with_context(|| format!("bind {ip}"))?;
    }
    let stream = socket
        .connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    stream.set_nodelay(true).context("TCP_NODELAY")?;
    Ok(stream)
}

impl Ws {
    /// The upgrade on an open TCP connection. `host` is the Host header, `path` the request
    /// target; an answer other than 101 is an error naming the status.
    pub async fn handshake(
        mut stream: TcpStream,
        host: &str,
        path: &str,
        chunk: usize,
    ) -> Result<Self> {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .context("sending the upgrade")?;
        let mut rbuf = Vec::with_capacity(chunk.max(1024));
        let head_end = loop {
            if let Some(i) = memchr::memmem::find(&rbuf, b"\r\n\r\n") {
                break i + 4;
            }
            if rbuf.len() > 16 * 1024 {
                bail!("upgrade answer too long");
            }
            rbuf.reserve(1024);
            if stream
                .read_buf(&mut rbuf)
                .await
                .context("reading the upgrade answer")?
                == 0
            {
                bail!("connection closed during the upgrade");
            }
        };
        let status = rbuf.get(9..12).unwrap_or_default();
        if status != b"101" {
            let line = rbuf.split(|&b| b == b'\r').next().unwrap_or_default();
            bail!("upgrade refused: {}", String::from_utf8_lossy(line));
        }
        Ok(Self {
            stream,
            rbuf,
            pos: head_end,
            wbuf: Vec::new(),
            chunk: chunk.max(256),
        })
    }

    /// Queues a text frame (sent by `flush`, `try_flush` or the next `recv`).
    pub fn queue_text(&mut self, payload: &[u8]) {
        self.queue(OP_TEXT, payload);
    }

    fn queue(&mut self, opcode: u8, payload: &[u8]) {
        let w = &mut self.wbuf;
        w.push(0x80 | opcode);
        let n = payload.len();
        if n < 126 {
            w.push(0x80 | n as u8);
        } else if n <= 0xffff {
            w.push(0x80 | 126);
            w.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            w.push(0x80 | 127);
            w.extend_from_slice(&(n as u64).to_be_bytes());
        }
        w.extend_from_slice(&[0, 0, 0, 0]);
        w.extend_from_slice(payload);
    }

    /// Bytes queued but not yet written.
    pub fn pending_out(&self) -> usize {
        self.wbuf.len()
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await.context("write")?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Writes what the socket takes now without waiting.
    pub fn try_flush(&mut self) -> Result<()> {
        while !self.wbuf.is_empty() {
            match self.stream.try_write(&self.wbuf) {
                Ok(n) => {
                    self.wbuf.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e).context("write"),
            }
        }
        Ok(())
    }

    /// Waits until bytes arrived (read into the buffer) or, with `want_write`, until the
    /// socket takes more output (then call `try_flush`). Cancel-safe.
    pub async fn fill_or_writable(&mut self, want_write: bool) -> Result<()> {
        if !want_write {
            return self.fill().await;
        }
        let ready = self
            .stream
            .ready(Interest::READABLE | Interest::WRITABLE)
            .await
            .context("poll")?;
        if ready.is_readable() {
            self.compact();
            match self.stream.try_read_buf(&mut self.rbuf) {
                Ok(0) => bail!("connection closed by the server"),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e).context("read"),
            }
        }
        Ok(())
    }

    fn compact(&mut self) {
        if self.pos > 0 {
            self.rbuf.drain(..self.pos);
            self.pos = 0;
        }
        if self.rbuf.capacity() - self.rbuf.len() < self.chunk / 2 {
            self.rbuf.reserve(self.chunk);
        }
    }

    /// Reads more bytes; cancel-safe (usable in `select!`). An orderly end is an error.
    pub async fn fill(&mut self) -> Result<()> {
        self.compact();
        let n = self.stream.read_buf(&mut self.rbuf).await.context("read")?;
        if n == 0 {
            bail!("connection closed by the server");
        }
        Ok(())
    }

    /// The next complete data frame already received, if any. Pings queue a pong; a close
    /// frame is an error carrying its code.
    pub fn try_frame(&mut self) -> Result<Option<Frame>> {
        loop {
            let buf = &self.rbuf[self.pos..];
            if buf.len() < 2 {
                return Ok(None);
            }
            let opcode = buf[0] & 0x0f;
            let masked = buf[1] & 0x80 != 0;
            let (len, mut head) = match buf[1] & 0x7f {
                126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
                127 if buf.len() >= 10 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&buf[2..10]);
                    (u64::from_be_bytes(b) as usize, 10)
                }
                126 | 127 => return Ok(None),
                n => (n as usize, 2),
            };
            if masked {
                head += 4;
            }
            if buf.len() < head + len {
                if self.rbuf.capacity() < self.pos + head + len {
                    self.rbuf.reserve(head + len);
                }
                return Ok(None);
            }
            let start = self.pos + head;
            let end = start + len;
            self.pos = end;
            match opcode {
                OP_TEXT | OP_BINARY | OP_CONT => return Ok(Some(Frame { start, end })),
                OP_PING => {
                    let data = self.rbuf[start..end].to_vec();
                    self.queue(OP_PONG, &data);
                }
                OP_PONG => {}
                OP_CLOSE => {
                    let code = self
                        .rbuf
                        .get(start..start + 2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]));
                    let reason =
                        String::from_utf8_lossy(self.rbuf.get(start + 2..end).unwrap_or_default());
                    bail!("closed by the server: {code:?} {reason}");
                }
                other => bail!("unknown opcode {other}"),
            }
        }
    }

    /// The payload of a frame returned by `try_frame` (valid until the next `fill`).
    pub fn payload(&self, f: &Frame) -> &[u8] {
        &self.rbuf[f.start..f.end]
    }

    /// Waits for the next data frame, flushing queued output first.
    pub async fn recv(&mut self) -> Result<Frame> {
        loop {
            if let Some(f) = self.try_frame()? {
                return Ok(f);
            }
            self.flush().await?;
            self.fill().await?;
        }
    }

    /// Waits for a data frame whose payload contains `needle`, dropping others.
    pub async fn recv_containing(&mut self, needle: &[u8]) -> Result<Frame> {
        loop {
            let f = self.recv().await?;
            if memchr::memmem::find(self.payload(&f), needle).is_some() {
                return Ok(f);
            }
        }
    }
}
