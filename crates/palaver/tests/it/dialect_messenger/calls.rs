//! The messenger methods: the README's exchanges, and the seed's JSON-RPC error rules.

use super::*;

#[tokio::test]
async fn the_readme_exchanges() {
    let server = Server::start().await;
    let base = base(&server);
    let me = signup(&base, "@siandreev", "Sergey", "Andreev").await;
    let admin = signup(&base, "@admin", "Admin", "Admin").await;
    signup(&base, "@first", "First", "First").await;
    signup(&base, "@second", "Second", "Second").await;
    let mut s = Ms::connect(&base, &me).await;

    // Ids keep their type.
    let reply = s
        .raw_call(
            r#"{"jsonrpc": "2.0", "method": "getSelfInfo", "id": "1"}"#,
            &json!("1"),
        )
        .await;
    let id = reply["result"]["_id"].clone();
    assert!(id.is_string(), "{reply}");
    assert_eq!(
        reply,
        json!({"jsonrpc":"2.0","result":{"_id":id,"tag":"@siandreev","firstName":"Sergey","lastName":"Andreev","img":"default.jpg"},"id":"1"})
    );
    let reply = s
        .raw_call(
            r#"{"jsonrpc": 2, "method": "getSelfInfo", "id": 42}"#,
            &json!(42),
        )
        .await;
    assert_eq!(reply["id"], 42);
    assert_eq!(reply["result"]["tag"], "@siandreev");

    // setSelfInfo: the README's two-argument form, the code's three, and the refusals.
    let r = s.ok("setSelfInfo", json!(["", "Ivanov"])).await;
    assert_eq!(
        r,
        json!({"_id":id,"tag":"@siandreev","firstName":"Sergey","lastName":"Ivanov","img":"default.jpg"})
    );
    assert_eq!(s.err("setSelfInfo", json!(["123", "Ivanov"])).await, -32602);
    assert_eq!(
        s.err("setSelfInfo", json!(["", "Ivanov", ""])).await,
        -32602
    );
    assert_eq!(s.err("setSelfInfo", json!(["", ""])).await, -32602);
    assert_eq!(s.err("setSelfInfo", json!(["Sergey"])).await, -32602);
    assert_eq!(
        s.err("setSelfInfo", json!(["", "", "nope.png"])).await,
        -32602
    );
    // ё is outside the seed's [а-я].
    assert_eq!(
        s.err("setSelfInfo", json!(["Серёжа", "", ""])).await,
        -32602
    );
    let r = s.ok("setSelfInfo", json!(["Сергей", "", ""])).await;
    assert_eq!(
        (r["firstName"].as_str(), r["lastName"].as_str()),
        (Some("Сергей"), Some("Ivanov"))
    );

    // sendMessageToUser
    let sent = s
        .ok("sendMessageToUser", json!(["@admin", "hi, admin"]))
        .await;
    assert_eq!(sent["status"], "OK");
    let m = &sent["message"];
    assert!(m["_id"].is_string() && m["date"].is_i64(), "{sent}");
    assert_eq!(
        (
            m["senderTag"].as_str(),
            m["receiverTag"].as_str(),
            m["text"].as_str(),
            m["isRead"].as_bool()
        ),
        (
            Some("@siandreev"),
            Some("@admin"),
            Some("hi, admin"),
            Some(false)
        )
    );
    assert_eq!(
        s.err("sendMessageToUser", json!(["@nobody", "hi"])).await,
        -32602
    );
    assert_eq!(
        s.err("sendMessageToUser", json!(["@siandreev", "me"]))
            .await,
        -32602
    );
    assert_eq!(s.err("sendMessageToUser", json!(["@admin"])).await, -32602);

    // The other side answers; history is newest first, with read flags from the markers.
    let mut a = Ms::connect(&base, &admin).await;
    a.ok("sendMessageToUser", json!(["@SIANDREEV", "hello"]))
        .await;
    let history = s.ok("getMessagesWithUser", json!(["@admin"])).await;
    let texts: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hello", "hi, admin"]);
    let newest = &history[0];
    assert_eq!(
        (newest["senderTag"].as_str(), newest["receiverTag"].as_str()),
        (Some("@admin"), Some("@siandreev"))
    );
    assert!(newest["date"].as_str().unwrap().ends_with('Z'), "{newest}");
    assert_eq!(newest["isRead"], false);
    assert_eq!(
        history[1]["isRead"], true,
        "admin's reply moved their marker past it"
    );
    let page = s.ok("getMessagesWithUser", json!(["@admin", 1, 2])).await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["text"], "hi, admin");
    assert_eq!(
        s.ok("getMessagesWithUser", json!(["@first"])).await,
        json!([])
    );
    assert_eq!(
        s.err("getMessagesWithUser", json!(["@admin", 5, 5])).await,
        -32602
    );
    assert_eq!(
        s.err("getMessagesWithUser", json!(["@admin", "0"])).await,
        -32602
    );

    // Dialogs: one entry per direct conversation, newest first.
    let dialogs = s.ok("getDialogsList", json!([])).await;
    let d = &dialogs[0];
    assert_eq!(dialogs.as_array().unwrap().len(), 1, "{dialogs}");
    assert_eq!(
        (
            d["senderTag"].as_str(),
            d["receiverTag"].as_str(),
            d["text"].as_str(),
            d["unreadCount"].as_i64()
        ),
        (Some("@admin"), Some("@siandreev"), Some("hello"), Some(1))
    );
    assert!(d["_id"].is_string() && d["date"].is_string(), "{d}");
    assert_eq!(d["userInfo"]["tag"], "@admin");
    assert_eq!(d["userInfo"]["firstName"], "Admin");
    assert_eq!(d["userInfo"]["isOnline"], true);
    assert_eq!(s.ok("getDialogsList", json!([1, 30])).await, json!([]));
    assert_eq!(s.err("getDialogsList", json!([3, 1])).await, -32602);

    let r = s
        .raw_call(
            r#"{"jsonrpc": "2.0", "method": "markMessagesWithUserAsRead", "params": ["@admin"], "id": "1"}"#,
            &json!("1"),
        )
        .await;
    assert_eq!(
        r,
        json!({"jsonrpc":"2.0","result":{"status":"OK"},"id":"1"})
    );
    assert_eq!(s.ok("getDialogsList", json!([])).await[0]["unreadCount"], 0);
    assert_eq!(
        a.ok("getMessagesWithUser", json!(["@siandreev"])).await[0]["isRead"],
        true
    );
    assert_eq!(
        s.ok("markMessagesWithUserAsRead", json!(["@nobody"])).await,
        json!({"status":"OK"})
    );

    // findUsersByTag: substring of the tag, any case, leading @ ignored, never yourself.
    let found = s.ok("findUsersByTag", json!(["@s"])).await;
    let tags: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["@first", "@second"]);
    assert_eq!(found[0]["img"], "default.jpg");
    assert_eq!(found[0]["isOnline"], false);
    let found = a.ok("findUsersByTag", json!(["SIa"])).await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["tag"], "@siandreev");
    assert_eq!(found[0]["lastName"], "Ivanov");
    assert_eq!(found[0]["isOnline"], true);
}

