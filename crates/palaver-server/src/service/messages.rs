//! Use cases of messages: send, history, read markers, typing.

use super::{Result, store_err};
use crate::AppState;
use crate::clock::now_ms;
use palaver_core::recent::{Lookup, RecentMessages, page_range};
use palaver_core::{
    Conversation, CoreError, ErrorKind, Event, EventBody, Message, User, UserId, policy, validate,
};
use palaver_proto::native::EncodedMessage;
use palaver_store::{Appended, HistoryQuery, NewMessage, StoreError};
use std::sync::Arc;

/// One message a client asks to send.
pub struct Outgoing {
    /// The address: `#room`, `@handle` or a conversation id.
    pub to: String,
    pub text: String,
    pub client_id: Option<String>,
}

impl AppState {
    pub async fn send_message(
        &self,
        actor: &User,
        to: &str,
        text: String,
        client_id: Option<String>,
    ) -> Result<Appended> {
        let one = Outgoing {
            to: to.to_owned(),
            text,
            client_id,
        };
        self.send_messages(actor, vec![one])
            .await
            .pop()
            .unwrap_or_else(|| Err(CoreError::internal()))
    }

    /// Sends messages of one sender, in order, each with its own outcome: they are stored
    /// together (one commit where the store can) and then published in order, so that a
    /// burst of sends reaches each recipient as one burst of frames.
    pub async fn send_messages(&self, actor: &User, sends: Vec<Outgoing>) -> Vec<Result<Appended>> {
        // Addresses resolved so far in this burst (usually one).
        let mut known: Vec<(String, Conversation)> = Vec::new();
        let mut prepared = Vec::with_capacity(sends.len());
        let mut batch = Vec::with_capacity(sends.len());
        for send in sends {
            match self.prepare_send(actor, &send, &mut known).await {
                Ok(conv) => {
                    batch.push(NewMessage {
                        conversation: conv.id,
                        sender: actor.id,
                        text: send.text,
                        client_id: send.client_id,
                        ts: now_ms(),
                    });
                    prepared.push(Ok(conv));
                }
                Err(e) => prepared.push(Err(e)),
            }
        }
        let mut stored = self.store.append_messages(batch).await.into_iter();
        let mut out = Vec::with_capacity(prepared.len());
        for conv in prepared {
            let result = match conv {
                Err(e) => Err(e),
                Ok(conv) => match stored.next() {
                    Some(Ok(appended)) => self.publish_appended(&conv, appended).await,
                    // The store checks membership inside the transaction; a refusal is worded
                    // by the rule for the conversation's kind (a private one does not admit
                    // it exists).
                    Some(Err(StoreError::Domain(refused)))
                        if refused.kind == ErrorKind::Forbidden =>
                    {
                        Err(policy::require_member(&conv, false)
                            .err()
                            .unwrap_or(refused))
                    }
                    Some(Err(other)) => Err(store_err(other)),
                    None => Err(CoreError::internal()),
                },
            };
            out.push(result);
        }
        out
    }

    async fn prepare_send(
        &self,
        actor: &User,
        send: &Outgoing,
        known: &mut Vec<(String, Conversation)>,
    ) -> Result<Conversation> {
        validate::message_text(&send.text, self.settings.limits.max_text_bytes)?;
        if let Some(id) = &send.client_id {
            validate::client_id(id)?;
        }
        if let Some((_, conv)) = known.iter().find(|(to, _)| *to == send.to) {
            return Ok(conv.clone());
        }
        let conv = self
            .conversation_by_address(actor.id, &send.to, true)
            .await?;
        known.push((send.to.clone(), conv.clone()));
        Ok(conv)
    }

    /// Publishes a newly stored message (a retried one was published the first time).
    async fn publish_appended(&self, conv: &Conversation, appended: Appended) -> Result<Appended> {
        if !appended.duplicate {
            let m = appended.message.clone();
            let event = Event {
                pos: Some(appended.pos),
                ts: m.ts,
                body: EventBody::Message(m),
            };
            self.publish_in(event, conv).await?;
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
    ) -> Result<(Vec<Arc<EncodedMessage>>, bool)> {
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
            .messages_page(&conv, before_seq, after_seq, limit + 1)
            .await?;
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

    /// Up to `limit` messages of `conv`, oldest first: those after `after_seq`, else the
    /// newest before `before_seq`, else the newest, as of `conv.last_seq` (the caller has
    /// just read `conv`). From the cache of recent messages when it holds them all, else
    /// from the store; a newest page read from the store is cached.
    pub(crate) async fn messages_page(
        &self,
        conv: &Conversation,
        before_seq: Option<i64>,
        after_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Arc<EncodedMessage>>> {
        let Some((lo, hi)) = page_range(conv.last_seq, before_seq, after_seq, limit) else {
            return Ok(Vec::new());
        };
        let mut extended = false;
        loop {
            let found = self.recent().range(conv.id, lo, hi);
            match found {
                Lookup::Hit(page) => return Ok(page),
                Lookup::Behind { after } if !extended => {
                    // Only the messages stored since the cached ones.
                    let newer = self
                        .store
                        .history(HistoryQuery {
                            conversation: conv.id,
                            before_seq: None,
                            after_seq: Some(after),
                            limit: u32::try_from(hi - after).unwrap_or(u32::MAX),
                        })
                        .await
                        .map_err(store_err)?;
                    let newer: Vec<_> = newer.into_iter().map(encoded).collect();
                    self.recent().remember(conv.id, &newer);
                    extended = true;
                }
                _ => break,
            }
        }
        let page: Vec<_> = self
            .store
            .history(HistoryQuery {
                conversation: conv.id,
                before_seq: Some(hi + 1),
                after_seq: None,
                limit: u32::try_from(hi - lo + 1).unwrap_or(u32::MAX),
            })
            .await
            .map_err(store_err)?
            .into_iter()
            .map(encoded)
            .collect();
        if hi == conv.last_seq {
            self.recent().remember(conv.id, &page);
        }
        Ok(page)
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, RecentMessages<EncodedMessage>> {
        self.recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

/// A message read from the store, as the cache and the pages hold it.
fn encoded(message: Message) -> Arc<EncodedMessage> {
    Arc::new(EncodedMessage::new(message))
}
