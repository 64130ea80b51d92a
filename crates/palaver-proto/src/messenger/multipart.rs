//! Just enough `multipart/form-data` (RFC 7578) to take one file field out of a body that is
//! already in memory: the boundary from the content type, then each part's
//! `Content-Disposition` name and filename.

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let mime = params.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 200)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let hay = haystack.get(from..)?;
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let last_start = hay.len() - needle.len();
    let mut i = 0;
    while i <= last_start {
        match hay[i..=last_start].iter().position(|&b| b == first) {
            None => return None,
            Some(p) => i += p,
        }
        if hay[i..].starts_with(needle) {
            return Some(from + i);
        }
        i += 1;
    }
    None
}

/// A `name="value"` (or unquoted) parameter of a header value.
fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    value
        .split(';')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
}

/// The filename and content of the first part that is a file in field `field`.
pub fn file<'a>(body: &'a [u8], boundary: &str, field: &str) -> Option<(String, &'a [u8])> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let next_delimiter = [b"\r\n".as_slice(), delimiter].concat();
    let mut at = find(body, delimiter, 0)? + delimiter.len();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return None; // the closing delimiter
        }
        let headers_start = find(body, b"\r\n", at)? + 2;
        let headers_end = find(body, b"\r\n\r\n", headers_start.saturating_sub(2))?;
        let content_start = headers_end + 4;
        let content_end = find(body, &next_delimiter, content_start.saturating_sub(2))?;
        let headers = String::from_utf8_lossy(body.get(headers_start..headers_end)?);
        let disposition = headers.split("\r\n").find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-disposition")
                .then_some(value.trim())
        });
        if let Some(d) = disposition
            && param(d, "name") == Some(field)
            && let Some(filename) = param(d, "filename")
        {
            let content = body.get(content_start..content_end.max(content_start))?;
            return Some((filename.to_owned(), content));
        }
        at = content_end + next_delimiter.len();
    }
}

/// The extension a stored upload gets: what follows the filename's last `.` (the whole name
/// when it has none, as in the seed), lower-cased, if it is 1 to 10 letters or digits; `bin`
/// otherwise.
pub fn extension(filename: &str) -> String {
    let ext = filename.rsplit('.').next().unwrap_or_default();
    if (1..=10).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
        ext.to_ascii_lowercase()
    } else {
        "bin".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_file_field() {
        let ct = "multipart/form-data; boundary=\"XyZ\"";
        let b = boundary(ct).unwrap();
        assert_eq!(b, "XyZ");
        let body = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"me.PNG\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--X\r\n--XyZ--\r\n";
        let (name, data) = file(body, &b, "image").unwrap();
        assert_eq!(name, "me.PNG");
        assert_eq!(data, b"\x89PNG\r\n--X");
        assert!(file(body, &b, "missing").is_none());
        assert!(file(b"garbage", &b, "image").is_none());
        assert!(boundary("application/json").is_none());
        assert_eq!(extension("me.PNG"), "png");
        assert_eq!(extension("photo"), "photo");
        assert_eq!(extension("x.../.."), "bin");
    }
}
