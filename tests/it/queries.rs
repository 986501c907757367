//! Round trips to PostgreSQL per page, every one counted: the statements a request sends are
//! counted from sqlx's own per-statement events (target `sqlx::query`), attributed to the request
//! by its `x-request-id` (the app's request span carries it), so tests running in parallel and
//! the app's background tasks (webhook worker, live listener) do not blur the count. sqlx also
//! pings every connection it takes back into the pool, a round trip it does not log: the pool,
//! made with the app's own options, says each time it hands one out (`gameday::db::checkout`), and
//! each counts as one round trip. (Those options do not ping a connection when it is taken.)
//!
//! [`counted`] is reusable: send any request through it to get its statements.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use reqwest::{RequestBuilder, Response, StatusCode};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use crate::gamedays::Day;

/// What the session and sign-in layers may cost a signed-in GET that does not change the
/// session: one statement (the session, the user and the account session's check together) and
/// the ping of the connection it took.
const SESSION_BUDGET: usize = 2;

// Per-page budgets, every round trip counted: statements, the BEGIN of a transaction, and the
// ping of each connection taken from the pool (a ratchet: lower them as pages get cheaper; the
// target is 4). Each main page reads on one connection (the session's): 6 → 4, 4 → 3 for the
// dashboard. Done: the session (3 → 1), the frame's teams and faults elsewhere (2 → 0: a GET
// page's session load reads them in its statement), a game day's membership, game day and role
// (3 → 1 → 0: the session load reads them when the path names a game day), the window, its corrections and the key events (1), and each page's own data in one
// statement: the game day's participants, candidates, scenarios, sign-offs and re-tests (5 → 1);
// the timeline's scenarios with what the control room's run card reads (3 → 1); the team's
// members, invites, game days, feed and sign-offs waiting (5 → 1); the dashboard's game days,
// sign-offs and actions (3 → 1).
const BUDGET_GAMEDAY: usize = 4;
const BUDGET_TIMELINE: usize = 4;
const BUDGET_TEAM: usize = 4;
const BUDGET_DASHBOARD: usize = 3;

/// One statement a request sent, or a connection it took from the pool (whose ping, when it
/// goes back, is a round trip).
#[derive(Debug, Clone)]
pub struct Statement {
    /// sqlx's summary of the statement (its first words), or [`CHECKOUT`].
    pub summary: String,
    /// Whether it was sent while the handler ran (rather than by the session and sign-in layers
    /// before it, or the session's save after it).
    pub in_handler: bool,
}

/// How a connection taken from the pool shows among a request's statements.
pub const CHECKOUT: &str = "(a connection from the pool: pinged when it goes back)";

/// The statements one request sent.
#[derive(Debug, Clone, Default)]
pub struct Statements(pub Vec<Statement>);

/// sqlx's own look-ups of a custom type (an enum) the first time a connection meets it; the
/// connection caches the answer, so a warm pool does not send them.
fn is_type_lookup(statement: &Statement) -> bool {
    ["SELECT oid::regtype::text", "SELECT enumlabel FROM", "SELECT $1::regtype::oid"]
        .iter()
        .any(|lookup| statement.summary.starts_with(lookup))
}

/// A statement that ends a transaction. sqlx does not log the BEGIN that opened it (it is sent
/// as a simple query and waited for: one round trip), so each one stands for two.
fn ends_transaction(statement: &Statement) -> bool {
    let summary = statement.summary.trim().to_ascii_lowercase();
    summary.starts_with("commit") || summary.starts_with("rollback")
}

impl Statements {
    /// Round trips: every statement logged, plus the unlogged BEGIN of each transaction, minus
    /// sqlx's type look-ups on a cold connection (see [`Statements::type_lookups`]).
    pub fn total(&self) -> usize {
        self.counted(|_| true)
    }

    /// Round trips outside the handler: those of the session and sign-in layers (the load before
    /// the handler, a save after it).
    pub fn outside_handler(&self) -> usize {
        self.counted(|s| !s.in_handler)
    }

    /// sqlx's type look-ups on a connection that had not met a type yet (not in [`total`]).
    pub fn type_lookups(&self) -> usize {
        self.0.iter().filter(|s| is_type_lookup(s)).count()
    }

    fn counted(&self, which: impl Fn(&Statement) -> bool) -> usize {
        self.0.iter().filter(|s| which(s) && !is_type_lookup(s)).map(|s| if ends_transaction(s) { 2 } else { 1 }).sum()
    }

    /// Connections taken from the pool (each one pinged when it goes back).
    pub fn checkouts(&self) -> usize {
        self.0.iter().filter(|s| s.summary == CHECKOUT).count()
    }

