//! Signed-in sessions and passwords (ASVS 5.0 chapters 6 and 7): the list of sessions, ending
//! one or all, the absolute lifetime, changing the password, and weak passwords refused.

use reqwest::{Client, StatusCode};
use sqlx::PgPool;

use crate::helpers::{TestApp, location, new_client, spawn_app};

const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "violet tugboat orchard lantern";

/// Signs `email` in with a new client, as another browser would.
async fn sign_in(app: &TestApp, email: &str, password: &str, agent: &str) -> Client {
    let client = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(agent)
        .build()
        .unwrap();
    let response = app.post_as(&client, "/signin", &[("email", email), ("password", password)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "sign-in of {email} should succeed");
    client
}

async fn is_signed_in(app: &TestApp, client: &Client) -> bool {
    let response = app.get_as(client, "/account").await;
    match response.status() {
        StatusCode::OK => true,
        StatusCode::SEE_OTHER => {
            assert!(location(&response).starts_with("/signin"), "a visitor is sent to sign in");
            false
        }
        other => panic!("unexpected {other}"),
    }
}

async fn session_ids(app: &TestApp, email: &str) -> Vec<uuid::Uuid> {
    sqlx::query_scalar(
        "select s.id from account_sessions s join users u on u.id = s.user_id where u.email = $1 order by s.created_at",
    )
    .bind(email)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[sqlx::test]
async fn the_account_page_lists_each_session_and_one_can_be_ended(db: PgPool) {
    let app = spawn_app(db).await;
    let laptop = app.user("ana@example.com", "Ana").await;
    let phone = sign_in(
        &app,
        "ana@example.com",
        PASSWORD,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1",
    )
    .await;

    let page = app.get_as(&laptop, "/account").await.text().await.unwrap();
    assert!(page.contains("Safari on iPhone"), "the phone's session is listed by its device");
    assert!(page.contains("This browser"), "the laptop's own session is marked");
    let ids = session_ids(&app, "ana@example.com").await;
    assert_eq!(ids.len(), 2);
    let phone_session = ids[1];

    let response = app.post_as(&laptop, &format!("/account/sessions/{phone_session}/end"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(!is_signed_in(&app, &phone).await, "the phone is signed out on its next request");
    assert!(is_signed_in(&app, &laptop).await, "the laptop stays signed in");
    assert_eq!(session_ids(&app, "ana@example.com").await.len(), 1);
}

#[sqlx::test]
async fn nobody_can_end_another_persons_session(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let li = app.user("li@example.com", "Li").await;
    let li_session = session_ids(&app, "li@example.com").await[0];

    let response = app.post_as(&ana, &format!("/account/sessions/{li_session}/end"), &[]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(is_signed_in(&app, &li).await);
    let response = app.post_as(&ana, "/account/sessions/not-an-id/end", &[]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn sign_out_everywhere_ends_every_session_of_the_person_only(db: PgPool) {
    let app = spawn_app(db).await;
    let laptop = app.user("ana@example.com", "Ana").await;
    let phone = sign_in(&app, "ana@example.com", PASSWORD, "phone").await;
    let li = app.user("li@example.com", "Li").await;

    let response = app.post_as(&laptop, "/account/sessions/end-all", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/signin");
    assert!(!is_signed_in(&app, &laptop).await);
    assert!(!is_signed_in(&app, &phone).await);
    assert!(is_signed_in(&app, &li).await, "another person's session is untouched");
    assert!(session_ids(&app, "ana@example.com").await.is_empty());
}

#[sqlx::test]
async fn a_session_ends_after_its_absolute_lifetime_however_active(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    assert!(is_signed_in(&app, &ana).await);

    let days = gameday::accounts::SESSION_MAX_DAYS + 1;
    sqlx::query("update account_sessions set created_at = now() - make_interval(days => $1), last_seen_at = now()")
        .bind(days as i32)
        .execute(&app.db)
        .await
        .unwrap();
    let response = app.get_as(&ana, "/account").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/signin?next=%2Faccount");
    let signin = app.get_as(&ana, "/signin").await.text().await.unwrap();
    assert!(signin.contains("Your session has ended. Please sign in again."), "the person is told why");
    assert!(session_ids(&app, "ana@example.com").await.is_empty(), "the expired session is deleted");
}

#[sqlx::test]
async fn changing_the_password_needs_the_current_one_and_ends_the_other_sessions(db: PgPool) {
    let app = spawn_app(db).await;
    let laptop = app.user("ana@example.com", "Ana").await;
    let phone = sign_in(&app, "ana@example.com", PASSWORD, "phone").await;

    let response = app
        .post_as(
            &laptop,
            "/account/password",
            &[("current_password", "not my password"), ("new_password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"id="current_password-error">That is not your current password."#), "{page}");
    assert!(is_signed_in(&app, &phone).await, "nothing changed");

    let response = app
        .post_as(&laptop, "/account/password", &[("current_password", PASSWORD), ("new_password", "password123")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"id="new_password-error">This password is too easy to guess"#), "{page}");

    let response = app
        .post_as(&laptop, "/account/password", &[("current_password", PASSWORD), ("new_password", NEW_PASSWORD)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = app.get_as(&laptop, "/account").await.text().await.unwrap();
    assert!(page.contains("Password changed."), "this session stays signed in, and is told");
    assert!(!is_signed_in(&app, &phone).await, "every other session is signed out");

    let old = new_client();
    let response = app.post_as(&old, "/signin", &[("email", "ana@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "the old password no longer works");
    sign_in(&app, "ana@example.com", NEW_PASSWORD, "new").await;
}

#[sqlx::test]
async fn a_password_change_with_a_stolen_session_alone_cannot_guess_faster_than_sign_in(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    for attempt in 0..gameday::accounts::MAX_FAILURES_PER_ACCOUNT {
        let guess = format!("guess number {attempt}");
        let response = app
            .post_as(&ana, "/account/password", &[("current_password", &guess), ("new_password", NEW_PASSWORD)])
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let response =
        app.post_as(&ana, "/account/password", &[("current_password", PASSWORD), ("new_password", NEW_PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "even the right one waits, as at sign-in");
    assert!(response.text().await.unwrap().contains("Too many wrong passwords."));
}

#[sqlx::test]
async fn a_weak_or_personal_password_is_refused_at_sign_up(db: PgPool) {
    let app = spawn_app(db).await;
    for weak in ["password123", "ana.lima"] {
        let response = app
            .post("/signup", &[("email", "ana.lima@example.com"), ("display_name", "Ana Lima"), ("password", weak)])
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
        let page = response.text().await.unwrap();
        assert!(page.contains(r#"id="password-error">This password is too easy to guess"#), "{weak}: {page}");
        assert!(page.contains(r#"value="ana.lima@example.com""#), "the email is kept");
    }
    let count: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&app.db).await.unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test]
async fn deleting_an_account_erases_the_person_and_keeps_the_record(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let app = &day.app;
    let scenario = day.scenario("Primary fails over").await;
    assert_eq!(day.sign(&day.li, &scenario, "approve", "").await.status(), StatusCode::SEE_OTHER);
    let li_id = crate::helpers::user_id(&app.db, "li@example.com").await;

    let response = app.post_as(&day.li, "/account/delete", &[("password", "not it")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains(r#"id="password-error">That is not your current password."#));

    let response = app.post_as(&day.li, "/account/delete", &[("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/signin");
    assert!(!is_signed_in(app, &day.li).await);

    let (email, name, erased): (String, String, bool) =
        sqlx::query_as("select email, display_name, erased_at is not null from users where id = $1")
            .bind(li_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (email.as_str(), name.as_str(), erased),
        (format!("erased-{li_id}@invalid").as_str(), "A former member", true)
    );
    let sessions: i64 = sqlx::query_scalar("select count(*) from account_sessions where user_id = $1")
        .bind(li_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
    let response = app.post_as(&new_client(), "/signin", &[("email", "li@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "nobody signs in as them again");

    let team = day.page(&day.ana, &format!("/teams/{}", day.slug)).await;
    assert!(!team.contains(">Li<"), "they left the team");
    let timeline = day.page(&day.ana, &format!("{}/timeline", day.url)).await;
    assert!(timeline.contains(r#"<span class="event-actor">A former member</span>"#), "the record stays, unnamed");
    let audit = day.page(&day.ana, &format!("/teams/{}/audit", day.slug)).await;
    assert!(audit.contains("A former member (was member) left the team: they deleted their account."));
    assert!(!audit.contains("Li left"), "what the deletion itself writes names nobody");

    app.signup_as(&new_client(), "li@example.com", "Li again").await;
}

#[sqlx::test]
async fn an_account_is_not_deleted_while_its_owner_is_the_only_lead_or_objects(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let app = &day.app;
    let response = app.post_as(&day.ana, "/account/delete", &[("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(
        response.text().await.unwrap().contains("You are the only lead of Platform: make someone else a lead first.")
    );

    let scenario = day.scenario("Primary fails over").await;
    assert_eq!(
        day.sign(&day.bo, &scenario, "object", "The replica is a week behind.").await.status(),
        StatusCode::SEE_OTHER
    );
    let response = app.post_as(&day.bo, "/account/delete", &[("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "a standing objection does not vanish with its author");
    assert!(response.text().await.unwrap().contains("The replica is a week behind."));

    let erased: i64 =
        sqlx::query_scalar("select count(*) from users where erased_at is not null").fetch_one(&app.db).await.unwrap();
    assert_eq!(erased, 0, "nothing was erased");
    assert!(is_signed_in(app, &day.ana).await && is_signed_in(app, &day.bo).await);
}

#[sqlx::test]
async fn the_only_member_of_a_team_can_delete_their_account_and_the_team_stays(db: PgPool) {
    let app = spawn_app(db).await;
    let solo = app.user("solo@example.com", "Solo").await;
    let slug = app.team(&solo, "Solo team").await;
    let response = app.post_as(&solo, "/account/delete", &[("password", PASSWORD)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let teams: i64 =
        sqlx::query_scalar("select count(*) from teams where slug = $1").bind(&slug).fetch_one(&app.db).await.unwrap();
    assert_eq!(teams, 1);
}
