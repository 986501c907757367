//! Single sign-on with an OpenID Connect provider, as a relying party (the `openidconnect` crate):
//! the authorization code flow with PKCE, a `state` and a `nonce` per sign-in, and the provider's
//! endpoints and signing keys found by discovery. This file speaks the protocol only; who an
//! identity is in Gameday is decided in `accounts`.
//!
//! A sign-in is two requests of one browser: [`Sso::begin`] gives the provider's address to send
//! the browser to and a [`Pending`] sign-in kept in the session (never in a cookie of its own); the
//! provider sends the browser back with a code and the `state`, and [`Sso::finish`] checks the
//! `state`, swaps the code (with the PKCE verifier) for an ID token at the provider, and verifies
//! the token: its signature (against the provider's published keys), issuer, audience, expiry and
//! the `nonce` of this very sign-in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// How long the provider's discovery document and keys are used before they are fetched again
/// (a provider that rotates its keys publishes the new one well before it signs with it).
const METADATA_TTL: Duration = Duration::from_secs(300);

/// How long a started sign-in may take at the provider (typing a password, a second factor).
pub const PENDING_MINUTES: i64 = 15;

/// How recently the provider must have checked the person (`auth_time`) for a sign-in that
/// confirms who they are (before an account is deleted).
pub const CONFIRM_SECONDS: i64 = 300;

/// The settings of the provider, from `GAMEDAY_OIDC_*`.
#[derive(Clone)]
pub struct SsoSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// What the sign-in button calls the provider ("Sign in with …").
    pub name: String,
    /// This server's address for the provider to send people back to.
    pub redirect_url: String,
}

// Hand-written so that the client secret never reaches a log line.
impl std::fmt::Debug for SsoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Sso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sso").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// The provider, with its discovery document cached.
pub struct Sso {
    settings: SsoSettings,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: reqwest::Client,
    metadata: Mutex<Option<(Instant, Arc<CoreProviderMetadata>)>>,
}

/// A sign-in started here and not finished yet: kept in the person's session, used once.
#[derive(Serialize, Deserialize)]
pub struct Pending {
    state: String,
    nonce: String,
    pkce_verifier: String,
    /// When it was started (Unix seconds).
    pub started: i64,
    /// Whether it confirms who the person is: the provider is asked to check them again
    /// (`prompt=login`, `max_age=0`), and the token must say it just did (`auth_time`).
    #[serde(default)]
    pub confirm: bool,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("started", &self.started).finish_non_exhaustive()
    }
}

/// Who the provider says signed in (from a verified ID token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    /// The provider's `email_verified` claim (absent counts as not verified).
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Why a sign-in could not be finished.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The `state` that came back is not the one this session sent, or no sign-in was started
    /// here (a forged or replayed callback, or a second tab).
    #[error("the state does not match a sign-in started in this session")]
    State,
    /// The sign-in was started too long ago.
    #[error("the sign-in was started more than {PENDING_MINUTES} minutes ago")]
    Expired,
    /// The provider sent the person back with an error (they cancelled, or were refused).
    #[error("the provider answered {0}")]
    Denied(String),
    /// The provider could not be reached, or answered what is not OpenID Connect.
    #[error("the provider could not be reached: {0}")]
    Unavailable(String),
    /// The provider refused the code (used already, or the PKCE verifier did not match).
    #[error("the provider refused the code: {0}")]
    CodeRefused(String),
    /// The ID token did not verify: signature, issuer, audience, expiry or nonce.
    #[error("the ID token was rejected: {0}")]
    Token(String),
    /// A confirming sign-in whose token does not say the provider checked the person just now.
    #[error("the provider did not check the person again (auth_time missing or older than {CONFIRM_SECONDS} s)")]
    NotFresh,
}

