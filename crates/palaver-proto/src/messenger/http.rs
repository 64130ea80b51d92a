//! The HTTP side: `/signup`, `/login`, `/exit`, `/upload-image`, `/img/*` bodies, the seed's
//! `{"Error":{"name","message"}}` errors with their statuses, the `auth` cookie, and the close
//! reasons of a refused WebSocket.

use super::{http_date, is_email, is_name, is_tag, truthy};
use serde_json::Value;

/// The cookie carrying the session token.
pub const COOKIE: &str = "auth";
/// The cookie's lifetime: 72 h, the seed's README configuration.
pub const COOKIE_MAX_AGE_SECS: i64 = 259_200;

pub const SIGNUP_OK: &str = "Sign up successful";
pub const LOGIN_OK: &str = "Login successful";
/// The body of a 413 for an upload over the size limit.
pub const TOO_LARGE: &str = "File size limit has been reached";

/// Close reason (code 1000) of a WebSocket opened without the cookie.
pub const CLOSE_NO_AUTH_JWT: &str =
    r#"{"Error":{"name":"NoAuthJWTError","message":"Authorization data missing."}}"#;
/// Close reason (code 1000) of a WebSocket with a bad, expired or revoked token.
pub const CLOSE_UNSPECIFIED: &str = r#"{"Error":{"name":"UnspecifiedError","message":"An undefined error occurred on the server."}}"#;

/// The seed's HTTP errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    NoSignUpDataProvided,
    IncorrectData,
    UserAlreadyExist,
    NoAuthDataProvided,
    Auth,
    NoAuthJwt,
    FilesLimitExceeding,
    Unspecified,
}

impl HttpError {
    pub fn name(self) -> &'static str {
        match self {
            Self::NoSignUpDataProvided => "NoSignUpDataProvidedError",
            Self::IncorrectData => "IncorrectDataError",
            Self::UserAlreadyExist => "UserAlreadyExistError",
            Self::NoAuthDataProvided => "NoAuthDataProvidedError",
            Self::Auth => "AuthError",
            Self::NoAuthJwt => "NoAuthJWTError",
            Self::FilesLimitExceeding => "FilesLimitExceedingError",
            Self::Unspecified => "UnspecifiedError",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::NoSignUpDataProvided => "Data required for sign up is missing.",
            Self::IncorrectData => "Incorrect parameter values passed.",
            Self::UserAlreadyExist => "Such user already exists.",
            Self::NoAuthDataProvided => "Data required for authorization is missing.",
            Self::Auth => "Incorrect authorization data.",
            Self::NoAuthJwt => "Authorization data missing.",
            Self::FilesLimitExceeding => "File upload limit has been exceeded",
            Self::Unspecified => "An undefined error occurred on the server.",
        }
    }

    /// 401 for every error the seed names, 500 for the unnamed rest.
    pub fn status(self) -> u16 {
        match self {
            Self::Unspecified => 500,
            _ => 401,
        }
    }

    /// `{"Error":{"name":…,"message":…}}`, in that order.
    pub fn body(self) -> String {
        format!(
            r#"{{"Error":{{"name":"{}","message":"{}"}}}}"#,
            self.name(),
            self.message()
        )
    }
}

/// A request body as the seed's `bodyParser.json()` sees it: parsed when the content type is
/// JSON (empty counts as `{}`, unparseable is an error), an empty object otherwise.
pub fn decode_body(content_type: Option<&str>, body: &[u8]) -> Result<Value, HttpError> {
    let is_json = content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json || body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body).map_err(|_| HttpError::Unspecified)
}

/// `/signup`'s fields, checked against the seed's rules (Palaver's own rules come after).
#[derive(Debug)]
pub struct Signup {
    pub tag: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub password: String,
}

fn field<'a>(user: &'a Value, name: &str) -> Option<&'a Value> {
    user.get(name).filter(|v| truthy(v))
}

