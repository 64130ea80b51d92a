//! Configuration: defaults, then a TOML file, then `PALAVER_*` environment variables, then
//! command-line flags, validated into `Settings` before anything starts.

use anyhow::{Result, anyhow};
use clap::Args;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use palaver_server::Settings;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Database URL: sqlite://PATH or postgres://… [default: sqlite://palaver.db].
    #[arg(long)]
    pub database: Option<String>,
    /// The bus shared with other nodes: nats://HOST:PORT [default: none, a single node].
    #[arg(long)]
    pub bus: Option<String>,
    /// This node's name in a cluster [default: generated].
    #[arg(long)]
    pub node_name: Option<String>,
    /// A TOML configuration file (see `palaver config example`).
    #[arg(long, env = "PALAVER_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The top-level setting names, as `PALAVER_<NAME>` environment variables may start.
fn setting_names() -> Vec<String> {
    match serde_json::to_value(Settings::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Whether `PALAVER_<key>` names a setting (figment hands the key as written, upper case).
fn is_setting(key: &str, names: &[String]) -> bool {
    let key = key.to_ascii_lowercase();
    // Figment may hand the key before or after mapping `__` to `.`.
    let top = key
        .split("__")
        .next()
        .unwrap_or_default()
        .split('.')
        .next()
        .unwrap_or_default();
    names.iter().any(|n| n == top)
}

/// Says which `PALAVER_*` variables are not settings (a typo would otherwise go unnoticed).
fn warn_unknown(names: &[String]) {
    const OTHERS: [&str; 2] = ["log", "config"];
    for (key, _) in std::env::vars() {
        let Some(rest) = key.strip_prefix("PALAVER_") else {
            continue;
        };
        let lower = rest.to_ascii_lowercase();
        if !is_setting(rest, names)
            && !OTHERS.contains(&lower.as_str())
            && !lower.starts_with("test_")
        {
            eprintln!("palaver: ignoring {key}: not a setting (see `palaver config example`)");
        }
    }
}

pub fn load(args: &ServeArgs) -> Result<Settings> {
    let mut fig = Figment::from(Serialized::defaults(Settings::default()));
    if let Some(path) = &args.config {
        if !path.exists() {
            return Err(anyhow!("config file {} does not exist", path.display()));
        }
        fig = fig.merge(Toml::file(path));
    }
    let names = setting_names();
    warn_unknown(&names);
    fig = fig.merge(
        Env::prefixed("PALAVER_")
            .split("__")
            .filter(move |k| is_setting(k.as_str(), &names)),
    );
    if let Some(listen) = args.listen {
        fig = fig.merge(Serialized::default("listen", listen));
    }
    if let Some(db) = &args.database {
        fig = fig.merge(Serialized::default("database", db));
    }
    if let Some(bus) = &args.bus {
        fig = fig.merge(Serialized::default("bus", bus));
    }
    if let Some(node) = &args.node_name {
        fig = fig.merge(Serialized::default("node_name", node));
    }
    let settings: Settings = fig
        .extract()
        .map_err(|e| anyhow!("invalid configuration: {e}"))?;
    settings
        .validate()
        .map_err(|e| anyhow!("invalid configuration: {e}"))?;
    Ok(settings)
}

/// A commented example configuration. A test keeps it in step with `Settings`.
pub fn example() -> &'static str {
    include_str!("../palaver.example.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        if let serde_json::Value::Object(map) = v {
            for (k, child) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if child.is_object() {
                    keys(&key, child, out);
                } else {
                    out.push(key);
                }
            }
        }
    }

    #[test]
    fn example_names_every_setting_with_its_default() {
        let parsed: Settings = Figment::from(Toml::string(example()))
            .extract()
            .expect("example parses");
        let defaults = serde_json::to_value(Settings::default()).expect("serialise");
        assert_eq!(serde_json::to_value(&parsed).expect("serialise"), defaults);
        let mut all = Vec::new();
        keys("", &defaults, &mut all);
        for key in all {
            let leaf = key.rsplit('.').next().unwrap_or(&key);
            assert!(
                example().contains(&format!("{leaf} =")),
                "example lacks `{key}`"
            );
        }
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
    fn env_overrides_and_validation() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PALAVER_LIMITS__MAX_BATCH", "7");
            jail.set_env("PALAVER_LOG", "debug");
            jail.set_env("PALAVER_TEST_STRICT", "1");
            jail.set_env("PALAVER_BIN", "/not/a/setting");
            let s = load(&ServeArgs::default()).expect("loads");
            assert_eq!(s.limits.max_batch, 7);
            jail.set_env("PALAVER_LIMITS__MAX_BATCH", "0");
            let err = load(&ServeArgs::default()).expect_err("0 is out of range");
            assert!(err.to_string().contains("limits.max_batch"));
            jail.set_env("PALAVER_LIMITS__MAX_BATCH", "3");
            let args = ServeArgs {
                database: Some("sqlite://x.db".into()),
                ..Default::default()
            };
            assert_eq!(load(&args).expect("loads").database, "sqlite://x.db");
            Ok(())
        });
    }
}
