//! The send stamp carried inside every load message, and the clock it is read from.
//!
//! A payload is `~T` + 16 hex digits of the intended send time (CLOCK_MONOTONIC, ns, shared by
//! every process on the machine, so a sender and a receiver in different shards agree) + 2 hex
//! digits of the sweep step + `~`, padded with `x` to the payload size. Receivers find it with a
//! byte search, so no frame is parsed as JSON on the hot path, and one frame that carries several
//! messages (NATS coalesces) yields every stamp in it.

use memchr::memmem::Finder;
use nix::time::{ClockId, clock_gettime};
use std::sync::OnceLock;

const MARK: &[u8] = b"~T";
/// `~T` + 16 + 2 hex digits + `~`.
pub const STAMP_LEN: usize = 2 + 16 + 2 + 1;

/// Nanoseconds of CLOCK_MONOTONIC.
pub fn now_ns() -> u64 {
    match clock_gettime(ClockId::CLOCK_MONOTONIC) {
        Ok(t) => (t.tv_sec() as u64) * 1_000_000_000 + t.tv_nsec() as u64,
        Err(_) => 0,
    }
}

/// A payload of `size` bytes (at least [`STAMP_LEN`]) stamped with `at_ns` and `step`.
pub fn payload(at_ns: u64, step: u8, size: usize, out: &mut Vec<u8>) {
    use std::io::Write;
    let start = out.len();
    let _ = write!(out, "~T{at_ns:016x}{step:02x}~");
    while out.len() - start < size {
        out.push(b'x');
    }
}

fn finder() -> &'static Finder<'static> {
    static F: OnceLock<Finder<'static>> = OnceLock::new();
    F.get_or_init(|| Finder::new(MARK))
}

fn hex(bytes: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for &b in bytes {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

/// Calls `f(sent_ns, step)` for every stamp in `frame`.
pub fn scan(frame: &[u8], mut f: impl FnMut(u64, u8)) {
    let mut from = 0;
    while let Some(i) = finder().find(&frame[from..]) {
        let at = from + i + MARK.len();
        if let Some(digits) = frame.get(at..at + 18)
            && let (Some(ns), Some(step)) = (hex(&digits[..16]), hex(&digits[16..]))
        {
            f(ns, step as u8);
        }
        from = at;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_payload_round_trips_through_scan_even_when_frames_coalesce() {
        let mut p = Vec::new();
        payload(0x1234_5678_9abc, 7, 64, &mut p);
        assert_eq!(p.len(), 64);
        let mut frame = b"MSG room 1 64\r\n".to_vec();
        frame.extend_from_slice(&p);
        frame.extend_from_slice(b"\r\nMSG room 1 64\r\n");
        payload(99, 255, 30, &mut frame);
        let mut seen = Vec::new();
        scan(&frame, |ns, step| seen.push((ns, step)));
        assert_eq!(seen, vec![(0x1234_5678_9abc, 7), (99, 255)]);
        let mut none = Vec::new();
        scan(b"{\"text\":\"~Tzz\"}", |ns, s| none.push((ns, s)));
        assert!(none.is_empty());
        assert!(now_ns() > 0);
    }
}
