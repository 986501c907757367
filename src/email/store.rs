//! The outbox, what each person chose to receive, and the unsubscribe links.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Kind, Message};

/// Writes a message to `user_id` into the outbox, in the caller's transaction. Nothing is written
/// when they turned this kind off, their address is under `.invalid` (the demo's people, erased
/// accounts), or the change is a demo being played at its story's times (`gameday.now` is set):
/// a demo tells nobody anything. Whether it was written.
#[tracing::instrument(skip(conn, message, unsubscribe_token))]
pub async fn enqueue(
    conn: &mut PgConnection,
    user_id: Uuid,
    kind: Kind,
    message: &Message,
    unsubscribe_token: Option<&str>,
) -> sqlx::Result<bool> {
    let written = sqlx::query!(
        r#"
        insert into email_outbox (user_id, to_address, kind, subject, body_text, body_html, unsubscribe_token)
        select u.id, u.email, $2, $3, $4, $5, $6
        from users u
        where u.id = $1 and u.erased_at is null
          and u.email not like '%.invalid' and u.email not like '%@invalid'
          and not exists (select 1 from email_opt_outs o where o.user_id = u.id and o.kind = $2)
          and coalesce(current_setting('gameday.now', true), '') = ''
        "#,
        user_id,
        kind.as_str(),
        message.subject,
        message.text,
        message.html,
        unsubscribe_token
    )
    .execute(&mut *conn)
    .await?;
    Ok(written.rows_affected() == 1)
}

/// Writes a message to an address that may have no account (an invitation), in the caller's
/// transaction; nothing while a demo is played. Whether it was written.
#[tracing::instrument(skip_all, fields(kind = kind.as_str()))]
pub async fn enqueue_to_address(
    conn: &mut PgConnection,
    address: &str,
    kind: Kind,
    message: &Message,
) -> sqlx::Result<bool> {
    if !super::deliverable(address) {
        return Ok(false);
    }
    let written = sqlx::query!(
        r#"
        insert into email_outbox (to_address, kind, subject, body_text, body_html)
        select $1, $2, $3, $4, $5
        where coalesce(current_setting('gameday.now', true), '') = ''
        "#,
        address,
        kind.as_str(),
        message.subject,
        message.text,
        message.html
    )
    .execute(&mut *conn)
    .await?;
    Ok(written.rows_affected() == 1)
}

/// How many messages of `kind` were written for a person in the last day (to keep a kind that a
/// stranger can set off from filling their mailbox).
#[tracing::instrument(skip(conn))]
pub async fn written_today(conn: &mut PgConnection, user_id: Uuid, kind: Kind) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from email_outbox
           where user_id = $1 and kind = $2 and created_at > gameday_now() - interval '1 day'"#,
        user_id,
        kind.as_str()
    )
    .fetch_one(&mut *conn)
    .await
}

/// A message claimed for sending.
#[derive(Debug)]
pub struct Due {
    pub id: i64,
    pub user_id: Option<Uuid>,
    pub to_address: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub unsubscribe_token: Option<String>,
    pub attempts: i32,
}

/// Claims up to `limit` due messages for `lease_ms` (another instance skips them meanwhile, and
/// takes them over once the lease has run out without an outcome).
#[tracing::instrument(skip(db))]
pub async fn claim_due(db: &PgPool, limit: i64, lease_ms: i64) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as!(
        Due,
        r#"
        with due as (
            select id from email_outbox
            where status = 'pending' and next_attempt_at <= now()
            order by id
            limit $1
            for update skip locked
        )
        update email_outbox o
        set attempts = o.attempts + 1,
            next_attempt_at = now() + make_interval(secs => $2::float8 / 1000),
            claimed_until = now() + make_interval(secs => $2::float8 / 1000)
        from due
        where o.id = due.id
        returning o.id, o.user_id, o.to_address, o.subject, o.body_text, o.body_html, o.unsubscribe_token, o.attempts
        "#,
        limit,
        lease_ms as f64
    )
    .fetch_all(db)
    .await
}

