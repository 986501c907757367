//! Sign-up, sign-in (with its second step when two-factor is on) and sign-out pages.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};

use super::two_factor::{self, SecondFactor};
use super::{Credentials, Email, User, check_new_password};
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::form::safe_next;
use crate::state::AppState;
use crate::web::auth::{AuthSession, sign_in, sign_out};
use crate::web::client::{ClientAddr, UserAgent};
use crate::web::refusal::refused;
use crate::web::{FlashKind, Layout, flash, render, render_status, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signup", get(signup_page).post(signup))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/signin/code", get(code_page).post(code))
}

#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "accounts/signup.html")]
struct SignupPage {
    layout: Layout,
    email: String,
    display_name: String,
    next: Option<String>,
    errors: FieldErrors,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignupForm {
    email: String,
    display_name: String,
    password: String,
    next: Option<String>,
    /// The browser's zone, filled in by app.js; UTC without JavaScript (changeable later).
    time_zone: String,
}

async fn signup_page(layout: Layout, auth: AuthSession, Query(q): Query<NextQuery>) -> AppResult<Response> {
    let next = safe_next(q.next.as_deref());
    if auth.user.is_some() {
        return Ok(see_other(next.as_deref().unwrap_or("/")));
    }
    render(&SignupPage { layout, email: String::new(), display_name: String::new(), next, errors: FieldErrors::new() })
}

async fn signup(
    State(state): State<AppState>,
    mut auth: AuthSession,
    layout: Layout,
    ClientAddr(client_addr): ClientAddr,
    UserAgent(user_agent): UserAgent,
    Form(form): Form<SignupForm>,
) -> AppResult<Response> {
    let next = safe_next(form.next.as_deref());
    let mut errors = FieldErrors::new();
    let email = errors.check("email", Email::parse(&form.email));
    let display_name = errors.check("display_name", super::parse_display_name(&form.display_name));
    errors.check("password", check_new_password(&form.password, &[&form.email, &form.display_name]));
    let invalid = |errors: FieldErrors, layout: Layout| {
        render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SignupPage {
                layout,
                email: form.email.clone(),
                display_name: form.display_name.clone(),
                next: next.clone(),
                errors,
            },
        )
    };
    let (Some(email), Some(display_name), true) = (email, display_name, errors.is_empty()) else {
        return invalid(errors, layout);
    };

    if super::actions::count_signup_attempt(&state.db, &client_addr).await? {
        tracing::warn!(%client_addr, "sign-up throttled");
        errors.add("form", "Too many accounts were created from here in the last hour. Try again later.");
        let mut response = invalid(errors, layout)?;
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        let retry_after = HeaderValue::from(super::SIGNUP_WINDOW_MINUTES as u64 * 60);
        response.headers_mut().insert(header::RETRY_AFTER, retry_after);
        return Ok(response);
    }
    let time_zone = crate::tz::parse_zone_name(&form.time_zone).unwrap_or_else(|_| "UTC".to_owned());
    let password = form.password.clone();
    let user = match super::actions::sign_up(&state.db, &email, &display_name, password, &time_zone).await {
        Ok(user) => user,
        Err(err) => {
            refused(err, &mut errors)?;
            return invalid(errors, layout);
        }
    };

    sign_in(&mut auth, &state.db, &user, &user_agent, &client_addr).await?;
    flash(&auth.session, FlashKind::Success, format!("Welcome to Gameday, {}.", user.display_name)).await?;
    Ok(see_other(next.as_deref().unwrap_or("/")))
}

