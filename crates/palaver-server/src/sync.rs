//! `sync`: the durable events a user missed since an opaque token, and the next token.
//!
//! A token names a position in the deployment's event stream and the store's epoch, so it
//! works on any node and after restarts, and is void for another database.

use crate::AppState;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use palaver_core::{CoreError, UserId};
use palaver_proto::native::{self, RpcError};
use serde_json::value::RawValue;

fn encode_token(epoch: &str, pos: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1.{epoch}.{pos}"))
}

/// The position a token names, or `None` if it is malformed or from another epoch.
fn decode_token(token: &str, epoch: &str) -> Option<i64> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.splitn(3, '.');
    let (v, e, pos) = (parts.next()?, parts.next()?, parts.next()?);
    (v == "v1" && e == epoch)
        .then(|| pos.parse().ok())
        .flatten()
}

pub async fn sync(
    st: &AppState,
    user: UserId,
    since: Option<&str>,
    limit: Option<u32>,
) -> Result<Box<RawValue>, RpcError> {
    let max = st.settings.limits.sync_max_limit;
    let limit = limit.unwrap_or(max);
    if limit == 0 || limit > max {
        return Err(CoreError::invalid(format!("limit must be 1 to {max}")).into());
    }
    let core = |e: palaver_store::StoreError| RpcError::from(e.into_core());
    let head = st.store.head().await.map_err(core)?;
    let Some(since) = since else {
        // A first sync starts from now: load conversations and history after it.
        let result = native::SyncResult {
            events: Vec::new(),
            next: encode_token(&st.epoch, head),
            has_more: false,
        };
        return Ok(native::to_result(&result));
    };
    let pos = match decode_token(since, &st.epoch) {
        Some(p) if (0..=head).contains(&p) => p,
        _ => return Err(RpcError::resync_required()),
    };
    let backlog_cap = st.settings.limits.sync_max_backlog;
    let backlog = st
        .store
        .count_events_since(user, pos, backlog_cap + 1)
        .await
        .map_err(core)?;
    if backlog > backlog_cap {
        return Err(RpcError::resync_required());
    }
    let mut events = st
        .store
        .events_since(user, pos, limit + 1)
        .await
        .map_err(core)?;
    let has_more = events.len() > limit as usize;
    events.truncate(limit as usize);
    // Without more to come, the token may skip to the head: nothing in between is ours.
    let next_pos = match events.last() {
        Some(e) if has_more => e.pos.unwrap_or(pos),
        _ => head.max(events.last().and_then(|e| e.pos).unwrap_or(pos)),
    };
    let result = native::SyncResult {
        events: events.iter().map(native::sync_event).collect(),
        next: encode_token(&st.epoch, next_pos),
        has_more,
    };
    Ok(native::to_result(&result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_within_their_epoch() {
        let t = encode_token("abc", 42);
        assert_eq!(decode_token(&t, "abc"), Some(42));
        assert_eq!(decode_token(&t, "other"), None);
        assert_eq!(decode_token("garbage!", "abc"), None);
    }
}
