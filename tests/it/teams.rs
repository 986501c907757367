use reqwest::StatusCode;
use sqlx::PgPool;

use reqwest::Client;

use crate::helpers::{TestApp, location, new_client, spawn_app, user_id};

#[sqlx::test]
async fn a_new_team_has_its_creator_as_lead_and_a_derived_slug(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;

    let response = app.post_as(&ana, "/teams", &[("name", "Platform Team"), ("slug", "")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/teams/platform-team");
    let page = app.get_as(&ana, "/teams/platform-team").await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("<h1>Platform Team</h1>"));
    assert!(page.contains("You: Lead"));
    assert!(app.get_as(&ana, "/teams").await.text().await.unwrap().contains("/teams/platform-team"));
}

#[sqlx::test]
async fn a_taken_or_malformed_slug_is_refused_on_its_field(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    app.team(&ana, "Platform").await;

    let response = app.post_as(&ana, "/teams", &[("name", "Platform again"), ("slug", "platform")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"id="slug-error">Another team already uses this URL name"#));
    assert!(page.contains(r#"value="Platform again""#), "the name is kept");

    let response = app.post_as(&ana, "/teams", &[("name", "SRE"), ("slug", "Not A Slug")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains(r#"id="slug-error">Use lowercase letters"#));

    let long = "x".repeat(10 * 1024);
    for name in ["", "   ", long.as_str()] {
        let response = app.post_as(&ana, "/teams", &[("name", name), ("slug", "")]).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.text().await.unwrap().contains(r#"id="name-error""#));
    }
    let teams: i64 = sqlx::query_scalar("select count(*) from teams").fetch_one(&app.db).await.unwrap();
    assert_eq!(teams, 1);
}

#[sqlx::test]
async fn team_names_are_escaped(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "<b>Ana</b>").await;
    let slug = app.team(&ana, "<script>alert(1)</script>").await;
    let page = app.get_as(&ana, &format!("/teams/{slug}")).await.text().await.unwrap();
    assert!(!page.contains("<script>alert(1)</script>"));
    assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62;") || page.contains("&lt;script&gt;"));
    assert!(!page.contains("<b>Ana</b>"));
}

/// Every team URL, with the method it answers to.
fn team_urls(slug: &str, member: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GET", format!("/teams/{slug}")),
        ("GET", format!("/teams/{slug}/settings")),
        ("POST", format!("/teams/{slug}/settings")),
        ("POST", format!("/teams/{slug}/invites")),
        ("POST", format!("/teams/{slug}/invites/00000000-0000-0000-0000-000000000000/revoke")),
        ("POST", format!("/teams/{slug}/members/{member}/role")),
        ("POST", format!("/teams/{slug}/members/{member}/remove")),
        ("POST", format!("/teams/{slug}/members/not-a-uuid/remove")),
    ]
}

#[sqlx::test]
async fn a_non_member_gets_404_on_every_team_url_as_for_a_missing_team(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    let ana_id = user_id(&app.db, "ana@example.com").await.to_string();
    let eve = app.user("eve@example.com", "Eve").await;

    let form = [("role", "lead"), ("name", "Mine"), ("slug", "mine")];
    for ((method, path), (_, missing)) in team_urls(&slug, &ana_id).into_iter().zip(team_urls("no-such-team", &ana_id))
    {
        let (response, for_missing) = match method {
            "GET" => (app.get_as(&eve, &path).await, app.get_as(&eve, &missing).await),
            _ => (app.post_as(&eve, &path, &form).await, app.post_as(&eve, &missing, &form).await),
        };
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(for_missing.status(), StatusCode::NOT_FOUND, "{method} {missing}");
        let body = response.text().await.unwrap();
        assert!(!body.contains("Platform"), "{method} {path} leaks the team name");
        assert_eq!(body, for_missing.text().await.unwrap(), "{method} {path} answers unlike a missing team");
    }
    // Nothing changed: Ana is still the only member and lead.
    let members: Vec<(String,)> =
        sqlx::query_as("select role::text from team_members").fetch_all(&app.db).await.unwrap();
    assert_eq!(members, vec![("lead".to_owned(),)]);
    let invites: i64 = sqlx::query_scalar("select count(*) from team_invites").fetch_one(&app.db).await.unwrap();
    assert_eq!(invites, 0);
}

#[sqlx::test]
async fn signed_out_visitors_are_sent_to_sign_in_for_team_urls(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    let response = app.get_as(&new_client(), &format!("/teams/{slug}")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/signin?next=%2Fteams%2Fplatform");
    let response = app.post_as(&new_client(), &format!("/teams/{slug}/invites"), &[("role", "lead")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let invites: i64 = sqlx::query_scalar("select count(*) from team_invites").fetch_one(&app.db).await.unwrap();
    assert_eq!(invites, 0);
}

#[sqlx::test]
async fn an_invite_adds_the_person_with_its_role_once(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    let invite = app.invite(&ana, &slug, "viewer").await;

    // A visitor sees who invited them and is offered sign-up that returns to the invite.
    let page = app.get_as(&new_client(), &invite).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("Ana invited you to join <strong>Platform</strong>"));
    assert!(page.contains("/signup?next=%2Finvites%2F"));

    let li = app.user("li@example.com", "Li").await;
    let response = app.post_as(&li, &format!("{invite}/accept"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), format!("/teams/{slug}"));
    let page = app.get_as(&li, &format!("/teams/{slug}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("You: Viewer"));

    // Single use: a third person cannot use it.
    let bo = app.user("bo@example.com", "Bo").await;
    let response = app.post_as(&bo, &format!("{invite}/accept"), &[]).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(response.text().await.unwrap().contains("already been used"));
    assert_eq!(app.get_as(&bo, &format!("/teams/{slug}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get_as(&bo, &invite).await.status(), StatusCode::GONE);
}

/// Ana leads Platform with Li, a second lead, who has made a member invite: (ana, li, slug, Li's invite, its id).
async fn team_with_an_invite_from_a_second_lead(app: &TestApp) -> (Client, Client, String, String, uuid::Uuid) {
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    let li = app.user("li@example.com", "Li").await;
    let to_lead = app.invite(&ana, &slug, "lead").await;
    assert_eq!(app.post_as(&li, &format!("{to_lead}/accept"), &[]).await.status(), StatusCode::SEE_OTHER);
    let invite = app.invite(&li, &slug, "member").await;
    let id = sqlx::query_scalar(
        "select i.id from team_invites i join users u on u.id = i.created_by where u.display_name = 'Li'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    (ana, li, slug, invite, id)
}

#[sqlx::test]
async fn an_invite_dies_when_its_creator_is_no_longer_a_lead(db: PgPool) {
    let app = spawn_app(db).await;
    let (ana, _li, slug, invite, invite_id) = team_with_an_invite_from_a_second_lead(&app).await;
    let li_id = user_id(&app.db, "li@example.com").await;
    let team_page = app.get_as(&ana, &format!("/teams/{slug}")).await.text().await.unwrap();
    assert!(team_page.contains(&format!("/invites/{invite_id}/revoke")), "listed while Li leads");
    let demote = app.post_as(&ana, &format!("/teams/{slug}/members/{li_id}/role"), &[("role", "member")]).await;
    assert_eq!(demote.status(), StatusCode::SEE_OTHER);

    let bo = app.user("bo@example.com", "Bo").await;
    let response = app.post_as(&bo, &format!("{invite}/accept"), &[]).await;

    assert_eq!(response.status(), StatusCode::GONE);
    assert!(response.text().await.unwrap().contains(
        "This invite was made by someone who can no longer invite people to the team. Ask a team lead for a new link."
    ));
    assert_eq!(app.get_as(&bo, &format!("/teams/{slug}")).await.status(), StatusCode::NOT_FOUND, "Bo did not join");
    assert_eq!(app.get_as(&bo, &invite).await.status(), StatusCode::GONE, "the link page says so too");
    let team_page = app.get_as(&ana, &format!("/teams/{slug}")).await.text().await.unwrap();
    assert!(!team_page.contains(&format!("/invites/{invite_id}/revoke")), "a dead invite is not listed as pending");
}

#[sqlx::test]
async fn an_invite_dies_when_its_creator_leaves_the_team(db: PgPool) {
    let app = spawn_app(db).await;
    let (_ana, li, slug, invite, _) = team_with_an_invite_from_a_second_lead(&app).await;
    let li_id = user_id(&app.db, "li@example.com").await;
    let leave = app.post_as(&li, &format!("/teams/{slug}/members/{li_id}/remove"), &[]).await;
    assert_eq!(leave.status(), StatusCode::SEE_OTHER);

    let bo = app.user("bo@example.com", "Bo").await;
    let response = app.post_as(&bo, &format!("{invite}/accept"), &[]).await;

    assert_eq!(response.status(), StatusCode::GONE);
    assert_eq!(app.get_as(&bo, &format!("/teams/{slug}")).await.status(), StatusCode::NOT_FOUND, "Bo did not join");
}

#[sqlx::test]
async fn an_expired_or_revoked_invite_cannot_be_used(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    let li = app.user("li@example.com", "Li").await;

    let expiring = app.invite(&ana, &slug, "member").await;
    // Seven days and a minute later:
    sqlx::query("update team_invites set created_at = now() - interval '7 days 1 minute', expires_at = now() - interval '1 minute'")
        .execute(&app.db)
        .await
        .unwrap();
    let response = app.post_as(&li, &format!("{expiring}/accept"), &[]).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(response.text().await.unwrap().contains("expired"));

    let revoked = app.invite(&ana, &slug, "member").await;
    let invite_id: uuid::Uuid =
        sqlx::query_scalar("select id from team_invites where revoked_at is null and expires_at > now()")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let response = app.post_as(&ana, &format!("/teams/{slug}/invites/{invite_id}/revoke"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = app.post_as(&li, &format!("{revoked}/accept"), &[]).await;
    assert_eq!(response.status(), StatusCode::GONE);

    assert_eq!(app.get_as(&li, "/invites/not-a-real-token").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get_as(&li, &format!("/teams/{slug}")).await.status(), StatusCode::NOT_FOUND, "Li never joined");
}

#[sqlx::test]
async fn invites_expire_after_seven_days(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    app.invite(&ana, &slug, "member").await;
    let validity: f64 =
        sqlx::query_scalar("select extract(epoch from expires_at - created_at)::float8 from team_invites")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!((validity - 7.0 * 86400.0).abs() < 60.0, "valid for {validity} s");
    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from team_invites").fetch_one(&app.db).await.unwrap();
    assert_eq!(stored.len(), 32, "only a SHA-256 of the token is stored");
}

#[sqlx::test]
async fn only_leads_manage_members_and_invites(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    let invite = app.invite(&ana, &slug, "member").await;
    let li = app.user("li@example.com", "Li").await;
    app.post_as(&li, &format!("{invite}/accept"), &[]).await;
    let ana_id = user_id(&app.db, "ana@example.com").await;

    let forbidden = [
        (format!("/teams/{slug}/invites"), vec![("role", "lead")]),
        (format!("/teams/{slug}/members/{ana_id}/role"), vec![("role", "viewer")]),
        (format!("/teams/{slug}/members/{ana_id}/remove"), vec![]),
        (format!("/teams/{slug}/settings"), vec![("name", "Mine"), ("slug", "mine")]),
    ];
    for (path, form) in forbidden {
        let response = app.post_as(&li, &path, &form).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "POST {path}");
    }
    assert_eq!(app.get_as(&li, &format!("/teams/{slug}/settings")).await.status(), StatusCode::FORBIDDEN);
    let roles: Vec<(String,)> =
        sqlx::query_as("select role::text from team_members order by role").fetch_all(&app.db).await.unwrap();
    assert_eq!(roles, vec![("lead".into(),), ("member".into(),)]);
}

#[sqlx::test]
async fn the_last_lead_cannot_be_removed_or_demoted(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    let ana_id = user_id(&app.db, "ana@example.com").await;

    let response = app.post_as(&ana, &format!("/teams/{slug}/members/{ana_id}/remove"), &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("You are the only lead of Platform"));
    let response = app.post_as(&ana, &format!("/teams/{slug}/members/{ana_id}/role"), &[("role", "member")]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    // With a second lead, the first may step down.
    let invite = app.invite(&ana, &slug, "lead").await;
    let li = app.user("li@example.com", "Li").await;
    app.post_as(&li, &format!("{invite}/accept"), &[]).await;
    let response = app.post_as(&ana, &format!("/teams/{slug}/members/{ana_id}/role"), &[("role", "member")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // Now Li is the last lead, and cannot leave.
    let li_id = user_id(&app.db, "li@example.com").await;
    let response = app.post_as(&li, &format!("/teams/{slug}/members/{li_id}/remove"), &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[sqlx::test]
async fn the_database_refuses_a_team_without_a_lead(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    app.team(&ana, "Platform").await;
    let result = sqlx::query("update team_members set role = 'member'").execute(&app.db).await;
    let err = result.expect_err("the trigger refuses leaving a team without a lead");
    assert!(err.to_string().contains("without a lead"), "{err}");
}

#[sqlx::test]
async fn a_lead_changes_roles_and_removes_members(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    let invite = app.invite(&ana, &slug, "member").await;
    let li = app.user("li@example.com", "Li").await;
    app.post_as(&li, &format!("{invite}/accept"), &[]).await;
    let li_id = user_id(&app.db, "li@example.com").await;

    let response = app.post_as(&ana, &format!("/teams/{slug}/members/{li_id}/role"), &[("role", "viewer")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(app.get_as(&li, &format!("/teams/{slug}")).await.text().await.unwrap().contains("You: Viewer"));
    let response = app.post_as(&ana, &format!("/teams/{slug}/members/{li_id}/role"), &[("role", "boss")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let response = app.post_as(&ana, &format!("/teams/{slug}/members/{li_id}/remove"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get_as(&li, &format!("/teams/{slug}")).await.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn a_lead_renames_the_team_and_its_slug(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    let response =
        app.post_as(&ana, &format!("/teams/{slug}/settings"), &[("name", "Core Platform"), ("slug", "core")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/teams/core");
    assert!(app.get_as(&ana, "/teams/core").await.text().await.unwrap().contains("<h1>Core Platform</h1>"));
    assert_eq!(app.get_as(&ana, "/teams/platform").await.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn malformed_team_slugs_are_not_found(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    for path in ["/teams/UPPER", "/teams/x"] {
        assert_eq!(app.get_as(&ana, path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // A NUL in an address is bad input before any route sees it (never a 500).
    for path in ["/teams/%00", "/teams/a%00b/settings"] {
        assert_eq!(app.get_as(&ana, path).await.status(), StatusCode::BAD_REQUEST, "{path}");
    }
    let response = app.post_as(&ana, "/teams/%00/invites", &[("role", "member")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[sqlx::test]
async fn error_pages_keep_the_signed_in_navigation(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana Lead").await;
    let page = app.get_as(&ana, "/teams/nobody-here").await.text().await.unwrap();
    assert!(page.contains("<h1>Not found</h1>"));
    assert!(page.contains("Ana Lead") && page.contains("Sign out"), "the error page shows who is signed in");
}

#[sqlx::test]
async fn the_team_page_and_an_invite_show_times_in_my_zone(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let zone = [("display_name", "Ana"), ("time_zone", "Asia/Tokyo")];
    assert_eq!(app.post_as(&ana, "/account", &zone).await.status(), StatusCode::SEE_OTHER);
    let slug = app.team(&ana, "Platform").await;
    let invite = app.invite(&ana, &slug, "member").await;
    // Ana joined on the evening of 30 November in UTC, the morning of 1 December in Tokyo.
    let joined = time::macros::datetime!(2026-11-30 20:00 UTC);
    let expires = time::macros::datetime!(2030-01-15 20:30 UTC);
    sqlx::query("update team_members set joined_at = $1").bind(joined).execute(&app.db).await.unwrap();
    sqlx::query("update team_invites set expires_at = $1").bind(expires).execute(&app.db).await.unwrap();

    let team = app.get_as(&ana, &format!("/teams/{slug}")).await.text().await.unwrap();
    let invite_page = app.get_as(&ana, &invite).await.text().await.unwrap();

    let expiry =
        r#"<time datetime="2030-01-15T20:30:00Z" title="2030-01-15T20:30:00Z">Wed 16 Jan 2030, 05:30 JST</time>"#;
    assert!(team.contains(
        r#"joined <time datetime="2026-11-30T20:00:00Z" title="2026-11-30T20:00:00Z">Tue 1 Dec 2026</time>"#
    ));
    assert!(team.contains(&format!("expires {expiry}")), "the invite's expiry on the team page");
    assert!(invite_page.contains(&format!("expires {expiry}")), "and on the invite itself");
    for page in [&team, &invite_page] {
        assert!(!page.contains(" UTC"), "no time in UTC");
    }
}

#[sqlx::test]
async fn the_only_lead_who_leaves_is_told_to_make_someone_else_a_lead_first(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;

    let response = app.post_as(&ana, &format!("/teams/{slug}/leave"), &[]).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    let page = response.text().await.unwrap();
    assert!(page.contains("You are the only lead of Platform: make someone else a lead first."), "{page}");
    assert_eq!(app.get_as(&ana, &format!("/teams/{slug}")).await.status(), StatusCode::OK, "still a member");
}

#[sqlx::test]
async fn a_member_whose_objection_stands_neither_leaves_nor_is_removed(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    let response = day.sign(&day.li, &scenario, "object", "The replica is not caught up").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let li_id = day.id_of("li@example.com").await;
    let slug = &day.slug;

    let leave = day.app.post_as(&day.li, &format!("/teams/{slug}/leave"), &[]).await;
    let remove = day.app.post_as(&day.ana, &format!("/teams/{slug}/members/{li_id}/remove"), &[]).await;

    assert_eq!(leave.status(), StatusCode::CONFLICT);
    assert!(leave.text().await.unwrap().contains("Li objects to revision 1 of the scenario"));
    assert_eq!(remove.status(), StatusCode::CONFLICT);
    assert!(remove.text().await.unwrap().contains("Li objects to revision 1 of the scenario"));
    let on_day: i64 = sqlx::query_scalar("select count(*) from gameday_participants where gameday_id = $1")
        .bind(day.id)
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(on_day, 3, "Ana, Li and Bo are all still on the game day");
}

#[sqlx::test]
async fn leaving_says_which_game_days_one_leaves_and_is_in_the_audit_log(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let slug = &day.slug;
    let li_id = user_id(&day.app.db, "li@example.com").await;

    let page = day.app.get_as(&day.li, &format!("/teams/{slug}/leave")).await.text().await.unwrap();
    let response = day.app.post_as(&day.li, &format!("/teams/{slug}/leave"), &[]).await;

    assert!(page.contains("Leave Platform?") && page.contains("Database failover drill"), "{page}");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.app.get_as(&day.li, &format!("/teams/{slug}")).await.status(), StatusCode::NOT_FOUND);
    let on_day: i64 =
        sqlx::query_scalar("select count(*) from gameday_participants where gameday_id = $1 and user_id = $2")
            .bind(day.id)
            .bind(li_id)
            .fetch_one(&day.app.db)
            .await
            .unwrap();
    assert_eq!(on_day, 0);
    let audit: Vec<(String, uuid::Uuid)> =
        sqlx::query_as("select kind::text, actor from team_audit where kind = 'member_left'")
            .fetch_all(&day.app.db)
            .await
            .unwrap();
    assert_eq!(audit, vec![("member_left".to_owned(), li_id)]);
}

/// Who posts, to where, with which form.
type Write<'a> = (&'a Client, String, Vec<(&'a str, &'a str)>);

/// Ana archives the Day's team (its game day still a draft); asserts it worked.
async fn archive(day: &crate::gamedays::Day) {
    let response = day.app.post_as(&day.ana, &format!("/teams/{}/archive", day.slug), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "archived");
}

#[sqlx::test]
async fn an_archived_team_refuses_every_change_and_stays_readable(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    let (team, gd) = (format!("/teams/{}", day.slug), day.url.clone());
    let li_id = day.id_of("li@example.com").await;
    let owner = day.id_of("ana@example.com").await;
    let webhooks_before: i64 =
        sqlx::query_scalar("select count(*) from webhooks").fetch_one(&day.app.db).await.unwrap();

    archive(&day).await;

    let revision = day.revision(&scenario).await.to_string();
    let writes: Vec<Write> = vec![
        (&day.ana, format!("{team}/gamedays"), crate::gamedays::GAMEDAY_FORM.to_vec()),
        (&day.ana, format!("{gd}/edit"), crate::gamedays::GAMEDAY_FORM.to_vec()),
        (&day.ana, format!("{gd}/schedule"), vec![]),
        (&day.ana, format!("{gd}/scenarios"), crate::gamedays::scenario_form("Another", &owner)),
        (&day.ana, format!("{scenario}/edit"), crate::gamedays::scenario_form("Renamed", &owner)),
        (
            &day.li,
            format!("{scenario}/signoff"),
            vec![("revision", &revision), ("decision", "approve"), ("reason", "")],
        ),
        (&day.ana, format!("{team}/invites"), vec![("role", "member")]),
        (&day.ana, format!("{team}/webhooks"), vec![("name", "Chat"), ("url", "https://hooks.example.com/x")]),
        (&day.ana, format!("{gd}/retrospective/notes"), vec![("body", "A note")]),
        (&day.ana, format!("{gd}/learnings"), vec![("title", "We learnt"), ("body", "Something")]),
        (&day.ana, format!("{gd}/actions"), vec![("title", "Fix it"), ("owner", &owner)]),
        (&day.ana, format!("{team}/weaknesses"), vec![("title", "Slow failover"), ("system", "postgres")]),
        (&day.ana, format!("{team}/settings"), vec![("name", "Renamed"), ("slug", "renamed")]),
        (&day.ana, format!("{team}/members/{li_id}/role"), vec![("role", "viewer")]),
        (&day.li, format!("{team}/leave"), vec![]),
        (&day.ana, format!("{team}/calendar/regenerate"), vec![]),
    ];
    for (client, url, form) in writes {
        let response = day.app.post_as(client, &url, &form).await;
        assert_eq!(response.status(), StatusCode::CONFLICT, "POST {url}");
        assert!(response.text().await.unwrap().contains("This team is archived"), "POST {url} says why");
    }

    let gamedays: i64 = sqlx::query_scalar("select count(*) from gamedays").fetch_one(&day.app.db).await.unwrap();
    let signoffs: i64 = sqlx::query_scalar("select count(*) from signoffs").fetch_one(&day.app.db).await.unwrap();
    let webhooks: i64 = sqlx::query_scalar("select count(*) from webhooks").fetch_one(&day.app.db).await.unwrap();
    assert_eq!((gamedays, signoffs, webhooks), (1, 0, webhooks_before), "nothing changed");
    for url in [team.clone(), gd.clone(), scenario.clone()] {
        let page = day.page(&day.li, &url).await;
        assert!(page.contains("This team is read-only"), "{url} shows the Archived banner");
    }
}

#[sqlx::test]
async fn a_team_is_unarchived_by_a_lead_and_both_are_in_the_audit_log(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let team = format!("/teams/{}", day.slug);
    assert_eq!(day.app.post_as(&day.li, &format!("{team}/archive"), &[]).await.status(), StatusCode::FORBIDDEN);
    archive(&day).await;
    assert_eq!(day.app.post_as(&day.li, &format!("{team}/unarchive"), &[]).await.status(), StatusCode::FORBIDDEN);

    let response = day.app.post_as(&day.ana, &format!("{team}/unarchive"), &[]).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = day.app.post_as(&day.ana, &format!("{team}/invites"), &[("role", "member")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "changes are accepted again");
    let kinds: Vec<String> = sqlx::query_scalar(
        "select kind::text from team_audit where kind in ('team_archived', 'team_unarchived') order by id",
    )
    .fetch_all(&day.app.db)
    .await
    .unwrap();
    assert_eq!(kinds, ["team_archived", "team_unarchived"]);
}

#[sqlx::test]
async fn a_team_with_a_scheduled_or_running_game_day_is_not_archived(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    day.scenario("Stop the primary").await;
    assert_eq!(day.step(&day.ana, "schedule").await.status(), StatusCode::SEE_OTHER);

    let response = day.app.post_as(&day.ana, &format!("/teams/{}/archive", day.slug), &[]).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    let page = response.text().await.unwrap();
    assert!(page.contains("Database failover drill&#34; (scheduled)"), "{page}");
    let archived: bool =
        sqlx::query_scalar("select archived_at is not null from teams").fetch_one(&day.app.db).await.unwrap();
    assert!(!archived);

    assert_eq!(day.step(&day.ana, "start").await.status(), StatusCode::SEE_OTHER);
    let response = day.app.post_as(&day.ana, &format!("/teams/{}/archive", day.slug), &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("Database failover drill&#34; (running)"));
}

#[sqlx::test]
async fn an_invite_to_an_archived_team_cannot_be_used_and_the_team_is_listed_apart(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let invite = day.app.invite(&day.ana, &day.slug, "member").await;
    archive(&day).await;

    let response = day.app.post_as(&day.eve, &format!("{invite}/accept"), &[]).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("This team is archived"));
    assert_eq!(day.app.get_as(&day.eve, &format!("/teams/{}", day.slug)).await.status(), StatusCode::NOT_FOUND);
    let home = day.page(&day.li, "/").await;
    let archived_section = home.split("<summary>Archived").nth(1).expect("an Archived section on the dashboard");
    assert!(archived_section.contains(">Platform</a>"), "{home}");
}
