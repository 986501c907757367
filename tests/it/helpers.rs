//! A real server per test, on a free loopback port, over a fresh database (`#[sqlx::test]`).

use gameday::app::serve;
use gameday::config::Config;
use gameday::state::AppState;
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use sqlx::PgPool;
use tokio::sync::oneshot;

pub struct TestApp {
    pub base: String,
    pub db: PgPool,
    pub client: Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Starts the app on 127.0.0.1 with a free port against `db` (already migrated by `#[sqlx::test]`).
pub async fn spawn_app(db: PgPool) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

/// Like [`spawn_app`], with the configuration adjusted first.
pub async fn spawn_app_with(db: PgPool, adjust: impl FnOnce(&mut Config)) -> TestApp {
    gameday::db::migrate(&db).await.expect("migrate");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let mut config = Config::for_bind(addr);
    adjust(&mut config);
    let state = AppState::new(db.clone(), config);
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, state, async {
        let _ = rx.await;
    }));
    TestApp { base: format!("http://{addr}"), db, client: new_client(), shutdown: Some(tx), server: Some(server) }
}

/// A client with its own cookie jar that does not follow redirects (tests look at them).
pub fn new_client() -> Client {
    Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.get_as(&self.client, path).await
    }

    pub async fn get_as(&self, client: &Client, path: &str) -> Response {
        client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.post_as(&self.client, path, form).await
    }

    pub async fn post_as(&self, client: &Client, path: &str, form: &[(&str, &str)]) -> Response {
        client.post(self.url(path)).form(form).send().await.expect("POST")
    }

    /// Signs up with `client` and returns it signed in.
    pub async fn signup_as(&self, client: &Client, email: &str, name: &str) {
        let form = [("email", email), ("display_name", name), ("password", "correct horse battery")];
        let response = self.signup_with(client, &form).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "sign-up of {email} should succeed");
    }

    /// Signs up with `form` as `client`, as a person would: the first account is made at once,
    /// any other when the link e-mailed to its address is followed (its page, then its button).
    /// The response that signed them in, or the sign-up's refusal.
    pub async fn signup_with(&self, client: &Client, form: &[(&str, &str)]) -> Response {
        let response = self.post_as(client, "/signup", form).await;
        if response.status() != StatusCode::OK {
            return response;
        }
        assert!(response.text().await.unwrap().contains("Check your e-mail"));
        let email = form.iter().find(|(name, _)| *name == "email").map(|(_, value)| value.trim().to_lowercase());
        let link = self.confirmation_link(&email.unwrap_or_default()).await.expect("a confirmation link was e-mailed");
        assert_eq!(self.get_as(client, &link).await.status(), StatusCode::OK, "the link's page opens");
        self.post_as(client, &link, &[]).await
    }

    /// The path of the newest sign-up confirmation link e-mailed to `email`, if any.
    pub async fn confirmation_link(&self, email: &str) -> Option<String> {
        let text: Option<String> = sqlx::query_scalar(
            "select body_text from email_outbox where to_address = $1 and kind = 'confirm_address' order by id desc limit 1",
        )
        .bind(email)
        .fetch_optional(&self.db)
        .await
        .unwrap();
        let text = text?;
        let start = text.find("/signup/confirm/")?;
        Some(text[start..].split_whitespace().next()?.to_owned())
    }

    /// A new client, signed up as a new user.
    pub async fn user(&self, email: &str, name: &str) -> Client {
        let client = new_client();
        self.signup_as(&client, email, name).await;
        client
    }

    /// Creates a team as `client` and returns its slug.
    pub async fn team(&self, client: &Client, name: &str) -> String {
        let response = self.post_as(client, "/teams", &[("name", name), ("slug", "")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "team creation should succeed");
        location(&response).trim_start_matches("/teams/").to_owned()
    }

    /// Creates an invite as `lead` for `role` and returns the invite path (`/invites/<token>`).
    pub async fn invite(&self, lead: &Client, slug: &str, role: &str) -> String {
        let response = self.post_as(lead, &format!("/teams/{slug}/invites"), &[("role", role)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let page = self.get_as(lead, &format!("/teams/{slug}")).await.text().await.unwrap();
        let start = page.find(&format!("{}/invites/", self.base)).expect("the team page shows the new invite link");
        let link = &page[start..];
        let end = link.find('"').unwrap();
        link[..end].trim_start_matches(&self.base).to_owned()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server");
        }
    }
}

pub fn location(response: &Response) -> String {
    response.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// The id of the user with this email.
pub async fn user_id(db: &PgPool, email: &str) -> uuid::Uuid {
    sqlx::query_scalar("select id from users where email = $1").bind(email).fetch_one(db).await.unwrap()
}