#[derive(Template)]
#[template(path = "accounts/signin.html")]
struct SigninPage {
    layout: Layout,
    email: String,
    next: Option<String>,
    errors: FieldErrors,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SigninForm {
    email: String,
    password: String,
    next: Option<String>,
}

async fn signin_page(layout: Layout, auth: AuthSession, Query(q): Query<NextQuery>) -> AppResult<Response> {
    let next = safe_next(q.next.as_deref());
    if auth.user.is_some() {
        return Ok(see_other(next.as_deref().unwrap_or("/")));
    }
    render(&SigninPage { layout, email: String::new(), next, errors: FieldErrors::new() })
}

async fn signin(
    State(state): State<AppState>,
    mut auth: AuthSession,
    layout: Layout,
    ClientAddr(client_addr): ClientAddr,
    UserAgent(user_agent): UserAgent,
    Form(form): Form<SigninForm>,
) -> AppResult<Response> {
    let next = safe_next(form.next.as_deref());
    let mut errors = FieldErrors::new();
    let page = |errors: FieldErrors, layout: Layout| SigninPage {
        layout,
        email: form.email.clone(),
        next: next.clone(),
        errors,
    };
    let email = errors.check("email", Email::parse(&form.email));
    if form.password.is_empty() {
        errors.add("password", "Password is required.");
    }
    let (Some(email), true) = (email, errors.is_empty()) else {
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page(errors, layout));
    };

    if let Some(wait) = super::actions::count_signin_attempt(&state.db, &email, &client_addr).await? {
        tracing::warn!(%client_addr, "sign-in throttled");
        let seconds = wait.whole_seconds().max(1) as u64;
        let when =
            if seconds <= 60 { format!("{seconds} seconds") } else { format!("{} minutes", seconds.div_ceil(60)) };
        errors.add("form", format!("Too many failed sign-in attempts from here. Wait {when} before trying again."));
        let mut response = render_status(StatusCode::TOO_MANY_REQUESTS, &page(errors, layout))?;
        let retry_after = HeaderValue::from(seconds);
        response.headers_mut().insert(header::RETRY_AFTER, retry_after);
        return Ok(response);
    }

    let creds = Credentials { email: email.clone(), password: form.password.clone() };
    let user = auth.authenticate(creds).await.map_err(|e| AppError::Internal(anyhow::anyhow!("authenticate: {e}")))?;
    let Some(user) = user else {
        errors.add("form", "That email and password do not match an account.");
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page(errors, layout));
    };
    if user.two_factor {
        // The password was right; the sign-in now waits for the second factor, and the attempt
        // keeps counting against the throttle until that is given too.
        auth.session.cycle_id().await?;
        let started = time::OffsetDateTime::now_utc().unix_timestamp();
        let pending = PendingSignin { user_id: user.id, next, started, auth_hash: user.auth_hash.clone(), wrong: 0 };
        auth.session.insert(PENDING_KEY, pending).await?;
        return Ok(see_other("/signin/code"));
    }
    super::actions::signed_in(&state.db, &email, &client_addr).await?;
    sign_in(&mut auth, &state.db, &user, &user_agent, &client_addr).await?;
    Ok(see_other(next.as_deref().unwrap_or("/")))
}

/// The session-store key of a sign-in whose password was right and which waits for its second
/// factor.
const PENDING_KEY: &str = "signin_pending";

#[derive(Serialize, Deserialize)]
struct PendingSignin {
    user_id: uuid::Uuid,
    next: Option<String>,
    /// When the password was given (Unix seconds): the second factor must follow within
    /// [`two_factor::PENDING_MINUTES`].
    started: i64,
    /// The password-hash digest when the password was given: a password changed since (or
    /// "sign out everywhere", which a thief would not survive either) voids the pending step.
    auth_hash: Vec<u8>,
    /// Wrong codes given to this pending sign-in: after [`two_factor::MAX_WRONG_CODES`] the
    /// password must be given again (besides the throttle per client).
    wrong: u32,
}

