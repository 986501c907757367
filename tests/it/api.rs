//! The JSON API's doors: personal access tokens made in the pages (shown once, stored as a hash,
//! revocable by their owner and the team's leads), bearer tokens and nothing else, team isolation,
//! and errors as problem documents.

use reqwest::{Client, Response, StatusCode, header};
use serde_json::Value;
use sqlx::PgPool;

use crate::gamedays::{Day, GAMEDAY_FORM};
use crate::helpers::new_client;

/// Makes a token on `/account/tokens` as `client` and reads it off the page it leads to (the one
/// time it is shown).
pub(crate) async fn make_token(day: &Day, client: &Client, name: &str, team: &str, scopes: &[&str]) -> String {
    let mut form = vec![("name", name), ("team", team), ("lifetime", "30")];
    form.extend(scopes.iter().map(|s| ("scopes", *s)));
    let response = day.app.post_as(client, "/account/tokens", &form).await;
    assert_eq!(response.status(), StatusCode::CREATED, "token made");
    assert_eq!(response.headers().get(header::CACHE_CONTROL).unwrap(), "no-store");
    let page = response.text().await.unwrap();
    token_in(&page).expect("the new token is shown in the answer to the form")
}

pub(crate) fn token_in(page: &str) -> Option<String> {
    let start = page.find("gdt_")?;
    let token: String = page[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    (token.len() == 4 + 32 + 1 + 64).then_some(token)
}

pub(crate) async fn api(day: &Day, token: &str, path: &str) -> Response {
    day.app.client.get(day.app.url(&format!("/api/v1{path}"))).bearer_auth(token).send().await.unwrap()
}

/// Sends `body` as JSON with `method` to `/api/v1{path}` with the token.
pub(crate) async fn send(day: &Day, token: &str, method: reqwest::Method, path: &str, body: &Value) -> Response {
    day.app
        .client
        .request(method, day.app.url(&format!("/api/v1{path}")))
        .bearer_auth(token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

pub(crate) async fn json(response: Response) -> Value {
    let text = response.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Checks an answer is a problem document with this status and code; returns it.
pub(crate) async fn problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let body = json(response).await;
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["code"], code, "{body}");
    assert!(body["title"].is_string() && body["type"].is_string(), "{body}");
    body
}

#[sqlx::test]
async fn a_person_makes_a_token_sees_it_once_and_the_api_answers_as_them(db: PgPool) {
    let day = Day::new(db).await;
    let page = day.app.get_as(&day.ana, "/account/tokens").await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("None yet"), "an empty list says what to do");
    assert!(page.contains("Platform"), "the team can be chosen");

    let token = make_token(&day, &day.ana, "CI pipeline", &day.slug, &["run"]).await;
    let again = day.app.get_as(&day.ana, "/account/tokens").await.text().await.unwrap();
    assert!(token_in(&again).is_none(), "shown once only");
    // Nowhere to be found later: not in the session either.
    let in_sessions: i64 = sqlx::query_scalar("select count(*) from web_sessions where position($1 in data::text) > 0")
        .bind(&token[40..])
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(in_sessions, 0, "the secret is not kept in a session");
    assert!(again.contains("CI pipeline") && again.contains("read, run") && again.contains("never used"));

    // Only its hash is stored.
    let stored: i64 = sqlx::query_scalar("select count(*) from api_tokens where secret_hash = sha256($1::bytea)")
        .bind(token.as_bytes())
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    let in_clear: i64 = sqlx::query_scalar("select count(*) from api_tokens t where position($1 in t::text) > 0")
        .bind(&token[40..])
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(in_clear, 0, "the secret is not stored");

    let me = api(&day, &token, "/me").await;
    assert_eq!(me.status(), StatusCode::OK);
    let me = json(me).await;
    assert_eq!(me["user"]["display_name"], "Ana");
    assert_eq!(me["team"]["slug"], day.slug.as_str());
    assert_eq!(me["token"]["name"], "CI pipeline");
    assert_eq!(me["token"]["scopes"], serde_json::json!(["read", "run"]));

    let team = json(api(&day, &token, &format!("/teams/{}", day.slug)).await).await;
    assert_eq!(team["role"], "lead");
    assert_eq!(team["name"], "Platform");

    let list = api(&day, &token, &format!("/teams/{}/gamedays", day.slug)).await;
    assert_eq!(list.status(), StatusCode::OK);
    let list = json(list).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], day.id.to_string());
    assert_eq!(list[0]["title"], GAMEDAY_FORM[0].1);
    assert_eq!(list[0]["status"], "draft");

    let one = json(api(&day, &token, &format!("/teams/{}/gamedays/{}", day.slug, day.id)).await).await;
    assert_eq!(one["title"], GAMEDAY_FORM[0].1);
    assert_eq!(one["your_role"], "facilitator");
    let names: Vec<&str> =
        one["participants"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Li") && names.contains(&"Bo"), "{names:?}");

    // Its use shows on the page.
    let page = day.app.get_as(&day.ana, "/account/tokens").await.text().await.unwrap();
    assert!(page.contains("last used"), "last used is shown");
}

