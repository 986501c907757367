//! The team audit log: every team-level change writes its entry, with who did it and a sentence,
//! in the same transaction as the change; leads read it; the database keeps it append-only.

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{location, new_client, spawn_app, spawn_app_with, user_id};

/// One entry of a team's audit log: (kind, the actor's email, the sentence, the detail).
type Entry = (String, String, String, Value);

/// The audit log of the team with this slug, oldest first.
async fn entries(db: &PgPool, slug: &str) -> Vec<Entry> {
    sqlx::query_as(
        "select a.kind::text, u.email, a.body, a.detail from team_audit a
         join users u on u.id = a.actor join teams t on t.id = a.team_id
         where t.slug = $1 order by a.id",
    )
    .bind(slug)
    .fetch_all(db)
    .await
    .unwrap()
}

/// The (kind, actor, sentence) of each entry, to compare with what a person reads.
fn said(entries: &[Entry]) -> Vec<(&str, &str, &str)> {
    entries.iter().map(|(kind, actor, body, _)| (kind.as_str(), actor.as_str(), body.as_str())).collect()
}

async fn role_of(db: &PgPool, email: &str) -> String {
    sqlx::query_scalar("select m.role::text from team_members m join users u on u.id = m.user_id where u.email = $1")
        .bind(email)
        .fetch_one(db)
        .await
        .unwrap()
}

#[sqlx::test]
async fn membership_changes_are_recorded_with_who_did_what(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    let invite = app.invite(&ana, &slug, "member").await;
    let bo = app.user("bo@example.com", "Bo").await;
    assert_eq!(app.post_as(&bo, &format!("{invite}/accept"), &[]).await.status(), StatusCode::SEE_OTHER);
    let bo_id = user_id(&app.db, "bo@example.com").await;
    let role = format!("/teams/{slug}/members/{bo_id}/role");
    assert_eq!(app.post_as(&ana, &role, &[("role", "lead")]).await.status(), StatusCode::SEE_OTHER);
    let invite = app.invite(&ana, &slug, "viewer").await;
    let li = app.user("li@example.com", "Li").await;
    assert_eq!(app.post_as(&li, &format!("{invite}/accept"), &[]).await.status(), StatusCode::SEE_OTHER);
    let li_id = user_id(&app.db, "li@example.com").await;
    let leave = format!("/teams/{slug}/members/{li_id}/remove");
    assert_eq!(app.post_as(&li, &leave, &[]).await.status(), StatusCode::SEE_OTHER);
    let remove = format!("/teams/{slug}/members/{bo_id}/remove");
    assert_eq!(app.post_as(&ana, &remove, &[]).await.status(), StatusCode::SEE_OTHER);
    app.invite(&ana, &slug, "lead").await;
    let pending: uuid::Uuid =
        sqlx::query_scalar("select id from team_invites where used_at is null").fetch_one(&app.db).await.unwrap();
    let revoke = format!("/teams/{slug}/invites/{pending}/revoke");
    assert_eq!(app.post_as(&ana, &revoke, &[]).await.status(), StatusCode::SEE_OTHER);

    let log = entries(&app.db, &slug).await;
    assert_eq!(
        said(&log),
        [
            ("team_created", "ana@example.com", "Ana created the team \"Platform\"."),
            ("invite_created", "ana@example.com", "Ana created an invite link for a member."),
            ("invite_accepted", "bo@example.com", "Bo joined as a member with an invite from Ana."),
            ("member_role_changed", "ana@example.com", "Ana changed Bo's role from member to lead."),
            ("invite_created", "ana@example.com", "Ana created an invite link for a viewer."),
            ("invite_accepted", "li@example.com", "Li joined as a viewer with an invite from Ana."),
            ("member_left", "li@example.com", "Li left the team (was viewer)."),
            ("member_removed", "ana@example.com", "Ana removed Bo (lead) from the team."),
            ("invite_created", "ana@example.com", "Ana created an invite link for a lead."),
            ("invite_revoked", "ana@example.com", "Ana revoked an unused invite link for a lead."),
        ]
    );
    let role_change = &log[3].3;
    assert_eq!(role_change["member"], bo_id.to_string());
    assert_eq!((&role_change["from"], &role_change["to"]), (&Value::from("member"), &Value::from("lead")));
    assert_eq!(log[9].3["invite"], pending.to_string());
}