/// The sign-in waiting for its second factor, and its person, if it has not expired.
async fn pending_signin(state: &AppState, auth: &AuthSession) -> AppResult<Option<(PendingSignin, User)>> {
    let Some(pending) = auth.session.get::<PendingSignin>(PENDING_KEY).await? else { return Ok(None) };
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - pending.started;
    if !(0..two_factor::PENDING_MINUTES * 60).contains(&age) {
        auth.session.remove::<PendingSignin>(PENDING_KEY).await?;
        return Ok(None);
    }
    match super::store::user_by_id(&state.db, pending.user_id).await? {
        Some(user) if user.two_factor && user.auth_hash == pending.auth_hash => Ok(Some((pending, user))),
        _ => {
            auth.session.remove::<PendingSignin>(PENDING_KEY).await?;
            Ok(None)
        }
    }
}

#[derive(Template)]
#[template(path = "accounts/signin_code.html")]
struct CodePage {
    layout: Layout,
    errors: FieldErrors,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

async fn code_page(State(state): State<AppState>, layout: Layout, auth: AuthSession) -> AppResult<Response> {
    if pending_signin(&state, &auth).await?.is_none() {
        return Ok(see_other("/signin"));
    }
    render(&CodePage { layout, errors: FieldErrors::new() })
}

/// The second step of signing in: a code from the authenticator app, or a recovery code.
async fn code(
    State(state): State<AppState>,
    mut auth: AuthSession,
    layout: Layout,
    ClientAddr(client_addr): ClientAddr,
    UserAgent(user_agent): UserAgent,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let Some((pending, user)) = pending_signin(&state, &auth).await? else {
        flash(&auth.session, FlashKind::Error, "That sign-in took too long. Sign in again.").await?;
        return Ok(see_other("/signin"));
    };
    let mut errors = FieldErrors::new();
    let email = user.email_address()?;
    if let Some(wait) = super::actions::count_signin_attempt(&state.db, &email, &client_addr).await? {
        tracing::warn!(%client_addr, "second factor throttled");
        let minutes = wait.whole_minutes().max(1);
        errors.add("code", format!("Too many wrong codes from here. Wait {minutes} minute(s) before trying again."));
        let mut response = render_status(StatusCode::TOO_MANY_REQUESTS, &CodePage { layout, errors })?;
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.whole_seconds().max(1) as u64));
        return Ok(response);
    }
    let factor = match super::actions::check_second_factor(&state.db, &user, &form.code).await {
        Ok(Some(factor)) => factor,
        Ok(None) => {
            let mut pending = pending;
            pending.wrong += 1;
            if pending.wrong >= two_factor::MAX_WRONG_CODES {
                auth.session.remove::<PendingSignin>(PENDING_KEY).await?;
                flash(&auth.session, FlashKind::Error, "Too many wrong codes. Sign in again with your password.")
                    .await?;
                return Ok(see_other("/signin"));
            }
            auth.session.insert(PENDING_KEY, pending).await?;
            errors.add("code", "That code is not right, or was already used. Enter the newest code your app shows.");
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &CodePage { layout, errors });
        }
        Err(err) => {
            refused(err, &mut errors)?;
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &CodePage { layout, errors });
        }
    };
    auth.session.remove::<PendingSignin>(PENDING_KEY).await?;
    super::actions::signed_in(&state.db, &email, &client_addr).await?;
    sign_in(&mut auth, &state.db, &user, &user_agent, &client_addr).await?;
    if let SecondFactor::Recovery(_) = factor {
        let left = super::store::recovery_codes_left(&state.db, user.id).await?;
        let message = format!(
            "You signed in with a recovery code; {left} left. If you lost your phone, set up two-factor again from your account page."
        );
        flash(&auth.session, if left < 3 { FlashKind::Error } else { FlashKind::Success }, message).await?;
    }
    Ok(see_other(pending.next.as_deref().unwrap_or("/")))
}

async fn signout(State(state): State<AppState>, mut auth: AuthSession) -> AppResult<Response> {
    sign_out(&mut auth, &state.db).await?;
    flash(&auth.session, FlashKind::Success, "You have signed out.").await?;
    Ok(see_other("/signin"))
}
