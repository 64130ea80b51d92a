//! Reading a client's frames (RFC 6455 §5): headers, unmasking, fragmented messages, UTF-8,
//! size limits, and the replies to pings and closes.
//!
//! The reader holds bytes only while a frame or a fragmented message is incomplete: bytes are
//! read into a buffer allocated for the read, and once every complete frame in it is handled,
//! the buffer is freed. An idle connection keeps no read buffer. Every text message is copied
//! out of the buffer once, as it is unmasked, into an allocation of its own.

use std::io;

/// A whole message or control frame from the client.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    Text(tungstenite::Utf8Bytes),
    /// A binary message (no protocol here takes them; the Autobahn echo does).
    Binary(Vec<u8>),
    /// A ping; its pong is already queued.
    Ping,
    Pong,
    /// The client closed; the reply is already queued (unless we had closed first). Nothing
    /// is read after it.
    Close,
}

/// Why reading stopped. Each but `Io` has the close code it is answered with.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// The client broke the protocol (1002).
    Protocol(&'static str),
    /// A text message or close reason that is not UTF-8 (1007).
    Utf8,
    /// A frame or message larger than the limit (1009).
    TooBig,
}

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The state of one connection's reading.
#[derive(Debug)]
pub struct Reader {
    /// Bytes read and not handled yet are `buf[start..end]`; `buf` past `end` is room already
    /// zeroed for the next read. Empty (no allocation) between frames.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The data frames of a message not finished yet, unmasked, and its opcode.
    message: Vec<u8>,
    message_op: Option<u8>,
    /// How much of a fragmented text message is known to be UTF-8 so far (checked as each
    /// fragment arrives, so that invalid text fails before the message ends).
    utf8_checked: usize,
    /// The largest message (and frame) accepted.
    max_message: usize,
    /// How much is read from the socket at a time.
    chunk: usize,
    /// We sent a close frame: the client's close is not answered again.
    pub(crate) close_sent: bool,
    /// The client closed, or reading failed: nothing more is read.
    pub(crate) done: bool,
}

