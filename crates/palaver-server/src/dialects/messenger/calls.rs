//! The seven methods, on top of the shared use cases. Each returns its result as JSON text
//! (built from the proto shapes, which keep the seed's field order) or the seed's error.

use super::session::Session;
use crate::AppState;
use palaver_core::{Conversation, ConversationKind, CoreError, ErrorKind, User, UserId};
use palaver_proto::messenger::{
    self as wire, Call, DEFAULT_IMG, DialogEntry, HistoryMessage, RpcError, Sent, UserInfo,
    UserOnline, handle_of, is_upload_name, join_name, split_name,
};
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

/// Most users `findUsersByTag` returns.
const FIND_LIMIT: usize = 30;
/// Candidates asked of the store's search (which also matches display names) before keeping
/// those whose handle matches.
const SEARCH_SCAN: u32 = 1000;
/// Most messages one `getMessagesWithUser` returns.
const MAX_PAGE: u64 = 1000;

type CallResult = Result<String, RpcError>;

fn json<T: Serialize>(value: &T) -> CallResult {
    serde_json::to_string(value).map_err(|_| RpcError::Server)
}

/// A failure of the caller's input is "Invalid params"; anything else a server error.
fn invalid_or_server(e: CoreError) -> RpcError {
    match e.kind {
        ErrorKind::InvalidInput
        | ErrorKind::NotFound
        | ErrorKind::Forbidden
        | ErrorKind::Conflict => RpcError::InvalidParams,
        _ => server(e),
    }
}

fn server(e: CoreError) -> RpcError {
    tracing::warn!(error = %e, "messenger call failed");
    RpcError::Server
}

fn store<T>(r: Result<T, palaver_store::StoreError>) -> Result<T, RpcError> {
    r.map_err(|e| server(e.into_core()))
}

pub async fn run(s: &Session, call: Call) -> CallResult {
    let st = s.state.clone();
    let me = s.me.clone();
    match call {
        Call::GetSelfInfo => json(&UserInfo::of(&current(&st, me.id).await?)),
        Call::SetSelfInfo {
            first_name,
            last_name,
            img,
        } => set_self_info(s, first_name, last_name, img).await,
        Call::SendMessageToUser { receiver, text } => {
            let handle = handle_of(&receiver);
            if handle.is_empty() || handle == me.handle {
                return Err(RpcError::InvalidParams);
            }
            let peer =
                store(st.store.user_by_handle(&handle).await)?.ok_or(RpcError::InvalidParams)?;
            let appended = st
                .send_message(&me, &format!("@{}", peer.handle), text, None)
                .await
                .map_err(invalid_or_server)?;
            json(&Sent::of(&appended.message, &peer.handle))
        }
        Call::GetMessagesWithUser { tag, start, end } => {
            messages_with(&st, &me, &tag, start, end).await
        }
        Call::GetDialogsList { start, end } => dialogs(&st, &me, start, end).await,
        Call::MarkMessagesWithUserAsRead { sender } => {
            if let Some(peer) = dm_peer(&st, sender.as_deref()).await? {
                let addr = format!("@{}", peer.handle);
                match st.mark_read(me.id, &addr, i64::MAX).await {
                    Ok(_) => {}
                    // No conversation with that user: nothing to mark, as in the seed.
                    Err(e) if e.kind == ErrorKind::NotFound => {}
                    Err(e) => return Err(invalid_or_server(e)),
                }
            }
            json(&wire::OK)
        }
        Call::FindUsersByTag { query } => {
            let needle = query.strip_prefix('@').unwrap_or(&query).to_lowercase();
            let found = store(st.store.search_users(&needle, SEARCH_SCAN).await)?;
            let matches: Vec<&User> = found
                .iter()
                .filter(|u| u.id != me.id && u.handle.contains(&needle))
                .take(FIND_LIMIT)
                .collect();
            let ids: Vec<UserId> = matches.iter().map(|u| u.id).collect();
            let present = st.online(&ids).await;
            let users: Vec<UserOnline> = matches.into_iter().map(|u| online(u, &present)).collect();
            json(&users)
        }
    }
}

async fn current(st: &AppState, id: UserId) -> Result<User, RpcError> {
    store(st.store.user(id).await)?.ok_or(RpcError::Server)
}

fn online(user: &User, present: &HashSet<UserId>) -> UserOnline {
    UserOnline {
        user: UserInfo::of(user),
        is_online: present.contains(&user.id),
    }
}

