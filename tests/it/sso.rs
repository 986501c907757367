//! Single sign-on against a real OpenID Connect provider: `oauth2-mock-server` (npm, pinned in
//! package.json) run by `tests/tools/oidc-provider.cjs` on a loopback port, which publishes its
//! discovery document and keys, checks the PKCE verifier and signs real RS256 ID tokens. Each test
//! writes the claims the provider puts in its next ID token (and whether it gets the nonce or the
//! expiry wrong) to a file the provider reads before signing.

use std::path::PathBuf;
use std::process::Stdio;

use reqwest::{Client, StatusCode};
use sqlx::PgPool;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

use crate::helpers::{TestApp, location, new_client, spawn_app_with, user_id};

pub struct Provider {
    pub issuer: String,
    claims: PathBuf,
    _child: Child,
}

impl Provider {
    pub async fn start() -> Provider {
        let root = env!("CARGO_MANIFEST_DIR");
        let claims = std::env::temp_dir().join(format!("gameday-oidc-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&claims, "{}").unwrap();
        let mut child = Command::new("node")
            .arg(format!("{root}/tests/tools/oidc-provider.cjs"))
            .arg(&claims)
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs tests/tools/oidc-provider.cjs (make test installs node and oauth2-mock-server)");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let issuer = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("the provider starts within 30 s")
            .unwrap()
            .expect("the provider prints its issuer URL");
        assert!(issuer.starts_with("http://127.0.0.1:"), "{issuer}");
        Provider { issuer, claims, _child: child }
    }

    /// What the provider's next ID tokens say.
    fn next_token(&self, setup: serde_json::Value) {
        std::fs::write(&self.claims, setup.to_string()).unwrap();
    }

    pub fn person(&self, subject: &str, email: &str, verified: bool) {
        self.next_token(serde_json::json!({
            "claims": { "sub": subject, "email": email, "email_verified": verified, "name": "Ana Okafor" }
        }));
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.claims);
    }
}

pub async fn app_with(db: PgPool, provider: &Provider, signup: bool, password_signin: bool) -> TestApp {
    let issuer = provider.issuer.clone();
    spawn_app_with(db, move |config| {
        config.oidc_issuer = Some(issuer);
        config.oidc_client_id = Some("gameday-tests".into());
        config.oidc_client_secret = Some("not-checked-by-the-mock".into());
        config.oidc_name = "Acme ID".into();
        config.oidc_signup = signup;
        config.password_signin = password_signin;
    })
    .await
}

/// The provider's answer to the authorization request: where it sends the browser back.
async fn at_provider(app: &TestApp, client: &Client, start: &str) -> String {
    let response = app.get_as(client, start).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "starting single sign-on redirects to the provider");
    let authorize = location(&response);
    let url = url::Url::parse(&authorize).unwrap();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query.get("response_type").map(String::as_str), Some("code"));
    assert_eq!(query.get("code_challenge_method").map(String::as_str), Some("S256"), "PKCE with SHA-256");
    for required in ["state", "nonce", "code_challenge", "redirect_uri", "client_id"] {
        assert!(query.get(required).is_some_and(|v| !v.is_empty()), "the authorization request has {required}");
    }
    assert!(query["scope"].split(' ').any(|s| s == "openid"), "{:?}", query["scope"]);
    let back = new_client().get(&authorize).send().await.unwrap();
    assert_eq!(back.status(), StatusCode::FOUND, "the provider sends the browser back");
    let callback = location(&back);
    assert!(callback.starts_with(&app.url("/signin/sso/callback?")), "{callback}");
    callback
}

/// A whole sign-in through the provider; the app's last answer.
async fn sso(app: &TestApp, client: &Client) -> reqwest::Response {
    let callback = at_provider(app, client, "/signin/sso?next=/account").await;
    client.get(&callback).send().await.unwrap()
}

