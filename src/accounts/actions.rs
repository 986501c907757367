//! Changes to accounts: creating one (the first is the administrator; two first sign-ups at once
//! are serialised by the store), the sign-in attempts that throttling counts, the profile, the
//! password, and the signed-in sessions.

use sqlx::PgPool;
use uuid::Uuid;

use super::store::{self, CreateUserError};
use super::two_factor::{self, SecondFactor};
use super::{Email, User, check_new_password, hash_password, wait_before_signin};
use crate::error::{AppError, AppResult};

/// How long a sign-up's confirmation link works.
pub const CONFIRM_HOURS: i64 = 24;

/// What a sign-up came to.
pub enum SignUp {
    /// The very first account on this server: made at once (it is the administrator, and there is
    /// no other account whose existence a stranger could learn of).
    Made(User),
    /// A link was e-mailed to the address: one that makes the account, or (where the address has
    /// an account already) a note to its owner. The person signing up is told the same either way.
    Confirm,
}

/// Signs a person up. The first account is made at once; every later one waits until its address
/// is confirmed through an e-mailed link, and an address that has an account already gets a note
/// to its owner instead, so the answer never tells which addresses have accounts. The password is
/// hashed in every case, so that neither does the time the answer takes.
pub async fn sign_up(
    db: &PgPool,
    email: &Email,
    display_name: &str,
    password: String,
    time_zone: &str,
    next: Option<&str>,
    base_url: &str,
) -> AppResult<SignUp> {
    let hash = hash_password(password).await?;
    let mut tx = db.begin().await?;
    if !store::any_account(&mut tx).await? {
        let user = match store::create_user(&mut tx, email, display_name, &hash, time_zone).await {
            Ok(user) => user,
            Err(CreateUserError::EmailTaken) => return Err(AppError::Conflict("That address was just taken.".into())),
            Err(CreateUserError::Database(err)) => return Err(err.into()),
        };
        tx.commit().await?;
        tracing::info!(user_id = %user.id, admin = user.is_admin, "first account created");
        return Ok(SignUp::Made(user));
    }
    match store::user_by_email(&mut *tx, email).await? {
        Some(owner) => tell_owner_of_signup(&mut tx, &owner, base_url).await?,
        None => {
            let token = crate::secrets::random_hex(32);
            let signup = store::PendingSignup {
                email: email.as_str().to_owned(),
                display_name: display_name.to_owned(),
                password_hash: hash,
                time_zone: time_zone.to_owned(),
                next_path: next.map(str::to_owned),
            };
            if store::create_signup(&mut tx, &crate::secrets::sha256(&token), &signup, CONFIRM_HOURS).await? {
                let message = crate::email::compose(&crate::email::Content {
                    name: display_name,
                    subject: "Confirm your address to finish your Gameday account".into(),
                    paragraphs: vec![
                        format!(
                            "Someone, we hope you, signed up to Gameday as {}. Follow the link to confirm this address: your account is made, and you are signed in.",
                            email.as_str()
                        ),
                        format!(
                            "The link works once, for {CONFIRM_HOURS} hours. If you did not sign up, ignore this e-mail: no account is made."
                        ),
                    ],
                    action: Some(("Confirm my address", format!("{base_url}/signup/confirm/{token}"))),
                    unsubscribe: None,
                });
                let kind = crate::email::Kind::ConfirmAddress;
                crate::email::store::enqueue_to_address(&mut tx, email.as_str(), kind, &message).await?;
                tracing::info!("sign-up waits for its address to be confirmed");
            } else {
                tracing::info!("sign-up not sent: three are open for the address already");
            }
        }
    }
    tx.commit().await?;
    Ok(SignUp::Confirm)
}

/// Tells the owner of an address that someone tried to sign up with it (at most three times a
/// day, so a stranger cannot fill their mailbox).
async fn tell_owner_of_signup(tx: &mut sqlx::PgConnection, owner: &User, base_url: &str) -> AppResult<()> {
    let kind = crate::email::Kind::AccountExists;
    if crate::email::store::written_today(&mut *tx, owner.id, kind).await? >= 3 {
        tracing::info!(user_id = %owner.id, "sign-up with a taken address: its owner was told three times today");
        return Ok(());
    }
    let message = crate::email::compose(&crate::email::Content {
        name: &owner.display_name,
        subject: "Someone tried to sign up to Gameday with your address".into(),
        paragraphs: vec![
            format!(
                "Someone, perhaps you, tried to make a new Gameday account with {}. You have an account with this address already, so no new one was made.",
                owner.email
            ),
            format!(
                "To get in, sign in. If you forgot your password, choose a new one at {base_url}/password/forgot. If it was not you, you need do nothing: your account is unchanged."
            ),
        ],
        action: Some(("Sign in", format!("{base_url}/signin"))),
        unsubscribe: None,
    });
    crate::email::store::enqueue(&mut *tx, owner.id, kind, &message, None).await?;
    tracing::info!(user_id = %owner.id, "sign-up with a taken address: its owner is told");
    Ok(())
}

