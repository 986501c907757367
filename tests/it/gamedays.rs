//! Game days, participants, scenarios, sign-off and the gate, through HTTP as people use them.

use reqwest::{Client, Response, StatusCode};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{TestApp, location, spawn_app, user_id};

/// A team (lead Ana; members Li and Bo; viewer Vi) with one game day that Ana facilitates and
/// Li and Bo take part in. Eve is signed up but in no team.
pub struct Day {
    pub app: TestApp,
    pub slug: String,
    pub ana: Client,
    pub li: Client,
    pub bo: Client,
    pub vi: Client,
    pub eve: Client,
    /// `/teams/<slug>/gamedays/<id>`
    pub url: String,
    pub id: Uuid,
}

pub const GAMEDAY_FORM: [(&str, &str); 7] = [
    ("title", "Database failover drill"),
    ("objective", "Learn whether checkout survives losing the primary."),
    ("environment", "staging"),
    ("systems", "checkout, postgres"),
    ("starts_at", "2026-12-01T10:00"),
    ("ends_at", "2026-12-01T12:00"),
    ("call_link", "https://meet.example/gameday"),
];

pub fn scenario_form<'a>(title: &'a str, owner: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("title", title),
        ("hypothesis", "Checkout p99 stays under 300 ms."),
        ("fault", "Stop the primary database container."),
        ("target_system", "postgres"),
        ("blast_radius", "tiny"),
        ("expected_impact", "A few seconds of failed writes."),
        ("abort_criteria", "Checkout errors above 1% for one minute."),
        ("abort_owner", owner),
        ("rollback_plan", "Start the container again."),
    ]
}

impl Day {
    pub async fn new(db: PgPool) -> Day {
        Day::with(db, |_| {}).await
    }

    /// Like [`Day::new`], with the server's configuration adjusted first.
    pub async fn with(db: PgPool, adjust: impl FnOnce(&mut gameday::config::Config)) -> Day {
        Day::with_app(crate::helpers::spawn_app_with(db, adjust).await).await
    }

    /// The same game day on an app already running.
    pub async fn with_app(app: crate::helpers::TestApp) -> Day {
        let ana = app.user("ana@example.com", "Ana").await;
        let slug = app.team(&ana, "Platform").await;
        let mut members = Vec::new();
        for (email, name, role) in
            [("li@example.com", "Li", "member"), ("bo@example.com", "Bo", "member"), ("vi@example.com", "Vi", "viewer")]
        {
            let invite = app.invite(&ana, &slug, role).await;
            let client = app.user(email, name).await;
            assert_eq!(app.post_as(&client, &format!("{invite}/accept"), &[]).await.status(), StatusCode::SEE_OTHER);
            members.push(client);
        }
        let eve = app.user("eve@example.com", "Eve").await;
        let response = app.post_as(&ana, &format!("/teams/{slug}/gamedays"), &GAMEDAY_FORM).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "game day created");
        let url = location(&response);
        let id = Uuid::parse_str(url.rsplit('/').next().unwrap()).unwrap();
        let vi = members.pop().unwrap();
        let bo = members.pop().unwrap();
        let li = members.pop().unwrap();
        let day = Day { app, slug, ana, li, bo, vi, eve, url, id };
        day.add("li@example.com", "participant").await;
        day.add("bo@example.com", "participant").await;
        day
    }

    pub async fn add(&self, email: &str, role: &str) -> Response {
        let id = user_id(&self.app.db, email).await.to_string();
        self.app.post_as(&self.ana, &format!("{}/participants", self.url), &[("user_id", &id), ("role", role)]).await
    }

    pub async fn id_of(&self, email: &str) -> String {
        user_id(&self.app.db, email).await.to_string()
    }

    /// Ana adds a scenario; returns its URL.
    pub async fn scenario(&self, title: &str) -> String {
        let owner = self.id_of("ana@example.com").await;
        let response =
            self.app.post_as(&self.ana, &format!("{}/scenarios", self.url), &scenario_form(title, &owner)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "scenario created");
        location(&response)
    }

    pub async fn revision(&self, scenario_url: &str) -> i32 {
        let id = Uuid::parse_str(scenario_url.rsplit('/').next().unwrap()).unwrap();
        sqlx::query_scalar("select current_revision from scenarios where id = $1")
            .bind(id)
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }

    pub async fn sign(&self, client: &Client, scenario_url: &str, decision: &str, reason: &str) -> Response {
        let revision = self.revision(scenario_url).await.to_string();
        let form = [("revision", revision.as_str()), ("decision", decision), ("reason", reason)];
        self.app.post_as(client, &format!("{scenario_url}/signoff"), &form).await
    }

    /// Every required signer (Ana, Li, Bo) approves the scenario's current revision.
    pub async fn all_approve(&self, scenario_url: &str) {
        for client in [&self.ana, &self.li, &self.bo] {
            assert_eq!(self.sign(client, scenario_url, "approve", "").await.status(), StatusCode::SEE_OTHER);
        }
    }

    pub async fn step(&self, client: &Client, what: &str) -> Response {
        self.app.post_as(client, &format!("{}/{what}", self.url), &[]).await
    }

    pub async fn run(&self, client: &Client, scenario_url: &str, what: &str, form: &[(&str, &str)]) -> Response {
        self.app.post_as(client, &format!("{scenario_url}/{what}"), form).await
    }

    pub async fn state(&self, scenario_url: &str) -> String {
        let id = Uuid::parse_str(scenario_url.rsplit('/').next().unwrap()).unwrap();
        sqlx::query_scalar("select state::text from scenarios where id = $1")
            .bind(id)
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }

    pub async fn page(&self, client: &Client, path: &str) -> String {
        let response = self.app.get_as(client, path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap()
    }

    /// Ana schedules and starts the game day.
    pub async fn start(&self) {
        assert_eq!(self.step(&self.ana, "schedule").await.status(), StatusCode::SEE_OTHER);
        assert_eq!(self.step(&self.ana, "start").await.status(), StatusCode::SEE_OTHER);
    }

    pub async fn event_kinds(&self) -> Vec<String> {
        sqlx::query_scalar("select kind from timeline_events where gameday_id = $1 order by seq")
            .bind(self.id)
            .fetch_all(&self.app.db)
            .await
            .unwrap()
    }
}

