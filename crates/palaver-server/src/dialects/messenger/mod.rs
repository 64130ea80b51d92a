//! The `messenger` dialect (seed 003, siandreev/messenger-server): JSON-RPC-ish calls on a
//! WebSocket at `/api`, the account endpoints `/signup`, `/login`, `/exit`, image uploads at
//! `/upload-image` served back at `/img/*`, and an `auth` cookie carrying a Palaver session
//! token (docs/dialects.md).

mod calls;
mod http;
mod session;

use super::Mount;
use crate::AppState;
use crate::ws::WsUpgrade;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use palaver_core::UserId;
use palaver_proto::messenger::http::COOKIE;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The routes this dialect serves under `mount`.
pub fn routes(mount: &Mount) -> Router<Arc<AppState>> {
    let prefix = mount.prefix.clone();
    let upgrade = move |State(st): State<Arc<AppState>>, headers: HeaderMap, ws: WsUpgrade| {
        session::upgrade(st, headers, ws, prefix.clone())
    };
    Router::new()
        .route(&mount.path("/api"), get(upgrade))
        .route(&mount.path("/signup"), post(http::signup))
        .route(&mount.path("/login"), post(http::login))
        .route(&mount.path("/exit"), get(http::exit))
        .route(&mount.path("/upload-image"), post(http::upload))
        .route(&mount.path("/img/{name}"), get(http::image))
}

/// The `auth` cookie's token, if the request has a non-empty one.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

/// Runs a file system call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// Recent uploads per user on this node, for the per-minute limit.
#[derive(Default)]
pub struct Uploads {
    recent: Mutex<HashMap<UserId, VecDeque<i64>>>,
}

const MINUTE_MS: i64 = 60_000;

impl Uploads {
    /// Counts an upload by `user` at `now` unless they already made `per_minute` in the last
    /// minute.
    fn admit(&self, user: UserId, now: i64, per_minute: u32) -> bool {
        let mut g = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() > 4096 {
            g.retain(|_, times| times.back().is_some_and(|t| now - t <= MINUTE_MS));
        }
        let times = g.entry(user).or_default();
        while times.front().is_some_and(|t| now - t > MINUTE_MS) {
            times.pop_front();
        }
        if times.len() >= per_minute as usize {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_limit_slides() {
        let u = Uploads::default();
        let me = UserId(1);
        assert!((0..10).all(|i| u.admit(me, i, 10)));
        assert!(!u.admit(me, 100, 10));
        assert!(u.admit(UserId(2), 100, 10));
        assert!(u.admit(me, 60_001, 10));
    }
}