/// The address and name a sign-up link is for, if it is still open.
pub async fn signup_link(db: &PgPool, token: &str) -> AppResult<Option<store::PendingSignup>> {
    Ok(store::signup_by_token(db, &crate::secrets::sha256(token)).await?)
}

/// Makes the account a sign-up link is for (the link, and every other open sign-up of its address,
/// is used up); the account and where to go next. Refused as gone when the link is not open, and
/// as a conflict when the address got an account in the meantime (through single sign-on, say).
pub async fn confirm_sign_up(db: &PgPool, token: &str) -> AppResult<(User, Option<String>)> {
    let mut tx = db.begin().await?;
    let signup = store::take_signup(&mut tx, &crate::secrets::sha256(token)).await?.ok_or_else(gone_link)?;
    let email = Email::parse(&signup.email).map_err(|_| gone_link())?;
    match store::create_user(&mut tx, &email, &signup.display_name, &signup.password_hash, &signup.time_zone).await {
        Ok(user) => {
            tx.commit().await?;
            tracing::info!(user_id = %user.id, admin = user.is_admin, "account created: its address is confirmed");
            Ok((user, signup.next_path))
        }
        Err(CreateUserError::EmailTaken) => {
            drop(tx);
            store::drop_signups(db, email.as_str()).await?;
            Err(AppError::Conflict("An account with this address exists already. Sign in instead.".into()))
        }
        Err(CreateUserError::Database(err)) => Err(err.into()),
    }
}

/// A person in a demo team (`crate::demo`): an account nobody can sign in to (no password
/// matches the hash `!`) at an address under the reserved `.invalid` domain, so no e-mail can
/// ever reach anyone through it.
pub async fn create_demo_person(db: &PgPool, display_name: &str, time_zone: &str) -> AppResult<User> {
    let email = Email::parse(&format!("demo-{}@demo.gameday.invalid", Uuid::now_v7().simple()))
        .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    let mut tx = db.begin().await?;
    let user = match store::create_user(&mut tx, &email, display_name, "!", time_zone).await {
        Ok(user) => user,
        Err(CreateUserError::EmailTaken) => return Err(AppError::Internal(anyhow::anyhow!("demo address taken"))),
        Err(CreateUserError::Database(err)) => return Err(err.into()),
    };
    tx.commit().await?;
    Ok(user)
}

/// Counts a sign-in attempt before the password is checked (so concurrent guesses cannot all
/// slip under the limit) and says how long the client must wait if it is refused; a refused
/// attempt is taken back, so waiting it out always works.
pub async fn count_signin_attempt(db: &PgPool, email: &Email, client_addr: &str) -> AppResult<Option<time::Duration>> {
    let id = store::record_signin_attempt(db, email, client_addr).await?;
    let (account, address, since_last) = store::recent_signin_failures(db, email, client_addr, id).await?;
    let wait = wait_before_signin(account, address, since_last.unwrap_or(time::Duration::ZERO));
    if wait.is_some() {
        store::forget_signin_attempt(db, id).await?;
    }
    Ok(wait)
}

/// Counts a sign-up from a client address; whether it must be refused (too many accounts made
/// from there within the hour).
pub async fn count_signup_attempt(db: &PgPool, client_addr: &str) -> AppResult<bool> {
    Ok(store::count_signup_attempt(db, client_addr).await? > super::MAX_SIGNUPS_PER_ADDRESS)
}

/// After a successful sign-in, the account's failures from this client no longer count.
pub async fn signed_in(db: &PgPool, email: &Email, client_addr: &str) -> AppResult<()> {
    store::clear_signin_failures(db, email, client_addr).await?;
    Ok(())
}