impl Reader {
    pub fn new(max_message: usize, chunk: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            end: 0,
            message: Vec::new(),
            message_op: None,
            utf8_checked: 0,
            max_message,
            chunk: chunk.max(MIN_CHUNK),
            close_sent: false,
            done: false,
        }
    }

    /// True when no bytes are held (between frames).
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Room to read the rest of an incomplete frame into: at least `chunk` bytes (the whole
    /// frame, once its header is in), with handled bytes dropped first. `filled` must follow.
    /// Each byte of room is zeroed once, not on every read (a client sending a large frame a
    /// byte at a time costs one small read each, not a large `memset` each).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < self.chunk {
            let len = self.buf.capacity().max(self.end + self.chunk);
            self.buf.resize(len, 0);
        }
        &mut self.buf[self.end..]
    }

    /// The read into `spare` gave `n` bytes.
    pub fn filled(&mut self, n: usize) {
        self.end += n;
    }

    /// Takes bytes read elsewhere.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.truncate(self.end);
        self.buf.extend_from_slice(bytes);
        self.end = self.buf.len();
    }

    /// Handles the next complete frame held, if any. A frame that ends a message (or a
    /// control frame) gives `Some`; a frame that continues one gives nothing and the next is
    /// handled. Replies (pongs, the close reply) are appended to `replies`.
    pub fn next(&mut self, replies: &mut Vec<u8>) -> Result<Option<Incoming>, ReadError> {
        if self.done {
            return Ok(None);
        }
        let result = self.parse(replies);
        if matches!(result, Err(_) | Ok(Some(Incoming::Close))) {
            self.done = true;
            self.message = Vec::new();
            self.utf8_checked = 0;
            self.message_op = None;
        }
        if self.done || self.is_empty() {
            // Everything read was handled (or nothing more will be): keep no buffer.
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
        }
        result
    }

    fn parse(&mut self, replies: &mut Vec<u8>) -> Result<Option<Incoming>, ReadError> {
        loop {
            let Some(head) = Header::parse(&self.buf[self.start..self.end])? else {
                return Ok(None);
            };
            let control = head.opcode >= OP_CLOSE;
            if !control {
                let total = self.message.len() as u64 + head.len;
                if head.len > self.max_message as u64 || total > self.max_message as u64 {
                    return Err(ReadError::TooBig);
                }
            }
            let len = head.len as usize;
            let end = head.size + len;
            if self.end - self.start < end {
                // Make room for the whole frame once, not chunk by chunk.
                let need = self.start + end;
                self.buf.reserve(need.saturating_sub(self.buf.len()));
                return Ok(None);
            }
            let at = self.start;
            self.start += end;
            let payload = &self.buf[at + head.size..at + end];
            let mask = head.mask;
            match head.opcode {
                OP_PING => {
                    if !self.close_sent {
                        let mut pong = Vec::with_capacity(len);
                        unmask_into(&mut pong, payload, mask);
                        push_frame(replies, OP_PONG, &pong);
                    }
                    return Ok(Some(Incoming::Ping));
                }
                OP_PONG => return Ok(Some(Incoming::Pong)),
                OP_CLOSE => {
                    let mut body = Vec::with_capacity(len);
                    unmask_into(&mut body, payload, mask);
                    let code = close_code(&body)?;
                    if !self.close_sent {
                        // Echo the code (RFC 6455 §5.5.1); no reason.
                        let reply = code.map(u16::to_be_bytes);
                        push_frame(replies, OP_CLOSE, reply.as_ref().map_or(&[], |c| &c[..]));
                        self.close_sent = true;
                    }
                    return Ok(Some(Incoming::Close));
                }
                OP_TEXT | OP_BINARY => {
                    if self.message_op.is_some() {
                        return Err(ReadError::Protocol(
                            "a new message began before the last one ended",
                        ));
                    }
                    if head.fin {
                        let mut data = Vec::with_capacity(len);
                        unmask_into(&mut data, payload, mask);
                        return finish(head.opcode, data).map(Some);
                    }
                    self.message_op = Some(head.opcode);
                    unmask_into(&mut self.message, payload, mask);
                    self.check_fragment()?;
                }
                OP_CONTINUATION => {
                    let Some(op) = self.message_op else {
                        return Err(ReadError::Protocol("a continuation frame began no message"));
                    };
                    unmask_into(&mut self.message, payload, mask);
                    if head.fin {
                        self.message_op = None;
                        self.utf8_checked = 0;
                        let data = std::mem::take(&mut self.message);
                        return finish(op, data).map(Some);
                    }
                    self.check_fragment()?;
                }
                _ => unreachable!("Header::parse refuses other opcodes"),
            }
        }
    }
}

impl Reader {
    /// Checks the text of a fragmented message received so far: valid UTF-8, but for a
    /// character that the next fragment may finish.
    fn check_fragment(&mut self) -> Result<(), ReadError> {
        if self.message_op != Some(OP_TEXT) {
            return Ok(());
        }
        match std::str::from_utf8(&self.message[self.utf8_checked..]) {
            Ok(_) => self.utf8_checked = self.message.len(),
            Err(e) if e.error_len().is_none() => self.utf8_checked += e.valid_up_to(),
            Err(_) => return Err(ReadError::Utf8),
        }
        Ok(())
    }
}

/// The least read size: room for the longest client frame header.
const MIN_CHUNK: usize = 14;

/// A parsed frame header.
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    len: u64,
    /// Bytes of the header itself.
    size: usize,
}