#[sqlx::test]
async fn the_api_takes_a_bearer_token_and_nothing_else(db: PgPool) {
    let day = Day::new(db).await;
    let token = make_token(&day, &day.ana, "Script", &day.slug, &[]).await;

    // No token: 401 with a challenge, as a problem document.
    let anonymous = day.app.client.get(day.app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(
        anonymous.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()),
        Some("Bearer realm=\"gameday\"")
    );
    let body = problem(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(body["detail"].as_str().unwrap().contains("Authorization: Bearer"), "{body}");

    // A signed-in browser's cookie alone opens nothing.
    let cookie_only = day.ana.get(day.app.url("/api/v1/me")).send().await.unwrap();
    problem(cookie_only, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let cookie_only = day.ana.get(day.app.url(&format!("/api/v1/teams/{}/gamedays", day.slug))).send().await.unwrap();
    problem(cookie_only, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Not a token of ours, the right id with a wrong secret, another scheme: the same 401.
    let forged = format!("{}{}", &token[..token.len() - 1], if token.ends_with('0') { '1' } else { '0' });
    for bad in ["nonsense", "gdt_", forged.as_str()] {
        let response = api(&day, bad, "/me").await;
        assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()),
            Some("Bearer realm=\"gameday\", error=\"invalid_token\""),
            "{bad}"
        );
        problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let basic = day.app.client.get(day.app.url("/api/v1/me")).basic_auth("ana", Some(&token)).send().await.unwrap();
    problem(basic, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // The token itself works, from a client without any cookie.
    let fresh = new_client().get(day.app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
}

#[sqlx::test]
async fn revoked_and_expired_tokens_stop_working_at_once(db: PgPool) {
    let day = Day::new(db).await;
    let revoked = make_token(&day, &day.li, "Old laptop", &day.slug, &["observe"]).await;
    let expiring = make_token(&day, &day.li, "Short-lived", &day.slug, &[]).await;
    assert_eq!(api(&day, &revoked, "/me").await.status(), StatusCode::OK);
    assert_eq!(api(&day, &expiring, "/me").await.status(), StatusCode::OK);

    let id = json(api(&day, &revoked, "/me").await).await["token"]["id"].as_str().unwrap().to_owned();
    // Someone else cannot revoke it from their own page (404, as for no such token).
    let response = day.app.post_as(&day.bo, &format!("/account/tokens/{id}/revoke"), &[]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(api(&day, &revoked, "/me").await.status(), StatusCode::OK);

    let response = day.app.post_as(&day.li, &format!("/account/tokens/{id}/revoke"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    problem(api(&day, &revoked, "/me").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let page = day.app.get_as(&day.li, "/account/tokens").await.text().await.unwrap();
    assert!(page.contains("Revoked"), "the list says so");

    sqlx::query("update api_tokens set created_at = now() - interval '2 days', expires_at = now() - interval '1 second' where name = 'Short-lived'")
        .execute(&day.app.db)
        .await
        .unwrap();
    problem(api(&day, &expiring, "/me").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[sqlx::test]
async fn a_token_reaches_its_own_team_only(db: PgPool) {
    let day = Day::new(db).await;
    let ana = make_token(&day, &day.ana, "Platform script", &day.slug, &["plan"]).await;
    // Eve leads a team of her own, with a game day.
    let eves = day.app.team(&day.eve, "Payments").await;
    let response = day.app.post_as(&day.eve, &format!("/teams/{eves}/gamedays"), &GAMEDAY_FORM).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let eves_day = crate::helpers::location(&response).rsplit('/').next().unwrap().to_owned();
    let eve = make_token(&day, &day.eve, "Payments script", &eves, &[]).await;

    for (token, path) in [
        (&eve, format!("/teams/{}", day.slug)),
        (&eve, format!("/teams/{}/gamedays", day.slug)),
        (&eve, format!("/teams/{}/gamedays/{}", day.slug, day.id)),
        (&ana, format!("/teams/{eves}")),
        (&ana, format!("/teams/{eves}/gamedays/{eves_day}")),
        // Another team's game day under one's own team's slug.
        (&ana, format!("/teams/{}/gamedays/{eves_day}", day.slug)),
        (&ana, format!("/teams/{}/gamedays/not-an-id", day.slug)),
        (&ana, "/teams/no-such-team".to_owned()),
        (&ana, "/no/such/path".to_owned()),
    ] {
        let response = api(&day, token, &path).await;
        let body = problem(response, StatusCode::NOT_FOUND, "not_found").await;
        assert!(!body.to_string().contains("Payments") || token == &eve, "{path}: {body}");
    }

    // Ana joins Eve's team: her Platform token still reaches Platform only, and says nothing
    // of Payments even when its two-factor rule would shut Ana out there (404, never 403).
    let invite = day.app.invite(&day.eve, &eves, "member").await;
    assert_eq!(day.app.post_as(&day.ana, &format!("{invite}/accept"), &[]).await.status(), StatusCode::SEE_OTHER);
    problem(api(&day, &ana, &format!("/teams/{eves}")).await, StatusCode::NOT_FOUND, "not_found").await;
    sqlx::query("update teams set require_two_factor = true where slug = $1")
        .bind(&eves)
        .execute(&day.app.db)
        .await
        .unwrap();
    let body = problem(api(&day, &ana, &format!("/teams/{eves}")).await, StatusCode::NOT_FOUND, "not_found").await;
    assert!(!body.to_string().contains("Payments"), "{body}");

    // A member removed from the team: their token stops working, and stays revoked if they are
    // invited back.
    let li = make_token(&day, &day.li, "Li's script", &day.slug, &[]).await;
    assert_eq!(api(&day, &li, &format!("/teams/{}", day.slug)).await.status(), StatusCode::OK);
    let li_id = day.id_of("li@example.com").await;
    let response = day.app.post_as(&day.ana, &format!("/teams/{}/members/{li_id}/remove", day.slug), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    problem(api(&day, &li, &format!("/teams/{}", day.slug)).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    problem(api(&day, &li, "/me").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let invite = day.app.invite(&day.ana, &day.slug, "member").await;
    assert_eq!(day.app.post_as(&day.li, &format!("{invite}/accept"), &[]).await.status(), StatusCode::SEE_OTHER);
    problem(api(&day, &li, "/me").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let page = day.app.get_as(&day.li, "/account/tokens").await.text().await.unwrap();
    assert!(page.contains("Revoked"), "the list says so");
}

#[sqlx::test]
async fn a_deleted_account_leaves_no_working_token(db: PgPool) {
    let day = Day::new(db).await;
    let bo = make_token(&day, &day.bo, "Bo's cron", &day.slug, &["observe"]).await;
    assert_eq!(api(&day, &bo, "/me").await.status(), StatusCode::OK);
    let response = day.app.post_as(&day.bo, "/account/delete", &[("password", "correct horse battery")]).await;
    assert!(response.status().is_redirection(), "deleted: {}", response.status());
    problem(api(&day, &bo, "/me").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let revoked: i64 = sqlx::query_scalar("select count(*) from api_tokens where revoked_at is not null")
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(revoked, 1);
}

#[sqlx::test]
async fn a_lead_revokes_a_token_of_an_archived_team(db: PgPool) {
    let day = Day::new(db).await;
    let li = make_token(&day, &day.li, "Li's pipeline", &day.slug, &[]).await;
    let id = json(api(&day, &li, "/me").await).await["token"]["id"].as_str().unwrap().to_owned();
    sqlx::query("update teams set archived_at = now() where slug = $1")
        .bind(&day.slug)
        .execute(&day.app.db)
        .await
        .unwrap();
    assert_eq!(api(&day, &li, &format!("/teams/{}", day.slug)).await.status(), StatusCode::OK, "it still reads");
    let path = format!("/teams/{}/tokens/{id}/revoke", day.slug);
    assert_eq!(day.app.post_as(&day.ana, &path, &[]).await.status(), StatusCode::SEE_OTHER);
    problem(api(&day, &li, "/me").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[sqlx::test]
async fn lists_come_in_pages_with_a_link_to_the_next(db: PgPool) {
    let day = Day::new(db).await;
    for _ in 0..2 {
        let response = day.app.post_as(&day.ana, &format!("/teams/{}/gamedays", day.slug), &GAMEDAY_FORM).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let token = make_token(&day, &day.ana, "Lister", &day.slug, &[]).await;
    let path = format!("/teams/{}/gamedays", day.slug);
    let mut seen = Vec::new();
    let mut next = Some(format!("/api/v1{path}?limit=2"));
    while let Some(url) = next.take() {
        let response = day.app.client.get(day.app.url(&url)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        next = response.headers().get(header::LINK).map(|v| {
            let v = v.to_str().unwrap();
            assert!(v.ends_with("; rel=\"next\""), "{v}");
            v[1..v.find('>').unwrap()].to_owned()
        });
        let page = json(response).await;
        seen.extend(page.as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap().to_owned()));
        assert!(seen.len() <= 4, "the pages end");
    }
    assert_eq!(seen.len(), 3, "every game day once: {seen:?}");
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique, seen);

    for bad in ["limit=0", "limit=101", "limit=ten", "before=nope"] {
        let response = api(&day, &token, &format!("{path}?{bad}")).await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
        let field = bad.split('=').next().unwrap();
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
}

#[sqlx::test]
async fn the_token_form_says_what_is_wrong_and_keeps_what_was_typed(db: PgPool) {
    let day = Day::new(db).await;
    let eves = day.app.team(&day.eve, "Payments").await;
    let response = day
        .app
        .post_as(
            &day.ana,
            "/account/tokens",
            &[("name", ""), ("team", &day.slug), ("scopes", "root"), ("lifetime", "9999")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains("The name is required."), "beside the name");
    assert!(page.contains("is not a scope"), "beside the scopes");
    assert!(page.contains("Choose how long the token works"), "beside the lifetime");

    // A team one is not in: refused beside the team, the name kept.
    let response = day
        .app
        .post_as(&day.ana, "/account/tokens", &[("name", "Sneaky <script>"), ("team", &eves), ("lifetime", "30")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains("Choose one of your teams."));
    // A team field no slug can be (a NUL among it): refused beside the field, not a 500.
    let response =
        day.app.post_as(&day.ana, "/account/tokens", &[("name", "x"), ("team", "a\0b"), ("lifetime", "30")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("Choose the team this token works in."));
    assert!(page.contains("Sneaky &lt;script&gt;") || page.contains("Sneaky &#60;script&#62;"), "kept, escaped");
    let made: i64 = sqlx::query_scalar("select count(*) from api_tokens").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(made, 0);

    // Someone in no team is told how to get one.
    let page = day.app.get_as(&day.app.user("solo@example.com", "Solo").await, "/account/tokens").await;
    assert!(page.text().await.unwrap().contains("you are in none yet"));
}

#[sqlx::test]
async fn a_lead_sees_and_revokes_the_teams_tokens_and_the_log_names_each(db: PgPool) {
    let day = Day::new(db).await;
    let li = make_token(&day, &day.li, "Li's pipeline", &day.slug, &["observe"]).await;
    let path = format!("/teams/{}/tokens", day.slug);
    assert_eq!(day.app.get_as(&day.li, &path).await.status(), StatusCode::FORBIDDEN, "a member");
    assert_eq!(day.app.get_as(&day.eve, &path).await.status(), StatusCode::NOT_FOUND, "a stranger");

    let page = day.app.get_as(&day.ana, &path).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("Li's pipeline") || page.contains("Li&#39;s pipeline"), "the lead sees it");
    assert!(page.contains("read, observe"));
    assert!(token_in(&page).is_none(), "never the secret");

    let id = json(api(&day, &li, "/me").await).await["token"]["id"].as_str().unwrap().to_owned();
    // A member cannot revoke through the team's page.
    assert_eq!(day.app.post_as(&day.bo, &format!("{path}/{id}/revoke"), &[]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(api(&day, &li, "/me").await.status(), StatusCode::OK);
    let response = day.app.post_as(&day.ana, &format!("{path}/{id}/revoke"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(api(&day, &li, "/me").await.status(), StatusCode::UNAUTHORIZED);
    // Revoking twice is a 404 (nothing left to revoke).
    assert_eq!(day.app.post_as(&day.ana, &format!("{path}/{id}/revoke"), &[]).await.status(), StatusCode::NOT_FOUND);

    let log = day.app.get_as(&day.ana, &format!("/teams/{}/audit", day.slug)).await.text().await.unwrap();
    assert!(log.contains("Li made the API token"), "made, by whom");
    assert!(log.contains("Ana revoked Li"), "revoked, by whom");
}

#[sqlx::test]
async fn the_openapi_description_lists_every_operation_the_api_serves(db: PgPool) {
    let day = Day::new(db).await;
    // It is public: a client reads it before it has a token.
    let response = day.app.client.get(day.app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers().get(header::CONTENT_TYPE).unwrap(), "application/json");
    let doc = json(response).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["components"]["securitySchemes"]["token"]["scheme"], "bearer");
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/me",
        "/api/v1/teams/{slug}",
        "/api/v1/teams/{slug}/gamedays/{id}",
        "/api/v1/teams/{slug}/gamedays/{id}/scenarios/{sid}/gate",
        "/api/v1/teams/{slug}/gamedays/{id}/scenarios/{sid}/inject",
        "/api/v1/teams/{slug}/gamedays/{id}/observations",
        "/api/v1/teams/{slug}/gamedays/{id}/events",
    ] {
        assert!(paths.contains_key(path), "{path} is described");
    }
    let scenario = day.scenario("Described").await;
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    let token = make_token(&day, &day.ana, "Describer", &day.slug, &[]).await;
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            assert!(operation["operationId"].is_string(), "{method} {path}: an operation id");
            assert!(operation["summary"].is_string() || operation["description"].is_string(), "{method} {path}");
            let responses = operation["responses"].as_object().unwrap();
            let (status, ok) = responses.iter().find(|(status, _)| status.starts_with('2')).expect("a success");
            if status != "204" {
                let media = ok["content"].as_object().and_then(|c| c.values().next()).expect("a body");
                assert!(!media["example"].is_null(), "{method} {path}: an example");
            }
            for refusal in ["401", "404"] {
                assert!(
                    operation["responses"][refusal]["content"]["application/problem+json"].is_object(),
                    "{method} {path}: {refusal} as a problem"
                );
            }
            // Every operation the description lists is served (the route and its description are
            // registered together): without a token, 401.
            let concrete = path
                .replace("{slug}", &day.slug)
                .replace("{id}", &day.id.to_string())
                .replace("{sid}", &sid)
                .replace("{seq}", "1")
                .replace("{user_id}", &day.id_of("li@example.com").await);
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let anonymous = day.app.client.request(method.clone(), day.app.url(&concrete)).send().await.unwrap();
            assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{method} {concrete}");
            // And a read answers with a token (the other reads' ids are the fixture's; the export
            // needs an agreed scenario, tests/it/chaostoolkit.rs).
            if method == reqwest::Method::GET
                && !path.contains("/weaknesses/")
                && !path.contains("/incidents/")
                && !path.ends_with("/retrospective")
                && !path.ends_with("/experiment")
            {
                let answer = day.app.client.get(day.app.url(&concrete)).bearer_auth(&token).send().await.unwrap();
                assert_eq!(answer.status(), StatusCode::OK, "{concrete}");
            }
        }
    }
    assert!(operations >= 30, "{operations} operations");
}

#[sqlx::test]
async fn the_reference_page_reads_the_description_for_people(db: PgPool) {
    let day = Day::new(db).await;
    // Public, like the description itself; and in the frame of the pages for someone signed in.
    for client in [&day.app.client, &day.ana] {
        let response = client.get(day.app.url("/api/docs")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get(header::CONTENT_TYPE).unwrap().to_str().unwrap().starts_with("text/html"));
        let page = response.text().await.unwrap();
        let doc = json(day.app.get("/api/v1/openapi.json").await).await;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                assert!(page.contains(&format!("{} {path}", method.to_uppercase())), "{method} {path} is on the page");
                let id = operation["operationId"].as_str().unwrap();
                assert!(page.contains(&format!("id=\"{id}\"")), "{id} has an anchor");
            }
        }
        for schema in doc["components"]["schemas"].as_object().unwrap().keys() {
            assert!(page.contains(&format!("id=\"schema-{schema}\"")), "{schema} is described");
        }
        assert!(page.contains("Authorization: Bearer"));
        assert!(
            page.contains("&quot;display_name&quot;") || page.contains("&#34;display_name&#34;"),
            "examples, escaped"
        );
    }
}