/// Changes a person's display name and time zone.
pub async fn update_profile(db: &PgPool, user: &User, display_name: &str, time_zone: &str) -> AppResult<()> {
    store::update_profile(db, user.id, display_name, time_zone).await?;
    Ok(())
}

/// Records a new signed-in session for `user` and returns its id (kept in the session store).
pub async fn start_session(db: &PgPool, user: &User, user_agent: &str, client_addr: &str) -> AppResult<Uuid> {
    let id = Uuid::now_v7();
    let user_agent: String = user_agent.chars().filter(|c| !c.is_control()).take(200).collect();
    let client_addr: String = client_addr.chars().take(64).collect();
    store::insert_session(db, id, user.id, &user_agent, &client_addr).await?;
    Ok(id)
}

/// Whether a signed-in session may go on: it has not been ended (from another device, by a
/// password change) and is within its absolute lifetime. An expired one is deleted.
pub async fn session_may_continue(db: &PgPool, user: &User, session: Option<Uuid>) -> AppResult<bool> {
    let Some(id) = session else { return Ok(false) };
    let state = store::session_state(db, id, user.id).await?;
    if let Some((true, true)) = state {
        store::touch_session(db, id).await?;
    }
    settle_session(db, user, id, state.map(|(alive, _)| alive)).await
}

/// Whether a signed-in session may go on, given its state as read (and its "last seen" kept):
/// `Some(true)` within its absolute lifetime, `Some(false)` past it (then it is deleted), `None`
/// ended.
pub async fn settle_session(db: &PgPool, user: &User, id: Uuid, alive: Option<bool>) -> AppResult<bool> {
    match alive {
        Some(true) => Ok(true),
        Some(false) => {
            let mut conn = db.acquire().await?;
            store::delete_session(&mut conn, user.id, id).await?;
            tracing::info!(user_id = %user.id, "session reached its absolute lifetime");
            Ok(false)
        }
        None => Ok(false),
    }
}

/// Ends one of the person's sessions (another device, or this one at sign-out).
pub async fn end_session(db: &PgPool, user: &User, id: Uuid) -> AppResult<()> {
    let mut conn = db.acquire().await?;
    if !store::delete_session(&mut conn, user.id, id).await? {
        return Err(AppError::NotFound);
    }
    tracing::info!(user_id = %user.id, "session ended by its owner");
    Ok(())
}

/// Ends every session of the person but `keep` ("sign out everywhere" keeps none); how many.
pub async fn end_sessions(db: &PgPool, user: &User, keep: Option<Uuid>) -> AppResult<u64> {
    let mut conn = db.acquire().await?;
    let ended = store::delete_sessions_except(&mut conn, user.id, keep).await?;
    tracing::info!(user_id = %user.id, ended, "sessions ended by their owner");
    Ok(ended)
}

/// Changes a person's password, given the current one: the new one must pass
/// [`check_new_password`]; every other session ends in the same transaction. Returns the person
/// as now stored (this session is signed in again with the new hash).
pub async fn change_password(
    db: &PgPool,
    user: &User,
    current: String,
    new: String,
    keep: Option<Uuid>,
) -> AppResult<User> {
    if !verify_password(current.clone(), user.password_hash.clone()).await? {
        return Err(AppError::invalid("current_password", "That is not your current password."));
    }
    check_new_password(&new, &[user.email.as_str(), user.display_name.as_str()])
        .map_err(|message| AppError::invalid("new_password", message))?;
    if new == current {
        return Err(AppError::invalid("new_password", "Choose a password different from your current one."));
    }
    let hash = hash_password(new).await?;
    let mut tx = db.begin().await?;
    let updated = store::set_password_hash(&mut tx, user.id, &hash).await?;
    let ended = store::delete_sessions_except(&mut tx, user.id, keep).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, other_sessions_ended = ended, "password changed");
    Ok(updated)
}

/// Checks a password against an Argon2id hash off the async threads.
async fn verify_password(password: String, hash: String) -> AppResult<bool> {
    Ok(tokio::task::spawn_blocking(move || password_auth::verify_password(password, &hash).is_ok())
        .await
        .map_err(anyhow::Error::from)?)
}

