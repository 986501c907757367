//! The observation write path: concurrent observations of one game day are recorded together
//! (group commit), none lost, numbered in commit order, each checked when it is recorded.

use std::collections::BTreeSet;

use gameday::gamedays::GamedayRole;
use gameday::timeline::actions::{Observation, observe};
use reqwest::StatusCode;
use sqlx::PgPool;

use crate::gamedays::Day;
use crate::helpers::user_id;

/// A person of the test's team, as the write path is given them.
async fn person(day: &Day, email: &str) -> gameday::accounts::User {
    gameday::accounts::store::user_by_id(&day.app.db, user_id(&day.app.db, email).await).await.unwrap().unwrap()
}

/// A plain observation: words alone.
fn words(body: &str) -> Observation {
    Observation { body: body.into(), scenario: None, marker: None, observed_at: None, link: None }
}

#[sqlx::test]
async fn concurrent_observations_are_all_kept_numbered_in_commit_order(db: PgPool) {
    let day = Day::new(db).await;
    day.scenario("Kill the primary").await;
    day.start().await;
    let before: i64 = sqlx::query_scalar("select last_event_seq from gamedays where id = $1")
        .bind(day.id)
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    let posts = (0..120).map(|i| {
        let client = if i % 2 == 0 { &day.li } else { &day.bo };
        let url = day.app.url(&format!("{}/observations", day.url));
        async move {
            let response = client.post(url).form(&[("body", format!("reading {i}"))]).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            // "Logged as #n" is in the flash; the address carries the number too.
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            location.rsplit("#event-").next().unwrap().parse::<i64>().unwrap()
        }
    });
    let acknowledged: Vec<i64> = futures_util::future::join_all(posts).await;
    let distinct: BTreeSet<i64> = acknowledged.iter().copied().collect();
    assert_eq!(distinct.len(), 120, "each acknowledged observation has its own number");
    assert_eq!(distinct, ((before + 1)..=(before + 120)).collect(), "numbered without gaps");

    // Every acknowledged observation is stored, with its own words, under the number it was given.
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "select seq, body, xmin::text::bigint from timeline_events where gameday_id = $1 and seq > $2 order by seq",
    )
    .bind(day.id)
    .bind(before)
    .fetch_all(&day.app.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 120);
    let bodies: BTreeSet<&str> = rows.iter().map(|(_, body, _)| body.as_str()).collect();
    assert_eq!(bodies.len(), 120, "no observation written twice or lost");
    // Sequence order is commit order: each transaction takes the game day's row lock before it
    // writes, so transaction ids never go back as the numbers go up.
    let transactions: BTreeSet<i64> = rows.iter().map(|r| r.2).collect();
    eprintln!("120 observations in {} transactions", transactions.len());
    assert!(rows.windows(2).all(|w| w[0].2 <= w[1].2), "a later number never comes from an earlier transaction");
    let last: i64 = sqlx::query_scalar("select last_event_seq from gamedays where id = $1")
        .bind(day.id)
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(last, before + 120);
}

#[sqlx::test]
async fn an_observation_is_checked_again_when_recorded(db: PgPool) {
    let day = Day::new(db).await;
    day.scenario("Kill the primary").await;
    day.start().await;
    let vi = person(&day, "vi@example.com").await;
    let li = person(&day, "li@example.com").await;
    // Vi's request believed she was on the game day (a role read before she was taken off, say):
    // when recorded, she is not, and only her observation is refused.
    let (from_vi, from_li) = (words("from vi"), words("from li"));
    let (vi_answer, li_answer) = tokio::join!(
        observe(&day.app.db, day.id, &vi, Some(GamedayRole::Participant), &from_vi),
        observe(&day.app.db, day.id, &li, Some(GamedayRole::Participant), &from_li),
    );
    assert!(matches!(vi_answer, Err(gameday::error::AppError::Forbidden(_))), "{vi_answer:?}");
    assert!(li_answer.is_ok(), "{li_answer:?}");
    let bodies: Vec<String> =
        sqlx::query_scalar("select body from timeline_events where gameday_id = $1 and kind = 'observation'")
            .bind(day.id)
            .fetch_all(&day.app.db)
            .await
            .unwrap();
    assert_eq!(bodies, ["from li"]);

    // A game day cancelled before the observation is recorded takes none.
    sqlx::query("update gamedays set status = 'cancelled', cancel_reason = 'test' where id = $1")
        .bind(day.id)
        .execute(&day.app.db)
        .await
        .unwrap();
    let late = observe(&day.app.db, day.id, &li, Some(GamedayRole::Participant), &words("too late")).await;
    assert!(matches!(late, Err(gameday::error::AppError::Conflict(_))), "{late:?}");
}

