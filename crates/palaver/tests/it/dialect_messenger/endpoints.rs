//! The messenger HTTP side: `/signup`, `/login`, `/exit`, `/upload-image`, `/img/*`, and the
//! WebSocket handshake that depends on its cookie.

use super::*;

#[tokio::test]
async fn signup_login_and_exit_answer_like_the_seed() {
    let server = Server::start().await;
    let base = base(&server);
    let post = |path: &'static str, body: Value| {
        let base = base.clone();
        async move { http::post_json(&base, path, &body, None).await.unwrap() }
    };

    let r = post(
        "/signup",
        user_body("@Siandreev", "Sergey", "Andreev", "s@example.com", PASSWORD),
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (200, "Sign up successful"));
    let cookie = r.set_cookie("auth").unwrap();
    for attr in ["Max-Age=259200", "Path=/", "HttpOnly", "Expires="] {
        assert!(cookie.contains(attr), "{cookie}");
    }

    let cases = [
        (
            json!({}),
            "NoSignUpDataProvidedError",
            "Data required for sign up is missing.",
        ),
        (
            user_body("@bob", "Bob", "", "b@example.com", PASSWORD),
            "NoSignUpDataProvidedError",
            "Data required for sign up is missing.",
        ),
        (
            user_body("bob", "Bob", "Smith", "b@example.com", PASSWORD),
            "IncorrectDataError",
            "Incorrect parameter values passed.",
        ),
        (
            user_body("@bob1", "Bob", "Smith", "b@example.com", PASSWORD),
            "IncorrectDataError",
            "Incorrect parameter values passed.",
        ),
        (
            user_body("@bob", "bob", "Smith", "b@example.com", PASSWORD),
            "IncorrectDataError",
            "Incorrect parameter values passed.",
        ),
        (
            user_body("@bob", "Bob", "Smith", "not-an-email", PASSWORD),
            "IncorrectDataError",
            "Incorrect parameter values passed.",
        ),
        // The seed's rule is 5+ characters; Palaver's (8+) applies too.
        (
            user_body("@bob", "Bob", "Smith", "b@example.com", "12345"),
            "IncorrectDataError",
            "Incorrect parameter values passed.",
        ),
        (
            user_body("@SIANDREEV", "Bob", "Smith", "b@example.com", PASSWORD),
            "UserAlreadyExistError",
            "Such user already exists.",
        ),
        (
            user_body("@bob", "Bob", "Smith", "S@example.com", PASSWORD),
            "UserAlreadyExistError",
            "Such user already exists.",
        ),
    ];
    for (body, name, message) in cases {
        let r = post("/signup", body.clone()).await;
        assert_eq!(r.status, 401, "{body}: {}", r.text);
        assert_eq!(r.body, error_body(name, message), "{body}");
        assert!(r.set_cookie("auth").is_none());
    }
    let head = "POST /compat/messenger/signup HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n";
    let (status, _, body) = raw_http(&server, head, b"{not json").await;
    assert_eq!(status, 500);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        error_body(
            "UnspecifiedError",
            "An undefined error occurred on the server."
        )
    );

    let login =
        |email: &str, password: &str| json!({ "user": { "email": email, "password": password } });
    let r = post("/login", login("S@Example.com", PASSWORD)).await;
    assert_eq!((r.status, r.text.as_str()), (200, "Login successful"));
    let token = r.cookie_value("auth").unwrap().to_owned();
    for (body, name, message) in [
        (
            json!({"user":{"email":"s@example.com"}}),
            "NoAuthDataProvidedError",
            "Data required for authorization is missing.",
        ),
        (
            login("s@example.com", "wrong password!"),
            "AuthError",
            "Incorrect authorization data.",
        ),
        (
            login("nobody@example.com", PASSWORD),
            "AuthError",
            "Incorrect authorization data.",
        ),
    ] {
        let r = post("/login", body).await;
        assert_eq!((r.status, r.body.clone()), (401, error_body(name, message)));
    }

    // The cookie opens a WebSocket; /exit clears it and ends that session.
    let ms = Ms::connect(&base, &token).await;
    let auth = format!("auth={token}");
    let r = http::request(&base, "GET", "/exit", &[("Cookie", &auth)], None)
        .await
        .unwrap();
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    let cleared = r.set_cookie("auth").unwrap();
    assert!(cleared.starts_with("auth=;"), "{cleared}");
    assert!(
        cleared.contains("Expires=Thu, 01 Jan 1970 00:00:00 GMT"),
        "{cleared}"
    );
    assert_eq!(ms.closed().await, (1000, NO_AUTH_JWT.to_owned()));
    let again = Ms::open(&base, Some(&token)).await;
    assert_eq!(again.closed().await, (1000, UNSPECIFIED.to_owned()));
}

