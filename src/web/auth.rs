//! Sign-in at the web level: the axum-login backend over PostgreSQL and Argon2id hashes, the
//! session type, and the [`CurrentUser`] extractor that sends a visitor to the sign-in page.

use axum_login::{AuthUser, AuthnBackend};
use sqlx::PgPool;
use uuid::Uuid;

use super::sessions::ACCOUNT_SESSION_KEY;
use super::{FlashKind, flash};
use crate::accounts::{self, Credentials, User, store};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

impl AuthUser for User {
    type Id = Uuid;

    fn id(&self) -> Uuid {
        self.id
    }

    /// Sessions are bound to a digest of the password hash: changing the password ends every
    /// other session, and the session store never holds the hash itself.
    fn session_auth_hash(&self) -> &[u8] {
        &self.auth_hash
    }
}

/// The axum-login backend: finds users in PostgreSQL and checks Argon2id hashes.
#[derive(Clone)]
pub struct Backend {
    db: PgPool,
}

impl Backend {
    pub fn new(db: PgPool) -> Self {
        Backend { db }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Database(sqlx::Error),
    #[error(transparent)]
    TaskJoin(#[from] tokio::task::JoinError),
}

/// The sign-in layer answers a failure of the backend with a bare 500: one that means the
/// database cannot serve now is noted, so the web layer answers 503 with `Retry-After` instead.
impl From<sqlx::Error> for BackendError {
    fn from(err: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&err) {
            crate::db::note_unavailable(crate::db::trouble_of(&err));
        }
        BackendError::Database(err)
    }
}

/// A hash of a random password, checked against when an email is unknown, so that the time a
/// failed sign-in takes does not tell whether the account exists.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| password_auth::generate_hash(Uuid::new_v4().to_string()));

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = Credentials;
    type Error = BackendError;

    async fn authenticate(&self, creds: Credentials) -> Result<Option<User>, BackendError> {
        let user = store::user_by_email(&self.db, &creds.email).await?;
        let hash = match &user {
            Some(user) => user.password_hash.clone(),
            None => DUMMY_HASH.clone(),
        };
        let password = creds.password;
        let matches =
            tokio::task::spawn_blocking(move || password_auth::verify_password(password, &hash).is_ok()).await?;
        Ok(user.filter(|_| matches))
    }

    /// The person as this request's session load found them (same statement, moments ago), else
    /// from the database.
    async fn get_user(&self, user_id: &Uuid) -> Result<Option<User>, BackendError> {
        if let Some(user) = super::sessions::take_loaded_user(*user_id) {
            return Ok(user);
        }
        Ok(store::user_by_id(&self.db, *user_id).await?)
    }
}

pub type AuthSession = axum_login::AuthSession<Backend>;

/// The path of the Referer header if it points at this same host.
fn same_origin_referer(parts: &axum::http::request::Parts) -> Option<String> {
    let host = parts.headers.get(axum::http::header::HOST)?.to_str().ok()?;
    let referer = parts.headers.get(axum::http::header::REFERER)?.to_str().ok()?;
    let rest = referer.strip_prefix("https://").or_else(|| referer.strip_prefix("http://"))?;
    let path = rest.strip_prefix(host)?;
    path.starts_with('/').then(|| path.to_owned())
}

/// The same-origin page a form was posted from (its Referer's path and query), if any: where a
/// form that can sit on more than one page returns to.
pub struct FromPage(pub Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for FromPage {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(FromPage(crate::form::safe_next(same_origin_referer(parts).as_deref())))
    }
}

/// The way to the sign-in page, which returns to this page after.
fn to_sign_in(parts: &axum::http::request::Parts) -> axum::response::Response {
    use axum::response::{IntoResponse, Redirect};
    // After sign-in the browser comes back with a GET: for a form post, that is the page the form
    // was on (its same-origin Referer), not the POST-only address.
    let back = if parts.method == axum::http::Method::GET {
        parts.uri.path_and_query().map(|pq| pq.as_str().to_owned())
    } else {
        same_origin_referer(parts)
    };
    let back = crate::form::safe_next(back.as_deref()).unwrap_or_else(|| "/".to_owned());
    let query = serde_urlencoded::to_string([("next", back)]).unwrap_or_default();
    Redirect::to(&format!("/signin?{query}")).into_response()
}