/// Who this client is signed in as (their display name on the account page), if anyone.
async fn signed_in_as(app: &TestApp, client: &Client) -> Option<String> {
    let response = app.get_as(client, "/account").await;
    if response.status() != StatusCode::OK {
        return None;
    }
    let page = response.text().await.unwrap();
    let start = page.find("name=\"display_name\"").expect("the account page has the name field");
    let value = &page[start..];
    let value = &value[value.find("value=\"").unwrap() + 7..];
    Some(value[..value.find('"').unwrap()].to_owned())
}

/// old@example.com, with a password: an account made before password sign-in was turned off
/// (straight in the database, since the sign-up page is then off).
async fn old_password_account(db: &PgPool) {
    let hash = password_auth::generate_hash("correct horse battery");
    sqlx::query(
        "insert into users (id, email, display_name, password_hash, time_zone)
         values ($1, 'old@example.com', 'Old', $2, 'UTC')",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(&hash)
    .execute(db)
    .await
    .unwrap();
}

async fn identities(db: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from oidc_identities").fetch_one(db).await.unwrap()
}

async fn accounts(db: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from users").fetch_one(db).await.unwrap()
}

#[sqlx::test]
async fn a_first_sign_in_makes_an_account_and_the_next_finds_it_by_issuer_and_subject(db: PgPool) {
    let provider = Provider::start().await;
    let app = app_with(db.clone(), &provider, true, true).await;
    let page = app.get("/signin").await.text().await.unwrap();
    assert!(page.contains("Sign in with Acme ID"), "the sign-in page offers the provider");
    assert!(app.get("/signup").await.text().await.unwrap().contains("Sign up with Acme ID"));

    provider.person("acme|ana", "Ana@Example.com", true);
    let client = new_client();
    let done = sso(&app, &client).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/account", "back where the sign-in was started for");
    assert_eq!(signed_in_as(&app, &client).await.as_deref(), Some("Ana Okafor"));
    let (hash, issuer, subject): (String, String, String) = sqlx::query_as(
        "select u.password_hash, i.issuer, i.subject from users u join oidc_identities i on i.user_id = u.id
         where u.email = 'ana@example.com'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!((hash.as_str(), issuer.as_str(), subject.as_str()), ("!", provider.issuer.as_str(), "acme|ana"));
    let account = app.get_as(&client, "/account").await.text().await.unwrap();
    assert!(account.contains("This account has no password"), "no password form for an account without one");
    assert!(!account.contains("action=\"/account/password\""));

    // The same subject again, now with another address: the subject, not the address, decides.
    provider.person("acme|ana", "ana.okafor@example.com", true);
    let again = new_client();
    assert_eq!(sso(&app, &again).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in_as(&app, &again).await.as_deref(), Some("Ana Okafor"));
    assert_eq!(accounts(&db).await, 1, "no second account");

    // No password opens it: the hash `!` matches none.
    for password in ["!", "", "correct horse battery"] {
        let response = app.post("/signin", &[("email", "ana@example.com"), ("password", password)]).await;
        assert_ne!(response.status(), StatusCode::SEE_OTHER, "password {password:?} must not sign in");
    }

    // A replayed callback (its sign-in was used up) signs nobody in.
    provider.person("acme|ana", "ana@example.com", true);
    let first = new_client();
    let callback = at_provider(&app, &first, "/signin/sso").await;
    assert_eq!(first.get(&callback).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    let replay = first.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST, "a callback is good once");
    let elsewhere = new_client();
    let stolen = elsewhere.get(&callback).send().await.unwrap();
    assert_eq!(stolen.status(), StatusCode::BAD_REQUEST);
    assert!(stolen.text().await.unwrap().contains("was not started in this browser"));
    assert_eq!(signed_in_as(&app, &elsewhere).await, None, "another browser cannot use a callback");
}

#[sqlx::test]
async fn a_state_that_is_not_the_sessions_is_refused_and_uses_the_sign_in_up(db: PgPool) {
    let provider = Provider::start().await;
    let app = app_with(db.clone(), &provider, true, true).await;
    provider.person("acme|ana", "ana@example.com", true);
    let client = new_client();
    let callback = at_provider(&app, &client, "/signin/sso").await;
    let mut url = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> =
        url.query_pairs().into_owned().map(|(k, v)| if k == "state" { (k, format!("{v}x")) } else { (k, v) }).collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let response = client.get(url.as_str()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let page = response.text().await.unwrap();
    assert!(page.contains("Start again"), "the page says what to do");
    assert!(page.contains("Sign in with Acme ID"), "and offers the way to do it");
    assert_eq!(signed_in_as(&app, &client).await, None);
    assert_eq!((accounts(&db).await, identities(&db).await), (0, 0));

    // The sign-in is used up by the failure: the right state afterwards does not work either.
    let right = client.get(&callback).send().await.unwrap();
    assert_eq!(right.status(), StatusCode::BAD_REQUEST);
    assert_eq!(signed_in_as(&app, &client).await, None);
}

#[sqlx::test]
async fn an_id_token_with_another_sign_ins_nonce_is_refused(db: PgPool) {
    let provider = Provider::start().await;
    let app = app_with(db.clone(), &provider, true, true).await;
    provider.next_token(serde_json::json!({
        "claims": { "sub": "acme|mallory", "email": "mallory@example.com", "email_verified": true },
        "nonce": "a-nonce-from-another-sign-in"
    }));
    let client = new_client();
    let response = sso(&app, &client).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.text().await.unwrap().contains("could not be verified"));
    assert_eq!(signed_in_as(&app, &client).await, None);
    assert_eq!((accounts(&db).await, identities(&db).await), (0, 0));

    // With the nonce left as the provider got it, the same person signs in: the refusal was the nonce.
    provider.person("acme|mallory", "mallory@example.com", true);
    assert_eq!(sso(&app, &client).await.status(), StatusCode::SEE_OTHER);
    assert!(signed_in_as(&app, &client).await.is_some());
}

#[sqlx::test]
async fn an_expired_id_token_is_refused(db: PgPool) {
    let provider = Provider::start().await;
    let app = app_with(db.clone(), &provider, true, true).await;
    provider.next_token(serde_json::json!({
        "claims": { "sub": "acme|ana", "email": "ana@example.com", "email_verified": true },
        "expired": true
    }));
    let client = new_client();
    let response = sso(&app, &client).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(signed_in_as(&app, &client).await, None);
    assert_eq!((accounts(&db).await, identities(&db).await), (0, 0));
}

#[sqlx::test]
async fn an_unverified_address_makes_no_account_and_links_none(db: PgPool) {
    let provider = Provider::start().await;
    let app = app_with(db.clone(), &provider, true, true).await;
    provider.person("acme|eve", "eve@example.com", false);
    let client = new_client();
    let response = sso(&app, &client).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("has not verified your address eve@example.com"));
    assert_eq!((accounts(&db).await, identities(&db).await), (0, 0));

    // Someone's password account has the address: an unverified claim to it does not reach it.
    app.user("victim@example.com", "Victim").await;
    provider.person("acme|eve", "victim@example.com", false);
    let response = sso(&app, &client).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(signed_in_as(&app, &client).await, None);
    assert_eq!(identities(&db).await, 0);
    let page = app.get_as(&client, "/signin").await.text().await.unwrap();
    assert!(!page.contains("link-notice"), "no offer to link an address the provider did not verify");
}

#[sqlx::test]
async fn an_existing_account_is_linked_only_once_its_password_is_given(db: PgPool) {
    let provider = Provider::start().await;
    let app = app_with(db.clone(), &provider, false, true).await;
    app.user("ana@example.com", "Ana").await;
    let ana = user_id(&db, "ana@example.com").await;

    provider.person("acme|ana", "ana@example.com", true);
    let client = new_client();
    let response = sso(&app, &client).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/signin?next=%2Faccount", "asked for the password, keeping where to go");
    assert_eq!(signed_in_as(&app, &client).await, None, "a verified address alone signs nobody in");
    assert_eq!(identities(&db).await, 0);
    let page = app.get_as(&client, "/signin").await.text().await.unwrap();
    assert!(page.contains("link-notice") && page.contains("ana@example.com"), "the page says why it asks");

    let wrong =
        app.post_as(&client, "/signin", &[("email", "ana@example.com"), ("password", "not her password")]).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(identities(&db).await, 0, "a wrong password links nothing");

    let right =
        app.post_as(&client, "/signin", &[("email", "ana@example.com"), ("password", "correct horse battery")]).await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    let linked: uuid::Uuid = sqlx::query_scalar("select user_id from oidc_identities where subject = 'acme|ana'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(linked, ana);
    let account = app.get_as(&client, "/account").await.text().await.unwrap();
    assert!(account.contains("is now linked to your account"), "the person is told");
    assert!(account.contains("You can sign in with Acme ID or with your password"));

    // From now on the provider signs her in, in another browser, without the password.
    let laptop = new_client();
    assert_eq!(sso(&app, &laptop).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in_as(&app, &laptop).await.as_deref(), Some("Ana"));

    // A waiting link is for the account of its address only: Bob's password does not take Ana's identity.
    app.user("bob@example.com", "Bob").await;
    provider.person("acme|ana-2", "ana@example.com", true);
    let shared = new_client();
    assert_eq!(location(&sso(&app, &shared).await), "/signin?next=%2Faccount");
    let bob =
        app.post_as(&shared, "/signin", &[("email", "bob@example.com"), ("password", "correct horse battery")]).await;
    assert_eq!(bob.status(), StatusCode::SEE_OTHER);
    let count: i64 = sqlx::query_scalar("select count(*) from oidc_identities where subject = 'acme|ana-2'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(count, 0);
    assert_eq!(accounts(&db).await, 2, "and sign-up was off: no account was made");
}

#[sqlx::test]
async fn without_sign_up_a_person_the_provider_knows_but_gameday_does_not_is_refused(db: PgPool) {
    let provider = Provider::start().await;
    let app = app_with(db.clone(), &provider, false, true).await;
    assert!(!app.get("/signup").await.text().await.unwrap().contains("Sign up with Acme ID"));
    provider.person("acme|zoe", "zoe@example.com", true);
    let client = new_client();
    let response = sso(&app, &client).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("Ask your Gameday administrator"));
    assert_eq!((accounts(&db).await, identities(&db).await), (0, 0));
}

#[sqlx::test]
async fn password_sign_in_and_sign_up_can_be_turned_off(db: PgPool) {
    let provider = Provider::start().await;
    let app = app_with(db.clone(), &provider, true, false).await;
    old_password_account(&db).await;

    let page = app.get("/signin").await.text().await.unwrap();
    assert!(page.contains("Sign in with Acme ID"));
    assert!(!page.contains("action=\"/signin\""), "no password form");
    let response = app.post("/signin", &[("email", "old@example.com"), ("password", "correct horse battery")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "a right password does not sign in either");
    assert_eq!(signed_in_as(&app, &app.client).await, None);

    let response = app.get("/signup?next=/teams").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/signin?next=%2Fteams");
    let response = app
        .post(
            "/signup",
            &[("email", "new@example.com"), ("display_name", "New"), ("password", "correct horse battery")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(accounts(&db).await, 1);

    // No page offers a password sign-up: not the header, the welcome page nor the sign-in page.
    for path in ["/", "/signin"] {
        let page = app.get(path).await.text().await.unwrap();
        assert!(!page.contains("href=\"/signup"), "{path} offers no password sign-up");
        assert!(page.contains("href=\"/signin"), "{path} offers sign-in");
    }

    // The provider still signs people in (and, with sign-up on, makes their account).
    provider.person("acme|new", "new@example.com", true);
    assert_eq!(sso(&app, &app.client).await.status(), StatusCode::SEE_OTHER);
    assert!(signed_in_as(&app, &app.client).await.is_some());

    // An invite asks a stranger to sign in, not to create a password account.
    let slug = app.team(&app.client, "Payments").await;
    let invite = app.invite(&app.client, &slug, "member").await;
    let page = app.get_as(&new_client(), &invite).await.text().await.unwrap();
    assert!(page.contains("Sign in to accept."));
    assert!(!page.contains("href=\"/signup"), "the invite offers no password sign-up");
}

#[sqlx::test]
async fn with_passwords_on_the_pages_offer_a_password_sign_up(db: PgPool) {
    let provider = Provider::start().await;
    let app = app_with(db, &provider, false, true).await;
    for path in ["/", "/signin"] {
        let page = app.get(path).await.text().await.unwrap();
        assert!(page.contains("href=\"/signup"), "{path} offers a password sign-up");
    }
    let lead = app.user("lead@example.com", "Lead").await;
    let slug = app.team(&lead, "Payments").await;
    let invite = app.invite(&lead, &slug, "member").await;
    let page = app.get_as(&new_client(), &invite).await.text().await.unwrap();
    assert!(page.contains("Create an account or sign in to accept."));
    assert!(page.contains("href=\"/signup?"));
}

#[sqlx::test]
async fn a_provider_that_cannot_be_reached_gets_a_503_and_no_sign_in(db: PgPool) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_app_with(db, move |config| {
        config.oidc_issuer = Some(issuer);
        config.oidc_client_id = Some("gameday-tests".into());
        config.oidc_name = "Acme ID".into();
    })
    .await;
    let response = app.get("/signin/sso").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    assert!(response.text().await.unwrap().contains("Acme ID cannot be reached right now"));
}

#[sqlx::test]
async fn an_account_without_a_password_is_deleted_once_the_provider_checks_again(db: PgPool) {
    let provider = Provider::start().await;
    let app = app_with(db.clone(), &provider, true, true).await;
    provider.person("acme|ana", "ana@example.com", true);
    let client = new_client();
    assert_eq!(sso(&app, &client).await.status(), StatusCode::SEE_OTHER);
    let page = app.get_as(&client, "/account/delete").await.text().await.unwrap();
    assert!(!page.contains("name=\"password\""), "no password field for an account without one");

    // Being signed in is not enough: the provider must check the person again.
    let response = app.post_as(&client, "/account/delete", &[("password", ""), ("code", "")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("Confirm it is you first"));
    let erased: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select erased_at from users").fetch_one(&db).await.unwrap();
    assert!(erased.is_none());

    // A token that says the provider last checked her an hour ago does not confirm it.
    let an_hour_ago = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
    provider.next_token(serde_json::json!({
        "claims": { "sub": "acme|ana", "email": "ana@example.com", "email_verified": true, "auth_time": an_hour_ago }
    }));
    let start = "/signin/sso?confirm=1&next=/account/delete";
    let authorize = location(&app.get_as(&client, start).await);
    assert!(
        authorize.contains("prompt=login") && authorize.contains("max_age=0"),
        "the provider is asked to check again"
    );
    let callback = at_provider(&app, &client, start).await;
    assert_eq!(client.get(&callback).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let response = app.post_as(&client, "/account/delete", &[("password", ""), ("code", "")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Another person's identity does not confirm hers.
    provider.person("acme|bob", "bob@example.com", true);
    assert_eq!(sso(&app, &new_client()).await.status(), StatusCode::SEE_OTHER);
    let callback = at_provider(&app, &client, start).await;
    let back = client.get(&callback).send().await.unwrap();
    assert_eq!(location(&back), "/account/delete");
    let response = app.post_as(&client, "/account/delete", &[("password", ""), ("code", "")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "Bob's sign-in confirms nothing of Ana's");

    // Checked just now (from the page's link): confirmed.
    provider.person("acme|ana", "ana@example.com", true);
    let callback = at_provider(&app, &client, start).await;
    let back = client.get(&callback).send().await.unwrap();
    assert_eq!(location(&back), "/account/delete");
    assert_eq!(signed_in_as(&app, &client).await.as_deref(), Some("Ana Okafor"), "still herself");
    let response = app.post_as(&client, "/account/delete", &[("password", ""), ("code", "")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        sqlx::query_scalar::<_, i64>("select count(*) from oidc_identities where subject = 'acme|ana'")
            .fetch_one(&db)
            .await
            .unwrap(),
        0,
        "the identity is erased with the account"
    );

    // And the provider's subject no longer opens anything: with sign-up on, it makes a new account.
    let after = new_client();
    assert_eq!(sso(&app, &after).await.status(), StatusCode::SEE_OTHER);
    let live: i64 =
        sqlx::query_scalar("select count(*) from users where erased_at is null").fetch_one(&db).await.unwrap();
    assert_eq!(live, 2, "Bob, and Ana's new account");
}

#[sqlx::test]
async fn a_token_for_another_client_is_refused(db: PgPool) {
    let provider = Provider::start().await;
    let app = app_with(db.clone(), &provider, true, true).await;
    provider.next_token(serde_json::json!({
        "claims": { "sub": "acme|ana", "email": "ana@example.com", "email_verified": true, "aud": "another-app" }
    }));
    let client = new_client();
    assert_eq!(sso(&app, &client).await.status(), StatusCode::UNAUTHORIZED);
    provider.next_token(serde_json::json!({
        "claims": { "sub": "acme|ana", "email": "ana@example.com", "email_verified": true, "iss": "http://127.0.0.1:1" }
    }));
    assert_eq!(sso(&app, &client).await.status(), StatusCode::UNAUTHORIZED, "nor one from another issuer");
    assert_eq!(signed_in_as(&app, &client).await, None);
    assert_eq!((accounts(&db).await, identities(&db).await), (0, 0));
}

#[sqlx::test]
async fn an_account_with_two_factor_still_asks_for_its_code_after_the_provider(db: PgPool) {
    let provider = Provider::start().await;
    let app = app_with(db.clone(), &provider, false, true).await;
    app.user("ana@example.com", "Ana").await;
    provider.person("acme|ana", "ana@example.com", true);
    let client = new_client();
    assert_eq!(location(&sso(&app, &client).await), "/signin?next=%2Faccount");
    let linked =
        app.post_as(&client, "/signin", &[("email", "ana@example.com"), ("password", "correct horse battery")]).await;
    assert_eq!(linked.status(), StatusCode::SEE_OTHER);
    assert_eq!(identities(&db).await, 1);
    // Two-factor turned on (as its page does, straight in the database here).
    sqlx::query("update users set totp_secret = '\\x3132333435363738393031323334353637383930'::bytea")
        .execute(&db)
        .await
        .unwrap();
    let laptop = new_client();
    let response = sso(&app, &laptop).await;
    assert_eq!(location(&response), "/signin/code", "the provider is the first factor, not both");
    assert_eq!(signed_in_as(&app, &laptop).await, None);
}

#[sqlx::test]
async fn an_account_without_a_password_is_never_handed_to_another_identity_with_its_address(db: PgPool) {
    let provider = Provider::start().await;
    let app = app_with(db.clone(), &provider, true, true).await;
    provider.person("acme|ana", "ana@example.com", true);
    assert_eq!(sso(&app, &new_client()).await.status(), StatusCode::SEE_OTHER);
    // The provider now gives the address to another subject (reassigned, or another person).
    provider.person("acme|someone-else", "ana@example.com", true);
    let client = new_client();
    let response = sso(&app, &client).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("has no password to link it with"));
    assert_eq!(signed_in_as(&app, &client).await, None);
    assert_eq!(identities(&db).await, 1);
}

#[sqlx::test]
async fn with_passwords_off_an_unlinked_account_is_told_to_ask_and_nothing_waits_to_link(db: PgPool) {
    let provider = Provider::start().await;
    let app = app_with(db.clone(), &provider, true, false).await;
    old_password_account(&db).await;
    provider.person("acme|old", "old@example.com", true);
    let client = new_client();
    let response = sso(&app, &client).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = response.text().await.unwrap();
    assert!(page.contains("Ask your Gameday administrator to link it"), "{page}");
    assert!(!page.contains("link-notice"), "no offer of a password form that is turned off");
    assert!(!app.get_as(&client, "/signin").await.text().await.unwrap().contains("link-notice"));
}