#[sqlx::test]
async fn settings_calendar_and_webhook_changes_are_recorded_without_the_webhooks_secret_path(db: PgPool) {
    let app = spawn_app_with(db, |c| c.webhook_allow_private = true).await;
    let ana = app.user("ana@example.com", "Ana").await;
    app.team(&ana, "Platform").await;
    let rename = [("name", "Core Platform"), ("slug", "core")];
    assert_eq!(app.post_as(&ana, "/teams/platform/settings", &rename).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.post_as(&ana, "/teams/core/calendar/regenerate", &[]).await.status(), StatusCode::SEE_OTHER);
    let hook = [
        ("url", "http://127.0.0.1:9/services/T0/s3cr3t"),
        ("kinds", "gameday_started"),
        ("kinds", "scenario_injected"),
    ];
    assert_eq!(app.post_as(&ana, "/teams/core/webhooks", &hook).await.status(), StatusCode::SEE_OTHER);
    let webhook: uuid::Uuid = sqlx::query_scalar("select id from webhooks").fetch_one(&app.db).await.unwrap();
    let delete = format!("/teams/core/webhooks/{webhook}/delete");
    assert_eq!(app.post_as(&ana, &delete, &[]).await.status(), StatusCode::SEE_OTHER);

    let log = entries(&app.db, "core").await;
    assert_eq!(
        said(&log[1..]),
        [
            (
                "team_settings_changed",
                "ana@example.com",
                "Ana renamed the team from \"Platform\" to \"Core Platform\" and changed its URL name from platform to core."
            ),
            (
                "calendar_address_changed",
                "ana@example.com",
                "Ana made a new personal fault-calendar address; their old one, if any, stopped working."
            ),
            ("webhook_added", "ana@example.com", "Ana added a webhook to 127.0.0.1 for: Started, Injected."),
            ("webhook_removed", "ana@example.com", "Ana removed the webhook to 127.0.0.1."),
        ]
    );
    assert_eq!(log[1].3["slug"]["from"], "platform");
    assert_eq!(log[3].3["webhook"], webhook.to_string());
    for (_, _, body, detail) in &log {
        assert!(!body.contains("s3cr3t") && !detail.to_string().contains("s3cr3t"), "{body} {detail}");
    }
}

#[sqlx::test]
async fn register_incident_and_action_changes_are_recorded(db: PgPool) {
    let (day, _) = crate::retros::completed(db).await;
    let li = day.id_of("li@example.com").await;
    let form = [("title", "Route the replica lag alert"), ("owner", li.as_str())];
    assert_eq!(day.app.post_as(&day.ana, &format!("{}/actions", day.url), &form).await.status(), StatusCode::SEE_OTHER);
    let action: uuid::Uuid = sqlx::query_scalar("select id from action_items").fetch_one(&day.app.db).await.unwrap();
    let status = format!("/teams/{}/actions/{action}/status", day.slug);
    assert_eq!(day.app.post_as(&day.li, &status, &[("status", "done")]).await.status(), StatusCode::SEE_OTHER);
    let weaknesses = format!("/teams/{}/weaknesses", day.slug);
    let form = [("title", "Replica lag goes unnoticed"), ("description", "No alert on lag.")];
    assert_eq!(day.app.post_as(&day.li, &weaknesses, &form).await.status(), StatusCode::SEE_OTHER);
    let weakness: uuid::Uuid = sqlx::query_scalar("select id from weaknesses").fetch_one(&day.app.db).await.unwrap();
    let mitigated = [("status", "mitigated"), ("reason", "lag alert added")];
    let status = format!("{weaknesses}/{weakness}/status");
    assert_eq!(day.app.post_as(&day.li, &status, &mitigated).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.app.post_as(&day.ana, &status, &[("status", "open")]).await.status(), StatusCode::SEE_OTHER);
    let incident = [("title", "Checkout outage"), ("happened_on", "2026-03-04"), ("summary", ""), ("link", "")];
    let incidents = format!("/teams/{}/incidents", day.slug);
    assert_eq!(day.app.post_as(&day.li, &incidents, &incident).await.status(), StatusCode::SEE_OTHER);

    let log = entries(&day.app.db, &day.slug).await;
    let team_kinds = ["action_status_changed", "weakness_added", "weakness_status_changed", "incident_added"];
    let log: Vec<Entry> = log.into_iter().filter(|e| team_kinds.contains(&e.0.as_str())).collect();
    assert_eq!(
        said(&log),
        [
            (
                "action_status_changed",
                "li@example.com",
                "Li moved the action \"Route the replica lag alert\" from open to done."
            ),
            (
                "weakness_added",
                "li@example.com",
                "Li added the weakness \"Replica lag goes unnoticed\" to the register."
            ),
            (
                "weakness_status_changed",
                "li@example.com",
                "Li marked the weakness \"Replica lag goes unnoticed\" mitigated because: lag alert added."
            ),
            ("weakness_status_changed", "ana@example.com", "Ana reopened the weakness \"Replica lag goes unnoticed\"."),
            ("incident_added", "li@example.com", "Li recorded the incident \"Checkout outage\" of 2026-03-04."),
        ]
    );
    assert_eq!(log[0].3["action"], action.to_string());
    assert_eq!(log[2].3["weakness"], weakness.to_string());
}

