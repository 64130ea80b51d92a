//! Native mode's bench users and their world, created once and cached in a state file.
//!
//! Signing up costs an argon2id hash (~30 ms of a core, `auth.hash_concurrency` at a time), so
//! thousands of users take minutes. `palaver-bench setup` (or any native workload that finds
//! too few) signs up `{prefix}u{i}`, keeps their tokens in `--state`, and records the rooms,
//! groups and direct conversations already made, so later runs against the same database only
//! connect. Memberships are made with a few short-lived connections, so the `member.joined`
//! of each join reaches almost nobody (joining over N live connections is O(N²) frames).

use super::dialect::{Proto, Target};
use super::progress::Progress;
use super::wire::{self, Ws};
use anyhow::{Context, Result, bail};
use futures_util::stream::{self, StreamExt};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const PASSWORD: &str = "palaver-bench load";

#[derive(Default)]
pub struct State {
    path: PathBuf,
    pub prefix: String,
    /// `(handle, token)` of user `i`.
    pub users: Vec<(String, String)>,
    /// Channel name → (conversation id, users `from..to` have joined).
    pub rooms: BTreeMap<String, (i64, usize, usize)>,
    /// Conversation id of the direct conversation of users `2p` and `2p + 1`.
    pub dms: Vec<i64>,
    /// Conversation id of group `g` (users `10g .. 10g + 10`).
    pub groups: Vec<i64>,
}

/// One JSON-RPC call on a raw connection; the parsed response's `result`.
pub async fn call(ws: &mut Ws, id: &str, method: &str, params: Value) -> Result<Value> {
    let frame = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id});
    ws.queue_text(frame.to_string().as_bytes());
    let needle = format!("\"id\":\"{id}\"");
    let f = ws.recv_containing(needle.as_bytes()).await?;
    let v: Value = serde_json::from_slice(ws.payload(&f)).context("reply is not JSON")?;
    if let Some(e) = v.get("error") {
        bail!("{method}: {e}");
    }
    Ok(v["result"].clone())
}

