//! One error type for every handler. It becomes an HTML error page (rendered by
//! the web layer's error-page middleware) that shows no internals; the cause of a 500 is logged.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::db::{Trouble, is_unavailable, note_unavailable, trouble_of};

/// Seconds a client is asked to wait (`Retry-After`) before trying again after a 503.
pub const RETRY_AFTER_SECS: u64 = 5;

/// The `Retry-After` header every 503 carries.
pub fn retry_after() -> (header::HeaderName, HeaderValue) {
    (header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS))
}

/// What can go wrong in a request, each variant documenting the status it answers with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 404: the thing does not exist, or the user may not know that it does (team isolation).
    #[error("not found")]
    NotFound,
    /// 403: the user is known to the resource but may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 409: the request conflicts with the current state; the message says what to do next.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 410: a link that worked once (an invite) no longer does.
    #[error("gone: {0}")]
    Gone(String),
    /// 422: the input was understood but not acceptable. `field` names the form field the
    /// message belongs beside ([`crate::form::FORM`] when it is about the whole form).
    #[error("invalid {field}: {message}")]
    Validation { field: &'static str, message: String },
    /// 503: the database (or another dependency) cannot be reached right now.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 500: anything else; logged with its cause, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Marks a 500 that a handler produced (and logged) itself, so the web layer does not take it for
/// a failure of the session store.
#[derive(Debug, Clone, Copy)]
pub struct HandlerFailure;

/// The message an error page shows, attached to error responses as an extension.
#[derive(Debug, Clone)]
pub struct ErrorDetail(pub String);

impl AppError {
    /// Input refused, with the form field its message belongs beside.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> AppError {
        AppError::Validation { field, message: message.into() }
    }

    /// A parser's message for `field`, as a refusal.
    pub fn of_field(field: &'static str) -> impl Fn(String) -> AppError {
        move |message| AppError::invalid(field, message)
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        if is_unavailable(&err) {
            note_unavailable(trouble_of(&err));
            AppError::Unavailable(err.to_string())
        } else {
            AppError::Internal(anyhow::Error::new(err))
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(err: askama::Error) -> Self {
        AppError::Internal(anyhow::Error::new(err).context("rendering a template"))
    }
}

impl From<tower_sessions::session::Error> for AppError {
    /// The store is PostgreSQL: its backend failing means the database could not serve.
    fn from(err: tower_sessions::session::Error) -> Self {
        use tower_sessions::session::Error;
        use tower_sessions::session_store::Error as StoreError;
        match err {
            Error::Store(StoreError::Backend(cause)) => {
                note_unavailable(Trouble::Unreachable);
                AppError::Unavailable(format!("session store: {cause}"))
            }
            err => AppError::Internal(anyhow::Error::new(err).context("session store")),
        }
    }
}

/// The trouble of the first database error in an error's chain that means "unavailable right now".
fn unavailability_in(err: &anyhow::Error) -> Option<Trouble> {
    err.chain().filter_map(|cause| cause.downcast_ref::<sqlx::Error>()).find(|e| is_unavailable(e)).map(trouble_of)
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        // An infrastructure call's error with context is still the database being unavailable.
        let this = match self {
            AppError::Internal(err) => match unavailability_in(&err) {
                Some(trouble) => {
                    note_unavailable(trouble);
                    AppError::Unavailable(format!("{err:#}"))
                }
                None => AppError::Internal(err),
            },
            this => this,
        };
        let status = this.status();
        let detail = match &this {
            AppError::Internal(err) => {
                tracing::error!(error = ?err, "request failed");
                None
            }
            AppError::Unavailable(cause) => {
                tracing::warn!(%cause, "dependency unavailable");
                None
            }
            AppError::Forbidden(msg)
            | AppError::Conflict(msg)
            | AppError::Gone(msg)
            | AppError::Validation { message: msg, .. } => Some(msg.clone()),
            AppError::NotFound => None,
        };
        let mut response = status.into_response();
        match this {
            AppError::Internal(_) => {
                response.extensions_mut().insert(HandlerFailure);
            }
            AppError::Unavailable(_) => {
                let (name, value) = retry_after();
                response.headers_mut().insert(name, value);
            }
            _ => {}
        }
        if let Some(msg) = detail {
            response.extensions_mut().insert(ErrorDetail(msg));
        }
        response
    }
}

pub type AppResult<T> = Result<T, AppError>;