#[sqlx::test]
async fn a_refused_or_empty_change_records_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    app.team(&ana, "Other").await;
    let invite = app.invite(&ana, &slug, "member").await;
    let bo = app.user("bo@example.com", "Bo").await;
    assert_eq!(app.post_as(&bo, &format!("{invite}/accept"), &[]).await.status(), StatusCode::SEE_OTHER);
    let invite = app.invite(&ana, &slug, "viewer").await;
    let vi = app.user("vi@example.com", "Vi").await;
    assert_eq!(app.post_as(&vi, &format!("{invite}/accept"), &[]).await.status(), StatusCode::SEE_OTHER);
    let (ana_id, bo_id) = (user_id(&app.db, "ana@example.com").await, user_id(&app.db, "bo@example.com").await);
    let before = entries(&app.db, &slug).await;

    let refused = [
        // The last lead cannot step down (409); a member cannot change roles or remove others (403).
        (&ana, format!("/teams/{slug}/members/{ana_id}/role"), vec![("role", "member")], StatusCode::CONFLICT),
        (&bo, format!("/teams/{slug}/members/{ana_id}/role"), vec![("role", "viewer")], StatusCode::FORBIDDEN),
        (&bo, format!("/teams/{slug}/members/{ana_id}/remove"), vec![], StatusCode::FORBIDDEN),
        (&bo, format!("/teams/{slug}/invites"), vec![("role", "lead")], StatusCode::FORBIDDEN),
        (&ana, format!("/teams/{slug}/members/{bo_id}/role"), vec![("role", "boss")], StatusCode::UNPROCESSABLE_ENTITY),
        (&ana, format!("/teams/{slug}/invites/{ana_id}/revoke"), vec![], StatusCode::NOT_FOUND),
        (
            &ana,
            format!("/teams/{slug}/settings"),
            vec![("name", "Platform"), ("slug", "other")],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            &ana,
            format!("/teams/{slug}/webhooks"),
            vec![("url", "ftp://x"), ("kinds", "gameday_started")],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (&vi, format!("/teams/{slug}/weaknesses"), vec![("title", "T"), ("description", "")], StatusCode::FORBIDDEN),
        // Nothing changes, so nothing is recorded.
        (&ana, format!("/teams/{slug}/members/{bo_id}/role"), vec![("role", "member")], StatusCode::SEE_OTHER),
        (
            &ana,
            format!("/teams/{slug}/settings"),
            vec![("name", "Platform"), ("slug", "platform")],
            StatusCode::SEE_OTHER,
        ),
    ];
    for (client, path, form, status) in refused {
        assert_eq!(app.post_as(client, &path, &form).await.status(), status, "POST {path} {form:?}");
    }

    assert_eq!(said(&entries(&app.db, &slug).await), said(&before));
    assert_eq!(role_of(&app.db, "ana@example.com").await, "lead");
    assert_eq!(role_of(&app.db, "bo@example.com").await, "member");
}