/// Turns two-factor sign-in on with a secret the person's app now holds, once a code from the
/// app proves it; returns the recovery codes (shown once, stored only as hashes).
pub async fn enable_two_factor(
    db: &PgPool,
    user: &User,
    secret: &[u8],
    input: &str,
    password: String,
    keep: Option<Uuid>,
) -> AppResult<Vec<String>> {
    // A session alone (a borrowed laptop) cannot put someone else's phone on the account.
    if !verify_password(password, user.password_hash.clone()).await? {
        return Err(AppError::invalid("password", "That is not your current password."));
    }
    let code = match two_factor::parse_second_factor(input).map_err(|message| AppError::invalid("code", message))? {
        SecondFactor::Code(code) => code,
        SecondFactor::Recovery(_) => {
            return Err(AppError::invalid("code", "Enter the 6 digits your authenticator app shows."));
        }
    };
    let step = two_factor::matching_step(secret, &user.email, &code, unix_now()).ok_or_else(|| {
        AppError::invalid("code", "That code does not match. Check the app shows Gameday and try its newest code.")
    })?;
    let codes = two_factor::new_recovery_codes();
    let hashes = two_factor::recovery_code_hashes(&codes);
    let mut tx = db.begin().await?;
    if !store::enable_two_factor(&mut tx, user.id, secret, step).await? {
        return Err(AppError::Conflict("Two-factor sign-in is already on.".into()));
    }
    store::replace_recovery_codes(&mut tx, user.id, &hashes).await?;
    // Sessions signed in with the password alone end: from now on every session had both.
    let ended = store::delete_sessions_except(&mut tx, user.id, keep).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, other_sessions_ended = ended, "two-factor sign-in turned on");
    Ok(codes)
}

/// Checks a second factor for a person who has two-factor on: a code from the app (each time
/// step accepted once) or an unused recovery code (used up). Which kind it was, if accepted.
pub async fn check_second_factor(db: &PgPool, user: &User, input: &str) -> AppResult<Option<SecondFactor>> {
    let factor = two_factor::parse_second_factor(input).map_err(|message| AppError::invalid("code", message))?;
    let accepted = match &factor {
        SecondFactor::Code(code) => {
            let Some(secret) = store::two_factor_secret(db, user.id).await? else { return Ok(None) };
            match two_factor::matching_step(&secret, &user.email, code, unix_now()) {
                Some(step) => store::use_totp_step(db, user.id, step).await?,
                None => false,
            }
        }
        SecondFactor::Recovery(code) => {
            store::use_recovery_code(db, user.id, &two_factor::recovery_code_hash(code)).await?
        }
    };
    Ok(accepted.then_some(factor))
}

/// Turns two-factor sign-in off, given the password and a code; refused while a team of the
/// person requires it.
pub async fn disable_two_factor(db: &PgPool, user: &User, password: String, code: &str) -> AppResult<()> {
    let requiring = store::teams_requiring_two_factor(db, user.id).await?;
    if !requiring.is_empty() {
        return Err(AppError::Conflict(format!(
            "{} require{} two-factor sign-in of every member: it stays on while you are in {}.",
            requiring.join(", "),
            if requiring.len() == 1 { "s" } else { "" },
            if requiring.len() == 1 { "that team" } else { "those teams" },
        )));
    }
    if !verify_password(password, user.password_hash.clone()).await? {
        return Err(AppError::invalid("password", "That is not your current password."));
    }
    if check_second_factor(db, user, code).await?.is_none() {
        return Err(AppError::invalid("code", "That code does not match, or was already used."));
    }
    let mut tx = db.begin().await?;
    store::disable_two_factor(&mut tx, user.id).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "two-factor sign-in turned off");
    Ok(())
}

/// Replaces the recovery codes (the old ones stop working), given a current code.
pub async fn renew_recovery_codes(db: &PgPool, user: &User, code: &str) -> AppResult<Vec<String>> {
    if check_second_factor(db, user, code).await?.is_none() {
        return Err(AppError::invalid("code", "That code does not match, or was already used."));
    }
    let codes = two_factor::new_recovery_codes();
    let hashes = two_factor::recovery_code_hashes(&codes);
    let mut tx = db.begin().await?;
    store::replace_recovery_codes(&mut tx, user.id, &hashes).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "recovery codes renewed");
    Ok(codes)
}

fn unix_now() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64
}