impl Header {
    /// The header at the start of `b`, once all of it is there.
    fn parse(b: &[u8]) -> Result<Option<Header>, ReadError> {
        let [b0, b1, ..] = *b else {
            return Ok(None);
        };
        if b0 & 0x70 != 0 {
            return Err(ReadError::Protocol("reserved bits are set"));
        }
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0F;
        if !matches!(
            opcode,
            OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
        ) {
            return Err(ReadError::Protocol("unknown opcode"));
        }
        if b1 & 0x80 == 0 {
            return Err(ReadError::Protocol("client frames must be masked"));
        }
        let (len, ext) = match b1 & 0x7F {
            126 => {
                let Some(l) = b.get(2..4) else {
                    return Ok(None);
                };
                (u16::from_be_bytes([l[0], l[1]]) as u64, 2)
            }
            127 => {
                let Some(l) = b.get(2..10) else {
                    return Ok(None);
                };
                let len = u64::from_be_bytes(l.try_into().expect("8 bytes"));
                if len >> 63 != 0 {
                    return Err(ReadError::Protocol("frame length has its top bit set"));
                }
                (len, 8)
            }
            n => (n as u64, 0),
        };
        if opcode >= OP_CLOSE {
            if !fin {
                return Err(ReadError::Protocol("control frames cannot be fragmented"));
            }
            if len > 125 {
                return Err(ReadError::Protocol(
                    "control frames carry at most 125 bytes",
                ));
            }
        }
        let size = 2 + ext + 4;
        let Some(m) = b.get(2 + ext..size) else {
            return Ok(None);
        };
        Ok(Some(Header {
            fin,
            opcode,
            mask: [m[0], m[1], m[2], m[3]],
            len,
            size,
        }))
    }
}

fn finish(opcode: u8, data: Vec<u8>) -> Result<Incoming, ReadError> {
    if opcode == OP_BINARY {
        return Ok(Incoming::Binary(data));
    }
    tungstenite::Utf8Bytes::try_from(data)
        .map(Incoming::Text)
        .map_err(|_| ReadError::Utf8)
}

/// The status code of a close frame's body, checked (RFC 6455 §7.4).
fn close_code(body: &[u8]) -> Result<Option<u16>, ReadError> {
    match body {
        [] => Ok(None),
        [_] => Err(ReadError::Protocol("a close frame body of one byte")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !valid {
                return Err(ReadError::Protocol("invalid close code"));
            }
            std::str::from_utf8(reason).map_err(|_| ReadError::Utf8)?;
            Ok(Some(code))
        }
    }
}

/// Appends `payload` to `out`, unmasked.
fn unmask_into(out: &mut Vec<u8>, payload: &[u8], mask: [u8; 4]) {
    let from = out.len();
    out.extend_from_slice(payload);
    let word = u32::from_ne_bytes(mask);
    let mut chunks = out[from..].chunks_exact_mut(4);
    for c in &mut chunks {
        let v = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) ^ word;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i];
    }
}

