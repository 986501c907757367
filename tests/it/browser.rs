//! Browser journeys in real headless Chromium (through chromedriver), with screenshots in
//! `target/screenshots/` to look at.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use sqlx::PgPool;

use crate::helpers::spawn_app;

/// A chromedriver process on a free port, killed when dropped, and the directory its browsers'
/// profiles live in, removed when dropped.
struct Driver {
    child: Child,
    url: String,
    profiles: PathBuf,
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: run `make test`, which installs chromium and chromium-driver");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                let profiles = std::env::temp_dir().join(format!("gameday-chromium-{}", uuid::Uuid::new_v4()));
                return Driver { child, url, profiles };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromedriver did not start listening on port {port}");
    }

    /// A new browser with its own empty profile (so its own cookies): one person.
    async fn browser(&self, width: u32, height: u32) -> Client {
        self.browser_with(width, height, serde_json::json!({})).await
    }

    /// A browser whose person has allowed notifications for every site.
    async fn browser_allowing_notifications(&self, width: u32, height: u32) -> Client {
        self.browser_with(
            width,
            height,
            serde_json::json!({ "profile.default_content_setting_values.notifications": 1 }),
        )
        .await
    }

    async fn browser_with(&self, width: u32, height: u32, prefs: serde_json::Value) -> Client {
        let profile = self.profiles.join(uuid::Uuid::new_v4().to_string());
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        let binary = if std::path::Path::new("/usr/bin/chromium").exists() { "/usr/bin/chromium" } else { "chromium" };
        caps.insert("goog:chromeOptions".into(), serde_json::json!({ "args": args, "binary": binary, "prefs": prefs }));
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session through chromedriver")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profiles);
    }
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// Types into the input whose label reads `label`, as a person would find it.
async fn fill(browser: &Client, label: &str, value: &str) {
    let xpath = format!("//label[normalize-space()='{label}']");
    let label_el = browser.find(Locator::XPath(&xpath)).await.unwrap_or_else(|_| panic!("no field labelled {label}"));
    let id = label_el.attr("for").await.unwrap().expect("label points at its field");
    let input = browser.find(Locator::Id(&id)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(value).await.unwrap();
}

/// Waits until the page a click leads to has loaded (the old page is gone).
async fn wait_for_new_page(browser: &Client, old_page: fantoccini::elements::Element) {
    for _ in 0..200 {
        // A reference to the old page's root goes stale once the new page replaced it.
        if old_page.tag_name().await.is_err() {
            let ready = browser.execute("return document.readyState", vec![]).await.unwrap();
            if ready == "complete" {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the page did not change after the click");
}

async fn click_button(browser: &Client, text: &str) {
    let xpath = format!("//button[normalize-space()='{text}']");
    click_found(browser, Locator::XPath(&xpath), text).await;
}

async fn click_link(browser: &Client, text: &str) {
    click_found(browser, Locator::LinkText(text), text).await;
}

/// Finds and clicks, finding again if the live page replaced the element in between.
async fn click_found(browser: &Client, locator: Locator<'_>, what: &str) {
    for _ in 0..3 {
        let element = browser.find(locator).await.unwrap_or_else(|_| panic!("nothing to click called {what}"));
        let old_page = browser.find(Locator::Css("html")).await.unwrap();
        match element.click().await {
            Ok(()) => return wait_for_new_page(browser, old_page).await,
            Err(fantoccini::error::CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::StaleElementReference =>
            {
                continue;
            }
            Err(err) => panic!("clicking {what}: {err}"),
        }
    }
    panic!("{what} kept changing under the pointer");
}

async fn heading(browser: &Client) -> String {
    browser.find(Locator::Css("h1")).await.unwrap().text().await.unwrap()
}

async fn body_text(browser: &Client) -> String {
    browser.find(Locator::Css("body")).await.unwrap().text().await.unwrap()
}

#[sqlx::test]
async fn two_people_sign_up_and_meet_in_a_team_through_an_invite(db: PgPool) {
    let app = spawn_app(db).await;
    let driver = Driver::start().await;

    // Ana signs up from the front page.
    let ana = driver.browser(1280, 900).await;
    ana.goto(&app.url("/")).await.unwrap();
    screenshot(&ana, "01-front-page").await;
    click_link(&ana, "Create an account").await;
    assert_eq!(heading(&ana).await, "Create your account");
    // A bad password first: the message appears beside the field and the rest is kept.
    fill(&ana, "Email", "ana@example.com").await;
    fill(&ana, "Display name", "Ana Lead").await;
    fill(&ana, "Password", "short").await;
    click_button(&ana, "Create account").await;
    assert!(body_text(&ana).await.contains("Password must be at least 8 characters."));
    screenshot(&ana, "02-signup-error").await;
    fill(&ana, "Password", "correct horse battery").await;
    click_button(&ana, "Create account").await;
    assert_eq!(heading(&ana).await, "Hello, Ana Lead");
    assert!(body_text(&ana).await.contains("You are not in a team yet."));
    screenshot(&ana, "03-dashboard-empty").await;

    // She creates a team and an invite link.
    click_link(&ana, "Create a team").await;
    fill(&ana, "Team name", "Platform Team").await;
    click_button(&ana, "Create team").await;
    assert_eq!(heading(&ana).await, "Platform Team");
    click_button(&ana, "Create invite link").await;
    screenshot(&ana, "04-team-with-invite").await;
    let link_label = "//label[starts-with(normalize-space(), 'New invite link')]";
    let id = ana.find(Locator::XPath(link_label)).await.unwrap().attr("for").await.unwrap().unwrap();
    let invite_url = ana.find(Locator::Id(&id)).await.unwrap().prop("value").await.unwrap().unwrap();
    assert!(invite_url.starts_with(&format!("{}/invites/", app.base)), "{invite_url}");

    // Li opens the link in her own browser, signs up through it, and joins.
    let li = driver.browser(1280, 900).await;
    li.goto(&invite_url).await.unwrap();
    assert_eq!(heading(&li).await, "Join Platform Team");
    screenshot(&li, "05-invite-signed-out").await;
    click_link(&li, "Create an account").await;
    fill(&li, "Email", "li@example.com").await;
    fill(&li, "Display name", "Li Member").await;
    fill(&li, "Password", "another good passphrase").await;
    click_button(&li, "Create account").await;
    // Her address is confirmed first: the e-mailed link (read from the outbox) and its button.
    assert_eq!(heading(&li).await, "Check your e-mail");
    assert!(body_text(&li).await.contains("We sent a link to li@example.com."));
    screenshot(&li, "05a-signup-check-email").await;
    let link = app.confirmation_link("li@example.com").await.expect("a confirmation link was e-mailed");
    li.goto(&app.url(&link)).await.unwrap();
    assert_eq!(heading(&li).await, "Confirm your address");
    screenshot(&li, "05b-confirm-address").await;
    click_button(&li, "Confirm and sign in").await;
    assert_eq!(heading(&li).await, "Join Platform Team", "sign-up returns to the invite");
    assert!(body_text(&li).await.contains("Your address is confirmed. Welcome to Gameday, Li Member."));
    click_button(&li, "Join Platform Team").await;
    assert_eq!(heading(&li).await, "Platform Team");
    let page = body_text(&li).await;
    assert!(page.contains("You joined Platform Team as member."));
    assert!(page.contains("Ana Lead") && page.contains("Li Member"));
    screenshot(&li, "06-team-joined").await;

    // Ana sees Li among the members.
    ana.goto(&app.url("/teams/platform-team")).await.unwrap();
    assert!(body_text(&ana).await.contains("Li Member"));

    // The same page on a phone.
    let phone = driver.browser(390, 844).await;
    phone.goto(&app.url("/signin")).await.unwrap();
    fill(&phone, "Email", "ana@example.com").await;
    fill(&phone, "Password", "correct horse battery").await;
    click_button(&phone, "Sign in").await;
    phone.goto(&app.url("/teams/platform-team")).await.unwrap();
    screenshot(&phone, "07-team-phone").await;

    for browser in [ana, li, phone] {
        browser.close().await.unwrap();
    }
}

/// Sets an input's value the way a date picker would (typing into datetime-local fields is
/// locale-dependent in Chromium).
async fn pick(browser: &Client, label: &str, value: &str) {
    let xpath = format!("//label[normalize-space()='{label}']");
    let id = browser.find(Locator::XPath(&xpath)).await.unwrap().attr("for").await.unwrap().unwrap();
    browser
        .execute("document.getElementById(arguments[0]).value = arguments[1];", vec![id.into(), value.into()])
        .await
        .unwrap();
}

async fn choose(browser: &Client, label: &str, option: &str) {
    let xpath = format!("//label[normalize-space()='{label}']");
    let id = browser.find(Locator::XPath(&xpath)).await.unwrap().attr("for").await.unwrap().unwrap();
    browser.find(Locator::Id(&id)).await.unwrap().select_by_label(option).await.unwrap();
}

async fn sign_in(driver: &Driver, app: &crate::helpers::TestApp, email: &str) -> Client {
    let browser = driver.browser(1280, 900).await;
    browser.goto(&app.url("/signin")).await.unwrap();
    fill(&browser, "Email", email).await;
    fill(&browser, "Password", "correct horse battery").await;
    click_button(&browser, "Sign in").await;
    browser
}

/// A participant opens the scenario from the dashboard and approves the revision shown.
async fn approve_from_dashboard(browser: &Client, app: &crate::helpers::TestApp, title: &str, revision: i32) {
    browser.goto(&app.url("/")).await.unwrap();
    click_link(browser, title).await;
    click_button(browser, &format!("Approve revision {revision}")).await;
    assert!(body_text(browser).await.contains(&format!("You approved revision {revision}.")));
}

async fn write_scenario(browser: &Client, title: &str, rollback: &str) {
    click_link(browser, "Add scenario").await;
    fill(browser, "Title", title).await;
    fill(browser, "Steady-state hypothesis", "Checkout p99 stays under 300 ms.").await;
    fill(browser, "Fault", "Stop the primary database container.").await;
    fill(browser, "Target system", "postgres").await;
    fill(browser, "Expected impact", "A few seconds of failed writes.").await;
    fill(browser, "Abort criteria", "Checkout errors above 1% for a minute.").await;
    fill(browser, "Rollback plan", rollback).await;
    click_button(browser, "Add scenario").await;
    assert_eq!(heading(browser).await, title);
}

#[sqlx::test]
async fn a_game_day_from_plan_to_conclusion_with_sign_off_reset_and_a_halt(db: PgPool) {
    let app = spawn_app(db).await;
    // The team: Ana leads it; Li and Bo are members (set up over HTTP; the journey is below).
    let ana_http = app.user("ana@example.com", "Ana Lead").await;
    let slug = app.team(&ana_http, "Platform Team").await;
    for (email, name) in [("li@example.com", "Li Member"), ("bo@example.com", "Bo Member")] {
        let invite = app.invite(&ana_http, &slug, "member").await;
        let client = app.user(email, name).await;
        app.post_as(&client, &format!("{invite}/accept"), &[]).await;
    }
    let driver = Driver::start().await;
    let ana = sign_in(&driver, &app, "ana@example.com").await;
    let li = sign_in(&driver, &app, "li@example.com").await;
    let bo = sign_in(&driver, &app, "bo@example.com").await;

    // Ana plans the game day.
    ana.goto(&app.url(&format!("/teams/{slug}"))).await.unwrap();
    click_link(&ana, "Plan a game day").await;
    fill(&ana, "Title", "Database failover drill").await;
    fill(&ana, "Objective", "Learn whether checkout survives losing the primary database.").await;
    fill(&ana, "Environment", "staging").await;
    pick(&ana, "Starts", "2026-12-01T10:00").await;
    pick(&ana, "Ends", "2026-12-01T12:00").await;
    click_button(&ana, "Create draft").await;
    assert_eq!(heading(&ana).await, "Database failover drill");
    let gameday_url = ana.current_url().await.unwrap().to_string();
    for person in ["Li Member", "Bo Member"] {
        choose(&ana, "Add", person).await;
        click_button(&ana, "Add participant").await;
    }
    write_scenario(&ana, "Stop the primary", "Start the container again.").await;
    ana.goto(&gameday_url).await.unwrap();
    write_scenario(&ana, "Add 200 ms latency", "Remove the netem rule.").await;
    ana.goto(&gameday_url).await.unwrap();
    screenshot(&ana, "10-gameday-planned").await;

    // Everyone signs both scenarios.
    for (browser, name) in [(&ana, "ana"), (&li, "li"), (&bo, "bo")] {
        for title in ["Stop the primary", "Add 200 ms latency"] {
            approve_from_dashboard(browser, &app, title, 1).await;
        }
        let _ = name;
    }
    screenshot(&bo, "11-scenario-approved").await;

    // Ana changes the rollback plan: the sign-offs reset and the page says so.
    ana.goto(&gameday_url).await.unwrap();
    click_link(&ana, "Stop the primary").await;
    click_link(&ana, "Edit").await;
    fill(&ana, "Rollback plan", "Promote the old primary back, then start the container.").await;
    click_button(&ana, "Save new revision").await;
    let page = body_text(&ana).await;
    assert!(page.contains("Saved as revision 2. The 3 earlier sign-off(s) no longer count"), "{page}");
    assert!(page.contains("Revision 2 changed the rollback plan; 0 of 3 have approved it."), "{page}");
    screenshot(&ana, "12-signoffs-reset").await;
    li.goto(&app.url("/")).await.unwrap();
    assert!(body_text(&li).await.contains("revision 2"), "Li is told to sign again");
    for browser in [&ana, &li, &bo] {
        approve_from_dashboard(browser, &app, "Stop the primary", 2).await;
    }

    // The day: schedule, start, announce and inject both.
    ana.goto(&gameday_url).await.unwrap();
    click_button(&ana, "Schedule").await;
    click_button(&ana, "Start game day").await;
    assert!(body_text(&ana).await.contains("Game day started."));
    for title in ["Stop the primary", "Add 200 ms latency"] {
        ana.goto(&gameday_url).await.unwrap();
        click_link(&ana, title).await;
        click_button(&ana, "Announce fault").await;
        click_button(&ana, "Inject fault").await;
        assert!(body_text(&ana).await.contains("Injected."));
    }
    li.goto(&gameday_url).await.unwrap();
    screenshot(&li, "13-faults-injected").await;

    // Li halts the first fault.
    click_link(&li, "Stop the primary").await;
    fill(&li, "Why halt?", "checkout errors at 5%").await;
    click_button(&li, "Halt fault").await;
    assert!(body_text(&li).await.contains("Halted."));

    // Ana rolls back the second and concludes both.
    ana.goto(&gameday_url).await.unwrap();
    click_link(&ana, "Add 200 ms latency").await;
    click_button(&ana, "Roll back").await;
    click_button(&ana, "Conclude").await;
    assert!(body_text(&ana).await.contains("Concluded: the hypothesis held."));
    ana.goto(&gameday_url).await.unwrap();
    click_link(&ana, "Stop the primary").await;
    ana.find(Locator::XPath("//input[@name='outcome' and @value='refuted']")).await.unwrap().click().await.unwrap();
    fill(&ana, "Note", "Failover took 40 s; the alert never fired.").await;
    click_button(&ana, "Conclude").await;
    assert!(body_text(&ana).await.contains("Concluded: the hypothesis was refuted."));

    bo.goto(&gameday_url).await.unwrap();
    let page = body_text(&bo).await;
    assert!(page.contains("Halted by Li Member because checkout errors at 5%"), "{page}");
    assert!(page.contains("Concluded"));
    screenshot(&bo, "14-gameday-top").await;
    bo.set_window_size(1280, 3000).await.unwrap();
    screenshot(&bo, "15-gameday-full").await;

    for browser in [ana, li, bo] {
        browser.close().await.unwrap();
    }
}

/// Waits until the page shows `text`, without reloading it.
async fn wait_for_text(browser: &Client, text: &str, wait: Duration) -> bool {
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        if body_text(browser).await.contains(text) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[sqlx::test]
async fn a_second_person_sees_the_announcement_and_the_observation_arrive_live(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    day.start().await;
    let app = &day.app;
    let driver = Driver::start().await;
    let ana = sign_in(&driver, app, "ana@example.com").await;
    let li = sign_in(&driver, app, "li@example.com").await;

    // Li watches the timeline; the page says it is live.
    li.goto(&app.url(&format!("{}/timeline", day.url))).await.unwrap();
    assert!(wait_for_text(&li, "Live", Duration::from_secs(5)).await, "the live indicator turns on");
    let marker = li.find(Locator::Css("#timeline-events")).await.unwrap();
    li.execute("arguments[0].dataset.untouched = 'yes';", vec![serde_json::to_value(&marker).unwrap()]).await.unwrap();

    // Ana announces the fault and logs an observation in her own browser.
    ana.goto(&app.url(&scenario)).await.unwrap();
    click_button(&ana, "Announce fault").await;
    ana.goto(&app.url(&format!("{}/timeline", day.url))).await.unwrap();
    fill(&ana, "What do you see?", "Checkout **p99** climbs to 900 ms").await;
    ana.find(Locator::Id("body")).await.unwrap().send_keys("\u{E007}").await.unwrap(); // Enter sends
    assert!(wait_for_text(&ana, "Logged as #", Duration::from_secs(5)).await);
    screenshot(&ana, "20-live-ana").await;

    // Li's page shows the banner and the observation without a reload.
    assert!(wait_for_text(&li, "Announced:", Duration::from_secs(5)).await, "the banner appears");
    assert!(
        wait_for_text(&li, "Checkout p99 climbs to 900 ms", Duration::from_secs(5)).await,
        "the observation appears"
    );
    let untouched =
        li.execute("return document.getElementById('timeline-events').dataset.untouched;", vec![]).await.unwrap();
    assert_eq!(untouched, "yes", "the page was not reloaded");
    let bold = li.find(Locator::XPath("//ol[@id='timeline-events']//strong[normalize-space()='p99']")).await;
    assert!(bold.is_ok(), "the Markdown is rendered in the live entry too");
    screenshot(&li, "21-live-li").await;

    for browser in [ana, li] {
        browser.close().await.unwrap();
    }
}

#[sqlx::test]
async fn an_observation_pushed_live_shows_its_time_in_my_zone(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    day.start().await;
    let app = &day.app;
    let zone = [("display_name", "Li"), ("time_zone", "Asia/Tokyo")];
    assert_eq!(app.post_as(&day.li, "/account", &zone).await.status(), reqwest::StatusCode::SEE_OTHER);
    let driver = Driver::start().await;
    let li = sign_in(&driver, app, "li@example.com").await;
    li.goto(&app.url(&format!("{}/timeline", day.url))).await.unwrap();
    assert!(wait_for_text(&li, "Live", Duration::from_secs(5)).await, "the live indicator turns on");

    // Ana logs an observation; it reaches Li's open page through the stream, rendered once for all.
    let response = app.post_as(&day.ana, &format!("{}/observations", day.url), &[("body", "Queue depth 40k")]).await;
    assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);
    assert!(wait_for_text(&li, "Queue depth 40k", Duration::from_secs(5)).await, "the observation arrives live");

    let (seq, at): (i64, time::OffsetDateTime) =
        sqlx::query_as("select seq, at from timeline_events where gameday_id = $1 and kind = 'observation'")
            .bind(day.id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let shown = li.find(Locator::Css(&format!("#event-{seq} time.event-time"))).await.unwrap().text().await.unwrap();
    assert_eq!(shown, gameday::tz::format_clock(&at, "Asia/Tokyo"), "Li reads it in Tokyo time");
    assert_ne!(shown, gameday::tz::format_clock(&at, "UTC"), "not in UTC");
    li.close().await.unwrap();
}

#[sqlx::test]
async fn from_a_completed_game_day_to_a_published_retrospective_found_again_by_search(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    day.start().await;
    for what in ["announce", "inject", "rollback"] {
        day.run(&day.ana, &scenario, what, &[]).await;
    }
    day.run(&day.ana, &scenario, "conclude", &[("outcome", "refuted"), ("note", "")]).await;
    day.step(&day.ana, "complete").await;
    let app = &day.app;
    let driver = Driver::start().await;
    let ana = sign_in(&driver, app, "ana@example.com").await;

    ana.goto(&app.url(&day.url)).await.unwrap();
    click_link(&ana, "Retrospective").await;
    assert_eq!(heading(&ana).await, "Retrospective");
    fill(&ana, "Summary", "Failover worked, but nobody was paged for 40 seconds.").await;
    fill(&ana, "What went well", "Everyone knew the rollback plan.").await;
    fill(&ana, "Observed impact of “Stop the primary”", "Writes failed for 40 s.").await;
    click_button(&ana, "Save").await;
    assert!(body_text(&ana).await.contains("Retrospective saved."));
    fill(&ana, "Learning", "Replica lag needs an alert route to the on-call").await;
    fill(&ana, "Tags", "alerting, failover").await;
    click_button(&ana, "Add learning").await;
    fill(&ana, "Action", "Route the replica lag alert").await;
    choose(&ana, "Owner", "Li").await;
    click_button(&ana, "Add action").await;
    click_button(&ana, "Send to review").await;
    click_button(&ana, "Publish").await;
    assert!(body_text(&ana).await.contains("Published."));
    ana.set_window_size(1280, 2600).await.unwrap();
    screenshot(&ana, "30-retrospective-published").await;

    // Li finds it again through the team's learnings search, and the action on her dashboard.
    let li = sign_in(&driver, app, "li@example.com").await;
    assert!(body_text(&li).await.contains("Route the replica lag alert"), "Li's dashboard lists her action");
    li.goto(&app.url(&format!("/teams/{}", day.slug))).await.unwrap();
    click_link(&li, "Learnings").await;
    fill(&li, "Search", "alert route").await;
    click_button(&li, "Search").await;
    assert!(body_text(&li).await.contains("Replica lag needs an alert route to the on-call"));
    screenshot(&li, "31-learnings-search").await;
    click_link(&li, "Database failover drill").await;
    click_button(&li, "Mark as read").await;
    assert!(body_text(&li).await.contains("Read by 1"));

    for browser in [ana, li] {
        browser.close().await.unwrap();
    }
}

/// Waits until the element with `id` reads `text` (trimmed; badges are upper-cased by the
/// stylesheet), without reloading the page.
async fn wait_for_element_text(browser: &Client, id: &str, text: &str, wait: Duration) -> bool {
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        if let Ok(element) = browser.find(Locator::Id(id)).await
            && element.text().await.is_ok_and(|t| t.trim().eq_ignore_ascii_case(text))
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[sqlx::test]
async fn the_live_indicator_says_live_only_while_the_game_day_runs(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    let driver = Driver::start().await;
    let ana = sign_in(&driver, &day.app, "ana@example.com").await;
    let state = || async {
        let status = ana.find(Locator::Id("live-status")).await.unwrap();
        (status.text().await.unwrap(), status.attr("data-state").await.unwrap())
    };

    // A draft's page updates by itself, and says only that: no green "Live" beside "Draft".
    ana.goto(&day.app.url(&day.url)).await.unwrap();
    assert!(
        wait_for_element_text(&ana, "live-status", "Updates live", Duration::from_secs(5)).await,
        "{:?}",
        state().await
    );
    assert_eq!(state().await, ("Updates live".to_owned(), Some("quiet".to_owned())));

    // Running, it is live.
    day.start().await;
    ana.refresh().await.unwrap();
    assert!(wait_for_element_text(&ana, "live-status", "Live", Duration::from_secs(5)).await, "{:?}", state().await);
    assert_eq!(state().await, ("Live".to_owned(), Some("live".to_owned())));

    // Completed, it is no longer "Live".
    for what in ["announce", "inject", "rollback"] {
        assert_eq!(day.run(&day.ana, &scenario, what, &[]).await.status(), reqwest::StatusCode::SEE_OTHER, "{what}");
    }
    let conclude = [("outcome", "held"), ("note", "")];
    assert_eq!(day.run(&day.ana, &scenario, "conclude", &conclude).await.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(day.step(&day.ana, "complete").await.status(), reqwest::StatusCode::SEE_OTHER);
    ana.refresh().await.unwrap();
    assert!(
        wait_for_element_text(&ana, "live-status", "Updates live", Duration::from_secs(5)).await,
        "{:?}",
        state().await
    );
    ana.close().await.unwrap();
}

#[sqlx::test]
async fn an_observer_sees_the_injection_live_and_halts_it_from_the_banner(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    assert_eq!(day.add("vi@example.com", "observer").await.status(), reqwest::StatusCode::SEE_OTHER);
    day.start().await;
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), reqwest::StatusCode::SEE_OTHER);
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    let app = &day.app;
    let driver = Driver::start().await;
    let ana = sign_in(&driver, app, "ana@example.com").await;
    let vi = sign_in(&driver, app, "vi@example.com").await;

    // Vi, an observer, watches the scenario page; Ana, the facilitator, has it open too.
    vi.goto(&app.url(&scenario)).await.unwrap();
    assert!(wait_for_text(&vi, "Live", Duration::from_secs(5)).await, "the live indicator turns on");
    vi.execute("document.body.dataset.untouched = 'yes';", vec![]).await.unwrap();
    assert!(
        vi.find(Locator::XPath("//button[normalize-space()='Halt fault']")).await.is_ok(),
        "announced: Vi may halt"
    );
    ana.goto(&app.url(&scenario)).await.unwrap();
    assert!(wait_for_text(&ana, "Live", Duration::from_secs(5)).await);
    ana.execute("document.body.dataset.untouched = 'yes';", vec![]).await.unwrap();

    // Ana injects from a second tab of hers (her open page stays as it is).
    assert_eq!(day.run(&day.ana, &scenario, "inject", &[]).await.status(), reqwest::StatusCode::SEE_OTHER);

    // Vi's page turns to injected without a reload, still with the Halt button.
    let state = format!("state-{sid}");
    assert!(wait_for_element_text(&vi, &state, "Injected", Duration::from_secs(10)).await, "Vi sees it injected");
    assert!(wait_for_text(&vi, "Injected:", Duration::from_secs(5)).await, "the banner says so");
    assert!(vi.find(Locator::XPath("//button[normalize-space()='Halt fault']")).await.is_ok());
    let untouched = vi.execute("return document.body.dataset.untouched;", vec![]).await.unwrap();
    assert_eq!(untouched, "yes", "Vi's page was not reloaded");
    // Ana's open page offers the next move, Roll back, without a reload.
    assert!(wait_for_text(&ana, "Roll back", Duration::from_secs(10)).await, "Ana's run card moved on");
    screenshot(&vi, "22-observer-sees-injection").await;

    // Vi halts from the banner; Ana's page shows the halt, and the conclusion form, live.
    fill(&vi, "Why halt “Stop the primary”?", "checkout errors at 5%").await;
    click_button(&vi, "Halt").await;
    assert!(wait_for_text(&vi, "Halted. Everyone sees who halted it and why.", Duration::from_secs(5)).await);
    assert!(wait_for_element_text(&ana, &state, "Halted", Duration::from_secs(10)).await, "Ana sees the halt");
    assert!(wait_for_text(&ana, "Conclude", Duration::from_secs(5)).await);
    let untouched = ana.execute("return document.body.dataset.untouched;", vec![]).await.unwrap();
    assert_eq!(untouched, "yes", "Ana's page was not reloaded");
    screenshot(&ana, "23-facilitator-sees-halt").await;

    for browser in [ana, vi] {
        browser.close().await.unwrap();
    }
}

#[sqlx::test]
async fn faults_and_sign_off_requests_reach_me_on_the_dashboard_and_as_notifications(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let first = day.scenario("Stop the primary").await;
    let app = &day.app;
    let driver = Driver::start().await;
    let bo = driver.browser_allowing_notifications(1280, 900).await;
    bo.goto(&app.url("/signin")).await.unwrap();
    fill(&bo, "Email", "bo@example.com").await;
    fill(&bo, "Password", "correct horse battery").await;
    click_button(&bo, "Sign in").await;
    assert!(body_text(&bo).await.contains("1 scenario waits for your sign-off."));

    // Bo asks for notifications with a click; the page is then hidden (another tab in front).
    let toggle = bo.find(Locator::Id("notify-toggle")).await.expect("the notifications button");
    toggle.click().await.unwrap();
    assert!(wait_for_element_text(&bo, "notify-toggle", "Notifications on", Duration::from_secs(5)).await);
    bo.execute(
        r#"window.shown = [];
           const Real = window.Notification;
           window.Notification = class extends Real {
             constructor(title, options) { super(title, options); window.shown.push(title); }
           };
           Object.defineProperty(document, "visibilityState", { get: () => "hidden", configurable: true });
           document.body.dataset.untouched = "yes";"#,
        vec![],
    )
    .await
    .unwrap();
    let shown = |bo: Client| async move {
        let titles = bo.execute("return window.shown;", vec![]).await.unwrap();
        titles.as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };

    // A new scenario for Bo to sign: the dashboard's list grows and a notification is shown.
    day.scenario("Fill the disk").await;
    assert!(wait_for_text(&bo, "2 scenarios wait for your sign-off.", Duration::from_secs(10)).await);
    assert!(wait_for_text(&bo, "Fill the disk", Duration::from_secs(5)).await);
    for _ in 0..50 {
        if shown(bo.clone()).await.iter().any(|t| t == "Waiting for your sign-off: Fill the disk") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shown(bo.clone()).await.contains(&"Waiting for your sign-off: Fill the disk".to_owned()));

    // The announcement reaches Bo's dashboard as a banner with a link, and as a notification.
    day.all_approve(&first).await;
    day.start().await;
    assert_eq!(day.run(&day.ana, &first, "announce", &[]).await.status(), reqwest::StatusCode::SEE_OTHER);
    let mut arrived = false;
    for _ in 0..100 {
        if bo.find(Locator::Css("#elsewhere-banners .fault-announced")).await.is_ok() {
            arrived = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(arrived, "the banner arrives on the dashboard");
    let banner = bo.find(Locator::Css("#elsewhere-banners a")).await.unwrap();
    assert_eq!(banner.attr("href").await.unwrap().as_deref(), Some(first.as_str()));
    for _ in 0..50 {
        if shown(bo.clone()).await.iter().any(|t| t == "Announced: Stop the primary") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        shown(bo.clone()).await.contains(&"Announced: Stop the primary".to_owned()),
        "{:?}",
        shown(bo.clone()).await
    );
    let untouched = bo.execute("return document.body.dataset.untouched;", vec![]).await.unwrap();
    assert_eq!(untouched, "yes", "Bo's dashboard was not reloaded");
    screenshot(&bo, "24-dashboard-banner-and-requests").await;
    bo.close().await.unwrap();
}

/// Every text of the overview chart as the browser draws it: (text, left, top, right, bottom)
/// relative to the chart's own box, in CSS pixels; and the chart's width and height.
async fn chart_texts(browser: &Client) -> (Vec<(String, f64, f64, f64, f64)>, f64, f64) {
    let script = r#"
        const svg = document.querySelector('.picture svg');
        const frame = svg.getBoundingClientRect();
        const texts = [...svg.querySelectorAll('text')].map(t => {
            const b = t.getBoundingClientRect();
            return [t.getAttribute('class') + ':' + t.textContent, b.left - frame.left, b.top - frame.top,
                    b.right - frame.left, b.bottom - frame.top];
        });
        return [texts, frame.width, frame.height];
    "#;
    let value = browser.execute(script, vec![]).await.unwrap();
    let number = |v: &serde_json::Value| v.as_f64().unwrap();
    let texts = value[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t[0].as_str().unwrap().to_owned(), number(&t[1]), number(&t[2]), number(&t[3]), number(&t[4])))
        .collect();
    (texts, number(&value[1]), number(&value[2]))
}

/// The chart's labels are all inside it (none clipped) and none overlaps another; the x axis has
/// at least `dates` date labels.
async fn assert_chart_reads(browser: &Client, dates: usize) {
    let (texts, width, height) = chart_texts(browser).await;
    for (text, left, top, right, bottom) in &texts {
        assert!(*left >= 0.0 && *top >= 0.0 && *right <= width && *bottom <= height, "{text} is clipped");
    }
    for (i, a) in texts.iter().enumerate() {
        for b in &texts[i + 1..] {
            let apart = a.3 <= b.1 || b.3 <= a.1 || a.4 <= b.2 || b.4 <= a.2;
            assert!(apart, "{} overlaps {}", a.0, b.0);
        }
    }
    let y_labels: Vec<&str> =
        texts.iter().filter_map(|t| t.0.strip_prefix("tick-label:")).filter(|l| l.parse::<u64>().is_ok()).collect();
    assert!(y_labels.len() >= 3, "y ticks: {y_labels:?}");
    let x_labels = texts.len() - y_labels.len() - texts.iter().filter(|t| t.0.starts_with("axis-title:")).count();
    assert!(x_labels >= dates, "{x_labels} date labels: {texts:?}");
    assert_eq!(texts.iter().filter(|t| t.0.starts_with("axis-title:")).count(), 2, "both axes are titled");
}

#[sqlx::test]
async fn the_overview_chart_reads_with_one_scenario_and_with_two_hundred(db: PgPool) {
    let (day, _) = crate::retros::completed(db).await;
    let driver = Driver::start().await;
    let vi = sign_in(&driver, &day.app, "vi@example.com").await;
    let overview = day.app.url(&format!("/teams/{}/overview", day.slug));
    vi.goto(&overview).await.unwrap();
    screenshot(&vi, "40-overview-chart-one-scenario").await;
    assert_chart_reads(&vi, 1).await;

    // 199 more scenarios, injected every day and a half over most of a year, each detected and
    // rolled back between a minute and three quarters of an hour later.
    let ana = uuid::Uuid::parse_str(&day.id_of("ana@example.com").await).unwrap();
    for sql in [
        "insert into scenarios (id, gameday_id, position, state, outcome)
         select md5('chart' || n)::uuid, $1, 100 + n, 'concluded', 'held' from generate_series(1, 199) n",
        "insert into scenario_revisions (scenario_id, revision, title, hypothesis, fault, target_system, blast_radius,
                                         expected_impact, abort_criteria, rollback_plan, fingerprint, author)
         select md5('chart' || n)::uuid, 1, 'Scenario ' || n, 'h', 'f', 't', 'tiny', 'e', 'a', 'r', 'fp', $2
         from generate_series(1, 199) n",
        "insert into timeline_events (gameday_id, seq, at, actor, kind, scenario_id, data)
         select $1, 1000 + n * 3 + k,
                injected + make_interval(secs => case k when 0 then 0 when 1 then detect else detect + repair end),
                $2, (array['scenario_injected', 'observation', 'scenario_rolled_back'])[k + 1],
                md5('chart' || n)::uuid, case k when 1 then '{\"marker\": \"detection\"}'::jsonb else '{}' end
         from (select n, now() - make_interval(hours => (200 - n) * 36) as injected,
                      60 + n * 37 % 600 as detect, 30 + n * 53 % 2000 as repair
               from generate_series(1, 199) n) s, generate_series(0, 2) k",
    ] {
        sqlx::query(sql).bind(day.id).bind(ana).execute(&day.app.db).await.unwrap();
    }
    vi.goto(&overview).await.unwrap();
    screenshot(&vi, "41-overview-chart-two-hundred-scenarios").await;
    assert_chart_reads(&vi, 4).await;
    vi.close().await.unwrap();
}

#[sqlx::test]
async fn the_control_room_keeps_the_run_in_reach_and_sign_offs_arrive_live(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let first = day.scenario("Stop the primary").await;
    let second = day.scenario("Fill the disk").await;
    day.all_approve(&first).await;
    let app = &day.app;
    let driver = Driver::start().await;

    // Bo reads the second scenario on a phone before anyone signed it.
    let bo = driver.browser(390, 844).await;
    bo.goto(&app.url("/signin")).await.unwrap();
    fill(&bo, "Email", "bo@example.com").await;
    fill(&bo, "Password", "correct horse battery").await;
    click_button(&bo, "Sign in").await;
    bo.goto(&app.url(&second)).await.unwrap();
    assert!(wait_for_text(&bo, "Li has not signed yet", Duration::from_secs(5)).await);
    bo.execute("document.body.dataset.untouched = 'yes';", vec![]).await.unwrap();
    assert_eq!(day.sign(&day.li, &second, "approve", "").await.status(), reqwest::StatusCode::SEE_OTHER);
    assert!(wait_for_text(&bo, "Li approved", Duration::from_secs(10)).await, "Li's sign-off arrives live");

    // Ana changes the scenario: Bo's page says what it shows is no longer what would be signed.
    let owner = day.id_of("ana@example.com").await;
    let edited = app
        .post_as(&day.ana, &format!("{second}/edit"), &crate::gamedays::scenario_form("Fill the disk to 95%", &owner))
        .await;
    assert_eq!(edited.status(), reqwest::StatusCode::SEE_OTHER);
    assert!(wait_for_text(&bo, "Revision 2 was saved after you opened this page", Duration::from_secs(10)).await);
    let approve = bo.find(Locator::XPath("//button[normalize-space()='Approve revision 1']")).await.unwrap();
    assert_eq!(approve.attr("disabled").await.unwrap().as_deref(), Some("true"), "no signing what is out of date");
    let untouched = bo.execute("return document.body.dataset.untouched;", vec![]).await.unwrap();
    assert_eq!(untouched, "yes", "Bo's page was not reloaded");
    screenshot(&bo, "25-phone-revision-changed-while-reading").await;

    // Ana runs the day from the control room on a laptop.
    day.all_approve(&second).await;
    day.start().await;
    for i in 1..=25 {
        let body = format!("checkout p99 reading {i}");
        app.post_as(&day.li, &format!("{}/observations", day.url), &[("body", body.as_str())]).await;
    }
    let ana = sign_in(&driver, app, "ana@example.com").await;
    ana.set_window_size(1366, 800).await.unwrap();
    ana.goto(&app.url(&format!("{}/timeline", day.url))).await.unwrap();
    assert!(wait_for_text(&ana, "Live", Duration::from_secs(5)).await);
    let panel = ana.find(Locator::Id("control-panel")).await.unwrap();
    assert!(panel.text().await.unwrap().contains("Stop the primary"), "the next scenario, with its buttons");
    click_button(&ana, "Announce fault").await;
    let url = ana.current_url().await.unwrap();
    assert!(url.path().ends_with("/timeline"), "a move made in the control room returns there: {url}");
    assert!(wait_for_text(&ana, "Inject fault", Duration::from_secs(5)).await);

    // Scrolled to the control room, the newest event is in view, and so are the run card's
    // buttons and the observation form, together.
    ana.execute("document.querySelector('.control-room').scrollIntoView();", vec![]).await.unwrap();
    let in_view = r#"
        const visible = (el) => { const r = el.getBoundingClientRect();
          return r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth; };
        const events = document.querySelectorAll('#timeline-events > li');
        const newest = events[events.length - 1];
        const pane = document.getElementById('timeline-events').getBoundingClientRect();
        const n = newest.getBoundingClientRect();
        return [n.bottom <= pane.bottom + 1 && n.top >= pane.top - 1 && visible(document.getElementById('timeline-events')),
                visible(document.querySelector('#control-panel button')),
                visible(document.getElementById('body'))];"#;
    let seen = ana.execute(in_view, vec![]).await.unwrap();
    screenshot(&ana, "26-control-room-laptop").await;
    assert_eq!(seen, serde_json::json!([true, true, true]), "newest event, Inject button, observation box");
    let count = |ana: Client| async move {
        let text = ana.find(Locator::Id("event-total")).await.unwrap().text().await.unwrap();
        text.parse::<usize>().unwrap()
    };
    let before = count(ana.clone()).await;
    app.post_as(&day.li, &format!("{}/observations", day.url), &[("body", "error rate climbing")]).await;
    assert!(wait_for_text(&ana, "error rate climbing", Duration::from_secs(10)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = ana.execute(in_view, vec![]).await.unwrap();
    assert_eq!(seen[0], serde_json::json!(true), "follow mode keeps the newest event in view");
    assert_eq!(count(ana.clone()).await, before + 1, "the count moves with the stream");
    screenshot(&ana, "26-control-room-laptop").await;

    // On a phone: one column, the newest event first, right under the form.
    ana.set_window_size(390, 844).await.unwrap();
    ana.refresh().await.unwrap();
    assert!(wait_for_text(&ana, "Live", Duration::from_secs(5)).await);
    let first_shown = ana
        .execute(
            r#"const items = [...document.querySelectorAll('#timeline-events > li')];
               items.sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top);
               return items[0].textContent;"#,
            vec![],
        )
        .await
        .unwrap();
    assert!(first_shown.as_str().unwrap().contains("error rate climbing"), "newest first on a phone");
    let too_wide = ana
        .execute(
            r#"return [...document.querySelectorAll('body *')]
                 .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                 .map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 8);"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(too_wide, serde_json::json!([]), "nothing wider than the phone");
    ana.execute("window.scrollTo(0, 0);", vec![]).await.unwrap();
    screenshot(&ana, "27-control-room-phone").await;
    for browser in [ana, bo] {
        browser.close().await.unwrap();
    }
}

/// A Chrome DevTools Protocol command sent through chromedriver's `goog/cdp/execute` endpoint.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/goog/cdp/execute", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = serde_json::json!({ "cmd": self.cmd, "params": self.params });
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

/// Makes every page of this browser see `prefers-color-scheme: <scheme>` (light or dark), and
/// checks that the page it shows now does.
async fn prefer_color_scheme(browser: &Client, scheme: &str) {
    let features = serde_json::json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] });
    browser.issue_cmd(Cdp { cmd: "Emulation.setEmulatedMedia", params: features }).await.unwrap();
    let query = format!("return matchMedia('(prefers-color-scheme: {scheme})').matches;");
    assert_eq!(browser.execute(&query, vec![]).await.unwrap(), true, "the page sees the {scheme} scheme");
}

/// axe-core's browser bundle, installed from npm by `scripts/test-deps.sh` (`make test` runs it).
fn axe_source() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `make test` (or `npm ci`), which installs axe-core", path.display()))
}

/// Runs axe-core over the page the browser shows and returns its serious and critical
/// violations, one line per element: rule, element, and what is wrong.
async fn serious_accessibility_violations(browser: &Client, axe: &str) -> Vec<String> {
    browser.execute(axe, vec![]).await.expect("axe-core loads into the page");
    let run = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, { resultTypes: ['violations'] })
          .then(results => done(results.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .flatMap(v => v.nodes.map(n =>
              `${v.id} (${v.impact}) at ${n.target.join(' ')}: ${(n.failureSummary || v.help).replace(/\s+/g, ' ')}`))))
          .catch(e => done([`axe-core failed: ${e}`]));
    "#;
    let found = browser.execute_async(run, vec![]).await.expect("axe-core runs");
    found.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

/// Every page a person uses has content: a completed game day with a published retrospective,
/// a learning and an overdue action; a running one with an announced, an injected and a halted
/// scenario and detection markers on its timeline; a weakness, an incident and a webhook.
/// Returns the running game day's URL and its scenarios' URLs.
async fn a_team_with_a_bit_of_everything(day: &crate::gamedays::Day) -> (String, Vec<String>) {
    use reqwest::StatusCode;
    let app = &day.app;
    let ok = |response: reqwest::Response| assert_eq!(response.status(), StatusCode::SEE_OTHER, "{}", response.url());
    let detection = |url: &str, sid: &str, body: &str| {
        let form = [("body", body.to_owned()), ("scenario", sid.to_owned()), ("marker", "detection".to_owned())];
        app.client.post(app.url(&format!("{url}/observations"))).form(&form).build().unwrap()
    };
    let sid = |url: &str| url.rsplit('/').next().unwrap().to_owned();

    // The completed game day, its retrospective published.
    let first = day.scenario("Stop the primary").await;
    day.all_approve(&first).await;
    day.start().await;
    for what in ["announce", "inject"] {
        ok(day.run(&day.ana, &first, what, &[]).await);
    }
    ok(day.ana.execute(detection(&day.url, &sid(&first), "Checkout p99 climbs to 900 ms")).await.unwrap());
    ok(day.run(&day.ana, &first, "rollback", &[]).await);
    ok(day.run(&day.ana, &first, "conclude", &[("outcome", "refuted"), ("note", "No alert fired.")]).await);
    ok(day.step(&day.ana, "complete").await);
    let retro = format!("{}/retrospective", day.url);
    let observed = format!("observed_{}", sid(&first));
    let text = [
        ("summary", "Failover worked but took 40 s."),
        ("went_well", "Everyone knew the plan."),
        ("surprised_us", "No alert fired."),
        (observed.as_str(), "Writes failed for 40 s."),
    ];
    ok(app.post_as(&day.ana, &retro, &text).await);
    let learning = [("statement", "Replica lag needs an alert route"), ("tags", "alerting, failover")];
    ok(app.post_as(&day.ana, &format!("{}/learnings", day.url), &learning).await);
    let li = day.id_of("li@example.com").await;
    let action = [("title", "Route the replica lag alert"), ("owner", &li), ("due_on", "2026-01-05"), ("link", "")];
    ok(app.post_as(&day.ana, &format!("{}/actions", day.url), &action).await);
    ok(app.post_as(&day.ana, &format!("{retro}/submit"), &[]).await);
    ok(app.post_as(&day.ana, &format!("{retro}/publish"), &[]).await);

    // The team's weaknesses, incidents and a webhook.
    let weakness = [("title", "Replica lag is not alerted"), ("description", "Found in the failover drill.")];
    ok(app.post_as(&day.ana, &format!("/teams/{}/weaknesses", day.slug), &weakness).await);
    let incident = [
        ("title", "Checkout outage of 14 March"),
        ("happened_on", "2026-03-14"),
        ("summary", "The primary ran out of disk."),
        ("link", ""),
    ];
    ok(app.post_as(&day.ana, &format!("/teams/{}/incidents", day.slug), &incident).await);
    let hook = [("url", "http://127.0.0.1:9/hook"), ("kinds", "scenario_injected"), ("kinds", "scenario_halted")];
    ok(app.post_as(&day.ana, &format!("/teams/{}/webhooks", day.slug), &hook).await);

    // The running game day: one scenario announced, one injected, one halted.
    let mut form = crate::gamedays::GAMEDAY_FORM.to_vec();
    form[0] = ("title", "Latency drill");
    let response = app.post_as(&day.ana, &format!("/teams/{}/gamedays", day.slug), &form).await;
    let running = crate::helpers::location(&response);
    for email in ["li@example.com", "bo@example.com"] {
        let id = day.id_of(email).await;
        ok(app
            .post_as(&day.ana, &format!("{running}/participants"), &[("user_id", &id), ("role", "participant")])
            .await);
    }
    let owner = day.id_of("ana@example.com").await;
    let mut scenarios = Vec::new();
    for title in ["Add 200 ms latency", "Drop 5% of packets", "Fill the disk"] {
        let form = crate::gamedays::scenario_form(title, &owner);
        let response = app.post_as(&day.ana, &format!("{running}/scenarios"), &form).await;
        let url = crate::helpers::location(&response);
        day.all_approve(&url).await;
        scenarios.push(url);
    }
    for what in ["schedule", "start"] {
        ok(app.post_as(&day.ana, &format!("{running}/{what}"), &[]).await);
    }
    for (scenario, moves) in scenarios.iter().zip([&["announce"][..], &["announce", "inject"], &["announce", "inject"]])
    {
        for what in moves {
            ok(day.run(&day.ana, scenario, what, &[]).await);
        }
    }
    ok(day.ana.execute(detection(&running, &sid(&scenarios[1]), "Error rate at 3%")).await.unwrap());
    ok(day.ana.execute(detection(&running, &sid(&scenarios[2]), "Disk alarms fire")).await.unwrap());
    ok(day.run(&day.li, &scenarios[2], "halt", &[("reason", "checkout errors at 5%")]).await);
    (running, scenarios)
}

#[sqlx::test]
async fn every_main_page_passes_axe_core_in_light_and_dark(db: PgPool) {
    let day = crate::gamedays::Day::with(db, |c| c.webhook_allow_private = true).await;
    let (running, scenarios) = a_team_with_a_bit_of_everything(&day).await;
    let app = &day.app;
    let team = format!("/teams/{}", day.slug);
    // A draft game day with a scenario imported from a Chaos Toolkit experiment.
    let draft = app.post_as(&day.ana, &format!("{team}/gamedays"), &crate::gamedays::GAMEDAY_FORM).await;
    let draft = crate::helpers::location(&draft);
    let experiment = include_str!("../fixtures/chaostoolkit/experiment-all.json");
    let import_path = format!("{draft}/scenarios/import");
    let imported = crate::chaostoolkit::upload(&day, &day.ana, &import_path, "e.json", experiment).await;
    let imported = crate::helpers::location(&imported);
    // A sign-up waiting for its address to be confirmed: the page its e-mailed link opens.
    let form = [("email", "kai@example.com"), ("display_name", "Kai"), ("password", "correct horse battery")];
    app.post_as(&crate::helpers::new_client(), "/signup", &form).await;
    let confirm = app.confirmation_link("kai@example.com").await.expect("a confirmation link");
    let signed_out = ["/".to_owned(), "/signin".to_owned(), "/signup".to_owned(), confirm];
    let signed_in = [
        "/".to_owned(),
        team.clone(),
        running.clone(),
        format!("{running}/timeline"),
        scenarios[0].clone(),
        scenarios[1].clone(),
        scenarios[2].clone(),
        day.url.clone(),
        format!("{}/retrospective", day.url),
        format!("{team}/learnings"),
        format!("{team}/overview"),
        format!("{team}/actions"),
        format!("{team}/weaknesses"),
        format!("{team}/incidents"),
        format!("{team}/webhooks"),
        format!("{team}/health-checks"),
        format!("{team}/tokens"),
        format!("{team}/settings"),
        format!("{team}/leave"),
        "/account".to_owned(),
        "/account/two-factor".to_owned(),
        "/account/tokens".to_owned(),
        "/api/docs".to_owned(),
        format!("{draft}/scenarios/import"),
        imported,
    ];
    let axe = axe_source();
    let driver = Driver::start().await;
    let visitor = driver.browser(1280, 900).await;
    visitor.goto(&app.url("/signin")).await.unwrap();
    let ana = sign_in(&driver, app, "ana@example.com").await;

    let mut violations = Vec::new();
    for scheme in ["light", "dark"] {
        for (browser, pages) in [(&visitor, &signed_out[..]), (&ana, &signed_in[..])] {
            prefer_color_scheme(browser, scheme).await;
            for page in pages {
                browser.goto(&app.url(page)).await.unwrap();
                for found in serious_accessibility_violations(browser, &axe).await {
                    violations.push(format!("{page} ({scheme}): {found}"));
                }
            }
        }
        ana.set_window_size(1280, 2400).await.unwrap();
        for (name, page) in [
            ("gameday", running.clone()),
            ("timeline", format!("{running}/timeline")),
            ("overview", format!("{team}/overview")),
        ] {
            ana.goto(&app.url(&page)).await.unwrap();
            screenshot(&ana, &format!("50-{name}-{scheme}")).await;
        }
        ana.set_window_size(1280, 900).await.unwrap();
    }
    assert!(violations.is_empty(), "serious or critical accessibility violations:\n{}", violations.join("\n"));
    for browser in [visitor, ana] {
        browser.close().await.unwrap();
    }
}

/// Whether the page fits the window's width (nothing to scroll sideways).
async fn fits_the_width(browser: &Client) -> bool {
    let fits = browser.execute("return document.documentElement.scrollWidth <= window.innerWidth", vec![]).await;
    fits.unwrap() == serde_json::Value::Bool(true)
}

/// Opens "Copy…" on a scenario page and scrolls it into view.
async fn open_copy_box(browser: &Client) {
    let summary = browser.find(Locator::XPath("//summary[normalize-space()='Copy…']")).await.expect("Copy…");
    summary.click().await.unwrap();
    let copy_box = browser.find(Locator::Css(".copy-box")).await.unwrap();
    let copy_box = serde_json::to_value(&copy_box).unwrap();
    browser.execute("arguments[0].scrollIntoView({block: 'center'})", vec![copy_box]).await.unwrap();
}

#[sqlx::test]
async fn a_facilitator_copies_a_scenario_onward_and_plans_the_next_day_from_this_one(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let source = day.scenario("Stop the primary").await;
    let next = [
        ("title", "Next failover drill"),
        ("objective", "Check the fix."),
        ("environment", "staging"),
        ("starts_at", "2027-01-12T10:00"),
    ];
    let next =
        crate::helpers::location(&day.app.post_as(&day.ana, &format!("/teams/{}/gamedays", day.slug), &next).await);
    let driver = Driver::start().await;
    let ana = sign_in(&driver, &day.app, "ana@example.com").await;

    // Into the next game day, from the scenario page.
    ana.goto(&day.app.url(&source)).await.unwrap();
    open_copy_box(&ana).await;
    screenshot(&ana, "50-scenario-copy-open").await;
    let next_id = next.rsplit('/').next().unwrap();
    ana.find(Locator::Id("copy-into")).await.unwrap().select_by_value(next_id).await.unwrap();
    click_button(&ana, "Copy into that game day").await;
    assert_eq!(heading(&ana).await, "Stop the primary");
    assert!(body_text(&ana).await.contains("Copied into “Next failover drill” as a new scenario at revision 1"));
    assert!(ana.current_url().await.unwrap().path().starts_with(&format!("{next}/scenarios/")));

    // A larger variant on the same day: the form comes filled in, to edit before adding.
    ana.goto(&day.app.url(&source)).await.unwrap();
    open_copy_box(&ana).await;
    click_link(&ana, "Larger variant (small)").await;
    assert_eq!(heading(&ana).await, "Write a scenario");
    assert!(body_text(&ana).await.contains("Start tiny"));
    screenshot(&ana, "51-scenario-variant-form").await;
    fill(&ana, "Fault", "Stop the primary database container for five minutes.").await;
    click_button(&ana, "Add scenario").await;
    assert_eq!(heading(&ana).await, "Stop the primary (larger)");

    // The next game day, planned from this one.
    ana.goto(&day.app.url(&day.url)).await.unwrap();
    click_link(&ana, "Copy as the next game day").await;
    assert_eq!(heading(&ana).await, "Plan the next game day");
    assert!(body_text(&ana).await.contains("its 2 scenarios"));
    pick(&ana, "Starts", "2027-02-02T10:00").await;
    screenshot(&ana, "52-gameday-copy-form").await;
    click_button(&ana, "Create the next game day").await;
    assert_eq!(heading(&ana).await, "Database failover drill");
    assert!(body_text(&ana).await.contains("Planned as a draft from “Database failover drill”"));
    screenshot(&ana, "53-gameday-copied").await;

    // The same controls on a phone: nothing runs off the side.
    let phone = driver.browser(390, 844).await;
    phone.goto(&day.app.url("/signin")).await.unwrap();
    fill(&phone, "Email", "ana@example.com").await;
    fill(&phone, "Password", "correct horse battery").await;
    click_button(&phone, "Sign in").await;
    phone.goto(&day.app.url(&source)).await.unwrap();
    open_copy_box(&phone).await;
    screenshot(&phone, "54-scenario-copy-phone").await;
    assert!(fits_the_width(&phone).await, "the scenario page with Copy… open fits a phone");
    for (path, name) in
        [(format!("{}/copy", day.url), "55-gameday-copy-form-phone"), (day.url.clone(), "56-gameday-phone")]
    {
        phone.goto(&day.app.url(&path)).await.unwrap();
        screenshot(&phone, name).await;
        assert!(fits_the_width(&phone).await, "{path} fits a phone");
    }
    for browser in [ana, phone] {
        browser.close().await.unwrap();
    }
}

/// The key shown on the two-factor set-up page, as an authenticator app would read it.
async fn authenticator_from_page(browser: &Client) -> totp_rs::Totp {
    let key = browser.find(Locator::Css("code.secret")).await.unwrap().text().await.unwrap();
    let secret = totp_rs::Secret::try_from_base32(key.replace(' ', "")).expect("a Base32 key");
    totp_rs::Builder::new().with_secret(secret.as_bytes().to_vec()).with_account_name("app").build().unwrap()
}

fn code_at(totp: &totp_rs::Totp, steps_ahead: u64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    totp.generate(now + steps_ahead * 30).to_string()
}

#[sqlx::test]
async fn a_person_turns_on_two_factor_on_a_phone_and_signs_in_with_a_code(db: PgPool) {
    let app = spawn_app(db).await;
    app.signup_as(&app.client, "ana@example.com", "Ana").await;
    let driver = Driver::start().await;
    let phone = sign_in(&driver, &app, "ana@example.com").await;
    phone.set_window_size(390, 844).await.unwrap();

    phone.goto(&app.url("/account")).await.unwrap();
    assert!(body_text(&phone).await.to_lowercase().contains("this browser"), "the session list marks this browser");
    screenshot(&phone, "60-account-phone").await;
    click_link(&phone, "Set up two-factor sign-in").await;
    assert!(phone.find(Locator::Css(".qr svg")).await.is_ok(), "a QR code to scan");
    assert!(fits_the_width(&phone).await, "the set-up page fits a phone");
    screenshot(&phone, "61-two-factor-setup-phone").await;
    let totp = authenticator_from_page(&phone).await;

    fill(&phone, "Enter the 6-digit code the app shows", "111111").await;
    fill(&phone, "Your password", "correct horse battery").await;
    click_button(&phone, "Turn on two-factor sign-in").await;
    assert!(body_text(&phone).await.contains("That code does not match"), "a wrong code is explained");
    fill(&phone, "Enter the 6-digit code the app shows", &code_at(&totp, 0)).await;
    fill(&phone, "Your password", "correct horse battery").await;
    click_button(&phone, "Turn on two-factor sign-in").await;
    let page = body_text(&phone).await;
    assert!(page.contains("Two-factor sign-in is on."), "{page}");
    assert!(page.contains("Your recovery codes"), "the recovery codes are shown once");
    screenshot(&phone, "62-recovery-codes-phone").await;

    let laptop = driver.browser(1280, 900).await;
    laptop.goto(&app.url("/signin")).await.unwrap();
    fill(&laptop, "Email", "ana@example.com").await;
    fill(&laptop, "Password", "correct horse battery").await;
    click_button(&laptop, "Sign in").await;
    assert_eq!(heading(&laptop).await, "Enter your code");
    fill(&laptop, "Code", &code_at(&totp, 1)).await;
    click_button(&laptop, "Sign in").await;
    assert!(body_text(&laptop).await.contains("Hello, Ana"), "signed in after the code");

    phone.goto(&app.url("/account")).await.unwrap();
    let page = body_text(&phone).await;
    assert!(page.contains("Headless Chrome on Linux"), "the laptop's session is listed: {page}");
    for browser in [phone, laptop] {
        browser.close().await.unwrap();
    }
}

#[sqlx::test]
async fn a_member_reads_what_leaving_does_and_leaves_the_team(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let driver = Driver::start().await;
    let li = sign_in(&driver, &day.app, "li@example.com").await;

    li.goto(&day.app.url(&format!("/teams/{}", day.slug))).await.unwrap();
    click_link(&li, "Leave team").await;
    assert_eq!(heading(&li).await, "Leave Platform?");
    let page = body_text(&li).await;
    assert!(page.contains("Database failover drill") && page.contains("you are participant"), "{page}");
    screenshot(&li, "leave-team").await;
    click_button(&li, "Leave Platform").await;

    assert!(body_text(&li).await.contains("You left Platform."));
    li.goto(&day.app.url(&format!("/teams/{}", day.slug))).await.unwrap();
    assert_ne!(heading(&li).await, "Platform", "the team is no longer Li's to see");
    li.close().await.unwrap();
}

#[sqlx::test]
async fn a_lead_archives_a_team_that_then_reads_as_archived_and_unarchives_it(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let driver = Driver::start().await;
    let ana = sign_in(&driver, &day.app, "ana@example.com").await;

    ana.goto(&day.app.url(&format!("/teams/{}", day.slug))).await.unwrap();
    click_link(&ana, "Settings").await;
    click_button(&ana, "Archive team").await;

    assert_eq!(heading(&ana).await, "Platform");
    let page = body_text(&ana).await;
    assert!(page.contains("Platform is archived: it is read-only now.") && page.contains("This team is read-only"));
    screenshot(&ana, "team-archived").await;
    ana.goto(&day.app.url("/")).await.unwrap();
    let archived = ana.find(Locator::XPath("//details[summary[starts-with(normalize-space(), 'Archived')]]")).await;
    let archived = archived.expect("an Archived section on the dashboard");
    assert_eq!(archived.attr("open").await.unwrap(), None, "folded away");
    ana.find(Locator::XPath("//summary[starts-with(normalize-space(), 'Archived')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click_link(&ana, "Platform").await;
    click_link(&ana, "Settings").await;
    click_button(&ana, "Unarchive team").await;
    let page = body_text(&ana).await;
    assert!(page.contains("Platform is no longer archived.") && !page.contains("This team is read-only"));
    ana.close().await.unwrap();
}

#[sqlx::test]
async fn a_lead_makes_an_api_token_copies_it_once_and_revokes_it_from_the_team(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let app = &day.app;
    let driver = Driver::start().await;
    let ana = sign_in(&driver, app, "ana@example.com").await;

    ana.goto(&app.url("/account")).await.unwrap();
    click_link(&ana, "Manage API tokens").await;
    assert_eq!(heading(&ana).await, "API tokens");
    assert!(body_text(&ana).await.contains("None yet."));
    // A name left out: said beside the field, the choices kept.
    let run = ana.find(Locator::Css("input[name=scopes][value=run]")).await.unwrap();
    run.click().await.unwrap();
    click_button(&ana, "Make token").await;
    assert!(body_text(&ana).await.contains("The name is required."));
    let run = ana.find(Locator::Css("input[name=scopes][value=run]")).await.unwrap();
    assert_eq!(run.prop("checked").await.unwrap().as_deref(), Some("true"), "the scope chosen is kept");
    fill(&ana, "Name", "Staging pipeline").await;
    choose(&ana, "Works for", "90 days").await;
    click_button(&ana, "Make token").await;
    let page = body_text(&ana).await;
    assert!(page.contains("shown only this once"), "{page}");
    screenshot(&ana, "60-api-token-made").await;
    let field = ana.find(Locator::Css("input.secret-once")).await.unwrap();
    let token = field.prop("value").await.unwrap().unwrap();
    assert!(token.starts_with("gdt_"), "{token}");
    // The copy button is there once the script runs.
    let copy = ana.find(Locator::Css("button[data-copy]")).await.unwrap();
    assert!(copy.is_displayed().await.unwrap(), "Copy shows");

    // The token works from a script, and the page no longer shows it.
    let me = crate::helpers::new_client().get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), reqwest::StatusCode::OK);
    ana.goto(&app.url("/account/tokens")).await.unwrap();
    assert!(ana.find(Locator::Css("input.secret-once")).await.is_err(), "shown once");
    assert!(body_text(&ana).await.contains("last used"));

    // On a phone.
    let phone = sign_in(&driver, app, "ana@example.com").await;
    phone.set_window_size(390, 844).await.unwrap();
    phone.goto(&app.url("/account/tokens")).await.unwrap();
    screenshot(&phone, "61-api-tokens-phone").await;

    // Li makes one; Ana, the lead, sees it on the team's page and revokes it.
    let li = sign_in(&driver, app, "li@example.com").await;
    li.goto(&app.url("/account/tokens")).await.unwrap();
    fill(&li, "Name", "Li's laptop").await;
    click_button(&li, "Make token").await;
    let lis = li.find(Locator::Css("input.secret-once")).await.unwrap().prop("value").await.unwrap().unwrap();
    ana.goto(&app.url(&format!("/teams/{}", day.slug))).await.unwrap();
    click_link(&ana, "API tokens").await;
    let page = body_text(&ana).await;
    assert!(page.contains("Li's laptop") && page.contains("Staging pipeline"), "{page}");
    screenshot(&ana, "62-team-api-tokens").await;
    click_found(&ana, Locator::Css("button[aria-label=\"Revoke Li's token Li's laptop\"]"), "Revoke Li's").await;
    assert!(body_text(&ana).await.contains("Revoked \"Li's laptop\""));
    let refused = crate::helpers::new_client().get(app.url("/api/v1/me")).bearer_auth(&lis).send().await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);

    // The reference the token page points to.
    ana.goto(&app.url("/api/docs")).await.unwrap();
    assert_eq!(heading(&ana).await, "Gameday API");
    ana.set_window_size(1280, 2000).await.unwrap();
    screenshot(&ana, "63-api-reference").await;
    phone.goto(&app.url("/api/docs#list_gamedays")).await.unwrap();
    assert!(fits_the_width(&phone).await, "the API reference fits a phone");
    screenshot(&phone, "64-api-reference-phone").await;

    for browser in [ana, phone, li] {
        browser.close().await.unwrap();
    }
}

#[sqlx::test]
async fn a_pipeline_announces_and_injects_through_the_api_and_the_room_sees_it_live_marked_via_api(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let app = &day.app;
    let scenario = day.scenario("Kill one checkout pod").await;
    day.all_approve(&scenario).await;
    day.start().await;
    let token = crate::api::make_token(&day, &day.ana, "Staging pipeline", &day.slug, &["observe", "run"]).await;
    let driver = Driver::start().await;
    let li = sign_in(&driver, app, "li@example.com").await;
    li.set_window_size(1280, 1000).await.unwrap();
    li.goto(&app.url(&format!("{}/timeline", day.url))).await.unwrap();
    assert!(wait_for_element_text(&li, "live-status", "Live", Duration::from_secs(10)).await);

    // The pipeline asks the gate, announces, injects and logs what it saw; Li's page shows each
    // as it happens, marked as coming through the API with the token's name.
    let client = crate::helpers::new_client();
    let api = |path: &str| app.url(&format!("/api/v1{scenario}{path}"));
    let gate: serde_json::Value =
        serde_json::from_str(&client.get(api("/gate")).bearer_auth(&token).send().await.unwrap().text().await.unwrap())
            .unwrap();
    assert_eq!(gate["reasons"][0]["code"], "not_announced");
    for step in ["announce", "inject"] {
        let answer = client
            .post(api(&format!("/{step}")))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{\"revision\": 1}")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::OK, "{step}");
    }
    let observed = client
        .post(app.url(&format!("/api/v1{}/observations", day.url)))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"body\": \"Error rate **0.4 %**; the alert fired.\", \"marker\": \"detection\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(observed.status(), reqwest::StatusCode::CREATED);
    assert!(wait_for_text(&li, "the alert fired", Duration::from_secs(10)).await, "the observation arrives live");
    let tags = li.find_all(Locator::Css(".event-via")).await.unwrap();
    assert_eq!(tags.len(), 3, "announced, injected and observed via the API");
    assert_eq!(tags[0].text().await.unwrap(), "via API · Staging pipeline");
    assert!(body_text(&li).await.contains("Injected"), "the fault banner shows the injection");
    screenshot(&li, "65-timeline-via-api").await;
    li.close().await.unwrap();
}

/// An experiment a team keeps in YAML, with a credential written into it.
const CHECKOUT_YAML: &str = "\
version: 1.0.0
title: Checkout survives losing its cache
description: When the Redis cache is flushed, checkout stays under 300 ms at p99.
tags: [checkout, redis]
contributions:
  performance: high
configuration:
  redis_password: s3cret-in-the-file
steady-state-hypothesis:
  title: Checkout is fast
  probes:
    - type: probe
      name: checkout-p99
      tolerance: [0, 300]
      provider:
        type: python
        module: checkout_probes
        func: p99_ms
method:
  - type: action
    name: flush-cache
    provider:
      type: process
      path: redis-cli
      arguments: [FLUSHALL]
    pauses:
      after: 30
rollbacks: []
x-owner: payments
";

#[sqlx::test]
async fn a_facilitator_imports_an_experiment_file_and_the_room_sees_its_journal_arrive_live(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let app = &day.app;
    let dir = crate::chaostoolkit::scratch("browser");
    let file = dir.join("checkout-cache.yaml");
    std::fs::write(&file, CHECKOUT_YAML).unwrap();
    let driver = Driver::start().await;
    let ana = sign_in(&driver, app, "ana@example.com").await;
    ana.set_window_size(1280, 1000).await.unwrap();
    ana.goto(&app.url(&day.url)).await.unwrap();
    click_link(&ana, "Import a Chaos Toolkit experiment").await;
    assert_eq!(heading(&ana).await, "Import a Chaos Toolkit experiment");
    screenshot(&ana, "66-import-form").await;
    ana.find(Locator::Id("file")).await.unwrap().send_keys(file.to_str().unwrap()).await.unwrap();
    click_button(&ana, "Import as a scenario").await;
    let text = body_text(&ana).await;
    assert!(text.contains("Imported as a scenario at revision 1"), "{text}");
    assert!(text.contains("Not ready to approve"), "nobody signs before the rest is set");
    assert!(text.contains("checkout-cache.yaml (YAML)"));
    assert!(text.contains("x-owner"), "the unknown key is listed");
    assert!(!ana.source().await.unwrap().contains("s3cret-in-the-file"), "the credential is never shown");
    let url = ana.current_url().await.unwrap();
    ana.goto(&format!("{url}#chaostoolkit")).await.unwrap();
    screenshot(&ana, "66-imported-experiment").await;
    ana.set_window_size(390, 844).await.unwrap();
    ana.goto(url.as_str()).await.unwrap();
    assert!(fits_the_width(&ana).await, "the scenario page with its experiment fits a phone");
    ana.goto(&app.url(&format!("{}/scenarios/import", day.url))).await.unwrap();
    assert!(fits_the_width(&ana).await, "the import form fits a phone");

    // A run's journal, posted by a pipeline, arrives live on Li's timeline, marked as imported.
    for step in ["schedule", "start"] {
        assert_eq!(day.step(&day.ana, step).await.status(), reqwest::StatusCode::SEE_OTHER, "{step}");
    }
    let li = sign_in(&driver, app, "li@example.com").await;
    li.set_window_size(1280, 1000).await.unwrap();
    li.goto(&app.url(&format!("{}/timeline", day.url))).await.unwrap();
    assert!(wait_for_element_text(&li, "live-status", "Live", Duration::from_secs(10)).await);
    let token = crate::api::make_token(&day, &day.ana, "Chaos pipeline", &day.slug, &["run"]).await;
    let sid = url.path().rsplit('/').next().unwrap().to_owned();
    let journal = include_str!("../fixtures/chaostoolkit/journal-completed.json");
    let posted = crate::helpers::new_client()
        .post(app.url(&format!("/api/v1/teams/{}/gamedays/{}/scenarios/{sid}/journal", day.slug, day.id)))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(journal)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), reqwest::StatusCode::CREATED);
    assert!(wait_for_text(&li, "Journal imported", Duration::from_secs(10)).await, "the import arrives live");
    let tags = li.find_all(Locator::Css(".event-via")).await.unwrap();
    let mut imported = 0;
    for tag in &tags {
        if tag.text().await.unwrap() == "imported · journal" {
            imported += 1;
        }
    }
    assert!(imported >= 3, "each activity of the run is marked as imported ({imported})");
    screenshot(&li, "66-journal-on-timeline").await;
    ana.close().await.unwrap();
    li.close().await.unwrap();
}