impl State {
    pub fn load(path: &Path) -> Result<Self> {
        let mut s = State {
            path: path.to_owned(),
            prefix: "pb".to_owned(),
            ..State::default()
        };
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(s);
        };
        let v: Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        s.prefix = v["prefix"].as_str().unwrap_or("pb").to_owned();
        for u in v["users"].as_array().into_iter().flatten() {
            s.users.push((
                u[0].as_str().unwrap_or_default().to_owned(),
                u[1].as_str().unwrap_or_default().to_owned(),
            ));
        }
        for (name, r) in v["rooms"].as_object().into_iter().flatten() {
            s.rooms.insert(
                name.clone(),
                (
                    r[0].as_i64().unwrap_or(0),
                    r[1].as_u64().unwrap_or(0) as usize,
                    r[2].as_u64().unwrap_or(0) as usize,
                ),
            );
        }
        let ids = |k: &str| -> Vec<i64> {
            v[k].as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_i64)
                .collect()
        };
        s.dms = ids("dms");
        s.groups = ids("groups");
        Ok(s)
    }

    pub fn save(&self) -> Result<()> {
        let rooms: serde_json::Map<String, Value> = self
            .rooms
            .iter()
            .map(|(k, (id, from, to))| (k.clone(), json!([id, from, to])))
            .collect();
        let v = json!({
            "prefix": self.prefix,
            "users": self.users.iter().map(|(h, t)| json!([h, t])).collect::<Vec<_>>(),
            "rooms": rooms,
            "dms": self.dms,
            "groups": self.groups,
        });
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, v.to_string())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("writing {}", self.path.display()))
    }

    pub fn token(&self, i: usize) -> Option<String> {
        self.users.get(i).map(|(_, t)| t.clone())
    }

    /// A connection of user `i` (no room joined).
    pub async fn connect(&self, target: &Target, i: usize) -> Result<Ws> {
        let stream = wire::tcp(target.addr, None).await?;
        let path = target.path("", self.token(i).as_deref());
        Ws::handshake(stream, &target.host, &path, 4096)
            .await
            .with_context(|| {
                format!(
                    "user {i}: is {} from another database? delete it and run setup again",
                    self.path.display()
                )
            })
    }

    /// Signs up users until there are `n` (a handle taken by an earlier, lost state file is
    /// logged in instead).
    pub async fn ensure_users(
        &mut self,
        target: &Target,
        n: usize,
        concurrency: usize,
        progress: &Progress,
    ) -> Result<()> {
        if self.users.len() >= n {
            return Ok(());
        }
        progress.phase("signing up", (n - self.users.len()) as u64);
        let base = target.base.clone();
        while self.users.len() < n {
            let from = self.users.len();
            let to = n.min(from + 500);
            let jobs = (from..to).map(|i| {
                let handle = format!("{}u{i}", self.prefix);
                let base = base.clone();
                async move {
                    let r = palaver_client::http::signup(&base, &handle, PASSWORD, None).await?;
                    let r = if r.status == 409 {
                        palaver_client::http::login(&base, &handle, PASSWORD).await?
                    } else {
                        r
                    };
                    progress.add(1);
                    match r.body["token"].as_str() {
                        Some(t) => Ok((handle, t.to_owned())),
                        None => bail!("signing up @{handle}: HTTP {} {}", r.status, r.text),
                    }
                }
            });
            let done: Vec<Result<(String, String)>> = stream::iter(jobs)
                .buffered(concurrency.max(1))
                .collect()
                .await;
            for d in done {
                self.users.push(d?);
            }
            self.save()?;
        }
        progress.finish();
        Ok(())
    }

    /// Makes channel `name` exist with users `from..to` in it; returns its id.
    pub async fn ensure_room(
        &mut self,
        target: &Target,
        name: &str,
        from: usize,
        to: usize,
        progress: &Progress,
    ) -> Result<i64> {
        let (mut id, have_from, have_to) = self.rooms.get(name).copied().unwrap_or((0, 0, 0));
        if have_from <= from && to <= have_to {
            return Ok(id);
        }
        if id == 0 {
            let mut ws = self.connect(target, from).await?;
            let params = json!({"name": name, "kind": "channel"});
            id = match call(&mut ws, "c", "rooms.create", params).await {
                Ok(room) => room["id"].as_i64().context("rooms.create: no id")?,
                Err(_) => call(
                    &mut ws,
                    "j",
                    "rooms.join",
                    json!({"room": format!("#{name}")}),
                )
                .await?["id"]
                    .as_i64()
                    .context("rooms.join: no id")?,
            };
        }
        // Users already in (a contiguous range) are skipped.
        let missing: Vec<usize> = (from..to)
            .filter(|i| !(have_from..have_to).contains(i))
            .collect();
        progress.phase(&format!("joining #{name}"), missing.len() as u64);
        let me = &*self;
        let joins = missing.into_iter().map(|i| async move {
            let mut ws = me.connect(target, i).await?;
            call(&mut ws, "j", "rooms.join", json!({ "room": id })).await?;
            progress.add(1);
            Ok::<_, anyhow::Error>(())
        });
        let results: Vec<Result<()>> = stream::iter(joins).buffer_unordered(16).collect().await;
        for r in results {
            r?;
        }
        progress.finish();
        let (f, t) = if have_to < from || to < have_from || have_to == 0 {
            (from, to)
        } else {
            (from.min(have_from), to.max(have_to))
        };
        self.rooms.insert(name.to_owned(), (id, f, t));
        self.save()?;
        Ok(id)
    }

    /// Makes the direct conversations of pairs `0..pairs` exist (users `2p`, `2p + 1`).
    pub async fn ensure_dms(
        &mut self,
        target: &Target,
        pairs: usize,
        progress: &Progress,
    ) -> Result<()> {
        if self.dms.len() >= pairs {
            return Ok(());
        }
        progress.phase(
            "creating direct conversations",
            (pairs - self.dms.len()) as u64,
        );
        let me = &*self;
        let jobs = (self.dms.len()..pairs).map(|p| async move {
            let mut ws = me.connect(target, 2 * p).await?;
            let peer = format!("@{}", me.users[2 * p + 1].0);
            let sent = call(
                &mut ws,
                "d",
                "messages.send",
                json!({"to": peer, "text": "hello"}),
            )
            .await?;
            progress.add(1);
            sent["conversation"]
                .as_i64()
                .context("messages.send: no conversation")
        });
        let ids: Vec<Result<i64>> = stream::iter(jobs).buffered(16).collect().await;
        for id in ids {
            self.dms.push(id?);
        }
        progress.finish();
        self.save()
    }

    /// Makes groups `0..count` of 10 members exist (group `g` owned by user `10g`).
    pub async fn ensure_groups(
        &mut self,
        target: &Target,
        count: usize,
        progress: &Progress,
    ) -> Result<()> {
        if self.groups.len() >= count {
            return Ok(());
        }
        progress.phase("creating groups", (count - self.groups.len()) as u64);
        let prefix = self.prefix.clone();
        let me = &*self;
        let jobs = (self.groups.len()..count).map(|g| {
            let prefix = prefix.clone();
            async move {
                let mut ws = me.connect(target, 10 * g).await?;
                let members: Vec<String> = (1..10)
                    .map(|k| format!("@{}", me.users[10 * g + k].0))
                    .collect();
                let name = format!("{prefix}-g{g}");
                let params = json!({"name": name, "kind": "group", "members": members});
                let id = match call(&mut ws, "g", "rooms.create", params).await {
                    Ok(room) => room["id"].as_i64(),
                    Err(_) => call(&mut ws, "l", "rooms.list", json!({}))
                        .await?
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|r| r["name"] == json!(name))
                        .and_then(|r| r["id"].as_i64()),
                };
                progress.add(1);
                id.with_context(|| format!("group {name}: no id"))
            }
        });
        let ids: Vec<Result<i64>> = stream::iter(jobs).buffered(8).collect().await;
        for id in ids {
            self.groups.push(id?);
        }
        progress.finish();
        self.save()
    }
}

/// Native workloads need the state; other protocols need none.
pub fn needs_state(proto: Proto) -> bool {
    proto == Proto::Native
}