#[tokio::test]
async fn a_bad_handshake_opens_then_closes_with_the_seed_reason() {
    let server = Server::start().await;
    let base = base(&server);
    let ms = Ms::open(&base, None).await;
    assert_eq!(ms.closed().await, (1000, NO_AUTH_JWT.to_owned()));
    let ms = Ms::open(&base, Some("not.a.jwt")).await;
    assert_eq!(ms.closed().await, (1000, UNSPECIFIED.to_owned()));
}

#[tokio::test]
async fn images_upload_and_serve() {
    let server = Server::start().await;
    let base = base(&server);
    let token = signup(&base, "@alice", "Alice", "Liddell").await;
    let png = b"\x89PNG\r\n\x1a\n fake image bytes \r\n--not-a-boundary";

    let (status, body) = upload(&server, None, "me.png", png).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (
            401,
            error_body("NoAuthJWTError", "Authorization data missing.")
        )
    );

    let (status, body) = upload(&server, Some(&token), "Me.PNG", png).await;
    assert_eq!(status, 200, "{body}");
    // A JSON string holding JSON, as the seed sends it.
    let inner: String = serde_json::from_str(&body).unwrap();
    let name = serde_json::from_str::<Value>(&inner).unwrap()["fileName"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(inner.starts_with("{\"fileName\": \""), "{inner}");
    assert_eq!(name.len(), 36, "{name}");
    assert!(name.ends_with(".png"));

    let r = http::get(&base, &format!("/img/{name}")).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.text.as_bytes(), String::from_utf8_lossy(png).as_bytes());
    assert_eq!(
        http::get(&base, "/img/default.jpg").await.unwrap().status,
        200
    );
    for bad in [
        "/img/..%2F..%2Fpalaver.db",
        "/img/00000000000000000000000000000000.png",
        "/img/x.png",
    ] {
        assert_eq!(http::get(&base, bad).await.unwrap().status, 404, "{bad}");
    }

    // The upload becomes the avatar; contacts see it.
    let mut a = Ms::connect(&base, &token).await;
    let r = a.ok("setSelfInfo", json!(["", "", name])).await;
    assert_eq!(r["img"], name.as_str());
    assert_eq!(a.ok("getSelfInfo", json!([])).await["img"], name.as_str());

    // Ten a minute.
    for _ in 0..9 {
        assert_eq!(upload(&server, Some(&token), "x.jpg", b"jpg").await.0, 200);
    }
    let (status, body) = upload(&server, Some(&token), "x.jpg", b"jpg").await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (
            401,
            error_body(
                "FilesLimitExceedingError",
                "File upload limit has been exceeded"
            )
        )
    );

    // Over 15 MiB: 413 (judged by Content-Length, before reading the body).
    let other = signup(&base, "@bob", "Bob", "Smith").await;
    let head = format!(
        "POST /compat/messenger/upload-image HTTP/1.1\r\nHost: {{host}}\r\nConnection: close\r\nCookie: auth={other}\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: {}\r\n\r\n",
        15 * 1024 * 1024 + 1
    );
    let (status, _, _) = raw_http(&server, &head, b"--x\r\n").await;
    assert_eq!(status, 413);
}
