//! Accounts over HTTP, WebSocket authentication, and the profile calls.

use crate::harness::*;
use palaver_client::{Client, ClientError, http};
use serde_json::json;

#[tokio::test]
async fn signup_returns_user_token_and_an_http_only_cookie() {
    let server = Server::start().await;
    let r = http::signup(server.base(), "Alice", PASSWORD, Some("Alice A."))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["user"]["handle"], "alice",
        "handles are stored lower-case"
    );
    assert_eq!(r.body["user"]["display_name"], "Alice A.");
    assert!(r.body["user"]["id"].is_i64(), "{}", r.body);
    assert!(r.body["user"]["created_at"].is_i64(), "{}", r.body);
    let token = r.body["token"].as_str().expect("token");
    assert!(!token.is_empty());

    let cookie = r
        .set_cookie("palaver_token")
        .expect("Set-Cookie palaver_token");
    let lower = cookie.to_ascii_lowercase();
    assert!(lower.contains("httponly"), "{cookie}");
    assert!(lower.contains("samesite=lax"), "{cookie}");
    assert!(lower.contains("path=/"), "{cookie}");
    assert!(!r.cookie_value("palaver_token").unwrap().is_empty());
}

#[tokio::test]
async fn a_taken_handle_in_other_case_is_a_conflict() {
    let server = Server::start().await;
    signup_user(&server, "alice").await;
    let r = http::signup(server.base(), "ALICE", PASSWORD, None)
        .await
        .unwrap();
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "conflict", "{}", r.text);

    let with_email = |handle: &str, email: &str| json!({ "handle": handle, "password": PASSWORD, "email": email });
    let r = http::post_json(
        server.base(),
        "/api/v1/signup",
        &with_email("bob", "b@example.org"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text);
    let r = http::post_json(
        server.base(),
        "/api/v1/signup",
        &with_email("bob2", "B@Example.org"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 409, "taken e-mail: {}", r.text);
    assert_eq!(r.body["error"]["code"], "conflict");
}

#[tokio::test]
async fn bad_handles_and_passwords_are_rejected() {
    let server = Server::start().await;
    let long = "x".repeat(33);
    for handle in ["a", "-ab", "has space", "a@b", long.as_str(), ""] {
        let r = http::signup(server.base(), handle, PASSWORD, None)
            .await
            .unwrap();
        assert_eq!(r.status, 400, "handle {handle:?}: {}", r.text);
        assert_eq!(r.body["error"]["code"], "invalid_input", "{}", r.text);
        assert!(r.body["error"]["message"].is_string(), "{}", r.text);
    }
    let r = http::signup(server.base(), "shorty", "short", None)
        .await
        .unwrap();
    assert_eq!(r.status, 400, "short password: {}", r.text);
    assert_eq!(r.body["error"]["code"], "invalid_input");

    let r = http::post_json(
        server.base(),
        "/api/v1/signup",
        &json!({"handle": "nopass"}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400, "missing password: {}", r.text);
}

#[tokio::test]
async fn login_by_handle_and_by_email() {
    let server = Server::start().await;
    let body = json!({ "handle": "alice", "password": PASSWORD, "email": "alice@example.org" });
    let r = http::post_json(server.base(), "/api/v1/signup", &body, None)
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["user"]["id"].clone();

    for login in ["alice", "Alice", "alice@example.org", "ALICE@example.org"] {
        let r = http::login(server.base(), login, PASSWORD).await.unwrap();
        assert_eq!(r.status, 200, "login {login}: {}", r.text);
        assert_eq!(r.body["user"]["id"], id);
        assert!(r.body["token"].is_string());
        assert!(
            r.set_cookie("palaver_token").is_some(),
            "login sets the cookie"
        );
        // The new token works.
        let mut c = Client::connect_with_token(&server.ws_url(), r.body["token"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(c.call("me.get", json!(null)).await.unwrap()["id"], id);
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let server = Server::start().await;
    signup_user(&server, "alice").await;
    let wrong = http::login(server.base(), "alice", "not the password")
        .await
        .unwrap();
    let unknown = http::login(server.base(), "nobody", "not the password")
        .await
        .unwrap();
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert_eq!(wrong.body["error"]["code"], "unauthenticated");
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(
        wrong.body, unknown.body,
        "the answers must not tell users apart"
    );
}

#[tokio::test]
async fn logout_revokes_the_token() {
    let server = Server::start().await;
    let (token, _) = signup_user(&server, "alice").await;
    // A connection opened before logout.
    let mut before = connect(&server, &token).await;

    let r = http::logout(server.base(), &token).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({}));
    let cleared = r
        .set_cookie("palaver_token")
        .expect("logout clears the cookie");
    let value = r.cookie_value("palaver_token").unwrap_or_default();
    assert!(
        value.is_empty() || cleared.to_ascii_lowercase().contains("max-age=0"),
        "cookie not cleared: {cleared}"
    );

    let closed = before.recv_close(WAIT).await.unwrap();
    assert_eq!(
        closed.map(|c| c.code),
        Some(1008),
        "open sessions end with 1008"
    );

    match Client::connect_with_token(&server.ws_url(), &token).await {
        Err(ClientError::Rejected { status, .. }) => assert_eq!(status, 401),
        Err(e) => panic!("expected a 401 refusal, got {e}"),
        Ok(_) => panic!("a revoked token was accepted on upgrade"),
    }
    let mut c = Client::connect(&server.ws_url()).await.unwrap();
    let e = expect_rpc_err(c.call("auth", json!({ "token": token })).await, -32001);
    assert_eq!(e.data_code(), Some("unauthenticated"));

    let again = http::logout(server.base(), &token).await.unwrap();
    assert_eq!(again.status, 401, "{}", again.text);
    assert_healthy(&server).await;
}

#[tokio::test]
async fn logout_by_cookie() {
    let server = Server::start().await;
    let (token, _) = signup_user(&server, "alice").await;
    let cookie = format!("palaver_token={token}");
    let r = http::request(
        server.base(),
        "POST",
        "/api/v1/logout",
        &[("Cookie", &cookie)],
        Some(&json!({})),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    let r = http::logout(server.base(), "not-a-token").await.unwrap();
    assert_eq!(r.status, 401, "{}", r.text);
}

#[tokio::test]
async fn healthz_answers_ok() {
    let server = Server::start().await;
    let r = http::get(server.base(), "/healthz").await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text.trim(), "ok");
}

#[tokio::test]
async fn websocket_accepts_every_kind_of_credential() {
    let server = Server::start().await;
    let (token, user) = signup_user(&server, "alice").await;
    let url = server.ws_url();
    let cookie = format!("palaver_token={token}");
    let bearer = format!("Bearer {token}");

    let mut clients = vec![
        (
            "cookie",
            Client::connect_with_headers(&url, &[("Cookie", &cookie)])
                .await
                .unwrap(),
        ),
        (
            "bearer",
            Client::connect_with_headers(&url, &[("Authorization", &bearer)])
                .await
                .unwrap(),
        ),
        (
            "query",
            Client::connect_with_token(&url, &token).await.unwrap(),
        ),
    ];
    let mut by_call = Client::connect(&url).await.unwrap();
    let authed = by_call
        .call("auth", json!({ "token": token }))
        .await
        .unwrap();
    assert_eq!(authed["user"]["id"], user["id"], "auth returns {{user}}");
    clients.push(("auth call", by_call));

    for (how, c) in &mut clients {
        let me = c
            .call("me.get", json!(null))
            .await
            .unwrap_or_else(|e| panic!("{how}: {e}"));
        assert_eq!(me["id"], user["id"], "{how}");
        assert_eq!(me["handle"], "alice", "{how}");
    }
}

#[tokio::test]
async fn an_invalid_token_on_upgrade_is_refused_with_401() {
    let server = Server::start().await;
    signup_user(&server, "alice").await;
    let url = server.ws_url();
    match Client::connect_with_token(&url, "garbage.not.jwt").await {
        Err(ClientError::Rejected { status, .. }) => assert_eq!(status, 401),
        other => panic!("expected 401, got {:?}", other.map(|_| "a connection")),
    }
    match Client::connect_with_headers(&url, &[("Authorization", "Bearer garbage")]).await {
        Err(ClientError::Rejected { status, .. }) => assert_eq!(status, 401),
        other => panic!("expected 401, got {:?}", other.map(|_| "a connection")),
    }
}

#[tokio::test]
async fn calls_before_auth_and_bad_tokens_are_unauthenticated() {
    let server = Server::start().await;
    let (token, _) = signup_user(&server, "alice").await;
    let mut c = Client::connect(&server.ws_url()).await.unwrap();
    for method in ["me.get", "rooms.list", "conversations.list"] {
        let e = expect_rpc_err(c.call(method, json!(null)).await, -32001);
        assert_eq!(e.data_code(), Some("unauthenticated"), "{method}");
    }
    let e = expect_rpc_err(
        c.call("messages.send", json!({"to": "@alice", "text": "hi"}))
            .await,
        -32001,
    );
    assert_eq!(e.data_code(), Some("unauthenticated"));
    expect_rpc_err(c.call("auth", json!({ "token": "garbage" })).await, -32001);
    // The connection survives and can still sign in.
    c.call("auth", json!({ "token": token })).await.unwrap();
    assert_eq!(
        c.call("me.get", json!(null)).await.unwrap()["handle"],
        "alice"
    );
}

#[tokio::test]
async fn me_update_changes_the_profile_and_tells_contacts() {
    let server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    let (_bob, mut b) = user(&server, "bob").await;
    let (_carol, mut c) = user(&server, "carol").await;
    send(&mut a, "@bob", "hello").await;
    b.notification_named("message", WAIT).await.unwrap();

    let updated = a
        .call(
            "me.update",
            json!({ "display_name": "Alice Liddell", "status_text": "down the hole" }),
        )
        .await
        .unwrap();
    assert_eq!(updated["display_name"], "Alice Liddell");
    assert_eq!(updated["status_text"], "down the hole");
    assert_eq!(
        a.call("me.get", json!(null)).await.unwrap()["display_name"],
        "Alice Liddell"
    );

    let n = b.notification_named("user.updated", WAIT).await.unwrap();
    assert_eq!(n.params["user"]["id"], alice.id);
    assert_eq!(n.params["user"]["display_name"], "Alice Liddell");
    expect_no_notification(&mut c, "user.updated", |_| true).await;

    // "" clears an optional field.
    let cleared = a
        .call("me.update", json!({ "status_text": "" }))
        .await
        .unwrap();
    assert!(
        cleared
            .get("status_text")
            .is_none_or(|s| s.is_null() || s == ""),
        "{cleared}"
    );
    assert_eq!(
        cleared["display_name"], "Alice Liddell",
        "untouched fields stay"
    );

    expect_rpc_err(
        a.call("me.update", json!({ "display_name": "" })).await,
        -32602,
    );
    expect_rpc_err(
        a.call("me.update", json!({ "avatar_url": "javascript:alert(1)" }))
            .await,
        -32602,
    );
}

#[tokio::test]
async fn users_get_and_search() {
    let server = Server::start().await;
    let (alice, mut a) = user(&server, "alice").await;
    let r = http::signup(server.base(), "bob", PASSWORD, Some("Robert Tables"))
        .await
        .unwrap();
    let bob_id = r.body["user"]["id"].as_i64().unwrap();
    signup_user(&server, "bobby").await;

    let by_id = a
        .call("users.get", json!({ "user": bob_id }))
        .await
        .unwrap();
    assert_eq!(by_id["handle"], "bob");
    assert_eq!(by_id["display_name"], "Robert Tables");
    let by_handle = a
        .call("users.get", json!({ "user": "@BOB" }))
        .await
        .unwrap();
    assert_eq!(by_handle["id"], bob_id);
    let me = a
        .call("users.get", json!({ "user": alice.id }))
        .await
        .unwrap();
    assert_eq!(me["handle"], "alice");
    let e = expect_rpc_err(
        a.call("users.get", json!({ "user": "@nobody" })).await,
        -32004,
    );
    assert_eq!(e.data_code(), Some("not_found"));
    expect_rpc_err(
        a.call("users.get", json!({ "user": 999_999 })).await,
        -32004,
    );

    let handles = |v: &serde_json::Value| {
        let mut h: Vec<String> = v
            .as_array()
            .expect("an array")
            .iter()
            .map(|u| u["handle"].as_str().unwrap().to_owned())
            .collect();
        h.sort();
        h
    };
    let found = a
        .call("users.search", json!({ "query": "bob" }))
        .await
        .unwrap();
    assert_eq!(handles(&found), ["bob", "bobby"]);
    let found = a
        .call("users.search", json!({ "query": "tables" }))
        .await
        .unwrap();
    assert_eq!(handles(&found), ["bob"], "display names are searched too");
    let found = a
        .call("users.search", json!({ "query": "bob", "limit": 1 }))
        .await
        .unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1);
    let found = a
        .call("users.search", json!({ "query": "zzz" }))
        .await
        .unwrap();
    assert_eq!(found, json!([]));
    expect_rpc_err(
        a.call("users.search", json!({ "query": "b", "limit": 0 }))
            .await,
        -32602,
    );
    expect_rpc_err(
        a.call("users.search", json!({ "query": "b", "limit": 101 }))
            .await,
        -32602,
    );
}

#[tokio::test]
async fn a_cookie_upgrade_from_another_site_is_refused() {
    let server = Server::start().await;
    let (token, _) = signup_user(&server, "alice").await;
    let cookie = format!("palaver_token={token}");
    let host = server.base().trim_start_matches("http://").to_owned();
    let own = format!("http://{host}");
    let refused = |r: Result<Client, ClientError>| match r {
        Err(ClientError::Rejected { status, .. }) => status,
        Ok(_) => panic!("upgrade accepted"),
        Err(e) => panic!("unexpected error {e}"),
    };
    for evil in [
        "https://evil.example",
        "null",
        &format!("http://{host}.evil.example"),
    ] {
        let r = Client::connect_with_headers(
            &server.ws_url(),
            &[("cookie", &cookie), ("origin", evil)],
        )
        .await;
        assert_eq!(refused(r), 403, "origin {evil}");
    }
    // The page's own origin, and clients that are not browsers (no Origin), are fine.
    let mut ok =
        Client::connect_with_headers(&server.ws_url(), &[("cookie", &cookie), ("origin", &own)])
            .await
            .expect("same origin");
    assert_eq!(ok.call("ping", json!(null)).await.unwrap(), "pong");
    Client::connect_with_headers(&server.ws_url(), &[("cookie", &cookie)])
        .await
        .expect("no origin");
    // A token given explicitly is not ambient: any origin may use it.
    let url = format!("{}?token={token}", server.ws_url());
    Client::connect_with_headers(&url, &[("origin", "https://evil.example")])
        .await
        .expect("explicit token");
}
