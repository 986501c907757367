//! The rules that SQL needs too are defined once in a migration as SQL functions; each must say
//! exactly what its Rust twin says, for every value it can be given.

use gameday::gamedays::{GamedayRole, GamedayStatus};
use gameday::learnings::{ActionStatus, is_overdue};
use gameday::scenarios::gate::ScenarioState;
use sqlx::PgPool;
use time::macros::date;

async fn sql<T>(db: &PgPool, statement: &'static str, value: T) -> bool
where
    T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + 'static,
{
    sqlx::query_scalar::<_, bool>(statement).bind(value).fetch_one(db).await.expect(statement)
}

#[sqlx::test]
async fn required_signers_are_the_same_in_sql_and_rust(db: PgPool) {
    gameday::db::migrate(&db).await.unwrap();
    for role in GamedayRole::ALL {
        assert_eq!(sql(&db, "select is_required_signer($1)", role).await, role.is_required_signer(), "{role:?}");
    }
}

#[sqlx::test]
async fn faults_in_flight_and_open_sign_off_are_the_same_in_sql_and_rust(db: PgPool) {
    gameday::db::migrate(&db).await.unwrap();
    for state in ScenarioState::ALL {
        assert_eq!(sql(&db, "select is_in_flight($1)", state).await, state.in_flight(), "{state:?}");
        assert_eq!(sql(&db, "select takes_signoffs($1)", state).await, state.takes_signoffs(), "{state:?}");
    }
}

#[sqlx::test]
async fn open_game_days_are_the_same_in_sql_and_rust(db: PgPool) {
    gameday::db::migrate(&db).await.unwrap();
    for status in GamedayStatus::ALL {
        assert_eq!(sql(&db, "select plan_is_open($1)", status).await, status.plan_is_open(), "{status:?}");
    }
}

#[sqlx::test]
async fn overdue_actions_are_the_same_in_sql_and_rust(db: PgPool) {
    gameday::db::migrate(&db).await.unwrap();
    let today = date!(2026 - 11 - 26);
    for status in ActionStatus::ALL {
        for due_on in [None, Some(date!(2026 - 11 - 25)), Some(today), Some(date!(2026 - 11 - 27))] {
            let in_sql: bool = sqlx::query_scalar("select is_overdue($1, $2, $3)")
                .bind(status)
                .bind(due_on)
                .bind(today)
                .fetch_one(&db)
                .await
                .unwrap();
            assert_eq!(in_sql, is_overdue(status, due_on, today), "{status:?} due {due_on:?}");
        }
    }
}

/// The database itself refuses a participant from outside the team, and a team viewer as more
/// than an observer, whatever the app does.
#[sqlx::test]
async fn the_database_refuses_participants_from_outside_the_team_and_viewers_who_sign(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let id = |email: &'static str| {
        let db = day.app.db.clone();
        async move { crate::helpers::user_id(&db, email).await }
    };
    let insert = |user: uuid::Uuid, role: &'static str| {
        let db = day.app.db.clone();
        let gameday = day.id;
        async move {
            sqlx::query(
                "insert into gameday_participants (gameday_id, user_id, role) values ($1, $2, $3::gameday_role)",
            )
            .bind(gameday)
            .bind(user)
            .bind(role)
            .execute(&db)
            .await
        }
    };
    let refused = |result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>| match result {
        Err(sqlx::Error::Database(e)) => e.constraint().map(str::to_owned),
        other => panic!("expected the database to refuse, got {other:?}"),
    };
    // Eve is in no team of this game day.
    assert_eq!(
        refused(insert(id("eve@example.com").await, "observer").await).as_deref(),
        Some("participant_is_a_member")
    );
    // Vi is a team viewer: an observer at most.
    assert_eq!(
        refused(insert(id("vi@example.com").await, "participant").await).as_deref(),
        Some("viewer_only_observes")
    );
    insert(id("vi@example.com").await, "observer").await.expect("a viewer may observe");
    let promote = sqlx::query("update gameday_participants set role = 'facilitator' where user_id = $1")
        .bind(id("vi@example.com").await)
        .execute(&day.app.db)
        .await;
    assert_eq!(refused(promote).as_deref(), Some("viewer_only_observes"));
}
