//! Copies: a scenario into another game day or as a smaller or larger variant, and a whole game
//! day as the plan for the next one. Every copy starts unsigned.

use reqwest::{Client, StatusCode};
use sqlx::PgPool;
use uuid::Uuid;

use crate::gamedays::{Day, GAMEDAY_FORM, scenario_form};
use crate::helpers::location;

/// The words of a scenario's revision, every field people sign, as text.
async fn words(db: &PgPool, scenario: Uuid, revision: i32) -> Vec<String> {
    let row: (String, String, String, String, String, String, String, Option<Uuid>, String, String) = sqlx::query_as(
        "select title, hypothesis, fault, target_system, blast_radius::text, expected_impact, abort_criteria,
                abort_owner, rollback_plan, fingerprint
         from scenario_revisions where scenario_id = $1 and revision = $2",
    )
    .bind(scenario)
    .bind(revision)
    .fetch_one(db)
    .await
    .unwrap();
    let owner = row.7.map(|o| o.to_string()).unwrap_or_default();
    vec![row.0, row.1, row.2, row.3, row.4, row.5, row.6, owner, row.8, row.9]
}

fn id_in(url: &str) -> Uuid {
    Uuid::parse_str(url.rsplit('/').next().unwrap()).unwrap()
}

async fn count(db: &PgPool, sql: &str, id: Uuid) -> i64 {
    sqlx::query_scalar(sql).bind(id).fetch_one(db).await.unwrap()
}

impl Day {
    /// Ana plans a second game day (she facilitates it, Li takes part); returns its URL.
    async fn second_day(&self) -> String {
        let form = [("title", "Next failover drill"), ("starts_at", "2027-01-12T10:00"), ("ends_at", "")];
        let form: Vec<(&str, &str)> =
            GAMEDAY_FORM.iter().copied().filter(|(k, _)| !form.iter().any(|(f, _)| f == k)).chain(form).collect();
        let response = self.app.post_as(&self.ana, &format!("/teams/{}/gamedays", self.slug), &form).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "second game day created");
        let url = location(&response);
        let li = self.id_of("li@example.com").await;
        let form = [("user_id", li.as_str()), ("role", "participant")];
        let added = self.app.post_as(&self.ana, &format!("{url}/participants"), &form).await;
        assert_eq!(added.status(), StatusCode::SEE_OTHER);
        url
    }

    async fn copy_scenario(&self, client: &Client, scenario_url: &str, into: &str) -> reqwest::Response {
        let into = id_in(into).to_string();
        self.app.post_as(client, &format!("{scenario_url}/copy"), &[("gameday", &into)]).await
    }
}

#[sqlx::test]
async fn a_scenario_copied_into_another_game_day_starts_unsigned_at_revision_one(db: PgPool) {
    let day = Day::new(db).await;
    let source = day.scenario("Stop the primary").await;
    let owner = day.id_of("ana@example.com").await;
    let mut revised = scenario_form("Stop the primary", &owner);
    revised.retain(|(k, _)| *k != "rollback_plan");
    revised.push(("rollback_plan", "Promote the replica back."));
    assert_eq!(day.app.post_as(&day.ana, &format!("{source}/edit"), &revised).await.status(), StatusCode::SEE_OTHER);
    day.all_approve(&source).await;
    let next = day.second_day().await;

    let page = day.page(&day.ana, &source).await;
    assert!(page.contains("Copy…") && page.contains("Next failover drill · draft"), "the copy offers Ana's open days");
    let response = day.copy_scenario(&day.ana, &source, &next).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let copy = location(&response);
    assert!(copy.starts_with(&format!("{next}/scenarios/")), "the copy is in the next game day: {copy}");

    let (db, copy_id) = (&day.app.db, id_in(&copy));
    assert_eq!(day.revision(&copy).await, 1);
    assert_eq!(day.state(&copy).await, "proposed");
    assert_eq!(count(db, "select count(*) from signoffs where scenario_id = $1", copy_id).await, 0, "unsigned");
    assert_eq!(count(db, "select count(*) from scenario_revisions where scenario_id = $1", copy_id).await, 1);
    assert_eq!(words(db, copy_id, 1).await, words(db, id_in(&source), 2).await, "revision 1 reads as the source now");
    assert_eq!(day.revision(&source).await, 2, "the source is untouched");
    assert_eq!(count(db, "select count(*) from signoffs where scenario_id = $1", id_in(&source)).await, 3);

    let timeline = day.page(&day.li, &format!("{next}/timeline")).await;
    assert!(
        timeline.contains("Ana copied &quot;Stop the primary&quot; from &quot;Database failover drill&quot; as a new scenario (revision 1)."),
        "the next day's timeline says where it came from"
    );
    let kind: String = sqlx::query_scalar(
        "select kind from timeline_events where gameday_id = $1 and scenario_id = $2 order by seq desc limit 1",
    )
    .bind(id_in(&next))
    .bind(copy_id)
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(kind, "scenario_added");
}

