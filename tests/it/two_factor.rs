//! Two-factor sign-in (ASVS 5.0, 6.5 and 6.6): set up with a code from the app, asked after the
//! password, each code and recovery code accepted once, throttled like the password, and
//! required of a team's members by its leads.

use reqwest::{Client, StatusCode};
use sqlx::PgPool;

use crate::helpers::{TestApp, location, new_client, spawn_app};

const PASSWORD: &str = "correct horse battery";

/// The TOTP an authenticator app would make from the key shown on the set-up page.
fn app_totp(secret_text: &str) -> totp_rs::Totp {
    let secret = totp_rs::Secret::try_from_base32(secret_text.replace(' ', "")).expect("the key is Base32");
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.as_bytes().to_vec())
        .with_account_name("test")
        .build()
        .unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A code for `offset_steps` steps from now (one step ahead is still accepted).
fn code(totp: &totp_rs::Totp, offset_steps: i64) -> String {
    totp.generate((now() as i64 + offset_steps * 30) as u64).to_string()
}

fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let from = page.find(start).unwrap_or_else(|| panic!("{start} not in page")) + start.len();
    let to = page[from..].find(end).unwrap() + from;
    &page[from..to]
}

/// Turns two-factor on for a signed-in client; returns the app's TOTP and the recovery codes.
async fn turn_on(app: &TestApp, client: &Client) -> (totp_rs::Totp, Vec<String>) {
    let page = app.get_as(client, "/account/two-factor").await.text().await.unwrap();
    let totp = app_totp(between(&page, r#"<code class="secret">"#, "</code>"));
    let response =
        app.post_as(client, "/account/two-factor", &[("code", &code(&totp, 0)), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = app.get_as(client, "/account/two-factor").await.text().await.unwrap();
    let list = between(&page, r#"<ul class="recovery-codes">"#, "</ul>");
    let codes: Vec<String> =
        list.split("<code>").skip(1).map(|c| c.split("</code>").next().unwrap().to_owned()).collect();
    (totp, codes)
}

async fn password_step(app: &TestApp, client: &Client, email: &str) {
    let response = app.post_as(client, "/signin", &[("email", email), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/signin/code", "the password alone does not sign in");
}

async fn is_signed_in(app: &TestApp, client: &Client) -> bool {
    app.get_as(client, "/account").await.status() == StatusCode::OK
}

#[sqlx::test]
async fn turning_it_on_needs_a_code_from_the_app_and_shows_the_recovery_codes_once(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let page = app.get_as(&ana, "/account/two-factor").await.text().await.unwrap();
    assert!(page.contains("<svg"), "a QR code to scan");
    let secret_text = between(&page, r#"<code class="secret">"#, "</code>").to_owned();
    let again = app.get_as(&ana, "/account/two-factor").await.text().await.unwrap();
    assert!(again.contains(&secret_text), "the key stays the same until it is confirmed");

    let response = app.post_as(&ana, "/account/two-factor", &[("code", "000000"), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains(r#"id="code-error">That code does not match"#));
    let response = app.post_as(&ana, "/account/two-factor", &[("code", "not a code"), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let right = app_totp(&secret_text).generate(now()).to_string();
    let response = app.post_as(&ana, "/account/two-factor", &[("code", &right), ("password", "not it")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "a session alone cannot turn it on");
    assert!(response.text().await.unwrap().contains(r#"id="password-error">That is not your current password."#));

    let (_, codes) = turn_on(&app, &ana).await;
    assert_eq!(codes.len(), 10);
    let page = app.get_as(&ana, "/account/two-factor").await.text().await.unwrap();
    assert!(!page.contains(&codes[0]), "the codes are shown once");
    assert!(page.contains("<strong>10</strong> unused recovery codes"));
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("select code_hash from recovery_codes").fetch_all(&app.db).await.unwrap();
    assert_eq!(stored.len(), 10);
    assert!(stored.iter().all(|h| h.len() == 32 && !codes.iter().any(|c| c.as_bytes() == h.as_slice())), "only hashes");
}

#[sqlx::test]
async fn signing_in_asks_for_a_code_after_the_password_and_a_code_works_once(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let (totp, _) = turn_on(&app, &ana).await;

    let laptop = new_client();
    password_step(&app, &laptop, "ana@example.com").await;
    assert!(!is_signed_in(&app, &laptop).await, "not signed in between the two steps");
    let response = app.post_as(&laptop, "/signin/code", &[("code", "123456")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains(r#"id="code-error">That code is not right"#));

    let next = code(&totp, 1);
    let response = app.post_as(&laptop, "/signin/code", &[("code", &next)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
    assert!(is_signed_in(&app, &laptop).await);

    let thief = new_client();
    password_step(&app, &thief, "ana@example.com").await;
    let response = app.post_as(&thief, "/signin/code", &[("code", &next)]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "a code seen once cannot be replayed");
    assert!(!is_signed_in(&app, &thief).await);
}

#[sqlx::test]
async fn a_recovery_code_signs_in_once(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let (_, codes) = turn_on(&app, &ana).await;

    let phone_lost = new_client();
    password_step(&app, &phone_lost, "ana@example.com").await;
    let response = app.post_as(&phone_lost, "/signin/code", &[("code", &codes[3].to_uppercase())]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let home = app.get_as(&phone_lost, "/").await.text().await.unwrap();
    assert!(home.contains("You signed in with a recovery code; 9 left."), "the person is told what is left");

    let again = new_client();
    password_step(&app, &again, "ana@example.com").await;
    let response = app.post_as(&again, "/signin/code", &[("code", &codes[3])]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "a used recovery code does not work again");
}

#[sqlx::test]
async fn guessing_codes_is_throttled_like_passwords_and_the_step_needs_the_password_first(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let (totp, _) = turn_on(&app, &ana).await;

    let stranger = new_client();
    let response = app.get_as(&stranger, "/signin/code").await;
    assert_eq!(location(&response), "/signin", "no password step, no code page");
    let response = app.post_as(&stranger, "/signin/code", &[("code", &code(&totp, 0))]).await;
    assert_eq!(location(&response), "/signin");
    assert!(!is_signed_in(&app, &stranger).await);

    // Attempt 1 (the password step, which counts until the code is given), then 2 to 4.
    let guesser = new_client();
    password_step(&app, &guesser, "ana@example.com").await;
    let mut statuses = Vec::new();
    for guess in 0..3 {
        let response = app.post_as(&guesser, "/signin/code", &[("code", &format!("{:06}", guess * 7))]).await;
        statuses.push((response.status(), location(&response)));
    }
    let wrong = (StatusCode::UNPROCESSABLE_ENTITY, String::new());
    let again = (StatusCode::SEE_OTHER, "/signin".to_owned());
    assert_eq!(statuses, [wrong.clone(), wrong, again], "three wrong codes void the password step");
    let response = app.get_as(&guesser, "/signin/code").await;
    assert_eq!(location(&response), "/signin");
    // Attempt 5 is the password again; attempt 6, a code, waits, and so does the right one.
    password_step(&app, &guesser, "ana@example.com").await;
    let response = app.post_as(&guesser, "/signin/code", &[("code", "000111")]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "the password steps counted too");
    let response = app.post_as(&guesser, "/signin/code", &[("code", &code(&totp, 1))]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "even the right code waits");
    assert!(response.text().await.unwrap().contains("Too many wrong codes from here."));
}

#[sqlx::test]
async fn turning_it_off_needs_the_password_and_a_code(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let (totp, _) = turn_on(&app, &ana).await;

    let response = app
        .post_as(&ana, "/account/two-factor/disable", &[("password", "wrong password"), ("code", &code(&totp, 1))])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains(r#"id="password-error">That is not your current password."#));
    let response =
        app.post_as(&ana, "/account/two-factor/disable", &[("password", PASSWORD), ("code", "000000")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response =
        app.post_as(&ana, "/account/two-factor/disable", &[("password", PASSWORD), ("code", &code(&totp, 1))]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let on: Option<Vec<u8>> = sqlx::query_scalar("select totp_secret from users").fetch_one(&app.db).await.unwrap();
    assert!(on.is_none());
    let client = new_client();
    let response = app.post_as(&client, "/signin", &[("email", "ana@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(location(&response), "/", "the password alone signs in again");
}

#[sqlx::test]
async fn a_team_that_requires_two_factor_is_closed_to_members_without_it(db: PgPool) {
    let app = spawn_app(db).await;
    let lead = app.user("lead@example.com", "Lead").await;
    let slug = app.team(&lead, "Payments").await;
    let member = app.user("mo@example.com", "Mo").await;
    let invite = app.invite(&lead, &slug, "member").await;
    assert_eq!(app.post_as(&member, &format!("{invite}/accept"), &[]).await.status(), StatusCode::SEE_OTHER);
    let outsider = app.user("out@example.com", "Out").await;
    let rule = format!("/teams/{slug}/settings/two-factor");

    let response = app.post_as(&lead, &rule, &[("require", "on")]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "a lead without it cannot require it");
    assert!(response.text().await.unwrap().contains("Set up two-factor sign-in for yourself first"));
    turn_on(&app, &lead).await;
    assert_eq!(app.post_as(&member, &rule, &[("require", "on")]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.post_as(&outsider, &rule, &[("require", "on")]).await.status(), StatusCode::NOT_FOUND);
    let response = app.post_as(&lead, &rule, &[("require", "on")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let settings = app.get_as(&lead, &format!("/teams/{slug}/settings")).await.text().await.unwrap();
    assert!(settings.contains("cannot open the team until they set it up: Mo."), "the lead sees who is shut out");

    let response = app.get_as(&member, &format!("/teams/{slug}")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("Payments requires two-factor sign-in of its members."));
    let (totp, _) = turn_on(&app, &member).await;
    assert_eq!(app.get_as(&member, &format!("/teams/{slug}")).await.status(), StatusCode::OK);

    let response =
        app.post_as(&member, "/account/two-factor/disable", &[("password", PASSWORD), ("code", &code(&totp, 1))]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "it stays on while the team requires it");
    assert!(response.text().await.unwrap().contains("Payments requires two-factor sign-in"));

    let audit = app.get_as(&lead, &format!("/teams/{slug}/audit")).await.text().await.unwrap();
    assert!(audit.contains("Lead now requires two-factor sign-in of every member."));
    let response = app.post_as(&lead, &rule, &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let required: bool = sqlx::query_scalar("select require_two_factor from teams").fetch_one(&app.db).await.unwrap();
    assert!(!required);
}

#[sqlx::test]
async fn a_team_closed_by_its_two_factor_rule_leaves_a_members_dashboard_until_they_set_it_up(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let app = &day.app;
    let home = app.get_as(&day.li, "/").await.text().await.unwrap();
    assert!(home.contains("Database failover drill"), "Li's dashboard lists the game day Li is on");

    turn_on(app, &day.ana).await;
    let rule = format!("/teams/{}/settings/two-factor", day.slug);
    assert_eq!(app.post_as(&day.ana, &rule, &[("require", "on")]).await.status(), StatusCode::SEE_OTHER);
    let home = app.get_as(&day.li, "/").await.text().await.unwrap();
    assert!(!home.contains("Database failover drill"), "nothing of the team reaches Li without two-factor");

    turn_on(app, &day.li).await;
    let home = app.get_as(&day.li, "/").await.text().await.unwrap();
    assert!(home.contains("Database failover drill"));
}

#[sqlx::test]
async fn turning_it_on_signs_out_the_sessions_that_had_only_the_password(db: PgPool) {
    let app = spawn_app(db).await;
    let laptop = app.user("ana@example.com", "Ana").await;
    let phone = new_client();
    let response = app.post_as(&phone, "/signin", &[("email", "ana@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(location(&response), "/");
    turn_on(&app, &laptop).await;
    assert!(is_signed_in(&app, &laptop).await);
    assert!(!is_signed_in(&app, &phone).await, "a session without the second factor ends");
}

#[sqlx::test]
async fn a_pending_sign_in_dies_when_the_password_changes(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let (totp, _) = turn_on(&app, &ana).await;
    let thief = new_client();
    password_step(&app, &thief, "ana@example.com").await;

    let form = [("current_password", PASSWORD), ("new_password", "violet tugboat orchard lantern")];
    assert_eq!(app.post_as(&ana, "/account/password", &form).await.status(), StatusCode::SEE_OTHER);
    let response = app.post_as(&thief, "/signin/code", &[("code", &code(&totp, 1))]).await;
    assert_eq!(location(&response), "/signin", "the stolen password's step is void");
    assert!(!is_signed_in(&app, &thief).await);
}

#[sqlx::test]
async fn the_settings_pages_cannot_be_used_to_guess_the_password_faster_than_sign_in(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let (totp, _) = turn_on(&app, &ana).await;
    for n in 0..gameday::accounts::MAX_FAILURES_PER_ACCOUNT {
        let guess = format!("guess {n}");
        let response = app.post_as(&ana, "/account/delete", &[("password", &guess), ("code", &code(&totp, 1))]).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let response =
        app.post_as(&ana, "/account/two-factor/disable", &[("password", PASSWORD), ("code", &code(&totp, 1))]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    assert!(response.text().await.unwrap().contains("Too many wrong passwords or codes from here."));
    let response = app.post_as(&ana, "/account/two-factor/recovery-codes", &[("renew_code", "123456")]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "and so do code guesses");
}

#[sqlx::test]
async fn a_member_shut_out_by_the_two_factor_rule_loses_the_teams_calendar_feed(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let app = &day.app;
    let feed = crate::calendar::my_feed(&day, &day.li).await;
    assert_eq!(app.get(&feed).await.status(), StatusCode::OK);

    turn_on(app, &day.ana).await;
    let rule = format!("/teams/{}/settings/two-factor", day.slug);
    assert_eq!(app.post_as(&day.ana, &rule, &[("require", "on")]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get(&feed).await.status(), StatusCode::NOT_FOUND, "nothing of the team without two-factor");
    turn_on(app, &day.li).await;
    assert_eq!(app.get(&feed).await.status(), StatusCode::OK);
}