impl Sso {
    /// The provider of these settings; `Err` names what is wrong with them.
    pub fn new(settings: SsoSettings) -> Result<Sso, String> {
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| format!("GAMEDAY_OIDC_ISSUER is not a URL ({e}): {}", settings.issuer))?;
        let redirect = RedirectUrl::new(settings.redirect_url.clone()).map_err(|e| format!("redirect URL: {e}"))?;
        if settings.client_id.trim().is_empty() {
            return Err("GAMEDAY_OIDC_CLIENT_ID is empty".into());
        }
        let http = reqwest::Client::builder()
            // Following redirects would let a provider's answer send this server anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Sso { settings, issuer, redirect, http, metadata: Mutex::new(None) })
    }

    /// What the sign-in button calls the provider.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The provider's discovery document and keys, fetched at most every [`METADATA_TTL`].
    async fn metadata(&self) -> Result<Arc<CoreProviderMetadata>, SsoError> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, metadata)) = cached.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| SsoError::Unavailable(error_chain(&e)))?;
        let metadata = Arc::new(metadata);
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    /// Forgets the cached discovery document (after a token whose key was not among those known).
    async fn forget_metadata(&self) {
        *self.metadata.lock().await = None;
    }

    fn client(
        &self,
        metadata: &CoreProviderMetadata,
    ) -> CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// Starts a sign-in: where to send the browser, and what to keep in its session until it
    /// comes back.
    /// `confirm` asks the provider to check the person again whatever session it has with them.
    pub async fn begin(&self, now_unix: i64, confirm: bool) -> Result<(url::Url, Pending), SsoError> {
        let metadata = self.metadata().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client(&metadata);
        let mut request = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge);
        if confirm {
            request = request.add_prompt(CoreAuthPrompt::Login).set_max_age(Duration::ZERO);
        }
        let (url, state, nonce) = request.url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            started: now_unix,
            confirm,
        };
        Ok((url, pending))
    }

    /// Finishes a sign-in the provider sent back with `code` and `state` (`pending` is what
    /// [`Sso::begin`] gave, taken from the session so it cannot be used twice).
    pub async fn finish(&self, pending: Pending, state: &str, code: &str, now_unix: i64) -> Result<Identity, SsoError> {
        use subtle::ConstantTimeEq;
        if !bool::from(pending.state.as_bytes().ct_eq(state.as_bytes())) {
            return Err(SsoError::State);
        }
        if !(0..PENDING_MINUTES * 60).contains(&(now_unix - pending.started)) {
            return Err(SsoError::Expired);
        }
        let metadata = self.metadata().await?;
        let client = self.client(&metadata);
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| SsoError::Unavailable(format!("the provider publishes no token endpoint: {e}")))?;
        let tokens = request
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(answer) => SsoError::CodeRefused(answer.to_string()),
                other => SsoError::Unavailable(error_chain(&other)),
            })?;
        let id_token = tokens.id_token().ok_or_else(|| SsoError::Token("the provider sent no ID token".into()))?;
        let verifier = client.id_token_verifier();
        let confirm = pending.confirm;
        let claims = match id_token.claims(&verifier, &Nonce::new(pending.nonce)) {
            Ok(claims) => claims,
            Err(err) => {
                if let ClaimsVerificationError::SignatureVerification(_) = err {
                    // Perhaps a key published since the keys were fetched: fetch them next time.
                    self.forget_metadata().await;
                }
                return Err(SsoError::Token(err.to_string()));
            }
        };
        if confirm {
            let checked = claims.auth_time().map(|at| at.timestamp());
            if checked.is_none_or(|at| (now_unix - at).abs() > CONFIRM_SECONDS) {
                return Err(SsoError::NotFresh);
            }
        }
        Ok(Identity {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            email: claims.email().map(|email| email.to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims.name().and_then(|name| name.get(None)).map(|name| name.to_string()),
        })
    }
}

/// An error and its sources on one line (for the log and the person's message).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sso() -> Sso {
        Sso::new(SsoSettings {
            issuer: "https://id.example.com".into(),
            client_id: "gameday".into(),
            client_secret: None,
            name: "Example".into(),
            redirect_url: "https://gameday.example.com/signin/sso/callback".into(),
        })
        .unwrap()
    }

    fn pending(state: &str, started: i64) -> Pending {
        Pending { state: state.into(), nonce: "n".into(), pkce_verifier: "v".repeat(43), started, confirm: false }
    }

    #[tokio::test]
    async fn a_state_that_is_not_this_sessions_is_refused_before_the_provider_is_asked() {
        // The issuer is not reachable from here: an answer other than `State` would mean it was asked.
        let err = sso().finish(pending("expected", 1000), "forged", "code", 1001).await.unwrap_err();
        assert!(matches!(err, SsoError::State), "{err:?}");
        let err = sso().finish(pending("expected", 1000), "", "code", 1001).await.unwrap_err();
        assert!(matches!(err, SsoError::State), "{err:?}");
    }

    #[tokio::test]
    async fn a_sign_in_started_too_long_ago_is_refused() {
        let late = 1000 + PENDING_MINUTES * 60;
        let err = sso().finish(pending("s", 1000), "s", "code", late).await.unwrap_err();
        assert!(matches!(err, SsoError::Expired), "{err:?}");
    }

    #[test]
    fn settings_that_cannot_work_are_named() {
        let mut settings = sso().settings.clone();
        settings.issuer = "not a url".into();
        assert!(Sso::new(settings.clone()).unwrap_err().contains("GAMEDAY_OIDC_ISSUER"));
        settings.issuer = "https://id.example.com".into();
        settings.client_id = " ".into();
        assert!(Sso::new(settings.clone()).unwrap_err().contains("GAMEDAY_OIDC_CLIENT_ID"));
        settings.client_id = "gameday".into();
        settings.client_secret = Some("hunter2-secret".into());
        let shown = format!("{:?}", Sso::new(settings).unwrap());
        assert!(!shown.contains("hunter2") && shown.contains("id.example.com"), "{shown}");
    }
}
