//! Trying to get in through the session store, which loads a session together with its person and
//! their account session in one statement and keeps what it found for that request only: an
//! ended session is refused on the very next request, a tampered or unknown cookie is a visitor,
//! one person's cookie never yields another person, and an idle session expires.

use reqwest::{Client, StatusCode};
use sqlx::PgPool;

use crate::helpers::{TestApp, location, new_client, spawn_app};

const PASSWORD: &str = "correct horse battery";

/// Signs `email` up and returns the session id its Set-Cookie gives.
async fn signed_up_cookie(app: &TestApp, email: &str, name: &str) -> String {
    let response =
        app.signup_with(&new_client(), &[("email", email), ("display_name", name), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|value| {
            let (name, id) = value.to_str().ok()?.split(';').next()?.split_once('=')?;
            (name == gameday::app::SESSION_COOKIE && !id.is_empty()).then(|| id.to_owned())
        })
        .expect("a session cookie")
}

/// GET `path` with exactly this session cookie (no cookie jar).
async fn get_with_cookie(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    let client = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    client
        .get(app.url(path))
        .header("cookie", format!("{}={cookie}", gameday::app::SESSION_COOKIE))
        .send()
        .await
        .unwrap()
}

fn sent_to_sign_in(response: &reqwest::Response) -> bool {
    response.status() == StatusCode::SEE_OTHER && location(response).starts_with("/signin")
}

#[sqlx::test]
async fn a_session_ended_elsewhere_is_refused_on_the_very_next_request(db: PgPool) {
    let app = spawn_app(db).await;
    let laptop = app.user("ana@example.com", "Ana").await;
    let phone = new_client();
    let response = app.post_as(&phone, "/signin", &[("email", "ana@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // Both have been seen (their sessions loaded, checked and marked seen) just before.
    assert_eq!(app.get_as(&laptop, "/account").await.status(), StatusCode::OK);
    assert_eq!(app.get_as(&phone, "/account").await.status(), StatusCode::OK);

    // "Sign out everywhere" from the phone: the laptop's next request is refused.
    let response = app.post_as(&phone, "/account/sessions/end-all", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(sent_to_sign_in(&app.get_as(&laptop, "/account").await), "the laptop is signed out at once");
    assert!(sent_to_sign_in(&app.get_as(&laptop, "/account").await), "and stays signed out");

    // Ended by another instance (the row simply goes): refused at once too.
    let response = app.post_as(&phone, "/signin", &[("email", "ana@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get_as(&phone, "/account").await.status(), StatusCode::OK);
    sqlx::query("delete from account_sessions").execute(&app.db).await.unwrap();
    assert!(sent_to_sign_in(&app.get_as(&phone, "/account").await), "a deleted account session is refused");
}

#[sqlx::test]
async fn a_password_changed_elsewhere_signs_the_other_sessions_out_at_once(db: PgPool) {
    let app = spawn_app(db).await;
    let cookie = signed_up_cookie(&app, "ana@example.com", "Ana").await;
    assert_eq!(get_with_cookie(&app, &cookie, "/account").await.status(), StatusCode::OK);
    // The hash changes under the session (as a password change from another device does).
    sqlx::query("update users set password_hash = password_hash || 'x'").execute(&app.db).await.unwrap();
    assert!(sent_to_sign_in(&get_with_cookie(&app, &cookie, "/account").await));
}

#[sqlx::test]
async fn a_tampered_or_unknown_cookie_is_a_visitor(db: PgPool) {
    let app = spawn_app(db).await;
    let cookie = signed_up_cookie(&app, "ana@example.com", "Ana").await;
    assert_eq!(get_with_cookie(&app, &cookie, "/account").await.status(), StatusCode::OK, "the real cookie works");

    let mut tampered = cookie.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let unknown = "AAAAAAAAAAAAAAAAAAAAAA";
    for cookie in [tampered.as_str(), unknown, "not-a-session-id", "", "%00%27;--"] {
        let response = get_with_cookie(&app, cookie, "/account").await;
        assert!(sent_to_sign_in(&response), "{cookie:?}: {}", response.status());
        let response = get_with_cookie(&app, cookie, "/").await;
        assert!(response.status().is_success() || response.status().is_redirection(), "{cookie:?}");
        assert!(!response.text().await.unwrap().contains("nav-user"), "{cookie:?}: nobody is signed in");
    }
}

#[sqlx::test]
async fn one_persons_cookie_never_yields_another_person_under_concurrent_requests(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = signed_up_cookie(&app, "ana@example.com", "Anastasia Quill").await;
    let li = signed_up_cookie(&app, "li@example.com", "Lindqvist Moro").await;

    let mut requests = Vec::new();
    for round in 0..30 {
        for (cookie, me, other) in
            [(&ana, "Anastasia Quill", "Lindqvist Moro"), (&li, "Lindqvist Moro", "Anastasia Quill")]
        {
            let app = &app;
            requests.push(async move {
                // Every page names the person signed in (the navigation bar).
                let path = if round % 2 == 0 { "/account" } else { "/" };
                let page = get_with_cookie(app, cookie, path).await.text().await.unwrap();
                (me, other, page.contains(me), page.contains(other))
            });
        }
    }
    for (me, other, mine, theirs) in futures_util::future::join_all(requests).await {
        assert!(mine, "{me}'s own page shows {me}");
        assert!(!theirs, "{me}'s page never shows {other}");
    }
}

#[sqlx::test]
async fn an_idle_session_expires_and_a_used_one_is_kept(db: PgPool) {
    let app = spawn_app(db).await;
    let cookie = signed_up_cookie(&app, "ana@example.com", "Ana").await;

    // Used: its idle expiry moves to 14 days from now, and the response renews the cookie.
    sqlx::query("update web_sessions set expiry_date = now() + interval '1 day'").execute(&app.db).await.unwrap();
    let response = get_with_cookie(&app, &cookie, "/account").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get_all("set-cookie").iter().any(|v| v.to_str().unwrap().contains("Max-Age")));
    let kept: bool = sqlx::query_scalar("select expiry_date > now() + interval '13 days' from web_sessions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(kept, "a used session's idle expiry is pushed back");

    // Used: its account session's "last seen" (shown on the account page) moves to now.
    sqlx::query("update account_sessions set last_seen_at = now() - interval '1 hour'").execute(&app.db).await.unwrap();
    assert_eq!(get_with_cookie(&app, &cookie, "/account").await.status(), StatusCode::OK);
    let seen: bool = sqlx::query_scalar("select last_seen_at > now() - interval '1 minute' from account_sessions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(seen, "a used session's last seen is now");

    // Idle past its expiry: a visitor.
    sqlx::query("update web_sessions set expiry_date = now() - interval '1 second'").execute(&app.db).await.unwrap();
    assert!(sent_to_sign_in(&get_with_cookie(&app, &cookie, "/account").await));
}

/// The navigation part of a page: the person's teams as the frame lists them.
fn nav_teams(page: &str) -> Vec<String> {
    let menu = page.split("<summary>Teams</summary>").nth(1).expect("the teams menu");
    let menu = menu.split("</ul>").next().unwrap();
    menu.split("<li><a href=\"/teams/")
        .skip(1)
        .filter_map(|item| item.split_once("\">").map(|(slug, _)| slug.to_owned()))
        .filter(|slug| slug != "new")
        .collect()
}

#[sqlx::test]
async fn the_frame_read_with_the_session_is_the_frame_read_on_its_own(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    // No team yet: a page (whose session load brings the frame) lists none.
    let page = app.get_as(&ana, "/").await.text().await.unwrap();
    assert!(nav_teams(&page).is_empty(), "{:?}", nav_teams(&page));
    let zeta = app.team(&ana, "Zeta").await;
    let alpha = app.team(&ana, "Alpha").await;

    // A GET page: the frame came with the session load, teams sorted by name.
    let shown = app.get_as(&ana, "/").await.text().await.unwrap();
    assert_eq!(nav_teams(&shown), vec![alpha.clone(), zeta.clone()]);
    // A refused form post shows its page again; its session load did not bring the frame, so the
    // page reads it on its own, and it is the same.
    let refused = app.post_as(&ana, "/teams", &[("name", ""), ("slug", "")]).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(nav_teams(&refused.text().await.unwrap()), vec![alpha, zeta]);
    app.stop().await;
}

#[sqlx::test]
async fn the_game_day_read_with_the_session_is_the_game_day_read_on_its_own(db: PgPool) {
    use gameday::accounts::store::{insert_web_session, load_web_session};
    use gameday::gamedays::store::{MemberContextRow, member_context};

    let day = crate::gamedays::Day::new(db).await;
    let db = day.app.db.clone();
    // Li is on the game day (as is Ana, who made it), Vi in the team but not on it, Eve in no
    // team; the team is archived (every field of the row has a value somewhere).
    sqlx::query("update teams set archived_at = now() where slug = $1").bind(&day.slug).execute(&db).await.unwrap();
    let mut with_role = 0;
    for email in ["ana@example.com", "li@example.com", "vi@example.com", "eve@example.com"] {
        let user = crate::helpers::user_id(&db, email).await;
        let sid = format!("context-{user}");
        let data = serde_json::json!({ "axum-login.data": { "user_id": user } });
        let expiry = time::OffsetDateTime::now_utc() + time::Duration::days(1);
        assert!(insert_web_session(&db, &sid, &data, expiry).await.unwrap());
        let other_day = uuid::Uuid::new_v4();
        for (slug, id) in [(day.slug.as_str(), day.id), (day.slug.as_str(), other_day), ("no-such-team", day.id)] {
            let mut conn = db.acquire().await.unwrap();
            let context = Some((slug, id));
            let stored = load_web_session(&mut conn, &sid, 14, "axum-login.data", "account_session", false, context)
                .await
                .unwrap()
                .expect("the session");
            let loaded = stored
                .context
                .map(|row| serde_json::from_value::<MemberContextRow>(row).expect("decodes").into_context());
            let read = member_context(&db, slug, user, id).await.unwrap();
            assert_eq!(format!("{loaded:?}"), format!("{read:?}"), "{email} at {slug}/{id}");
            with_role += usize::from(read.is_some_and(|(_, gameday, role)| gameday.is_some() && role.is_some()));
        }
        // Not asked, not read.
        let stored = load_web_session(
            &mut db.acquire().await.unwrap(),
            &sid,
            14,
            "axum-login.data",
            "account_session",
            false,
            None,
        )
        .await
        .unwrap()
        .expect("the session");
        assert!(stored.context.is_none());
    }
    assert_eq!(with_role, 2, "Ana and Li are on the game day");
}

#[sqlx::test]
async fn a_session_ended_while_its_expiry_is_pushed_is_gone_not_written_back(db: PgPool) {
    use gameday::accounts::store::load_web_session;

    let app = spawn_app(db).await;
    signed_up_cookie(&app, "ana@example.com", "Ana").await;
    let sid: String = sqlx::query_scalar("select id from web_sessions").fetch_one(&app.db).await.unwrap();
    // Idle long enough that the load will push the expiry (its second statement).
    sqlx::query("update web_sessions set expiry_date = now() + interval '1 day'").execute(&app.db).await.unwrap();
    // Signed out elsewhere meanwhile: the row is deleted by a transaction that commits after the
    // load read it and before its write.
    let mut other = app.db.begin().await.unwrap();
    sqlx::query("delete from web_sessions").execute(&mut *other).await.unwrap();
    let db = app.db.clone();
    let load = tokio::spawn(async move {
        let mut conn = db.acquire().await.unwrap();
        load_web_session(&mut conn, &sid, 14, "axum-login.data", "account_session", false, None).await.unwrap()
    });
    let mut waiting = 0i64;
    for _ in 0..200 {
        waiting = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(waiting, 1, "the load's write waits for the sign-out");
    other.commit().await.unwrap();
    assert!(load.await.unwrap().is_none(), "a session ended meanwhile is gone");
}