/// Records how a claimed message ended: `sent`, `kept` (no SMTP server), `dropped` or `failed`
/// (with the server's answer).
#[tracing::instrument(skip(db, error))]
pub async fn finish(db: &PgPool, id: i64, status: &str, error: Option<&str>) -> sqlx::Result<()> {
    sqlx::query!(
        "update email_outbox set status = $2, last_error = coalesce($3, last_error), claimed_until = null,
                sent_at = case when $2 = 'sent' then now() else sent_at end
         where id = $1",
        id,
        status,
        error
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Puts a claimed message back to be tried again after `delay_ms`, with the reason it failed.
#[tracing::instrument(skip(db, error))]
pub async fn retry(db: &PgPool, id: i64, delay_ms: i64, error: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update email_outbox set next_attempt_at = now() + make_interval(secs => $2::float8 / 1000),
                claimed_until = null, last_error = $3
         where id = $1",
        id,
        delay_ms as f64,
        error
    )
    .execute(db)
    .await?;
    Ok(())
}

/// One message of the outbox page.
#[derive(Debug)]
pub struct OutboxEntry {
    pub id: i64,
    pub to_address: String,
    pub kind: String,
    pub subject: String,
    pub body_text: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: time::OffsetDateTime,
}

/// The latest messages, newest first.
#[tracing::instrument(skip(db))]
pub async fn latest(db: &PgPool, limit: i64) -> sqlx::Result<Vec<OutboxEntry>> {
    sqlx::query_as!(
        OutboxEntry,
        "select id, to_address, kind, subject, body_text, status, attempts, last_error, created_at
         from email_outbox order by id desc limit $1",
        limit
    )
    .fetch_all(db)
    .await
}

/// The kinds a person turned off.
#[tracing::instrument(skip(db))]
pub async fn opted_out(db: &PgPool, user_id: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!("select kind from email_opt_outs where user_id = $1", user_id).fetch_all(db).await
}

/// Turns a kind on or off for a person; whether anything changed.
#[tracing::instrument(skip(conn))]
pub async fn set_wanted(conn: &mut PgConnection, user_id: Uuid, kind: Kind, wanted: bool) -> sqlx::Result<bool> {
    let changed = if wanted {
        sqlx::query!("delete from email_opt_outs where user_id = $1 and kind = $2", user_id, kind.as_str())
            .execute(&mut *conn)
            .await?
    } else {
        sqlx::query!(
            "insert into email_opt_outs (user_id, kind) values ($1, $2) on conflict do nothing",
            user_id,
            kind.as_str()
        )
        .execute(&mut *conn)
        .await?
    };
    Ok(changed.rows_affected() == 1)
}

/// The person and kind an unsubscribe link is for, and the person's name.
#[tracing::instrument(skip_all)]
pub async fn unsubscribe_target(db: &PgPool, token: &str) -> sqlx::Result<Option<(Uuid, String, String)>> {
    let row = sqlx::query!(
        r#"select o.user_id as "user_id!", o.kind, u.email
           from email_outbox o join users u on u.id = o.user_id
           where o.unsubscribe_token = $1 and u.erased_at is null"#,
        token
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.user_id, r.kind, r.email)))
}

/// Someone an e-mail about a game day goes to.
#[derive(Debug)]
pub struct Recipient {
    pub user_id: Uuid,
    pub display_name: String,
    pub time_zone: String,
}

/// The people of a game day in `roles` who are still in its team and can be written to, but
/// `except` (the person who made the change).
#[tracing::instrument(skip(conn))]
pub async fn gameday_people(
    conn: &mut PgConnection,
    gameday_id: Uuid,
    roles: &[&str],
    except: Option<Uuid>,
) -> sqlx::Result<Vec<Recipient>> {
    let roles: Vec<String> = roles.iter().map(|role| (*role).to_owned()).collect();
    sqlx::query_as!(
        Recipient,
        r#"select u.id as user_id, u.display_name, u.time_zone
           from gameday_participants p
           join gamedays g on g.id = p.gameday_id
           join team_members m on m.team_id = g.team_id and m.user_id = p.user_id
           join users u on u.id = p.user_id
           where p.gameday_id = $1 and p.role::text = any($2) and u.id is distinct from $3
             and u.erased_at is null and u.email not like '%.invalid' and u.email not like '%@invalid'
           order by u.id"#,
        gameday_id,
        &roles,
        except
    )
    .fetch_all(conn)
    .await
}

/// What an e-mail about a game day names: its title, its team's slug, and the scenario's current
/// title and revision.
#[derive(Debug)]
pub struct About {
    pub gameday_title: String,
    pub team_slug: String,
    pub scenario_title: Option<String>,
    pub revision: Option<i32>,
}

