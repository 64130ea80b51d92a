//! Passwords (argon2id with OWASP parameters) and session tokens (HS256 JWTs naming a
//! server-side session, so logout can revoke them).

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use palaver_core::{CoreError, UserId};
use palaver_store::{NewSession, Store};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::Semaphore;

const ISSUER: &str = "palaver";
const SECRET_NAME: &str = "jwt_hs256";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user id, as a string (RFC 7519 makes `sub` a StringOrURI).
    sub: String,
    sid: String,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
}

/// A verified token: who it is, and which session (for revocation).
#[derive(Clone, Debug)]
pub struct Verified {
    pub user: UserId,
    pub session: String,
    pub expires_at: i64,
}

pub struct Auth {
    store: Arc<dyn Store>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: i64,
    hashing: Semaphore,
    /// Verified against when the user is unknown, so both failures cost the same.
    dummy_hash: String,
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rng().fill_bytes(&mut b);
    b
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Auth {
    /// Loads (or creates once, in the store) the signing key.
    pub async fn new(
        store: Arc<dyn Store>,
        ttl_secs: u64,
        hash_concurrency: usize,
    ) -> Result<Self, palaver_store::StoreError> {
        let key = store
            .secret(SECRET_NAME, random_bytes::<32>().to_vec())
            .await?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let dummy_hash = tokio::task::spawn_blocking(|| hash_blocking("not a real password"))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        Ok(Self {
            store,
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            ttl_secs: ttl_secs as i64,
            hashing: Semaphore::new(hash_concurrency),
            dummy_hash,
        })
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Hashes a password off the async threads, a bounded number at a time.
    pub async fn hash(&self, password: String) -> Result<String, CoreError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|_| CoreError::internal())?;
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .map_err(|_| CoreError::internal())?
    }

    /// Checks a password against a stored hash (or the dummy hash when `stored` is `None`).
    pub async fn verify(&self, password: String, stored: Option<String>) -> bool {
        let Ok(_permit) = self.hashing.acquire().await else {
            return false;
        };
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let ok = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false);
        ok && known
    }

    /// Creates a session and the token naming it.
    pub async fn issue(&self, user: UserId, now_ms: i64) -> Result<(String, i64), CoreError> {
        let sid = hex(&random_bytes::<16>());
        let now = now_ms / 1000;
        let exp = now + self.ttl_secs;
        self.store
            .create_session(NewSession {
                id: sid.clone(),
                user,
                created_at: now_ms,
                expires_at: exp * 1000,
            })
            .await
            .map_err(|e| e.into_core())?;
        let claims = Claims {
            sub: user.0.to_string(),
            sid,
            iat: now,
            exp,
            iss: ISSUER.into(),
            aud: ISSUER.into(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| CoreError::internal())?;
        Ok((token, exp))
    }

    /// Checks signature, expiry and that the session is still active.
    pub async fn check(&self, token: &str, now_ms: i64) -> Result<Verified, CoreError> {
        let invalid = || CoreError::unauthenticated("invalid or expired token");
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| invalid())?;
        let c = data.claims;
        let user = c.sub.parse::<i64>().map(UserId).map_err(|_| invalid())?;
        let active = self
            .store
            .session_active(&c.sid, now_ms)
            .await
            .map_err(|e| e.into_core())?;
        if !active {
            return Err(invalid());
        }
        Ok(Verified {
            user,
            session: c.sid,
            expires_at: c.exp * 1000,
        })
    }

    pub async fn revoke(&self, session: &str, now_ms: i64) -> Result<(), CoreError> {
        self.store
            .revoke_session(session, now_ms)
            .await
            .map_err(|e| e.into_core())
    }
}

fn hash_blocking(password: &str) -> Result<String, CoreError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| CoreError::internal())
}
