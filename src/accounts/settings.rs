//! The account settings a signed-in person manages: name and time zone, password, where they
//! are signed in, two-factor sign-in with its recovery codes, and deleting the account.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::two_factor;
use super::{AccountSession, User};
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::state::AppState;
use crate::web::auth::{AuthSession, CurrentUser, account_session, sign_out};
use crate::web::client::ClientAddr;
use crate::web::context::Path;
use crate::web::refusal::refused;
use crate::web::{FlashKind, Layout, flash, render, render_status, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(account_page).post(update_account))
        .route("/account/password", post(change_password))
        .route("/account/sessions/{id}/end", post(end_session))
        .route("/account/sessions/end-all", post(end_all_sessions))
        .route("/account/two-factor", get(two_factor_page).post(enable_two_factor))
        .route("/account/two-factor/recovery-codes", post(renew_recovery_codes))
        .route("/account/two-factor/disable", post(disable_two_factor))
        .route("/account/delete", get(delete_page).post(delete_account))
}

#[derive(Template)]
#[template(path = "accounts/account.html")]
struct AccountPage {
    layout: Layout,
    display_name: String,
    time_zone: String,
    zones: Vec<String>,
    sessions: Vec<AccountSession>,
    /// This session's id, marked "this browser" in the list.
    this_session: Option<uuid::Uuid>,
    two_factor: bool,
    /// Whether the account has a password (else it signs in through single sign-on only).
    has_password: bool,
    /// The single sign-on provider's name, where one is set.
    sso: Option<String>,
    /// Whether an identity at the provider is linked to this account.
    sso_linked: bool,
    email: String,
    /// Each kind of e-mail a person may turn off: its form name, its label, whether they get it.
    email_kinds: Vec<(&'static str, &'static str, bool)>,
    errors: FieldErrors,
}

impl AccountPage {
    async fn new(state: &AppState, auth: &AuthSession, layout: Layout, user: &User) -> AppResult<AccountPage> {
        Ok(AccountPage {
            layout,
            display_name: user.display_name.clone(),
            time_zone: user.time_zone.clone(),
            zones: crate::tz::zone_names(),
            sessions: super::store::sessions_of(&state.db, user.id).await?,
            this_session: account_session(auth).await?,
            two_factor: user.two_factor,
            has_password: user.has_password(),
            sso: state.sso.as_ref().map(|sso| sso.name().to_owned()),
            sso_linked: !super::store::identity_issuers(&state.db, user.id).await?.is_empty(),
            email: user.email.clone(),
            email_kinds: {
                let off = crate::email::store::opted_out(&state.db, user.id).await?;
                crate::email::Kind::CHOOSABLE
                    .iter()
                    .map(|kind| (kind.as_str(), kind.label(), !off.iter().any(|k| k == kind.as_str())))
                    .collect()
            },
            errors: FieldErrors::new(),
        })
    }

    /// Whether `session` is the one this page was asked from.
    fn is_this(&self, session: &AccountSession) -> bool {
        self.this_session == Some(session.id)
    }

