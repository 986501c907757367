//! Field-level validation messages for HTML forms.

/// The "field" of a message about the whole form (shown at its top).
pub const FORM: &str = "form";

/// Messages keyed by form field, shown beside the field when a form is re-rendered (422).
#[derive(Debug, Clone, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn new() -> Self {
        FieldErrors(Vec::new())
    }

    /// Records a message for `field` (the first message for a field wins).
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field, message.into()));
        }
    }

    /// Runs a parser on a field's input, recording its error and returning its value.
    pub fn check<T>(&mut self, field: &'static str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, m)| m.as_str())
    }

    /// Every message, in the order they were added (for a page that shows them together).
    pub fn messages(&self) -> Vec<&str> {
        self.0.iter().map(|(_, m)| m.as_str()).collect()
    }

    /// Each field with its message, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.0.iter().map(|(f, m)| (*f, m.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// Trims `input` and checks it is between `min` and `max` characters with no control characters.
pub fn bounded_text(input: &str, label: &str, min: usize, max: usize) -> Result<String, String> {
    let value = input.trim();
    let len = value.chars().count();
    if len == 0 && min > 0 {
        return Err(format!("{label} is required."));
    }
    if len < min {
        return Err(format!("{label} must be at least {min} characters."));
    }
    if len > max {
        return Err(format!("{label} must be at most {max} characters (it has {len})."));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{label} cannot contain control characters."));
    }
    Ok(value.to_owned())
}

/// A local path that is safe to redirect to after sign-in (no open redirects).
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then(|| next.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_trims_and_counts_characters_not_bytes() {
        assert_eq!(bounded_text("  Åsa  ", "Name", 1, 3), Ok("Åsa".to_owned()));
        assert!(bounded_text("Åsaa", "Name", 1, 3).is_err());
    }

    #[test]
    fn bounded_text_requires_non_blank_input() {
        assert_eq!(bounded_text("   ", "Name", 1, 10), Err("Name is required.".to_owned()));
    }

    #[test]
    fn first_error_for_a_field_wins() {
        let mut errors = FieldErrors::new();
        errors.add("email", "first");
        errors.add("email", "second");
        assert_eq!(errors.get("email"), Some("first"));
        assert_eq!(errors.len(), 1);
    }
}