#[sqlx::test]
async fn an_observation_whose_request_gave_up_while_queued_is_not_written(db: PgPool) {
    let day = Day::new(db).await;
    day.scenario("Kill the primary").await;
    day.start().await;
    let li = person(&day, "li@example.com").await;
    // Someone holds the game day's row: the writer takes the first observation and waits for it.
    let mut holder = day.app.db.begin().await.unwrap();
    sqlx::query("select 1 from gamedays where id = $1 for update").bind(day.id).execute(&mut *holder).await.unwrap();
    let (first, gave_up, later) = (words("first"), words("gave up"), words("later"));
    let db = day.app.db.clone();
    let (id, who) = (day.id, li.clone());
    let first_answer =
        tokio::spawn(async move { observe(&db, id, &who, Some(GamedayRole::Participant), &first).await });
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    // The second waits in the queue behind it, and its request goes away (a timeout, a client
    // that left): it was never acknowledged, so it must not be written later.
    let dropped = tokio::time::timeout(
        std::time::Duration::from_millis(150),
        observe(&day.app.db, day.id, &li, Some(GamedayRole::Participant), &gave_up),
    )
    .await;
    assert!(dropped.is_err(), "the request gave up while queued");
    holder.commit().await.unwrap();
    assert!(first_answer.await.unwrap().is_ok());
    observe(&day.app.db, day.id, &li, Some(GamedayRole::Participant), &later).await.unwrap();
    let bodies: Vec<String> = sqlx::query_scalar(
        "select body from timeline_events where gameday_id = $1 and kind = 'observation' order by seq",
    )
    .bind(day.id)
    .fetch_all(&day.app.db)
    .await
    .unwrap();
    assert_eq!(bodies, ["first", "later"]);
}

#[sqlx::test]
async fn someone_no_longer_in_the_team_is_refused_when_recorded(db: PgPool) {
    let day = Day::new(db).await;
    day.scenario("Kill the primary").await;
    day.start().await;
    let li = person(&day, "li@example.com").await;
    // Li's request found her on the game day; by the time it is recorded she is out of the team
    // (her participant row stays on a game day that is over, which still takes observations).
    sqlx::query("update gamedays set status = 'completed' where id = $1")
        .bind(day.id)
        .execute(&day.app.db)
        .await
        .unwrap();
    let left = sqlx::query("delete from team_members where user_id = $1").bind(li.id).execute(&day.app.db).await;
    assert!(left.is_ok(), "{left:?}");
    let answer = observe(&day.app.db, day.id, &li, Some(GamedayRole::Participant), &words("from outside")).await;
    assert!(matches!(answer, Err(gameday::error::AppError::Forbidden(_))), "{answer:?}");
}

#[sqlx::test]
async fn an_observation_is_confirmed_by_the_page_it_leads_to_without_writing_the_session(db: PgPool) {
    let day = Day::new(crate::queries::app_pool(&db).await).await;
    day.scenario("Kill the primary").await;
    day.start().await;
    let url = day.app.url(&format!("{}/observations", day.url));
    let (response, statements) = crate::queries::counted(day.li.post(url).form(&[("body", "Alert fired")])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        statements.outside_handler(),
        2,
        "the session is loaded (a statement, and the ping of its connection) and not saved again: {:?}",
        statements.summaries()
    );
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let seq: i64 = location.rsplit("#event-").next().unwrap().parse().unwrap();
    assert_eq!(location, format!("{}/timeline?logged={seq}#event-{seq}", day.url));

    // Its author is told; anyone else opening the same address is not (it is not their write).
    let path = location.split('#').next().unwrap();
    assert!(day.page(&day.li, path).await.contains(&format!("Logged as #{seq}.")));
    assert!(!day.page(&day.ana, path).await.contains("Logged as #"));
    // A number that is not an observation of theirs, or not a number, tells nothing.
    for other in ["1", "-3", "abc", "99999"] {
        let page = day.page(&day.li, &format!("{}/timeline?logged={other}", day.url)).await;
        assert!(!page.contains("Logged as #"), "logged={other}");
    }
}

#[sqlx::test]
async fn a_removal_committed_while_the_batch_waits_for_the_lock_counts(db: PgPool) {
    let day = Day::new(db).await;
    day.scenario("Kill the primary").await;
    day.start().await;
    let li = person(&day, "li@example.com").await;
    // Someone holds the game day's row and, in the same transaction, takes Li out of the team.
    let mut holder = day.app.db.begin().await.unwrap();
    sqlx::query("select 1 from gamedays where id = $1 for update").bind(day.id).execute(&mut *holder).await.unwrap();
    sqlx::query("delete from team_members where user_id = $1").bind(li.id).execute(&mut *holder).await.unwrap();
    // Li's observation was checked before (she was on the day) and its batch now waits for the lock.
    let (db, id, who) = (day.app.db.clone(), day.id, li.clone());
    let answer =
        tokio::spawn(async move { observe(&db, id, &who, Some(GamedayRole::Participant), &words("just after")).await });
    let mut waiting = 0;
    for _ in 0..200 {
        waiting = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
        )
        .fetch_one(&day.app.db)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(waiting, 1i64, "the batch waits for the game day's lock");
    holder.commit().await.unwrap();
    // The removal committed before the batch got the lock: it counts, whatever the batch had read
    // before it waited.
    let answer = answer.await.unwrap();
    assert!(matches!(answer, Err(gameday::error::AppError::Forbidden(_))), "{answer:?}");
    let written: i64 =
        sqlx::query_scalar("select count(*) from timeline_events where gameday_id = $1 and kind = 'observation'")
            .bind(day.id)
            .fetch_one(&day.app.db)
            .await
            .unwrap();
    assert_eq!(written, 0);
}