#[sqlx::test]
async fn a_change_whose_entry_cannot_be_written_does_not_happen(db: PgPool) {
    let app = spawn_app_with(db, |c| c.webhook_allow_private = true).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    let invite = app.invite(&ana, &slug, "member").await;
    let bo = app.user("bo@example.com", "Bo").await;
    assert_eq!(app.post_as(&bo, &format!("{invite}/accept"), &[]).await.status(), StatusCode::SEE_OTHER);
    let bo_id = user_id(&app.db, "bo@example.com").await;
    let invites_before: i64 = sqlx::query_scalar("select count(*) from team_invites").fetch_one(&app.db).await.unwrap();
    // The audit log refuses every new entry from now on.
    for statement in [
        "create function refuse_audit() returns trigger language plpgsql as $$
         begin raise exception 'the audit log is unavailable'; end $$",
        "create trigger refuse_audit before insert on team_audit for each row execute function refuse_audit()",
    ] {
        sqlx::query(statement).execute(&app.db).await.unwrap();
    }

    let role = format!("/teams/{slug}/members/{bo_id}/role");
    let changes = [
        (role.as_str(), vec![("role", "lead")]),
        ("/teams/platform/invites", vec![("role", "viewer")]),
        ("/teams/platform/webhooks", vec![("url", "http://127.0.0.1:9/hook"), ("kinds", "gameday_started")]),
        ("/teams/platform/settings", vec![("name", "Renamed"), ("slug", "renamed")]),
    ];
    for (path, form) in changes {
        assert_eq!(app.post_as(&ana, path, &form).await.status(), StatusCode::INTERNAL_SERVER_ERROR, "POST {path}");
    }

    assert_eq!(role_of(&app.db, "bo@example.com").await, "member", "the role change rolled back with its entry");
    let invites: i64 = sqlx::query_scalar("select count(*) from team_invites").fetch_one(&app.db).await.unwrap();
    assert_eq!(invites, invites_before);
    let webhooks: i64 = sqlx::query_scalar("select count(*) from webhooks").fetch_one(&app.db).await.unwrap();
    assert_eq!(webhooks, 0);
    let name: String = sqlx::query_scalar("select name from teams").fetch_one(&app.db).await.unwrap();
    assert_eq!(name, "Platform");
}

#[sqlx::test]
async fn an_entry_whose_change_fails_at_commit_is_not_kept(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    let invite = app.invite(&ana, &slug, "member").await;
    let bo = app.user("bo@example.com", "Bo").await;
    assert_eq!(app.post_as(&bo, &format!("{invite}/accept"), &[]).await.status(), StatusCode::SEE_OTHER);
    let bo_id = user_id(&app.db, "bo@example.com").await;
    let before = entries(&app.db, &slug).await;
    // A role change now fails when its transaction commits: after the audit entry was written.
    for statement in [
        "create function refuse_at_commit() returns trigger language plpgsql as $$
         begin raise exception 'refused at commit'; end $$",
        "create constraint trigger refuse_role_change after update on team_members
         deferrable initially deferred for each row execute function refuse_at_commit()",
    ] {
        sqlx::query(statement).execute(&app.db).await.unwrap();
    }

    let role = format!("/teams/{slug}/members/{bo_id}/role");
    assert_eq!(app.post_as(&ana, &role, &[("role", "viewer")]).await.status(), StatusCode::INTERNAL_SERVER_ERROR);

    assert_eq!(role_of(&app.db, "bo@example.com").await, "member");
    assert_eq!(said(&entries(&app.db, &slug).await), said(&before), "no entry for a change that did not happen");
}

