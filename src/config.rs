//! Configuration: environment variables, overridden by command-line flags.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

/// `gameday`: run chaos-engineering game days as a team.
#[derive(Debug, Parser)]
#[command(name = "gameday", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations, then serve the web app (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
}

/// Settings shared by every command.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// Address and port to listen on.
    #[arg(long, env = "GAMEDAY_BIND", default_value = "127.0.0.1:3000", global = true)]
    pub bind: SocketAddr,

    /// The URL people use to reach this server (links in invites; https makes cookies Secure).
    /// Defaults to http://<bind>.
    #[arg(long, env = "GAMEDAY_BASE_URL", global = true)]
    pub base_url: Option<String>,

    /// Maximum number of database connections in this instance's pool.
    #[arg(long, env = "GAMEDAY_DB_MAX_CONNECTIONS", default_value_t = 20, global = true)]
    pub db_max_connections: u32,

    /// Longest a request waits for a database connection from the pool, in milliseconds, before
    /// it is answered 503 with `Retry-After` (rather than queueing without bound).
    #[arg(long, env = "GAMEDAY_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 1000, global = true)]
    pub db_acquire_timeout_ms: u64,

    /// Longest one SQL statement may run (waiting for a lock included), in milliseconds, before
    /// PostgreSQL cancels it and the request is answered 503 with `Retry-After`; 0 turns it off.
    /// Keep it, with the acquire timeout, well below the request timeout.
    #[arg(long, env = "GAMEDAY_DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000, global = true)]
    pub db_statement_timeout_ms: u64,

    /// Longest one statement waits for a lock, in milliseconds (0: only the statement timeout
    /// applies). Shorter than the statement timeout, so a request whose statements queue behind
    /// one another's locks still ends within seconds.
    #[arg(long, env = "GAMEDAY_DB_LOCK_TIMEOUT_MS", default_value_t = 2000, global = true)]
    pub db_lock_timeout_ms: u64,

    /// Seconds a request may take before it is answered with a timeout.
    #[arg(long, env = "GAMEDAY_REQUEST_TIMEOUT_SECS", default_value_t = 30, global = true)]
    pub request_timeout_secs: u64,

    /// Addresses of reverse proxies (comma-separated IPs) whose X-Forwarded-For header names the
    /// real client, for sign-in throttling. Empty: the TCP peer is the client.
    #[arg(long, env = "GAMEDAY_TRUSTED_PROXIES", value_delimiter = ',', global = true)]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// How often the webhook worker looks for deliveries that are due, in milliseconds.
    #[arg(long, env = "GAMEDAY_WEBHOOK_POLL_MS", default_value_t = 1000, global = true)]
    pub webhook_poll_ms: u64,

    /// The first retry delay of a failed webhook delivery, in milliseconds (it doubles each time).
    #[arg(long, env = "GAMEDAY_WEBHOOK_RETRY_MS", default_value_t = 5000, global = true)]
    pub webhook_retry_ms: u64,

    /// Allow webhooks to loopback and private addresses (for local receivers in development
    /// and tests; off in production, so a webhook cannot probe the internal network).
    #[arg(long, env = "GAMEDAY_WEBHOOK_ALLOW_PRIVATE", global = true)]
    pub webhook_allow_private: bool,

    /// The networks a team's health checks may reach besides public addresses, comma-separated
    /// (`10.0.0.0/8,fd00::/8`). Loopback, private and link-local addresses are refused unless
    /// listed here (`make run` lists loopback, for a local service).
    #[arg(long, env = "GAMEDAY_HEALTH_CHECK_ALLOW", value_delimiter = ',', global = true)]
    pub health_check_allow: Vec<ipnet::IpNet>,

    /// How often the health-check worker looks for checks that are due, in milliseconds.
    #[arg(long, env = "GAMEDAY_HEALTH_CHECK_POLL_MS", default_value_t = 500, global = true)]
    pub health_check_poll_ms: u64,

    /// How often each instance checks open game days against the database whatever NOTIFY
    /// said, in milliseconds (a safety net; NOTIFY is the fast path).
    #[arg(long, env = "GAMEDAY_LIVE_CHECK_MS", default_value_t = 2000, global = true)]
    pub live_check_ms: u64,

    /// How often an open live stream that has sent nothing sends a keep-alive, in milliseconds;
    /// every second such tick also checks that its viewer is still signed in and in the team.
    #[arg(long, env = "GAMEDAY_LIVE_KEEP_ALIVE_MS", default_value_t = 15_000, global = true)]
    pub live_keep_alive_ms: u64,

    /// Live streams (open pages) one person may hold on this instance; opening one more closes
    /// their oldest, so a new tab always works. Each instance keeps its own count.
    #[arg(long, env = "GAMEDAY_LIVE_STREAMS_PER_PERSON", default_value_t = 8, global = true)]
    pub live_streams_per_person: usize,

    /// Live streams this instance holds open in all; beyond it a new one is answered 503 with
    /// `Retry-After` until one closes. Each instance keeps its own count.
    #[arg(long, env = "GAMEDAY_LIVE_STREAMS_MAX", default_value_t = 20_000, global = true)]
    pub live_streams_max: usize,

    /// Requests one API token may make a minute on this instance (a burst of them at once, then
    /// evenly spread); beyond it the API answers 429 with `Retry-After`. Each instance keeps its
    /// own count, so behind a load balancer of N instances a token may make up to N times this.
    #[arg(long, env = "GAMEDAY_API_RATE_PER_MINUTE", default_value_t = 600, global = true)]
    pub api_rate_per_minute: u32,

    /// The bearer token that `GET /metrics` (Prometheus format) requires. Unset, `/metrics`
    /// answers 404: the metrics are never public.
    #[arg(long, env = "GAMEDAY_METRICS_TOKEN", global = true, hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// The SMTP server e-mail goes through: `smtp://user:pass@host:587?tls=required` (STARTTLS),
    /// `smtps://user:pass@host:465` (TLS from the start), or `smtp://127.0.0.1:25` (no TLS: a
    /// relay on this machine only). Unset, e-mail is kept in the outbox, which administrators read
    /// at `/admin/outbox`.
    #[arg(long, env = "GAMEDAY_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// The sender of Gameday's e-mail.
    #[arg(long, env = "GAMEDAY_MAIL_FROM", default_value = "Gameday <gameday@localhost>", global = true)]
    pub mail_from: String,

    /// How often the e-mail worker looks for messages to send, in milliseconds.
    #[arg(long, env = "GAMEDAY_EMAIL_POLL_MS", default_value_t = 1000, global = true)]
    pub email_poll_ms: u64,

    /// The first retry delay of a message the SMTP server did not take, in milliseconds (it
    /// doubles each time, up to an hour; 8 attempts in all).
    #[arg(long, env = "GAMEDAY_EMAIL_RETRY_MS", default_value_t = 30_000, global = true)]
    pub email_retry_ms: u64,

    /// The OpenID Connect provider people may sign in with (its issuer URL, where
    /// `/.well-known/openid-configuration` is found). Unset: no single sign-on.
    #[arg(long, env = "GAMEDAY_OIDC_ISSUER", global = true)]
    pub oidc_issuer: Option<String>,

    /// This server's client ID at the provider (its redirect URI there is
    /// `<GAMEDAY_BASE_URL>/signin/sso/callback`).
    #[arg(long, env = "GAMEDAY_OIDC_CLIENT_ID", global = true)]
    pub oidc_client_id: Option<String>,

    /// This server's client secret at the provider, if it gave one (PKCE is used either way).
    #[arg(long, env = "GAMEDAY_OIDC_CLIENT_SECRET", global = true, hide_env_values = true)]
    pub oidc_client_secret: Option<String>,

    /// What the sign-in page calls the provider: "Sign in with <name>".
    #[arg(long, env = "GAMEDAY_OIDC_NAME", default_value = "single sign-on", global = true)]
    pub oidc_name: String,

    /// Whether a person the provider knows but Gameday does not gets an account at their first
    /// sign-in (with the address the provider verified). Off: only people who have an account
    /// (and linked it by signing in once with its password) may sign in with the provider.
    #[arg(long, env = "GAMEDAY_OIDC_SIGNUP", global = true)]
    pub oidc_signup: bool,

    /// Whether people may sign up and sign in with a password (`false` leaves single sign-on only,
    /// and needs `GAMEDAY_OIDC_ISSUER`).
    #[arg(long, env = "GAMEDAY_PASSWORD_SIGNIN", default_value = "true", global = true,
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub password_signin: bool,

    /// Log lines as JSON (for log shippers) instead of human-readable text.
    #[arg(long, env = "GAMEDAY_LOG_JSON", global = true)]
    pub log_json: bool,
}