/// Deletes a person's account, given their password (and a code, with two-factor on): they leave
/// each of their teams as "Leave team" does (refused, naming the team, where they are its only
/// lead among others, or an objection of theirs still stands), and their name, address, password,
/// second factor, sessions and calendar feeds are erased, in one transaction. The timeline and
/// the audit log keep their events, which now name "A former member".
///
/// A person without a password (they sign in through single sign-on) confirms by having been
/// checked again by the provider within [`super::RECENT_SIGNIN_MINUTES`] (`recently_signed_in`).
pub async fn delete_account(
    db: &PgPool,
    user: &User,
    password: String,
    code: &str,
    recently_signed_in: bool,
) -> AppResult<()> {
    if user.has_password() {
        if !verify_password(password, user.password_hash.clone()).await? {
            return Err(AppError::invalid("password", "That is not your current password."));
        }
    } else if !recently_signed_in {
        return Err(AppError::invalid(
            "form",
            format!(
                "Confirm it is you first (within {} minutes of deleting): it stands for the password you do not have.",
                super::RECENT_SIGNIN_MINUTES
            ),
        ));
    }
    if user.two_factor && check_second_factor(db, user, code).await?.is_none() {
        return Err(AppError::invalid("code", "That code does not match, or was already used."));
    }
    let mut tx = db.begin().await?;
    for team_id in crate::teams::store::teams_of(&mut tx, user.id).await? {
        crate::teams::actions::depart_for_deletion(&mut tx, team_id, user).await?;
    }
    store::erase_user(&mut tx, user.id).await?;
    store::forget_signin_attempts(&mut tx, &user.email).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "account deleted and personal data erased");
    Ok(())
}

/// What a sign-in through the single sign-on provider comes to.
#[derive(Debug)]
pub enum SsoSignIn {
    /// The person this identity is linked to.
    Known(User),
    /// A new account, made for this identity with the address the provider verified.
    Created(User),
    /// An account has the provider's verified address but is not linked to this identity: its
    /// owner links it by signing in with the account's password once (an address alone never
    /// hands over an account).
    LinkWithPassword(Email),
}

/// Finds (or, where `allow_signup`, makes) the account of an identity the provider vouched for.
/// Refusals name what to do; `provider` is what the sign-in page calls the provider.
pub async fn sso_sign_in(
    db: &PgPool,
    identity: &crate::oidc::Identity,
    provider: &str,
    allow_signup: bool,
    time_zone: &str,
) -> AppResult<SsoSignIn> {
    if let Some(user) = store::user_by_identity(db, &identity.issuer, &identity.subject).await? {
        return Ok(SsoSignIn::Known(user));
    }
    let email = identity.email.as_deref().and_then(|address| Email::parse(address).ok()).ok_or_else(|| {
        AppError::Forbidden(format!(
            "{provider} did not share an e-mail address for you, and Gameday needs one to make or find your account. \
             Ask your administrator to allow the \"email\" scope for Gameday."
        ))
    })?;
    if !identity.email_verified {
        return Err(AppError::Forbidden(format!(
            "{provider} has not verified your address {}. Verify it there, then sign in again.",
            email.as_str()
        )));
    }
    if let Some(existing) = store::user_by_email(db, &email).await? {
        if !existing.has_password() {
            // No password to prove the account is theirs (an account made by another identity,
            // or a demo's person): an address alone never hands over an account.
            return Err(AppError::Forbidden(format!(
                "An account with {} exists, but it is linked to another {provider} identity, or to none, and has no \
                 password to link it with. Ask your Gameday administrator.",
                email.as_str()
            )));
        }
        return Ok(SsoSignIn::LinkWithPassword(email));
    }
    if !allow_signup {
        return Err(AppError::Forbidden(format!(
            "There is no Gameday account for {} yet, and this server does not make one at a first sign-in with {provider}. \
             Ask your Gameday administrator.",
            email.as_str()
        )));
    }
    let local = email.as_str().split('@').next().unwrap_or_default();
    let display_name = identity
        .name
        .as_deref()
        .and_then(|name| super::parse_display_name(name).ok())
        .or_else(|| super::parse_display_name(local).ok())
        .unwrap_or_else(|| "New member".to_owned());
    let mut tx = db.begin().await?;
    // No password: the hash `!` matches none, so this account signs in through the provider only.
    let user = match store::create_user(&mut tx, &email, &display_name, "!", time_zone).await {
        Ok(user) => user,
        // Made a moment ago by another sign-in of this identity (a double click): that one.
        Err(CreateUserError::EmailTaken) => {
            drop(tx);
            return match store::user_by_identity(db, &identity.issuer, &identity.subject).await? {
                Some(user) => Ok(SsoSignIn::Known(user)),
                None => Err(AppError::Conflict("Signing in took two tries at once. Sign in again.".into())),
            };
        }
        Err(CreateUserError::Database(err)) => return Err(err.into()),
    };
    if !store::link_identity(&mut tx, user.id, &identity.issuer, &identity.subject).await? {
        // The same identity signed in twice at once and the other made its account: use that one.
        tx.rollback().await?;
        return match store::user_by_identity(db, &identity.issuer, &identity.subject).await? {
            Some(user) => Ok(SsoSignIn::Known(user)),
            None => Err(AppError::Conflict("Signing in took two tries at once. Sign in again.".into())),
        };
    }
    tx.commit().await?;
    tracing::info!(user_id = %user.id, admin = user.is_admin, "account created at a first single sign-on");
    Ok(SsoSignIn::Created(user))
}

