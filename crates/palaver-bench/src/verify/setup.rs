//! Before the first message: sign the users up, create the channels, have every user join
//! them, and take each user's first `sync` token, so that every message of the run is after
//! every token.

use anyhow::{Context, Result, bail};
use palaver_client::{Client, http};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How often a user's joins are attempted, and the pause between attempts.
const SETUP_ATTEMPTS: u32 = 5;
const SETUP_PAUSE: Duration = Duration::from_millis(200);
/// The password of every simulated user.
const PASSWORD: &str = "palaver-bench verify";

/// A signed-up user, connected, joined and holding its first token.
pub struct Ready {
    pub token: String,
    pub client: Client,
    pub sync_token: String,
}

pub struct World {
    pub handles: Vec<String>,
    pub channels: Vec<(i64, String)>,
    pub users: Vec<Ready>,
}

/// `http://host:port` → `ws://host:port/ws`.
pub fn ws_url(base: &str) -> Result<String> {
    let rest = base
        .trim_end_matches('/')
        .strip_prefix("http://")
        .context("--url must start with http://")?;
    Ok(format!("ws://{rest}/ws"))
}

/// Runs `f(i)` for `0..n`, at most `limit` at a time; results in index order.
async fn for_each<T, F, Fut>(n: usize, limit: usize, f: F) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limit.max(1)));
    let mut set = JoinSet::new();
    for i in 0..n {
        let permits = permits.clone();
        let work = f(i);
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (i, work.await)
        });
    }
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (i, result) = joined.context("a setup task panicked")?;
        out[i] = Some(result?);
    }
    out.into_iter()
        .map(|t| t.context("a setup task vanished"))
        .collect()
}

async fn signup(base: String, handle: String) -> Result<String> {
    let r = http::signup(&base, &handle, PASSWORD, None)
        .await
        .with_context(|| format!("signing up @{handle}"))?;
    if r.status != 201 {
        bail!("signing up @{handle}: HTTP {}: {}", r.status, r.text);
    }
    r.body["token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("signing up @{handle}: no token in {}", r.text))
}

async fn call(client: &mut Client, method: &str, params: Value) -> Result<Value> {
    client
        .call(method, params)
        .await
        .with_context(|| format!("{method} during setup"))
}

/// Connects, joins every channel and takes the first token.
async fn join_all(ws: &str, token: &str, names: &[String]) -> Result<Ready> {
    let mut client = Client::connect_with_token(ws, token)
        .await
        .context("connecting")?;
    for name in names {
        call(
            &mut client,
            "rooms.join",
            json!({ "room": format!("#{name}") }),
        )
        .await?;
    }
    let first = call(&mut client, "sync", json!({})).await?;
    let sync_token = first["next"]
        .as_str()
        .with_context(|| format!("sync {{}}: no token in {first}"))?
        .to_owned();
    // Setup chatter (joins, presence) is not what the run checks.
    let _ = client.drain_notifications();
    Ok(Ready {
        token: token.to_owned(),
        client,
        sync_token,
    })
}

/// Creates the run's world. Handles are `{prefix}-u{i}`, channels `{prefix}-r{i}`. User `i`
/// signs up and joins on server `i % bases.len()`.
pub async fn build(
    bases: &[String],
    prefix: &str,
    users: usize,
    rooms: usize,
    concurrency: usize,
) -> Result<World> {
    if bases.is_empty() {
        bail!("no server to run against");
    }
    let ws_urls = bases
        .iter()
        .map(|b| ws_url(b))
        .collect::<Result<Vec<_>>>()?;
    let handles: Vec<String> = (0..users).map(|i| format!("{prefix}-u{i}")).collect();
    let tokens = for_each(users, concurrency, |i| {
        signup(bases[i % bases.len()].clone(), handles[i].clone())
    })
    .await?;

    let mut owner = Client::connect_with_token(&ws_urls[0], &tokens[0])
        .await
        .context("connecting the first user")?;
    let mut channels = Vec::new();
    for r in 0..rooms {
        let name = format!("{prefix}-r{r}");
        let room = call(
            &mut owner,
            "rooms.create",
            json!({ "name": name, "kind": "channel" }),
        )
        .await?;
        let id = room["id"]
            .as_i64()
            .with_context(|| format!("rooms.create: no id in {room}"))?;
        channels.push((id, name));
    }
    drop(owner);

    let names: Arc<Vec<String>> = Arc::new(channels.iter().map(|(_, n)| n.clone()).collect());
    let ready = for_each(users, concurrency, |i| {
        let ws = ws_urls[i % ws_urls.len()].clone();
        let (token, names) = (tokens[i].clone(), names.clone());
        async move {
            // Joining is idempotent, so a connection lost on the way (say, closed as too
            // slow while every join is announced to everyone) is simply tried again.
            let mut attempt = 1;
            loop {
                match join_all(&ws, &token, &names).await {
                    Ok(ready) => return Ok(ready),
                    Err(e) if attempt >= SETUP_ATTEMPTS => {
                        return Err(e.context(format!("user {i}")));
                    }
                    Err(_) => tokio::time::sleep(SETUP_PAUSE).await,
                }
                attempt += 1;
            }
        }
    })
    .await?;
    Ok(World {
        handles,
        channels,
        users: ready,
    })
}
