//! Conformance checks: accounts, sessions, deployment secrets, profiles and user search.

use super::*;

pub async fn accounts_signup_conflicts(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let bob = signup(s, "bob").await;
    assert_ne!(alice.id, bob.id);
    assert_eq!(alice.handle, "alice");
    assert_eq!(s.user(alice.id).await.expect("user"), Some(alice.clone()));
    assert_eq!(
        s.user_by_handle("alice").await.expect("by handle"),
        Some(alice.clone())
    );
    assert_eq!(s.user_by_handle("nobody").await.expect("by handle"), None);

    let mut again = NewUser {
        handle: "alice".into(),
        display_name: "Other".into(),
        email: Some("other@example.org".into()),
        password_hash: "h".into(),
        created_at: 1,
    };
    assert_eq!(
        kind(s.create_user(again.clone()).await),
        ErrorKind::Conflict,
        "handle taken"
    );
    again.handle = "alicia".into();
    again.email = Some("alice@example.org".into());
    assert_eq!(
        kind(s.create_user(again.clone()).await),
        ErrorKind::Conflict,
        "e-mail taken"
    );
    // Users without an e-mail do not collide with each other.
    again.email = None;
    s.create_user(again.clone()).await.expect("no e-mail");
    again.handle = "alicia2".into();
    s.create_user(again).await.expect("second without e-mail");
}

pub async fn accounts_credentials(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let by_handle = s
        .credentials(&Login::Handle("alice".into()))
        .await
        .expect("creds");
    let by_handle = by_handle.expect("found by handle");
    assert_eq!(by_handle.user, alice);
    assert_eq!(by_handle.password_hash, "hash-of-alice");
    let by_email = s
        .credentials(&Login::Email("alice@example.org".into()))
        .await
        .expect("creds");
    assert_eq!(by_email.map(|c| c.user.id), Some(alice.id));
    assert!(
        s.credentials(&Login::Handle("bob".into()))
            .await
            .expect("creds")
            .is_none()
    );
    assert!(
        s.credentials(&Login::Email("bob@example.org".into()))
            .await
            .expect("creds")
            .is_none()
    );

    s.set_password_hash(alice.id, "new-hash".into())
        .await
        .expect("set hash");
    let after = s
        .credentials(&Login::Handle("alice".into()))
        .await
        .expect("creds");
    assert_eq!(after.map(|c| c.password_hash).as_deref(), Some("new-hash"));
}

pub async fn sessions_lifecycle(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    for id in ["s1", "s2"] {
        let session = NewSession {
            id: id.into(),
            user: alice.id,
            created_at: 100,
            expires_at: 1000,
        };
        s.create_session(session).await.expect("create session");
    }
    assert!(s.session_active("s1", 500).await.expect("active"));
    assert!(
        !s.session_active("s1", 1001).await.expect("active"),
        "expired"
    );
    assert!(
        !s.session_active("nope", 500).await.expect("active"),
        "unknown"
    );
    s.revoke_session("s1", 600).await.expect("revoke");
    assert!(
        !s.session_active("s1", 700).await.expect("active"),
        "revoked"
    );
    assert!(
        s.session_active("s2", 700).await.expect("active"),
        "other session untouched"
    );
    s.revoke_session("s1", 800)
        .await
        .expect("revoking twice is fine");
    s.revoke_session("nope", 800)
        .await
        .expect("revoking an unknown session is fine");
}

pub async fn deployment_epoch_head_secret(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let epoch = s.epoch().await.expect("epoch");
    assert!(!epoch.is_empty());
    assert_eq!(s.epoch().await.expect("epoch"), epoch, "the epoch is fixed");
    assert_eq!(
        s.head().await.expect("head"),
        0,
        "an empty store has head 0"
    );

    assert_eq!(
        s.secret("jwt", b"first".to_vec()).await.expect("secret"),
        b"first"
    );
    assert_eq!(
        s.secret("jwt", b"second".to_vec()).await.expect("secret"),
        b"first"
    );
    assert_eq!(
        s.secret("other", b"second".to_vec()).await.expect("secret"),
        b"second"
    );

    let alice = signup(s, "alice").await;
    let (_, events) = room(s, &alice, "main", ConversationKind::Channel, &[]).await;
    assert_eq!(s.head().await.expect("head"), events[0].pos.expect("pos"));
}

