//! E-mail through a real SMTP server: `aiosmtpd` (PyPI, pinned in tests/tools/requirements.txt)
//! run by `tests/tools/smtp-sink.py` on a loopback port, which prints every message it accepts
//! (or refuses the first few, to show the retries). Without an SMTP server, messages are kept for
//! the administrators' outbox page.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use sqlx::PgPool;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::gamedays::{Day, scenario_form};
use crate::helpers::{TestApp, location, new_client, spawn_app_with};

struct Sink {
    port: u16,
    received: mpsc::UnboundedReceiver<serde_json::Value>,
    _child: Child,
}

impl Sink {
    async fn start(args: &[&str]) -> Sink {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut child = Command::new(format!("{root}/.venv/bin/python"))
            .arg(format!("{root}/tests/tools/smtp-sink.py"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect(".venv/bin/python runs tests/tools/smtp-sink.py (make test installs .venv with aiosmtpd)");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the SMTP server starts within 30 s")
            .unwrap()
            .expect("the SMTP server says it is ready");
        let port = ready.strip_prefix("ready ").expect("ready <port>").parse().unwrap();
        let (tx, received) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(serde_json::from_str(&line).unwrap());
            }
        });
        Sink { port, received, _child: child }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The next line the server printed (a message it took, or one it refused).
    async fn next(&mut self) -> serde_json::Value {
        tokio::time::timeout(Duration::from_secs(20), self.received.recv())
            .await
            .expect("an e-mail within 20 s")
            .expect("the SMTP server is running")
    }

    /// The next message it took, as received, passing over sign-up confirmations: the fixtures
    /// sign their people up as people do (each address confirmed by its link), and those messages
    /// are read by the sign-up test with [`Sink::any_message`].
    async fn message(&mut self) -> Mail {
        loop {
            let mail = self.any_message().await;
            if !mail.header("Subject").is_some_and(|subject| subject.starts_with("Confirm your address")) {
                return mail;
            }
        }
    }

    /// The next message it took, whatever it is.
    async fn any_message(&mut self) -> Mail {
        loop {
            let line = self.next().await;
            if line.get("data").is_some() {
                return Mail::from(line);
            }
        }
    }

    /// The next `n` messages, ordered by recipient.
    async fn messages(&mut self, n: usize) -> Vec<Mail> {
        let mut mails = Vec::new();
        for _ in 0..n {
            mails.push(self.message().await);
        }
        mails.sort_by(|a, b| a.to.cmp(&b.to));
        mails
    }

    /// Asserts that nothing arrives for a while (the worker polls every 50 ms here).
    async fn nothing_more(&mut self) {
        if let Ok(Some(line)) = tokio::time::timeout(Duration::from_millis(1500), self.received.recv()).await {
            panic!("no more e-mail was expected, got {line}");
        }
    }
}

/// A message as the SMTP server received it, its parts decoded.
#[derive(Debug)]
struct Mail {
    to: String,
    raw: String,
    /// Headers and bodies with quoted-printable soft breaks and escapes undone.
    decoded: String,
}

impl From<serde_json::Value> for Mail {
    fn from(line: serde_json::Value) -> Mail {
        let raw = line["data"].as_str().unwrap().to_owned();
        let to = line["to"][0].as_str().unwrap().to_owned();
        Mail { to, decoded: quoted_printable(&raw), raw }
    }
}

impl Mail {
    fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}: ", name.to_lowercase());
        self.raw
            .lines()
            .find(|line| line.to_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].to_owned())
    }

    fn says(&self, text: &str) -> bool {
        self.decoded.contains(text)
    }

    /// The first link in the text that starts with `prefix`.
    fn link(&self, prefix: &str) -> String {
        let start = self.decoded.find(prefix).unwrap_or_else(|| panic!("a link {prefix}… in {}", self.decoded));
        let rest = &self.decoded[start..];
        let end = rest.find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>').unwrap_or(rest.len());
        rest[..end].to_owned()
    }
}

fn quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped =
            bytes.get(i + 1..i + 3).and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[i], escaped) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn quick(config: &mut gameday::config::Config, smtp: Option<String>) {
    config.smtp_url = smtp;
    config.mail_from = "Gameday <gameday@example.com>".into();
    config.email_poll_ms = 50;
    config.email_retry_ms = 200;
}

