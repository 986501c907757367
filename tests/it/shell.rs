use std::time::Duration;

use gameday::app::serve;
use gameday::config::Config;
use gameday::state::AppState;
use reqwest::StatusCode;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgPool};

use crate::helpers::spawn_app;

#[sqlx::test]
async fn healthz_and_readyz_answer_while_the_database_is_up(db: PgPool) {
    let app = spawn_app(db).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn readyz_is_503_when_the_database_cannot_be_reached() {
    // Nothing listens on port 1: a pool that can never connect.
    let db = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy("postgres://gameday:gameday@127.0.0.1:1/gameday")
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, AppState::new(db, Config::for_bind(addr)), std::future::pending()));
    let client = reqwest::Client::new();

    assert_eq!(client.get(format!("http://{addr}/healthz")).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        client.get(format!("http://{addr}/readyz")).send().await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Pages say so plainly too (503, not 500), without internals.
    let form = [("email", "ana@example.com"), ("password", "correct horse battery")];
    let response = client.post(format!("http://{addr}/signin")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = response.text().await.unwrap();
    assert!(body.contains("cannot reach its database"));
    assert!(!body.contains("127.0.0.1:1"));
}

#[sqlx::test]
async fn readyz_turns_503_when_the_database_goes_away_and_200_when_it_returns(db: PgPool) {
    let app = spawn_app(db.clone()).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    app.signup_as(&app.client, "ana@example.com", "Ana").await;
    let name: String = sqlx::query_scalar("select current_database()").fetch_one(&db).await.unwrap();

    // From the maintenance database: refuse new connections to this one and cut the existing ones.
    let options = db.connect_options().as_ref().clone().database("postgres");
    let mut admin = sqlx::PgConnection::connect_with(&options).await.unwrap();
    sqlx::query(&format!(r#"alter database "{name}" allow_connections false"#)).execute(&mut admin).await.unwrap();
    sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1")
        .bind(&name)
        .execute(&mut admin)
        .await
        .unwrap();
    assert_eq!(app.get("/readyz").await.status(), StatusCode::SERVICE_UNAVAILABLE);
    // A signed-in page (whose session and user the login layer loads first) says 503, not 500.
    let page = app.get("/").await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.text().await.unwrap().contains("cannot reach its database"));

    sqlx::query(&format!(r#"alter database "{name}" allow_connections true"#)).execute(&mut admin).await.unwrap();
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK, "ready again once the database is back");
}

#[sqlx::test]
async fn pages_carry_security_headers_and_a_request_id(db: PgPool) {
    let app = spawn_app(db).await;
    let response = app.get("/signup").await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert!(headers.contains_key("x-request-id"));
    let page = response.text().await.unwrap();
    let inline_scripts =
        page.match_indices("<script").filter(|(at, _)| !page[*at..].starts_with("<script src=")).count();
    assert_eq!(inline_scripts, 0, "no inline scripts");
    assert!(!page.contains(" style="), "no inline styles");
}

#[sqlx::test]
async fn unknown_pages_get_the_html_404_page(db: PgPool) {
    let app = spawn_app(db).await;
    let response = app.get("/no/such/page").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = response.text().await.unwrap();
    assert!(page.contains("<h1>Not found</h1>"));
    assert!(page.contains(r#"<link rel="stylesheet""#));
}

#[sqlx::test]
async fn a_10_mb_body_is_refused_with_413(db: PgPool) {
    let app = spawn_app(db).await;
    let huge = "x".repeat(10 * 1024 * 1024);
    let response =
        app.post("/signup", &[("email", "ana@example.com"), ("display_name", &huge), ("password", "pw")]).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(response.text().await.unwrap().contains("too large"));
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&app.db).await.unwrap();
    assert_eq!(users, 0);
}

/// The transport takes bodies up to the Chaos Toolkit uploads' limit; every other route still
/// refuses anything above 64 KiB, forms and the JSON API alike.
#[sqlx::test]
async fn a_100_kib_body_is_refused_with_413_outside_the_upload_routes(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let long = "x".repeat(100 * 1024);
    let form = [("body", long.as_str())];
    let response = day.app.post_as(&day.ana, &format!("{}/observations", day.url), &form).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "a form");
    let token = crate::api::make_token(&day, &day.ana, "Big", &day.slug, &["observe"]).await;
    let body = serde_json::json!({ "body": long });
    let path = format!("/teams/{}/gamedays/{}/observations", day.slug, day.id);
    let response = crate::api::send(&day, &token, reqwest::Method::POST, &path, &body).await;
    crate::api::problem(response, StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
}

#[sqlx::test]
async fn a_cross_origin_post_is_refused_with_403(db: PgPool) {
    let app = spawn_app(db).await;
    let form = [("email", "ana@example.com"), ("display_name", "Ana"), ("password", "correct horse battery")];

    let from_evil = app.client.post(app.url("/signup")).header("origin", "https://evil.example").form(&form);
    assert_eq!(from_evil.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let cross_site = app.client.post(app.url("/signup")).header("sec-fetch-site", "cross-site").form(&form);
    let response = cross_site.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("<h1>Not allowed</h1>"));
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&app.db).await.unwrap();
    assert_eq!(users, 0, "no cross-origin POST got through");

    // The same form from the site itself goes through.
    let same_origin = app
        .client
        .post(app.url("/signup"))
        .header("origin", app.base.clone())
        .header("sec-fetch-site", "same-origin")
        .form(&form);
    assert_eq!(same_origin.send().await.unwrap().status(), StatusCode::SEE_OTHER);
}

#[sqlx::test]
async fn static_assets_are_cached_for_long_and_pages_compressed(db: PgPool) {
    let app = spawn_app(db).await;
    let page = app.get("/signup").await.text().await.unwrap();
    let start = page.find("/static/app.css?v=").expect("a fingerprinted stylesheet link");
    let href = &page[start..page[start..].find('"').unwrap() + start];
    let response = app.get(href).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/css"));

    let response = app.client.get(app.url("/signup")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
}

#[sqlx::test]
async fn graceful_shutdown_finishes(db: PgPool) {
    let app = spawn_app(db).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    tokio::time::timeout(Duration::from_secs(10), app.stop()).await.expect("the server stops within 10 s");
}

#[sqlx::test]
async fn a_server_error_shows_the_500_page_without_internals(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup_as(&app.client, "ana@example.com", "Ana").await;
    // Break the schema under the running app: the dashboard's own statement now fails in SQL.
    // (Not a table the session load reads: a session that cannot be loaded is answered 503, as
    // a database that cannot serve is.)
    sqlx::query("drop table action_items cascade").execute(&app.db).await.unwrap();

    let response = app.get("/").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(!request_id.is_empty());
    let page = response.text().await.unwrap();
    assert!(page.contains("<h1>Something went wrong</h1>"));
    assert!(page.contains(&request_id), "the page quotes the request id that the log line names");
    assert!(!page.contains("team_members") && !page.contains("relation"), "no SQL details on the page");
}

/// Every `<link>`/`<script>` URL of the three static assets in `page`, by file name.
fn asset_links(page: &str) -> Vec<(String, String)> {
    ["favicon.svg", "app.css", "app.js"]
        .iter()
        .map(|name| {
            let start = page.find(&format!("/static/{name}")).unwrap_or_else(|| panic!("a link to {name}"));
            let href = &page[start..];
            (name.to_string(), href[..href.find('"').unwrap()].to_owned())
        })
        .collect()
}

#[sqlx::test]
async fn only_the_current_fingerprint_of_an_asset_is_cached_as_immutable(db: PgPool) {
    let app = spawn_app(db).await;
    let page = app.get("/signin").await.text().await.unwrap();
    for (name, href) in asset_links(&page) {
        assert!(href.starts_with(&format!("/static/{name}?v=")), "{href} carries its fingerprint");
        let response = app.get(&href).await;
        assert_eq!(response.status(), StatusCode::OK, "{href}");
        assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable", "{href}");
        let body = response.bytes().await.unwrap();

        // No version, a wrong one, or a second one after it: the content, but never to be kept.
        for other in [format!("/static/{name}"), format!("/static/{name}?v=0123456789ab"), format!("{href}&v=old")] {
            let response = app.get(&other).await;
            assert_eq!(response.status(), StatusCode::OK, "{other}");
            assert_eq!(response.headers()["cache-control"], "no-cache", "{other}");
            assert_eq!(response.bytes().await.unwrap(), body, "{other}");
        }
        // Asking again with the ETag costs nothing.
        let etag = app.get(&href).await.headers().get("etag").expect("an ETag").clone();
        assert_eq!(app.get(&format!("/static/{name}")).await.headers()["etag"], etag, "the same ETag");
        let again = app.client.get(app.url(&format!("/static/{name}"))).header("if-none-match", &etag);
        assert_eq!(again.send().await.unwrap().status(), StatusCode::NOT_MODIFIED, "{name}");
    }
}

/// The content of the page's `<meta name="description">`, which must be there exactly once.
fn description(page: &str) -> String {
    let tag = r#"<meta name="description" content=""#;
    assert_eq!(page.matches(tag).count(), 1, "one meta description");
    let start = page.find(tag).unwrap() + tag.len();
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

#[sqlx::test]
async fn every_page_has_a_description_and_the_main_pages_their_own(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    let app = &day.app;
    let default = description(&app.get("/no-such-page").await.text().await.unwrap());
    assert!(default.len() > 50, "a sensible default: {default}");

    let signed_out = ["/", "/signin", "/signup"];
    let team = format!("/teams/{}", day.slug);
    let signed_in = [
        "/".to_owned(),
        team.clone(),
        day.url.clone(),
        format!("{}/timeline", day.url),
        scenario.clone(),
        format!("{team}/learnings"),
        format!("{team}/overview"),
        format!("{team}/actions"),
        format!("{team}/weaknesses"),
        format!("{team}/webhooks"),
        "/account".to_owned(),
    ];
    let mut seen = std::collections::HashSet::new();
    for (client, path) in
        signed_out.iter().map(|p| (&app.client, p.to_string())).chain(signed_in.map(|p| (&day.ana, p)))
    {
        let text = description(&day.page(client, &path).await);
        assert!(!text.trim().is_empty() && text != default, "{path} describes itself: {text}");
        assert!(seen.insert(text.clone()), "{path} has a description of its own: {text}");
    }
    assert!(description(&day.page(&day.ana, &day.url).await).contains("Database failover drill"));
    assert!(description(&day.page(&day.ana, &scenario).await).contains("Stop the primary"));
}

#[sqlx::test]
async fn a_nul_byte_in_the_path_or_the_query_is_bad_input_not_a_server_error(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let paths = [
        "/calendar/%00.ics".to_owned(),
        format!("/teams/{}/learnings?tag=%00", day.slug),
        format!("/teams/{}/learnings?q=a%00b", day.slug),
        format!("/teams/{}%00", day.slug),
    ];
    for path in &paths {
        let response = day.app.get_as(&day.ana, path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "GET {path}");
        let page = response.text().await.unwrap();
        assert!(page.contains("NUL"), "the page says what was wrong: {path}");
    }
}

#[sqlx::test]
async fn signed_in_pages_are_not_stored_by_caches_and_assets_still_are(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    for path in ["/".to_owned(), format!("/teams/{}", day.slug), day.url.clone(), "/account".to_owned()] {
        let response = day.app.get_as(&day.ana, &path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
    }
    let page = day.page(&day.ana, "/").await;
    let css = page.split(r#"rel="stylesheet" href=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    let response = day.app.get_as(&day.ana, &css).await;
    assert!(response.headers()["cache-control"].to_str().unwrap().contains("immutable"), "{css}");
}