pub async fn profile_updates(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let bob = signup(s, "bob").await;
    let carol = signup(s, "carol").await;
    room(s, &alice, "c", ConversationKind::Group, &[&bob]).await;
    let patch = ProfilePatch {
        display_name: Some("Alice A".into()),
        avatar_url: Some("https://example.org/a.png".into()),
        status_text: Some("busy".into()),
    };
    let event = s.update_profile(alice.id, patch, 30).await.expect("update");
    let EventBody::UserUpdated { user, changed } = &event.body else {
        panic!("expected user_updated, got {event:?}")
    };
    assert_eq!(changed, &["display_name", "avatar_url", "status_text"]);
    assert_eq!(user.id, alice.id);
    assert_eq!(user.display_name, "Alice A");
    assert_eq!(
        user.avatar_url.as_deref(),
        Some("https://example.org/a.png")
    );
    assert_eq!(user.status_text.as_deref(), Some("busy"));
    assert_eq!((event.ts, event.body.conversation()), (30, None));
    assert_eq!(s.user(alice.id).await.expect("user").as_ref(), Some(user));

    let clear = ProfilePatch {
        avatar_url: Some(String::new()),
        ..ProfilePatch::default()
    };
    let cleared = s.update_profile(alice.id, clear, 31).await.expect("update");
    assert!(
        matches!(&cleared.body, EventBody::UserUpdated { changed, .. } if changed == &["avatar_url"]),
        "only the avatar changed: {cleared:?}"
    );
    let now = s.user(alice.id).await.expect("user").expect("exists");
    assert_eq!(
        (
            now.avatar_url,
            now.status_text.as_deref(),
            now.display_name.as_str()
        ),
        (None, Some("busy"), "Alice A")
    );

    let seen = |t: Vec<String>| t.into_iter().filter(|t| t == "user:alice").count();
    assert_eq!(
        seen(since(s, &alice, 0).await),
        2,
        "the user hears of their own changes"
    );
    assert_eq!(
        seen(since(s, &bob, 0).await),
        2,
        "so does anyone sharing a conversation"
    );
    assert_eq!(seen(since(s, &carol, 0).await), 0, "strangers do not");
    assert_eq!(
        kind(
            s.update_profile(UserId(987_654), ProfilePatch::default(), 32)
                .await
        ),
        ErrorKind::NotFound
    );
}

pub async fn search(store: Arc<dyn Store>) {
    let s = store.as_ref();
    for (handle, display) in [
        ("alice", "Alice Liddell"),
        ("bob", "Bobby Tables"),
        ("carol", "Caroline"),
        ("x_y", "Hundred 100%"),
        ("zoe", "Zoë ÉCOLE"),
    ] {
        let user = NewUser {
            handle: handle.into(),
            display_name: display.into(),
            email: None,
            password_hash: "h".into(),
            created_at: 1,
        };
        s.create_user(user).await.expect("signup");
    }
    let found = |q: &'static str, limit: u32| async move {
        s.search_users(q, limit)
            .await
            .expect("search")
            .into_iter()
            .map(|u| u.handle)
            .collect::<Vec<_>>()
    };
    assert_eq!(found("ALI", 10).await, ["alice"]);
    assert_eq!(
        found("Li", 10).await,
        ["alice", "carol"],
        "handle or display name, by handle"
    );
    assert_eq!(found("li", 1).await, ["alice"], "limited");
    assert_eq!(found("%", 10).await, ["x_y"], "% is not a wildcard");
    assert_eq!(found("_", 10).await, ["x_y"], "_ is not a wildcard");
    assert_eq!(found("bobby t", 10).await, ["bob"]);
    assert_eq!(
        found("école", 10).await,
        ["zoe"],
        "case folding beyond ASCII"
    );
    assert!(found("zzz", 10).await.is_empty());
}