/// Appends a whole unmasked frame (a server's) to `out`.
pub fn push_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let (h, n) = super::frame_header(opcode, payload.len());
    out.extend_from_slice(&h[..n]);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A client frame: masked with `MASK`.
    fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![b0];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 65_535 {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        out
    }

    fn reader() -> Reader {
        Reader::new(1 << 20, 1024)
    }

    fn text(s: &str) -> Incoming {
        Incoming::Text(s.into())
    }

    #[test]
    fn reads_text_of_every_length_encoding() {
        for len in [0, 1, 5, 125, 126, 65_535, 65_536, 200_000] {
            let body = "x".repeat(len);
            let mut r = reader();
            r.push(&frame(0x81, body.as_bytes()));
            let mut replies = Vec::new();
            assert_eq!(
                r.next(&mut replies).unwrap(),
                Some(text(&body)),
                "len {len}"
            );
            assert!(replies.is_empty());
            assert_eq!(r.buf.capacity(), 0, "no buffer is kept between frames");
        }
    }

    #[test]
    fn a_frame_split_anywhere_reads_whole() {
        let bytes = [
            frame(0x81, "héllo wörld".as_bytes()),
            frame(0x81, b"second"),
        ]
        .concat();
        for cut in 0..bytes.len() {
            let mut r = reader();
            let mut got = Vec::new();
            let mut replies = Vec::new();
            for part in [&bytes[..cut], &bytes[cut..]] {
                r.push(part);
                while let Some(m) = r.next(&mut replies).unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(
                got,
                vec![text("héllo wörld"), text("second")],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn reads_into_spare_room_in_small_pieces() {
        let bytes = [frame(0x81, &[b'a'; 3000]), frame(0x81, b"next")].concat();
        for piece in [1, 7, 1000, 5000] {
            let mut r = Reader::new(1 << 20, 256);
            let mut got = Vec::new();
            let mut replies = Vec::new();
            for mut part in bytes.chunks(piece) {
                // Each read takes what fits in the room; the rest comes with the next.
                while !part.is_empty() {
                    let room = r.spare();
                    assert!(room.len() >= 256);
                    let n = part.len().min(room.len());
                    room[..n].copy_from_slice(&part[..n]);
                    r.filled(n);
                    part = &part[n..];
                    while let Some(m) = r.next(&mut replies).unwrap() {
                        got.push(m);
                    }
                }
            }
            let want = vec![text(&"a".repeat(3000)), text("next")];
            assert_eq!(got, want, "pieces of {piece}");
            assert_eq!(r.buf.capacity(), 0, "nothing is held after the last frame");
        }
    }

    #[test]
    fn fragments_join_with_control_frames_between() {
        let mut r = reader();
        r.push(&frame(0x01, b"frag"));
        r.push(&frame(0x89, b"ping!"));
        r.push(&frame(0x00, b"men"));
        r.push(&frame(0x80, b"ted"));
        let mut replies = Vec::new();
        assert_eq!(r.next(&mut replies).unwrap(), Some(Incoming::Ping));
        assert_eq!(
            replies,
            [&[0x8A, 5][..], b"ping!"].concat(),
            "the pong echoes"
        );
        assert_eq!(r.next(&mut replies).unwrap(), Some(text("fragmented")));
        assert_eq!(r.next(&mut replies).unwrap(), None);
    }

    #[test]
    fn close_is_echoed_and_ends_reading() {
        let mut r = reader();
        r.push(&frame(0x88, &[0x03, 0xE8, b'b', b'y', b'e']));
        r.push(&frame(0x81, b"after"));
        let mut replies = Vec::new();
        assert_eq!(r.next(&mut replies).unwrap(), Some(Incoming::Close));
        assert_eq!(replies, [0x88, 2, 0x03, 0xE8]);
        assert_eq!(
            r.next(&mut replies).unwrap(),
            None,
            "nothing is read after a close"
        );
        // An empty close gets an empty close.
        let mut r = reader();
        r.push(&frame(0x88, &[]));
        let mut replies = Vec::new();
        assert_eq!(r.next(&mut replies).unwrap(), Some(Incoming::Close));
        assert_eq!(replies, [0x88, 0]);
        // After our own close, the client's is not answered again.
        let mut r = reader();
        r.close_sent = true;
        r.push(&frame(0x88, &[0x03, 0xE8]));
        let mut replies = Vec::new();
        assert_eq!(r.next(&mut replies).unwrap(), Some(Incoming::Close));
        assert!(replies.is_empty());
    }

    fn error_of(bytes: &[u8]) -> ReadError {
        let mut r = reader();
        r.push(bytes);
        let mut replies = Vec::new();
        loop {
            match r.next(&mut replies) {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no error for {bytes:?}"),
                Err(e) => {
                    assert_eq!(r.next(&mut replies).unwrap(), None, "reading stops");
                    return e;
                }
            }
        }
    }

    #[test]
    fn protocol_violations_are_refused() {
        let unmasked = [0x81, 2, b'h', b'i'];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (unmasked.to_vec(), "client frames must be masked"),
            (frame(0xC1, b"x"), "reserved bits are set"),
            (frame(0x83, b"x"), "unknown opcode"),
            (frame(0x8B, b"x"), "unknown opcode"),
            (frame(0x09, b"x"), "control frames cannot be fragmented"),
            (
                frame(0x89, &[0; 126]),
                "control frames carry at most 125 bytes",
            ),
            (frame(0x80, b"x"), "a continuation frame began no message"),
            (
                [frame(0x01, b"a"), frame(0x81, b"b")].concat(),
                "a new message began before the last one ended",
            ),
            (frame(0x88, &[3]), "a close frame body of one byte"),
            (frame(0x88, &1005u16.to_be_bytes()), "invalid close code"),
            (frame(0x88, &999u16.to_be_bytes()), "invalid close code"),
            (frame(0x88, &5000u16.to_be_bytes()), "invalid close code"),
            (
                [0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4].to_vec(),
                "frame length has its top bit set",
            ),
        ];
        for (bytes, want) in cases {
            match error_of(&bytes) {
                ReadError::Protocol(why) => assert_eq!(why, want, "{bytes:?}"),
                other => panic!("{bytes:?}: {other:?}, wanted {want}"),
            }
        }
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert!(matches!(error_of(&frame(0x81, &[0xC3])), ReadError::Utf8));
        let split = [frame(0x01, &[0xC3]), frame(0x80, &[0x28])].concat();
        assert!(matches!(error_of(&split), ReadError::Utf8));
        let bad_reason = frame(0x88, &[0x03, 0xE8, 0xFF]);
        assert!(matches!(error_of(&bad_reason), ReadError::Utf8));
        // Invalid text fails with its fragment, before the message ends.
        let mut r = reader();
        r.push(&[frame(0x01, b"ok"), frame(0x00, &[0xFF])].concat());
        assert!(matches!(r.next(&mut Vec::new()), Err(ReadError::Utf8)));
        // A character split across fragments is fine.
        let mut r = reader();
        r.push(&[frame(0x01, &[0xC3]), frame(0x80, &[0xA9])].concat());
        assert_eq!(r.next(&mut Vec::new()).unwrap(), Some(text("é")));
    }

    #[test]
    fn too_big_is_refused_before_it_is_read() {
        let mut r = Reader::new(100, 1024);
        // Only the header of a frame that claims 1 MiB.
        r.push(&frame(0x81, &[b'x'; 1 << 20])[..14]);
        assert!(matches!(r.next(&mut Vec::new()), Err(ReadError::TooBig)));
        // Fragments that add up to more than the limit.
        let parts = [frame(0x01, &[b'x'; 60]), frame(0x80, &[b'x'; 60])].concat();
        let mut r = Reader::new(100, 1024);
        r.push(&parts);
        assert!(matches!(r.next(&mut Vec::new()), Err(ReadError::TooBig)));
        // Control frames are not counted against a message.
        let mut r = Reader::new(100, 1024);
        r.push(
            &[
                frame(0x01, &[b'x'; 90]),
                frame(0x89, &[1; 20]),
                frame(0x80, b"y"),
            ]
            .concat(),
        );
        let mut replies = Vec::new();
        assert_eq!(r.next(&mut replies).unwrap(), Some(Incoming::Ping));
        let Some(Incoming::Text(t)) = r.next(&mut replies).unwrap() else {
            panic!("no text");
        };
        assert_eq!(t.len(), 91);
    }

    #[test]
    fn binary_messages_are_read_too() {
        let mut r = reader();
        r.push(&frame(0x82, &[0, 1, 2, 0xFF]));
        assert_eq!(
            r.next(&mut Vec::new()).unwrap(),
            Some(Incoming::Binary(vec![0, 1, 2, 0xFF]))
        );
    }

    #[test]
    fn unmasking_matches_byte_by_byte() {
        for len in 0..20 {
            let payload: Vec<u8> = (0..len as u8).collect();
            let masked: Vec<u8> = payload
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ MASK[i % 4])
                .collect();
            let mut out = vec![9];
            unmask_into(&mut out, &masked, MASK);
            assert_eq!(out[1..], payload[..]);
            assert_eq!(out[0], 9, "what was there stays");
        }
    }
}