/// The signed-in user; a request without one is sent to the sign-in page, which returns here after.
pub struct CurrentUser(pub User);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CurrentUser {
    type Rejection = axum::response::Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<AuthSession>().and_then(|auth| auth.user.clone()) {
            Some(user) => Ok(CurrentUser(user)),
            None => Err(to_sign_in(parts)),
        }
    }
}

/// The `account_sessions` id of this signed-in session, if any.
pub async fn account_session(auth: &AuthSession) -> AppResult<Option<Uuid>> {
    Ok(auth.session.get::<Uuid>(ACCOUNT_SESSION_KEY).await?)
}

/// Signs `user` in on this session: a new session id (never the one a visitor had), the user in
/// the session store, and a row in `account_sessions` that lists it and can end it.
pub async fn sign_in(
    auth: &mut AuthSession,
    db: &PgPool,
    user: &User,
    user_agent: &str,
    client_addr: &str,
) -> AppResult<()> {
    // A new session id at every sign-in (axum-login cycles it only when nobody was signed in).
    auth.session.cycle_id().await?;
    auth.login(user).await.map_err(|e| AppError::Internal(anyhow::anyhow!("login: {e}")))?;
    let id = accounts::actions::start_session(db, user, user_agent, client_addr).await?;
    auth.session.insert(ACCOUNT_SESSION_KEY, id).await?;
    Ok(())
}

/// Signs this session out: its `account_sessions` row and its stored data go.
pub async fn sign_out(auth: &mut AuthSession, db: &PgPool) -> AppResult<()> {
    if let (Some(user), Some(id)) = (auth.user.clone(), account_session(auth).await?) {
        // Already ended elsewhere is fine: signing out is what was wanted.
        let _ = accounts::actions::end_session(db, &user, id).await;
    }
    auth.logout().await.map_err(|e| AppError::Internal(anyhow::anyhow!("logout: {e}")))?;
    // Whatever is stored next (a flash message) needs a session of its own; without a new id,
    // tower-sessions would store it under the id that was just ended.
    auth.session.cycle_id().await?;
    Ok(())
}

/// Middleware inside the auth layer: a signed-in session whose `account_sessions` row is gone
/// (ended from another device, by a password change, or by "sign out everywhere") or past its
/// absolute lifetime is signed out and sent to the sign-in page (which says why, and returns here).
/// The session's load has checked it already (see `web::sessions`); a request it did not check
/// asks the database. The handler runs in a `handler` span (at debug level), so that what the
/// session and sign-in layers cost a request can be told from what its page costs.
pub async fn check_session(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use tracing::Instrument;
    let handler = |request| next.run(request).instrument(tracing::debug_span!("handler"));
    let Some(mut auth) = request.extensions().get::<AuthSession>().cloned() else {
        return handler(request).await;
    };
    let Some(user) = auth.user.clone() else {
        return handler(request).await;
    };
    let outcome = async {
        let id = account_session(&auth).await?;
        let checked = id.and_then(|id| super::sessions::take_loaded_account_session(user.id, id).map(|s| (id, s)));
        let may_continue = match checked {
            Some((id, alive)) => accounts::actions::settle_session(&state.db, &user, id, alive).await?,
            None => accounts::actions::session_may_continue(&state.db, &user, id).await?,
        };
        if may_continue {
            return Ok::<bool, AppError>(true);
        }
        auth.logout().await.map_err(|e| AppError::Internal(anyhow::anyhow!("logout: {e}")))?;
        auth.session.cycle_id().await?;
        flash(&auth.session, FlashKind::Error, "Your session has ended. Please sign in again.").await?;
        Ok(false)
    }
    .await;
    match outcome {
        Ok(true) => handler(request).await,
        Ok(false) => {
            tracing::info!(user_id = %user.id, "an ended session was signed out");
            to_sign_in(&request.into_parts().0)
        }
        Err(err) => err.into_response(),
    }
}
