//! Input rules for handles, room names, profile fields and message text.
//!
//! Every function returns the normalised value or an `InvalidInput` error saying which rule
//! failed. Limits that operators may change arrive as arguments.

use crate::error::CoreError;

const NAME_CHARS: &str = "lower-case letters, digits, `_`, `.` and `-`";

fn name_like(what: &str, s: &str, min: usize, max: usize) -> Result<String, CoreError> {
    let lower = s.to_ascii_lowercase();
    let len = lower.chars().count();
    let ok_chars = lower
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    let ok_start = lower
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if len < min || len > max || !ok_chars || !ok_start {
        return Err(CoreError::invalid(format!(
            "{what} must be {min} to {max} characters of {NAME_CHARS}, starting with a letter or digit"
        )));
    }
    Ok(lower)
}

/// A user handle: 2 to 32 of `[a-z0-9_.-]`, compared case-insensitively (stored lower-case).
pub fn handle(s: &str) -> Result<String, CoreError> {
    name_like("handle", s, 2, 32)
}

/// A room name (without `#`): 2 to 64 of `[a-z0-9_.-]`, case-insensitive.
pub fn room_name(s: &str) -> Result<String, CoreError> {
    name_like("room name", s, 2, 64)
}

fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control())
}

/// A display name: 1 to 64 characters, no control characters, trimmed.
pub fn display_name(s: &str) -> Result<String, CoreError> {
    let t = s.trim();
    let n = t.chars().count();
    if n == 0 || n > 64 || has_control(t) {
        return Err(CoreError::invalid(
            "display_name must be 1 to 64 characters without control characters",
        ));
    }
    Ok(t.to_owned())
}

/// A status text or topic: at most `max` characters, no control characters, trimmed.
pub fn short_text(what: &str, s: &str, max: usize) -> Result<String, CoreError> {
    let t = s.trim();
    if t.chars().count() > max || has_control(t) {
        return Err(CoreError::invalid(format!(
            "{what} must be at most {max} characters without control characters"
        )));
    }
    Ok(t.to_owned())
}

/// An avatar URL: empty (to clear it) or an `http(s)://` URL of at most 512 bytes.
pub fn avatar_url(s: &str) -> Result<String, CoreError> {
    let t = s.trim();
    let scheme_ok = t.is_empty() || t.starts_with("https://") || t.starts_with("http://");
    if !scheme_ok || t.len() > 512 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CoreError::invalid(
            "avatar_url must be an http(s) URL of at most 512 bytes",
        ));
    }
    Ok(t.to_owned())
}

/// An e-mail address: a plausibility check only (something@something.tld), stored lower-case.
pub fn email(s: &str) -> Result<String, CoreError> {
    let t = s.trim().to_ascii_lowercase();
    let plausible = t.len() <= 254
        && !t.chars().any(|c| c.is_whitespace() || c.is_control())
        && t.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if !plausible {
        return Err(CoreError::invalid("email is not a valid address"));
    }
    Ok(t)
}

/// A password: 8 to 1024 characters. Never normalised.
pub fn password(s: &str) -> Result<(), CoreError> {
    let n = s.chars().count();
    if !(8..=1024).contains(&n) {
        return Err(CoreError::invalid("password must be 8 to 1024 characters"));
    }
    Ok(())
}

/// Message text: not blank, at most `max_bytes` bytes. Kept verbatim (no trimming), since
/// leading spaces and newlines can be meaningful.
pub fn message_text(s: &str, max_bytes: usize) -> Result<(), CoreError> {
    if s.trim().is_empty() {
        return Err(CoreError::invalid("text must not be empty"));
    }
    if s.len() > max_bytes {
        return Err(CoreError::invalid(format!(
            "text must be at most {max_bytes} bytes"
        )));
    }
    Ok(())
}

/// A client-chosen idempotency key: 1 to 64 printable ASCII characters.
pub fn client_id(s: &str) -> Result<(), CoreError> {
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CoreError::invalid(
            "client_id must be 1 to 64 printable ASCII characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles() {
        assert_eq!(handle("Alice_1").unwrap(), "alice_1");
        assert_eq!(handle("a.b-c").unwrap(), "a.b-c");
        for bad in [
            "a",
            "",
            "-ab",
            "ab cd",
            "ünï",
            "x".repeat(33).as_str(),
            "a@b",
        ] {
            assert!(handle(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn texts() {
        assert!(message_text("hi", 10).is_ok());
        assert!(message_text("  \n", 10).is_err());
        assert!(message_text("12345678901", 10).is_err());
        assert!(display_name(" Alice ").is_ok_and(|d| d == "Alice"));
        assert!(display_name("a\u{0}b").is_err());
        assert!(email("A@Example.org").is_ok_and(|e| e == "a@example.org"));
        assert!(email("nope").is_err());
        assert!(email("a@b").is_err());
        assert!(password("short").is_err());
        assert!(client_id("k-1").is_ok());
        assert!(client_id("has space").is_err());
        assert!(avatar_url("javascript:alert(1)").is_err());
        assert!(avatar_url("").is_ok());
    }
}
