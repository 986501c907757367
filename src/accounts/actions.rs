//! Changes to accounts: creating one (the first is the administrator; two first sign-ups at once
//! are serialised by the store), the sign-in attempts that throttling counts, and the profile.

use sqlx::PgPool;

use super::store::{self, CreateUserError};
use super::{Email, User, hash_password, wait_before_signin};
use crate::error::{AppError, AppResult};

/// Creates an account; an email already taken is refused beside the email field.
pub async fn sign_up(
    db: &PgPool,
    email: &Email,
    display_name: &str,
    password: String,
    time_zone: &str,
) -> AppResult<User> {
    let hash = hash_password(password).await?;
    let mut tx = db.begin().await?;
    let user = match store::create_user(&mut tx, email, display_name, &hash, time_zone).await {
        Ok(user) => user,
        Err(CreateUserError::EmailTaken) => {
            return Err(AppError::invalid("email", "An account with this email already exists. Sign in instead."));
        }
        Err(CreateUserError::Database(err)) => return Err(err.into()),
    };
    tx.commit().await?;
    tracing::info!(user_id = %user.id, admin = user.is_admin, "account created");
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

/// After a successful sign-in, the account's failures no longer count.
pub async fn signed_in(db: &PgPool, email: &Email) -> AppResult<()> {
    store::clear_signin_failures(db, email).await?;
    Ok(())
}

/// Changes a person's display name and time zone.
pub async fn update_profile(db: &PgPool, user: &User, display_name: &str, time_zone: &str) -> AppResult<()> {
    store::update_profile(db, user.id, display_name, time_zone).await?;
    Ok(())
}
