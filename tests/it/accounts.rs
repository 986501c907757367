use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{location, new_client, spawn_app, spawn_app_with};

const PASSWORD: &str = "correct horse battery";

type Case<'a> = ([(&'a str, &'a str); 3], &'a str, &'a str);

#[sqlx::test]
async fn signup_signs_in_and_the_first_account_is_admin(db: PgPool) {
    let app = spawn_app(db).await;

    let response =
        app.post("/signup", &[("email", " Ana@Example.com "), ("display_name", "Ana"), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    let home = app.get("/").await.text().await.unwrap();
    assert!(home.contains("Hello, Ana"), "the dashboard greets the new user");
    assert!(home.contains(">admin<"), "the first account is an administrator");

    let second = new_client();
    app.signup_as(&second, "li@example.com", "Li").await;
    let admins: Vec<(String, bool)> =
        sqlx::query_as("select email, is_admin from users order by created_at").fetch_all(&app.db).await.unwrap();
    assert_eq!(admins, vec![("ana@example.com".into(), true), ("li@example.com".into(), false)]);
}

#[sqlx::test]
async fn passwords_are_stored_as_argon2id_hashes(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup_as(&app.client, "ana@example.com", "Ana").await;
    let hash: String = sqlx::query_scalar("select password_hash from users").fetch_one(&app.db).await.unwrap();
    assert!(hash.starts_with("$argon2id$"), "got {hash}");
    assert!(!hash.contains(PASSWORD));
}

/// The session id that a response's Set-Cookie gives, if any.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response.headers().get_all("set-cookie").iter().find_map(|value| {
        let value = value.to_str().ok()?;
        let pair = value.split(';').next()?;
        let (name, id) = pair.split_once('=')?;
        (name == gameday::app::SESSION_COOKIE && !id.is_empty()).then(|| id.to_owned())
    })
}

async fn stored_sessions(db: &PgPool, id: &str) -> i64 {
    sqlx::query_scalar("select count(*) from web_sessions where id = $1").bind(id).fetch_one(db).await.unwrap()
}

#[sqlx::test]
async fn signout_ends_the_session_on_the_server(db: PgPool) {
    let app = spawn_app(db).await;
    let response =
        app.post("/signup", &[("email", "ana@example.com"), ("display_name", "Ana"), ("password", PASSWORD)]).await;
    let signed_in = session_cookie(&response).expect("sign-up starts a session");
    assert_eq!(stored_sessions(&app.db, &signed_in).await, 1);

    let response = app.post("/signout", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored_sessions(&app.db, &signed_in).await, 0, "the session is deleted from the store");
    assert_eq!(location(&app.get("/teams").await), "/signin?next=%2Fteams", "signed out: pages ask to sign in");

    // Replaying the old cookie (say, copied before sign-out) gets nobody in.
    let replay =
        app.client.get(app.url("/teams")).header("cookie", format!("{}={signed_in}", gameday::app::SESSION_COOKIE));
    let replay = new_client().execute(replay.build().unwrap()).await.unwrap();
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
}

