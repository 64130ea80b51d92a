//! The `messenger` dialect (seed 003, siandreev/messenger-server): JSON-RPC-ish requests over
//! a WebSocket, `{"type","code","body"}` notifications, and an HTTP account API with an `auth`
//! cookie. See `docs/dialects.md` for how each message maps to the core.
//!
//! Users are named by tags (`@name`): a tag is `@` plus the Palaver handle. Names are the two
//! halves of the display name, split at its first space.

mod dates;
pub mod http;
pub mod multipart;
mod notify;
mod rpc;
mod shapes;

pub use dates::{http_date, iso};
pub use notify::*;
pub use rpc::*;
pub use shapes::*;

use palaver_core::User;

/// What `img` says when a user has no uploaded picture.
pub const DEFAULT_IMG: &str = "default.jpg";

/// The tag of a Palaver handle.
pub fn tag(handle: &str) -> String {
    format!("@{handle}")
}

/// The Palaver handle a tag names: without the leading `@`, lower-cased.
pub fn handle_of(tag: &str) -> String {
    tag.strip_prefix('@').unwrap_or(tag).to_lowercase()
}

/// First and last name of a display name: split at the first space.
pub fn split_name(display_name: &str) -> (String, String) {
    match display_name.split_once(' ') {
        Some((first, last)) => (first.to_owned(), last.trim_start().to_owned()),
        None => (display_name.to_owned(), String::new()),
    }
}

/// The display name of a first and last name.
pub fn join_name(first: &str, last: &str) -> String {
    match (first.is_empty(), last.is_empty()) {
        (false, false) => format!("{first} {last}"),
        (true, _) => last.to_owned(),
        (false, true) => first.to_owned(),
    }
}

/// Whether `name` is a file name this dialect generates for an upload: 32 hex digits, a dot,
/// and 1 to 10 lower-case letters or digits. Nothing else is ever served or accepted as `img`.
pub fn is_upload_name(name: &str) -> bool {
    let Some((stem, ext)) = name.split_once('.') else {
        return false;
    };
    stem.len() == 32
        && stem
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && (1..=10).contains(&ext.len())
        && ext
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// The `img` of a user: the uploaded file its avatar URL points at (`…/img/<name>`), or
/// `default.jpg` for no avatar or an avatar hosted elsewhere.
pub fn img_of(user: &User) -> String {
    user.avatar_url
        .as_deref()
        .and_then(|url| url.rsplit_once("/img/"))
        .map(|(_, name)| name)
        .filter(|name| is_upload_name(name))
        .unwrap_or(DEFAULT_IMG)
        .to_owned()
}

/// The seed's rule for names: `^[A-ZА-Я][a-zа-я]+$`.
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    let upper = |c: char| c.is_ascii_uppercase() || ('А'..='Я').contains(&c);
    let lower = |c: char| c.is_ascii_lowercase() || ('а'..='я').contains(&c);
    chars.next().is_some_and(upper) && s.chars().count() >= 2 && chars.all(lower)
}

/// The seed's rule for tags: `^@[A-Za-z]+$`.
pub fn is_tag(s: &str) -> bool {
    s.strip_prefix('@')
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphabetic()))
}

/// The seed's rule for e-mail addresses: `^\S+@\S+\.\S+$`.
pub fn is_email(s: &str) -> bool {
    if s.is_empty() || s.chars().any(char::is_whitespace) {
        return false;
    }
    // Greedy `\S+@`: any `@` that has a non-empty part before it and `x.y` after it.
    s.match_indices('@').any(|(i, _)| {
        let after = &s[i + 1..];
        i > 0
            && after
                .char_indices()
                .any(|(j, c)| c == '.' && j > 0 && j + 1 < after.len())
    })
}

/// JavaScript truthiness of a JSON value (the seed checks fields with `!x`).
pub fn truthy(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(is_name("Sergey") && is_name("Иван") && !is_name("S") && !is_name("sergey"));
        assert!(!is_name("123") && !is_name("SeRgey") && !is_name("Ёлка"));
        assert!(is_tag("@siandreev") && !is_tag("@") && !is_tag("siandreev") && !is_tag("@a1"));
        assert!(is_email("a@b.c") && !is_email("a@b") && !is_email("@b.c") && !is_email("a b@c.d"));
        assert_eq!(
            split_name("Sergey Ivanov"),
            ("Sergey".into(), "Ivanov".into())
        );
        assert_eq!(split_name("alice"), ("alice".into(), String::new()));
        assert_eq!(join_name("Sergey", ""), "Sergey");
        assert_eq!(handle_of("@SiAndreev"), "siandreev");
        assert!(is_upload_name("0123456789abcdef0123456789abcdef.png"));
        assert!(!is_upload_name("../0123456789abcdef0123456789abcd.png"));
        assert!(!is_upload_name("0123456789abcdef0123456789abcdef.p/g"));
        assert!(truthy(&serde_json::json!("1")) && !truthy(&serde_json::json!(0)));
    }
}
