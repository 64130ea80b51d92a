//! The messenger notifications, talking with native users, and the dialect's own listener.

use super::*;

#[tokio::test]
async fn notifications_carry_the_seed_types_and_codes() {
    let server = Server::start().await;
    let base = base(&server);
    let alice = signup(&base, "@alice", "Alice", "Liddell").await;
    let bob = signup(&base, "@bob", "Bob", "Smith").await;
    let mut a = Ms::connect(&base, &alice).await;
    let mut b = Ms::connect(&base, &bob).await;

    let sent = a.ok("sendMessageToUser", json!(["@bob", "hi"])).await;
    let n = b.notification("newMessage").await;
    assert_eq!(
        n,
        json!({"type":"newMessage","code":3001,"body":{"senderTag":"@alice","receiverTag":"@bob","text":"hi","date":sent["message"]["date"]}})
    );
    a.no_notification("newMessage").await;

    // Now they share a conversation: presence of one reaches the other, not oneself.
    b.close().await;
    let n = a.notification("contactOffline").await;
    assert_eq!(
        n,
        json!({"type":"contactOffline","code":3100,"body":{"loggedOutUserTag":"@bob"}})
    );
    let mut b = Ms::open(&base, Some(&bob)).await;
    let n = a.notification("contactOnline").await;
    assert_eq!(
        n,
        json!({"type":"contactOnline","code":3101,"body":{"loggedInUserTag":"@bob"}})
    );
    b.no_notification("contactOnline").await;
    // A second connection of bob changes nothing; closing it neither.
    let b2 = Ms::connect(&base, &bob).await;
    a.no_notification("contactOnline").await;
    b2.close().await;
    a.no_notification("contactOffline").await;

    b.ok("markMessagesWithUserAsRead", json!(["@alice"])).await;
    let n = a.notification("messageWasRead").await;
    assert_eq!(
        n,
        json!({"type":"messageWasRead","code":3300,"body":{"receiverTag":"@bob"}})
    );
    b.no_notification("messageWasRead").await;

    // Palaver keeps one display name, so a change to either half sends both names (the seed
    // sent only the changed half); the image is left out because it did not change.
    b.ok("setSelfInfo", json!(["", "Ivanov"])).await;
    let n = a.notification("contactPersonalDataChanges").await;
    assert_eq!(
        n,
        json!({"type":"contactPersonalDataChanges","code":3200,
               "body":{"tag":"@bob","firstName":"Bob","lastName":"Ivanov"}})
    );
    b.no_notification("contactPersonalDataChanges").await;
}

#[tokio::test]
async fn native_and_messenger_users_talk_to_each_other() {
    let server = Server::start().await;
    let base = base(&server);
    let token = signup(&base, "@bob", "Bob", "Smith").await;
    let (_alice, mut native) = user(&server, "alice").await;
    let mut b = Ms::connect(&base, &token).await;

    let sent = send(&mut native, "@bob", "hello from native").await;
    let n = b.notification("newMessage").await;
    assert_eq!(
        n["body"],
        json!({"senderTag":"@alice","receiverTag":"@bob","text":"hello from native","date":sent["ts"]})
    );

    b.ok(
        "sendMessageToUser",
        json!(["@alice", "hello from messenger"]),
    )
    .await;
    let m = native
        .notification_where("message", WAIT, |p| p["text"] == "hello from messenger")
        .await
        .unwrap();
    assert_eq!(m.params["sender_handle"], "bob");
    assert_eq!(m.params["conversation"], sent["conversation"]);

    // A native display name without a space is all first name.
    let dialogs = b.ok("getDialogsList", json!([])).await;
    assert_eq!(dialogs[0]["userInfo"]["firstName"], "alice");
    assert_eq!(dialogs[0]["userInfo"]["lastName"], "");
    // A room message is not a direct message: messenger hears nothing of it.
    native
        .call(
            "rooms.create",
            json!({"name": "lobby", "kind": "group", "members": ["@bob"]}),
        )
        .await
        .unwrap();
    send(&mut native, "#lobby", "room talk").await;
    b.no_notification("newMessage").await;
}

#[tokio::test]
async fn its_own_listener_serves_at_the_root() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = Server::start_with(Settings::default().env(
        "PALAVER_DIALECTS__MESSENGER__LISTEN",
        format!("127.0.0.1:{port}"),
    ))
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let token = signup(&base, "@alice", "Alice", "Liddell").await;
    let mut a = Ms::connect(&base, &token).await;
    assert_eq!(a.ok("getSelfInfo", json!([])).await["lastName"], "Liddell");
    // Same users on the main listener.
    let r = http::login(server.base(), "alice@example.com", PASSWORD)
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
}