#[sqlx::test]
async fn signin_gives_a_new_session_id_with_safe_cookie_flags(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup_as(&app.client, "ana@example.com", "Ana").await;
    // Signing out leaves an anonymous session (it carries the "signed out" message).
    let anonymous = session_cookie(&app.post("/signout", &[]).await).expect("an anonymous session");
    assert_eq!(stored_sessions(&app.db, &anonymous).await, 1);

    let response = app.post("/signin", &[("email", "ana@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let signed_in = session_cookie(&response).expect("sign-in sets the session cookie");
    assert_ne!(signed_in, anonymous, "no session fixation: the id changes at sign-in");
    assert_eq!(stored_sessions(&app.db, &anonymous).await, 0, "the pre-sign-in id is gone");
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "an http base URL: no Secure flag ({cookie})");
}

#[sqlx::test]
async fn the_session_cookie_is_secure_when_the_base_url_is_https(db: PgPool) {
    let app = spawn_app_with(db, |config| config.base_url = Some("https://gameday.example".into())).await;
    let response =
        app.post("/signup", &[("email", "ana@example.com"), ("display_name", "Ana"), ("password", PASSWORD)]).await;
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}

/// Messages of `kind` in the outbox to `address`.
async fn emails(db: &PgPool, address: &str, kind: &str) -> Vec<String> {
    sqlx::query_scalar("select body_text from email_outbox where to_address = $1 and kind = $2 order by id")
        .bind(address)
        .bind(kind)
        .fetch_all(db)
        .await
        .unwrap()
}

#[sqlx::test]
async fn sign_up_answers_the_same_for_a_taken_address_and_tells_its_owner_instead(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup_as(&new_client(), "ana@example.com", "Ana").await;

    // A stranger tries Ana's address, and a new one: the two answers differ only in the address.
    let stranger = new_client();
    let taken = [("email", "ANA@example.com"), ("display_name", "Other Ana"), ("password", PASSWORD)];
    let taken = app.post_as(&stranger, "/signup", &taken).await;
    let new = [("email", "li@example.com"), ("display_name", "Li"), ("password", PASSWORD)];
    let new = app.post_as(&stranger, "/signup", &new).await;
    assert_eq!((taken.status(), new.status()), (StatusCode::OK, StatusCode::OK));
    let taken = taken.text().await.unwrap();
    let new = new.text().await.unwrap();
    assert!(taken.contains("Check your e-mail") && taken.contains("<strong>ana@example.com</strong>"), "{taken}");
    assert_eq!(taken.replace("ana@example.com", "ADDRESS"), new.replace("li@example.com", "ADDRESS"));
    assert!(!taken.contains(PASSWORD) && !taken.contains("Other Ana"), "nothing typed is echoed but the address");

    // Ana is told (and nobody is asked to confirm her address); Li gets the link; no account yet.
    let told = emails(&app.db, "ana@example.com", "account_exists").await;
    assert_eq!(told.len(), 1);
    assert!(told[0].contains("Someone, perhaps you, tried to make a new Gameday account with ana@example.com"));
    assert!(told[0].contains(&format!("{}/password/forgot", app.base)), "{}", told[0]);
    assert!(emails(&app.db, "ana@example.com", "confirm_address").await.is_empty());
    assert_eq!(emails(&app.db, "li@example.com", "confirm_address").await.len(), 1);
    let users: Vec<String> = sqlx::query_scalar("select email from users").fetch_all(&app.db).await.unwrap();
    assert_eq!(users, vec!["ana@example.com".to_owned()], "no account is made before the address is confirmed");
    // Ana's account is as it was.
    let signin = [("email", "ana@example.com"), ("password", PASSWORD)];
    assert_eq!(app.post_as(&new_client(), "/signin", &signin).await.status(), StatusCode::SEE_OTHER);

    // Trying again and again does not fill Ana's mailbox: three notes a day at most.
    for _ in 0..4 {
        let again = [("email", "ana@example.com"), ("display_name", "Other Ana"), ("password", PASSWORD)];
        assert_eq!(app.post_as(&stranger, "/signup", &again).await.status(), StatusCode::OK);
    }
    assert_eq!(emails(&app.db, "ana@example.com", "account_exists").await.len(), 3);

    // Li follows her link, in another browser: her account is made and she is signed in.
    let link = app.confirmation_link("li@example.com").await.unwrap();
    let li = new_client();
    let page = app.get_as(&li, &link).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("Confirm your address") && page.contains("<strong>li@example.com</strong>"), "{page}");
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&app.db).await.unwrap();
    assert_eq!(users, 1, "opening the link (as a mail scanner would) makes no account");
    let response = app.post_as(&li, &link, &[]).await;
    assert_eq!((response.status(), location(&response).as_str()), (StatusCode::SEE_OTHER, "/"));
    let home = app.get_as(&li, "/").await.text().await.unwrap();
    assert!(home.contains("Your address is confirmed. Welcome to Gameday, Li."), "{home}");
    let (name, admin): (String, bool) =
        sqlx::query_as("select display_name, is_admin from users where email = 'li@example.com'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((name.as_str(), admin), ("Li", false));
    let signin = [("email", "li@example.com"), ("password", PASSWORD)];
    let response = app.post_as(&new_client(), "/signin", &signin).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[sqlx::test]
async fn a_confirmation_link_works_once_for_a_day_and_keeps_where_to_go(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup_as(&new_client(), "ana@example.com", "Ana").await;

    // Two sign-ups of one address (say, the first e-mail seemed lost): either link makes the
    // account, and then neither works again.
    let form = [("email", "li@example.com"), ("display_name", "Li"), ("password", PASSWORD), ("next", "/teams/new")];
    for _ in 0..2 {
        assert_eq!(app.post("/signup", &form).await.status(), StatusCode::OK);
    }
    let links = emails(&app.db, "li@example.com", "confirm_address").await;
    assert_eq!(links.len(), 2);
    let first = app.confirmation_link("li@example.com").await.unwrap();
    let response = app.post_as(&new_client(), &first, &[]).await;
    assert_eq!(location(&response), "/teams/new", "where she was going when she signed up");
    for link in
        links.iter().map(|text| text[text.find("/signup/confirm/").unwrap()..].split_whitespace().next().unwrap())
    {
        let page = app.get_as(&new_client(), link).await;
        assert_eq!(page.status(), StatusCode::GONE);
        assert!(page.text().await.unwrap().contains("This link no longer works"));
        assert_eq!(app.post_as(&new_client(), link, &[]).await.status(), StatusCode::GONE);
    }
    let lis: i64 = sqlx::query_scalar("select count(*) from users where email = 'li@example.com'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(lis, 1);

    // A link is kept only as a hash, and lapses after a day.
    let form =
        [("email", "bo@example.com"), ("display_name", "Bo"), ("password", PASSWORD), ("next", "//evil.example/")];
    app.post("/signup", &form).await;
    let link = app.confirmation_link("bo@example.com").await.unwrap();
    let token = link.trim_start_matches("/signup/confirm/");
    let stored: (Vec<u8>, String, f64) = sqlx::query_as(
        "select token_hash, password_hash, extract(epoch from expires_at - created_at)::float8 from signup_confirmations",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored.0, gameday::secrets::sha256(token));
    assert!(stored.1.starts_with("$argon2id$") && !stored.1.contains(PASSWORD));
    assert_eq!(stored.2, 24.0 * 3600.0);
    sqlx::query("update signup_confirmations set expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(app.get(&link).await.status(), StatusCode::GONE);
    assert_eq!(app.post(&link, &[]).await.status(), StatusCode::GONE);
    assert_eq!(app.get("/signup/confirm/not-a-link").await.status(), StatusCode::GONE);

    // Signed up again: a link that cannot lead off the site.
    app.post("/signup", &form).await;
    let link = app.confirmation_link("bo@example.com").await.unwrap();
    assert_eq!(location(&app.post_as(&new_client(), &link, &[]).await), "/");

    // At most three open sign-ups per address, so nobody can fill a stranger's mailbox.
    let form = [("email", "kai@example.com"), ("display_name", "Kai"), ("password", PASSWORD)];
    for _ in 0..5 {
        assert_eq!(app.post("/signup", &form).await.status(), StatusCode::OK);
    }
    assert_eq!(emails(&app.db, "kai@example.com", "confirm_address").await.len(), 3);

    // The address got an account in the meantime (through single sign-on, say): sign in instead.
    let link = app.confirmation_link("kai@example.com").await.unwrap();
    sqlx::query("insert into users (id, email, display_name, password_hash) values (gen_random_uuid(), 'kai@example.com', 'Kai', '')")
        .execute(&app.db)
        .await
        .unwrap();
    let kai = new_client();
    let response = app.post_as(&kai, &link, &[]).await;
    assert_eq!(location(&response), "/signin");
    let page = app.get_as(&kai, "/signin").await.text().await.unwrap();
    assert!(page.contains("An account with this address exists already. Sign in instead."), "{page}");
    let open: i64 = sqlx::query_scalar("select count(*) from signup_confirmations where email = 'kai@example.com'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(open, 0, "the address's other links are dropped");
}

#[sqlx::test]
async fn bad_signup_inputs_get_messages_beside_their_fields(db: PgPool) {
    let app = spawn_app(db).await;
    let long = "x".repeat(10 * 1024);
    // (form, field that gets the message, the message)
    let cases: Vec<Case> = vec![
        ([("email", ""), ("display_name", "Ana"), ("password", PASSWORD)], "email", "Email is required."),
        (
            [("email", "not-an-email"), ("display_name", "Ana"), ("password", PASSWORD)],
            "email",
            "Enter an email address",
        ),
        (
            [("email", "ana@example.com"), ("display_name", "  "), ("password", PASSWORD)],
            "display_name",
            "Display name is required.",
        ),
        (
            [("email", "ana@example.com"), ("display_name", &long), ("password", PASSWORD)],
            "display_name",
            "at most 80 characters",
        ),
        (
            [("email", "ana@example.com"), ("display_name", "Ana"), ("password", "short")],
            "password",
            "at least 8 characters",
        ),
        (
            [("email", "ana@example.com"), ("display_name", "Ana"), ("password", &long)],
            "password",
            "at most 128 characters",
        ),
        ([("email", &long), ("display_name", "Ana"), ("password", PASSWORD)], "email", "at most 254 characters"),
    ];
    for (form, field, message) in cases {
        let response = app.post("/signup", &form).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}: {message}");
        let page = response.text().await.unwrap();
        let marker = format!(r#"id="{field}-error">"#);
        let at = page.find(&marker).unwrap_or_else(|| panic!("no error beside {field}"));
        let beside = page[at..].split("</p>").next().unwrap();
        assert!(beside.contains(message), "{field}: expected {message:?}, got {beside:?}");
    }
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&app.db).await.unwrap();
    assert_eq!(users, 0, "no account was created from bad input");
}

#[sqlx::test]
async fn a_form_without_fields_is_a_422_not_a_500(db: PgPool) {
    let app = spawn_app(db).await;
    let response = app.post("/signup", &[]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = app.post("/signin", &[]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test]
async fn wrong_password_is_refused_with_the_email_kept(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup_as(&new_client(), "ana@example.com", "Ana").await;

    let response = app.post("/signin", &[("email", "ana@example.com"), ("password", "not the password")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains("That email and password do not match an account."));
    assert!(page.contains(r#"value="ana@example.com""#));
    // Unknown accounts get the same answer (no account enumeration through sign-in).
    let response = app.post("/signin", &[("email", "nobody@example.com"), ("password", "not the password")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("That email and password do not match an account."));
}

#[sqlx::test]
async fn repeated_failures_throttle_the_account(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup_as(&new_client(), "ana@example.com", "Ana").await;

    for _ in 0..gameday::accounts::MAX_FAILURES_PER_ACCOUNT {
        let response = app.post("/signin", &[("email", "ana@example.com"), ("password", "guess guess")]).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Now even the right password is refused for a while, with a clear message.
    let response = app.post("/signin", &[("email", "ana@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    assert!(response.text().await.unwrap().contains("Too many failed sign-in attempts"));
    assert_eq!(app.get("/teams").await.status(), StatusCode::SEE_OTHER, "still signed out");
}

#[sqlx::test]
async fn repeated_failures_throttle_the_client_address(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup_as(&new_client(), "ana@example.com", "Ana").await;

    for i in 0..gameday::accounts::MAX_FAILURES_PER_ADDRESS {
        let email = format!("guess{i}@example.com");
        let response = app.post("/signin", &[("email", &email), ("password", "guess guess")]).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    // A different account, from the same address: refused too.
    let response = app.post("/signin", &[("email", "ana@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[sqlx::test]
async fn next_only_redirects_within_the_site(db: PgPool) {
    let app = spawn_app(db).await;
    let response = app
        .post(
            "/signup",
            &[
                ("email", "ana@example.com"),
                ("display_name", "Ana"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(location(&response), "/");
    app.post("/signout", &[]).await;
    let response =
        app.post("/signin", &[("email", "ana@example.com"), ("password", PASSWORD), ("next", "/teams/new")]).await;
    assert_eq!(location(&response), "/teams/new");
}

#[sqlx::test]
async fn signing_in_again_while_signed_in_also_changes_the_session_id(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup_as(&new_client(), "li@example.com", "Li").await;
    let form = [("email", "ana@example.com"), ("display_name", "Ana"), ("password", PASSWORD)];
    let response = app.signup_with(&app.client, &form).await;
    let as_ana = session_cookie(&response).expect("a session");

    let response = app.post("/signin", &[("email", "li@example.com"), ("password", PASSWORD)]).await;
    let as_li = session_cookie(&response).expect("a new session cookie");
    assert_ne!(as_li, as_ana, "a cookie known before sign-in never carries the new sign-in");
    assert_eq!(stored_sessions(&app.db, &as_ana).await, 0);
}

#[sqlx::test]
async fn sessions_do_not_store_the_password_hash(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup_as(&app.client, "ana@example.com", "Ana").await;
    let hash: String = sqlx::query_scalar("select password_hash from users").fetch_one(&app.db).await.unwrap();
    let data: String = sqlx::query_scalar("select data::text from web_sessions").fetch_one(&app.db).await.unwrap();
    let data = data.as_bytes();
    let needle = &hash.as_bytes()[hash.len() - 20..];
    assert!(!data.windows(needle.len()).any(|w| w == needle), "the session row holds part of the hash");
}

#[sqlx::test]
async fn concurrent_guesses_cannot_slip_past_the_throttle(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup_as(&new_client(), "ana@example.com", "Ana").await;

    let guesses = (0..20).map(|i| {
        let client = new_client();
        let url = app.url("/signin");
        async move {
            let form = [("email", "ana@example.com".to_owned()), ("password", format!("guess number {i}"))];
            client.post(url).form(&form).send().await.unwrap().status()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY).count();
    let throttled = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(checked + throttled, 20, "{statuses:?}");
    assert!(checked <= gameday::accounts::MAX_FAILURES_PER_ACCOUNT as usize, "{checked} guesses were checked");
}

#[sqlx::test]
async fn a_form_posted_after_the_session_ended_returns_to_its_page_after_sign_in(db: PgPool) {
    let app = spawn_app(db).await;
    let page = format!("{}/teams/platform", app.base);
    let response =
        app.client.post(app.url("/teams/platform/invites")).header("referer", page).form(&[("role", "member")]);
    let response = response.send().await.unwrap();
    assert_eq!(location(&response), "/signin?next=%2Fteams%2Fplatform");
    // A Referer from elsewhere is not followed.
    let response = app
        .client
        .post(app.url("/teams/platform/invites"))
        .header("referer", "https://evil.example/teams/platform")
        .form(&[("role", "member")]);
    assert_eq!(location(&response.send().await.unwrap()), "/signin?next=%2F");
}

#[sqlx::test]
async fn over_https_the_session_cookie_is_host_bound_and_browsers_are_told_to_stay_on_https(db: PgPool) {
    let app = crate::helpers::spawn_app_with(db, |c| c.base_url = Some("https://gameday.example".into())).await;
    let form = [("email", "ana@example.com"), ("display_name", "Ana"), ("password", "correct horse battery")];
    let response = app.post("/signup", &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with(&format!("{}=", gameday::app::SECURE_SESSION_COOKIE)), "{cookie}");
    assert!(cookie.contains("Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"), "{cookie}");
    let page = app.get("/signin").await;
    assert_eq!(page.headers()["strict-transport-security"], "max-age=63072000");

    // Served over http (development), neither: a browser would refuse a __Host- cookie there.
    let plain = crate::helpers::spawn_app(app.db.clone()).await;
    assert!(plain.get("/signin").await.headers().get("strict-transport-security").is_none());
}

#[sqlx::test]
async fn guessing_from_one_client_never_locks_the_owner_out_from_another(db: PgPool) {
    let app = spawn_app_with(db, |c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    app.signup_as(&new_client(), "ana@example.com", "Ana").await;
    let attempt = |client: reqwest::Client, addr: &'static str, password: &'static str| {
        let url = app.url("/signin");
        async move {
            let form = [("email", "ana@example.com"), ("password", password)];
            client.post(url).header("x-forwarded-for", addr).form(&form).send().await.unwrap()
        }
    };
    let limit = gameday::accounts::MAX_FAILURES_PER_ACCOUNT;
    let mut statuses = Vec::new();
    for _ in 0..limit + 4 {
        statuses.push(attempt(new_client(), "203.0.113.9", "guess guess").await.status());
    }
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(refused, 4, "{statuses:?}");
    // Refused attempts are not counted: waiting it out works, however often the guesser knocks.
    let counted: i64 = sqlx::query_scalar("select count(*) from signin_failures where client_addr = '203.0.113.9'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(counted, limit);
    let response = attempt(new_client(), "203.0.113.9", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "the guessing client waits, even with the password");
    let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "a minute at first, not the whole window: {wait}");

    // The owner, from their own client, signs in with the right password at once.
    let owner = attempt(new_client(), "198.51.100.7", PASSWORD).await;
    assert_eq!(owner.status(), StatusCode::SEE_OTHER, "the owner is never locked out by someone else's guesses");
}

#[sqlx::test]
async fn old_sign_in_attempts_are_pruned(db: PgPool) {
    let app = spawn_app(db).await;
    sqlx::query("insert into signin_failures (email, client_addr, failed_at) values ('x@example.com', '192.0.2.1', now() - interval '2 days')")
        .execute(&app.db)
        .await
        .unwrap();
    app.post("/signin", &[("email", "nobody@example.com"), ("password", "not the password")]).await;
    let old: i64 =
        sqlx::query_scalar("select count(*) from signin_failures where failed_at < now() - interval '1 day'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(old, 0);
}

#[sqlx::test]
async fn sign_ups_are_throttled_per_client(db: PgPool) {
    let app = spawn_app_with(db, |c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let signup = |addr: &'static str, n: usize| {
        let url = app.url("/signup");
        async move {
            let email = format!("bot{n}@{addr}.example");
            let form = [("email", email.as_str()), ("display_name", "Bot"), ("password", PASSWORD)];
            new_client().post(url).header("x-forwarded-for", addr).form(&form).send().await.unwrap()
        }
    };
    let limit = gameday::accounts::MAX_SIGNUPS_PER_ADDRESS as usize;
    // The first is made at once (the administrator); the others wait for their links.
    assert_eq!(signup("203.0.113.9", 0).await.status(), StatusCode::SEE_OTHER, "sign-up 0");
    for n in 1..limit {
        assert_eq!(signup("203.0.113.9", n).await.status(), StatusCode::OK, "sign-up {n}");
    }
    let refused = signup("203.0.113.9", limit).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let page = refused.text().await.unwrap();
    assert!(page.contains("Too many accounts were created from here") && page.contains("bot20@203.0.113.9.example"));
    let waiting: i64 =
        sqlx::query_scalar("select count(*) from signup_confirmations").fetch_one(&app.db).await.unwrap();
    assert_eq!(waiting as usize, limit - 1, "the refused sign-up was not kept");
    let sent: i64 = sqlx::query_scalar("select count(*) from email_outbox").fetch_one(&app.db).await.unwrap();
    assert_eq!(sent as usize, limit - 1, "nor e-mailed");
    assert_eq!(signup("198.51.100.7", 0).await.status(), StatusCode::OK, "another client is not held up");
}