#[sqlx::test]
async fn an_abort_owner_not_on_the_target_day_gives_way_to_the_copier(db: PgPool) {
    let day = Day::new(db).await;
    let bo = day.id_of("bo@example.com").await;
    let response =
        day.app.post_as(&day.ana, &format!("{}/scenarios", day.url), &scenario_form("Kill a pod", &bo)).await;
    let source = location(&response);
    let next = day.second_day().await;

    let copy = location(&day.copy_scenario(&day.ana, &source, &next).await);
    let owner: Uuid = sqlx::query_scalar("select abort_owner from current_scenarios where id = $1")
        .bind(id_in(&copy))
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(owner.to_string(), day.id_of("ana@example.com").await, "Bo does not sign on the next day; Ana does");
    let timeline = day.page(&day.ana, &format!("{next}/timeline")).await;
    assert!(timeline.contains("Ana is its abort owner: Bo does not sign on this game day."));
}

#[sqlx::test]
async fn copying_into_a_game_day_whose_plan_is_closed_is_refused_with_a_message(db: PgPool) {
    let day = Day::new(db).await;
    let source = day.scenario("Stop the primary").await;
    let next = day.second_day().await;
    // The next day runs a scenario of its own and ends.
    let owner = day.id_of("ana@example.com").await;
    let added = day.app.post_as(&day.ana, &format!("{next}/scenarios"), &scenario_form("Tiny one", &owner)).await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    for step in ["schedule", "start"] {
        assert_eq!(day.app.post_as(&day.ana, &format!("{next}/{step}"), &[]).await.status(), StatusCode::SEE_OTHER);
    }
    let ended = day.app.post_as(&day.ana, &format!("{next}/complete"), &[("reason", "ran out of time")]).await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);

    let page = day.page(&day.ana, &source).await;
    assert!(!page.contains("Next failover drill · "), "a completed day is not offered");
    let response = day.copy_scenario(&day.ana, &source, &next).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("A completed game day can no longer be changed."));
    let scenarios = count(&day.app.db, "select count(*) from scenarios where gameday_id = $1", id_in(&next)).await;
    assert_eq!(scenarios, 1, "nothing was copied into the completed day");
}

#[sqlx::test]
async fn only_a_facilitator_of_the_target_day_copies_into_it(db: PgPool) {
    let day = Day::new(db).await;
    let source = day.scenario("Stop the primary").await;
    let next = day.second_day().await;

    // Li takes part in both days but facilitates neither; Vi, a viewer, is on neither.
    let page = day.page(&day.li, &source).await;
    assert!(!page.contains("Copy…"), "nothing to copy into for Li");
    for (client, who) in [(&day.li, "Li"), (&day.vi, "Vi")] {
        for into in [&next, &day.url] {
            let response = day.copy_scenario(client, &source, into).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{who} copying into {into}");
        }
    }
    let copies: i64 = sqlx::query_scalar("select count(*) from scenarios").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(copies, 1, "no copy was made");
}