#[sqlx::test]
async fn only_the_teams_leads_read_its_audit_log(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    let audit = format!("/teams/{slug}/audit");
    let mut others = Vec::new();
    for (email, name, role) in [("bo@example.com", "Bo", "member"), ("vi@example.com", "Vi", "viewer")] {
        let invite = app.invite(&ana, &slug, role).await;
        let client = app.user(email, name).await;
        assert_eq!(app.post_as(&client, &format!("{invite}/accept"), &[]).await.status(), StatusCode::SEE_OTHER);
        others.push(client);
    }
    let eve = app.user("eve@example.com", "Eve").await;

    let page = app.get_as(&ana, &audit).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Ana created the team &#34;Platform&#34;."));
    let team_page = app.get_as(&ana, &format!("/teams/{slug}")).await.text().await.unwrap();
    assert!(team_page.contains(&format!(r#"href="{audit}">Audit log</a>"#)), "leads find it from the team page");
    for member in &others {
        assert_eq!(app.get_as(member, &audit).await.status(), StatusCode::FORBIDDEN);
        let team_page = app.get_as(member, &format!("/teams/{slug}")).await.text().await.unwrap();
        assert!(!team_page.contains(&audit));
    }
    let response = app.get_as(&eve, &audit).await;
    let missing = app.get_as(&eve, "/teams/no-such-team/audit").await;
    assert_eq!((response.status(), missing.status()), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(response.text().await.unwrap(), missing.text().await.unwrap(), "a non-member learns nothing");
    let response = app.get_as(&new_client(), &audit).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/signin"));
}

#[sqlx::test]
async fn the_database_refuses_to_change_or_delete_audit_entries(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    app.team(&ana, "Platform").await;
    for statement in
        ["update team_audit set body = 'Nobody did anything.'", "delete from team_audit", "truncate team_audit"]
    {
        let err = sqlx::query(statement).execute(&app.db).await.expect_err(statement);
        assert!(err.to_string().contains("append-only"), "{statement}: {err}");
    }
    assert_eq!(entries(&app.db, "platform").await.len(), 1);
}

#[sqlx::test]
async fn the_log_is_newest_first_in_the_viewers_zone_with_older_entries_a_link_away(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let zone = [("display_name", "Ana"), ("time_zone", "Asia/Kolkata")];
    assert_eq!(app.post_as(&ana, "/account", &zone).await.status(), StatusCode::SEE_OTHER);
    let slug = app.team(&ana, "Platform").await;
    for role in ["member", "viewer", "lead"].into_iter().cycle().take(55) {
        let response = app.post_as(&ana, &format!("/teams/{slug}/invites"), &[("role", role)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }

    let first = app.get_as(&ana, &format!("/teams/{slug}/audit")).await.text().await.unwrap();
    assert_eq!(first.matches("Ana created an invite link").count(), 50, "a page holds 50 entries");
    assert!(!first.contains("created the team"), "the oldest entry is on the next page");
    let (newest, older) = (first.find("for a member.").unwrap(), first.find("for a lead.").unwrap());
    assert!(newest < older, "the 55th invite (for a member) comes first");
    let at: time::OffsetDateTime =
        sqlx::query_scalar("select max(at) from team_audit").fetch_one(&app.db).await.unwrap();
    let local = gameday::tz::format_local(&at, "Asia/Kolkata");
    assert!(local.ends_with("IST") && first.contains(&local), "{local}");
    assert!(first.contains(&format!(r#"datetime="{}""#, gameday::tz::format_utc(&at))));

    let start = first.find("?before=").expect("a link to older entries");
    let link = &first[first[..start].rfind('"').unwrap() + 1..];
    let link = &link[..link.find('"').unwrap()];
    let second = app.get_as(&ana, link).await.text().await.unwrap();
    assert_eq!(second.matches("Ana created an invite link").count(), 5);
    assert!(second.contains("Ana created the team &#34;Platform&#34;."));
    assert!(!second.contains("?before="), "nothing older");
    let response = app.get_as(&ana, &format!("/teams/{slug}/audit?before=nonsense")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn a_team_with_nothing_recorded_says_what_will_appear(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let ana_id = user_id(&app.db, "ana@example.com").await;
    // A team from before the log was kept.
    let team = uuid::Uuid::new_v4();
    sqlx::query("insert into teams (id, name, slug, created_by) values ($1, 'Legacy', 'legacy', $2)")
        .bind(team)
        .bind(ana_id)
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("insert into team_members (team_id, user_id, role) values ($1, $2, 'lead')")
        .bind(team)
        .bind(ana_id)
        .execute(&app.db)
        .await
        .unwrap();

    let page = app.get_as(&ana, "/teams/legacy/audit").await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("Nothing recorded yet. When someone changes a role"), "{page}");
}
