//! One error type for every handler. It becomes an HTML error page (rendered by
//! the web layer's error-page middleware) that shows no internals; the cause of a 500 is logged.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

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
    fn from(err: tower_sessions::session::Error) -> Self {
        AppError::Internal(anyhow::Error::new(err).context("session store"))
    }
}

/// Whether a database error means "the database cannot be reached" rather than a bug.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_))
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
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
        if matches!(self, AppError::Internal(_)) {
            response.extensions_mut().insert(HandlerFailure);
        }
        if let Some(msg) = detail {
            response.extensions_mut().insert(ErrorDetail(msg));
        }
        response
    }
}

pub type AppResult<T> = Result<T, AppError>;