/// The user a tag names, if any.
async fn dm_peer(st: &AppState, tag: Option<&str>) -> Result<Option<User>, RpcError> {
    let handle = tag.map(handle_of).unwrap_or_default();
    if handle.is_empty() {
        return Ok(None);
    }
    store(st.store.user_by_handle(&handle).await)
}

async fn set_self_info(s: &Session, first: String, last: String, img: String) -> CallResult {
    let st = &s.state;
    let user = current(st, s.me.id).await?;
    let (old_first, old_last) = split_name(&user.display_name);
    let old_img = wire::img_of(&user);
    let first = if first.is_empty() {
        old_first.clone()
    } else {
        first
    };
    let last = if last.is_empty() {
        old_last.clone()
    } else {
        last
    };
    let img = if img.is_empty() { old_img.clone() } else { img };
    if img != old_img && img != DEFAULT_IMG && !uploaded(st, &img).await {
        return Err(RpcError::InvalidParams);
    }
    let names_changed = first != old_first || last != old_last;
    if !names_changed && img == old_img {
        return Err(RpcError::InvalidParams);
    }
    let display_name = names_changed.then(|| join_name(&first, &last));
    let avatar_url = (img != old_img).then(|| match img.as_str() {
        DEFAULT_IMG => String::new(),
        name => format!("{}{name}", s.img_base),
    });
    let updated = st
        .update_profile(user.id, display_name, avatar_url, None)
        .await
        .map_err(invalid_or_server)?;
    json(&UserInfo::of(&updated))
}

/// Whether `name` is a file this dialect stored.
async fn uploaded(st: &AppState, name: &str) -> bool {
    if !is_upload_name(name) {
        return false;
    }
    let path = Path::new(&st.settings.dialects.messenger_upload_dir).join(name);
    super::blocking(move || std::fs::metadata(path))
        .await
        .is_ok_and(|m| m.is_file())
}

/// The read marker of `user` in `conv`.
async fn marker(st: &AppState, user: UserId, conv: &Conversation) -> Result<i64, RpcError> {
    let dialogs = store(st.store.dialogs(user).await)?;
    Ok(dialogs
        .iter()
        .find(|d| d.conversation.id == conv.id)
        .map(|d| d.last_read_seq)
        .unwrap_or(0))
}

async fn messages_with(st: &AppState, me: &User, tag: &str, start: u64, end: u64) -> CallResult {
    let empty: [HistoryMessage; 0] = [];
    let Some(peer) = dm_peer(st, Some(tag)).await? else {
        return json(&empty);
    };
    let conv = store(st.store.find_direct_conversation(me.id, peer.id).await)?;
    let Some(conv) = conv.filter(|c| c.kind == ConversationKind::Dm) else {
        return json(&empty);
    };
    let skip = i64::try_from(start).unwrap_or(i64::MAX);
    if skip >= conv.last_seq {
        return json(&empty);
    }
    let limit = (end - start).min(MAX_PAGE) as u32;
    let mut page = st
        .messages_page(&conv, Some(conv.last_seq - skip + 1), None, limit)
        .await
        .map_err(server)?;
    page.reverse();
    let mine = marker(st, me.id, &conv).await?;
    let theirs = marker(st, peer.id, &conv).await?;
    let out: Vec<HistoryMessage> = page
        .iter()
        .map(|m| {
            let (receiver, read_up_to) = if m.sender == me.id {
                (&peer, theirs)
            } else {
                (me, mine)
            };
            HistoryMessage::of(m, &receiver.handle, m.seq <= read_up_to)
        })
        .collect();
    json(&out)
}

async fn dialogs(st: &AppState, me: &User, start: u64, end: u64) -> CallResult {
    let all = store(st.store.dialogs(me.id).await)?;
    let peers: Vec<UserId> = all
        .iter()
        .filter_map(|d| d.peer.as_ref().map(|p| p.id))
        .collect();
    let present = st.online(&peers).await;
    let entries: Vec<DialogEntry> = all
        .iter()
        .filter(|d| d.conversation.kind == ConversationKind::Dm)
        .filter_map(|d| Some((d, d.peer.as_ref()?, d.last_message.as_ref()?)))
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(end - start).unwrap_or(usize::MAX))
        .map(|(d, peer, m)| {
            let receiver = if m.sender == me.id { peer } else { me };
            DialogEntry {
                id: d.conversation.id.0.to_string(),
                sender_tag: wire::tag(&m.sender_handle),
                receiver_tag: wire::tag(&receiver.handle),
                date: wire::iso(m.ts),
                text: m.text.clone(),
                unread_count: d.unread,
                user_info: online(peer, &present),
            }
        })
        .collect();
    json(&entries)
}