    pub fn summaries(&self) -> Vec<&str> {
        self.0.iter().map(|s| s.summary.as_str()).collect()
    }
}

/// Statements seen so far, by request id.
fn seen() -> &'static Mutex<HashMap<String, Vec<Statement>>> {
    static SEEN: OnceLock<Mutex<HashMap<String, Vec<Statement>>>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

/// The request id a `request` span was opened with.
struct RequestId(String);
/// Marks the span the handler runs in.
struct Handler;

struct FieldText<'a>(&'a str, Option<String>);

impl Visit for FieldText<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == self.0 {
            self.1 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == self.0 {
            self.1 = Some(format!("{value:?}"));
        }
    }
}

/// Counts each `sqlx::query` event, and each connection taken from the pool, under the `request`
/// span it happened in.
struct CountStatements;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for CountStatements {
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        match attrs.metadata().name() {
            "request" => {
                let mut request_id = FieldText("request_id", None);
                attrs.record(&mut request_id);
                if let Some(request_id) = request_id.1 {
                    span.extensions_mut().insert(RequestId(request_id));
                }
            }
            "handler" => span.extensions_mut().insert(Handler),
            _ => {}
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let checkout = match event.metadata().target() {
            "sqlx::query" => false,
            "gameday::db::checkout" => true,
            _ => return,
        };
        let Some(scope) = ctx.event_scope(event) else { return };
        let mut in_handler = false;
        for span in scope {
            let extensions = span.extensions();
            in_handler |= extensions.get::<Handler>().is_some();
            if let Some(RequestId(request_id)) = extensions.get::<RequestId>() {
                let mut summary = FieldText("summary", None);
                event.record(&mut summary);
                let summary = if checkout { CHECKOUT.to_owned() } else { summary.1.unwrap_or_default() };
                let mut seen = seen().lock().unwrap();
                seen.entry(request_id.clone()).or_default().push(Statement { summary, in_handler });
                return;
            }
        }
    }
}

/// Installs the counting subscriber for the whole test process, once. It enables sqlx's
/// per-statement events (logged at DEBUG) and the spans they are attributed by, nothing else.
fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let only = tracing_subscriber::filter::filter_fn(|meta| {
            matches!(meta.target(), "sqlx::query" | "gameday::db::checkout")
                || (meta.is_span() && matches!(meta.name(), "request" | "handler"))
        });
        let subscriber = tracing_subscriber::registry().with(CountStatements.with_filter(only));
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global tracing subscriber in the test process");
    });
}

/// Sends `request` with a fresh `x-request-id` and returns the response with every statement the
/// app sent to PostgreSQL while serving it.
pub async fn counted(request: RequestBuilder) -> (Response, Statements) {
    install();
    let request_id = uuid::Uuid::new_v4().to_string();
    let response = request.header("x-request-id", &request_id).send().await.expect("request");
    // Every statement is sent before the response's head: the session is saved before the
    // response leaves its layer, and pages are rendered whole before they are sent.
    let statements = seen().lock().unwrap().remove(&request_id).unwrap_or_default();
    (response, Statements(statements))
}

/// A pool made as the app makes its own (`db::pool_options`, `db::with_timeouts`), over the test's
/// fresh database.
pub async fn app_pool(db: &PgPool) -> PgPool {
    let config = gameday::config::Config::for_bind("127.0.0.1:0".parse().unwrap());
    let options: PgPoolOptions = gameday::db::pool_options(&config);
    options.connect_with(gameday::db::with_timeouts((*db.connect_options()).clone(), &config)).await.unwrap()
}