    /// A session's sign-in and last-use times, in the viewer's zone.
    fn when(&self, at: &time::OffsetDateTime) -> String {
        crate::tz::format_local(at, &self.time_zone)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AccountForm {
    display_name: String,
    time_zone: String,
}

async fn account_page(
    State(state): State<AppState>,
    auth: AuthSession,
    layout: Layout,
    CurrentUser(user): CurrentUser,
) -> AppResult<Response> {
    render(&AccountPage::new(&state, &auth, layout, &user).await?)
}

async fn update_account(
    State(state): State<AppState>,
    layout: Layout,
    auth: AuthSession,
    CurrentUser(user): CurrentUser,
    Form(form): Form<AccountForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    let display_name = errors.check("display_name", super::parse_display_name(&form.display_name));
    let time_zone = errors.check("time_zone", crate::tz::parse_zone_name(&form.time_zone));
    let (Some(display_name), Some(time_zone)) = (display_name, time_zone) else {
        let page = AccountPage::new(&state, &auth, layout, &user).await?;
        let page = AccountPage { display_name: form.display_name, time_zone: form.time_zone, errors, ..page };
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    super::actions::update_profile(&state.db, &user, &display_name, &time_zone).await?;
    flash(&auth.session, FlashKind::Success, format!("Saved. Times now show in {time_zone}.")).await?;
    Ok(see_other("/account"))
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
}

/// Changes the password (given the current one), ends every other session, and keeps this one.
async fn change_password(
    State(state): State<AppState>,
    layout: Layout,
    mut auth: AuthSession,
    ClientAddr(client_addr): ClientAddr,
    CurrentUser(user): CurrentUser,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    let refuse = |auth: AuthSession, errors: FieldErrors, status: StatusCode| {
        let state = state.clone();
        let user = user.clone();
        async move {
            let page = AccountPage { errors, ..AccountPage::new(&state, &auth, layout, &user).await? };
            render_status(status, &page)
        }
    };
    let mut errors = FieldErrors::new();
    if form.current_password.is_empty() {
        errors.add("current_password", "Enter your current password.");
    }
    if form.new_password.is_empty() {
        errors.add("new_password", "Enter a new password.");
    }
    if !errors.is_empty() {
        return refuse(auth, errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    // Guesses at the current password count as sign-in attempts, so this form cannot be used to
    // try passwords faster than the sign-in page allows.
    let email = user.email_address()?;
    if let Some(wait) = super::actions::count_signin_attempt(&state.db, &email, &client_addr).await? {
        let minutes = wait.whole_minutes().max(1);
        errors.add("current_password", format!("Too many wrong passwords. Wait {minutes} minute(s) and try again."));
        return refuse(auth, errors, StatusCode::TOO_MANY_REQUESTS).await;
    }
    let keep = account_session(&auth).await?;
    let changed =
        super::actions::change_password(&state.db, &user, form.current_password, form.new_password, keep).await;
    let updated = match changed {
        Ok(updated) => updated,
        Err(err) => {
            refused(err, &mut errors)?;
            return refuse(auth, errors, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    super::actions::signed_in(&state.db, &email, &client_addr).await?;
    // The session is bound to the password's hash: sign this one in again with the new hash.
    auth.login(&updated).await.map_err(|e| AppError::Internal(anyhow::anyhow!("login: {e}")))?;
    flash(&auth.session, FlashKind::Success, "Password changed. Every other session has been signed out.").await?;
    Ok(see_other("/account"))
}

/// Ends one of the person's other sessions (a lost phone, a shared computer).
async fn end_session(
    State(state): State<AppState>,
    mut auth: AuthSession,
    CurrentUser(user): CurrentUser,
    Path(id): Path<uuid::Uuid>,
) -> AppResult<Response> {
    if account_session(&auth).await? == Some(id) {
        sign_out(&mut auth, &state.db).await?;
        flash(&auth.session, FlashKind::Success, "You have signed out.").await?;
        return Ok(see_other("/signin"));
    }
    super::actions::end_session(&state.db, &user, id).await?;
    flash(&auth.session, FlashKind::Success, "That session has been signed out.").await?;
    Ok(see_other("/account#sessions"))
}

/// "Sign out everywhere": every session of the person ends, this one included.
async fn end_all_sessions(
    State(state): State<AppState>,
    mut auth: AuthSession,
    CurrentUser(user): CurrentUser,
) -> AppResult<Response> {
    let ended = super::actions::end_sessions(&state.db, &user, None).await?;
    sign_out(&mut auth, &state.db).await?;
    let message = match ended {
        0 | 1 => "You have signed out.".to_owned(),
        n => format!("You have signed out everywhere ({n} sessions)."),
    };
    flash(&auth.session, FlashKind::Success, message).await?;
    Ok(see_other("/signin"))
}

/// The session-store key of a TOTP secret being set up (not yet confirmed by a code).
const SETUP_KEY: &str = "totp_setup";
/// The session-store key of recovery codes just made, shown once by the next page.
const NEW_CODES_KEY: &str = "recovery_codes_once";

#[derive(Template)]
#[template(path = "accounts/two_factor.html")]
struct TwoFactorPage {
    layout: Layout,
    enabled: bool,
    /// While setting up: the QR code (SVG) and the secret as text.
    qr_svg: String,
    secret_text: String,
    /// Recovery codes just made, shown this once.
    new_codes: Vec<String>,
    codes_left: i64,
    /// Teams of the person that require two-factor sign-in.
    required_by: Vec<String>,
    errors: FieldErrors,
}

impl TwoFactorPage {
    async fn new(state: &AppState, auth: &AuthSession, layout: Layout, user: &User) -> AppResult<TwoFactorPage> {
        let mut page = TwoFactorPage {
            layout,
            enabled: user.two_factor,
            qr_svg: String::new(),
            secret_text: String::new(),
            new_codes: auth.session.remove::<Vec<String>>(NEW_CODES_KEY).await?.unwrap_or_default(),
            codes_left: 0,
            required_by: super::store::teams_requiring_two_factor(&state.db, user.id).await?,
            errors: FieldErrors::new(),
        };
        if user.two_factor {
            page.codes_left = super::store::recovery_codes_left(&state.db, user.id).await?;
        } else {
            let secret = match auth.session.get::<Vec<u8>>(SETUP_KEY).await? {
                Some(secret) if secret.len() == 20 => secret,
                _ => {
                    let secret = two_factor::new_secret();
                    auth.session.insert(SETUP_KEY, &secret).await?;
                    secret
                }
            };
            let uri =
                two_factor::setup_uri(&secret, &user.email).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
            page.qr_svg = two_factor::qr_svg(&uri).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
            page.secret_text = two_factor::secret_text(&secret);
        }
        Ok(page)
    }
}

async fn two_factor_page(
    State(state): State<AppState>,
    auth: AuthSession,
    layout: Layout,
    CurrentUser(user): CurrentUser,
) -> AppResult<Response> {
    render(&TwoFactorPage::new(&state, &auth, layout, &user).await?)
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    code: String,
    /// The code on the "new recovery codes" form (its own field, beside the one to turn it off).
    renew_code: String,
    password: String,
}

/// Counts a check of the password or a code made from these pages against the sign-in throttle
/// (so a session alone cannot guess faster than the sign-in page allows); the message if this
/// client must wait first.
async fn throttled(state: &AppState, user: &User, client_addr: &str) -> AppResult<Option<String>> {
    let email = user.email_address()?;
    let wait = super::actions::count_signin_attempt(&state.db, &email, client_addr).await?;
    Ok(wait.map(|wait| {
        let minutes = wait.whole_minutes().max(1);
        format!("Too many wrong passwords or codes from here. Wait {minutes} minute(s) and try again.")
    }))
}

/// After a right password or code on these pages, this client's earlier failures no longer count.
async fn passed(state: &AppState, user: &User, client_addr: &str) -> AppResult<()> {
    let email = user.email_address()?;
    super::actions::signed_in(&state.db, &email, client_addr).await
}

/// The two-factor page with a "wait" message (429).
async fn two_factor_throttled(
    state: &AppState,
    auth: &AuthSession,
    layout: Layout,
    user: &User,
    message: String,
) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    errors.add("form", message);
    let page = TwoFactorPage { errors, ..TwoFactorPage::new(state, auth, layout, user).await? };
    render_status(StatusCode::TOO_MANY_REQUESTS, &page)
}

/// Re-renders the two-factor page with a refusal beside its field.
async fn two_factor_refused(
    state: &AppState,
    auth: &AuthSession,
    layout: Layout,
    user: &User,
    err: AppError,
) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    let status = refused(err, &mut errors)?;
    let page = TwoFactorPage { errors, ..TwoFactorPage::new(state, auth, layout, user).await? };
    render_status(status, &page)
}

/// Turns two-factor sign-in on with the secret shown on the page, once a code proves the app has it.
async fn enable_two_factor(
    State(state): State<AppState>,
    auth: AuthSession,
    layout: Layout,
    ClientAddr(client_addr): ClientAddr,
    CurrentUser(user): CurrentUser,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let Some(secret) = auth.session.get::<Vec<u8>>(SETUP_KEY).await? else {
        flash(&auth.session, FlashKind::Error, "Scan the new QR code, then enter the code it gives.").await?;
        return Ok(see_other("/account/two-factor"));
    };
    if let Some(message) = throttled(&state, &user, &client_addr).await? {
        return two_factor_throttled(&state, &auth, layout, &user, message).await;
    }
    let keep = account_session(&auth).await?;
    match super::actions::enable_two_factor(&state.db, &user, &secret, &form.code, form.password, keep).await {
        Ok(codes) => {
            passed(&state, &user, &client_addr).await?;
            auth.session.remove::<Vec<u8>>(SETUP_KEY).await?;
            auth.session.insert(NEW_CODES_KEY, codes).await?;
            flash(&auth.session, FlashKind::Success, "Two-factor sign-in is on.").await?;
            Ok(see_other("/account/two-factor"))
        }
        Err(err) => two_factor_refused(&state, &auth, layout, &user, err).await,
    }
}

/// New recovery codes (the old ones stop working), given a current code.
async fn renew_recovery_codes(
    State(state): State<AppState>,
    auth: AuthSession,
    layout: Layout,
    ClientAddr(client_addr): ClientAddr,
    CurrentUser(user): CurrentUser,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    if let Some(message) = throttled(&state, &user, &client_addr).await? {
        return two_factor_throttled(&state, &auth, layout, &user, message).await;
    }
    let renewed = super::actions::renew_recovery_codes(&state.db, &user, &form.renew_code).await;
    // The refusal belongs beside this form's own code field.
    let renewed = renewed.map_err(|err| match err {
        AppError::Validation { field: "code", message } => AppError::invalid("renew_code", message),
        other => other,
    });
    match renewed {
        Ok(codes) => {
            passed(&state, &user, &client_addr).await?;
            auth.session.insert(NEW_CODES_KEY, codes).await?;
            flash(&auth.session, FlashKind::Success, "New recovery codes made; the old ones no longer work.").await?;
            Ok(see_other("/account/two-factor"))
        }
        Err(err) => two_factor_refused(&state, &auth, layout, &user, err).await,
    }
}

/// Turns two-factor sign-in off, given the password and a code.
async fn disable_two_factor(
    State(state): State<AppState>,
    auth: AuthSession,
    layout: Layout,
    ClientAddr(client_addr): ClientAddr,
    CurrentUser(user): CurrentUser,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    if let Some(message) = throttled(&state, &user, &client_addr).await? {
        return two_factor_throttled(&state, &auth, layout, &user, message).await;
    }
    match super::actions::disable_two_factor(&state.db, &user, form.password, &form.code).await {
        Ok(()) => {
            passed(&state, &user, &client_addr).await?;
            flash(&auth.session, FlashKind::Success, "Two-factor sign-in is off.").await?;
            Ok(see_other("/account"))
        }
        Err(err) => two_factor_refused(&state, &auth, layout, &user, err).await,
    }
}

#[derive(Template)]
#[template(path = "accounts/delete.html")]
struct DeletePage {
    layout: Layout,
    two_factor: bool,
    /// Whether the account has a password (else a recent sign-in confirms).
    has_password: bool,
    /// Whether this session's person confirmed who they are at the provider within
    /// [`super::RECENT_SIGNIN_MINUTES`].
    recent: bool,
    /// The single sign-on provider's name, where one is set.
    sso: Option<String>,
    errors: FieldErrors,
}

impl DeletePage {
    async fn new(state: &AppState, auth: &AuthSession, layout: Layout, user: &User) -> AppResult<DeletePage> {
        let confirmed = auth.session.get::<i64>(super::SSO_CONFIRMED_KEY).await?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let recent = confirmed.is_some_and(|at| (0..super::RECENT_SIGNIN_MINUTES * 60).contains(&(now - at)));
        Ok(DeletePage {
            layout,
            two_factor: user.two_factor,
            has_password: user.has_password(),
            recent,
            sso: state.sso.as_ref().map(|sso| sso.name().to_owned()),
            errors: FieldErrors::new(),
        })
    }
}

async fn delete_page(
    State(state): State<AppState>,
    auth: AuthSession,
    layout: Layout,
    CurrentUser(user): CurrentUser,
) -> AppResult<Response> {
    render(&DeletePage::new(&state, &auth, layout, &user).await?)
}

/// Deletes the account (given the password, and a code with two-factor on; without a password,
/// after a recent sign-in) and signs out.
async fn delete_account(
    State(state): State<AppState>,
    mut auth: AuthSession,
    layout: Layout,
    ClientAddr(client_addr): ClientAddr,
    CurrentUser(user): CurrentUser,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let mut page = DeletePage::new(&state, &auth, layout, &user).await?;
    if let Some(message) = throttled(&state, &user, &client_addr).await? {
        page.errors.add("form", message);
        return render_status(StatusCode::TOO_MANY_REQUESTS, &page);
    }
    if let Err(err) = super::actions::delete_account(&state.db, &user, form.password, &form.code, page.recent).await {
        let status = refused(err, &mut page.errors)?;
        return render_status(status, &page);
    }
    sign_out(&mut auth, &state.db).await?;
    flash(&auth.session, FlashKind::Success, "Your account is deleted. Your name and email address are erased.")
        .await?;
    Ok(see_other("/signin"))
}