/// Kind, status and attempts of the messages to `to`, leaving out the confirmation of the address
/// that signing up (as the fixtures do) sends.
async fn outbox(db: &PgPool, to: &str) -> Vec<(String, String, i32)> {
    sqlx::query_as(
        "select kind, status, attempts from email_outbox where to_address = $1 and kind <> 'confirm_address' order by id",
    )
        .bind(to)
        .fetch_all(db)
        .await
        .unwrap()
}

#[sqlx::test]
async fn signers_are_asked_again_at_each_revision_and_everyone_hears_of_an_announced_fault(db: PgPool) {
    let mut sink = Sink::start(&[]).await;
    let smtp = sink.url();
    let day = Day::with(db.clone(), move |config| quick(config, Some(smtp))).await;
    day.add("vi@example.com", "observer").await;
    sqlx::query("update users set time_zone = 'Asia/Tokyo' where email = 'li@example.com'").execute(&db).await.unwrap();

    let scenario = day.scenario("Stop the primary").await;
    let asked = sink.messages(2).await;
    assert_eq!(
        asked.iter().map(|m| m.to.as_str()).collect::<Vec<_>>(),
        ["bo@example.com", "li@example.com"],
        "the two other signers, not Ana who wrote it nor Vi who only observes"
    );
    let scenario_link = format!("{}{scenario}", day.app.base);
    for mail in &asked {
        assert_eq!(mail.header("Subject").as_deref(), Some("Sign off \"Stop the primary\" (revision 1)"));
        assert_eq!(mail.header("From").as_deref(), Some("Gameday <gameday@example.com>"));
        assert!(mail.says("Ana added the scenario \"Stop the primary\" (revision 1)."), "{}", mail.decoded);
        assert!(mail.says(&format!("Read and sign off: {scenario_link}")), "the link uses the base URL");
        assert!(mail.says(&format!("href=\"{scenario_link}\"")), "and the HTML part has it too");
        assert!(mail.raw.contains("multipart/alternative"), "text and HTML");
        let unsubscribe = mail.header("List-Unsubscribe").expect("one-click unsubscribe (RFC 8058)");
        assert!(unsubscribe.starts_with(&format!("<{}/email/unsubscribe/", day.app.base)), "{unsubscribe}");
        assert_eq!(mail.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    }
    sink.nothing_more().await;

    // Li signs; a new revision resets that, and both are asked again.
    assert_eq!(day.sign(&day.li, &scenario, "approve", "").await.status(), StatusCode::SEE_OTHER);
    let owner = day.id_of("ana@example.com").await;
    let mut form = scenario_form("Stop the primary", &owner);
    form.retain(|(k, _)| *k != "rollback_plan");
    form.push(("rollback_plan", "Promote the replica back, then start the container."));
    assert_eq!(day.app.post_as(&day.ana, &format!("{scenario}/edit"), &form).await.status(), StatusCode::SEE_OTHER);
    for mail in sink.messages(2).await {
        assert_eq!(mail.header("Subject").as_deref(), Some("Sign off \"Stop the primary\" (revision 2)"));
        assert!(mail.says("earlier sign-off(s) no longer count; everyone signs again"), "{}", mail.decoded);
    }

    // The day runs; the announcement reaches everyone on it, in their own zone, but the announcer.
    day.all_approve(&scenario).await;
    day.start().await;
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    let told = sink.messages(3).await;
    assert_eq!(
        told.iter().map(|m| m.to.as_str()).collect::<Vec<_>>(),
        ["bo@example.com", "li@example.com", "vi@example.com"]
    );
    for mail in &told {
        assert_eq!(
            mail.header("Subject").as_deref(),
            Some("Fault announced: \"Stop the primary\" on Database failover drill")
        );
        assert!(mail.says("Abort if: Checkout errors above 1% for one minute."), "{}", mail.decoded);
        assert!(mail.says(&format!("Follow the timeline: {}{}/timeline", day.app.base, day.url)));
    }
    assert!(told[1].says(" JST."), "Li reads the time in Tokyo's zone: {}", told[1].decoded);
    assert!(told[0].says(" UTC."), "Bo in UTC: {}", told[0].decoded);
    sink.nothing_more().await;
    let statuses: Vec<String> =
        sqlx::query_scalar("select distinct status from email_outbox").fetch_all(&db).await.unwrap();
    assert_eq!(statuses, ["sent"], "every message recorded as sent (after nothing more came for 1.5 s)");
}

#[sqlx::test]
async fn an_unsubscribe_link_turns_off_its_kind_only_and_the_account_page_turns_it_back_on(db: PgPool) {
    let mut sink = Sink::start(&[]).await;
    let smtp = sink.url();
    let day = Day::with(db.clone(), move |config| quick(config, Some(smtp))).await;
    day.scenario("First").await;
    let li_mail = sink.messages(2).await.into_iter().find(|m| m.to == "li@example.com").unwrap();
    let link = li_mail.link(&format!("{}/email/unsubscribe/", day.app.base));

    // Anyone with the link (it may be forwarded) sees what it does, with the address half hidden.
    let page = new_client().get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("l…@example.com") && !page.contains("li@example.com"), "{page}");
    assert!(page.contains("A scenario waits for my sign-off"));
    // A mail program's one-click POST: no session, no Origin, just the link.
    let response = reqwest::Client::new()
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("no longer gets e-mail for"));
    let forged = reqwest::Client::new()
        .post(format!("{}/email/unsubscribe/{}", day.app.base, "0".repeat(32)))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::NOT_FOUND);

    let second = day.scenario("Second").await;
    let mail = sink.message().await;
    assert_eq!(mail.to, "bo@example.com", "Li turned sign-off requests off; Bo did not");
    sink.nothing_more().await;

    // Other kinds still come.
    day.all_approve(&second).await;
    let first =
        sqlx::query_scalar::<_, uuid::Uuid>("select id from scenarios where gameday_id = $1 order by position limit 1")
            .bind(day.id)
            .fetch_one(&db)
            .await
            .unwrap();
    day.all_approve(&format!("{}/scenarios/{first}", day.url)).await;
    day.start().await;
    assert_eq!(day.run(&day.ana, &second, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    let told: Vec<String> = sink.messages(2).await.into_iter().map(|m| m.to).collect();
    assert_eq!(told, ["bo@example.com", "li@example.com"], "the announcement reaches Li");

    // Li's account page shows the choice, and turns it back on.
    let account = day.page(&day.li, "/account").await;
    assert!(
        account.contains("name=\"sign_off\">") && account.contains("name=\"fault_announced\" checked"),
        "{account}"
    );
    let everything: Vec<(&str, &str)> =
        ["sign_off", "gameday_soon", "fault_announced", "retro_published", "action_due"]
            .into_iter()
            .map(|kind| (kind, "on"))
            .collect();
    let response = day.app.post_as(&day.li, "/account/email", &everything).await;
    assert_eq!(location(&response), "/account#email");
    assert!(day.page(&day.li, "/account").await.contains("name=\"sign_off\" checked"));
    let off: i64 = sqlx::query_scalar("select count(*) from email_opt_outs").fetch_one(&db).await.unwrap();
    assert_eq!(off, 0);
}

#[sqlx::test]
async fn a_server_that_says_try_later_gets_the_message_again_and_one_that_refuses_is_given_up(db: PgPool) {
    let mut later = Sink::start(&["--refuse-first", "2", "--refuse-code", "451"]).await;
    let smtp = later.url();
    let app = spawn_app_with(db.clone(), move |config| quick(config, Some(smtp))).await;
    app.signup_as(&app.client, "ana@example.com", "Ana").await;
    assert_eq!(app.post("/password/forgot", &[("email", "ana@example.com")]).await.status(), StatusCode::OK);
    assert_eq!(later.next().await["refused"], 451);
    assert_eq!(later.next().await["refused"], 451);
    let mail = later.message().await;
    assert_eq!(mail.header("Subject").as_deref(), Some("Choose a new Gameday password"));
    assert!(mail.header("List-Unsubscribe").is_none(), "a password reset cannot be turned off");
    // The server took it a moment before the worker records so.
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = outbox(&db, "ana@example.com").await;
        if rows.iter().all(|(_, status, _)| status != "pending") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rows, [("password_reset".to_owned(), "sent".to_owned(), 3)], "sent at the third attempt");

    app.stop().await; // its worker would take the next message too
    let refused = Sink::start(&["--refuse-first", "9", "--refuse-code", "550"]).await;
    let smtp = refused.url();
    let app = spawn_app_with(db.clone(), move |config| quick(config, Some(smtp))).await;
    assert_eq!(app.post("/password/forgot", &[("email", "ana@example.com")]).await.status(), StatusCode::OK);
    let mut failed = None;
    for _ in 0..100 {
        let rows: Vec<(String, i32, Option<String>)> = sqlx::query_as(
            "select status, attempts, last_error from email_outbox where to_address = 'ana@example.com' order by id desc limit 1",
        )
        .fetch_all(&db)
        .await
        .unwrap();
        if rows[0].0 != "pending" {
            failed = Some(rows[0].clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, attempts, error) = failed.expect("the message is settled within 10 s");
    assert_eq!((status.as_str(), attempts), ("failed", 1), "a permanent refusal is not tried again");
    assert!(error.unwrap_or_default().contains("550"));
}

#[sqlx::test]
async fn without_smtp_messages_wait_in_the_outbox_for_its_page_and_a_demo_sends_none(db: PgPool) {
    let day = Day::with(db.clone(), |config| quick(config, None)).await;
    let scenario = day.scenario("Stop the primary").await;
    let mut kept = Vec::new();
    for _ in 0..100 {
        kept = outbox(&db, "li@example.com").await;
        if kept.iter().all(|(_, status, _)| status == "kept") && !kept.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(kept, [("sign_off".to_owned(), "kept".to_owned(), 1)]);

    // Ana was the first account: the administrator reads what would have been sent.
    let page = day.page(&day.ana, "/admin/outbox").await;
    assert!(page.contains("No SMTP server is set"), "the page says why nothing is sent");
    assert!(
        page.contains("Sign off &#34;Stop the primary&#34; (revision 1)")
            || page.contains("Sign off &quot;Stop the primary&quot; (revision 1)"),
        "{page}"
    );
    assert!(page.contains(&format!("{}{scenario}", day.app.base)), "links as they would be sent");
    assert_eq!(day.app.get_as(&day.li, "/admin/outbox").await.status(), StatusCode::NOT_FOUND);

    // Li deletes her account: what was (or would have been) sent to her goes with her data.
    let response =
        day.app.post_as(&day.li, "/account/delete", &[("password", "correct horse battery"), ("code", "")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let left: i64 = sqlx::query_scalar("select count(*) from email_outbox where to_address = 'li@example.com'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(left, 0, "nor the confirmation of her address when she signed up");
    assert!(!day.page(&day.ana, "/admin/outbox").await.contains("li@example.com"));

    // A demo is played through the same actions, with sign-off requests and an announcement in
    // its story: nobody is written to, not even the person it is made for.
    let before: i64 = sqlx::query_scalar("select count(*) from email_outbox").fetch_one(&db).await.unwrap();
    let response = day.app.post_as(&day.eve, "/demo", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let demo_events: i64 = sqlx::query_scalar(
        "select count(*) from timeline_events e join gamedays g on g.id = e.gameday_id join teams t on t.id = g.team_id
         where t.demo and e.kind in ('scenario_added', 'scenario_revised', 'scenario_announced')",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(demo_events > 5, "the demo's story has events that would ask for e-mail ({demo_events})");
    let after: i64 = sqlx::query_scalar("select count(*) from email_outbox").fetch_one(&db).await.unwrap();
    assert_eq!(after, before);
}

#[sqlx::test]
async fn signing_up_confirms_the_address_by_email_and_a_taken_address_tells_its_owner_instead(db: PgPool) {
    let mut sink = Sink::start(&[]).await;
    let smtp = sink.url();
    let app: TestApp = spawn_app_with(db.clone(), move |config| quick(config, Some(smtp))).await;
    // The first account (the administrator) is made at once, with no e-mail.
    app.signup_as(&new_client(), "ana@example.com", "Ana").await;

    let li = new_client();
    let form = [("email", "Li@Example.com"), ("display_name", "Li"), ("password", "correct horse battery")];
    let page = app.post_as(&li, "/signup", &form).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("We sent a link to <strong>li@example.com</strong>"));
    let mail = sink.any_message().await;
    assert_eq!(mail.to, "li@example.com");
    assert_eq!(mail.header("Subject").as_deref(), Some("Confirm your address to finish your Gameday account"));
    assert!(mail.says("Hello Li,") && mail.says("The link works once, for 24 hours."), "{}", mail.decoded);
    let link = mail.link(&format!("{}/signup/confirm/", app.base));
    let path = link.trim_start_matches(&app.base).to_owned();
    assert_eq!(app.get_as(&li, &path).await.status(), StatusCode::OK);
    let response = app.post_as(&li, &path, &[]).await;
    assert_eq!((response.status(), location(&response).as_str()), (StatusCode::SEE_OTHER, "/"));
    assert!(app.get_as(&li, "/").await.text().await.unwrap().contains("Hello, Li"));

    // A stranger tries Ana's address: Ana hears of it, with no link that makes an account.
    let stranger = [("email", "ana@example.com"), ("display_name", "Mallory"), ("password", "correct horse battery")];
    assert_eq!(app.post_as(&new_client(), "/signup", &stranger).await.status(), StatusCode::OK);
    let mail = sink.any_message().await;
    assert_eq!(mail.to, "ana@example.com");
    assert_eq!(mail.header("Subject").as_deref(), Some("Someone tried to sign up to Gameday with your address"));
    assert!(mail.says("Hello Ana,") && !mail.says("Mallory") && !mail.says("/signup/confirm/"), "{}", mail.decoded);
    assert!(mail.link(&format!("{}/signin", app.base)).ends_with("/signin"));
    assert!(!mail.says("List-Unsubscribe"), "a message about the account itself has no unsubscribe link");
    sink.nothing_more().await;
}

#[sqlx::test]
async fn a_password_is_reset_by_an_emailed_link_that_works_once_and_tells_strangers_nothing(db: PgPool) {
    let mut sink = Sink::start(&[]).await;
    let smtp = sink.url();
    let app: TestApp = spawn_app_with(db.clone(), move |config| quick(config, Some(smtp))).await;
    app.signup_as(&app.client, "ana@example.com", "Ana").await;
    let laptop = app.client.clone();

    let signin = app.get_as(&new_client(), "/signin").await.text().await.unwrap();
    assert!(signin.contains("href=\"/password/forgot\""), "the sign-in page offers it");
    let known = app.post_as(&new_client(), "/password/forgot", &[("email", "ANA@example.com")]).await;
    assert_eq!(known.status(), StatusCode::OK);
    let known = known.text().await.unwrap();
    let unknown = app.post_as(&new_client(), "/password/forgot", &[("email", "nobody@example.com")]).await;
    assert_eq!(unknown.status(), StatusCode::OK);
    let unknown = unknown.text().await.unwrap();
    assert_eq!(
        known.replace("ana@example.com", "X"),
        unknown.replace("nobody@example.com", "X"),
        "the answer is the same whether the address has an account"
    );
    let bad = app.post_as(&new_client(), "/password/forgot", &[("email", "not an address")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("value=\"not an address\""), "the input is kept");

    let mail = sink.message().await;
    assert_eq!(mail.to, "ana@example.com");
    sink.nothing_more().await;
    let link = mail.link(&format!("{}/password/reset/", app.base));
    let token = link.rsplit('/').next().unwrap().to_owned();
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("select token_hash from password_resets").fetch_all(&db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].windows(8).any(|w| token.as_bytes().windows(8).any(|t| t == w)), "only a hash is kept");

    let person = new_client();
    let page = person.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("For <strong>ana@example.com</strong>"));
    let weak = person.post(&link).form(&[("new_password", "password1")]).send().await.unwrap();
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY, "the new password follows the usual rules");
    let done = person.post(&link).form(&[("new_password", "a new and quite long passphrase")]).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/signin");
    assert_eq!(app.get_as(&laptop, "/account").await.status(), StatusCode::SEE_OTHER, "every session was ended");
    let old = app
        .post_as(&new_client(), "/signin", &[("email", "ana@example.com"), ("password", "correct horse battery")])
        .await;
    assert_eq!(old.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let new = app
        .post_as(
            &new_client(),
            "/signin",
            &[("email", "ana@example.com"), ("password", "a new and quite long passphrase")],
        )
        .await;
    assert_eq!(new.status(), StatusCode::SEE_OTHER);
    let again = person.post(&link).form(&[("new_password", "yet another long passphrase")]).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::GONE, "a link works once");
    assert_eq!(person.get(&link).send().await.unwrap().status(), StatusCode::GONE);

    // An expired link no longer works; and at most three open links, whatever is asked.
    for _ in 0..5 {
        app.post_as(&new_client(), "/password/forgot", &[("email", "ana@example.com")]).await;
    }
    let open: i64 =
        sqlx::query_scalar("select count(*) from password_resets where used_at is null").fetch_one(&db).await.unwrap();
    assert_eq!(open, 3);
    let mail = sink.message().await;
    sink.messages(2).await;
    sink.nothing_more().await;
    sqlx::query("update password_resets set expires_at = now() - interval '1 second'").execute(&db).await.unwrap();
    let expired = mail.link(&format!("{}/password/reset/", app.base));
    let response = new_client().get(&expired).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(response.text().await.unwrap().contains("Ask for a new link"));
}

#[sqlx::test]
async fn reminders_come_the_day_before_an_hour_before_and_the_day_before_an_action_is_due(db: PgPool) {
    let mut sink = Sink::start(&[]).await;
    let smtp = sink.url();
    let day = Day::with(db.clone(), move |config| quick(config, Some(smtp))).await;
    sqlx::query("update users set time_zone = 'America/New_York' where email = 'bo@example.com'")
        .execute(&db)
        .await
        .unwrap();

    // Scheduled to start five hours from now (set in the database, to be relative to the clock):
    // the day-before reminder, to everyone on it (Ana facilitates, Li and Bo take part).
    sqlx::query(
        "update gamedays set status = 'scheduled', starts_at = now() + interval '5 hours', ends_at = now() + interval '7 hours'
         where id = $1",
    )
        .bind(day.id)
        .execute(&db)
        .await
        .unwrap();
    let coming = sink.messages(3).await;
    assert_eq!(
        coming.iter().map(|m| m.to.as_str()).collect::<Vec<_>>(),
        ["ana@example.com", "bo@example.com", "li@example.com"]
    );
    for mail in &coming {
        let subject = mail.header("Subject").unwrap();
        assert!(subject.starts_with("Coming up: Database failover drill ("), "{subject}");
        assert!(mail.says(&format!("Open the game day: {}{}", day.app.base, day.url)));
    }
    assert!(coming[1].says("(America/New_York)"), "Bo's reminder is in his zone: {}", coming[1].decoded);
    sink.nothing_more().await;

    // Thirty minutes ahead: the hour-before reminder, once, whichever instance writes it.
    sqlx::query("update gamedays set starts_at = now() + interval '30 minutes' where id = $1")
        .bind(day.id)
        .execute(&db)
        .await
        .unwrap();
    let second = crate::helpers::spawn_app_with(db.clone(), {
        let smtp = sink.url();
        move |config| quick(config, Some(smtp))
    })
    .await;
    for mail in sink.messages(3).await {
        assert_eq!(mail.header("Subject").as_deref(), Some("In an hour: Database failover drill"));
    }
    sink.nothing_more().await;
    second.stop().await;

    // An action Li owns falls due tomorrow in her zone: she is reminded, once.
    let tomorrow: time::Date =
        sqlx::query_scalar("select (now() at time zone 'UTC')::date + 1").fetch_one(&db).await.unwrap();
    let team: uuid::Uuid =
        sqlx::query_scalar("select team_id from gamedays where id = $1").bind(day.id).fetch_one(&db).await.unwrap();
    let li = crate::helpers::user_id(&db, "li@example.com").await;
    sqlx::query(
        "insert into action_items (id, team_id, title, owner, due_on, created_by) values ($1, $2, 'Add the lag alert', $3, $4, $3)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(team)
    .bind(li)
    .bind(tomorrow)
    .execute(&db)
    .await
    .unwrap();
    let mail = sink.message().await;
    assert_eq!(mail.to, "li@example.com");
    assert_eq!(mail.header("Subject").as_deref(), Some("Due tomorrow: Add the lag alert"));
    assert!(mail.says(&format!("Open the actions: {}/teams/{}/actions", day.app.base, day.slug)));
    sink.nothing_more().await;
}

#[sqlx::test]
async fn a_published_retrospective_reaches_the_whole_team(db: PgPool) {
    let mut sink = Sink::start(&[]).await;
    let smtp = sink.url();
    let day = Day::with(db.clone(), move |config| quick(config, Some(smtp))).await;
    let scenario = day.scenario("Stop the primary").await;
    sink.messages(2).await;
    day.all_approve(&scenario).await;
    day.start().await;
    for what in ["announce", "inject", "rollback"] {
        assert_eq!(day.run(&day.ana, &scenario, what, &[]).await.status(), StatusCode::SEE_OTHER, "{what}");
    }
    sink.messages(2).await;
    day.run(&day.ana, &scenario, "conclude", &[("outcome", "refuted"), ("note", "")]).await;
    assert_eq!(day.step(&day.ana, "complete").await.status(), StatusCode::SEE_OTHER);
    let retro = format!("{}/retrospective", day.url);
    let response =
        day.app.post_as(&day.ana, &retro, &[("summary", "Failover took 40 s; the alert never fired.")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.app.post_as(&day.ana, &format!("{retro}/submit"), &[]).await.status(), StatusCode::SEE_OTHER);
    sink.nothing_more().await;
    assert_eq!(day.app.post_as(&day.ana, &format!("{retro}/publish"), &[]).await.status(), StatusCode::SEE_OTHER);
    let told = sink.messages(3).await;
    assert_eq!(
        told.iter().map(|m| m.to.as_str()).collect::<Vec<_>>(),
        ["bo@example.com", "li@example.com", "vi@example.com"],
        "every member of the team (Vi only views, and was not on the day), not Ana who published, not Eve who is in no team"
    );
    for mail in &told {
        assert_eq!(mail.header("Subject").as_deref(), Some("Retrospective published: Database failover drill"));
        assert!(mail.says(&format!("Read the retrospective: {}{retro}", day.app.base)));
    }
    sink.nothing_more().await;
}

#[sqlx::test]
async fn a_lead_emails_an_invite_link_to_someone_without_an_account(db: PgPool) {
    let mut sink = Sink::start(&[]).await;
    let smtp = sink.url();
    let day = Day::with(db.clone(), move |config| quick(config, Some(smtp))).await;
    let invites = format!("/teams/{}/invites", day.slug);
    let count =
        || async { sqlx::query_scalar::<_, i64>("select count(*) from team_invites").fetch_one(&db).await.unwrap() };
    let before = count().await;

    let bad = day.app.post_as(&day.ana, &invites, &[("role", "member"), ("email", "not an address")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("Enter an email address like"));
    assert_eq!(count().await, before, "no invite is made from a form that was refused");

    let response = day.app.post_as(&day.ana, &invites, &[("role", "viewer"), ("email", "Newcomer@Example.com")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = day.page(&day.ana, &format!("/teams/{}", day.slug)).await;
    assert!(page.contains("The invite link is on its way to newcomer@example.com"), "the lead is told");
    let mail = sink.message().await;
    assert_eq!(mail.to, "newcomer@example.com");
    assert_eq!(mail.header("Subject").as_deref(), Some("Ana invited you to Platform on Gameday"));
    assert!(mail.says("as a viewer"), "{}", mail.decoded);
    assert!(mail.header("List-Unsubscribe").is_none(), "a one-off message at the lead's asking");
    let link = mail.link(&format!("{}/invites/", day.app.base));
    assert!(page.contains(&link), "the same link the lead sees once");
    assert_eq!(new_client().get(&link).send().await.unwrap().status(), StatusCode::OK);
    let audit: Vec<String> =
        sqlx::query_scalar("select body from team_audit order by at desc limit 1").fetch_all(&db).await.unwrap();
    assert_eq!(audit, ["Ana created an invite link for a viewer and e-mailed it."]);
    assert!(!audit[0].contains("newcomer"), "the audit log, never rewritten, keeps no address");

    // Without an address, nothing is sent.
    assert_eq!(day.app.post_as(&day.ana, &invites, &[("role", "member")]).await.status(), StatusCode::SEE_OTHER);
    sink.nothing_more().await;
}
