//! The frame reader against the Autobahn test suite (cases 1–10: framing, pings, fragments,
//! UTF-8, limits, closing; 12 and 13 are compression, which we never negotiate), run by
//! `kosoku`, a Rust runner of Autobahn's own case files, against an echo server on this
//! module's upgrade and socket.
//!
//! The runner's path comes from `PALAVER_TEST_KOSOKU` (`.ci/run` installs it from PyPI). Unset,
//! the test prints a loud notice and passes, unless `PALAVER_TEST_STRICT=1`, which makes it
//! fail.

use super::{Incoming, OP_TEXT, ReadError, Socket, WsUpgrade, read::OP_BINARY, read::push_frame};
use crate::conn::{CLOSE_INVALID_DATA, CLOSE_PROTOCOL, CLOSE_TOO_BIG};
use std::future::poll_fn;
use std::io::Write;

fn kosoku() -> Option<String> {
    const VAR: &str = "PALAVER_TEST_KOSOKU";
    match std::env::var(VAR) {
        Ok(path) if !path.trim().is_empty() => Some(path),
        _ if std::env::var("PALAVER_TEST_STRICT").as_deref() == Ok("1") => {
            panic!("{VAR} is required under PALAVER_TEST_STRICT")
        }
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!! SKIPPED: {VAR} is not set, so the Autobahn suite did NOT run. Set it to \
                 a kosoku binary (pip install kosoku); PALAVER_TEST_STRICT=1 turns this skip \
                 into a failure. !!!!!\n"
            );
            None
        }
    }
}

/// Sends back every message; answers a broken frame with its close code.
async fn echo(mut socket: Socket) {
    assert!(
        socket.get_ref().tcp().is_some(),
        "the server's own loop hands over the plain TCP stream"
    );
    while let Some(item) = socket.next().await {
        let out = &mut socket.get_mut().control;
        match item {
            Ok(Incoming::Text(text)) => push_frame(out, OP_TEXT, text.as_bytes()),
            Ok(Incoming::Binary(data)) => push_frame(out, OP_BINARY, &data),
            Ok(Incoming::Ping | Incoming::Pong | Incoming::Close) => {}
            Err(ReadError::Io(_)) => return,
            Err(ReadError::Protocol(why)) => socket.queue_close(CLOSE_PROTOCOL, why),
            Err(ReadError::Utf8) => socket.queue_close(CLOSE_INVALID_DATA, "not UTF-8"),
            Err(ReadError::TooBig) => socket.queue_close(CLOSE_TOO_BIG, "too big"),
        }
        if poll_fn(|cx| socket.get_mut().poll_write_control(cx))
            .await
            .is_err()
        {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autobahn_cases_1_to_10_pass() {
    let Some(kosoku) = kosoku() else {
        return;
    };
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|upgrade: WsUpgrade| async move {
            // Autobahn's largest case (9.1.6) sends 16 MiB.
            upgrade.max_message_size(64 << 20).on_upgrade(echo)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(crate::accept::serve_http(
        listener,
        app,
        std::future::pending(),
    ));
    let reports = std::env::temp_dir().join(format!("palaver-autobahn-{}", std::process::id()));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(kosoku)
            .args(["-x", "12.*", "-x", "13.*", "-p", "4", "-o"])
            .arg(&reports)
            .arg(addr.to_string())
            .output()
            .expect("kosoku runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tail: Vec<&str> = stdout.lines().rev().take(40).collect();
    assert!(
        out.status.success(),
        "Autobahn cases failed:\n{}\n{}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
}
