//! Conformance checks: session keys of the `session-key` dialect (stored by hash, bound to a
//! user and a conversation, revocable).

use super::*;
use crate::NewSessionKey;

fn key(hash: &str, user: &User, conversation: ConversationId) -> NewSessionKey {
    NewSessionKey {
        hash: hash.into(),
        user: user.id,
        conversation,
        created_at: 5,
    }
}

pub async fn session_keys_lifecycle(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let alice = signup(s, "alice").await;
    let bob = signup(s, "bob").await;
    let (main, _) = room(s, &alice, "main", ConversationKind::Channel, &[&bob]).await;

    assert_eq!(s.session_key("h1").await.expect("lookup"), None);
    s.create_session_key(key("h1", &bob, main.id))
        .await
        .expect("create");
    s.create_session_key(key("h2", &alice, main.id))
        .await
        .expect("a second key");
    assert_eq!(
        s.session_key("h1").await.expect("lookup"),
        Some((bob.id, main.id))
    );
    assert_eq!(
        s.session_key("h2").await.expect("lookup"),
        Some((alice.id, main.id))
    );
    assert_eq!(
        kind(s.create_session_key(key("h1", &alice, main.id)).await),
        ErrorKind::Conflict,
        "a hash is stored once"
    );
    assert_eq!(
        kind(
            s.create_session_key(key("h3", &alice, ConversationId(999_999)))
                .await
        ),
        ErrorKind::NotFound,
        "unknown conversation"
    );
    let ghost = User {
        id: UserId(999_999),
        ..alice.clone()
    };
    assert_eq!(
        kind(s.create_session_key(key("h4", &ghost, main.id)).await),
        ErrorKind::NotFound,
        "unknown user"
    );

    assert!(s.revoke_session_key("h1", 9).await.expect("revoke"));
    assert_eq!(s.session_key("h1").await.expect("lookup"), None);
    assert!(
        !s.revoke_session_key("h1", 10).await.expect("revoke again"),
        "already revoked"
    );
    assert!(
        !s.revoke_session_key("nope", 10)
            .await
            .expect("revoke unknown")
    );
    assert_eq!(
        s.session_key("h2").await.expect("lookup"),
        Some((alice.id, main.id)),
        "other keys are untouched"
    );
}
