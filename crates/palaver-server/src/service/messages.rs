//! Use cases of messages: send, history, read markers, typing.

use super::{Result, store_err};
use crate::AppState;
use crate::clock::now_ms;
use palaver_core::{
    Conversation, CoreError, ErrorKind, Event, EventBody, User, UserId, policy, validate,
};
use palaver_store::{Appended, HistoryQuery, NewMessage, StoreError};

impl AppState {
    pub async fn send_message(
        &self,
        actor: &User,
        to: &str,
        text: String,
        client_id: Option<String>,
    ) -> Result<Appended> {
        validate::message_text(&text, self.settings.limits.max_text_bytes)?;
        if let Some(id) = &client_id {
            validate::client_id(id)?;
        }
        let conv = self.conversation_by_address(actor.id, to, true).await?;
        // The store checks membership inside the transaction; a refusal is worded by the rule
        // for the conversation's kind (a private one does not admit it exists).
        let appended = self
            .store
            .append_message(NewMessage {
                conversation: conv.id,
                sender: actor.id,
                text,
                client_id,
                ts: now_ms(),
            })
            .await
            .map_err(|e| match e {
                StoreError::Domain(refused) if refused.kind == ErrorKind::Forbidden => {
                    policy::require_member(&conv, false)
                        .err()
                        .unwrap_or(refused)
                }
                other => store_err(other),
            })?;
        if !appended.duplicate {
            let m = appended.message.clone();
            let event = Event {
                pos: Some(appended.pos),
                ts: m.ts,
                body: EventBody::Message(m),
            };
            self.publish_in(event, &conv).await?;
        }
        Ok(appended)
    }

    /// A window of history and whether there is more beyond it.
    pub async fn history(
        &self,
        actor: UserId,
        conversation: &str,
        before_seq: Option<i64>,
        after_seq: Option<i64>,
        limit: Option<u32>,
    ) -> Result<(Vec<palaver_core::Message>, bool)> {
        let max = self.settings.limits.history_max_limit;
        let limit = limit.unwrap_or(50.min(max));
        if limit == 0 || limit > max {
            return Err(CoreError::invalid(format!("limit must be 1 to {max}")));
        }
        if before_seq.is_some() && after_seq.is_some() {
            return Err(CoreError::invalid("give before_seq or after_seq, not both"));
        }
        let conv = self
            .conversation_by_address(actor, conversation, false)
            .await?;
        self.require_member(&conv, actor).await?;
        let mut messages = self
            .store
            .history(HistoryQuery {
                conversation: conv.id,
                before_seq,
                after_seq,
                limit: limit + 1,
            })
            .await
            .map_err(store_err)?;
        let has_more = messages.len() > limit as usize;
        if has_more {
            if after_seq.is_some() {
                messages.truncate(limit as usize);
            } else {
                messages.remove(0);
            }
        }
        Ok((messages, has_more))
    }

    /// Moves a read marker; returns the conversation, the marker and the unread count.
    pub async fn mark_read(
        &self,
        actor: UserId,
        conversation: &str,
        seq: i64,
    ) -> Result<(Conversation, i64, i64)> {
        let conv = self
            .conversation_by_address(actor, conversation, false)
            .await?;
        self.require_member(&conv, actor).await?;
        let moved = self
            .store
            .mark_read(conv.id, actor, seq, now_ms())
            .await
            .map_err(store_err)?;
        let marker = match &moved {
            Some(Event {
                body: EventBody::Read { seq, .. },
                ..
            }) => *seq,
            _ => self
                .store
                .dialogs(actor)
                .await
                .map_err(store_err)?
                .into_iter()
                .find(|d| d.conversation.id == conv.id)
                .map(|d| d.last_read_seq)
                .unwrap_or(0),
        };
        if let Some(event) = moved {
            self.publish_in(event, &conv).await?;
        }
        let last_seq = conv.last_seq.max(marker);
        Ok((conv, marker, last_seq - marker))
    }

    pub async fn typing(&self, actor: &User, conversation: &str) -> Result<()> {
        let conv = self
            .conversation_by_address(actor.id, conversation, false)
            .await?;
        self.require_member(&conv, actor.id).await?;
        let event = Event {
            pos: None,
            ts: now_ms(),
            body: EventBody::Typing {
                conversation: conv.id,
                user: actor.id,
                handle: actor.handle.clone(),
            },
        };
        self.publish_in(event, &conv).await
    }
}
