//! Invariant 1 under concurrency: an objection, an edit or a new participant racing an
//! announcement can never leave a scenario announced without full approval of its current
//! revision. Each kind of race runs 200 times, both sides started together.

use gameday::accounts::User;
use gameday::accounts::store::user_by_id;
use gameday::error::AppError;
use gameday::gamedays::Step;
use gameday::gamedays::actions as day_actions;
use gameday::gamedays::{GamedayInput, GamedayRole};
use gameday::scenarios::actions;
use gameday::scenarios::{BlastRadius, Decision, ScenarioFields};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::spawn_app;

const RACES: usize = 200;

struct World {
    db: PgPool,
    ana: User,
    li: User,
    bo: User,
    gameday: Uuid,
}

fn fields(title: &str, owner: Uuid) -> ScenarioFields {
    ScenarioFields {
        title: title.into(),
        hypothesis: "p99 stays under 300 ms".into(),
        fault: "kill one pod".into(),
        target_system: "api".into(),
        blast_radius: Some(BlastRadius::Tiny),
        expected_impact: "none".into(),
        abort_criteria: "errors > 1%".into(),
        abort_owner: Some(owner),
        rollback_plan: "let it restart".into(),
        experiment_digest: None,
        health_checks: Vec::new(),
    }
}

async fn user(app: &crate::helpers::TestApp, email: &str, name: &str) -> User {
    app.user(email, name).await;
    user_by_id(&app.db, crate::helpers::user_id(&app.db, email).await).await.unwrap().unwrap()
}

/// A running game day facilitated by Ana with Li as participant; Bo is a team member not on it.
async fn world(db: PgPool) -> World {
    let app = spawn_app(db.clone()).await;
    let ana = user(&app, "ana@example.com", "Ana").await;
    let li = user(&app, "li@example.com", "Li").await;
    let bo = user(&app, "bo@example.com", "Bo").await;
    let team: Uuid =
        sqlx::query_scalar("insert into teams (id, name, slug, created_by) values ($1, 'Ops', 'ops', $2) returning id")
            .bind(Uuid::now_v7())
            .bind(ana.id)
            .fetch_one(&db)
            .await
            .unwrap();
    for (user, role) in [(&ana, "lead"), (&li, "member"), (&bo, "member")] {
        sqlx::query("insert into team_members (team_id, user_id, role) values ($1, $2, $3::team_role)")
            .bind(team)
            .bind(user.id)
            .bind(role)
            .execute(&db)
            .await
            .unwrap();
    }
    let input = GamedayInput {
        title: "Races".into(),
        objective: "Break the gate".into(),
        environment: "test".into(),
        systems: String::new(),
        starts_at: Some(time::OffsetDateTime::now_utc()),
        ends_at: None,
        call_link: None,
    };
    let gameday = day_actions::create(&db, team, &ana, &input).await.unwrap();
    day_actions::add_participant(&db, gameday, &ana, li.id, GamedayRole::Participant).await.unwrap();
    actions::create(&db, gameday, &ana, &fields("warm-up", ana.id)).await.unwrap();
    day_actions::step(&db, gameday, &ana, Step::Schedule, "").await.unwrap();
    day_actions::step(&db, gameday, &ana, Step::Start, "").await.unwrap();
    World { db, ana, li, bo, gameday }
}

impl World {
    /// A new scenario that Ana and Li both approved at revision 1.
    async fn approved_scenario(&self, n: usize) -> Uuid {
        let id = actions::create(&self.db, self.gameday, &self.ana, &fields(&format!("race {n}"), self.ana.id))
            .await
            .unwrap();
        for signer in [&self.ana, &self.li] {
            actions::sign(&self.db, self.gameday, id, signer, 1, Decision::Approve, None).await.unwrap();
        }
        id
    }

