//! Sign-up, sign-in (with its second step when two-factor is on) and sign-out pages.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};

use super::actions::{SignUp, SsoSignIn};
use super::two_factor::{self, SecondFactor};
use super::{Credentials, Email, User, check_new_password};
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::form::safe_next;
use crate::oidc;
use crate::state::AppState;
use crate::web::auth::{AuthSession, sign_in, sign_out};
use crate::web::client::{ClientAddr, UserAgent};
use crate::web::context::Path;
use crate::web::refusal::refused;
use crate::web::{FlashKind, Layout, flash, render, render_status, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signup", get(signup_page).post(signup))
        .route("/signup/confirm/{token}", get(confirm_page).post(confirm))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/signin/code", get(code_page).post(code))
        .route("/password/forgot", get(forgot_page).post(forgot))
        .route("/password/reset/{token}", get(reset_page).post(reset))
        .route("/signin/sso", get(sso_begin))
        .route("/signin/sso/callback", get(sso_callback))
}

#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "accounts/signup.html")]
struct SignupPage {
    layout: Layout,
    /// The provider's name, where a first sign-in through it makes an account.
    sso_signup: Option<String>,
    email: String,
    display_name: String,
    next: Option<String>,
    /// Whether the form was sent, and the answer is "check your e-mail".
    sent: bool,
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

/// The provider's name where a first sign-in through it makes an account.
fn sso_signup(state: &AppState) -> Option<String> {
    state.sso.as_ref().filter(|_| state.config.oidc_signup).map(|sso| sso.name().to_owned())
}

/// Where password sign-up and sign-in are turned off, the sign-in page (which offers single
/// sign-on) instead, keeping where to return to.
fn password_signin_off(next: Option<&str>) -> Response {
    match next {
        Some(next) => {
            see_other(&format!("/signin?{}", serde_urlencoded::to_string([("next", next)]).unwrap_or_default()))
        }
        None => see_other("/signin"),
    }
}

async fn signup_page(
    State(state): State<AppState>,
    layout: Layout,
    auth: AuthSession,
    Query(q): Query<NextQuery>,
) -> AppResult<Response> {
    let next = safe_next(q.next.as_deref());
    if auth.user.is_some() {
        return Ok(see_other(next.as_deref().unwrap_or("/")));
    }
    if !state.config.password_signin {
        return Ok(password_signin_off(next.as_deref()));
    }
    render(&SignupPage {
        layout,
        sso_signup: sso_signup(&state),
        email: String::new(),
        display_name: String::new(),
        next,
        sent: false,
        errors: FieldErrors::new(),
    })
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
    if !state.config.password_signin {
        let page = SigninPage::new(&state, &auth, layout, String::new(), next).await?;
        let page = page.with_error("Accounts are not made with a password here: sign in with single sign-on.");
        return render_status(StatusCode::FORBIDDEN, &page);
    }
    let mut errors = FieldErrors::new();
    let email = errors.check("email", Email::parse(&form.email));
    let display_name = errors.check("display_name", super::parse_display_name(&form.display_name));
    errors.check("password", check_new_password(&form.password, &[&form.email, &form.display_name]));
    let invalid = |errors: FieldErrors, layout: Layout| {
        render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SignupPage {
                layout,
                sso_signup: sso_signup(&state),
                email: form.email.clone(),
                display_name: form.display_name.clone(),
                next: next.clone(),
                sent: false,
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
    let base_url = state.config.base_url();
    let made =
        super::actions::sign_up(&state.db, &email, &display_name, password, &time_zone, next.as_deref(), &base_url)
            .await;
    match made {
        Ok(SignUp::Made(user)) => {
            sign_in(&mut auth, &state.db, &user, &user_agent, &client_addr).await?;
            let welcome = format!("Welcome to Gameday, {}. You are this server's administrator.", user.display_name);
            flash(&auth.session, FlashKind::Success, welcome).await?;
            Ok(see_other(next.as_deref().unwrap_or("/")))
        }
        Ok(SignUp::Confirm) => render(&SignupPage {
            layout,
            sso_signup: None,
            email: email.as_str().to_owned(),
            display_name: String::new(),
            next,
            sent: true,
            errors,
        }),
        Err(err) => {
            let status = refused(err, &mut errors)?;
            let mut response = invalid(errors, layout)?;
            *response.status_mut() = status;
            Ok(response)
        }
    }
}

#[derive(Template)]
#[template(path = "accounts/confirm.html")]
struct ConfirmPage {
    layout: Layout,
    token: String,
    /// The address and name of the account the link makes; none once it no longer works.
    signup: Option<(String, String)>,
}

impl ConfirmPage {
    fn gone(layout: Layout, token: String) -> AppResult<Response> {
        render_status(StatusCode::GONE, &ConfirmPage { layout, token, signup: None })
    }
}

/// The page a sign-up's e-mailed link opens: one button makes the account (a link alone does not,
/// so a mail program that opens links to scan them does not use it up).
async fn confirm_page(State(state): State<AppState>, layout: Layout, Path(token): Path<String>) -> AppResult<Response> {
    if !state.config.password_signin {
        return Err(AppError::NotFound);
    }
    match super::actions::signup_link(&state.db, &token).await? {
        Some(signup) => render(&ConfirmPage { layout, token, signup: Some((signup.email, signup.display_name)) }),
        None => ConfirmPage::gone(layout, token),
    }
}

/// Makes the account of a confirmed address and signs its person in (in the browser that follows
/// the link, which need not be the one that signed up).
async fn confirm(
    State(state): State<AppState>,
    mut auth: AuthSession,
    layout: Layout,
    ClientAddr(client_addr): ClientAddr,
    UserAgent(user_agent): UserAgent,
    Path(token): Path<String>,
) -> AppResult<Response> {
    if !state.config.password_signin {
        return Err(AppError::NotFound);
    }
    match super::actions::confirm_sign_up(&state.db, &token).await {
        Ok((user, next)) => {
            sign_in(&mut auth, &state.db, &user, &user_agent, &client_addr).await?;
            let welcome = format!("Your address is confirmed. Welcome to Gameday, {}.", user.display_name);
            flash(&auth.session, FlashKind::Success, welcome).await?;
            Ok(see_other(safe_next(next.as_deref()).as_deref().unwrap_or("/")))
        }
        Err(AppError::Gone(_)) => ConfirmPage::gone(layout, token),
        Err(AppError::Conflict(message)) => {
            flash(&auth.session, FlashKind::Error, message).await?;
            Ok(see_other("/signin"))
        }
        Err(err) => Err(err),
    }
}

#[derive(Template)]
#[template(path = "accounts/signin.html")]
struct SigninPage {
    layout: Layout,
    /// The single sign-on provider's name, if one is set.
    sso: Option<String>,
    /// Whether the email-and-password form is offered.
    password_signin: bool,
    /// Whether a first sign-in through the provider makes an account.
    sso_signup: bool,
    /// The address of an account that waits for its password before single sign-on is linked to it.
    link: Option<String>,
    email: String,
    next: Option<String>,
    errors: FieldErrors,
}

impl SigninPage {
    async fn new(
        state: &AppState,
        auth: &AuthSession,
        layout: Layout,
        email: String,
        next: Option<String>,
    ) -> AppResult<Self> {
        let link = match auth.session.get::<SsoLink>(SSO_LINK_KEY).await? {
            Some(link) if link.fresh() => Some(link.email),
            _ => None,
        };
        Ok(SigninPage {
            layout,
            sso: state.sso.as_ref().map(|sso| sso.name().to_owned()),
            password_signin: state.config.password_signin,
            sso_signup: state.config.oidc_signup,
            email: if email.is_empty() { link.clone().unwrap_or_default() } else { email },
            link,
            next,
            errors: FieldErrors::new(),
        })
    }

    fn with_error(mut self, message: impl Into<String>) -> Self {
        self.errors.add("form", message);
        self
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SigninForm {
    email: String,
    password: String,
    next: Option<String>,
}

async fn signin_page(
    State(state): State<AppState>,
    layout: Layout,
    auth: AuthSession,
    Query(q): Query<NextQuery>,
) -> AppResult<Response> {
    let next = safe_next(q.next.as_deref());
    if auth.user.is_some() {
        return Ok(see_other(next.as_deref().unwrap_or("/")));
    }
    render(&SigninPage::new(&state, &auth, layout, String::new(), next).await?)
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
    let mut page = SigninPage::new(&state, &auth, layout, form.email.clone(), next.clone()).await?;
    if !state.config.password_signin {
        let page = page.with_error("Signing in with a password is turned off here: use single sign-on.");
        return render_status(StatusCode::FORBIDDEN, &page);
    }
    let email = page.errors.check("email", Email::parse(&form.email));
    if form.password.is_empty() {
        page.errors.add("password", "Password is required.");
    }
    let (Some(email), true) = (email, page.errors.is_empty()) else {
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };

    if let Some(wait) = super::actions::count_signin_attempt(&state.db, &email, &client_addr).await? {
        tracing::warn!(%client_addr, "sign-in throttled");
        let seconds = wait.whole_seconds().max(1) as u64;
        let when =
            if seconds <= 60 { format!("{seconds} seconds") } else { format!("{} minutes", seconds.div_ceil(60)) };
        let page =
            page.with_error(format!("Too many failed sign-in attempts from here. Wait {when} before trying again."));
        let mut response = render_status(StatusCode::TOO_MANY_REQUESTS, &page)?;
        let retry_after = HeaderValue::from(seconds);
        response.headers_mut().insert(header::RETRY_AFTER, retry_after);
        return Ok(response);
    }

    let creds = Credentials { email: email.clone(), password: form.password.clone() };
    let user = auth.authenticate(creds).await.map_err(|e| AppError::Internal(anyhow::anyhow!("authenticate: {e}")))?;
    let Some(user) = user else {
        let page = page.with_error("That email and password do not match an account.");
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    if user.two_factor {
        return second_step(&auth, &user, next, false).await;
    }
    super::actions::signed_in(&state.db, &email, &client_addr).await?;
    sign_in(&mut auth, &state.db, &user, &user_agent, &client_addr).await?;
    link_waiting_identity(&state, &auth, &user).await?;
    Ok(see_other(next.as_deref().unwrap_or("/")))
}

/// The first factor was right (the password, or the single sign-on provider); the sign-in now
/// waits for the second, and the attempt keeps counting against the throttle until that is given too.
async fn second_step(auth: &AuthSession, user: &User, next: Option<String>, via_sso: bool) -> AppResult<Response> {
    auth.session.cycle_id().await?;
    let started = time::OffsetDateTime::now_utc().unix_timestamp();
    let pending =
        PendingSignin { user_id: user.id, next, started, auth_hash: user.auth_hash.clone(), wrong: 0, via_sso };
    auth.session.insert(PENDING_KEY, pending).await?;
    Ok(see_other("/signin/code"))
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
    /// Whether the first factor was the single sign-on provider (then no identity waiting to be
    /// linked is linked: that needs the password).
    #[serde(default)]
    via_sso: bool,
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
                let again = if pending.via_sso { "Sign in again." } else { "Sign in again with your password." };
                flash(&auth.session, FlashKind::Error, format!("Too many wrong codes. {again}")).await?;
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
    if !pending.via_sso {
        link_waiting_identity(&state, &auth, &user).await?;
    }
    if let SecondFactor::Recovery(_) = factor {
        let left = super::store::recovery_codes_left(&state.db, user.id).await?;
        let message = format!(
            "You signed in with a recovery code; {left} left. If you lost your phone, set up two-factor again from your account page."
        );
        flash(&auth.session, if left < 3 { FlashKind::Error } else { FlashKind::Success }, message).await?;
    }
    Ok(see_other(pending.next.as_deref().unwrap_or("/")))
}

/// The session-store key of a single sign-on started here and not finished yet.
const SSO_PENDING_KEY: &str = "sso_pending";

#[derive(Serialize, Deserialize)]
struct SsoPendingSignin {
    flow: oidc::Pending,
    next: Option<String>,
    time_zone: String,
}

/// The session-store key of an identity the provider vouched for whose address has an account
/// that is not linked to it: signing in with that account's password links them.
const SSO_LINK_KEY: &str = "sso_link";

#[derive(Serialize, Deserialize)]
struct SsoLink {
    issuer: String,
    subject: String,
    email: String,
    /// When the provider vouched for it (Unix seconds).
    started: i64,
}

impl SsoLink {
    /// Whether the password may still link it (within [`oidc::PENDING_MINUTES`]).
    fn fresh(&self) -> bool {
        (0..oidc::PENDING_MINUTES * 60).contains(&(unix_now() - self.started))
    }
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SsoStart {
    next: Option<String>,
    time_zone: String,
    /// Present: a signed-in person confirms who they are (before deleting their account).
    confirm: Option<String>,
}

/// Starts a single sign-on: the browser goes to the provider, with this session's `state`,
/// `nonce` and PKCE challenge. A link, not a form, so the page's `form-action 'self'` stays as it is.
async fn sso_begin(
    State(state): State<AppState>,
    layout: Layout,
    auth: AuthSession,
    Query(q): Query<SsoStart>,
) -> AppResult<Response> {
    let Some(sso) = state.sso.clone() else { return Err(AppError::NotFound) };
    // Signed in already, this signs in again (a fresh sign-in confirms an account deletion).
    let next = safe_next(q.next.as_deref());
    let confirm = q.confirm.is_some() && auth.user.is_some();
    let (url, flow) = match sso.begin(unix_now(), confirm).await {
        Ok(begun) => begun,
        Err(err) => return sso_refused(&state, &auth, layout, next, sso.name(), err).await,
    };
    let time_zone = crate::tz::parse_zone_name(&q.time_zone).unwrap_or_else(|_| "UTC".to_owned());
    auth.session.insert(SSO_PENDING_KEY, SsoPendingSignin { flow, next, time_zone }).await?;
    Ok(see_other(url.as_str()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SsoCallback {
    state: String,
    code: Option<String>,
    error: Option<String>,
}

/// Where the provider sends the browser back: the sign-in started in this session is finished
/// (once: it is taken out of the session first), its ID token verified, and the person found,
/// made, or asked for their password to link an account that has the address.
async fn sso_callback(
    State(state): State<AppState>,
    mut auth: AuthSession,
    layout: Layout,
    ClientAddr(client_addr): ClientAddr,
    UserAgent(user_agent): UserAgent,
    Query(q): Query<SsoCallback>,
) -> AppResult<Response> {
    let Some(sso) = state.sso.clone() else { return Err(AppError::NotFound) };
    let pending = auth.session.remove::<SsoPendingSignin>(SSO_PENDING_KEY).await?;
    let Some(SsoPendingSignin { flow, next, time_zone }) = pending else {
        return sso_refused(&state, &auth, layout, None, sso.name(), oidc::SsoError::State).await;
    };
    let finished = match (q.error, q.code) {
        // The provider's error code, bounded and quoted in the log (anyone can make up this URL).
        (Some(error), _) => Err(oidc::SsoError::Denied(format!("{:?}", error.chars().take(64).collect::<String>()))),
        (None, Some(code)) => {
            let confirm = flow.confirm;
            sso.finish(flow, &q.state, &code, unix_now()).await.map(|identity| (identity, confirm))
        }
        (None, None) => Err(oidc::SsoError::Denied("no code".into())),
    };
    let confirming = flow_confirms(&finished);
    let identity = match finished {
        Ok((identity, _)) => identity,
        Err(err) => return sso_refused(&state, &auth, layout, next, sso.name(), err).await,
    };
    if confirming {
        // A signed-in person confirming who they are: the identity must be theirs.
        let mine = match &auth.user {
            Some(user) => super::actions::identity_user(&state.db, &identity).await?.is_some_and(|u| u.id == user.id),
            None => false,
        };
        if !mine {
            flash(&auth.session, FlashKind::Error, format!("That {} sign-in is not this account's.", sso.name()))
                .await?;
            return Ok(see_other(next.as_deref().unwrap_or("/")));
        }
        auth.session.insert(super::SSO_CONFIRMED_KEY, unix_now()).await?;
        return Ok(see_other(next.as_deref().unwrap_or("/")));
    }
    let outcome =
        super::actions::sso_sign_in(&state.db, &identity, sso.name(), state.config.oidc_signup, &time_zone).await;
    let (user, created) = match outcome {
        Ok(SsoSignIn::Known(user)) => (user, false),
        Ok(SsoSignIn::Created(user)) => (user, true),
        Ok(SsoSignIn::LinkWithPassword(email)) if state.config.password_signin => {
            let link = SsoLink {
                issuer: identity.issuer,
                subject: identity.subject,
                email: email.as_str().to_owned(),
                started: unix_now(),
            };
            auth.session.insert(SSO_LINK_KEY, link).await?;
            let message = format!(
                "An account with {} already exists. Sign in with its password once to link {} to it; after that, {} signs you in.",
                email.as_str(),
                sso.name(),
                sso.name()
            );
            flash(&auth.session, FlashKind::Success, message).await?;
            let back =
                next.map(|next| format!("?{}", serde_urlencoded::to_string([("next", next)]).unwrap_or_default()));
            return Ok(see_other(&format!("/signin{}", back.unwrap_or_default())));
        }
        Ok(SsoSignIn::LinkWithPassword(email)) => {
            let page = SigninPage::new(&state, &auth, layout, String::new(), next).await?.with_error(format!(
                "An account with {} exists but is not linked to {}, and signing in with a password is turned off here. \
                 Ask your Gameday administrator to link it.",
                email.as_str(),
                sso.name()
            ));
            return render_status(StatusCode::FORBIDDEN, &page);
        }
        Err(AppError::Forbidden(message)) => {
            tracing::info!(issuer = %identity.issuer, "single sign-on refused (no account, or an unverified address)");
            let page = SigninPage::new(&state, &auth, layout, String::new(), next).await?.with_error(message);
            return render_status(StatusCode::FORBIDDEN, &page);
        }
        Err(err) => return Err(err),
    };
    if auth.user.is_some() {
        sign_out(&mut auth, &state.db).await?;
    }
    if user.two_factor {
        return second_step(&auth, &user, next, true).await;
    }
    sign_in(&mut auth, &state.db, &user, &user_agent, &client_addr).await?;
    if created {
        flash(&auth.session, FlashKind::Success, format!("Welcome to Gameday, {}.", user.display_name)).await?;
    }
    Ok(see_other(next.as_deref().unwrap_or("/")))
}

/// Whether a finished (or failed) sign-in was one that confirms who a signed-in person is.
fn flow_confirms(finished: &Result<(oidc::Identity, bool), oidc::SsoError>) -> bool {
    matches!(finished, Ok((_, true)))
}

/// The sign-in page, saying why a single sign-on did not sign the person in.
async fn sso_refused(
    state: &AppState,
    auth: &AuthSession,
    layout: Layout,
    next: Option<String>,
    provider: &str,
    err: oidc::SsoError,
) -> AppResult<Response> {
    use oidc::SsoError;
    tracing::warn!(reason = %err, "single sign-on did not sign anyone in");
    let (status, message) = match &err {
        SsoError::State => (
            StatusCode::BAD_REQUEST,
            format!(
                "That sign-in with {provider} was not started in this browser, or was finished already. Start again."
            ),
        ),
        SsoError::Expired => {
            (StatusCode::BAD_REQUEST, format!("That sign-in with {provider} took too long. Start again."))
        }
        SsoError::Denied(_) => {
            (StatusCode::UNAUTHORIZED, format!("{provider} did not sign you in (cancelled or refused there)."))
        }
        SsoError::Unavailable(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("{provider} cannot be reached right now. Try again in a minute."))
        }
        SsoError::NotFresh => (
            StatusCode::UNAUTHORIZED,
            format!(
                "{provider} did not ask you to sign in again just now, so this does not confirm it is you. Try again."
            ),
        ),
        SsoError::CodeRefused(_) | SsoError::Token(_) => (
            StatusCode::UNAUTHORIZED,
            format!(
                "{provider}'s answer could not be verified, so you are not signed in. Start again; if it keeps \
                 happening, tell your Gameday administrator."
            ),
        ),
    };
    let page = SigninPage::new(state, auth, layout, String::new(), next).await?.with_error(message);
    let mut response = render_status(status, &page)?;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(30u64));
    }
    Ok(response)
}

/// After a password sign-in: an identity the provider vouched for in this browser, whose address
/// is this account's, is linked to it.
async fn link_waiting_identity(state: &AppState, auth: &AuthSession, user: &User) -> AppResult<()> {
    let Some(link) = auth.session.remove::<SsoLink>(SSO_LINK_KEY).await? else { return Ok(()) };
    let provider = state.sso.as_ref().map(|sso| sso.name().to_owned()).unwrap_or_else(|| "Single sign-on".into());
    if !link.fresh() || link.email != user.email {
        return Ok(());
    }
    if super::actions::link_identity(&state.db, user, &link.issuer, &link.subject).await? {
        let message = format!("{provider} is now linked to your account: next time, sign in with {provider}.");
        flash(&auth.session, FlashKind::Success, message).await?;
    } else {
        let message =
            format!("That {provider} identity is linked to another account already, so it was not linked to this one.");
        flash(&auth.session, FlashKind::Error, message).await?;
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "accounts/forgot.html")]
struct ForgotPage {
    layout: Layout,
    email: String,
    /// Whether the request was taken (the page then says what happens next, whatever the address).
    sent: bool,
    errors: FieldErrors,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ForgotForm {
    email: String,
}

async fn forgot_page(State(state): State<AppState>, layout: Layout) -> AppResult<Response> {
    if !state.config.password_signin {
        return Err(AppError::NotFound);
    }
    render(&ForgotPage { layout, email: String::new(), sent: false, errors: FieldErrors::new() })
}

/// Sends a reset link if the address has an account, and answers the same whether or not it does.
async fn forgot(State(state): State<AppState>, layout: Layout, Form(form): Form<ForgotForm>) -> AppResult<Response> {
    if !state.config.password_signin {
        return Err(AppError::NotFound);
    }
    let mut errors = FieldErrors::new();
    let Some(email) = errors.check("email", Email::parse(&form.email)) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ForgotPage { layout, email: form.email, sent: false, errors },
        );
    };
    // No throttle is needed to keep this from telling anything (the answer is the same for every
    // address); a person's mailbox is kept from filling by at most three open links.
    super::actions::request_password_reset(&state.db, &email, &state.config.base_url()).await?;
    render(&ForgotPage { layout, email: email.as_str().to_owned(), sent: true, errors })
}

#[derive(Template)]
#[template(path = "accounts/reset.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    /// The address the link is for; none once it no longer works.
    email: Option<String>,
    errors: FieldErrors,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResetForm {
    new_password: String,
}

async fn reset_page(State(state): State<AppState>, layout: Layout, Path(token): Path<String>) -> AppResult<Response> {
    if !state.config.password_signin {
        return Err(AppError::NotFound);
    }
    match super::actions::reset_link_user(&state.db, &token).await? {
        Some(user) => render(&ResetPage { layout, token, email: Some(user.email), errors: FieldErrors::new() }),
        None => render_status(StatusCode::GONE, &ResetPage { layout, token, email: None, errors: FieldErrors::new() }),
    }
}

/// Sets the new password; the person then signs in with it (every session they had is ended).
async fn reset(
    State(state): State<AppState>,
    auth: AuthSession,
    layout: Layout,
    Path(token): Path<String>,
    Form(form): Form<ResetForm>,
) -> AppResult<Response> {
    if !state.config.password_signin {
        return Err(AppError::NotFound);
    }
    match super::actions::reset_password(&state.db, &token, form.new_password).await {
        Ok(_) => {
            flash(
                &auth.session,
                FlashKind::Success,
                "Your new password is set, and every session you had is signed out. Sign in with it.",
            )
            .await?;
            Ok(see_other("/signin"))
        }
        Err(AppError::Gone(_)) => {
            render_status(StatusCode::GONE, &ResetPage { layout, token, email: None, errors: FieldErrors::new() })
        }
        Err(err) => {
            let mut errors = FieldErrors::new();
            let status = refused(err, &mut errors)?;
            let email = super::actions::reset_link_user(&state.db, &token).await?.map(|user| user.email);
            render_status(status, &ResetPage { layout, token, email, errors })
        }
    }
}

async fn signout(State(state): State<AppState>, mut auth: AuthSession) -> AppResult<Response> {
    sign_out(&mut auth, &state.db).await?;
    flash(&auth.session, FlashKind::Success, "You have signed out.").await?;
    Ok(see_other("/signin"))
}