/// The person an identity is linked to, if any.
pub async fn identity_user(db: &PgPool, identity: &crate::oidc::Identity) -> AppResult<Option<User>> {
    Ok(store::user_by_identity(db, &identity.issuer, &identity.subject).await?)
}

/// Links an identity to the person who has just signed in with their password; false if the
/// identity is linked already (to them or to someone else).
pub async fn link_identity(db: &PgPool, user: &User, issuer: &str, subject: &str) -> AppResult<bool> {
    let mut tx = db.begin().await?;
    let linked = store::link_identity(&mut tx, user.id, issuer, subject).await?;
    tx.commit().await?;
    if linked {
        tracing::info!(user_id = %user.id, %issuer, "single sign-on linked to an account after its password was given");
    }
    Ok(linked)
}

/// How long a password reset link works.
pub const RESET_MINUTES: i64 = 30;

/// Sends a link to choose a new password to the account with this address, if there is one (the
/// caller answers the same either way, so the page tells no stranger which addresses have
/// accounts). At most three links are open at once per person.
pub async fn request_password_reset(db: &PgPool, email: &Email, base_url: &str) -> AppResult<()> {
    let Some(user) = store::user_by_email(db, email).await? else {
        tracing::info!("password reset asked for an address without an account");
        return Ok(());
    };
    let token = crate::secrets::random_hex(32);
    let message = crate::email::compose(&crate::email::Content {
        name: &user.display_name,
        subject: "Choose a new Gameday password".into(),
        paragraphs: vec![
            format!("Someone, we hope you, asked to choose a new password for the Gameday account {}.", user.email),
            format!(
                "The link works once, for {RESET_MINUTES} minutes. If you did not ask, ignore this e-mail: your password stays as it is."
            ),
        ],
        action: Some(("Choose a new password", format!("{base_url}/password/reset/{token}"))),
        unsubscribe: None,
    });
    let mut tx = db.begin().await?;
    if !store::create_reset(&mut tx, user.id, &crate::secrets::sha256(&token), RESET_MINUTES).await? {
        tracing::info!(user_id = %user.id, "password reset not sent: three links are open already");
        return Ok(());
    }
    crate::email::store::enqueue(&mut tx, user.id, crate::email::Kind::PasswordReset, &message, None).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "password reset link sent");
    Ok(())
}

/// The person a reset link is for, while it works.
pub async fn reset_link_user(db: &PgPool, token: &str) -> AppResult<Option<User>> {
    Ok(store::reset_user(db, &crate::secrets::sha256(token)).await?)
}

/// Sets a new password from a reset link (used up, with every other open link of the person), and
/// ends every session of the person, in one transaction.
pub async fn reset_password(db: &PgPool, token: &str, new: String) -> AppResult<User> {
    let hash_of_token = crate::secrets::sha256(token);
    let user = store::reset_user(db, &hash_of_token).await?.ok_or_else(gone_link)?;
    check_new_password(&new, &[user.email.as_str(), user.display_name.as_str()])
        .map_err(|message| AppError::invalid("new_password", message))?;
    let hash = hash_password(new).await?;
    let mut tx = db.begin().await?;
    let user_id = store::take_reset(&mut tx, &hash_of_token).await?.ok_or_else(gone_link)?;
    let updated = store::set_password_hash(&mut tx, user_id, &hash).await?;
    let ended = store::delete_sessions_except(&mut tx, user_id, None).await?;
    tx.commit().await?;
    tracing::info!(%user_id, sessions_ended = ended, "password chosen from a reset link");
    Ok(updated)
}

fn gone_link() -> AppError {
    AppError::Gone("This link has expired or was used already. Ask for a new one.".into())
}
