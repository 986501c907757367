//! Sign-up, sign-in and sign-out pages.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::store::{self, CreateUserError};
use super::{AuthSession, Credentials, Email, THROTTLE_WINDOW_MINUTES, check_password, is_throttled};
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::web::{FlashKind, Layout, flash, render, render_status, safe_next, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signup", get(signup_page).post(signup))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
}

/// The client's address as this server saw it (the TCP peer).
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string())
            .unwrap_or_else(|| "unknown".to_owned());
        Ok(ClientAddr(addr))
    }
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
    Form(form): Form<SignupForm>,
) -> AppResult<Response> {
    let next = safe_next(form.next.as_deref());
    let mut errors = FieldErrors::new();
    let email = errors.check("email", Email::parse(&form.email));
    let display_name = errors.check("display_name", super::parse_display_name(&form.display_name));
    errors.check("password", check_password(&form.password));
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

    let hash = super::hash_password(form.password.clone()).await?;
    let mut tx = state.db.begin().await?;
    let user = match store::create_user(&mut tx, &email, &display_name, &hash).await {
        Ok(user) => user,
        Err(CreateUserError::EmailTaken) => {
            errors.add("email", "An account with this email already exists. Sign in instead.");
            return invalid(errors, layout);
        }
        Err(CreateUserError::Database(err)) => return Err(err.into()),
    };
    tx.commit().await?;
    tracing::info!(user_id = %user.id, admin = user.is_admin, "account created");

    auth.login(&user).await.map_err(|e| AppError::Internal(anyhow::anyhow!("login after sign-up: {e}")))?;
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

    let (account_failures, address_failures) = store::recent_signin_failures(&state.db, &email, &client_addr).await?;
    if is_throttled(account_failures, address_failures) {
        tracing::warn!(%client_addr, "sign-in throttled");
        errors.add(
            "form",
            format!("Too many failed sign-in attempts. Wait {THROTTLE_WINDOW_MINUTES} minutes before trying again."),
        );
        let mut response = render_status(StatusCode::TOO_MANY_REQUESTS, &page(errors, layout))?;
        let retry_after = HeaderValue::from(THROTTLE_WINDOW_MINUTES as u64 * 60);
        response.headers_mut().insert(header::RETRY_AFTER, retry_after);
        return Ok(response);
    }

    let creds = Credentials { email: email.clone(), password: form.password.clone() };
    let user = auth.authenticate(creds).await.map_err(|e| AppError::Internal(anyhow::anyhow!("authenticate: {e}")))?;
    let Some(user) = user else {
        store::record_signin_failure(&state.db, &email, &client_addr).await?;
        errors.add("form", "That email and password do not match an account.");
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page(errors, layout));
    };
    store::clear_signin_failures(&state.db, &email).await?;
    // axum-login gives the session a new id here (no session fixation).
    auth.login(&user).await.map_err(|e| AppError::Internal(anyhow::anyhow!("login: {e}")))?;
    Ok(see_other(next.as_deref().unwrap_or("/")))
}

async fn signout(mut auth: AuthSession) -> AppResult<Response> {
    // Ends the session: its row is deleted from the store.
    auth.logout().await.map_err(|e| AppError::Internal(anyhow::anyhow!("logout: {e}")))?;
    // The "signed out" message needs a session of its own; without a new id, tower-sessions would
    // store it under the id that was just ended.
    auth.session.cycle_id().await?;
    flash(&auth.session, FlashKind::Success, "You have signed out.").await?;
    Ok(see_other("/signin"))
}