#[sqlx::test]
async fn a_health_check_guards_the_fault_and_the_room_sees_it_halt_and_recover_live(db: PgPool) {
    let service = crate::healthchecks::Service::start().await;
    let day = crate::gamedays::Day::with(db, crate::healthchecks::loopback).await;
    assert_eq!(day.add("vi@example.com", "observer").await.status(), reqwest::StatusCode::SEE_OTHER);
    let scenario = day.scenario("Stop the primary").await;
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    let app = &day.app;
    let driver = Driver::start().await;
    let ana = sign_in(&driver, app, "ana@example.com").await;

    // Ana writes a check in the team's library and runs it.
    ana.goto(&app.url(&format!("/teams/{}", day.slug))).await.unwrap();
    click_link(&ana, "Health checks").await;
    assert!(body_text(&ana).await.contains("No checks yet"));
    fill(&ana, "Name", "checkout answers").await;
    fill(&ana, "URL", &service.url).await;
    fill(&ana, "Answers within (ms)", "500").await;
    fill(&ana, "JSON value at", "/status").await;
    fill(&ana, "must be", "ok").await;
    click_button(&ana, "Add check").await;
    assert!(body_text(&ana).await.contains("Added \"checkout answers\""));
    click_button(&ana, "Run now").await;
    assert!(wait_for_text(&ana, "Passes: 200 in", Duration::from_secs(5)).await, "Run now shows what it saw");
    screenshot(&ana, "67-health-check-library").await;

    // She attaches it to the scenario: a new revision that everyone signs.
    ana.goto(&app.url(&scenario)).await.unwrap();
    assert!(body_text(&ana).await.contains("No health check guards this fault yet."));
    fill(&ana, "Every (seconds, while injected)", "2").await;
    click_button(&ana, "Attach (new revision)").await;
    assert!(body_text(&ana).await.contains("Health check attached: revision 2."));
    day.all_approve(&scenario).await;
    day.start().await;

    // Vi, an observer, watches the scenario page while Ana runs it from hers.
    let vi = sign_in(&driver, app, "vi@example.com").await;
    vi.goto(&app.url(&scenario)).await.unwrap();
    assert!(wait_for_text(&vi, "Live", Duration::from_secs(5)).await);
    vi.execute("document.body.dataset.untouched = 'yes';", vec![]).await.unwrap();
    ana.goto(&app.url(&scenario)).await.unwrap();
    click_button(&ana, "Announce fault").await;
    assert!(body_text(&ana).await.contains("checkout answers passes: 200 in"), "the run card shows the check passed");
    click_button(&ana, "Inject fault").await;
    let state = format!("state-{sid}");
    assert!(wait_for_element_text(&vi, &state, "Injected", Duration::from_secs(10)).await);
    assert!(wait_for_text(&vi, "checkout answers passes", Duration::from_secs(5)).await);

    // The service degrades: the check halts the fault, and Vi's page shows it without a reload.
    service.set(200, 0, r#"{"status":"degraded"}"#);
    assert!(wait_for_element_text(&vi, &state, "Halted", Duration::from_secs(10)).await, "Vi sees the halt");
    assert!(wait_for_text(&vi, "Halted by health check checkout answers: got 200 in", Duration::from_secs(5)).await);
    assert!(wait_for_text(&vi, "checkout answers fails", Duration::from_secs(5)).await, "the run card says it fails");
    let untouched = vi.execute("return document.body.dataset.untouched;", vec![]).await.unwrap();
    assert_eq!(untouched, "yes", "Vi's page was not reloaded");
    screenshot(&vi, "68-halted-by-health-check").await;

    // It recovers: the timeline records when the steady state came back.
    service.set(200, 0, r#"{"status":"ok"}"#);
    assert!(wait_for_text(&vi, "Steady state back", Duration::from_secs(10)).await, "the recovery arrives live");
    vi.refresh().await.unwrap();
    assert!(vi.find(Locator::Css("#health-checks polyline")).await.is_ok(), "the response times are drawn");
    vi.execute("document.getElementById('health-checks').scrollIntoView();", vec![]).await.unwrap();
    screenshot(&vi, "69-health-check-results").await;
    vi.set_window_size(390, 844).await.unwrap();
    assert!(fits_the_width(&vi).await, "the scenario page with its checks fits a phone");
    for browser in [ana, vi] {
        browser.close().await.unwrap();
    }
}

#[sqlx::test]
async fn a_new_person_explores_a_demo_team_and_reads_its_game_day_and_retrospective(db: PgPool) {
    let app = spawn_app(db).await;
    let driver = Driver::start().await;

    // A fresh account: the empty dashboard offers the demo.
    let ana = driver.browser(1280, 900).await;
    ana.goto(&app.url("/signup")).await.unwrap();
    fill(&ana, "Email", "ana@example.com").await;
    fill(&ana, "Display name", "Ana Lead").await;
    fill(&ana, "Password", "correct horse battery").await;
    click_button(&ana, "Create account").await;
    assert!(body_text(&ana).await.contains("New to game days?"));
    screenshot(&ana, "70-dashboard-demo-offer").await;
    click_button(&ana, "Explore a demo team").await;
    assert_eq!(heading(&ana).await, "Checkout team (demo)");
    let page = body_text(&ana).await;
    assert!(page.contains("This is a demo team, made for you."), "{page}");
    assert!(page.contains("Payments and database re-test"));
    screenshot(&ana, "71-demo-team").await;
    let axe = axe_source();
    let team = ana.current_url().await.unwrap().to_string();
    for scheme in ["dark", "light"] {
        prefer_color_scheme(&ana, scheme).await;
        ana.goto(&team).await.unwrap();
        let found = serious_accessibility_violations(&ana, &axe).await;
        assert!(found.is_empty(), "the demo team page ({scheme}): {found:?}");
    }

    // The completed game day: three outcomes, the halt, the timings, the corrected observation.
    click_link(&ana, "Checkout resilience game day").await;
    let page = body_text(&ana).await;
    for expected in [
        "CONCLUDED: HELD",
        "CONCLUDED: REFUTED",
        "Halted by Ana Lead because the abort criteria are met",
        "detected in 1m 00s",
        "Order success fell to 91 %, not 81 %",
    ] {
        assert!(page.contains(expected), "the game day page shows {expected:?}");
    }
    screenshot(&ana, "72-demo-gameday").await;
    ana.set_window_size(1280, 3200).await.unwrap();
    screenshot(&ana, "73-demo-gameday-full").await;
    ana.set_window_size(1280, 900).await.unwrap();

    // One scenario's run: the timings on its card.
    click_link(&ana, "Slow payments gateway (+2 s)").await;
    let page = body_text(&ana).await;
    assert!(page.contains("Time to detect") && page.contains("Time to repair"), "{page}");
    screenshot(&ana, "74-demo-scenario-run").await;

    // The retrospective, published, with its learnings and actions.
    ana.back().await.unwrap();
    click_link(&ana, "Retrospective").await;
    let page = body_text(&ana).await;
    assert!(
        page.contains("PUBLISHED") && page.contains("Immediate retries turn a slow dependency into an overloaded one"),
        "{page}"
    );
    screenshot(&ana, "75-demo-retrospective").await;

    // On a phone, the game day reads too.
    let url = ana.current_url().await.unwrap().to_string().replace("/retrospective", "");
    ana.set_window_size(390, 844).await.unwrap();
    ana.goto(&url).await.unwrap();
    screenshot(&ana, "76-demo-gameday-phone").await;
    ana.set_window_size(1280, 900).await.unwrap();

    // Done exploring: one click archives and hides it.
    click_link(&ana, "Checkout team (demo)").await;
    click_button(&ana, "Archive and hide this demo").await;
    let page = body_text(&ana).await;
    assert!(page.contains("is archived and hidden"), "{page}");
    assert!(page.contains("Explore a demo team"), "the offer is back on an empty dashboard");
    assert!(!page.contains("Drop pooled connections"), "the archived demo's action no longer asks for attention");
    screenshot(&ana, "77-demo-archived").await;
    for scheme in ["dark", "light"] {
        prefer_color_scheme(&ana, scheme).await;
        ana.goto(&app.url("/")).await.unwrap();
        let found = serious_accessibility_violations(&ana, &axe).await;
        assert!(found.is_empty(), "the dashboard offering the demo ({scheme}): {found:?}");
    }
    ana.close().await.unwrap();
}

#[sqlx::test]
async fn a_person_signs_in_with_the_company_provider_and_has_an_account_without_a_password(db: PgPool) {
    let provider = crate::sso::Provider::start().await;
    let app = crate::sso::app_with(db.clone(), &provider, true, true).await;
    provider.person("acme|ana", "ana@example.com", true);
    let driver = Driver::start().await;
    let ana = driver.browser(1280, 900).await;

    ana.goto(&app.url("/signin?next=/account")).await.unwrap();
    screenshot(&ana, "80-signin-with-provider").await;
    let axe = axe_source();
    for scheme in ["dark", "light"] {
        prefer_color_scheme(&ana, scheme).await;
        ana.goto(&app.url("/signin?next=/account")).await.unwrap();
        let found = serious_accessibility_violations(&ana, &axe).await;
        assert!(found.is_empty(), "the sign-in page with single sign-on ({scheme}): {found:?}");
    }
    // Through the provider and back (a link, so the page's form-action policy does not stop the
    // redirect to another origin), to the page the sign-in was for.
    click_link(&ana, "Sign in with Acme ID").await;
    assert_eq!(heading(&ana).await, "Your account");
    let page = body_text(&ana).await;
    assert!(page.contains("This account has no password"), "{page}");
    assert!(!page.contains("Two-factor sign-in"), "no second factor of Gameday's own to set up without a password");
    screenshot(&ana, "81-account-without-password").await;
    let zone: String =
        sqlx::query_scalar("select time_zone from users where email = 'ana@example.com'").fetch_one(&db).await.unwrap();
    let browser_zone = ana.execute("return Intl.DateTimeFormat().resolvedOptions().timeZone", vec![]).await.unwrap();
    assert_eq!(Some(zone.as_str()), browser_zone.as_str(), "the new account reads times in the browser's zone");

    // A phone: the sign-in page fits.
    let phone = driver.browser(390, 844).await;
    phone.goto(&app.url("/signin")).await.unwrap();
    assert!(fits_the_width(&phone).await);
    screenshot(&phone, "82-signin-with-provider-phone").await;
    for browser in [ana, phone] {
        browser.close().await.unwrap();
    }
}

#[sqlx::test]
async fn a_person_resets_a_forgotten_password_and_an_administrator_reads_the_outbox(db: PgPool) {
    // No SMTP server, as under `make run`: the message waits on the outbox page.
    let app = crate::helpers::spawn_app_with(db.clone(), |config| config.email_poll_ms = 50).await;
    app.signup_as(&app.client, "ana@example.com", "Ana").await;
    let driver = Driver::start().await;
    let axe = axe_source();

    let phone = driver.browser(390, 844).await;
    phone.goto(&app.url("/signin")).await.unwrap();
    click_link(&phone, "Forgot your password?").await;
    fill(&phone, "Email", "ana@example.com").await;
    click_button(&phone, "Send me a link").await;
    assert_eq!(heading(&phone).await, "Check your e-mail");
    assert!(fits_the_width(&phone).await);
    screenshot(&phone, "83-password-link-sent-phone").await;

    // The administrator (the first account) reads what would have been sent.
    let laptop = sign_in(&driver, &app, "ana@example.com").await;
    let mut link = None;
    for _ in 0..50 {
        laptop.goto(&app.url("/admin/outbox")).await.unwrap();
        if body_text(&laptop).await.contains("kept") {
            link = Some(());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(link.is_some(), "the message is kept for the outbox page");
    laptop.find(Locator::Css(".outbox summary")).await.unwrap().click().await.unwrap();
    let page = body_text(&laptop).await;
    assert!(page.contains("No SMTP server is set"), "{page}");
    assert!(page.contains("Choose a new Gameday password"));
    screenshot(&laptop, "84-outbox").await;
    for scheme in ["dark", "light"] {
        prefer_color_scheme(&laptop, scheme).await;
        laptop.goto(&app.url("/admin/outbox")).await.unwrap();
        let found = serious_accessibility_violations(&laptop, &axe).await;
        assert!(found.is_empty(), "the outbox page ({scheme}): {found:?}");
    }
    let text: String = sqlx::query_scalar("select body_text from email_outbox").fetch_one(&db).await.unwrap();
    let start = text.find("/password/reset/").expect("the link in the message");
    let token: String = text[start + 16..].chars().take_while(char::is_ascii_hexdigit).collect();

    // The link from the message: a new password, then sign in with it.
    phone.goto(&app.url(&format!("/password/reset/{token}"))).await.unwrap();
    assert_eq!(heading(&phone).await, "Choose a new password");
    fill(&phone, "New password", "password").await;
    click_button(&phone, "Set my new password").await;
    assert!(body_text(&phone).await.contains("too easy to guess"), "a weak password is explained beside its field");
    screenshot(&phone, "85-new-password-refused-phone").await;
    for scheme in ["dark", "light"] {
        prefer_color_scheme(&phone, scheme).await;
        let found = serious_accessibility_violations(&phone, &axe).await;
        assert!(found.is_empty(), "the new password page ({scheme}): {found:?}");
    }
    fill(&phone, "New password", "a quiet harbour at dawn").await;
    click_button(&phone, "Set my new password").await;
    assert_eq!(heading(&phone).await, "Sign in");
    assert!(body_text(&phone).await.contains("Your new password is set"));
    fill(&phone, "Email", "ana@example.com").await;
    fill(&phone, "Password", "a quiet harbour at dawn").await;
    click_button(&phone, "Sign in").await;
    assert!(body_text(&phone).await.contains("Hello, Ana"), "signed in with the new password");

    // Her e-mail choices, on her account page.
    phone.goto(&app.url("/account#email")).await.unwrap();
    let page = body_text(&phone).await;
    assert!(page.contains("A scenario waits for my sign-off") && page.contains("An action I own falls due tomorrow"));
    assert!(fits_the_width(&phone).await);
    phone.execute("document.getElementById('email').scrollIntoView()", vec![]).await.unwrap();
    screenshot(&phone, "86-email-choices-phone").await;
    for browser in [phone, laptop] {
        browser.close().await.unwrap();
    }
}