#[sqlx::test]
async fn another_teams_game_day_and_a_non_member_get_404(db: PgPool) {
    let day = Day::new(db).await;
    let source = day.scenario("Stop the primary").await;
    // Eve plans a game day in her own team, which she facilitates.
    let eves = day.app.team(&day.eve, "Eve's team").await;
    let response = day.app.post_as(&day.eve, &format!("/teams/{eves}/gamedays"), &GAMEDAY_FORM).await;
    let eves_day = location(&response);

    let response = day.copy_scenario(&day.ana, &source, &eves_day).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "Ana cannot copy into another team's day");
    let response = day.copy_scenario(&day.eve, &source, &eves_day).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "Eve cannot copy out of a team she is not in");
    let response = day.app.get_as(&day.eve, &format!("{}/copy", day.url)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = day.app.post_as(&day.eve, &format!("{}/copy", day.url), &GAMEDAY_FORM).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response =
        day.app.get_as(&day.eve, &format!("{}/scenarios/new?copy={}&variant=larger", day.url, id_in(&source))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let scenarios = count(&day.app.db, "select count(*) from scenarios where gameday_id = $1", id_in(&eves_day)).await;
    assert_eq!(scenarios, 0);
    let gamedays: i64 = sqlx::query_scalar("select count(*) from gamedays").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(gamedays, 2, "no game day was copied");

    // The same requests from inside the team get through: the 404s above are the team's wall.
    assert_eq!(day.copy_scenario(&day.ana, &source, &day.url).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.app.get_as(&day.ana, &format!("{}/copy", day.url)).await.status(), StatusCode::OK);
}

#[sqlx::test]
async fn a_cross_origin_copy_is_refused(db: PgPool) {
    let day = Day::new(db).await;
    let source = day.scenario("Stop the primary").await;
    let into = day.id.to_string();
    let from_evil = day.ana.post(day.app.url(&format!("{source}/copy"))).header("origin", "https://evil.example");
    assert_eq!(from_evil.form(&[("gameday", &into)]).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let from_evil = day.ana.post(day.app.url(&format!("{}/copy", day.url))).header("origin", "https://evil.example");
    assert_eq!(from_evil.form(&GAMEDAY_FORM).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let scenarios: i64 = sqlx::query_scalar("select count(*) from scenarios").fetch_one(&day.app.db).await.unwrap();
    let gamedays: i64 = sqlx::query_scalar("select count(*) from gamedays").fetch_one(&day.app.db).await.unwrap();
    assert_eq!((scenarios, gamedays), (1, 1), "nothing was copied");

    // The same form from the app's own pages is accepted: the refusal is the cross-origin one.
    let same_origin = day.copy_scenario(&day.ana, &source, &day.url).await;
    assert_eq!(same_origin.status(), StatusCode::SEE_OTHER);
}

#[sqlx::test]
async fn a_variant_opens_the_form_prefilled_one_step_away_and_saves_as_usual(db: PgPool) {
    let day = Day::new(db).await;
    let source = day.scenario("Stop the primary").await;
    let page = day.page(&day.ana, &source).await;
    assert!(page.contains("Larger variant (small)"), "a tiny scenario can grow one step");
    assert!(!page.contains("Smaller variant"), "nothing is smaller than tiny");

    let new = format!("{}/scenarios/new?copy={}&variant=larger", day.url, id_in(&source));
    let form = day.page(&day.ana, &new).await;
    assert!(form.contains(r#"value="Stop the primary (larger)""#), "the title says what it is");
    assert!(form.contains(r#"<option value="small" selected>"#), "one step larger");
    assert!(form.contains("Stop the primary database container."), "the same fault, to edit");
    assert!(form.contains("Start tiny"), "the hint explains why");
    assert!(form.contains(&format!(r#"action="{}/scenarios""#, day.url)), "saving is adding a scenario");
    let smaller = format!("{}/scenarios/new?copy={}&variant=smaller", day.url, id_in(&source));
    assert_eq!(day.app.get_as(&day.ana, &smaller).await.status(), StatusCode::CONFLICT);
    assert_eq!(day.app.get_as(&day.li, &new).await.status(), StatusCode::FORBIDDEN, "only a facilitator adds");

    let owner = day.id_of("ana@example.com").await;
    let mut larger = scenario_form("Stop the primary (larger)", &owner);
    larger.retain(|(k, _)| *k != "blast_radius");
    larger.push(("blast_radius", "small"));
    larger.retain(|(k, _)| *k != "target_system");
    larger.push(("target_system", ""));
    let refused = day.app.post_as(&day.ana, &format!("{}/scenarios", day.url), &larger).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "the usual validation applies");
    larger.retain(|(k, _)| *k != "target_system");
    larger.push(("target_system", "postgres"));
    let saved = day.app.post_as(&day.ana, &format!("{}/scenarios", day.url), &larger).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let radius: String = sqlx::query_scalar("select blast_radius::text from current_scenarios where id = $1")
        .bind(id_in(&location(&saved)))
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(radius, "small");
}

#[sqlx::test]
async fn copying_a_game_day_copies_its_scenarios_and_participants_and_nothing_else(db: PgPool) {
    let day = Day::new(db).await;
    assert_eq!(day.add("vi@example.com", "observer").await.status(), StatusCode::SEE_OTHER);
    let ran = day.scenario("Stop the primary").await;
    let owner = day.id_of("bo@example.com").await;
    let mut revised = scenario_form("Stop the primary", &owner);
    revised.retain(|(k, _)| *k != "fault");
    revised.push(("fault", "Stop the primary for one minute."));
    assert_eq!(day.app.post_as(&day.ana, &format!("{ran}/edit"), &revised).await.status(), StatusCode::SEE_OTHER);
    let waiting = day.scenario("Add latency").await;
    day.all_approve(&ran).await;
    day.all_approve(&waiting).await;
    day.start().await;
    for what in ["announce", "inject", "rollback"] {
        assert_eq!(day.run(&day.ana, &ran, what, &[]).await.status(), StatusCode::SEE_OTHER, "{what}");
    }
    let concluded = day.run(&day.ana, &ran, "conclude", &[("outcome", "held"), ("note", "40 s")]).await;
    assert_eq!(concluded.status(), StatusCode::SEE_OTHER);
    let observed = day.app.post_as(&day.bo, &format!("{}/observations", day.url), &[("body", "p99 rose")]).await;
    assert_eq!(observed.status(), StatusCode::SEE_OTHER);

    // Li, a member who takes part, plans the next one from it.
    let page = day.page(&day.li, &day.url).await;
    assert!(page.contains("Copy as the next game day"));
    let form = day.page(&day.li, &format!("{}/copy", day.url)).await;
    assert!(form.contains(r#"value="Database failover drill""#), "the details are filled in");
    assert!(!form.contains("2026-12-01T10:00"), "the dates are not");
    assert!(form.contains("its 2 scenarios") && form.contains("its 4 participants"));
    let mut next = GAMEDAY_FORM.to_vec();
    next.retain(|(k, _)| !["starts_at", "ends_at"].contains(k));
    next.extend([("starts_at", "2027-02-02T10:00"), ("ends_at", "")]);
    let response = day.app.post_as(&day.li, &format!("{}/copy", day.url), &next).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let url = location(&response);
    let id = id_in(&url);
    assert_ne!(id, day.id);

    let db = &day.app.db;
    let status: String =
        sqlx::query_scalar("select status::text from gamedays where id = $1").bind(id).fetch_one(db).await.unwrap();
    assert_eq!(status, "draft");
    let roles: Vec<(String, String)> = sqlx::query_as(
        "select u.display_name, p.role::text from gameday_participants p join users u on u.id = p.user_id
         where p.gameday_id = $1 order by u.display_name",
    )
    .bind(id)
    .fetch_all(db)
    .await
    .unwrap();
    let roles: Vec<(&str, &str)> = roles.iter().map(|(n, r)| (n.as_str(), r.as_str())).collect();
    assert_eq!(
        roles,
        vec![("Ana", "facilitator"), ("Bo", "participant"), ("Li", "facilitator"), ("Vi", "observer")],
        "everyone in their role; Li, who copied it, facilitates"
    );

    let copies: Vec<(Uuid, i32, String, Option<String>, i32)> = sqlx::query_as(
        "select id, position, state::text, outcome::text, current_revision from scenarios where gameday_id = $1 order by position",
    )
    .bind(id)
    .fetch_all(db)
    .await
    .unwrap();
    assert_eq!(copies.len(), 2);
    for ((copy, _, state, outcome, revision), (source, source_revision)) in
        copies.iter().zip([(id_in(&ran), 2), (id_in(&waiting), 1)])
    {
        assert_eq!((state.as_str(), outcome.as_deref(), *revision), ("proposed", None, 1), "unsigned, not run");
        assert_eq!(words(db, *copy, 1).await, words(db, source, source_revision).await, "as the source reads now");
        assert_eq!(count(db, "select count(*) from signoffs where scenario_id = $1", *copy).await, 0);
    }

    let kinds: Vec<String> = sqlx::query_scalar("select kind from timeline_events where gameday_id = $1 order by seq")
        .bind(id)
        .fetch_all(db)
        .await
        .unwrap();
    let mut expected = vec!["gameday_created"];
    expected.extend(["participant_added"; 4]);
    expected.extend(["scenario_added"; 2]);
    assert_eq!(kinds, expected, "only the making of the plan: nothing of how the first day went");
    let timeline = day.page(&day.ana, &format!("{url}/timeline")).await;
    assert!(timeline.contains(
        "Li created the game day &quot;Database failover drill&quot; as a copy of &quot;Database failover drill&quot;"
    ));
    let linked: i64 =
        sqlx::query_scalar("select count(*) from scenarios where gameday_id = $1 and weakness_id is not null")
            .bind(id)
            .fetch_one(db)
            .await
            .unwrap();
    assert_eq!(linked, 0);
    assert_eq!(day.state(&ran).await, "concluded", "the source day is untouched");
}

#[sqlx::test]
async fn viewers_do_not_copy_a_game_day(db: PgPool) {
    let day = Day::new(db).await;
    let page = day.page(&day.vi, &day.url).await;
    assert!(!page.contains("Copy as the next game day"));
    assert_eq!(day.app.get_as(&day.vi, &format!("{}/copy", day.url)).await.status(), StatusCode::FORBIDDEN);
    let response = day.app.post_as(&day.vi, &format!("{}/copy", day.url), &GAMEDAY_FORM).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let gamedays: i64 = sqlx::query_scalar("select count(*) from gamedays").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(gamedays, 1);
}
