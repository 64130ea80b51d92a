//! Read-only queries: users, conversations, listings, dialogs and history.

use crate::db;
use crate::error::Result;
use crate::rows::{self, CONV_WIDTH, USER_WIDTH, conv_cols, event_cols, user_cols};
use deadpool_postgres::Object;
use palaver_core::{Conversation, ConversationId, ConversationKind, Message, User, UserId};
use palaver_store::{Dialog, Head, HistoryQuery, RoomListing};

pub(crate) async fn user_by_handle(c: &Object, handle: &str) -> Result<Option<User>> {
    const SQL: &str = concat!("SELECT ", user_cols!(), " FROM users u WHERE u.handle = $1");
    db::query_opt(c, SQL, &[&handle])
        .await?
        .map(|r| rows::user(&r, 0))
        .transpose()
}

pub(crate) async fn room_by_name(c: &Object, name: &str) -> Result<Option<Conversation>> {
    const SQL: &str = concat!(
        "SELECT ",
        conv_cols!(),
        " FROM conversations c WHERE c.name = $1 AND c.destroyed_at IS NULL AND c.kind <> 'dm'"
    );
    db::query_opt(c, SQL, &[&name])
        .await?
        .map(|r| rows::conversation(&r, 0))
        .transpose()
}

pub(crate) async fn members(c: &Object, id: ConversationId) -> Result<Vec<User>> {
    const SQL: &str = concat!(
        "SELECT ",
        user_cols!(),
        " FROM members m JOIN users u ON u.id = m.user_id \
         WHERE m.conversation_id = $1 ORDER BY u.handle"
    );
    db::query(c, SQL, &[&id.0])
        .await?
        .iter()
        .map(|r| rows::user(r, 0))
        .collect()
}

pub(crate) async fn conversation_ids(c: &Object, user: UserId) -> Result<Vec<ConversationId>> {
    const SQL: &str = "SELECT m.conversation_id FROM members m \
         JOIN conversations c ON c.id = m.conversation_id \
         WHERE m.user_id = $1 AND c.destroyed_at IS NULL ORDER BY m.conversation_id";
    db::query(c, SQL, &[&user.0])
        .await?
        .iter()
        .map(|r| Ok(ConversationId(r.try_get(0)?)))
        .collect()
}

pub(crate) async fn conversation_heads(c: &Object, user: UserId) -> Result<Vec<Head>> {
    const SQL: &str = "SELECT c.id, c.last_seq, \
           (SELECT COUNT(*) FROM members n WHERE n.conversation_id = c.id) \
         FROM members m JOIN conversations c ON c.id = m.conversation_id \
         WHERE m.user_id = $1 AND c.destroyed_at IS NULL ORDER BY c.id";
    db::query(c, SQL, &[&user.0])
        .await?
        .iter()
        .map(|r| {
            Ok(Head {
                conversation: ConversationId(r.try_get(0)?),
                last_seq: r.try_get(1)?,
                members: r.try_get(2)?,
            })
        })
        .collect()
}

pub(crate) async fn list_rooms(c: &Object, user: UserId) -> Result<Vec<RoomListing>> {
    const SQL: &str = concat!(
        "SELECT ",
        conv_cols!(),
        ", (SELECT COUNT(*) FROM members n WHERE n.conversation_id = c.id), \
           EXISTS (SELECT 1 FROM members j WHERE j.conversation_id = c.id AND j.user_id = $1) \
         FROM conversations c \
         WHERE c.destroyed_at IS NULL AND (c.kind = 'channel' OR (c.kind = 'group' AND \
           EXISTS (SELECT 1 FROM members g WHERE g.conversation_id = c.id AND g.user_id = $1))) \
         ORDER BY c.name"
    );
    db::query(c, SQL, &[&user.0])
        .await?
        .iter()
        .map(|r| {
            Ok(RoomListing {
                room: rows::conversation(r, 0)?,
                member_count: r.try_get(CONV_WIDTH)?,
                joined: r.try_get(CONV_WIDTH + 1)?,
            })
        })
        .collect()
}

pub(crate) async fn dialogs(c: &Object, user: UserId) -> Result<Vec<Dialog>> {
    // Columns: conversation (7), last_read_seq, last_activity, last message (9), peer (6).
    const SQL: &str = concat!(
        "SELECT ",
        conv_cols!(),
        ", m.last_read_seq, c.last_activity, \
           e.pos, e.conversation_id, e.kind, e.seq, e.actor_id, eu.handle, e.body, e.ts, \
           e.client_id, p.id, p.handle, p.display_name, p.avatar_url, p.status_text, \
           p.created_at \
         FROM members m JOIN conversations c ON c.id = m.conversation_id \
         LEFT JOIN events e ON e.conversation_id = c.id AND e.seq = c.last_seq \
         LEFT JOIN users eu ON eu.id = e.actor_id \
         LEFT JOIN LATERAL (SELECT u.* FROM members pm JOIN users u ON u.id = pm.user_id \
           WHERE c.kind = 'dm' AND pm.conversation_id = c.id AND pm.user_id <> $1 \
           LIMIT 1) p ON TRUE \
         WHERE m.user_id = $1 AND c.destroyed_at IS NULL \
         ORDER BY c.last_activity DESC, c.id DESC"
    );
    let message_at = CONV_WIDTH + 2;
    let peer_at = message_at + 9;
    let mut dialogs = Vec::new();
    for r in db::query(c, SQL, &[&user.0]).await? {
        let conversation = rows::conversation(&r, 0)?;
        let last_read_seq: i64 = r.try_get(CONV_WIDTH)?;
        let last_activity: i64 = r.try_get(CONV_WIDTH + 1)?;
        let last_message = match r.try_get::<_, Option<i64>>(message_at)? {
            Some(_) => rows::event_row(&r, message_at)?.into_message(),
            None => None,
        };
        let peer = match r.try_get::<_, Option<i64>>(peer_at)? {
            Some(_) if conversation.kind == ConversationKind::Dm => Some(rows::user(&r, peer_at)?),
            _ => None,
        };
        debug_assert_eq!(peer_at + USER_WIDTH, r.len());
        dialogs.push(Dialog {
            unread: (conversation.last_seq - last_read_seq).max(0),
            conversation,
            peer,
            last_message,
            last_read_seq,
            last_activity,
        });
    }
    Ok(dialogs)
}

pub(crate) async fn history(c: &Object, q: HistoryQuery) -> Result<Vec<Message>> {
    macro_rules! window {
        () => {
            concat!(
                "SELECT ",
                event_cols!(),
                " FROM events e JOIN users u ON u.id = e.actor_id \
                 WHERE e.conversation_id = $1 AND e.seq > $2 AND e.seq < $3"
            )
        };
    }
    const OLDEST: &str = concat!(window!(), " ORDER BY e.seq ASC LIMIT $4");
    const NEWEST: &str = concat!(window!(), " ORDER BY e.seq DESC LIMIT $4");
    let before = q.before_seq.unwrap_or(i64::MAX);
    let (sql, lower) = match q.after_seq {
        Some(after) => (OLDEST, after),
        None => (NEWEST, 0),
    };
    let limit = i64::from(q.limit);
    let mut messages = Vec::new();
    for r in db::query(c, sql, &[&q.conversation.0, &lower, &before, &limit]).await? {
        if let Some(m) = rows::event_row(&r, 0)?.into_message() {
            messages.push(m);
        }
    }
    if q.after_seq.is_none() {
        messages.reverse();
    }
    Ok(messages)
}