    async fn state(&self, scenario: Uuid) -> (String, i32) {
        sqlx::query_as("select state::text, current_revision from scenarios where id = $1")
            .bind(scenario)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// The check behind invariant 1: an announced scenario's current revision is approved by
    /// every required signer, with no objection.
    async fn fully_approved_now(&self, scenario: Uuid) -> bool {
        let missing: i64 = sqlx::query_scalar(
            r#"
            select count(*) from gameday_participants p
            join scenarios s on s.id = $2
            left join signoffs o on o.scenario_id = s.id and o.revision = s.current_revision and o.user_id = p.user_id
            where p.gameday_id = $1 and p.role in ('facilitator', 'participant')
              and (o.decision is null or o.decision <> 'approve')
            "#,
        )
        .bind(self.gameday)
        .bind(scenario)
        .fetch_one(&self.db)
        .await
        .unwrap();
        missing == 0
    }
}

fn refused(result: &Result<(), AppError>) -> bool {
    matches!(result, Err(AppError::Conflict(_)))
}

#[sqlx::test]
async fn an_objection_racing_an_announcement_never_both_succeed(db: PgPool) {
    let w = world(db).await;
    let (mut announced, mut objected) = (0, 0);
    for n in 0..RACES {
        let scenario = w.approved_scenario(n).await;
        let (db1, db2, gd, ana, li) = (w.db.clone(), w.db.clone(), w.gameday, w.ana.clone(), w.li.clone());
        let announce = tokio::spawn(async move { actions::announce(&db1, (gd, scenario, None), &ana, false).await });
        let object =
            tokio::spawn(
                async move { actions::sign(&db2, gd, scenario, &li, 1, Decision::Object, Some("wait")).await },
            );
        let (announce, object) = (announce.await.unwrap(), object.await.unwrap());
        assert!(announce.is_ok() != object.is_ok(), "race {n}: exactly one wins ({announce:?}, {object:?})");
        assert!(
            refused(if announce.is_ok() { &object } else { &announce }),
            "race {n}: the loser is refused with a reason"
        );
        let (state, _) = w.state(scenario).await;
        if state == "announced" {
            announced += 1;
            assert!(w.fully_approved_now(scenario).await, "race {n}: announced with a standing objection");
        } else {
            objected += 1;
        }
    }
    println!("object vs announce: {announced} announced first, {objected} objected first");
    assert!(announced > 0 && objected > 0, "both orders must occur for the race to test anything");
}

#[sqlx::test]
async fn an_edit_racing_an_announcement_never_both_succeed(db: PgPool) {
    let w = world(db).await;
    let (mut announced, mut edited) = (0, 0);
    for n in 0..RACES {
        let scenario = w.approved_scenario(n).await;
        let (db1, db2, gd, ana1, ana2) = (w.db.clone(), w.db.clone(), w.gameday, w.ana.clone(), w.ana.clone());
        let mut changed = fields(&format!("race {n}"), w.ana.id);
        changed.rollback_plan = "a different plan".into();
        let announce = tokio::spawn(async move { actions::announce(&db1, (gd, scenario, None), &ana1, false).await });
        let edit = tokio::spawn(async move { actions::revise(&db2, gd, scenario, &ana2, &changed).await.map(|_| ()) });
        let (announce, edit) = (announce.await.unwrap(), edit.await.unwrap());
        assert!(announce.is_ok() != edit.is_ok(), "race {n}: exactly one wins ({announce:?}, {edit:?})");
        let (state, revision) = w.state(scenario).await;
        if state == "announced" {
            announced += 1;
            assert_eq!(revision, 1, "race {n}: an announced scenario was edited");
            assert!(
                w.fully_approved_now(scenario).await,
                "race {n}: announced without approval of revision {revision}"
            );
        } else {
            edited += 1;
            assert_eq!(revision, 2);
        }
    }
    println!("edit vs announce: {announced} announced first, {edited} edited first");
    assert!(announced > 0 && edited > 0, "both orders must occur for the race to test anything");
}

#[sqlx::test]
async fn a_new_participant_racing_an_announcement_is_never_skipped(db: PgPool) {
    let w = world(db).await;
    let (mut announced_first, mut added_first) = (0, 0);
    for n in 0..RACES {
        let scenario = w.approved_scenario(n).await;
        let (db1, db2, gd, ana1, ana2, bo) =
            (w.db.clone(), w.db.clone(), w.gameday, w.ana.clone(), w.ana.clone(), w.bo.id);
        let announce = tokio::spawn(async move { actions::announce(&db1, (gd, scenario, None), &ana1, false).await });
        let add =
            tokio::spawn(
                async move { day_actions::add_participant(&db2, gd, &ana2, bo, GamedayRole::Participant).await },
            );
        let (announce, add) = (announce.await.unwrap(), add.await.unwrap());
        add.expect("adding a participant is always allowed");
        // The timeline's commit order says who came first.
        let order: Vec<String> = sqlx::query_scalar(
            "select kind from timeline_events where gameday_id = $1 and kind in ('scenario_announced', 'participant_added')
             and seq > (select max(seq) from timeline_events where gameday_id = $1 and kind = 'scenario_added') order by seq",
        )
        .bind(w.gameday)
        .fetch_all(&w.db)
        .await
        .unwrap();
        if announce.is_ok() {
            announced_first += 1;
            assert_eq!(
                order,
                ["scenario_announced", "participant_added"],
                "race {n}: announced although Bo had joined"
            );
        } else {
            added_first += 1;
            assert!(refused(&announce), "race {n}: {announce:?}");
            assert_eq!(order, ["participant_added"]);
            assert_eq!(w.state(scenario).await.0, "proposed");
        }
        day_actions::remove_participant(&w.db, w.gameday, &w.ana, w.bo.id).await.unwrap();
    }
    println!("add participant vs announce: {announced_first} announced first, {added_first} added first");
    assert!(announced_first > 0 && added_first > 0, "both orders must occur for the race to test anything");
}