#[sqlx::test]
async fn times_are_entered_in_the_persons_zone_stored_in_utc_and_shown_in_each_viewers(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    assert_eq!(
        app.post_as(&ana, "/account", &[("display_name", "Ana"), ("time_zone", "Europe/Berlin")]).await.status(),
        StatusCode::SEE_OTHER
    );
    let slug = app.team(&ana, "Platform").await;
    let response = app.post_as(&ana, &format!("/teams/{slug}/gamedays"), &GAMEDAY_FORM).await;
    let url = location(&response);

    let starts: String =
        sqlx::query_scalar("select to_char(starts_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI') from gamedays")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(starts, "2026-12-01 09:00", "10:00 in Berlin is stored as 09:00 UTC");
    let page = app.get_as(&ana, &url).await.text().await.unwrap();
    assert!(page.contains("Tue 1 Dec 2026, 10:00 CET"), "Ana reads it in her zone");
    assert!(page.contains(r#"title="2026-12-01T09:00:00Z""#), "the exact UTC time is on hover");

    assert_eq!(
        app.post_as(&ana, "/account", &[("display_name", "Ana"), ("time_zone", "America/New_York")]).await.status(),
        StatusCode::SEE_OTHER
    );
    let page = app.get_as(&ana, &url).await.text().await.unwrap();
    assert!(page.contains("Tue 1 Dec 2026, 04:00 EST"), "after changing zone, the same instant in New York time");

    let response = app.post_as(&ana, "/account", &[("display_name", "Ana"), ("time_zone", "Mars/Olympus")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains(r#"id="time_zone-error""#));
}

#[sqlx::test]
async fn bad_game_day_input_is_refused_beside_its_field_and_kept(db: PgPool) {
    let app = spawn_app(db).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&ana, "Platform").await;
    let long = "x".repeat(10 * 1024);
    let cases: Vec<(&str, &str, &str)> = vec![
        ("title", "", "Title is required."),
        ("title", &long, "at most 120 characters"),
        ("objective", "   ", "Objective is required."),
        ("starts_at", "next tuesday", "Enter a date and time"),
        ("ends_at", "2026-12-01T09:00", "The end must be after the start."),
        ("call_link", "javascript:alert(1)", "https://"),
    ];
    for (field, value, message) in cases {
        let form: Vec<(&str, &str)> =
            GAMEDAY_FORM.iter().map(|(k, v)| if *k == field { (*k, value) } else { (*k, *v) }).collect();
        let response = app.post_as(&ana, &format!("/teams/{slug}/gamedays"), &form).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let page = response.text().await.unwrap();
        let at = page.find(&format!(r#"id="{field}-error">"#)).unwrap_or_else(|| panic!("no error beside {field}"));
        assert!(page[at..].split("</p>").next().unwrap().contains(message), "{field}: {message}");
        if field != "objective" {
            assert!(page.contains("Learn whether checkout survives losing the primary."), "the rest is kept");
        }
        assert!(page.contains("checkout, postgres"), "the rest is kept");
    }
    let count: i64 = sqlx::query_scalar("select count(*) from gamedays").fetch_one(&app.db).await.unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test]
async fn a_scheduled_game_day_keeps_its_start_time_refused_beside_the_field(db: PgPool) {
    let day = Day::new(db).await;
    day.scenario("Kill one pod").await;
    assert_eq!(day.step(&day.ana, "schedule").await.status(), StatusCode::SEE_OTHER);
    let form: Vec<(&str, &str)> = GAMEDAY_FORM
        .iter()
        .map(|(k, v)| match *k {
            "starts_at" | "ends_at" => (*k, ""),
            "title" => (*k, "Failover drill, moved"),
            _ => (*k, *v),
        })
        .collect();

    let response = day.app.post_as(&day.ana, &format!("{}/edit", day.url), &form).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    let at = page.find(r#"id="starts_at-error">"#).expect("the refusal stands beside the start time");
    assert!(page[at..].split("</p>").next().unwrap().contains("needs a start time"));
    assert!(page.contains("Failover drill, moved"), "what was typed is kept");
    let title: String = sqlx::query_scalar("select title from gamedays where id = $1")
        .bind(day.id)
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(title, "Database failover drill", "nothing was written");
}

#[sqlx::test]
async fn viewers_do_not_create_game_days_and_non_members_see_nothing(db: PgPool) {
    let day = Day::new(db).await;
    let app = &day.app;
    let response = app.post_as(&day.vi, &format!("/teams/{}/gamedays", day.slug), &GAMEDAY_FORM).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(day.page(&day.vi, &day.url).await.contains("Database failover drill"), "viewers read game days");

    let scenario = day.scenario("Stop the primary").await;
    let eve_paths = [
        day.url.clone(),
        format!("{}/edit", day.url),
        format!("{}/calendar.ics", day.url),
        scenario.clone(),
        format!("{scenario}/edit"),
        format!("/teams/{}/gamedays/new", day.slug),
    ];
    for path in &eve_paths {
        assert_eq!(app.get_as(&day.eve, path).await.status(), StatusCode::NOT_FOUND, "GET {path}");
    }
    for what in ["schedule", "start", "complete", "cancel", "participants", "edit"] {
        let path = format!("{}/{what}", day.url);
        assert_eq!(
            app.post_as(&day.eve, &path, &[("reason", "x")]).await.status(),
            StatusCode::NOT_FOUND,
            "POST {path}"
        );
    }
    for what in ["signoff", "announce", "inject", "halt", "rollback", "conclude", "edit"] {
        let path = format!("{scenario}/{what}");
        let response =
            app.post_as(&day.eve, &path, &[("decision", "approve"), ("revision", "1"), ("reason", "x")]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "POST {path}");
    }
    // Another team's member cannot reach this game day through their own team's URL either.
    let other = app.team(&day.eve, "Other").await;
    let through_other = format!("/teams/{other}/gamedays/{}", day.id);
    assert_eq!(app.get_as(&day.eve, &through_other).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(day.event_kinds().await.iter().filter(|k| k.starts_with("signoff")).count(), 0);
}

#[sqlx::test]
async fn only_facilitators_change_the_plan_and_run_the_day(db: PgPool) {
    let day = Day::new(db).await;
    let app = &day.app;
    let scenario = day.scenario("Stop the primary").await;
    let li_id = day.id_of("li@example.com").await;
    // Li is a participant; Vi a viewer who is not on the game day.
    for client in [&day.li, &day.vi] {
        for what in ["schedule", "start", "complete"] {
            assert_eq!(day.step(client, what).await.status(), StatusCode::FORBIDDEN, "{what}");
        }
        let owner = li_id.clone();
        let response = app.post_as(client, &format!("{}/scenarios", day.url), &scenario_form("Mine", &owner)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let response =
            app.post_as(client, &format!("{}/participants/{li_id}/role", day.url), &[("role", "facilitator")]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.get_as(client, &format!("{scenario}/edit")).await.status(), StatusCode::FORBIDDEN);
    }
    // A team lead who is not facilitating this game day does not run it either.
    let ana_id = day.id_of("ana@example.com").await;
    assert_eq!(
        day.app
            .post_as(&day.ana, &format!("{}/participants/{li_id}/role", day.url), &[("role", "facilitator")])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let response =
        app.post_as(&day.li, &format!("{}/participants/{ana_id}/role", day.url), &[("role", "participant")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "Li, now facilitator, hands Ana the participant role");
    assert_eq!(day.step(&day.ana, "schedule").await.status(), StatusCode::FORBIDDEN);
}

#[sqlx::test]
async fn the_lifecycle_is_enforced_with_reasons(db: PgPool) {
    let day = Day::new(db).await;
    // No scenario yet: scheduling is refused, and the page says why.
    let response = day.step(&day.ana, "schedule").await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("Add at least one scenario before scheduling."));
    assert_eq!(day.step(&day.ana, "start").await.status(), StatusCode::CONFLICT, "a draft cannot start");
    day.scenario("Stop the primary").await;
    assert_eq!(day.step(&day.ana, "schedule").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.step(&day.ana, "schedule").await.status(), StatusCode::CONFLICT, "already scheduled");
    assert_eq!(day.step(&day.ana, "complete").await.status(), StatusCode::CONFLICT, "not running yet");
    assert_eq!(day.step(&day.ana, "start").await.status(), StatusCode::SEE_OTHER);
    let response = day.app.post_as(&day.ana, &format!("{}/cancel", day.url), &[("reason", "rain")]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "a running game day is not cancelled");
    let early = [("reason", "the scenario was not needed")];
    assert_eq!(
        day.app.post_as(&day.ana, &format!("{}/complete", day.url), &early).await.status(),
        StatusCode::SEE_OTHER
    );
    let status: String = sqlx::query_scalar("select status::text from gamedays").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(status, "completed");
    let team = day.page(&day.ana, &format!("/teams/{}", day.slug)).await;
    let past = team.split("<h3>Past</h3>").nth(1).expect("a past section");
    assert!(past.contains("Database failover drill"), "a completed game day is listed as past");
    assert_eq!(
        day.event_kinds().await,
        vec![
            "gameday_created",
            "participant_added",
            "participant_added",
            "participant_added",
            "scenario_added",
            "gameday_scheduled",
            "gameday_started",
            "gameday_completed",
        ]
    );
}

#[sqlx::test]
async fn cancelling_needs_a_reason_and_a_game_day_not_started(db: PgPool) {
    let day = Day::new(db).await;
    let response = day.app.post_as(&day.ana, &format!("{}/cancel", day.url), &[("reason", " ")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("The reason for cancelling is required."));
    let response =
        day.app.post_as(&day.ana, &format!("{}/cancel", day.url), &[("reason", "Staging is down, ironically")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = day.page(&day.li, &day.url).await;
    assert!(page.contains("Cancelled: Staging is down, ironically"));
    assert_eq!(day.step(&day.ana, "schedule").await.status(), StatusCode::CONFLICT);
}

#[sqlx::test]
async fn participants_are_team_members_and_a_facilitator_always_remains(db: PgPool) {
    let day = Day::new(db).await;
    let eve_id = day.id_of("eve@example.com").await;
    let response = day
        .app
        .post_as(&day.ana, &format!("{}/participants", day.url), &[("user_id", &eve_id), ("role", "participant")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "not a team member");
    assert_eq!(day.add("li@example.com", "observer").await.status(), StatusCode::CONFLICT, "already on it");
    let ana_id = day.id_of("ana@example.com").await;
    let response = day.app.post_as(&day.ana, &format!("{}/participants/{ana_id}/remove", day.url), &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("at least one facilitator"));
    let response =
        day.app.post_as(&day.ana, &format!("{}/participants/{ana_id}/role", day.url), &[("role", "observer")]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[sqlx::test]
async fn signers_approve_or_object_with_a_reason_and_observers_do_not_sign(db: PgPool) {
    let day = Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    assert_eq!(day.add("vi@example.com", "observer").await.status(), StatusCode::SEE_OTHER);

    assert_eq!(day.sign(&day.li, &scenario, "approve", "").await.status(), StatusCode::SEE_OTHER);
    let response = day.sign(&day.bo, &scenario, "object", "  ").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("An objection needs a reason"));
    assert_eq!(
        day.sign(&day.bo, &scenario, "object", "No rollback tested; ironic").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(day.sign(&day.vi, &scenario, "approve", "").await.status(), StatusCode::FORBIDDEN, "observers read");

    let page = day.page(&day.ana, &scenario).await;
    assert!(page.contains("<strong>Li</strong> approved"));
    assert!(page.contains("<strong>Bo</strong> objects: <q>No rollback tested; ironic</q>"));
    assert!(page.contains("<strong>Ana</strong> has not signed yet"));

    // Bo changes his mind while the scenario is still proposed.
    assert_eq!(day.sign(&day.bo, &scenario, "approve", "").await.status(), StatusCode::SEE_OTHER);
    let page = day.page(&day.ana, &scenario).await;
    assert!(page.contains("<strong>Bo</strong> approved"));
    let kinds = day.event_kinds().await;
    assert_eq!(kinds.iter().filter(|k| *k == "signoff_approved").count(), 2);
    assert_eq!(kinds.iter().filter(|k| *k == "signoff_objected").count(), 1);
}

#[sqlx::test]
async fn an_edit_after_sign_off_makes_a_revision_that_everyone_signs_again(db: PgPool) {
    let day = Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    let owner = day.id_of("ana@example.com").await;
    let mut form = scenario_form("Stop the primary", &owner);
    form.retain(|(k, _)| *k != "rollback_plan");
    form.push(("rollback_plan", "Promote the replica back, then start the container."));
    let response = day.app.post_as(&day.ana, &format!("{scenario}/edit"), &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.revision(&scenario).await, 2);

    let page = day.page(&day.li, &scenario).await;
    assert!(page.contains("Revision 2 changed the rollback plan;\n    0 of 3 have approved it."), "plainly said");
    assert!(page.contains("<strong>Li</strong> has not signed yet"));
    // The dashboard tells Li it needs her again.
    let home = day.page(&day.li, "/").await;
    assert!(home.contains("Stop the primary") && home.contains("revision 2"));
    // A sign-off for the old wording is refused.
    let response =
        day.app.post_as(&day.li, &format!("{scenario}/signoff"), &[("revision", "1"), ("decision", "approve")]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("now at revision 2"));
    // The change between the revisions, field by field.
    let compare = day.page(&day.li, &format!("{scenario}?from=1&to=2")).await;
    assert!(compare.contains("Revision 1 → revision 2"));
    assert!(compare.contains("Promote the replica back, then start the container."));
    assert!(compare.contains("<th scope=\"row\">Rollback plan</th>"));
    assert!(!compare.contains("<th scope=\"row\">Fault</th>"), "unchanged fields are not listed");

    // Saving the same words again makes no revision.
    let response = day.app.post_as(&day.ana, &format!("{scenario}/edit"), &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.revision(&scenario).await, 2);
}

#[sqlx::test]
async fn the_gate_refuses_announce_until_everyone_approved_the_current_revision(db: PgPool) {
    let day = Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    day.start().await;

    let response = day.run(&day.ana, &scenario, "announce", &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let page = response.text().await.unwrap();
    assert!(page.contains("3 of 3 signers have not signed revision 1: Ana, Bo, Li."), "says who is missing");

    assert_eq!(day.sign(&day.ana, &scenario, "approve", "").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.sign(&day.li, &scenario, "approve", "").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.sign(&day.bo, &scenario, "object", "Friday deploy freeze").await.status(), StatusCode::SEE_OTHER);
    let response = day.run(&day.ana, &scenario, "announce", &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("Bo (Friday deploy freeze)"));

    assert_eq!(day.sign(&day.bo, &scenario, "approve", "").await.status(), StatusCode::SEE_OTHER);
    // A participant added after the sign-off is a required signer too.
    let invite = day.app.invite(&day.ana, &day.slug, "member").await;
    let mo = day.app.user("mo@example.com", "Mo").await;
    day.app.post_as(&mo, &format!("{invite}/accept"), &[]).await;
    assert_eq!(day.add("mo@example.com", "participant").await.status(), StatusCode::SEE_OTHER);
    let response = day.run(&day.ana, &scenario, "announce", &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("have not signed revision 1: Mo."));
    // A team viewer cannot be made a signer at all.
    assert_eq!(day.add("vi@example.com", "participant").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Removed, Mo no longer counts.
    let mo_id = day.id_of("mo@example.com").await;
    day.app.post_as(&day.ana, &format!("{}/participants/{mo_id}/remove", day.url), &[]).await;
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.state(&scenario).await, "announced");
}

#[sqlx::test]
async fn faults_cannot_be_injected_unannounced_nor_edited_once_announced(db: PgPool) {
    let day = Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    // Not running yet: no announcement.
    let response = day.run(&day.ana, &scenario, "announce", &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("only while the game day is running"));
    day.start().await;
    let response = day.run(&day.ana, &scenario, "inject", &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("Announce the scenario before injecting it"));

    assert_eq!(
        day.run(&day.li, &scenario, "announce", &[]).await.status(),
        StatusCode::FORBIDDEN,
        "participants do not announce"
    );
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    // Announced: the banner is on the game-day page for everyone, and the plan is frozen.
    let page = day.page(&day.vi, &day.url).await;
    assert!(page.contains("fault-banner") && page.contains("Stop the primary database container."));
    let owner = day.id_of("ana@example.com").await;
    let response =
        day.app.post_as(&day.ana, &format!("{scenario}/edit"), &scenario_form("Sneaky change", &owner)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(day.revision(&scenario).await, 1);
    assert_eq!(
        day.sign(&day.bo, &scenario, "object", "changed my mind").await.status(),
        StatusCode::CONFLICT,
        "halt instead"
    );
    assert_eq!(day.step(&day.ana, "complete").await.status(), StatusCode::CONFLICT, "a fault is in flight");
}

#[sqlx::test]
async fn a_participant_halts_and_the_facilitator_rolls_back_and_concludes(db: PgPool) {
    let day = Day::new(db).await;
    let first = day.scenario("Stop the primary").await;
    let second = day.scenario("Add 200 ms latency").await;
    day.all_approve(&first).await;
    day.all_approve(&second).await;
    day.start().await;

    for scenario in [&first, &second] {
        assert_eq!(day.run(&day.ana, scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(day.run(&day.ana, scenario, "inject", &[]).await.status(), StatusCode::SEE_OTHER);
    }
    // Li halts the first fault, saying why; an empty reason is refused.
    assert_eq!(day.run(&day.li, &first, "halt", &[("reason", "")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        day.run(&day.li, &first, "halt", &[("reason", "checkout errors at 5%")]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(day.state(&first).await, "halted");
    let page = day.page(&day.bo, &day.url).await;
    assert!(page.contains("Halted by Li because checkout errors at 5%"));
    assert_eq!(day.run(&day.li, &first, "rollback", &[]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(day.run(&day.ana, &first, "rollback", &[]).await.status(), StatusCode::CONFLICT, "halted, not injected");

    assert_eq!(
        day.run(&day.ana, &second, "conclude", &[("outcome", "held")]).await.status(),
        StatusCode::CONFLICT,
        "roll back first"
    );
    assert_eq!(day.run(&day.ana, &second, "rollback", &[]).await.status(), StatusCode::SEE_OTHER);
    let conclude = |outcome: &'static str| [("outcome", outcome), ("note", "Failover took 40 s.")];
    assert_eq!(
        day.run(&day.ana, &second, "conclude", &conclude("sideways")).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(day.run(&day.ana, &second, "conclude", &conclude("held")).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.run(&day.ana, &first, "conclude", &conclude("refuted")).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.state(&first).await, "concluded");
    assert_eq!(day.state(&second).await, "concluded");
    assert_eq!(day.run(&day.li, &second, "halt", &[("reason", "late")]).await.status(), StatusCode::CONFLICT);
    assert_eq!(day.step(&day.ana, "complete").await.status(), StatusCode::SEE_OTHER);

    let kinds = day.event_kinds().await;
    let faults: Vec<&str> =
        kinds.iter().map(String::as_str).filter(|k| k.starts_with("scenario_") && *k != "scenario_added").collect();
    assert_eq!(
        faults,
        vec![
            "scenario_announced",
            "scenario_injected",
            "scenario_announced",
            "scenario_injected",
            "scenario_halted",
            "scenario_rolled_back",
            "scenario_concluded",
            "scenario_concluded",
        ]
    );
    let seqs: Vec<i64> = sqlx::query_scalar("select seq from timeline_events where gameday_id = $1 order by seq")
        .bind(day.id)
        .fetch_all(&day.app.db)
        .await
        .unwrap();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "one gapless sequence per game day");
}

#[sqlx::test]
async fn the_database_refuses_to_change_or_delete_timeline_events(db: PgPool) {
    let day = Day::new(db).await;
    let db = &day.app.db;
    let update = sqlx::query("update timeline_events set body = 'rewritten'").execute(db).await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("delete from timeline_events").execute(db).await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    let truncate = sqlx::query("truncate timeline_events cascade").execute(db).await;
    assert!(truncate.unwrap_err().to_string().contains("append-only"));
    let left: i64 = sqlx::query_scalar("select count(*) from timeline_events").fetch_one(db).await.unwrap();
    assert_eq!(left, 4, "created, the facilitator and two participants joined");
}

#[sqlx::test]
async fn the_dashboard_lists_upcoming_game_days_and_scenarios_awaiting_my_sign_off(db: PgPool) {
    let day = Day::new(db).await;
    let home = day.page(&day.li, "/").await;
    assert!(home.contains("Database failover drill"), "upcoming");
    assert!(home.contains("Nothing to sign."));
    let scenario = day.scenario("Stop the primary").await;
    let home = day.page(&day.li, "/").await;
    assert!(home.contains(&scenario), "a direct link to the scenario to sign");
    day.sign(&day.li, &scenario, "approve", "").await;
    assert!(!day.page(&day.li, "/").await.contains(&scenario), "signed: no longer waiting");
    assert!(day.page(&day.vi, "/").await.contains("You are not on any upcoming game day."));
}

/// Every transition, tried by every role: a facilitator may; a participant signs and halts;
/// an observer halts; a team lead or member who is not on the game day may not; a non-member
/// gets 404.
#[sqlx::test]
async fn every_transition_is_allowed_or_refused_by_role(db: PgPool) {
    let day = Day::new(db).await;
    let app = &day.app;
    assert_eq!(day.add("vi@example.com", "observer").await.status(), StatusCode::SEE_OTHER);
    // Lu: a second team lead, not on this game day.
    let invite = app.invite(&day.ana, &day.slug, "lead").await;
    let lu = app.user("lu@example.com", "Lu").await;
    app.post_as(&lu, &format!("{invite}/accept"), &[]).await;
    let li_id = day.id_of("li@example.com").await;
    let owner = day.id_of("ana@example.com").await;

    // Who is refused what, and how: (client, who, expected status).
    let outsiders = [(&day.vi, "observer"), (&lu, "lead not on the game day")];
    async fn refused(app: &TestApp, who: &[(&Client, &str)], eve: &Client, path: &str, form: &[(&str, &str)]) {
        for (client, name) in who {
            let status = app.post_as(client, path, form).await.status();
            assert_eq!(status, StatusCode::FORBIDDEN, "{name} POST {path}");
        }
        assert_eq!(app.post_as(eve, path, form).await.status(), StatusCode::NOT_FOUND, "non-member POST {path}");
    }
    let plan_refused = [(&day.li, "participant"), outsiders[0], outsiders[1]];

    // Planning, while a draft.
    let edit = format!("{}/edit", day.url);
    refused(app, &plan_refused, &day.eve, &edit, &GAMEDAY_FORM).await;
    assert_eq!(app.post_as(&day.ana, &edit, &GAMEDAY_FORM).await.status(), StatusCode::SEE_OTHER);
    let form = scenario_form("Stop the primary", &owner);
    let scenarios = format!("{}/scenarios", day.url);
    refused(app, &plan_refused, &day.eve, &scenarios, &form).await;
    let first = day.scenario("Stop the primary").await;
    let second = day.scenario("Add latency").await;
    refused(app, &plan_refused, &day.eve, &format!("{first}/edit"), &form).await;
    let add = format!("{}/participants", day.url);
    let lu_id = day.id_of("lu@example.com").await;
    refused(app, &plan_refused, &day.eve, &add, &[("user_id", &lu_id), ("role", "observer")]).await;
    let role = format!("{}/participants/{li_id}/role", day.url);
    refused(app, &plan_refused, &day.eve, &role, &[("role", "observer")]).await;
    refused(app, &plan_refused, &day.eve, &format!("{}/cancel", day.url), &[("reason", "no")]).await;

    // Sign-off: facilitators and participants sign; observers and outsiders do not.
    for scenario in [&first, &second] {
        let sign = [("revision", "1"), ("decision", "approve")];
        refused(app, &outsiders, &day.eve, &format!("{scenario}/signoff"), &sign).await;
        day.all_approve(scenario).await;
    }

    for what in ["schedule", "start"] {
        refused(app, &plan_refused, &day.eve, &format!("{}/{what}", day.url), &[]).await;
        assert_eq!(day.step(&day.ana, what).await.status(), StatusCode::SEE_OTHER, "{what}");
    }

    // Announce and inject: facilitators only.
    for scenario in [&first, &second] {
        for what in ["announce", "inject"] {
            refused(app, &plan_refused, &day.eve, &format!("{scenario}/{what}"), &[]).await;
            assert_eq!(day.run(&day.ana, scenario, what, &[]).await.status(), StatusCode::SEE_OTHER, "{what}");
        }
    }
    // Halt: anyone on the game day, the observer included; not outsiders.
    let halt = [("reason", "dashboards went red")];
    refused(app, &[(&lu, "lead not on the game day")], &day.eve, &format!("{first}/halt"), &halt).await;
    assert_eq!(day.run(&day.vi, &first, "halt", &halt).await.status(), StatusCode::SEE_OTHER);
    // Roll back and conclude: facilitators only.
    refused(app, &plan_refused, &day.eve, &format!("{second}/rollback"), &[]).await;
    assert_eq!(day.run(&day.ana, &second, "rollback", &[]).await.status(), StatusCode::SEE_OTHER);
    for scenario in [&first, &second] {
        let conclude = [("outcome", "held"), ("note", "")];
        refused(app, &plan_refused, &day.eve, &format!("{scenario}/conclude"), &conclude).await;
        assert_eq!(day.run(&day.ana, scenario, "conclude", &conclude).await.status(), StatusCode::SEE_OTHER);
    }
    refused(app, &plan_refused, &day.eve, &format!("{}/complete", day.url), &[]).await;
    assert_eq!(day.step(&day.ana, "complete").await.status(), StatusCode::SEE_OTHER);
}

#[sqlx::test]
async fn leaving_the_team_leaves_its_open_game_days_unless_the_last_facilitator(db: PgPool) {
    let day = Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    let slug = &day.slug;
    // Li leaves the team: she is off the game day, so her approval no longer counts.
    let li_id = day.id_of("li@example.com").await;
    assert_eq!(
        day.app.post_as(&day.li, &format!("/teams/{slug}/members/{li_id}/remove"), &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    let page = day.page(&day.ana, &day.url).await;
    assert!(page.contains("Li left the team, and so the game day."));
    assert!(!day.page(&day.ana, &scenario).await.contains("<strong>Li</strong>"), "Li is no longer a signer");
    // Ana, the only facilitator, cannot be removed from the team (she is also a lead: add a second).
    let invite = day.app.invite(&day.ana, slug, "lead").await;
    let lu = day.app.user("lu@example.com", "Lu").await;
    day.app.post_as(&lu, &format!("{invite}/accept"), &[]).await;
    let ana_id = day.id_of("ana@example.com").await;
    let response = day.app.post_as(&lu, &format!("/teams/{slug}/members/{ana_id}/remove"), &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("only facilitator of the game day"));
    // Nor can a signer be made a team viewer while on an open game day.
    let bo_id = day.id_of("bo@example.com").await;
    let response = day.app.post_as(&lu, &format!("/teams/{slug}/members/{bo_id}/role"), &[("role", "viewer")]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("viewers only observe"));
}

#[sqlx::test]
async fn a_late_joiner_after_announcement_blocks_injection_until_they_approve(db: PgPool) {
    let day = Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    day.start().await;
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    let invite = day.app.invite(&day.ana, &day.slug, "member").await;
    let mo = day.app.user("mo@example.com", "Mo").await;
    day.app.post_as(&mo, &format!("{invite}/accept"), &[]).await;
    assert_eq!(day.add("mo@example.com", "participant").await.status(), StatusCode::SEE_OTHER);

    let response = day.run(&day.ana, &scenario, "inject", &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("have not signed revision 1: Mo."));
    assert!(day.page(&mo, "/").await.contains(&scenario), "Mo's dashboard asks for the sign-off");
    assert_eq!(day.sign(&mo, &scenario, "object", "too late to object").await.status(), StatusCode::CONFLICT);
    assert_eq!(day.sign(&mo, &scenario, "approve", "").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.run(&day.ana, &scenario, "inject", &[]).await.status(), StatusCode::SEE_OTHER);
}

#[sqlx::test]
async fn the_pages_say_what_they_mean_about_observers_objections_and_revisions(db: PgPool) {
    let day = Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    let owner = day.id_of("ana@example.com").await;
    let mut revised = scenario_form("Stop the primary", &owner);
    revised[1] = ("hypothesis", "Checkout p99 stays under 250 ms.");
    assert_eq!(day.app.post_as(&day.ana, &format!("{scenario}/edit"), &revised).await.status(), StatusCode::SEE_OTHER);

    let response = day.add("vi@example.com", "observer").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = day.page(&day.ana, &day.url).await;
    assert!(page.contains("they do not sign"), "the facilitator is not told that an observer signs");
    assert!(day.page(&day.vi, &day.url).await.contains("you are an <strong>observer</strong>"));

    day.sign(&day.li, &scenario, "object", "too risky").await;
    let page = day.page(&day.ana, &scenario).await;
    assert!(page.contains(r#"<ol class="revisions" reversed>"#), "revision 2 is listed as number 2");
    day.start().await;
    let response = day.run(&day.ana, &scenario, "announce", &[]).await;
    let text = response.text().await.unwrap();
    assert!(text.contains("1 objection to revision 2: Li (too risky)"), "{text}");
    assert!(text.contains("2 of 3 signers have not signed revision 2: Ana, Bo"), "the facilitator counts as a signer");
}

#[sqlx::test]
async fn a_facilitator_halts_everything_in_flight_at_once_with_one_reason(db: PgPool) {
    let day = Day::new(db).await;
    let first = day.scenario("Stop the primary").await;
    let second = day.scenario("Add 200 ms latency").await;
    let third = day.scenario("Fill the disk").await;
    for scenario in [&first, &second, &third] {
        day.all_approve(scenario).await;
    }
    day.start().await;
    for (scenario, moves) in [(&first, &["announce", "inject"][..]), (&second, &["announce"][..])] {
        for what in moves {
            assert_eq!(day.run(&day.ana, scenario, what, &[]).await.status(), StatusCode::SEE_OTHER);
        }
    }
    let halt_all = format!("{}/halt-all", day.url);
    assert!(day.page(&day.ana, &day.url).await.contains("Halt everything"), "offered while faults are in flight");
    assert!(!day.page(&day.li, &day.url).await.contains("Halt everything"), "to facilitators");
    assert_eq!(day.app.post_as(&day.li, &halt_all, &[("reason", "real outage")]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        day.app.post_as(&day.ana, &halt_all, &[("reason", " ")]).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let response = day.app.post_as(&day.ana, &halt_all, &[("reason", "a real outage started")]).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.state(&first).await, "halted");
    assert_eq!(day.state(&second).await, "halted");
    assert_eq!(day.state(&third).await, "proposed", "what was not in flight stays as it was");
    let page = day.page(&day.ana, &day.url).await;
    assert!(page.contains("Halted all 2 faults in flight."));
    assert_eq!(page.matches("because a real outage started").count(), 2, "both halts on the timeline with the reason");
    assert_eq!(day.app.post_as(&day.ana, &halt_all, &[("reason", "again")]).await.status(), StatusCode::CONFLICT);
}

#[sqlx::test]
async fn a_running_day_ends_early_only_with_a_reason_that_the_timeline_keeps(db: PgPool) {
    let day = Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    day.start().await;
    let page = day.page(&day.ana, &day.url).await;
    assert!(page.contains("End the day early…") && page.contains("1 scenario has not run"));
    assert!(!page.contains(">End game day</button>"), "no plain end while a scenario has not run");

    let refused = day.app.post_as(&day.ana, &format!("{}/complete", day.url), &[("reason", " ")]).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    let field = page.split(r#"id="end-reason""#).nth(1).expect("the reason field is on the page again");
    assert!(field.contains("1 scenario has not run yet: say why the day ends early."), "the message is beside it");

    let ended =
        day.app.post_as(&day.ana, &format!("{}/complete", day.url), &[("reason", "A real incident in checkout")]).await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    let timeline = day.page(&day.bo, &format!("{}/timeline", day.url)).await;
    assert!(timeline.contains("Ana ended the game day early: A real incident in checkout"));
    assert!(day.page(&day.ana, &day.url).await.contains("Completed"));
}

#[sqlx::test]
async fn after_a_halt_the_conclusion_form_does_not_suggest_that_the_hypothesis_held(db: PgPool) {
    let day = Day::new(db).await;
    let halted = day.scenario("Stop the primary").await;
    let rolled = day.scenario("Add latency").await;
    day.all_approve(&halted).await;
    day.all_approve(&rolled).await;
    day.start().await;
    for (scenario, last) in [(&halted, "halt"), (&rolled, "rollback")] {
        assert_eq!(day.run(&day.ana, scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(day.run(&day.ana, scenario, "inject", &[]).await.status(), StatusCode::SEE_OTHER);
        let form = [("reason", "errors at 5%")];
        assert_eq!(day.run(&day.ana, scenario, last, &form).await.status(), StatusCode::SEE_OTHER);
    }
    let page = day.page(&day.ana, &halted).await;
    assert!(page.contains(r#"value="held" required>"#), "nothing chosen for a halted fault");
    assert!(!page.contains(" checked> held"), "{page}");
    let page = day.page(&day.ana, &rolled).await;
    assert!(page.contains(r#"value="held" required checked>"#), "held is suggested after a roll-back");
}

#[sqlx::test]
async fn a_signer_with_a_standing_objection_is_not_made_an_observer_or_removed(db: PgPool) {
    let day = Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    for client in [&day.ana, &day.bo] {
        assert_eq!(day.sign(client, &scenario, "approve", "").await.status(), StatusCode::SEE_OTHER);
    }
    let response = day.sign(&day.li, &scenario, "object", "The replica is not caught up").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    day.start().await;
    let li_id = day.id_of("li@example.com").await;
    let role = format!("{}/participants/{li_id}/role", day.url);
    let remove = format!("{}/participants/{li_id}/remove", day.url);

    // Turning the objector into an observer, or removing them, would open the gate: refused.
    let response = day.app.post_as(&day.ana, &role, &[("role", "observer")]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("Li objects to revision 1 of the scenario")
            && page.contains("Stop the primary")
            && page.contains("The replica is not caught up"),
        "the page says which objection stands"
    );
    let response = day.app.post_as(&day.ana, &remove, &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("Li objects to revision 1 of the scenario"));
    let li_role: String = sqlx::query_scalar(
        "select role::text from gameday_participants where gameday_id = $1 and user_id = $2::text::uuid",
    )
    .bind(day.id)
    .bind(&li_id)
    .fetch_one(&day.app.db)
    .await
    .unwrap();
    assert_eq!(li_role, "participant");
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::CONFLICT, "still gated");

    // From signer to signer is no way around the objection, and goes on the timeline.
    assert_eq!(day.app.post_as(&day.ana, &role, &[("role", "facilitator")]).await.status(), StatusCode::SEE_OTHER);
    // Once Li approves, nothing stands and Li may observe.
    assert_eq!(day.sign(&day.li, &scenario, "approve", "").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.app.post_as(&day.ana, &role, &[("role", "observer")]).await.status(), StatusCode::SEE_OTHER);
    let changes: Vec<(serde_json::Value, String)> = sqlx::query_as(
        "select data, body from timeline_events where gameday_id = $1 and kind = 'participant_role_changed' order by seq",
    )
    .bind(day.id)
    .fetch_all(&day.app.db)
    .await
    .unwrap();
    let roles: Vec<&str> = changes.iter().map(|(data, _)| data["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["facilitator", "observer"], "every role change is on the timeline");
    assert!(changes.iter().all(|(data, _)| data["user_id"].as_str() == Some(li_id.as_str())));
    assert_eq!(changes[1].1, "Ana made Li observer.");
}
