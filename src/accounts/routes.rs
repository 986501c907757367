//! Sign-up, sign-in and sign-out pages.

use std::net::{IpAddr, SocketAddr};

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::{Credentials, Email, check_password};
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::form::safe_next;
use crate::state::AppState;
use crate::web::auth::{AuthSession, CurrentUser};
use crate::web::refusal::refused;
use crate::web::{FlashKind, Layout, flash, render, render_status, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signup", get(signup_page).post(signup))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/account", get(account_page).post(update_account))
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest
/// untrusted address in X-Forwarded-For.
pub struct ClientAddr(pub String);

/// Picks the client address from the peer and an X-Forwarded-For value.
pub fn client_addr(peer: Option<IpAddr>, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> String {
    let Some(peer) = peer else { return "unknown".to_owned() };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    let hops = forwarded_for.unwrap_or_default().split(',').rev().map(str::trim);
    for hop in hops {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip.to_string(),
            Err(_) => break,
        }
    }
    peer.to_string()
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        let forwarded = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        Ok(ClientAddr(client_addr(peer, forwarded, &state.config.trusted_proxies)))
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

    auth.session.cycle_id().await?;
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
    super::actions::signed_in(&state.db, &email).await?;
    // A new session id at every sign-in (axum-login cycles it only when nobody was signed in).
    auth.session.cycle_id().await?;
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

#[derive(Template)]
#[template(path = "accounts/account.html")]
struct AccountPage {
    layout: Layout,
    display_name: String,
    time_zone: String,
    zones: Vec<String>,
    errors: FieldErrors,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AccountForm {
    display_name: String,
    time_zone: String,
}

async fn account_page(layout: Layout, CurrentUser(user): CurrentUser) -> AppResult<Response> {
    let zones = crate::tz::zone_names();
    render(&AccountPage {
        layout,
        display_name: user.display_name,
        time_zone: user.time_zone,
        zones,
        errors: FieldErrors::new(),
    })
}

async fn update_account(
    State(state): State<AppState>,
    layout: Layout,
    session: tower_sessions::Session,
    CurrentUser(user): CurrentUser,
    Form(form): Form<AccountForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    let display_name = errors.check("display_name", super::parse_display_name(&form.display_name));
    let time_zone = errors.check("time_zone", crate::tz::parse_zone_name(&form.time_zone));
    let (Some(display_name), Some(time_zone)) = (display_name, time_zone) else {
        let zones = crate::tz::zone_names();
        let page = AccountPage { layout, display_name: form.display_name, time_zone: form.time_zone, zones, errors };
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    super::actions::update_profile(&state.db, &user, &display_name, &time_zone).await?;
    flash(&session, FlashKind::Success, format!("Saved. Times now show in {time_zone}.")).await?;
    Ok(see_other("/account"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(client_addr(Some(client), Some("1.2.3.4"), &[proxy]), "203.0.113.7", "spoofed header ignored");
        assert_eq!(client_addr(Some(proxy), Some("1.2.3.4, 203.0.113.7"), &[proxy]), "203.0.113.7");
        assert_eq!(client_addr(Some(proxy), Some("203.0.113.7, 10.0.0.1"), &[proxy]), "203.0.113.7");
        assert_eq!(client_addr(Some(proxy), None, &[proxy]), "10.0.0.1");
        assert_eq!(client_addr(None, None, &[]), "unknown");
    }
}