#[sqlx::test]
async fn the_counter_sees_every_statement_of_a_request_and_only_its_own(db: PgPool) {
    let pool = app_pool(&db).await;
    assert!(
        !pool.options().get_test_before_acquire(),
        "the app's pool pings each connection it hands out: a round trip sqlx does not log, so not counted"
    );
    let day = Day::new(pool).await;

    // A form post that changes state: its transaction is counted whole.
    let (response, statements) = counted(
        day.ana.post(day.app.url(&format!("/teams/{}/gamedays", day.slug))).form(&crate::gamedays::GAMEDAY_FORM),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let summaries = statements.summaries();
    // sqlx logs the COMMIT, not the BEGIN: the count adds one round trip for it.
    assert!(summaries.iter().any(|s| s.eq_ignore_ascii_case("commit")), "COMMIT is seen: {summaries:?}");
    assert!(!summaries.iter().any(|s| s.eq_ignore_ascii_case("begin")), "BEGIN would be counted twice: {summaries:?}");
    let commits = summaries.iter().filter(|s| s.eq_ignore_ascii_case("commit")).count();
    assert_eq!(statements.total(), summaries.len() - statements.type_lookups() + commits);
    // So are the connections it took: the session's, and the transaction's (a form post does not
    // keep one connection for all its statements).
    assert!(statements.checkouts() >= 2, "{summaries:?}");
    // The session store's statements are counted too (the sign-in layers run before the handler).
    assert!(statements.outside_handler() >= 1, "the session is loaded: {summaries:?}");

    // A visitor's page sends nothing for a session it does not have.
    let (_, statements) = counted(day.app.client.get(day.app.url("/signin"))).await;
    assert_eq!(statements.outside_handler(), 0, "{:?}", statements.summaries());
}

#[sqlx::test]
async fn each_main_page_stays_within_its_budget_of_round_trips(db: PgPool) {
    let day = Day::new(app_pool(&db).await).await;
    day.scenario("Primary fails over").await;
    day.start().await;
    for body in ["Alert fired", "Failover done", "p99 back to normal"] {
        let response = day.app.post_as(&day.li, &format!("{}/observations", day.url), &[("body", body)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    // Once, so that the first sight of each page (a flash message read, a session's first
    // "last seen") is not what is measured.
    let pages = [
        ("game-day page", day.url.clone(), BUDGET_GAMEDAY),
        ("timeline page", format!("{}/timeline", day.url), BUDGET_TIMELINE),
        ("team page", format!("/teams/{}", day.slug), BUDGET_TEAM),
        ("dashboard", "/".to_owned(), BUDGET_DASHBOARD),
    ];
    for (_, path, _) in &pages {
        assert_eq!(day.app.get_as(&day.ana, path).await.status(), StatusCode::OK);
    }

    let mut measured = Vec::new();
    for (name, path, budget) in &pages {
        let (response, statements) = counted(day.ana.get(day.app.url(path))).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        println!(
            "{name}: {} round trips ({} for the session and sign-in; {} type look-ups of a cold connection not counted) {:?}",
            statements.total(),
            statements.outside_handler(),
            statements.type_lookups(),
            statements.summaries()
        );
        measured.push((*name, statements, *budget));
    }
    for (name, statements, budget) in &measured {
        assert!(
            statements.outside_handler() <= SESSION_BUDGET,
            "{name}: the session and sign-in cost {} round trips: {:?}",
            statements.outside_handler(),
            statements.summaries()
        );
        assert!(
            statements.total() <= *budget,
            "{name}: {} round trips: {:?}",
            statements.total(),
            statements.summaries()
        );
        // Its statements share the connection its session was loaded on.
        assert_eq!(statements.checkouts(), 1, "{name}: {:?}", statements.summaries());
    }
}

#[sqlx::test]
async fn pages_that_keep_a_connection_share_a_small_pool_with_everyone_else(db: PgPool) {
    // A pool of four: at most two page loads keep a connection at once; the rest take one per
    // statement, and form posts (which keep none) still get theirs.
    let (app, pool) = crate::outages::app_with_pool(&db, |c| {
        c.db_max_connections = 4;
        c.db_acquire_timeout_ms = 5_000;
    })
    .await;
    let day = Day::with_app(app).await;
    day.scenario("Primary fails over").await;
    day.start().await;

    // The live listener holds one connection for as long as the app runs; the webhook worker
    // takes one now and then.
    let in_use = || pool.size() as usize - pool.num_idle();
    let held = 1;

    let mut loads = tokio::task::JoinSet::new();
    for i in 0..48 {
        let (client, app) = (if i % 2 == 0 { day.ana.clone() } else { day.li.clone() }, day.app.url(""));
        let (url, slug) = (day.url.clone(), day.slug.clone());
        loads.spawn(async move {
            let app = app.trim_end_matches('/').to_owned();
            match i % 4 {
                0 => client.get(format!("{app}{url}")).send().await.unwrap().status(),
                1 => client.get(format!("{app}{url}/timeline")).send().await.unwrap().status(),
                2 => client.get(format!("{app}/teams/{slug}")).send().await.unwrap().status(),
                _ => client
                    .post(format!("{app}{url}/observations"))
                    .form(&[("body", format!("Observation {i}"))])
                    .send()
                    .await
                    .unwrap()
                    .status(),
            }
        });
    }
    while let Some(status) = loads.join_next().await {
        let status = status.unwrap();
        assert!(status == StatusCode::OK || status == StatusCode::SEE_OTHER, "{status}");
    }
    // Every connection is back in the pool once the answers are in (the last pings land a moment
    // later).
    for _ in 0..100 {
        if in_use() <= held {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(in_use() <= held, "no connection is kept after its request: {} in use, {held} before", in_use());
    assert!(pool.size() <= 4);
}