pub fn parse_signup(body: &Value) -> Result<Signup, HttpError> {
    let user = body.get("user").filter(|u| truthy(u));
    let names = ["tag", "firstName", "lastName", "email", "password"];
    let Some(user) = user.filter(|u| names.iter().all(|n| field(u, n).is_some())) else {
        return Err(HttpError::NoSignUpDataProvided);
    };
    let text = |n: &str| match field(user, n) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(HttpError::IncorrectData),
    };
    let signup = Signup {
        tag: text("tag")?,
        first_name: text("firstName")?,
        last_name: text("lastName")?,
        email: text("email")?,
        password: text("password")?,
    };
    let ok = is_tag(&signup.tag)
        && is_name(&signup.first_name)
        && is_name(&signup.last_name)
        && is_email(&signup.email)
        && signup.password.encode_utf16().count() >= 5;
    if !ok {
        return Err(HttpError::IncorrectData);
    }
    Ok(signup)
}

/// `/login`'s e-mail and password. A non-string value cannot match anyone: `Auth`.
pub fn parse_login(body: &Value) -> Result<(String, String), HttpError> {
    let user = body.get("user").filter(|u| truthy(u));
    let (Some(email), Some(password)) = (
        user.and_then(|u| field(u, "email")),
        user.and_then(|u| field(u, "password")),
    ) else {
        return Err(HttpError::NoAuthDataProvided);
    };
    match (email, password) {
        (Value::String(e), Value::String(p)) => Ok((e.clone(), p.clone())),
        _ => Err(HttpError::Auth),
    }
}

/// `Set-Cookie` for a new session, as express writes it.
pub fn auth_cookie(token: &str, now_ms: i64, secure: bool) -> String {
    let expires = http_date(now_ms / 1000 + COOKIE_MAX_AGE_SECS);
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={token}; Max-Age={COOKIE_MAX_AGE_SECS}; Path=/; Expires={expires}; HttpOnly{secure}"
    )
}

/// `Set-Cookie` that clears the cookie (`/exit`).
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Expires={}; HttpOnly", http_date(0))
}

/// `/upload-image`'s body: a JSON *string* holding the JSON object, as the seed sends it.
pub fn upload_body(file_name: &str) -> String {
    Value::String(format!(r#"{{"fileName": "{file_name}"}}"#)).to_string()
}

/// The `Content-Type` an image is served with, by extension.
pub fn content_type_of(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "ico" => "image/x-icon",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Served for `/img/default.jpg` (the seed shipped a picture under that name).
pub const DEFAULT_IMG_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><rect width="40" height="40" fill="#b0bec5"/><circle cx="20" cy="15" r="7" fill="#eceff1"/><path d="M6 38c2-9 8-13 14-13s12 4 14 13z" fill="#eceff1"/></svg>"##;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies() {
        assert_eq!(
            HttpError::UserAlreadyExist.body(),
            r#"{"Error":{"name":"UserAlreadyExistError","message":"Such user already exists."}}"#
        );
        assert_eq!(HttpError::NoAuthJwt.body(), CLOSE_NO_AUTH_JWT);
        assert_eq!(HttpError::Unspecified.body(), CLOSE_UNSPECIFIED);
        assert_eq!(upload_body("a.png"), r#""{\"fileName\": \"a.png\"}""#);
        assert_eq!(
            clear_cookie(),
            "auth=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"
        );
        let user = json!({"user":{"tag":"@bob","firstName":"Bob","lastName":"Smith","email":"b@x.io","password":"12345"}});
        assert!(parse_signup(&user).is_ok());
        let mut short = user.clone();
        short["user"]["password"] = json!("1234");
        assert_eq!(parse_signup(&short).unwrap_err(), HttpError::IncorrectData);
        short["user"]["password"] = json!("");
        assert_eq!(
            parse_signup(&short).unwrap_err(),
            HttpError::NoSignUpDataProvided
        );
        assert_eq!(
            parse_login(&json!({})).unwrap_err(),
            HttpError::NoAuthDataProvided
        );
        assert_eq!(
            decode_body(Some("application/json"), b"{oops").unwrap_err(),
            HttpError::Unspecified
        );
        assert_eq!(
            decode_body(Some("text/plain"), b"{oops").unwrap(),
            json!({})
        );
    }
}
