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
