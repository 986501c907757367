//! The one refusal path. A change that the server refuses goes back to the page it came from:
//! what was typed is kept, the message stands beside the field it is about (or at the top of the
//! form when it is about the whole change), and the status says which: 422 for input that cannot
//! be accepted, 409 for a change the current state does not allow. Any other error becomes the
//! error page.

use axum::http::StatusCode;

use crate::error::{AppError, AppResult};
use crate::form::{FORM, FieldErrors};

/// Adds a refusal to `errors` (beside its field) and returns the status to render the page with;
/// an error that is not a refusal is returned as it is.
pub fn refused(err: AppError, errors: &mut FieldErrors) -> AppResult<StatusCode> {
    match err {
        AppError::Validation { field, message } => {
            errors.add(field, message);
            Ok(StatusCode::UNPROCESSABLE_ENTITY)
        }
        AppError::Conflict(message) => {
            errors.add(FORM, message);
            Ok(StatusCode::CONFLICT)
        }
        other => Err(other),
    }
}

/// The status of a page re-rendered with `errors` that came from parsing a form (422), or 200.
pub fn status_of(errors: &FieldErrors) -> StatusCode {
    if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_goes_beside_its_field_with_422() {
        let mut errors = FieldErrors::new();
        let status = refused(AppError::invalid("starts_at", "Enter a time."), &mut errors).unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(errors.get("starts_at"), Some("Enter a time."));
    }

    #[test]
    fn a_state_refusal_goes_to_the_top_of_the_form_with_409() {
        let mut errors = FieldErrors::new();
        let status = refused(AppError::Conflict("Not agreed yet.".into()), &mut errors).unwrap();
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(errors.get(FORM), Some("Not agreed yet."));
    }

    #[test]
    fn anything_else_is_not_a_refusal() {
        let mut errors = FieldErrors::new();
        assert!(matches!(refused(AppError::NotFound, &mut errors), Err(AppError::NotFound)));
        assert!(errors.is_empty());
    }
}