impl Config {
    /// The base URL without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.bind),
        }
    }

    /// Whether cookies must be marked Secure (the site is served over https).
    pub fn secure_cookies(&self) -> bool {
        self.base_url().starts_with("https://")
    }

    /// The single sign-on provider's settings, if one is set; `Err` says what is missing.
    pub fn sso_settings(&self) -> Result<Option<crate::oidc::SsoSettings>, String> {
        let Some(issuer) = self.oidc_issuer.clone().filter(|issuer| !issuer.trim().is_empty()) else {
            if !self.password_signin {
                return Err(
                    "GAMEDAY_PASSWORD_SIGNIN is off but no GAMEDAY_OIDC_ISSUER is set: nobody could sign in".into()
                );
            }
            return Ok(None);
        };
        let client_id =
            self.oidc_client_id.clone().ok_or("GAMEDAY_OIDC_ISSUER is set but GAMEDAY_OIDC_CLIENT_ID is not")?;
        Ok(Some(crate::oidc::SsoSettings {
            issuer,
            client_id,
            client_secret: self.oidc_client_secret.clone().filter(|secret| !secret.is_empty()),
            name: self.oidc_name.clone(),
            redirect_url: format!("{}/signin/sso/callback", self.base_url()),
        }))
    }

    /// Checks the settings that only make sense together; what is wrong, if anything.
    pub fn check(&self) -> Result<(), String> {
        self.mail_from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| format!("GAMEDAY_MAIL_FROM is not an address ({e}): {}", self.mail_from))?;
        if let Some(url) = &self.smtp_url {
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
                .map_err(|e| format!("GAMEDAY_SMTP_URL does not parse: {e}"))?;
        }
        if let Some(settings) = self.sso_settings()? {
            crate::oidc::Sso::new(settings)?;
        }
        Ok(())
    }

    /// A configuration for tests and tools: everything at its default, on `bind`.
    pub fn for_bind(bind: SocketAddr) -> Self {
        Config {
            database_url: None,
            bind,
            base_url: None,
            db_max_connections: 20,
            db_acquire_timeout_ms: 1000,
            db_statement_timeout_ms: 5000,
            db_lock_timeout_ms: 2000,
            request_timeout_secs: 30,
            trusted_proxies: Vec::new(),
            webhook_poll_ms: 1000,
            webhook_retry_ms: 5000,
            webhook_allow_private: false,
            health_check_allow: Vec::new(),
            health_check_poll_ms: 500,
            live_check_ms: 2000,
            live_keep_alive_ms: 15_000,
            live_streams_per_person: 8,
            live_streams_max: 20_000,
            api_rate_per_minute: 600,
            metrics_token: None,
            smtp_url: None,
            mail_from: "Gameday <gameday@localhost>".into(),
            email_poll_ms: 1000,
            email_retry_ms: 30_000,
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_name: "single sign-on".into(),
            oidc_signup: false,
            password_signin: true,
            log_json: false,
        }
    }
}