#[tokio::test]
async fn bad_input_gets_the_seed_errors_and_the_connection_lives_on() {
    let server = Server::start().await;
    let base = base(&server);
    let token = signup(&base, "@alice", "Alice", "Liddell").await;
    let mut a = Ms::connect(&base, &token).await;
    let null = Value::Null;
    let parse = json!({"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null});
    let invalid =
        json!({"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null});
    assert_eq!(a.raw_call("{not json", &null).await, parse);
    for bad in [
        r#"[{"jsonrpc":"2.0","method":"getSelfInfo","id":"1"}]"#,
        r#"{"jsonrpc":"2.0","method":"getSelfInfo","id":0}"#,
        r#"{"jsonrpc":"2.0","method":"getSelfInfo"}"#,
        r#"{"method":"getSelfInfo","id":"1"}"#,
        r#""just a string""#,
    ] {
        assert_eq!(a.raw_call(bad, &null).await, invalid, "{bad}");
    }
    let r = a
        .raw_call(
            r#"{"jsonrpc":"2.0","method":"dropDatabase","id":"1"}"#,
            &json!("1"),
        )
        .await;
    assert_eq!(
        r,
        json!({"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":"1"})
    );
    let r = a
        .raw_call(
            r#"{"jsonrpc":"2.0","method":"sendMessageToUser","params":{"to":"@x"},"id":7}"#,
            &json!(7),
        )
        .await;
    assert_eq!(
        r,
        json!({"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params"},"id":7})
    );
    assert_eq!(a.ok("getSelfInfo", json!([])).await["tag"], "@alice");
}

#[tokio::test]
async fn a_call_sent_right_after_open_is_answered() {
    let server = Server::start().await;
    let base = base(&server);
    let token = signup(&base, "@alice", "Alice", "Liddell").await;
    let mut a = Ms::open(&base, Some(&token)).await;
    let r = a
        .raw_call(
            r#"{"jsonrpc":"2.0","method":"getSelfInfo","id":"0ms"}"#,
            &json!("0ms"),
        )
        .await;
    assert_eq!(r["result"]["tag"], "@alice");
}