#[tracing::instrument(skip(conn))]
pub async fn about(conn: &mut PgConnection, gameday_id: Uuid, scenario_id: Option<Uuid>) -> sqlx::Result<About> {
    sqlx::query_as!(
        About,
        r#"select g.title as gameday_title, t.slug as team_slug, r.title as "scenario_title?", s.current_revision as "revision?"
           from gamedays g join teams t on t.id = g.team_id
           left join scenarios s on s.id = $2 and s.gameday_id = g.id
           left join scenario_revisions r on r.scenario_id = s.id and r.revision = s.current_revision
           where g.id = $1"#,
        gameday_id,
        scenario_id
    )
    .fetch_one(conn)
    .await
}

/// The members of the team a game day belongs to who can be written to, but `except`.
#[tracing::instrument(skip(conn))]
pub async fn team_people(
    conn: &mut PgConnection,
    gameday_id: Uuid,
    except: Option<Uuid>,
) -> sqlx::Result<Vec<Recipient>> {
    sqlx::query_as!(
        Recipient,
        r#"select u.id as user_id, u.display_name, u.time_zone
           from gamedays g
           join team_members m on m.team_id = g.team_id
           join users u on u.id = m.user_id
           where g.id = $1 and u.id is distinct from $2
             and u.erased_at is null and u.email not like '%.invalid' and u.email not like '%@invalid'
           order by u.id"#,
        gameday_id,
        except
    )
    .fetch_all(conn)
    .await
}

/// A game day to remind its people of: which reminder (`day` or `hour`) and when it starts.
#[derive(Debug)]
pub struct DayReminder {
    pub gameday_id: Uuid,
    pub which: String,
    pub starts_at: time::OffsetDateTime,
}

/// Takes the game day reminders that are due and not yet written (once across every instance):
/// the day before (between 24 hours and an hour ahead) and an hour before. Scheduled game days of
/// teams neither archived nor demos.
#[tracing::instrument(skip(conn))]
pub async fn take_day_reminders(conn: &mut PgConnection) -> sqlx::Result<Vec<DayReminder>> {
    sqlx::query_as!(
        DayReminder,
        r#"with due as (
               insert into email_reminders (subject_id, which, due)
               select g.id, w.which, g.starts_at::text
               from gamedays g
               join teams t on t.id = g.team_id and not t.demo and t.archived_at is null
               cross join (values ('day'), ('hour')) as w (which)
               where g.status = 'scheduled' and g.starts_at > now()
                 and case w.which
                       when 'hour' then g.starts_at <= now() + interval '1 hour'
                       else g.starts_at > now() + interval '1 hour' and g.starts_at <= now() + interval '24 hours'
                     end
               on conflict do nothing
               returning subject_id, which
           )
           select due.subject_id as "gameday_id!", due.which as "which!", g.starts_at as "starts_at!"
           from due join gamedays g on g.id = due.subject_id"#
    )
    .fetch_all(conn)
    .await
}

/// An action to remind its owner of.
#[derive(Debug)]
pub struct ActionReminder {
    pub owner: Uuid,
    pub title: String,
    pub due_on: time::Date,
    pub team_slug: String,
}

/// Takes the reminders of open actions that fall due tomorrow in their owner's zone and were not
/// reminded of yet (once across every instance). Teams neither archived nor demos.
#[tracing::instrument(skip(conn))]
pub async fn take_action_reminders(conn: &mut PgConnection) -> sqlx::Result<Vec<ActionReminder>> {
    sqlx::query_as!(
        ActionReminder,
        r#"with due as (
               insert into email_reminders (subject_id, which, due)
               select a.id, 'action_due', a.due_on::text
               from action_items a
               join teams t on t.id = a.team_id and not t.demo and t.archived_at is null
               join users u on u.id = a.owner
               where a.status = 'open' and a.due_on = (now() at time zone u.time_zone)::date + 1
               on conflict do nothing
               returning subject_id
           )
           select a.owner, a.title, a.due_on as "due_on!", t.slug as team_slug
           from due join action_items a on a.id = due.subject_id join teams t on t.id = a.team_id"#
    )
    .fetch_all(conn)
    .await
}

/// A person's name and zone, if they can be written to.
#[tracing::instrument(skip(conn))]
pub async fn recipient(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<Option<Recipient>> {
    sqlx::query_as!(
        Recipient,
        r#"select id as user_id, display_name, time_zone from users
           where id = $1 and erased_at is null and email not like '%.invalid' and email not like '%@invalid'"#,
        user_id
    )
    .fetch_optional(conn)
    .await
}
